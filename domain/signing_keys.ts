/**
 * The ES256 key pairs that sign access tokens, stored under
 * `signing_keys/{kid}` with the private half wrapped by the master key.
 * Rotation makes a new key current and marks the old one retired: it is
 * published and verifies the tokens it signed until the longest of them
 * has expired, and is deleted at a later rotation.
 */
import * as jose from "jose";
import { type WrappedKey, wrapWithMaster } from "./crypto.ts";
import { keys } from "./kv_keys.ts";

const ALG = "ES256";
// Clock skew between processes, added to a retired key's publication.
const MARGIN_MS = 60_000;

/** One signing key as stored. Times are epoch milliseconds. */
export interface StoredSigningKey {
  kid: string;
  wrapped: WrappedKey;
  publicJwk: jose.JWK;
  createdAt?: number;
  /** When a newer key replaced it; tokens issued after this are refused. */
  retiredAt?: number;
}

/** Whether a key is still published (current, or retired recently). */
export function isPublished(
  key: StoredSigningKey,
  now: Date,
  tokenSeconds: number,
): boolean {
  return key.retiredAt === undefined ||
    now.getTime() < key.retiredAt + tokenSeconds * 1000 + MARGIN_MS;
}

/** Creates the first key of a new store; a no-op when one exists. */
export async function createFirstSigningKey(
  kv: Deno.Kv,
  master: CryptoKey,
): Promise<void> {
  if ((await kv.get(keys.signingKeyCurrent())).value !== null) return;
  const key = await newSigningKey(master, Date.now());
  // Two processes starting together: the first commit wins, the other
  // process loads the winner's key.
  await kv.atomic()
    .check({ key: keys.signingKeyCurrent(), versionstamp: null })
    .set(keys.signingKey(key.kid), key)
    .set(keys.signingKeyCurrent(), key.kid)
    .commit();
}

/**
 * Makes a new key current and retires the current one at `now`, in one
 * commit with whatever `addAudit` adds for the new kid; deletes keys retired long enough
 * that no token of theirs is still valid.
 */
export async function rotateSigningKey(
  kv: Deno.Kv,
  master: CryptoKey,
  now: Date,
  tokenSeconds: number,
  addAudit?: (op: Deno.AtomicOperation, kid: string) => void,
): Promise<{ kid: string; previous: string }> {
  const current = await kv.get<string>(keys.signingKeyCurrent());
  const previous = current.value;
  if (!previous) throw new Error("No signing key to rotate");
  const old = await kv.get<StoredSigningKey>(keys.signingKey(previous));
  if (!old.value) throw new Error("Signing key record is missing");
  const key = await newSigningKey(master, now.getTime());
  const op = kv.atomic().check(current, old)
    .set(old.key, { ...old.value, retiredAt: now.getTime() })
    .set(keys.signingKey(key.kid), key)
    .set(keys.signingKeyCurrent(), key.kid);
  for await (
    const e of kv.list<StoredSigningKey>({ prefix: ["signing_keys"] })
  ) {
    if (!isPublished(e.value, now, tokenSeconds)) op.delete(e.key);
  }
  addAudit?.(op, key.kid);
  if (!(await op.commit()).ok) {
    throw new Error("The signing key changed meanwhile; try again");
  }
  return { kid: key.kid, previous };
}

async function newSigningKey(
  master: CryptoKey,
  createdAt: number,
): Promise<StoredSigningKey> {
  const { publicKey, privateKey } = await jose.generateKeyPair(ALG, {
    extractable: true,
  });
  const kid = crypto.randomUUID();
  const publicJwk = {
    ...(await jose.exportJWK(publicKey)),
    kid,
    alg: ALG,
    use: "sig",
  };
  const wrapped = await wrapWithMaster(
    master,
    keys.signingKey(kid),
    new TextEncoder().encode(JSON.stringify(await jose.exportJWK(privateKey))),
  );
  return { kid, wrapped, publicJwk, createdAt };
}
