/** The CapabilityStatement of a lab's FHIR base. */
import { MAX_FULL_MATCHES } from "../domain/full_search.ts";
import { SEARCH_PARAMS } from "./search_params.ts";
import { TERMINOLOGY_TYPES } from "./served_terminology.ts";
import { type CapabilityStatement, STORED_TYPES } from "./types.ts";

/** Every interaction FHIR R4 defines on a type or one of its instances. */
export const TYPE_INTERACTIONS = [
  "read",
  "vread",
  "update",
  "patch",
  "delete",
  "history-instance",
  "history-type",
  "create",
  "search-type",
];

const FIXED_TYPES = ["Provenance", "Binary"];

/**
 * The interactions on each stored type, as routes/fhir.ts serves them. A
 * work authorization is evidence: never changed (a correction is a new
 * one) and never deleted; nor is a scan file (a corrected file is a new
 * Binary, and its chunks have no tombstone). Binary has its own router
 * (routes/fhir_binary.ts), without a type history.
 */
export function storedInteractions(type: string): string[] {
  const left = [
    ...(FIXED_TYPES.includes(type) ? ["update", "patch", "delete"] : []),
    ...(type === "Binary" ? ["history-type"] : []),
  ];
  return TYPE_INTERACTIONS.filter((i) => !left.includes(i));
}

const DOCS: Record<string, string> = {
  blind:
    "PHI: matched on whole values only (case- and accent-insensitive), through a blind index",
};

// Result parameters have no place of their own in a CapabilityStatement.
const SEARCH_DOCS = "Search: unknown parameters are ignored and named in " +
  "an OperationOutcome entry (search.mode outcome), or refused with " +
  "Prefer: handling=strict. _count (at most 100), _sort on status and " +
  "on date parameters that are not PHI (- for descending), " +
  "_summary=count, _total=accurate|estimate|none, _elements (top-level " +
  `names). A sorted or counted search is refused past ${MAX_FULL_MATCHES} ` +
  "matches.";

/** How the stored types that differ from plain FHIR REST behave. */
const TYPE_DOCS: Record<string, string> = {
  Binary: "Create with the file itself as the body (model/stl, model/obj, " +
    "application/octet-stream, image/jpeg, image/png or application/pdf, up " +
    "to 2 GiB; optional X-Content-SHA256 or Content-Digest) or as FHIR JSON " +
    "with base64 data within 1 MB. Read and vread return the file, one " +
    "Range at a time; with Accept: application/fhir+json, the resource with " +
    "data for files up to 720 KiB. Never updated: a corrected file is a new " +
    "Binary. Search and history list Binaries without data.",
  DocumentReference: "Attachments whose url is Binary/{id} get contentType, " +
    "size, hash (SHA-1) and the attachment-sha256 extension from the stored " +
    "file; a value that disagrees is refused.",
};

/** The token endpoint of the server whose lab base URL is `base`. */
function tokenEndpoint(base: string): string {
  return `${base.replace(/\/fhir\/[^/]*$/, "")}/auth/token`;
}

/** What `/fhir/{lab}/metadata` answers. */
export function capabilityStatement(
  base: string,
  version: string,
): CapabilityStatement {
  return {
    resourceType: "CapabilityStatement",
    status: "active",
    date: "2026-12-03",
    kind: "instance",
    software: { name: "LHCMS", version },
    implementation: { description: "LHCMS dental lab case service", url: base },
    fhirVersion: "4.0.1",
    format: ["application/fhir+json", "json"],
    patchFormat: ["application/json-patch+json", "application/fhir+json"],
    rest: [{
      mode: "server",
      documentation: SEARCH_DOCS,
      security: {
        cors: false,
        // SMART App Launch 2.0 "Conformance": the token endpoint here too,
        // for clients that read it from the CapabilityStatement.
        extension: [{
          url:
            "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
          extension: [{ url: "token", valueUri: tokenEndpoint(base) }],
        }],
        service: [{
          coding: [{
            system:
              "http://terminology.hl7.org/CodeSystem/restful-security-service",
            code: "SMART-on-FHIR",
          }, {
            system:
              "http://terminology.hl7.org/CodeSystem/restful-security-service",
            code: "OAuth",
          }],
        }],
        description: "Bearer tokens: people from POST /auth/login; " +
          "practice systems from POST /auth/token (SMART Backend Services, " +
          "see .well-known/smart-configuration under this base)",
      },
      resource: [
        ...STORED_TYPES.map((type) => ({
          type,
          versioning: "versioned" as const,
          readHistory: true,
          updateCreate: false,
          ...(TYPE_DOCS[type] ? { documentation: TYPE_DOCS[type] } : {}),
          conditionalCreate: type !== "Binary",
          conditionalUpdate: !FIXED_TYPES.includes(type),
          conditionalRead: "not-supported" as const,
          conditionalDelete: "not-supported" as const,
          interaction: storedInteractions(type)
            .map((code) => ({ code: code as "read" })),
          operation: [{
            name: "validate",
            definition:
              "http://hl7.org/fhir/OperationDefinition/Resource-validate",
            documentation:
              "Checks as a create, or an update with mode=update; stores nothing",
          }],
          searchParam: [
            { name: "_id", type: "token" as const },
            ...(SEARCH_PARAMS[type] ?? []).map((p) => ({
              name: p.name,
              type: p.type,
              ...(p.blind ? { documentation: DOCS.blind } : {}),
            })),
          ],
        })),
        // Served by routes/terminology.ts: LHCMS's own code systems, value
        // sets and extensions, and the lab's catalog code systems.
        ...TERMINOLOGY_TYPES.map((type) => ({
          type,
          interaction: [{ code: "read" as const }, {
            code: "search-type" as const,
          }],
          searchParam: [{ name: "url", type: "uri" as const }],
        })),
        {
          type: "AuditEvent",
          interaction: [{ code: "read" as const }, {
            code: "search-type" as const,
          }],
          searchParam: ["date", "agent", "patient", "action"].map((name) => ({
            name,
            type: name === "date"
              ? "date" as const
              : name === "action"
              ? "token" as const
              : "reference" as const,
          })),
        },
      ],
    }],
  };
}
