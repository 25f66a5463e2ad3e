/**
 * The items of one lab case and their item Tasks, read across the whole lab
 * (no practice filter): the rules that keep a case to one practice and one
 * patient, a pan on one open case, and the work ticket all look at a case
 * as the lab sees it.
 */
import type { ServiceRequest, Task } from "@medplum/fhirtypes";
import { parseSearch } from "../fhir/search.ts";
import type { Resource } from "../fhir/types.ts";
import { caseNumberSystem } from "./dental_case.ts";
import { searchResources } from "./resource_search.ts";
import { blindFor, type StoreDeps } from "./resources.ts";
import { FINAL_STATUSES } from "./task_workflow.ts";

/** The ServiceRequests carrying `caseNumber` as their lab case number. */
export async function caseItems(
  deps: StoreDeps,
  lab: string,
  caseNumber: string,
): Promise<ServiceRequest[]> {
  return await searchLab(deps, lab, "ServiceRequest", {
    identifier: `${caseNumberSystem(lab)}|${caseNumber}`,
  }) as ServiceRequest[];
}

/** The item Task: the one working on the prescription, not a stage's. */
export async function itemTask(
  deps: StoreDeps,
  lab: string,
  requestId: string,
): Promise<Task | undefined> {
  const tasks = await searchLab(deps, lab, "Task", {
    focus: `ServiceRequest/${requestId}`,
  }) as Task[];
  return tasks.find((t) => !t.partOf?.length);
}

/** Every record of `type` at the lab matching `criteria`, page by page. */
export async function searchLab(
  deps: StoreDeps,
  lab: string,
  type: string,
  criteria: Record<string, string>,
): Promise<Resource[]> {
  const params = new URLSearchParams({ ...criteria, _count: "100" });
  let query = await parseSearch(
    type,
    params,
    blindFor(deps.keyRing, lab, type),
  );
  const found: Resource[] = [];
  for (;;) {
    const page = await searchResources(deps, lab, type, query, {});
    found.push(...page.resources);
    if (!page.next) return found;
    query = { ...query, cursor: page.next };
  }
}

const CLOSED_REQUESTS = new Set(["completed", "revoked", "entered-in-error"]);

/**
 * Whether the lab is done with a case: every item's prescription is
 * closed, or its item Task has ended (shipped, cancelled, rejected,
 * failed or entered in error). A case with no items is done.
 */
export async function isCaseFinished(
  deps: StoreDeps,
  lab: string,
  caseNumber: string,
): Promise<boolean> {
  for (const request of await caseItems(deps, lab, caseNumber)) {
    if (CLOSED_REQUESTS.has(request.status)) continue;
    const task = await itemTask(deps, lab, request.id!);
    if (!task || !FINAL_STATUSES.includes(task.status)) return false;
  }
  return true;
}
