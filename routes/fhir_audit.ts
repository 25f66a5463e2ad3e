/**
 * `/fhir/{lab}/AuditEvent`: the lab's audit trail as FHIR AuditEvents, for
 * roles with `audit:read` (admins and compliance officers). Reading the
 * trail is itself audited.
 */
import { type Context, Hono } from "hono";
import {
  type AuditAction,
  type AuditRecord,
  auditRecord,
  commitAudit,
  searchAudit,
} from "../domain/audit.ts";
import { fail } from "../domain/errors.ts";
import { keys } from "../domain/kv_keys.ts";
import { can } from "../domain/roles.ts";
import { toAuditEvent } from "../fhir/audit_event.ts";
import { parseDateRange, splitPrefix } from "../fhir/dates.ts";
import { FHIR_ID } from "../fhir/types.ts";
import type { AppDeps, AppEnv } from "./env.ts";
import { auditDraft, fhirBase, fhirResponse } from "./fhir_support.ts";
import { requireFreshMfa } from "./middleware.ts";

const SOURCE = "LHCMS";

/** The AuditEvent router, mounted under `/fhir/:lab/AuditEvent`. */
export function auditRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  app.use("*", async (c, next) => {
    const lab = c.req.param("lab") as string;
    c.set("interaction", {
      lab,
      subtype: "search-type",
      action: "E",
      entity: { type: "AuditEvent" },
    });
    if (!can(c.var.caller.user.role, "audit:read")) {
      throw fail.forbidden(
        `The ${c.var.caller.user.role} role may not read the audit trail`,
      );
    }
    await next();
  });
  // Searching the trail is how it is exported: it needs a fresh second
  // factor, as key and role changes do.
  app.use("*", requireFreshMfa(deps));

  app.get("/", async (c) => {
    const lab = c.req.param("lab") as string;
    const params = new URL(c.req.url).searchParams;
    const count = Math.min(Number(params.get("_count") ?? 50) || 50, 200);
    const page = await searchAudit(
      deps.kv,
      { lab },
      auditFilter(params),
      count,
      params.get("_cursor") ?? undefined,
    );
    await auditOwnRead(deps, c, lab, "search-type");
    return fhirResponse(
      bundle(fhirBase(deps, c, lab), params, page.records, page.cursor),
    );
  });

  app.get("/:id", async (c) => {
    const lab = c.req.param("lab") as string;
    const id = c.req.param("id");
    const record = FHIR_ID.test(id)
      ? (await deps.kv.get<AuditRecord>(keys.auditEvent({ lab }, id))).value
      : null;
    if (!record) throw fail.notFound(`AuditEvent/${id} is not known`);
    await auditOwnRead(deps, c, lab, "read", id);
    return fhirResponse(toAuditEvent(record, SOURCE));
  });
  return app;
}

function auditFilter(params: URLSearchParams) {
  const filter: Parameters<typeof searchAudit>[2] = {};
  for (const [name, value] of params) {
    if (name === "agent") filter.agent = value.replace(/^.*\|/, "");
    else if (name === "patient") {
      filter.patient = value.replace(/^.*Patient\//, "");
    } else if (name === "action") {
      if (!["C", "R", "U", "D", "E"].includes(value)) {
        throw fail.invalid("action must be C, R, U, D or E");
      }
      filter.action = value as AuditAction;
    } else if (name === "date") {
      const { prefix, value: date } = splitPrefix(value);
      const range = parseDateRange(date);
      if (!range) throw fail.invalid("date is not a valid FHIR date");
      if (prefix === "ge" || prefix === "gt" || prefix === "sa") {
        filter.from = prefix === "ge" ? range.start : range.end;
      } else if (prefix === "le" || prefix === "lt" || prefix === "eb") {
        filter.to = prefix === "le" ? range.end : range.start;
      } else if (prefix === "eq") {
        filter.from = range.start;
        filter.to = range.end;
      } else {throw fail.invalid(
          `date prefix ${prefix} is not supported on AuditEvent`,
        );}
    } else if (!["_count", "_cursor"].includes(name)) {
      throw fail.invalid(`Unknown search parameter ${name}`);
    }
  }
  // Usernames and ids are at most 64 characters; longer is no key to look up.
  for (const value of [filter.agent, filter.patient]) {
    if (value !== undefined && value.length > 64) {
      throw fail.invalid("agent and patient take at most 64 characters");
    }
  }
  return filter;
}

function bundle(
  base: string,
  params: URLSearchParams,
  records: AuditRecord[],
  cursor?: string,
) {
  const link = [{ relation: "self", url: `${base}/AuditEvent?${params}` }];
  if (cursor) {
    const next = new URLSearchParams(params);
    next.set("_cursor", cursor);
    link.push({ relation: "next", url: `${base}/AuditEvent?${next}` });
  }
  return {
    resourceType: "Bundle",
    type: "searchset",
    link,
    entry: records.map((r) => ({
      fullUrl: `${base}/AuditEvent/${r.id}`,
      resource: toAuditEvent(r, SOURCE),
      search: { mode: "match" },
    })),
  };
}

async function auditOwnRead(
  deps: AppDeps,
  c: Context<AppEnv>,
  lab: string,
  subtype: string,
  id?: string,
) {
  await commitAudit(
    deps.kv,
    auditRecord(
      auditDraft(c, lab, subtype, subtype === "read" ? "R" : "E", {
        entity: { type: "AuditEvent", id },
      }),
      deps.clock(),
    ),
  );
  deps.auditWake({ lab });
}
