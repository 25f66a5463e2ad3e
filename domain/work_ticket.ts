/**
 * What a case's printed work ticket shows, gathered from the lab's records:
 * the items of one lab case number (the ServiceRequests carrying it as
 * their FILL identifier), each with its item Task and catalog stages. The
 * patient is reduced to a minimum-necessary label here, so no name, birth
 * date or address ever reaches the page (45 CFR 164.502(b)).
 */
import type {
  CodeableConcept,
  Practitioner,
  ServiceRequest,
  Task,
} from "@medplum/fhirtypes";
import { readBodySites } from "../fhir/terminology.ts";
import type { Patient } from "../fhir/types.ts";
import { caseItems, itemTask } from "./case_items.ts";
import { catalogSystem, getProduct } from "./catalog.ts";
import { ALLOYS, MATERIAL_SYSTEM, MATERIALS } from "./catalog_defaults.ts";
import { stageSystem } from "./case_workflow.ts";
import { SHIP_BY_EXTENSION } from "./dental_case.ts";
import { ALLOY_SYSTEM, BRIDGE_ROLE_EXTENSION } from "./dental_item.ts";
import type { Practice } from "./directory.ts";
import { fail } from "./errors.ts";
import { keys } from "./kv_keys.ts";
import { readResource, type StoreDeps } from "./resources.ts";
import {
  designOptionOf,
  MARGIN_DESIGN_SYSTEM,
  PONTIC_DESIGN_SYSTEM,
} from "./design_options.ts";
import { readShades, SHADE_ROLES, shadeName } from "./shades.ts";
import { toothByFdi } from "./teeth.ts";

/** One tooth of an item, in both notations, with its bridge role if any. */
export interface TicketTooth {
  fdi: string;
  universal: string;
  role?: string;
}

/** A production stage of an item, as a box to tick. */
export interface TicketStage {
  code: string;
  display: string;
  state: "done" | "current" | "todo";
}

/** One item (prescription line) of the case. */
export interface TicketItem {
  product: string;
  teeth: TicketTooth[];
  arch?: string;
  shades: { shade: string; role: string }[];
  material?: string;
  alloy?: string;
  margin?: string;
  pontic?: string;
  notes: string[];
  shipBy?: string;
  status?: string;
  stages: TicketStage[];
}

/** Everything the work ticket prints; the patient only as a label. */
export interface WorkTicket {
  caseNumber: string;
  due?: string;
  shipBy?: string;
  rush: boolean;
  practice?: string;
  dentist?: string;
  /** Initials and the lab's patient id, e.g. "J.C. (Patient/01J…)". */
  patientLabel?: string;
  /** The patient's id, for the audit record only. */
  patientId?: string;
  items: TicketItem[];
}

/** What a case number looks like; anything else names no case. */
export const CASE_NUMBER = /^[A-Za-z0-9-]{1,32}$/;
const RUSH = new Set(["urgent", "asap", "stat"]);

/** Gathers the work ticket of a case; 404 when the lab has no such case. */
export async function loadWorkTicket(
  deps: StoreDeps,
  lab: string,
  caseNumber: string,
): Promise<WorkTicket> {
  const requests = CASE_NUMBER.test(caseNumber)
    ? await caseItems(deps, lab, caseNumber)
    : [];
  if (requests.length === 0) throw fail.notFound("No such case at this lab");

  const tasks = await Promise.all(
    requests.map((r) => itemTask(deps, lab, r.id!)),
  );
  const items = await Promise.all(
    requests.map((r, i) => ticketItem(deps, lab, r, tasks[i])),
  );
  const first = requests[0];
  await requireOneOwner(deps, lab, requests);
  const patient = await patientOf(deps, lab, first);
  return {
    caseNumber,
    due: earliest(requests.map((r) => r.occurrenceDateTime)),
    shipBy: earliest(items.map((item) => item.shipBy)),
    rush: requests.some((r) => RUSH.has(r.priority ?? "")),
    practice: await practiceOf(deps, lab, first),
    dentist: await dentistOf(deps, lab, first),
    patientLabel: patient && patientLabel(patient),
    patientId: patient?.id,
    items,
  };
}

function shipByOf(request: ServiceRequest, task?: Task): string | undefined {
  return task?.restriction?.period?.end ??
    request.extension?.find((e) => e.url === SHIP_BY_EXTENSION)?.valueDate;
}

// FHIR dates and dateTimes of one lab sort as text closely enough to pick
// the earliest; the ticket prints the value as sent.
function earliest(dates: (string | undefined)[]): string | undefined {
  return dates.filter((d): d is string => !!d).sort()[0];
}

async function ticketItem(
  deps: StoreDeps,
  lab: string,
  request: ServiceRequest,
  task: Task | undefined,
): Promise<TicketItem> {
  const coding = request.code?.coding?.find((c) =>
    c.system === catalogSystem(lab)
  );
  const product = coding?.code
    ? await getProduct(deps.kv, lab, coding.code)
    : undefined;
  const sites = readBodySites(request.bodySite);
  return {
    product: product?.display ?? coding?.display ?? request.code?.text ??
      "Unnamed item",
    teeth: teethOf(request.bodySite ?? []),
    arch: sites.arch,
    shades: readShades(request.orderDetail).shades.map((s) => ({
      shade: shadeName(s.shade),
      role: SHADE_ROLES[s.role].display,
    })),
    material: codeOf(request, MATERIAL_SYSTEM, (c) => MATERIALS[c]?.display),
    alloy: codeOf(request, ALLOY_SYSTEM, (c) => ALLOYS[c]),
    margin: designOptionOf(request, MARGIN_DESIGN_SYSTEM),
    pontic: designOptionOf(request, PONTIC_DESIGN_SYSTEM),
    notes: (request.note ?? []).map((n) => n.text).filter((t) => !!t),
    shipBy: shipByOf(request, task),
    status: task?.status,
    stages: stagesOf(lab, product?.stages ?? [], task),
  };
}

function teethOf(sites: CodeableConcept[]): TicketTooth[] {
  return sites.flatMap((site) => {
    const fdi = readBodySites([site]).teeth[0];
    const tooth = fdi ? toothByFdi(fdi) : undefined;
    if (!tooth) return [];
    const role = site.extension?.find((e) => e.url === BRIDGE_ROLE_EXTENSION)
      ?.valueCode;
    return [{ fdi: tooth.fdi, universal: tooth.universal, role }];
  });
}

function codeOf(
  request: ServiceRequest,
  system: string,
  display: (code: string) => string | undefined,
): string | undefined {
  const coding = (request.orderDetail ?? []).flatMap((d) => d.coding ?? [])
    .find((c) => c.system === system);
  if (!coding?.code) return undefined;
  return display(coding.code) ?? coding.display ?? coding.code;
}

function stagesOf(
  lab: string,
  stages: { code: string; display: string }[],
  task: Task | undefined,
): TicketStage[] {
  const current = task?.businessStatus?.coding?.find((c) =>
    c.system === stageSystem(lab)
  )?.code;
  const at = stages.findIndex((s) => s.code === current);
  const finished = task?.status === "completed";
  return stages.map((s, i) => ({
    code: s.code,
    display: s.display,
    state: finished || i < at ? "done" : i === at ? "current" : "todo",
  }));
}

/**
 * A ticket prints one patient label and one practice: a case whose items
 * disagree (written before cases were kept to one owner, or by a bug) is
 * refused rather than printed with someone else's work under that label.
 */
async function requireOneOwner(
  deps: StoreDeps,
  lab: string,
  requests: ServiceRequest[],
) {
  const owners = new Set<string>();
  for (const request of requests) {
    const { stored } = await readResource(
      deps,
      lab,
      "ServiceRequest",
      request.id!,
      {},
    );
    owners.add(JSON.stringify([stored.practice, request.subject?.reference]));
  }
  if (owners.size > 1) {
    throw fail.conflict(
      "This case holds items of more than one patient or practice; " +
        "correct its items before printing its ticket",
    );
  }
}

async function patientOf(
  deps: StoreDeps,
  lab: string,
  request: ServiceRequest,
): Promise<Patient | undefined> {
  const ref = request.subject?.reference ?? "";
  if (!ref.startsWith("Patient/")) return undefined;
  const id = ref.slice("Patient/".length);
  const { resource } = await readResource(deps, lab, "Patient", id, {});
  return resource as Patient;
}

/**
 * Initials and the lab's record id: enough to match a ticket to a case
 * box, nothing that identifies the patient outside the lab.
 */
export function patientLabel(patient: Patient): string {
  const name = patient.name?.find((n) => n.use === "official") ??
    patient.name?.[0];
  const initial = (s?: string) => s?.trim().charAt(0).toUpperCase() ?? "";
  const initials = [initial(name?.given?.[0]), initial(name?.family)]
    .filter((s) => s !== "").map((s) => `${s}.`).join("");
  return `${initials || "?"} (Patient/${patient.id})`;
}

async function practiceOf(
  deps: StoreDeps,
  lab: string,
  request: ServiceRequest,
): Promise<string | undefined> {
  const { stored } = await readResource(
    deps,
    lab,
    "ServiceRequest",
    request.id!,
    {},
  );
  if (!stored.practice) return undefined;
  const practice = await deps.kv.get<Practice>(keys.practice(stored.practice));
  return practice.value?.name;
}

// The prescribing dentist is workforce, not PHI: named in full.
async function dentistOf(
  deps: StoreDeps,
  lab: string,
  request: ServiceRequest,
): Promise<string | undefined> {
  const ref = request.requester?.reference ?? "";
  if (!ref.startsWith("Practitioner/")) return request.requester?.display;
  const { resource } = await readResource(
    deps,
    lab,
    "Practitioner",
    ref.slice("Practitioner/".length),
    {},
  );
  const name = (resource as Practitioner).name?.[0];
  return name?.text ??
    [...(name?.prefix ?? []), ...(name?.given ?? []), name?.family]
      .filter((s) => !!s).join(" ");
}
