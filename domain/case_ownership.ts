/**
 * A lab case belongs to one practice and one patient, fixed by its first
 * item: a later item joins it only from the same practice and for the same
 * patient, so a work ticket never puts two patients under one label. The
 * owner is kept beside the case counter, the patient only as a blind index.
 */
import type { ServiceRequest } from "@medplum/fhirtypes";
import { caseItems } from "./case_items.ts";
import { fail } from "./errors.ts";
import { keys } from "./kv_keys.ts";
import type { StoreDeps, StoredResource } from "./resources.ts";

/** Who a case is for: the practice (null for the lab's own) and patient. */
export interface CaseOwner {
  practice: string | null;
  /** Blind index of the `subject` reference. */
  patient: string;
}

/** The owner a new item gives its case. */
export async function ownerOfItem(
  deps: StoreDeps,
  lab: string,
  request: ServiceRequest,
  practice: string | undefined,
): Promise<CaseOwner> {
  return {
    practice: practice ?? null,
    patient: await deps.keyRing.blindIndex(
      lab,
      "case|patient",
      request.subject?.reference ?? "",
    ),
  };
}

/** Adds a new case's owner to the commit that numbers it. */
export function recordOwner(
  op: Deno.AtomicOperation,
  lab: string,
  caseNumber: number,
  owner: CaseOwner,
) {
  op.set(keys.caseOwner(lab, caseNumber), owner);
}

/**
 * The owner of a case; a case numbered before owners were kept takes the
 * one of its first item.
 */
export async function readOwner(
  deps: StoreDeps,
  lab: string,
  caseNumber: number,
): Promise<CaseOwner | undefined> {
  const kept = await deps.kv.get<CaseOwner>(keys.caseOwner(lab, caseNumber));
  if (kept.value) return kept.value;
  const [first] = await caseItems(deps, lab, String(caseNumber));
  if (!first) return undefined;
  const stored = await deps.kv.get<StoredResource>(
    keys.resource(lab, "ServiceRequest", first.id!),
  );
  return await ownerOfItem(deps, lab, first, stored.value?.practice);
}

/**
 * Refuses an item that names a case of another practice (as if the case
 * did not exist, so no practice learns another's case numbers) or of
 * another patient.
 */
export function requireSameOwner(
  owner: CaseOwner | undefined,
  item: CaseOwner,
): void {
  if (!owner || owner.practice !== item.practice) {
    throw fail.unprocessable("Cannot accept the ServiceRequest", [{
      message: "requisition names no case of this practice at this lab",
      expression: "ServiceRequest.requisition",
    }]);
  }
  if (owner.patient !== item.patient) {
    throw fail.unprocessable("Cannot accept the ServiceRequest", [{
      message: "requisition names a case of another patient: every item " +
        "of a case is for the patient of its first item (subject); send " +
        "this item with its own requisition",
      expression: "ServiceRequest.requisition",
    }]);
  }
}
