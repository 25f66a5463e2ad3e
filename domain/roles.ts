/**
 * Roles and their permissions, written once (the HIPAA design's matrix):
 * a dentist creates, views and updates cases and alone authorizes the work
 * on a prescription; a technician views cases and updates case status; a viewer views; an admin does everything; a
 * compliance officer reads audit data and nothing clinical.
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

/** What a caller may do. `case` covers ServiceRequest and Task. */
export type Permission =
  | "case:create"
  | "case:read"
  | "case:update"
  | "case:update_status"
  | "case:authorize"
  | "case:delete"
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

const CLINICAL_ALL: Permission[] = [
  "case:create",
  "case:read",
  "case:update",
  "case:update_status",
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

const MATRIX: Record<Role, ReadonlySet<Permission>> = {
  admin: new Set([
    ...CLINICAL_ALL,
    ...DELETE_ALL,
    "audit:read",
    "catalog:manage",
    "admin:manage",
  ]),
  // A lab admin also keeps the lab's catalog, calendar and practice settings.
  lab_admin: new Set([...CLINICAL_ALL, ...DELETE_ALL, "catalog:manage"]),
  lab_technician: new Set([
    "case:read",
    "case:update_status",
    "patient:read",
    "directory:read",
  ]),
  // The work authorization is the dentist's own attestation, so no lab
  // role, not even admin, can record one.
  dentist: new Set([
    "case:create",
    "case:read",
    "case:update",
    "case:update_status",
    "case:authorize",
    "patient:create",
    "patient:read",
    "patient:update",
    "directory:create",
    "directory:read",
    "directory:update",
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
