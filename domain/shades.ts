/**
 * Shades: the VITA classical and VITA 3D-Master shade guides, the role a
 * shade plays in a restoration, and how a shade travels in a
 * ServiceRequest. No FHIR code system exists for VITA shades, so LHCMS
 * defines its own (served as CodeSystem resources, see fhir/terminology.ts):
 * one `orderDetail` per shade, coded in the guide's system, with the role
 * in the shade-role extension.
 */
import type { CodeableConcept, Extension } from "@medplum/fhirtypes";
import type { Problem } from "./errors.ts";
import { type Parsed, quoteCode } from "./teeth.ts";

/** Base of every canonical URL LHCMS defines (code systems, extensions). */
export const LHCMS_CANONICAL_BASE = "https://lhcms.dev/fhir";
/** Code system of the 16 VITA classical shades (A1 to D4). */
export const VITA_CLASSICAL_SYSTEM =
  `${LHCMS_CANONICAL_BASE}/CodeSystem/vita-classical`;
/** Code system of the 29 VITA 3D-Master shades (0M1 to 5M3). */
export const VITA_3D_MASTER_SYSTEM =
  `${LHCMS_CANONICAL_BASE}/CodeSystem/vita-3d-master`;
/** Code system of shade roles (body, incisal, cervical, stump). */
export const SHADE_ROLE_SYSTEM =
  `${LHCMS_CANONICAL_BASE}/CodeSystem/shade-role`;
/** Value set of every shade role, bound to the shade-role extension. */
export const SHADE_ROLE_VALUE_SET =
  `${LHCMS_CANONICAL_BASE}/ValueSet/shade-role`;
/** Extension on `ServiceRequest.orderDetail` giving a shade's role. */
export const SHADE_ROLE_EXTENSION =
  `${LHCMS_CANONICAL_BASE}/StructureDefinition/shade-role`;

/** A shade guide LHCMS knows. */
export type ShadeGuide = "vita-classical" | "vita-3d-master";

/** A shade: its guide and canonical code, e.g. vita-classical "A3.5". */
export interface Shade {
  readonly guide: ShadeGuide;
  readonly code: string;
}

/** Each guide's name, code system and codes, in shade-tab order. */
export const SHADE_GUIDES: Record<
  ShadeGuide,
  { readonly title: string; readonly system: string; readonly codes: string[] }
> = {
  "vita-classical": {
    title: "VITA classical",
    system: VITA_CLASSICAL_SYSTEM,
    codes: "A1 A2 A3 A3.5 A4 B1 B2 B3 B4 C1 C2 C3 C4 D2 D3 D4".split(" "),
  },
  // Lightness group 0 (bleached) to 5, hue L/M/R, chroma 1 to 3.
  "vita-3d-master": {
    title: "VITA 3D-Master",
    system: VITA_3D_MASTER_SYSTEM,
    codes: ("0M1 0M2 0M3 1M1 1M2 " +
      "2L1.5 2L2.5 2M1 2M2 2M3 2R1.5 2R2.5 3L1.5 3L2.5 3M1 3M2 3M3 3R1.5 " +
      "3R2.5 4L1.5 4L2.5 4M1 4M2 4M3 4R1.5 4R2.5 5M1 5M2 5M3").split(" "),
  },
};

/** What part of the restoration a shade describes. */
export type ShadeRole = "body" | "incisal" | "cervical" | "stump";

/** Each role with its display and definition, as the CodeSystem lists them. */
export const SHADE_ROLES: Record<
  ShadeRole,
  { readonly display: string; readonly definition: string }
> = {
  body: {
    display: "Body",
    definition: "The main (dentine) shade of the restoration; the role " +
      "LHCMS assumes when none is given.",
  },
  incisal: {
    display: "Incisal",
    definition: "The shade of the incisal or occlusal third, usually more " +
      "translucent than the body.",
  },
  cervical: {
    display: "Cervical",
    definition: "The shade of the cervical third, next to the gingiva.",
  },
  stump: {
    display: "Stump",
    definition: "The shade of the prepared tooth or die, which shows " +
      "through translucent ceramics.",
  },
};

const GUIDES = Object.keys(SHADE_GUIDES) as ShadeGuide[];
const ROLES = Object.keys(SHADE_ROLES) as ShadeRole[];

// "a3,5", " 2l 1.5 " and "OM1" (letter O for zero, a common slip) all
// reach their canonical code.
function normalize(input: string): string {
  const text = input.replace(/\s+/g, "").replace(",", ".").toUpperCase();
  return text.replace(/^O(?=M\d)/, "0");
}

/**
 * Reads a shade case-insensitively into its canonical code, from the guide
 * given or, without one, from whichever guide has it (no code is in both).
 * @example parseShade("a3,5") // { ok: true, value: { guide: "vita-classical", code: "A3.5" } }
 */
export function parseShade(input: string, guide?: ShadeGuide): Parsed<Shade> {
  const code = normalize(input);
  const owner = GUIDES.find((g) => SHADE_GUIDES[g].codes.includes(code));
  if (owner && (guide === undefined || guide === owner)) {
    return { ok: true, value: { guide: owner, code } };
  }
  const named = `Shade ${quoteCode(input.trim())}`;
  if (owner && guide) {
    return {
      ok: false,
      message: `${named} is not a ${SHADE_GUIDES[guide].title} shade ` +
        `(it is a ${SHADE_GUIDES[owner].title} shade)`,
    };
  }
  const expected = guide
    ? `a ${SHADE_GUIDES[guide].title} shade`
    : "a VITA classical or VITA 3D-Master shade";
  return {
    ok: false,
    message: `${named} is not ${expected}; see the code systems ` +
      `${VITA_CLASSICAL_SYSTEM} and ${VITA_3D_MASTER_SYSTEM}`,
  };
}

/** Reads a shade role case-insensitively. */
export function parseShadeRole(input: string): Parsed<ShadeRole> {
  const role = ROLES.find((r) => r === input.trim().toLowerCase());
  if (role) return { ok: true, value: role };
  return {
    ok: false,
    message: `Shade role ${quoteCode(input.trim())} is not one of ` +
      ROLES.join(", "),
  };
}

/** A shade as people write it, e.g. "VITA classical A3.5". */
export function shadeName(shade: Shade): string {
  return `${SHADE_GUIDES[shade.guide].title} ${shade.code}`;
}

// The letters of both guides: classical hue groups, 3D-Master hues.
const HUES: Record<string, string> = {
  A: "reddish-brown",
  B: "reddish-yellow",
  C: "grey",
  D: "reddish-grey",
  L: "yellowish",
  M: "medium",
  R: "reddish",
};

/**
 * What a shade code says, in words: the hue group and step of a classical
 * shade, the lightness group, hue and chroma of a 3D-Master one.
 * @example describeShade({ guide: "vita-3d-master", code: "2L1.5" })
 * // "Lightness group 2, yellowish hue, chroma 1.5."
 */
export function describeShade(shade: Shade): string {
  const { code } = shade;
  if (shade.guide === "vita-classical") {
    return `Hue group ${code[0]} (${HUES[code[0]]}), step ${code.slice(1)} ` +
      "(higher steps are darker).";
  }
  const bleached = code[0] === "0" ? " (bleached)" : "";
  return `Lightness group ${code[0]}${bleached}, ${HUES[code[1]]} hue, ` +
    `chroma ${code.slice(2)}.`;
}

/** A shade together with the role it plays. */
export interface ShadeChoice {
  readonly shade: Shade;
  readonly role: ShadeRole;
}

/**
 * The `ServiceRequest.orderDetail` element for one shade and its role.
 * @example shadeOrderDetail({ shade: { guide: "vita-classical", code: "A2" }, role: "body" })
 */
export function shadeOrderDetail(choice: ShadeChoice): CodeableConcept {
  const { shade, role } = choice;
  return {
    extension: [{ url: SHADE_ROLE_EXTENSION, valueCode: role }],
    coding: [{
      system: SHADE_GUIDES[shade.guide].system,
      code: shade.code,
      display: shadeName(shade),
    }],
    text: `${SHADE_ROLES[role].display} shade ${shadeName(shade)}`,
  };
}

function guideOf(system: string | undefined): ShadeGuide | undefined {
  return GUIDES.find((g) => SHADE_GUIDES[g].system === system);
}

/** Whether an `orderDetail` element is a shade (by coding or extension). */
export function isShadeOrderDetail(concept: CodeableConcept): boolean {
  return (concept.coding ?? []).some((c) => guideOf(c.system)) ||
    (concept.extension ?? []).some((e) => e.url === SHADE_ROLE_EXTENSION);
}

function readRole(extensions: Extension[]): Parsed<ShadeRole> {
  const roles = extensions.filter((e) => e.url === SHADE_ROLE_EXTENSION);
  if (roles.length === 0) return { ok: true, value: "body" };
  if (roles.length > 1 || typeof roles[0].valueCode !== "string") {
    return {
      ok: false,
      message: "A shade takes one shade-role extension with a valueCode",
    };
  }
  return parseShadeRole(roles[0].valueCode);
}

/**
 * Reads one shade `orderDetail`: exactly one coding from a shade guide
 * system, and a role (body when the extension is absent).
 */
export function readShadeOrderDetail(
  concept: CodeableConcept,
): Parsed<ShadeChoice> {
  const codings = (concept.coding ?? []).filter((c) => guideOf(c.system));
  if (codings.length !== 1) {
    return {
      ok: false,
      message: "A shade orderDetail carries exactly one coding from " +
        `${VITA_CLASSICAL_SYSTEM} or ${VITA_3D_MASTER_SYSTEM}`,
    };
  }
  const shade = parseShade(codings[0].code ?? "", guideOf(codings[0].system));
  if (!shade.ok) return shade;
  const role = readRole(concept.extension ?? []);
  if (!role.ok) return role;
  return { ok: true, value: { shade: shade.value, role: role.value } };
}

/**
 * A shade `orderDetail` as LHCMS sends it back: the canonical code with
 * its display and the role extension, other codings and extensions kept.
 * An element that is no readable shade is returned as it is.
 * @example canonicalShadeOrderDetail({ coding: [{ system: VITA_CLASSICAL_SYSTEM, code: "a3,5" }] })
 * // coding A3.5 "VITA classical A3.5", role body
 */
export function canonicalShadeOrderDetail(
  concept: CodeableConcept,
): CodeableConcept {
  if (!isShadeOrderDetail(concept)) return concept;
  const read = readShadeOrderDetail(concept);
  if (!read.ok) return concept;
  const canonical = shadeOrderDetail(read.value);
  return {
    ...concept,
    extension: [
      ...(concept.extension ?? []).filter((e) =>
        e.url !== SHADE_ROLE_EXTENSION
      ),
      ...canonical.extension!,
    ],
    coding: [
      ...canonical.coding!,
      ...(concept.coding ?? []).filter((c) => !guideOf(c.system)),
    ],
    text: concept.text ?? canonical.text,
  };
}

/**
 * Reads every shade among `ServiceRequest.orderDetail`, skipping elements
 * that are not shades (materials, options), with a problem per bad shade.
 */
export function readShades(
  orderDetail: readonly CodeableConcept[] | undefined,
  path = "ServiceRequest.orderDetail",
): { shades: ShadeChoice[]; problems: Problem[] } {
  const shades: ShadeChoice[] = [];
  const problems: Problem[] = [];
  (orderDetail ?? []).forEach((concept, i) => {
    if (!isShadeOrderDetail(concept)) return;
    const read = readShadeOrderDetail(concept);
    if (read.ok) shades.push(read.value);
    else problems.push({ message: read.message, expression: `${path}[${i}]` });
  });
  return { shades, problems };
}
