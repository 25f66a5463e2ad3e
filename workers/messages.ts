/**
 * Queue messages: small, carrying ids and references, never PHI. Every
 * message is enqueued with a retry schedule and a dead-letter key.
 */
import { ulid } from "ulid";
import { type AuditScope, keys } from "../domain/kv_keys.ts";

/** Every message type a worker handles. */
export type Message = { type: "audit.seal"; scope: AuditScope };

// Retries at 1 s, 5 s, 30 s and 2 min: an audit writer that cannot commit
// for longer than that points at a broken store, which the dead letter shows.
const BACKOFF_MS = [1_000, 5_000, 30_000, 120_000];

/** Enqueues a message with retries and a dead-letter key. */
export async function enqueue(kv: Deno.Kv, message: Message, delay = 0) {
  await kv.enqueue(message, {
    delay,
    backoffSchedule: BACKOFF_MS,
    keysIfUndelivered: [keys.deadLetter(ulid())],
  });
}

/** Type guard for messages read from the queue. */
export function isMessage(value: unknown): value is Message {
  return typeof value === "object" && value !== null &&
    typeof (value as { type?: unknown }).type === "string";
}
