/**
 * What a lab sets for its dates: its business-day calendar, what happens to
 * a requested due date earlier than possible, and each practice's transit
 * days. Lab admins keep these at `/labs/{lab}/settings`.
 */
import { addPendingAudit, type AuditRecord } from "./audit.ts";
import {
  checkLabCalendar,
  DEFAULT_CALENDAR,
  type LabCalendar,
  type TooLatePolicy,
} from "./due_dates.ts";
import { fail } from "./errors.ts";
import { keys } from "./kv_keys.ts";

/** A lab's date settings. */
export interface LabSettings {
  calendar: LabCalendar;
  tooLate: TooLatePolicy;
  /** Business days a parcel travels to each practice; default 1. */
  transitDays: Record<string, number>;
}

/** The settings of a lab that never changed them. */
export const DEFAULT_SETTINGS: LabSettings = {
  calendar: { ...DEFAULT_CALENDAR },
  tooLate: "warn",
  transitDays: {},
};

/** A lab's settings, defaults filled in. */
export async function getLabSettings(kv: Deno.Kv, lab: string) {
  const stored = (await kv.get<LabSettings>(keys.labSettings(lab))).value;
  return stored ?? structuredClone(DEFAULT_SETTINGS);
}

/** Transit days to a practice from a lab. */
export function transitDaysTo(
  settings: LabSettings,
  practice?: string,
): number {
  return practice === undefined ? 1 : settings.transitDays[practice] ?? 1;
}

/** Replaces a lab's settings after checking them, with its audit record. */
export async function putLabSettings(
  kv: Deno.Kv,
  lab: string,
  input: unknown,
  audit: AuditRecord,
): Promise<LabSettings> {
  const settings = checkSettings(input);
  const op = kv.atomic().set(keys.labSettings(lab), settings);
  addPendingAudit(op, { ...audit, entity: { type: "LabSettings", id: lab } });
  if (!(await op.commit()).ok) throw fail.conflict("Cannot save the settings");
  return settings;
}

const SETTINGS_FIELDS = new Set(["calendar", "tooLate", "transitDays"]);

function checkSettings(input: unknown): LabSettings {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw fail.invalid("Cannot use the lab settings: they must be an object");
  }
  // A misspelt or misplaced field (calendar fields at the top) would
  // otherwise reset what it meant to set.
  const unknown = Object.keys(input).filter((key) => !SETTINGS_FIELDS.has(key));
  if (unknown.length > 0) {
    throw fail.invalid(
      `Cannot use the lab settings: ${unknown.join(", ")} is not a settings ` +
        "field (calendar, tooLate, transitDays)",
      unknown.map((key) => ({ message: "unknown field", expression: key })),
    );
  }
  const body = input as Partial<LabSettings>;
  const calendar = checkLabCalendar(body.calendar ?? DEFAULT_CALENDAR);
  const tooLate = body.tooLate ?? "warn";
  if (tooLate !== "warn" && tooLate !== "refuse") {
    throw fail.invalid("tooLate must be warn or refuse", [
      { message: "unknown policy", expression: "tooLate" },
    ]);
  }
  const transitDays: Record<string, number> = {};
  for (const [practice, days] of Object.entries(body.transitDays ?? {})) {
    if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(practice)) {
      throw fail.invalid(`transitDays names an invalid practice id`);
    }
    if (!Number.isInteger(days) || days < 0 || days > 30) {
      throw fail.invalid("transit days must be whole numbers from 0 to 30", [
        { message: "bad days", expression: `transitDays.${practice}` },
      ]);
    }
    transitDays[practice] = days;
  }
  return { calendar, tooLate, transitDays };
}
