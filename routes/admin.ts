/** `/admin`: labs, practices and users, for the admin role. */
import { type Context, Hono } from "hono";
import { type AuditRecord, auditRecord, searchAudit } from "../domain/audit.ts";
import {
  createLab,
  createPractice,
  createUser,
  isUsername,
  type Lab,
  listAll,
  type Practice,
  publicUser,
  setUserDisabled,
  type User,
} from "../domain/directory.ts";
import { fail } from "../domain/errors.ts";
import { keys } from "../domain/kv_keys.ts";
import { can } from "../domain/roles.ts";
import type { AppDeps, AppEnv } from "./env.ts";
import { authenticate, network } from "./middleware.ts";

/** The `/admin` router. */
export function adminRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  app.use("*", authenticate(deps), async (c, next) => {
    if (!can(c.var.caller.user.role, "admin:manage")) {
      throw fail.forbidden("Administration needs the admin role");
    }
    await next();
  });

  app.post("/labs", async (c) => {
    const now = deps.clock();
    const lab = await createLab(
      deps.kv,
      deps.keyRing,
      await jsonBody(c),
      now,
      adminAudit(c, now),
    );
    deps.auditWake("system");
    return c.json(lab, 201);
  });
  app.get(
    "/labs",
    async (c) => c.json(await listAll<Lab>(deps.kv, keys.labs())),
  );

  app.post("/practices", async (c) => {
    const now = deps.clock();
    const practice = await createPractice(
      deps.kv,
      await jsonBody(c),
      now,
      adminAudit(c, now),
    );
    deps.auditWake("system");
    return c.json(practice, 201);
  });
  app.get(
    "/practices",
    async (c) => c.json(await listAll<Practice>(deps.kv, keys.practices())),
  );

  app.post("/users", async (c) => {
    const now = deps.clock();
    const user = await createUser(
      deps.kv,
      await jsonBody(c),
      now,
      adminAudit(c, now),
    );
    deps.auditWake("system");
    return c.json(user, 201);
  });
  app.patch("/users/:username", async (c) => {
    const username = c.req.param("username");
    if (!isUsername(username)) throw fail.notFound("No such user");
    const { disabled } = await jsonBody(c);
    if (typeof disabled !== "boolean") {
      throw fail.invalid("disabled must be true or false");
    }
    if (username === c.var.caller.user.username) {
      throw fail.unprocessable("Cannot disable or enable your own account");
    }
    const now = deps.clock();
    const user = await setUserDisabled(
      deps.kv,
      username,
      disabled,
      adminAudit(c, now, "update"),
    );
    deps.auditWake("system");
    return c.json(user);
  });
  app.get("/users", async (c) => {
    const users = await listAll<User>(deps.kv, keys.users());
    return c.json(users.map(publicUser));
  });

  app.get("/audit-events", async (c) => {
    const page = await searchAudit(
      deps.kv,
      "system",
      {},
      100,
      c.req.query("cursor"),
    );
    return c.json(page);
  });

  return app;
}

async function jsonBody(c: Context): Promise<Record<string, unknown>> {
  const body = await c.req.json().catch(() => undefined);
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw fail.invalid("The body must be a JSON object");
  }
  return body;
}

/** The audit record of an administrative change, committed with it. */
function adminAudit(
  c: Context<AppEnv>,
  now: Date,
  subtype: "create" | "update" = "create",
): AuditRecord {
  const { user } = c.var.caller;
  return auditRecord({
    subtype,
    action: subtype === "create" ? "C" : "U",
    outcome: "0",
    agent: { who: user.username, role: user.role },
    network: network(c),
  }, now);
}
