// deno-lint-ignore-file no-explicit-any
import assert from "node:assert/strict";
import {
  auditSettled,
  fhirClient,
  setupLab,
  startTestServer,
} from "./helpers.ts";
import { answer, crownCase, otherDentist } from "./fhir_ops.ts";

const patientBody = (family: string) => ({
  resourceType: "Patient",
  name: [{ family }],
  gender: "female",
});

Deno.test("[history] instance and type history page newest first, with _since and _count, within the caller's practice", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const practice = fhirClient(server, "acme", acme.tokens.dentist);
    const staff = fhirClient(server, "acme", acme.tokens.lab_admin);
    const other = await otherDentist(server, "acme");

    const created: any = await practice.create({
      resourceType: "Patient",
      body: patientBody("Chalmers") as any,
    });
    const id = created.id;
    server.clock.advance(60_000);
    await practice.update({
      resourceType: "Patient",
      id,
      body: { ...patientBody("Chalmers"), id, gender: "male" } as any,
    });
    server.clock.advance(60_000);
    const since = server.clock.now().toISOString();
    await practice.update({
      resourceType: "Patient",
      id,
      body: { ...patientBody("Chalmers"), id, gender: "other" } as any,
    });
    await other.client.create({
      resourceType: "Patient",
      body: patientBody("Elsewhere") as any,
    });

    await t.step(
      "instance history lists every version, newest first",
      async () => {
        const bundle: any = await practice.history({
          resourceType: "Patient",
          id,
        });
        assert.equal(bundle.type, "history");
        assert.deepEqual(
          bundle.entry.map((e: any) => e.resource.meta.versionId),
          ["3", "2", "1"],
        );
        assert.equal(bundle.total, 3);
      },
    );

    await t.step("_count pages through the next link", async () => {
      const first: any = await practice.request(
        `Patient/${id}/_history?${new URLSearchParams({ _count: "2" })}`,
      );
      assert.deepEqual(
        first.entry.map((e: any) => e.response.etag),
        ['W/"3"', 'W/"2"'],
      );
      assert.equal(first.total, undefined);
      const second: any = await practice.nextPage({ bundle: first });
      assert.deepEqual(second.entry.map((e: any) => e.response.etag), [
        'W/"1"',
      ]);
      assert.equal(
        second.link.find((l: any) => l.relation === "next"),
        undefined,
      );
    });

    await t.step("_since keeps the versions written from then on", async () => {
      const bundle: any = await practice.request(
        `Patient/${id}/_history?${new URLSearchParams({ _since: since })}`,
      );
      assert.deepEqual(bundle.entry.map((e: any) => e.response.etag), [
        'W/"3"',
      ]);
      const typed: any = await practice.request(
        `Patient/_history?${new URLSearchParams({ _since: since })}`,
      );
      assert.deepEqual(
        typed.entry.map((e: any) => e.response.etag),
        ['W/"3"'],
      );
    });

    await t.step(
      "type history shows a dentist only their practice's changes",
      async () => {
        const mine: any = await practice.typeHistory({
          resourceType: "Patient",
        });
        assert.equal(mine.entry.length, 3);
        assert.ok(mine.entry.every((e: any) => e.resource.id === id));
        const theirs: any = await other.client.typeHistory({
          resourceType: "Patient",
        });
        assert.equal(theirs.entry.length, 1);
        assert.notEqual(theirs.entry[0].resource.id, id);
        const all: any = await staff.typeHistory({ resourceType: "Patient" });
        assert.equal(all.entry.length, 4);
      },
    );

    await t.step("type history pages without repeating an entry", async () => {
      const seen: string[] = [];
      let page: any = await staff.request(
        `Patient/_history?${new URLSearchParams({ _count: "1" })}`,
      );
      while (page) {
        for (const e of page.entry) {
          seen.push(`${e.resource.id}/${e.response.etag}`);
        }
        page = await staff.nextPage({ bundle: page });
      }
      assert.equal(seen.length, 4);
      assert.equal(new Set(seen).size, 4);
    });

    await t.step(
      "another practice's dentist gets 404 for the history",
      async () => {
        const res = await answer(
          other.client.history({ resourceType: "Patient", id }),
        );
        assert.equal(res.status, 404);
        assert.equal(res.body.issue[0].code, "not-found");
      },
    );

    await t.step(
      "bad _since, _count and _page are refused with 400",
      async () => {
        for (
          const searchParams of [
            { _since: "yesterday" },
            { _count: "-1" },
            { _page: "not-a-position" },
            { family: "Chalmers" },
          ]
        ) {
          const res = await answer(
            practice.request(
              `Patient/_history?${searchParams}`,
            ),
          );
          assert.equal(res.status, 400, JSON.stringify(searchParams));
          assert.equal(res.body.resourceType, "OperationOutcome");
        }
      },
    );
    await auditSettled(server);
  } finally {
    await server.close();
  }
});

Deno.test("[delete] a soft delete answers 410 on read, keeps the history and leaves search", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const practice = fhirClient(server, "acme", acme.tokens.dentist);
    const created: any = await practice.create({
      resourceType: "Patient",
      body: patientBody("Gone") as any,
    });
    const id = created.id;
    await practice.update({
      resourceType: "Patient",
      id,
      body: { ...patientBody("Gone"), id, gender: "male" } as any,
    });

    await t.step(
      "a stale If-Match is refused with 412 and deletes nothing",
      async () => {
        const res = await answer(practice.delete({
          resourceType: "Patient",
          id,
          options: { headers: { "If-Match": 'W/"1"' } },
        }));
        assert.equal(res.status, 412);
        assert.equal(res.body.issue[0].code, "conflict");
        const still: any = await practice.read({ resourceType: "Patient", id });
        assert.equal(still.meta.versionId, "2");
      },
    );

    await t.step("delete with the current If-Match answers 204", async () => {
      const res = await answer(practice.delete({
        resourceType: "Patient",
        id,
        options: { headers: { "If-Match": 'W/"2"' } },
      }));
      assert.equal(res.status, 204);
      assert.equal(res.headers.get("ETag"), 'W/"3"');
    });

    await t.step(
      "read answers 410 Gone, vread of older versions still works",
      async () => {
        const res = await answer(
          practice.read({ resourceType: "Patient", id }),
        );
        assert.equal(res.status, 410);
        assert.equal(res.body.issue[0].code, "deleted");
        const v2: any = await practice.vread({
          resourceType: "Patient",
          id,
          version: "2",
        });
        assert.equal(v2.gender, "male");
        const v3 = await answer(
          practice.vread({ resourceType: "Patient", id, version: "3" }),
        );
        assert.equal(v3.status, 410);
      },
    );

    await t.step("history keeps every version and the deletion", async () => {
      const bundle: any = await practice.history({
        resourceType: "Patient",
        id,
      });
      assert.deepEqual(
        bundle.entry.map((e: any) => [e.request.method, e.response.etag]),
        [["DELETE", 'W/"3"'], ["PUT", 'W/"2"'], ["POST", 'W/"1"']],
      );
      assert.equal(bundle.entry[0].resource, undefined);
      const typed: any = await practice.typeHistory({
        resourceType: "Patient",
      });
      assert.equal(typed.entry[0].request.method, "DELETE");
    });

    await t.step("search no longer finds it", async () => {
      for (const searchParams of [{ _id: id }, { family: "Gone" }, {}]) {
        const bundle: any = await practice.search({
          resourceType: "Patient",
          searchParams: searchParams as any,
        });
        assert.equal(
          bundle.entry?.length ?? 0,
          0,
          JSON.stringify(searchParams),
        );
      }
    });

    await t.step(
      "a repeated delete changes nothing; an update is refused with 410",
      async () => {
        const again = await answer(
          practice.delete({ resourceType: "Patient", id }),
        );
        assert.equal(again.status, 204);
        const history: any = await practice.history({
          resourceType: "Patient",
          id,
        });
        assert.equal(history.entry.length, 3);
        const update = await answer(practice.update({
          resourceType: "Patient",
          id,
          body: { ...patientBody("Gone"), id } as any,
        }));
        assert.equal(update.status, 410);
      },
    );

    await t.step(
      "Prefer: return=OperationOutcome answers 200 with an outcome",
      async () => {
        const other: any = await practice.create({
          resourceType: "Patient",
          body: patientBody("Other") as any,
        });
        const res = await answer(practice.delete({
          resourceType: "Patient",
          id: other.id,
          options: { headers: { Prefer: "return=OperationOutcome" } },
        }));
        assert.equal(res.status, 200);
        assert.equal(res.body.resourceType, "OperationOutcome");
      },
    );

    await t.step(
      "each delete, the repeated one too, is in the audit trail",
      async () => {
        await auditSettled(server);
        const audit = fhirClient(
          server,
          "acme",
          acme.tokens.compliance_officer,
        );
        const bundle: any = await audit.search({
          resourceType: "AuditEvent",
          searchParams: { action: "D" },
        });
        const deletes = bundle.entry.filter((e: any) =>
          e.resource.subtype[0].code === "delete" &&
          JSON.stringify(e.resource.entity).includes(`Patient/${id}`)
        );
        assert.equal(
          deletes.length,
          3,
          "the refused, the done and the repeated",
        );
        assert.deepEqual(
          deletes.map((e: any) => e.resource.outcome).sort(),
          ["0", "0", "4"],
        );
      },
    );
    await auditSettled(server);
  } finally {
    await server.close();
  }
});

Deno.test("[delete] only lab admins and the record's own practice may delete, at their own lab", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const beta = await setupLab(server, "beta");
    const as = (token: string) => fhirClient(server, "acme", token);
    const practice = as(acme.tokens.dentist);
    const make = async (client = practice, type = "Patient") =>
      (await client.create({
        resourceType: type,
        body: type === "Patient"
          ? patientBody("Del") as any
          : { resourceType: type, name: "Lab Org" },
      }) as any).id as string;
    const del = (client: any, id: string, type = "Patient") =>
      answer(client.delete({ resourceType: type, id }));

    await t.step(
      "technician, viewer and compliance officer get 403",
      async () => {
        const id = await make();
        for (
          const role of [
            "lab_technician",
            "viewer",
            "compliance_officer",
          ] as const
        ) {
          const res = await del(as(acme.tokens[role]), id);
          assert.equal(res.status, 403, role);
          assert.equal(res.body.issue[0].code, "forbidden");
        }
        const still: any = await practice.read({ resourceType: "Patient", id });
        assert.equal(still.id, id);
      },
    );

    await t.step(
      "a dentist of another practice gets 404, as for an unknown id",
      async () => {
        const id = await make();
        const other = await otherDentist(server, "acme");
        assert.equal((await del(other.client, id)).status, 404);
        assert.equal(
          (await practice.read({ resourceType: "Patient", id }) as any).id,
          id,
        );
      },
    );

    await t.step(
      "a dentist may not delete the lab's own directory records",
      async () => {
        const org = await make(as(acme.tokens.lab_admin), "Organization");
        const res = await del(practice, org, "Organization");
        assert.equal(res.status, 403);
        assert.equal(
          (await del(as(acme.tokens.lab_admin), org, "Organization")).status,
          204,
        );
      },
    );

    await t.step(
      "another lab's user gets 403 at this lab, and this lab's id is unknown at theirs",
      async () => {
        const id = await make();
        const intruder = fhirClient(server, "acme", beta.tokens.lab_admin);
        assert.equal((await del(intruder, id)).status, 403);
        const atBeta = fhirClient(server, "beta", beta.tokens.lab_admin);
        assert.equal((await del(atBeta, id)).status, 404);
        assert.equal(
          (await practice.read({ resourceType: "Patient", id }) as any).id,
          id,
        );
      },
    );

    await t.step(
      "a record another refers to is kept until the referrer goes: 409",
      async () => {
        const { patient, crown, task } = await crownCase(practice, "acme");
        const refused = await del(practice, crown.id, "ServiceRequest");
        assert.equal(refused.status, 409);
        assert.equal(refused.body.issue[0].code, "conflict");
        assert.match(refused.body.issue[0].diagnostics, /a Task refers to it/);
        assert.equal((await del(practice, patient.id)).status, 409);
        // A Task is the lab's to delete (README, Roles).
        assert.equal((await del(practice, task.id, "Task")).status, 403);
        assert.equal(
          (await del(as(acme.tokens.lab_admin), task.id, "Task")).status,
          204,
        );
        assert.equal(
          (await del(practice, crown.id, "ServiceRequest")).status,
          204,
        );
        assert.equal((await del(practice, patient.id)).status, 204);
      },
    );

    await t.step(
      "the practice's dentist and the lab admin may delete",
      async () => {
        assert.equal((await del(practice, await make())).status, 204);
        assert.equal(
          (await del(as(acme.tokens.lab_admin), await make())).status,
          204,
        );
      },
    );
    await auditSettled(server);
  } finally {
    await server.close();
  }
});
