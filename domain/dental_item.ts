/**
 * Checks one prescription item against its catalog product: one allowed
 * material (with an alloy for metal-ceramic work), the teeth, bridge span or
 * arch the product needs, a shade where the product asks for one, and pan
 * numbers with the period they were in use. Every problem is reported with
 * its FHIRPath; tooth sites come back carrying both FDI and ADA Universal
 * codings, and shades with their canonical code and role.
 */
import type { CodeableConcept, ServiceRequest } from "@medplum/fhirtypes";
import {
  archBodySite,
  readBodySites,
  toothBodySite,
} from "../fhir/terminology.ts";
import type { Product } from "./catalog.ts";
import { ALLOYS, MATERIAL_SYSTEM, MATERIALS } from "./catalog_defaults.ts";
import { designOptionProblems } from "./design_options.ts";
import { fail, type Problem } from "./errors.ts";
import { canonicalShadeOrderDetail, readShades } from "./shades.ts";
import {
  type ArchSelection,
  type BridgeUnit,
  validateProductSites,
} from "./teeth.ts";

/** LHCMS's code system of alloy classes for metal-ceramic work. */
export const ALLOY_SYSTEM = "https://lhcms.dev/fhir/CodeSystem/alloy";
/** Extension on a bridge's bodySite entry: abutment or pontic. */
export const BRIDGE_ROLE_EXTENSION =
  "https://lhcms.dev/fhir/StructureDefinition/bridge-unit-role";

/** Canonical system of a lab's pan (tray) numbers. */
export function panNumberSystem(lab: string): string {
  return `https://lhcms.dev/fhir/lab/${lab}/pan-number`;
}

/**
 * The checked item with normalised body sites and shades; throws 422 with
 * every problem.
 */
export function checkItem(
  lab: string,
  request: ServiceRequest,
  product: Product,
): ServiceRequest {
  const problems = [
    ...materialProblems(request, product),
    ...shadeProblems(request, product),
    ...panProblems(lab, request),
    ...dueDateProblems(request),
    ...designOptionProblems(request, product),
  ];
  const sites = readSites(request, product);
  problems.push(...sites.problems);
  if (problems.length > 0) {
    throw fail.unprocessable(
      `Cannot accept the ${product.display} prescription`,
      problems,
    );
  }
  return {
    ...request,
    bodySite: sites.bodySite,
    orderDetail: request.orderDetail?.map(canonicalShadeOrderDetail),
  };
}

function codings(request: ServiceRequest, system: string) {
  return (request.orderDetail ?? []).flatMap((d) => d.coding ?? [])
    .filter((c) => c.system === system);
}

function materialProblems(
  request: ServiceRequest,
  product: Product,
): Problem[] {
  const at = "ServiceRequest.orderDetail";
  const materials = codings(request, MATERIAL_SYSTEM);
  if (materials.length !== 1) {
    return [{
      message: `name exactly one material (${MATERIAL_SYSTEM})`,
      expression: at,
    }];
  }
  const code = materials[0].code ?? "";
  if (!product.materials.includes(code)) {
    return [{
      message: `${product.display} is made in ${product.materials.join(", ")}`,
      expression: at,
    }];
  }
  const alloys = codings(request, ALLOY_SYSTEM);
  if (
    MATERIALS[code]?.alloy &&
    (alloys.length !== 1 || !(alloys[0].code! in ALLOYS))
  ) {
    return [{
      message: `${MATERIALS[code].display} needs one alloy (${ALLOY_SYSTEM})`,
      expression: at,
    }];
  }
  return [];
}

function shadeProblems(request: ServiceRequest, product: Product): Problem[] {
  const { shades, problems } = readShades(request.orderDetail);
  const roles = shades.map((s) => s.role);
  for (const role of new Set(roles)) {
    if (roles.indexOf(role) !== roles.lastIndexOf(role)) {
      problems.push({
        message: `one shade per role: ${role} is given twice`,
        expression: "ServiceRequest.orderDetail",
      });
    }
  }
  if (product.options.shade && shades.length === 0 && problems.length === 0) {
    problems.push({
      message: `${product.display} needs a shade`,
      expression: "ServiceRequest.orderDetail",
    });
  }
  return problems;
}

// The lab fills occurrenceDateTime; FHIR allows one occurrence[x] only.
function dueDateProblems(request: ServiceRequest): Problem[] {
  return (["occurrencePeriod", "occurrenceTiming"] as const)
    .filter((element) => request[element] !== undefined)
    .map((element) => ({
      message: "the due date is occurrenceDateTime (a date); " +
        `${element} is not taken`,
      expression: `ServiceRequest.${element}`,
    }));
}

function panProblems(lab: string, request: ServiceRequest): Problem[] {
  const system = panNumberSystem(lab);
  return (request.identifier ?? []).flatMap((id, i) =>
    id.system === system && (!id.value || !id.period?.start)
      ? [{
        message: "a pan number needs a value and the start of its period",
        expression: `ServiceRequest.identifier[${i}]`,
      }]
      : []
  );
}

function readSites(request: ServiceRequest, product: Product) {
  const bodySite: CodeableConcept[] = [];
  const teeth: string[] = [];
  const units: BridgeUnit[] = [];
  let arch: ArchSelection | undefined;
  const arches: ArchSelection[] = [];
  const problems: Problem[] = [];
  (request.bodySite ?? []).forEach((concept, i) => {
    const read = readBodySites([concept], `ServiceRequest.bodySite[${i}]`);
    problems.push(
      ...read.problems.map((p) => ({
        ...p,
        expression: `ServiceRequest.bodySite[${i}]`,
      })),
    );
    const role = concept.extension?.find((e) => e.url === BRIDGE_ROLE_EXTENSION)
      ?.valueCode;
    const at = `ServiceRequest.bodySite[${i}]`;
    // A tooth without a role would otherwise escape the bridge's span check.
    if (product.needs === "bridge" && read.teeth.length > 0 && !role) {
      problems.push({
        message: "each tooth of a bridge names its role (abutment or " +
          `pontic) in the ${BRIDGE_ROLE_EXTENSION} extension`,
        expression: at,
      });
    }
    if (product.needs !== "bridge" && role) {
      problems.push({
        message: `only the teeth of a bridge carry a role; ${product.display}` +
          " has none",
        expression: at,
      });
    }
    for (const fdi of read.teeth) {
      if (teeth.includes(fdi)) {
        problems.push({
          message: `tooth ${fdi} is named twice`,
          expression: at,
        });
      }
      teeth.push(fdi);
      if (role) units.push({ tooth: fdi, role });
      const site = toothBodySite(fdi);
      bodySite.push(
        role
          ? {
            ...site,
            extension: [{ url: BRIDGE_ROLE_EXTENSION, valueCode: role }],
          }
          : site,
      );
    }
    if (read.arch) {
      const overlaps = arches.includes(read.arch) || arches.includes("both") ||
        (read.arch === "both" && arches.length > 0);
      if (overlaps) {
        problems.push({ message: "an arch is named twice", expression: at });
      }
      arches.push(read.arch);
    }
  });
  // Upper and lower sent apart are both arches: stored one way, as "00".
  if (arches.length > 0) {
    arch = arches.length === 1 ? arches[0] : "both";
    bodySite.push(archBodySite(arch));
  }
  const needs = product.needs === "tooth" ? "teeth" : product.needs;
  problems.push(
    ...validateProductSites(
      { needs },
      needs === "bridge" ? { units, arch } : { teeth, arch },
      "ServiceRequest.bodySite",
    ),
  );
  return { bodySite: bodySite.length > 0 ? bodySite : undefined, problems };
}
