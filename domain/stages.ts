/**
 * Production stages of a case item and the FHIR elements that record them:
 * the current stage in the item Task's `businessStatus`, and an append-only
 * log in `Task.output` of quality checks, reworks and the shipment. Pure
 * functions: the caller loads the catalog and the Task versions.
 */
import type {
  CodeableConcept,
  Practitioner,
  QuestionnaireResponse,
  Reference,
  Task,
  TaskOutput,
} from "@medplum/fhirtypes";
import type { Problem } from "./errors.ts";

/** Default stage code system; a lab catalog may name its own. */
export const STAGE_SYSTEM = "https://lhcms.dev/fhir/CodeSystem/stage";

/** LHCMS code system of `Task.output.type`. */
export const TASK_OUTPUT_SYSTEM =
  "https://lhcms.dev/fhir/CodeSystem/task-output";

/**
 * The output types LHCMS reads; see docs/fhir-mapping.md. Try-ins
 * (domain/try_ins.ts) and enclosures that left (domain/enclosures.ts)
 * share the log; fhir/case_terminology.ts publishes the code system.
 */
export type OutputType =
  | "courier"
  | "tracking-number"
  | "qc-result"
  | "rework"
  | "try-in-sent"
  | "try-in-returned"
  | "enclosure-out";

/** The reserved code of the shipping stage. */
export const SHIP_STAGE = "ship";

/** One item of a quality-check checklist. */
export interface ChecklistItem {
  id: string;
  text: string;
}

/**
 * A production stage in catalog order (a catalog `CatalogStage` fits).
 * `optional` stages may be skipped going forward; the stage with a
 * `checklist` is the quality check; the stage coded `ship` is shipping.
 */
export interface StageDef {
  code: string;
  display: string;
  /** Standard duration in business days. */
  days: number;
  optional?: boolean;
  checklist?: ChecklistItem[];
}

/** The outcome of the quality check that counts for a Task. */
export interface QcResult {
  passed: boolean;
  items: { id: string; passed: boolean }[];
  performer?: QuestionnaireResponse["author"];
  date?: string;
}

/** Courier and tracking number of a shipment. */
export interface Shipment {
  courier: string;
  trackingNumber: string;
}

/** The quality-check stage of a list, if it has one. */
export function qcStage(stages: StageDef[]): StageDef | undefined {
  return stages.find((s) => (s.checklist?.length ?? 0) > 0);
}

/**
 * Checks the shape the rules below rely on: unique codes, at most one
 * quality check, neither it nor `ship` optional, `ship` last, QC before it.
 */
export function checkStageList(stages: StageDef[]): Problem[] {
  const problems: Problem[] = [];
  const add = (i: number, message: string) =>
    problems.push({ message, expression: `stages[${i}]` });
  const codes = stages.map((s) => s.code);
  const qcAt = stages.findIndex((s) => (s.checklist?.length ?? 0) > 0);
  const shipAt = codes.indexOf(SHIP_STAGE);
  stages.forEach((s, i) => {
    if (codes.indexOf(s.code) !== i) add(i, `Stage ${s.code} appears twice`);
    if (s.checklist?.length && i !== qcAt) {
      add(i, "Only one stage may have a checklist");
    }
    if (s.optional && (i === qcAt || i === shipAt)) {
      add(i, `Stage ${s.code} cannot be optional`);
    }
  });
  if (shipAt >= 0 && shipAt !== stages.length - 1) {
    add(shipAt, "The ship stage must be the last stage");
  }
  if (qcAt >= 0 && shipAt >= 0 && qcAt > shipAt) {
    add(qcAt, "The quality check must come before the ship stage");
  }
  return problems;
}

/** Problems with a stage Task's code: one stage of `stages`, in `system`. */
export function checkStageCode(
  task: Task,
  stages: StageDef[],
  system = STAGE_SYSTEM,
): Problem[] {
  const codes = (task.code?.coding ?? []).filter((c) => c.system === system);
  const ok = codes.length === 1 && stages.some((s) => s.code === codes[0].code);
  return ok ? [] : [{
    message: `code must be one stage of the item's product, coded in ${system}`,
    expression: "Task.code",
  }];
}

/** The `businessStatus` that shows a stage. */
export function stageConcept(
  stage: StageDef,
  system = STAGE_SYSTEM,
): CodeableConcept {
  return {
    coding: [{ system, code: stage.code, display: stage.display }],
    text: stage.display,
  };
}

/** The current stage code of a Task, read from `businessStatus`. */
export function readStage(
  task: Task,
  system = STAGE_SYSTEM,
): string | undefined {
  return task.businessStatus?.coding?.find((c) => c.system === system)?.code;
}

/**
 * Checks a stage move between two versions of an item Task: forward one
 * stage at a time, skipping only optional stages; back to any earlier
 * stage only with a `rework` output added in the same update.
 */
export function checkStageMove(
  previous: Task,
  next: Task,
  stages: StageDef[],
  system = STAGE_SYSTEM,
): Problem[] {
  const from = readStage(previous, system);
  const to = readStage(next, system);
  const refuse = (message: string, expression = "Task.businessStatus") => [
    { message, expression },
  ];
  if (next.businessStatus && to === undefined) {
    return refuse(`businessStatus needs a coding in ${system}`);
  }
  if (to === from || stages.length === 0) return [];
  if (to === undefined) return refuse(`Cannot clear the stage ${from}`);
  const i = stages.findIndex((s) => s.code === from);
  const j = stages.findIndex((s) => s.code === to);
  const move = `Cannot move a Task from stage ${from ?? "none"} to ${to}`;
  if (j < 0) return refuse(`${move}: not a stage of this product`);
  if (j < i) {
    return addsRework(previous, next)
      ? []
      : refuse(`${move} without a rework output with a reason`, "Task.output");
  }
  // An unknown previous stage (the catalog changed mid-case) cannot be
  // ordered, so any listed stage is accepted from it.
  if (from !== undefined && i < 0) return [];
  const skipped = stages.slice(i + 1, j).filter((s) => !s.optional);
  if (skipped.length === 0) return [];
  return refuse(`${move}: it skips ${skipped.map((s) => s.code).join(", ")}`);
}

function addsRework(previous: Task, next: Task): boolean {
  const before = outputs(previous, "rework").length;
  const after = outputs(next, "rework");
  return after.length > before &&
    after.slice(before).every((o) => hasReason(o.valueCodeableConcept));
}

/** True when a CodeableConcept says something: text or a coded value. */
export function hasReason(concept?: CodeableConcept): boolean {
  return Boolean(
    concept?.text?.trim() || concept?.coding?.some((c) => c.code?.trim()),
  );
}

/**
 * Deep equality of JSON values whatever the key order a client serialized
 * them in, so an unchanged element is not taken for an edit.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  const sorted = (_key: string, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => x < y ? -1 : 1))
      : v;
  return JSON.stringify(a ?? null, sorted) ===
    JSON.stringify(b ?? null, sorted);
}

/** Outputs of one LHCMS type, in the order they were recorded. */
export function outputs(task: Task, type: OutputType): TaskOutput[] {
  return (task.output ?? []).filter((o) => isType(o, type));
}

function isType(output: TaskOutput, type: OutputType): boolean {
  return output.type?.coding?.some((c) =>
    c.system === TASK_OUTPUT_SYSTEM && c.code === type
  ) ?? false;
}

function outputType(type: OutputType): CodeableConcept {
  return { coding: [{ system: TASK_OUTPUT_SYSTEM, code: type }] };
}

/** A copy of the Task moved back to `stage`, with the rework reason logged. */
export function recordRework(
  task: Task,
  stage: StageDef,
  reason: CodeableConcept,
  system = STAGE_SYSTEM,
): Task {
  const output = { type: outputType("rework"), valueCodeableConcept: reason };
  return {
    ...task,
    businessStatus: stageConcept(stage, system),
    output: [...(task.output ?? []), output],
  };
}

/** What a technician records at the quality check. */
export interface QcInput {
  checklist: ChecklistItem[];
  /** Checklist item id to passed (true) or failed (false). */
  results: Record<string, boolean>;
  performer: Reference<Practitioner>;
  /** FHIR dateTime of the check. */
  date: string;
}

/**
 * A copy of the Task with a quality check appended: a contained
 * QuestionnaireResponse (one boolean answer per checklist item, author and
 * authored for who and when) and a `qc-result` output that references it.
 */
export function recordQcResult(task: Task, input: QcInput): Task {
  const id = `qc-${outputs(task, "qc-result").length + 1}`;
  const response: QuestionnaireResponse = {
    resourceType: "QuestionnaireResponse",
    id,
    status: "completed",
    author: input.performer,
    authored: input.date,
    item: input.checklist.map((c) => ({
      linkId: c.id,
      text: c.text,
      answer: [{ valueBoolean: input.results[c.id] === true }],
    })),
  };
  const output = {
    type: outputType("qc-result"),
    valueReference: { reference: `#${id}` },
  };
  return {
    ...task,
    contained: [...(task.contained ?? []), response],
    output: [...(task.output ?? []), output],
  };
}

/**
 * The quality check that counts: the last `qc-result` output recorded after
 * the last rework, since a rework sends the item through QC again.
 */
export function readQcResult(
  task: Task,
  checklist: ChecklistItem[],
): QcResult | undefined {
  let latest: TaskOutput | undefined;
  for (const output of task.output ?? []) {
    if (isType(output, "rework")) latest = undefined;
    if (isType(output, "qc-result")) latest = output;
  }
  if (!latest) return undefined;
  const response = containedResponse(task, latest);
  // An item answered twice, or twice over, says nothing for sure: it fails.
  const items = checklist.map((c) => {
    const answers = (response?.item ?? []).filter((i) => i.linkId === c.id)
      .flatMap((i) => i.answer ?? []);
    return {
      id: c.id,
      passed: answers.length === 1 && answers[0].valueBoolean === true,
    };
  });
  const recorded = response?.status === "completed" &&
    Boolean(response.author?.reference && response.authored);
  return {
    passed: recorded && items.every((i) => i.passed),
    items,
    performer: response?.author,
    date: response?.authored,
  };
}

/**
 * Every problem with the quality checks an update appends: each new
 * `qc-result` output points to a contained QuestionnaireResponse with an
 * author and a time that answers each checklist item exactly once, with
 * exactly one boolean, and nothing else, so no answer can be read two ways.
 */
export function checkNewQcResults(
  previous: Task,
  next: Task,
  checklist: ChecklistItem[] | undefined,
): Problem[] {
  const problems: Problem[] = [];
  for (const { at, response } of newQcRecords(previous, next)) {
    const add = (message: string) =>
      problems.push({ message, expression: `Task.output[${at}]` });
    if (!response) {
      add("A qc-result must reference a contained QuestionnaireResponse");
      continue;
    }
    if (!response.author?.reference || !response.authored) {
      add("A quality check needs its author and authored time");
    }
    const ids = (response.item ?? []).map((item) => item.linkId);
    const twice = ids.filter((id, at) => ids.indexOf(id) !== at);
    if (twice.length > 0) add(`Checklist item ${twice[0]} is answered twice`);
    for (const item of response.item ?? []) {
      const answers = item.answer ?? [];
      if (
        answers.length !== 1 || typeof answers[0].valueBoolean !== "boolean"
      ) {
        add(`Checklist item ${item.linkId} needs exactly one true or false`);
      }
      if (checklist && !checklist.some((c) => c.id === item.linkId)) {
        add(`${item.linkId} is not an item of the checklist`);
      }
    }
    const missing = checklist?.find((c) => !ids.includes(c.id));
    if (missing) add(`Checklist item ${missing.id} is not answered`);
  }
  return problems;
}

/**
 * The quality checks an update appends: the index of each new `qc-result`
 * output and the contained record it points to, if there is one.
 */
export function newQcRecords(
  previous: Task,
  next: Task,
): { at: number; response?: QuestionnaireResponse }[] {
  const known = previous.output?.length ?? 0;
  return (next.output ?? []).flatMap((output, at) =>
    at >= known && isType(output, "qc-result")
      ? [{ at, response: containedResponse(next, output) }]
      : []
  );
}

function containedResponse(
  task: Task,
  output: TaskOutput,
): QuestionnaireResponse | undefined {
  const ref = output.valueReference?.reference;
  const found = task.contained?.find((r) => `#${r.id}` === ref);
  return found?.resourceType === "QuestionnaireResponse" ? found : undefined;
}

/** A copy of the Task with the courier and tracking number appended. */
export function recordShipping(task: Task, shipment: Shipment): Task {
  return {
    ...task,
    output: [
      ...(task.output ?? []),
      { type: outputType("courier"), valueString: shipment.courier },
      {
        type: outputType("tracking-number"),
        valueString: shipment.trackingNumber,
      },
    ],
  };
}

/** The shipment recorded on a Task (the last of each), if complete. */
export function readShipping(task: Task): Shipment | undefined {
  const courier = outputs(task, "courier").at(-1)?.valueString?.trim();
  const tracking = outputs(task, "tracking-number").at(-1)?.valueString?.trim();
  return courier && tracking
    ? { courier, trackingNumber: tracking }
    : undefined;
}
