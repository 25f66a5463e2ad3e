/**
 * `GET /fhir/{lab}/{type}/_history` and `.../{id}/_history`: versions
 * newest first, with `_since`, `_count` and a `next` link per page
 * (https://hl7.org/fhir/R4/http.html#history).
 */
import type { Context } from "hono";
import { auditRecord, commitAudit } from "../domain/audit.ts";
import { fail } from "../domain/errors.ts";
import {
  type HistoryPage,
  type HistoryQuery,
  instanceHistory,
  typeHistory,
} from "../domain/resource_history.ts";
import { historyBundle } from "../fhir/bundle.ts";
import type { AppDeps, AppEnv } from "./env.ts";
import {
  auditDraft,
  fhirBase,
  fhirResponse,
  patientOf,
  requirePermission,
  visibilityOf,
} from "./fhir_support.ts";
import { begin } from "./fhir_request.ts";

const DEFAULT_COUNT = 100;
const MAX_COUNT = 100;
const PARAMS = new Set(["_since", "_count", "_page", "_format"]);

/** The history of one resource. */
export async function instanceHistoryRoute(deps: AppDeps, c: Context<AppEnv>) {
  const { lab, type, id } = begin(c, "history-instance", "R");
  requirePermission(c.var.caller, type, "read");
  const query = historyQuery(c);
  const visibility = visibilityOf(c.var.caller);
  const page = await instanceHistory(deps, lab, type, id!, visibility, query);

  const latest = page.versions.find((v) => v.resource)?.resource;
  await auditHistory(deps, c, lab, "history-instance", { type, id }, latest);
  return respond(deps, c, lab, `${type}/${id}/_history`, page);
}

/** The history of every resource of a type the caller may see. */
export async function typeHistoryRoute(deps: AppDeps, c: Context<AppEnv>) {
  const { lab, type } = begin(c, "history-type", "R");
  requirePermission(c.var.caller, type, "read");
  const query = historyQuery(c);
  const page = await typeHistory(
    deps,
    lab,
    type,
    visibilityOf(c.var.caller),
    query,
  );

  await auditHistory(deps, c, lab, "history-type", { type });
  return respond(deps, c, lab, `${type}/_history`, page);
}

function historyQuery(c: Context): HistoryQuery {
  const params = new URL(c.req.url).searchParams;
  for (const name of params.keys()) {
    if (!PARAMS.has(name)) {
      throw fail.invalid(`History takes _since, _count and _page, not ${name}`);
    }
  }
  const since = params.get("_since");
  const sinceTime = since === null ? undefined : Date.parse(since);
  if (
    since !== null &&
    (!/^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:\d{2})$/.test(since) ||
      Number.isNaN(sinceTime))
  ) {
    throw fail.invalid(
      "_since must be an instant, such as 2026-12-03T09:00:00Z",
    );
  }
  const countText = params.get("_count");
  const count = countText === null ? DEFAULT_COUNT : Number(countText);
  if (!Number.isInteger(count) || count < 0) {
    throw fail.invalid("_count must be a whole number");
  }
  return {
    since: sinceTime === undefined ? undefined : new Date(sinceTime),
    count: Math.min(count, MAX_COUNT),
    before: params.get("_page") ?? undefined,
  };
}

function respond(
  deps: AppDeps,
  c: Context,
  lab: string,
  path: string,
  page: HistoryPage,
) {
  const base = fhirBase(deps, c, lab);
  const params = new URL(c.req.url).searchParams;
  const link = (p: URLSearchParams) =>
    `${base}/${path}${p.size > 0 ? `?${p}` : ""}`;
  let next: string | undefined;
  if (page.next) {
    const following = new URLSearchParams(params);
    following.set("_page", page.next);
    next = link(following);
  }
  return fhirResponse(
    historyBundle(base, page.versions, { self: link(params), next }),
  );
}

/** Commits the audit record of a history read before the response. */
async function auditHistory(
  deps: AppDeps,
  c: Context<AppEnv>,
  lab: string,
  subtype: string,
  entity: { type: string; id?: string },
  latest?: Parameters<typeof patientOf>[0],
) {
  await commitAudit(
    deps.kv,
    auditRecord(
      auditDraft(c, lab, subtype, "R", {
        entity,
        patient: latest && patientOf(latest),
      }),
      deps.clock(),
    ),
  );
  deps.auditWake({ lab });
}
