/**
 * What every attempt to prove a password or a code goes through: the
 * sign-in throttle (`domain/sign_in_throttle.ts`) and the audit records of
 * the attempt.
 */
import type { Context } from "hono";
import { type AuditRecord, auditRecord, commitAudit } from "../domain/audit.ts";
import { isUsername } from "../domain/directory.ts";
import { TooManyRequests } from "../domain/errors.ts";
import { keys } from "../domain/kv_keys.ts";
import {
  enterGate,
  recordFailure,
  type ThrottleKeys,
  throttleKeys,
} from "../domain/sign_in_throttle.ts";
import type { AppDeps } from "./env.ts";
import { network } from "./middleware.ts";

/** An attempt the throttle let through. */
export interface SignInAttempt {
  /** The account is locked: refuse even a right password or code. */
  locked: boolean;
  keys: ThrottleKeys;
  /** Counts the attempt as failed, committing its audit record with it. */
  fail(record: AuditRecord): Promise<void>;
}

/**
 * Lets an attempt for `username` from the request's address through, or
 * audits it and throws 429 with Retry-After while it must wait; a refused
 * attempt is not evaluated and does not count.
 */
export async function signInAttempt(
  c: Context,
  deps: AppDeps,
  username: string,
  now: Date,
): Promise<SignInAttempt> {
  const at = now.getTime();
  const address = network(c).address ?? "unknown";
  const gate = await enterGate(
    deps.kv,
    await throttleKeys(username, address),
    at,
    deps.lockout,
  );
  if (!gate.open) {
    const known = isUsername(username) &&
      (await deps.kv.get(keys.user(username))).value !== null;
    const audit = authAudit(c, now, known ? username : "unknown-user");
    await commitAudit(deps.kv, audit("login-failed", "throttled"));
    deps.auditWake("system");
    const seconds = Math.ceil(gate.retryAfterMs / 1000);
    throw new TooManyRequests(
      `Too many failed sign-ins: try again in ${seconds} s`,
      seconds,
    );
  }
  return {
    locked: gate.locked,
    keys: gate.keys,
    fail: async (record) => {
      await recordFailure(deps.kv, gate.keys, at, deps.lockout, record);
      deps.auditWake("system");
    },
  };
}

/** Builds the audit records of one sign-in request. */
export function authAudit(c: Context, now: Date, who: string, role?: string) {
  return (subtype: string, outcomeCode?: string): AuditRecord =>
    auditRecord({
      subtype,
      action: "E",
      outcome: outcomeCode ? "4" : "0",
      outcomeCode,
      agent: { who, role },
      network: network(c),
    }, now);
}
