import assert from "node:assert/strict";
import { LhcmsError } from "../../domain/errors.ts";
import { type Criterion, parseSearch } from "../../fhir/search.ts";
import type { IndexEntry } from "../../fhir/search_params.ts";

// A stand-in for the lab's HMAC: readable, and different per purpose.
const blind = (purpose: string, value: string) =>
  Promise.resolve(`mac(${purpose}:${value})`);

const parse = (type: string, query: string, lenient = false) =>
  parseSearch(type, new URLSearchParams(query), blind, lenient);

const entry = (prefix: Deno.KvKeyPart[], suffix: Deno.KvKeyPart[] = []) =>
  ({ prefix, suffix }) as IndexEntry;

async function only(type: string, query: string): Promise<Criterion> {
  const { criteria } = await parse(type, query);
  assert.equal(criteria.length, 1);
  return criteria[0];
}

async function refusal(type: string, query: string, lenient = false) {
  const error = await parse(type, query, lenient).then(
    () => assert.fail(`${query} should be refused`),
    (e) => e,
  );
  assert.ok(error instanceof LhcmsError);
  assert.equal(error.code, "invalid");
  return error;
}

Deno.test("[search] parseSearch turns tokens into direct lookups", async (t) => {
  await t.step("a bare code looks up the code in any system", async () => {
    const c = await only("ServiceRequest", "status=active");
    assert.deepEqual(c.lookups, [["active"]]);
    assert.ok(c.test(entry(["active"], [""])));
    assert.ok(!c.test(entry(["completed"], [""])));
  });
  await t.step("system|code needs both", async () => {
    const c = await only("ServiceRequest", "code=http://snomed.info/sct|123");
    assert.deepEqual(c.lookups, [["123"]]);
    assert.ok(c.test(entry(["123"], ["http://snomed.info/sct"])));
    assert.ok(!c.test(entry(["123"], ["http://loinc.org"])));
  });
  await t.step("|code matches only codes without a system", async () => {
    const c = await only("ServiceRequest", "code=|123");
    assert.ok(c.test(entry(["123"], [""])));
    assert.ok(!c.test(entry(["123"], ["http://snomed.info/sct"])));
  });
  await t.step(
    "system| matches any code of the system by scanning",
    async () => {
      const c = await only("ServiceRequest", "code=http://loinc.org|");
      assert.equal(c.lookups, null);
      assert.ok(c.test(entry(["1-8"], ["http://loinc.org"])));
      assert.ok(!c.test(entry(["1-8"], ["http://snomed.info/sct"])));
    },
  );
  await t.step("commas OR the values, one lookup each", async () => {
    const c = await only("Task", "status=ready,in-progress");
    assert.deepEqual(c.lookups, [["ready"], ["in-progress"]]);
    assert.ok(c.test(entry(["in-progress"], [""])));
    assert.ok(!c.test(entry(["completed"], [""])));
  });
  await t.step(
    "repeated parameters are ANDed as separate criteria",
    async () => {
      const { criteria } = await parse(
        "Task",
        "status=ready&owner=Practitioner/p1",
      );
      assert.deepEqual(criteria.map((c) => c.def.name), ["status", "owner"]);
    },
  );
});

Deno.test("[search] parseSearch normalises references to their targets", async (t) => {
  await t.step("a plain id of a single-target parameter", async () => {
    const c = await only("ServiceRequest", "patient=p1");
    assert.deepEqual(c.lookups, [["Patient/p1"]]);
  });
  await t.step("an absolute or versioned reference", async () => {
    const c = await only(
      "ServiceRequest",
      "patient=https://pms.example/fhir/Patient/p1/_history/3",
    );
    assert.deepEqual(c.lookups, [["Patient/p1"]]);
  });
  await t.step("a plain id of a many-target parameter scans", async () => {
    const c = await only("Task", "focus=x1");
    assert.equal(c.lookups, null);
    assert.ok(c.test(entry(["ServiceRequest/x1"])));
    assert.ok(c.test(entry(["Task/x1"])));
    assert.ok(!c.test(entry(["ServiceRequest/x2"])));
  });
  await t.step("a type modifier picks one target", async () => {
    const c = await only("Task", "focus:ServiceRequest=x1");
    assert.deepEqual(c.lookups, [["ServiceRequest/x1"]]);
  });
  await t.step("a modifier that is not a target is refused", async () => {
    const error = await refusal("Task", "focus:Device=x1");
    assert.equal(error.problems[0].expression, "focus");
  });
});

Deno.test("[search] parseSearch compares dates by range with prefixes", async (t) => {
  const day = (d: string) => {
    const start = Date.parse(`${d}T00:00:00Z`);
    return entry([], [start, start + 86_400_000]);
  };
  await t.step("ge a month takes the month and later", async () => {
    const c = await only("ServiceRequest", "authored=ge2026-03");
    assert.equal(c.lookups, null);
    assert.ok(c.test(day("2026-03-01")));
    assert.ok(c.test(day("2027-01-01")));
    assert.ok(!c.test(day("2026-02-28")));
  });
  await t.step("eq a month takes only that month", async () => {
    const c = await only("ServiceRequest", "authored=eq2026-03");
    assert.ok(c.test(day("2026-03-31")));
    assert.ok(!c.test(day("2026-04-01")));
  });
  await t.step("lt a date takes only days before it", async () => {
    const c = await only("Task", "_lastUpdated=lt2026-03-02");
    assert.ok(c.test(day("2026-03-01")));
    assert.ok(!c.test(day("2026-03-02")));
  });
  await t.step("an impossible date is refused with its parameter", async () => {
    const error = await refusal("ServiceRequest", "authored=2026-02-30");
    assert.equal(error.problems[0].expression, "authored");
  });
});

Deno.test("[search] parseSearch matches strings by prefix, exactly or inside", async () => {
  const starts = await only("Practitioner", "name=Ad");
  assert.equal(starts.lookups, null);
  assert.ok(starts.test(entry(["adam"])));
  assert.ok(!starts.test(entry(["madam"])));

  const exact = await only("Practitioner", "name:exact=Adam");
  assert.deepEqual(exact.lookups, [["adam"]]);
  assert.ok(!exact.test(entry(["adams"])));

  const inside = await only("Practitioner", "name:contains=dam");
  assert.ok(inside.test(entry(["madam"])));
});

Deno.test("[search] parseSearch looks PHI up by whole value in the blind index", async (t) => {
  await t.step("family folds case and accents before hashing", async () => {
    const c = await only("Patient", "family=Müller");
    assert.deepEqual(c.lookups, [["mac(family:muller)"]]);
  });
  await t.step("identifier with and without a system", async () => {
    const withSystem = await only("Patient", "identifier=urn:oid:1.2|12345");
    assert.deepEqual(withSystem.lookups, [[
      "mac(identifier|system:urn:oid:1.2|12345)",
    ]]);
    const code = await only("Patient", "identifier=12345");
    assert.deepEqual(code.lookups, [["mac(identifier|code:12345)"]]);
  });
  await t.step("birthdate takes a date, a year-month or a year", async () => {
    const hashed: Record<string, string> = {
      "1974-12-25": "1974-12-25",
      "1974-12": "1974-12",
      "1974": "1974",
      "eq1974": "1974",
    };
    for (const [value, date] of Object.entries(hashed)) {
      const c = await only("Patient", `birthdate=${value}`);
      assert.deepEqual(c.lookups, [[`mac(birthdate:${date})`]]);
    }
  });
  await t.step("birthdate refuses ranges and impossible dates", async () => {
    for (const value of ["ge1974", "lt1974-12-25", "1974-02-30", "1974-13"]) {
      const error = await refusal("Patient", `birthdate=${value}`);
      assert.equal(error.problems[0].expression, "birthdate");
    }
  });
  await t.step("a prefix match on a blind string is refused", async () => {
    await refusal("Patient", "family:contains=mul");
  });
  await t.step("the audit query hides PHI and keeps the rest", async () => {
    const q = await parse("Patient", "family=Chalmers&_lastUpdated=ge2026");
    assert.equal(q.auditQuery, "family=[phi]&_lastUpdated=ge2026");
  });
});

Deno.test("[search] parseSearch refuses unknown parameters unless lenient", async (t) => {
  await t.step("strict: every unknown parameter is named", async () => {
    const error = await refusal("Task", "colour=red&status=ready&shape=round");
    assert.deepEqual(error.problems.map((p) => p.expression), [
      "colour",
      "shape",
    ]);
  });
  await t.step("lenient: unknown parameters are ignored", async () => {
    const q = await parse("Task", "colour:exact=red&status=ready", true);
    assert.deepEqual(q.criteria.map((c) => c.def.name), ["status"]);
    assert.deepEqual(q.ignored, ["colour:exact"]);
  });
  await t.step("lenient still refuses a bad value of a known one", async () => {
    await refusal("Task", "modified=soon", true);
  });
  await t.step("an empty value is refused", async () => {
    await refusal("Task", "status=");
  });
});

Deno.test("[search] parseSearch reads _count, _cursor and _id", async (t) => {
  await t.step("_count defaults to 20 and is capped at 100", async () => {
    assert.equal((await parse("Task", "")).count, 20);
    assert.equal((await parse("Task", "_count=7")).count, 7);
    assert.equal((await parse("Task", "_count=5000")).count, 100);
  });
  await t.step("_count must be a whole number", async () => {
    await refusal("Task", "_count=ten");
    await refusal("Task", "_count=-1");
    await refusal("Task", "_count=2.5");
  });
  await t.step("_cursor is passed on untouched", async () => {
    assert.equal((await parse("Task", "_cursor=abc")).cursor, "abc");
  });
  await t.step("_id lists ids and drops invalid ones", async () => {
    const q = await parse("Task", "_id=a1,b_2,c3");
    assert.deepEqual(q.ids, ["a1", "c3"]);
  });
});
