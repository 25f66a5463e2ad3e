// deno-lint-ignore-file no-explicit-any
import assert from "node:assert/strict";
import {
  auditSettled,
  fhirClient,
  setupLab,
  startTestServer,
  storedCount,
} from "./helpers.ts";
import { answer, otherDentist } from "./fhir_ops.ts";

const SYSTEM = "https://pms.example/fhir/patient-number";

const patient = (value: string) => ({
  resourceType: "Patient",
  identifier: [{ system: SYSTEM, value }],
  name: [{ family: "Chalmers" }],
});

const ifNoneExist = (value: string) => ({
  headers: { "If-None-Exist": `identifier=${SYSTEM}|${value}` },
});

/** A conditional create of a patient with `value`, by `client`. */
const createOnce = (client: any, value: string, extra = {}) =>
  answer(client.create({
    resourceType: "Patient",
    body: { ...patient(value), ...extra },
    options: ifNoneExist(value),
  }));

Deno.test("[conditional] twenty concurrent identical conditional creates make exactly one resource", async () => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const practice = fhirClient(server, "acme", acme.tokens.dentist);

    const answers = await Promise.all(
      Array.from({ length: 20 }, () => createOnce(practice, "P-0001")),
    );

    const statuses = answers.map((a) => a.status).sort();
    assert.deepEqual(statuses, [...Array(19).fill(200), 201].sort());
    assert.equal(new Set(answers.map((a) => a.body.id)).size, 1);
    assert.equal(await storedCount(server, "acme", "Patient"), 1);
    await auditSettled(server);
  } finally {
    await server.close();
  }
});

Deno.test("[conditional] If-None-Exist answers 200 with a match, 412 with several, and is scoped to the caller", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const practice = fhirClient(server, "acme", acme.tokens.dentist);
    const first: any = await practice.create({
      resourceType: "Patient",
      body: patient("P-1") as any,
      options: ifNoneExist("P-1"),
    });

    await t.step("a match answers 200 with the existing record", async () => {
      const res = await createOnce(practice, "P-1", { gender: "male" });
      assert.equal(res.status, 200);
      assert.equal(res.body.id, first.id);
      assert.equal(res.body.gender, undefined);
    });

    await t.step("several matches answer 412 and store nothing", async () => {
      for (let i = 0; i < 2; i++) {
        await practice.create({
          resourceType: "Patient",
          body: patient("P-2") as any,
        });
      }
      const before = await storedCount(server, "acme", "Patient");
      const res = await createOnce(practice, "P-2");
      assert.equal(res.status, 412);
      assert.equal(res.body.issue[0].code, "conflict");
      assert.equal(await storedCount(server, "acme", "Patient"), before);
    });

    await t.step(
      "a dentist of another practice does not see the match and gets their own",
      async () => {
        const other = await otherDentist(server, "acme");
        const res = await createOnce(other.client, "P-1");
        assert.equal(res.status, 201);
        assert.notEqual(res.body.id, first.id);
      },
    );

    await t.step(
      "after the match is deleted, the condition creates again",
      async () => {
        await practice.delete({ resourceType: "Patient", id: first.id });
        const res = await createOnce(practice, "P-1");
        assert.equal(res.status, 201);
        assert.notEqual(res.body.id, first.id);
      },
    );

    await t.step(
      "a condition that is empty or unknown is refused with 400",
      async () => {
        for (const condition of ["", "_count=1", "nickname=Pete"]) {
          const res = await answer(practice.create({
            resourceType: "Patient",
            body: patient("P-3") as any,
            options: { headers: { "If-None-Exist": condition } },
          }));
          assert.equal(res.status, 400, condition);
        }
        const found: any = await practice.search({
          resourceType: "Patient",
          searchParams: { identifier: `${SYSTEM}|P-3` },
        });
        assert.equal(found.entry?.length ?? 0, 0);
      },
    );

    await t.step(
      "Prefer is honoured whether the condition creates or matches",
      async () => {
        for (const [value, status] of [["P-5", 201], ["P-5", 200]] as const) {
          const minimal = await answer(practice.create({
            resourceType: "Patient",
            body: patient(value) as any,
            options: {
              headers: {
                ...ifNoneExist(value).headers,
                Prefer: "return=minimal",
              },
            },
          }));
          assert.equal(minimal.status, status);
          assert.deepEqual({ ...minimal.body }, {});
          assert.equal(minimal.headers.get("ETag"), 'W/"1"');
        }
        const outcome = await answer(practice.create({
          resourceType: "Patient",
          body: patient("P-5") as any,
          options: {
            headers: {
              ...ifNoneExist("P-5").headers,
              Prefer: "return=OperationOutcome",
            },
          },
        }));
        assert.equal(outcome.status, 200);
        assert.equal(outcome.body.resourceType, "OperationOutcome");
      },
    );

    await t.step("no key in KV holds the identifier", async () => {
      for await (const entry of server.kv.list({ prefix: ["lab", "acme"] })) {
        assert.ok(!JSON.stringify(entry.key).includes("P-1"));
      }
    });
    await auditSettled(server);
  } finally {
    await server.close();
  }
});

Deno.test("[conditional] PUT with a search creates when none match, updates one, refuses several", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const practice = fhirClient(server, "acme", acme.tokens.dentist);
    const put = (value: string, body: any, headers = {}) =>
      answer(practice.update({
        resourceType: "Patient",
        searchParams: { identifier: `${SYSTEM}|${value}` },
        body,
        options: { headers },
      }));

    let id = "";
    await t.step("no match: 201 with a new record", async () => {
      const res = await put("U-1", patient("U-1"));
      assert.equal(res.status, 201);
      assert.equal(res.body.meta.versionId, "1");
      id = res.body.id;
    });

    await t.step("one match: 200 with its next version", async () => {
      const res = await put("U-1", { ...patient("U-1"), gender: "female" });
      assert.equal(res.status, 200);
      assert.equal(res.body.id, id);
      assert.equal(res.body.meta.versionId, "2");
      assert.equal(res.body.gender, "female");
    });

    await t.step("a stale If-Match on the match answers 412", async () => {
      const res = await put("U-1", patient("U-1"), { "If-Match": 'W/"1"' });
      assert.equal(res.status, 412);
      const current: any = await practice.read({ resourceType: "Patient", id });
      assert.equal(current.meta.versionId, "2");
    });

    await t.step(
      "a body id other than the match's is refused with 400",
      async () => {
        const res = await put("U-1", { ...patient("U-1"), id: "someone-else" });
        assert.equal(res.status, 400);
      },
    );

    await t.step("several matches: 412", async () => {
      await practice.create({
        resourceType: "Patient",
        body: patient("U-2") as any,
      });
      await practice.create({
        resourceType: "Patient",
        body: patient("U-2") as any,
      });
      const res = await put("U-2", patient("U-2"));
      assert.equal(res.status, 412);
    });

    await t.step(
      "ten concurrent conditional updates of a new identifier make one record",
      async () => {
        const answers = await Promise.all(
          Array.from({ length: 10 }, () => put("U-3", patient("U-3"))),
        );
        assert.equal(answers.filter((a) => a.status === 201).length, 1);
        assert.ok(answers.every((a) => a.status === 201 || a.status === 200));
        assert.equal(new Set(answers.map((a) => a.body.id)).size, 1);
      },
    );

    await t.step("a viewer may not update conditionally", async () => {
      const viewer = fhirClient(server, "acme", acme.tokens.viewer);
      const res = await answer(viewer.update({
        resourceType: "Patient",
        searchParams: { identifier: `${SYSTEM}|U-9` },
        body: patient("U-9") as any,
      }));
      assert.equal(res.status, 403);
    });
    await auditSettled(server);
  } finally {
    await server.close();
  }
});
