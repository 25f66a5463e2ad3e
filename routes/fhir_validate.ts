/**
 * `POST /fhir/{lab}/{type}/$validate`: every check a create (or, with
 * `mode` update, an update) would make, the dental rules included, without
 * storing anything. The answer is 200 with an OperationOutcome whether or
 * not the resource is valid (https://hl7.org/fhir/R4/resource-operation-validate.html);
 * a body that cannot be read is a 400, a caller who may not write the type
 * a 403.
 */
import type { Task } from "@medplum/fhirtypes";
import type { Context } from "hono";
import { auditRecord, commitAudit } from "../domain/audit.ts";
import { prepareCreate, prepareUpdate } from "../domain/case_hooks.ts";
import { checkNewTask } from "../domain/case_workflow.ts";
import { LhcmsError, type Problem } from "../domain/errors.ts";
import { resolveReferences } from "../domain/references.ts";
import { describeScanAttachments } from "../domain/scan_documents.ts";
import { checkNewChildTask, checkQcSigners } from "../domain/task_links.ts";
import { readResource, requireOwnership } from "../domain/resources.ts";
import { validationOutcome } from "../fhir/outcome.ts";
import {
  checkResource,
  localReferences,
  relativiseReferences,
} from "../fhir/validate.ts";
import {
  parseValidateRequest,
  type ValidateRequest,
} from "../fhir/validate_request.ts";
import type { AppDeps, AppEnv } from "./env.ts";
import { begin, bodyText } from "./fhir_request.ts";
import {
  auditDraft,
  fhirBase,
  fhirResponse,
  patientOf,
  requirePermission,
  requireTaskWrite,
  visibilityOf,
} from "./fhir_support.ts";

/** Validates the body as the write its `mode` names would; stores nothing. */
export async function validateOperation(deps: AppDeps, c: Context<AppEnv>) {
  const { lab, type } = begin(c, "operation", "E");
  const caller = c.var.caller;
  const request = parseValidateRequest(await bodyText(c), type);
  requirePermission(caller, type, request.mode);

  let refusal: LhcmsError | undefined;
  let warnings: Problem[] = [];
  try {
    warnings = await checkWrite(deps, c, lab, request);
  } catch (error) {
    // A broken rule is the answer; anything else (403, 404) stays an error.
    if (!(error instanceof LhcmsError) || error.code !== "unprocessable") {
      throw error;
    }
    refusal = error;
  }

  await commitAudit(
    deps.kv,
    auditRecord(
      auditDraft(c, lab, "operation", "E", {
        entity: {
          type,
          id: request.mode === "update" ? request.resource.id : undefined,
        },
        patient: patientOf(request.resource),
      }),
      deps.clock(),
    ),
  );
  deps.auditWake({ lab });
  return fhirResponse(validationOutcome(refusal, warnings));
}

/**
 * The checks of create and update in their order: structure, workflow,
 * references, then the dental rules on a copy that is never stored.
 */
async function checkWrite(
  deps: AppDeps,
  c: Context<AppEnv>,
  lab: string,
  { resource, mode }: ValidateRequest,
): Promise<Problem[]> {
  const caller = c.var.caller;
  if (mode === "create") delete resource.id;
  const warnings = checkResource(resource);
  if (mode === "create" && resource.resourceType === "Task") {
    requireTaskWrite(caller, undefined, resource);
    checkNewTask(resource);
  }
  const base = fhirBase(deps, c, lab);
  relativiseReferences(resource, base);
  const visibility = visibilityOf(c.var.caller);
  const { practice } = await resolveReferences(
    deps,
    lab,
    localReferences(resource, base),
    visibility,
  );
  if (resource.resourceType === "DocumentReference") {
    await describeScanAttachments(deps, lab, resource, base, visibility);
  }

  const now = deps.clock();
  if (mode === "create") {
    if (resource.resourceType === "Task") {
      await checkNewChildTask(deps, lab, resource);
    }
    const prepared = await prepareCreate(deps, lab, resource, {
      now,
      practice,
      visibility,
    });
    return [...warnings, ...prepared.warnings];
  }
  const current = await readResource(
    deps,
    lab,
    resource.resourceType,
    resource.id!,
    visibility,
  );
  requireOwnership(current, visibility);
  if (resource.resourceType === "Task") {
    const previous = current.resource as Task;
    requireTaskWrite(caller, previous, resource);
    await checkQcSigners(deps, lab, previous, resource);
  }
  const prepared = await prepareUpdate(deps, lab, current.resource, resource, {
    now,
    practice: visibility.practice,
    visibility,
  });
  return [...warnings, ...prepared.warnings];
}
