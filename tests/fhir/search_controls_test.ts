// deno-lint-ignore-file no-explicit-any
import assert from "node:assert/strict";
import { LhcmsError } from "../../domain/errors.ts";
import { parseControls, subsetElements } from "../../fhir/search_controls.ts";
import { comparePositions, sortPosition } from "../../fhir/search_sort.ts";
import type { Resource } from "../../fhir/types.ts";

const controls = (type: string, query: string) =>
  parseControls(type, new URLSearchParams(query));

function refused(type: string, query: string, expression: string) {
  assert.throws(() => controls(type, query), (e: unknown) => {
    assert.ok(e instanceof LhcmsError);
    assert.equal(e.problems[0].expression, expression);
    return true;
  });
}

Deno.test("[search] parseControls reads _sort, _summary, _total and _elements", async (t) => {
  await t.step("_sort keys in order, - for descending", () => {
    const { sort } = controls("Task", "_sort=-modified,status&_sort=period");
    assert.deepEqual(
      sort.map((k) => [k.def.name, k.descending]),
      [["modified", true], ["status", false], ["period", false]],
    );
  });
  await t.step("_sort refuses PHI, references and too many keys", () => {
    refused("Patient", "_sort=birthdate", "_sort");
    refused("ServiceRequest", "_sort=patient", "_sort");
    refused("ServiceRequest", "_sort=-", "_sort");
    refused("Task", `_sort=${Array(6).fill("status").join(",")}`, "_sort");
  });
  await t.step("_summary=count and _total=accurate", () => {
    const c = controls("Task", "_summary=count&_total=accurate");
    assert.equal(c.countOnly, true);
    assert.equal(c.accurateTotal, true);
    assert.equal(controls("Task", "_total=none").accurateTotal, false);
    refused("Task", "_summary=text", "_summary");
    refused("Task", "_total=all", "_total");
  });
  await t.step("_elements takes top-level names", () => {
    assert.deepEqual(controls("Task", "_elements=status, code").elements, [
      "status",
      "code",
    ]);
    assert.equal(controls("Task", "").elements, undefined);
    refused("Task", "_elements=Task.status", "_elements");
    refused("Task", "_elements=__proto__", "_elements");
  });
});

Deno.test("[search] subsetElements keeps the named elements and tags the rest away", () => {
  const task = {
    resourceType: "Task",
    id: "t1",
    meta: { versionId: "2", tag: [{ system: "urn:x", code: "y" }] },
    status: "ready",
    intent: "order",
    note: [{ text: "secret" }],
  } as Resource;
  const subset = subsetElements(task, ["status", "missing"]) as any;
  assert.deepEqual(Object.keys(subset).sort(), [
    "id",
    "meta",
    "resourceType",
    "status",
  ]);
  assert.equal(subset.meta.versionId, "2");
  assert.deepEqual(subset.meta.tag.map((t: any) => t.code), ["y", "SUBSETTED"]);
  assert.equal((task as any).note[0].text, "secret", "the original is kept");
  const twice = subsetElements(subset, ["status"]) as any;
  assert.equal(twice.meta.tag.length, 2);
});

Deno.test("[search] sortPosition takes the lowest value going up, the highest going down", () => {
  const keys = (q: string) => controls("ServiceRequest", q).sort;
  const sr = (id: string, status: string, occurrence?: object) =>
    ({ resourceType: "ServiceRequest", id, status, ...occurrence }) as Resource;
  const a = sr("a", "active", {
    occurrencePeriod: { start: "2026-01-01", end: "2026-12-31" },
  });
  const b = sr("b", "draft", { occurrenceDateTime: "2026-06-01" });
  const c = sr("c", "active");
  const order = (q: string, ...rs: Resource[]) =>
    rs.map((r) => ({ r, at: sortPosition(r, keys(q)) }))
      .sort((x, y) => comparePositions(x.at, y.at, keys(q)))
      .map(({ r }) => r.id);
  assert.deepEqual(order("_sort=occurrence", c, b, a), ["a", "b", "c"]);
  assert.deepEqual(order("_sort=-occurrence", c, b, a), ["a", "b", "c"]);
  assert.deepEqual(order("_sort=status,-occurrence", b, c, a), [
    "a",
    "c",
    "b",
  ]);
  assert.deepEqual(order("_sort=-status", a, b, c), ["b", "a", "c"]);
});
