/**
 * The sweep of abandoned scan uploads. A request that fails deletes its
 * own chunks; a process that dies mid-upload cannot, and leaves chunks no
 * Binary points at, beside the upload's marker. Once a marker has not
 * moved for an hour, the sweep claims it (so a late chunk or a late
 * commit of that upload is refused) and deletes the chunks, then the
 * marker.
 */
import { keys } from "./kv_keys.ts";
import { discardUpload, type UploadMarker } from "./scan_chunks.ts";

/**
 * How long an upload may go without a new batch of chunks (about 720 KiB)
 * before it counts as abandoned: far longer than any client that is still
 * sending needs, short enough that a crash's leftovers do not pile up.
 */
export const ABANDONED_AFTER_MS = 60 * 60 * 1000;

/**
 * Removes the abandoned uploads of one lab as of `now`; returns how many.
 * Safe to run from several processes at once: a claim is a checked
 * commit, and deleting what another sweep already deleted changes nothing.
 */
export async function sweepAbandonedUploads(
  kv: Deno.Kv,
  lab: string,
  now: Date,
): Promise<number> {
  let removed = 0;
  for await (
    const entry of kv.list<UploadMarker>({ prefix: keys.binaryUploads(lab) })
  ) {
    const id = entry.key.at(-1) as string;
    if (!entry.value.abandoned) {
      if (now.getTime() - entry.value.touchedAt < ABANDONED_AFTER_MS) continue;
      const claim = await kv.atomic()
        .check(entry)
        // A file record means the upload completed: its chunks are the file.
        .check({ key: keys.binaryFile(lab, id), versionstamp: null })
        .set(entry.key, { ...entry.value, abandoned: true })
        .commit();
      if (!claim.ok) continue;
    }
    await discardUpload(kv, lab, id);
    removed++;
  }
  return removed;
}
