/**
 * A dental prescription as the lab takes it in: a ServiceRequest naming a
 * product of the lab's catalog is checked (material, teeth or arch, shade,
 * pan number), numbered (one lab case number per case, shared by its items
 * through `requisition`) and dated (due and ship-by from the catalog's
 * turnaround and the lab's calendar). A ServiceRequest naming no catalog
 * product is stored as FHIR gives it.
 */
import type { Identifier, ServiceRequest } from "@medplum/fhirtypes";
import { catalogSystem, getProduct, type Product } from "./catalog.ts";
import {
  computeDueDates,
  type DueDateWarning,
  labDateOf,
} from "./due_dates.ts";
import { checkItem, panNumberSystem } from "./dental_item.ts";
import {
  ownerOfItem,
  readOwner,
  recordOwner,
  requireSameOwner,
} from "./case_ownership.ts";
import { fail } from "./errors.ts";
import { requireFreePans } from "./pan_numbers.ts";
import { keys } from "./kv_keys.ts";
import { getLabSettings, transitDaysTo } from "./lab_settings.ts";
import type { StoreDeps, Visibility } from "./resources.ts";

const V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203";
/** Server-owned extension holding the date the item must leave the lab. */
export const SHIP_BY_EXTENSION =
  "https://lhcms.dev/fhir/StructureDefinition/ship-by";
const RUSH = new Set(["urgent", "asap", "stat"]);

/** Canonical system of a lab's case numbers (identifier type FILL). */
export function caseNumberSystem(lab: string): string {
  return `https://lhcms.dev/fhir/lab/${lab}/case-number`;
}

/** A checked prescription, what its commit must add, and its warnings. */
export interface PreparedRequest {
  resource: ServiceRequest;
  warnings: DueDateWarning[];
  /** Adds the case-number bookkeeping to the creating commit. */
  commit(op: Deno.AtomicOperation): void;
}

/** What preparing a prescription needs to know. */
export interface CaseContext {
  now: Date;
  /** The practice the case comes from, for its transit days. */
  practice?: string;
  /** What the caller may see, for records a new one is checked against. */
  visibility?: Visibility;
}

/** Prepares a new prescription; throws 422 listing every problem. */
export async function prepareNewRequest(
  deps: StoreDeps,
  lab: string,
  request: ServiceRequest,
  context: CaseContext,
): Promise<PreparedRequest> {
  const product = await productOf(deps, lab, request);
  if (!product) return { resource: request, warnings: [], commit: () => {} };
  const checked = checkItem(lab, request, product);
  const numbered = await assignCaseNumber(
    deps,
    lab,
    checked,
    context.practice,
  );
  const dated = await dateRequest(
    deps,
    lab,
    numbered.resource,
    product,
    context,
  );
  const guardPans = await requireFreePans(deps, lab, dated.resource, {
    showCase: !context.visibility?.practice,
  });
  return {
    resource: dated.resource,
    warnings: dated.warnings,
    commit: (op) => {
      numbered.commit(op);
      guardPans(op);
    },
  };
}

/**
 * Prepares an update: the case number and requisition stay as the lab set
 * them; the dates are worked out again only when the due date or the
 * priority changed.
 */
export async function prepareRequestUpdate(
  deps: StoreDeps,
  lab: string,
  previous: ServiceRequest,
  next: ServiceRequest,
  context: CaseContext,
): Promise<PreparedRequest> {
  const product = await productOf(deps, lab, next);
  if (!product) return { resource: next, warnings: [], commit: () => {} };
  // The case belongs to its first item's patient; moving one item to
  // another patient would print two patients under one label.
  if (previous.subject?.reference !== next.subject?.reference) {
    throw fail.unprocessable("Cannot update the ServiceRequest", [{
      message: "the patient of a case item does not change; revoke it and " +
        "send a new prescription for the other patient",
      expression: "ServiceRequest.subject",
    }]);
  }
  // The case number is the lab's; so is the pan number, which a practice
  // system that never heard of it must not drop by resending the item.
  const labOwned = new Set([caseNumberSystem(lab)]);
  if (context.visibility?.practice) labOwned.add(panNumberSystem(lab));
  const kept = checkItem(lab, {
    ...next,
    identifier: [
      ...(next.identifier ?? []).filter((i) => !labOwned.has(i.system ?? "")),
      ...(previous.identifier ?? []).filter((i) =>
        labOwned.has(i.system ?? "")
      ),
    ],
    requisition: previous.requisition,
  }, product);
  const commit = await requireFreePans(deps, lab, kept, {
    previous,
    sent: next,
    showCase: !context.visibility?.practice,
  });
  const datesChanged =
    previous.occurrenceDateTime !== next.occurrenceDateTime ||
    previous.priority !== next.priority;
  if (datesChanged) {
    return { ...await dateRequest(deps, lab, kept, product, context), commit };
  }
  const shipBy = previous.extension?.filter((e) => e.url === SHIP_BY_EXTENSION);
  return {
    resource: withShipBy(kept, shipBy?.[0]?.valueDate),
    warnings: [],
    commit,
  };
}

async function productOf(
  deps: StoreDeps,
  lab: string,
  request: ServiceRequest,
) {
  const system = catalogSystem(lab);
  const coding = request.code?.coding?.find((c) => c.system === system);
  if (!coding) return undefined;
  const product = coding.code
    ? await getProduct(deps.kv, lab, coding.code)
    : undefined;
  if (!product || !product.active) {
    throw fail.unprocessable("Cannot accept the ServiceRequest", [{
      message: "code names no active product of this lab's catalog",
      expression: "ServiceRequest.code",
    }]);
  }
  return product;
}

/**
 * Gives the item its lab case number: the one of its case when
 * `requisition` names a case of the same practice and patient, a new one
 * otherwise. New numbers come from a per-lab counter checked in the
 * creating commit, so two cases never share a number; a practice's own
 * requisition is looked up together with the practice, so two practices
 * whose systems number orders alike still get a case each.
 */
async function assignCaseNumber(
  deps: StoreDeps,
  lab: string,
  request: ServiceRequest,
  practice: string | undefined,
): Promise<
  { resource: ServiceRequest; commit(op: Deno.AtomicOperation): void }
> {
  const system = caseNumberSystem(lab);
  const counter = await deps.kv.get<number>(keys.caseCounter(lab));
  const last = counter.value ?? 0;
  const owner = await ownerOfItem(deps, lab, request, practice);
  const requisition = request.requisition;
  let number = last + 1;
  let commit = (op: Deno.AtomicOperation) => {
    op.check(counter).set(keys.caseCounter(lab), number);
    recordOwner(op, lab, number, owner);
  };
  if (requisition?.system === system) {
    number = Number(requisition.value);
    // Only the number as LHCMS writes it: " 1" or "1.0" would join case 1
    // while the item's requisition kept the odd spelling.
    const known = /^[1-9][0-9]*$/.test(requisition.value ?? "") &&
      number <= last;
    requireSameOwner(
      known ? await readOwner(deps, lab, number) : undefined,
      owner,
    );
    commit = () => {};
  } else if (requisition?.value) {
    const blind = await deps.keyRing.blindIndex(
      lab,
      "case|practice-requisition",
      JSON.stringify([
        owner.practice,
        requisition.system ?? "",
        requisition.value,
      ]),
    );
    const key = keys.casesByRequisition(lab, blind);
    const known = await deps.kv.get<number>(key);
    const newCase = commit;
    if (known.value !== null) {
      number = known.value;
      requireSameOwner(await readOwner(deps, lab, number), owner);
      commit = (op) => void op.check(known);
    } else {
      commit = (op) => {
        newCase(op);
        op.check(known).set(key, number);
      };
    }
  }
  const fill: Identifier = {
    type: {
      coding: [{ system: V2_0203, code: "FILL", display: "Filler Identifier" }],
    },
    system,
    value: String(number),
  };
  const identifier = [
    ...(request.identifier ?? []).filter((i) => i.system !== system),
    fill,
  ];
  const resource = {
    ...request,
    identifier,
    requisition: requisition ?? { ...fill },
  };
  return { resource, commit };
}

async function dateRequest(
  deps: StoreDeps,
  lab: string,
  request: ServiceRequest,
  product: Product,
  context: CaseContext,
) {
  const settings = await getLabSettings(deps.kv, lab);
  const asked = request.occurrenceDateTime;
  const dates = computeDueDates({
    calendar: settings.calendar,
    items: [{
      turnaroundDays: product.turnaroundDays,
      rushDays: product.rushDays,
    }],
    transitDays: transitDaysTo(settings, context.practice),
    receivedAt: context.now,
    rush: RUSH.has(request.priority ?? ""),
    requestedDue: asked?.includes("T")
      ? labDateOf(settings.calendar, new Date(asked))
      : asked,
    tooLate: settings.tooLate,
  });
  if (dates.problems.length > 0) {
    throw fail.unprocessable("Cannot accept the due date", dates.problems);
  }
  const resource = withShipBy(
    { ...request, occurrenceDateTime: asked ?? dates.due },
    dates.shipBy,
  );
  return { resource, warnings: dates.warnings };
}

function withShipBy(
  request: ServiceRequest,
  shipBy: string | undefined,
): ServiceRequest {
  const others = (request.extension ?? []).filter((e) =>
    e.url !== SHIP_BY_EXTENSION
  );
  const extension = shipBy
    ? [...others, { url: SHIP_BY_EXTENSION, valueDate: shipBy }]
    : others;
  return {
    ...request,
    extension: extension.length > 0 ? extension : undefined,
  };
}
