/**
 * `/admin`: labs, practices, their practice systems (SMART clients) and
 * users, for the admin role.
 */
import { type Context, Hono } from "hono";
import {
  addPendingAudit,
  type AuditRecord,
  auditRecord,
  searchAudit,
} from "../domain/audit.ts";
import {
  createLab,
  createPractice,
  createUser,
  isDirectoryId,
  isUsername,
  type Lab,
  listAll,
  type Practice,
  publicUser,
  updateUser,
  type User,
} from "../domain/directory.ts";
import {
  listClients,
  registerClient,
  setClientDisabled,
} from "../domain/clients.ts";
import { fail } from "../domain/errors.ts";
import { STORED_TYPES } from "../fhir/types.ts";
import { keys } from "../domain/kv_keys.ts";
import { resetMfa } from "../domain/mfa.ts";
import { can, isRole } from "../domain/roles.ts";
import { unlockAccount } from "../domain/sign_in_throttle.ts";
import type { AppDeps, AppEnv } from "./env.ts";
import { authenticate, network, requireFreshMfa } from "./middleware.ts";

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

  // Registering a client hands out access to a practice's records: like a
  // role change, it needs a fresh second factor.
  app.post("/practices/:id/clients", requireFreshMfa(deps), async (c) => {
    const now = deps.clock();
    const client = await registerClient(
      deps.kv,
      practiceParam(c),
      await jsonBody(c),
      STORED_TYPES,
      now,
      adminAudit(c, now),
    );
    deps.auditWake("system");
    return c.json(client, 201);
  });
  app.get("/practices/:id/clients", async (c) => {
    const practice = practiceParam(c);
    if ((await deps.kv.get(keys.practice(practice))).value === null) {
      throw fail.notFound(`Practice ${practice} is not known`);
    }
    return c.json(await listClients(deps.kv, practice));
  });
  app.patch(
    "/practices/:id/clients/:client",
    requireFreshMfa(deps),
    async (c) => {
      const { disabled } = await jsonBody(c);
      if (typeof disabled !== "boolean") {
        throw fail.invalid("Send disabled: true or false");
      }
      const now = deps.clock();
      const client = await setClientDisabled(
        deps.kv,
        practiceParam(c),
        c.req.param("client"),
        disabled,
        adminAudit(c, now, "update"),
      );
      deps.auditWake("system");
      return c.json(client);
    },
  );

  // A new account comes with a role: as much a change of who may do what
  // as changing a role.
  app.post("/users", requireFreshMfa(deps), async (c) => {
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
  // Changing who may do what needs a fresh second factor (step-up).
  app.patch("/users/:username", requireFreshMfa(deps), async (c) => {
    const username = c.req.param("username");
    if (!isUsername(username)) throw fail.notFound("No such user");
    const { disabled, role } = await jsonBody(c);
    if (disabled !== undefined && typeof disabled !== "boolean") {
      throw fail.invalid("disabled must be true or false");
    }
    if (role !== undefined && !isRole(role)) {
      throw fail.invalid("role is not a known role");
    }
    if (disabled === undefined && role === undefined) {
      throw fail.invalid("Send disabled, role or both");
    }
    if (username === c.var.caller.user.username) {
      throw fail.unprocessable("Cannot change your own account's access");
    }
    const now = deps.clock();
    const user = await updateUser(
      deps.kv,
      username,
      { disabled, role },
      adminAudit(c, now, "update"),
    );
    deps.auditWake("system");
    return c.json(user);
  });

  // A lost phone: the user enrolls afresh at the next sign-in, and every
  // session of the user ends now.
  app.post("/users/:username/mfa-reset", requireFreshMfa(deps), async (c) => {
    const username = c.req.param("username");
    if (!isUsername(username)) throw fail.notFound("No such user");
    if ((await deps.kv.get(keys.user(username))).value === null) {
      throw fail.notFound(`User ${username} is not known`);
    }
    const now = deps.clock();
    const { user } = c.var.caller;
    const record = auditRecord({
      subtype: "mfa-reset",
      action: "U",
      outcome: "0",
      agent: { who: user.username, role: user.role },
      network: network(c),
      entity: { type: "User", id: username },
    }, now);
    const hadFactor = await resetMfa(
      deps.kv,
      username,
      (op) => addPendingAudit(op, record),
    );
    deps.auditWake("system");
    return c.json({ username, reset: hadFactor, sessions_ended: true });
  });
  // Lifts a sign-in lockout before it expires; no step-up, as it grants
  // nothing the password and code do not.
  app.post("/users/:username/unlock", async (c) => {
    const username = c.req.param("username");
    if (!isUsername(username)) throw fail.notFound("No such user");
    if ((await deps.kv.get(keys.user(username))).value === null) {
      throw fail.notFound(`User ${username} is not known`);
    }
    const record = {
      ...adminAudit(c, deps.clock(), "update"),
      subtype: "unlock",
      entity: { type: "User", id: username },
    };
    const hadFailures = await unlockAccount(
      deps.kv,
      username,
      (op) => addPendingAudit(op, record),
    );
    deps.auditWake("system");
    return c.json({ username, unlocked: hadFailures });
  });
  // Changing keys needs a fresh second factor (step-up).
  app.post("/signing-keys/rotate", requireFreshMfa(deps), async (c) => {
    const now = deps.clock();
    const draft = adminAudit(c, now, "update");
    const rotated = await deps.tokens.rotate(
      now,
      (op, kid) =>
        addPendingAudit(op, {
          ...draft,
          subtype: "rotate-signing-key",
          entity: { type: "SigningKey", id: kid },
        }),
    );
    deps.auditWake("system");
    return c.json(rotated);
  });
  app.get("/users", async (c) => {
    const users = await listAll<User>(deps.kv, keys.users());
    return c.json(users.map(publicUser));
  });

  // Reading the trail page by page is how it is exported.
  app.get("/audit-events", requireFreshMfa(deps), async (c) => {
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

function practiceParam(c: Context): string {
  const id = c.req.param("id") ?? "";
  if (!isDirectoryId(id)) throw fail.notFound("No such practice");
  return id;
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
