/**
 * The FHIR resources of the demo story (scripts/demo_story.ts): copies of
 * the HL7 R4 examples (scripts/demo_fixtures), adapted where references or
 * dental details need it, and the crown prescription with its Task.
 */
import type { Resource, ServiceRequest, Task } from "@medplum/fhirtypes";

// Copies of the shared HL7 examples ship with the script, so the demo runs
// from a checkout alone (see demo_fixtures/README.md).
const FIXTURES = new URL("./demo_fixtures/", import.meta.url);

/**
 * A fixture without its id (the server assigns ids) and without its
 * narrative (it would describe the original, not the adapted copy).
 */
export async function fixture<T extends Resource>(
  name: string,
  adapt: (resource: T) => void,
): Promise<T> {
  const resource = JSON.parse(
    await Deno.readTextFile(new URL(name, FIXTURES)),
  ) as T & { text?: unknown };
  delete resource.id;
  delete resource.text;
  adapt(resource);
  return resource;
}

// FDI two-digit tooth numbers (ISO 3950), as in FHIR's example tooth codes.
const TOOTH_SYSTEM = "http://terminology.hl7.org/CodeSystem/ex-tooth";
// Code on Dental Procedures and Nomenclature (CDT), per HL7 terminology.
const CDT_SYSTEM = "http://www.ada.org/cdt";

/** The dentist's crown prescription: tooth 36, zirconia, shade A2. */
export function crownRequest(
  patient: string,
  practitioner: string,
): ServiceRequest {
  return {
    resourceType: "ServiceRequest",
    status: "active",
    intent: "order",
    priority: "routine",
    category: [{ text: "Dental laboratory prosthesis" }],
    code: {
      coding: [{
        system: CDT_SYSTEM,
        code: "D2740",
        display: "crown - porcelain/ceramic",
      }],
      text: "Crown, monolithic zirconia",
    },
    orderDetail: [
      { text: "Material: monolithic zirconia" },
      { text: "Shade: A2 (VITA classical)" },
    ],
    bodySite: [{
      coding: [{ system: TOOTH_SYSTEM, code: "36" }],
      text: "Tooth 36 (lower left first molar)",
    }],
    subject: { reference: patient },
    requester: { reference: practitioner },
    authoredOn: new Date().toISOString(),
    note: [{
      text: "Shade A2 (VITA classical), monolithic zirconia, " +
        "1.5 mm occlusal clearance; scan attached in the PMS.",
    }],
  };
}

/** The Task that asks the lab to fulfil the prescription. */
export function crownTask(
  serviceRequest: string,
  patient: string,
  practitioner: string,
): Task {
  return {
    resourceType: "Task",
    status: "requested",
    intent: "order",
    priority: "routine",
    code: {
      coding: [{
        system: "http://hl7.org/fhir/CodeSystem/task-code",
        code: "fulfill",
      }],
      text: "Fabricate crown",
    },
    description: "Crown on tooth 36, monolithic zirconia, shade A2",
    focus: { reference: serviceRequest },
    for: { reference: patient },
    requester: { reference: practitioner },
    authoredOn: new Date().toISOString(),
  };
}

/** One line about the crown, for the story's log. */
export const CROWN_SUMMARY = "tooth 36, monolithic zirconia, shade A2";

/** A dentist's degree (HL7 v2 table 0360), for the adapted Practitioner. */
export const DENTAL_DEGREE = {
  coding: [{
    system: "http://terminology.hl7.org/CodeSystem/v2-0360/2.7",
    code: "DDS",
    display: "Doctor of Dental Surgery",
  }],
};

/**
 * A technician's status change of a Task: status, businessStatus and
 * lastModified only, as the lab_technician role may change nothing else.
 */
export function moveTask(
  task: Task,
  status: Task["status"],
  businessStatus: string,
): Task {
  return {
    ...task,
    status,
    businessStatus: { text: businessStatus },
    lastModified: new Date().toISOString(),
  };
}
