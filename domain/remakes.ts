/**
 * Remakes: when a restoration has to be made again, the practice sends a
 * new prescription (`ServiceRequest`) that `replaces` the original, with
 * why (`reasonCode`, LHCMS remake-reason codes) and who bears the cost
 * (the remake-responsibility extension). Labs track remake rates by reason
 * and responsibility, so both are coded, not free text. Pure functions: the
 * caller loads the original from the lab's store.
 */
import type { CodeableConcept, ServiceRequest } from "@medplum/fhirtypes";
import type { Problem } from "./errors.ts";
import { LHCMS_CANONICAL_BASE } from "./shades.ts";

/** LHCMS code system of a remake's `reasonCode`. */
export const REMAKE_REASON_SYSTEM =
  `${LHCMS_CANONICAL_BASE}/CodeSystem/remake-reason`;

/** LHCMS code system of who is responsible for a remake. */
export const REMAKE_RESPONSIBILITY_SYSTEM =
  `${LHCMS_CANONICAL_BASE}/CodeSystem/remake-responsibility`;

/** The value set the responsibility extension binds (every code). */
export const REMAKE_RESPONSIBILITY_VALUE_SET =
  `${LHCMS_CANONICAL_BASE}/ValueSet/remake-responsibility`;

/** Extension on ServiceRequest: who is responsible, as a `valueCode`. */
export const REMAKE_RESPONSIBILITY_EXTENSION =
  `${LHCMS_CANONICAL_BASE}/StructureDefinition/remake-responsibility`;

/** A code of {@link REMAKE_REASON_SYSTEM}. */
export type RemakeReason =
  | "fit"
  | "shade"
  | "fracture"
  | "margin"
  | "contacts"
  | "occlusion"
  | "lost"
  | "other";

/** A code of {@link REMAKE_RESPONSIBILITY_SYSTEM}. */
export type RemakeResponsibility = "lab" | "practice" | "shared";

/** Display and definition of a code LHCMS defines. */
export interface CodeText {
  display: string;
  definition: string;
}

/** Every remake reason, with what it means. */
export const REMAKE_REASONS: Readonly<Record<RemakeReason, CodeText>> = {
  fit: { display: "Fit", definition: "The restoration does not seat." },
  shade: { display: "Shade", definition: "The shade does not match." },
  fracture: {
    display: "Fracture",
    definition: "The restoration fractured or chipped.",
  },
  margin: { display: "Margin", definition: "The margin is open or short." },
  contacts: {
    display: "Contacts",
    definition: "Proximal contacts are open or too tight.",
  },
  occlusion: {
    display: "Occlusion",
    definition: "The bite is high, low or otherwise wrong.",
  },
  lost: {
    display: "Lost",
    definition: "The restoration or its impression was lost.",
  },
  other: {
    display: "Other",
    definition: "Another reason, given in reasonCode.text.",
  },
};

/** Every responsibility, with what it means. */
export const REMAKE_RESPONSIBILITIES: Readonly<
  Record<RemakeResponsibility, CodeText>
> = {
  lab: { display: "Lab", definition: "The lab made the error; it pays." },
  practice: {
    display: "Practice",
    definition: "The practice's impression, prescription or handling caused " +
      "the remake; the practice pays.",
  },
  shared: {
    display: "Shared",
    definition: "Lab and practice share the cost, as they agree.",
  },
};

// Relative, version-agnostic: the original is a record of this lab.
const REQUEST_REF = /^ServiceRequest\/([A-Za-z0-9\-.]{1,64})$/;

/** What a practice gives to ask for a remake. */
export interface RemakeInput {
  reason: RemakeReason;
  /** Free text beside the code; required for `other`. */
  text?: string;
  responsibility: RemakeResponsibility;
  /** FHIR dateTime of the new prescription. */
  authoredOn: string;
  /** The new due date (FHIR dateTime). */
  occurrenceDateTime?: string;
}

/** True when the ServiceRequest replaces another: a remake. */
export function isRemake(sr: ServiceRequest): boolean {
  return (sr.replaces?.length ?? 0) > 0;
}

/** The remake reason concept of a code, with optional text. */
export function remakeReason(
  code: RemakeReason,
  text?: string,
): CodeableConcept {
  const { display } = REMAKE_REASONS[code];
  return {
    coding: [{ system: REMAKE_REASON_SYSTEM, code, display }],
    ...(text ? { text } : {}),
  };
}

/**
 * A remake of `original`: the same product, teeth, options and people,
 * replacing it, with the reason, responsibility and new due date. Ids and
 * identifiers are not copied: it is a new order.
 */
export function buildRemake(
  original: ServiceRequest,
  input: RemakeInput,
): ServiceRequest {
  if (!original.id) throw new Error("Cannot build a remake: no original id");
  const { category, code, bodySite, orderDetail, subject } = original;
  return {
    resourceType: "ServiceRequest",
    status: "active",
    intent: "order",
    extension: [{
      url: REMAKE_RESPONSIBILITY_EXTENSION,
      valueCode: input.responsibility,
    }],
    replaces: [{ reference: `ServiceRequest/${original.id}` }],
    category,
    code,
    bodySite,
    orderDetail,
    subject,
    requester: original.requester,
    performer: original.performer,
    authoredOn: input.authoredOn,
    occurrenceDateTime: input.occurrenceDateTime,
    reasonCode: [remakeReason(input.reason, input.text)],
  };
}

/** What a remake says, read back; undefined parts were not given. */
export interface RemakeReading {
  original?: string;
  reason?: RemakeReason;
  text?: string;
  responsibility?: RemakeResponsibility;
}

/** Reads the replaced id, reason and responsibility of a remake. */
export function readRemake(sr: ServiceRequest): RemakeReading {
  const original = REQUEST_REF.exec(sr.replaces?.[0]?.reference ?? "")?.[1];
  const concept = sr.reasonCode?.find((c) =>
    c.coding?.some((x) => x.system === REMAKE_REASON_SYSTEM)
  );
  const code = concept?.coding?.find((x) => x.system === REMAKE_REASON_SYSTEM)
    ?.code;
  const value = sr.extension?.find((e) =>
    e.url === REMAKE_RESPONSIBILITY_EXTENSION
  )?.valueCode;
  return {
    original,
    reason: code && Object.hasOwn(REMAKE_REASONS, code)
      ? code as RemakeReason
      : undefined,
    text: concept?.text?.trim() || undefined,
    responsibility: value && Object.hasOwn(REMAKE_RESPONSIBILITIES, value)
      ? value as RemakeResponsibility
      : undefined,
  };
}

/**
 * Every problem with a remake. `original` is the replaced ServiceRequest
 * as loaded from this lab's store, undefined when it is not there.
 * @example checkRemake(remake, await load(remake.replaces[0]))
 */
export function checkRemake(
  sr: ServiceRequest,
  original: ServiceRequest | undefined,
): Problem[] {
  return [...checkOriginal(sr, original), ...checkRemakeCodes(sr)];
}

/**
 * The problems with a remake's reason and responsibility alone, for an
 * update of a remake already linked to its original.
 */
export function checkRemakeCodes(sr: ServiceRequest): Problem[] {
  return [...checkReason(sr), ...checkResponsibility(sr)];
}

function checkOriginal(
  sr: ServiceRequest,
  original: ServiceRequest | undefined,
): Problem[] {
  const replaces = sr.replaces ?? [];
  if (replaces.length !== 1 || !readRemake(sr).original) {
    return [{
      message: "A remake replaces exactly one ServiceRequest, by relative " +
        "reference",
      expression: "ServiceRequest.replaces",
    }];
  }
  const at = "ServiceRequest.replaces[0]";
  if (!original) {
    return [{
      message: "The replaced ServiceRequest is not a record of this lab",
      expression: at,
    }];
  }
  const problems: Problem[] = [];
  if (original.status === "entered-in-error") {
    problems.push({
      message: "Cannot remake a ServiceRequest entered in error",
      expression: at,
    });
  }
  const patient = (r: ServiceRequest) => r.subject?.reference;
  if (!patient(original) || patient(original) !== patient(sr)) {
    problems.push({
      message: "A remake must be for the patient of the original",
      expression: "ServiceRequest.subject",
    });
  }
  return problems;
}

function checkReason(sr: ServiceRequest): Problem[] {
  const codings = (sr.reasonCode ?? []).flatMap((c) => c.coding ?? [])
    .filter((c) => c.system === REMAKE_REASON_SYSTEM);
  const { reason, text } = readRemake(sr);
  const codes = Object.keys(REMAKE_REASONS).join(", ");
  if (codings.length !== 1 || !reason) {
    return [{
      message: `A remake needs one reason coded in ${REMAKE_REASON_SYSTEM} ` +
        `(${codes})`,
      expression: "ServiceRequest.reasonCode",
    }];
  }
  // "other" alone tells the lab nothing it can act on.
  return reason === "other" && !text
    ? [{
      message: "A remake for another reason needs reasonCode.text",
      expression: "ServiceRequest.reasonCode.text",
    }]
    : [];
}

function checkResponsibility(sr: ServiceRequest): Problem[] {
  const found = (sr.extension ?? []).filter((e) =>
    e.url === REMAKE_RESPONSIBILITY_EXTENSION
  );
  if (found.length === 1 && readRemake(sr).responsibility) return [];
  const codes = Object.keys(REMAKE_RESPONSIBILITIES).join(", ");
  return [{
    message: `A remake needs one responsibility (${codes}) in the ` +
      "remake-responsibility extension",
    expression:
      `ServiceRequest.extension('${REMAKE_RESPONSIBILITY_EXTENSION}')`,
  }];
}
