/**
 * The few error classes domain code throws. Each carries a stable `code`
 * that one function (`fhir/outcome.ts` for FHIR routes, `routes/errors.ts`
 * for the rest) maps to an HTTP status. Messages never carry PHI.
 */

/** One problem found in a request, with the FHIRPath of the element. */
export interface Problem {
  message: string;
  expression?: string;
  /** The FHIR issue type, when it is more precise than the error's own. */
  code?: string;
}

/** Base class: a request that cannot be done, and why. */
export class LhcmsError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly problems: Problem[] = [],
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "LhcmsError";
  }
}

/** 429: an attempt made before its wait is over (sign-in throttling). */
export class TooManyRequests extends LhcmsError {
  constructor(message: string, readonly retryAfterSeconds: number) {
    super("too_many_requests", message);
  }
}

/** Stable error codes, one per HTTP outcome. */
export type ErrorCode =
  | "invalid" // 400: malformed request
  | "unprocessable" // 422: well-formed but breaks a rule
  | "unauthenticated" // 401
  | "forbidden" // 403
  | "not_found" // 404
  | "not_acceptable" // 406
  | "gone" // 410
  | "conflict" // 409
  | "precondition_failed" // 412
  | "not_modified" // 304
  | "payload_too_large" // 413
  | "unsupported_media_type" // 415
  | "too_many_requests" // 429
  | "mfa_required" // 401: the password was right, a second factor is missing
  | "mfa_invalid" // 401: a wrong, stale or already used code
  | "mfa_step_up_required"; // 403: the action needs a fresh second factor

/** HTTP status of each error code. */
export const statusOf: Record<ErrorCode, number> = {
  invalid: 400,
  unprocessable: 422,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  not_acceptable: 406,
  gone: 410,
  conflict: 409,
  precondition_failed: 412,
  not_modified: 304,
  payload_too_large: 413,
  unsupported_media_type: 415,
  too_many_requests: 429,
  mfa_required: 401,
  mfa_invalid: 401,
  mfa_step_up_required: 403,
};

/** Shorthand constructors, so call sites read as sentences. */
export const fail = {
  invalid: (message: string, problems: Problem[] = []) =>
    new LhcmsError("invalid", message, problems),
  unprocessable: (message: string, problems: Problem[] = []) =>
    new LhcmsError("unprocessable", message, problems),
  unauthenticated: (message = "Authentication is required") =>
    new LhcmsError("unauthenticated", message),
  forbidden: (message: string) => new LhcmsError("forbidden", message),
  notFound: (message: string) => new LhcmsError("not_found", message),
  notAcceptable: (message: string) => new LhcmsError("not_acceptable", message),
  gone: (message: string) => new LhcmsError("gone", message),
  conflict: (message: string) => new LhcmsError("conflict", message),
  preconditionFailed: (message: string) =>
    new LhcmsError("precondition_failed", message),
  payloadTooLarge: (message: string) =>
    new LhcmsError("payload_too_large", message),
  unsupportedMediaType: (message: string) =>
    new LhcmsError("unsupported_media_type", message),
};

/** OAuth 2.0 error codes of the token endpoint (RFC 6749 section 5.2). */
export type OAuthErrorCode =
  | "invalid_request"
  | "invalid_client"
  | "invalid_grant"
  | "invalid_scope"
  | "unsupported_grant_type";

/**
 * A refused token request, answered as OAuth JSON `{error,
 * error_description}` rather than LHCMS's `{error, message}`. `clientId`
 * names the registered client it came from, when one was recognised.
 */
export class OAuthError extends Error {
  constructor(
    readonly code: OAuthErrorCode,
    message: string,
    readonly clientId?: string,
  ) {
    super(message);
    this.name = "OAuthError";
  }

  /** 401 for a client that failed to authenticate, 400 otherwise. */
  get status(): 400 | 401 {
    return this.code === "invalid_client" ? 401 : 400;
  }
}
