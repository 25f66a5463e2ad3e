/**
 * The SHA-256 a client announces for an upload, so the server can refuse
 * content that arrived damaged: `X-Content-SHA256` (hex, as object stores
 * take it) or `Content-Digest: sha-256=:…:` (RFC 9530, base64).
 */
import { decodeBase64 } from "../domain/config.ts";
import { fail } from "../domain/errors.ts";

/** The announced SHA-256, or `undefined` when none was sent. */
export function announcedSha256(headers: Headers): Uint8Array | undefined {
  const hex = headers.get("X-Content-SHA256")?.trim();
  if (hex !== undefined) {
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
      throw fail.invalid("X-Content-SHA256 must be 64 hexadecimal digits");
    }
    return Uint8Array.from(
      hex.match(/../g)!,
      (pair) => parseInt(pair, 16),
    );
  }
  const digest = headers.get("Content-Digest");
  if (digest === null) return undefined;
  // Other algorithms in the list are ignored (RFC 9530 section 2).
  const match = /(?:^|,)\s*sha-256=:([A-Za-z0-9+/]+={0,2}):/.exec(digest);
  if (!match) return undefined;
  const bytes = decodeBase64(match[1]);
  if (bytes.length !== 32) {
    throw fail.invalid("Content-Digest sha-256 must be 32 bytes");
  }
  return bytes;
}
