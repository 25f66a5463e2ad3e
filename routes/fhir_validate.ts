/**
 * `POST /fhir/{lab}/{type}/$validate`: every check a create (or, with
 * `mode` update, an update) would make, the dental rules included, without
 * storing anything. The answer is 200 with an OperationOutcome whether or
 * not the resource is valid (https://hl7.org/fhir/R4/resource-operation-validate.html);
 * a body that cannot be read is a 400, a caller who may not write the type
 * a 403.
 */
import type { Context } from "hono";
import { auditRecord, commitAudit } from "../domain/audit.ts";
import { prepareCreate, prepareUpdate } from "../domain/case_hooks.ts";
import { LhcmsError, type Problem } from "../domain/errors.ts";
import { readResource, requireOwnership } from "../domain/resources.ts";
import { validationOutcome } from "../fhir/outcome.ts";
import {
  parseValidateRequest,
  type ValidateRequest,
} from "../fhir/validate_request.ts";
import type { AppDeps, AppEnv } from "./env.ts";
import { begin, bodyText } from "./fhir_request.ts";
import {
  auditDraft,
  fhirResponse,
  patientOf,
  requirePermission,
} from "./fhir_support.ts";
import {
  checkChangedResource,
  checkNewResource,
  checkTaskChange,
} from "./fhir_write.ts";

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
 * The checks of create and update in their order (fhir_write.ts), then the
 * dental rules on a copy that is never stored.
 */
async function checkWrite(
  deps: AppDeps,
  c: Context<AppEnv>,
  lab: string,
  { resource, mode }: ValidateRequest,
): Promise<Problem[]> {
  const now = deps.clock();
  if (mode === "create") {
    const { warnings, practice, visibility } = await checkNewResource(
      deps,
      c,
      lab,
      resource,
    );
    const prepared = await prepareCreate(deps, lab, resource, {
      now,
      practice,
      visibility,
    });
    return [...warnings, ...prepared.warnings];
  }
  const { warnings, visibility } = await checkChangedResource(
    deps,
    c,
    lab,
    resource,
  );
  const current = await readResource(
    deps,
    lab,
    resource.resourceType,
    resource.id!,
    visibility,
  );
  requireOwnership(current, visibility);
  await checkTaskChange(deps, c, lab, current.resource, resource);
  const prepared = await prepareUpdate(deps, lab, current.resource, resource, {
    now,
    practice: visibility.practice,
    visibility,
  });
  return [...warnings, ...prepared.warnings];
}
