/**
 * A practice system's side of SMART Backend Services, as a vendor would
 * write it with jose: a key pair, a signed client assertion (RFC 7523) and
 * the token request. Used by the demo story and the tests.
 */
import * as jose from "jose";

/** The signature algorithms LHCMS takes for client assertions. */
export type AssertionAlg = "ES384" | "RS384";

/** A private key as jose signs with it. */
export type SigningKey = Parameters<jose.SignJWT["sign"]>[0];

/** What a practice system keeps: its client id and private key. */
export interface SystemCredentials {
  clientId: string;
  alg: AssertionAlg;
  privateKey: SigningKey;
  kid: string;
}

/** A fresh key pair: the private key stays, the public JWK is registered. */
export async function newSystemKey(alg: AssertionAlg = "ES384") {
  const { publicKey, privateKey } = await jose.generateKeyPair(alg, {
    extractable: true,
  });
  const jwk = await jose.exportJWK(publicKey);
  const kid = await jose.calculateJwkThumbprint(jwk);
  return { privateKey, kid, publicJwk: { ...jwk, alg, kid, use: "sig" } };
}

/** Claims and header fields a test may override to forge an assertion. */
export interface AssertionOverrides {
  claims?: jose.JWTPayload;
  header?: Partial<jose.JWTHeaderParameters>;
  /** Sign with another key and algorithm than the registered ones. */
  key?: SigningKey;
}

/**
 * A client assertion for the token endpoint: iss and sub the client id,
 * aud the endpoint, a fresh jti, exp four minutes ahead (at most five).
 */
export function signAssertion(
  credentials: SystemCredentials,
  tokenUrl: string,
  now: Date,
  overrides: AssertionOverrides = {},
): Promise<string> {
  const iat = Math.floor(now.getTime() / 1000);
  return new jose.SignJWT({
    iss: credentials.clientId,
    sub: credentials.clientId,
    aud: tokenUrl,
    exp: iat + 240,
    jti: crypto.randomUUID(),
    ...overrides.claims,
  })
    .setProtectedHeader({
      alg: credentials.alg,
      kid: credentials.kid,
      typ: "JWT",
      ...overrides.header,
    })
    .sign(overrides.key ?? credentials.privateKey);
}

/** The form of a token request with the given assertion and scopes. */
export function tokenForm(assertion: string, scope: string): URLSearchParams {
  return new URLSearchParams({
    grant_type: "client_credentials",
    client_assertion_type:
      "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    client_assertion: assertion,
    scope,
  });
}

/** POSTs a token request form; returns the status and the JSON answer. */
export async function postTokenForm(base: string, form: URLSearchParams) {
  const res = await fetch(`${base}/auth/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: form,
  });
  // deno-lint-ignore no-explicit-any
  return { status: res.status, body: await res.json() as any };
}

/**
 * Gets an access token with a fresh assertion; throws with the server's
 * OAuth error when refused.
 */
export async function systemToken(
  base: string,
  credentials: SystemCredentials,
  scope: string,
  now = new Date(),
): Promise<string> {
  const assertion = await signAssertion(
    credentials,
    `${base}/auth/token`,
    now,
  );
  const res = await postTokenForm(base, tokenForm(assertion, scope));
  if (res.status !== 200) {
    throw new Error(
      `HTTP ${res.status} ${res.body.error}: ${res.body.error_description}`,
    );
  }
  return res.body.access_token as string;
}
