/**
 * Password hashing with Argon2id (hash-wasm), at OWASP's minimum
 * parameters for Argon2id: 19 MiB memory, 2 iterations, 1 lane.
 */
import { argon2id, argon2Verify } from "hash-wasm";

/** Shortest password accepted (NIST SP 800-63B allows no composition rules). */
export const MIN_PASSWORD_LENGTH = 12;
const MAX_PASSWORD_LENGTH = 256;

/** Hashes a password into a self-describing PHC string. */
export function hashPassword(password: string): Promise<string> {
  return argon2id({
    password,
    salt: crypto.getRandomValues(new Uint8Array(16)),
    parallelism: 1,
    iterations: 2,
    memorySize: 19456,
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

/** Why a new password is refused, or undefined when it is acceptable. */
export function passwordProblem(password: unknown): string | undefined {
  if (typeof password !== "string") return "password must be a string";
  if ([...password].length < MIN_PASSWORD_LENGTH) {
    return `password must be at least ${MIN_PASSWORD_LENGTH} characters`;
  }
  if (password.length > MAX_PASSWORD_LENGTH) {
    return `password must be at most ${MAX_PASSWORD_LENGTH} characters`;
  }
  return undefined;
}

let dummyHash: Promise<string> | undefined;

/**
 * Verifies against a throwaway hash, so an unknown user costs as much time
 * as a wrong password and the two cannot be told apart.
 */
export async function burnVerification(password: string): Promise<void> {
  dummyHash ??= hashPassword("lhcms-timing-equaliser");
  await verifyPassword(password, await dummyHash);
}
