/**
 * The body of `POST [base]/{type}/$validate`
 * (https://hl7.org/fhir/R4/resource-operation-validate.html): the resource
 * itself, or a `Parameters` with a `resource` and an optional `mode`.
 */
import { fail } from "../domain/errors.ts";
import { FHIR_ID, type Resource } from "./types.ts";
import { asResource, parseJsonObject } from "./validate.ts";

/** What a `$validate` call asks: check as a create or as an update. */
export interface ValidateRequest {
  resource: Resource;
  mode: "create" | "update";
}

interface Parameter {
  name?: unknown;
  resource?: unknown;
  valueCode?: unknown;
}

/**
 * Reads a `$validate` body for resources of `type`; throws 400 when it
 * cannot be read, or asks for what LHCMS does not do (delete, profiles).
 *
 * @example
 * parseValidateRequest('{"resourceType":"Patient"}', "Patient").mode
 * // "create"
 */
export function parseValidateRequest(
  text: string,
  type: string,
): ValidateRequest {
  const body = parseJsonObject(text);
  if (body.resourceType !== "Parameters") {
    return { resource: asResource(body, type), mode: "create" };
  }
  const parameters = Array.isArray(body.parameter)
    ? body.parameter as Parameter[]
    : [];
  const named = (name: string) => parameters.find((p) => p?.name === name);
  if (named("profile")) {
    throw fail.invalid("Only the base FHIR R4 definitions are validated", [{
      message: "profile is not supported",
      expression: "Parameters.parameter.where(name = 'profile')",
    }]);
  }
  const mode = named("mode")?.valueCode ?? "create";
  if (mode !== "create" && mode !== "update") {
    throw fail.invalid("mode must be create or update", [{
      message: "unsupported mode",
      expression: "Parameters.parameter.where(name = 'mode')",
    }]);
  }
  const resource = named("resource")?.resource;
  if (!resource || typeof resource !== "object") {
    throw fail.invalid("The Parameters have no resource to validate", [{
      message: "resource is required",
      expression: "Parameters.parameter.where(name = 'resource')",
    }]);
  }
  const checked = asResource(resource, type);
  if (mode === "update" && !FHIR_ID.test(checked.id ?? "")) {
    throw fail.invalid("mode update needs the id of the record", [{
      message: "id is required",
      expression: `${type}.id`,
    }]);
  }
  return { resource: checked, mode };
}
