/**
 * Searches that need every match at once: `_sort` (the search indexes are
 * not kept in date or status order), `_total=accurate` and
 * `_summary=count`. Each page loads all matches again, so such a search is
 * bounded: past {@link MAX_FULL_MATCHES} matches, or past
 * {@link MAX_FULL_SCAN} index entries looked at, it is refused rather than
 * left to load a whole lab.
 */
import { encodeBase64Url } from "./config.ts";
import { fail } from "./errors.ts";
import type { StoreDeps, Visibility } from "./resources.ts";
import { type SearchPage, searchResources } from "./resource_search.ts";
import type { SearchQuery } from "../fhir/search.ts";
import {
  comparePositions,
  type SortPosition,
  sortPosition,
} from "../fhir/search_sort.ts";

/** Most matches a sorted or counted search may have. */
export const MAX_FULL_MATCHES = 1000;
/** Most index entries a sorted or counted search may look at. */
export const MAX_FULL_SCAN = 5000;

/** A page of a search, with the number of all matches when counted. */
export interface CountedPage extends SearchPage {
  total?: number;
}

/** Runs `query` one page at a time, or in full when it has to. */
export async function runSearch(
  deps: StoreDeps,
  lab: string,
  type: string,
  query: SearchQuery,
  visibility: Visibility,
): Promise<CountedPage> {
  const { sort, countOnly, accurateTotal } = query.controls;
  return sort.length > 0 || countOnly || accurateTotal
    ? await fullSearch(deps, lab, type, query, visibility)
    : await searchResources(deps, lab, type, query, visibility);
}

/**
 * Loads every match of `query`, orders it by `_sort` (then id), and
 * returns the page after the cursor's position. The cursor names the last
 * record returned, by its sort values, so records written while a client
 * pages show up if they sort after it and never shift a page.
 */
async function fullSearch(
  deps: StoreDeps,
  lab: string,
  type: string,
  query: SearchQuery,
  visibility: Visibility,
): Promise<CountedPage> {
  const all = await searchResources(
    deps,
    lab,
    type,
    {
      ...query,
      count: MAX_FULL_MATCHES + 1,
      cursor: undefined,
    },
    visibility,
    MAX_FULL_SCAN,
  );
  if (all.next) throw tooCostly();

  const { sort, countOnly } = query.controls;
  const total = all.resources.length;
  if (countOnly) return { resources: [], total };
  const placed = all.resources
    .map((resource) => ({ resource, at: sortPosition(resource, sort) }))
    .sort((a, b) => comparePositions(a.at, b.at, sort));
  const after = query.cursor ? decodePosition(query.cursor) : undefined;
  const rest = after
    ? placed.filter(({ at }) => comparePositions(at, after, sort) > 0)
    : placed;
  const page = rest.slice(0, query.count);
  const last = page.at(-1);
  return {
    resources: page.map(({ resource }) => resource),
    next: rest.length > page.length && last
      ? encodePosition(last.at)
      : undefined,
    total,
  };
}

function tooCostly() {
  const message =
    `it matches more than ${MAX_FULL_MATCHES} records or needs more than ` +
    `${MAX_FULL_SCAN} index entries read; narrow it with more parameters`;
  return fail.invalid("Cannot sort or count this search", [{
    message,
    code: "too-costly",
  }]);
}

function encodePosition(at: SortPosition): string {
  return encodeBase64Url(new TextEncoder().encode(JSON.stringify(at)));
}

function decodePosition(text: string): SortPosition {
  try {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const at = JSON.parse(atob(b64));
    const value = (v: unknown) =>
      v === null || typeof v === "string" || typeof v === "number";
    if (
      typeof at.id === "string" && Array.isArray(at.values) &&
      at.values.every(value)
    ) return at;
  } catch {
    // fall through to the error below
  }
  throw fail.invalid("_cursor is not a cursor this server issued");
}
