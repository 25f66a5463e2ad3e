/**
 * Prints the plain line "N passed, N failed" from Deno's JUnit report, for
 * CI. Exits non-zero when the report is missing or lists no test.
 *
 *   deno run --allow-read scripts/test_summary.ts data/test-report.xml
 */
const file = Deno.args[0] ?? "data/test-report.xml";
let xml: string;
try {
  xml = await Deno.readTextFile(file);
} catch {
  console.log("0 passed, 1 failed");
  console.error(`No test report at ${file}`);
  Deno.exit(1);
}

const cases = xml.match(/<testcase\b[\s\S]*?(?:\/>|<\/testcase>)/g) ?? [];
const failed = cases.filter((c) => /<failure\b|<error\b/.test(c)).length;
const skipped = cases.filter((c) => /<skipped\b/.test(c)).length;
const passed = cases.length - failed - skipped;
// CI reads the last line, which must be exactly "N passed, N failed".
if (skipped) console.log(`${skipped} ignored`);
console.log(`${passed} passed, ${failed} failed`);
if (cases.length === 0) Deno.exit(1);
