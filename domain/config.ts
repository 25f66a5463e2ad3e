/**
 * Start-up configuration read from the environment (see README, "Configuration").
 * Every problem is reported as a {@link ConfigError} naming the variable, so
 * `main.ts` can stop with one line instead of a stack trace.
 */

/** A configuration value that stops start-up. */
export class ConfigError extends Error {
  constructor(readonly variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = "ConfigError";
  }
}

/** The validated configuration of one LHCMS process. */
export interface Config {
  port: number;
  hostname: string;
  kvPath: string;
  kvUrl?: string;
  /** Raw 32-byte master key, or undefined to use the development key file. */
  masterKey?: Uint8Array;
  devKeyFile: string;
  bootstrapAdmin?: { username: string; password: string };
  tls?: { certFile: string; keyFile: string };
  /** Base URL that appears in Location headers and Bundle links. */
  publicUrl?: string;
  /** Whether every person must sign in with a TOTP second factor. */
  mfa: "required" | "optional";
  /** When failed sign-ins lock an account, and for how long. */
  lockout: { threshold: number; minutes: number };
  /** Automatic logoff: idle and absolute session limits, in milliseconds. */
  sessions: { idleMs: number; absoluteMs: number };
  /** `LHCMS_ENV=production`: refuse settings meant for development. */
  production: boolean;
  /**
   * `LHCMS_TRUST_PROXY`: a TLS-terminating proxy stands in front, so the
   * service may listen on plain HTTP and takes the client address from
   * the last `X-Forwarded-For` entry.
   */
  trustProxy: boolean;
}

type Env = Record<string, string | undefined>;

/** Reads and checks the configuration; throws {@link ConfigError}. */
export function loadConfig(env: Env): Config {
  const kvPath = env.LHCMS_KV_PATH || "./data/lhcms.kv";
  const config: Config = {
    port: parsePort(env.PORT),
    hostname: env.LHCMS_HOSTNAME || "0.0.0.0",
    kvPath,
    kvUrl: env.LHCMS_KV_URL || undefined,
    masterKey: parseMasterKey(env.LHCMS_MASTER_KEY),
    devKeyFile: devKeyFileFor(kvPath),
    bootstrapAdmin: parseBootstrapAdmin(env.LHCMS_BOOTSTRAP_ADMIN),
    tls: parseTls(env.LHCMS_TLS_CERT, env.LHCMS_TLS_KEY),
    publicUrl: parsePublicUrl(env.LHCMS_PUBLIC_URL),
    mfa: parseMfa(env.LHCMS_MFA),
    lockout: {
      threshold: parseWhole(
        env.LHCMS_LOCKOUT_THRESHOLD,
        "LHCMS_LOCKOUT_THRESHOLD",
        10,
        1,
        1000,
      ),
      minutes: parseWhole(
        env.LHCMS_LOCKOUT_MINUTES,
        "LHCMS_LOCKOUT_MINUTES",
        15,
        1,
        10080,
      ),
    },
    // HIPAA's automatic logoff (164.312(a)(2)(iii)): shorter is allowed,
    // longer than a working day is not.
    sessions: {
      idleMs: 60_000 * parseWhole(
        env.LHCMS_SESSION_IDLE_MINUTES,
        "LHCMS_SESSION_IDLE_MINUTES",
        15,
        1,
        60,
      ),
      absoluteMs: 3600_000 * parseWhole(
        env.LHCMS_SESSION_MAX_HOURS,
        "LHCMS_SESSION_MAX_HOURS",
        12,
        1,
        24,
      ),
    },
    production: parseChoice(env.LHCMS_ENV, "LHCMS_ENV", [
      "development",
      "production",
    ]) === "production",
    trustProxy: parseChoice(env.LHCMS_TRUST_PROXY, "LHCMS_TRUST_PROXY", [
      "",
      "1",
    ]) === "1",
  };
  if (config.production) checkProduction(config);
  return config;
}

/**
 * Production serves PHI: no plain HTTP unless a TLS proxy is declared
 * (45 CFR 164.312(e)), no development master key, MFA for everyone.
 */
function checkProduction(config: Config) {
  if (!config.tls && !config.trustProxy) {
    throw new ConfigError(
      "LHCMS_TLS_CERT",
      "LHCMS_ENV=production serves HTTPS only: set LHCMS_TLS_CERT and " +
        "LHCMS_TLS_KEY, or LHCMS_TRUST_PROXY=1 behind a TLS-terminating proxy",
    );
  }
  if (!config.masterKey) {
    throw new ConfigError(
      "LHCMS_MASTER_KEY",
      "is required with LHCMS_ENV=production",
    );
  }
  if (config.mfa !== "required") {
    throw new ConfigError("LHCMS_MFA", "must be required in production");
  }
}

function parseChoice(
  value: string | undefined,
  variable: string,
  choices: string[],
): string {
  const chosen = value ?? "";
  if (chosen === "") return choices[0];
  if (!choices.includes(chosen)) {
    throw new ConfigError(
      variable,
      `must be ${choices.filter(Boolean).join(" or ")}`,
    );
  }
  return chosen;
}

function parsePort(value: string | undefined): number {
  if (value === undefined || value === "") return 8080;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 0 || port > 65535) {
    throw new ConfigError("PORT", "must be a whole number from 0 to 65535");
  }
  return port;
}

function parseWhole(
  value: string | undefined,
  variable: string,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) {
    throw new ConfigError(
      variable,
      `must be a whole number from ${min} to ${max}`,
    );
  }
  return n;
}

function parseMasterKey(value: string | undefined): Uint8Array | undefined {
  if (value === undefined || value === "") return undefined;
  let bytes: Uint8Array;
  try {
    bytes = decodeBase64(value.trim());
  } catch {
    throw new ConfigError("LHCMS_MASTER_KEY", "is not valid base64");
  }
  if (bytes.length !== 32) {
    throw new ConfigError(
      "LHCMS_MASTER_KEY",
      `must be 32 bytes of base64, got ${bytes.length} bytes`,
    );
  }
  return bytes;
}

function parseBootstrapAdmin(value: string | undefined) {
  if (value === undefined || value === "") return undefined;
  const colon = value.indexOf(":");
  if (colon < 1 || colon === value.length - 1) {
    throw new ConfigError(
      "LHCMS_BOOTSTRAP_ADMIN",
      "must be username:password",
    );
  }
  return {
    username: value.slice(0, colon),
    password: value.slice(colon + 1),
  };
}

function parseTls(cert: string | undefined, key: string | undefined) {
  if (!cert && !key) return undefined;
  if (!cert) throw new ConfigError("LHCMS_TLS_CERT", "is required with a key");
  if (!key) throw new ConfigError("LHCMS_TLS_KEY", "is required with a cert");
  return { certFile: cert, keyFile: key };
}

function parsePublicUrl(value: string | undefined): string | undefined {
  if (!value) return undefined;
  try {
    return new URL(value).toString().replace(/\/$/, "");
  } catch {
    throw new ConfigError("LHCMS_PUBLIC_URL", "is not an absolute URL");
  }
}

function parseMfa(value: string | undefined): "required" | "optional" {
  if (value === undefined || value === "" || value === "required") {
    return "required";
  }
  if (value === "optional") return "optional";
  throw new ConfigError("LHCMS_MFA", "must be required or optional");
}

/** The development master key lives beside the KV file it protects. */
function devKeyFileFor(kvPath: string): string {
  if (kvPath === ":memory:") return "./data/dev-master.key";
  const slash = kvPath.lastIndexOf("/");
  const dir = slash >= 0 ? kvPath.slice(0, slash) || "/" : ".";
  return `${dir}/dev-master.key`;
}

/** Strict base64 decoding (standard alphabet, padding optional). */
export function decodeBase64(text: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw new Error("bad base64");
  const binary = atob(text);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** Standard base64 encoding. */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

/** Unpadded base64url encoding, used for ids and blind index values. */
export function encodeBase64Url(bytes: Uint8Array): string {
  return encodeBase64(bytes).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}
