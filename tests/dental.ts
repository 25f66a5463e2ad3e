/**
 * Builders of dental prescriptions for tests, in the FHIR shapes documented
 * in docs/fhir-mapping.md.
 */
import type { ServiceRequest } from "@medplum/fhirtypes";
import { catalogSystem } from "../domain/catalog.ts";
import { MATERIAL_SYSTEM } from "../domain/catalog_defaults.ts";
import { BRIDGE_ROLE_EXTENSION } from "../domain/dental_item.ts";
import { shadeOrderDetail } from "../domain/shades.ts";
import { FDI_TOOTH_SYSTEM } from "../fhir/terminology.ts";

/** A prescription item of a lab's catalog product. */
export function prescription(
  lab: string,
  patient: string,
  product: string,
  options: {
    teeth?: string[];
    units?: { tooth: string; role: "abutment" | "pontic" }[];
    material?: string;
    shade?: string;
    requisition?: { system: string; value: string };
    due?: string;
    priority?: ServiceRequest["priority"];
  } = {},
): ServiceRequest {
  const sites = options.units
    ? options.units.map((u) => ({
      coding: [{ system: FDI_TOOTH_SYSTEM, code: u.tooth }],
      extension: [{ url: BRIDGE_ROLE_EXTENSION, valueCode: u.role }],
    }))
    : (options.teeth ?? []).map((t) => ({
      coding: [{ system: FDI_TOOTH_SYSTEM, code: t }],
    }));
  return {
    resourceType: "ServiceRequest",
    status: "active",
    intent: "order",
    subject: { reference: `Patient/${patient}` },
    code: { coding: [{ system: catalogSystem(lab), code: product }] },
    bodySite: sites.length > 0 ? sites : undefined,
    orderDetail: [
      {
        coding: [{
          system: MATERIAL_SYSTEM,
          code: options.material ?? "zirconia",
        }],
      },
      ...(options.shade
        ? [shadeOrderDetail({
          shade: { guide: "vita-classical", code: options.shade },
          role: "body",
        })]
        : []),
    ],
    ...(options.requisition ? { requisition: options.requisition } : {}),
    ...(options.due ? { occurrenceDateTime: options.due } : {}),
    ...(options.priority ? { priority: options.priority } : {}),
  };
}
