/**
 * The result parameters of a search that shape the Bundle rather than pick
 * records: `_sort`, `_summary`, `_total` and `_elements`.
 * https://hl7.org/fhir/R4/search.html#return
 */
import { fail, type Problem } from "../domain/errors.ts";
import { SEARCH_PARAMS, type SearchParamDef } from "./search_params.ts";
import type { Resource } from "./types.ts";

/** One key of `_sort`. */
export interface SortKey {
  def: SearchParamDef;
  descending: boolean;
}

/** What the result parameters ask of a search. */
export interface ResultControls {
  sort: SortKey[];
  /** `_summary=count`: the total alone, no entries. */
  countOnly: boolean;
  /** `_total=accurate`: count every match. */
  accurateTotal: boolean;
  /** `_elements`: the top-level elements to keep, when given. */
  elements?: string[];
}

/** The names {@link parseControls} reads. */
export const CONTROL_PARAMS = ["_sort", "_summary", "_total", "_elements"];

const ELEMENT = /^[a-z][A-Za-z0-9]*$/;
// Every sort key is compared for each pair of records, and every element
// name checked on each entry: a few of each is all a client needs.
const MAX_SORT_KEYS = 5;
const MAX_ELEMENTS = 50;

/**
 * Reads the result parameters of a search of `type`. Sorting is offered on
 * dates held in clear and on `status`: an order over a blind (PHI) index
 * would say something about the values it hides.
 */
export function parseControls(
  type: string,
  params: URLSearchParams,
): ResultControls {
  const problems: Problem[] = [];
  const refuse = (message: string, expression: string) =>
    problems.push({ message, expression, code: "not-supported" });
  const sort: SortKey[] = [];
  for (const name of list(params, "_sort")) {
    const descending = name.startsWith("-");
    const def = sortable(type, descending ? name.slice(1) : name);
    if (def) sort.push({ def, descending });
    else refuse(`Cannot sort on ${name}`, "_sort");
  }
  if (sort.length > MAX_SORT_KEYS) {
    refuse(`_sort takes at most ${MAX_SORT_KEYS} keys`, "_sort");
  }

  const summary = params.get("_summary");
  if (summary !== null && summary !== "count" && summary !== "false") {
    refuse(`_summary=${summary} is not supported`, "_summary");
  }
  const total = params.get("_total");
  if (total !== null && !["none", "estimate", "accurate"].includes(total)) {
    refuse(`_total=${total} is not a valid value`, "_total");
  }
  const elements = params.has("_elements")
    ? list(params, "_elements")
    : undefined;
  if (elements?.some((e) => !ELEMENT.test(e))) {
    refuse("_elements takes top-level element names", "_elements");
  } else if (elements && elements.length > MAX_ELEMENTS) {
    refuse(`_elements takes at most ${MAX_ELEMENTS} names`, "_elements");
  }
  if (problems.length > 0) {
    throw fail.invalid("Cannot run the search", problems);
  }
  return {
    sort,
    countOnly: summary === "count",
    accurateTotal: total === "accurate",
    elements,
  };
}

function list(params: URLSearchParams, name: string): string[] {
  return params.getAll(name).flatMap((v) => v.split(","))
    .map((v) => v.trim()).filter((v) => v !== "");
}

function sortable(type: string, name: string): SearchParamDef | undefined {
  const def = (SEARCH_PARAMS[type] ?? []).find((d) => d.name === name);
  if (!def || def.blind) return undefined;
  return def.type === "date" || def.name === "status" ? def : undefined;
}

// https://hl7.org/fhir/R4/search.html#elements: a subset is marked so no
// one takes it for the whole record.
const SUBSETTED = {
  system: "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
  code: "SUBSETTED",
};

/**
 * `resource` with only the named top-level elements, plus `id`, `meta` and
 * `resourceType`, tagged SUBSETTED.
 *
 * @example
 * subsetElements(task, ["status"]) // { resourceType, id, meta, status }
 */
export function subsetElements(
  resource: Resource,
  elements: string[],
): Resource {
  const keep = new Set(["resourceType", "id", "meta", ...elements]);
  const out = Object.fromEntries(
    Object.entries(resource).filter(([name]) => keep.has(name)),
  ) as Resource;
  const tags = (resource.meta?.tag ?? []).filter((t) =>
    t.system !== SUBSETTED.system || t.code !== SUBSETTED.code
  );
  out.meta = { ...resource.meta, tag: [...tags, SUBSETTED] };
  return out;
}
