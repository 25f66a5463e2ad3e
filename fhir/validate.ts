/**
 * Checks an incoming resource before it is stored: well-formed JSON of the
 * type in the URL, an id that agrees with the URL, the FHIR R4 structure
 * definitions, and the elements LHCMS relies on. Every problem is reported
 * with its FHIRPath expression.
 */
import { fail, type Problem } from "../domain/errors.ts";
import { parseDateRange } from "./dates.ts";
import { relativeReference } from "./search_params.ts";
import { validateStructure } from "./structure_validation.ts";
import { isStoredType, type Resource } from "./types.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

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
  return asResource(parseJsonObject(text), type, urlId);
}

/** Parses a request body as one JSON object; throws 400 otherwise. */
export function parseJsonObject(text: string): Record<string, unknown> {
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
  return body;
}

/**
 * Checks that a parsed body is a resource of `type` whose id agrees with
 * the URL's; throws 400 otherwise.
 */
export function asResource(body: Json, type: string, urlId?: string): Resource {
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

/**
 * Checks a resource against the FHIR R4 structure definitions and the
 * required value sets (structure_validation.ts), then against what LHCMS
 * itself needs: dates it indexes must be real calendar dates. Throws 422
 * listing every problem; returns the warnings of a resource it accepts.
 */
export function checkResource(resource: Resource): Problem[] {
  const r = resource as Json;
  const type = resource.resourceType;
  if (!isStoredType(type)) throw fail.invalid(`${type} is not supported`);
  const { errors, warnings } = validateStructure(resource);
  const flagged = new Set(errors.map((p) => p.expression));
  for (const date of ["birthDate", "authoredOn", "lastModified"]) {
    const expression = `${type}.${date}`;
    if (r[date] === undefined || flagged.has(expression)) continue;
    if (typeof r[date] !== "string" || !parseDateRange(r[date])) {
      errors.push({
        message: `${date} is not a valid date`,
        expression,
        code: "value",
      });
    }
  }
  if (errors.length > 0) {
    throw fail.unprocessable(`Cannot accept the ${type}`, errors);
  }
  return warnings;
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
