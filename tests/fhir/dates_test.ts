import assert from "node:assert/strict";
import {
  dateMatches,
  type DatePrefix,
  type DateRange,
  parseDateRange,
  splitPrefix,
} from "../../fhir/dates.ts";

const utc = (...parts: [number, number, ...number[]]) => Date.UTC(...parts);
const range = (value: string): DateRange => {
  const parsed = parseDateRange(value);
  assert.ok(parsed, `${value} should parse`);
  return parsed;
};

Deno.test("[dates] parseDateRange spans the precision the value is given in", async (t) => {
  await t.step("a year is the whole year", () => {
    assert.deepEqual(range("2026"), {
      start: utc(2026, 0, 1),
      end: utc(2027, 0, 1),
    });
  });
  await t.step("a year-month is the whole month, February included", () => {
    assert.deepEqual(range("2026-02"), {
      start: utc(2026, 1, 1),
      end: utc(2026, 2, 1),
    });
    assert.deepEqual(range("2026-12"), {
      start: utc(2026, 11, 1),
      end: utc(2027, 0, 1),
    });
  });
  await t.step("a date is the whole day", () => {
    assert.deepEqual(range("2024-02-29"), {
      start: utc(2024, 1, 29),
      end: utc(2024, 2, 1),
    });
  });
  await t.step("hours and minutes are the whole minute", () => {
    assert.deepEqual(range("2026-03-01T10:15Z"), {
      start: utc(2026, 2, 1, 10, 15),
      end: utc(2026, 2, 1, 10, 16),
    });
  });
  await t.step("seconds are the whole second", () => {
    assert.deepEqual(range("2026-03-01T10:15:30Z"), {
      start: utc(2026, 2, 1, 10, 15, 30),
      end: utc(2026, 2, 1, 10, 15, 31),
    });
  });
  await t.step("milliseconds are kept", () => {
    const start = utc(2026, 2, 1, 10, 15, 30, 123);
    assert.deepEqual(range("2026-03-01T10:15:30.123Z"), {
      start,
      end: start + 1,
    });
  });
});

Deno.test("[dates] parseDateRange reads time zones and defaults to UTC", async (t) => {
  await t.step("a positive offset is behind UTC", () => {
    assert.equal(
      range("2016-10-31T08:25:05+10:00").start,
      utc(2016, 9, 30, 22, 25, 5),
    );
  });
  await t.step("a negative offset crosses midnight forward", () => {
    assert.deepEqual(range("2016-03-10T22:39:32-04:00"), {
      start: utc(2016, 2, 11, 2, 39, 32),
      end: utc(2016, 2, 11, 2, 39, 33),
    });
  });
  await t.step("Z and no zone both mean UTC", () => {
    assert.deepEqual(
      range("2026-01-01T00:00:00Z"),
      range("2026-01-01T00:00:00"),
    );
    assert.equal(range("2026-01-01T00:00:00Z").start, utc(2026, 0, 1));
  });
  await t.step("an offset of half an hour is honoured", () => {
    assert.equal(
      range("2026-01-01T10:00:00+05:30").start,
      utc(2026, 0, 1, 4, 30),
    );
  });
});

Deno.test("[dates] parseDateRange refuses values that are not FHIR dates", () => {
  const bad = [
    "",
    "26",
    "2026-1",
    "2026-02-30",
    "2026-02-29",
    "2026-04-31",
    "2026-13",
    "2026-00",
    "2026-00-10",
    "2026-01-00",
    "2026-01-32",
    "2026-01-01T24:00Z",
    "2026-01-01T10:60Z",
    "2026-01-01T10:00:61Z",
    "2026-01-01T10:00:00+25:00",
    "2026-01-01Z",
    "2026-01-01 10:00",
    "yesterday",
  ];
  const accepted = bad.filter((value) => parseDateRange(value) !== undefined);
  assert.deepEqual(accepted, []);
});

Deno.test("[dates] splitPrefix separates a known prefix and defaults to eq", () => {
  assert.deepEqual(splitPrefix("ge2026-01"), {
    prefix: "ge",
    value: "2026-01",
  });
  assert.deepEqual(splitPrefix("sa2026"), { prefix: "sa", value: "2026" });
  assert.deepEqual(splitPrefix("2026-01-01"), {
    prefix: "eq",
    value: "2026-01-01",
  });
  assert.deepEqual(splitPrefix("xx2026"), { prefix: "eq", value: "xx2026" });
});

Deno.test("[dates] dateMatches follows the FHIR prefix rules for every prefix", async (t) => {
  // The search value is March 2026; each stored value sits somewhere around it.
  const march = range("2026-03");
  const stored: Record<string, DateRange> = {
    february: range("2026-02-15"),
    lastDayOfFebruary: range("2026-02-28"),
    midMarch: range("2026-03-15"),
    firstOfApril: range("2026-04-01"),
    spanningStart: { start: utc(2026, 1, 20), end: utc(2026, 2, 5) },
    spanningEnd: { start: utc(2026, 2, 25), end: utc(2026, 3, 5) },
    wholeYear: range("2026"),
  };
  const expected: Record<DatePrefix, string[]> = {
    eq: ["midMarch"],
    ne: [
      "february",
      "lastDayOfFebruary",
      "firstOfApril",
      "spanningStart",
      "spanningEnd",
      "wholeYear",
    ],
    gt: ["firstOfApril", "spanningEnd", "wholeYear"],
    lt: ["february", "lastDayOfFebruary", "spanningStart", "wholeYear"],
    ge: ["midMarch", "firstOfApril", "spanningEnd", "wholeYear"],
    le: [
      "february",
      "lastDayOfFebruary",
      "midMarch",
      "spanningStart",
      "wholeYear",
    ],
    sa: ["firstOfApril"],
    eb: ["february", "lastDayOfFebruary"],
    ap: ["midMarch", "spanningStart", "spanningEnd", "wholeYear"],
  };
  for (const [prefix, names] of Object.entries(expected)) {
    await t.step(`${prefix} March 2026`, () => {
      const matched = Object.keys(stored).filter((name) =>
        dateMatches(prefix as DatePrefix, stored[name], march)
      );
      assert.deepEqual(matched, names);
    });
  }
});

Deno.test("[dates] years before 100 are not read as 1900s", () => {
  const range = parseDateRange("0099-03");
  assert.ok(range);
  assert.equal(new Date(range.start).toISOString(), "0099-03-01T00:00:00.000Z");
  assert.equal(new Date(range.end).toISOString(), "0099-04-01T00:00:00.000Z");
});
