/**
 * Checks a resource against the FHIR R4 structure definitions with
 * `@medplum/core`: JSON types, cardinality, required elements, unknown
 * elements, primitive formats and invariants. The library collects the
 * values of required bindings but leaves their codes to a terminology
 * server; they are checked here against the value sets of the definitions.
 */
import {
  isResourceType,
  OperationOutcomeError,
  type TypedValueWithPath,
  validateResource,
} from "@medplum/core";
import type { Problem } from "../domain/errors.ts";
import { loadR4Definitions, requiredCodes } from "./r4_definitions.ts";
import type { OperationOutcomeIssue, Resource } from "./types.ts";

// The library reports a missing element as a structure issue; FHIR has
// the more precise issue type `required` for it.
const MISSING = /^Missing required property/;

/** What the structure definitions say of a resource. */
export interface StructureReport {
  errors: Problem[];
  warnings: Problem[];
}

/**
 * Validates `resource` against its type's structure definition and the
 * required bindings; lists every problem with its FHIRPath expression.
 *
 * @example
 * validateStructure({ resourceType: "Patient", gender: "f" }).errors
 * // [{ message: "…", expression: "Patient.gender", code: "code-invalid" }]
 */
export function validateStructure(resource: Resource): StructureReport {
  loadR4Definitions();
  const type = resource.resourceType;
  const unknown = unknownContained(resource);
  if (unknown.length > 0) return { errors: unknown, warnings: [] };
  const tokens: Record<string, TypedValueWithPath[]> = {};
  let issues: OperationOutcomeIssue[];
  try {
    issues = validateResource(resource, { collect: { tokens } });
  } catch (error) {
    if (error instanceof OperationOutcomeError) {
      issues = error.outcome.issue ?? [];
    } else {
      // The library gives up on some shapes (a primitive's `_x` that is no
      // object) with a plain error; its text is not meant for clients.
      issues = [{
        severity: "error",
        code: "structure",
        details: { text: "The JSON does not fit the structure definition" },
      }];
    }
  }
  const report: StructureReport = {
    errors: emptyValues(resource),
    warnings: [],
  };
  const empty = new Set(report.errors.map((p) => p.expression));
  for (const issue of issues) {
    const problem: Problem = {
      message: issue.details?.text ?? issue.diagnostics ?? "Invalid element",
      expression: fhirPath(issue.expression?.[0]) ?? type,
      code: MISSING.test(issue.details?.text ?? "") ? "required" : issue.code,
    };
    const severe = issue.severity === "error" || issue.severity === "fatal";
    if (severe && empty.has(problem.expression)) continue;
    (severe ? report.errors : report.warnings).push(problem);
  }
  report.errors.push(...bindingProblems(tokens));
  return report;
}

/**
 * Empty strings and arrays, which FHIR JSON forbids
 * (https://hl7.org/fhir/R4/json.html) and the library takes for absent.
 */
function emptyValues(resource: Resource): Problem[] {
  const found: Problem[] = [];
  const walk = (node: unknown, path: string) => {
    if (node === "" || (Array.isArray(node) && node.length === 0)) {
      found.push({
        message: "An empty value is not allowed in FHIR JSON",
        expression: path,
        code: "structure",
      });
    } else if (Array.isArray(node)) {
      node.forEach((item, i) => walk(item, `${path}[${i}]`));
    } else if (node && typeof node === "object") {
      for (const [key, value] of Object.entries(node)) {
        walk(value, `${path}.${key}`);
      }
    }
  };
  walk(resource, resource.resourceType);
  return found;
}

// The library names a choice element `value[x]`; in FHIRPath it is `value`.
function fhirPath(path: string | undefined): string | undefined {
  return path?.replaceAll("[x]", "");
}

// The library stops at a contained resource of an unknown type with an
// error that names no element; this names it.
function unknownContained(resource: Resource): Problem[] {
  const contained = (resource as { contained?: unknown }).contained;
  if (!Array.isArray(contained)) return [];
  return contained.flatMap((item, i) => {
    const type = (item as { resourceType?: unknown } | null)?.resourceType;
    return typeof type === "string" && isResourceType(type) ? [] : [{
      message: "A contained resource needs a known resourceType",
      expression: `${resource.resourceType}.contained[${i}]`,
      code: "structure",
    }];
  });
}

/** One problem per value outside the value set its element requires. */
function bindingProblems(
  tokens: Record<string, TypedValueWithPath[]>,
): Problem[] {
  const problems: Problem[] = [];
  for (const [valueSet, values] of Object.entries(tokens)) {
    const codes = requiredCodes(valueSet);
    if (!codes) continue;
    const url = valueSet.split("|")[0];
    for (const value of values) {
      if (inValueSet(value, codes)) continue;
      problems.push({
        message: `The code is not in the required value set ${url}`,
        expression: value.path,
        code: "code-invalid",
      });
    }
  }
  return problems;
}

type Codes = NonNullable<ReturnType<typeof requiredCodes>>;
type CodingLike = { system?: unknown; code?: unknown };

function inValueSet(value: TypedValueWithPath, codes: Codes): boolean {
  const coded = (c: CodingLike) => codes.codings.has(`${c?.system}|${c?.code}`);
  switch (value.type) {
    case "code":
      return typeof value.value !== "string" || codes.codes.has(value.value);
    case "Coding":
      return coded(value.value as CodingLike);
    case "CodeableConcept": {
      const codings = (value.value as { coding?: CodingLike[] }).coding;
      return Array.isArray(codings) && codings.some(coded);
    }
    default:
      // Quantities, strings and URIs bound to UCUM or the like: not listed.
      return true;
  }
}
