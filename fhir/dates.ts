/**
 * FHIR date, dateTime and instant values as half-open ranges of epoch
 * milliseconds, and the date search prefixes with the precision rules of
 * https://hl7.org/fhir/R4/search.html#prefix.
 */

/** `[start, end)` in epoch milliseconds. */
export interface DateRange {
  start: number;
  end: number;
}

/** The search comparison prefixes FHIR defines for dates. */
export const DATE_PREFIXES = [
  "eq",
  "ne",
  "gt",
  "lt",
  "ge",
  "le",
  "sa",
  "eb",
  "ap",
] as const;
/** One of {@link DATE_PREFIXES}. */
export type DatePrefix = typeof DATE_PREFIXES[number];

// Field ranges as in the FHIR dateTime regex: Date.UTC would silently roll
// "2026-00" back into 2025 or "10:60" on to 11:00.
const DATE_RE =
  /^(\d{4})(?:-(0[1-9]|1[0-2])(?:-(0[1-9]|[12]\d|3[01])(?:T([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d|60)(\.\d{1,9})?)?(Z|[+-](?:0\d|1[0-4]):[0-5]\d)?)?)?)?$/;

/**
 * Parses a FHIR date, dateTime or instant into the range it denotes:
 * "2026" is the whole year, "2026-03-01T10:00Z" the whole minute.
 * Values without a zone are read as UTC. Returns undefined when invalid.
 */
export function parseDateRange(value: string): DateRange | undefined {
  const m = DATE_RE.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const year = Number(y),
    month = mo ? Number(mo) - 1 : 0,
    day = d ? Number(d) : 1;
  if (month > 11 || day < 1 || day > 31) return undefined;
  const offset = zoneOffsetMs(zone);
  const start = utc(
    year,
    month,
    day,
    h ? Number(h) : 0,
    mi ? Number(mi) : 0,
    s ? Number(s) : 0,
    frac ? Math.floor(Number(frac) * 1000) : 0,
  ) - offset;
  if (Number.isNaN(start)) return undefined;
  if (d && new Date(start + offset).getUTCDate() !== day) return undefined;
  return { start, end: endOf(start, offset, { mo, d, h, s, frac }) };
}

function zoneOffsetMs(zone: string | undefined): number {
  if (!zone || zone === "Z") return 0;
  const sign = zone[0] === "-" ? -1 : 1;
  return sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) *
    60_000;
}

function endOf(
  start: number,
  offset: number,
  parts: { mo?: string; d?: string; h?: string; s?: string; frac?: string },
): number {
  const local = new Date(start + offset);
  if (parts.frac) return start + 1;
  if (parts.s) return start + 1000;
  if (parts.h) return start + 60_000;
  if (parts.d) return start + 86_400_000;
  if (parts.mo) {
    return utc(local.getUTCFullYear(), local.getUTCMonth() + 1, 1) -
      offset;
  }
  return utc(local.getUTCFullYear() + 1, 0, 1) - offset;
}

/** Splits "ge2026-01-01" into its prefix and value (default `eq`). */
export function splitPrefix(
  value: string,
): { prefix: DatePrefix; value: string } {
  const head = value.slice(0, 2);
  if (
    (DATE_PREFIXES as readonly string[]).includes(head) &&
    /^\d/.test(value.slice(2))
  ) {
    return { prefix: head as DatePrefix, value: value.slice(2) };
  }
  return { prefix: "eq", value };
}

/** Whether a stored range matches a search range under a prefix. */
export function dateMatches(
  prefix: DatePrefix,
  target: DateRange,
  search: DateRange,
): boolean {
  const contained = target.start >= search.start && target.end <= search.end;
  switch (prefix) {
    case "eq":
      return contained;
    case "ne":
      return !contained;
    case "gt":
      return target.end > search.end;
    case "lt":
      return target.start < search.start;
    case "ge":
      return target.end > search.end || contained;
    case "le":
      return target.start < search.start || contained;
    case "sa":
      return target.start >= search.end;
    case "eb":
      return target.end <= search.start;
    case "ap":
      return target.start < search.end && target.end > search.start;
  }
}

/** Date.UTC without its rule that years 0-99 mean 1900-1999. */
function utc(
  year: number,
  month: number,
  day = 1,
  hours = 0,
  minutes = 0,
  seconds = 0,
  ms = 0,
): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month, day);
  date.setUTCHours(hours, minutes, seconds, ms);
  return date.getTime();
}
