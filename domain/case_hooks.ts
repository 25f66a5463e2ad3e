/**
 * The dental rules applied to FHIR writes, in one place for the router:
 * prescriptions are checked, numbered and dated (dental_case.ts), a remake
 * is checked against its original (remake_intake.ts), Tasks follow the
 * workflow (case_workflow.ts), an item Task takes its ship-by date from
 * its prescription, and a Provenance is a dentist's work authorization
 * (authorization.ts).
 */
import type { Resource, ServiceRequest, Task } from "@medplum/fhirtypes";
import { requireWorkAuthorization } from "./authorization.ts";
import { fail } from "./errors.ts";
import { checkRemakeUpdate, prepareRemake } from "./remake_intake.ts";
import {
  type CaseContext,
  prepareNewRequest,
  prepareRequestUpdate,
  SHIP_BY_EXTENSION,
} from "./dental_case.ts";
import type { DueDateWarning } from "./due_dates.ts";
import {
  checkNewCaseTask,
  checkTaskUpdate,
  requestOf,
} from "./case_workflow.ts";
import { catalogSystem } from "./catalog.ts";
import type { StoreDeps } from "./resources.ts";

/** A resource ready to store, what its commit adds, and warnings. */
export interface Prepared {
  resource: Resource;
  warnings: DueDateWarning[];
  commit?: (op: Deno.AtomicOperation) => void;
}

/** Applies the rules to a resource about to be created. */
export async function prepareCreate(
  deps: StoreDeps,
  lab: string,
  resource: Resource,
  context: CaseContext,
): Promise<Prepared> {
  if (resource.resourceType === "ServiceRequest") {
    const request = await prepareRemake(
      deps,
      lab,
      resource,
      context.visibility ?? {},
    );
    return await prepareNewRequest(deps, lab, request, context);
  }
  if (resource.resourceType === "Provenance") {
    requireWorkAuthorization(resource);
  }
  if (resource.resourceType === "Task") {
    const request = await requestOf(deps, lab, resource);
    const commit = await checkNewCaseTask(deps, lab, resource, request);
    const task = withShipByOf(resource, request);
    return { resource: task, warnings: [], ...(commit ? { commit } : {}) };
  }
  return { resource, warnings: [] };
}

/** Applies the rules to an update; returns the body to store. */
export async function prepareUpdate(
  deps: StoreDeps,
  lab: string,
  previous: Resource,
  next: Resource,
  context: CaseContext,
): Promise<Prepared> {
  if (next.resourceType === "ServiceRequest") {
    checkRemakeUpdate(lab, previous as ServiceRequest, next);
    checkProductKept(lab, previous as ServiceRequest, next);
    return await prepareRequestUpdate(
      deps,
      lab,
      previous as ServiceRequest,
      next,
      context,
    );
  }
  if (next.resourceType === "Task") {
    await checkTaskUpdate(deps, lab, previous as Task, next);
  }
  if (next.resourceType === "Provenance") refuseProvenanceUpdate();
  return { resource: next, warnings: [] };
}

// The item's Task, stages and gates follow its product: a changed product
// would let it skip them, so a different product is a new item.
function checkProductKept(
  lab: string,
  previous: ServiceRequest,
  next: ServiceRequest,
) {
  const product = (request: ServiceRequest) =>
    request.code?.coding?.find((c) => c.system === catalogSystem(lab))?.code;
  const before = product(previous);
  const after = product(next);
  if (before === after) return;
  // Nor does a request become a catalog item later: it would arrive with
  // Tasks that never passed the item's rules, and without a case number.
  throw fail.unprocessable("Cannot update the prescription", [{
    message: before === undefined
      ? `A request sent without a catalog product does not become a ` +
        `${after} later; send the item as a new prescription`
      : `The product of an item stays ${before}; to make something ` +
        "else, revoke this item and send a new one",
    expression: "ServiceRequest.code",
  }]);
}

// A work authorization is what the dentist attested when signing; a
// correction is a new Provenance, so the first stays as evidence.
function refuseProvenanceUpdate(): never {
  throw fail.unprocessable("Cannot update the work authorization", [{
    message: "A work authorization is not changed once recorded; create a " +
      "new Provenance",
    expression: "Provenance",
  }]);
}

/**
 * An item Task must leave by its prescription's ship-by date, and is as
 * urgent as the prescription, unless the Task says otherwise.
 */
function withShipByOf(task: Task, request: ServiceRequest | undefined) {
  if (!request) return task;
  const shipBy = request.extension?.find((e) => e.url === SHIP_BY_EXTENSION)
    ?.valueDate;
  const priority = task.priority ?? request.priority;
  const next: Task = { ...task, ...(priority ? { priority } : {}) };
  if (!shipBy || task.restriction?.period?.end) return next;
  return {
    ...next,
    restriction: {
      ...task.restriction,
      period: { ...task.restriction?.period, end: shipBy },
    },
  };
}
