/**
 * Practice systems registered as SMART Backend Services clients of a
 * practice: the public keys their client assertions are checked against,
 * and the system scopes they may ask for. A client acts as its practice,
 * with the rights a dentist of that practice has, narrowed by its scopes.
 */
import * as jose from "jose";
import { addPendingAudit, type AuditRecord } from "./audit.ts";
import { checkId, checkName, type Practice } from "./directory.ts";
import { fail } from "./errors.ts";
import { keys } from "./kv_keys.ts";
import { parseScope } from "./smart_scopes.ts";

/** The signature algorithms SMART Backend Services names for assertions. */
export const ASSERTION_ALGS = ["RS384", "ES384"] as const;

/** A registered practice system. Holds public keys only. */
export interface PracticeClient {
  id: string;
  practice: string;
  name: string;
  jwks: jose.JSONWebKeySet;
  /** The system scopes it may be granted, as registered. */
  scopes: string[];
  disabled: boolean;
  createdAt: string;
}

/** What an admin sends to register a client. */
export interface ClientInput {
  id?: unknown;
  name?: unknown;
  /** A JWK set with the client's public keys... */
  jwks?: unknown;
  /** ...or one public key as a PEM (SPKI) block. */
  public_key?: unknown;
  scopes?: unknown;
}

const MAX_KEYS = 10;
// Ten 4096-bit RSA keys fit easily; the record must stay within a KV value.
const MAX_JWKS_CHARS = 20_000;
const MAX_SCOPES = 50;
// RSA keys under 2048 bits are no longer acceptable (NIST SP 800-131A).
const MIN_RSA_BYTES = 256;
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/** The audit agent name of a client: not a valid username, so never one. */
export function clientAgent(clientId: string): string {
  return `client:${clientId}`;
}

/**
 * Registers a client of an existing practice, with the audit record of
 * the change in the same commit.
 */
export async function registerClient(
  kv: Deno.Kv,
  practiceId: string,
  input: ClientInput,
  knownTypes: readonly string[],
  now: Date,
  audit: AuditRecord,
): Promise<PracticeClient> {
  const client: PracticeClient = {
    id: input.id === undefined
      ? crypto.randomUUID()
      : checkId("client", input.id),
    practice: practiceId,
    name: checkName(input.name),
    jwks: await publicKeySet(input),
    scopes: checkScopes(input.scopes, knownTypes),
    disabled: false,
    createdAt: now.toISOString(),
  };
  const practice = await kv.get<Practice>(keys.practice(practiceId));
  if (practice.value === null) {
    throw fail.notFound(`Practice ${practiceId} is not known`);
  }
  const op = kv.atomic()
    .check(practice)
    .check({ key: keys.client(client.id), versionstamp: null })
    .set(keys.client(client.id), client)
    .set(keys.clientsByPractice(practiceId, client.id), null);
  addPendingAudit(op, { ...audit, entity: { type: "Client", id: client.id } });
  if (!(await op.commit()).ok) {
    throw fail.conflict(`Cannot register client ${client.id}: it exists`);
  }
  return client;
}

/** The clients of a practice, in id order. */
export async function listClients(
  kv: Deno.Kv,
  practiceId: string,
): Promise<PracticeClient[]> {
  const ids: Deno.KvKey[] = [];
  for await (
    const e of kv.list({ prefix: keys.clientsByPractice(practiceId) })
  ) {
    ids.push(keys.client(e.key[e.key.length - 1] as string));
  }
  const out: PracticeClient[] = [];
  for (let i = 0; i < ids.length; i += 10) {
    const entries = await kv.getMany<PracticeClient[]>(ids.slice(i, i + 10));
    for (const e of entries) if (e.value) out.push(e.value);
  }
  return out;
}

/**
 * Disables or re-enables a client of the practice. A disabled client's
 * tokens stop working at once: every request reads the client record.
 */
export async function setClientDisabled(
  kv: Deno.Kv,
  practiceId: string,
  clientId: string,
  disabled: boolean,
  audit: AuditRecord,
): Promise<PracticeClient> {
  const entry = await kv.get<PracticeClient>(keys.client(clientId));
  if (entry.value === null || entry.value.practice !== practiceId) {
    throw fail.notFound(`Practice ${practiceId} has no client ${clientId}`);
  }
  const client = { ...entry.value, disabled };
  const op = kv.atomic().check(entry).set(entry.key, client);
  addPendingAudit(op, { ...audit, entity: { type: "Client", id: clientId } });
  if (!(await op.commit()).ok) {
    throw fail.conflict(
      `Cannot change client ${clientId}: it changed meanwhile`,
    );
  }
  return client;
}

/** Reads a client by id. */
export async function getClient(
  kv: Deno.Kv,
  clientId: string,
): Promise<PracticeClient | undefined> {
  return (await kv.get<PracticeClient>(keys.client(clientId))).value ??
    undefined;
}

function checkScopes(scopes: unknown, knownTypes: readonly string[]) {
  const list = typeof scopes === "string"
    ? scopes.split(" ").filter((s) => s !== "")
    : scopes;
  if (
    !Array.isArray(list) || list.length === 0 || list.length > MAX_SCOPES ||
    list.some((s) => typeof s !== "string")
  ) {
    throw fail.invalid(
      `scopes must list 1-${MAX_SCOPES} system scopes, such as system/Task.rs`,
    );
  }
  const bad = list.filter((s) => !parseScope(s, knownTypes));
  if (bad.length > 0) {
    throw fail.invalid(
      `Not a system scope LHCMS grants: ${bad.slice(0, 5).join(" ")}`,
      [{ message: "unknown scope", expression: "scopes" }],
    );
  }
  return [...new Set(list as string[])];
}

/** The client's public keys as a JWK set, from `jwks` or `public_key`. */
async function publicKeySet(input: ClientInput): Promise<jose.JSONWebKeySet> {
  if ((input.jwks === undefined) === (input.public_key === undefined)) {
    throw fail.invalid("Send either jwks or public_key");
  }
  if (input.public_key !== undefined) {
    return { keys: [await pemToJwk(input.public_key)] };
  }
  const set = input.jwks as { keys?: unknown };
  if (
    typeof set !== "object" || set === null || !Array.isArray(set.keys) ||
    set.keys.length === 0 || set.keys.length > MAX_KEYS ||
    JSON.stringify(set).length > MAX_JWKS_CHARS
  ) {
    throw fail.invalid(`jwks must be a JWK set of 1-${MAX_KEYS} public keys`);
  }
  const checked: jose.JWK[] = [];
  for (const key of set.keys) checked.push(await checkPublicJwk(key));
  return { keys: checked };
}

async function checkPublicJwk(key: unknown): Promise<jose.JWK> {
  if (typeof key !== "object" || key === null || Array.isArray(key)) {
    throw fail.invalid("Each key of jwks must be a JWK object");
  }
  const jwk = key as jose.JWK;
  // A private key sent by mistake is refused, never stored.
  if (PRIVATE_MEMBERS.some((m) => m in jwk)) {
    throw fail.invalid("jwks must hold public keys only: remove d, p, q...");
  }
  const alg = algorithmOf(jwk);
  if (jwk.alg !== undefined && jwk.alg !== alg) {
    throw fail.invalid(`Key alg must be one of ${ASSERTION_ALGS.join(", ")}`);
  }
  try {
    await jose.importJWK(jwk, alg);
  } catch {
    throw fail.invalid(`A key of jwks is not a valid ${alg} public key`);
  }
  return jwk;
}

// ES384 needs P-384 (RFC 7518 section 3.4); an RSA key signs RS384.
function algorithmOf(jwk: jose.JWK): typeof ASSERTION_ALGS[number] {
  if (jwk.kty === "EC" && jwk.crv === "P-384") return "ES384";
  if (jwk.kty === "RSA") {
    const bytes = Math.floor(((jwk.n ?? "").length * 6) / 8);
    if (bytes < MIN_RSA_BYTES) {
      throw fail.invalid("RSA keys must have at least 2048 bits");
    }
    return "RS384";
  }
  throw fail.invalid("Keys must be RSA (RS384) or EC P-384 (ES384)");
}

async function pemToJwk(pem: unknown): Promise<jose.JWK> {
  if (typeof pem !== "string" || pem.length > 8000) {
    throw fail.invalid("public_key must be a PEM public key");
  }
  for (const alg of ASSERTION_ALGS) {
    try {
      const key = await jose.importSPKI(pem.trim(), alg, { extractable: true });
      const jwk = await jose.exportJWK(key);
      algorithmOf(jwk);
      return { ...jwk, alg, kid: await jose.calculateJwkThumbprint(jwk) };
    } catch {
      // Not this algorithm: try the next one.
    }
  }
  throw fail.invalid(
    "public_key must be a PEM (SPKI) RSA key of 2048 bits or more, or EC P-384",
  );
}
