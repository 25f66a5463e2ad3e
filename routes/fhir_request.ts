/**
 * Reading a FHIR request (path, body, If-Match) and shaping the answer to
 * a write as `Prefer: return=` asks (https://hl7.org/fhir/R4/http.html#ops).
 */
import type { Context } from "hono";
import { fail, type Problem } from "../domain/errors.ts";
import { informational, writeOutcome } from "../fhir/outcome.ts";
import { FHIR_ID, isStoredType, type Resource } from "../fhir/types.ts";
import type { AppEnv, Interaction } from "./env.ts";
import { fhirResponse, requireScope, versionHeaders } from "./fhir_support.ts";

/** The largest request body any route reads (`app.ts` enforces it). */
export const MAX_BODY_BYTES = 1_000_000;

/** Reads lab, type and id from the path and notes the interaction for the audit. */
export function begin(
  c: Context<AppEnv>,
  subtype: string,
  action: Interaction["action"],
): { lab: string; type: string; id?: string } {
  const lab = c.req.param("lab") as string;
  const type = c.req.param("type") as string;
  const id = c.req.param("id");
  c.set("interaction", { lab, subtype, action, entity: { type, id } });
  // An unsupported type is a 404, as for any unknown FHIR endpoint
  // (https://hl7.org/fhir/R4/http.html#create).
  if (!isStoredType(type)) {
    throw fail.notFound(`Resource type ${type} is not supported`);
  }
  if (id !== undefined && !FHIR_ID.test(id)) {
    throw fail.invalid("The id is not a valid FHIR id");
  }
  requireScope(c.var.caller, type, subtype);
  return { lab, type, id };
}

/** The body, when its media type is one of `accepted` (JSON by default). */
export async function bodyText(
  c: Context,
  accepted = /^application\/(fhir\+)?json\b/,
): Promise<string> {
  const contentType = c.req.header("Content-Type") ?? "";
  if (!accepted.test(contentType)) {
    throw fail.unsupportedMediaType(
      "Content-Type must be application/fhir+json",
    );
  }
  const text = await c.req.text();
  if (text.length > MAX_BODY_BYTES) throw fail.invalid("The body is too large");
  return text;
}

/** The version an `If-Match: W/"n"` header names, if any. */
export function parseIfMatch(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const m = /^(?:W\/)?"(\d+)"$/.exec(header.trim());
  if (!m) throw fail.invalid('If-Match must be an ETag such as W/"3"');
  return Number(m[1]);
}

/** What `Prefer: return=` asks a write to answer with. */
export function preferredReturn(
  c: Context,
): "minimal" | "representation" | "OperationOutcome" {
  const m = /return=(minimal|representation|OperationOutcome)\b/.exec(
    c.req.header("Prefer") ?? "",
  );
  return (m?.[1] as "minimal" | "OperationOutcome") ?? "representation";
}

/**
 * The stored resource, nothing (`return=minimal`), or an outcome carrying
 * the warnings of the write (`return=OperationOutcome`).
 */
export function respondWithResource(
  c: Context,
  resource: Resource,
  status: number,
  base: string,
  warnings: Problem[] = [],
) {
  const headers = versionHeaders(base, resource);
  switch (preferredReturn(c)) {
    case "minimal":
      return fhirResponse(null, status, headers);
    case "OperationOutcome":
      return fhirResponse(writeOutcome(warnings), status, headers);
    case "representation":
      return fhirResponse(resource, status, headers);
  }
}

/**
 * The answer to a delete: 204, or 200 with an outcome when one is asked
 * for. There is no resource to represent.
 */
export function respondToDelete(c: Context, version: number | undefined) {
  const headers: Record<string, string> = version === undefined
    ? {}
    : { ETag: `W/"${version}"` };
  if (preferredReturn(c) !== "OperationOutcome") {
    return new Response(null, { status: 204, headers });
  }
  const message = version === undefined
    ? "The resource was already deleted"
    : "Deleted";
  return fhirResponse(informational(message), 200, headers);
}
