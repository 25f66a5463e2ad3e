/**
 * Which new passwords LHCMS accepts (NIST SP 800-63B 3.1.1.2, OWASP ASVS
 * 2.1): at least 12 characters, no composition rules, and not a password
 * that attackers try first. "Try first" means the breached-password list
 * shipped by `@zxcvbn-ts/language-common` (about 49,000 entries from public
 * breach corpora), or anything zxcvbn-ts estimates below 10^8 guesses:
 * such a list entry with small changes, a keyboard walk, a repeat, a
 * sequence, or the username itself.
 */
import { ZxcvbnFactory } from "@zxcvbn-ts/core";
import * as common from "@zxcvbn-ts/language-common";

/** Shortest password accepted. */
export const MIN_PASSWORD_LENGTH = 12;
const MAX_PASSWORD_LENGTH = 256;
// zxcvbn's score 3: at least 10^8 guesses, out of reach of online guessing
// under the lockout and of an offline attack on one Argon2id hash for long.
const MIN_SCORE = 3;

let estimator: ZxcvbnFactory | undefined;
let breached: Set<string> | undefined;

function lists() {
  estimator ??= new ZxcvbnFactory({
    dictionary: common.dictionary,
    graphs: common.adjacencyGraphs,
  });
  breached ??= new Set(common.dictionary["passwords-common"]);
  return { estimator, breached };
}

/**
 * Why a new password is refused, or undefined when it is acceptable.
 *
 * @example
 * passwordProblem("qwerty123456", "tina");
 * // "password is on a list of common and breached passwords"
 */
export function passwordProblem(
  password: unknown,
  username?: string,
): string | undefined {
  if (typeof password !== "string") return "password must be a string";
  if ([...password].length < MIN_PASSWORD_LENGTH) {
    return `password must be at least ${MIN_PASSWORD_LENGTH} characters`;
  }
  if (password.length > MAX_PASSWORD_LENGTH) {
    return `password must be at most ${MAX_PASSWORD_LENGTH} characters`;
  }
  const { estimator, breached } = lists();
  if (breached.has(password.toLowerCase())) {
    return "password is on a list of common and breached passwords";
  }
  const { score } = estimator.check(password, username ? [username] : []);
  if (score < MIN_SCORE) {
    return "password is too easy to guess: a common or breached password " +
      "with small changes, a pattern, or the username; choose a longer " +
      "passphrase";
  }
  return undefined;
}
