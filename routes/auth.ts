/** `/auth`: sign-in and sign-out for people, returning bearer tokens. */
import { Hono } from "hono";
import { auditRecord, commitAudit } from "../domain/audit.ts";
import { type User } from "../domain/directory.ts";
import { fail } from "../domain/errors.ts";
import { keys } from "../domain/kv_keys.ts";
import { burnVerification, verifyPassword } from "../domain/passwords.ts";
import { createSession, endSession } from "../domain/sessions.ts";
import { ACCESS_TOKEN_SECONDS } from "../domain/tokens.ts";
import type { AppDeps, AppEnv } from "./env.ts";
import { authenticate, network } from "./middleware.ts";

/** The `/auth` router. */
export function authRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();

  app.post("/login", async (c) => {
    const body = await c.req.json().catch(() => null);
    const username = typeof body?.username === "string" ? body.username : "";
    const password = typeof body?.password === "string" ? body.password : "";
    const { user, account } = await checkCredentials(deps, username, password);

    const now = deps.clock();
    await commitAudit(
      deps.kv,
      auditRecord({
        subtype: user ? "login" : "login-failed",
        action: "E",
        outcome: user ? "0" : "4",
        outcomeCode: user ? undefined : "invalid_credentials",
        // An unknown name may be a password typed in the wrong field: not recorded.
        agent: { who: account ?? "unknown-user", role: user?.role },
        network: network(c),
      }, now),
    );
    deps.auditWake("system");
    if (!user) throw fail.unauthenticated("Username or password is incorrect");

    const session = await createSession(
      deps.kv,
      user.username,
      now.getTime(),
      deps.sessionLimits,
    );
    const token = await deps.tokens.issue(user.username, session.id, now);
    return c.json({
      access_token: token,
      token_type: "Bearer",
      expires_in: ACCESS_TOKEN_SECONDS,
    });
  });

  // A new token for the same session: activity keeps a session alive up to
  // its absolute limit, while each token still lives 15 minutes.
  app.post("/refresh", authenticate(deps), async (c) => {
    const { user, session } = c.var.caller;
    const token = await deps.tokens.issue(
      user.username,
      session.id,
      deps.clock(),
    );
    return c.json({
      access_token: token,
      token_type: "Bearer",
      expires_in: ACCESS_TOKEN_SECONDS,
    });
  });

  app.post("/logout", authenticate(deps), async (c) => {
    const { user, session } = c.var.caller;
    await endSession(deps.kv, session);
    await commitAudit(
      deps.kv,
      auditRecord({
        subtype: "logout",
        action: "E",
        outcome: "0",
        agent: { who: user.username, role: user.role },
        network: network(c),
      }, deps.clock()),
    );
    deps.auditWake("system");
    return c.body(null, 204);
  });

  return app;
}

/**
 * `user` when the password is right and the account enabled; `account` when
 * the username exists at all. Every path costs one Argon2id verification,
 * so timing does not tell an unknown user from a wrong password.
 */
async function checkCredentials(
  deps: AppDeps,
  username: string,
  password: string,
): Promise<{ user?: User; account?: string }> {
  if (!username || !password || username.length > 64 || password.length > 256) {
    await burnVerification(password || "x");
    return {};
  }
  const user = (await deps.kv.get<User>(keys.user(username))).value;
  if (!user) {
    await burnVerification(password);
    return {};
  }
  const ok = await verifyPassword(password, user.passwordHash);
  return {
    user: ok && !user.disabled ? user : undefined,
    account: user.username,
  };
}
