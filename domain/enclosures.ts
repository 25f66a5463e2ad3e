/**
 * Enclosures: what physically came in with a case (impressions, bite
 * registration, models, an articulator, a shade tab...) and what went back
 * out. Arrivals are `Task.input` entries of type `enclosure-in`, departures
 * `Task.output` entries of type `enclosure-out`; both name the thing in
 * `valueCodeableConcept` (LHCMS enclosure codes) and how many in the
 * enclosure-quantity extension. Labs are asked "where is my articulator?",
 * so both logs are append-only and nothing leaves that never arrived,
 * except the restoration the lab made. Pure functions.
 */
import type {
  Extension,
  Task,
  TaskInput,
  TaskOutput,
} from "@medplum/fhirtypes";
import { TASK_INPUT_SYSTEM } from "./design_approval.ts";
import type { Problem } from "./errors.ts";
import { LHCMS_CANONICAL_BASE } from "./shades.ts";
import { sameJson, TASK_OUTPUT_SYSTEM } from "./stages.ts";

/** LHCMS code system of what an enclosure is. */
export const ENCLOSURE_SYSTEM = `${LHCMS_CANONICAL_BASE}/CodeSystem/enclosure`;

/**
 * Extension on a `Task.input` or `Task.output` entry: how many of the
 * enclosure (`valuePositiveInt`), 1 when absent. A number rather than text
 * so the lab can tell that two impressions came in and one went back.
 */
export const ENCLOSURE_QUANTITY_EXTENSION =
  `${LHCMS_CANONICAL_BASE}/StructureDefinition/enclosure-quantity`;

/** A code of {@link ENCLOSURE_SYSTEM}. */
export type EnclosureCode =
  | "impression"
  | "bite-registration"
  | "model"
  | "articulator"
  | "shade-tab"
  | "photo"
  | "implant-part"
  | "old-prosthesis"
  | "restoration"
  | "other";

/** Display and definition of an enclosure code. */
export interface EnclosureText {
  display: string;
  definition: string;
}

/** Every enclosure code, with what it means. */
export const ENCLOSURES: Readonly<Record<EnclosureCode, EnclosureText>> = {
  "impression": { display: "Impression", definition: "A dental impression." },
  "bite-registration": {
    display: "Bite registration",
    definition: "A record of how the arches meet.",
  },
  "model": { display: "Model", definition: "A stone or printed model." },
  "articulator": {
    display: "Articulator",
    definition: "An articulator, with or without a mounted case.",
  },
  "shade-tab": { display: "Shade tab", definition: "A shade guide tab." },
  "photo": { display: "Photo", definition: "A printed clinical photograph." },
  "implant-part": {
    display: "Implant part",
    definition: "An implant component: analog, scan body, abutment, screw.",
  },
  "old-prosthesis": {
    display: "Old prosthesis",
    definition: "The patient's existing prosthesis or restoration.",
  },
  "restoration": {
    display: "Restoration",
    definition: "The work the lab made; it only leaves the lab.",
  },
  "other": {
    display: "Other",
    definition: "Anything else, described in valueCodeableConcept.text.",
  },
};

/** The most of one thing a single entry may count. */
export const MAX_ENCLOSURE_QUANTITY = 99;

type Direction = "in" | "out";
type Entry = TaskInput | TaskOutput;

const TYPE_OF: Record<Direction, { system: string; code: string }> = {
  in: { system: TASK_INPUT_SYSTEM, code: "enclosure-in" },
  out: { system: TASK_OUTPUT_SYSTEM, code: "enclosure-out" },
};

/** An enclosure entry found in a Task. */
export interface EnclosureEntry {
  direction: Direction;
  /** Index in `Task.input` (in) or `Task.output` (out). */
  index: number;
  /** The enclosure code, when it is a valid one. */
  code?: EnclosureCode;
  quantity: number;
  text?: string;
}

/** What is logged for one enclosure. */
export interface EnclosureInput {
  code: EnclosureCode;
  quantity?: number;
  /** A description for people ("upper and lower PVS"). */
  text?: string;
}

function isEnclosure(entry: Entry, direction: Direction): boolean {
  const { system, code } = TYPE_OF[direction];
  return entry.type?.coding?.some((c) =>
    c.system === system && c.code === code
  ) ?? false;
}

function codeOf(entry: Entry): EnclosureCode | undefined {
  const codes =
    entry.valueCodeableConcept?.coding?.filter((c) =>
      c.system === ENCLOSURE_SYSTEM
    ) ?? [];
  const code = codes.length === 1 ? codes[0].code : undefined;
  return code && Object.hasOwn(ENCLOSURES, code)
    ? code as EnclosureCode
    : undefined;
}

function quantityOf(entry: Entry): Extension | undefined {
  return entry.extension?.find((e) => e.url === ENCLOSURE_QUANTITY_EXTENSION);
}

// An invalid count is reported by checkEntry; meanwhile it counts as one.
function countOf(entry: Entry): number {
  const value = quantityOf(entry)?.valuePositiveInt;
  return isQuantity(value) ? value as number : 1;
}

/** The enclosure entries of a Task: arrivals first, then departures. */
export function enclosureLog(task: Task): EnclosureEntry[] {
  const read = (direction: Direction) => (entry: Entry, index: number) =>
    isEnclosure(entry, direction)
      ? [{
        direction,
        index,
        code: codeOf(entry),
        quantity: countOf(entry),
        text: entry.valueCodeableConcept?.text,
      }]
      : [];
  return [
    ...(task.input ?? []).flatMap(read("in")),
    ...(task.output ?? []).flatMap(read("out")),
  ];
}

/** How many of each enclosure arrived, and how many left. */
export function enclosureBalance(
  task: Task,
): Partial<Record<EnclosureCode, { in: number; out: number }>> {
  const balance: Partial<Record<EnclosureCode, { in: number; out: number }>> =
    {};
  for (const e of enclosureLog(task)) {
    if (!e.code) continue;
    const row = balance[e.code] ??= { in: 0, out: 0 };
    row[e.direction] += e.quantity;
  }
  return balance;
}

function entryOf(direction: Direction, input: EnclosureInput): Entry {
  const { code, quantity, text } = input;
  return {
    type: { coding: [TYPE_OF[direction]] },
    valueCodeableConcept: {
      coding: [{
        system: ENCLOSURE_SYSTEM,
        code,
        display: ENCLOSURES[code].display,
      }],
      ...(text ? { text } : {}),
    },
    ...(quantity !== undefined && quantity !== 1
      ? {
        extension: [{
          url: ENCLOSURE_QUANTITY_EXTENSION,
          valuePositiveInt: quantity,
        }],
      }
      : {}),
  };
}

/** A copy of the Task with an arrival appended to `Task.input`. */
export function recordArrival(task: Task, input: EnclosureInput): Task {
  return { ...task, input: [...(task.input ?? []), entryOf("in", input)] };
}

/** A copy of the Task with a departure appended to `Task.output`. */
export function recordDeparture(task: Task, input: EnclosureInput): Task {
  return { ...task, output: [...(task.output ?? []), entryOf("out", input)] };
}

/**
 * Every problem with the enclosures of an update (or of a new Task when
 * `previous` is undefined): stored entries kept as they were, new entries
 * well coded, and nothing leaving beyond what arrived, the restoration
 * excepted.
 */
export function checkEnclosures(
  previous: Task | undefined,
  next: Task,
): Problem[] {
  const problems = previous ? checkKept(previous, next) : [];
  const known = {
    in: previous?.input?.length ?? 0,
    out: previous?.output?.length ?? 0,
  };
  const log = enclosureLog(next);
  for (const entry of log.filter((e) => e.index >= known[e.direction])) {
    problems.push(...checkEntry(next, entry));
  }
  return [...problems, ...checkBalance(log, known.out)];
}

const path = (e: { direction: Direction; index: number }) =>
  `Task.${e.direction === "in" ? "input" : "output"}[${e.index}]`;

// Every input is kept, not only enclosures: technicians may now write
// Task.input, and what the lab was given is a record, not a draft.
function checkKept(previous: Task, next: Task): Problem[] {
  const problems: Problem[] = [];
  (previous.input ?? []).forEach((entry, index) => {
    if (!sameJson(entry, next.input?.[index])) {
      problems.push({
        message: `Cannot change or remove input ${index}: inputs are ` +
          "append-only",
        expression: path({ direction: "in", index }),
      });
    }
  });
  (previous.output ?? []).forEach((entry, index) => {
    if (isEnclosure(entry, "out") && !sameJson(entry, next.output?.[index])) {
      problems.push({
        message: `Cannot change or remove enclosure output ${index}`,
        expression: path({ direction: "out", index }),
      });
    }
  });
  return problems;
}

function checkEntry(task: Task, entry: EnclosureEntry): Problem[] {
  const at = path(entry);
  const raw = entry.direction === "in"
    ? task.input![entry.index]
    : task.output![entry.index];
  const problems: Problem[] = [];
  const add = (message: string, expression = `${at}.valueCodeableConcept`) =>
    problems.push({ message, expression });
  if (!entry.code) {
    add(`An enclosure needs one code of ${ENCLOSURE_SYSTEM}`);
  } else if (entry.code === "restoration" && entry.direction === "in") {
    add("A restoration is logged only as leaving the lab");
  } else if (entry.code === "other" && !entry.text?.trim()) {
    add("An enclosure coded other needs valueCodeableConcept.text");
  }
  const quantity = quantityOf(raw);
  if (quantity && !isQuantity(quantity.valuePositiveInt)) {
    add(
      `The enclosure quantity is a whole number, 1-${MAX_ENCLOSURE_QUANTITY}`,
      `${at}.extension('${ENCLOSURE_QUANTITY_EXTENSION}')`,
    );
  }
  return problems;
}

function isQuantity(value: unknown): boolean {
  return Number.isInteger(value) && (value as number) >= 1 &&
    (value as number) <= MAX_ENCLOSURE_QUANTITY;
}

// Arrivals have no order against departures (they are separate lists), so
// each new departure is held against every arrival logged so far.
function checkBalance(log: EnclosureEntry[], knownOut: number): Problem[] {
  const arrived = new Map<EnclosureCode, number>();
  const left = new Map<EnclosureCode, number>();
  for (const e of log) {
    if (e.code && e.direction === "in") {
      arrived.set(e.code, (arrived.get(e.code) ?? 0) + e.quantity);
    }
  }
  const problems: Problem[] = [];
  for (const e of log.filter((e) => e.direction === "out" && e.code)) {
    const code = e.code!;
    left.set(code, (left.get(code) ?? 0) + e.quantity);
    const available = arrived.get(code) ?? 0;
    if (e.index < knownOut || code === "restoration") continue;
    if (left.get(code)! > available) {
      problems.push({
        message: `Cannot log ${code} leaving: ${available} arrived, ` +
          `${left.get(code)} would have left`,
        expression: path(e),
      });
    }
  }
  return problems;
}
