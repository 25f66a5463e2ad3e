/**
 * Due dates of a lab case, in the lab's own calendar: the business day a
 * case counts from, the day it must ship and the day it is due back at the
 * practice. Pure functions: no KV and no clock; the caller passes the
 * instant the lab received the case.
 *
 * Dates are ISO calendar dates (YYYY-MM-DD) in the lab's time zone. The zone
 * is used once, through Intl, to find the local date and time of the
 * received instant; every step after that counts whole calendar days, so a
 * daylight-saving change can never push a date over midnight.
 */
import { fail, type Problem } from "./errors.ts";

/** Weekday codes, spelt as FHIR's days-of-week code system spells them. */
export const WEEKDAYS = [
  "mon",
  "tue",
  "wed",
  "thu",
  "fri",
  "sat",
  "sun",
] as const;
/** One of {@link WEEKDAYS}. */
export type Weekday = typeof WEEKDAYS[number];

/** A lab's working calendar, as the lab admin edits it. */
export interface LabCalendar {
  /** Weekdays the lab works and ships on. */
  workingDays: Weekday[];
  /** Days the lab is closed, YYYY-MM-DD: the days actually observed. */
  holidays: string[];
  /** IANA time zone name of the lab, e.g. "Europe/Berlin". */
  timeZone: string;
  /** Local "HH:MM" from which a case counts from the next business day. */
  cutoff: string;
}

/** The calendar of a lab whose admin has set none. */
export const DEFAULT_CALENDAR: Readonly<LabCalendar> = Object.freeze({
  workingDays: ["mon", "tue", "wed", "thu", "fri"] as Weekday[],
  holidays: [],
  timeZone: "UTC",
  cutoff: "14:00",
});

/** Most business days a turnaround or a transit may take: a working year. */
export const MAX_DAYS = 365;
/** Most holidays a calendar may list; bounds every day-by-day scan. */
export const MAX_HOLIDAYS = 1000;

/**
 * A lab calendar from untrusted input (the lab admin's edit), with defaults
 * for missing fields. Unknown fields are refused, so a misspelt "holiday"
 * cannot be ignored silently. Throws an `invalid` LhcmsError that lists
 * every problem with its field as the expression.
 *
 * @example
 * checkLabCalendar({ timeZone: "Europe/Berlin", holidays: ["2026-12-25"] });
 * // { workingDays: ["mon", …, "fri"], holidays: ["2026-12-25"],
 * //   timeZone: "Europe/Berlin", cutoff: "14:00" }
 */
export function checkLabCalendar(input: unknown): LabCalendar {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw fail.invalid("Cannot use the lab calendar: it must be an object");
  }
  const given: Partial<Record<string, unknown>> = input;
  const problems = [
    ...Object.keys(given).flatMap((key) =>
      unless(key in DEFAULT_CALENDAR, key, "is not a calendar field")
    ),
    ...calendarProblems({ ...DEFAULT_CALENDAR, ...given }),
  ];
  if (problems.length > 0) {
    throw fail.invalid("Cannot use the lab calendar", problems);
  }
  const valid = given as Partial<LabCalendar>;
  return {
    workingDays: [...(valid.workingDays ?? DEFAULT_CALENDAR.workingDays)],
    holidays: [...(valid.holidays ?? DEFAULT_CALENDAR.holidays)],
    timeZone: valid.timeZone ?? DEFAULT_CALENDAR.timeZone,
    cutoff: valid.cutoff ?? DEFAULT_CALENDAR.cutoff,
  };
}

/** Whether the lab works on `date`: a working weekday and not a holiday. */
export function isBusinessDay(calendar: LabCalendar, date: string): boolean {
  return isOpen(compile(calendar), dayOf(date));
}

/**
 * The date `n` business days after `date`: steps forward one day at a time
 * and counts only business days. `date` need not be a business day itself;
 * with n = 0 it comes back as given.
 *
 * @example
 * addBusinessDays(DEFAULT_CALENDAR, "2026-03-06", 1); // Friday → "2026-03-09"
 */
export function addBusinessDays(
  calendar: LabCalendar,
  date: string,
  n: number,
): string {
  return isoDate(step(compile(calendar), dayOf(date), checkedDays(n), 1));
}

/**
 * The date `n` business days before `date`, the mirror of
 * {@link addBusinessDays}: Monday minus one business day is Friday.
 */
export function subtractBusinessDays(
  calendar: LabCalendar,
  date: string,
  n: number,
): string {
  return isoDate(step(compile(calendar), dayOf(date), checkedDays(n), -1));
}

/**
 * The calendar date an instant falls on in the lab's time zone, e.g. to read
 * an `occurrenceDateTime` sent with a time as the date it means at the lab.
 */
export function labDateOf(calendar: LabCalendar, instant: Date): string {
  return isoDate(localTime(compile(calendar), instant).day);
}

/** A case item's turnarounds in business days, from the lab's catalog. */
export interface TurnaroundItem {
  turnaroundDays: number;
  /** Absent for a product that cannot be rushed: rush keeps its standard. */
  rushDays?: number;
}

/** What a lab does with a requested due date earlier than possible. */
export type TooLatePolicy = "warn" | "refuse";

/** Everything the dates of one case depend on. */
export interface DueDateRequest {
  calendar: LabCalendar;
  /** One per item (ServiceRequest) of the case; 1 to 100. */
  items: TurnaroundItem[];
  /** Business days the parcel travels to the practice; default 1. */
  transitDays?: number;
  /** The instant the lab received the case. */
  receivedAt: Date;
  /** ServiceRequest.priority urgent, asap or stat. */
  rush?: boolean;
  /** The due date the practice asked for, YYYY-MM-DD at the lab. */
  requestedDue?: string;
  /** The lab's setting; default "warn" (accept and say so). */
  tooLate?: TooLatePolicy;
}

/** A warning about the dates, shaped for an OperationOutcome issue. */
export interface DueDateWarning extends Problem {
  severity: "warning";
  code: "business-rule";
  expression: string;
}

/** The dates of a case, all YYYY-MM-DD in the lab's time zone. */
export interface DueDates {
  /** The business day the case counts from: day 0 of production. */
  countsFrom: string;
  /** The business day the case must leave the lab. */
  shipBy: string;
  /** The day the case is due back at the practice. */
  due: string;
  /** The earliest possible ship-by date (with rush times for rush). */
  earliestShipBy: string;
  /** The earliest possible due date (with rush times for rush). */
  earliestDue: string;
  warnings: DueDateWarning[];
  /** Non-empty when the lab refuses the requested due date (answer 422). */
  problems: Problem[];
}

/**
 * The ship-by and due dates of a case. Without a requested due date, the
 * earliest possible ones. With a possible one, due is the date as asked and
 * ship-by counts back from it. With one too early, `tooLate` decides:
 * "warn" keeps the date as asked and adds a warning, "refuse" returns a
 * problem and the earliest dates. Throws an `invalid` LhcmsError for a bad
 * calendar or bad inputs.
 *
 * @example
 * computeDueDates({
 *   calendar: DEFAULT_CALENDAR,
 *   items: [{ turnaroundDays: 5 }],
 *   receivedAt: new Date("2026-03-02T09:00:00Z"), // a Monday, before 14:00
 * }); // countsFrom "2026-03-02", shipBy "2026-03-09", due "2026-03-10"
 */
export function computeDueDates(request: DueDateRequest): DueDates {
  const c = compile(request.calendar);
  const input = checkRequest(request);
  const { day, minutes } = localTime(c, request.receivedAt);

  // A case that comes in at or after the cut-off, or on a closed day, waits
  // for the next business day as if it had arrived that morning.
  const countsFrom = roll(c, minutes < c.cutoffMinutes ? day : day + 1, 1);
  const earliestShipBy = step(c, countsFrom, input.productionDays, 1);
  const earliestDue = step(c, earliestShipBy, input.transitDays, 1);
  const earliest = { countsFrom, earliestShipBy, earliestDue };
  const chosen = input.requestedDue === undefined
    ? { shipBy: earliestShipBy, due: earliestDue, warnings: [], problems: [] }
    : fitRequested(c, input, earliest, input.requestedDue);

  return {
    countsFrom: isoDate(countsFrom),
    shipBy: isoDate(chosen.shipBy),
    due: isoDate(chosen.due),
    earliestShipBy: isoDate(earliestShipBy),
    earliestDue: isoDate(earliestDue),
    warnings: chosen.warnings,
    problems: chosen.problems,
  };
}

/** The dates chosen for a case, as day numbers. */
interface Choice {
  shipBy: number;
  due: number;
  warnings: DueDateWarning[];
  problems: Problem[];
}

// The dates for a requested due date, by the lab's tooLate policy.
function fitRequested(
  c: Compiled,
  input: CheckedRequest,
  earliest: { countsFrom: number; earliestShipBy: number; earliestDue: number },
  asked: number,
): Choice {
  // The parcel must arrive by the asked day, so it leaves `transitDays`
  // before the last business day on or before it.
  const shipBy = step(c, roll(c, asked, -1), input.transitDays, -1);
  if (asked >= earliest.earliestDue) {
    return { shipBy, due: asked, warnings: [], problems: [] };
  }
  const message = `The requested due date ${isoDate(asked)} is earlier ` +
    `than the earliest possible due date ${isoDate(earliest.earliestDue)}`;
  const expression = "ServiceRequest.occurrenceDateTime";
  if (input.tooLate === "refuse") {
    const { earliestShipBy, earliestDue } = earliest;
    const problems = [{ message, expression }];
    return { shipBy: earliestShipBy, due: earliestDue, warnings: [], problems };
  }
  // Accepted: the lab plans to ship in time for the asked day, but never
  // before the day the case counts from.
  const warning: DueDateWarning = {
    severity: "warning",
    code: "business-rule",
    message: `${message}; accepted without a promise to meet it`,
    expression,
  };
  const plannedShipBy = Math.max(shipBy, earliest.countsFrom);
  return {
    shipBy: plannedShipBy,
    due: asked,
    warnings: [warning],
    problems: [],
  };
}

interface CheckedRequest {
  productionDays: number;
  transitDays: number;
  requestedDue?: number;
  tooLate: TooLatePolicy;
}

// Checks every input of computeDueDates, so one error lists all problems.
function checkRequest(request: DueDateRequest): CheckedRequest {
  const { items, transitDays = 1, requestedDue, tooLate = "warn" } = request;
  const asked = requestedDue === undefined ? undefined : parseDay(requestedDue);
  const problems = [
    ...listProblems(items, "items", 1, 100, isItem, itemRule),
    ...unless(isDays(transitDays), "transitDays", daysRule(transitDays)),
    ...unless(
      isInstant(request.receivedAt),
      "receivedAt",
      "must be a valid Date",
    ),
    ...unless(
      requestedDue === undefined || asked !== undefined,
      "requestedDue",
      `must be a date YYYY-MM-DD, got ${show(requestedDue)}`,
    ),
    ...unless(
      ["warn", "refuse"].includes(tooLate),
      "tooLate",
      `must be "warn" or "refuse"`,
    ),
  ];
  if (problems.length > 0) {
    throw fail.invalid("Cannot compute due dates", problems);
  }

  // The case takes as long as its slowest item. Rush uses each item's rush
  // turnaround and, for a product without one, its standard turnaround.
  const days = items.map((item) =>
    request.rush ? item.rushDays ?? item.turnaroundDays : item.turnaroundDays
  );
  const productionDays = Math.max(...days);
  return { productionDays, transitDays, requestedDue: asked, tooLate };
}

function isItem(item: unknown): boolean {
  // Object() turns null into {}, so a null item reads as missing days.
  const { turnaroundDays: standard, rushDays: rush } = Object(item);
  return isDays(standard) &&
    (rush === undefined || (isDays(rush) && rush <= standard));
}

const itemRule = `an item { turnaroundDays, rushDays? } of whole business ` +
  `days, 0 to ${MAX_DAYS}, rushDays no more than turnaroundDays`;

// The rules of each calendar field, given the input merged over defaults.
function calendarProblems(c: Record<string, unknown>): Problem[] {
  const isWeekday = (day: unknown, i: number, all: unknown[]) =>
    WEEKDAYS.includes(day as Weekday) && all.indexOf(day) === i;
  const isDate = (date: unknown) => parseDay(date) !== undefined;
  return [
    ...listProblems(c.workingDays, "workingDays", 1, 7, isWeekday, dayRule),
    ...listProblems(c.holidays, "holidays", 0, MAX_HOLIDAYS, isDate, dateRule),
    ...unless(
      isTimeZone(c.timeZone),
      "timeZone",
      `must be an IANA time zone name such as "Europe/Berlin", ` +
        `got ${show(c.timeZone)}`,
    ),
    ...unless(
      typeof c.cutoff === "string" && CUTOFF_RE.test(c.cutoff),
      "cutoff",
      `must be a 24-hour local time HH:MM, got ${show(c.cutoff)}`,
    ),
  ];
}

const dayRule = `a weekday code (${WEEKDAYS.join(" ")}) not listed before`;
const dateRule = "a date YYYY-MM-DD";

// A list of min to max elements; each bad element is its own problem.
function listProblems(
  list: unknown,
  expression: string,
  min: number,
  max: number,
  ok: (element: unknown, i: number, all: unknown[]) => boolean,
  rule: string,
): Problem[] {
  if (!Array.isArray(list) || list.length < min || list.length > max) {
    const size = `${min} to ${max} entries`;
    return unless(false, expression, `must be a list of ${size}, each ${rule}`);
  }
  return list.flatMap((element, i) =>
    unless(
      ok(element, i, list),
      `${expression}[${i}]`,
      `must be ${rule}, got ${show(element)}`,
    )
  );
}

// No problem if `ok`, else one naming the element.
function unless(ok: boolean, expression: string, rule: string): Problem[] {
  return ok ? [] : [{ message: `${expression} ${rule}`, expression }];
}

function isDays(n: unknown): n is number {
  return Number.isInteger(n) && (n as number) >= 0 &&
    (n as number) <= MAX_DAYS;
}

function daysRule(n: unknown): string {
  return `must be whole business days, 0 to ${MAX_DAYS}; got ${show(n)}`;
}

function checkedDays(n: number): number {
  if (isDays(n)) return n;
  throw fail.invalid("Cannot count business days", [
    { message: `n ${daysRule(n)}`, expression: "n" },
  ]);
}

function isInstant(value: unknown): value is Date {
  return value instanceof Date && !isNaN(value.getTime());
}

function isTimeZone(value: unknown): boolean {
  // Intl also takes offsets such as "+01:00", which know nothing of daylight
  // saving; a lab names its zone, so only names pass.
  if (typeof value !== "string" || !/^[A-Za-z]/.test(value)) return false;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: value });
    return true;
  } catch {
    return false;
  }
}

/** A checked calendar as lookups; compiled once per call, never cached. */
interface Compiled {
  timeZone: string;
  cutoffMinutes: number;
  working: boolean[];
  holidays: Set<number>;
}

function compile(calendar: LabCalendar): Compiled {
  const checked = checkLabCalendar(calendar);
  const [hours, minutes] = checked.cutoff.split(":").map(Number);
  return {
    timeZone: checked.timeZone,
    cutoffMinutes: hours * 60 + minutes,
    working: WEEKDAYS.map((day) => checked.workingDays.includes(day)),
    holidays: new Set(checked.holidays.map((date) => parseDay(date)!)),
  };
}

function isOpen(c: Compiled, day: number): boolean {
  return c.working[weekday(day)] && !c.holidays.has(day);
}

// The scans end: a calendar has a working weekday and at most MAX_HOLIDAYS
// holidays, so a business day is never far away.
function step(c: Compiled, day: number, n: number, by: 1 | -1): number {
  for (let counted = 0; counted < n;) {
    day += by;
    if (isOpen(c, day)) counted++;
  }
  return day;
}

// The day itself if the lab works on it, else the next (or previous) one.
function roll(c: Compiled, day: number, by: 1 | -1): number {
  while (!isOpen(c, day)) day += by;
  return day;
}

function localTime(c: Compiled, instant: Date) {
  if (!isInstant(instant)) {
    throw fail.invalid("Cannot place an invalid Date in the lab calendar");
  }
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: c.timeZone,
    hourCycle: "h23",
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "numeric",
    minute: "numeric",
  }).formatToParts(instant);
  const part = (type: string) =>
    Number(parts.find((p) => p.type === type)?.value);
  return {
    day: civilDay(part("year"), part("month"), part("day")),
    minutes: part("hour") * 60 + part("minute"),
  };
}

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const CUTOFF_RE = /^([01]\d|2[0-3]):[0-5]\d$/;
const DAY_MS = 86_400_000;

// Calendar dates as whole days since 1970-01-01. A Date's UTC fields serve
// only as the Gregorian calendar: UTC has no daylight saving, so every day
// is exactly DAY_MS long. setUTCFullYear, unlike Date.UTC, keeps years < 100.
function civilDay(year: number, month: number, day: number): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  return Math.round(date.getTime() / DAY_MS);
}

function parseDay(value: unknown): number | undefined {
  const m = typeof value === "string" ? DATE_RE.exec(value) : null;
  if (!m) return undefined;
  const day = civilDay(Number(m[1]), Number(m[2]), Number(m[3]));
  // Date rolls 2026-02-30 on into March; the round trip refuses it.
  return isoDate(day) === value ? day : undefined;
}

function dayOf(date: string): number {
  const day = parseDay(date);
  if (day !== undefined) return day;
  throw fail.invalid("Cannot count business days", [
    {
      message: `date must be YYYY-MM-DD, got ${show(date)}`,
      expression: "date",
    },
  ]);
}

function isoDate(day: number): string {
  // The ISO form of midnight UTC starts with the date, for years 0 to 9999.
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

// 1970-01-01 was a Thursday: index 3 when Monday is 0.
function weekday(day: number): number {
  return (((day + 3) % 7) + 7) % 7;
}

// Echoed values are clipped so a message stays one line; calendars and
// dates are not PHI.
function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
