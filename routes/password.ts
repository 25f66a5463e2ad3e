/**
 * `POST /auth/password`: a signed-in person changes their own password,
 * proving the current one; every session of theirs ends.
 */
import { Hono } from "hono";
import { checkCredentials, setPassword } from "../domain/credentials.ts";

import { fail } from "../domain/errors.ts";
import type { AppDeps, AppEnv } from "./env.ts";
import { authenticate } from "./middleware.ts";
import { authAudit, signInAttempt } from "./sign_in_gate.ts";

/** The password router, mounted beside `/auth`. */
export function passwordRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();

  // A person changes their own password with the current one; every
  // session ends, this one too, and the next sign-in uses the new one.
  app.post("/password", authenticate(deps), async (c) => {
    const body = await c.req.json().catch(() => null);
    const { user } = c.var.caller;
    const now = deps.clock();
    const audit = authAudit(c, now, user.username, user.role);
    const gate = await signInAttempt(c, deps, user.username, now);
    const current = typeof body?.current_password === "string"
      ? body.current_password
      : "";
    const proved = await checkCredentials(deps.kv, user.username, current);
    if (!proved.user || gate.locked) {
      await gate.fail(audit("password-change-failed", "invalid_credentials"));
      throw fail.forbidden("The current password is wrong");
    }
    await setPassword(
      deps.kv,
      user.username,
      body?.new_password,
      audit("password-change"),
    );
    deps.auditWake("system");
    return c.body(null, 204);
  });

  return app;
}
