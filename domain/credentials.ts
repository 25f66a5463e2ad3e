/**
 * Passwords of existing users: the password step of sign-in, where every
 * path costs exactly one Argon2id verification, so timing does not tell an
 * unknown user, a wrong password, a disabled or a locked account apart
 * (OWASP ASVS 2.2.1, 3.2); rehashing; changing a password.
 */
import { addPendingAudit, type AuditRecord } from "./audit.ts";
import type { User } from "./directory.ts";
import { fail } from "./errors.ts";
import { keys } from "./kv_keys.ts";
import { passwordProblem } from "./password_policy.ts";
import {
  burnVerification,
  hashPassword,
  needsRehash,
  verifyPassword,
} from "./passwords.ts";
import { endAllSessions, endingSessions } from "./sessions.ts";

/** Checks a password against a PHC hash; tests pass a counting one. */
export type Verifier = (password: string, hash: string) => Promise<boolean>;

/**
 * `user` when the password is right and the account enabled; `account`
 * when the username exists at all.
 */
export async function checkCredentials(
  kv: Deno.Kv,
  username: string,
  password: string,
  verify: Verifier = verifyPassword,
): Promise<{ user?: User; account?: string }> {
  if (!username || !password || username.length > 64 || password.length > 256) {
    await burnVerification(password || "x", verify);
    return {};
  }
  const entry = await kv.get<User>(keys.user(username));
  const user = entry.value;
  if (!user) {
    await burnVerification(password, verify);
    return {};
  }
  const ok = await verify(password, user.passwordHash);
  if (ok) await rehashIfOutdated(kv, entry as Deno.KvEntry<User>, password);
  return {
    user: ok && !user.disabled ? user : undefined,
    account: user.username,
  };
}

/**
 * Replaces a stored hash made with weaker Argon2id parameters than today's,
 * at a sign-in that has just proved the password. A lost race (the user
 * changed meanwhile) leaves the old hash for the next sign-in.
 */
export async function rehashIfOutdated(
  kv: Deno.Kv,
  entry: Deno.KvEntry<User>,
  password: string,
): Promise<boolean> {
  if (!needsRehash(entry.value.passwordHash)) return false;
  const passwordHash = await hashPassword(password);
  const result = await kv.atomic().check(entry)
    .set(entry.key, { ...entry.value, passwordHash })
    .commit();
  return result.ok;
}

/**
 * Sets a new password (checked like a new user's) and ends every session
 * of the user, committing `audit` with the change.
 */
export async function setPassword(
  kv: Deno.Kv,
  username: string,
  password: unknown,
  audit: AuditRecord,
): Promise<void> {
  const problem = passwordProblem(password, username);
  if (problem) throw fail.invalid(`Cannot change the password: ${problem}`);
  const entry = await kv.get<User>(keys.user(username));
  if (entry.value === null) {
    throw fail.notFound(`User ${username} is not known`);
  }
  const passwordHash = await hashPassword(password as string);
  const op = kv.atomic().check(entry)
    .set(entry.key, endingSessions({ ...entry.value, passwordHash }));
  addPendingAudit(op, { ...audit, entity: { type: "User", id: username } });
  if (!(await op.commit()).ok) {
    throw fail.conflict(`Cannot change user ${username}: it changed meanwhile`);
  }
  await endAllSessions(kv, username);
}
