/**
 * Shapes stored audit records as FHIR AuditEvents following IHE BALP
 * (https://profiles.ihe.net/ITI/BALP/): REST events typed
 * `rest` with a restful-interaction subtype, logins typed as user
 * authentication.
 */
import { type AuditRecord, PRACTICE_SYSTEM } from "../domain/audit.ts";
import type { AuditEvent } from "./types.ts";

const DCM = "http://dicom.nema.org/resources/ontology/DCM";
const INTERACTION = "http://hl7.org/fhir/restful-interaction";
const PARTICIPATION =
  "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
/** Extension carrying the HTTP User-Agent of the request. */
export const USER_AGENT = "urn:lhcms:extension:user-agent";

/** The AuditEvent of a stored record. */
export function toAuditEvent(
  record: AuditRecord,
  sourceName: string,
): AuditEvent {
  const login = /^(log|mfa-|client-token)/.test(record.subtype);
  const entity: AuditEvent["entity"] = [];
  if (record.entity) {
    entity.push({
      what: {
        reference: record.entity.id
          ? `${record.entity.type}/${record.entity.id}${
            record.entity.version ? `/_history/${record.entity.version}` : ""
          }`
          : undefined,
        display: record.entity.type,
      },
      type: {
        system: "http://terminology.hl7.org/CodeSystem/audit-entity-type",
        code: "2",
      },
      ...(record.query ? { query: btoa(record.query) } : {}),
    });
  }
  if (record.patient) {
    entity.push({
      what: { reference: `Patient/${record.patient}` },
      type: {
        system: "http://terminology.hl7.org/CodeSystem/audit-entity-type",
        code: "1",
      },
      role: {
        system: "http://terminology.hl7.org/CodeSystem/object-role",
        code: "1",
      },
    });
  }
  return {
    resourceType: "AuditEvent",
    id: record.id,
    meta: { lastUpdated: record.recorded },
    type: login
      ? { system: DCM, code: "110114", display: "User Authentication" }
      : {
        system: "http://terminology.hl7.org/CodeSystem/audit-event-type",
        code: "rest",
      },
    subtype: [
      login
        ? {
          system: DCM,
          code: record.subtype === "logout" ? "110123" : "110122",
        }
        : { system: INTERACTION, code: record.subtype },
    ],
    action: record.action,
    recorded: record.recorded,
    outcome: record.outcome,
    ...(record.outcomeCode ? { outcomeDesc: record.outcomeCode } : {}),
    agent: agentsOf(record),
    source: {
      observer: { display: sourceName },
      type: [{
        system: "http://terminology.hl7.org/CodeSystem/security-source-type",
        code: "4",
      }],
    },
    entity: entity.length ? entity : undefined,
  };
}

/**
 * The agents of a record: the person, or the practice system (a DICOM
 * "Application") followed by the dentist it acted for, who is then the
 * requestor as IHE BALP has it for an app used by a person.
 */
function agentsOf(record: AuditRecord): AuditEvent["agent"] {
  const system = record.agent.role === PRACTICE_SYSTEM;
  const dentist = record.agent.onBehalfOf;
  const first: AuditEvent["agent"][number] = {
    type: system
      ? { coding: [{ system: DCM, code: "110150", display: "Application" }] }
      : { coding: [{ system: PARTICIPATION, code: "IRCP" }] },
    who: {
      identifier: {
        system: system ? "urn:lhcms:client" : "urn:lhcms:user",
        value: record.agent.who,
      },
    },
    ...(record.agent.role ? { role: [{ text: record.agent.role }] } : {}),
    requestor: dentist === undefined,
    network: record.network.address
      ? { address: record.network.address, type: "2" }
      : undefined,
    ...(record.network.userAgent
      ? {
        extension: [{ url: USER_AGENT, valueString: record.network.userAgent }],
      }
      : {}),
  };
  if (dentist === undefined) return [first];
  return [first, {
    type: { coding: [{ system: PARTICIPATION, code: "IRCP" }] },
    who: { identifier: { system: "urn:lhcms:user", value: dentist } },
    role: [{ text: "dentist" }],
    requestor: true,
  }];
}
