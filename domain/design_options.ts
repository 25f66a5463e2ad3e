/**
 * The design options a product of the catalog may ask for, besides the
 * shade: the margin design of a crown's preparation and the pontic design
 * of a bridge. Each is one coding in `ServiceRequest.orderDetail`, in a code
 * system LHCMS defines (no FHIR or ADA one exists); when the prescription
 * leaves it out, the lab works to its own default.
 */
import type { ServiceRequest } from "@medplum/fhirtypes";
import type { Product } from "./catalog.ts";
import type { Problem } from "./errors.ts";
import { LHCMS_CANONICAL_BASE } from "./shades.ts";

/** Code system of the margin design (`orderDetail`). */
export const MARGIN_DESIGN_SYSTEM =
  `${LHCMS_CANONICAL_BASE}/CodeSystem/margin-design`;

/** Code system of the pontic design (`orderDetail`). */
export const PONTIC_DESIGN_SYSTEM =
  `${LHCMS_CANONICAL_BASE}/CodeSystem/pontic-design`;

type Texts = Readonly<Record<string, { display: string; definition: string }>>;

/** The margin designs a dentist prepares for. */
export const MARGIN_DESIGNS: Texts = {
  "chamfer": {
    display: "Chamfer",
    definition: "A curved margin, the usual one for all-ceramic crowns.",
  },
  "heavy-chamfer": {
    display: "Heavy chamfer",
    definition: "A deep chamfer, for more ceramic at the margin.",
  },
  "shoulder": {
    display: "Shoulder",
    definition: "A flat margin at a right angle to the tooth's long axis.",
  },
  "beveled-shoulder": {
    display: "Beveled shoulder",
    definition: "A shoulder with a bevel, for a metal collar.",
  },
  "knife-edge": {
    display: "Knife edge",
    definition: "A featheredge margin with almost no reduction.",
  },
};

/** The shapes of a bridge's pontic where it meets the ridge. */
export const PONTIC_DESIGNS: Texts = {
  "ridge-lap": {
    display: "Ridge lap",
    definition: "Saddles the ridge on both sides; hard to clean.",
  },
  "modified-ridge-lap": {
    display: "Modified ridge lap",
    definition: "Touches the ridge on the cheek side only.",
  },
  "ovate": {
    display: "Ovate",
    definition: "Rounded and set into a prepared socket of the ridge.",
  },
  "hygienic": {
    display: "Hygienic (sanitary)",
    definition: "Clear of the ridge, for cleaning underneath.",
  },
  "conical": {
    display: "Conical",
    definition: "Touches the ridge at one point.",
  },
};

const OPTIONS = [
  {
    option: "margin",
    name: "margin design",
    system: MARGIN_DESIGN_SYSTEM,
    codes: MARGIN_DESIGNS,
  },
  {
    option: "pontic",
    name: "pontic design",
    system: PONTIC_DESIGN_SYSTEM,
    codes: PONTIC_DESIGNS,
  },
] as const;

/**
 * The problems with the design options of a prescription: at most one of
 * each, from its code system, and only those the product asks for.
 */
export function designOptionProblems(
  request: ServiceRequest,
  product: Product,
): Problem[] {
  const problems: Problem[] = [];
  for (const { option, name, system, codes } of OPTIONS) {
    const given = (request.orderDetail ?? []).flatMap((d) => d.coding ?? [])
      .filter((c) => c.system === system);
    const add = (message: string) =>
      problems.push({ message, expression: "ServiceRequest.orderDetail" });
    if (given.length === 0) continue;
    if (!product.options[option]) {
      add(`${product.display} takes no ${name}`);
    } else if (given.length > 1) {
      add(`name one ${name} (${system})`);
    } else if (!((given[0].code ?? "") in codes)) {
      add(`${given[0].code} is not a ${name} of ${system}`);
    }
  }
  return problems;
}

/** The display of the option coded in `system`, for the work ticket. */
export function designOptionOf(
  request: ServiceRequest,
  system: string,
): string | undefined {
  const codes = OPTIONS.find((o) => o.system === system)?.codes;
  const code = (request.orderDetail ?? []).flatMap((d) => d.coding ?? [])
    .find((c) => c.system === system)?.code;
  return code ? codes?.[code]?.display ?? code : undefined;
}

/** The design option code systems' concepts, for serving. */
export const DESIGN_OPTION_SYSTEMS = OPTIONS.map((o) => ({
  system: o.system,
  title: o.name[0].toUpperCase() + o.name.slice(1),
  codes: o.codes,
}));
