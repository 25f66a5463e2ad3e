// deno-lint-ignore-file no-explicit-any
/**
 * The audit trail: one record per access, read back as FHIR AuditEvents,
 * no PHI in it, each change committed with its record, and no duplicate
 * when the audit writer runs twice for the same records.
 */
import assert from "node:assert/strict";
import { type AuditRecord, auditRecord, commitAudit } from "../domain/audit.ts";
import { importMasterKey, KeyRing } from "../domain/crypto.ts";
import { createLab } from "../domain/directory.ts";
import { type AuditScope, keys } from "../domain/kv_keys.ts";
import { createResource, updateResource } from "../domain/resources.ts";
import { handleAuditSeal } from "../workers/audit_writer.ts";
import { enqueue } from "../workers/messages.ts";
import {
  ADMIN,
  auditSettled,
  call,
  fhirClient,
  login,
  mfaCode,
  PASSWORD,
  setupLab,
  startTestServer,
  type TestServer,
} from "./helpers.ts";

const ACME: AuditScope = { lab: "acme" };
const NOW = new Date("2026-12-03T09:00:00Z");

async function events(kv: Deno.Kv, scope: AuditScope, pending = false) {
  const prefix = pending ? keys.auditPending(scope) : keys.auditEvent(scope);
  const out: Deno.KvEntry<AuditRecord>[] = [];
  for await (const e of kv.list<AuditRecord>({ prefix })) out.push(e);
  return out;
}

/** Runs `act` and returns the one record it added to `scope`'s trail. */
async function oneRecord(
  server: TestServer,
  scope: AuditScope,
  act: () => unknown,
) {
  const before = new Set(
    (await events(server.kv, scope)).map((e) => e.value.id),
  );
  await act();
  await auditSettled(server);
  const added = (await events(server.kv, scope))
    .map((e) => e.value)
    .filter((r) => !before.has(r.id));
  assert.equal(added.length, 1, JSON.stringify(added));
  return added[0];
}

function record(who: string, i = 0) {
  return auditRecord({
    subtype: "read",
    action: "R",
    outcome: "0",
    agent: { who },
    network: {},
    lab: "acme",
    entity: { type: "Patient", id: `p${i}` },
  }, NOW);
}

Deno.test("[audit] every access leaves one record, readable as AuditEvents", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    await setupLab(server, "zeta");
    const zeta = await login(server.url, "zeta-lab_admin", PASSWORD);
    const dentist = fhirClient(server, "acme", acme.tokens.dentist);
    const get = (path: string, token: string) =>
      call(server.url, "GET", path, token);
    const P = "Patient";
    const body = { resourceType: P, name: [{ family: "Auditwhistle" }] };
    let patient: any;
    const post = (path: string, token: string, body: unknown) =>
      call(server.url, "POST", path, token, body);
    /** `act` adds one record: "subtype action outcome [code]", "*" for any. */
    const expectOne = async (
      scope: AuditScope,
      act: () => unknown,
      spec: string,
      extra: Partial<AuditRecord> = {},
    ) => {
      const r = await oneRecord(server, scope, act);
      const want = spec.split(" ");
      const got = [r.subtype, r.action, r.outcome, r.outcomeCode]
        .map((v, i) => want[i] === "*" ? "*" : v);
      assert.deepEqual(got, [...want, undefined].slice(0, 4), spec);
      assert.deepEqual({ ...r, ...extra }, r, JSON.stringify(r));
      assert.equal(r.network.address, "127.0.0.1");
    };

    await t.step("each interaction and sign-in adds one record", async () => {
      const create = async () => {
        patient = await dentist.create({ resourceType: P, body });
      };
      await expectOne(ACME, create, "create C 0", {
        agent: { who: "acme-dentist", role: "dentist" },
      });
      const id = patient.id, patientOnly = { patient: id };
      const read = () => dentist.read({ resourceType: P, id });
      await expectOne(ACME, read, "read R 0", patientOnly);
      const vread = () => dentist.vread({ resourceType: P, id, version: "1" });
      await expectOne(ACME, vread, "vread R 0", patientOnly);
      const searchParams = { family: "Auditwhistle" };
      const search = () => dentist.search({ resourceType: P, searchParams });
      await expectOne(ACME, search, "search-type E 0", {
        query: "family=[phi]",
      });
      const changed = { ...patient, gender: "female" };
      const update = () =>
        dentist.update({ resourceType: P, id, body: changed });
      await expectOne(ACME, update, "update U 0", patientOnly);

      const signIn = (password: string) => () =>
        call(server.url, "POST", "/auth/login", undefined, {
          username: "acme-viewer",
          password,
          code: mfaCode(server.url, "acme-viewer"),
        });
      await expectOne("system", signIn(PASSWORD), "login E 0");
      const wrong = signIn("wrong-password-here");
      await expectOne("system", wrong, "login-failed E 4 invalid_credentials");

      const technician = acme.tokens.lab_technician;
      const refused = () => post("/fhir/acme/Patient", technician, body);
      await expectOne(ACME, refused, "create C 4 forbidden");
      const unknown = () => get("/fhir/acme/Patient/01UNK", acme.tokens.viewer);
      await expectOne(ACME, unknown, "read R 4 not_found");
      // An attempt from another lab is kept in the trail of the lab it aimed at.
      const intruder = () => get(`/fhir/acme/Patient/${id}`, zeta);
      await expectOne(ACME, intruder, "* * 4 forbidden", {
        agent: { who: "zeta-lab_admin", role: "lab_admin" },
      });
    });

    await t.step("AuditEvents are shaped as IHE BALP REST events", async () => {
      const res = await get(
        `/fhir/acme/AuditEvent?patient=${patient.id}&action=R`,
        server.adminToken,
      );
      assert.equal(res.status, 200);
      assert.match(
        res.headers.get("content-type") ?? "",
        /application\/fhir\+json/,
      );
      const found = res.body.entry.map((e: any) => e.resource);
      assert.deepEqual(found.map((e: any) => e.subtype[0].code), [
        "read",
        "vread",
      ]);
      const read = found[0];
      const agent = read.agent[0];
      assert.deepEqual(
        [read.resourceType, read.type.code, read.subtype[0].system],
        ["AuditEvent", "rest", "http://hl7.org/fhir/restful-interaction"],
      );
      assert.deepEqual(
        [read.action, read.outcome, agent.who.identifier.value],
        ["R", "0", "acme-dentist"],
      );
      assert.equal(agent.network.address, "127.0.0.1");
      const subject = read.entity.find((e: any) => e.type.code === "1");
      assert.equal(subject.what.reference, `Patient/${patient.id}`);
      const one = await get(
        `/fhir/acme/AuditEvent/${read.id}`,
        acme.tokens.compliance_officer,
      );
      assert.equal(one.status, 200);
      assert.deepEqual(one.body, read);
    });

    await t.step("filters by agent, patient, action and date", async () => {
      server.clock.advance(24 * 3600_000);
      const officer = await login(
        server.url,
        "acme-compliance_officer",
        PASSWORD,
      );
      const admin = await login(server.url, ADMIN.username, ADMIN.password);
      const token = await login(server.url, "acme-dentist", PASSWORD);
      await fhirClient(server, "acme", token).read({
        resourceType: P,
        id: patient.id,
      });
      await auditSettled(server);
      for (const who of [admin, officer]) {
        const search = async (query: string) => {
          const res = await get(`/fhir/acme/AuditEvent?${query}`, who);
          assert.equal(res.status, 200, JSON.stringify(res.body));
          return res.body.entry.map((e: any) => e.resource);
        };
        const codes = (events: any[]) => events.map((e) => e.subtype[0].code);
        assert.deepEqual(codes(await search(`patient=${patient.id}`)), [
          "create",
          "read",
          "vread",
          "update",
          "read",
        ]);
        assert.equal((await search("agent=nobody")).length, 0);
        const tech = await search("agent=urn:lhcms:user|acme-lab_technician");
        assert.deepEqual(tech.map((e: any) => e.outcome), ["4"]);
        const creates = await search("action=C");
        assert.ok(
          creates.length >= 2 && creates.every((e: any) => e.action === "C"),
        );
        const today = await search("date=2026-12-04&agent=acme-dentist");
        assert.deepEqual(codes(today), ["read"]);
        const before = await search("date=lt2026-12-04&agent=acme-dentist");
        assert.equal(before.length, 5);
      }
    });

    await t.step("a search by name leaves no name in the trail", async () => {
      const all = [
        ...(await events(server.kv, ACME)),
        ...(await events(server.kv, ACME, true)),
        ...(await events(server.kv, "system")),
      ];
      assert.ok(all.length > 10);
      const text = JSON.stringify(all.map((e) => e.value)).toLowerCase();
      assert.ok(!text.includes("auditwhistle"));
      assert.ok(text.includes("family=[phi]"), "the search itself is recorded");
    });

    await t.step("records exist when the response arrives", async () => {
      const token = await login(server.url, "acme-dentist", PASSWORD);
      const res = await post("/fhir/acme/Patient", token, body);
      assert.equal(res.status, 201);
      const id = res.body.id;
      const resource = await server.kv.get(keys.resource("acme", P, id));
      const trail = async () => [
        ...await events(server.kv, ACME, true),
        ...await events(server.kv, ACME),
      ];
      const written = (await trail()).filter((e) => e.value.entity?.id === id);
      assert.equal(written.length, 1);
      // Still pending: then it came from the very commit that wrote the record.
      if (written[0].key.includes("audit_pending")) {
        assert.equal(written[0].versionstamp, resource.versionstamp);
      }
      const read = await get(`/fhir/acme/Patient/${id}`, token);
      assert.equal(read.status, 200);
      const reads = (await trail()).filter((e) =>
        e.value.subtype === "read" && e.value.entity?.id === id
      );
      assert.equal(reads.length, 1);
    });

    await t.step("two identical seal messages seal a record once", async () => {
      await auditSettled(server);
      const before = (await events(server.kv, ACME)).length;
      const r = record("direct");
      await commitAudit(server.kv, r);
      await enqueue(server.kv, { type: "audit.seal", scope: ACME });
      await enqueue(server.kv, { type: "audit.seal", scope: ACME });
      await auditSettled(server);
      const after = await events(server.kv, ACME);
      assert.equal(after.length, before + 1);
      assert.equal(after.filter((e) => e.value.id === r.id).length, 1);
    });
  } finally {
    await server.close();
  }
});

Deno.test("[audit] a change and its pending record share one commit", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const keyRing = new KeyRing(
      kv,
      await importMasterKey(crypto.getRandomValues(new Uint8Array(32))),
    );
    await createLab(kv, keyRing, { id: "acme", name: "Acme" }, NOW);
    const deps = { kv, keyRing };
    const created = await createResource(deps, "acme", {
      resourceType: "Patient",
    }, {
      now: NOW,
      audit: record("dentist"),
    });
    const [current, version] = await kv.getMany([
      keys.resource("acme", "Patient", created.id!),
      keys.resourceVersion("acme", "Patient", created.id!, 1),
    ]);
    const pending = await events(kv, ACME, true);
    assert.equal(pending.length, 1);
    assert.equal(pending[0].value.entity?.id, created.id);
    assert.equal(pending[0].versionstamp, current.versionstamp);
    assert.equal(pending[0].versionstamp, version.versionstamp);

    await assert.rejects(
      updateResource(deps, "acme", { ...created, id: created.id! }, {
        now: NOW,
        visibility: {},
        audit: record("dentist"),
        review: () => {
          throw new Error("refused");
        },
      }),
      /refused/,
    );
    assert.equal(
      (await events(kv, ACME, true)).length,
      1,
      "no record of a refused change",
    );
  } finally {
    kv.close();
  }
});

Deno.test("[audit] the writer run twice or concurrently writes each record once", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const records = Array.from({ length: 45 }, (_, i) => record("tech", i));
    for (const r of records) await commitAudit(kv, r);
    const message = { type: "audit.seal" as const, scope: ACME };
    const runs = await Promise.all([
      handleAuditSeal(kv, message),
      handleAuditSeal(kv, message),
    ]);
    const again = await handleAuditSeal(kv, message);
    assert.equal(runs[0] + runs[1] + again, records.length);
    const sealed = await events(kv, ACME);
    assert.deepEqual(sealed.map((e) => e.value.id), records.map((r) => r.id));
    const byAgent = kv.list({
      prefix: keys.auditEventsBy(ACME, "agent", "tech"),
    });
    let indexed = 0;
    for await (const _ of byAgent) indexed++;
    assert.equal(indexed, records.length);
    assert.equal((await events(kv, ACME, true)).length, 0);
  } finally {
    kv.close();
  }
});
