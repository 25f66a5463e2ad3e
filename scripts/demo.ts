/**
 * deno task demo      (LHCMS_URL=http://127.0.0.1:8080 LHCMS_DEMO_ADMIN=user:password)
 *
 * Plays the demo story (scripts/demo_story.ts) against a running LHCMS:
 * a practice system sends a crown to a new lab and follows it until the
 * lab completes it. Prints one line per step; on failure, one line naming
 * the step, and exit code 1.
 */
import { DemoError, runDemoStory } from "./demo_story.ts";

function adminFrom(value: string | undefined) {
  const colon = value?.indexOf(":") ?? -1;
  if (!value || colon < 1) {
    throw new DemoError(
      "reading LHCMS_DEMO_ADMIN",
      "set it to the admin's username:password",
    );
  }
  return { username: value.slice(0, colon), password: value.slice(colon + 1) };
}

if (import.meta.main) {
  const url = Deno.env.get("LHCMS_URL") || "http://127.0.0.1:8080";
  try {
    const admin = adminFrom(Deno.env.get("LHCMS_DEMO_ADMIN"));
    console.log(`LHCMS demo against ${url}`);
    await runDemoStory(url, admin, (line) => console.log(`  ${line}`));
    console.log("Done: the practice sees its crown completed.");
  } catch (error) {
    // Connection refused and the like arrive as TypeErrors from fetch.
    const message = error instanceof DemoError
      ? error.message
      : `${(error as Error).name}: ${(error as Error).message}`;
    console.error(`demo failed: ${message.replace(/\s*\n\s*/g, " ")}`);
    Deno.exit(1);
  }
}
