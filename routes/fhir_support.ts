/**
 * Helpers of the FHIR router: responses in `application/fhir+json`,
 * permissions per resource type, and the audit record of a request.
 */
import type { Context } from "hono";
import type { AuditAction, AuditRecord } from "../domain/audit.ts";
import { fail } from "../domain/errors.ts";
import type { Visibility } from "../domain/resources.ts";
import { can, type Permission } from "../domain/roles.ts";
import { FHIR_ID, isStoredType, type Resource } from "../fhir/types.ts";
import type { AppDeps, AppEnv, Caller, Interaction } from "./env.ts";
import { network } from "./middleware.ts";

/** The largest request body any route reads (`app.ts` enforces it). */
export const MAX_BODY_BYTES = 1_000_000;

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

/** The base URL of a lab's FHIR endpoint as the client sees it. */
export function fhirBase(deps: AppDeps, c: Context, lab: string): string {
  const origin = deps.publicUrl ?? new URL(c.req.url).origin;
  return `${origin}/fhir/${lab}`;
}

type Verb = "create" | "read" | "update";

const AREA: Record<string, "case" | "patient" | "directory"> = {
  ServiceRequest: "case",
  Task: "case",
  // A work authorization belongs to the case it authorizes: dentists
  // create it, lab staff read it.
  Provenance: "case",
  Patient: "patient",
  Practitioner: "directory",
  Organization: "directory",
};

/** Throws 403 unless the caller's role may `verb` resources of `type`. */
export function requirePermission(caller: Caller, type: string, verb: Verb) {
  // Writing a work authorization is signing it: the dentist's alone.
  const permission: Permission = type === "Provenance" && verb !== "read"
    ? "case:authorize"
    : `${AREA[type]}:${verb}` as Permission;
  if (!can(caller.user.role, permission)) {
    throw fail.forbidden(
      `The ${caller.user.role} role may not ${verb} ${type}`,
    );
  }
}

/** Whether the caller may only change a Task's status fields. */
export function statusOnly(caller: Caller, type: string): boolean {
  return type === "Task" && !can(caller.user.role, "case:update") &&
    can(caller.user.role, "case:update_status");
}

// A technician "updates case status": these Task elements and nothing else.
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

/**
 * Refuses a Task change that touches more than its status elements. The
 * server sets `meta.versionId` and `meta.lastUpdated` itself, so a client
 * echoing stale values is no change; security labels and tags are.
 */
export function checkStatusOnlyChange(previous: Resource, next: Resource) {
  const before = withoutServerMeta(previous);
  const after = withoutServerMeta(next);
  const fields = new Set([...Object.keys(before), ...Object.keys(after)]);
  for (const field of fields) {
    if (STATUS_FIELDS.has(field)) continue;
    if (JSON.stringify(before[field]) !== JSON.stringify(after[field])) {
      throw fail.forbidden(
        `A technician may change only the status of a Task, not ${field}`,
      );
    }
  }
}

function withoutServerMeta(resource: Resource): Record<string, unknown> {
  const { meta, ...rest } = resource as Resource & { meta?: object };
  const { versionId: _v, lastUpdated: _l, ...kept } = (meta ?? {}) as Record<
    string,
    unknown
  >;
  return Object.keys(kept).length > 0 ? { ...rest, meta: kept } : rest;
}

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
  };
  const ref = r.subject?.reference ?? r.for?.reference;
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
      role: caller?.user.role,
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

/** Reads lab, type and id from the path and notes the interaction for the audit. */
export function begin(
  c: Context<AppEnv>,
  subtype: string,
  action: Interaction["action"],
): { lab: string; type: string; id?: string } {
  const lab = c.req.param("lab") as string;
  const type = c.req.param("type") as string;
  const id = c.req.param("id");
  c.set("interaction", { lab, subtype, action, entity: { type, id } });
  // An unsupported type is a 404, as for any unknown FHIR endpoint
  // (https://hl7.org/fhir/R4/http.html#create).
  if (!isStoredType(type)) {
    throw fail.notFound(`Resource type ${type} is not supported`);
  }
  if (id !== undefined && !FHIR_ID.test(id)) {
    throw fail.invalid("The id is not a valid FHIR id");
  }
  return { lab, type, id };
}

/** The request body, refused unless it is FHIR JSON within the size limit. */
export async function bodyText(c: Context): Promise<string> {
  const contentType = c.req.header("Content-Type") ?? "";
  if (!/^application\/(fhir\+)?json\b/.test(contentType)) {
    throw fail.unsupportedMediaType(
      "Content-Type must be application/fhir+json",
    );
  }
  const text = await c.req.text();
  if (text.length > MAX_BODY_BYTES) throw fail.invalid("The body is too large");
  return text;
}
