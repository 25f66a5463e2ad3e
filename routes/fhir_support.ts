/**
 * Helpers of the FHIR router: responses in `application/fhir+json`,
 * permissions per resource type, and the audit record of a request.
 */
import type { Task } from "@medplum/fhirtypes";
import type { Context } from "hono";
import type { AuditAction, AuditRecord } from "../domain/audit.ts";
import { fail } from "../domain/errors.ts";
import type { Visibility } from "../domain/resources.ts";
import { PRACTICE_SYSTEM } from "../domain/audit.ts";
import { can, type Permission } from "../domain/roles.ts";
import { allows, letterOf } from "../domain/smart_scopes.ts";
import {
  beyondAnswer,
  changedElements,
  TASK_PERMISSIONS,
  TASK_WRITE_NAMES,
  taskWriteNeeds,
} from "../domain/task_access.ts";
import { ON_BEHALF_OF } from "./client_caller.ts";
import { FHIR_ID, type Resource } from "../fhir/types.ts";
import type { AppDeps, AppEnv, Caller } from "./env.ts";
import { network } from "./middleware.ts";

/** The FHIR media type of every response. */
export const FHIR_JSON = "application/fhir+json; charset=utf-8";

/** A FHIR JSON response. */
export function fhirResponse(
  body: unknown,
  status = 200,
  headers: Record<string, string> = {},
): Response {
  return new Response(body === null ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": FHIR_JSON, ...headers },
  });
}

/** ETag, Last-Modified and Location headers of a stored resource. */
export function versionHeaders(
  base: string,
  resource: Resource,
): Record<string, string> {
  const version = resource.meta?.versionId ?? "1";
  return {
    ETag: `W/"${version}"`,
    "Last-Modified": new Date(resource.meta?.lastUpdated ?? Date.now())
      .toUTCString(),
    Location:
      `${base}/${resource.resourceType}/${resource.id}/_history/${version}`,
  };
}

/** The server's origin as the client sees it. */
export function publicOrigin(deps: AppDeps, c: Context): string {
  return deps.publicUrl ?? new URL(c.req.url).origin;
}

/** The base URL of a lab's FHIR endpoint as the client sees it. */
export function fhirBase(deps: AppDeps, c: Context, lab: string): string {
  return `${publicOrigin(deps, c)}/fhir/${lab}`;
}

type Verb = "create" | "read" | "update" | "delete";

const AREA: Record<string, "case" | "patient" | "directory"> = {
  ServiceRequest: "case",
  Task: "case",
  // A work authorization belongs to the case it authorizes: dentists
  // create it, lab staff read it.
  Provenance: "case",
  // Scans, photos and signed prescriptions belong to their case.
  Binary: "case",
  DocumentReference: "case",
  Patient: "patient",
  Practitioner: "directory",
  Organization: "directory",
};

/** Throws 403 unless the caller's role may `verb` resources of `type`. */
export function requirePermission(caller: Caller, type: string, verb: Verb) {
  const role = caller.user.role;
  // A work authorization is evidence of what the dentist signed: it is
  // corrected by a new one, never deleted, whoever asks.
  if (type === "Provenance" && verb === "delete") {
    throw fail.forbidden("A work authorization is never deleted");
  }
  // Which Task write a caller may make depends on the write itself
  // (requireTaskWrite); here, only whether they may make any. A delete
  // is not a write of the workflow: it needs case:delete below.
  if (type === "Task" && (verb === "create" || verb === "update")) {
    if (TASK_PERMISSIONS.some((p) => can(role, p))) return;
    throw fail.forbidden(`The ${role} role may not ${verb} Task`);
  }
  // Taking a Task out of a case is the lab's, like the work it records;
  // the practice withdraws an order instead.
  if (type === "Task" && verb === "delete" && !can(role, "task:edit")) {
    throw fail.forbidden(
      `The ${role} role may not delete a Task; withdraw the order instead`,
    );
  }
  // Writing a work authorization is signing it: the dentist's alone.
  const permission: Permission = type === "Provenance" && verb !== "read"
    ? "case:authorize"
    : `${AREA[type]}:${verb}` as Permission;
  if (!can(role, permission)) {
    throw fail.forbidden(`The ${role} role may not ${verb} ${type}`);
  }
  // A practice system signs for a dentist only when it names one.
  if (
    permission === "case:authorize" && caller.client && !caller.client.dentist
  ) {
    throw fail.forbidden(
      `A work authorization is the dentist's: name them in ${ON_BEHALF_OF}`,
    );
  }
}

/**
 * Throws 403 unless a practice system's scopes allow the interaction
 * (SMART v2 letters: c create, r read and vread and history, u update,
 * s search). People are not scoped: their role decides.
 */
export function requireScope(caller: Caller, type: string, subtype: string) {
  if (!caller.client) return;
  const letter = letterOf(subtype);
  if (letter !== undefined && allows(caller.client.grants, type, letter)) {
    return;
  }
  throw fail.forbidden(
    `The token's scopes do not allow ${subtype} on ${type}` +
      (letter ? `: it needs system/${type}.${letter}` : ""),
  );
}

/**
 * Throws 403 unless the caller may change records of `type`; for a Task,
 * which change it may make is {@link requireTaskWrite}'s to decide.
 */
export function requireUpdate(caller: Caller, type: string) {
  requirePermission(caller, type, "update");
}

/**
 * Throws 403 unless the caller's role grants what this Task write needs
 * (a create when `previous` is undefined). The lab's work by a role
 * without `task:edit` changes only a Task's status elements; the
 * practice's writes are narrower still (domain/task_access.ts).
 */
export function requireTaskWrite(
  caller: Caller,
  previous: Task | undefined,
  next: Task,
) {
  const role = caller.user.role;
  // Sending a Task back unchanged is no work of anyone's: a new version
  // with the same content, as FHIR's update allows.
  if (previous && changedElements(previous, next).length === 0) return;
  const needed = taskWriteNeeds(previous, next);
  if (!can(role, needed)) {
    throw fail.forbidden(
      `The ${role} role may not ${TASK_WRITE_NAMES[needed]}`,
    );
  }
  const extra = needed === "task:answer" && previous
    ? beyondAnswer(previous, next)[0]
    : undefined;
  if (extra) {
    throw fail.forbidden(
      `An answer to a design approval changes its status, statusReason and ` +
        `note only, not ${extra}`,
    );
  }
  if (previous && needed === "task:work" && !can(role, "task:edit")) {
    const other = changedElements(previous, next).find((e) =>
      !STATUS_FIELDS.has(e)
    );
    if (other) {
      throw fail.forbidden(
        `The ${role} role may change only the status of a Task, not ${other}`,
      );
    }
  }
}

// The status elements of a Task: the lab's work on it, nothing of the order.
const STATUS_FIELDS = new Set([
  "status",
  "businessStatus",
  "statusReason",
  "owner",
  "lastModified",
  "executionPeriod",
  // The work log: QC results, reworks and shipments, with the contained
  // records they point to. Append-only, enforced by the workflow rules.
  "output",
  "contained",
  // Enclosures that arrived at the bench; append-only as well
  // (domain/enclosures.ts).
  "input",
]);

/** What a dentist may see: their practice's records. */
export function visibilityOf(caller: Caller): Visibility {
  return caller.user.role === "dentist"
    ? { practice: caller.user.practice ?? "-" }
    : {};
}

/** The patient a resource is about, for the audit trail. */
export function patientOf(resource: Resource): string | undefined {
  if (resource.resourceType === "Patient") return resource.id;
  const r = resource as {
    subject?: { reference?: string };
    for?: { reference?: string };
    securityContext?: { reference?: string };
  };
  const ref = r.subject?.reference ?? r.for?.reference ??
    r.securityContext?.reference;
  const id = ref?.startsWith("Patient/") ? ref.slice("Patient/".length) : "";
  return FHIR_ID.test(id) ? id : undefined;
}

/** An audit record draft for a FHIR interaction by the caller. */
export function auditDraft(
  c: Context<AppEnv>,
  lab: string,
  subtype: string,
  action: AuditAction,
  extra: Partial<AuditRecord> = {},
): Omit<AuditRecord, "id" | "recorded"> {
  const caller = c.var.caller;
  return {
    subtype,
    action,
    outcome: "0",
    agent: {
      who: caller?.user.username ?? "anonymous",
      role: caller?.client ? PRACTICE_SYSTEM : caller?.user.role,
      ...(caller?.client?.dentist ? { onBehalfOf: caller.client.dentist } : {}),
    },
    network: network(c),
    lab,
    ...extra,
  };
}

/**
 * The FHIR interaction a request path names, for auditing requests refused
 * before their handler ran (no access to the lab, no valid token).
 */
export function interactionOf(
  method: string,
  pathname: string,
): { subtype: string; action: AuditAction; type?: string; id?: string } {
  const [, , , type, id, history, vid] = pathname.split("/");
  if (method === "GET" && type && !id) {
    return { subtype: "search-type", action: "E", type };
  }
  if (method === "POST" && id === "_search") {
    return { subtype: "search-type", action: "E", type };
  }
  if (method === "POST" && type && !id) {
    return { subtype: "create", action: "C", type };
  }
  if (method === "PUT") return { subtype: "update", action: "U", type, id };
  if (method === "PATCH") return { subtype: "patch", action: "U", type, id };
  if (method === "DELETE") return { subtype: "delete", action: "D", type, id };
  if (method === "GET" && id === "_history") {
    return { subtype: "history-type", action: "R", type };
  }
  if (method === "GET" && history === "_history") {
    return vid
      ? { subtype: "vread", action: "R", type, id }
      : { subtype: "history-instance", action: "R", type, id };
  }
  if (method === "GET" && id) return { subtype: "read", action: "R", type, id };
  // An operation such as $validate: the "id" segment is its name.
  return {
    subtype: "operation",
    action: "E",
    type,
    id: id?.startsWith("$") ? undefined : id,
  };
}
