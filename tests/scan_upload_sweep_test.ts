/**
 * Uploads nobody finishes: a server process killed mid-upload, or a client
 * that stops sending. Their chunks stay unreadable until the server's
 * periodic sweep, on its injected clock, finds the upload idle for an hour
 * and removes it; a stored file and a recent upload are left alone.
 */
import assert from "node:assert/strict";
import { encodeBase64 } from "../domain/config.ts";
import { keys } from "../domain/kv_keys.ts";
import {
  ABANDONED_AFTER_MS,
  sweepAbandonedUploads,
} from "../domain/upload_sweep.ts";
import { scanBytes } from "../scripts/scan_client.ts";
import {
  authenticatorSecret,
  fhirBody,
  keyCount,
  login,
  openRawUpload,
  PASSWORD,
  rawStatus,
  rememberAuthenticator,
  setupLab,
  startTestServer,
  storedCount,
  type TestServer,
  waitFor,
} from "./helpers.ts";

const CHUNK = 60 * 1024;
const MINUTE = 60_000;

/** What a sweep as of the server's clock removes at lab acme. */
const sweepNow = (server: TestServer) =>
  sweepAbandonedUploads(server.kv, "acme", server.clock.now());

/** The ids of the uploads under way at a lab. */
async function uploadsUnderWay(server: TestServer, lab: string) {
  const ids: string[] = [];
  for await (const e of server.kv.list({ prefix: keys.binaryUploads(lab) })) {
    ids.push(e.key.at(-1) as string);
  }
  return ids;
}

/** Waits until one upload has committed at least `chunks` chunks. */
async function oneUploadWith(server: TestServer, chunks: number) {
  let id = "";
  await waitFor(`an upload with ${chunks} chunks in KV`, async () => {
    [id] = await uploadsUnderWay(server, "acme");
    return id !== undefined &&
      await keyCount(server, keys.binaryChunks("acme", id)) >= chunks;
  });
  return id;
}

/**
 * Moves the clock from a minute before the hour to a minute past it, and
 * waits for the server's own periodic sweep to remove upload `id`.
 */
async function crossTheHour(server: TestServer, id: string) {
  server.clock.advance(2 * MINUTE);
  await waitFor(
    "the server's sweep to remove the upload",
    async () => (await uploadsUnderWay(server, "acme")).length === 0,
    15_000,
  );
  assert.equal(await keyCount(server, keys.binaryChunks("acme", id)), 0);
}

async function storeFile(server: TestServer, token: string) {
  const res = await fetch(`${server.url}/fhir/acme/Binary`, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${token}`,
      "Content-Type": "model/stl",
    },
    body: scanBytes(3, 3 * CHUNK),
  });
  const body = fhirBody(
    { status: res.status, headers: res.headers, body: await res.json() },
    201,
  );
  return body.id as string;
}

Deno.test("[scan sweep] an upload idle for an hour is removed, and finishing it later is refused", async (t) => {
  const server = await startTestServer();
  try {
    const { tokens } = await setupLab(server, "acme");
    const stored = await storeFile(server, tokens.dentist);
    const conn = await openRawUpload(
      server.url,
      "acme",
      tokens.dentist,
      40 * CHUNK,
    );
    await conn.write(scanBytes(0, 30 * CHUNK));
    const idle = await oneUploadWith(server, 24);

    await t.step("59 minutes on, the upload is still under way", async () => {
      server.clock.advance(59 * MINUTE);
      assert.equal(await sweepNow(server), 0);
      assert.deepEqual(await uploadsUnderWay(server, "acme"), [idle]);
      assert.ok(await keyCount(server, keys.binaryChunks("acme", idle)) >= 24);
    });

    await t.step("past the hour, the server's sweep removes it", async () => {
      await crossTheHour(server, idle);
    });

    await t.step("the stored file is untouched and reads back", async () => {
      const token = await login(server.url, "acme-dentist", PASSWORD);
      const res = await fetch(`${server.url}/fhir/acme/Binary/${stored}`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      assert.equal(res.status, 200);
      assert.deepEqual(
        new Uint8Array(await res.arrayBuffer()),
        scanBytes(3, 3 * CHUNK),
      );
    });

    await t.step(
      "the rest of the body arrives: 409, nothing stored",
      async () => {
        await conn.write(scanBytes(0, 10 * CHUNK));
        assert.equal(await rawStatus(conn), 409);
        conn.close();
        assert.equal(await storedCount(server, "acme", "Binary"), 1);
        assert.equal(
          await keyCount(server, keys.binaryChunks("acme", idle)),
          0,
        );
        assert.deepEqual(await uploadsUnderWay(server, "acme"), []);
      },
    );
  } finally {
    await server.close();
  }
});

Deno.test("[scan sweep] chunks a killed server process left behind are swept an hour later", async () => {
  const masterKey = encodeBase64(crypto.getRandomValues(new Uint8Array(32)));
  const server = await startTestServer({
    env: { LHCMS_MASTER_KEY: masterKey },
  });
  let child: Deno.ChildProcess | undefined;
  try {
    await setupLab(server, "acme");
    // A second process serving the same KV file, with the real clock.
    const other = await spawnServer(server.kvPath, masterKey);
    child = other.child;
    rememberAuthenticator(
      other.url,
      "acme-dentist",
      authenticatorSecret(server.url, "acme-dentist"),
    );
    const token = await login(other.url, "acme-dentist", PASSWORD);
    const conn = await openRawUpload(other.url, "acme", token, 40 * CHUNK);
    await conn.write(scanBytes(0, 30 * CHUNK));
    const left = await oneUploadWith(server, 24);
    child.kill("SIGKILL");
    await child.status;
    child = undefined;
    conn.close();
    const leftChunks = await keyCount(server, keys.binaryChunks("acme", left));
    assert.ok(leftChunks >= 24);

    // The killed process stamped its marker with the real time; the test
    // server's clock starts earlier, so it is moved to just before the hour.
    server.clock.advance(Date.now() - server.clock.now().getTime());
    server.clock.advance(ABANDONED_AFTER_MS - MINUTE);
    assert.equal(await sweepNow(server), 0);
    assert.equal(
      await keyCount(server, keys.binaryChunks("acme", left)),
      leftChunks,
    );

    await crossTheHour(server, left);
    assert.equal(await storedCount(server, "acme", "Binary"), 0);
  } finally {
    child?.kill("SIGKILL");
    await child?.status;
    await server.close();
  }
});

/** `main.ts` in a process of its own on `kvPath`, once it answers. */
async function spawnServer(kvPath: string, masterKey: string) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../main.ts", import.meta.url).pathname],
    env: {
      LHCMS_KV_PATH: kvPath,
      LHCMS_MASTER_KEY: masterKey,
      LHCMS_HOSTNAME: "127.0.0.1",
      PORT: String(port),
    },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const url = `http://127.0.0.1:${port}`;
  await waitFor("the second server to answer", async () => {
    const res = await fetch(`${url}/health`).catch(() => undefined);
    await res?.body?.cancel();
    return res?.ok === true;
  }, 30_000);
  return { child, url };
}
