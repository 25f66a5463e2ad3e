/**
 * The dentist's work authorization: a `Provenance` whose target is one
 * prescription (`ServiceRequest`) of the lab, saying who authorized the
 * work (name and license number) and when. A lab needs it on file before it
 * makes a prescribed device. Pure functions; the route turns problems into
 * a 422 OperationOutcome and checks that the references name records of
 * the lab.
 */
import type {
  Identifier,
  Practitioner,
  Provenance,
  ProvenanceAgent,
  Reference,
} from "@medplum/fhirtypes";
import { fail, type Problem } from "./errors.ts";
import { LHCMS_CANONICAL_BASE } from "./shades.ts";

/** LHCMS code system of `Provenance.activity`. */
export const PROVENANCE_ACTIVITY_SYSTEM =
  `${LHCMS_CANONICAL_BASE}/CodeSystem/provenance-activity`;

/** The activity code of a work authorization. */
export const WORK_AUTHORIZATION = "work-authorization";

/**
 * Extension on `Provenance.agent` carrying the dentist's license number as
 * an Identifier (`valueIdentifier`).
 *
 * Why on the agent rather than in `Practitioner.qualification`: the
 * authorization is evidence of what the dentist attested when signing, so
 * it must not change when the practice later edits its directory entry;
 * and keeping it in the Provenance lets the check run on the resource
 * alone. It is an Identifier so a practice system can copy
 * `Practitioner.qualification.identifier` (with the licensing board's
 * `system`) as it is.
 */
export const LICENSE_EXTENSION =
  `${LHCMS_CANONICAL_BASE}/StructureDefinition/license-number`;

/** Longest license number accepted (no board issues longer ones). */
export const MAX_LICENSE_LENGTH = 40;

// A longer name is a mistake (a pasted paragraph), not a dentist.
const MAX_NAME_LENGTH = 200;

// FHIR instant (https://hl7.org/fhir/R4/datatypes.html#instant): seconds
// and a zone are required, unlike dateTime.
const INSTANT =
  /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d{1,9})?(Z|[+-](0\d|1[0-4]):[0-5]\d)$/;

// Relative only, optionally version-specific: an absolute URL could name
// another server, which the lab cannot verify.
const REQUEST_REF = /^ServiceRequest\/[A-Za-z0-9\-.]{1,64}(\/_history\/\d+)?$/;
const PRACTITIONER_REF = /^Practitioner\/[A-Za-z0-9\-.]{1,64}$/;

/** What a practice system gives to authorize the work on a prescription. */
export interface WorkAuthorizationInput {
  /** The prescription, e.g. `ServiceRequest/123`. */
  request: string;
  /** The dentist's Practitioner, e.g. `Practitioner/dr-1`. */
  dentist: string;
  /** The dentist's name as signed. */
  name: string;
  /** The license number, and the licensing board's system if known. */
  license: Identifier;
  /** FHIR instant of the authorization. */
  recorded: string;
}

/** A work authorization Provenance built from its parts. */
export function buildWorkAuthorization(
  input: WorkAuthorizationInput,
): Provenance {
  return {
    resourceType: "Provenance",
    target: [{ reference: input.request }],
    recorded: input.recorded,
    activity: {
      coding: [{
        system: PROVENANCE_ACTIVITY_SYSTEM,
        code: WORK_AUTHORIZATION,
        display: "Work authorization",
      }],
    },
    agent: [{
      type: {
        coding: [{
          system:
            "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
          code: "author",
        }],
      },
      who: { reference: input.dentist, display: input.name },
      extension: [{ url: LICENSE_EXTENSION, valueIdentifier: input.license }],
    }],
  };
}

/** True when the Provenance's activity is a work authorization. */
export function isWorkAuthorization(provenance: Provenance): boolean {
  return provenance.activity?.coding?.some((c) =>
    c.system === PROVENANCE_ACTIVITY_SYSTEM && c.code === WORK_AUTHORIZATION
  ) ?? false;
}

/** The license Identifier on an agent, if the extension is there. */
export function licenseOf(agent: ProvenanceAgent): Identifier | undefined {
  return agent.extension?.find((e) => e.url === LICENSE_EXTENSION)
    ?.valueIdentifier;
}

/**
 * Every problem with a work authorization. LHCMS stores Provenance only
 * for this purpose, so any other Provenance is refused too.
 * @example checkWorkAuthorization({ resourceType: "Provenance", ... })
 * // [{ message: "The license number is required", expression: "..." }]
 */
export function checkWorkAuthorization(provenance: Provenance): Problem[] {
  const problems: Problem[] = [];
  const add = (ok: boolean, message: string, expression: string) => {
    if (!ok) problems.push({ message, expression });
  };
  const targets = provenance.target ?? [];
  add(
    targets.length === 1 && REQUEST_REF.test(targets[0].reference ?? ""),
    "target must be one relative reference to a ServiceRequest of this lab",
    "Provenance.target",
  );
  const recorded = provenance.recorded;
  add(
    typeof recorded === "string" && INSTANT.test(recorded),
    "recorded is required: an instant with seconds and a time zone",
    "Provenance.recorded",
  );
  add(
    isWorkAuthorization(provenance),
    `activity must be ${WORK_AUTHORIZATION} in ${PROVENANCE_ACTIVITY_SYSTEM}`,
    "Provenance.activity",
  );
  const agents = provenance.agent ?? [];
  if (agents.length !== 1) {
    add(
      false,
      "A work authorization has exactly one agent",
      "Provenance.agent",
    );
  } else problems.push(...checkDentist(agents[0]));
  return problems;
}

/** The problems with the one agent: the dentist, by name and license. */
function checkDentist(agent: ProvenanceAgent): Problem[] {
  const problems: Problem[] = [];
  const at = "Provenance.agent[0]";
  const add = (ok: boolean, message: string, expression: string) => {
    if (!ok) problems.push({ message, expression });
  };
  add(
    PRACTITIONER_REF.test(agent.who?.reference ?? ""),
    "agent.who must reference the dentist's Practitioner",
    `${at}.who.reference`,
  );
  const name = agent.who?.display?.trim() ?? "";
  add(
    name !== "" && name.length <= MAX_NAME_LENGTH,
    `agent.who.display must give the dentist's name (1-${MAX_NAME_LENGTH} characters)`,
    `${at}.who.display`,
  );
  const licenses = agent.extension?.filter((e) => e.url === LICENSE_EXTENSION);
  const value = licenses?.[0]?.valueIdentifier?.value;
  // FHIRPath names a choice element by its base name and type.
  const where =
    `${at}.extension('${LICENSE_EXTENSION}').value.ofType(Identifier).value`;
  if (licenses?.length !== 1 || typeof value !== "string") {
    add(false, "The dentist's license number is required", where);
  } else {
    add(value.trim() !== "", "The license number must not be empty", where);
    add(
      value.length <= MAX_LICENSE_LENGTH,
      `The license number has at most ${MAX_LICENSE_LENGTH} characters`,
      where,
    );
  }
  return problems;
}

/** Throws 422 listing every problem unless the Provenance is valid. */
export function requireWorkAuthorization(provenance: Provenance): void {
  const problems = checkWorkAuthorization(provenance);
  if (problems.length > 0) {
    throw fail.unprocessable(
      "Cannot accept the work authorization",
      problems,
    );
  }
}

/** A work authorization read back, for the lab's screens and tickets. */
export interface WorkAuthorization {
  request: string;
  dentist: Reference<Practitioner>;
  name: string;
  license: Identifier;
  recorded: string;
}

/** Reads a valid work authorization; undefined when it has problems. */
export function readWorkAuthorization(
  provenance: Provenance,
): WorkAuthorization | undefined {
  if (checkWorkAuthorization(provenance).length > 0) return undefined;
  const agent = provenance.agent![0];
  return {
    request: provenance.target![0].reference!,
    dentist: agent.who as Reference<Practitioner>,
    name: agent.who!.display!.trim(),
    license: licenseOf(agent)!,
    recorded: provenance.recorded!,
  };
}
