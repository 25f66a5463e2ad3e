/** The CapabilityStatement of a lab's FHIR base. */
import { SEARCH_PARAMS } from "./search_params.ts";
import { TERMINOLOGY_TYPES } from "./served_terminology.ts";
import { type CapabilityStatement, STORED_TYPES } from "./types.ts";

const DOCS: Record<string, string> = {
  blind:
    "PHI: matched on whole values only (case- and accent-insensitive), through a blind index",
};

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
    rest: [{
      mode: "server",
      security: {
        cors: false,
        service: [{
          coding: [{
            system:
              "http://terminology.hl7.org/CodeSystem/restful-security-service",
            code: "OAuth",
          }],
        }],
        description: "Bearer tokens from POST /auth/login",
      },
      resource: [
        ...STORED_TYPES.map((type) => ({
          type,
          versioning: "versioned" as const,
          readHistory: true,
          updateCreate: false,
          interaction: [
            "read",
            "vread",
            "update",
            "create",
            "search-type",
            "history-instance",
          ]
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
