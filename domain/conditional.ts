/**
 * Conditional create and update (https://hl7.org/fhir/R4/http.html#ccreate):
 * the condition is a search; a write made because nothing matched also
 * takes the condition's claim, a KV key named by the blind index of the
 * query, so of identical concurrent requests exactly one commits and the
 * others, searching again, find its record.
 */
import { parseSearch, type SearchQuery } from "../fhir/search.ts";
import type { Resource } from "../fhir/types.ts";
import { fail } from "./errors.ts";
import { keys } from "./kv_keys.ts";
import { searchResources } from "./resource_search.ts";
import { blindFor, type StoreDeps, type Visibility } from "./resources.ts";

/** A parsed condition and the claim key identical conditions share. */
export interface Condition {
  type: string;
  query: SearchQuery;
  claim: Deno.KvKey;
}

// Parameters that shape a result page, not the set of matches.
const NOT_CRITERIA = new Set(["_count", "_cursor", "_state", "_format"]);

/**
 * Parses a condition (`If-None-Exist`, or the query of a conditional
 * update). One without a criterion would match every record: refused.
 */
export async function parseCondition(
  deps: StoreDeps,
  lab: string,
  type: string,
  text: string,
  visibility: Visibility,
): Promise<Condition> {
  // Some clients send the condition as a relative URL: `Patient?identifier=…`.
  const params = new URLSearchParams(text.replace(/^[A-Za-z]*\?/, ""));
  for (const name of NOT_CRITERIA) params.delete(name);
  const blind = blindFor(deps.keyRing, lab, type);
  const query = await parseSearch(type, params, blind);
  if (query.criteria.length === 0 && query.ids === undefined) {
    throw fail.invalid("A conditional request needs search criteria");
  }
  // Two matches are enough to tell "one" from "several".
  query.count = 2;
  const canonical = [...params].map(([k, v]) => `${k}=${v}`).sort().join("&");
  // Dentists of different practices see different records, so each
  // practice's conditions are claimed apart from the others.
  const scope = visibility.practice ?? "";
  const name = await blind("conditional", `${scope}\u0000${canonical}`);
  return { type, query, claim: keys.conditionalClaim(lab, type, name) };
}

/** The records matching a condition, and the claim read before them. */
export interface ConditionMatch {
  matches: Resource[];
  /** Check and set this in the commit of a write made for no match. */
  claim: (op: Deno.AtomicOperation) => void;
}

/**
 * Searches for a condition's matches. The claim is read first: a request
 * that commits after this read makes our commit fail, and one committed
 * before it is found by the search.
 */
export async function matchCondition(
  deps: StoreDeps,
  lab: string,
  condition: Condition,
  visibility: Visibility,
  now: Date,
): Promise<ConditionMatch> {
  const claimed = await deps.kv.get(condition.claim);
  const page = await searchResources(
    deps,
    lab,
    condition.type,
    condition.query,
    visibility,
  );
  // A condition that cannot be settled within one search's bounded work
  // is refused rather than answered from a partial look.
  if (page.next && page.resources.length < 2) {
    throw fail.preconditionFailed(
      "Cannot apply the condition: it is too broad to check; name an identifier",
    );
  }
  return {
    matches: page.resources,
    claim: (op) => {
      op.check({ key: condition.claim, versionstamp: claimed.versionstamp })
        .set(condition.claim, now.toISOString());
    },
  };
}

/** Throws 412 when a condition matched more than one record. */
export function refuseSeveral(condition: Condition, matches: Resource[]) {
  if (matches.length > 1) {
    throw fail.preconditionFailed(
      `Cannot apply the condition: several ${condition.type} records match`,
    );
  }
}
