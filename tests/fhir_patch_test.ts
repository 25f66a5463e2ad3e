// deno-lint-ignore-file no-explicit-any
import assert from "node:assert/strict";
import {
  auditSettled,
  fhirClient,
  setupLab,
  startTestServer,
} from "./helpers.ts";
import { answer, crownCase, otherDentist } from "./fhir_ops.ts";

/** A FHIRPath Patch of the given operations, each a list of parts. */
function fhirPathPatch(...operations: Record<string, unknown>[]) {
  return {
    resourceType: "Parameters",
    parameter: operations.map((op) => ({
      name: "operation",
      part: Object.entries(op).map(([name, value]) =>
        name.startsWith("value") ? { name: "value", [name]: value } : {
          name,
          [
            name === "index"
              ? "valueInteger"
              : name === "type"
              ? "valueCode"
              : "valueString"
          ]: value,
        }
      ),
    })),
  };
}

Deno.test("[patch] a practice and the bench change a case without resending it", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const practice = fhirClient(server, "acme", acme.tokens.dentist);
    const bench = fhirClient(server, "acme", acme.tokens.lab_technician);
    // A Task's other elements are the lab's to edit (README, Roles).
    const labAdmin = fhirClient(server, "acme", acme.tokens.lab_admin);
    const { crown, task } = await crownCase(practice, "acme");
    const jsonPatch = (client: any, id: string, ops: unknown[], headers = {}) =>
      answer(client.patch({
        resourceType: "Task",
        id,
        jsonPatch: ops,
        options: { headers },
      }));
    const pathPatch = (
      client: any,
      type: string,
      id: string,
      body: unknown,
      headers = {},
    ) =>
      answer(client.request(`${type}/${id}`, {
        method: "PATCH",
        body,
        options: {
          headers: { "content-type": "application/fhir+json", ...headers },
        },
      }));
    const addNote = (text: string) =>
      pathPatch(
        practice,
        "ServiceRequest",
        crown.id,
        fhirPathPatch({
          type: "add",
          path: "ServiceRequest",
          name: "note",
          valueAnnotation: { text },
        }),
      );
    const version = async (type: string, id: string) =>
      (await practice.read({ resourceType: type, id }) as any).meta.versionId;

    await t.step(
      "JSON Patch: the technician moves the Task to received",
      async () => {
        const res = await jsonPatch(bench, task.id, [
          { op: "test", path: "/status", value: "requested" },
          { op: "replace", path: "/status", value: "received" },
        ], { "If-Match": 'W/"1"' });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.equal(res.body.status, "received");
        assert.equal(res.body.meta.versionId, "2");
        assert.equal(res.headers.get("ETag"), 'W/"2"');
      },
    );

    await t.step(
      "FHIRPath Patch: the technician moves it on to accepted",
      async () => {
        const res = await pathPatch(
          bench,
          "Task",
          task.id,
          fhirPathPatch({
            type: "replace",
            path: "Task.status",
            valueCode: "accepted",
          }),
        );
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.equal(res.body.status, "accepted");
        assert.equal(res.body.focus.reference, `ServiceRequest/${crown.id}`);
      },
    );

    await t.step(
      "a stale If-Match answers 412 and changes nothing",
      async () => {
        const res = await jsonPatch(bench, task.id, [
          { op: "replace", path: "/status", value: "on-hold" },
        ], { "If-Match": 'W/"1"' });
        assert.equal(res.status, 412);
        assert.equal(res.body.issue[0].code, "conflict");
        const failing = await jsonPatch(bench, task.id, [
          { op: "test", path: "/status", value: "requested" },
        ], { "If-Match": 'W/"2"' });
        assert.equal(failing.status, 412, "the version is checked first");
        assert.equal(await version("Task", task.id), "3");
      },
    );

    await t.step(
      "the workflow rules apply: an impossible move is a 422",
      async () => {
        const back = await jsonPatch(bench, task.id, [
          { op: "replace", path: "/status", value: "requested" },
        ]);
        assert.equal(back.status, 422);
        assert.equal(back.body.issue[0].code, "processing");
        const hold = await jsonPatch(bench, task.id, [
          { op: "replace", path: "/status", value: "on-hold" },
        ]);
        assert.equal(hold.status, 422, "a hold needs a statusReason");
        assert.equal(await version("Task", task.id), "3");
      },
    );

    await t.step(
      "a technician's patch of anything but the status is a 403",
      async () => {
        const res = await jsonPatch(bench, task.id, [
          { op: "add", path: "/description", value: "rush it" },
        ]);
        assert.equal(res.status, 403);
        assert.equal(await version("Task", task.id), "3");
      },
    );

    await t.step(
      "FHIRPath Patch: the practice adds, changes and removes a note",
      async () => {
        const added = await addNote("Please match the neighbouring tooth");
        assert.equal(added.status, 200, JSON.stringify(added.body));
        assert.deepEqual(added.body.note, [{
          text: "Please match the neighbouring tooth",
        }]);
        assert.equal(added.body.code.coding[0].code, "crown");

        const changed = await pathPatch(
          practice,
          "ServiceRequest",
          crown.id,
          fhirPathPatch({
            type: "replace",
            path: "ServiceRequest.note[0].text",
            valueMarkdown: "Match tooth 37",
          }),
        );
        assert.equal(changed.status, 200, JSON.stringify(changed.body));
        assert.equal(changed.body.note[0].text, "Match tooth 37");

        const removed = await pathPatch(
          practice,
          "ServiceRequest",
          crown.id,
          fhirPathPatch({
            type: "delete",
            path: "ServiceRequest.note.where(text = 'Match tooth 37')",
          }),
        );
        assert.equal(removed.status, 200, JSON.stringify(removed.body));
        assert.equal(removed.body.note, undefined);
      },
    );

    await t.step("the case rules apply to a patched prescription", async () => {
      const res = await pathPatch(
        practice,
        "ServiceRequest",
        crown.id,
        fhirPathPatch({
          type: "replace",
          path: "ServiceRequest.status",
          valueCode: "not-a-status",
        }),
      );
      assert.equal(res.status, 422);
      assert.ok(
        res.body.issue.some((i: any) => i.expression?.[0]?.includes("status")),
      );
    });

    await t.step(
      "Prefer: return=minimal leaves the body out, return=OperationOutcome gives one",
      async () => {
        const minimal = await jsonPatch(labAdmin, task.id, [
          { op: "add", path: "/description", value: "Crown 36" },
        ], { Prefer: "return=minimal" });
        assert.equal(minimal.status, 200);
        assert.deepEqual({ ...minimal.body }, {});
        assert.equal(minimal.headers.get("ETag"), 'W/"4"');
        const outcome = await jsonPatch(labAdmin, task.id, [
          { op: "replace", path: "/description", value: "Crown 36, zirconia" },
        ], { Prefer: "return=OperationOutcome" });
        assert.equal(outcome.status, 200);
        assert.equal(outcome.body.resourceType, "OperationOutcome");
      },
    );

    await t.step(
      "bad patches: 400 for malformed, 422 for a failed test, nothing stored",
      async () => {
        const before = await version("Task", task.id);
        const cases: [unknown, number][] = [
          [{ op: "replace" }, 400],
          [[{ op: "jump", path: "/status" }], 400],
          [[{ op: "test", path: "/status", value: "completed" }], 422],
          [[{ op: "remove", path: "/nothing/here" }], 422],
          [[{ op: "replace", path: "/id", value: "other" }], 400],
          [[{ op: "replace", path: "/resourceType", value: "Patient" }], 400],
        ];
        for (const [ops, status] of cases) {
          const res = await jsonPatch(practice, task.id, ops as unknown[]);
          assert.equal(res.status, status, JSON.stringify(ops));
          assert.equal(res.body.resourceType, "OperationOutcome");
        }
        const bad = await pathPatch(
          practice,
          "Task",
          task.id,
          fhirPathPatch({
            type: "replace",
            path: "Task.status.(((",
            valueCode: "x",
          }),
        );
        assert.equal(bad.status, 400);
        assert.equal(await version("Task", task.id), before);
      },
    );

    await t.step(
      "another practice's dentist gets 404, another lab's user 403",
      async () => {
        const other = await otherDentist(server, "acme");
        const res = await jsonPatch(other.client, task.id, [
          { op: "add", path: "/description", value: "x" },
        ]);
        assert.equal(res.status, 404);
        const beta = await setupLab(server, "beta");
        const intruder = fhirClient(server, "acme", beta.tokens.lab_admin);
        assert.equal(
          (await jsonPatch(intruder, task.id, [{
            op: "add",
            path: "/description",
            value: "x",
          }])).status,
          403,
        );
      },
    );

    await t.step(
      "ten concurrent patches without If-Match all land, none lost",
      async () => {
        const answers = await Promise.all(
          Array.from({ length: 10 }, (_, i) => addNote(`note ${i}`)),
        );
        assert.deepEqual(
          answers.map((a) => a.status),
          Array(10).fill(200),
        );
        const read: any = await practice.read({
          resourceType: "ServiceRequest",
          id: crown.id,
        });
        assert.equal(read.note.length, 10);
        assert.equal(new Set(read.note.map((n: any) => n.text)).size, 10);
      },
    );

    await t.step("patches are audited as patch, refused ones too", async () => {
      await auditSettled(server);
      const audit = fhirClient(server, "acme", acme.tokens.compliance_officer);
      const bundle: any = await audit.search({
        resourceType: "AuditEvent",
        searchParams: { action: "U", _count: "100" },
      });
      const patches = bundle.entry.filter((e: any) =>
        e.resource.subtype[0].code === "patch" &&
        JSON.stringify(e.resource.entity).includes(`Task/${task.id}`)
      );
      const outcomes = patches.map((e: any) => e.resource.outcome);
      assert.ok(outcomes.filter((o: string) => o === "0").length >= 3);
      assert.ok(outcomes.filter((o: string) => o === "4").length >= 3);
    });

    await t.step("a deleted record cannot be patched: 410", async () => {
      await labAdmin.delete({ resourceType: "Task", id: task.id });
      const res = await jsonPatch(practice, task.id, [
        { op: "add", path: "/description", value: "x" },
      ]);
      assert.equal(res.status, 410);
    });
    await auditSettled(server);
  } finally {
    await server.close();
  }
});
