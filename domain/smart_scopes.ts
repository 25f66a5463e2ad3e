/**
 * SMART on FHIR system scopes (App Launch 2.0, "Scopes for requesting
 * FHIR resources"): `system/{Type|*}.{cruds}` and the v1 spellings
 * `.read`, `.write` and `.*`. Pure functions: parsing, whether a set of
 * scopes covers another, and whether one covers an interaction.
 */

/** SMART v2 permission letters, in the order the specification requires. */
export const SCOPE_LETTERS = "cruds";

/** One SMART v2 permission letter. */
export type ScopeLetter = "c" | "r" | "u" | "d" | "s";

/** A parsed system scope: a resource type (or `*`) and its letters. */
export interface ScopeGrant {
  type: string;
  letters: ReadonlySet<ScopeLetter>;
}

// v1 names for the v2 letters (App Launch 2.0, "Scopes for requesting
// FHIR resources", SMART 1.0 compatibility).
const V1: Record<string, string> = { read: "rs", write: "cud", "*": "cruds" };

const SCOPE = /^system\/([A-Za-z]{1,64}|\*)\.([a-z]{1,5}|\*)$/;

/**
 * Parses one scope; `undefined` when it is not a system scope LHCMS
 * grants (patient and user scopes, launch, openid, v2 query parameters).
 * @example parseScope("system/Task.rs") // { type: "Task", letters: r, s }
 */
export function parseScope(
  scope: string,
  knownTypes: readonly string[],
): ScopeGrant | undefined {
  const m = SCOPE.exec(scope);
  if (!m) return undefined;
  const [, type, permissions] = m;
  if (type !== "*" && !knownTypes.includes(type)) return undefined;
  const letters = V1[permissions] ?? permissions;
  if (!inSpecOrder(letters)) return undefined;
  return { type, letters: new Set(letters) as Set<ScopeLetter> };
}

// "rs" is valid, "sr" and "rr" are not: each letter once, in cruds order.
function inSpecOrder(letters: string): boolean {
  let at = -1;
  for (const letter of letters) {
    const next = SCOPE_LETTERS.indexOf(letter, at + 1);
    if (next < 0) return false;
    at = next;
  }
  return letters.length > 0;
}

/**
 * Splits a space-separated scope string and parses each scope. Returns the
 * grants, and the scopes that could not be parsed.
 */
export function parseScopes(
  text: string,
  knownTypes: readonly string[],
): { grants: ScopeGrant[]; unknown: string[] } {
  const grants: ScopeGrant[] = [];
  const unknown: string[] = [];
  for (const scope of text.split(" ").filter((s) => s !== "")) {
    const grant = parseScope(scope, knownTypes);
    if (grant) grants.push(grant);
    else unknown.push(scope);
  }
  return { grants, unknown };
}

/** Whether the grants allow `letter` on resources of `type`. */
export function allows(
  grants: readonly ScopeGrant[],
  type: string,
  letter: ScopeLetter,
): boolean {
  return grants.some((g) =>
    (g.type === "*" || g.type === type) && g.letters.has(letter)
  );
}

/**
 * Whether every permission of `requested` is also in `allowed`:
 * `system/Task.rs` is covered by `system/*.cruds`, `system/*.r` is not
 * covered by `system/Task.r`.
 */
export function covers(
  allowed: readonly ScopeGrant[],
  requested: ScopeGrant,
): boolean {
  for (const letter of requested.letters) {
    const ok = requested.type === "*"
      ? allowed.some((g) => g.type === "*" && g.letters.has(letter))
      : allows(allowed, requested.type, letter);
    if (!ok) return false;
  }
  return true;
}

/**
 * The letter a FHIR interaction needs: instance history reads like a read,
 * as App Launch 2.0 lists it under `r`.
 */
export function letterOf(subtype: string): ScopeLetter | undefined {
  switch (subtype) {
    case "create":
      return "c";
    case "read":
    case "vread":
    case "history-instance":
      return "r";
    case "update":
    case "patch":
      return "u";
    case "delete":
      return "d";
    case "search-type":
    case "history-type":
      return "s";
    default:
      return undefined;
  }
}
