/**
 * `/labs/{lab}`: what a lab keeps about itself, its catalog first. Every
 * member of the lab reads it; lab admins (and admins) change it.
 */
import { type Context, Hono } from "hono";
import { auditRecord } from "../domain/audit.ts";
import { getProduct, listProducts, putProduct } from "../domain/catalog.ts";
import { isDirectoryId, mayAccessLab } from "../domain/directory.ts";
import { getLabSettings, putLabSettings } from "../domain/lab_settings.ts";
import { fail } from "../domain/errors.ts";
import { can } from "../domain/roles.ts";
import type { AppDeps, AppEnv } from "./env.ts";
import { authenticate, network } from "./middleware.ts";
import { workTicket } from "./ticket.ts";

/** The `/labs` router. */
export function labRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  app.use("/:lab/*", authenticate(deps), async (c, next) => {
    const lab = c.req.param("lab") ?? "";
    const user = c.var.caller.user;
    const member = isDirectoryId(lab) && await mayAccessLab(deps.kv, user, lab);
    if (!member || user.role === "compliance_officer") {
      throw fail.forbidden("You have no access to this lab");
    }
    await next();
  });

  app.get("/:lab/cases/:caseNumber/ticket", workTicket(deps));
  app.get("/:lab/catalog", async (c) => {
    return c.json(await listProducts(deps.kv, c.req.param("lab")));
  });
  app.get("/:lab/catalog/:code", async (c) => {
    const product = await getProduct(
      deps.kv,
      c.req.param("lab"),
      c.req.param("code"),
    );
    if (!product) throw fail.notFound("No such product in this lab's catalog");
    return c.json(product);
  });
  app.put("/:lab/catalog/:code", async (c) => {
    requireCatalogRole(c);
    const body = await c.req.json().catch(() => undefined);
    if (body?.code !== c.req.param("code")) {
      throw fail.invalid("The code in the body must match the URL");
    }
    const lab = c.req.param("lab");
    const product = await putProduct(
      deps.kv,
      lab,
      body,
      changeAudit(deps, c, lab),
    );
    deps.auditWake({ lab });
    return c.json(product);
  });
  app.get("/:lab/settings", async (c) => {
    return c.json(await getLabSettings(deps.kv, c.req.param("lab")));
  });
  app.put("/:lab/settings", async (c) => {
    requireCatalogRole(c);
    const lab = c.req.param("lab");
    const body = await c.req.json().catch(() => undefined);
    const settings = await putLabSettings(
      deps.kv,
      lab,
      body,
      changeAudit(deps, c, lab),
    );
    deps.auditWake({ lab });
    return c.json(settings);
  });
  return app;
}

function requireCatalogRole(c: Context<AppEnv>) {
  if (!can(c.var.caller.user.role, "catalog:manage")) {
    throw fail.forbidden("Only a lab admin changes the lab's settings");
  }
}

function changeAudit(deps: AppDeps, c: Context<AppEnv>, lab: string) {
  const { user } = c.var.caller;
  return auditRecord({
    subtype: "update",
    action: "U",
    outcome: "0",
    agent: { who: user.username, role: user.role },
    network: network(c),
    lab,
  }, deps.clock());
}
