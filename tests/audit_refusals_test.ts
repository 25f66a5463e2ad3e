/**
 * Refused FHIR requests are audited too (45 CFR 164.312(b)): one record
 * each, naming the interaction that was tried, including requests without
 * a valid token and requests at a lab the caller does not belong to.
 */
import assert from "node:assert/strict";
import type { AuditRecord } from "../domain/audit.ts";
import { type AuditScope, keys } from "../domain/kv_keys.ts";
import {
  auditSettled,
  call,
  setupLab,
  startTestServer,
  type TestServer,
} from "./helpers.ts";

async function ids(server: TestServer, scope: AuditScope) {
  const out = new Set<string>();
  for await (const e of server.kv.list({ prefix: keys.auditEvent(scope) })) {
    out.add((e.value as AuditRecord).id);
  }
  return out;
}

/** Runs `act` and returns the records it added to `scope`'s trail. */
async function added(
  server: TestServer,
  scope: AuditScope,
  act: () => unknown,
) {
  const before = await ids(server, scope);
  await act();
  await auditSettled(server);
  const out: AuditRecord[] = [];
  for await (
    const e of server.kv.list<AuditRecord>({ prefix: keys.auditEvent(scope) })
  ) {
    if (!before.has(e.value.id)) out.push(e.value);
  }
  return out;
}

Deno.test("[audit] refused requests leave one record naming what was tried", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const other = await setupLab(server, "other");
    const created = await call(
      server.url,
      "POST",
      "/fhir/acme/Patient",
      acme.tokens.dentist,
      {
        resourceType: "Patient",
        gender: "female",
      },
    );
    assert.equal(created.status, 201);
    const id = created.body.id;
    await auditSettled(server);

    await t.step(
      "a request without a token is recorded as anonymous",
      async () => {
        const records = await added(server, { lab: "acme" }, async () => {
          const res = await call(server.url, "GET", `/fhir/acme/Patient/${id}`);
          assert.equal(res.status, 401);
        });
        assert.equal(records.length, 1);
        assert.equal(records[0].agent.who, "anonymous");
        assert.equal(records[0].subtype, "read");
        assert.equal(records[0].action, "R");
        assert.equal(records[0].outcome, "4");
        assert.equal(records[0].outcomeCode, "unauthenticated");
        assert.deepEqual(records[0].entity, { type: "Patient", id });
      },
    );

    await t.step(
      "a forged token is recorded against the lab it aimed at",
      async () => {
        const records = await added(server, { lab: "acme" }, async () => {
          const res = await call(
            server.url,
            "PUT",
            `/fhir/acme/Patient/${id}`,
            "a.b.c",
            {
              resourceType: "Patient",
              id,
            },
          );
          assert.equal(res.status, 401);
        });
        assert.equal(records.length, 1);
        assert.equal(records[0].subtype, "update");
        assert.equal(records[0].action, "U");
      },
    );

    await t.step(
      "another lab's user is recorded with the interaction tried",
      async () => {
        const records = await added(server, { lab: "acme" }, async () => {
          const res = await call(
            server.url,
            "GET",
            `/fhir/acme/Patient/${id}/_history/1`,
            other.tokens.lab_admin,
          );
          assert.equal(res.status, 403);
        });
        assert.equal(records.length, 1);
        assert.equal(records[0].agent.who, "other-lab_admin");
        assert.equal(records[0].subtype, "vread");
        assert.equal(records[0].outcomeCode, "forbidden");
      },
    );

    await t.step(
      "an attempt on a lab that does not exist goes to the system trail",
      async () => {
        const records = await added(server, "system", async () => {
          const res = await call(
            server.url,
            "GET",
            "/fhir/nowhere/Task",
            acme.tokens.dentist,
          );
          assert.equal(res.status, 403);
        });
        assert.equal(records.length, 1);
        assert.equal(records[0].lab, undefined);
        assert.equal(records[0].subtype, "search-type");
      },
    );

    await t.step(
      "an absurdly long lab id is refused and still audited",
      async () => {
        const long = "x".repeat(5000);
        const records = await added(server, "system", async () => {
          const res = await call(
            server.url,
            "GET",
            `/fhir/${long}/Task`,
            acme.tokens.dentist,
          );
          assert.equal(res.status, 403);
        });
        assert.equal(records.length, 1);
      },
    );
  } finally {
    await server.close();
  }
});
