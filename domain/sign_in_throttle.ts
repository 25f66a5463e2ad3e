/**
 * Throttling and lockout of sign-in (OWASP ASVS 2.2.1, NIST SP 800-63B
 * 5.2.2). Failures are counted per attempted username and per client
 * address. After 5 of either, each further attempt waits twice as long as
 * the one before (1 s, 2 s, 4 s ... at most 5 minutes); at the configured
 * count an account is locked until `minutes` after its last failure, or an
 * admin unlocks it. Names that do not exist are counted and locked the
 * same way, so neither the delay nor the lock tells whether an account
 * exists. Counters are forgotten `minutes` after their last failure.
 */
import { encodeBase64Url } from "./config.ts";
import { addPendingAudit, type AuditRecord } from "./audit.ts";
import { keys } from "./kv_keys.ts";

/** `LHCMS_LOCKOUT_THRESHOLD` and `LHCMS_LOCKOUT_MINUTES`. */
export interface LockoutPolicy {
  threshold: number;
  minutes: number;
}

/** Lock after 10 failures, for 15 minutes after the last one. */
export const DEFAULT_LOCKOUT: LockoutPolicy = { threshold: 10, minutes: 15 };

/** Failures allowed before attempts are spaced out. */
export const FREE_FAILURES = 5;
const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 5 * 60_000;

/** Failures of one attempted username or one address. Epoch milliseconds. */
interface FailureCount {
  failures: number;
  lastFailureAt: number;
  /** No attempt is evaluated before this time. */
  notBefore: number;
  lockedUntil?: number;
}

/** The two counters one attempt touches. */
export interface ThrottleKeys {
  account: Deno.KvKey;
  address: Deno.KvKey;
}

/** Whether an attempt may be evaluated now. */
export type Gate =
  | { open: true; locked: boolean; keys: ThrottleKeys }
  | { open: false; retryAfterMs: number; keys: ThrottleKeys };

/** How long to wait after `failures` failures. */
export function delayAfter(failures: number): number {
  if (failures < FREE_FAILURES) return 0;
  return Math.min(
    FIRST_DELAY_MS * 2 ** (failures - FREE_FAILURES),
    MAX_DELAY_MS,
  );
}

/**
 * The counter keys of an attempted username and address. Both are hashed:
 * a "username" may be a password typed into the wrong field.
 */
export async function throttleKeys(
  username: string,
  address: string,
): Promise<ThrottleKeys> {
  return {
    account: keys.signInFailuresByAccount(await digest("account", username)),
    address: keys.signInFailuresByAddress(await digest("address", address)),
  };
}

/**
 * Checks the counters before an attempt. When attempts are being spaced
 * out, the attempt claims its slot in one versionstamp-checked commit, so
 * parallel requests cannot all slip into the same window.
 */
export async function enterGate(
  kv: Deno.Kv,
  throttle: ThrottleKeys,
  now: number,
  policy: LockoutPolicy,
): Promise<Gate> {
  const entries = await kv.getMany<[FailureCount, FailureCount]>([
    throttle.account,
    throttle.address,
  ]);
  const [account, address] = entries.map((e) => live(e.value, now, policy));
  const wait = Math.max(
    (account?.notBefore ?? 0) - now,
    (address?.notBefore ?? 0) - now,
  );
  if (wait > 0) return { open: false, retryAfterMs: wait, keys: throttle };
  const locked = (account?.lockedUntil ?? 0) > now;
  const spaced = [account, address].some((r) =>
    (r?.failures ?? 0) >= FREE_FAILURES
  );
  if (!spaced) return { open: true, locked, keys: throttle };

  const op = kv.atomic().check(...entries);
  [account, address].forEach((record, i) => {
    if (!record) return;
    op.set(entries[i].key, {
      ...record,
      notBefore: now + delayAfter(record.failures),
    }, { expireIn: lifetime(record, now, policy) });
  });
  if (!(await op.commit()).ok) {
    return { open: false, retryAfterMs: FIRST_DELAY_MS, keys: throttle };
  }
  return { open: true, locked, keys: throttle };
}

/**
 * Counts a failed attempt against both counters and commits `audit` with
 * the count, so no failure goes unrecorded.
 */
export async function recordFailure(
  kv: Deno.Kv,
  throttle: ThrottleKeys,
  now: number,
  policy: LockoutPolicy,
  audit: AuditRecord,
): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const entries = await kv.getMany<[FailureCount, FailureCount]>([
      throttle.account,
      throttle.address,
    ]);
    const op = kv.atomic().check(...entries);
    entries.forEach((entry, i) => {
      const failures = (live(entry.value, now, policy)?.failures ?? 0) + 1;
      const next: FailureCount = {
        failures,
        lastFailureAt: now,
        notBefore: now + delayAfter(failures),
      };
      if (i === 0 && failures >= policy.threshold) {
        next.lockedUntil = now + policy.minutes * 60_000;
      }
      op.set(entry.key, next, { expireIn: lifetime(next, now, policy) });
    });
    addPendingAudit(op, audit);
    if ((await op.commit()).ok) return;
  }
  throw new Error("Sign-in failures could not be counted: KV contention");
}

/** Adds the write that forgets an account's failures (a sign-in, an unlock). */
export function addClearAccount(
  op: Deno.AtomicOperation,
  throttle: ThrottleKeys,
): Deno.AtomicOperation {
  return op.delete(throttle.account);
}

/**
 * An admin's unlock: forgets the failures of `username` (its lock and its
 * waits) and commits the audit record `addAudit` adds. True when there
 * were failures to forget.
 */
export async function unlockAccount(
  kv: Deno.Kv,
  username: string,
  addAudit: (op: Deno.AtomicOperation) => void,
): Promise<boolean> {
  const key = keys.signInFailuresByAccount(await digest("account", username));
  const entry = await kv.get(key);
  const op = kv.atomic().check(entry).delete(key);
  addAudit(op);
  if (!(await op.commit()).ok) {
    throw new Error("The failure count changed meanwhile; try again");
  }
  return entry.value !== null;
}

// KV's own expiry runs on real time; tests move an injected clock, so the
// record carries its times and is judged by them.
function live(
  record: FailureCount | null,
  now: number,
  policy: LockoutPolicy,
): FailureCount | undefined {
  if (!record) return undefined;
  if ((record.lockedUntil ?? 0) > now) return record;
  if (now - record.lastFailureAt >= policy.minutes * 60_000) return undefined;
  return record;
}

function lifetime(record: FailureCount, now: number, policy: LockoutPolicy) {
  const forgetAt = record.lastFailureAt + policy.minutes * 60_000;
  return Math.max(forgetAt, record.lockedUntil ?? 0, record.notBefore) - now +
    60_000;
}

async function digest(kind: string, value: string): Promise<string> {
  const bytes = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(`lhcms-sign-in\u0000${kind}\u0000${value}`),
  );
  return encodeBase64Url(new Uint8Array(bytes));
}
