/**
 * Envelope encryption of PHI (DESIGN.md, "Encryption"): a master key wraps
 * versioned per-lab data keys; each sealed value records its key version and
 * a fresh 96-bit IV and binds its KV key and field name as additional
 * authenticated data, so a ciphertext copied to another record fails to open.
 * Blind indexes are HMAC-SHA-256 under a separate per-lab index key.
 */
import { encodeBase64Url } from "./config.ts";
import { keys } from "./kv_keys.ts";

/** A sealed (encrypted) value as stored in KV. */
export interface Sealed {
  /** Data key version. */
  v: number;
  iv: Uint8Array;
  ct: Uint8Array;
}

/** A key wrapped by the master key. */
export interface WrappedKey {
  iv: Uint8Array;
  ct: Uint8Array;
  createdAt: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Imports 32 raw bytes as the AES-256-GCM key-encryption key. */
export function importMasterKey(raw: Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", raw as BufferSource, "AES-GCM", false, [
    "encrypt",
    "decrypt",
  ]);
}

function aad(kvKey: Deno.KvKey, field: string): Uint8Array {
  return encoder.encode(JSON.stringify([...kvKey, field]));
}

async function aesEncrypt(
  key: CryptoKey,
  plain: Uint8Array,
  additional: Uint8Array,
): Promise<{ iv: Uint8Array; ct: Uint8Array }> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = await crypto.subtle.encrypt(
    {
      name: "AES-GCM",
      iv: iv as BufferSource,
      additionalData: additional as BufferSource,
    },
    key,
    plain as BufferSource,
  );
  return { iv, ct: new Uint8Array(ct) };
}

async function aesDecrypt(
  key: CryptoKey,
  iv: Uint8Array,
  ct: Uint8Array,
  additional: Uint8Array,
): Promise<Uint8Array> {
  const plain = await crypto.subtle.decrypt(
    {
      name: "AES-GCM",
      iv: iv as BufferSource,
      additionalData: additional as BufferSource,
    },
    key,
    ct as BufferSource,
  );
  return new Uint8Array(plain);
}

/** Encrypts arbitrary bytes under the master key (used for signing keys). */
export async function wrapWithMaster(
  master: CryptoKey,
  kvKey: Deno.KvKey,
  plain: Uint8Array,
): Promise<WrappedKey> {
  const { iv, ct } = await aesEncrypt(master, plain, aad(kvKey, "wrapped"));
  return { iv, ct, createdAt: new Date().toISOString() };
}

/** Reverses {@link wrapWithMaster}; throws when the master key is wrong. */
export function unwrapWithMaster(
  master: CryptoKey,
  kvKey: Deno.KvKey,
  wrapped: WrappedKey,
): Promise<Uint8Array> {
  return aesDecrypt(master, wrapped.iv, wrapped.ct, aad(kvKey, "wrapped"));
}

/**
 * The data keys and index keys of every lab, unwrapped on first use and
 * kept in memory. One instance per process.
 */
export class KeyRing {
  #dataKeys = new Map<string, CryptoKey>();
  #current = new Map<string, number>();
  #indexKeys = new Map<string, CryptoKey>();
  #systemKey?: Promise<CryptoKey>;

  constructor(readonly kv: Deno.Kv, readonly master: CryptoKey) {}

  /**
   * Adds the first data key and the index key of a new lab to `op`, so the
   * lab and its keys are committed together.
   */
  async addLabKeys(op: Deno.AtomicOperation, labId: string): Promise<void> {
    const dek = crypto.getRandomValues(new Uint8Array(32));
    const idx = crypto.getRandomValues(new Uint8Array(32));
    const dekKey = keys.dataKey(labId, 1);
    const idxKey = keys.indexKey(labId);
    op.check({ key: dekKey, versionstamp: null })
      .set(dekKey, await wrapWithMaster(this.master, dekKey, dek))
      .set(keys.dataKeyCurrent(labId), 1)
      .set(idxKey, await wrapWithMaster(this.master, idxKey, idx));
  }

  /** Encrypts `value` (as JSON) for the record at `kvKey`. */
  async seal(
    labId: string,
    kvKey: Deno.KvKey,
    field: string,
    value: unknown,
  ): Promise<Sealed> {
    const version = await this.#currentVersion(labId);
    const key = await this.#dataKey(labId, version);
    const plain = encoder.encode(JSON.stringify(value));
    const { iv, ct } = await aesEncrypt(key, plain, aad(kvKey, field));
    return { v: version, iv, ct };
  }

  /** Decrypts a value sealed for `kvKey` and `field`. */
  async open<T>(
    labId: string,
    kvKey: Deno.KvKey,
    field: string,
    sealed: Sealed,
  ): Promise<T> {
    const key = await this.#dataKey(labId, sealed.v);
    const plain = await aesDecrypt(
      key,
      sealed.iv,
      sealed.ct,
      aad(kvKey, field),
    );
    return JSON.parse(decoder.decode(plain)) as T;
  }

  /**
   * Encrypts raw bytes for the record at `kvKey` (a chunk of a scan file):
   * no JSON, so a 60 KiB chunk stays within one KV value.
   */
  async sealBytes(
    labId: string,
    kvKey: Deno.KvKey,
    field: string,
    plain: Uint8Array,
  ): Promise<Sealed> {
    const version = await this.#currentVersion(labId);
    const key = await this.#dataKey(labId, version);
    const { iv, ct } = await aesEncrypt(key, plain, aad(kvKey, field));
    return { v: version, iv, ct };
  }

  /** Decrypts bytes sealed by {@link sealBytes}; throws when tampered with. */
  async openBytes(
    labId: string,
    kvKey: Deno.KvKey,
    field: string,
    sealed: Sealed,
  ): Promise<Uint8Array> {
    const key = await this.#dataKey(labId, sealed.v);
    return await aesDecrypt(key, sealed.iv, sealed.ct, aad(kvKey, field));
  }

  /**
   * Encrypts `value` (as JSON) for a global record at `kvKey` (one that
   * belongs to no lab, such as a user's MFA secret) under the system data key.
   */
  async sealSystem(
    kvKey: Deno.KvKey,
    field: string,
    value: unknown,
  ): Promise<Sealed> {
    const key = await this.#systemDataKey();
    const plain = encoder.encode(JSON.stringify(value));
    const { iv, ct } = await aesEncrypt(key, plain, aad(kvKey, field));
    return { v: 1, iv, ct };
  }

  /** Decrypts a value sealed by {@link sealSystem} for `kvKey` and `field`. */
  async openSystem<T>(
    kvKey: Deno.KvKey,
    field: string,
    sealed: Sealed,
  ): Promise<T> {
    const key = await this.#systemDataKey();
    const plain = await aesDecrypt(
      key,
      sealed.iv,
      sealed.ct,
      aad(kvKey, field),
    );
    return JSON.parse(decoder.decode(plain)) as T;
  }

  /**
   * The blind index value of a normalised PHI value: 128 bits of
   * HMAC-SHA-256 under the lab's index key, base64url.
   */
  async blindIndex(labId: string, purpose: string, value: string) {
    const key = await this.#indexKey(labId);
    const mac = await crypto.subtle.sign(
      "HMAC",
      key,
      encoder.encode(`${purpose}\u0000${value}`),
    );
    return encodeBase64Url(new Uint8Array(mac).slice(0, 16));
  }

  async #currentVersion(labId: string): Promise<number> {
    const known = this.#current.get(labId);
    if (known !== undefined) return known;
    const entry = await this.kv.get<number>(keys.dataKeyCurrent(labId));
    if (entry.value === null) throw new Error(`No data key for lab ${labId}`);
    this.#current.set(labId, entry.value);
    return entry.value;
  }

  async #dataKey(labId: string, version: number): Promise<CryptoKey> {
    const cacheKey = `${labId}\u0000${version}`;
    const cached = this.#dataKeys.get(cacheKey);
    if (cached) return cached;
    const raw = await this.#unwrap(keys.dataKey(labId, version));
    const key = await crypto.subtle.importKey(
      "raw",
      raw as BufferSource,
      "AES-GCM",
      false,
      ["encrypt", "decrypt"],
    );
    this.#dataKeys.set(cacheKey, key);
    return key;
  }

  async #indexKey(labId: string): Promise<CryptoKey> {
    const cached = this.#indexKeys.get(labId);
    if (cached) return cached;
    const raw = await this.#unwrap(keys.indexKey(labId));
    const key = await crypto.subtle.importKey(
      "raw",
      raw as BufferSource,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    this.#indexKeys.set(labId, key);
    return key;
  }

  #systemDataKey(): Promise<CryptoKey> {
    this.#systemKey ??= this.#loadSystemDataKey().catch((error) => {
      this.#systemKey = undefined;
      throw error;
    });
    return this.#systemKey;
  }

  async #loadSystemDataKey(): Promise<CryptoKey> {
    const kvKey = keys.systemDataKey();
    if ((await this.kv.get(kvKey)).value === null) {
      const raw = crypto.getRandomValues(new Uint8Array(32));
      // Two processes creating it together: the first commit wins and both
      // then use the stored one.
      await this.kv.atomic()
        .check({ key: kvKey, versionstamp: null })
        .set(kvKey, await wrapWithMaster(this.master, kvKey, raw))
        .commit();
    }
    const raw = await this.#unwrap(kvKey);
    return await crypto.subtle.importKey(
      "raw",
      raw as BufferSource,
      "AES-GCM",
      false,
      ["encrypt", "decrypt"],
    );
  }

  async #unwrap(kvKey: Deno.KvKey): Promise<Uint8Array> {
    const entry = await this.kv.get<WrappedKey>(kvKey);
    if (entry.value === null) throw new Error("Missing wrapped key");
    return unwrapWithMaster(this.master, kvKey, entry.value);
  }
}

/** SHA-256 of a text, base64url: for looking up single-use tokens by hash. */
export async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(text),
  );
  return encodeBase64Url(new Uint8Array(digest));
}
