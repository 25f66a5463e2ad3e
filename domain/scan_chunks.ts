/**
 * The chunk layer of scan files: a request body cut into fixed-size pieces,
 * each sealed under the lab's data key into one KV value, and read back one
 * chunk at a time, so neither direction ever holds more than a few chunks.
 *
 * Each chunk's additional authenticated data is its own KV key (lab, file
 * id, chunk number) and whether it is the file's last chunk, so a chunk
 * moved to another file or position, or a file cut short, fails to open.
 * The same idea as the STREAM construction of online authenticated
 * encryption (Hoang, Reyhanitabar, Rogaway, Vizár, CRYPTO 2015).
 */
import type { KeyRing, Sealed } from "./crypto.ts";
import { fail } from "./errors.ts";
import { keys } from "./kv_keys.ts";

/**
 * Plaintext bytes per chunk: sealed (IV and GCM tag added) and serialised,
 * a chunk stays under KV's 64 KiB value limit.
 */
export const CHUNK_BYTES = 60 * 1024;

// KV refuses a commit over 800 KiB: twelve sealed chunks are about 738 KB.
const CHUNKS_PER_COMMIT = 12;

/** The field a chunk is sealed for: the last one is told apart. */
export function chunkField(last: boolean): string {
  return last ? "scan chunk, last" : "scan chunk";
}

/**
 * Cuts a byte stream into pieces of `size` bytes (the last may be
 * shorter), telling which one is last. One piece is held back until the
 * next begins, since only then is it known not to be the last. Throws
 * 413 once more than `maxBytes` arrived.
 */
export async function* fixedPieces(
  body: ReadableStream<Uint8Array>,
  size: number,
  maxBytes: number,
): AsyncGenerator<{ bytes: Uint8Array; last: boolean }> {
  let held: Uint8Array | undefined;
  let filling = new Uint8Array(size);
  let filled = 0;
  let total = 0;
  for await (const part of body) {
    total += part.length;
    if (total > maxBytes) {
      throw fail.payloadTooLarge(
        `Cannot store the Binary: it is larger than ${maxBytes} bytes`,
      );
    }
    for (let offset = 0; offset < part.length;) {
      const take = Math.min(size - filled, part.length - offset);
      filling.set(part.subarray(offset, offset + take), filled);
      filled += take;
      offset += take;
      if (filled < size) continue;
      if (held) yield { bytes: held, last: false };
      held = filling;
      filling = new Uint8Array(size);
      filled = 0;
    }
  }
  if (filled > 0) {
    if (held) yield { bytes: held, last: false };
    yield { bytes: filling.subarray(0, filled), last: true };
  } else if (held) yield { bytes: held, last: true };
}

/**
 * The clear record of an upload under way, beside its chunks: times only.
 * `touchedAt` moves with every batch of chunks, so an upload that has
 * gone quiet for long (its process died, or its client stalled) can be
 * told from one still arriving. `abandoned` is set by the sweep that
 * claims it, before any chunk is deleted.
 */
export interface UploadMarker {
  /** Milliseconds since the epoch of the last batch of chunks. */
  touchedAt: number;
  abandoned?: true;
}

/**
 * Writes sealed chunks in bounded batches: at most one batch waits in
 * memory while the next is sealed. Each batch also moves the upload's
 * marker, checked against the version this writer last wrote, so once a
 * sweep has claimed the upload no further chunk lands.
 */
export class ChunkWriter {
  #batch: [Deno.KvKey, Sealed][] = [];
  #marker: string | null = null;
  count = 0;

  constructor(
    readonly kv: Deno.Kv,
    readonly keyRing: KeyRing,
    readonly lab: string,
    readonly id: string,
    readonly clock: () => Date,
  ) {}

  /** Seals the next chunk and commits when a batch is full. */
  async add(bytes: Uint8Array, last: boolean) {
    const key = keys.binaryChunk(this.lab, this.id, this.count++);
    const sealed = await this.keyRing.sealBytes(
      this.lab,
      key,
      chunkField(last),
      bytes,
    );
    this.#batch.push([key, sealed]);
    if (this.#batch.length >= CHUNKS_PER_COMMIT) await this.flush();
  }

  /** Commits the chunks not yet written. */
  async flush() {
    if (this.#batch.length === 0) return;
    const marker = keys.binaryUpload(this.lab, this.id);
    const touched: UploadMarker = { touchedAt: this.clock().getTime() };
    const op = this.kv.atomic()
      .check({ key: marker, versionstamp: this.#marker })
      .set(marker, touched);
    for (const [key, sealed] of this.#batch) op.set(key, sealed);
    this.#batch = [];
    const result = await op.commit();
    if (!result.ok) throw abandoned();
    this.#marker = result.versionstamp;
  }

  /**
   * Adds to the commit that makes the file visible: the upload must still
   * be this writer's (not claimed by a sweep), and ends.
   */
  complete(op: Deno.AtomicOperation) {
    const marker = keys.binaryUpload(this.lab, this.id);
    op.check({ key: marker, versionstamp: this.#marker }).delete(marker);
  }

  /** Whether a sweep has claimed or removed this upload. */
  async wasClaimed(): Promise<boolean> {
    const marker = keys.binaryUpload(this.lab, this.id);
    return (await this.kv.get(marker)).versionstamp !== this.#marker;
  }
}

/** The refusal of an upload that a sweep took for abandoned. */
export function abandoned() {
  return fail.conflict(
    "Cannot store the Binary: the upload was idle for too long and has been discarded; send the file again",
  );
}

/**
 * Deletes an upload that did not complete: its chunks, then its marker,
 * so that if this stops halfway the marker still leads a sweep to the
 * chunks left.
 */
export async function discardUpload(kv: Deno.Kv, lab: string, id: string) {
  let op = kv.atomic(), pending = 0;
  for await (const entry of kv.list({ prefix: keys.binaryChunks(lab, id) })) {
    op.delete(entry.key);
    if (++pending === 500) {
      await op.commit();
      op = kv.atomic();
      pending = 0;
    }
  }
  await op.delete(keys.binaryUpload(lab, id)).commit();
}

/** Where a file's chunks are and how many there are. */
export interface ChunkedFile {
  lab: string;
  id: string;
  size: number;
  chunks: number;
}

/**
 * Reads, opens and checks one chunk. A missing chunk, a failed GCM tag or
 * a length that disagrees with the file's recorded size is an integrity
 * failure: thrown, never returned as bytes.
 */
export async function openChunk(
  kv: Deno.Kv,
  keyRing: KeyRing,
  file: ChunkedFile,
  index: number,
): Promise<Uint8Array> {
  const key = keys.binaryChunk(file.lab, file.id, index);
  const sealed = (await kv.get<Sealed>(key)).value;
  if (sealed === null) throw new IntegrityError("a chunk is missing");
  const last = index === file.chunks - 1;
  let bytes: Uint8Array;
  try {
    bytes = await keyRing.openBytes(file.lab, key, chunkField(last), sealed);
  } catch (error) {
    throw new IntegrityError("a chunk failed authentication", error);
  }
  const expected = last ? file.size - index * CHUNK_BYTES : CHUNK_BYTES;
  if (bytes.length !== expected) {
    throw new IntegrityError("a chunk has the wrong length");
  }
  return bytes;
}

/** Stored scan content that does not authenticate. */
export class IntegrityError extends Error {
  constructor(reason: string, cause?: unknown) {
    super(`Cannot read the scan file: ${reason}`, { cause });
    this.name = "IntegrityError";
  }
}
