/** FHIR R4 types used across LHCMS, from @medplum/fhirtypes. */
export type {
  AuditEvent,
  Bundle,
  BundleEntry,
  CapabilityStatement,
  OperationOutcome,
  OperationOutcomeIssue,
  Patient,
  Provenance,
  Resource,
  ServiceRequest,
  Task,
} from "@medplum/fhirtypes";

/** The resource types LHCMS stores through the generic FHIR store. */
export const STORED_TYPES = [
  "Patient",
  "Practitioner",
  "Organization",
  "ServiceRequest",
  "Task",
  // Work authorizations (domain/authorization.ts).
  "Provenance",
  // Scan files and the documents that describe them (domain/scan_files.ts).
  "Binary",
  "DocumentReference",
] as const;

/** One of {@link STORED_TYPES}. */
export type StoredType = typeof STORED_TYPES[number];

/** Type guard for a stored resource type name. */
export function isStoredType(value: string): value is StoredType {
  return (STORED_TYPES as readonly string[]).includes(value);
}

/** FHIR's id rule: https://hl7.org/fhir/R4/datatypes.html#id */
export const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
