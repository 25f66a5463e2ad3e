/**
 * How LHCMS codes teeth and shades in FHIR: the tooth systems used in
 * `ServiceRequest.bodySite` and the mapping to and from them, and the
 * CodeSystem, ValueSet and StructureDefinition resources LHCMS defines,
 * for the server to publish at their canonical URLs.
 */
import type {
  CodeableConcept,
  CodeSystem,
  CodeSystemConcept,
  Coding,
  ElementDefinition,
  StructureDefinition,
  ValueSet,
} from "@medplum/fhirtypes";
import type { Problem } from "../domain/errors.ts";
import {
  type ArchSelection,
  parseTooth,
  TEETH,
  type Tooth,
} from "../domain/teeth.ts";
import {
  describeShade,
  LHCMS_CANONICAL_BASE,
  type Shade,
  SHADE_GUIDES,
  SHADE_ROLE_EXTENSION,
  SHADE_ROLE_SYSTEM,
  SHADE_ROLE_VALUE_SET,
  SHADE_ROLES,
  type ShadeGuide,
  shadeName,
} from "../domain/shades.ts";

/**
 * LHCMS's FDI tooth code system. HL7's `ex-tooth` is an example system
 * that lacks the primary teeth and no OID for ISO 3950 is registered, so
 * LHCMS publishes a complete one (see docs/fhir-mapping.md).
 */
export const FDI_TOOTH_SYSTEM = `${LHCMS_CANONICAL_BASE}/CodeSystem/fdi-tooth`;
/** HL7's example FDI system: accepted on input, as FHIR's examples use it. */
export const HL7_EX_TOOTH_SYSTEM =
  "http://terminology.hl7.org/CodeSystem/ex-tooth";
/** The HL7 Terminology (THO) URI of the ADA Universal tooth designations. */
export const ADA_UNIVERSAL_SYSTEM =
  "http://terminology.hl7.org/CodeSystem/ADAUniversalToothDesignationSystem";
/** The THO URI of the ADA (ISO 3950) area of oral cavity codes. */
export const ADA_AREA_SYSTEM =
  "http://terminology.hl7.org/CodeSystem/ADAAreaOralCavitySystem";

/** The coded `bodySite` of one FDI tooth: its FDI and Universal codings. */
export function toothBodySite(fdi: string): CodeableConcept {
  const parsed = parseTooth(fdi, "fdi");
  if (!parsed.ok) throw new RangeError(parsed.message);
  const tooth = parsed.value;
  return {
    coding: [
      { system: FDI_TOOTH_SYSTEM, code: tooth.fdi, display: tooth.name },
      // No display: a validator flags one that differs from THO's wording.
      { system: ADA_UNIVERSAL_SYSTEM, code: tooth.universal },
    ],
    text: `Tooth ${tooth.fdi} (FDI), ${tooth.universal} (Universal)`,
  };
}

// ISO 3950 area codes, which the ADA claim form uses as they are.
const AREAS: Record<
  ArchSelection,
  [code: string, display: string, text: string]
> = {
  upper: ["01", "Maxillary arch", "Upper arch"],
  lower: ["02", "Mandibular arch", "Lower arch"],
  both: ["00", "Entire oral cavity", "Both arches"],
};

/** The coded `bodySite` of an arch product; both arches are area "00". */
export function archBodySite(arch: ArchSelection): CodeableConcept {
  const [code, display, text] = AREAS[arch];
  return { coding: [{ system: ADA_AREA_SYSTEM, code, display }], text };
}

/** What a list of `bodySite` concepts names, and what could not be read. */
export interface BodySiteReading {
  /** FDI codes, in the order given. */
  teeth: string[];
  arch?: ArchSelection;
  problems: Problem[];
}

type SiteRead = { tooth?: Tooth; arch?: ArchSelection; error?: string };
const TOOTH_SYSTEMS = [
  FDI_TOOTH_SYSTEM,
  HL7_EX_TOOTH_SYSTEM,
  ADA_UNIVERSAL_SYSTEM,
];

function readTooth(codings: Coding[]): SiteRead {
  const results = codings.map((c) =>
    parseTooth(
      c.code ?? "",
      c.system === ADA_UNIVERSAL_SYSTEM ? "universal" : "fdi",
    )
  );
  const teeth: Tooth[] = [];
  for (const [i, result] of results.entries()) {
    if (!result.ok) return { error: result.message };
    // HL7's example system holds the permanent teeth only.
    if (
      codings[i].system === HL7_EX_TOOTH_SYSTEM &&
      result.value.dentition !== "permanent"
    ) {
      return {
        error: `${codings[i].code} is not a code of ${HL7_EX_TOOTH_SYSTEM} ` +
          `(permanent teeth only); send primary teeth in ${FDI_TOOTH_SYSTEM}`,
      };
    }
    teeth.push(result.value);
  }
  const fdi = [...new Set(teeth.map((t) => t.fdi))];
  if (fdi.length > 1) {
    return {
      error: `This bodySite's codings name different teeth (FDI ${
        fdi.join(" and ")
      })`,
    };
  }
  return { tooth: teeth[0] };
}

function readSite(concept: CodeableConcept): SiteRead {
  const codings = concept.coding ?? [];
  const teeth = codings.filter((c) => TOOTH_SYSTEMS.includes(c.system ?? ""));
  const areas = codings.filter((c) => c.system === ADA_AREA_SYSTEM);
  if (teeth.length > 0 && areas.length > 0) {
    return {
      error: "This bodySite names both a tooth and an area; send one of them",
    };
  }
  if (teeth.length > 0) return readTooth(teeth);
  const arches = areas.map((c) =>
    (Object.keys(AREAS) as ArchSelection[]).find((a) => AREAS[a][0] === c.code)
  );
  if (arches.length === 0 || arches.some((a) => !a)) {
    return {
      error: `This bodySite has no tooth coding (${FDI_TOOTH_SYSTEM} or ` +
        `${ADA_UNIVERSAL_SYSTEM}) and no arch (${ADA_AREA_SYSTEM} 00, 01 or 02)`,
    };
  }
  return { arch: arches.reduce((a, b) => a === b ? a : "both") };
}

/**
 * Reads `ServiceRequest.bodySite` back into FDI teeth and an arch. A tooth
 * may carry an FDI coding (LHCMS's or HL7's `ex-tooth`), a Universal one,
 * or both if they agree; upper and lower together read as "both".
 */
export function readBodySites(
  concepts: readonly CodeableConcept[] | undefined,
  path = "ServiceRequest.bodySite",
): BodySiteReading {
  const reading: BodySiteReading = { teeth: [], problems: [] };
  (concepts ?? []).forEach((concept, i) => {
    const site = readSite(concept);
    if (site.error) {
      reading.problems.push({
        message: site.error,
        expression: `${path}[${i}]`,
      });
    }
    if (site.tooth) reading.teeth.push(site.tooth.fdi);
    if (site.arch) {
      const before = reading.arch;
      reading.arch = before && before !== site.arch ? "both" : site.arch;
    }
  });
  return reading;
}

/** Version and date of the LHCMS-defined terminology resources. */
export const TERMINOLOGY_VERSION = "1.0.0";
const DATE = "2026-12-03";
const VITA_NOTICE = "VITA, VITA classical and VITA 3D-Master are " +
  "trademarks of VITA Zahnfabrik H. Rauter GmbH & Co. KG. LHCMS codes " +
  "the shade tabs of these guides for ordering and is not affiliated with VITA.";

/** The metadata every LHCMS-defined conformance resource shares. */
export function metadata(id: string, title: string, description: string) {
  return {
    id,
    version: TERMINOLOGY_VERSION,
    // A computable name: "VITA 3D-Master shade" becomes VITA3DMasterShade.
    name: title.split(/[^A-Za-z0-9]+/).map((w) =>
      w[0].toUpperCase() + w.slice(1)
    )
      .join(""),
    title,
    status: "active" as const,
    experimental: false,
    date: DATE,
    publisher: "LHCMS",
    description,
  };
}

/** A complete LHCMS code system at `{canonical base}/CodeSystem/{id}`. */
export function codeSystem(
  id: string,
  title: string,
  description: string,
  concept: CodeSystemConcept[],
): CodeSystem {
  return {
    resourceType: "CodeSystem",
    ...metadata(id, title, description),
    url: `${LHCMS_CANONICAL_BASE}/CodeSystem/${id}`,
    caseSensitive: true,
    content: "complete",
    count: concept.length,
    concept,
  };
}

/** The FDI tooth code system: all 52 teeth, each with its Universal number. */
export function fdiToothCodeSystem(): CodeSystem {
  const concepts = TEETH.map((t) => ({
    code: t.fdi,
    display: t.name,
    property: [{ code: "universal", valueString: t.universal }],
  }));
  return {
    ...codeSystem(
      "fdi-tooth",
      "FDI tooth",
      "Every permanent and primary tooth in the two-digit notation of " +
        "ISO 3950 (FDI World Dental Federation).",
      concepts,
    ),
    property: [{
      code: "universal",
      description: "The tooth's ADA Universal designation",
      type: "string",
    }],
  };
}

function shadeConcept(shade: Shade): CodeSystemConcept {
  const { code } = shade;
  return { code, display: shadeName(shade), definition: describeShade(shade) };
}

/** The code system of one VITA shade guide, every tab with its display. */
export function shadeGuideCodeSystem(guide: ShadeGuide): CodeSystem {
  const { title, codes } = SHADE_GUIDES[guide];
  return {
    ...codeSystem(
      guide,
      `${title} shade`,
      `The shade tabs of the ${title} shade guide, as LHCMS codes them.`,
      codes.map((code) => shadeConcept({ guide, code })),
    ),
    copyright: VITA_NOTICE,
  };
}

/** The shade-role code system: body, incisal, cervical and stump. */
export function shadeRoleCodeSystem(): CodeSystem {
  const concepts = Object.entries(SHADE_ROLES).map(([code, role]) => ({
    code,
    ...role,
  }));
  return {
    ...codeSystem(
      "shade-role",
      "Shade role",
      "The part of a restoration a prescribed shade describes.",
      concepts,
    ),
    valueSet: SHADE_ROLE_VALUE_SET,
  };
}

/** The value set of every shade role, bound by the shade-role extension. */
export function shadeRoleValueSet(): ValueSet {
  return {
    resourceType: "ValueSet",
    ...metadata(
      "shade-role",
      "Shade role",
      "Every code of the LHCMS shade-role code system.",
    ),
    url: SHADE_ROLE_VALUE_SET,
    compose: { include: [{ system: SHADE_ROLE_SYSTEM }] },
  };
}

// The differential of the extension: one optional code, no sub-extensions.
function shadeRoleElements(): ElementDefinition[] {
  return [
    {
      id: "Extension",
      path: "Extension",
      short: "Role of a shade",
      definition: "What part of the restoration the shade describes; " +
        "absent means body.",
      max: "1",
    },
    { id: "Extension.extension", path: "Extension.extension", max: "0" },
    {
      id: "Extension.url",
      path: "Extension.url",
      fixedUri: SHADE_ROLE_EXTENSION,
    },
    {
      id: "Extension.value[x]",
      path: "Extension.value[x]",
      min: 1,
      type: [{ code: "code" }],
      binding: { strength: "required", valueSet: SHADE_ROLE_VALUE_SET },
    },
  ];
}

/** The R4 definition of the shade-role extension on `orderDetail`. */
export function shadeRoleExtensionDefinition(): StructureDefinition {
  return {
    resourceType: "StructureDefinition",
    ...metadata(
      "shade-role",
      "Shade role",
      "The part of the restoration (body, incisal, cervical or stump) " +
        "that a shade given in ServiceRequest.orderDetail describes.",
    ),
    url: SHADE_ROLE_EXTENSION,
    fhirVersion: "4.0.1",
    kind: "complex-type",
    abstract: false,
    context: [{ type: "element", expression: "ServiceRequest.orderDetail" }],
    type: "Extension",
    baseDefinition: "http://hl7.org/fhir/StructureDefinition/Extension",
    derivation: "constraint",
    differential: { element: shadeRoleElements() },
  };
}

/** Every code system LHCMS defines, for serving at their canonical URLs. */
export function lhcmsCodeSystems(): CodeSystem[] {
  return [
    fdiToothCodeSystem(),
    shadeGuideCodeSystem("vita-classical"),
    shadeGuideCodeSystem("vita-3d-master"),
    shadeRoleCodeSystem(),
  ];
}

/**
 * Every conformance resource LHCMS defines: the code systems, the shade-role
 * value set and the shade-role extension, each to be served at its URL.
 */
export function lhcmsTerminologyResources(): (
  | CodeSystem
  | ValueSet
  | StructureDefinition
)[] {
  return [
    ...lhcmsCodeSystems(),
    shadeRoleValueSet(),
    shadeRoleExtensionDefinition(),
  ];
}
