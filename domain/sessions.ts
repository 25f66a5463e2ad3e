/**
 * Server-side sessions behind access tokens: a 15-minute idle timeout and a
 * 12-hour absolute limit (45 CFR 164.312(a)(2)(iii), automatic logoff).
 * Revoking a session ends every token bound to it at once.
 */
import { fail } from "./errors.ts";
import { keys } from "./kv_keys.ts";

/** A signed-in user's session. Times are epoch milliseconds. */
export interface Session {
  id: string;
  username: string;
  /** The user's session generation at sign-in; see {@link endingSessions}. */
  generation: number;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
  /** When the session last proved a second factor (sign-in or step-up). */
  mfaAt?: number;
}

/** Session time limits in milliseconds. */
export interface SessionLimits {
  idleMs: number;
  absoluteMs: number;
}

/** Defaults: 15 minutes idle, 12 hours absolute. */
export const DEFAULT_SESSION_LIMITS: SessionLimits = {
  idleMs: 15 * 60_000,
  absoluteMs: 12 * 3600_000,
};

// Refreshing lastSeenAt on every request would turn each read into a write;
// a minute of slack on a 15-minute idle timeout is an acceptable trade.
const TOUCH_INTERVAL_MS = 60_000;

/** What a session knows of its user. */
export interface SessionOwner {
  username: string;
  /** Raised whenever all of the user's sessions end. */
  sessionGeneration?: number;
}

/**
 * The user record changed so that every session it has ends at once: one
 * write, committed with the change that ends them (logout, password change,
 * MFA reset, disabling). A session record that survives, or is written by
 * a sign-in racing with the change, no longer matches and is refused.
 */
export function endingSessions<T extends SessionOwner>(user: T): T {
  return { ...user, sessionGeneration: (user.sessionGeneration ?? 0) + 1 };
}

/** Whether a session was opened in its user's current generation. */
export function isCurrentSession(session: Session, user: SessionOwner) {
  return session.username === user.username &&
    (session.generation ?? 0) === (user.sessionGeneration ?? 0);
}

/** A new session with a fresh random id, not yet stored. */
export function newSession(
  owner: SessionOwner,
  now: number,
  limits = DEFAULT_SESSION_LIMITS,
  mfaAt?: number,
): Session {
  return {
    id: crypto.randomUUID(),
    username: owner.username,
    generation: owner.sessionGeneration ?? 0,
    createdAt: now,
    lastSeenAt: now,
    expiresAt: now + limits.absoluteMs,
    ...(mfaAt === undefined ? {} : { mfaAt }),
  };
}

/**
 * Adds the writes that store `session` to `op`, so a sign-in commits with
 * what it proved (a TOTP step used up, a recovery code spent).
 */
export function addSession(
  op: Deno.AtomicOperation,
  session: Session,
  limits = DEFAULT_SESSION_LIMITS,
): Deno.AtomicOperation {
  const expireIn = Math.min(
    session.expiresAt - session.lastSeenAt,
    limits.absoluteMs,
  );
  return op
    .set(keys.session(session.id), session, { expireIn })
    .set(keys.sessionsByUser(session.username, session.id), session.expiresAt, {
      expireIn,
    });
}

/** Adds the writes that end `session` to `op`. */
export function addEndSession(op: Deno.AtomicOperation, session: Session) {
  return op
    .delete(keys.session(session.id))
    .delete(keys.sessionsByUser(session.username, session.id));
}

/**
 * Checks that a session is live at `now` and records activity.
 * Throws `unauthenticated` for a revoked, idle or expired session.
 */
export async function useSession(
  kv: Deno.Kv,
  entry: Deno.KvEntryMaybe<Session>,
  now: number,
  limits = DEFAULT_SESSION_LIMITS,
): Promise<Session> {
  const session = entry.value;
  if (session === null) throw fail.unauthenticated("Session has ended");
  if (now >= session.expiresAt || now - session.lastSeenAt >= limits.idleMs) {
    await endSession(kv, session);
    throw fail.unauthenticated("Session has expired");
  }
  if (now - session.lastSeenAt >= TOUCH_INTERVAL_MS) {
    const touched = { ...session, lastSeenAt: now };
    // A lost race means another request already touched it: fine.
    await kv.atomic()
      .check(entry)
      .set(keys.session(session.id), touched, {
        expireIn: session.expiresAt - now,
      })
      .commit();
    return touched;
  }
  return session;
}

/** Ends one session. */
export async function endSession(kv: Deno.Kv, session: Session): Promise<void> {
  await addEndSession(kv.atomic(), session).commit();
}

/**
 * Removes the session records of a user whose sessions have ended through
 * {@link endingSessions}: tidying, as those records are refused already.
 */
export async function endAllSessions(kv: Deno.Kv, username: string) {
  for await (
    const entry of kv.list({ prefix: keys.sessionsByUser(username) })
  ) {
    const sid = entry.key[entry.key.length - 1] as string;
    await kv.atomic().delete(keys.session(sid)).delete(entry.key).commit();
  }
}

/**
 * Ends every session of a user at once (sign-out everywhere), committing
 * what `addAudit` adds with it.
 */
export async function endUserSessions(
  kv: Deno.Kv,
  username: string,
  addAudit: (op: Deno.AtomicOperation) => void,
): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const entry = await kv.get<SessionOwner>(keys.user(username));
    if (entry.value === null) return;
    const op = kv.atomic().check(entry)
      .set(entry.key, endingSessions(entry.value));
    addAudit(op);
    if ((await op.commit()).ok) {
      await endAllSessions(kv, username);
      return;
    }
  }
  throw fail.conflict(`Cannot end the sessions of ${username}: retry`);
}
