/** The work authorization rules on their own. */
import assert from "node:assert/strict";
import {
  buildWorkAuthorization,
  checkWorkAuthorization,
  MAX_LICENSE_LENGTH,
  readWorkAuthorization,
} from "../../domain/authorization.ts";

const INPUT = {
  request: "ServiceRequest/sr-1",
  dentist: "Practitioner/dr-1",
  name: "Dr Ada Molar",
  license: { value: "DDS-40213" },
  recorded: "2026-12-03T09:00:00Z",
};
const expressions = (input: Partial<typeof INPUT>) =>
  checkWorkAuthorization(buildWorkAuthorization({ ...INPUT, ...input })).map(
    (p) => p.expression,
  );

Deno.test("[authorization] a built authorization reads back as given", () => {
  const provenance = buildWorkAuthorization(INPUT);
  assert.deepEqual(checkWorkAuthorization(provenance), []);
  assert.equal(readWorkAuthorization(provenance)?.name, "Dr Ada Molar");
  const versioned = { ...INPUT, request: "ServiceRequest/sr-1/_history/2" };
  assert.deepEqual(expressions(versioned), []);
});

Deno.test("[authorization] checkWorkAuthorization() names each problem", async (t) => {
  await t.step("a target on another server, or not a prescription", () => {
    for (const request of ["https://x.example/ServiceRequest/1", "Task/t-1"]) {
      assert.deepEqual(expressions({ request }), ["Provenance.target"]);
    }
  });
  await t.step("recorded without seconds or zone", () => {
    for (const recorded of ["2026-12-03", "2026-12-03T09:00:00"]) {
      assert.deepEqual(expressions({ recorded }), ["Provenance.recorded"]);
    }
  });
  await t.step("no name, an organization, a license too long", () => {
    assert.deepEqual(expressions({ name: " " }), [
      "Provenance.agent[0].who.display",
    ]);
    assert.deepEqual(expressions({ dentist: "Organization/o-1" }), [
      "Provenance.agent[0].who.reference",
    ]);
    const long = { value: "9".repeat(MAX_LICENSE_LENGTH + 1) };
    assert.equal(expressions({ license: long }).length, 1);
  });
  await t.step("any other Provenance is not a work authorization", () => {
    const other = { ...buildWorkAuthorization(INPUT), activity: undefined };
    assert.deepEqual(
      checkWorkAuthorization(other).map((p) => p.expression),
      ["Provenance.activity"],
    );
    assert.equal(readWorkAuthorization(other), undefined);
  });
});
