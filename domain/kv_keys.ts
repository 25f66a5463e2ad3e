/**
 * Every KV key shape of LHCMS, built here and nowhere else. Global records
 * (labs, practices, users, sessions, signing keys) sit under their own
 * collection; everything a lab owns sits under `["lab", labId, ...]` so a
 * lab's data, history, indexes, keys and audit trail share one prefix.
 * No key part ever holds PHI: searchable PHI appears only as a blind index
 * (an HMAC, see `crypto.ts`).
 */

/** A tenant scope for audit records: one lab, or the system itself. */
export type AuditScope = { lab: string } | "system";

const lab = (labId: string) => ["lab", labId] as const;
const scope = (s: AuditScope): Deno.KvKey =>
  s === "system" ? ["system"] : lab(s.lab);

/** Key builders, grouped by collection. */
export const keys = {
  lab: (labId: string) => ["labs", labId],
  labs: () => ["labs"],
  practice: (id: string) => ["practices", id],
  practices: () => ["practices"],
  user: (username: string) => ["users", username],
  users: () => ["users"],
  session: (sid: string) => ["sessions", sid],
  sessionsByUser: (username: string, sid?: string) =>
    sid === undefined
      ? ["sessions_by_user", username]
      : ["sessions_by_user", username, sid],
  /** A user's confirmed TOTP enrollment (secret sealed, last used step). */
  mfa: (username: string) => ["mfa", username],
  /** An enrollment under way, by the SHA-256 of its enrollment token. */
  mfaEnrollment: (tokenHash: string) => ["mfa_enrollments", tokenHash],
  /** The data key of global records (MFA secrets), wrapped by the master key. */
  systemDataKey: () => ["system_data_key"],
  /** A practice system registered as a SMART Backend Services client. */
  client: (clientId: string) => ["clients", clientId],
  clientsByPractice: (practiceId: string, clientId?: string) =>
    clientId === undefined
      ? ["clients_by_practice", practiceId]
      : ["clients_by_practice", practiceId, clientId],
  /**
   * A client assertion already used, by the SHA-256 of its `jti`, kept
   * until the assertion expires (RFC 7523 section 3, replay).
   */
  clientAssertionJti: (clientId: string, jtiHash: string) => [
    "client_assertion_jtis",
    clientId,
    jtiHash,
  ],
  /** Failed sign-ins of an attempted username, by its SHA-256. */
  signInFailuresByAccount: (hash: string) => [
    "sign_in_failures_by_account",
    hash,
  ],
  /** Failed sign-ins from a client address, by its SHA-256. */
  signInFailuresByAddress: (hash: string) => [
    "sign_in_failures_by_address",
    hash,
  ],
  signingKey: (kid: string) => ["signing_keys", kid],
  signingKeyCurrent: () => ["signing_key_current"],
  deadLetter: (id: string) => ["dead_letters", id],
  deadLetters: () => ["dead_letters"],

  dataKey: (labId: string, version: number) => [
    ...lab(labId),
    "data_keys",
    version,
  ],
  dataKeyCurrent: (labId: string) => [...lab(labId), "data_key_current"],
  indexKey: (labId: string) => [...lab(labId), "index_key"],

  resource: (labId: string, type: string, id: string) => [
    ...lab(labId),
    "resources",
    type,
    id,
  ],
  resources: (labId: string, type: string) => [
    ...lab(labId),
    "resources",
    type,
  ],
  resourceVersion: (labId: string, type: string, id: string, vid: number) => [
    ...lab(labId),
    "resource_versions",
    type,
    id,
    vid,
  ],
  resourceVersions: (labId: string, type: string, id: string) => [
    ...lab(labId),
    "resource_versions",
    type,
    id,
  ],
  /**
   * Every change of a type in time order (`changeId` a ULID of the write),
   * naming the id and version: the type's `_history`.
   */
  resourceChange: (labId: string, type: string, changeId: string) => [
    ...lab(labId),
    "resource_changes",
    type,
    changeId,
  ],
  resourceChanges: (labId: string, type: string) => [
    ...lab(labId),
    "resource_changes",
    type,
  ],
  /**
   * The record a conditional create or update made for one query, by the
   * blind index of the query, so identical concurrent requests meet here.
   */
  conditionalClaim: (labId: string, type: string, blind: string) => [
    ...lab(labId),
    "conditional_claims",
    type,
    blind,
  ],
  /** Search index entry: `[..., type, param, ...value, id]`. */
  resourcesByParam: (
    labId: string,
    type: string,
    param: string,
    value: Deno.KvKeyPart[],
  ) => [...lab(labId), "resources_by_param", type, param, ...value],

  /** The sealed size, chunk count and digests of a Binary's content. */
  binaryFile: (labId: string, id: string) => [
    ...lab(labId),
    "binary_files",
    id,
  ],
  /** One sealed chunk of a Binary's content, numbered from 0. */
  binaryChunk: (labId: string, id: string, index: number) => [
    ...lab(labId),
    "binary_chunks",
    id,
    index,
  ],
  binaryChunks: (labId: string, id: string) => [
    ...lab(labId),
    "binary_chunks",
    id,
  ],
  /**
   * An upload under way: its chunks exist but no Binary points at them yet.
   * Removed in the commit that creates the Binary.
   */
  binaryUpload: (labId: string, id: string) => [
    ...lab(labId),
    "binary_uploads",
    id,
  ],
  binaryUploads: (labId: string) => [...lab(labId), "binary_uploads"],

  catalogProduct: (labId: string, code: string) => [
    ...lab(labId),
    "catalog_products",
    code,
  ],
  catalogProducts: (labId: string) => [...lab(labId), "catalog_products"],
  labSettings: (labId: string) => [...lab(labId), "settings"],
  /** The last lab case number given out. */
  caseCounter: (labId: string) => [...lab(labId), "case_counter"],
  /** Claimed by the one item Task of a prescription (its id, no PHI). */
  itemTaskOf: (labId: string, requestId: string) => [
    ...lab(labId),
    "item_task_of",
    requestId,
  ],
  /**
   * Changed by every write that puts a pan (blind-indexed) on an item, so
   * two such writes at once cannot both pass the pan check.
   */
  panGuard: (labId: string, blind: string) => [
    ...lab(labId),
    "pan_guard",
    blind,
  ],
  /** The practice and patient (blind-indexed) a case belongs to. */
  caseOwner: (labId: string, caseNumber: number) => [
    ...lab(labId),
    "case_owner",
    caseNumber,
  ],
  /**
   * A practice's order group (the practice and requisition, blind-indexed
   * together) to the lab case number.
   */
  casesByRequisition: (labId: string, blind: string) => [
    ...lab(labId),
    "cases_by_requisition",
    blind,
  ],

  /**
   * Never written: the additional authenticated data that binds a sealed
   * search link (`search_state.ts`) to its lab and resource type.
   */
  searchState: (labId: string, type: string) => [
    ...lab(labId),
    "search_state",
    type,
  ],

  auditPending: (s: AuditScope, id?: string) =>
    id === undefined
      ? [...scope(s), "audit_pending"]
      : [...scope(s), "audit_pending", id],
  auditEvent: (s: AuditScope, id?: string) =>
    id === undefined
      ? [...scope(s), "audit_events"]
      : [...scope(s), "audit_events", id],
  /** Audit index by agent, patient or action: `[..., attr, value, id]`. */
  auditEventsBy: (
    s: AuditScope,
    attribute: "agent" | "patient" | "action",
    value: string,
    id?: string,
  ) =>
    id === undefined
      ? [...scope(s), `audit_events_by_${attribute}`, value]
      : [...scope(s), `audit_events_by_${attribute}`, value, id],
};
