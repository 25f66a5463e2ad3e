/**
 * Turns a resource into the index entries of one search parameter. PHI
 * parameters produce blind entries (HMACs from the caller's `blind`
 * function); the rest produce clear, ordered values.
 */
import type { Resource } from "./types.ts";
import {
  type IndexEntry,
  normaliseString,
  type RawValue,
  type SearchParamDef,
} from "./search_params.ts";

/** Computes a blind index value for a purpose and a normalised value. */
export type BlindFn = (purpose: string, value: string) => Promise<string>;

/** How many key parts precede the resource id in an entry of `def`. */
export function prefixLength(def: SearchParamDef): number {
  return def.type === "date" && !def.blind ? 0 : 1;
}

/** All index entries of `def` for `resource`. */
export async function entriesFor(
  def: SearchParamDef,
  resource: Resource,
  blind: BlindFn,
): Promise<IndexEntry[]> {
  const out: IndexEntry[] = [];
  for (const raw of def.extract(resource)) {
    out.push(...await entriesOfValue(def, raw, blind));
  }
  return out;
}

async function entriesOfValue(
  def: SearchParamDef,
  raw: RawValue,
  blind: BlindFn,
): Promise<IndexEntry[]> {
  const one = (prefix: Deno.KvKeyPart[], suffix: Deno.KvKeyPart[] = []) => ({
    prefix,
    suffix,
  });
  switch (raw.kind) {
    case "token":
      if (!def.blind) {
        return [one([clip(raw.code)], [clip(raw.system ?? "")])];
      }
      return [
        one([await blind(`${def.name}|code`, raw.code)]),
        one([
          await blind(`${def.name}|system`, `${raw.system ?? ""}|${raw.code}`),
        ]),
      ];
    case "reference":
      return [one([raw.ref])];
    case "string": {
      const text = normaliseString(raw.text);
      return [one([def.blind ? await blind(def.name, text) : clip(text)])];
    }
    case "date": {
      if (!def.blind) return [one([], [raw.range.start, raw.range.end])];
      const day = raw.text.slice(0, 10);
      const parts = [day.slice(0, 4), day.slice(0, 7), day].filter((
        p,
        i,
        all,
      ) => all.indexOf(p) === i && /^\d{4}(-\d{2}){0,2}$/.test(p));
      return await Promise.all(
        parts.map(async (p) => one([await blind(def.name, p)])),
      );
    }
  }
}

/** The key parts of an entry after the parameter name. */
export function entryKey(entry: IndexEntry, id: string): Deno.KvKeyPart[] {
  return [...entry.prefix, id, ...entry.suffix];
}

// KV keys hold at most 2 KiB; clear index values are cut well below that.
// Search values are bounded to the same length (fhir/search.ts).
const MAX_INDEXED = 256;
const clip = (text: string) => text.slice(0, MAX_INDEXED);
