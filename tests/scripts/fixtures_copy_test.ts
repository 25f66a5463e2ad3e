import assert from "node:assert/strict";
import { FIXTURES } from "../helpers.ts";

const SHARED = new URL(
  "../../../shared/fixtures/fhir-r4-examples/",
  import.meta.url,
);
const sharedPresent = await Deno.stat(SHARED).then(() => true, () => false);

async function jsonFiles(dir: URL): Promise<string[]> {
  const names: string[] = [];
  for await (const file of Deno.readDir(dir)) {
    if (file.name.endsWith(".json")) names.push(file.name);
  }
  return names.sort();
}

// Only where the shared folder sits beside the checkout (not on a bare CI
// clone); elsewhere Deno reports the test as ignored, not passed.
Deno.test({
  name: "[fixtures] the copied HL7 examples match the shared fixtures",
  ignore: !sharedPresent,
  fn: async () => {
    const names = await jsonFiles(SHARED);
    assert.deepEqual(await jsonFiles(FIXTURES), names);
    assert.ok(names.length >= 20);
    for (const name of names) {
      assert.deepEqual(
        await Deno.readFile(new URL(name, FIXTURES)),
        await Deno.readFile(new URL(name, SHARED)),
        name,
      );
    }
  },
});
