// deno-lint-ignore-file no-explicit-any
/**
 * Scan files through the real server: a large STL streamed in from another
 * process and back out in ranges while the server's memory stays flat;
 * small files as FHIR JSON; DocumentReferences that describe them.
 *
 * LHCMS_SCAN_TEST_MIB sets the large scan's size (default 200).
 */
import assert from "node:assert/strict";
import { createSHA256 } from "hash-wasm";
import {
  call,
  fhirBody,
  fhirClient,
  login,
  PASSWORD,
  setupLab,
  startTestServer,
  type TestServer,
} from "./helpers.ts";
import { prescription } from "./dental.ts";
import { scanBytes, writeScanFile } from "../scripts/scan_client.ts";
import { SHA256_EXTENSION } from "../domain/scan_documents.ts";
import { encodeBase64 } from "../domain/config.ts";

const MiB = 1024 * 1024;
const SIZE = Number(Deno.env.get("LHCMS_SCAN_TEST_MIB") || 200) * MiB;
// Far below the file: what a server holding the file would need.
const MEMORY_BOUND = Math.min(64 * MiB, SIZE / 3);

/** Samples this process's resident memory until stopped; returns the peak. */
function rssPeak() {
  let peak = Deno.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, Deno.memoryUsage().rss);
  }, 10);
  return () => {
    clearInterval(timer);
    return Math.max(peak, Deno.memoryUsage().rss);
  };
}

/**
 * Uploads a scan file from another process, as a scanner PC would, so the
 * memory measured here is the server's. curl, because Deno's fetch sends
 * a streamed body slowly whenever the server reads slower than it writes.
 */
async function uploadFromOtherProcess(
  server: TestServer,
  lab: string,
  token: string,
  path: string,
  sha256?: string,
) {
  const output = await new Deno.Command("curl", {
    args: [
      "--silent",
      "--show-error",
      "--request",
      "POST",
      "--header",
      `Authorization: Bearer ${token}`,
      "--header",
      "Content-Type: model/stl",
      ...(sha256 ? ["--header", `X-Content-SHA256: ${sha256}`] : []),
      "--upload-file",
      path,
      "--write-out",
      "\\n%{http_code}",
      `${server.url}/fhir/${lab}/Binary`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  const [body, status] = new TextDecoder().decode(output.stdout).split("\n");
  return { status: Number(status), body: JSON.parse(body) };
}

async function download(
  server: TestServer,
  path: string,
  token: string,
  headers: Record<string, string> = {},
) {
  return await fetch(`${server.url}${path}`, {
    headers: { Authorization: `Bearer ${token}`, ...headers },
  });
}

const base64OfHex = (hex: string) =>
  encodeBase64(Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16)));

Deno.test("[scan] a large scan streams in and out, in ranges, with flat server memory", async (t) => {
  const server = await startTestServer();
  try {
    const { tokens } = await setupLab(server, "acme");
    const scan = `${server.dir}/scan.stl`, small = `${server.dir}/small.stl`;
    const sha256 = await writeScanFile(scan, SIZE);
    await writeScanFile(small, MiB);
    // Warm up the paths, so the baseline includes code, not the scan.
    const warm = await uploadFromOtherProcess(
      server,
      "acme",
      tokens.dentist,
      small,
    );
    await (await download(
      server,
      `/fhir/acme/Binary/${warm.body.id}`,
      tokens.dentist,
    )).arrayBuffer();
    let id = "";

    await t.step(
      "upload answers 201 with the SHA-256 it computed",
      async () => {
        const stop = rssPeak();
        const before = Deno.memoryUsage().rss;
        const res = await uploadFromOtherProcess(
          server,
          "acme",
          tokens.dentist,
          scan,
          sha256,
        );
        const growth = stop() - before;
        assert.equal(res.status, 201, JSON.stringify(res.body));
        assert.equal(res.body.resourceType, "Binary");
        assert.equal(res.body.contentType, "model/stl");
        assert.equal(res.body.data, undefined);
        id = res.body.id;
        assert.ok(
          growth < MEMORY_BOUND,
          `server memory grew ${growth} bytes for a ${SIZE}-byte upload`,
        );
      },
    );

    await t.step("full download streams the same bytes", async () => {
      const stop = rssPeak();
      const before = Deno.memoryUsage().rss;
      const res = await download(
        server,
        `/fhir/acme/Binary/${id}`,
        tokens.dentist,
      );
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("Content-Type"), "model/stl");
      assert.equal(res.headers.get("Content-Length"), String(SIZE));
      assert.equal(res.headers.get("Accept-Ranges"), "bytes");
      assert.equal(
        res.headers.get("Repr-Digest"),
        `sha-256=:${base64OfHex(sha256)}:`,
      );
      assert.ok(res.headers.get("ETag"));
      const hash = await createSHA256();
      hash.init();
      let size = 0, head: Uint8Array | undefined;
      for await (const part of res.body!) {
        head ??= part.slice(0, 100);
        hash.update(part);
        size += part.length;
      }
      const growth = stop() - before;
      assert.equal(size, SIZE);
      assert.equal(hash.digest("hex"), sha256);
      assert.deepEqual(head, scanBytes(0, 100));
      assert.ok(
        growth < MEMORY_BOUND,
        `memory grew ${growth} bytes for a ${SIZE}-byte download`,
      );
    });

    await t.step("Range gives 206 with Content-Range", async (t) => {
      const middle = Math.floor(SIZE / 2 / 61440) * 61440 - 37;
      const cases: [string, number, number][] = [
        ["bytes=0-99", 0, 99],
        ["bytes=-100", SIZE - 100, SIZE - 1],
        [`bytes=${middle}-${middle + 199_999}`, middle, middle + 199_999],
        [`bytes=${SIZE - 10}-`, SIZE - 10, SIZE - 1],
        [`bytes=${SIZE - 5}-${SIZE + 1000}`, SIZE - 5, SIZE - 1],
      ];
      for (const [range, start, end] of cases) {
        await t.step(range, async () => {
          const res = await download(
            server,
            `/fhir/acme/Binary/${id}`,
            tokens.lab_technician,
            { Range: range },
          );
          assert.equal(res.status, 206);
          assert.equal(
            res.headers.get("Content-Range"),
            `bytes ${start}-${end}/${SIZE}`,
          );
          assert.equal(
            res.headers.get("Content-Length"),
            String(end - start + 1),
          );
          const bytes = new Uint8Array(await res.arrayBuffer());
          assert.deepEqual(bytes, scanBytes(start, end - start + 1));
        });
      }
    });

    await t.step("a range past the end is 416", async () => {
      const res = await download(
        server,
        `/fhir/acme/Binary/${id}`,
        tokens.viewer,
        {
          Range: `bytes=${SIZE}-`,
        },
      );
      assert.equal(res.status, 416);
      assert.equal(res.headers.get("Content-Range"), `bytes */${SIZE}`);
      assert.equal((await res.json()).resourceType, "OperationOutcome");
    });

    await t.step(
      "If-Range with another validator gives the whole file",
      async () => {
        const res = await download(
          server,
          `/fhir/acme/Binary/${id}`,
          tokens.viewer,
          {
            Range: "bytes=0-9",
            "If-Range": '"not-this-file"',
          },
        );
        assert.equal(res.status, 200);
        assert.equal(res.headers.get("Content-Length"), String(SIZE));
        await res.body?.cancel();
      },
    );

    await t.step(
      "as FHIR JSON it is too large and says how to fetch it",
      async () => {
        const res = await call(
          server.url,
          "GET",
          `/fhir/acme/Binary/${id}`,
          tokens.dentist,
          undefined,
          { Accept: "application/fhir+json" },
        );
        const outcome = fhirBody(res, 406);
        assert.match(outcome.issue[0].diagnostics, /without Accept/);
      },
    );
  } finally {
    await server.close();
  }
});

Deno.test("[scan] small files go in and out as FHIR JSON with base64 data", async () => {
  const server = await startTestServer();
  try {
    const { tokens } = await setupLab(server, "acme");
    const client = fhirClient(server, "acme", tokens.dentist);
    const photo = scanBytes(1000, 150_000);
    const created: any = await client.create({
      resourceType: "Binary",
      body: {
        resourceType: "Binary",
        contentType: "image/jpeg",
        data: encodeBase64(photo),
      },
    });
    assert.equal(created.resourceType, "Binary");
    assert.equal(created.data, undefined);

    const read: any = await client.read({
      resourceType: "Binary",
      id: created.id,
    });
    assert.equal(read.contentType, "image/jpeg");
    assert.equal(read.data, encodeBase64(photo));

    const raw = await download(
      server,
      `/fhir/acme/Binary/${created.id}`,
      tokens.dentist,
    );
    assert.equal(raw.headers.get("Content-Type"), "image/jpeg");
    assert.deepEqual(new Uint8Array(await raw.arrayBuffer()), photo);

    const text = await call(
      server.url,
      "POST",
      "/fhir/acme/Binary",
      tokens.dentist,
      "not a scan",
      { "Content-Type": "text/html" },
    );
    assert.equal(fhirBody(text, 415).issue[0].code, "not-supported");
  } finally {
    await server.close();
  }
});

Deno.test("[scan] a DocumentReference describes a scan of a case and is found by patient, case, type and date", async (t) => {
  const server = await startTestServer();
  try {
    const { tokens } = await setupLab(server, "acme");
    const client = fhirClient(server, "acme", tokens.dentist);
    const patient: any = await client.create({
      resourceType: "Patient",
      body: { resourceType: "Patient", name: [{ family: "Scan" }] },
    });
    const request: any = await client.create({
      resourceType: "ServiceRequest",
      body: prescription("acme", patient.id, "crown", {
        teeth: ["36"],
        shade: "A2",
      }) as any,
    });
    const stl = scanBytes(0, 200_000);
    const upload = await fetch(`${server.url}/fhir/acme/Binary`, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${tokens.dentist}`,
        "Content-Type": "model/stl",
        "X-Security-Context": `ServiceRequest/${request.id}`,
      },
      body: stl,
    });
    const binary = fhirBody(
      {
        status: upload.status,
        headers: upload.headers,
        body: await upload.json(),
      },
      201,
    );
    assert.equal(
      binary.securityContext.reference,
      `ServiceRequest/${request.id}`,
    );
    const sha1 = encodeBase64(
      new Uint8Array(await crypto.subtle.digest("SHA-1", stl)),
    );
    const sha256 = encodeBase64(
      new Uint8Array(await crypto.subtle.digest("SHA-256", stl)),
    );
    const SCAN_TYPE = {
      system: "http://loinc.org",
      code: "34109-9",
      display: "Intraoral scan",
    };

    let doc: any;
    await t.step(
      "create fills in size, SHA-1 hash and the SHA-256 extension",
      async () => {
        doc = await client.create({
          resourceType: "DocumentReference",
          body: {
            resourceType: "DocumentReference",
            status: "current",
            type: { coding: [SCAN_TYPE] },
            date: "2026-12-02T10:00:00Z",
            subject: { reference: `Patient/${patient.id}` },
            context: {
              related: [{ reference: `ServiceRequest/${request.id}` }],
            },
            content: [{
              attachment: { url: `Binary/${binary.id}`, title: "upper jaw" },
            }],
          },
        });
        const attachment = doc.content[0].attachment;
        assert.equal(attachment.contentType, "model/stl");
        assert.equal(attachment.size, stl.length);
        assert.equal(attachment.hash, sha1);
        assert.deepEqual(attachment.extension, [{
          url: SHA256_EXTENSION,
          valueBase64Binary: sha256,
        }]);
      },
    );

    await t.step("a size that disagrees with the file is refused", async () => {
      const res = await call(
        server.url,
        "POST",
        "/fhir/acme/DocumentReference",
        tokens.dentist,
        {
          ...doc,
          id: undefined,
          meta: undefined,
          content: [{ attachment: { url: `Binary/${binary.id}`, size: 5 } }],
        },
      );
      const outcome = fhirBody(res, 422);
      assert.equal(
        outcome.issue[0].expression[0],
        "DocumentReference.content[0].attachment.size",
      );
    });

    await t.step(
      "an attachment naming an unknown Binary is refused",
      async () => {
        const res = await call(
          server.url,
          "POST",
          "/fhir/acme/DocumentReference",
          tokens.dentist,
          {
            resourceType: "DocumentReference",
            status: "current",
            content: [{ attachment: { url: "Binary/01NOSUCHBINARY" } }],
          },
        );
        assert.equal(fhirBody(res, 422).issue[0].code, "processing");
      },
    );

    for (
      const [param, value] of [
        ["subject", `Patient/${patient.id}`],
        ["patient", patient.id],
        ["related", `ServiceRequest/${request.id}`],
        ["type", `http://loinc.org|34109-9`],
        ["date", "2026-12-02"],
      ]
    ) {
      await t.step(`search by ${param}`, async () => {
        const hit: any = await client.search({
          resourceType: "DocumentReference",
          searchParams: { [param]: value },
        });
        assert.deepEqual(hit.entry.map((e: any) => e.resource.id), [doc.id]);
      });
    }
    await t.step("a search for another day finds nothing", async () => {
      const miss: any = await client.search({
        resourceType: "DocumentReference",
        searchParams: { date: "2026-12-01" },
      });
      assert.equal(miss.entry?.length ?? 0, 0);
    });

    await t.step(
      "a scan the lab uploads for the case is the practice's to read",
      async () => {
        const res = await fetch(`${server.url}/fhir/acme/Binary`, {
          method: "POST",
          headers: {
            Authorization: `Bearer ${tokens.lab_admin}`,
            "Content-Type": "image/png",
            "X-Security-Context": `ServiceRequest/${request.id}`,
          },
          body: scanBytes(7, 1000),
        });
        const photo = fhirBody({
          status: res.status,
          headers: res.headers,
          body: await res.json(),
        }, 201);
        const read = await download(
          server,
          `/fhir/acme/Binary/${photo.id}`,
          tokens.dentist,
        );
        assert.equal(read.status, 200);
        assert.deepEqual(
          new Uint8Array(await read.arrayBuffer()),
          scanBytes(7, 1000),
        );
      },
    );

    await t.step(
      "a dentist of another practice sees neither file nor document",
      async () => {
        await call(server.url, "POST", "/admin/practices", server.adminToken, {
          id: "elsewhere",
          name: "Another practice",
          labs: ["acme"],
        });
        await call(server.url, "POST", "/admin/users", server.adminToken, {
          username: "elsewhere-dentist",
          password: PASSWORD,
          role: "dentist",
          practice: "elsewhere",
        });
        const token = await login(server.url, "elsewhere-dentist", PASSWORD);
        const file = await download(
          server,
          `/fhir/acme/Binary/${binary.id}`,
          token,
        );
        assert.equal(file.status, 404);
        await file.body?.cancel();
        const res = await call(
          server.url,
          "GET",
          `/fhir/acme/DocumentReference/${doc.id}`,
          token,
        );
        fhirBody(res, 404);
      },
    );

    await t.step(
      "the lab's technician reads the scan the document points at",
      async () => {
        const res = await download(
          server,
          `/fhir/acme/${doc.content[0].attachment.url}`,
          tokens.lab_technician,
        );
        assert.equal(res.status, 200);
        assert.deepEqual(new Uint8Array(await res.arrayBuffer()), stl);
      },
    );
  } finally {
    await server.close();
  }
});
