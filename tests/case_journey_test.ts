// deno-lint-ignore-file no-explicit-any
/**
 * One whole case through the FHIR API, as a practice system and a lab
 * would send it with fhir-kit-client, item by item: a three-unit bridge
 * and a crown of one case go from prescription through every catalog
 * stage, a failed and a passed quality check, a design approval rejected
 * then approved, to shipping; then the practice reads the case back with
 * its history and the audit trail shows those reads.
 */
import assert from "node:assert/strict";
import { Client } from "fhir-kit-client";
import type { Resource, Task } from "@medplum/fhirtypes";
import { stageSystem } from "../domain/case_workflow.ts";
import { caseNumberSystem, SHIP_BY_EXTENSION } from "../domain/dental_case.ts";
import {
  approveDesign,
  buildDesignApproval,
  rejectDesign,
} from "../domain/design_approval.ts";
import {
  readStage,
  recordQcResult,
  recordRework,
  recordShipping,
  stageConcept,
  type StageDef,
} from "../domain/stages.ts";
import { buildStageTask } from "../domain/task_workflow.ts";
import { ADA_UNIVERSAL_SYSTEM, FDI_TOOTH_SYSTEM } from "../fhir/terminology.ts";
import {
  ASKED_DUE,
  bridgeItem,
  type CaseParties,
  crownItem,
  itemTask,
  panNumber,
  REQUISITION,
} from "./case_journey.ts";
import {
  auditSettled,
  call,
  fhirClient,
  setupLab,
  startTestServer,
} from "./helpers.ts";

/** Status and body of a fhir-kit-client call the server must refuse. */
async function refused(pending: Promise<unknown>) {
  try {
    await pending;
  } catch (error: any) {
    if (!error.response) throw error;
    return { status: error.response.status, body: error.response.data };
  }
  throw new Error("the call succeeded");
}

/** Asserts a 422 OperationOutcome whose issues match `pattern`. */
async function refusedWith(pending: Promise<unknown>, pattern: RegExp) {
  const { status, body } = await refused(pending);
  assert.equal(status, 422, JSON.stringify(body));
  assert.equal(body.resourceType, "OperationOutcome");
  assert.equal(body.issue[0].code, "processing");
  assert.match(JSON.stringify(body.issue), pattern);
}

/** Creates a resource as a practice system or the lab would. */
const post = (client: Client, resource: Resource) =>
  client.create({ resourceType: resource.resourceType, body: resource as any });

/** Updates a resource by its id. */
const put = (client: Client, resource: Resource) =>
  client.update({
    resourceType: resource.resourceType,
    id: resource.id!,
    body: resource as any,
  }).catch((error) => {
    // Keep the OperationOutcome in sight when an expected move fails.
    if (error.response) {
      error.message += ` ${JSON.stringify(error.response.data)}`;
    }
    throw error;
  });

type Item = "bridge" | "crown";

const statusOf = (resource: unknown) =>
  Client.httpFor(resource as any).response!.status;

Deno.test("[case journey] a bridge and a crown go from prescription to shipping and read back whole", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const dentist = fhirClient(server, "acme", acme.tokens.dentist);
    const labAdmin = fhirClient(server, "acme", acme.tokens.lab_admin);
    const bench = fhirClient(server, "acme", acme.tokens.lab_technician);
    const system = stageSystem("acme");
    const created = async (pending: Promise<unknown>) => {
      const body: any = await pending;
      assert.equal(statusOf(body), 201);
      return body;
    };
    const stagesOf = async (product: string): Promise<StageDef[]> =>
      (await call(
        server.url,
        "GET",
        `/labs/acme/catalog/${product}`,
        acme.tokens.lab_technician,
      )).body.stages;

    let parties: CaseParties;
    let technician: any;
    await t.step(
      "the practice registers the patient and the dentist",
      async () => {
        const patient = await created(dentist.create({
          resourceType: "Patient",
          body: {
            resourceType: "Patient",
            name: [{ family: "Okonkwo", given: ["Adaeze"] }],
            birthDate: "1968-05-14",
          },
        }));
        const dr = await created(dentist.create({
          resourceType: "Practitioner",
          body: {
            resourceType: "Practitioner",
            name: [{ family: "Lindqvist" }],
          },
        }));
        technician = await created(labAdmin.create({
          resourceType: "Practitioner",
          body: { resourceType: "Practitioner", name: [{ family: "Moreau" }] },
        }));
        parties = { lab: "acme", patient: patient.id, dentist: dr.id };
      },
    );

    const items: Record<"bridge" | "crown", any> = {} as any;
    await t.step(
      "two items of one case share the lab case number",
      async () => {
        items.bridge = await created(post(dentist, bridgeItem(parties)));
        items.crown = await created(post(dentist, crownItem(parties)));
        const fill = (sr: any) =>
          sr.identifier.find((i: any) => i.system === caseNumberSystem("acme"));
        for (const sr of [items.bridge, items.crown]) {
          assert.equal(fill(sr).value, "1");
          assert.equal(fill(sr).type.coding[0].code, "FILL");
          assert.deepEqual(sr.requisition, REQUISITION);
          assert.equal(sr.identifier[0].type.coding[0].code, "PLAC");
          assert.equal(sr.occurrenceDateTime, ASKED_DUE);
          // Due Friday 12-18, one transit day: it leaves the lab Thursday.
          const shipBy = sr.extension.find((e: any) =>
            e.url === SHIP_BY_EXTENSION
          );
          assert.equal(shipBy.valueDate, "2026-12-17");
        }
      },
    );

    await t.step(
      "the bridge sent in Universal numbering reads back in both",
      () => {
        const sites = items.bridge.bodySite.map((s: any) => [
          s.coding.find((c: any) => c.system === FDI_TOOTH_SYSTEM).code,
          s.coding.find((c: any) => c.system === ADA_UNIVERSAL_SYSTEM).code,
          s.extension[0].valueCode,
        ]);
        assert.deepEqual(sites, [
          ["14", "5", "abutment"],
          ["15", "4", "pontic"],
          ["16", "3", "abutment"],
        ]);
        const crownSite = items.crown.bodySite[0].coding.map((c: any) =>
          c.code
        );
        assert.deepEqual(crownSite, ["21", "9"]);
        const shades = items.crown.orderDetail.slice(1).map((d: any) => [
          d.extension[0].valueCode,
          d.coding[0].code,
        ]);
        assert.deepEqual(shades, [["body", "A2"], ["incisal", "A1"]]);
      },
    );

    await t.step("the lab puts the case in a pan", async () => {
      const pan = panNumber("acme", "P-117", "2026-12-03T09:05:00Z");
      const missing = panNumber("acme", "P-117", "");
      await refusedWith(
        labAdmin.update({
          resourceType: "ServiceRequest",
          id: items.bridge.id,
          body: {
            ...items.bridge,
            identifier: [...items.bridge.identifier, missing],
          },
        }),
        /pan number needs a value and the start of its period/,
      );
      for (const key of ["bridge", "crown"] as const) {
        const sr = items[key];
        items[key] = await labAdmin.update({
          resourceType: "ServiceRequest",
          id: sr.id,
          body: { ...sr, identifier: [...sr.identifier, pan] },
        });
        assert.equal(items[key].meta.versionId, "2");
        assert.deepEqual(
          items[key].identifier.find((i: any) => i.system === pan.system),
          pan,
        );
        assert.equal(
          items[key].identifier.filter((i: any) =>
            i.system === caseNumberSystem("acme")
          ).map((i: any) => i.value).join(),
          "1",
        );
      }
    });

    const tasks: Record<Item, Task> = {} as any;
    await t.step(
      "the practice orders the lab's work on each item",
      async () => {
        for (const key of ["bridge", "crown"] as const) {
          const task = await created(
            post(dentist, itemTask(items[key], parties)),
          );
          assert.equal(task.restriction.period.end, "2026-12-17");
          assert.equal(task.priority, "routine");
          tasks[key] = task;
        }
      },
    );

    const move = async (key: Item, change: Partial<Task>) => {
      const next: any = await put(bench, { ...tasks[key], ...change });
      assert.equal(statusOf(next), 200);
      tasks[key] = next;
      return next;
    };
    await t.step(
      "the lab accepts each item; work cannot start unaccepted",
      async () => {
        await refusedWith(
          put(bench, { ...tasks.crown, status: "completed" }),
          /requested to completed/,
        );
        for (const key of ["bridge", "crown"] as const) {
          await move(key, { status: "accepted" });
          await move(key, { status: "in-progress" });
        }
      },
    );

    // The stage Tasks of each item, one per stage, newest last.
    const stageTasks = new Map<string, any[]>();
    const plan = async (key: Item, stage: StageDef) => {
      const child = await created(post(
        labAdmin,
        buildStageTask(
          tasks[key],
          stage,
          { reference: `Practitioner/${technician.id}` },
          system,
        ),
      ));
      assert.equal(child.status, "ready");
      assert.deepEqual(child.partOf, [{ reference: `Task/${tasks[key].id}` }]);
      const list = stageTasks.get(`${key}/${stage.code}`) ?? [];
      stageTasks.set(`${key}/${stage.code}`, [...list, child]);
    };
    const stages = {
      bridge: await stagesOf("bridge"),
      crown: await stagesOf("crown"),
    };
    await t.step("the lab plans a stage Task per catalog stage", async () => {
      for (const key of ["bridge", "crown"] as const) {
        for (const stage of stages[key]) await plan(key, stage);
      }
      assert.deepEqual(
        stages.crown.map((s) => s.code),
        ["model", "design", "mill", "finish", "quality-check", "ship"],
      );
    });

    const concept = (key: Item, code: string) =>
      stageConcept(stages[key].find((s) => s.code === code)!, system);
    const stageStatus = async (key: Item, code: string, status: string) => {
      const list = stageTasks.get(`${key}/${code}`)!;
      const next: any = await put(bench, { ...list.at(-1), status } as Task);
      assert.equal(next.status, status);
      list[list.length - 1] = next;
    };
    // The item moves first, so a refused move leaves its stage Tasks alone.
    const enter = async (
      key: Item,
      code: string,
      change: Partial<Task> = {},
    ) => {
      const from = readStage(tasks[key], system);
      await move(key, { businessStatus: concept(key, code), ...change });
      assert.equal(tasks[key].businessStatus!.text, concept(key, code).text);
      if (from) await stageStatus(key, from, "completed");
      await stageStatus(key, code, "in-progress");
    };
    const refusedMove = (key: Item, change: Partial<Task>, pattern: RegExp) =>
      refusedWith(put(bench, { ...tasks[key], ...change } as Task), pattern);

    await t.step(
      "the bridge moves stage by stage; a skip is refused",
      async () => {
        await refusedMove("bridge", {
          businessStatus: concept("bridge", "mill"),
        }, /skips model, design/);
        await enter("bridge", "model");
        await refusedMove("bridge", {
          businessStatus: concept("bridge", "mill"),
        }, /from stage model to mill: it skips design/);
        for (const code of ["design", "mill", "finish", "quality-check"]) {
          await enter("bridge", code);
        }
      },
    );

    const drRef = () => ({ reference: `Practitioner/${parties.dentist}` });
    const askApproval = (version: number) =>
      created(post(
        labAdmin,
        buildDesignApproval({
          item: tasks.crown,
          dentist: drRef(),
          design: {
            contentType: "model/stl",
            url: `https://acme-lab.example/designs/crown-21-v${version}.stl`,
            title: `Crown 21, design v${version}`,
          },
          authoredOn: `2026-12-0${3 + version}T11:00:00Z`,
          requester: { reference: `Practitioner/${technician.id}` },
        }),
      ));
    const waiting = async () => {
      const bundle: any = await dentist.search({
        resourceType: "Task",
        searchParams: {
          owner: `Practitioner/${parties.dentist}`,
          status: "requested",
        },
      });
      return (bundle.entry ?? []).map((e: any) => e.resource);
    };
    await t.step(
      "the dentist rejects the crown's design, then approves the next",
      async () => {
        await enter("crown", "model");
        await enter("crown", "design");
        const first = await askApproval(1);
        assert.deepEqual((await waiting()).map((a: any) => a.id), [first.id]);
        await refusedWith(
          put(dentist, { ...first, status: "rejected" }),
          /without a reason in statusReason/,
        );
        const reason = { text: "Incisal edge too long; shorten by 0.5 mm" };
        const rejected: any = await put(
          dentist,
          rejectDesign(first, reason, "2026-12-04T15:00:00Z"),
        );
        assert.equal(statusOf(rejected), 200);
        assert.deepEqual([rejected.status, rejected.statusReason], [
          "rejected",
          reason,
        ]);
        await refusedWith(
          put(dentist, approveDesign(rejected, "2026-12-04T15:05:00Z")),
          /from rejected to completed/,
        );
        assert.deepEqual(await waiting(), []);

        const second = await askApproval(2);
        const approved: any = await put(
          dentist,
          approveDesign(second, "2026-12-05T09:30:00Z"),
        );
        assert.equal(approved.status, "completed");
        assert.equal(
          approved.input[0].valueAttachment.title,
          "Crown 21, design v2",
        );
        for (const code of ["mill", "finish", "quality-check"]) {
          await enter("crown", code);
        }
      },
    );

    const check = (key: Item, passes: boolean) => {
      const checklist = stages[key].find((s) => s.checklist)!.checklist!;
      return recordQcResult(tasks[key], {
        checklist,
        results: Object.fromEntries(
          checklist.map((c) => [c.id, passes || c.id !== "shade"]),
        ),
        performer: { reference: `Practitioner/${technician.id}` },
        date: "2026-12-09T16:00:00Z",
      });
    };
    await t.step(
      "the bridge fails its quality check, is reworked and passes",
      async () => {
        const ship = { businessStatus: concept("bridge", "ship") };
        await refusedMove(
          "bridge",
          ship,
          /before the quality check has passed/,
        );
        const failed = check("bridge", false);
        await move("bridge", {
          output: failed.output,
          contained: failed.contained,
        });
        await refusedMove(
          "bridge",
          ship,
          /before the quality check has passed/,
        );

        const finish = stages.bridge.find((s) => s.code === "finish")!;
        await refusedMove("bridge", {
          businessStatus: concept("bridge", "finish"),
        }, /without a rework output/);
        const reworked = recordRework(
          tasks.bridge,
          finish,
          { text: "Pontic 15 lighter than A3; restain" },
          system,
        );
        await move("bridge", {
          businessStatus: reworked.businessStatus,
          output: reworked.output,
        });
        await stageStatus("bridge", "quality-check", "completed");
        await plan("bridge", finish);
        await plan("bridge", stages.bridge.find((s) => s.checklist)!);
        await stageStatus("bridge", "finish", "in-progress");
        await enter("bridge", "quality-check");
        await refusedMove(
          "bridge",
          ship,
          /before the quality check has passed/,
        );
        const passed = check("bridge", true);
        await move("bridge", {
          output: passed.output,
          contained: passed.contained,
        });
        await enter("bridge", "ship");
      },
    );

    await t.step(
      "each item ships with courier and tracking number",
      async () => {
        const passed = check("crown", true);
        await move("crown", {
          output: passed.output,
          contained: passed.contained,
        });
        await enter("crown", "ship");
        for (const key of ["bridge", "crown"] as const) {
          await refusedMove(
            key,
            { status: "completed" },
            /without courier and tracking-number outputs/,
          );
          const shipped = recordShipping(tasks[key], {
            courier: "UPS",
            trackingNumber: "1Z999AA10123456784",
          });
          await move(key, { output: shipped.output });
          await move(key, { status: "completed" });
          await stageStatus(key, "ship", "completed");
          await refusedMove(
            key,
            { status: "in-progress" },
            /from completed to in-progress/,
          );
        }
      },
    );

    const entries = (bundle: any) =>
      (bundle.entry ?? []).map((e: any) => e.resource);
    await t.step("the practice reads the whole case back", async () => {
      const found = entries(
        await dentist.search({
          resourceType: "ServiceRequest",
          searchParams: {
            requisition: `${REQUISITION.system}|${REQUISITION.value}`,
          },
        }),
      );
      assert.deepEqual(
        found.map((sr: any) => sr.id),
        [items.bridge.id, items.crown.id],
      );
      for (const key of ["bridge", "crown"] as const) {
        const task: any = await dentist.read({
          resourceType: "Task",
          id: tasks[key].id!,
        });
        assert.equal(task.status, "completed");
        assert.equal(task.businessStatus.coding[0].code, "ship");
        assert.deepEqual(
          task.output.slice(-2).map((o: any) => o.valueString),
          ["UPS", "1Z999AA10123456784"],
        );
      }
      const parts = async (key: Item) =>
        entries(
          await dentist.search({
            resourceType: "Task",
            searchParams: { "part-of": `Task/${tasks[key].id}` },
          }),
        ).map((child: any) => [child.code.coding[0].code, child.status]);
      const done = (codes: string[]) => codes.map((c) => [c, "completed"]);
      assert.deepEqual(
        await parts("bridge"),
        done([
          ...stages.bridge.map((s) => s.code),
          "finish",
          "quality-check",
        ]),
      );
      assert.deepEqual(await parts("crown"), [
        ...done(stages.crown.map((s) => s.code)),
        ["design-approval", "rejected"],
        ["design-approval", "completed"],
      ]);
    });

    await t.step(
      "each item Task's history shows every stage and status",
      async () => {
        const codes = (key: Item) => stages[key].map((s) => s.code);
        const path = {
          // The rework sent the bridge back to finish and through QC again.
          bridge: [
            ...codes("bridge").slice(0, -1),
            "finish",
            "quality-check",
            "ship",
          ],
          crown: codes("crown"),
        };
        for (const key of ["bridge", "crown"] as const) {
          const history: any = await dentist.resourceHistory({
            resourceType: "Task",
            id: tasks[key].id!,
          });
          assert.equal(statusOf(history), 200);
          const versions = entries(history).reverse();
          assert.equal(versions.length, Number(tasks[key].meta!.versionId));
          const changes = (read: (v: any) => string) =>
            versions.map(read).filter((v: string, i: number, all: string[]) =>
              i === 0 || v !== all[i - 1]
            );
          assert.deepEqual(changes((v) => v.status), [
            "requested",
            "accepted",
            "in-progress",
            "completed",
          ]);
          assert.deepEqual(
            changes((v) => v.businessStatus?.coding[0].code ?? "none"),
            ["none", ...path[key]],
          );
        }
      },
    );

    await t.step(
      "the audit trail shows the practice's reads, without PHI",
      async () => {
        await auditSettled(server);
        const res = await call(
          server.url,
          "GET",
          `/fhir/acme/AuditEvent?agent=acme-dentist&patient=${parties.patient}&action=R`,
          acme.tokens.compliance_officer,
        );
        assert.equal(res.status, 200, JSON.stringify(res.body));
        const reads = entries(res.body).map((e: any) => [
          e.subtype[0].code,
          e.entity[0].what.reference,
        ]);
        assert.deepEqual(reads, [
          ["read", `Task/${tasks.bridge.id}`],
          ["read", `Task/${tasks.crown.id}`],
          ["history-instance", `Task/${tasks.bridge.id}`],
          ["history-instance", `Task/${tasks.crown.id}`],
        ]);
        const searches = await call(
          server.url,
          "GET",
          "/fhir/acme/AuditEvent?agent=acme-dentist&action=E",
          acme.tokens.compliance_officer,
        );
        const queries = entries(searches.body).map((e: any) =>
          atob(e.entity[0].query ?? "")
        );
        assert.ok(queries.includes("requisition=[phi]"), queries.join());
        assert.doesNotMatch(JSON.stringify(searches.body), /LC-2026-0417/);
      },
    );
  } finally {
    await server.close();
  }
});
