/**
 * Security of scan files: a damaged upload never becomes visible, a Binary
 * stays inside its lab and its roles, stored chunks that were tampered
 * with never come back as bytes, and every upload and download is audited.
 */
import assert from "node:assert/strict";
import type { Sealed } from "../domain/crypto.ts";
import { keys } from "../domain/kv_keys.ts";
import type { AuditRecord } from "../domain/audit.ts";
import { scanBytes } from "../scripts/scan_client.ts";
import {
  auditSettled,
  fhirBody,
  keyCount,
  openRawUpload,
  recordingLogger,
  setupLab,
  startTestServer,
  storedCount,
  type TestServer,
  waitFor,
} from "./helpers.ts";

const CHUNK = 60 * 1024;

async function upload(
  server: TestServer,
  lab: string,
  token: string,
  bytes: Uint8Array<ArrayBuffer>,
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${server.url}/fhir/${lab}/Binary`, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${token}`,
      "Content-Type": "application/octet-stream",
      ...headers,
    },
    body: bytes,
  });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

function get(
  server: TestServer,
  path: string,
  token: string,
  headers: Record<string, string> = {},
) {
  return fetch(`${server.url}${path}`, {
    headers: { Authorization: `Bearer ${token}`, ...headers },
  });
}

/** Refused Binary creates audited at a lab so far, pending or sealed. */
async function refusedUploads(server: TestServer, lab: string) {
  const ids = new Set<string>();
  // Pending first: a record sealed in between is then seen twice, never
  // missed, and counted once by its id.
  for (const scope of [keys.auditPending, keys.auditEvent]) {
    for await (
      const e of server.kv.list<AuditRecord>({ prefix: scope({ lab }) })
    ) {
      const { id, subtype, entity, outcome } = e.value;
      if (
        subtype === "create" && entity?.type === "Binary" && outcome !== "0"
      ) {
        ids.add(id);
      }
    }
  }
  return ids.size;
}

const hex = async (bytes: Uint8Array<ArrayBuffer>) =>
  [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");

Deno.test("[scan security] a digest that does not match refuses the upload and leaves nothing behind", async (t) => {
  const server = await startTestServer();
  try {
    const { tokens } = await setupLab(server, "acme");
    const ply = scanBytes(0, 5 * CHUNK + 123);
    const chunks = ["lab", "acme", "binary_chunks"];

    await t.step("X-Content-SHA256 of other bytes: 422", async () => {
      const wrong = await hex(scanBytes(1, 1000));
      const res = await upload(server, "acme", tokens.dentist, ply, {
        "X-Content-SHA256": wrong,
      });
      assert.equal(fhirBody(res, 422).issue[0].code, "processing");
    });

    await t.step("Content-Digest of other bytes: 422", async () => {
      const res = await upload(server, "acme", tokens.dentist, ply, {
        "Content-Digest":
          "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:",
      });
      fhirBody(res, 422);
    });

    await t.step("a malformed X-Content-SHA256: 400", async () => {
      const res = await upload(server, "acme", tokens.dentist, ply, {
        "X-Content-SHA256": "abc",
      });
      fhirBody(res, 400);
    });

    await t.step("an empty body: 400", async () => {
      const res = await upload(
        server,
        "acme",
        tokens.dentist,
        new Uint8Array(),
      );
      fhirBody(res, 400);
    });

    await t.step("an upload cut off midway", async () => {
      const before = await refusedUploads(server, "acme");
      const conn = await openRawUpload(
        server.url,
        "acme",
        tokens.dentist,
        40 * CHUNK,
      );
      // More than one commit's worth of chunks, then the line drops.
      await conn.write(scanBytes(0, 30 * CHUNK));
      conn.close();
      // The refusal is audited only after the request discarded its chunks:
      // before that, a count of chunks can be 0 because none landed yet.
      await waitFor(
        "the cut-off upload's refusal",
        async () => await refusedUploads(server, "acme") > before,
      );
    });

    await t.step("nothing became visible or stayed behind", async () => {
      assert.equal(await storedCount(server, "acme", "Binary"), 0);
      assert.equal(await keyCount(server, chunks), 0);
      assert.equal(await keyCount(server, keys.binaryUploads("acme")), 0);
      assert.equal(await keyCount(server, ["lab", "acme", "binary_files"]), 0);
    });

    await t.step("the right digest is accepted", async () => {
      const res = await upload(server, "acme", tokens.dentist, ply, {
        "X-Content-SHA256": await hex(ply),
      });
      fhirBody(res, 201);
      assert.equal(await keyCount(server, chunks), 6);
    });
  } finally {
    await server.close();
  }
});

Deno.test("[scan security] a Binary stays inside its lab and its roles", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const other = await setupLab(server, "other");
    const photo = scanBytes(0, 2 * CHUNK);
    const created = await upload(server, "acme", acme.tokens.dentist, photo, {
      "Content-Type": "image/png",
    });
    const id = fhirBody(created, 201).id;
    const path = `/fhir/acme/Binary/${id}`;

    await t.step("another lab's users get 403 at its base URL", async () => {
      const res = await get(server, path, other.tokens.lab_admin);
      assert.equal(res.status, 403);
      await res.body?.cancel();
    });

    await t.step("the id at another lab's base URL is 404", async () => {
      const res = await get(
        server,
        `/fhir/other/Binary/${id}`,
        other.tokens.lab_admin,
      );
      assert.equal(res.status, 404);
      await res.body?.cancel();
    });

    for (
      const [role, status] of [
        ["lab_technician", 200],
        ["viewer", 200],
        ["lab_admin", 200],
        ["dentist", 200],
        ["compliance_officer", 403],
      ] as const
    ) {
      await t.step(`${role} reading: ${status}`, async () => {
        const res = await get(server, path, acme.tokens[role]);
        assert.equal(res.status, status);
        if (status === 200) {
          assert.deepEqual(new Uint8Array(await res.arrayBuffer()), photo);
        } else await res.body?.cancel();
      });
    }

    for (const role of ["lab_technician", "viewer"] as const) {
      await t.step(`${role} uploading: 403`, async () => {
        const res = await upload(server, "acme", acme.tokens[role], photo);
        fhirBody(res, 403);
      });
    }

    await t.step("a Binary cannot be replaced", async () => {
      const res = await fetch(`${server.url}${path}`, {
        method: "PUT",
        headers: {
          Authorization: `Bearer ${acme.tokens.lab_admin}`,
          "Content-Type": "application/fhir+json",
        },
        body: JSON.stringify({
          resourceType: "Binary",
          id,
          contentType: "image/png",
        }),
      });
      assert.equal(res.status, 400);
      await res.body?.cancel();
    });

    await t.step("a security context in another lab is refused", async () => {
      const res = await upload(server, "acme", acme.tokens.lab_admin, photo, {
        "X-Security-Context": `${server.url}/fhir/other/ServiceRequest/x1`,
      });
      fhirBody(res, 422);
    });
  } finally {
    await server.close();
  }
});

Deno.test("[scan security] a tampered chunk fails the download instead of returning other bytes", async (t) => {
  const server = await startTestServer();
  try {
    const { tokens } = await setupLab(server, "acme");
    const stl = scanBytes(0, 4 * CHUNK + 500);
    const id = fhirBody(await upload(server, "acme", tokens.dentist, stl), 201)
      .id;
    const path = `/fhir/acme/Binary/${id}`;
    const chunkKey = (i: number) => keys.binaryChunk("acme", id, i);
    const original = (await server.kv.get<Sealed>(chunkKey(2))).value!;

    await t.step("one flipped bit in the middle chunk", async () => {
      const ct = original.ct.slice();
      ct[100] ^= 1;
      await server.kv.set(chunkKey(2), { ...original, ct });

      const whole = await get(server, path, tokens.lab_technician);
      assert.equal(whole.status, 200);
      await assert.rejects(whole.arrayBuffer());

      const ranged = await get(server, path, tokens.lab_technician, {
        Range: `bytes=${2 * CHUNK}-${2 * CHUNK + 10}`,
      });
      assert.equal(ranged.status, 500);
      await ranged.body?.cancel();
    });

    await t.step("a chunk moved to another position", async () => {
      const first = (await server.kv.get<Sealed>(chunkKey(1))).value!;
      await server.kv.set(chunkKey(2), first);
      const res = await get(server, path, tokens.lab_technician, {
        Range: `bytes=${2 * CHUNK}-${2 * CHUNK + 10}`,
      });
      assert.equal(res.status, 500);
      await res.body?.cancel();
    });

    await t.step("the file cut short", async () => {
      await server.kv.set(chunkKey(2), original);
      await server.kv.delete(chunkKey(4));
      const res = await get(server, path, tokens.lab_technician, {
        Range: "bytes=-10",
      });
      assert.equal(res.status, 500);
      await res.body?.cancel();
    });

    await t.step("the untouched chunks still read", async () => {
      const res = await get(server, path, tokens.lab_technician, {
        Range: "bytes=0-99",
      });
      assert.equal(res.status, 206);
      assert.deepEqual(
        new Uint8Array(await res.arrayBuffer()),
        stl.subarray(0, 100),
      );
    });
  } finally {
    await server.close();
  }
});

Deno.test("[scan security] uploads and downloads are audited, with the Binary id", async () => {
  const server = await startTestServer();
  try {
    const { tokens } = await setupLab(server, "acme");
    const pdf = scanBytes(0, 3000);
    const id = fhirBody(
      await upload(server, "acme", tokens.dentist, pdf, {
        "Content-Type": "application/pdf",
      }),
      201,
    ).id;
    for (const range of ["bytes=0-9", "bytes=5000-"]) {
      const res = await get(
        server,
        `/fhir/acme/Binary/${id}`,
        tokens.viewer,
        { Range: range },
      );
      await res.body?.cancel();
    }
    await auditSettled(server);

    const records: AuditRecord[] = [];
    for await (
      const e of server.kv.list<AuditRecord>({
        prefix: keys.auditEvent({ lab: "acme" }),
      })
    ) {
      if (e.value.entity?.type === "Binary" && e.value.entity.id === id) {
        records.push(e.value);
      }
    }
    const seen = records.map((r) => [
      r.subtype,
      r.agent.who,
      r.outcome,
      r.outcomeCode,
    ]);
    assert.deepEqual(seen, [
      ["create", "acme-dentist", "0", undefined],
      ["read", "acme-viewer", "0", undefined],
      ["read", "acme-viewer", "4", "range_not_satisfiable"],
    ]);
  } finally {
    await server.close();
  }
});

Deno.test("[scan security] a download the client stops reading raises no integrity alarm", async () => {
  const lines: { level: string; message: string }[] = [];
  const server = await startTestServer({ log: recordingLogger(lines) });
  try {
    const { tokens } = await setupLab(server, "acme");
    const scan = scanBytes(0, 40 * CHUNK);
    const id = fhirBody(await upload(server, "acme", tokens.dentist, scan), 201)
      .id;
    for (let i = 0; i < 5; i++) {
      const res = await get(server, `/fhir/acme/Binary/${id}`, tokens.viewer);
      const reader = res.body!.getReader();
      await reader.read();
      await reader.cancel();
    }
    // A whole read after them: the server carries on, and the cancelled
    // reads have long finished opening their next chunk.
    const whole = await get(server, `/fhir/acme/Binary/${id}`, tokens.viewer);
    assert.deepEqual(new Uint8Array(await whole.arrayBuffer()), scan);
    assert.deepEqual(lines.filter((l) => l.level === "error"), []);
  } finally {
    await server.close();
  }
});
