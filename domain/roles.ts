/**
 * Roles and their permissions, written once (the HIPAA design's matrix).
 * A dentist prescribes (creates and updates prescriptions), orders the
 * lab's work on them, may withdraw an order before work starts, answers
 * the lab's design approvals and alone authorizes the work; the lab (lab
 * admin and technician) does that work: statuses, stages, the work log,
 * stage Tasks and design approval requests; a technician changes a Task's
 * status elements only. A viewer views; an admin does everything the lab
 * does; a compliance officer reads audit data and nothing clinical.
 */

/** The roles a user can hold. */
export const ROLES = [
  "admin",
  "lab_admin",
  "lab_technician",
  "dentist",
  "compliance_officer",
  "viewer",
] as const;

/** One of {@link ROLES}. */
export type Role = typeof ROLES[number];

/**
 * What a caller may do. `case` covers prescriptions (ServiceRequest) and
 * reading Tasks; `task` the writes of Tasks, which domain/task_access.ts
 * sorts into these permissions.
 */
export type Permission =
  | "case:create"
  | "case:read"
  | "case:update"
  | "case:authorize"
  | "case:delete"
  /** Create an item Task, `requested`, with none of the lab's elements. */
  | "task:order"
  /** Cancel an item Task, with a reason, before the lab starts it. */
  | "task:withdraw"
  /** Approve (complete) or reject, with a reason, a design approval. */
  | "task:answer"
  /**
   * The lab's work: any status move, stages, the work log (QC, rework,
   * shipping, try-ins, enclosures), stage Tasks, and asking for and
   * withdrawing design approvals.
   */
  | "task:work"
  /** Change a Task's other elements too, beyond its status elements. */
  | "task:edit"
  | "patient:create"
  | "patient:read"
  | "patient:update"
  | "patient:delete"
  | "directory:create"
  | "directory:read"
  | "directory:update"
  | "directory:delete"
  | "audit:read"
  | "catalog:manage"
  | "admin:manage";

const PRACTICE_RECORDS: Permission[] = [
  "case:create",
  "case:read",
  "case:update",
  "patient:create",
  "patient:read",
  "patient:update",
  "directory:create",
  "directory:read",
  "directory:update",
];

// Deleting is soft (every version stays readable), but takes a record out
// of reads and searches: the lab's admins and, for their practice's own
// records only, its dentists (domain/resources.ts), never the bench or
// read-only roles.
const DELETE_ALL: Permission[] = [
  "case:delete",
  "patient:delete",
  "directory:delete",
];

// The lab may also call off an order it has not started (a duplicate, a
// case the practice cancelled by phone), as the practice may.
const LAB_WORK: Permission[] = [
  ...PRACTICE_RECORDS,
  "task:order",
  "task:withdraw",
  "task:work",
  "task:edit",
];

const MATRIX: Record<Role, ReadonlySet<Permission>> = {
  admin: new Set([
    ...LAB_WORK,
    ...DELETE_ALL,
    "audit:read",
    "catalog:manage",
    "admin:manage",
  ]),
  // A lab admin also keeps the lab's catalog, calendar and practice settings.
  lab_admin: new Set([...LAB_WORK, ...DELETE_ALL, "catalog:manage"]),
  lab_technician: new Set([
    "case:read",
    "task:work",
    "patient:read",
    "directory:read",
  ]),
  // The work authorization and the answer to a design approval are the
  // dentist's own decisions, so no lab role, not even admin, makes them;
  // the lab's work on an order is the lab's, so the dentist does not.
  dentist: new Set([
    ...PRACTICE_RECORDS,
    "case:authorize",
    "task:order",
    "task:withdraw",
    "task:answer",
    ...DELETE_ALL,
  ]),
  compliance_officer: new Set(["audit:read"]),
  viewer: new Set(["case:read", "patient:read", "directory:read"]),
};

/** True when `role` grants `permission`. */
export function can(role: Role, permission: Permission): boolean {
  return MATRIX[role].has(permission);
}

/** Type guard for role names arriving from requests or the command line. */
export function isRole(value: unknown): value is Role {
  return typeof value === "string" &&
    (ROLES as readonly string[]).includes(value);
}
