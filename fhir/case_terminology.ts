/**
 * The code systems, value set and extensions of case events, published
 * beside the tooth and shade terminology: remake reasons and
 * responsibility, enclosures, the work-authorization activity, and the
 * codes of the item Task's input and output logs.
 */
import type {
  CodeSystem,
  ElementDefinition,
  StructureDefinition,
  ValueSet,
} from "@medplum/fhirtypes";
import {
  LICENSE_EXTENSION,
  PROVENANCE_ACTIVITY_SYSTEM,
  WORK_AUTHORIZATION,
} from "../domain/authorization.ts";
import {
  ENCLOSURE_QUANTITY_EXTENSION,
  ENCLOSURE_SYSTEM,
  ENCLOSURES,
  MAX_ENCLOSURE_QUANTITY,
} from "../domain/enclosures.ts";
import {
  REMAKE_REASON_SYSTEM,
  REMAKE_REASONS,
  REMAKE_RESPONSIBILITIES,
  REMAKE_RESPONSIBILITY_EXTENSION,
  REMAKE_RESPONSIBILITY_SYSTEM,
  REMAKE_RESPONSIBILITY_VALUE_SET,
} from "../domain/remakes.ts";
import { type OutputType, TASK_OUTPUT_SYSTEM } from "../domain/stages.ts";
import { TASK_INPUT_SYSTEM } from "../domain/design_approval.ts";
import { codeSystem, metadata } from "./terminology.ts";

type Texts = Readonly<Record<string, { display: string; definition: string }>>;

function concepts(texts: Texts) {
  return Object.entries(texts).map(([code, text]) => ({ code, ...text }));
}

const idOf = (url: string) => url.slice(url.lastIndexOf("/") + 1);

// Every code of the item Task's work log, whichever module writes it.
const OUTPUTS: Readonly<Record<OutputType, Texts[string]>> = {
  "qc-result": {
    display: "Quality check result",
    definition: "A quality check, as a contained QuestionnaireResponse.",
  },
  "rework": {
    display: "Rework",
    definition: "The item went back to an earlier stage; the reason is " +
      "in valueCodeableConcept.",
  },
  "courier": { display: "Courier", definition: "Who carries the shipment." },
  "tracking-number": {
    display: "Tracking number",
    definition: "The courier's tracking number of the shipment.",
  },
  "try-in-sent": {
    display: "Try-in sent",
    definition: "The work left for a try-in at the practice (when, or a note).",
  },
  "try-in-returned": {
    display: "Try-in returned",
    definition: "The try-in came back to the lab (when, or the dentist's " +
      "note).",
  },
  "enclosure-out": {
    display: "Enclosure out",
    definition: "Something physical left the lab with the case; what, in " +
      "valueCodeableConcept.",
  },
};

const INPUTS: Texts = {
  "design": {
    display: "Design",
    definition: "The design a dentist is asked to approve.",
  },
  "enclosure-in": {
    display: "Enclosure in",
    definition: "Something physical arrived with the case; what, in " +
      "valueCodeableConcept.",
  },
};

/** The code systems of case events. */
export function caseEventCodeSystems(): CodeSystem[] {
  return [
    codeSystem(
      idOf(REMAKE_REASON_SYSTEM),
      "Remake reason",
      "Why a restoration is made again (ServiceRequest.reasonCode of a " +
        "remake).",
      concepts(REMAKE_REASONS),
    ),
    {
      ...codeSystem(
        idOf(REMAKE_RESPONSIBILITY_SYSTEM),
        "Remake responsibility",
        "Who bears the cost of a remake.",
        concepts(REMAKE_RESPONSIBILITIES),
      ),
      valueSet: REMAKE_RESPONSIBILITY_VALUE_SET,
    },
    codeSystem(
      idOf(ENCLOSURE_SYSTEM),
      "Enclosure",
      "What physically arrives with a case or leaves the lab with it.",
      concepts(ENCLOSURES),
    ),
    codeSystem(
      idOf(PROVENANCE_ACTIVITY_SYSTEM),
      "Provenance activity",
      "What a Provenance stored by LHCMS records.",
      [{
        code: WORK_AUTHORIZATION,
        display: "Work authorization",
        definition: "The dentist authorized the lab to make the prescribed " +
          "work.",
      }],
    ),
    codeSystem(
      idOf(TASK_OUTPUT_SYSTEM),
      "Task output",
      "The entries of an item Task's append-only work log (Task.output.type).",
      concepts(OUTPUTS),
    ),
    codeSystem(
      idOf(TASK_INPUT_SYSTEM),
      "Task input",
      "What a Task is given to work with (Task.input.type).",
      concepts(INPUTS),
    ),
  ];
}

/** The value set of every remake responsibility, bound by its extension. */
export function remakeResponsibilityValueSet(): ValueSet {
  return {
    resourceType: "ValueSet",
    ...metadata(
      idOf(REMAKE_RESPONSIBILITY_VALUE_SET),
      "Remake responsibility",
      "Every code of the LHCMS remake-responsibility code system.",
    ),
    url: REMAKE_RESPONSIBILITY_VALUE_SET,
    compose: { include: [{ system: REMAKE_RESPONSIBILITY_SYSTEM }] },
  };
}

interface ExtensionShape {
  url: string;
  title: string;
  description: string;
  context: string[];
  value: Omit<ElementDefinition, "id" | "path" | "min">;
}

// A simple extension: one value of one type, no sub-extensions.
function extensionDefinition(shape: ExtensionShape): StructureDefinition {
  const { url, title, description } = shape;
  return {
    resourceType: "StructureDefinition",
    ...metadata(idOf(url), title, description),
    url,
    fhirVersion: "4.0.1",
    kind: "complex-type",
    abstract: false,
    context: shape.context.map((expression) => ({
      type: "element" as const,
      expression,
    })),
    type: "Extension",
    baseDefinition: "http://hl7.org/fhir/StructureDefinition/Extension",
    derivation: "constraint",
    differential: {
      element: [
        { id: "Extension", path: "Extension", short: title, max: "1" },
        { id: "Extension.extension", path: "Extension.extension", max: "0" },
        { id: "Extension.url", path: "Extension.url", fixedUri: url },
        {
          ...shape.value,
          id: "Extension.value[x]",
          path: "Extension.value[x]",
          min: 1,
        },
      ],
    },
  };
}

/** The extensions of case events. */
export function caseEventExtensions(): StructureDefinition[] {
  return [
    extensionDefinition({
      url: REMAKE_RESPONSIBILITY_EXTENSION,
      title: "Remake responsibility",
      description: "Who bears the cost of a remake: lab, practice or shared.",
      context: ["ServiceRequest"],
      value: {
        type: [{ code: "code" }],
        binding: {
          strength: "required",
          valueSet: REMAKE_RESPONSIBILITY_VALUE_SET,
        },
      },
    }),
    extensionDefinition({
      url: ENCLOSURE_QUANTITY_EXTENSION,
      title: "Enclosure quantity",
      description: "How many of an enclosure an entry counts; 1 when absent.",
      context: ["Task.input", "Task.output"],
      value: {
        type: [{ code: "positiveInt" }],
        maxValueInteger: MAX_ENCLOSURE_QUANTITY,
      },
    }),
    extensionDefinition({
      url: LICENSE_EXTENSION,
      title: "License number",
      description: "The dentist's license number as attested in a work " +
        "authorization, with the licensing board's system if known.",
      context: ["Provenance.agent"],
      value: { type: [{ code: "Identifier" }] },
    }),
  ];
}

/** Every conformance resource of case events, for serving. */
export function caseEventTerminology(): (
  | CodeSystem
  | ValueSet
  | StructureDefinition
)[] {
  return [
    ...caseEventCodeSystems(),
    remakeResponsibilityValueSet(),
    ...caseEventExtensions(),
  ];
}
