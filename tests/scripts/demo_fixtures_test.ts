import assert from "node:assert/strict";
import { FIXTURES } from "../helpers.ts";

const SHIPPED = new URL("../../scripts/demo_fixtures/", import.meta.url);

Deno.test("[demo] the shipped examples are unchanged copies of the HL7 fixtures", async () => {
  let compared = 0;
  for await (const file of Deno.readDir(SHIPPED)) {
    if (!file.name.endsWith(".json")) continue;
    const shipped = await Deno.readFile(new URL(file.name, SHIPPED));
    const shared = await Deno.readFile(new URL(file.name, FIXTURES));
    assert.deepEqual(shipped, shared, file.name);
    compared++;
  }
  assert.equal(compared, 3);
});
