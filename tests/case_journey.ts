/**
 * What a practice system sends for one two-item case, written out as the
 * JSON goes on the wire (docs/fhir-mapping.md shows the same bodies): a
 * three-unit bridge 14-16 coded in ADA Universal numbering and a crown on
 * 21 in FDI with body and incisal shades, sharing the practice's
 * requisition; and the lab bench moves used by tests/case_journey_test.ts.
 */
import type { ServiceRequest, Task } from "@medplum/fhirtypes";

const V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203";
const LHCMS = "https://lhcms.dev/fhir";

/** The practice system's numbering of its orders and of whole cases. */
export const PRACTICE_ORDERS = "https://pms.example/fhir/order-number";
export const PRACTICE_CASES = "https://pms.example/fhir/lab-case";

/** The requisition both items carry: one case at the practice. */
export const REQUISITION = { system: PRACTICE_CASES, value: "LC-2026-0417" };

/** The due date the practice asks for, the same for both items. */
export const ASKED_DUE = "2026-12-18";

function placerNumber(value: string) {
  return {
    type: {
      coding: [{ system: V2_0203, code: "PLAC", display: "Placer Identifier" }],
    },
    system: PRACTICE_ORDERS,
    value,
  };
}

function shade(role: "body" | "incisal", code: string) {
  return {
    extension: [{
      url: `${LHCMS}/StructureDefinition/shade-role`,
      valueCode: role,
    }],
    coding: [{ system: `${LHCMS}/CodeSystem/vita-classical`, code }],
  };
}

function material(code: string) {
  return { coding: [{ system: `${LHCMS}/CodeSystem/material`, code }] };
}

function unit(universal: string, role: "abutment" | "pontic") {
  return {
    extension: [{
      url: `${LHCMS}/StructureDefinition/bridge-unit-role`,
      valueCode: role,
    }],
    coding: [{
      system:
        "http://terminology.hl7.org/CodeSystem/ADAUniversalToothDesignationSystem",
      code: universal,
    }],
  };
}

/** Who and what every item of the case names. */
export interface CaseParties {
  lab: string;
  patient: string;
  dentist: string;
}

function item(parties: CaseParties, product: string, order: string) {
  return {
    resourceType: "ServiceRequest" as const,
    identifier: [placerNumber(order)],
    requisition: REQUISITION,
    status: "active" as const,
    intent: "order" as const,
    priority: "routine" as const,
    code: {
      coding: [{
        system: `${LHCMS}/lab/${parties.lab}/CodeSystem/products`,
        code: product,
      }],
    },
    subject: { reference: `Patient/${parties.patient}` },
    occurrenceDateTime: ASKED_DUE,
    authoredOn: "2026-12-03T08:30:00Z",
    requester: { reference: `Practitioner/${parties.dentist}` },
  };
}

/**
 * The bridge: 14 and 16 carry it, 15 is replaced; sent in Universal
 * numbering (5, 4, 3), in the order of the span.
 */
export function bridgeItem(parties: CaseParties): ServiceRequest {
  return {
    ...item(parties, "bridge", "ORD-88120-1"),
    orderDetail: [material("zirconia"), shade("body", "A3")],
    bodySite: [
      unit("5", "abutment"),
      unit("4", "pontic"),
      unit("3", "abutment"),
    ],
    note: [{ text: "Ovate pontic, light contact on the ridge" }],
  };
}

/** The crown on 21, body A2 with an A1 incisal third, in FDI numbering. */
export function crownItem(parties: CaseParties): ServiceRequest {
  return {
    ...item(parties, "crown", "ORD-88120-2"),
    orderDetail: [
      material("lithium-disilicate"),
      shade("body", "A2"),
      shade("incisal", "A1"),
    ],
    bodySite: [{
      coding: [{ system: `${LHCMS}/CodeSystem/fdi-tooth`, code: "21" }],
    }],
  };
}

/** The lab's work on one item, as the practice asks for it. */
export function itemTask(
  request: ServiceRequest,
  parties: CaseParties,
): Task {
  return {
    resourceType: "Task",
    status: "requested",
    intent: "order",
    basedOn: [{ reference: `ServiceRequest/${request.id}` }],
    focus: { reference: `ServiceRequest/${request.id}` },
    for: { reference: `Patient/${parties.patient}` },
    authoredOn: "2026-12-03T08:31:00Z",
    requester: { reference: `Practitioner/${parties.dentist}` },
  };
}

/** The lab's pan (tray) number, added to an item when the case arrives. */
export function panNumber(lab: string, value: string, start: string) {
  return {
    system: `${LHCMS}/lab/${lab}/pan-number`,
    value,
    period: { start },
  };
}
