// deno-lint-ignore-file no-explicit-any
/**
 * Test helpers for practice systems (SMART Backend Services): register one
 * with a fresh key pair, and ask the token endpoint for a token.
 */
import assert from "node:assert/strict";
import {
  type AssertionAlg,
  type AssertionOverrides,
  newSystemKey,
  postTokenForm,
  signAssertion,
  type SystemCredentials,
  systemToken,
  tokenForm,
} from "../scripts/smart_client.ts";
import { ADMIN, call, fhirBody, login, type TestServer } from "./helpers.ts";

/** Every interaction on every type. */
export const ALL = "system/*.cruds";
/** A small Patient of the practice's own. */
export const PATIENT = {
  resourceType: "Patient",
  name: [{ family: "Chalmers", given: ["Peter"] }],
  birthDate: "1974-12-25",
};

/** Registers a practice system with a fresh key pair; returns its credentials. */
export async function registerSystem(
  server: TestServer,
  practice: string,
  scopes: string[],
  options: { id?: string; alg?: AssertionAlg } = {},
): Promise<SystemCredentials> {
  const alg = options.alg ?? "ES384";
  const { privateKey, publicJwk, kid } = await newSystemKey(alg);
  const admin = await login(server.url, ADMIN.username, ADMIN.password);
  const res = await call(
    server.url,
    "POST",
    `/admin/practices/${practice}/clients`,
    admin,
    {
      id: options.id,
      name: "Practice PMS",
      jwks: { keys: [publicJwk] },
      scopes,
    },
    { "Content-Type": "application/json" },
  );
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return { clientId: res.body.id, alg, privateKey, kid };
}

/** The token endpoint of the test server (the assertions' aud). */
export function tokenUrl(server: TestServer) {
  return `${server.url}/auth/token`;
}

/** A token request with an assertion signed now, optionally forged. */
export async function ask(
  server: TestServer,
  system: SystemCredentials,
  scope = ALL,
  overrides: AssertionOverrides = {},
) {
  const assertion = await signAssertion(
    system,
    tokenUrl(server),
    server.clock.now(),
    overrides,
  );
  return postTokenForm(server.url, tokenForm(assertion, scope));
}

/** Asserts an OAuth error answer with no token in it. */
export function assertOAuthError(
  res: { status: number; body: any },
  status: number,
  error: string,
  what: string,
) {
  assert.equal(res.status, status, `${what}: ${JSON.stringify(res.body)}`);
  assert.equal(res.body.error, error, what);
  assert.equal(typeof res.body.error_description, "string", what);
  assert.equal(res.body.access_token, undefined, what);
}

/** A token for the system, or a thrown error with the OAuth answer. */
export function tokenOf(
  server: TestServer,
  system: SystemCredentials,
  scope = ALL,
) {
  return systemToken(server.url, system, scope, server.clock.now());
}

/** Asserts a 403 OperationOutcome, optionally with matching diagnostics. */
export function assertForbidden(
  res: Awaited<ReturnType<typeof call>>,
  what: string,
  pattern?: RegExp,
) {
  const body = fhirBody(res, 403);
  assert.equal(body.resourceType, "OperationOutcome", what);
  assert.equal(body.issue[0].code, "forbidden", what);
  if (pattern) assert.match(body.issue[0].diagnostics, pattern, what);
}

/** The AuditEvents of lab `acme` matching `query`, read by the admin. */
export async function acmeAudit(
  server: TestServer,
  query: string,
): Promise<any[]> {
  const res = await call(
    server.url,
    "GET",
    `/fhir/acme/AuditEvent?${query}`,
    server.adminToken,
  );
  return (fhirBody(res, 200).entry ?? []).map((e: any) => e.resource);
}
