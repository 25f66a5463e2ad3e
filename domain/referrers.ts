/**
 * Which live records refer to a record, found through the reference search
 * indexes (the entries of a deleted record are removed with it). A delete
 * is refused while one exists, as HAPI FHIR does by default, so a Task
 * never points at a prescription that reads as Gone.
 */
import { SEARCH_PARAMS } from "../fhir/search_params.ts";
import { keys } from "./kv_keys.ts";
import type { StoreDeps } from "./resources.ts";

/** The type of one record referring to `type/id`, if any does. */
export async function firstReferrer(
  deps: StoreDeps,
  lab: string,
  type: string,
  id: string,
): Promise<string | undefined> {
  const ref = `${type}/${id}`;
  for (const [from, defs] of Object.entries(SEARCH_PARAMS)) {
    for (const def of defs) {
      if (def.type !== "reference" || def.blind) continue;
      const prefix = keys.resourcesByParam(lab, from, def.name, [ref]);
      for await (const entry of deps.kv.list({ prefix }, { limit: 1 })) {
        if (entry.key.at(-1) !== id || from !== type) return from;
      }
    }
  }
  return undefined;
}
