/**
 * The one queue listener of a process (Deno allows one per KV handle): it
 * routes each message by type to its handler. A handler that throws makes
 * KV retry the message on its backoff schedule.
 */
import type { Logger } from "../domain/log.ts";
import {
  type AuditWaker,
  handleAuditSeal,
  sweepAudit,
} from "./audit_writer.ts";
import { isMessage, type Message } from "./messages.ts";
import { sweepUploads } from "./upload_sweeper.ts";

/** Running workers; `stop` ends the sweep and waits for work under way. */
export interface Workers {
  stop(): Promise<void>;
}

const SWEEP_MS = 5_000;

/**
 * Starts the listener and the periodic sweeps: pending audit records, and
 * scan uploads abandoned as of `clock()`.
 */
export function startWorkers(
  kv: Deno.Kv,
  waker: AuditWaker,
  log: Logger,
  clock: () => Date,
): Workers {
  const running = new Set<Promise<unknown>>();
  let stopping = false;
  const track = <T>(work: Promise<T>): Promise<T> => {
    running.add(work);
    return work.finally(() => running.delete(work));
  };

  kv.listenQueue((raw) => {
    // Thrown, not dropped: KV redelivers the message to a process that stays.
    if (stopping) throw new Error("worker is stopping");
    return track(dispatch(kv, raw, waker, log));
  }).catch((error) =>
    log.error("queue listener stopped", { message: (error as Error).message })
  );

  // Deleting a large abandoned file can outlast the interval: one upload
  // sweep at a time, or the next would delete the same chunks again.
  let sweepingUploads = false;
  const sweep = () => {
    if (stopping) return;
    track(sweepAudit(kv)).catch((error) =>
      log.error("audit sweep failed", { message: (error as Error).message })
    );
    if (sweepingUploads) return;
    sweepingUploads = true;
    track(sweepUploads(kv, clock, log))
      .catch((error) =>
        log.error("upload sweep failed", { message: (error as Error).message })
      )
      .finally(() => (sweepingUploads = false));
  };
  sweep();
  const timer = setInterval(sweep, SWEEP_MS);
  return {
    stop: async () => {
      stopping = true;
      clearInterval(timer);
      await Promise.allSettled([...running]);
    },
  };
}

async function dispatch(
  kv: Deno.Kv,
  raw: unknown,
  waker: AuditWaker,
  log: Logger,
): Promise<void> {
  if (!isMessage(raw)) {
    log.warn("queue message of unknown shape dropped");
    return;
  }
  const message: Message = raw;
  switch (message.type) {
    case "audit.seal":
      await handleAuditSeal(kv, message, waker);
      return;
    default:
      log.warn("queue message of unknown type dropped", {
        type: (message as { type: string }).type,
      });
  }
}
