/**
 * deno task demo [--smart]   (LHCMS_URL=http://127.0.0.1:8080 LHCMS_DEMO_ADMIN=user:password
 *                      LHCMS_DEMO_ADMIN_TOTP=<the admin's TOTP secret or otpauth URI>)
 *
 * Plays the demo story (scripts/demo_story.ts) against a running LHCMS:
 * a practice system sends a crown to a new lab and follows it until the
 * lab completes it. With --smart the practice system connects with SMART
 * Backend Services (a key pair and client credentials) instead of a
 * dentist's sign-in. Prints one line per step; on failure, one line naming
 * the step, and exit code 1.
 */
import { Authenticator } from "./demo_clients.ts";
import { DemoError, runDemoStory } from "./demo_story.ts";

/**
 * The admin's authenticator, from the secret shown at enrollment: creating
 * users needs a fresh code, even with LHCMS_MFA=optional.
 */
function adminCode(value: string | undefined) {
  if (!value) return undefined;
  const uri = value.startsWith("otpauth://")
    ? value
    : `otpauth://totp/LHCMS:admin?issuer=LHCMS&secret=${
      encodeURIComponent(value.replace(/\s/g, ""))
    }`;
  let app: Authenticator;
  try {
    app = new Authenticator(uri, () => new Date());
  } catch {
    throw new DemoError(
      "reading LHCMS_DEMO_ADMIN_TOTP",
      "set it to the admin's base32 TOTP secret or otpauth:// URI",
    );
  }
  return () => app.code();
}

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
    const admin = {
      ...adminFrom(Deno.env.get("LHCMS_DEMO_ADMIN")),
      code: adminCode(Deno.env.get("LHCMS_DEMO_ADMIN_TOTP")),
    };
    console.log(`LHCMS demo against ${url}`);
    await runDemoStory(url, admin, (line) => console.log(`  ${line}`), {
      smart: Deno.args.includes("--smart"),
    });
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
