/**
 * The FHIR resource store of a lab: every version sealed under the lab's
 * data key, search indexes beside it, and each change committed together
 * with its audit record. Callers pass the lab id; no function here can
 * reach outside `["lab", labId, ...]`.
 */
import { monotonicFactory } from "ulid";
import { entriesFor, entryKey } from "../fhir/index_entries.ts";
import { SEARCH_PARAMS } from "../fhir/search_params.ts";
import type { Resource } from "../fhir/types.ts";
import { addPendingAudit, type AuditRecord } from "./audit.ts";
import type { KeyRing, Sealed } from "./crypto.ts";
import { fail, LhcmsError } from "./errors.ts";
import { keys } from "./kv_keys.ts";
import { firstReferrer } from "./referrers.ts";

/** A resource version as stored: metadata in clear, the body sealed. */
export interface StoredResource {
  id: string;
  versionId: number;
  lastUpdated: string;
  deleted?: true;
  /** The practice whose dentists may see this record, if any. */
  practice?: string;
  body: Sealed;
}

/** What the store needs: KV and the lab keys. */
export interface StoreDeps {
  kv: Deno.Kv;
  keyRing: KeyRing;
}

/** A resource read back with its stored metadata. */
export interface Loaded {
  resource: Resource;
  stored: StoredResource;
  versionstamp: string;
}

/** Who may see a record: `practice` set means a dentist of that practice. */
export interface Visibility {
  practice?: string;
}

const DIRECTORY_TYPES = new Set(["Practitioner", "Organization"]);

// KV takes values up to 64 KiB and 1,000 mutations a commit; a resource and
// its indexes must fit one commit with room for the version and the audit.
const MAX_RESOURCE_BYTES = 60_000;
const MAX_INDEX_MUTATIONS = 900;
// Each lost race means another write to the record committed, so writers
// racing on one record all get through within this many attempts.
const MAX_ATTEMPTS = 20;

/** Whether a record is visible to a caller limited to a practice. */
export function visibleTo(type: string, stored: StoredResource, v: Visibility) {
  if (v.practice === undefined) return true;
  if (stored.practice === undefined) return DIRECTORY_TYPES.has(type);
  return stored.practice === v.practice;
}

async function open(
  deps: StoreDeps,
  lab: string,
  key: Deno.KvKey,
  stored: StoredResource,
) {
  return await deps.keyRing.open<Resource>(lab, key, "resource", stored.body);
}

/** Reads the current version; 404 when absent or hidden, 410 when deleted. */
export async function readResource(
  deps: StoreDeps,
  lab: string,
  type: string,
  id: string,
  visibility: Visibility,
): Promise<Loaded> {
  const key = keys.resource(lab, type, id);
  const entry = await deps.kv.get<StoredResource>(key);
  const stored = entry.value;
  if (stored === null || !visibleTo(type, stored, visibility)) {
    throw fail.notFound(`${type}/${id} is not known`);
  }
  if (stored.deleted) throw fail.gone(`${type}/${id} was deleted`);
  return {
    resource: await open(deps, lab, key, stored),
    stored,
    versionstamp: entry.versionstamp as string,
  };
}

/** Reads one version of a resource. */
export async function readVersion(
  deps: StoreDeps,
  lab: string,
  type: string,
  id: string,
  versionId: number,
  visibility: Visibility,
): Promise<Resource> {
  const key = keys.resourceVersion(lab, type, id, versionId);
  const stored = (await deps.kv.get<StoredResource>(key)).value;
  if (stored === null || !visibleTo(type, stored, visibility)) {
    throw fail.notFound(`${type}/${id}/_history/${versionId} is not known`);
  }
  if (stored.deleted) {
    throw fail.gone(`${type}/${id}/_history/${versionId} is a deletion`);
  }
  return await open(deps, lab, key, stored);
}

/** Options of a write. */
export interface WriteOptions {
  /** Practice that will own a created record (dentists' writes). */
  practice?: string;
  /** The id of a created record, when chosen before the commit (a Binary). */
  id?: string;
  audit: Omit<AuditRecord, "entity"> & { entity?: AuditRecord["entity"] };
  now: Date;
  /**
   * Adds what else must change in the same commit (a case counter, a pan
   * guard); on an update it is called after `review`, once per attempt.
   */
  commit?: (op: Deno.AtomicOperation) => void;
}

// Monotonic, so records created within one millisecond still sort, and
// are listed, in the order they were created.
const nextId = monotonicFactory();

/** Creates a resource with a server-assigned id; commits its audit record. */
export async function createResource(
  deps: StoreDeps,
  lab: string,
  resource: Resource,
  options: WriteOptions,
): Promise<Resource> {
  const id = options.id ?? nextId(options.now.getTime());
  const type = resource.resourceType;
  const body = withMeta(resource, id, 1, options.now);
  const op = deps.kv.atomic().check({
    key: keys.resource(lab, type, id),
    versionstamp: null,
  });
  await addVersion(deps, op, lab, body, {
    versionId: 1,
    practice: options.practice,
    now: options.now,
  });
  await addIndexChanges(deps, op, lab, body, undefined);
  options.commit?.(op);
  // A new Patient's id exists only now: its audit record names it here.
  const patient = type === "Patient" ? id : options.audit.patient;
  addPendingAudit(op, {
    ...options.audit,
    entity: { type, id, version: 1 },
    patient,
  });
  if (!(await op.commit()).ok) {
    // The id is fresh, so what changed is what `commit` checked.
    throw fail.conflict(
      options.commit
        ? `Cannot create ${type}: records it depends on (a case number, a pan, an item's Task) changed during the create; send it again`
        : `Cannot create ${type}: its id was taken; send it again`,
    );
  }
  return body;
}

/**
 * Throws 403 unless the caller may change the record: a caller limited to
 * a practice changes only that practice's records; the lab's own
 * practitioners and organizations, shared by every practice, are theirs
 * to read, not to rewrite.
 */
export function requireOwnership(
  current: Loaded,
  visibility: Visibility,
  verb = "update",
) {
  const practice = visibility.practice;
  if (practice !== undefined && current.stored.practice !== practice) {
    const { resourceType, id } = current.resource;
    throw fail.forbidden(
      `Cannot ${verb} ${resourceType}/${id}: it belongs to the lab`,
    );
  }
}

/**
 * Replaces the current version of a resource. `review` sees the old and new
 * bodies; it throws to refuse (role and workflow rules) and may return the
 * body to store instead (server-owned elements kept).
 */
export async function updateResource(
  deps: StoreDeps,
  lab: string,
  resource: Resource & { id: string },
  options: WriteOptions & {
    visibility: Visibility;
    ifMatch?: number;
    review?: (
      previous: Resource,
      next: Resource,
    ) => Resource | void | Promise<Resource | void>;
  },
): Promise<Resource> {
  const type = resource.resourceType;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const current = await readForChange(deps, lab, type, resource.id, {
      ...options,
      verb: "update",
    });
    const version = current.stored.versionId;
    const reviewed = (await options.review?.(current.resource, resource)) ??
      resource;

    const body = withMeta(reviewed, resource.id, version + 1, options.now);
    const op = deps.kv.atomic().check({
      key: keys.resource(lab, type, resource.id),
      versionstamp: current.versionstamp,
    });
    await addVersion(deps, op, lab, body, {
      versionId: version + 1,
      practice: current.stored.practice,
      now: options.now,
    });
    await addIndexChanges(deps, op, lab, body, current.resource);
    options.commit?.(op);
    addPendingAudit(op, {
      ...options.audit,
      entity: { type, id: resource.id, version: version + 1 },
    });
    if ((await op.commit()).ok) return body;
    // Lost a race: the next attempt reads the newer version, so a writer
    // holding a stale If-Match gets its 412 rather than a 409.
  }
  throw fail.conflict(
    `Cannot update ${type}/${resource.id}: it changed during the update`,
  );
}

/**
 * Reads the current version for a change: a caller limited to a practice
 * changes only that practice's records (the lab's own practitioners and
 * organizations, shared by every practice, are theirs to read, not to
 * rewrite), and `ifMatch` must name the current version.
 */
async function readForChange(
  deps: StoreDeps,
  lab: string,
  type: string,
  id: string,
  options: { visibility: Visibility; ifMatch?: number; verb: string },
): Promise<Loaded> {
  const current = await readResource(deps, lab, type, id, options.visibility);
  requireOwnership(current, options.visibility, options.verb);
  const version = current.stored.versionId;
  if (options.ifMatch !== undefined && options.ifMatch !== version) {
    throw fail.preconditionFailed(
      `Cannot ${options.verb} ${type}/${id}: version ${options.ifMatch} is not the current version`,
    );
  }
  return current;
}

/**
 * Deletes a resource softly: a new version marked deleted, holding only
 * the id, becomes current and its search entries go, while every earlier
 * version stays readable by vread and in the history. Returns the new
 * version, or undefined when the resource was already deleted (a repeated
 * delete changes nothing: https://hl7.org/fhir/R4/http.html#delete).
 */
export async function deleteResource(
  deps: StoreDeps,
  lab: string,
  type: string,
  id: string,
  options: WriteOptions & {
    visibility: Visibility;
    ifMatch?: number;
    /** The patient the deleted record is about, for its audit record. */
    patientOf?: (resource: Resource) => string | undefined;
  },
): Promise<number | undefined> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const current = await readForChange(deps, lab, type, id, {
      ...options,
      verb: "delete",
    }).catch((error) => {
      if (error instanceof LhcmsError && error.code === "gone") return;
      throw error;
    });
    if (!current) return undefined;
    const referrer = await firstReferrer(deps, lab, type, id);
    if (referrer) {
      throw fail.conflict(
        `Cannot delete ${type}/${id}: a ${referrer} refers to it; delete or change that first`,
      );
    }
    const version = current.stored.versionId + 1;
    const tombstone = withMeta(
      { resourceType: type } as Resource,
      id,
      version,
      options.now,
    );
    const op = deps.kv.atomic().check({
      key: keys.resource(lab, type, id),
      versionstamp: current.versionstamp,
    });
    await addVersion(deps, op, lab, tombstone, {
      versionId: version,
      practice: current.stored.practice,
      now: options.now,
      deleted: true,
    });
    await addIndexChanges(deps, op, lab, tombstone, current.resource);
    addPendingAudit(op, {
      ...options.audit,
      entity: { type, id, version },
      patient: options.patientOf?.(current.resource),
    });
    if ((await op.commit()).ok) return version;
  }
  throw fail.conflict(`Cannot delete ${type}/${id}: it changed meanwhile`);
}

function withMeta(
  resource: Resource,
  id: string,
  version: number,
  now: Date,
): Resource {
  return {
    ...resource,
    id,
    meta: {
      ...resource.meta,
      versionId: String(version),
      lastUpdated: now.toISOString(),
    },
  } as Resource;
}

/** What the type's `_history` lists for one write (kv_keys.resourceChange). */
export interface ResourceChange {
  id: string;
  versionId: number;
  practice?: string;
}

async function addVersion(
  deps: StoreDeps,
  op: Deno.AtomicOperation,
  lab: string,
  body: Resource,
  version: { versionId: number; practice?: string; now: Date; deleted?: true },
) {
  const type = body.resourceType, id = body.id as string;
  const { versionId, practice, now, deleted } = version;
  const currentKey = keys.resource(lab, type, id);
  const versionKey = keys.resourceVersion(lab, type, id, versionId);
  const meta = {
    id,
    versionId,
    lastUpdated: now.toISOString(),
    practice,
    ...(deleted ? { deleted } : {}),
  };
  const [current, sealed] = await Promise.all([
    deps.keyRing.seal(lab, currentKey, "resource", body),
    deps.keyRing.seal(lab, versionKey, "resource", body),
  ]);
  if (current.ct.length > MAX_RESOURCE_BYTES) {
    throw fail.payloadTooLarge(
      `Cannot store the ${type}: it is larger than ${
        MAX_RESOURCE_BYTES / 1000
      } KB`,
    );
  }
  op.set(currentKey, { ...meta, body: current } satisfies StoredResource)
    .set(versionKey, { ...meta, body: sealed } satisfies StoredResource)
    .set(
      keys.resourceChange(lab, type, nextChange(now.getTime())),
      { id, versionId, practice } satisfies ResourceChange,
    );
}

// Changes sort by time, and in write order within one millisecond.
const nextChange = monotonicFactory();

/** Adds the index entries of `next` and removes those only `previous` had. */
async function addIndexChanges(
  deps: StoreDeps,
  op: Deno.AtomicOperation,
  lab: string,
  next: Resource,
  previous: Resource | undefined,
) {
  const type = next.resourceType, id = next.id as string;
  const blind = blindFor(deps.keyRing, lab, type);
  let mutations = 0;
  for (const def of SEARCH_PARAMS[type] ?? []) {
    const keyOf = (parts: Deno.KvKeyPart[]) =>
      keys.resourcesByParam(lab, type, def.name, parts);
    const fresh = (await entriesFor(def, next, blind)).map((e) =>
      keyOf(entryKey(e, id))
    );
    const stale = previous
      ? (await entriesFor(def, previous, blind)).map((e) =>
        keyOf(entryKey(e, id))
      )
      : [];
    const freshText = new Set(fresh.map((k) => JSON.stringify(k)));
    for (const key of stale) {
      if (!freshText.has(JSON.stringify(key))) op.delete(key);
    }
    for (const key of fresh) op.set(key, null);
    mutations += stale.length + fresh.length;
  }
  if (mutations > MAX_INDEX_MUTATIONS) {
    throw fail.unprocessable(
      `Cannot store the ${type}: it has more searchable values than one commit can index`,
    );
  }
}

/** The blind index function of one lab and resource type. */
export function blindFor(keyRing: KeyRing, lab: string, type: string) {
  return (purpose: string, value: string) =>
    keyRing.blindIndex(lab, `${type}|${purpose}`, value);
}
