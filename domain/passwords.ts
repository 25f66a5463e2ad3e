/**
 * Password hashing with Argon2id (hash-wasm), at OWASP's minimum
 * parameters for Argon2id: 19 MiB memory, 2 iterations, 1 lane. Which
 * passwords are accepted is `password_policy.ts`.
 */
import { argon2id, argon2Verify } from "hash-wasm";

/** The Argon2id cost every new hash gets; raise it, and logins rehash. */
export const ARGON2_COST = { memorySize: 19456, iterations: 2, parallelism: 1 };

/** Hashes a password into a self-describing PHC string. */
export function hashPassword(password: string): Promise<string> {
  return argon2id({
    password,
    salt: crypto.getRandomValues(new Uint8Array(16)),
    ...ARGON2_COST,
    hashLength: 32,
    outputType: "encoded",
  });
}

/** Checks a password against a stored hash in constant time. */
export function verifyPassword(
  password: string,
  hash: string,
): Promise<boolean> {
  return argon2Verify({ password, hash });
}

/**
 * Whether a stored PHC string (`$argon2id$v=19$m=…,t=…,p=…$…`) was made
 * with less memory, fewer passes or fewer lanes than {@link ARGON2_COST},
 * or with another algorithm: then the next sign-in rehashes it.
 */
export function needsRehash(hash: string): boolean {
  const match = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(hash);
  if (!match) return true;
  const [m, t, p] = match.slice(1).map(Number);
  return m < ARGON2_COST.memorySize || t < ARGON2_COST.iterations ||
    p < ARGON2_COST.parallelism;
}

let dummyHash: Promise<string> | undefined;

/**
 * Verifies against a throwaway hash, so an unknown user costs as much time
 * as a wrong password and the two cannot be told apart.
 */
export async function burnVerification(
  password: string,
  verify = verifyPassword,
): Promise<void> {
  dummyHash ??= hashPassword("lhcms-timing-equaliser");
  await verify(password, await dummyHash);
}
