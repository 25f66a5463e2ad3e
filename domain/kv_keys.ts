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
  /** Search index entry: `[..., type, param, ...value, id]`. */
  resourcesByParam: (
    labId: string,
    type: string,
    param: string,
    value: Deno.KvKeyPart[],
  ) => [...lab(labId), "resources_by_param", type, param, ...value],

  catalogProduct: (labId: string, code: string) => [
    ...lab(labId),
    "catalog_products",
    code,
  ],
  catalogProducts: (labId: string) => [...lab(labId), "catalog_products"],
  labSettings: (labId: string) => [...lab(labId), "settings"],
  /** The last lab case number given out. */
  caseCounter: (labId: string) => [...lab(labId), "case_counter"],
  /** A practice's order group (blind-indexed) to the lab case number. */
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
