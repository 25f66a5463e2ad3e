/**
 * The `Range` request header for one byte range (RFC 9110 section 14).
 * Only single ranges are served; a server may ignore any Range header
 * (section 14.2), so several ranges, another unit or a malformed value
 * get the whole file.
 */

/** An inclusive byte range of a representation. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * The range a `Range` header asks of a `size`-byte file: `undefined` for
 * the whole file, "unsatisfiable" for a 416.
 */
export function parseRange(
  header: string | undefined,
  size: number,
): ByteRange | "unsatisfiable" | undefined {
  const match = /^bytes=(\d*)-(\d*)$/.exec((header ?? "").trim());
  if (!match || (match[1] === "" && match[2] === "")) return undefined;
  const [first, last] = [match[1], match[2]];
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === "" ? Infinity : Number(last);
  if (end < start) return undefined;
  if (start >= size) return "unsatisfiable";
  return { start, end: Math.min(end, size - 1) };
}

/**
 * Whether an `If-Range` validator still names the stored file: when it
 * does not, the client gets the whole file (section 13.1.5).
 */
export function rangeStillValid(
  ifRange: string | undefined,
  etag: string,
): boolean {
  return ifRange === undefined || ifRange.trim() === etag;
}
