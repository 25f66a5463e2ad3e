/**
 * The order `_sort` asks for. A record's place is its sort values, one per
 * key, then its id, so two records never tie and a page can resume right
 * after the last record it returned. https://hl7.org/fhir/R4/search.html#sort
 */
import type { SortKey } from "./search_controls.ts";
import type { Resource } from "./types.ts";

/** A sort value: epoch milliseconds for dates, the code for tokens. */
export type SortValue = number | string | null;

/** Where a record falls in a sorted search. */
export interface SortPosition {
  values: SortValue[];
  id: string;
}

/**
 * The position of `resource` under `keys`. An element with several values
 * sorts by its lowest going up and its highest going down, as the
 * specification asks; for a date, the start or the end of its range.
 */
export function sortPosition(
  resource: Resource,
  keys: SortKey[],
): SortPosition {
  const values = keys.map(({ def, descending }) => {
    const found = def.extract(resource).flatMap((raw): (number | string)[] => {
      if (raw.kind === "date") {
        return [descending ? raw.range.end : raw.range.start];
      }
      return raw.kind === "token" ? [raw.code] : [];
    });
    if (found.length === 0) return null;
    return found.reduce((a, b) => (descending ? a > b : a < b) ? a : b);
  });
  return { values, id: resource.id ?? "" };
}

/** Negative when `a` comes first. Records without a value come last. */
export function comparePositions(
  a: SortPosition,
  b: SortPosition,
  keys: SortKey[],
): number {
  for (let i = 0; i < keys.length; i++) {
    const x = a.values[i], y = b.values[i];
    if (x === y) continue;
    if (x === null) return 1;
    if (y === null) return -1;
    const order = x < y ? -1 : 1;
    return keys[i].descending ? -order : order;
  }
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
