// deno run --allow-net scripts/scan_client.ts <base-url> <token> <bytes> [sha256-hex]
/**
 * A practice system's scanner upload, as the scan tests and
 * `deno task bench:scan` run it in a process of its own, so the server's
 * memory is measured without the client's: POSTs `bytes` of generated
 * STL-like content as a stream to `{base-url}/Binary` and prints the
 * status and the answer as one JSON line.
 *
 * The content is a deterministic function of the offset, so whoever reads
 * the file back can check any byte without keeping a copy.
 */
import { createSHA256 } from "hash-wasm";

const BLOCK = 64 * 1024;
const STL_HEADER = new TextEncoder().encode(
  "binary STL: LHCMS generated intraoral scan".padEnd(80, " "),
);

// One pseudo-random block (xorshift32, fixed seed): the same in every process.
const BASE = (() => {
  const block = new Uint8Array(BLOCK);
  let x = 0x9e3779b9;
  for (let i = 0; i < BLOCK; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    block[i] = x & 0xff;
  }
  return block;
})();

/** Block `n` of the content: the base block stamped with its number. */
function block(n: number): Uint8Array {
  const out = BASE.slice();
  new DataView(out.buffer).setUint32(n === 0 ? 80 : 0, n, true);
  if (n === 0) out.set(STL_HEADER);
  return out;
}

/** The content's bytes from `offset`, `length` of them. */
export function scanBytes(
  offset: number,
  length: number,
): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  for (let done = 0; done < length;) {
    const at = offset + done;
    const from = at % BLOCK;
    const take = Math.min(BLOCK - from, length - done);
    out.set(block(Math.floor(at / BLOCK)).subarray(from, from + take), done);
    done += take;
  }
  return out;
}

/** The content of a `size`-byte scan as a stream, made as it is read. */
export function scanContent(size: number): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= size) return controller.close();
      const length = Math.min(BLOCK, size - offset);
      controller.enqueue(scanBytes(offset, length));
      offset += length;
    },
  }, { highWaterMark: 0 });
}

/** The SHA-256 (hex) of a `size`-byte scan. */
export async function scanSha256(size: number): Promise<string> {
  const hash = await createSHA256();
  hash.init();
  for await (const part of scanContent(size)) hash.update(part);
  return hash.digest("hex");
}

/**
 * Writes a generated scan to a file as it is made (never held whole) and
 * returns its SHA-256 (hex).
 */
export async function writeScanFile(
  path: string,
  size: number,
): Promise<string> {
  const hash = await createSHA256();
  hash.init();
  const file = await Deno.open(path, { write: true, create: true });
  await scanContent(size).pipeThrough(
    new TransformStream({
      transform(part, controller) {
        hash.update(part);
        controller.enqueue(part);
      },
    }),
  ).pipeTo(file.writable);
  return hash.digest("hex");
}

/** Uploads a generated scan; resolves to the status and the answer. */
export async function uploadScan(
  base: string,
  token: string,
  size: number,
  sha256?: string,
): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${base}/Binary`, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${token}`,
      "Content-Type": "model/stl",
      ...(sha256 ? { "X-Content-SHA256": sha256 } : {}),
    },
    body: scanContent(size),
  });
  return { status: res.status, body: await res.json() };
}

if (import.meta.main) {
  const [base, token, bytes, sha256] = Deno.args;
  console.log(
    JSON.stringify(await uploadScan(base, token, Number(bytes), sha256)),
  );
}
