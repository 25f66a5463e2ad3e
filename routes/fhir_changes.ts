/**
 * The FHIR writes beyond plain create and update: conditional create
 * (`If-None-Exist`), conditional update (`PUT {type}?...`), patch (JSON
 * Patch and FHIRPath Patch) and soft delete. Each goes through the write
 * paths of fhir_write.ts and leaves one audit record.
 */
import type { Context } from "hono";
import { auditRecord, commitAudit } from "../domain/audit.ts";
import {
  type Condition,
  matchCondition,
  parseCondition,
  refuseSeveral,
} from "../domain/conditional.ts";
import { fail, LhcmsError } from "../domain/errors.ts";
import { deleteResource, readResource } from "../domain/resources.ts";
import { applyFhirPathPatch, applyJsonPatch } from "../fhir/patch.ts";
import type { Resource } from "../fhir/types.ts";
import { parseResource } from "../fhir/validate.ts";
import type { AppDeps, AppEnv } from "./env.ts";
import {
  auditDraft,
  fhirBase,
  patientOf,
  requirePermission,
  requireUpdate,
  visibilityOf,
} from "./fhir_support.ts";
import {
  begin,
  bodyText,
  parseIfMatch,
  respondToDelete,
  respondWithResource,
} from "./fhir_request.ts";
import { storeCreate, storeUpdate, type Written } from "./fhir_write.ts";

// Each lost race means another request committed, whose record the next
// search finds; the bound only stops a pathological loop.
const MAX_ATTEMPTS = 30;

/**
 * A create that applies only when `If-None-Exist` matches nothing: 201
 * with the new record, 200 with the one record that matches, 412 when
 * several do.
 */
export async function conditionalCreate(
  deps: AppDeps,
  c: Context<AppEnv>,
  lab: string,
  resource: Resource,
  ifNoneExist: string,
) {
  const visibility = visibilityOf(c.var.caller);
  const condition = await parseCondition(
    deps,
    lab,
    resource.resourceType,
    ifNoneExist,
    visibility,
  );
  const base = fhirBase(deps, c, lab);
  const outcome = await writeUnlessMatched(
    deps,
    lab,
    condition,
    c,
    (claim) => storeCreate(deps, c, lab, structuredClone(resource), claim),
  );
  if ("written" in outcome) {
    const { resource: created, warnings } = outcome.written;
    return respondWithResource(c, created, 201, base, warnings);
  }
  await auditMatch(deps, c, lab, "create", outcome.match, condition);
  return respondWithResource(c, outcome.match, 200, base);
}

/**
 * Runs `create` with the condition's claim when nothing matches, or gives
 * back the one match. Throws 412 when several match.
 */
async function writeUnlessMatched(
  deps: AppDeps,
  lab: string,
  condition: Condition,
  c: Context<AppEnv>,
  create: (claim: (op: Deno.AtomicOperation) => void) => Promise<Written>,
): Promise<{ written: Written } | { match: Resource }> {
  const visibility = visibilityOf(c.var.caller);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const { matches, claim } = await matchCondition(
      deps,
      lab,
      condition,
      visibility,
      deps.clock(),
    );
    refuseSeveral(condition, matches);
    if (matches.length === 1) return { match: matches[0] };
    try {
      const written = await create(claim);
      deps.auditWake({ lab });
      return { written };
    } catch (error) {
      if (!(error instanceof LhcmsError && error.code === "conflict")) {
        throw error;
      }
    }
  }
  throw fail.conflict("Cannot apply the condition: too many concurrent writes");
}

/** Audits the disclosure of the record a conditional create matched. */
async function auditMatch(
  deps: AppDeps,
  c: Context<AppEnv>,
  lab: string,
  subtype: string,
  match: Resource,
  condition: Condition,
) {
  const entity = { type: match.resourceType, id: match.id };
  await commitAudit(
    deps.kv,
    auditRecord(
      auditDraft(c, lab, subtype, "R", {
        entity,
        patient: patientOf(match),
        query: condition.query.auditQuery,
      }),
      deps.clock(),
    ),
  );
  deps.auditWake({ lab });
}

/**
 * `PUT /fhir/{lab}/{type}?...`: updates the one record that matches (201
 * creates one when none does, 412 when several do). A body id must be the
 * match's; creating at a client's id is not supported.
 */
export async function conditionalUpdate(deps: AppDeps, c: Context<AppEnv>) {
  const { lab, type } = begin(c, "update", "U");
  const caller = c.var.caller;
  requireUpdate(caller, type);
  const query = new URL(c.req.url).search;
  const resource = parseResource(await bodyText(c), type);
  const visibility = visibilityOf(caller);
  const condition = await parseCondition(deps, lab, type, query, visibility);
  const ifMatch = parseIfMatch(c.req.header("If-Match"));

  const base = fhirBase(deps, c, lab);
  const outcome = await writeUnlessMatched(deps, lab, condition, c, (claim) => {
    if (resource.id !== undefined) {
      throw fail.invalid("No record matches, and LHCMS assigns new ids", [{
        message: "leave the id out to create",
        expression: `${type}.id`,
      }]);
    }
    return storeCreate(deps, c, lab, structuredClone(resource), claim);
  });
  if ("written" in outcome) {
    const { resource: created, warnings } = outcome.written;
    return respondWithResource(c, created, 201, base, warnings);
  }
  const id = outcome.match.id as string;
  if (resource.id !== undefined && resource.id !== id) {
    throw fail.invalid("The id in the body is not the matching record's", [{
      message: "id differs from the match",
      expression: `${type}.id`,
    }]);
  }
  c.set("interaction", {
    lab,
    subtype: "update",
    action: "U",
    entity: { type, id },
  });
  const written = await storeUpdate(deps, c, lab, { ...resource, id }, {
    ifMatch,
    subtype: "update",
  });
  deps.auditWake({ lab });
  return respondWithResource(c, written.resource, 200, base, written.warnings);
}

const PATCH_TYPES = /^application\/(json-patch\+json|fhir\+json|json)\b/;

/**
 * `PATCH`: JSON Patch (`application/json-patch+json`) or FHIRPath Patch
 * (a Parameters resource), applied to the current version and stored as
 * an update. Without If-Match, a patch that loses a race to another write
 * is applied again to the newer version rather than overwriting it.
 */
export async function patch(deps: AppDeps, c: Context<AppEnv>) {
  const { lab, type, id } = begin(c, "patch", "U");
  const caller = c.var.caller;
  requireUpdate(caller, type);
  const json = /json-patch/.test(c.req.header("Content-Type") ?? "");
  const text = await bodyText(c, PATCH_TYPES);
  const parameters = json ? undefined : parseResource(text, "Parameters");
  const ifMatch = parseIfMatch(c.req.header("If-Match"));

  const visibility = visibilityOf(caller);
  const base = fhirBase(deps, c, lab);
  for (let attempt = 0;; attempt++) {
    const current = await readResource(deps, lab, type, id!, visibility);
    const version = ifMatch ?? current.stored.versionId;
    // A stale If-Match is the answer, whatever the patch would have done.
    if (version !== current.stored.versionId) {
      throw fail.preconditionFailed(
        `Cannot patch ${type}/${id}: version ${version} is not the current version`,
      );
    }
    const next = { ...patched(current.resource, text, parameters), id: id! };
    try {
      const written = await storeUpdate(deps, c, lab, next, {
        ifMatch: version,
        subtype: "patch",
      });
      deps.auditWake({ lab });
      const { resource, warnings } = written;
      return respondWithResource(c, resource, 200, base, warnings);
    } catch (error) {
      const raced = ifMatch === undefined && error instanceof LhcmsError &&
        error.code === "precondition_failed" && attempt < MAX_ATTEMPTS;
      if (!raced) throw error;
    }
  }
}

/** The resource with the patch applied; its type and id stay as they are. */
function patched(
  resource: Resource,
  text: string,
  parameters: Resource | undefined,
): Resource {
  const next = parameters
    ? applyFhirPathPatch(resource, parameters)
    : applyJsonPatch(resource, text);
  if (next.resourceType !== resource.resourceType || next.id !== resource.id) {
    throw fail.invalid("A patch cannot change resourceType or id");
  }
  return next;
}

/** `DELETE`: a soft delete, 204 (or 200 with an outcome when asked). */
export async function remove(deps: AppDeps, c: Context<AppEnv>) {
  const { lab, type, id } = begin(c, "delete", "D");
  const caller = c.var.caller;
  requirePermission(caller, type, "delete");
  const ifMatch = parseIfMatch(c.req.header("If-Match"));

  const now = deps.clock();
  const audit = auditRecord(auditDraft(c, lab, "delete", "D"), now);
  const version = await deleteResource(deps, lab, type, id!, {
    visibility: visibilityOf(caller),
    ifMatch,
    now,
    audit,
    patientOf,
  });
  // A repeated delete changes nothing but is still an access to audit.
  if (version === undefined) {
    await commitAudit(deps.kv, { ...audit, entity: { type, id } });
  }
  deps.auditWake({ lab });
  return respondToDelete(c, version);
}
