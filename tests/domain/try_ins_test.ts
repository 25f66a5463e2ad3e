/** The try-in log on its own: order, values and the completion gate. */
import assert from "node:assert/strict";
import type { Task } from "@medplum/fhirtypes";
import {
  checkTryIns,
  recordTryInReturned,
  recordTryInSent,
  tryInState,
} from "../../domain/try_ins.ts";

const TASK: Task = {
  resourceType: "Task",
  id: "item-1",
  status: "in-progress",
  intent: "order",
};
const messages = (previous: Task | undefined, next: Task) =>
  checkTryIns(previous, next).map((p) => p.message);

Deno.test("[try-in] a Task does not complete while a try-in is out", () => {
  const out = recordTryInSent(TASK, { when: "2026-12-04T10:00:00Z" });
  assert.deepEqual(tryInState(out), { out: true, sent: 1, returned: 0 });
  assert.deepEqual(messages(out, { ...out, status: "completed" }), [
    "Cannot complete a Task while a try-in is at the practice",
  ]);
  const back = recordTryInReturned(out, { note: "Fits" });
  assert.deepEqual(messages(out, { ...back, status: "completed" }), []);
});

Deno.test("[try-in] checkTryIns() judges only new entries", async (t) => {
  await t.step("a new Task may start with a try-in out", () => {
    const out = recordTryInSent(TASK, { when: "2026-12-04" });
    assert.deepEqual(messages(undefined, out), []);
  });
  await t.step("a bad date or both values are refused", () => {
    const bad = recordTryInSent(TASK, { when: "yesterday" });
    assert.deepEqual(messages(TASK, bad), [
      "valueDateTime is not a valid dateTime",
    ]);
    const both = recordTryInSent(TASK, { when: "2026-12-04" });
    both.output![0].valueString = "and a note";
    assert.deepEqual(messages(TASK, both), [
      "A try-in entry needs valueDateTime or valueString",
    ]);
  });
  await t.step("a stored entry is not judged again, only kept", () => {
    const stored = recordTryInSent(TASK, { when: "2026-12-04" });
    const next = recordTryInReturned(stored, { when: "2026-12-05" });
    assert.deepEqual(messages(stored, next), []);
    const removed = { ...next, output: next.output!.slice(1) };
    assert.match(messages(stored, removed)[0], /Cannot change or remove/);
  });
});
