// deno-lint-ignore-file no-explicit-any
/**
 * Inputs at and past KV's limits get a clear 4xx and change nothing, rather
 * than a 500 from the store underneath.
 */
import assert from "node:assert/strict";
import { call, setupLab, startTestServer, storedCount } from "../helpers.ts";

Deno.test("[limits] oversized input is refused clearly and stores nothing", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const token = acme.tokens.lab_admin;

    await t.step(
      "a resource over 60 KB is a 413 OperationOutcome",
      async () => {
        const before = await storedCount(server, "acme", "Practitioner");
        const res = await call(
          server.url,
          "POST",
          "/fhir/acme/Practitioner",
          token,
          {
            resourceType: "Practitioner",
            name: [{ text: "x".repeat(200_000) }],
          },
        );
        assert.equal(res.status, 413);
        assert.match(res.headers.get("content-type") ?? "", /fhir\+json/);
        assert.equal(res.body.issue[0].code, "too-long");
        assert.equal(await storedCount(server, "acme", "Practitioner"), before);
      },
    );

    await t.step("too many searchable values is a 422", async () => {
      const before = await storedCount(server, "acme", "Organization");
      const identifier = Array.from({ length: 1200 }, (_, i) => ({
        system: "urn:lab",
        value: `v${i}`,
      }));
      const res = await call(
        server.url,
        "POST",
        "/fhir/acme/Organization",
        token,
        {
          resourceType: "Organization",
          identifier,
        },
      );
      assert.equal(res.status, 422);
      assert.equal(res.body.issue[0].code, "processing");
      assert.equal(await storedCount(server, "acme", "Organization"), before);
    });

    await t.step(
      "a very long name is stored and found by its start",
      async () => {
        const name = "Zanzibar " + "y".repeat(3000);
        const res = await call(
          server.url,
          "POST",
          "/fhir/acme/Practitioner",
          token,
          {
            resourceType: "Practitioner",
            name: [{ text: name }],
          },
        );
        assert.equal(res.status, 201);
        const found = await call(
          server.url,
          "GET",
          "/fhir/acme/Practitioner?name=zanzibar",
          token,
        );
        assert.equal(found.status, 200);
        assert.deepEqual(found.body.entry.map((e: any) => e.resource.id), [
          res.body.id,
        ]);
      },
    );

    await t.step(
      "a page cursor is accepted only inside a sealed next link",
      async () => {
        const res = await call(
          server.url,
          "GET",
          "/fhir/acme/Practitioner?_cursor=AAAA",
          token,
        );
        assert.equal(res.status, 400);
        assert.equal(res.body.issue[0].code, "invalid");
      },
    );

    await t.step("an audit cursor KV cannot read is a 400", async () => {
      const res = await call(
        server.url,
        "GET",
        "/fhir/acme/AuditEvent?_cursor=%%%not-a-cursor",
        acme.tokens.compliance_officer,
      );
      assert.equal(res.status, 400);
      const admin = await call(
        server.url,
        "GET",
        "/admin/audit-events?cursor=!!",
        server.adminToken,
      );
      assert.equal(admin.status, 400);
      assert.equal(admin.body.error, "invalid");
    });

    await t.step("a practice may send to more than ten labs", async () => {
      const labs: string[] = [];
      for (let i = 0; i < 12; i++) {
        const id = `many-${i}`;
        const res = await call(
          server.url,
          "POST",
          "/admin/labs",
          server.adminToken,
          { id, name: id },
        );
        assert.equal(res.status, 201);
        labs.push(id);
      }
      const res = await call(
        server.url,
        "POST",
        "/admin/practices",
        server.adminToken,
        {
          id: "wide",
          name: "Wide Practice",
          labs,
        },
      );
      assert.equal(res.status, 201);
      assert.equal(res.body.labs.length, 12);
    });

    await t.step("an absurd username in the admin path is a 404", async () => {
      const res = await call(
        server.url,
        "PATCH",
        `/admin/users/${"u".repeat(3000)}`,
        server.adminToken,
        { disabled: true },
      );
      assert.equal(res.status, 404);
      assert.equal(res.body.error, "not_found");
    });
  } finally {
    await server.close();
  }
});
