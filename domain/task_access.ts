/**
 * Which permission of domain/roles.ts a Task write needs, so that the role
 * matrix alone decides who may make it. The practice orders an item, may
 * withdraw the order before the lab starts it, and answers the lab's
 * design approvals; every other Task write is the lab's work.
 */
import type { Task } from "@medplum/fhirtypes";
import { isDesignApproval } from "./design_approval.ts";
import type { Permission } from "./roles.ts";
import { sameJson } from "./stages.ts";
import type { TaskStatus } from "./task_workflow.ts";

/** What each Task permission lets a caller do, for refusals. */
export const TASK_WRITE_NAMES: Record<TaskPermission, string> = {
  "task:order": "order the lab's work (a new requested Task)",
  "task:withdraw": "cancel an order before the lab starts it",
  "task:answer": "approve or reject a design",
  "task:work":
    "do the lab's work on a Task (its status, stage, work log, stage Tasks and design approval requests)",
};

/** The permissions that {@link taskWriteNeeds} returns. */
export type TaskPermission = Extract<
  Permission,
  "task:order" | "task:withdraw" | "task:answer" | "task:work"
>;

/** Every permission a Task write may need. */
export const TASK_PERMISSIONS = Object.keys(
  TASK_WRITE_NAMES,
) as TaskPermission[];

// An order leaves these to the lab: the stage, the work log, the
// enclosures that arrive, and a place under another Task.
const LAB_ELEMENTS = [
  "partOf",
  "businessStatus",
  "statusReason",
  "output",
  "input",
  "contained",
] as const;

// Before the lab starts: an order withdrawn then costs the lab nothing.
const NOT_STARTED: TaskStatus[] = [
  "draft",
  "requested",
  "received",
  "accepted",
];

const WITHDRAWAL = new Set(["status", "statusReason", "lastModified"]);
const ANSWER = new Set(["status", "statusReason", "note", "lastModified"]);

/**
 * The one permission a Task write needs: a create when `previous` is
 * undefined, else an update from `previous` to `next`.
 */
export function taskWriteNeeds(
  previous: Task | undefined,
  next: Task,
): TaskPermission {
  if (!previous) return isOrder(next) ? "task:order" : "task:work";
  // Approving or rejecting is the practice's answer however the write is
  // dressed: other changes alongside it do not make it the lab's work.
  if (isDesignApproval(previous)) {
    const answering = next.status !== previous.status &&
      ["completed", "rejected"].includes(next.status);
    return answering ? "task:answer" : "task:work";
  }
  const withdrawing = !previous.partOf && next.status === "cancelled" &&
    NOT_STARTED.includes(previous.status) &&
    changesOnly(previous, next, WITHDRAWAL);
  return withdrawing ? "task:withdraw" : "task:work";
}

function isOrder(task: Task): boolean {
  return task.status === "requested" && !isDesignApproval(task) &&
    LAB_ELEMENTS.every((element) => task[element] === undefined);
}

/**
 * The elements an answer to a design approval changes beyond what an
 * answer may: its status, reason, note and time.
 */
export function beyondAnswer(previous: Task, next: Task): string[] {
  return changedElements(previous, next).filter((e) => !ANSWER.has(e));
}

function changesOnly(previous: Task, next: Task, allowed: Set<string>) {
  return changedElements(previous, next).every((e) => allowed.has(e));
}

/**
 * The top-level elements in which two versions of a resource differ. The
 * server sets `meta.versionId` and `meta.lastUpdated` itself, so a client
 * echoing stale values changes nothing; security labels and tags do.
 */
export function changedElements(previous: object, next: object): string[] {
  const before = withoutServerMeta(previous);
  const after = withoutServerMeta(next);
  const elements = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...elements].filter((e) => !sameJson(before[e], after[e]));
}

function withoutServerMeta(resource: object): Record<string, unknown> {
  const { meta, ...rest } = resource as { meta?: object };
  const { versionId: _v, lastUpdated: _l, ...kept } = (meta ?? {}) as Record<
    string,
    unknown
  >;
  return Object.keys(kept).length > 0 ? { ...rest, meta: kept } : rest;
}
