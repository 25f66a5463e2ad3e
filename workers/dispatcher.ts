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
import { isMessage } from "./messages.ts";

/** Running workers; `stop` ends the periodic sweep. */
export interface Workers {
  stop(): void;
}

const SWEEP_MS = 5_000;

/** Starts the listener and the periodic audit sweep. */
export function startWorkers(
  kv: Deno.Kv,
  waker: AuditWaker,
  log: Logger,
): Workers {
  kv.listenQueue(async (raw) => {
    if (!isMessage(raw)) {
      log.warn("queue message of unknown shape dropped");
      return;
    }
    switch (raw.type) {
      case "audit.seal":
        await handleAuditSeal(kv, raw, waker);
        return;
      default:
        log.warn("queue message of unknown type dropped", {
          type: (raw as { type: string }).type,
        });
    }
  }).catch((error) =>
    log.error("queue listener stopped", { message: (error as Error).message })
  );

  const sweep = () =>
    sweepAudit(kv).catch((error) =>
      log.error("audit sweep failed", { message: (error as Error).message })
    );
  sweep();
  const timer = setInterval(sweep, SWEEP_MS);
  return { stop: () => clearInterval(timer) };
}
