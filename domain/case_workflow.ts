/**
 * Applies the workflow rules (task_workflow.ts, stages.ts,
 * design_approval.ts) to Tasks as they are written through the FHIR API:
 * every Task follows the FHIR status machine; an item Task, whose focus is
 * a prescription naming a catalog product and which is part of no other
 * Task, also moves through that product's stages with its quality-check
 * and shipping gates; a design approval follows its own rules. Any other
 * Task may carry the try-in and enclosure logs (try_ins.ts,
 * enclosures.ts), checked on every write.
 */
import type { ServiceRequest, Task } from "@medplum/fhirtypes";
import { catalogSystem, getProduct, type Product } from "./catalog.ts";
import {
  checkDesignApproval,
  checkDesignApprovalChange,
  isDesignApproval,
} from "./design_approval.ts";
import { checkEnclosures } from "./enclosures.ts";
import { fail, type Problem } from "./errors.ts";
import { keys } from "./kv_keys.ts";
import type { StoreDeps, StoredResource } from "./resources.ts";
import { sameJson } from "./stages.ts";
import {
  checkItemTaskChange,
  checkTransition,
  type TaskStatus,
} from "./task_workflow.ts";
import { checkTryIns } from "./try_ins.ts";

/** Canonical URL of a lab's production stage codes (`businessStatus`). */
export function stageSystem(lab: string): string {
  return `https://lhcms.dev/fhir/lab/${lab}/CodeSystem/stages`;
}

/** Checks a new Task; throws 422 listing every problem. */
export function checkNewTask(task: Task): void {
  if (isDesignApproval(task)) refuse("create", checkDesignApproval(task));
  else refuse("create", checkLogs(undefined, task));
}

// Later statuses are reached by updates, where the gates are checked.
const OPENING_STATUSES: readonly TaskStatus[] = [
  "draft",
  "requested",
  "received",
  "ready",
];

/**
 * Checks a new Task of a case (its focus `request`, read by requestOf, a
 * catalog prescription): it starts at the beginning, for the
 * prescription's patient, with an empty work log, and an item Task is the
 * prescription's only one. Returns what
 * the create's commit must claim, so two item Tasks sent at once cannot
 * both land; throws 422 listing every problem.
 */
export async function checkNewCaseTask(
  deps: StoreDeps,
  lab: string,
  task: Task,
  request: ServiceRequest | undefined,
): Promise<((op: Deno.AtomicOperation) => void) | undefined> {
  if (!request || !(await productOfRequest(deps, lab, request))) return;
  const problems: Problem[] = [];
  if (!OPENING_STATUSES.includes(task.status)) {
    problems.push({
      message: `A Task of a case starts as ${OPENING_STATUSES.join(", ")}; ` +
        `${task.status} is reached by updating it`,
      expression: "Task.status",
    });
  }
  const patient = request.subject?.reference;
  if (task.for?.reference && task.for.reference !== patient) {
    problems.push({
      message: `Task.for must be the prescription's patient (${patient})`,
      expression: "Task.for",
    });
  }
  if ((task.output ?? []).length > 0) {
    problems.push({
      message: "A new Task of a case has no output: its log is appended to " +
        "as the work is done",
      expression: "Task.output",
    });
  }
  // Where such a Task sits is domain/task_links.ts's to check.
  if (isPartOfTask(task) || isDesignApproval(task)) {
    refuse("create", problems);
    return;
  }
  if (task.businessStatus) {
    problems.push({
      message: "A new item Task has no stage: businessStatus follows the " +
        "stages as the work moves",
      expression: "Task.businessStatus",
    });
  }
  const claim = keys.itemTaskOf(lab, request.id!);
  const held = await deps.kv.get(claim);
  // A claim outlives a Task deleted or entered in error: the item may then
  // be ordered again.
  if (held.value !== null && await hasItemTask(deps, lab, request.id!)) {
    problems.push({
      message: `ServiceRequest/${request.id} already has its item Task`,
      expression: "Task.focus",
    });
  }
  refuse("create", problems);
  return (op) =>
    op.check({ key: claim, versionstamp: held.versionstamp }).set(claim, true);
}

/** Whether a live item Task works on the prescription `requestId`. */
async function hasItemTask(deps: StoreDeps, lab: string, requestId: string) {
  const prefix = keys.resourcesByParam(lab, "Task", "focus", [
    `ServiceRequest/${requestId}`,
  ]);
  for await (const entry of deps.kv.list({ prefix })) {
    const task = await current<Task>(
      deps,
      lab,
      "Task",
      String(entry.key.at(-1)),
    );
    if (task && !isPartOfTask(task) && task.status !== "entered-in-error") {
      return true;
    }
  }
  return false;
}

/** The current version of a record, unless it is missing or deleted. */
async function current<T>(
  deps: StoreDeps,
  lab: string,
  type: string,
  id: string,
): Promise<T | undefined> {
  const key = keys.resource(lab, type, id);
  const stored = (await deps.kv.get<StoredResource>(key)).value;
  if (!stored || stored.deleted) return undefined;
  return await deps.keyRing.open<T>(lab, key, "resource", stored.body);
}

// What ties a Task to its case; changing it would move the Task, with its
// stage and gates, onto another prescription or patient.
const ANCHORS = ["focus", "for", "partOf"] as const;

function anchorProblems(previous: Task, next: Task): Problem[] {
  return ANCHORS.filter((element) =>
    !sameJson(previous[element], next[element])
  ).map((element) => ({
    message: `Cannot change ${element} of a Task of a case`,
    expression: `Task.${element}`,
  }));
}

/** The problems with the try-in and enclosure logs of a write. */
function checkLogs(previous: Task | undefined, next: Task): Problem[] {
  return [...checkTryIns(previous, next), ...checkEnclosures(previous, next)];
}

/** Checks a Task update against the workflow; throws 422 listing problems. */
export async function checkTaskUpdate(
  deps: StoreDeps,
  lab: string,
  previous: Task,
  next: Task,
): Promise<void> {
  const product = await productOf(deps, lab, previous);
  const ofCase = product !== undefined ||
    (!sameJson(previous.focus, next.focus) &&
      (await productOf(deps, lab, next)) !== undefined);
  const anchors = ofCase ? anchorProblems(previous, next) : [];
  if (isDesignApproval(previous)) {
    return refuse("update", [
      ...anchors,
      ...checkDesignApprovalChange(previous, next),
    ]);
  }
  // A stage Task shares its item's focus but is part of the item: only
  // the item Task itself goes through the product's stages and gates, and
  // neither may leave its place by a change of partOf.
  const item = product && !isPartOfTask(previous);
  const heldFrom = await heldFromOf(deps, lab, previous);
  const problems = item
    ? checkItemTaskChange(previous, next, product.stages, {
      stageSystem: stageSystem(lab),
      heldFrom,
    })
    : checkTransition(previous.status, next.status, {
      statusReason: next.statusReason,
      heldFrom,
    });
  // A stage Task's code was checked against the catalog when it was made.
  if (product && !item && !sameJson(previous.code, next.code)) {
    problems.push({
      message: "Cannot change the code of a stage Task",
      expression: "Task.code",
    });
  }
  refuse("update", [...anchors, ...problems, ...checkLogs(previous, next)]);
}

/**
 * The status an on-hold Task was in before its hold, from its history, so
 * it resumes where it was (https://hl7.org/fhir/R4/task.html#statemachine).
 */
async function heldFromOf(
  deps: StoreDeps,
  lab: string,
  task: Task,
): Promise<TaskStatus | undefined> {
  if (task.status !== "on-hold" || !task.id) return undefined;
  // The whole history if need be: a resume must not be allowed for want of
  // an answer.
  const versions = deps.kv.list<StoredResource>(
    { prefix: keys.resourceVersions(lab, "Task", task.id) },
    { reverse: true },
  );
  for await (const entry of versions) {
    if (entry.value.deleted) continue;
    const version = await deps.keyRing.open<Task>(
      lab,
      entry.key,
      "resource",
      entry.value.body,
    );
    if (version.status !== "on-hold") return version.status;
  }
  return undefined;
}

function refuse(verb: string, problems: Problem[]) {
  if (problems.length > 0) {
    throw fail.unprocessable(`Cannot ${verb} Task`, problems);
  }
}

function isPartOfTask(task: Task): boolean {
  return task.partOf?.some((p) => p.reference?.startsWith("Task/")) ?? false;
}

/** The prescription a Task works on (its focus), if any. */
export async function requestOf(
  deps: StoreDeps,
  lab: string,
  task: Task,
): Promise<ServiceRequest | undefined> {
  const ref = task.focus?.reference;
  if (!ref?.startsWith("ServiceRequest/")) return undefined;
  return await current<ServiceRequest>(
    deps,
    lab,
    "ServiceRequest",
    ref.slice(15),
  );
}

/** The catalog product of the prescription an item Task works on. */
export async function productOf(
  deps: StoreDeps,
  lab: string,
  task: Task,
): Promise<Product | undefined> {
  const request = await requestOf(deps, lab, task);
  return request ? await productOfRequest(deps, lab, request) : undefined;
}

async function productOfRequest(
  deps: StoreDeps,
  lab: string,
  request: ServiceRequest,
): Promise<Product | undefined> {
  const system = catalogSystem(lab);
  const code = request.code?.coding?.find((c) => c.system === system)?.code;
  return code ? await getProduct(deps.kv, lab, code) : undefined;
}
