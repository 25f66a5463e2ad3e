/**
 * The two patch formats of FHIR R4 (https://hl7.org/fhir/R4/http.html#patch):
 * JSON Patch (RFC 6902, fast-json-patch) and FHIRPath Patch
 * (https://hl7.org/fhir/R4/fhirpatch.html, paths evaluated with fhirpath).
 * Both work on a copy and return the patched resource, which the caller
 * then checks and stores exactly as an update.
 */
import jsonpatch from "fast-json-patch";
import fhirpath from "fhirpath";
import r4 from "fhirpath/fhir-context/r4";
import { fail } from "../domain/errors.ts";
import type { Resource } from "./types.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

// Bounds one request's work: a patch is a handful of changes.
const MAX_OPERATIONS = 100;
const MAX_PATH = 500;

/** Applies a JSON Patch document (an array of operations). */
export function applyJsonPatch(resource: Resource, text: string): Resource {
  let operations: Json;
  try {
    operations = JSON.parse(text);
  } catch {
    throw fail.invalid("The JSON Patch is not valid JSON");
  }
  if (!Array.isArray(operations) || operations.length > MAX_OPERATIONS) {
    throw fail.invalid(
      `A JSON Patch is an array of at most ${MAX_OPERATIONS} operations`,
    );
  }
  const copy = structuredClone(resource);
  const problem = jsonpatch.validate(operations, copy);
  if (problem) throw patchRefused(problem.name, problem.index);
  try {
    jsonpatch.applyPatch(copy, operations, true, true, true);
  } catch (error) {
    const e = error as { name?: string; index?: number };
    throw patchRefused(e.name ?? "", e.index);
  }
  return copy;
}

// A malformed operation is the client's syntax error (400); a failed
// `test` or a path that is not there is a patch that does not apply (422).
function patchRefused(name: string, index?: number) {
  const at = { message: name, expression: `[${index ?? 0}]` };
  return name === "TEST_OPERATION_FAILED" ||
      name === "OPERATION_PATH_UNRESOLVABLE" ||
      name === "OPERATION_FROM_UNRESOLVABLE"
    ? fail.unprocessable("Cannot apply the JSON Patch", [at])
    : fail.invalid("The JSON Patch is not valid", [at]);
}

/** One operation of a FHIRPath Patch, read from its `part`s. */
interface FhirPathOperation {
  type: string;
  path: string;
  name?: string;
  value?: Json;
  index?: number;
  source?: number;
  destination?: number;
}

/** Applies a FHIRPath Patch (a `Parameters` resource). */
export function applyFhirPathPatch(resource: Resource, patch: Json): Resource {
  if (patch?.resourceType !== "Parameters") {
    throw fail.invalid("A FHIRPath Patch is a Parameters resource");
  }
  const parameters: Json[] = patch.parameter ?? [];
  if (parameters.length === 0 || parameters.length > MAX_OPERATIONS) {
    throw fail.invalid(
      `A FHIRPath Patch holds 1 to ${MAX_OPERATIONS} operations`,
    );
  }
  const copy = structuredClone(resource) as Json;
  parameters.forEach((parameter, i) => {
    const at = `Parameters.parameter[${i}]`;
    applyOperation(copy, readOperation(parameter, at), at);
  });
  return copy;
}

function readOperation(parameter: Json, at: string): FhirPathOperation {
  if (parameter?.name !== "operation" || !Array.isArray(parameter.part)) {
    throw fail.invalid("Each parameter must be an operation", [{
      message: "expected name 'operation' with parts",
      expression: at,
    }]);
  }
  const part = (name: string) =>
    (parameter.part as Json[]).find((p) => p?.name === name);
  const scalar = (name: string) => {
    const p = part(name);
    return p && (p.valueCode ?? p.valueString ?? p.valueInteger);
  };
  const operation = {
    type: scalar("type"),
    path: scalar("path"),
    name: scalar("name"),
    value: part("value") && valueOf(part("value")),
    index: scalar("index"),
    source: scalar("source"),
    destination: scalar("destination"),
  };
  if (
    typeof operation.type !== "string" || typeof operation.path !== "string" ||
    operation.path.length > MAX_PATH
  ) {
    throw fail.invalid("An operation needs a type and a path", [{
      message: "type and path are required",
      expression: at,
    }]);
  }
  return operation;
}

/** A `value` part: its value[x], or an element built from its own parts. */
function valueOf(part: Json): Json {
  const key = Object.keys(part).find((k) => /^value[A-Z]/.test(k));
  if (key) return part[key];
  if (!Array.isArray(part.part)) return undefined;
  return Object.fromEntries(
    (part.part as Json[]).map((p) => [p.name, valueOf(p)]),
  );
}

/** Where a node sits: its parent object and its key (and array index). */
interface Slot {
  parent: Json;
  key: string;
  index: number | null;
}

function applyOperation(root: Json, op: FhirPathOperation, at: string) {
  const refuse = (message: string) =>
    fail.unprocessable("Cannot apply the FHIRPath Patch", [{
      message,
      expression: at,
    }]);
  const nodes = evaluate(root, op.path, at);
  const slots = nodes.map(slotOf);
  switch (op.type) {
    case "add": {
      if (nodes.length !== 1 || typeof nodes[0].data !== "object") {
        throw refuse("add needs a path naming one element");
      }
      if (!op.name || op.value === undefined) {
        throw refuse("add needs a name and a value");
      }
      const container = nodes[0].data;
      const existing = container[op.name];
      if (Array.isArray(existing)) existing.push(op.value);
      else if (existing !== undefined) throw refuse(`${op.name} is present`);
      else {
        const repeats = (r4 as Json).path2Repeating?.[
          `${nodes[0].path}.${op.name}`
        ];
        container[op.name] = repeats ? [op.value] : op.value;
      }
      return;
    }
    case "insert":
    case "move":
      return reorder(slots, op, refuse);
    case "delete": {
      if (slots.length > 1) throw refuse("delete matched several elements");
      if (slots.length === 1) remove(slots[0]);
      return;
    }
    case "replace": {
      if (slots.length !== 1 || !slots[0]) {
        throw refuse("replace needs a path naming one element");
      }
      if (op.value === undefined) throw refuse("replace needs a value");
      const { parent, key, index } = slots[0];
      if (index === null) parent[key] = op.value;
      else parent[key][index] = op.value;
      return;
    }
    default:
      throw refuse(`Unknown operation type ${op.type}`);
  }
}

function evaluate(root: Json, path: string, at: string): Json[] {
  try {
    return fhirpath.evaluate(root, path, {}, r4, {
      resolveInternalTypes: false,
    }) as Json[];
  } catch {
    throw fail.invalid("The FHIRPath of an operation does not parse", [{
      message: "not a FHIRPath expression",
      expression: at,
    }]);
  }
}

/** The slot of an evaluated node; undefined for the resource itself. */
function slotOf(node: Json): Slot {
  const parent = node?.parentResNode?.data;
  const name = node?.propName;
  if (!parent || typeof parent !== "object" || !name) {
    return undefined as unknown as Slot;
  }
  // A choice element (value[x]) is named `value` in FHIRPath and
  // `valueString` and the like in JSON.
  const key = name in parent
    ? name
    : Object.keys(parent).find((k) =>
      k.startsWith(name) && /^[A-Z]/.test(k.slice(name.length))
    ) ?? name;
  return { parent, key, index: node.index ?? null };
}

function remove(slot: Slot) {
  if (!slot) return;
  const { parent, key, index } = slot;
  if (index === null) delete parent[key];
  else {
    parent[key].splice(index, 1);
    if (parent[key].length === 0) delete parent[key];
  }
}

function reorder(
  slots: Slot[],
  op: FhirPathOperation,
  refuse: (message: string) => Error,
) {
  const first = slots[0];
  if (!first || first.index === null) {
    throw refuse(`${op.type} needs a path naming a list`);
  }
  const list: Json[] = first.parent[first.key];
  const inRange = (n: unknown, max: number) =>
    Number.isInteger(n) && (n as number) >= 0 && (n as number) <= max;
  if (op.type === "insert") {
    if (op.value === undefined || !inRange(op.index, list.length)) {
      throw refuse("insert needs a value and an index within the list");
    }
    list.splice(op.index!, 0, op.value);
    return;
  }
  if (
    !inRange(op.source, list.length - 1) ||
    !inRange(op.destination, list.length - 1)
  ) {
    throw refuse("move needs a source and destination within the list");
  }
  const [moved] = list.splice(op.source!, 1);
  list.splice(op.destination!, 0, moved);
}
