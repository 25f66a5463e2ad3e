/**
 * The audit writer: moves pending audit records into each scope's audit
 * log (domain/audit.ts `sealPending`). Requests commit their records as
 * pending entries, then wake the writer; wake-ups are coalesced so the
 * queue carries at most one message per scope at a time, not one per
 * request. A periodic sweep catches records whose wake-up was lost in a
 * crash.
 */
import { sealPending } from "../domain/audit.ts";
import type { Lab } from "../domain/directory.ts";
import { type AuditScope, keys } from "../domain/kv_keys.ts";
import type { Logger } from "../domain/log.ts";
import { enqueue, type Message } from "./messages.ts";

const scopeName = (scope: AuditScope) =>
  scope === "system" ? "system" : `lab:${scope.lab}`;

// After this long without the handler starting, a wake-up is presumed lost
// (for instance, delivered to another process) and is sent again.
const STALE_WAKE_MS = 1_000;

/** Coalesces wake-ups: one outstanding message per scope per process. */
export class AuditWaker {
  #outstanding = new Map<string, number>();

  constructor(private readonly kv: Deno.Kv, private readonly log: Logger) {}

  /** Call after committing a pending audit record. */
  wake(scope: AuditScope): void {
    const name = scopeName(scope);
    const since = this.#outstanding.get(name);
    if (since !== undefined && Date.now() - since < STALE_WAKE_MS) return;
    this.#outstanding.set(name, Date.now());
    enqueue(this.kv, { type: "audit.seal", scope }).catch((error) => {
      this.#outstanding.delete(name);
      this.log.error("audit wake-up not enqueued", {
        message: (error as Error).message,
      });
    });
  }

  /** Called by the handler before it reads pending records. */
  started(scope: AuditScope): void {
    this.#outstanding.delete(scopeName(scope));
  }
}

/** Handles `audit.seal`: drains every pending record of the scope. */
export async function handleAuditSeal(
  kv: Deno.Kv,
  message: Extract<Message, { type: "audit.seal" }>,
  waker?: AuditWaker,
): Promise<number> {
  waker?.started(message.scope);
  let total = 0;
  for (;;) {
    const written = await sealPending(kv, message.scope);
    total += written;
    if (written === 0) return total;
  }
}

/** Drains every scope once: at start-up and periodically. */
export async function sweepAudit(kv: Deno.Kv): Promise<number> {
  let total = await handleAuditSeal(kv, {
    type: "audit.seal",
    scope: "system",
  });
  for await (const entry of kv.list<Lab>({ prefix: keys.labs() })) {
    total += await handleAuditSeal(kv, {
      type: "audit.seal",
      scope: { lab: entry.value.id },
    });
  }
  return total;
}
