/**
 * Access tokens: ES256 JWTs (jose) bound to a server-side session. The
 * signing key pair is created once, stored wrapped by the master key and
 * published as a JWK set. Verified tokens are cached until they expire, as
 * ES256 verification costs about half a millisecond.
 */
import * as jose from "jose";
import { unwrapWithMaster, wrapWithMaster } from "./crypto.ts";
import { fail } from "./errors.ts";
import { keys } from "./kv_keys.ts";

/** Lifetime of an access token in seconds. */
export const ACCESS_TOKEN_SECONDS = 15 * 60;
const ISSUER = "lhcms";
const AUDIENCE = "lhcms-api";
const ALG = "ES256";
const CACHE_LIMIT = 10_000;

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

interface StoredSigningKey {
  kid: string;
  wrapped: { iv: Uint8Array; ct: Uint8Array; createdAt: string };
  publicJwk: jose.JWK;
}

/** Signs and verifies access tokens with the current signing key. */
export class TokenService {
  #cache = new Map<string, AccessClaims>();

  private constructor(
    private readonly kid: string,
    private readonly privateKey: CryptoKey,
    private readonly jwks: jose.JSONWebKeySet,
  ) {}

  /** Loads the signing key, creating it on first start. */
  static async load(kv: Deno.Kv, master: CryptoKey): Promise<TokenService> {
    let current = await kv.get<string>(keys.signingKeyCurrent());
    if (current.value === null) {
      await createSigningKey(kv, master);
      current = await kv.get<string>(keys.signingKeyCurrent());
    }
    const kid = current.value as string;
    const stored = await kv.get<StoredSigningKey>(keys.signingKey(kid));
    if (stored.value === null) throw new Error("Signing key record is missing");
    const raw = await unwrapWithMaster(
      master,
      keys.signingKey(kid),
      stored.value.wrapped,
    );
    const jwk = JSON.parse(new TextDecoder().decode(raw)) as jose.JWK;
    const privateKey = await jose.importJWK(jwk, ALG) as CryptoKey;
    const publics: jose.JWK[] = [];
    for await (
      const e of kv.list<StoredSigningKey>({ prefix: ["signing_keys"] })
    ) {
      publics.push(e.value.publicJwk);
    }
    return new TokenService(kid, privateKey, { keys: publics });
  }

  /** The public keys, as served at `/.well-known/jwks.json`. */
  publicKeys(): jose.JSONWebKeySet {
    return this.jwks;
  }

  /** Issues a token for a session. */
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

  #sign(
    claims: jose.JWTPayload,
    subject: string,
    now: Date,
    seconds: number,
  ): Promise<string> {
    const iat = Math.floor(now.getTime() / 1000);
    return new jose.SignJWT(claims)
      .setProtectedHeader({ alg: ALG, kid: this.kid, typ: "JWT" })
      .setSubject(subject)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt(iat)
      .setExpirationTime(iat + seconds)
      .setJti(crypto.randomUUID())
      .sign(this.privateKey);
  }

  /**
   * Verifies signature, algorithm (ES256 only, so `alg: none` and HS256
   * forgeries fail), issuer, audience and expiry at `now`.
   */
  async verify(token: string, now: Date): Promise<AccessClaims> {
    const cached = this.#cache.get(token);
    if (cached) {
      if (cached.exp * 1000 > now.getTime()) return cached;
      this.#cache.delete(token);
      throw fail.unauthenticated("Access token has expired");
    }
    let payload: jose.JWTPayload;
    try {
      ({ payload } = await jose.jwtVerify(
        token,
        jose.createLocalJWKSet(this.jwks),
        {
          algorithms: [ALG],
          issuer: ISSUER,
          audience: AUDIENCE,
          currentDate: now,
          requiredClaims: ["sub", "sid", "exp"],
        },
      ));
    } catch {
      throw fail.unauthenticated("Access token is invalid or expired");
    }
    const claims: AccessClaims = {
      sub: String(payload.sub),
      sid: String(payload.sid),
      exp: Number(payload.exp),
      ...(typeof payload.client_id === "string"
        ? { client_id: payload.client_id, scope: String(payload.scope ?? "") }
        : {}),
    };
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
    this.#cache.set(token, claims);
    return claims;
  }
}

async function createSigningKey(kv: Deno.Kv, master: CryptoKey): Promise<void> {
  const { publicKey, privateKey } = await jose.generateKeyPair(ALG, {
    extractable: true,
  });
  const kid = crypto.randomUUID();
  const privateJwk = await jose.exportJWK(privateKey);
  const publicJwk = {
    ...(await jose.exportJWK(publicKey)),
    kid,
    alg: ALG,
    use: "sig",
  };
  const kvKey = keys.signingKey(kid);
  const wrapped = await wrapWithMaster(
    master,
    kvKey,
    new TextEncoder().encode(JSON.stringify(privateJwk)),
  );
  // Two processes starting together: the first commit wins, the other
  // process loads the winner's key.
  await kv.atomic()
    .check({ key: keys.signingKeyCurrent(), versionstamp: null })
    .set(kvKey, { kid, wrapped, publicJwk } satisfies StoredSigningKey)
    .set(keys.signingKeyCurrent(), kid)
    .commit();
}
