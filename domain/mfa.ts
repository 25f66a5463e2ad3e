/**
 * TOTP second factor (RFC 6238 via otpauth): enrollment, codes at sign-in
 * and step-up, single-use recovery codes, reset. The secret is sealed under
 * the system data key with its KV key as additional data. A code is spent
 * by advancing the user's last used time step in the same atomic commit as
 * the session it opens, checked against the record's versionstamp, so one
 * code opens at most one session even when sent twice at once.
 */
import * as OTPAuth from "otpauth";
// @ts-types="@types/qrcode"
import QRCode from "qrcode";
import { encodeBase64, encodeBase64Url } from "./config.ts";
import { type KeyRing, type Sealed, sha256 } from "./crypto.ts";
import { keys } from "./kv_keys.ts";
import {
  endAllSessions,
  endingSessions,
  type SessionOwner,
} from "./sessions.ts";

/** Whether every person must use a second factor (`LHCMS_MFA`). */
export type MfaMode = "required" | "optional";

/** Issuer shown by authenticator apps. */
export const MFA_ISSUER = "LHCMS";
/** How long an MFA proof counts as fresh for sensitive actions. */
export const FRESH_MFA_MS = 5 * 60_000;
/** How long an enrollment token may be used. */
export const ENROLLMENT_SECONDS = 10 * 60;
/** Recovery codes handed out at enrollment. */
export const RECOVERY_CODE_COUNT = 10;

// What authenticator apps assume when they read an otpauth URI.
const PERIOD = 30;
const DIGITS = 6;
const ALGORITHM = "SHA1";
// One step either side absorbs clock drift between phone and server.
const WINDOW = 1;

/** A confirmed enrollment, at `keys.mfa(username)`. */
export interface MfaRecord {
  secret: Sealed;
  /** The last time step whose code was accepted; older steps are refused. */
  lastStep: number;
  /** SHA-256 of each unused recovery code. */
  recovery: string[];
  enrolledAt: string;
}

/** An enrollment under way, at `keys.mfaEnrollment(hash of token)`. */
export interface Enrollment {
  username: string;
  expiresAt: number;
  /** Set once the secret has been shown. */
  secret?: Sealed;
}

/** What a person sends as a second factor. */
export interface FactorInput {
  code?: unknown;
  recovery_code?: unknown;
}

/** The outcome of checking a second factor. */
export type FactorCheck =
  | { ok: true; recoveryUsed: boolean; recoveryLeft: number }
  | { ok: false; reason: "mfa_required" | "mfa_invalid" };

function totp(username: string, secret: OTPAuth.Secret) {
  return new OTPAuth.TOTP({
    issuer: MFA_ISSUER,
    label: username,
    algorithm: ALGORITHM,
    digits: DIGITS,
    period: PERIOD,
    secret,
  });
}

/** The time step of `now`. */
export function stepOf(now: Date): number {
  return Math.floor(now.getTime() / 1000 / PERIOD);
}

/**
 * The step whose code `code` is, within one step of `now` and after
 * `lastStep`; undefined for a wrong, stale or already used code.
 */
export function matchStep(
  username: string,
  secretBase32: string,
  code: string,
  now: Date,
  lastStep: number,
): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined;
  const delta = totp(username, OTPAuth.Secret.fromBase32(secretBase32))
    .validate({ token: code, timestamp: now.getTime(), window: WINDOW });
  if (delta === null) return undefined;
  const step = stepOf(now) + delta;
  return step > lastStep ? step : undefined;
}

/** A fresh random enrollment token and the hash it is stored under. */
export async function newEnrollmentToken() {
  const token = encodeBase64Url(crypto.getRandomValues(new Uint8Array(32)));
  return { token, hash: await sha256(token) };
}

/** The KV key of an enrollment token. */
export async function enrollmentKey(token: string): Promise<Deno.KvKey> {
  return keys.mfaEnrollment(await sha256(token));
}

/** What an authenticator app needs to add the account. */
export interface EnrollmentSecret {
  secret: string;
  otpauth_uri: string;
  /** The otpauth URI as a QR code, an SVG data URL. */
  qr_svg: string;
}

/**
 * Starts or restarts an enrollment: a new 160-bit secret (RFC 4226 length)
 * sealed on the enrollment record. Returns undefined when the enrollment
 * changed meanwhile.
 */
export async function showSecret(
  kv: Deno.Kv,
  keyRing: KeyRing,
  entry: Deno.KvEntry<Enrollment>,
): Promise<EnrollmentSecret | undefined> {
  const secret = new OTPAuth.Secret({ size: 20 });
  const sealed = await keyRing.sealSystem(entry.key, "secret", secret.base32);
  const result = await kv.atomic()
    .check(entry)
    .set(entry.key, { ...entry.value, secret: sealed }, {
      expireIn: ENROLLMENT_SECONDS * 1000,
    })
    .commit();
  if (!result.ok) return undefined;
  const uri = totp(entry.value.username, secret).toString();
  const svg = await QRCode.toString(uri, {
    type: "svg",
    errorCorrectionLevel: "M",
  });
  return {
    secret: secret.base32,
    otpauth_uri: uri,
    qr_svg: `data:image/svg+xml;base64,${
      encodeBase64(new TextEncoder().encode(svg))
    }`,
  };
}

/**
 * Checks the first code of an enrollment and, when right, adds the
 * confirmed record to `op` (with a check that none exists yet). Returns
 * the recovery codes to show once, or undefined for a wrong code.
 */
export async function confirmEnrollment(
  keyRing: KeyRing,
  entry: Deno.KvEntry<Enrollment>,
  code: string,
  now: Date,
  op: Deno.AtomicOperation,
): Promise<string[] | undefined> {
  const { username, secret } = entry.value;
  if (!secret) return undefined;
  const base32 = await keyRing.openSystem<string>(entry.key, "secret", secret);
  const step = matchStep(username, base32, code, now, -1);
  if (step === undefined) return undefined;
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, recoveryCode);
  const record: MfaRecord = {
    secret: await keyRing.sealSystem(keys.mfa(username), "secret", base32),
    lastStep: step,
    recovery: await Promise.all(codes.map((c) => recoveryHash(username, c))),
    enrolledAt: now.toISOString(),
  };
  op.check(entry)
    .check({ key: keys.mfa(username), versionstamp: null })
    .set(keys.mfa(username), record)
    .delete(entry.key);
  return codes;
}

/**
 * Checks a TOTP code or a recovery code of an enrolled user and commits
 * its use together with whatever `withUse` adds (the new session, the
 * audit record). A lost race re-reads the record, where the code then
 * counts as used.
 */
export async function spendFactor(
  kv: Deno.Kv,
  keyRing: KeyRing,
  entry: Deno.KvEntry<MfaRecord>,
  username: string,
  input: FactorInput,
  now: Date,
  withUse: (op: Deno.AtomicOperation, recoveryUsed: boolean) => void,
): Promise<FactorCheck> {
  const code = typeof input.code === "string" ? input.code.trim() : "";
  const recovery = typeof input.recovery_code === "string"
    ? input.recovery_code
    : "";
  if (!code && !recovery) return { ok: false, reason: "mfa_required" };
  let current: Deno.KvEntryMaybe<MfaRecord> = entry;
  for (let attempt = 0; attempt < 3; attempt++) {
    const record = current.value;
    if (record === null) return { ok: false, reason: "mfa_invalid" };
    let next: MfaRecord;
    if (code) {
      const base32 = await keyRing.openSystem<string>(
        keys.mfa(username),
        "secret",
        record.secret,
      );
      const step = matchStep(username, base32, code, now, record.lastStep);
      if (step === undefined) return { ok: false, reason: "mfa_invalid" };
      next = { ...record, lastStep: step };
    } else {
      const hash = await recoveryHash(username, recovery);
      if (!record.recovery.includes(hash)) {
        return { ok: false, reason: "mfa_invalid" };
      }
      next = { ...record, recovery: record.recovery.filter((h) => h !== hash) };
    }
    const op = kv.atomic().check(current).set(keys.mfa(username), next);
    withUse(op, !code);
    if ((await op.commit()).ok) {
      return {
        ok: true,
        recoveryUsed: !code,
        recoveryLeft: next.recovery.length,
      };
    }
    current = await kv.get<MfaRecord>(keys.mfa(username));
  }
  return { ok: false, reason: "mfa_invalid" };
}

/**
 * Removes a user's enrollment (a lost phone) and ends every session of the
 * user; the next sign-in enrolls afresh. The audit record commits with the
 * removal. False when the user had no enrollment.
 */
export async function resetMfa(
  kv: Deno.Kv,
  username: string,
  addAudit: (op: Deno.AtomicOperation) => void,
): Promise<boolean> {
  const [entry, user] = await kv.getMany<[MfaRecord, SessionOwner]>([
    keys.mfa(username),
    keys.user(username),
  ]);
  const op = kv.atomic().check(entry, user).delete(keys.mfa(username));
  if (user.value) op.set(user.key, endingSessions(user.value));
  addAudit(op);
  if (!(await op.commit()).ok) {
    throw new Error("The MFA enrollment changed meanwhile; try again");
  }
  await endAllSessions(kv, username);
  return entry.value !== null;
}

// 80 random bits each, so a plain SHA-256 suffices: no one can guess its
// way back from a stored hash, and checking ten hashes costs microseconds
// (ten Argon2id verifications per attempt would invite denial of service).
const RECOVERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

function recoveryCode(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  const chars = [...bytes].map((b) => RECOVERY_ALPHABET[b & 31]).join("");
  return chars.match(/.{4}/g)!.join("-");
}

function recoveryHash(username: string, code: string): Promise<string> {
  const normal = code.toUpperCase().replace(/[\s-]/g, "");
  return sha256(`lhcms-recovery\u0000${username}\u0000${normal}`);
}
