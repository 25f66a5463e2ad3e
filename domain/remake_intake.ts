/**
 * Takes a remake in through the FHIR write path: a prescription of the
 * lab's catalog that `replaces` another is a remake; the original is
 * loaded from the lab's store as the caller may see it and the rules of
 * remakes.ts run against it. Other ServiceRequests are stored as FHIR
 * gives them, like any prescription naming no catalog product. A remake is numbered as a new
 * case of the lab, linked to the original by `replaces`: it goes through
 * the bench again with its own pan, work ticket and due date, while the
 * original case stays as it shipped.
 */
import type { ServiceRequest } from "@medplum/fhirtypes";
import { catalogSystem } from "./catalog.ts";
import { caseNumberSystem } from "./dental_case.ts";
import { fail, LhcmsError, type Problem } from "./errors.ts";
import {
  checkRemake,
  checkRemakeCodes,
  isRemake,
  readRemake,
} from "./remakes.ts";
import { readResource, type StoreDeps, type Visibility } from "./resources.ts";
import { sameJson } from "./stages.ts";

/**
 * Checks a new remake against its original; throws 422 listing every
 * problem. Returns the request to number: a requisition copied from the
 * original is dropped, so the remake gets a case number of its own.
 */
export async function prepareRemake(
  deps: StoreDeps,
  lab: string,
  request: ServiceRequest,
  visibility: Visibility,
): Promise<ServiceRequest> {
  if (!isDentalRemake(lab, request)) return request;
  const original = await loadOriginal(deps, lab, request, visibility);
  const problems = checkRemake(request, original);
  if (problems.length > 0) {
    throw fail.unprocessable("Cannot accept the remake", problems);
  }
  if (!namesCaseOf(lab, request, original!)) return request;
  const { requisition: _dropped, ...rest } = request;
  return rest;
}

/**
 * Checks an update of a prescription: what it replaces is fixed when it is
 * created, and a remake keeps a coded reason and responsibility.
 */
export function checkRemakeUpdate(
  lab: string,
  previous: ServiceRequest,
  next: ServiceRequest,
): void {
  if (!isDentalRemake(lab, previous) && !isDentalRemake(lab, next)) return;
  const problems: Problem[] = sameJson(previous.replaces, next.replaces)
    ? []
    : [{
      message:
        "Cannot change what a ServiceRequest replaces; send a new remake",
      expression: "ServiceRequest.replaces",
    }];
  if (isDentalRemake(lab, next)) problems.push(...checkRemakeCodes(next));
  if (problems.length > 0) {
    throw fail.unprocessable("Cannot update the remake", problems);
  }
}

function isDentalRemake(lab: string, request: ServiceRequest): boolean {
  const system = catalogSystem(lab);
  return isRemake(request) &&
    (request.code?.coding?.some((c) => c.system === system) ?? false);
}

// Absent, deleted and hidden originals read the same: not a record of this
// lab, so a caller learns nothing about another practice's cases.
async function loadOriginal(
  deps: StoreDeps,
  lab: string,
  request: ServiceRequest,
  visibility: Visibility,
): Promise<ServiceRequest | undefined> {
  const id = readRemake(request).original;
  if (!id) return undefined;
  try {
    const loaded = await readResource(
      deps,
      lab,
      "ServiceRequest",
      id,
      visibility,
    );
    return loaded.resource as ServiceRequest;
  } catch (error) {
    if (error instanceof LhcmsError) return undefined;
    throw error;
  }
}

function namesCaseOf(
  lab: string,
  request: ServiceRequest,
  original: ServiceRequest,
): boolean {
  const asked = request.requisition;
  if (!asked) return false;
  if (sameJson(asked, original.requisition)) return true;
  const number = original.identifier?.find((i) =>
    i.system === caseNumberSystem(lab)
  )?.value;
  return asked.system === caseNumberSystem(lab) && asked.value === number;
}
