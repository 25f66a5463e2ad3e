/**
 * The search parameters LHCMS indexes, per resource type, and how each
 * turns a resource into index entries. Parameters marked `blind` hold PHI:
 * their entries are HMACs (blind indexes), matched exactly, never stored in
 * clear. See https://hl7.org/fhir/R4/searchparameter-registry.html.
 */
import type { Resource } from "./types.ts";
import { type DateRange, parseDateRange } from "./dates.ts";

/** The FHIR search parameter types LHCMS supports. */
export type ParamType = "token" | "reference" | "date" | "string";

/**
 * One index entry. The KV key is `[...prefix, id, ...suffix]`: prefix parts
 * are what a search looks up directly, suffix parts are filtered on.
 */
export interface IndexEntry {
  prefix: Deno.KvKeyPart[];
  suffix: Deno.KvKeyPart[];
}

/** Raw values a parameter finds in a resource, before indexing. */
export type RawValue =
  | { kind: "token"; system?: string; code: string }
  | { kind: "reference"; ref: string }
  | { kind: "date"; range: DateRange; text: string }
  | { kind: "string"; text: string };

/** A search parameter definition. */
export interface SearchParamDef {
  name: string;
  type: ParamType;
  /** PHI: indexed only as HMACs. */
  blind?: boolean;
  /** Resource types a reference parameter may point to. */
  targets?: string[];
  /** The raw values of this parameter in a resource. */
  extract: (resource: Resource) => RawValue[];
}

// deno-lint-ignore no-explicit-any
type Json = any;

const list = (v: Json): Json[] =>
  v === undefined || v === null ? [] : Array.isArray(v) ? v : [v];

function tokens(v: Json): RawValue[] {
  const out: RawValue[] = [];
  for (const item of list(v)) {
    if (typeof item === "string") out.push({ kind: "token", code: item });
    else if (item && typeof item === "object") {
      if (typeof item.code === "string") {
        out.push({ kind: "token", system: item.system, code: item.code });
      }
      if (typeof item.value === "string") {
        out.push({ kind: "token", system: item.system, code: item.value });
      }
      for (const coding of list(item.coding)) out.push(...tokens(coding));
    }
  }
  return out;
}

/** Only relative references name this lab's records; others are not indexed. */
function references(v: Json): RawValue[] {
  return list(v)
    .map((r) =>
      typeof r?.reference === "string" &&
        !/^(https?:|urn:|#)/.test(r.reference)
        ? relativeReference(r.reference)
        : undefined
    )
    .filter((r): r is string => r !== undefined)
    .map((ref) => ({ kind: "reference", ref }));
}

function dates(v: Json): RawValue[] {
  const out: RawValue[] = [];
  for (const text of list(v)) {
    const range = typeof text === "string" ? parseDateRange(text) : undefined;
    if (range) out.push({ kind: "date", range, text });
  }
  return out;
}

/**
 * A Period is the range from the start of its start to the end of its end;
 * a missing end (an ongoing period) or start stretches as far as it can.
 */
function periods(v: Json): RawValue[] {
  const out: RawValue[] = [];
  for (const p of list(v)) {
    const start = typeof p?.start === "string"
      ? parseDateRange(p.start)
      : undefined;
    const end = typeof p?.end === "string" ? parseDateRange(p.end) : undefined;
    if (!start && !end) continue;
    const range = {
      start: start?.start ?? Number.MIN_SAFE_INTEGER,
      end: end?.end ?? Number.MAX_SAFE_INTEGER,
    };
    out.push({ kind: "date", range, text: p.start ?? p.end });
  }
  return out;
}

function strings(v: Json): RawValue[] {
  return list(v).filter((s) => typeof s === "string" && s.trim() !== "")
    .map((text) => ({ kind: "string", text }));
}

/**
 * "Patient/123", "https://x/fhir/lab/Patient/123" and
 * "Patient/123/_history/2" all become "Patient/123"; "#contained" and
 * other shapes are not indexed.
 */
export function relativeReference(ref: string): string | undefined {
  const parts = ref.split("?")[0].split("/").filter((p) => p !== "");
  const history = parts.indexOf("_history");
  const usable = history >= 0 ? parts.slice(0, history) : parts;
  if (usable.length < 2) return undefined;
  const [type, id] = usable.slice(-2);
  if (!/^[A-Z][A-Za-z]+$/.test(type) || !/^[A-Za-z0-9\-.]{1,64}$/.test(id)) {
    return undefined;
  }
  return `${type}/${id}`;
}

/**
 * `patient` and `subject` of a resource whose patient sits in the element
 * `pick` reads (`subject`, or a Task's `for`).
 */
function patientOf(pick: (r: Json) => Json): SearchParamDef[] {
  return [
    {
      name: "patient",
      type: "reference",
      targets: ["Patient"],
      extract: (r: Json) => references(pick(r)).filter(isPatientRef),
    },
    {
      name: "subject",
      type: "reference",
      targets: ["Patient"],
      extract: (r: Json) => references(pick(r)),
    },
  ];
}

const common: SearchParamDef[] = [
  {
    name: "_lastUpdated",
    type: "date",
    extract: (r) => dates(r.meta?.lastUpdated),
  },
];

const serviceRequest: SearchParamDef[] = [
  ...common,
  { name: "status", type: "token", extract: (r: Json) => tokens(r.status) },
  { name: "intent", type: "token", extract: (r: Json) => tokens(r.intent) },
  { name: "priority", type: "token", extract: (r: Json) => tokens(r.priority) },
  { name: "code", type: "token", extract: (r: Json) => tokens(r.code) },
  { name: "category", type: "token", extract: (r: Json) => tokens(r.category) },
  {
    name: "identifier",
    type: "token",
    blind: true,
    extract: (r: Json) => tokens(r.identifier),
  },
  {
    name: "requisition",
    type: "token",
    blind: true,
    extract: (r: Json) => tokens(r.requisition),
  },
  { name: "authored", type: "date", extract: (r: Json) => dates(r.authoredOn) },
  {
    name: "occurrence",
    type: "date",
    extract: (r: Json) => [
      ...dates(r.occurrenceDateTime),
      ...periods(r.occurrencePeriod),
      ...dates(r.occurrenceTiming?.event),
    ],
  },
  ...patientOf((r) => r.subject),
  {
    name: "requester",
    type: "reference",
    targets: ["Practitioner", "Organization", "Patient"],
    extract: (r: Json) => references(r.requester),
  },
  {
    name: "performer",
    type: "reference",
    targets: ["Practitioner", "Organization"],
    extract: (r: Json) => references(r.performer),
  },
  {
    name: "based-on",
    type: "reference",
    targets: ["ServiceRequest"],
    extract: (r: Json) => references(r.basedOn),
  },
  // A remake names its original here: the remakes of a case are found by
  // `replaces=ServiceRequest/{original}`.
  {
    name: "replaces",
    type: "reference",
    targets: ["ServiceRequest"],
    extract: (r: Json) => references(r.replaces),
  },
];

const task: SearchParamDef[] = [
  ...common,
  { name: "status", type: "token", extract: (r: Json) => tokens(r.status) },
  { name: "intent", type: "token", extract: (r: Json) => tokens(r.intent) },
  { name: "priority", type: "token", extract: (r: Json) => tokens(r.priority) },
  { name: "code", type: "token", extract: (r: Json) => tokens(r.code) },
  {
    name: "business-status",
    type: "token",
    extract: (r: Json) => tokens(r.businessStatus),
  },
  {
    name: "identifier",
    type: "token",
    blind: true,
    extract: (r: Json) => tokens(r.identifier),
  },
  {
    name: "group-identifier",
    type: "token",
    blind: true,
    extract: (r: Json) => tokens(r.groupIdentifier),
  },
  {
    name: "authored-on",
    type: "date",
    extract: (r: Json) => dates(r.authoredOn),
  },
  {
    name: "modified",
    type: "date",
    extract: (r: Json) => dates(r.lastModified),
  },
  {
    name: "period",
    type: "date",
    extract: (r: Json) => periods(r.executionPeriod),
  },
  {
    name: "focus",
    type: "reference",
    targets: ["ServiceRequest", "Task", "Patient"],
    extract: (r: Json) => references(r.focus),
  },
  ...patientOf((r) => r.for),
  {
    name: "owner",
    type: "reference",
    targets: ["Practitioner", "Organization"],
    extract: (r: Json) => references(r.owner),
  },
  {
    name: "requester",
    type: "reference",
    targets: ["Practitioner", "Organization"],
    extract: (r: Json) => references(r.requester),
  },
  {
    name: "part-of",
    type: "reference",
    targets: ["Task"],
    extract: (r: Json) => references(r.partOf),
  },
  {
    name: "based-on",
    type: "reference",
    targets: ["ServiceRequest"],
    extract: (r: Json) => references(r.basedOn),
  },
];

const humanName = (r: Json) => list(r.name);

const patient: SearchParamDef[] = [
  ...common,
  {
    name: "identifier",
    type: "token",
    blind: true,
    extract: (r: Json) => tokens(r.identifier),
  },
  {
    name: "family",
    type: "string",
    blind: true,
    extract: (r: Json) => strings(humanName(r).map((n) => n.family)),
  },
  {
    name: "given",
    type: "string",
    blind: true,
    extract: (r: Json) => strings(humanName(r).flatMap((n) => list(n.given))),
  },
  {
    name: "name",
    type: "string",
    blind: true,
    extract: (r: Json) =>
      strings(
        humanName(r).flatMap((n) => [n.family, ...list(n.given), n.text]),
      ),
  },
  {
    name: "birthdate",
    type: "date",
    blind: true,
    extract: (r: Json) => dates(r.birthDate),
  },
  {
    name: "gender",
    type: "token",
    blind: true,
    extract: (r: Json) => tokens(r.gender),
  },
];

const directoryNames = (r: Json) =>
  strings(
    [r.name].flat().flatMap((n: Json) =>
      typeof n === "string" ? [n] : [n?.family, ...list(n?.given), n?.text]
    ),
  );

const practitioner: SearchParamDef[] = [
  ...common,
  {
    name: "identifier",
    type: "token",
    extract: (r: Json) => tokens(r.identifier),
  },
  { name: "name", type: "string", extract: directoryNames },
  {
    name: "family",
    type: "string",
    extract: (r: Json) => strings(humanName(r).map((n) => n.family)),
  },
];

const organization: SearchParamDef[] = [
  ...common,
  {
    name: "identifier",
    type: "token",
    extract: (r: Json) => tokens(r.identifier),
  },
  { name: "name", type: "string", extract: directoryNames },
  { name: "type", type: "token", extract: (r: Json) => tokens(r.type) },
];

// Provenance is stored as the dentist's work authorization of a
// prescription: found by what it authorizes, who signed and when.
const provenance: SearchParamDef[] = [
  ...common,
  {
    name: "target",
    type: "reference",
    targets: ["ServiceRequest"],
    extract: (r: Json) => references(r.target),
  },
  {
    name: "agent",
    type: "reference",
    targets: ["Practitioner", "Organization"],
    extract: (r: Json) => references(list(r.agent).map((a) => a?.who)),
  },
  {
    name: "recorded",
    type: "date",
    extract: (r: Json) => dates(r.recorded),
  },
];

// A scan, photo or signed prescription: found by patient, by the case it
// belongs to, by kind and by when it was made.
const documentReference: SearchParamDef[] = [
  ...common,
  { name: "status", type: "token", extract: (r: Json) => tokens(r.status) },
  { name: "type", type: "token", extract: (r: Json) => tokens(r.type) },
  { name: "category", type: "token", extract: (r: Json) => tokens(r.category) },
  { name: "date", type: "date", extract: (r: Json) => dates(r.date) },
  ...patientOf((r) => r.subject),
  {
    name: "related",
    type: "reference",
    targets: ["ServiceRequest", "Task"],
    extract: (r: Json) => references(r.context?.related),
  },
];

function isPatientRef(v: RawValue): boolean {
  return v.kind === "reference" && v.ref.startsWith("Patient/");
}

/** Search parameters per stored resource type. */
export const SEARCH_PARAMS: Record<string, SearchParamDef[]> = {
  ServiceRequest: serviceRequest,
  Task: task,
  Patient: patient,
  Practitioner: practitioner,
  Organization: organization,
  Provenance: provenance,
  Binary: common,
  DocumentReference: documentReference,
};

/** Folds case and accents away, as FHIR string search asks. */
export function normaliseString(text: string): string {
  return text.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase().trim()
    .replace(/\s+/g, " ");
}
