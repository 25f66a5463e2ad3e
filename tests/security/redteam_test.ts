// deno-lint-ignore-file no-explicit-any
/**
 * Red-team findings, each through the real server: what an attacker sent,
 * and what LHCMS must answer instead of what it did.
 */
import assert from "node:assert/strict";
import { keys } from "../../domain/kv_keys.ts";
import {
  auditSettled,
  call,
  fhirBody,
  setupLab,
  startTestServer,
} from "../helpers.ts";

const FORM = { "Content-Type": "application/x-www-form-urlencoded" };

function jsonError(
  res: { status: number; headers: Headers; body: any },
  status: number,
) {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.match(res.headers.get("Content-Type") ?? "", /^application\/json/);
  return res.body;
}

Deno.test("[redteam] no request can stall a lab's audit trail", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const beta = await setupLab(server, "beta");
    await auditSettled(server);

    await t.step("a reader's search with an over-long patient", async () => {
      // Once, this record's patient index key passed KV's 2 KiB limit and
      // every later record of the lab stayed pending for good.
      const long = "x".repeat(3000);
      const res = await call(
        server.url,
        "GET",
        `/fhir/acme/Patient?patient=${long}`,
        acme.tokens.viewer,
        undefined,
        { Prefer: "handling=lenient" },
      );
      assert.equal(fhirBody(res, 200).resourceType, "Bundle");
      const ids = Array.from({ length: 100 }, (_, i) => `${i}`.padEnd(64, "p"))
        .join(",");
      const many = await call(
        server.url,
        "GET",
        `/fhir/acme/ServiceRequest?patient=${ids}`,
        acme.tokens.viewer,
      );
      assert.equal(fhirBody(many, 200).resourceType, "Bundle");
      await auditSettled(server);
    });

    await t.step("a case whose subject is no Patient id", async () => {
      const res = await call(
        server.url,
        "POST",
        "/fhir/acme/ServiceRequest",
        acme.tokens.lab_admin,
        {
          resourceType: "ServiceRequest",
          status: "active",
          intent: "order",
          subject: { reference: `Patient/${"y".repeat(3000)}` },
        },
      );
      assert.equal(fhirBody(res, 201).resourceType, "ServiceRequest");
      await auditSettled(server);
    });

    await t.step("anonymous requests with huge ids, many at once", async () => {
      // Once, 20 such records exceeded KV's 800 KiB per commit together.
      const huge = "a".repeat(60_000);
      const all = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          call(
            server.url,
            "GET",
            i % 2 ? `/fhir/acme/Patient/${huge}` : `/fhir/acme/${huge}`,
          )),
      );
      for (const res of all) {
        assert.equal(fhirBody(res, 401).issue[0].code, "login");
      }
      await auditSettled(server);
    });

    await t.step("the trail shows what came after", async () => {
      const res = await call(
        server.url,
        "GET",
        "/fhir/acme/AuditEvent?agent=anonymous&_count=200",
        acme.tokens.compliance_officer,
      );
      const body = fhirBody(res, 200);
      assert.equal(body.entry.length, 30);
      for (const { resource } of body.entry) {
        const { what } = resource.entity[0];
        assert.ok(JSON.stringify(what).length < 200, JSON.stringify(what));
      }
    });

    await t.step(
      "a refusal at an encoded lab id is in that lab's trail",
      async () => {
        const res = await call(
          server.url,
          "GET",
          "/fhir/%61cme/Patient",
          beta.tokens.lab_admin,
        );
        assert.equal(fhirBody(res, 403).issue[0].code, "forbidden");
        await auditSettled(server);
        const by = keys.auditEventsBy(
          { lab: "acme" },
          "agent",
          "beta-lab_admin",
        );
        let found = 0;
        for await (const _ of server.kv.list({ prefix: by })) found++;
        assert.equal(found, 1);
      },
    );
  } finally {
    await server.close();
  }
});

Deno.test("[redteam] bodies over 1 MB are refused before they are read", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");

    await t.step("an anonymous sign-in", async () => {
      const body = JSON.stringify({
        username: "root",
        password: "p".repeat(5_000_000),
      });
      const res = await call(
        server.url,
        "POST",
        "/auth/login",
        undefined,
        body,
        {
          "Content-Type": "application/json",
        },
      );
      assert.equal(jsonError(res, 413).error, "payload_too_large");
    });

    await t.step("a sign-in streamed without Content-Length", async () => {
      const chunk = new TextEncoder().encode("x".repeat(64 * 1024));
      let sent = 0;
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent++ >= 40) controller.close();
          else controller.enqueue(chunk);
        },
      });
      const res = await fetch(`${server.url}/auth/login`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: stream,
      });
      assert.equal(res.status, 413);
      assert.match(res.headers.get("Content-Type") ?? "", /^application\/json/);
      assert.equal((await res.json()).error, "payload_too_large");
    });

    await t.step("a FHIR search form", async () => {
      const form = `_id=${"a".repeat(2_000_000)}`;
      const res = await call(
        server.url,
        "POST",
        "/fhir/acme/Patient/_search",
        acme.tokens.viewer,
        form,
        FORM,
      );
      assert.equal(fhirBody(res, 413).issue[0].code, "too-long");
    });
  } finally {
    await server.close();
  }
});

Deno.test("[redteam] a search holds at most 100 values of bounded length", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const search = (type: string, form: string) =>
      call(
        server.url,
        "POST",
        `/fhir/acme/${type}/_search`,
        acme.tokens.viewer,
        form,
        FORM,
      );
    const values = (n: number) =>
      Array.from({ length: n }, (_, i) => `c${i}`).join(",");

    await t.step("101 values separated by commas", async () => {
      const res = await search("ServiceRequest", `code=${values(101)}`);
      assert.equal(fhirBody(res, 400).issue[0].code, "invalid");
      const blind = await search("Patient", `family=${values(101)}`);
      assert.equal(fhirBody(blind, 400).issue[0].code, "invalid");
    });

    await t.step("one parameter repeated 101 times", async () => {
      const form = Array.from({ length: 101 }, () => "gender=male").join("&");
      const res = await search("Patient", form);
      assert.equal(fhirBody(res, 400).issue[0].code, "invalid");
    });

    await t.step("a value of 3000 characters", async () => {
      const res = await search("ServiceRequest", `code=${"q".repeat(3000)}`);
      assert.equal(fhirBody(res, 400).issue[0].code, "invalid");
    });

    await t.step("100 values still search (control)", async () => {
      const res = await search("ServiceRequest", `code=${values(100)}`);
      assert.equal(fhirBody(res, 200).resourceType, "Bundle");
    });
  } finally {
    await server.close();
  }
});

Deno.test("[redteam] a dentist cannot change the lab's own directory records", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const fhir = (
      method: string,
      path: string,
      token: string,
      body?: unknown,
    ) => call(server.url, method, `/fhir/acme${path}`, token, body);
    const labOrg = fhirBody(
      await fhir("POST", "/Organization", acme.tokens.lab_admin, {
        resourceType: "Organization",
        name: "Acme Dental Lab",
      }),
      201,
    );

    await t.step(
      "the lab's Organization is read-only to a dentist",
      async () => {
        const res = await fhir(
          "PUT",
          `/Organization/${labOrg.id}`,
          acme.tokens.dentist,
          { ...labOrg, name: "Renamed by one practice" },
        );
        assert.equal(fhirBody(res, 403).issue[0].code, "forbidden");
        const now = await fhir(
          "GET",
          `/Organization/${labOrg.id}`,
          acme.tokens.lab_admin,
        );
        const body = fhirBody(now, 200);
        assert.equal(body.name, "Acme Dental Lab");
        assert.equal(body.meta.versionId, "1");
      },
    );

    await t.step("the practice's own Organization stays writable", async () => {
      const own = fhirBody(
        await fhir("POST", "/Organization", acme.tokens.dentist, {
          resourceType: "Organization",
          name: "Smile Dental",
        }),
        201,
      );
      const res = await fhir(
        "PUT",
        `/Organization/${own.id}`,
        acme.tokens.dentist,
        { ...own, name: "Smile Dental Group" },
      );
      assert.equal(fhirBody(res, 200).name, "Smile Dental Group");
    });
  } finally {
    await server.close();
  }
});

Deno.test("[redteam] malformed input is a 4xx, never a 500", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");

    await t.step("JSON nested 100,000 deep", async () => {
      const depth = 100_000;
      const body = `{"resourceType":"Patient","extension":${
        '{"a":'.repeat(depth)
      }1${"}".repeat(depth)}}`;
      const res = await call(
        server.url,
        "POST",
        "/fhir/acme/Patient",
        acme.tokens.lab_admin,
        body,
      );
      assert.equal(fhirBody(res, 400).issue[0].code, "invalid");
    });

    await t.step("a cursor naming no scan", async () => {
      const cursor = btoa(JSON.stringify({ p: 0.5 }));
      const res = await call(
        server.url,
        "GET",
        `/fhir/acme/Patient?_cursor=${cursor}`,
        acme.tokens.viewer,
      );
      assert.equal(fhirBody(res, 400).issue[0].code, "invalid");
    });

    await t.step("an AuditEvent filter of 3000 characters", async () => {
      for (const name of ["agent", "patient"]) {
        const res = await call(
          server.url,
          "GET",
          `/fhir/acme/AuditEvent?${name}=${"q".repeat(3000)}`,
          acme.tokens.compliance_officer,
        );
        assert.equal(fhirBody(res, 400).issue[0].code, "invalid");
      }
    });

    await t.step("an AuditEvent id of 3000 characters", async () => {
      const res = await call(
        server.url,
        "GET",
        `/fhir/acme/AuditEvent/${"z".repeat(3000)}`,
        acme.tokens.compliance_officer,
      );
      assert.equal(fhirBody(res, 404).issue[0].code, "not-found");
    });
  } finally {
    await server.close();
  }
});
