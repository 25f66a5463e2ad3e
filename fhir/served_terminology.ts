/**
 * The conformance resources an LHCMS server publishes: the code systems,
 * value sets and extension definitions LHCMS defines for every lab, found
 * by type and id (the last segment of the canonical URL) or by URL, and
 * each lab's own catalog code systems, built from its catalog.
 */
import type {
  CodeSystem,
  CodeSystemConcept,
  StructureDefinition,
  ValueSet,
} from "@medplum/fhirtypes";
import type { Product } from "../domain/catalog.ts";
import { catalogSystem } from "../domain/catalog.ts";
import { MATERIAL_SYSTEM } from "../domain/catalog_defaults.ts";
import { stageSystem } from "../domain/case_workflow.ts";
import { caseEventTerminology } from "./case_terminology.ts";
import { lhcmsTerminologyResources } from "./terminology.ts";

/** A conformance resource LHCMS serves. */
export type TerminologyResource = CodeSystem | ValueSet | StructureDefinition;

/** The resource types served, in the order an index lists them. */
export const TERMINOLOGY_TYPES = [
  "CodeSystem",
  "ValueSet",
  "StructureDefinition",
] as const;

/** One of {@link TERMINOLOGY_TYPES}. */
export type TerminologyType = typeof TERMINOLOGY_TYPES[number];

/**
 * Further LHCMS-wide resources to serve beside those of fhir/terminology.ts:
 * add the case terminology (remakes, enclosures, materials...) here as its
 * module lands, and every route, search and index page picks it up.
 */
export const ADDITIONAL_TERMINOLOGY: (() => TerminologyResource[])[] = [
  caseEventTerminology,
];

/** Ids of the code systems each lab keeps for itself (sign-in required). */
export const LAB_CODE_SYSTEMS = ["products", "stages"] as const;

/** The id a resource is served under: its canonical URL's last segment. */
export function terminologyId(url: string): string {
  return url.slice(url.lastIndexOf("/") + 1);
}

/** Every LHCMS-wide resource, each with its id set from its URL. */
export function servedTerminology(): TerminologyResource[] {
  const all = [
    ...lhcmsTerminologyResources(),
    ...ADDITIONAL_TERMINOLOGY.flatMap((build) => build()),
  ];
  return all.map((r) => ({ ...r, id: terminologyId(r.url ?? "") }));
}

/** The LHCMS-wide resource of `type` with `id`, or undefined. */
export function findTerminology(
  type: string,
  id: string,
): TerminologyResource | undefined {
  return servedTerminology().find((r) =>
    r.resourceType === type && r.id === id
  );
}

/**
 * Whether a resource matches a `url` search value: the canonical URL,
 * optionally followed by `|version` (https://hl7.org/fhir/R4/references.html#canonical).
 */
export function matchesCanonical(
  resource: TerminologyResource,
  value: string,
): boolean {
  const [url, version] = value.split("|", 2);
  return resource.url === url &&
    (version === undefined || resource.version === version);
}

// What a lab's own code systems share; their content follows its catalog,
// so they carry no version of their own.
function labCodeSystem(
  url: string,
  name: string,
  title: string,
  description: string,
  concept: CodeSystemConcept[],
): CodeSystem {
  return {
    resourceType: "CodeSystem",
    id: terminologyId(url),
    url,
    name,
    title,
    status: "active",
    experimental: false,
    publisher: "LHCMS",
    description,
    caseSensitive: true,
    content: "complete",
    count: concept.length,
    concept,
  };
}

function productConcept(product: Product): CodeSystemConcept {
  return {
    code: product.code,
    display: product.display,
    property: [
      { code: "needs", valueCode: product.needs },
      { code: "turnaround-days", valueInteger: product.turnaroundDays },
      { code: "rush-days", valueInteger: product.rushDays },
      ...product.materials.map((code) => ({
        code: "material",
        valueCoding: { system: MATERIAL_SYSTEM, code },
      })),
      ...(product.active ? [] : [{ code: "inactive", valueBoolean: true }]),
    ],
  };
}

/** A lab's products as the code system of `ServiceRequest.code`. */
export function productCodeSystem(lab: string, products: Product[]) {
  const system = labCodeSystem(
    catalogSystem(lab),
    "Products",
    `Products of lab ${lab}`,
    "The products this lab makes, from its catalog: what each is made on " +
      "(tooth, bridge or arch), its turnaround in business days and the " +
      "materials it may be made in. Inactive products take no new cases.",
    products.map(productConcept),
  );
  const property: CodeSystem["property"] = [
    { code: "needs", type: "code", description: "tooth, bridge or arch" },
    { code: "turnaround-days", type: "integer" },
    { code: "rush-days", type: "integer" },
    { code: "material", type: "Coding", description: "An allowed material" },
    {
      code: "inactive",
      uri: "http://hl7.org/fhir/concept-properties#inactive",
      type: "boolean",
    },
  ];
  return { ...system, property };
}

/**
 * Every production stage code used by a lab's products (the codes of the
 * item Task's `businessStatus`), first display wins, with the products
 * that use each stage.
 */
export function stageCodeSystem(lab: string, products: Product[]) {
  const stages = new Map<string, CodeSystemConcept>();
  for (const product of products) {
    for (const stage of product.stages) {
      const concept = stages.get(stage.code) ??
        { code: stage.code, display: stage.display, property: [] };
      concept.property!.push({ code: "product", valueCode: product.code });
      stages.set(stage.code, concept);
    }
  }
  const system = labCodeSystem(
    stageSystem(lab),
    "ProductionStages",
    `Production stages of lab ${lab}`,
    "Every production stage of this lab's products, as item Tasks report " +
      "them in businessStatus; each names the products that pass through it.",
    [...stages.values()],
  );
  const property: CodeSystem["property"] = [{
    code: "product",
    type: "code",
    description: `A product (${catalogSystem(lab)}) made through this stage`,
  }];
  return { ...system, property };
}
