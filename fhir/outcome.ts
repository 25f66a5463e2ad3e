/**
 * OperationOutcome builders and the one mapping from errors to FHIR error
 * responses. Unknown errors become a generic 500 without detail.
 */
import { LhcmsError, type Problem, statusOf } from "../domain/errors.ts";
import type { OperationOutcome, OperationOutcomeIssue } from "./types.ts";

const ISSUE_CODE: Record<string, OperationOutcomeIssue["code"]> = {
  invalid: "invalid",
  unprocessable: "processing",
  unauthenticated: "login",
  forbidden: "forbidden",
  not_found: "not-found",
  not_acceptable: "too-costly",
  gone: "deleted",
  conflict: "conflict",
  precondition_failed: "conflict",
  not_modified: "informational",
  payload_too_large: "too-long",
  unsupported_media_type: "not-supported",
  too_many_requests: "throttled",
  mfa_required: "login",
  mfa_invalid: "login",
  mfa_step_up_required: "forbidden",
};

/** An OperationOutcome with one issue per problem of the error. */
export function outcomeFor(error: LhcmsError): OperationOutcome {
  const code = ISSUE_CODE[error.code] ?? "exception";
  const issues: OperationOutcomeIssue[] = error.problems.length === 0
    ? [{ severity: "error", code, diagnostics: error.message }]
    : error.problems.map((p) => ({
      severity: "error",
      code: (p.code ?? code) as OperationOutcomeIssue["code"],
      diagnostics: `${error.message}: ${p.message}`,
      ...(p.expression ? { expression: [p.expression] } : {}),
    }));
  return { resourceType: "OperationOutcome", issue: issues };
}

/** The HTTP status and OperationOutcome for any thrown value. */
export function errorResponse(
  error: unknown,
): { status: number; body: OperationOutcome } {
  if (error instanceof LhcmsError) {
    return { status: statusOf[error.code], body: outcomeFor(error) };
  }
  return {
    status: 500,
    body: {
      resourceType: "OperationOutcome",
      issue: [{
        severity: "fatal",
        code: "exception",
        diagnostics: "The server could not complete the request",
      }],
    },
  };
}

/** An informational outcome, e.g. for `Prefer: return=OperationOutcome`. */
export function informational(message: string): OperationOutcome {
  return {
    resourceType: "OperationOutcome",
    issue: [{
      severity: "information",
      code: "informational",
      diagnostics: message,
    }],
  };
}

/** The outcome of a successful write: its warnings, or that all went well. */
export function writeOutcome(warnings: Problem[]): OperationOutcome {
  if (warnings.length === 0) return informational("Stored without warnings");
  return { resourceType: "OperationOutcome", issue: warningIssues(warnings) };
}

/**
 * The answer of `$validate`: every problem of a refused resource, or an
 * information issue saying it is valid, followed by any warnings.
 */
export function validationOutcome(
  refusal: LhcmsError | undefined,
  warnings: Problem[],
): OperationOutcome {
  const first = refusal
    ? outcomeFor(refusal).issue!
    : informational("The resource is valid").issue!;
  return {
    resourceType: "OperationOutcome",
    issue: [...first, ...warningIssues(warnings)],
  };
}

function warningIssues(warnings: Problem[]): OperationOutcomeIssue[] {
  return warnings.map((w) => ({
    severity: "warning",
    code: (w.code ?? "business-rule") as OperationOutcomeIssue["code"],
    diagnostics: w.message,
    ...(w.expression ? { expression: [w.expression] } : {}),
  }));
}
