/**
 * Parses a FHIR search query into criteria the store can run: for each
 * parameter, the index prefixes to look up (when it has any) and a test on
 * index entries. Values of one parameter separated by commas are ORed;
 * parameters are ANDed. https://hl7.org/fhir/R4/search.html
 */
import { fail, type Problem } from "../domain/errors.ts";
import { dateMatches, parseDateRange, splitPrefix } from "./dates.ts";
import type { BlindFn } from "./index_entries.ts";
import {
  CONTROL_PARAMS,
  parseControls,
  type ResultControls,
} from "./search_controls.ts";
import {
  type IndexEntry,
  normaliseString,
  relativeReference,
  SEARCH_PARAMS,
  type SearchParamDef,
} from "./search_params.ts";
import { FHIR_ID } from "./types.ts";

/** One parameter of a search, ready to run. */
export interface Criterion {
  def: SearchParamDef;
  /** Prefixes to list directly, or null when the whole index is scanned. */
  lookups: Deno.KvKeyPart[][] | null;
  test: (entry: IndexEntry) => boolean;
}

/** A parsed search. */
export interface SearchQuery {
  ids?: string[];
  criteria: Criterion[];
  count: number;
  cursor?: string;
  /** The query with PHI values removed, for the audit trail. */
  auditQuery: string;
  /** Unknown parameters skipped under `lenient`: reported, left out of links. */
  ignored: string[];
  controls: ResultControls;
}

const DEFAULT_COUNT = 20;
const MAX_COUNT = 100;
// Each value is a lookup, an HMAC or a test on every candidate: a search
// holds at most this many, of at most this length, so one request's work
// stays bounded (and its index keys within KV's limits).
const MAX_VALUES = 100;
const MAX_VALUE_LENGTH = 256;
const RESULT_PARAMS = new Set([
  "_count",
  "_cursor",
  "_state",
  "_format",
  "_pretty",
  ...CONTROL_PARAMS,
]);

interface ValueMatcher {
  lookup: Deno.KvKeyPart[] | null;
  test: (entry: IndexEntry) => boolean;
}

/**
 * Parses `params` for `type`. Unknown parameters are refused unless
 * `lenient` is set: the search route is lenient unless the client sends
 * `Prefer: handling=strict` (R4 search.html#errors) and reports what it
 * ignored; conditional interactions stay strict, since a misspelt filter
 * there would pick the wrong record.
 */
export async function parseSearch(
  type: string,
  params: URLSearchParams,
  blind: BlindFn,
  lenient = false,
): Promise<SearchQuery> {
  const defs = SEARCH_PARAMS[type] ?? [];
  const criteria: Criterion[] = [];
  const problems: Problem[] = [];
  const audit: string[] = [];
  const ignored: string[] = [];
  let ids: string[] | undefined;
  let values = 0;

  for (const [rawName, value] of params) {
    const [name, modifier] = rawName.split(":", 2);
    if (RESULT_PARAMS.has(name)) continue;
    if (name === "_id" || defs.some((d) => d.name === name)) {
      const parts = value.split(",");
      values += parts.length;
      if (values > MAX_VALUES) {
        throw fail.invalid(`A search may hold at most ${MAX_VALUES} values`);
      }
      if (parts.some((v) => v.length > MAX_VALUE_LENGTH)) {
        problems.push({
          message: `A value is longer than ${MAX_VALUE_LENGTH} characters`,
          expression: name,
        });
        continue;
      }
    }
    if (name === "_id") {
      ids = value.split(",").filter((id) => FHIR_ID.test(id));
      audit.push(`_id=${value}`);
      continue;
    }
    const def = defs.find((d) => d.name === name);
    if (!def) {
      if (lenient) ignored.push(rawName);
      else {
        problems.push({
          message: `Unknown search parameter ${name}`,
          expression: name,
        });
      }
      continue;
    }
    try {
      const matchers = await Promise.all(
        value.split(",").map((v) => matcherFor(def, modifier, v, blind)),
      );
      criteria.push(combine(def, matchers));
      audit.push(`${rawName}=${def.blind ? "[phi]" : value}`);
    } catch (error) {
      problems.push({ message: (error as Error).message, expression: name });
    }
  }
  if (problems.length > 0) {
    throw fail.invalid("Cannot run the search", problems);
  }
  return {
    ids,
    criteria,
    count: parseCount(params.get("_count")),
    cursor: params.get("_cursor") ?? undefined,
    auditQuery: audit.join("&"),
    ignored,
    controls: parseControls(type, params),
  };
}

function parseCount(value: string | null): number {
  if (value === null) return DEFAULT_COUNT;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw fail.invalid("_count must be a whole number");
  }
  return Math.min(n, MAX_COUNT);
}

function combine(def: SearchParamDef, matchers: ValueMatcher[]): Criterion {
  const lookups = matchers.every((m) => m.lookup !== null)
    ? matchers.map((m) => m.lookup as Deno.KvKeyPart[])
    : null;
  return { def, lookups, test: (e) => matchers.some((m) => m.test(e)) };
}

async function matcherFor(
  def: SearchParamDef,
  modifier: string | undefined,
  value: string,
  blind: BlindFn,
): Promise<ValueMatcher> {
  if (value === "") throw new Error(`${def.name} needs a value`);
  if (def.blind) return await blindMatcher(def, modifier, value, blind);
  switch (def.type) {
    case "token":
      return tokenMatcher(modifier, value);
    case "reference":
      return referenceMatcher(def, modifier, value);
    case "date":
      return dateMatcher(modifier, value);
    case "string":
      return stringMatcher(modifier, value);
  }
}

function noModifier(modifier: string | undefined) {
  if (modifier !== undefined) {
    throw new Error(`Modifier :${modifier} is not supported here`);
  }
}

function tokenMatcher(
  modifier: string | undefined,
  value: string,
): ValueMatcher {
  noModifier(modifier);
  const bar = value.indexOf("|");
  if (bar < 0) return { lookup: [value], test: (e) => e.prefix[0] === value };
  const system = value.slice(0, bar), code = value.slice(bar + 1);
  if (code === "") return { lookup: null, test: (e) => e.suffix[0] === system };
  return {
    lookup: [code],
    test: (e) => e.prefix[0] === code && e.suffix[0] === system,
  };
}

function referenceMatcher(
  def: SearchParamDef,
  modifier: string | undefined,
  value: string,
): ValueMatcher {
  const targets = def.targets ?? [];
  if (modifier !== undefined && !targets.includes(modifier)) {
    throw new Error(`Modifier :${modifier} is not a target of ${def.name}`);
  }
  const refs = value.includes("/")
    ? [relativeReference(value)]
    : (modifier ? [modifier] : targets).map((t) => `${t}/${value}`);
  const valid = refs.filter((r): r is string => r !== undefined);
  if (valid.length === 0) {
    throw new Error(`${def.name} is not a valid reference`);
  }
  if (valid.length === 1) {
    return { lookup: [valid[0]], test: (e) => e.prefix[0] === valid[0] };
  }
  return { lookup: null, test: (e) => valid.includes(e.prefix[0] as string) };
}

function dateMatcher(
  modifier: string | undefined,
  value: string,
): ValueMatcher {
  noModifier(modifier);
  const { prefix, value: date } = splitPrefix(value);
  const range = parseDateRange(date);
  if (!range) throw new Error("is not a valid FHIR date");
  return {
    lookup: null,
    test: (e) =>
      dateMatches(prefix, {
        start: e.suffix[0] as number,
        end: e.suffix[1] as number,
      }, range),
  };
}

function stringMatcher(
  modifier: string | undefined,
  value: string,
): ValueMatcher {
  const wanted = normaliseString(value);
  const text = (e: IndexEntry) => e.prefix[0] as string;
  switch (modifier) {
    case undefined:
      return { lookup: null, test: (e) => text(e).startsWith(wanted) };
    case "contains":
      return { lookup: null, test: (e) => text(e).includes(wanted) };
    case "exact":
      return { lookup: [wanted], test: (e) => text(e) === wanted };
    default:
      throw new Error(`Modifier :${modifier} is not supported here`);
  }
}

/**
 * PHI parameters match whole values only: a blind index cannot answer a
 * prefix or a range. Strings match case- and accent-insensitively.
 */
async function blindMatcher(
  def: SearchParamDef,
  modifier: string | undefined,
  value: string,
  blind: BlindFn,
): Promise<ValueMatcher> {
  if (
    modifier !== undefined && !(def.type === "string" && modifier === "exact")
  ) {
    throw new Error(`Modifier :${modifier} is not supported on ${def.name}`);
  }
  let mac: string;
  if (def.type === "token") {
    const bar = value.indexOf("|");
    if (value.endsWith("|")) {
      throw new Error(`${def.name} takes a whole value, not a system alone`);
    }
    mac = bar < 0
      ? await blind(`${def.name}|code`, value)
      : await blind(`${def.name}|system`, value);
  } else if (def.type === "date") {
    const { prefix, value: date } = splitPrefix(value);
    if (
      prefix !== "eq" || !/^\d{4}(-\d{2}){0,2}$/.test(date) ||
      !parseDateRange(date)
    ) {
      throw new Error(`${def.name} takes an exact date, year-month or year`);
    }
    mac = await blind(def.name, date);
  } else {
    mac = await blind(def.name, normaliseString(value));
  }
  return { lookup: [mac], test: (e) => e.prefix[0] === mac };
}
