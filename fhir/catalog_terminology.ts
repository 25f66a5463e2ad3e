/**
 * The code systems and extensions of prescriptions and their Tasks that
 * every lab shares: materials and alloys (`ServiceRequest.orderDetail`),
 * the bridge unit role on `bodySite`, the server-owned ship-by date, and
 * the codes of Tasks that are not production stages.
 */
import type {
  CodeSystem,
  StructureDefinition,
  ValueSet,
} from "@medplum/fhirtypes";
import {
  ALLOYS,
  MATERIAL_SYSTEM,
  MATERIALS,
} from "../domain/catalog_defaults.ts";
import { SHIP_BY_EXTENSION } from "../domain/dental_case.ts";
import { BRIDGE_ROLE_EXTENSION } from "../domain/dental_item.ts";
import { DESIGN_OPTION_SYSTEMS } from "../domain/design_options.ts";
import {
  DESIGN_APPROVAL,
  TASK_CODE_SYSTEM,
} from "../domain/design_approval.ts";
import { ALLOY_SYSTEM } from "../domain/dental_item.ts";
import { BRIDGE_ROLES, type BridgeRole } from "../domain/teeth.ts";
import {
  concepts,
  extensionDefinition,
  idOf,
  type Texts,
} from "./case_terminology.ts";
import { codeSystem, metadata } from "./terminology.ts";
import { LHCMS_CANONICAL_BASE } from "../domain/shades.ts";

/** Code system and value set of the bridge unit roles. */
export const BRIDGE_ROLE_SYSTEM =
  `${LHCMS_CANONICAL_BASE}/CodeSystem/bridge-unit-role`;
export const BRIDGE_ROLE_VALUE_SET =
  `${LHCMS_CANONICAL_BASE}/ValueSet/bridge-unit-role`;

const ROLE_TEXTS: Readonly<Record<BridgeRole, Texts[string]>> = {
  abutment: {
    display: "Abutment",
    definition: "A unit of the bridge seated on a prepared tooth or implant.",
  },
  pontic: {
    display: "Pontic",
    definition: "A unit of the bridge that replaces a missing tooth.",
  },
};

// Written so a new BridgeRole fails to compile until it is described.
const BRIDGE_ROLE_TEXTS: Texts = Object.fromEntries(
  BRIDGE_ROLES.map((role) => [role, ROLE_TEXTS[role]]),
);

function materialTexts(): Texts {
  return Object.fromEntries(
    Object.entries(MATERIALS).map(([code, material]) => [code, {
      display: material.display,
      definition: material.alloy
        ? `${material.display}; the prescription also names an alloy.`
        : material.display,
    }]),
  );
}

function alloyTexts(): Texts {
  return Object.fromEntries(
    Object.entries(ALLOYS).map((
      [code, display],
    ) => [code, { display, definition: `${display} (ADA classification).` }]),
  );
}

const TASK_CODES: Texts = {
  [DESIGN_APPROVAL.coding![0].code!]: {
    display: DESIGN_APPROVAL.coding![0].display!,
    definition: "The dentist is asked to approve or reject a design; a " +
      "child Task of the item Task, owned by the dentist.",
  },
};

/** The code systems of prescriptions and non-stage Tasks. */
export function catalogCodeSystems(): CodeSystem[] {
  return [
    codeSystem(
      idOf(MATERIAL_SYSTEM),
      "Material",
      "What a restoration is made of (ServiceRequest.orderDetail); a lab's " +
        "catalog allows some of them per product.",
      concepts(materialTexts()),
    ),
    codeSystem(
      idOf(ALLOY_SYSTEM),
      "Alloy",
      "The alloy class of metal-ceramic work (ServiceRequest.orderDetail).",
      concepts(alloyTexts()),
    ),
    codeSystem(
      idOf(TASK_CODE_SYSTEM),
      "Task code",
      "What a Task other than a production stage asks for (Task.code).",
      concepts(TASK_CODES),
    ),
    ...DESIGN_OPTION_SYSTEMS.map(({ system, title, codes }) =>
      codeSystem(
        idOf(system),
        title,
        `The ${title.toLowerCase()} a prescription may name in ` +
          "ServiceRequest.orderDetail, when its product asks for one; " +
          "left out, the lab's default applies.",
        concepts(codes),
      )
    ),
    {
      ...codeSystem(
        idOf(BRIDGE_ROLE_SYSTEM),
        "Bridge unit role",
        "Whether a tooth of a bridge carries an abutment or a pontic.",
        concepts(BRIDGE_ROLE_TEXTS),
      ),
      valueSet: BRIDGE_ROLE_VALUE_SET,
    },
  ];
}

/** The value set bound by the bridge-unit-role extension. */
export function bridgeRoleValueSet(): ValueSet {
  return {
    resourceType: "ValueSet",
    ...metadata(
      idOf(BRIDGE_ROLE_VALUE_SET),
      "Bridge unit role",
      "Every code of the LHCMS bridge-unit-role code system.",
    ),
    url: BRIDGE_ROLE_VALUE_SET,
    compose: { include: [{ system: BRIDGE_ROLE_SYSTEM }] },
  };
}

/** The extensions of prescriptions. */
export function catalogExtensions(): StructureDefinition[] {
  return [
    extensionDefinition({
      url: BRIDGE_ROLE_EXTENSION,
      title: "Bridge unit role",
      description: "On each tooth of a bridge in ServiceRequest.bodySite: " +
        "abutment or pontic.",
      context: ["ServiceRequest.bodySite"],
      value: {
        type: [{ code: "code" }],
        binding: { strength: "required", valueSet: BRIDGE_ROLE_VALUE_SET },
      },
    }),
    extensionDefinition({
      url: SHIP_BY_EXTENSION,
      title: "Ship-by date",
      description: "The day the lab must ship the item for it to reach the " +
        "practice on its due date (occurrenceDateTime less the practice's " +
        "transit days). Set by LHCMS; a value sent by a client is replaced.",
      context: ["ServiceRequest"],
      value: { type: [{ code: "date" }] },
    }),
  ];
}

/** Every conformance resource of prescriptions, for serving. */
export function catalogTerminology(): (
  | CodeSystem
  | ValueSet
  | StructureDefinition
)[] {
  return [
    ...catalogCodeSystems(),
    bridgeRoleValueSet(),
    ...catalogExtensions(),
  ];
}
