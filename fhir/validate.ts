/**
 * Checks an incoming resource before it is stored: well-formed JSON of the
 * type in the URL, an id that agrees with the URL, and the elements LHCMS
 * relies on. Every problem is reported with its FHIRPath expression.
 */
import { fail, type Problem } from "../domain/errors.ts";
import { parseDateRange } from "./dates.ts";
import { relativeReference } from "./search_params.ts";
import { FHIR_ID, isStoredType, type Resource } from "./types.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const REQUIRED: Record<string, Record<string, string[] | undefined>> = {
  ServiceRequest: {
    status: [
      "draft",
      "active",
      "on-hold",
      "revoked",
      "completed",
      "entered-in-error",
      "unknown",
    ],
    intent: [
      "proposal",
      "plan",
      "directive",
      "order",
      "original-order",
      "reflex-order",
      "filler-order",
      "instance-order",
      "option",
    ],
    subject: undefined,
  },
  Task: {
    status: [
      "draft",
      "requested",
      "received",
      "accepted",
      "rejected",
      "ready",
      "cancelled",
      "in-progress",
      "on-hold",
      "failed",
      "completed",
      "entered-in-error",
    ],
    intent: [
      "unknown",
      "proposal",
      "plan",
      "order",
      "original-order",
      "reflex-order",
      "filler-order",
      "instance-order",
      "option",
    ],
  },
  DocumentReference: {
    status: ["current", "superseded", "entered-in-error"],
    content: undefined,
  },
};

const GENDERS = ["male", "female", "other", "unknown"];

// Far deeper than any resource needs; deeper JSON would overflow the stack
// of the recursive walks that follow (references, indexes, encryption).
const MAX_DEPTH = 64;

function tooDeep(value: Json): boolean {
  const stack: [Json, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== "object") continue;
    if (depth > MAX_DEPTH) return true;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return false;
}

/** Parses a request body as a resource of `type`; throws 400 on any problem. */
export function parseResource(
  text: string,
  type: string,
  urlId?: string,
): Resource {
  let body: Json;
  try {
    body = JSON.parse(text);
  } catch {
    throw fail.invalid("Cannot read the body: it is not valid JSON");
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw fail.invalid("The body must be a JSON object");
  }
  if (tooDeep(body)) throw fail.invalid("The body is nested too deeply");
  if (body.resourceType !== type) {
    throw fail.invalid(`The body is not a ${type}`, [{
      message: `resourceType must be ${type}`,
      expression: "resourceType",
    }]);
  }
  if (
    urlId === undefined && body.id !== undefined && typeof body.id !== "string"
  ) {
    throw fail.invalid("id must be a string", [{
      message: "bad id",
      expression: `${type}.id`,
    }]);
  }
  if (urlId !== undefined && body.id !== urlId) {
    throw fail.invalid(`The id in the body must be ${urlId}, as in the URL`, [{
      message: "id differs from the URL",
      expression: `${type}.id`,
    }]);
  }
  return body as Resource;
}

/** Checks the elements LHCMS relies on; throws 422 listing every problem. */
export function checkResource(resource: Resource): void {
  const r = resource as Json;
  const type = resource.resourceType;
  const problems: Problem[] = [];
  if (!isStoredType(type)) throw fail.invalid(`${type} is not supported`);
  if (r.id !== undefined && !FHIR_ID.test(r.id)) {
    problems.push({
      message: "id is not a valid FHIR id",
      expression: `${type}.id`,
    });
  }
  for (const [field, allowed] of Object.entries(REQUIRED[type] ?? {})) {
    const value = r[field];
    if (value === undefined || value === null) {
      problems.push({
        message: `${field} is required`,
        expression: `${type}.${field}`,
      });
    } else if (allowed && !allowed.includes(value)) {
      problems.push({
        message: `${field} must be one of ${allowed.join(", ")}`,
        expression: `${type}.${field}`,
      });
    }
  }
  if (
    type === "Patient" && r.gender !== undefined && !GENDERS.includes(r.gender)
  ) {
    problems.push({
      message: "gender is not a known code",
      expression: "Patient.gender",
    });
  }
  for (const date of ["birthDate", "authoredOn", "lastModified"]) {
    if (
      r[date] !== undefined &&
      (typeof r[date] !== "string" || !parseDateRange(r[date]))
    ) {
      problems.push({
        message: `${date} is not a valid date`,
        expression: `${type}.${date}`,
      });
    }
  }
  if (problems.length > 0) {
    throw fail.unprocessable(`Cannot accept the ${type}`, problems);
  }
}

/** A relative reference found in a resource, with where it was found. */
export interface FoundReference {
  ref: string;
  expression: string;
}

type ReferenceNode = { reference: string };

/** Calls `visit` for every element of a resource that has a `reference`. */
function eachReference(
  resource: Resource,
  visit: (node: ReferenceNode, path: string) => void,
) {
  const walk = (node: Json, path: string) => {
    if (Array.isArray(node)) {
      node.forEach((item, i) => walk(item, `${path}[${i}]`));
    } else if (node && typeof node === "object") {
      if (typeof node.reference === "string") visit(node, path);
      for (const [key, value] of Object.entries(node)) {
        if (key !== "reference") walk(value, `${path}.${key}`);
      }
    }
  };
  walk(resource, resource.resourceType);
}

/**
 * Rewrites absolute references under the lab's own `base` URL to relative
 * form, as FHIR servers store them, so they resolve, index and search like
 * any relative reference.
 */
export function relativiseReferences(resource: Resource, base: string) {
  eachReference(resource, (node) => {
    if (!node.reference.startsWith(`${base}/`)) return;
    const ref = relativeReference(node.reference.slice(base.length));
    if (ref) node.reference = ref;
  });
}

/**
 * Lists the relative references of a resource ("Patient/123"). Contained
 * ("#x"), logical and absolute references to other servers are left out:
 * they are not this lab's records. With the lab's `base` URL, one into
 * another lab of this server is listed whole, so it cannot resolve.
 */
export function localReferences(
  resource: Resource,
  base?: string,
): FoundReference[] {
  const out: FoundReference[] = [];
  eachReference(resource, (node, path) => {
    const ref = localReference(node.reference, base);
    if (ref) out.push({ ref, expression: `${path}.reference` });
  });
  return out;
}

function localReference(reference: string, base?: string) {
  const server = base?.slice(0, base.lastIndexOf("/") + 1);
  if (server && reference.startsWith(server)) return reference;
  if (/^(https?:|urn:|#)/.test(reference)) return undefined;
  return relativeReference(reference);
}
