// deno task bench:scan
/**
 * Uploads and downloads one large scan file (1 GiB unless
 * LHCMS_BENCH_SCAN_MIB says otherwise) through the real server and prints
 * the throughput of each direction and the server's peak resident memory
 * above its level before the upload.
 *
 * The server runs in this process; curl, the scanner side, runs in its own,
 * so the memory measured is the server's. The file is generated into a
 * temporary folder first, as a scanner PC would have it on disk.
 */
import { encodeBase64, loadConfig } from "../domain/config.ts";
import { jsonLogger } from "../domain/log.ts";
import { start } from "../main.ts";
import { writeScanFile } from "./scan_client.ts";

const LAB = "bench-lab";
const ADMIN = { username: "bench-admin", password: "bench-admin-password-1" };
const DENTIST = { username: "bench-dentist", password: "bench-dentist-pass-1" };
const MiB = 1024 * 1024;

async function post(url: string, token: string | undefined, body: unknown) {
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`POST ${url}: ${res.status}`);
  return json;
}

/** A lab, a practice and its dentist; returns the dentist's token. */
async function setUpLab(url: string): Promise<string> {
  const login = async (user: typeof ADMIN) =>
    (await post(`${url}/auth/login`, undefined, user)).access_token as string;
  const admin = await login(ADMIN);
  const practice = { id: "bench-practice", name: "Bench", labs: [LAB] };
  await post(`${url}/admin/labs`, admin, { id: LAB, name: "Bench lab" });
  await post(`${url}/admin/practices`, admin, practice);
  await post(`${url}/admin/users`, admin, {
    ...DENTIST,
    role: "dentist",
    practice: practice.id,
  });
  return await login(DENTIST);
}

/** Runs curl; returns its output and the seconds it took. */
async function curl(args: string[]) {
  const started = performance.now();
  const out = await new Deno.Command("curl", {
    args: ["--silent", "--show-error", "--fail", ...args],
    stdout: "piped",
  }).output();
  if (!out.success) throw new Error(`curl ${args[0]} failed`);
  return {
    text: new TextDecoder().decode(out.stdout),
    seconds: (performance.now() - started) / 1000,
  };
}

/** Samples this process's resident memory while `work` runs. */
async function peakRss<T>(work: () => Promise<T>) {
  let peak = Deno.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, Deno.memoryUsage().rss);
  }, 10);
  try {
    return { result: await work(), peak };
  } finally {
    clearInterval(timer);
  }
}

async function main() {
  const size = Number(Deno.env.get("LHCMS_BENCH_SCAN_MIB") || 1024) * MiB;
  const dir = await Deno.makeTempDir({ prefix: "lhcms-bench-scan-" });
  const lhcms = await start(
    loadConfig({
      PORT: "0",
      LHCMS_HOSTNAME: "127.0.0.1",
      LHCMS_KV_PATH: `${dir}/lhcms.kv`,
      LHCMS_BOOTSTRAP_ADMIN: `${ADMIN.username}:${ADMIN.password}`,
      LHCMS_MASTER_KEY: encodeBase64(
        crypto.getRandomValues(new Uint8Array(32)),
      ),
    }),
    { log: jsonLogger({}, true) },
  );
  try {
    const token = await setUpLab(lhcms.url);
    const scan = `${dir}/scan.stl`;
    const sha256 = await writeScanFile(scan, size);
    const auth = `Authorization: Bearer ${token}`;
    const base = `${lhcms.url}/fhir/${LAB}/Binary`;
    const before = Deno.memoryUsage().rss;

    const up = await peakRss(() =>
      curl([
        "--header",
        auth,
        "--header",
        "Content-Type: model/stl",
        "--header",
        `X-Content-SHA256: ${sha256}`,
        "--upload-file",
        scan,
        "--request",
        "POST",
        base,
      ])
    );
    const id = JSON.parse(up.result.text).id;
    const down = await peakRss(() =>
      curl(["--header", auth, "--output", "/dev/null", `${base}/${id}`])
    );

    const line = (name: string, run: typeof up) =>
      `${name.padEnd(9)} ${
        (size / MiB / run.result.seconds).toFixed(1)
      } MiB/s` +
      `  (${run.result.seconds.toFixed(1)} s)  peak RSS +${
        ((run.peak - before) / MiB).toFixed(0)
      } MiB`;
    console.log(
      `scan file of ${size / MiB} MiB, RSS before ${
        (before / MiB).toFixed(0)
      } MiB`,
    );
    console.log(line("upload", up));
    console.log(line("download", down));
  } finally {
    await lhcms.close();
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
