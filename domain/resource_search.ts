/**
 * Runs a parsed FHIR search over one lab's records. One criterion drives
 * the scan (a direct index lookup when it has one); every candidate is then
 * decrypted and checked against all criteria, so blind and clear parameters
 * combine freely. Pages resume from an opaque cursor.
 */
import { encodeBase64Url } from "./config.ts";
import { entriesFor, entryKey, prefixLength } from "../fhir/index_entries.ts";
import type { Criterion, SearchQuery } from "../fhir/search.ts";
import type { IndexEntry } from "../fhir/search_params.ts";
import type { Resource } from "../fhir/types.ts";
import { fail } from "./errors.ts";
import { keys } from "./kv_keys.ts";
import {
  blindFor,
  type StoreDeps,
  type StoredResource,
  type Visibility,
  visibleTo,
} from "./resources.ts";

/** A page of results and the cursor of the next page, if any. */
export interface SearchPage {
  resources: Resource[];
  next?: string;
}

interface Cursor {
  /** Index of the lookup prefix being scanned. */
  p: number;
  /** KV cursor within it. */
  c?: string;
}

// Bounds the work of one request: a page may come back short, with a
// cursor, rather than one search scanning a whole lab.
const MAX_SCANNED = 2000;

/**
 * Runs `query` over the records of `type` at `lab` visible to the caller,
 * looking at no more than `budget` index entries for one page.
 */
export async function searchResources(
  deps: StoreDeps,
  lab: string,
  type: string,
  query: SearchQuery,
  visibility: Visibility,
  budget = MAX_SCANNED,
): Promise<SearchPage> {
  // _count=0 asks for no entries: https://hl7.org/fhir/R4/search.html#count
  if (query.count === 0) return { resources: [] };
  if (query.ids) {
    return { resources: await byIds(deps, lab, type, query, visibility) };
  }
  const cursor = decodeCursor(query.cursor);
  const driver = query.criteria.find((c) => c.lookups !== null) ??
    query.criteria[0];
  const scans = scanPrefixes(lab, type, driver);
  const width = driver ? prefixLength(driver.def) : 0;
  const resources: Resource[] = [];
  let scanned = 0;

  for (let p = cursor.p; p < scans.length; p++) {
    const { prefix, idAt } = scans[p];
    const start = p === cursor.p ? cursor.c : undefined;
    const iter = deps.kv.list({ prefix }, { cursor: start });
    // The cursor before the current entry, to resume at it.
    let previous = start;
    for await (const entry of iter) {
      const id = entry.key[idAt] as string;
      const at = entry.key.slice(idAt - width);
      if (++scanned > budget) {
        return { resources, next: encodeCursor({ p, c: previous }) };
      }
      previous = iter.cursor;
      if (driver && !driver.test(indexEntry(at, width))) continue;
      const found = await candidate(
        deps,
        lab,
        type,
        id,
        query,
        visibility,
        driver ? undefined : entry,
      );
      if (
        found &&
        (!driver || await firstSighting(deps, lab, found, driver, scans, p, at))
      ) {
        resources.push(found);
      }
      if (resources.length >= query.count) {
        return { resources, next: encodeCursor({ p, c: iter.cursor }) };
      }
    }
  }
  return { resources };
}

interface Scan {
  prefix: Deno.KvKey;
  idAt: number;
  lookup: Deno.KvKeyPart[];
}

function scanPrefixes(
  lab: string,
  type: string,
  driver: Criterion | undefined,
): Scan[] {
  if (!driver) {
    const prefix = keys.resources(lab, type);
    return [{ prefix, idAt: prefix.length, lookup: [] }];
  }
  const base = keys.resourcesByParam(lab, type, driver.def.name, []);
  if (driver.lookups === null) {
    return [{
      prefix: base,
      idAt: base.length + prefixLength(driver.def),
      lookup: [],
    }];
  }
  return driver.lookups.map((lookup) => ({
    prefix: [...base, ...lookup],
    idAt: base.length + lookup.length,
    lookup,
  }));
}

/** Splits the key parts after the parameter name back into an entry. */
function indexEntry(at: Deno.KvKeyPart[], width: number): IndexEntry {
  return { prefix: at.slice(0, width), suffix: at.slice(width + 1) };
}

async function candidate(
  deps: StoreDeps,
  lab: string,
  type: string,
  id: string,
  query: SearchQuery,
  visibility: Visibility,
  primary?: Deno.KvEntry<unknown>,
): Promise<Resource | undefined> {
  const key = keys.resource(lab, type, id);
  const stored = primary
    ? primary.value as StoredResource
    : (await deps.kv.get<StoredResource>(key)).value;
  if (!stored || stored.deleted || !visibleTo(type, stored, visibility)) {
    return undefined;
  }
  const resource = await deps.keyRing.open<Resource>(
    lab,
    key,
    "resource",
    stored.body,
  );
  return await matchesAll(deps, lab, resource, query.criteria)
    ? resource
    : undefined;
}

async function matchesAll(
  deps: StoreDeps,
  lab: string,
  resource: Resource,
  criteria: Criterion[],
) {
  const blind = blindFor(deps.keyRing, lab, resource.resourceType);
  for (const criterion of criteria) {
    const entries = await entriesFor(criterion.def, resource, blind);
    if (!entries.some(criterion.test)) return false;
  }
  return true;
}

/**
 * A record can sit under several entries of the driving index (two codings
 * of one code, `a,b` both matching, a string matched by two names). It is
 * returned only at the first of its matching entries (by scan, then key),
 * so it shows exactly once however the pages fall.
 */
async function firstSighting(
  deps: StoreDeps,
  lab: string,
  resource: Resource,
  driver: Criterion,
  scans: Scan[],
  p: number,
  at: Deno.KvKeyPart[],
) {
  const blind = blindFor(deps.keyRing, lab, resource.resourceType);
  const entries = await entriesFor(driver.def, resource, blind);
  let first: { scan: number; key: string } | undefined;
  for (const e of entries.filter(driver.test)) {
    const scan = driver.lookups === null
      ? 0
      : scans.findIndex((s) => sameKey(s.lookup, e.prefix));
    const key = JSON.stringify(entryKey(e, resource.id as string));
    if (
      scan >= 0 &&
      (!first || scan < first.scan || (scan === first.scan && key < first.key))
    ) first = { scan, key };
  }
  return first?.scan === p && first.key === JSON.stringify(at);
}

function sameKey(a: Deno.KvKeyPart[], b: Deno.KvKeyPart[]) {
  return JSON.stringify(a) === JSON.stringify(b);
}

async function byIds(
  deps: StoreDeps,
  lab: string,
  type: string,
  query: SearchQuery,
  visibility: Visibility,
) {
  const out: Resource[] = [];
  for (const id of (query.ids ?? []).slice(0, 100)) {
    const found = await candidate(deps, lab, type, id, query, visibility);
    if (found) out.push(found);
  }
  return out;
}

function encodeCursor(cursor: Cursor): string {
  return encodeBase64Url(new TextEncoder().encode(JSON.stringify(cursor)));
}

function decodeCursor(text: string | undefined): Cursor {
  if (!text) return { p: 0 };
  try {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const parsed = JSON.parse(atob(b64));
    if (
      Number.isInteger(parsed.p) && parsed.p >= 0 &&
      (parsed.c === undefined || typeof parsed.c === "string")
    ) {
      return parsed;
    }
  } catch {
    // fall through to the error below
  }
  throw fail.invalid("_cursor is not a cursor this server issued");
}
