/**
 * Scan files (intraoral scans, photos, signed prescriptions) as FHIR
 * `Binary` resources: the content streamed into sealed chunks
 * (`scan_chunks.ts`) while its SHA-256 and SHA-1 are computed, then one
 * commit makes the Binary visible with its file record and audit record.
 * Until that commit lands, nothing points at the chunks: an upload cut off
 * midway is never readable, and its chunks are deleted, by the request
 * itself or, after a crash, by the sweep of abandoned uploads.
 */
import { createSHA1, createSHA256 } from "hash-wasm";
import { ulid } from "ulid";
import type { Resource } from "../fhir/types.ts";
import { encodeBase64 } from "./config.ts";
import { fail } from "./errors.ts";
import { keys } from "./kv_keys.ts";
import {
  createResource,
  type StoreDeps,
  type WriteOptions,
} from "./resources.ts";
import {
  abandoned,
  CHUNK_BYTES,
  type ChunkedFile,
  ChunkWriter,
  discardUpload,
  fixedPieces,
  IntegrityError,
  openChunk,
} from "./scan_chunks.ts";
import type { Sealed } from "./crypto.ts";

/** The media types a scan file may have. */
export const SCAN_CONTENT_TYPES = [
  "model/stl",
  "model/obj",
  // PLY and other scanner formats have no registered media type.
  "application/octet-stream",
  "image/jpeg",
  "image/png",
  "application/pdf",
] as const;

/** The largest scan file accepted: 2 GiB. */
export const MAX_SCAN_BYTES = 2 * 1024 ** 3;

/** What is known of a stored file's content, sealed beside its Binary. */
export interface ScanFile extends ChunkedFile {
  contentType: string;
  /** SHA-256 of the content, base64. */
  sha256: string;
  /** SHA-1 of the content, base64: FHIR R4's `Attachment.hash`. */
  sha1: string;
}

/** An upload: the body and what the client said about it. */
export interface ScanUpload {
  contentType: string;
  body: ReadableStream<Uint8Array>;
  /** The SHA-256 the client announced; a mismatch refuses the upload. */
  expectedSha256?: Uint8Array;
  /** Binary.securityContext, already checked. */
  securityContext?: { reference: string };
}

/** Whether `type` (without parameters) is a scan media type. */
export function isScanContentType(type: string): boolean {
  return (SCAN_CONTENT_TYPES as readonly string[]).includes(type);
}

/**
 * Streams an upload into sealed chunks, checks its digest and commits the
 * Binary with its file record and audit record in one operation. An
 * upload that fails for any reason, the client hanging up included, is
 * discarded before the error goes on.
 */
export async function storeScan(
  deps: StoreDeps & { clock: () => Date },
  lab: string,
  upload: ScanUpload,
  options: WriteOptions,
): Promise<{ resource: Resource; file: ScanFile }> {
  const id = ulid(options.now.getTime());
  const writer = new ChunkWriter(deps.kv, deps.keyRing, lab, id, deps.clock);
  try {
    const file = await writeChunks(writer, upload);
    const fileKey = keys.binaryFile(lab, id);
    const sealed = await deps.keyRing.seal(lab, fileKey, "scan file", file);
    const resource = await createResource(deps, lab, {
      resourceType: "Binary",
      contentType: upload.contentType,
      ...(upload.securityContext
        ? { securityContext: upload.securityContext }
        : {}),
    }, {
      ...options,
      id,
      commit: (op) => writer.complete(op.set(fileKey, sealed)),
    });
    return { resource, file };
  } catch (error) {
    const claimed = await writer.wasClaimed();
    // What a crash or a failing store leaves behind, the sweep removes.
    await discardUpload(deps.kv, lab, id).catch(() => {});
    throw claimed ? abandoned() : error;
  }
}

async function writeChunks(
  writer: ChunkWriter,
  upload: ScanUpload,
): Promise<ScanFile> {
  const [sha256, sha1] = await Promise.all([createSHA256(), createSHA1()]);
  sha256.init();
  sha1.init();
  let size = 0;
  for await (
    const piece of fixedPieces(upload.body, CHUNK_BYTES, MAX_SCAN_BYTES)
  ) {
    sha256.update(piece.bytes);
    sha1.update(piece.bytes);
    size += piece.bytes.length;
    await writer.add(piece.bytes, piece.last);
  }
  await writer.flush();
  if (size === 0) throw fail.invalid("Cannot store the Binary: it is empty");

  const digest = sha256.digest("binary");
  const expected = upload.expectedSha256;
  if (expected && !sameBytes(expected, digest)) {
    throw fail.unprocessable(
      "Cannot store the Binary: its content does not match the SHA-256 the request announced",
    );
  }
  return {
    lab: writer.lab,
    id: writer.id,
    size,
    chunks: writer.count,
    contentType: upload.contentType,
    sha256: encodeBase64(digest),
    sha1: encodeBase64(sha1.digest("binary")),
  };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** The file record of a Binary; the Binary itself was read and checked. */
export async function readScanFile(
  deps: StoreDeps,
  lab: string,
  id: string,
): Promise<ScanFile> {
  const key = keys.binaryFile(lab, id);
  const sealed = (await deps.kv.get<Sealed>(key)).value;
  if (sealed === null) throw new IntegrityError("its file record is missing");
  return await deps.keyRing.open<ScanFile>(lab, key, "scan file", sealed);
}

/**
 * The bytes `start` to `end` (inclusive) of a file, read one chunk per
 * pull. The first chunk is opened before this returns, so a damaged file
 * fails before a response starts. A whole-file read also checks the
 * SHA-256; `onFailure` hears of any failure after the first chunk, when
 * the only way left to signal it is to break the stream.
 */
export async function scanStream(
  deps: StoreDeps,
  file: ScanFile,
  range: { start: number; end: number },
  onFailure: (error: Error) => void,
): Promise<ReadableStream<Uint8Array>> {
  const first = Math.floor(range.start / CHUNK_BYTES);
  const last = Math.floor(range.end / CHUNK_BYTES);
  const whole = range.start === 0 && range.end === file.size - 1;
  const sha256 = whole ? await createSHA256() : undefined;
  sha256?.init();
  let next = first;
  const take = async () => {
    const bytes = await openChunk(deps.kv, deps.keyRing, file, next);
    const from = next === first ? range.start - first * CHUNK_BYTES : 0;
    const to = next === last ? range.end - last * CHUNK_BYTES + 1 : undefined;
    sha256?.update(bytes);
    next++;
    return bytes.subarray(from, to);
  };
  const checkDigest = () => {
    if (sha256 && encodeBase64(sha256.digest("binary")) !== file.sha256) {
      throw new IntegrityError("its SHA-256 does not match");
    }
  };
  const opened = await take();
  if (next > last) checkDigest();

  // A client that stops reading cancels the stream while a chunk is being
  // opened; that chunk is dropped, and is no integrity failure.
  let cancelled = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(opened);
      if (next > last) controller.close();
    },
    async pull(controller) {
      let bytes: Uint8Array;
      try {
        bytes = await take();
        if (next > last) checkDigest();
      } catch (error) {
        onFailure(error as Error);
        controller.error(error);
        return;
      }
      if (cancelled) return;
      controller.enqueue(bytes);
      if (next > last) controller.close();
    },
    cancel() {
      cancelled = true;
    },
  }, { highWaterMark: 0 });
}
