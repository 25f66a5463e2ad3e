/**
 * The periodic sweep of abandoned scan uploads across every lab
 * (domain/upload_sweep.ts), run beside the audit sweep.
 */
import type { Lab } from "../domain/directory.ts";
import { keys } from "../domain/kv_keys.ts";
import type { Logger } from "../domain/log.ts";
import { sweepAbandonedUploads } from "../domain/upload_sweep.ts";

/** Sweeps every lab once as of `clock()`; returns how many were removed. */
export async function sweepUploads(
  kv: Deno.Kv,
  clock: () => Date,
  log: Logger,
): Promise<number> {
  let removed = 0;
  for await (const entry of kv.list<Lab>({ prefix: keys.labs() })) {
    const lab = entry.value.id;
    const count = await sweepAbandonedUploads(kv, lab, clock());
    if (count > 0) log.info("abandoned scan uploads removed", { lab, count });
    removed += count;
  }
  return removed;
}
