/**
 * The password step of sign-in. Every path costs exactly one Argon2id
 * verification, so timing does not tell an unknown user, a wrong password,
 * a disabled or a locked account apart (OWASP ASVS 2.2.1, 3.2).
 */
import { rehashIfOutdated, type User } from "./directory.ts";
import { keys } from "./kv_keys.ts";
import { burnVerification, verifyPassword } from "./passwords.ts";

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
