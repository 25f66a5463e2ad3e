/**
 * Design approval for CAD work: the lab attaches a design to a child Task
 * of the item Task, owned by the dentist, and the practice system approves
 * it (completed) or rejects it with a reason (rejected + statusReason).
 */
import type {
  Attachment,
  CodeableConcept,
  Practitioner,
  Reference,
  Task,
} from "@medplum/fhirtypes";
import type { Problem } from "./errors.ts";
import { hasReason, sameJson } from "./stages.ts";
import { checkTransition, type TaskStatus } from "./task_workflow.ts";

/** LHCMS code system of `Task.code` for Tasks other than stages. */
export const TASK_CODE_SYSTEM = "https://lhcms.dev/fhir/CodeSystem/task-code";

/** LHCMS code system of `Task.input.type`. */
export const TASK_INPUT_SYSTEM = "https://lhcms.dev/fhir/CodeSystem/task-input";

/** `Task.code` of a design approval Task. */
export const DESIGN_APPROVAL: CodeableConcept = {
  coding: [{
    system: TASK_CODE_SYSTEM,
    code: "design-approval",
    display: "Design approval",
  }],
};

const DESIGN_INPUT: CodeableConcept = {
  coding: [{ system: TASK_INPUT_SYSTEM, code: "design", display: "Design" }],
};

/** What the lab gives to ask a dentist to approve a design. */
export interface DesignApprovalInput {
  /** The item Task; it must have an id. */
  item: Task;
  /** The dentist's Practitioner. */
  dentist: Reference<Practitioner>;
  /** The design to review: a URL or inline data, with its content type. */
  design: Attachment;
  /** FHIR dateTime of the request. */
  authoredOn: string;
  /** Who asks, usually the lab's Organization. */
  requester?: Task["requester"];
}

/** A new design approval Task, `requested` and owned by the dentist. */
export function buildDesignApproval(input: DesignApprovalInput): Task {
  const { item } = input;
  if (!item.id) throw new Error("Cannot ask for approval: item has no id");
  return {
    resourceType: "Task",
    status: "requested",
    intent: "order",
    code: DESIGN_APPROVAL,
    partOf: [{ reference: `Task/${item.id}` }],
    basedOn: item.basedOn,
    focus: item.focus,
    for: item.for,
    authoredOn: input.authoredOn,
    requester: input.requester,
    owner: input.dentist,
    input: [{ type: DESIGN_INPUT, valueAttachment: input.design }],
  };
}

/** The dentist's approval: the Task completed at `when`. */
export function approveDesign(task: Task, when: string): Task {
  const { statusReason: _dropped, ...rest } = task;
  return { ...rest, status: "completed", lastModified: when };
}

/** The dentist's refusal: the Task rejected with the reason, at `when`. */
export function rejectDesign(
  task: Task,
  reason: CodeableConcept,
  when: string,
): Task {
  return {
    ...task,
    status: "rejected",
    statusReason: reason,
    lastModified: when,
  };
}

/** Where a design approval stands, for the lab's screens. */
export type DesignApprovalState =
  | "pending"
  | "approved"
  | "rejected"
  | "withdrawn";

/** The state of a design approval Task. */
export function designApprovalState(task: Task): DesignApprovalState {
  if (task.status === "completed") return "approved";
  if (task.status === "rejected") return "rejected";
  const finished = ["failed", "cancelled", "entered-in-error"];
  return finished.includes(task.status) ? "withdrawn" : "pending";
}

/** True when the Task is a design approval. */
export function isDesignApproval(task: Task): boolean {
  return task.code?.coding?.some((c) =>
    c.system === TASK_CODE_SYSTEM && c.code === "design-approval"
  ) ?? false;
}

/** Every problem with a new design approval Task. */
export function checkDesignApproval(task: Task): Problem[] {
  const problems: Problem[] = [];
  const add = (ok: boolean, message: string, expression: string) => {
    if (!ok) problems.push({ message, expression });
  };
  add(isDesignApproval(task), "code must be design-approval", "Task.code");
  add(
    task.status === "requested",
    "A design approval starts as requested",
    "Task.status",
  );
  add(
    task.partOf?.length === 1 && isRef(task.partOf[0], "Task"),
    "partOf must name the one item Task",
    "Task.partOf",
  );
  add(
    isRef(task.owner, "Practitioner"),
    "owner must be the dentist's Practitioner",
    "Task.owner",
  );
  const design = task.input?.find((i) =>
    i.type?.coding?.some((c) =>
      c.system === TASK_INPUT_SYSTEM && c.code === "design"
    )
  );
  add(
    Boolean(
      design?.valueAttachment?.url || design?.valueAttachment?.data ||
        design?.valueReference?.reference,
    ),
    "A design approval needs a design input",
    "Task.input",
  );
  return problems;
}

function isRef(ref: Reference | undefined, type: string): boolean {
  return new RegExp(`(^|/)${type}/[^/]+$`).test(ref?.reference ?? "");
}

/** Where a new design approval's owner and prescription belong. */
export interface ApprovalParties {
  /** The practice of the prescription in focus; undefined when none. */
  practice?: string;
  /** The owner's Practitioner: its practice, undefined for the lab's own. */
  owner?: { practice?: string };
}

/**
 * The owner must be a Practitioner of the prescription's practice, whose
 * dentists answer the approval: not one of the lab's own, nor of another
 * practice. A Practitioner belongs to the practice whose dentist created
 * it; the lab's own belong to no practice.
 */
export function checkApprovalOwner(parties: ApprovalParties): Problem[] {
  const ok = parties.practice !== undefined && parties.owner !== undefined &&
    parties.owner.practice === parties.practice;
  return ok ? [] : [{
    message: "owner must be a Practitioner of the prescription's practice",
    expression: "Task.owner",
  }];
}

// What the request is about, and who answers it, stay as the lab asked;
// the practice answers with status, statusReason, note and times only.
const FROZEN = ["code", "partOf", "input", "focus", "for", "owner"] as const;

// The practice answers (completed, rejected); the lab withdraws
// (cancelled). domain/task_access.ts says who makes which move.
const MOVES: TaskStatus[] = ["completed", "rejected", "cancelled"];

// An approval is a single event, like a checklist box the spec describes
// for such Tasks, so it may be completed without being accepted first.
const APPROVABLE: TaskStatus[] = ["requested", "received", "accepted"];

/** Every problem with an update of a design approval Task. */
export function checkDesignApprovalChange(
  previous: Task,
  next: Task,
): Problem[] {
  const problems: Problem[] = [];
  for (const element of FROZEN) {
    if (!sameJson(previous[element], next[element])) {
      problems.push({
        message: `Cannot change ${element} of a design approval`,
        expression: `Task.${element}`,
      });
    }
  }
  if (next.status !== previous.status && !MOVES.includes(next.status)) {
    problems.push({
      message:
        `Cannot move a design approval to ${next.status}: it is answered (completed, rejected) or withdrawn (cancelled)`,
      expression: "Task.status",
    });
  }
  const approving = next.status === "completed" &&
    APPROVABLE.includes(previous.status);
  if (!approving) {
    problems.push(...checkTransition(previous.status, next.status, next));
  }
  return problems;
}

/** The dentist's reason for a rejection, if the Task gives one. */
export function rejectionReason(task: Task): CodeableConcept | undefined {
  return task.status === "rejected" && hasReason(task.statusReason)
    ? task.statusReason
    : undefined;
}
