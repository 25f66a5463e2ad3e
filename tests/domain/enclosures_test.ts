/** The enclosure logs on their own: codes, counts and the balance. */
import assert from "node:assert/strict";
import type { Task } from "@medplum/fhirtypes";
import {
  checkEnclosures,
  ENCLOSURE_QUANTITY_EXTENSION,
  enclosureBalance,
  MAX_ENCLOSURE_QUANTITY,
  recordArrival,
  recordDeparture,
} from "../../domain/enclosures.ts";

const TASK: Task = {
  resourceType: "Task",
  id: "item-1",
  status: "in-progress",
  intent: "order",
};
const messages = (previous: Task | undefined, next: Task) =>
  checkEnclosures(previous, next).map((p) => p.message);

Deno.test("[enclosure] the restoration leaves without arriving; nothing else does", () => {
  const out = recordDeparture(TASK, { code: "restoration" });
  assert.deepEqual(messages(TASK, out), []);
  const arrived = recordArrival(TASK, { code: "restoration" });
  assert.deepEqual(messages(TASK, arrived), [
    "A restoration is logged only as leaving the lab",
  ]);
  assert.deepEqual(messages(TASK, recordDeparture(TASK, { code: "model" })), [
    "Cannot log model leaving: 0 arrived, 1 would have left",
  ]);
});

Deno.test("[enclosure] codes and quantities are checked on new entries", async (t) => {
  await t.step("'other' needs a description", () => {
    const vague = recordArrival(TASK, { code: "other" });
    assert.equal(messages(TASK, vague).length, 1);
    const said = recordArrival(TASK, { code: "other", text: "Night guard" });
    assert.deepEqual(messages(TASK, said), []);
  });
  await t.step("a quantity is a whole number in range", () => {
    for (const bad of [0, 1.5, MAX_ENCLOSURE_QUANTITY + 1]) {
      const next = recordArrival(TASK, { code: "model", quantity: 2 });
      next.input![0].extension = [{
        url: ENCLOSURE_QUANTITY_EXTENSION,
        valuePositiveInt: bad,
      }];
      assert.match(messages(TASK, next)[0], /whole number/, String(bad));
    }
  });
  await t.step("an unknown code is refused", () => {
    const next = recordArrival(TASK, { code: "model" });
    next.input![0].valueCodeableConcept!.coding![0].code = "crate";
    assert.match(messages(TASK, next)[0], /needs one code/);
  });
});

Deno.test("[enclosure] enclosureBalance() counts what came and went", () => {
  let task = recordArrival(TASK, { code: "impression", quantity: 2 });
  task = recordDeparture(task, { code: "impression" });
  task = recordDeparture(task, { code: "restoration" });
  assert.deepEqual(enclosureBalance(task), {
    impression: { in: 2, out: 1 },
    restoration: { in: 0, out: 1 },
  });
});
