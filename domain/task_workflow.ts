/**
 * The case workflow rules: the FHIR R4 Task state machine, the checks on
 * an update of an item Task (status, stage, quality check, shipping) and
 * the child stage Tasks. Pure functions that return every problem found;
 * the caller turns them into a 422 OperationOutcome.
 */
import type {
  CodeableConcept,
  Practitioner,
  Reference,
  Task,
} from "@medplum/fhirtypes";
import type { Problem } from "./errors.ts";
import {
  checkNewQcResults,
  checkStageMove,
  hasReason,
  qcStage,
  readQcResult,
  readShipping,
  readStage,
  sameJson,
  SHIP_STAGE,
  STAGE_SYSTEM,
  stageConcept,
  type StageDef,
} from "./stages.ts";

/** A value of `Task.status`. */
export type TaskStatus = Task["status"];

/** Every Task status of http://hl7.org/fhir/task-status (R4). */
export const TASK_STATUSES: readonly TaskStatus[] = [
  "draft",
  "requested",
  "received",
  "accepted",
  "rejected",
  "ready",
  "cancelled",
  "in-progress",
  "on-hold",
  "failed",
  "completed",
  "entered-in-error",
];

// The states the spec lets a Task be suspended from and resumed into.
const SUSPENDABLE: TaskStatus[] = [
  "draft",
  "requested",
  "received",
  "accepted",
  "ready",
  "in-progress",
];

/**
 * The moves allowed from each status, after the diagram and text of
 * https://hl7.org/fhir/R4/task.html#statemachine:
 * - draft → requested (ask a performer) or ready (already assigned);
 *   requested → received → accepted, or rejected before any work; ready
 *   and accepted → in-progress → completed or failed.
 * - "A task in any non-terminal state may also be Cancelled", and "Tasks in
 *   any non-terminal state ... can be suspended and resumed", so every
 *   open status may go to cancelled and to on-hold.
 * - on-hold resumes "in the state it was in": any suspendable status here;
 *   `heldFrom` in checkTransition narrows it when the caller knows.
 * - in-progress → ready: the spec's "stopped", to hand the work on.
 * - completed, failed, rejected and cancelled are final. The diagram's box
 *   around the early states also covers rejected, but rejected ends in the
 *   final state, so it does not go on to cancelled. The spec allows some
 *   workflows to reopen final Tasks; LHCMS does not (a remake is a new
 *   ServiceRequest). entered-in-error corrects a record from any status.
 */
export const TRANSITIONS: Readonly<Record<TaskStatus, readonly TaskStatus[]>> =
  {
    "draft": ["requested", "ready", "on-hold", "cancelled"],
    "requested": ["received", "accepted", "rejected", "on-hold", "cancelled"],
    "received": ["accepted", "rejected", "on-hold", "cancelled"],
    "accepted": ["in-progress", "on-hold", "cancelled"],
    "ready": ["in-progress", "on-hold", "cancelled"],
    "in-progress": ["ready", "on-hold", "completed", "failed", "cancelled"],
    "on-hold": [...SUSPENDABLE, "cancelled"],
    "completed": [],
    "failed": [],
    "rejected": [],
    "cancelled": [],
    "entered-in-error": [],
  };

/** Statuses that end a Task: only a correction to entered-in-error leaves. */
export const FINAL_STATUSES: readonly TaskStatus[] = [
  "completed",
  "failed",
  "rejected",
  "cancelled",
  "entered-in-error",
];

/** Statuses a Task enters only with a reason in `statusReason`. */
export const REASON_REQUIRED: readonly TaskStatus[] = [
  "on-hold",
  "cancelled",
  "rejected",
  "failed",
];

/** What besides the two statuses a move is judged on. */
export interface StatusChange {
  statusReason?: CodeableConcept;
  /** The status an on-hold Task was held from, when the caller knows it. */
  heldFrom?: TaskStatus;
}

/** The statuses a Task may move to from `from` (itself not included). */
export function allowedMoves(
  from: TaskStatus,
  heldFrom?: TaskStatus,
): TaskStatus[] {
  const moves: TaskStatus[] = [...(TRANSITIONS[from] ?? [])];
  if (from !== "entered-in-error") moves.push("entered-in-error");
  if (from !== "on-hold" || !heldFrom) return moves;
  // Back to where it was, or straight to work as the spec's diagram draws,
  // but not past an acceptance that never happened.
  const started = ["accepted", "ready", "in-progress"].includes(heldFrom);
  const resume = started ? [heldFrom, "in-progress"] : [heldFrom];
  return moves.filter((s) => !SUSPENDABLE.includes(s) || resume.includes(s));
}

/**
 * Every problem with moving a Task from one status to another; staying in
 * the same status is always fine.
 * @example checkTransition("completed", "in-progress")
 * // [{ message: "Cannot move a Task from completed to in-progress", ... }]
 */
export function checkTransition(
  from: TaskStatus,
  to: TaskStatus,
  change: StatusChange = {},
): Problem[] {
  if (from === to) return [];
  const problems: Problem[] = [];
  if (!TASK_STATUSES.includes(to)) {
    return [{
      message: `${to} is not a Task status`,
      expression: "Task.status",
    }];
  }
  if (!allowedMoves(from, change.heldFrom).includes(to)) {
    problems.push({
      message: `Cannot move a Task from ${from} to ${to}`,
      expression: "Task.status",
    });
  }
  if (REASON_REQUIRED.includes(to) && !hasReason(change.statusReason)) {
    problems.push({
      message: `Cannot move a Task to ${to} without a reason in statusReason`,
      expression: "Task.statusReason",
    });
  }
  return problems;
}

/** Options of {@link checkItemTaskChange}. */
export interface ItemTaskOptions {
  /** The code system of the lab's stages (default {@link STAGE_SYSTEM}). */
  stageSystem?: string;
  /** See {@link StatusChange.heldFrom}. */
  heldFrom?: TaskStatus;
}

/**
 * Every problem with an update of an item Task: the status move, outputs
 * kept as they were, the stage move, and the gates of the quality check
 * (before `ship` starts and before completion) and of shipping.
 */
export function checkItemTaskChange(
  previous: Task,
  next: Task,
  stages: StageDef[],
  options: ItemTaskOptions = {},
): Problem[] {
  const system = options.stageSystem ?? STAGE_SYSTEM;
  const problems = [
    ...checkTransition(previous.status, next.status, {
      statusReason: next.statusReason,
      heldFrom: options.heldFrom,
    }),
    ...checkOutputsKept(previous, next),
    ...checkNewQcResults(previous, next, qcStage(stages)?.checklist),
  ];
  const from = readStage(previous, system);
  if (FINAL_STATUSES.includes(previous.status)) {
    if (readStage(next, system) !== from) {
      problems.push({
        message: `Cannot change the stage of a ${previous.status} Task`,
        expression: "Task.businessStatus",
      });
    }
    return problems;
  }
  problems.push(...checkStageMove(previous, next, stages, system));
  return [...problems, ...checkGates(previous, next, stages, system)];
}

// Outputs are a log (QC results, reworks, shipments) that practices and
// auditors rely on, so an update may append to it but not rewrite it.
function checkOutputsKept(previous: Task, next: Task): Problem[] {
  const problems: Problem[] = [];
  (previous.output ?? []).forEach((output, i) => {
    if (!sameJson(output, next.output?.[i])) {
      problems.push({
        message: `Cannot change or remove output ${i}: outputs are append-only`,
        expression: `Task.output[${i}]`,
      });
    }
  });
  for (const resource of previous.contained ?? []) {
    const kept = next.contained?.find((r) => r.id === resource.id);
    if (!sameJson(resource, kept)) {
      problems.push({
        message: `Cannot change or remove contained ${resource.id}`,
        expression: "Task.contained",
      });
    }
  }
  return problems;
}

function checkGates(
  previous: Task,
  next: Task,
  stages: StageDef[],
  system: string,
): Problem[] {
  const problems: Problem[] = [];
  const add = (message: string, expression = "Task.output") =>
    problems.push({ message, expression });
  const qc = qcStage(stages);
  const qcPassed = !qc || readQcResult(next, qc.checklist!)?.passed === true;
  const stage = readStage(next, system);
  const starting = stage === SHIP_STAGE &&
    readStage(previous, system) !== stage;
  if (starting && !qcPassed) {
    add("Cannot start the ship stage before the quality check has passed");
  }
  if (next.status !== "completed" || previous.status === "completed") {
    return problems;
  }
  const at = stages.findIndex((s) => s.code === stage);
  const left = stages.slice(at + 1).filter((s) => !s.optional);
  if (stages.length > 0 && (at < 0 || left.length > 0)) {
    const last = left.at(-1)?.code ?? stages.at(-1)!.code;
    add(
      `Cannot complete a Task at stage ${stage ?? "none"}: ${last} is not done`,
      "Task.businessStatus",
    );
  }
  if (!qcPassed) add("Cannot complete a Task before the quality check passed");
  const shipping = stages.some((s) => s.code === SHIP_STAGE);
  if (shipping && !readShipping(next)) {
    add("Cannot complete a Task without courier and tracking-number outputs");
  }
  return problems;
}

/**
 * A child Task for one production stage of an item Task, assigned to a
 * technician. It starts `ready`: the spec's state for a Task that has an
 * owner and needs no acceptance.
 */
export function buildStageTask(
  item: Task,
  stage: StageDef,
  owner: Reference<Practitioner>,
  system = STAGE_SYSTEM,
): Task {
  if (!item.id) throw new Error("Cannot build a stage Task: item has no id");
  return {
    resourceType: "Task",
    status: "ready",
    // A filler order: the lab splits its own work on the dentist's order.
    intent: "filler-order",
    code: stageConcept(stage, system),
    partOf: [{ reference: `Task/${item.id}` }],
    basedOn: item.basedOn,
    focus: item.focus,
    for: item.for,
    owner,
  };
}
