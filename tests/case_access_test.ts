// deno-lint-ignore-file no-explicit-any
/**
 * Who may write which Task, and what a Task under an item must be, through
 * the FHIR API with fhir-kit-client: the practice orders, withdraws before
 * work starts and answers design approvals; the lab does everything else;
 * a design approval hangs under the open item Task of its prescription and
 * is owned by a Practitioner of the practice; a stage Task names a stage
 * of the item's product; a quality check answers each item exactly once.
 */
import assert from "node:assert/strict";
import type { Client } from "fhir-kit-client";
import { stageSystem } from "../domain/case_workflow.ts";
import {
  approveDesign,
  buildDesignApproval,
  rejectDesign,
} from "../domain/design_approval.ts";
import { recordQcResult, stageConcept } from "../domain/stages.ts";
import { buildStageTask } from "../domain/task_workflow.ts";
import { created, put, refusedBy, refusedWith } from "./case_bench.ts";
import { prescription } from "./dental.ts";
import {
  call,
  fhirClient,
  otherPractice,
  setupLab,
  startTestServer,
  storedCount,
  type TestServer,
} from "./helpers.ts";

const forbidden = (pending: Promise<unknown>) => refusedBy(pending, 403);

/** Lab acme, its practice's dentist and patient, and a crown to work on. */
async function crownCase(server: TestServer) {
  const acme = await setupLab(server, "acme");
  const practice = fhirClient(server, "acme", acme.tokens.dentist);
  const labAdmin = fhirClient(server, "acme", acme.tokens.lab_admin);
  const bench = fhirClient(server, "acme", acme.tokens.lab_technician);
  const patient = await created(practice, {
    resourceType: "Patient",
    name: [{ family: "Okafor" }],
  });
  const dentist = await created(practice, {
    resourceType: "Practitioner",
    name: [{ family: "Lindqvist" }],
  });
  const technician = await created(labAdmin, {
    resourceType: "Practitioner",
    name: [{ family: "Moreau" }],
  });
  const newCrown = async (tooth: string) => {
    const crown = await created(
      practice,
      prescription("acme", patient.id, "crown", {
        teeth: [tooth],
        shade: "A2",
      }),
    );
    const order = {
      resourceType: "Task" as const,
      status: "requested" as const,
      intent: "order" as const,
      basedOn: [{ reference: `ServiceRequest/${crown.id}` }],
      focus: { reference: `ServiceRequest/${crown.id}` },
      for: { reference: `Patient/${patient.id}` },
    };
    return { crown, order, task: await created(practice, order) };
  };
  const stages = (await call(
    server.url,
    "GET",
    "/labs/acme/catalog/crown",
    acme.tokens.lab_technician,
  )).body.stages;
  const checklist = stages.find((s: any) => s.checklist).checklist;
  const passingCheck = (item: any, performer: { reference: string }) =>
    recordQcResult(item, {
      checklist,
      results: Object.fromEntries(checklist.map((i: any) => [i.id, true])),
      performer,
      date: "2026-12-04T10:00:00Z",
    });
  const stage = (code: string) =>
    stageConcept(stages.find((s: any) => s.code === code), stageSystem("acme"));
  return {
    acme,
    practice,
    labAdmin,
    bench,
    patient,
    dentist: { reference: `Practitioner/${dentist.id}` },
    technician: { reference: `Practitioner/${technician.id}` },
    newCrown,
    stages,
    stage,
    passingCheck,
  };
}

function askApproval(item: any, owner: { reference: string }) {
  return buildDesignApproval({
    item,
    dentist: owner,
    design: { contentType: "model/stl", url: "https://lab.example/d1.stl" },
    authoredOn: "2026-12-04T11:00:00Z",
  });
}

async function update(client: Client, task: any, change: any) {
  return await put(client, { ...task, ...change });
}

Deno.test("[case access] the practice orders and withdraws; the lab's work is the lab's", async (t) => {
  const server = await startTestServer();
  try {
    const c = await crownCase(server);
    const { practice, bench, labAdmin } = c;
    const { crown, order, task } = await c.newCrown("21");

    await t.step(
      "the practice orders only a plain requested Task",
      async () => {
        const before = await storedCount(server, "acme", "Task");
        for (
          const change of [
            { status: "completed", businessStatus: c.stage("ship") },
            { status: "accepted" },
            { businessStatus: c.stage("model") },
            { output: [{ type: { text: "x" }, valueString: "x" }] },
          ]
        ) {
          await forbidden(
            practice.create({
              resourceType: "Task",
              body: { ...order, ...change } as any,
            }),
          );
        }
        assert.equal(await storedCount(server, "acme", "Task"), before);
      },
    );

    let item = task;
    await t.step(
      "the dentist cannot accept, stage or check the lab's work",
      async () => {
        await forbidden(update(practice, item, { status: "accepted" }));
        item = await update(bench, item, { status: "accepted" });
        await forbidden(
          update(practice, item, {
            status: "in-progress",
            businessStatus: c.stage("model"),
          }),
        );
        item = await update(bench, item, {
          status: "in-progress",
          businessStatus: c.stage("model"),
        });
        await forbidden(
          update(practice, item, { businessStatus: c.stage("design") }),
        );
        const signed = c.passingCheck(item, c.dentist);
        await forbidden(
          update(practice, item, {
            output: signed.output,
            contained: signed.contained,
          }),
        );
        const stored: any = await labAdmin.read({
          resourceType: "Task",
          id: item.id,
        });
        assert.equal(stored.meta.versionId, item.meta.versionId);
      },
    );

    await t.step(
      "the dentist makes no stage Task and asks no approval of themselves",
      async () => {
        const done = {
          ...buildStageTask(
            item,
            c.stages[0],
            c.technician,
            stageSystem("acme"),
          ),
          status: "completed" as const,
        };
        await forbidden(practice.create({ resourceType: "Task", body: done }));
        await forbidden(
          practice.create({
            resourceType: "Task",
            body: askApproval(item, c.dentist) as any,
          }),
        );
        // The technician plans stages and asks for approvals.
        await created(
          bench,
          buildStageTask(item, c.stages[0], c.technician, stageSystem("acme")),
        );
        await created(bench, askApproval(item, c.dentist));
      },
    );

    await t.step("work started: the order is no longer withdrawn", async () => {
      await forbidden(
        update(practice, item, {
          status: "cancelled",
          statusReason: { text: "Patient moved away" },
        }),
      );
    });

    await t.step(
      "before work starts the practice withdraws, with a reason",
      async () => {
        const other = (await c.newCrown("11")).task;
        await refusedWith(
          update(practice, other, { status: "cancelled" }),
          /cancelled without a reason/,
        );
        await forbidden(
          update(practice, other, {
            status: "cancelled",
            statusReason: { text: "Patient moved away" },
            priority: "stat",
          }),
        );
        const withdrawn = await update(practice, other, {
          status: "cancelled",
          statusReason: { text: "Patient moved away" },
        });
        assert.equal(withdrawn.status, "cancelled");
        assert.equal(withdrawn.focus.reference, other.focus.reference);
        assert.ok(crown.id);
      },
    );
  } finally {
    await server.close();
  }
});

Deno.test("[case access] a design approval: asked by the lab, answered by the practice alone", async (t) => {
  const server = await startTestServer();
  try {
    const c = await crownCase(server);
    const { practice, bench, labAdmin } = c;
    const elsewhere = await otherPractice(server);
    const { task } = await c.newCrown("21");
    const item = await update(bench, task, { status: "accepted" });
    const ask = (body: any, client = labAdmin) =>
      client.create({ resourceType: "Task", body });

    await t.step("the owner is a Practitioner of the practice", async () => {
      const theirs = await created(elsewhere, {
        resourceType: "Practitioner",
        name: [{ family: "Elsewhere" }],
      });
      for (
        const owner of [c.technician, {
          reference: `Practitioner/${theirs.id}`,
        }]
      ) {
        await refusedWith(
          ask(askApproval(item, owner)),
          /owner must be a Practitioner of the prescription's practice/,
        );
      }
    });

    await t.step("it hangs under the open item Task of its focus", async () => {
      const first = await created(labAdmin, askApproval(item, c.dentist));
      await refusedWith(
        ask({
          ...askApproval(item, c.dentist),
          partOf: [{ reference: `Task/${first.id}` }],
        }),
        /partOf must name an item Task/,
      );
      const second = await c.newCrown("11");
      await refusedWith(
        ask({
          ...askApproval(item, c.dentist),
          partOf: [{ reference: `Task/${second.task.id}` }],
        }),
        /focus must be the prescription of the item Task/,
      );
      const withdrawn = await update(practice, second.task, {
        status: "cancelled",
        statusReason: { text: "Sent to another lab" },
      });
      await refusedWith(
        ask(askApproval(withdrawn, c.dentist)),
        /partOf names an item Task that is cancelled/,
      );
    });

    await t.step("the lab neither approves nor rejects", async () => {
      const approval = await created(labAdmin, askApproval(item, c.dentist));
      for (const client of [bench, labAdmin]) {
        await forbidden(
          put(client, approveDesign(approval, "2026-12-04T12:00:00Z")),
        );
        // Nor by dressing the answer up with a change of its own.
        await forbidden(
          put(client, {
            ...approveDesign(approval, "2026-12-04T12:00:00Z"),
            description: "Approved by the lab",
          }),
        );
        await forbidden(
          put(
            client,
            rejectDesign(approval, { text: "x" }, "2026-12-04T12:00:00Z"),
          ),
        );
      }
      // Another practice cannot so much as name it.
      await refusedWith(
        put(elsewhere, approveDesign(approval, "2026-12-04T12:00:00Z")),
        /is not a record of this lab/,
      );
      const stored: any = await labAdmin.read({
        resourceType: "Task",
        id: approval.id,
      });
      assert.equal(stored.status, "requested");
    });

    await t.step("its owner is fixed once asked", async () => {
      const approval = await created(labAdmin, askApproval(item, c.dentist));
      for (const client of [bench, labAdmin]) {
        await refusedWith(
          update(client, approval, { owner: c.technician }),
          /Cannot change owner of a design approval/,
        );
      }
      await forbidden(
        put(practice, {
          ...approveDesign(approval, "2026-12-04T12:00:00Z"),
          owner: c.technician,
        }),
      );
    });

    await t.step("the lab withdraws, the dentist answers", async () => {
      const withdrawn = await created(bench, askApproval(item, c.dentist));
      await refusedWith(
        update(bench, withdrawn, {
          status: "on-hold",
          statusReason: { text: "x" },
        }),
        /answered \(completed, rejected\) or withdrawn/,
      );
      const cancelled = await update(bench, withdrawn, {
        status: "cancelled",
        statusReason: { text: "Redesigning first" },
      });
      await refusedWith(
        put(practice, approveDesign(cancelled, "2026-12-04T12:00:00Z")),
        /from cancelled to completed/,
      );
      const approval = await created(bench, askApproval(item, c.dentist));
      const approved = await put(
        practice,
        {
          ...approveDesign(approval, "2026-12-04T12:00:00Z"),
          note: [{ text: "Good" }],
        },
      );
      assert.equal(approved.status, "completed");
      assert.deepEqual(approved.owner, c.dentist);
      const other = await created(bench, askApproval(item, c.dentist));
      await forbidden(
        put(practice, {
          ...approveDesign(other, "2026-12-04T12:00:00Z"),
          description: "Also moved to the next stage",
        }),
      );
    });
  } finally {
    await server.close();
  }
});

Deno.test("[case access] a stage Task names a stage of its item's product, for good", async () => {
  const server = await startTestServer();
  try {
    const c = await crownCase(server);
    const { labAdmin } = c;
    const { task } = await c.newCrown("21");
    const system = stageSystem("acme");
    const plan = (code: any) =>
      labAdmin.create({
        resourceType: "Task",
        body: {
          ...buildStageTask(task, c.stages[0], c.technician, system),
          code,
        },
      });
    for (
      const code of [
        { text: "anything" },
        { coding: [{ system, code: "setup" }] },
        {
          coding: [{
            system: "https://lhcms.dev/fhir/CodeSystem/stage",
            code: "mill",
          }],
        },
        { coding: [{ system, code: "mill" }, { system, code: "model" }] },
      ]
    ) {
      await refusedWith(
        plan(code),
        /code must be one stage of the item's product/,
      );
    }
    const mill = await created(
      labAdmin,
      buildStageTask(task, c.stages[2], c.technician, system),
    );
    await refusedWith(
      update(labAdmin, mill, { code: { text: "anything" } }),
      /Cannot change the code of a stage Task/,
    );
    const under = (partOf: string) =>
      labAdmin.create({
        resourceType: "Task",
        body: {
          ...buildStageTask(task, c.stages[3], c.technician, system),
          partOf: [{ reference: partOf }],
        },
      });
    await refusedWith(
      under(`Task/${mill.id}`),
      /partOf must name an item Task, not a Task under one/,
    );
    const other = (await c.newCrown("11")).task;
    await refusedWith(
      under(`Task/${other.id}`),
      /focus must be the prescription of the item Task in partOf/,
    );
  } finally {
    await server.close();
  }
});

Deno.test("[case access] a quality check that can be read two ways, or is not the lab's, is refused", async () => {
  const server = await startTestServer();
  try {
    const c = await crownCase(server);
    const { bench } = c;
    const item = await update(bench, (await c.newCrown("21")).task, {
      status: "accepted",
    });
    const checked = c.passingCheck(item, c.technician);
    const response: any = checked.contained![0];
    const withItems = (items: any[]) => ({
      ...checked,
      contained: [{ ...response, item: items }],
    });
    const [fit, margins, shade] = response.item;
    const cases: [any[], RegExp][] = [
      [[fit, margins, {
        ...shade,
        answer: [{ valueBoolean: true }, { valueBoolean: false }],
      }], /shade needs exactly one true or false/],
      [
        [fit, { ...fit, answer: [{ valueBoolean: false }] }, margins, shade],
        /fit is answered twice/,
      ],
      [[fit, margins], /shade is not answered/],
      [[fit, margins, shade, {
        linkId: "extra",
        answer: [{ valueBoolean: true }],
      }], /extra is not an item of the checklist/],
      [
        [fit, margins, { ...shade, answer: [{ valueString: "yes" }] }],
        /shade needs exactly one true or false/,
      ],
    ];
    for (const [items, pattern] of cases) {
      await refusedWith(put(bench, withItems(items)), pattern);
    }
    // The lab's word on its own work: not signed in the dentist's name.
    await refusedWith(
      put(bench, c.passingCheck(item, c.dentist)),
      /signed by a Practitioner of the lab/,
    );
    const passed = await put(bench, checked);
    assert.equal(passed.output.length, 1);
  } finally {
    await server.close();
  }
});
