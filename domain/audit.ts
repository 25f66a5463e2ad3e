/**
 * Audit records (DESIGN.md, "Audit"). A change commits its audit record as a
 * pending entry in the same atomic operation; a read commits its pending
 * entry before the response leaves. The audit writer (workers/audit_writer.ts)
 * moves pending entries into the lab's audit log and indexes, idempotently.
 * Records hold ids, never PHI: PHI search values are replaced before they
 * get here.
 */
import { monotonicFactory } from "ulid";
import { fail } from "./errors.ts";
import { type AuditScope, keys } from "./kv_keys.ts";

/** The audit role of a practice system acting through a client token. */
export const PRACTICE_SYSTEM = "practice_system";

/** DICOM audit action codes used by FHIR AuditEvent.action. */
export type AuditAction = "C" | "R" | "U" | "D" | "E";

/** FHIR AuditEvent.outcome: success, minor, serious or major failure. */
export type AuditOutcome = "0" | "4" | "8" | "12";

/** One audited access, compact so it stays well under 1 KB in KV. */
export interface AuditRecord {
  id: string;
  recorded: string;
  /** FHIR restful-interaction code, or "login", "logout", "login-failed". */
  subtype: string;
  action: AuditAction;
  outcome: AuditOutcome;
  /** Error code of a failed access, never a message. */
  outcomeCode?: string;
  /**
   * Who acted. A practice system is `client:{id}` with the role
   * {@link PRACTICE_SYSTEM}, and `onBehalfOf` the dentist it named.
   */
  agent: { who: string; role?: string; onBehalfOf?: string };
  network: { address?: string; userAgent?: string };
  lab?: string;
  entity?: { type: string; id?: string; version?: number };
  /** Search query with PHI values replaced. */
  query?: string;
  patient?: string;
}

const nextId = monotonicFactory();

// Ids and queries can come straight from a request (a refused path, a
// search): bounded, so a record stays compact, its index keys stay within
// KV's 2 KiB, and a batch of records within one commit.
const MAX_ID = 64;
const MAX_QUERY = 1000;
const bound = (text: string, max: number) =>
  text.length > max ? `${text.slice(0, max)}…` : text;

/** Assigns an id and time to a record draft. */
export function auditRecord(
  draft: Omit<AuditRecord, "id" | "recorded">,
  now: Date,
): AuditRecord {
  const record = {
    id: nextId(now.getTime()),
    recorded: now.toISOString(),
    ...draft,
  };
  if (record.entity) {
    const { type, id } = record.entity;
    record.entity = { ...record.entity, type: bound(type, MAX_ID) };
    if (id !== undefined) record.entity.id = bound(id, MAX_ID);
  }
  if (record.patient !== undefined) {
    record.patient = bound(record.patient, MAX_ID);
  }
  if (record.query !== undefined) record.query = bound(record.query, MAX_QUERY);
  return record;
}

/** The scope an audit record belongs to. */
export function scopeOf(record: AuditRecord): AuditScope {
  return record.lab ? { lab: record.lab } : "system";
}

/** Adds a record's pending entry to an atomic operation. */
export function addPendingAudit(op: Deno.AtomicOperation, record: AuditRecord) {
  op.set(keys.auditPending(scopeOf(record), record.id), record);
}

/** Commits a record's pending entry on its own (reads, logins). */
export async function commitAudit(kv: Deno.Kv, record: AuditRecord) {
  const op = kv.atomic();
  addPendingAudit(op, record);
  const result = await op.commit();
  if (!result.ok) throw new Error("Could not commit audit record");
}

/**
 * Moves up to `limit` pending records of a scope into the audit log. Each
 * record is written only if its id is absent, in the same commit that
 * removes its pending entry, so a redelivered or concurrent run never
 * writes it twice. Returns how many were written.
 */
export async function sealPending(kv: Deno.Kv, scope: AuditScope, limit = 200) {
  let written = 0;
  const batch: Deno.KvEntry<AuditRecord>[] = [];
  for await (
    const e of kv.list<AuditRecord>({ prefix: keys.auditPending(scope) }, {
      limit,
    })
  ) {
    batch.push(e);
  }
  // A commit KV refuses (a size limit) is tried record by record, and a
  // record that still cannot be written stays pending without holding up
  // the records after it.
  const write = (group: Deno.KvEntry<AuditRecord>[]) =>
    writeGroup(kv, scope, group).catch(() => false);
  for (let i = 0; i < batch.length; i += 20) {
    const group = batch.slice(i, i + 20);
    if (await write(group)) {
      written += group.length;
      continue;
    }
    for (const entry of group) {
      if (await write([entry])) written++;
    }
  }
  return written;
}

async function writeGroup(
  kv: Deno.Kv,
  scope: AuditScope,
  group: Deno.KvEntry<AuditRecord>[],
) {
  const op = kv.atomic();
  for (const entry of group) {
    const r = entry.value;
    op.check(entry)
      .check({ key: keys.auditEvent(scope, r.id), versionstamp: null })
      .set(keys.auditEvent(scope, r.id), r)
      .set(keys.auditEventsBy(scope, "agent", r.agent.who, r.id), null)
      .set(keys.auditEventsBy(scope, "action", r.action, r.id), null)
      .delete(entry.key);
    if (r.patient) {
      op.set(keys.auditEventsBy(scope, "patient", r.patient, r.id), null);
    }
    // The dentist a practice system acted for finds the event as theirs.
    if (r.agent.onBehalfOf) {
      op.set(
        keys.auditEventsBy(scope, "agent", r.agent.onBehalfOf, r.id),
        null,
      );
    }
  }
  return (await op.commit()).ok;
}

/** Filters of an audit search; dates bound `recorded`. */
export interface AuditFilter {
  agent?: string;
  patient?: string;
  action?: AuditAction;
  from?: number;
  to?: number;
}

/**
 * Lists audit records of a scope, oldest first, from the index that fits
 * the filter best. Returns the page and a cursor when more may follow.
 */
export async function searchAudit(
  kv: Deno.Kv,
  scope: AuditScope,
  filter: AuditFilter,
  count: number,
  cursor?: string,
): Promise<{ records: AuditRecord[]; cursor?: string }> {
  const by = filter.patient !== undefined
    ? keys.auditEventsBy(scope, "patient", filter.patient)
    : filter.agent !== undefined
    ? keys.auditEventsBy(scope, "agent", filter.agent)
    : filter.action !== undefined
    ? keys.auditEventsBy(scope, "action", filter.action)
    : keys.auditEvent(scope);
  const records: AuditRecord[] = [];
  const iter = kv.list({ prefix: by }, { cursor, batchSize: 100 });
  let scanned = 0;
  for await (const entry of guardCursor(iter, cursor)) {
    const id = entry.key[entry.key.length - 1] as string;
    const record = by.length === keys.auditEvent(scope).length
      ? entry.value as AuditRecord
      : (await kv.get<AuditRecord>(keys.auditEvent(scope, id))).value;
    if (record && matchesAudit(record, filter)) records.push(record);
    if (records.length >= count || ++scanned >= 2000) {
      return { records, cursor: iter.cursor };
    }
  }
  return { records };
}

/** A cursor KV cannot read is the caller's mistake (400), not a failure. */
async function* guardCursor<T>(
  iter: Deno.KvListIterator<T>,
  cursor: string | undefined,
): AsyncGenerator<Deno.KvEntry<T>> {
  try {
    yield* iter;
  } catch (error) {
    if (cursor === undefined) throw error;
    throw fail.invalid("The cursor is not one this server issued");
  }
}

function matchesAudit(r: AuditRecord, f: AuditFilter): boolean {
  const t = Date.parse(r.recorded);
  return (f.agent === undefined || r.agent.who === f.agent ||
    r.agent.onBehalfOf === f.agent) &&
    (f.patient === undefined || r.patient === f.patient) &&
    (f.action === undefined || r.action === f.action) &&
    (f.from === undefined || t >= f.from) &&
    (f.to === undefined || t < f.to);
}
