/**
 * The case workflow rules. The status matrix is checked against a refused
 * list written out by hand, so a slip in the TRANSITIONS table fails here.
 */
import assert from "node:assert/strict";
import type {
  QuestionnaireResponse,
  QuestionnaireResponseItem,
  Task,
} from "@medplum/fhirtypes";
import type { Problem } from "../../domain/errors.ts";
import {
  checkStageList,
  readQcResult,
  readShipping,
  readStage,
  recordQcResult,
  recordRework,
  recordShipping,
  stageConcept,
  type StageDef,
} from "../../domain/stages.ts";
import {
  allowedMoves,
  buildStageTask,
  checkItemTaskChange,
  checkTransition,
  TASK_STATUSES,
  type TaskStatus,
} from "../../domain/task_workflow.ts";

// Written from the spec's diagram and text, not from the table.
const REFUSED: Record<TaskStatus, string> = {
  "draft": "received accepted rejected in-progress failed completed",
  "requested": "draft ready in-progress failed completed",
  "received": "draft requested ready in-progress failed completed",
  "accepted": "draft requested received rejected ready failed completed",
  "ready": "draft requested received accepted rejected failed completed",
  "in-progress": "draft requested received accepted rejected",
  "on-hold": "rejected failed completed",
  "completed":
    "draft requested received accepted rejected ready cancelled in-progress on-hold failed",
  "failed":
    "draft requested received accepted rejected ready cancelled in-progress on-hold completed",
  "rejected":
    "draft requested received accepted ready cancelled in-progress on-hold failed completed",
  "cancelled":
    "draft requested received accepted rejected ready in-progress on-hold failed completed",
  "entered-in-error":
    "draft requested received accepted rejected ready cancelled in-progress on-hold failed completed",
};

const REASON = { statusReason: { text: "Waiting for the impression" } };
const QC_LIST = [
  { id: "fit", text: "Fits the model" },
  { id: "shade", text: "Shade matches" },
];
const STAGES: StageDef[] = [
  { code: "model", display: "Model", days: 1 },
  { code: "design", display: "Design", days: 1 },
  { code: "mill", display: "Mill", days: 1 },
  { code: "sinter", display: "Sinter", days: 1, optional: true },
  { code: "stain-and-glaze", display: "Stain and glaze", days: 1 },
  { code: "quality-check", display: "QC", days: 0, checklist: QC_LIST },
  { code: "ship", display: "Ship", days: 0 },
];
const TECH = { reference: "Practitioner/tina" };
const WHEN = "2026-03-02T10:00:00Z";

const stage = (code: string) => STAGES.find((s) => s.code === code)!;
const item = (status: TaskStatus, code?: string): Task => ({
  resourceType: "Task",
  id: "item-1",
  status,
  intent: "order",
  focus: { reference: "ServiceRequest/sr-1" },
  for: { reference: "Patient/p-1" },
  ...(code ? { businessStatus: stageConcept(stage(code)) } : {}),
});
const at = (task: Task, code: string): Task => ({
  ...task,
  businessStatus: stageConcept(stage(code)),
});
const qc = (task: Task, results: Record<string, boolean>) =>
  recordQcResult(task, {
    checklist: QC_LIST,
    results,
    performer: TECH,
    date: WHEN,
  });
const passed = (task: Task) => qc(task, { fit: true, shade: true });
const shipped = (task: Task) =>
  recordShipping(task, { courier: "UPS", trackingNumber: "1Z999" });
const messages = (problems: Problem[]) => problems.map((p) => p.message);
const change = (previous: Task, next: Task) =>
  messages(checkItemTaskChange(previous, next, STAGES));

Deno.test("[workflow] the status table allows exactly the spec's moves", async (t) => {
  let refusedCount = 0;
  for (const from of TASK_STATUSES) {
    await t.step(from, () => {
      const refused = REFUSED[from].split(" ");
      for (const to of TASK_STATUSES.filter((s) => s !== from)) {
        const problems = checkTransition(from, to, REASON);
        if (!refused.includes(to)) {
          assert.deepEqual(problems, [], `${from} → ${to} should be allowed`);
          continue;
        }
        refusedCount++;
        assert.deepEqual(problems, [{
          message: `Cannot move a Task from ${from} to ${to}`,
          expression: "Task.status",
        }]);
      }
    });
  }
  assert.equal(refusedCount, 90);
});

Deno.test("[workflow] a Task may stay in any status, even a final one", () => {
  for (const status of TASK_STATUSES) {
    assert.deepEqual(checkTransition(status, status), []);
  }
  assert.deepEqual(messages(checkTransition("draft", "paused" as TaskStatus)), [
    "paused is not a Task status",
  ]);
});

Deno.test("[workflow] hold, cancel, reject and fail need a reason", async (t) => {
  const moves: [TaskStatus, TaskStatus][] = [
    ["in-progress", "on-hold"],
    ["accepted", "cancelled"],
    ["requested", "rejected"],
    ["in-progress", "failed"],
  ];
  for (const [from, to] of moves) {
    await t.step(`${from} → ${to}`, () => {
      const refusal = [{
        message: `Cannot move a Task to ${to} without a reason in statusReason`,
        expression: "Task.statusReason",
      }];
      assert.deepEqual(checkTransition(from, to), refusal);
      const blank = { text: " ", coding: [{ system: "x", code: "" }] };
      assert.deepEqual(
        checkTransition(from, to, { statusReason: blank }),
        refusal,
      );
      assert.deepEqual(checkTransition(from, to, REASON), []);
      const coded = { coding: [{ system: "x", code: "no-impression" }] };
      assert.deepEqual(checkTransition(from, to, { statusReason: coded }), []);
    });
  }
  await t.step("other moves need none", () => {
    assert.deepEqual(checkTransition("accepted", "in-progress"), []);
    assert.deepEqual(checkTransition("in-progress", "completed"), []);
  });
  await t.step("a refused move without a reason reports both", () => {
    assert.equal(checkTransition("completed", "cancelled").length, 2);
  });
});

Deno.test("[workflow] on-hold resumes where it was held from", () => {
  assert.deepEqual(allowedMoves("on-hold", "accepted"), [
    "accepted",
    "in-progress",
    "cancelled",
    "entered-in-error",
  ]);
  const held = { heldFrom: "accepted" as const };
  assert.deepEqual(checkTransition("on-hold", "ready", held).length, 1);
  assert.deepEqual(checkTransition("on-hold", "accepted", held), []);
  assert.deepEqual(checkTransition("on-hold", "in-progress", held), []);
});

Deno.test("[workflow] stages move forward one at a time", async (t) => {
  const work = item("in-progress", "model");
  await t.step("the next stage", () => {
    assert.deepEqual(change(work, at(work, "design")), []);
  });
  await t.step("a first stage, then not past it", () => {
    assert.deepEqual(change(item("in-progress"), at(work, "model")), []);
    assert.deepEqual(change(item("in-progress"), at(work, "design")), [
      "Cannot move a Task from stage none to design: it skips model",
    ]);
  });
  await t.step("over required stages is refused", () => {
    assert.deepEqual(change(work, at(work, "mill")), [
      "Cannot move a Task from stage model to mill: it skips design",
    ]);
  });
  await t.step("over an optional stage is allowed", () => {
    const milled = at(work, "mill");
    assert.deepEqual(change(milled, at(work, "stain-and-glaze")), []);
    assert.deepEqual(change(milled, at(work, "sinter")), []);
  });
  await t.step("unknown, cleared or foreign stages are refused", () => {
    const foreign = {
      ...work,
      businessStatus: { coding: [{ system: "other", code: "design" }] },
    };
    assert.deepEqual(change(work, foreign), [
      "businessStatus needs a coding in https://lhcms.dev/fhir/CodeSystem/stage",
    ]);
    const cleared = { ...work, businessStatus: undefined };
    assert.deepEqual(change(work, cleared), ["Cannot clear the stage model"]);
    const bogus = {
      ...work,
      businessStatus: {
        coding: [{ ...stageConcept(stage("ship")).coding![0], code: "paint" }],
      },
    };
    assert.deepEqual(change(work, bogus), [
      "Cannot move a Task from stage model to paint: not a stage of this product",
    ]);
  });
  await t.step("a lab's own stage system", () => {
    const system = "https://lhcms.dev/fhir/lab/acme/CodeSystem/stages";
    const own = (code: string) => ({
      ...work,
      businessStatus: stageConcept(stage(code), system),
    });
    assert.equal(readStage(own("mill"), system), "mill");
    const problems = checkItemTaskChange(own("model"), own("mill"), STAGES, {
      stageSystem: system,
    });
    assert.equal(problems.length, 1);
  });
});

Deno.test("[workflow] stages move back only for rework with a reason", async (t) => {
  const milled = item("in-progress", "mill");
  await t.step("without a rework output it is refused", () => {
    assert.deepEqual(change(milled, at(milled, "design")), [
      "Cannot move a Task from stage mill to design without a rework output with a reason",
    ]);
  });
  await t.step("with one, to any earlier stage", () => {
    const reason = { text: "Margin open on 11" };
    assert.deepEqual(
      change(milled, recordRework(milled, stage("model"), reason)),
      [],
    );
  });
  await t.step("a rework output without a reason is refused", () => {
    const next = recordRework(milled, stage("design"), { text: "" });
    assert.equal(change(milled, next).length, 1);
  });
  await t.step("an earlier rework does not cover a new move back", () => {
    const once = recordRework(milled, stage("design"), { text: "Remill" });
    const again = at(once, "mill");
    assert.equal(change(again, at(again, "model")).length, 1);
  });
});

Deno.test("[workflow] the quality check gates the ship stage", async (t) => {
  const checking = item("in-progress", "quality-check");
  await t.step("no QC recorded", () => {
    assert.deepEqual(change(checking, at(checking, "ship")), [
      "Cannot start the ship stage before the quality check has passed",
    ]);
  });
  await t.step("a failed item", () => {
    const failedQc = qc(checking, { fit: true, shade: false });
    assert.deepEqual(readQcResult(failedQc, QC_LIST)?.items, [
      { id: "fit", passed: true },
      { id: "shade", passed: false },
    ]);
    assert.equal(change(failedQc, at(failedQc, "ship")).length, 1);
  });
  await t.step("every item passed, with who and when", () => {
    const ok = passed(checking);
    const result = readQcResult(ok, QC_LIST);
    assert.deepEqual([result?.passed, result?.performer, result?.date], [
      true,
      TECH,
      WHEN,
    ]);
    assert.deepEqual(change(ok, at(ok, "ship")), []);
  });
  await t.step("a QC without who is not a pass", () => {
    const ok = passed(checking);
    const anonymous = structuredClone(ok);
    delete (anonymous.contained![0] as { author?: unknown }).author;
    assert.equal(readQcResult(anonymous, QC_LIST)?.passed, false);
  });
  await t.step("an item answered twice, or twice over, is not a pass", () => {
    const ok = passed(checking);
    const withItems = (item: QuestionnaireResponseItem[]) => ({
      ...ok,
      contained: [{ ...ok.contained![0], item } as QuestionnaireResponse],
    });
    const [fit, shade] = (ok.contained![0] as QuestionnaireResponse).item!;
    const doubled = withItems([
      fit,
      { ...shade, answer: [{ valueBoolean: true }, { valueBoolean: false }] },
    ]);
    const repeated = withItems([
      fit,
      { ...shade, answer: [{ valueBoolean: false }] },
      shade,
    ]);
    for (const ambiguous of [doubled, repeated]) {
      assert.equal(readQcResult(ambiguous, QC_LIST)?.passed, false);
      assert.match(
        JSON.stringify(change(checking, ambiguous)),
        /shade (needs exactly one true or false|is answered twice)/,
      );
    }
  });
  await t.step("a rework voids the earlier pass", () => {
    const ok = passed(checking);
    const reworked = recordRework(ok, stage("mill"), { text: "Chipped" });
    assert.equal(readQcResult(reworked, QC_LIST), undefined);
    const back = at(reworked, "quality-check");
    assert.equal(change(back, at(back, "ship")).length, 1);
  });
});

Deno.test("[workflow] completion needs the last stage, a QC pass and shipping", async (t) => {
  const atShip = at(passed(item("in-progress", "quality-check")), "ship");
  const done = (task: Task): Task => ({ ...task, status: "completed" });
  await t.step("without courier and tracking number", () => {
    assert.deepEqual(change(atShip, done(atShip)), [
      "Cannot complete a Task without courier and tracking-number outputs",
    ]);
    const courierOnly = recordShipping(atShip, {
      courier: "UPS",
      trackingNumber: " ",
    });
    assert.equal(change(courierOnly, done(courierOnly)).length, 1);
  });
  await t.step("with them", () => {
    const ready = shipped(atShip);
    assert.deepEqual(readShipping(ready), {
      courier: "UPS",
      trackingNumber: "1Z999",
    });
    assert.deepEqual(change(ready, done(ready)), []);
  });
  await t.step("before the last stage and before QC", () => {
    const glazed = shipped(item("in-progress", "stain-and-glaze"));
    assert.deepEqual(change(glazed, done(glazed)), [
      "Cannot complete a Task at stage stain-and-glaze: ship is not done",
      "Cannot complete a Task before the quality check passed",
    ]);
  });
});

Deno.test("[workflow] outputs and contained results are append-only", () => {
  const ok = shipped(passed(item("in-progress", "ship")));
  const edited = structuredClone(ok);
  edited.output![1].valueReference = { reference: "#qc-9" };
  edited.contained = [];
  assert.deepEqual(change(ok, edited), [
    "Cannot change or remove output 1: outputs are append-only",
    "Cannot change or remove contained qc-1",
  ]);
  // The same content in another key order is not an edit.
  const reverseKeys = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(reverseKeys)
      : v && typeof v === "object"
      ? Object.fromEntries(
        Object.entries(v).reverse().map(([k, x]) => [k, reverseKeys(x)]),
      )
      : v;
  assert.deepEqual(change(ok, reverseKeys(ok) as Task), []);
});

Deno.test("[workflow] a final Task keeps its stage", () => {
  const done = item("completed", "ship");
  assert.deepEqual(change(done, at(done, "model")), [
    "Cannot change the stage of a completed Task",
  ]);
});

Deno.test("[workflow] a stage Task is a ready child owned by a technician", () => {
  const task = buildStageTask(item("in-progress"), stage("mill"), TECH);
  assert.equal(task.status, "ready");
  assert.deepEqual(task.partOf, [{ reference: "Task/item-1" }]);
  assert.deepEqual(task.owner, TECH);
  assert.equal(readStage({ ...task, businessStatus: task.code }), "mill");
  assert.throws(() =>
    buildStageTask({ ...item("ready"), id: undefined }, stage("mill"), TECH)
  );
});

Deno.test("[workflow] checkStageList finds stage lists the rules cannot run on", () => {
  assert.deepEqual(checkStageList(STAGES), []);
  const broken = [
    { ...stage("ship") },
    { ...stage("quality-check"), optional: true },
    stage("model"),
    stage("model"),
  ];
  assert.deepEqual(messages(checkStageList(broken)), [
    "Stage quality-check cannot be optional",
    "Stage model appears twice",
    "The ship stage must be the last stage",
    "The quality check must come before the ship stage",
  ]);
});
