/**
 * Loads the master key-encryption key: from `LHCMS_MASTER_KEY`, or for
 * development from a key file beside the KV file, created on first start.
 */
import {
  type Config,
  ConfigError,
  decodeBase64,
  encodeBase64,
} from "./config.ts";
import { importMasterKey } from "./crypto.ts";

/** Where the master key came from, for the start-up log. */
export type MasterKeySource = "environment" | "dev-file-created" | "dev-file";

/**
 * Returns the master key and where it came from. A development key file is
 * created only when `createDevKey` is set: never for a store that already
 * holds keys, and never by operator scripts.
 */
export async function loadMasterKey(
  config: Config,
  createDevKey: boolean,
): Promise<{ key: CryptoKey; source: MasterKeySource }> {
  if (config.masterKey) {
    return {
      key: await importMasterKey(config.masterKey),
      source: "environment",
    };
  }
  const file = config.devKeyFile;
  try {
    const text = await Deno.readTextFile(file);
    return {
      key: await importMasterKey(decodeBase64(text.trim())),
      source: "dev-file",
    };
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (!createDevKey) {
    throw new ConfigError(
      "LHCMS_MASTER_KEY",
      `is not set and there is no development key file at ${file}`,
    );
  }
  const raw = crypto.getRandomValues(new Uint8Array(32));
  const dir = file.slice(0, Math.max(file.lastIndexOf("/"), 0));
  if (dir) await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(file, encodeBase64(raw) + "\n", {
    mode: 0o600,
    createNew: true,
  });
  return { key: await importMasterKey(raw), source: "dev-file-created" };
}
