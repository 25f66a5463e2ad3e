/**
 * Access tokens: ES256 JWTs (jose) bound to a server-side session. Signing
 * keys are stored wrapped by the master key and published as a JWK set.
 * Keys rotate: the new key signs, a retired key still verifies the tokens
 * it signed before retirement until they expire (`signing_keys.ts`).
 * Verified tokens are cached until they expire, as ES256 verification costs
 * about half a millisecond.
 */
import * as jose from "jose";
import { unwrapWithMaster } from "./crypto.ts";
import { fail } from "./errors.ts";
import { keys } from "./kv_keys.ts";
import {
  createFirstSigningKey,
  isPublished,
  rotateSigningKey,
  type StoredSigningKey,
} from "./signing_keys.ts";

/** Lifetime of an access token in seconds. */
export const ACCESS_TOKEN_SECONDS = 15 * 60;
const ISSUER = "lhcms";
const AUDIENCE = "lhcms-api";
const ALG = "ES256";
const TYP = "JWT";
const CACHE_LIMIT = 10_000;
// A token naming a key this process does not know may be signed by a key
// another process has just rotated in; looking again is bounded, so random
// kids cannot make every request read KV.
const UNKNOWN_KID_RELOAD_MS = 5_000;
// Header parameters that would let a token choose its own verification key
// (RFC 8725 3.10): refused outright, whatever the signature.
const KEY_CHOOSING_HEADERS = ["jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256"];

/**
 * Lifetime of a practice system's token: SMART Backend Services asks for
 * five minutes at most, so a leaked token is short-lived.
 */
export const CLIENT_TOKEN_SECONDS = 5 * 60;

/** The claims LHCMS relies on. */
export interface AccessClaims {
  sub: string;
  sid: string;
  exp: number;
  /** Set on a practice system's token (RFC 9068 `client_id`). */
  client_id?: string;
  /** The SMART scopes of a practice system's token. */
  scope?: string;
}

/** Signs with the current key; verifies with every key still published. */
export class TokenService {
  #cache = new Map<string, AccessClaims>();
  #signing?: { kid: string; privateKey: CryptoKey };
  #keys = new Map<string, StoredSigningKey>();
  #verifiers = new Map<string, CryptoKey>();
  #lastReload = 0;

  private constructor(
    private readonly kv: Deno.Kv,
    private readonly master: CryptoKey,
  ) {}

  /** Loads the signing keys, creating the first one on a new store. */
  static async load(kv: Deno.Kv, master: CryptoKey): Promise<TokenService> {
    await createFirstSigningKey(kv, master);
    const service = new TokenService(kv, master);
    await service.#reload();
    return service;
  }

  /** The public keys to publish at `/.well-known/jwks.json` at `now`. */
  async publicKeys(now: Date): Promise<jose.JSONWebKeySet> {
    await this.#follow();
    return {
      keys: [...this.#keys.values()]
        .filter((k) => isPublished(k, now, ACCESS_TOKEN_SECONDS))
        .map((k) => k.publicJwk),
    };
  }

  /** The kid of the key that signs new tokens. */
  async currentKid(): Promise<string> {
    await this.#follow();
    return this.#signing!.kid;
  }

  /** Retires the current key for a new one; returns both kids. */
  async rotate(
    now: Date,
    addAudit?: (op: Deno.AtomicOperation, kid: string) => void,
  ) {
    const result = await rotateSigningKey(
      this.kv,
      this.master,
      now,
      ACCESS_TOKEN_SECONDS,
      addAudit,
    );
    await this.#reload();
    return result;
  }

  /** Issues a token for a session, signed with the current key. */
  issue(username: string, sessionId: string, now: Date): Promise<string> {
    return this.#sign({ sid: sessionId }, username, now, ACCESS_TOKEN_SECONDS);
  }

  /**
   * Issues a practice system's token: `sub` and `client_id` name the
   * client, `scope` holds its granted scopes. It has no server-side
   * session; each request reads the client record instead, so disabling
   * the client ends its tokens.
   */
  issueForClient(clientId: string, scope: string, now: Date): Promise<string> {
    return this.#sign(
      { sid: crypto.randomUUID(), client_id: clientId, scope },
      clientId,
      now,
      CLIENT_TOKEN_SECONDS,
    );
  }

  async #sign(
    claims: jose.JWTPayload,
    subject: string,
    now: Date,
    seconds: number,
  ): Promise<string> {
    await this.#follow();
    const { kid, privateKey } = this.#signing!;
    const iat = Math.floor(now.getTime() / 1000);
    return await new jose.SignJWT(claims)
      .setProtectedHeader({ alg: ALG, kid, typ: TYP })
      .setSubject(subject)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt(iat)
      .setExpirationTime(iat + seconds)
      .setJti(crypto.randomUUID())
      .sign(privateKey);
  }

  /**
   * Verifies a token at `now`: ES256 only (so `alg: none` and HMAC
   * forgeries fail), a known `kid`, no key-choosing header, `typ` JWT,
   * issuer, audience, `iat` not in the future, `exp` not past, `sub` and
   * `sid` present; a retired key's token must predate its retirement.
   */
  async verify(token: string, now: Date): Promise<AccessClaims> {
    const cached = this.#cache.get(token);
    if (cached) {
      if (cached.exp * 1000 > now.getTime()) return cached;
      this.#cache.delete(token);
      throw fail.unauthenticated("Access token has expired");
    }
    const header = safeHeader(token);
    if (
      !header || header.typ !== TYP || typeof header.kid !== "string" ||
      KEY_CHOOSING_HEADERS.some((name) => name in header)
    ) {
      throw fail.unauthenticated("Access token is invalid or expired");
    }
    if (!this.#keys.has(header.kid)) await this.#reloadForUnknownKid();
    const key = this.#keys.get(header.kid);
    const verifier = this.#verifiers.get(header.kid);
    if (!key || !verifier) {
      throw fail.unauthenticated("Access token is invalid or expired");
    }
    const claims = await verifyWith(token, key, verifier, now);
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
    this.#cache.set(token, claims);
    return claims;
  }

  /** Reloads when another process has rotated the key. */
  async #follow() {
    const current = await this.kv.get<string>(keys.signingKeyCurrent());
    if (current.value !== this.#signing?.kid) await this.#reload();
  }

  async #reloadForUnknownKid() {
    if (performance.now() - this.#lastReload < UNKNOWN_KID_RELOAD_MS) return;
    await this.#reload();
  }

  async #reload() {
    this.#lastReload = performance.now();
    const current = await this.kv.get<string>(keys.signingKeyCurrent());
    const found = new Map<string, StoredSigningKey>();
    for await (
      const e of this.kv.list<StoredSigningKey>({ prefix: ["signing_keys"] })
    ) found.set(e.value.kid, e.value);
    const kid = current.value;
    const stored = kid ? found.get(kid) : undefined;
    if (!kid || !stored) throw new Error("Signing key record is missing");
    if (this.#signing?.kid !== kid) {
      const raw = await unwrapWithMaster(
        this.master,
        keys.signingKey(kid),
        stored.wrapped,
      );
      const jwk = JSON.parse(new TextDecoder().decode(raw)) as jose.JWK;
      this.#signing = {
        kid,
        privateKey: await jose.importJWK(jwk, ALG) as CryptoKey,
      };
    }
    const verifiers = new Map<string, CryptoKey>();
    for (const [k, v] of found) {
      verifiers.set(
        k,
        this.#verifiers.get(k) ??
          await jose.importJWK(v.publicJwk, ALG) as CryptoKey,
      );
    }
    this.#keys = found;
    this.#verifiers = verifiers;
  }
}

function safeHeader(token: string): jose.ProtectedHeaderParameters | null {
  try {
    return jose.decodeProtectedHeader(token);
  } catch {
    return null;
  }
}

async function verifyWith(
  token: string,
  key: StoredSigningKey,
  verifier: CryptoKey,
  now: Date,
): Promise<AccessClaims> {
  let payload: jose.JWTPayload;
  try {
    ({ payload } = await jose.jwtVerify(
      token,
      verifier,
      {
        algorithms: [ALG],
        typ: TYP,
        issuer: ISSUER,
        audience: AUDIENCE,
        currentDate: now,
        requiredClaims: ["sub", "sid", "exp", "iat"],
      },
    ));
  } catch {
    throw fail.unauthenticated("Access token is invalid or expired");
  }
  const iat = Number(payload.iat) * 1000;
  if (
    typeof payload.sub !== "string" || typeof payload.sid !== "string" ||
    iat > now.getTime() ||
    (key.retiredAt !== undefined && iat > key.retiredAt)
  ) {
    throw fail.unauthenticated("Access token is invalid or expired");
  }
  return {
    sub: payload.sub,
    sid: payload.sid,
    exp: Number(payload.exp),
    ...(typeof payload.client_id === "string"
      ? { client_id: payload.client_id, scope: String(payload.scope ?? "") }
      : {}),
  };
}
