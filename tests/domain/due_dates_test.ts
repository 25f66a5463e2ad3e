/**
 * Due dates worked out by hand on a paper calendar. Weekdays used below:
 * 2026-03-02 Mon, 03-06 Fri, 03-08 Sun (US clocks go forward), 03-29 Sun
 * (EU clocks go forward), 04-03 Good Friday, 04-06 Easter Monday, 07-04 Sat,
 * 10-25 Sun (EU clocks go back), 11-01 Sun (US clocks go back), 12-23 Wed,
 * 12-25 Fri, 12-31 Thu, 2027-01-01 Fri, 2027-01-04 Mon.
 */
import assert from "node:assert/strict";
import {
  addBusinessDays,
  checkLabCalendar,
  computeDueDates,
  DEFAULT_CALENDAR,
  type DueDateRequest,
  isBusinessDay,
  type LabCalendar,
  labDateOf,
  subtractBusinessDays,
} from "../../domain/due_dates.ts";
import { LhcmsError } from "../../domain/errors.ts";

const calendar = (fields: Partial<LabCalendar>) => checkLabCalendar(fields);
const MONDAY = "2026-03-02T09:00:00Z"; // before the 14:00 UTC cut-off

/** Dates of a one-item case of 5 business days, unless `more` says else. */
function run(receivedAt: string, more: Partial<DueDateRequest> = {}) {
  return computeDueDates({
    calendar: DEFAULT_CALENDAR,
    items: [{ turnaroundDays: 5 }],
    receivedAt: new Date(receivedAt),
    ...more,
  });
}

/** Asserts "countsFrom shipBy due" of a case received at `at`. */
function check(at: string, expected: string, more = {}) {
  const { countsFrom, shipBy, due } = run(at, more);
  assert.equal(`${countsFrom} ${shipBy} ${due}`, expected);
}

/** Asserts an `invalid` LhcmsError whose problems point at `expressions`. */
function assertInvalid(fn: () => unknown, expressions: string[]) {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof LhcmsError);
    assert.equal(error.code, "invalid");
    assert.deepEqual(error.problems.map((p) => p.expression), expressions);
    return true;
  });
}

Deno.test("[due dates] weekends push the start and the count to Monday", async (t) => {
  await t.step("Monday morning counts from Monday", () => {
    // Day 0 is Mon 03-02; five business days: 03, 04, 05, 06, 09.
    check(MONDAY, "2026-03-02 2026-03-09 2026-03-10");
  });
  await t.step("Friday a minute before the cut-off counts from Friday", () => {
    // 09, 10, 11, 12, 13; one transit day over the weekend.
    check("2026-03-06T13:59:00Z", "2026-03-06 2026-03-13 2026-03-16");
  });
  for (
    const [name, at] of [
      ["Friday at the cut-off itself", "2026-03-06T14:00:00Z"],
      ["Friday after the cut-off", "2026-03-06T17:30:00Z"],
      ["Saturday morning", "2026-03-07T08:00:00Z"],
      ["Sunday late evening", "2026-03-08T23:59:00Z"],
    ]
  ) {
    await t.step(`${name} counts from Monday`, () => {
      check(at, "2026-03-09 2026-03-16 2026-03-17");
    });
  }
  await t.step("transit days skip the weekend", () => {
    const items = [{ turnaroundDays: 1 }];
    check("2026-03-05T09:00:00Z", "2026-03-05 2026-03-06 2026-03-09", {
      items,
    });
  });
  await t.step("a six-day lab starts a late Friday case on Saturday", () => {
    // Sat 07, then 09, 10, 11, 12, 13; transit to Sat 03-14.
    const workingDays = ["mon", "tue", "wed", "thu", "fri", "sat"] as const;
    check("2026-03-06T15:00:00Z", "2026-03-07 2026-03-13 2026-03-14", {
      calendar: calendar({ workingDays: [...workingDays] }),
    });
  });
});

Deno.test("[due dates] holidays are skipped like weekends", async (t) => {
  const easter = calendar({ holidays: ["2026-04-03", "2026-04-06"] });
  const two = [{ turnaroundDays: 2 }];
  await t.step("one holiday in the production days", () => {
    // Wed 03-04 closed: 03, 05, 06, 09, 10.
    check(MONDAY, "2026-03-02 2026-03-10 2026-03-11", {
      calendar: calendar({ holidays: ["2026-03-04"] }),
    });
  });
  await t.step("two holidays around a weekend", () => {
    // Thu 04-02: Good Friday, weekend, Easter Monday closed; then 07, 08.
    check("2026-04-02T10:00:00Z", "2026-04-02 2026-04-08 2026-04-09", {
      calendar: easter,
      items: two,
    });
  });
  await t.step(
    "a case received on a holiday counts from the next open day",
    () => {
      check("2026-04-03T09:00:00Z", "2026-04-07 2026-04-09 2026-04-10", {
        calendar: easter,
        items: two,
      });
    },
  );
  await t.step("holidays in transit delay the due date", () => {
    // Ships Thu 04-02; the parcel travels on no holiday: due Tue 04-07.
    check("2026-04-01T09:00:00Z", "2026-04-01 2026-04-02 2026-04-07", {
      calendar: easter,
      items: [{ turnaroundDays: 1 }],
    });
  });
});

Deno.test("[due dates] a holiday on a weekend counts only on its observed day", () => {
  // Thu 07-02, 2 days. Sat 07-04 listed changes nothing; Fri 07-03 listed
  // (the day observed) moves the count to Mon 06 and Tue 07.
  const at = "2026-07-02T09:00:00Z";
  const items = [{ turnaroundDays: 2 }];
  check(at, "2026-07-02 2026-07-06 2026-07-07", { items });
  check(at, "2026-07-02 2026-07-06 2026-07-07", {
    calendar: calendar({ holidays: ["2026-07-04"] }),
    items,
  });
  check(at, "2026-07-02 2026-07-07 2026-07-08", {
    calendar: calendar({ holidays: ["2026-07-03"] }),
    items,
  });
});

Deno.test("[due dates] year end rolls into the new year", async (t) => {
  await t.step("closed over Christmas and New Year", () => {
    // After the cut-off on Wed 12-23; 24, 25 closed, weekend: day 0 is Mon
    // 12-28. Three days: 29, 30, (31, 01 closed, weekend) 2027-01-04.
    check("2026-12-23T15:00:00Z", "2026-12-28 2027-01-04 2027-01-05", {
      calendar: calendar({
        holidays: ["2026-12-24", "2026-12-25", "2026-12-31", "2027-01-01"],
      }),
      items: [{ turnaroundDays: 3 }],
    });
  });
  await t.step("without holidays the year changes mid-count", () => {
    check("2026-12-30T09:00:00Z", "2026-12-30 2027-01-01 2027-01-04", {
      items: [{ turnaroundDays: 2 }],
    });
  });
});

Deno.test("[due dates] New York's cut-off is read in local time across DST", async (t) => {
  const one = [{ turnaroundDays: 1 }];
  const ny = {
    calendar: calendar({ timeZone: "America/New_York" }),
    items: one,
  };
  // Each pair arrives at the same UTC time of day on both sides of a clock
  // change, and the local time falls on the other side of 14:00 after it:
  // a fixed offset gets one of each pair wrong.
  await t.step("New York, Friday before the March change", () => {
    // 18:30Z is 13:30 EST, before the cut-off: day 0 is Friday.
    check("2026-03-06T18:30:00Z", "2026-03-06 2026-03-09 2026-03-10", ny);
  });
  await t.step("New York, Monday after the March change", () => {
    // 18:30Z is 14:30 EDT, after it: day 0 is Tuesday.
    check("2026-03-09T18:30:00Z", "2026-03-10 2026-03-11 2026-03-12", ny);
  });
  await t.step("New York, Thursday before the November change", () => {
    // 18:30Z is 14:30 EDT: day 0 is Friday 10-30.
    check("2026-10-29T18:30:00Z", "2026-10-30 2026-11-02 2026-11-03", ny);
  });
  await t.step("New York, Monday after the November change", () => {
    // 18:30Z is 13:30 EST: day 0 is Monday itself.
    check("2026-11-02T18:30:00Z", "2026-11-02 2026-11-03 2026-11-04", ny);
  });
  await t.step("counting over the change weekend loses no day", () => {
    // 13:00 EST Friday; 5 days: 09 (first EDT day), 10, 11, 12, 13.
    check("2026-03-06T18:00:00Z", "2026-03-06 2026-03-13 2026-03-16", {
      calendar: ny.calendar,
    });
  });
});

Deno.test("[due dates] Berlin's cut-off moves with its clocks too", async (t) => {
  const berlin = {
    calendar: calendar({ timeZone: "Europe/Berlin" }),
    items: [{ turnaroundDays: 1 }],
  };
  // The same pairs as in New York, around the EU changes.
  await t.step("Berlin, Friday before the March change", () => {
    // 12:30Z is 13:30 CET: day 0 is Friday.
    check("2026-03-27T12:30:00Z", "2026-03-27 2026-03-30 2026-03-31", berlin);
  });
  await t.step("Berlin, Monday after the March change", () => {
    // 12:30Z is 14:30 CEST: day 0 is Tuesday.
    check("2026-03-30T12:30:00Z", "2026-03-31 2026-04-01 2026-04-02", berlin);
  });
  await t.step("Berlin, Friday before the October change", () => {
    // 12:30Z is 14:30 CEST: day 0 is the next Monday.
    check("2026-10-23T12:30:00Z", "2026-10-26 2026-10-27 2026-10-28", berlin);
  });
  await t.step("Berlin, Monday after the October change", () => {
    // 12:30Z is 13:30 CET: day 0 is Monday itself.
    check("2026-10-26T12:30:00Z", "2026-10-26 2026-10-27 2026-10-28", berlin);
  });
});

Deno.test("[due dates] the local date counts, not the UTC date", () => {
  // 12:00Z Monday is 01:00 Tuesday in Auckland (NZDT, UTC+13); in UTC the
  // case would count from Monday.
  const auckland = calendar({ timeZone: "Pacific/Auckland" });
  const at = "2026-03-02T12:00:00Z";
  assert.equal(labDateOf(auckland, new Date(at)), "2026-03-03");
  check(at, "2026-03-03 2026-03-04 2026-03-05", {
    calendar: auckland,
    items: [{ turnaroundDays: 1 }],
  });
});

Deno.test("[due dates] the slowest item sets the pace and rush shortens it", async (t) => {
  await t.step("the longest turnaround wins, in any order", () => {
    // 8 days from Mon 03-02: 03, 04, 05, 06, 09, 10, 11, 12.
    const items = [3, 8, 5].map((turnaroundDays) => ({ turnaroundDays }));
    const expected = "2026-03-02 2026-03-12 2026-03-13";
    check(MONDAY, expected, { items });
    check(MONDAY, expected, { items: [...items].reverse() });
  });
  await t.step("rush uses the rush turnaround", () => {
    const items = [{ turnaroundDays: 7, rushDays: 3 }];
    check(MONDAY, "2026-03-02 2026-03-11 2026-03-12", { items });
    check(MONDAY, "2026-03-02 2026-03-05 2026-03-06", { items, rush: true });
  });
  await t.step("a product without a rush time keeps its standard one", () => {
    // Rush: max(2, 4) = 4 days; without rush: max(5, 4) = 5 days.
    const items = [{ turnaroundDays: 5, rushDays: 2 }, { turnaroundDays: 4 }];
    check(MONDAY, "2026-03-02 2026-03-06 2026-03-09", { items, rush: true });
    check(MONDAY, "2026-03-02 2026-03-09 2026-03-10", { items });
  });
});

Deno.test("[due dates] transit days are business days after ship-by", () => {
  // Ships Mon 03-09 every time; five transit days cross a weekend.
  check(MONDAY, "2026-03-02 2026-03-09 2026-03-09", { transitDays: 0 });
  check(MONDAY, "2026-03-02 2026-03-09 2026-03-12", { transitDays: 3 });
  check(MONDAY, "2026-03-02 2026-03-09 2026-03-16", { transitDays: 5 });
});

Deno.test("[due dates] a later requested due date is kept and ship-by counts back", async (t) => {
  // Earliest: ships Mon 03-09, due Tue 03-10.
  const expectAccepted = (asked: string, shipBy: string, more = {}) => {
    const result = run(MONDAY, { requestedDue: asked, ...more });
    assert.equal(`${result.shipBy} ${result.due}`, `${shipBy} ${asked}`);
    assert.deepEqual([result.warnings, result.problems], [[], []]);
  };
  await t.step("a Friday", () => expectAccepted("2026-03-20", "2026-03-19"));
  await t.step("a Monday, back over the weekend", () => {
    expectAccepted("2026-03-23", "2026-03-20");
  });
  await t.step("exactly the earliest", () => {
    expectAccepted("2026-03-10", "2026-03-09");
  });
  await t.step("a Saturday", () => {
    // It must arrive by Sat: last delivery Fri 03-20, so it ships Thu 03-19.
    expectAccepted("2026-03-21", "2026-03-19");
  });
  await t.step("two transit days", () => {
    expectAccepted("2026-03-24", "2026-03-20", { transitDays: 2 });
  });
  await t.step("a holiday before it", () => {
    // Thu 03-19 closed: ships Wed 03-18 to arrive Fri 03-20.
    const closed = calendar({ holidays: ["2026-03-19"] });
    expectAccepted("2026-03-20", "2026-03-18", { calendar: closed });
  });
  await t.step("rush makes an earlier date possible", () => {
    // Rush 2 days: earliest ships Wed 03-04, due Thu 03-05.
    const items = [{ turnaroundDays: 5, rushDays: 2 }];
    expectAccepted("2026-03-06", "2026-03-05", { items, rush: true });
  });
});

Deno.test("[due dates] an earlier requested due date warns or is refused", async (t) => {
  const issue = {
    message: "The requested due date 2026-03-09 is earlier than the " +
      "earliest possible due date 2026-03-10",
    expression: "ServiceRequest.occurrenceDateTime",
  };
  await t.step("warn keeps the date, says so and ships in time for it", () => {
    for (const tooLate of ["warn", undefined] as const) {
      const result = run(MONDAY, { requestedDue: "2026-03-09", tooLate });
      // Due Mon 03-09 needs shipping Fri 03-06, inside the 5 days.
      assert.equal(`${result.shipBy} ${result.due}`, "2026-03-06 2026-03-09");
      assert.equal(result.earliestShipBy, "2026-03-09");
      assert.equal(result.earliestDue, "2026-03-10");
      assert.deepEqual(result.warnings, [{
        severity: "warning",
        code: "business-rule",
        message: `${issue.message}; accepted without a promise to meet it`,
        expression: issue.expression,
      }]);
      assert.deepEqual(result.problems, []);
    }
  });
  await t.step("warn never plans to ship before the case counts", () => {
    // Sun 03-01 would ship Thu 02-26, before day 0 (Mon 03-02).
    check(MONDAY, "2026-03-02 2026-03-02 2026-03-01", {
      requestedDue: "2026-03-01",
    });
  });
  await t.step("refuse returns the problem and the earliest dates", () => {
    const result = run(MONDAY, {
      requestedDue: "2026-03-09",
      tooLate: "refuse",
    });
    assert.equal(`${result.shipBy} ${result.due}`, "2026-03-09 2026-03-10");
    assert.deepEqual(result.problems, [issue]);
    assert.deepEqual(result.warnings, []);
  });
});

Deno.test("[due dates] business-day arithmetic", async (t) => {
  const yearEnd = calendar({ holidays: ["2026-12-31", "2027-01-01"] });
  const add = (date: string, n: number, cal = DEFAULT_CALENDAR) =>
    addBusinessDays(cal, date, n);
  const subtract = (date: string, n: number, cal = DEFAULT_CALENDAR) =>
    subtractBusinessDays(cal, date, n);
  await t.step("isBusinessDay", () => {
    assert.equal(isBusinessDay(DEFAULT_CALENDAR, "2026-03-06"), true);
    assert.equal(isBusinessDay(DEFAULT_CALENDAR, "2026-03-07"), false);
    assert.equal(isBusinessDay(yearEnd, "2026-12-31"), false);
    assert.equal(isBusinessDay(yearEnd, "2026-12-30"), true);
  });
  await t.step("addBusinessDays", () => {
    assert.equal(add("2026-03-06", 1), "2026-03-09");
    assert.equal(add("2026-03-07", 1), "2026-03-09");
    assert.equal(add("2026-03-07", 0), "2026-03-07");
    assert.equal(add("2026-12-30", 1, yearEnd), "2027-01-04");
    // 2028 is a leap year: Mon 02-28, Tue 02-29, Wed 03-01.
    assert.equal(add("2028-02-28", 2), "2028-03-01");
  });
  await t.step("subtractBusinessDays", () => {
    assert.equal(subtract("2026-03-09", 1), "2026-03-06");
    assert.equal(subtract("2026-03-08", 1), "2026-03-06");
    // Mon 01-04 back: 01 and 31 closed, then 30, 29, 28.
    assert.equal(subtract("2027-01-04", 3, yearEnd), "2026-12-28");
  });
  await t.step("refuse bad dates and counts", () => {
    assertInvalid(() => add("2026-02-30", 1), ["date"]);
    assertInvalid(() => add("2026-03-06", -1), ["n"]);
    assertInvalid(() => subtract("2026-03-06", 1.5), ["n"]);
  });
});

Deno.test("[due dates] the lab calendar validator", async (t) => {
  await t.step("missing fields take the defaults", () => {
    assert.deepEqual(checkLabCalendar({}), {
      workingDays: ["mon", "tue", "wed", "thu", "fri"],
      holidays: [],
      timeZone: "UTC",
      cutoff: "14:00",
    });
    assert.equal(checkLabCalendar({ cutoff: "12:30" }).cutoff, "12:30");
  });
  const refused: [string, unknown, string[]][] = [
    ["not an object", null, []],
    ["an array", [], []],
    ["an unknown time zone", { timeZone: "Mars/Olympus" }, ["timeZone"]],
    ["an offset instead of a zone", { timeZone: "+01:00" }, ["timeZone"]],
    ["malformed holidays", {
      holidays: ["2026-12-25", "2026-02-30", "2026-3-1", 20260301],
    }, ["holidays[1]", "holidays[2]", "holidays[3]"]],
    ["holidays not a list", { holidays: "2026-12-25" }, ["holidays"]],
    ["no working days", { workingDays: [] }, ["workingDays"]],
    ["a bad or repeated weekday", {
      workingDays: ["mon", "monday", "mon"],
    }, ["workingDays[1]", "workingDays[2]"]],
    ["a cut-off out of range", { cutoff: "24:00" }, ["cutoff"]],
    ["a cut-off in words", { cutoff: "2pm" }, ["cutoff"]],
    ["a misspelt field", { holiday: ["2026-12-25"] }, ["holiday"]],
    ["every problem at once", { timeZone: "Nowhere", cutoff: "9:00" }, [
      "timeZone",
      "cutoff",
    ]],
  ];
  for (const [name, input, expressions] of refused) {
    await t.step(`refuses ${name}`, () => {
      assertInvalid(() => checkLabCalendar(input), expressions);
    });
  }
  await t.step("computeDueDates refuses a bad calendar too", () => {
    const bad = { ...DEFAULT_CALENDAR, timeZone: "Mars/Olympus" };
    assertInvalid(() => run(MONDAY, { calendar: bad }), ["timeZone"]);
  });
});

Deno.test("[due dates] computeDueDates refuses bad inputs, listing each", async (t) => {
  const refused: [string, Partial<DueDateRequest>, string[]][] = [
    ["no items", { items: [] }, ["items"]],
    ["negative or fractional days", {
      items: [{ turnaroundDays: -1 }, { turnaroundDays: 2.5 }],
    }, ["items[0]", "items[1]"]],
    ["a rush time longer than the standard", {
      items: [{ turnaroundDays: 3, rushDays: 4 }],
    }, ["items[0]"]],
    ["negative transit days", { transitDays: -1 }, ["transitDays"]],
    ["a malformed requested date", { requestedDue: "03/09/2026" }, [
      "requestedDue",
    ]],
    ["an unknown policy", { tooLate: "ignore" as "warn" }, ["tooLate"]],
    ["an invalid instant", { receivedAt: new Date("nope") }, ["receivedAt"]],
  ];
  for (const [name, more, expressions] of refused) {
    await t.step(`refuses ${name}`, () => {
      assertInvalid(() => run(MONDAY, more), expressions);
    });
  }
});
