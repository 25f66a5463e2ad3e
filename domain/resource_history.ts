/**
 * The `_history` of one resource and of a whole type, newest first
 * (https://hl7.org/fhir/R4/http.html#history), limited to what the caller
 * may see and paged by a position that holds no PHI: a version number, or
 * the time-ordered id of a change.
 */
import { encodeTime, isValid } from "ulid";
import type { Resource } from "../fhir/types.ts";
import { fail } from "./errors.ts";
import { keys } from "./kv_keys.ts";
import {
  type ResourceChange,
  type StoreDeps,
  type StoredResource,
  type Visibility,
  visibleTo,
} from "./resources.ts";

/** One version in a history: a deletion carries no resource. */
export interface HistoryVersion {
  type: string;
  stored: StoredResource;
  resource?: Resource;
}

/** A page of history and the position of the next, if any. */
export interface HistoryPage {
  versions: HistoryVersion[];
  next?: string;
}

/** Which part of a history to list. */
export interface HistoryQuery {
  /** Only versions written at or after this time (`_since`). */
  since?: Date;
  count: number;
  /** Only versions older than this position (from a `next` link). */
  before?: string;
}

// A dentist's type history skips other practices' changes: bounded, so a
// page may come back short with a next link rather than scan a whole lab.
const MAX_SCANNED = 1000;

/** The versions of one resource; 404 when it is unknown or hidden. */
export async function instanceHistory(
  deps: StoreDeps,
  lab: string,
  type: string,
  id: string,
  visibility: Visibility,
  query: HistoryQuery,
): Promise<HistoryPage> {
  if (query.count === 0) return { versions: [] };
  const current = (await deps.kv.get<StoredResource>(
    keys.resource(lab, type, id),
  )).value;
  if (!current || !visibleTo(type, current, visibility)) {
    throw fail.notFound(`${type}/${id} is not known`);
  }
  const before = query.before === undefined ? undefined : Number(query.before);
  if (before !== undefined && !(Number.isInteger(before) && before > 0)) {
    throw fail.invalid("_page is not a position this server issued");
  }
  const prefix = keys.resourceVersions(lab, type, id);
  const iter = deps.kv.list<StoredResource>(
    before === undefined
      ? { prefix }
      : { prefix, end: keys.resourceVersion(lab, type, id, before) },
    { reverse: true },
  );
  const versions: HistoryVersion[] = [];
  for await (const entry of iter) {
    if (query.since && Date.parse(entry.value.lastUpdated) < +query.since) {
      break;
    }
    if (versions.length === query.count) {
      return { versions, next: String(versions.at(-1)!.stored.versionId) };
    }
    versions.push(await opened(deps, lab, type, entry));
  }
  return { versions };
}

/** Every change to resources of `type` at `lab` the caller may see. */
export async function typeHistory(
  deps: StoreDeps,
  lab: string,
  type: string,
  visibility: Visibility,
  query: HistoryQuery,
): Promise<HistoryPage> {
  if (query.before !== undefined && !isValid(query.before)) {
    throw fail.invalid("_page is not a position this server issued");
  }
  const prefix = keys.resourceChanges(lab, type);
  const start = query.since
    ? keys.resourceChange(
      lab,
      type,
      `${encodeTime(+query.since)}${"0".repeat(16)}`,
    )
    : undefined;
  const end = query.before
    ? keys.resourceChange(lab, type, query.before)
    : undefined;
  const selector = start && end
    ? { start, end }
    : start
    ? { prefix, start }
    : end
    ? { prefix, end }
    : { prefix };
  const iter = deps.kv.list<ResourceChange>(selector, { reverse: true });
  const versions: HistoryVersion[] = [];
  let scanned = 0, last: string | undefined;
  for await (const entry of iter) {
    if (versions.length === query.count || ++scanned > MAX_SCANNED) {
      return { versions, next: last };
    }
    last = entry.key.at(-1) as string;
    const change = entry.value;
    if (!visibleTo(type, change as StoredResource, visibility)) continue;
    const key = keys.resourceVersion(lab, type, change.id, change.versionId);
    const version = await deps.kv.get<StoredResource>(key);
    if (version.value) versions.push(await opened(deps, lab, type, version));
  }
  return { versions };
}

async function opened(
  deps: StoreDeps,
  lab: string,
  type: string,
  entry: Deno.KvEntry<StoredResource> | Deno.KvEntryMaybe<StoredResource>,
): Promise<HistoryVersion> {
  const stored = entry.value as StoredResource;
  const resource = stored.deleted ? undefined : await deps.keyRing.open<
    Resource
  >(lab, entry.key, "resource", stored.body);
  return { type, stored, resource };
}
