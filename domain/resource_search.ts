/**
 * Runs a parsed FHIR search over one lab's records. One criterion drives
 * the scan (a direct index lookup when it has one); every candidate is then
 * decrypted and checked against all criteria, so blind and clear parameters
 * combine freely. Pages resume from an opaque cursor.
 */
import { encodeBase64Url } from "./config.ts";
import { entriesFor, prefixLength } from "../fhir/index_entries.ts";
import type { Criterion, SearchQuery } from "../fhir/search.ts";
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

/** Runs `query` over the records of `type` at `lab` visible to the caller. */
export async function searchResources(
  deps: StoreDeps,
  lab: string,
  type: string,
  query: SearchQuery,
  visibility: Visibility,
): Promise<SearchPage> {
  if (query.ids) {
    return { resources: await byIds(deps, lab, type, query, visibility) };
  }
  const cursor = decodeCursor(query.cursor);
  const driver = query.criteria.find((c) => c.lookups !== null) ??
    query.criteria[0];
  const scans = scanPrefixes(lab, type, driver);
  const resources: Resource[] = [];
  let scanned = 0;
  let lastId: string | undefined;

  for (let p = cursor.p; p < scans.length; p++) {
    const { prefix, idAt, lookup } = scans[p];
    const iter = deps.kv.list({ prefix }, {
      cursor: p === cursor.p ? cursor.c : undefined,
    });
    for await (const entry of iter) {
      const id = entry.key[idAt] as string;
      const fromIndex = driver !== undefined;
      if (fromIndex && !driver.test(indexEntry(entry.key, idAt, lookup))) {
        continue;
      }
      if (id === lastId) continue;
      lastId = id;
      const found = await candidate(
        deps,
        lab,
        type,
        id,
        query,
        visibility,
        fromIndex ? undefined : entry,
      );
      if (
        found &&
        !(await seenInEarlierLookup(deps, lab, type, found, driver, p, scans))
      ) {
        resources.push(found);
      }
      if (resources.length >= query.count || ++scanned >= MAX_SCANNED) {
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

function indexEntry(key: Deno.KvKey, idAt: number, lookup: Deno.KvKeyPart[]) {
  const start = idAt - (lookup.length || 0);
  return {
    prefix: lookup.length ? lookup : key.slice(start, idAt),
    suffix: key.slice(idAt + 1),
  };
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

/** With `a,b` on the driving parameter, a record matching both shows once. */
async function seenInEarlierLookup(
  deps: StoreDeps,
  lab: string,
  type: string,
  resource: Resource,
  driver: Criterion | undefined,
  p: number,
  scans: Scan[],
) {
  if (!driver || p === 0 || driver.lookups === null) return false;
  const blind = blindFor(deps.keyRing, lab, type);
  const entries = await entriesFor(driver.def, resource, blind);
  const earlier = new Set(
    scans.slice(0, p).map((s) => JSON.stringify(s.lookup)),
  );
  return entries.some((e) => earlier.has(JSON.stringify(e.prefix)));
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
      typeof parsed.p === "number" &&
      (parsed.c === undefined || typeof parsed.c === "string")
    ) {
      return parsed;
    }
  } catch {
    // fall through to the error below
  }
  throw fail.invalid("_cursor is not a cursor this server issued");
}
