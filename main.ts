/**
 * Composition root: reads the configuration, opens KV, loads keys, builds
 * the app, starts the workers and the server, and shuts them down together.
 *
 *   deno task start
 */
import { type Config, ConfigError, loadConfig } from "./domain/config.ts";
import { KeyRing } from "./domain/crypto.ts";
import { createUser, hasNoUsers } from "./domain/directory.ts";
import { jsonLogger, type Logger } from "./domain/log.ts";
import { loadMasterKey } from "./domain/master_key.ts";
import { keys } from "./domain/kv_keys.ts";
import { TokenService } from "./domain/tokens.ts";
import { loadR4Definitions } from "./fhir/r4_definitions.ts";
import { buildApp } from "./routes/app.ts";
import { AuditWaker } from "./workers/audit_writer.ts";
import { startWorkers } from "./workers/dispatcher.ts";

/** The LHCMS version reported by /health and the CapabilityStatement. */
export const VERSION = "0.1.0";

/** A running LHCMS instance. */
export interface Running {
  url: string;
  kv: Deno.Kv;
  keyRing: KeyRing;
  close(): Promise<void>;
}

/** Options for tests: a controllable clock and quiet logs. */
export interface StartOptions {
  clock?: () => Date;
  log?: Logger;
}

/** Opens the KV store named by the configuration. */
export async function openKv(config: Config): Promise<Deno.Kv> {
  if (config.kvUrl) return await Deno.openKv(config.kvUrl);
  if (config.kvPath === ":memory:") return await Deno.openKv(":memory:");
  const dir = config.kvPath.slice(
    0,
    Math.max(config.kvPath.lastIndexOf("/"), 0),
  );
  if (dir) await Deno.mkdir(dir, { recursive: true });
  return await Deno.openKv(config.kvPath);
}

/**
 * Opens KV and loads the keys: what the server and operator scripts share.
 * Only the server of a new store may create a development key file.
 */
export async function openStore(
  config: Config,
  log: Logger,
  { createDevKey = true } = {},
) {
  const kv = await openKv(config);
  const initialised =
    (await kv.get(keys.signingKeyCurrent())).versionstamp !== null;
  let master: Awaited<ReturnType<typeof loadMasterKey>>;
  try {
    master = await loadMasterKey(config, createDevKey && !initialised);
  } catch (error) {
    kv.close();
    throw error;
  }
  const { key, source } = master;
  if (source !== "environment") {
    log.warn(
      "DEVELOPMENT MASTER KEY IN USE: LHCMS_MASTER_KEY is not set, so PHI is encrypted " +
        "under a key file on this disk. Never use this for real patient data.",
      { file: config.devKeyFile, created: source === "dev-file-created" },
    );
  }
  let tokens: TokenService;
  try {
    tokens = await TokenService.load(kv, key);
  } catch (error) {
    kv.close();
    if (
      error instanceof DOMException ||
      (error as Error).name === "OperationError"
    ) {
      throw new ConfigError(
        "LHCMS_MASTER_KEY",
        "does not open the keys stored in this KV store",
      );
    }
    throw error;
  }
  return { kv, keyRing: new KeyRing(kv, key), tokens };
}

/** Starts LHCMS: store, bootstrap admin, workers and HTTP server. */
export async function start(
  config: Config,
  options: StartOptions = {},
): Promise<Running> {
  const log = options.log ?? jsonLogger();
  const { kv, keyRing, tokens } = await openStore(config, log);
  await bootstrapAdmin(kv, config, log);
  // Before listening, so the first write does not wait for the definitions.
  const ms = loadR4Definitions();
  if (ms > 0) log.info("FHIR definitions loaded", { ms: Math.round(ms) });

  const clock = options.clock ?? (() => new Date());
  const waker = new AuditWaker(kv, log);
  const workers = startWorkers(kv, waker, log, clock);
  const app = buildApp({
    kv,
    keyRing,
    tokens,
    log,
    clock,
    sessionLimits: config.sessions,
    mfa: config.mfa,
    lockout: config.lockout,
    hsts: config.tls !== undefined || config.trustProxy,
    trustProxy: config.trustProxy,
    auditWake: (scope) => waker.wake(scope),
    publicUrl: config.publicUrl,
    version: VERSION,
  });

  const tls = config.tls
    ? {
      cert: await Deno.readTextFile(config.tls.certFile),
      key: await Deno.readTextFile(config.tls.keyFile),
    }
    : {};
  const server = Deno.serve({
    port: config.port,
    hostname: config.hostname,
    ...tls,
    onListen: () => {},
  }, app.fetch);
  const scheme = config.tls ? "https" : "http";
  const host = config.hostname === "0.0.0.0" ? "127.0.0.1" : config.hostname;
  const url = `${scheme}://${host}:${server.addr.port}`;
  log.info("LHCMS listening", {
    url,
    kv: config.kvUrl ? "remote" : config.kvPath,
  });

  return {
    url,
    kv,
    keyRing,
    close: async () => {
      await server.shutdown();
      await workers.stop();
      kv.close();
    },
  };
}

async function bootstrapAdmin(kv: Deno.Kv, config: Config, log: Logger) {
  if (!(await hasNoUsers(kv))) return;
  if (!config.bootstrapAdmin) {
    log.warn(
      "No user exists yet: set LHCMS_BOOTSTRAP_ADMIN=username:password to create the first admin",
    );
    return;
  }
  try {
    await createUser(kv, { ...config.bootstrapAdmin, role: "admin" });
  } catch (error) {
    throw new ConfigError("LHCMS_BOOTSTRAP_ADMIN", (error as Error).message);
  }
  log.info("bootstrap admin created", {
    username: config.bootstrapAdmin.username,
  });
}

if (import.meta.main) {
  try {
    const running = await start(loadConfig(Deno.env.toObject()));
    const stop = async () => {
      await running.close();
      Deno.exit(0);
    };
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`LHCMS cannot start: ${error.message}`);
    Deno.exit(1);
  }
}
