// deno task bench
/**
 * Load benchmark of the two hottest FHIR paths, each against a bare baseline
 * on the same machine (figures and how to read them: docs/benchmarks.md):
 *
 * - create: POST /fhir/{lab}/ServiceRequest as a dentist (token, session,
 *   lab access, permission, reference check, encryption, index entries and
 *   audit record in one commit) against a Hono route storing the JSON in KV;
 * - read: GET /fhir/{lab}/ServiceRequest/{id} (the same checks, decryption,
 *   an audit commit) against a Hono route reading it back from KV.
 *
 * LHCMS_BENCH_SECONDS (10), LHCMS_BENCH_CONNECTIONS (32) and
 * LHCMS_BENCH_WARMUP_SECONDS (2) apply to every path alike.
 *
 * Fairness: both servers run in this process, one at a time under load, and
 * the load generator (autocannon) in a process of its own. In this process,
 * the generator's HTTP and JSON work would share the servers' one JavaScript
 * thread and be charged to whichever server is measured, squeezing every
 * ratio towards 1. The audit writer's backlog is drained after each LHCMS
 * path, so its sealing is charged to the path that caused it.
 */
import { Hono } from "hono";
import { cpus } from "node:os";
import process from "node:process";
import { encodeBase64, loadConfig } from "../domain/config.ts";
import { keys } from "../domain/kv_keys.ts";
import type { LogFields, Logger } from "../domain/log.ts";
import { type Running, start } from "../main.ts";
import { login as signIn } from "./demo_clients.ts";

// Pinned, and run without this project's config so that deno.lock stays
// the application's own.
const AUTOCANNON = "npm:autocannon@8.0.0";
const LAB = "bench-lab";
const ADMIN = { username: "bench-admin", password: "bench-admin-password-1" };
const DENTIST = { username: "bench-dentist", password: "bench-dentist-pass-1" };

type Settings = ReturnType<typeof settings>;
type Result = Awaited<ReturnType<typeof measure>>;
interface Target {
  url: string;
  method: "GET" | "POST";
  headers: Record<string, string>;
  body?: string;
}

function settings(env = Deno.env.toObject()) {
  const num = (name: string, fallback: number) => {
    const value = Number(env[name] || fallback);
    if (!Number.isInteger(value) || value < 0) {
      throw new Error(`${name} must be a whole number`);
    }
    return value;
  };
  return {
    seconds: num("LHCMS_BENCH_SECONDS", 10),
    connections: num("LHCMS_BENCH_CONNECTIONS", 32),
    warmup: num("LHCMS_BENCH_WARMUP_SECONDS", 2),
  };
}

/**
 * Loads one target: 2xx responses per second, latency percentiles (whole
 * milliseconds, as autocannon keeps them) and CPU cores kept busy. Any
 * failed request fails the run, as a fast 401 is not a result.
 */
async function measure(s: Settings, path: string, t: Target) {
  if (s.warmup > 0) await autocannon(s.connections, s.warmup, t);
  const before = cpuTime();
  const out = await autocannon(s.connections, s.seconds, t);
  const after = cpuTime();
  const failed = out.non2xx + out.errors + out.timeouts;
  if (failed > 0) {
    const codes = JSON.stringify(out.statusCodeStats);
    throw new Error(`${path}: ${failed} requests failed, ${codes}`);
  }
  const cores = (k: "server" | "machine") =>
    (after[k] - before[k]) / (after.at - before.at);
  return {
    path,
    rps: out["2xx"] / out.duration,
    p50: out.latency.p50,
    p99: out.latency.p99,
    serverCores: cores("server"),
    machineCores: cores("machine"),
  };
}

type AutocannonJson =
  & Record<"2xx" | "non2xx" | "errors" | "timeouts" | "duration", number>
  & { latency: { p50: number; p99: number }; statusCodeStats: unknown };

async function autocannon(connections: number, seconds: number, t: Target) {
  // autocannon's own --warmup shortens the measured run to the warm-up's
  // length (8.0.0), so a warm-up is a run of its own.
  const args = [
    ..."run --no-config --allow-net=127.0.0.1 --allow-read --allow-env"
      .split(" "),
    ...["--allow-sys", AUTOCANNON, "--json", "-m", t.method],
    ...["-c", String(connections), "-d", String(seconds)],
    ...(t.body === undefined ? [] : ["-b", t.body]),
    ...Object.entries(t.headers).flatMap(([k, v]) => ["-H", `${k}=${v}`]),
    t.url,
  ];
  const command = new Deno.Command(Deno.execPath(), { args, stdin: "null" });
  const { code, stdout, stderr } = await command.output();
  const text = new TextDecoder().decode(stdout).trim();
  if (code !== 0 || !text) {
    throw new Error(`autocannon failed: ${new TextDecoder().decode(stderr)}`);
  }
  return JSON.parse(text.split("\n").at(-1)!) as AutocannonJson;
}

/**
 * Busy CPU milliseconds of the machine and of this process (the servers
 * with their KV and I/O threads). What the machine spent beyond this
 * process went to the load generator and to anyone else: a busy machine
 * shows in the figures.
 */
function cpuTime() {
  const { user, system } = process.cpuUsage();
  let machine = 0;
  for (const { times: t } of cpus()) machine += t.user + t.nice + t.sys + t.irq;
  return { at: performance.now(), server: (user + system) / 1000, machine };
}

/** The baseline: Hono on Deno.serve storing and reading JSON in KV. */
async function startBaseline(kvPath: string) {
  const kv = await Deno.openKv(kvPath);
  const app = new Hono();
  app.post("/sr", async (c) => {
    const body = { ...await c.req.json(), id: crypto.randomUUID() };
    await kv.set(["sr", body.id], body);
    return c.json(body, 201);
  });
  app.get("/sr/:id", async (c) => {
    const entry = await kv.get(["sr", c.req.param("id")]);
    return entry.value === null ? c.notFound() : c.json(entry.value);
  });
  const options = { port: 0, hostname: "127.0.0.1", onListen: () => {} };
  const server = Deno.serve(options, app.fetch);
  const close = async () => {
    await server.shutdown();
    kv.close();
  };
  return { url: `http://127.0.0.1:${server.addr.port}`, close };
}

/**
 * Formats each line as the production logger does, so its cost stays in
 * the figures, but writes none (a terminal would be measured instead);
 * warnings and errors are counted for the summary at the end.
 */
function countingLogger(counts: Map<string, number>, base: LogFields = {}) {
  const write = (level: string) => (message: string, fields?: LogFields) => {
    const time = new Date().toISOString();
    JSON.stringify({ level, time, message, ...base, ...fields });
    // An error's own message says what went wrong; it holds no PHI.
    const detail = level === "error" && fields?.message
      ? ` (${fields.name}: ${fields.message})`
      : "";
    const key = `${level}: ${message}${detail}`;
    if (level !== "info") counts.set(key, (counts.get(key) ?? 0) + 1);
  };
  const logger: Logger = {
    info: write("info"),
    warn: write("warn"),
    error: write("error"),
    with: (f) => countingLogger(counts, { ...base, ...f }),
  };
  return logger;
}

async function post(url: string, token: string | undefined, body: unknown) {
  const headers = new Headers({ "Content-Type": "application/fhir+json" });
  if (token) headers.set("Authorization", `Bearer ${token}`);
  const init = { method: "POST", headers, body: JSON.stringify(body) };
  const res = await fetch(url, init);
  const json = await res.json();
  if (!res.ok) throw new Error(`POST ${url}: ${res.status}`);
  return json;
}

/** A lab, a practice, its dentist and a patient, set up over HTTP. */
async function setUpLab(url: string) {
  // Both people enroll an authenticator at first sign-in, as MFA requires.
  const login = (user: typeof ADMIN) =>
    signIn(url, { ...user }, { enroll: true });
  const admin = await login(ADMIN);
  const practice = { id: "bench-practice", name: "Bench", labs: [LAB] };
  const dentistUser = { ...DENTIST, role: "dentist", practice: practice.id };
  await post(`${url}/admin/labs`, admin, { id: LAB, name: "Bench lab" });
  await post(`${url}/admin/practices`, admin, practice);
  await post(`${url}/admin/users`, admin, dentistUser);
  const dentist = await login(DENTIST);
  const patient = await post(`${url}/fhir/${LAB}/Patient`, dentist, {
    resourceType: "Patient",
    name: [{ family: "Benchmark", given: ["Pat"] }],
  });
  return { dentist, patient: patient.id as string };
}

/** A crown prescription as a PMS sends it: 11 index entries, 2 blind. */
function serviceRequest(patient: string) {
  return {
    resourceType: "ServiceRequest",
    identifier: [{ system: "urn:pms:orders", value: "ORD-000123" }],
    status: "active",
    intent: "order",
    priority: "routine",
    category: [{ coding: [{ system: "urn:lab", code: "fixed" }] }],
    code: {
      coding: [{ system: "http://snomed.info/sct", code: "9984005" }],
      text: "Zirconia crown",
    },
    subject: { reference: `Patient/${patient}` },
    authoredOn: "2026-12-01",
    bodySite: [{ text: "tooth 36" }],
    note: [{ text: "Shade A2, contact points tight" }],
  };
}

/** Waits until the audit writer has sealed every pending record. */
async function drainAudit(kv: Deno.Kv): Promise<number> {
  const started = performance.now();
  const prefix = keys.auditPending({ lab: LAB });
  while (!(await kv.list({ prefix }, { limit: 1 }).next()).done) {
    await new Promise((r) => setTimeout(r, 50));
  }
  return (performance.now() - started) / 1000;
}

function report(results: Result[], drains: number[]) {
  const row = (cells: string[]) => console.log(`| ${cells.join(" | ")} |`);
  row(["path", "req/s", "p50 ms", "p99 ms", "server CPU", "machine CPU"]);
  row(["---", "---:", "---:", "---:", "---:", "---:"]);
  for (const r of results) {
    const cores = [r.serverCores, r.machineCores].map((c) => c.toFixed(2));
    row([r.path, r.rps.toFixed(0), `${r.p50}`, `${r.p99}`, ...cores]);
  }
  const ratio = (i: number) => (results[i].rps / results[i - 1].rps);
  console.log(`\ncreate: ${ratio(1).toFixed(2)}x baseline`);
  console.log(`read: ${ratio(3).toFixed(2)}x baseline`);
  console.log(
    `CPU in cores of ${cpus().length}; audit backlog after the load sealed ` +
      `in ${drains[0].toFixed(1)} s (create), ${drains[1].toFixed(1)} s (read)`,
  );
}

/** Sets up the lab, then loads each path in turn, baseline first. */
async function runPaths(s: Settings, lhcms: Running, baselineUrl: string) {
  const { dentist, patient } = await setUpLab(lhcms.url);
  const body = JSON.stringify(serviceRequest(patient));
  const fhir = `${lhcms.url}/fhir/${LAB}/ServiceRequest`;
  const sr = await post(fhir, dentist, JSON.parse(body));
  const plain = await post(`${baselineUrl}/sr`, undefined, JSON.parse(body));
  console.error(
    `bench: ${s.connections} connections, ${s.seconds} s a path after ` +
      `${s.warmup} s of warm-up, load from ${AUTOCANNON}`,
  );

  // Both servers get the same requests, bearer token included.
  const headers = {
    "Content-Type": "application/fhir+json",
    Authorization: `Bearer ${dentist}`,
  };
  const create = { method: "POST", headers, body } as const;
  const read = { method: "GET", headers } as const;
  const results = [
    await measure(s, "baseline create", {
      ...create,
      url: `${baselineUrl}/sr`,
    }),
    await measure(s, "LHCMS create", { ...create, url: fhir }),
  ];
  const drains = [await drainAudit(lhcms.kv)];
  const plainUrl = `${baselineUrl}/sr/${plain.id}`;
  results.push(
    await measure(s, "baseline read", { ...read, url: plainUrl }),
    await measure(s, "LHCMS read", { ...read, url: `${fhir}/${sr.id}` }),
  );
  drains.push(await drainAudit(lhcms.kv));
  report(results, drains);
}

async function main() {
  const s = settings();
  const dir = await Deno.makeTempDir({ prefix: "lhcms-bench-" });
  const logged = new Map<string, number>();
  const servers: { close(): Promise<void> }[] = [];
  try {
    const masterKey = crypto.getRandomValues(new Uint8Array(32));
    const lhcms = await start(
      loadConfig({
        PORT: "0",
        LHCMS_HOSTNAME: "127.0.0.1",
        LHCMS_KV_PATH: `${dir}/lhcms.kv`,
        LHCMS_BOOTSTRAP_ADMIN: `${ADMIN.username}:${ADMIN.password}`,
        LHCMS_MASTER_KEY: encodeBase64(masterKey),
      }),
      { log: countingLogger(logged) },
    );
    servers.push(lhcms);
    const baseline = await startBaseline(`${dir}/baseline.kv`);
    servers.push(baseline);
    await runPaths(s, lhcms, baseline.url);
  } finally {
    for (const server of servers) await server.close();
    await Deno.remove(dir, { recursive: true });
  }
  for (const [line, n] of logged) console.error(`server log: ${n} x ${line}`);
}

if (import.meta.main) await main();
