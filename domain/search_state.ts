/**
 * Search links that carry no PHI. A search on a PHI parameter (a family
 * name, a birth date) must not put that value into the `next` or `self`
 * URLs that clients, proxies and servers log, so the query travels sealed:
 * `_state` holds the query string encrypted under the lab's data key, bound
 * to the lab and resource type, so it opens only where it was issued.
 */
import { encodeBase64Url } from "./config.ts";
import type { KeyRing } from "./crypto.ts";
import { fail } from "./errors.ts";
import { keys } from "./kv_keys.ts";

/** Seals a query string for a `_state` link parameter. */
export async function sealSearchState(
  keyRing: KeyRing,
  lab: string,
  type: string,
  query: URLSearchParams,
): Promise<string> {
  const sealed = await keyRing.seal(
    lab,
    keys.searchState(lab, type),
    "query",
    query.toString(),
  );
  return `${sealed.v}.${encodeBase64Url(sealed.iv)}.${
    encodeBase64Url(sealed.ct)
  }`;
}

/** Opens a `_state` value; 400 when it was not issued for this lab and type. */
export async function openSearchState(
  keyRing: KeyRing,
  lab: string,
  type: string,
  state: string,
): Promise<URLSearchParams> {
  const [v, iv, ct] = state.split(".");
  try {
    const query = await keyRing.open<string>(
      lab,
      keys.searchState(lab, type),
      "query",
      { v: Number(v), iv: decodeBase64Url(iv), ct: decodeBase64Url(ct) },
    );
    return new URLSearchParams(query);
  } catch {
    throw fail.invalid("_state is not a search link this server issued");
  }
}

function decodeBase64Url(text: string | undefined): Uint8Array {
  if (!text || !/^[A-Za-z0-9_-]+$/.test(text)) throw new Error("bad part");
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
}
