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
import { stageSystem } from "../domain/case_workflow.ts";
import { caseNumberSystem, SHIP_BY_EXTENSION } from "../domain/dental_case.ts";
import {
  approveDesign,
  buildDesignApproval,
  rejectDesign,
} from "../domain/design_approval.ts";
import { buildRemake } from "../domain/remakes.ts";
import { recordRework } from "../domain/stages.ts";
import { ADA_UNIVERSAL_SYSTEM, FDI_TOOTH_SYSTEM } from "../fhir/terminology.ts";
import {
  Bench,
  created,
  entries,
  type Item,
  put,
  refusedWith,
  statusOf,
} from "./case_bench.ts";
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

const ITEMS = ["bridge", "crown"] as const;

Deno.test("[case journey] a bridge and a crown go from prescription to shipping and read back whole", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const dentist = fhirClient(server, "acme", acme.tokens.dentist);
    const labAdmin = fhirClient(server, "acme", acme.tokens.lab_admin);
    const catalog = async (product: string) =>
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
        const patient = await created(dentist, {
          resourceType: "Patient",
          name: [{ family: "Okonkwo", given: ["Adaeze"] }],
          birthDate: "1968-05-14",
        });
        const dr = await created(dentist, {
          resourceType: "Practitioner",
          name: [{ family: "Lindqvist" }],
        });
        technician = await created(labAdmin, {
          resourceType: "Practitioner",
          name: [{ family: "Moreau" }],
        });
        parties = { lab: "acme", patient: patient.id, dentist: dr.id };
      },
    );

    const items = {} as Record<Item, any>;
    const caseNumbers = (sr: any) =>
      sr.identifier.filter((i: any) => i.system === caseNumberSystem("acme"));
    await t.step(
      "two items of one case share the lab case number",
      async () => {
        items.bridge = await created(dentist, bridgeItem(parties));
        items.crown = await created(dentist, crownItem(parties));
        for (const sr of [items.bridge, items.crown]) {
          const [fill] = caseNumbers(sr);
          assert.deepEqual([fill.value, fill.type.coding[0].code], [
            "1",
            "FILL",
          ]);
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
      const undated = { ...pan, period: undefined };
      await refusedWith(
        put(labAdmin, {
          ...items.bridge,
          identifier: [...items.bridge.identifier, undated],
        }),
        /pan number needs a value and the start of its period/,
      );
      for (const key of ITEMS) {
        const sr = items[key];
        items[key] = await put(labAdmin, {
          ...sr,
          identifier: [...sr.identifier, pan],
        });
        assert.equal(items[key].meta.versionId, "2");
        const kept = items[key].identifier.find((i: any) =>
          i.system === pan.system
        );
        assert.deepEqual(kept, pan);
        assert.deepEqual(caseNumbers(items[key]).map((i: any) => i.value), [
          "1",
        ]);
      }
      const inPan = await labAdmin.search({
        resourceType: "ServiceRequest",
        searchParams: { identifier: `${pan.system}|${pan.value}` },
      });
      assert.deepEqual(
        entries(inPan).map((sr) => sr.id),
        [items.bridge.id, items.crown.id],
      );
    });

    await t.step(
      "a practice resending an item cannot drop or move its pan number",
      async () => {
        const panSystem = "https://lhcms.dev/fhir/lab/acme/pan-number";
        const own = items.crown.identifier.filter((i: any) =>
          i.system !== panSystem
        );
        const resent = await put(dentist, {
          ...items.crown,
          identifier: own,
          note: [{ text: "Please match the neighbouring veneer." }],
        });
        const moved = await put(dentist, {
          ...resent,
          identifier: [
            ...own,
            panNumber("acme", "P-999", "2026-12-03T10:00:00Z"),
          ],
        });
        for (const sr of [resent, moved]) {
          const pans = sr.identifier.filter((i: any) => i.system === panSystem);
          assert.deepEqual(pans.map((i: any) => i.value), ["P-117"]);
        }
        assert.equal(
          moved.note[0].text,
          "Please match the neighbouring veneer.",
        );
        items.crown = moved;
      },
    );

    const bench = new Bench(
      fhirClient(server, "acme", acme.tokens.lab_technician),
      labAdmin,
      { reference: `Practitioner/${technician.id}` },
      { bridge: await catalog("bridge"), crown: await catalog("crown") },
      stageSystem("acme"),
    );
    const { tasks, stages } = bench;
    await t.step(
      "the practice orders the lab's work on each item",
      async () => {
        for (const key of ITEMS) {
          const task = await created(dentist, itemTask(items[key], parties));
          assert.equal(task.restriction.period.end, "2026-12-17");
          assert.equal(task.priority, "routine");
          tasks[key] = task;
        }
      },
    );

    await t.step(
      "the lab accepts each item; work cannot start unaccepted",
      async () => {
        await bench.refusedMove(
          "crown",
          { status: "completed" },
          /requested to completed/,
        );
        for (const key of ITEMS) {
          await bench.move(key, { status: "accepted" });
          await bench.move(key, { status: "in-progress" });
        }
      },
    );

    await t.step("the lab plans a stage Task per catalog stage", async () => {
      assert.deepEqual(
        stages.crown.map((s) => s.code),
        ["model", "design", "mill", "finish", "quality-check", "ship"],
      );
      for (const key of ITEMS) {
        for (const stage of stages[key]) await bench.plan(key, stage.code);
      }
    });

    await t.step(
      "the bridge moves stage by stage; a skip is refused",
      async () => {
        const mill = { businessStatus: bench.concept("bridge", "mill") };
        await bench.refusedMove("bridge", mill, /skips model, design/);
        await bench.enter("bridge", "model");
        await bench.refusedMove(
          "bridge",
          mill,
          /model to mill: it skips design/,
        );
        for (const code of ["design", "mill", "finish", "quality-check"]) {
          await bench.enter("bridge", code);
        }
      },
    );

    const askApproval = (version: number) =>
      created(
        labAdmin,
        buildDesignApproval({
          item: tasks.crown,
          dentist: { reference: `Practitioner/${parties.dentist}` },
          design: {
            contentType: "model/stl",
            url: `https://acme-lab.example/designs/crown-21-v${version}.stl`,
            title: `Crown 21, design v${version}`,
          },
          authoredOn: `2026-12-0${3 + version}T11:00:00Z`,
          requester: bench.technician,
        }),
      );
    const waiting = async () =>
      entries(
        await dentist.search({
          resourceType: "Task",
          searchParams: {
            owner: `Practitioner/${parties.dentist}`,
            status: "requested",
          },
        }),
      ).map((task) => task.id);
    await t.step(
      "the dentist rejects the crown's design, then approves the next",
      async () => {
        await bench.enter("crown", "model");
        await bench.enter("crown", "design");
        const first = await askApproval(1);
        assert.deepEqual(await waiting(), [first.id]);
        await refusedWith(
          put(dentist, { ...first, status: "rejected" }),
          /without a reason in statusReason/,
        );
        const reason = { text: "Incisal edge too long; shorten by 0.5 mm" };
        const rejected = await put(
          dentist,
          rejectDesign(first, reason, "2026-12-04T15:00:00Z"),
        );
        assert.equal(statusOf(rejected), 200);
        assert.deepEqual(rejected.statusReason, reason);
        await refusedWith(
          put(dentist, approveDesign(rejected, "2026-12-04T15:05:00Z")),
          /from rejected to completed/,
        );
        assert.deepEqual(await waiting(), []);

        const second = await askApproval(2);
        assert.deepEqual(await waiting(), [second.id]);
        // After the design was sent (11:00): FHIR's inv-1 wants a Task
        // modified no earlier than it was authored.
        const approved = await put(
          dentist,
          approveDesign(second, "2026-12-05T13:30:00Z"),
        );
        assert.equal(approved.status, "completed");
        assert.equal(
          approved.input[0].valueAttachment.title,
          "Crown 21, design v2",
        );
        for (const code of ["mill", "finish", "quality-check"]) {
          await bench.enter("crown", code);
        }
      },
    );

    const toShip = { businessStatus: bench.concept("bridge", "ship") };
    const qcFirst = /before the quality check has passed/;
    await t.step(
      "the bridge fails its quality check, is reworked and passes",
      async () => {
        await bench.refusedMove("bridge", toShip, qcFirst);
        await bench.check("bridge", false, "2026-12-09T16:00:00Z");
        await bench.refusedMove("bridge", toShip, qcFirst);

        const back = { businessStatus: bench.concept("bridge", "finish") };
        await bench.refusedMove("bridge", back, /without a rework output/);
        const reworked = recordRework(
          tasks.bridge,
          bench.stage("bridge", "finish"),
          { text: "Pontic 15 lighter than A3; restain" },
          bench.system,
        );
        await bench.move("bridge", {
          businessStatus: reworked.businessStatus,
          output: reworked.output,
        });
        await bench.stageStatus("bridge", "quality-check", "completed");
        await bench.plan("bridge", "finish");
        await bench.plan("bridge", "quality-check");
        await bench.stageStatus("bridge", "finish", "in-progress");
        await bench.enter("bridge", "quality-check");
        // The failed check before the rework no longer counts either way.
        await bench.refusedMove("bridge", toShip, qcFirst);
        await bench.check("bridge", true, "2026-12-10T10:00:00Z");
        await bench.enter("bridge", "ship");
      },
    );

    await t.step(
      "each item ships with courier and tracking number",
      async () => {
        await bench.check("crown", true, "2026-12-09T16:30:00Z");
        await bench.enter("crown", "ship");
        for (const key of ITEMS) {
          await bench.refusedMove(
            key,
            { status: "completed" },
            /without courier and tracking-number outputs/,
          );
          await bench.ship(key, {
            courier: "UPS",
            trackingNumber: `1Z999AA1012345678${key === "bridge" ? 4 : 5}`,
          });
          assert.equal(tasks[key].status, "completed");
          await bench.refusedMove(
            key,
            { status: "in-progress" },
            /from completed to in-progress/,
          );
        }
      },
    );

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
      for (const key of ITEMS) {
        const task: any = await dentist.read({
          resourceType: "Task",
          id: tasks[key].id!,
        });
        assert.equal(task.status, "completed");
        assert.equal(task.businessStatus.coding[0].code, "ship");
        assert.deepEqual(
          task.output.slice(-2).map((o: any) => o.valueString),
          ["UPS", tasks[key].output!.at(-1)!.valueString],
        );
      }
      const search = async (searchParams: Record<string, string>) =>
        entries(await dentist.search({ resourceType: "Task", searchParams }));
      const shipped = await search({
        "business-status": `${bench.system}|ship`,
      });
      assert.deepEqual(shipped.map((task) => task.id), [
        tasks.bridge.id,
        tasks.crown.id,
      ]);
      const onCrown = await search({
        focus: `ServiceRequest/${items.crown.id}`,
      });
      assert.deepEqual(
        onCrown.filter((task) => !task.partOf).map((task) => task.id),
        [tasks.crown.id],
      );
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
        for (const key of ITEMS) {
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

    await t.step(
      "the practice remakes the bridge: a new case linked to the original",
      async () => {
        const remake: any = await dentist.create({
          resourceType: "ServiceRequest",
          body: buildRemake(items.bridge, {
            reason: "fit",
            text: "Distal abutment rocks on the die",
            responsibility: "lab",
            authoredOn: server.clock.now().toISOString(),
          }) as any,
        });
        assert.equal(remake.code.coding[0].code, "bridge");
        assert.deepEqual(
          remake.bodySite.map((s: any) => s.extension[0].valueCode),
          ["abutment", "pontic", "abutment"],
        );
        const [number] = caseNumbers(remake);
        assert.ok(
          number.value !== "1",
          "the remake has a case number of its own",
        );
        const found = entries(
          await labAdmin.search({
            resourceType: "ServiceRequest",
            searchParams: { replaces: `ServiceRequest/${items.bridge.id}` },
          }),
        );
        assert.deepEqual(found.map((sr: any) => sr.id), [remake.id]);
        const original: any = await labAdmin.read({
          resourceType: "ServiceRequest",
          id: items.bridge.id,
        });
        assert.equal(original.meta.versionId, items.bridge.meta.versionId);
        const history = entries(
          await labAdmin.resourceHistory({
            resourceType: "ServiceRequest",
            id: items.bridge.id,
          }),
        );
        assert.equal(history.length, Number(original.meta.versionId));
      },
    );
  } finally {
    await server.close();
  }
});
