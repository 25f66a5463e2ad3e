/**
 * The token request of SMART Backend Services: `client_credentials` with a
 * `private_key_jwt` client assertion (RFC 7523 section 2.2 and 3; SMART
 * App Launch 2.0, "Backend Services"). Checks the request and the
 * assertion; the caller commits the `jti` mark (with {@link addJtiMark})
 * together with its audit record, so a replay loses the commit.
 */
import * as jose from "jose";
import { ASSERTION_ALGS, getClient, type PracticeClient } from "./clients.ts";
import { sha256 } from "./crypto.ts";
import { isDirectoryId } from "./directory.ts";
import { OAuthError } from "./errors.ts";
import { keys } from "./kv_keys.ts";
import { covers, parseScopes, type ScopeGrant } from "./smart_scopes.ts";

/** The one client assertion type (RFC 7523 section 2.2). */
export const JWT_BEARER =
  "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/** SMART: an assertion's `exp` is at most five minutes ahead. */
export const MAX_ASSERTION_SECONDS = 300;

// Clocks of the client and the server differ a little; a minute either
// way is the usual allowance and keeps the window close to SMART's.
const CLOCK_SKEW_SECONDS = 60;
const MAX_ASSERTION_LENGTH = 8000;
const MAX_JTI_LENGTH = 255;

/** A token request that passed every check. */
export interface ClientGrant {
  client: PracticeClient;
  /** The scopes granted, as the client asked for them. */
  scope: string;
  grants: ScopeGrant[];
  jti: { key: Deno.KvKey; expiresAt: number };
}

/**
 * Checks a token request (the form body) against the registered client.
 * Throws {@link OAuthError}; `clientId` is set once the client is known.
 */
export async function checkTokenRequest(
  kv: Deno.Kv,
  form: URLSearchParams,
  tokenUrl: string,
  knownTypes: readonly string[],
  now: Date,
): Promise<ClientGrant> {
  const assertion = checkForm(form);
  const client = await claimedClient(kv, assertion, form.get("client_id"));
  const fail = (message: string, code: "invalid_client" = "invalid_client") =>
    new OAuthError(code, message, client.id);
  const payload = await verifyAssertion(assertion, client, tokenUrl, now)
    .catch((error) => {
      throw fail(assertionProblem(error));
    });
  // Told only to the key's holder, after the signature checks out.
  if (client.disabled) throw fail("The client is disabled");
  const nowSeconds = Math.floor(now.getTime() / 1000);
  const exp = payload.exp as number;
  if (exp > nowSeconds + MAX_ASSERTION_SECONDS + CLOCK_SKEW_SECONDS) {
    throw fail("The assertion's exp is more than five minutes ahead");
  }
  const jti = payload.jti;
  if (typeof jti !== "string" || jti === "" || jti.length > MAX_JTI_LENGTH) {
    throw fail(`The assertion needs a jti of 1-${MAX_JTI_LENGTH} characters`);
  }

  const { scope, grants } = grantedScopes(client, form, knownTypes);
  return {
    client,
    scope,
    grants,
    jti: {
      key: keys.clientAssertionJti(client.id, await sha256(jti)),
      expiresAt: (exp + CLOCK_SKEW_SECONDS) * 1000,
    },
  };
}

/**
 * Adds the mark of a used assertion to `op`: the commit fails if the
 * same `jti` was used before, while the assertion could still be valid.
 */
export function addJtiMark(
  op: Deno.AtomicOperation,
  jti: ClientGrant["jti"],
  now: Date,
): Deno.AtomicOperation {
  const expireIn = Math.max(jti.expiresAt - now.getTime(), 1000);
  return op
    .check({ key: jti.key, versionstamp: null })
    .set(jti.key, { expiresAt: jti.expiresAt }, { expireIn });
}

function checkForm(form: URLSearchParams): string {
  const grantType = form.get("grant_type");
  if (!grantType) {
    throw new OAuthError("invalid_request", "grant_type is required");
  }
  if (grantType !== "client_credentials") {
    throw new OAuthError(
      "unsupported_grant_type",
      "Only grant_type=client_credentials is supported",
    );
  }
  if (form.get("client_assertion_type") !== JWT_BEARER) {
    throw new OAuthError(
      "invalid_request",
      `client_assertion_type must be ${JWT_BEARER}`,
    );
  }
  const assertion = form.get("client_assertion") ?? "";
  if (assertion === "" || assertion.length > MAX_ASSERTION_LENGTH) {
    throw new OAuthError("invalid_request", "client_assertion is required");
  }
  if (!form.get("scope")) {
    throw new OAuthError("invalid_request", "scope is required");
  }
  return assertion;
}

/** The registered client the assertion claims to come from. */
async function claimedClient(
  kv: Deno.Kv,
  assertion: string,
  clientIdParam: string | null,
): Promise<PracticeClient> {
  let claims: jose.JWTPayload;
  let header: jose.ProtectedHeaderParameters;
  try {
    claims = jose.decodeJwt(assertion);
    header = jose.decodeProtectedHeader(assertion);
  } catch {
    throw new OAuthError("invalid_client", "client_assertion is not a JWT");
  }
  const iss = typeof claims.iss === "string" ? claims.iss : "";
  if (iss === "" || claims.sub !== iss) {
    throw new OAuthError(
      "invalid_client",
      "The assertion's iss and sub must both be the client id",
    );
  }
  if (clientIdParam !== null && clientIdParam !== iss) {
    throw new OAuthError("invalid_client", "client_id differs from iss");
  }
  const client = isDirectoryId(iss) ? await getClient(kv, iss) : undefined;
  if (!client) throw new OAuthError("invalid_client", "Unknown client");
  // Keys come from the registration only: a key or key URL named in the
  // assertion itself would let anyone vouch for their own signature.
  if (["jku", "x5u", "jwk", "x5c"].some((h) => h in header)) {
    throw new OAuthError(
      "invalid_client",
      "The assertion may not name its own key (jku, x5u, jwk, x5c)",
      client.id,
    );
  }
  return client;
}

function verifyAssertion(
  assertion: string,
  client: PracticeClient,
  tokenUrl: string,
  now: Date,
): Promise<jose.JWTPayload> {
  return jose.jwtVerify(assertion, jose.createLocalJWKSet(client.jwks), {
    algorithms: [...ASSERTION_ALGS],
    issuer: client.id,
    subject: client.id,
    audience: tokenUrl,
    currentDate: now,
    clockTolerance: CLOCK_SKEW_SECONDS,
    requiredClaims: ["exp", "jti"],
  }).then((r) => r.payload);
}

/** A description of why jose refused an assertion, without echoing it. */
function assertionProblem(error: unknown): string {
  if (error instanceof jose.errors.JWTExpired) {
    return "The assertion has expired";
  }
  if (error instanceof jose.errors.JWTClaimValidationFailed) {
    return error.claim === "aud"
      ? "The assertion's aud must be the token endpoint URL"
      : `The assertion's ${error.claim} claim is missing or wrong`;
  }
  if (error instanceof jose.errors.JOSEAlgNotAllowed) {
    return `The assertion must be signed with ${ASSERTION_ALGS.join(" or ")}`;
  }
  return "The assertion's signature does not verify with a registered key";
}

function grantedScopes(
  client: PracticeClient,
  form: URLSearchParams,
  knownTypes: readonly string[],
): { scope: string; grants: ScopeGrant[] } {
  const asked = parseScopes(form.get("scope") ?? "", knownTypes);
  const allowed = parseScopes(client.scopes.join(" "), knownTypes).grants;
  const refused = asked.grants.length === 0 || asked.unknown.length > 0 ||
    asked.grants.some((g) => !covers(allowed, g));
  if (refused) {
    throw new OAuthError(
      "invalid_scope",
      "Ask for system scopes this client is registered for: " +
        client.scopes.join(" "),
      client.id,
    );
  }
  const scope = (form.get("scope") ?? "").split(" ").filter((s) => s !== "");
  return { scope: [...new Set(scope)].join(" "), grants: asked.grants };
}
