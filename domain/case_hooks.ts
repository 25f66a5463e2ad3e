/**
 * The dental rules applied to FHIR writes, in one place for the router:
 * prescriptions are checked, numbered and dated (dental_case.ts), Tasks
 * follow the workflow (case_workflow.ts) and an item Task takes its
 * ship-by date from its prescription.
 */
import type { Resource, ServiceRequest, Task } from "@medplum/fhirtypes";
import {
  type CaseContext,
  prepareNewRequest,
  prepareRequestUpdate,
  SHIP_BY_EXTENSION,
} from "./dental_case.ts";
import type { DueDateWarning } from "./due_dates.ts";
import { checkTaskUpdate, requestOf } from "./case_workflow.ts";
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
    return await prepareNewRequest(deps, lab, resource, context);
  }
  if (resource.resourceType === "Task") {
    return { resource: await withShipByOf(deps, lab, resource), warnings: [] };
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
  return { resource: next, warnings: [] };
}

/**
 * An item Task must leave by its prescription's ship-by date, and is as
 * urgent as the prescription, unless the Task says otherwise.
 */
async function withShipByOf(deps: StoreDeps, lab: string, task: Task) {
  const request = await requestOf(deps, lab, task);
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
