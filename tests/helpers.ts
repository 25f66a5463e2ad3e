// deno-lint-ignore-file no-explicit-any
/**
 * Test helpers: a real LHCMS server on a loopback port over a real KV file
 * in a temporary folder, a clock the test moves, and one call that builds a
 * lab with a user of every role.
 */
import assert from "node:assert/strict";
import { Client } from "fhir-kit-client";
import * as OTPAuth from "otpauth";
import { encodeBase64, loadConfig } from "../domain/config.ts";
import type { AuditRecord } from "../domain/audit.ts";
import { keys } from "../domain/kv_keys.ts";
import { jsonLogger, type Logger } from "../domain/log.ts";
import { start } from "../main.ts";

export const ADMIN = { username: "root", password: "root-password-for-tests" };
export const PASSWORD = "a-long-test-password";
/** The HL7 examples, copied from ../shared/fixtures (tests/fixtures/README.md). */
export const FIXTURES = new URL(
  "./fixtures/fhir-r4-examples/",
  import.meta.url,
);

/** A clock that stands still until the test moves it. */
export class TestClock {
  #now: number;
  constructor(start = Date.parse("2026-12-03T09:00:00Z")) {
    this.#now = start;
  }
  now = (): Date => new Date(this.#now);
  advance(ms: number) {
    this.#now += ms;
  }
}

/** A running test server. */
export interface TestServer {
  url: string;
  kv: Deno.Kv;
  dir: string;
  kvPath: string;
  clock: TestClock;
  adminToken: string;
  /** Base64 of the master key, for tests that act as the key holder. */
  masterKey: string;
  close(): Promise<void>;
}

/**
 * Starts LHCMS on a random loopback port with a fresh KV file; `log`
 * replaces the quiet JSON logger, for tests that read what was logged;
 * `env` adds settings (such as LHCMS_MFA).
 */
export async function startTestServer(
  options: { log?: Logger; env?: Record<string, string> } = {},
): Promise<TestServer> {
  const dir = await Deno.makeTempDir({ prefix: "lhcms-test-" });
  const kvPath = `${dir}/lhcms.kv`;
  const clock = new TestClock();
  const masterKey = encodeBase64(crypto.getRandomValues(new Uint8Array(32)));
  const config = loadConfig({
    PORT: "0",
    LHCMS_HOSTNAME: "127.0.0.1",
    LHCMS_KV_PATH: kvPath,
    LHCMS_BOOTSTRAP_ADMIN: `${ADMIN.username}:${ADMIN.password}`,
    LHCMS_MASTER_KEY: masterKey,
    ...options.env,
  });
  const running = await start(config, {
    clock: clock.now,
    log: options.log ?? jsonLogger({}, true),
  });
  clocks.set(running.url, clock);
  const adminToken = await login(running.url, ADMIN.username, ADMIN.password);
  return {
    url: running.url,
    kv: running.kv,
    dir,
    kvPath,
    clock,
    adminToken,
    masterKey,
    close: async () => {
      clocks.delete(running.url);
      for (const key of authenticators.keys()) {
        if (key.startsWith(`${running.url} `)) authenticators.delete(key);
      }
      await running.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/**
 * The authenticator app of each person a test enrolled, by server URL and
 * username: the TOTP secret and the last time step whose code was sent.
 */
const authenticators = new Map<string, { secret: string; lastStep: number }>();
/** The injected clock of each test server, by URL. */
const clocks = new Map<string, TestClock>();

/**
 * The next code of an enrolled person's authenticator, read from the
 * server's test clock (real time for a server started elsewhere). The
 * server accepts each step once and one step either side of now; when a
 * test signs the same person in more often than that, the clock moves on
 * by whole steps, as time would.
 */
export function mfaCode(url: string, username: string): string {
  const app = authenticators.get(`${url} ${username}`);
  if (!app) throw new Error(`${username} has no authenticator in this test`);
  const clock = clocks.get(url);
  const now = () => clock ? clock.now().getTime() : Date.now();
  let step = Math.floor(now() / 30_000);
  if (app.lastStep >= step + 1) {
    if (!clock) throw new Error(`${username}: no unused code until later`);
    clock.advance((app.lastStep - step) * 30_000);
    step = app.lastStep;
  }
  // Against real time, the previous step could lapse before the request lands.
  const use = Math.max(clock ? step - 1 : step, app.lastStep + 1);
  app.lastStep = use;
  return new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(app.secret) })
    .generate({ timestamp: use * 30_000 });
}

/** The base32 TOTP secret a test's authenticator holds for a person. */
export function authenticatorSecret(url: string, username: string): string {
  const app = authenticators.get(`${url} ${username}`);
  if (!app) throw new Error(`${username} has no authenticator in this test`);
  return app.secret;
}

/** Remembers a person's TOTP secret, as their authenticator app would. */
export function rememberAuthenticator(
  url: string,
  username: string,
  secret: string,
) {
  authenticators.set(`${url} ${username}`, { secret, lastStep: -1 });
}

/**
 * Signs in and returns the access token; throws on failure. A person not
 * yet enrolled enrolls on the way (secret from the otpauth URI, first code
 * confirmed); an enrolled one answers with the next TOTP code.
 */
export async function login(
  url: string,
  username: string,
  password: string,
): Promise<string> {
  const key = `${url} ${username}`;
  const post = async (path: string, payload: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(payload),
    });
    return { status: res.status, body: await res.json() };
  };
  const code = authenticators.has(key) ? mfaCode(url, username) : undefined;
  let res = await post("/auth/login", { username, password, code });
  if (res.status === 401 && res.body.error === "mfa_enrollment_required") {
    const enrollment_token = res.body.enrollment_token;
    const shown = await post("/auth/mfa/enroll", { enrollment_token });
    if (shown.status !== 200) {
      throw new Error(`enroll ${username}: ${JSON.stringify(shown.body)}`);
    }
    const uri = OTPAuth.URI.parse(shown.body.otpauth_uri);
    rememberAuthenticator(url, username, uri.secret.base32);
    res = await post("/auth/mfa/confirm", {
      enrollment_token,
      code: mfaCode(url, username),
    });
  }
  if (res.status !== 200) {
    throw new Error(
      `login ${username}: ${res.status} ${JSON.stringify(res.body)}`,
    );
  }
  return res.body.access_token;
}

/**
 * Forgets every count of failed sign-ins, for tests whose subject is not
 * throttling but that fail on purpose more than 5 times from 127.0.0.1.
 */
export async function forgetSignInFailures(server: TestServer) {
  for (
    const collection of [
      "sign_in_failures_by_account",
      "sign_in_failures_by_address",
    ]
  ) {
    for await (const e of server.kv.list({ prefix: [collection] })) {
      await server.kv.delete(e.key);
    }
  }
}

/** Steps a session up with the next code; returns the new token. */
export async function stepUp(
  server: TestServer,
  username: string,
  token: string,
): Promise<string> {
  const res = await call(server.url, "POST", "/auth/mfa/step-up", token, {
    code: mfaCode(server.url, username),
  }, { "Content-Type": "application/json" });
  if (res.status !== 200) {
    throw new Error(`step-up ${username}: ${JSON.stringify(res.body)}`);
  }
  return res.body.access_token;
}

/** A plain HTTP call with an optional bearer token and JSON body. */
export async function call(
  url: string,
  method: string,
  path: string,
  token?: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined
        ? { "Content-Type": "application/fhir+json" }
        : {}),
      ...headers,
    },
    body: body === undefined
      ? undefined
      : typeof body === "string"
      ? body
      : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // keep the text
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** Tokens of a lab's users, one per role, plus the practice's dentist. */
export interface LabUsers {
  lab: string;
  practice: string;
  tokens: Record<
    | "lab_admin"
    | "lab_technician"
    | "dentist"
    | "compliance_officer"
    | "viewer",
    string
  >;
}

/** Creates a lab, a practice sending to it, and a user of every role. */
export async function setupLab(
  server: TestServer,
  lab: string,
): Promise<LabUsers> {
  const practice = `${lab}-practice`;
  await expectCreated(
    call(server.url, "POST", "/admin/labs", server.adminToken, {
      id: lab,
      name: `Lab ${lab}`,
    }),
  );
  await expectCreated(
    call(server.url, "POST", "/admin/practices", server.adminToken, {
      id: practice,
      name: `Practice of ${lab}`,
      labs: [lab],
    }),
  );
  const roles = [
    "lab_admin",
    "lab_technician",
    "dentist",
    "compliance_officer",
    "viewer",
  ] as const;
  const tokens = {} as LabUsers["tokens"];
  for (const role of roles) {
    const username = `${lab}-${role}`;
    await expectCreated(
      call(server.url, "POST", "/admin/users", server.adminToken, {
        username,
        password: PASSWORD,
        role,
        ...(role === "dentist" ? { practice } : { labs: [lab] }),
      }),
    );
    tokens[role] = await login(server.url, username, PASSWORD);
  }
  return { lab, practice, tokens };
}

async function expectCreated(pending: ReturnType<typeof call>) {
  const res = await pending;
  if (res.status !== 201) {
    throw new Error(`setup failed: ${res.status} ${JSON.stringify(res.body)}`);
  }
}

/** A fhir-kit-client for a lab's base URL, as a practice system would use it. */
export function fhirClient(
  server: TestServer,
  lab: string,
  token: string,
): Client {
  return new Client({
    baseUrl: `${server.url}/fhir/${lab}`,
    bearerToken: token,
  });
}

/** Reads one of the HL7 example fixtures. */
export async function fixture<T = any>(name: string): Promise<T> {
  return JSON.parse(await Deno.readTextFile(new URL(name, FIXTURES)));
}

/** Waits until the audit writer has sealed every pending record. */
export async function auditSettled(server: TestServer, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let pending = 0;
    for await (const e of server.kv.list({ prefix: ["lab"] })) {
      if (e.key[2] === "audit_pending") pending++;
    }
    for await (
      const _ of server.kv.list({ prefix: ["system", "audit_pending"] })
    ) pending++;
    if (pending === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`${pending} audit records still pending`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Polls `condition` until it holds, for work the server finishes after it
 * has answered; throws, naming `what`, once `timeoutMs` has passed.
 */
export async function waitFor(
  what: string,
  condition: () => Promise<boolean>,
  timeoutMs = 10_000,
) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(`still waiting after ${timeoutMs} ms: ${what}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Starts a raw scan upload (`POST /fhir/{lab}/Binary`) on a connection of
 * its own, announcing `length` bytes, and hands the connection back for
 * the test to feed, hold open or drop: what `fetch` cannot do.
 */
export async function openRawUpload(
  url: string,
  lab: string,
  token: string,
  length: number,
): Promise<Deno.Conn> {
  const { hostname, port, host } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  const head = [
    `POST /fhir/${lab}/Binary HTTP/1.1`,
    `Host: ${host}`,
    `Authorization: Bearer ${token}`,
    "Content-Type: model/stl",
    `Content-Length: ${length}`,
    "",
    "",
  ].join("\r\n");
  await conn.write(new TextEncoder().encode(head));
  return conn;
}

/** The status code of the response that arrives on a raw connection. */
export async function rawStatus(conn: Deno.Conn): Promise<number> {
  const buffer = new Uint8Array(256);
  let text = "";
  while (!text.includes("\r\n")) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error(`connection closed after "${text}"`);
    text += new TextDecoder().decode(buffer.subarray(0, n));
  }
  return Number(text.split(" ")[1]);
}

/**
 * The system audit records of one person, oldest first, as
 * "subtype outcome [outcomeCode]" lines.
 */
export async function systemAuditOf(server: TestServer, who: string) {
  await auditSettled(server);
  const admin = await login(server.url, ADMIN.username, ADMIN.password);
  const records: AuditRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await call(
      server.url,
      "GET",
      `/admin/audit-events${cursor ? `?cursor=${cursor}` : ""}`,
      admin,
    );
    records.push(...page.body.records);
    cursor = page.body.cursor;
  } while (cursor);
  return records.filter((r) => r.agent.who === who)
    .map((r) =>
      `${r.subtype} ${r.outcome}${r.outcomeCode ? ` ${r.outcomeCode}` : ""}`
    );
}

/** Asserts the status and FHIR media type of a response; returns its body. */
export function fhirBody(
  res: { status: number; headers: Headers; body: any },
  status: number,
): any {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.match(
    res.headers.get("Content-Type") ?? "",
    /^application\/fhir\+json/,
  );
  return res.body;
}

/** How many current records of `type` a lab holds, counted in KV itself. */
export async function storedCount(
  server: TestServer,
  lab: string,
  type: string,
): Promise<number> {
  let n = 0;
  for await (const _ of server.kv.list({ prefix: keys.resources(lab, type) })) {
    n++;
  }
  return n;
}

/** How many KV entries lie under `prefix`. */
export async function keyCount(
  server: TestServer,
  prefix: Deno.KvKey,
): Promise<number> {
  let n = 0;
  for await (const _ of server.kv.list({ prefix })) n++;
  return n;
}

/** A logger that keeps every line it is given, for assertions. */
export function recordingLogger(
  lines: { level: string; message: string }[],
): Logger {
  const keep = (level: string) => (message: string) => {
    lines.push({ level, message });
  };
  return {
    info: keep("info"),
    warn: keep("warn"),
    error: keep("error"),
    with: () => recordingLogger(lines),
  };
}

/**
 * Follows `next` links to the end, running `between` after each page;
 * returns the ids in the order served, checked unique.
 */
export async function walkPages(
  client: Client,
  type: string,
  params: Record<string, string | number>,
  between?: (page: number) => Promise<void>,
) {
  let page: any = await client.search({
    resourceType: type,
    searchParams: params as any,
  });
  const ids: string[] = [];
  for (let n = 0; page; n++) {
    assert.ok(n < 50, "too many pages");
    ids.push(...(page.entry ?? []).map((e: any) => e.resource.id));
    await between?.(n);
    page = await client.nextPage({ bundle: page });
  }
  assert.equal(new Set(ids).size, ids.length, "no duplicates");
  return ids;
}

/** A second practice sending to acme, with a dentist of its own. */
export async function otherPractice(server: TestServer) {
  const admin = (path: string, body: unknown) =>
    call(server.url, "POST", path, server.adminToken, body);
  await admin("/admin/practices", {
    id: "elsewhere",
    name: "Another practice",
    labs: ["acme"],
  });
  await admin("/admin/users", {
    username: "elsewhere-dentist",
    password: PASSWORD,
    role: "dentist",
    practice: "elsewhere",
  });
  return fhirClient(
    server,
    "acme",
    await login(server.url, "elsewhere-dentist", PASSWORD),
  );
}
