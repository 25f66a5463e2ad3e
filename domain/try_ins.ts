/**
 * Try-ins: before finishing, the lab may send a case to the practice to be
 * tried in the patient's mouth and get it back with the dentist's notes,
 * several times. Each trip is a pair of entries in the item Task's
 * append-only output log (`try-in-sent`, then `try-in-returned`), so the
 * whole back-and-forth stays on one case history. Each entry carries when
 * it happened (`valueDateTime`) or a note (`valueString`). Pure functions.
 */
import type { Task, TaskOutput } from "@medplum/fhirtypes";
import { parseDateRange } from "../fhir/dates.ts";
import type { Problem } from "./errors.ts";
import { sameJson, TASK_OUTPUT_SYSTEM } from "./stages.ts";

/** The output types of a try-in trip. */
export type TryInType = "try-in-sent" | "try-in-returned";

/** When a try-in left or came back, or a note about it. */
export type TryInValue = { when: string } | { note: string };

/** A try-in entry of the log, with its place in `Task.output`. */
export interface TryInEntry {
  type: TryInType;
  /** Index in `Task.output`. */
  index: number;
  when?: string;
  note?: string;
}

/** Where a Task's try-ins stand. */
export interface TryInState {
  /** True while a try-in is at the practice. */
  out: boolean;
  /** Trips begun so far. */
  sent: number;
  /** Trips come back so far. */
  returned: number;
}

function tryInType(output: TaskOutput): TryInType | undefined {
  const code = output.type?.coding?.find((c) => c.system === TASK_OUTPUT_SYSTEM)
    ?.code;
  return code === "try-in-sent" || code === "try-in-returned"
    ? code
    : undefined;
}

/** The try-in entries of a Task, in the order they were logged. */
export function tryInLog(task: Task): TryInEntry[] {
  const out: TryInEntry[] = [];
  (task.output ?? []).forEach((output, index) => {
    const type = tryInType(output);
    if (type) {
      out.push({
        type,
        index,
        when: output.valueDateTime,
        note: output.valueString,
      });
    }
  });
  return out;
}

/** Where the try-ins of a Task stand. */
export function tryInState(task: Task): TryInState {
  const log = tryInLog(task);
  const sent = log.filter((e) => e.type === "try-in-sent").length;
  const returned = log.filter((e) => e.type === "try-in-returned").length;
  return { out: log.at(-1)?.type === "try-in-sent", sent, returned };
}

function record(task: Task, type: TryInType, value: TryInValue): Task {
  const output: TaskOutput = {
    type: { coding: [{ system: TASK_OUTPUT_SYSTEM, code: type }] },
    ...("when" in value
      ? { valueDateTime: value.when }
      : { valueString: value.note }),
  };
  return { ...task, output: [...(task.output ?? []), output] };
}

/** A copy of the Task with a try-in sent to the practice. */
export function recordTryInSent(task: Task, value: TryInValue): Task {
  return record(task, "try-in-sent", value);
}

/** A copy of the Task with the try-in back at the lab. */
export function recordTryInReturned(task: Task, value: TryInValue): Task {
  return record(task, "try-in-returned", value);
}

/**
 * Every problem with the try-ins of an update (or of a new Task when
 * `previous` is undefined): each new entry has a valid date or a note, a
 * return follows a send that has not come back, a send waits for the last
 * trip to come back, and the Task does not complete while a try-in is out.
 * Entries already stored are kept as they were and not judged again: the
 * log is append-only.
 */
export function checkTryIns(previous: Task | undefined, next: Task): Problem[] {
  const problems: Problem[] = previous ? checkKept(previous, next) : [];
  const known = previous?.output?.length ?? 0;
  let out = false;
  for (const entry of tryInLog(next)) {
    const at = `Task.output[${entry.index}]`;
    const fresh = entry.index >= known;
    if (fresh) problems.push(...checkValue(next.output![entry.index], at));
    if (fresh && entry.type === "try-in-sent" && out) {
      problems.push({
        message: "Cannot send a try-in while the last one is at the practice",
        expression: at,
      });
    }
    if (fresh && entry.type === "try-in-returned" && !out) {
      problems.push({
        message: "Cannot log a try-in return without an earlier try-in out",
        expression: at,
      });
    }
    out = entry.type === "try-in-sent";
  }
  if (out && next.status === "completed" && previous?.status !== "completed") {
    problems.push({
      message: "Cannot complete a Task while a try-in is at the practice",
      expression: "Task.status",
    });
  }
  return problems;
}

// The dentist's notes on a try-in are a clinical record: once stored, an
// entry is neither edited nor removed.
function checkKept(previous: Task, next: Task): Problem[] {
  return tryInLog(previous).filter((entry) =>
    !sameJson(previous.output![entry.index], next.output?.[entry.index])
  ).map((entry) => ({
    message: `Cannot change or remove try-in output ${entry.index}`,
    expression: `Task.output[${entry.index}]`,
  }));
}

function checkValue(output: TaskOutput, at: string): Problem[] {
  const date = output.valueDateTime;
  const note = output.valueString;
  if (date !== undefined && note === undefined) {
    return typeof date === "string" && parseDateRange(date)
      ? []
      : [{ message: "valueDateTime is not a valid dateTime", expression: at }];
  }
  if (note !== undefined && date === undefined) {
    return typeof note === "string" && note.trim() !== ""
      ? []
      : [{ message: "valueString must not be empty", expression: at }];
  }
  return [{
    message: "A try-in entry needs valueDateTime or valueString",
    expression: at,
  }];
}
