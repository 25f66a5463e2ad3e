/**
 * `/fhir/{lab}`: the FHIR R4 REST API of one lab. Every route checks that
 * the caller may act at the lab and that the role may do the interaction;
 * every interaction, refused ones included, leaves one audit record.
 */
import { type Context, Hono } from "hono";
import { auditRecord, commitAudit } from "../domain/audit.ts";
import { isDirectoryId, mayAccessLab } from "../domain/directory.ts";
import { fail } from "../domain/errors.ts";
import { openSearchState, sealSearchState } from "../domain/search_state.ts";
import { runSearch } from "../domain/full_search.ts";
import { blindFor, readResource, readVersion } from "../domain/resources.ts";
import { searchBundle } from "../fhir/bundle.ts";
import { capabilityStatement } from "../fhir/capability.ts";
import { parseSearch, type SearchQuery } from "../fhir/search.ts";
import { subsetElements } from "../fhir/search_controls.ts";
import { FHIR_ID, type Resource } from "../fhir/types.ts";
import { parseResource } from "../fhir/validate.ts";
import { auditRoutes } from "./fhir_audit.ts";
import { validateOperation } from "./fhir_validate.ts";
import { binaryRoutes } from "./fhir_binary.ts";
import type { AppDeps, AppEnv } from "./env.ts";
import { authenticateFhir } from "./middleware.ts";
import {
  conditionalCreate,
  conditionalUpdate,
  patch,
  remove,
} from "./fhir_changes.ts";
import { instanceHistoryRoute, typeHistoryRoute } from "./fhir_history.ts";
import {
  begin,
  bodyText,
  parseIfMatch,
  respondWithResource,
} from "./fhir_request.ts";
import {
  auditDraft,
  fhirBase,
  fhirResponse,
  patientOf,
  requirePermission,
  requireUpdate,
  versionHeaders,
  visibilityOf,
} from "./fhir_support.ts";
import { storeCreate, storeUpdate } from "./fhir_write.ts";

export { MAX_BODY_BYTES } from "./fhir_request.ts";

/** The `/fhir` router. */
export function fhirRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();

  app.get(
    "/:lab/metadata",
    (c) =>
      fhirResponse(
        capabilityStatement(
          fhirBase(deps, c, c.req.param("lab")),
          deps.version,
        ),
      ),
  );

  app.use("/:lab/*", authenticateFhir(deps), async (c, next) => {
    const lab = c.req.param("lab") ?? "";
    if (
      !isDirectoryId(lab) ||
      !(await mayAccessLab(deps.kv, c.var.caller.user, lab))
    ) {
      throw fail.forbidden("You have no access to this lab");
    }
    await next();
  });

  app.route("/:lab/AuditEvent", auditRoutes(deps));
  app.route("/:lab/Binary", binaryRoutes(deps));

  app.get(
    "/:lab/:type",
    (c) => search(deps, c, new URL(c.req.url).searchParams),
  );
  app.post("/:lab/:type/_search", async (c) => {
    const form = new URLSearchParams(await c.req.text());
    for (const [k, v] of new URL(c.req.url).searchParams) form.append(k, v);
    return search(deps, c, form);
  });
  app.post("/:lab/:type", (c) => create(deps, c));
  app.post("/:lab/:type/$validate", (c) => validateOperation(deps, c));
  app.put("/:lab/:type", (c) => conditionalUpdate(deps, c));
  app.get("/:lab/:type/_history", (c) => typeHistoryRoute(deps, c));
  app.get("/:lab/:type/:id", (c) => read(deps, c));
  app.put("/:lab/:type/:id", (c) => update(deps, c));
  app.patch("/:lab/:type/:id", (c) => patch(deps, c));
  app.delete("/:lab/:type/:id", (c) => remove(deps, c));
  app.get("/:lab/:type/:id/_history", (c) => instanceHistoryRoute(deps, c));
  app.get("/:lab/:type/:id/_history/:vid", (c) => vread(deps, c));
  return app;
}

async function create(deps: AppDeps, c: Context<AppEnv>) {
  const { lab, type } = begin(c, "create", "C");
  requirePermission(c.var.caller, type, "create");
  const resource = parseResource(await bodyText(c), type);
  const ifNoneExist = c.req.header("If-None-Exist");
  if (ifNoneExist !== undefined) {
    return await conditionalCreate(deps, c, lab, resource, ifNoneExist);
  }

  const written = await storeCreate(deps, c, lab, resource);
  deps.auditWake({ lab });
  const base = fhirBase(deps, c, lab);
  return respondWithResource(c, written.resource, 201, base, written.warnings);
}

async function update(deps: AppDeps, c: Context<AppEnv>) {
  const { lab, type, id } = begin(c, "update", "U");
  requireUpdate(c.var.caller, type);
  const text = await bodyText(c);
  const resource = parseResource(text, type, id) as Resource & { id: string };
  const ifMatch = parseIfMatch(c.req.header("If-Match"));

  const written = await storeUpdate(deps, c, lab, resource, {
    ifMatch,
    subtype: "update",
  });
  deps.auditWake({ lab });
  const base = fhirBase(deps, c, lab);
  return respondWithResource(c, written.resource, 200, base, written.warnings);
}

async function read(deps: AppDeps, c: Context<AppEnv>) {
  const { lab, type, id } = begin(c, "read", "R");
  requirePermission(c.var.caller, type, "read");
  const { resource } = await readResource(
    deps,
    lab,
    type,
    id!,
    visibilityOf(c.var.caller),
  );

  await auditRead(deps, c, lab, "read", { type, id }, patientOf(resource));
  const headers = versionHeaders(fhirBase(deps, c, lab), resource);
  delete (headers as Record<string, string>).Location;
  if (noneMatch(c.req.header("If-None-Match"), headers.ETag)) {
    return fhirResponse(null, 304, headers);
  }
  return fhirResponse(resource, 200, headers);
}

async function vread(deps: AppDeps, c: Context<AppEnv>) {
  const { lab, type, id } = begin(c, "vread", "R");
  requirePermission(c.var.caller, type, "read");
  const vid = Number(c.req.param("vid"));
  if (!Number.isInteger(vid) || vid < 1) {
    throw fail.invalid("The version id is not valid");
  }
  const resource = await readVersion(
    deps,
    lab,
    type,
    id!,
    vid,
    visibilityOf(c.var.caller),
  );

  await auditRead(deps, c, lab, "vread", { type, id }, patientOf(resource));
  const headers = versionHeaders(fhirBase(deps, c, lab), resource);
  delete (headers as Record<string, string>).Location;
  return fhirResponse(resource, 200, headers);
}

async function search(
  deps: AppDeps,
  c: Context<AppEnv>,
  request: URLSearchParams,
) {
  const { lab, type } = begin(c, "search-type", "E");
  requirePermission(c.var.caller, type, "read");
  const state = request.get("_state");
  // A page position is honoured only inside a sealed next link, so a
  // client cannot hand KV a cursor of its own making.
  if (!state && request.has("_cursor")) {
    throw fail.invalid(
      "Follow the next link to page: _cursor is not accepted alone",
    );
  }
  const params = state
    ? await openSearchState(deps.keyRing, lab, type, state)
    : request;
  const strict = /handling=strict/.test(c.req.header("Prefer") ?? "");
  const blind = blindFor(deps.keyRing, lab, type);
  const query = await parseSearch(type, params, blind, !strict);
  const page = await runSearch(
    deps,
    lab,
    type,
    query,
    visibilityOf(c.var.caller),
  );

  // The patient searched for, when the search names exactly one.
  const patient = (params.get("patient") ?? params.get("subject") ?? "")
    .replace(/^.*Patient\//, "");
  await auditRead(
    deps,
    c,
    lab,
    "search-type",
    { type },
    FHIR_ID.test(patient) ? patient : undefined,
    query.auditQuery,
  );
  const links = await searchLinks(deps, lab, type, params, query, page.next);
  const { elements } = query.controls;
  return fhirResponse(
    searchBundle(fhirBase(deps, c, lab), type, {
      resources: elements
        ? page.resources.map((r) => subsetElements(r, elements))
        : page.resources,
      ...links,
      ignored: query.ignored,
      total: page.total,
    }),
  );
}

/**
 * Links name only the parameters used (R4 search.html#return). A query
 * with PHI values is sealed into `_state`, and so is every `next` link, so
 * no name or birth date ends up in a URL.
 */
async function searchLinks(
  deps: AppDeps,
  lab: string,
  type: string,
  params: URLSearchParams,
  query: SearchQuery,
  nextCursor?: string,
) {
  const used = new URLSearchParams(params);
  for (const name of [...query.ignored, "_cursor"]) used.delete(name);
  const seal = async (p: URLSearchParams) =>
    new URLSearchParams({
      _state: await sealSearchState(deps.keyRing, lab, type, p),
    });
  const phi = query.criteria.some((criterion) => criterion.def.blind);
  const self = phi ? await seal(used) : used;
  if (!nextCursor) return { self };
  const next = new URLSearchParams(used);
  next.set("_cursor", nextCursor);
  return { self, next: await seal(next) };
}

// Weak comparison (RFC 9110 section 13.1.2): "2" and W/"2" are one version,
// and the header may list several tags or be "*".
function noneMatch(header: string | undefined, etag: string): boolean {
  const opaque = (tag: string) => tag.trim().replace(/^W\//, "");
  return header !== undefined &&
    header.split(",").some((tag) =>
      tag.trim() === "*" || opaque(tag) === opaque(etag)
    );
}

/** Commits a read's audit record before the response leaves. */
async function auditRead(
  deps: AppDeps,
  c: Context<AppEnv>,
  lab: string,
  subtype: string,
  entity: { type: string; id?: string },
  patient?: string,
  query?: string,
) {
  const action = subtype === "search-type" ? "E" : "R";
  await commitAudit(
    deps.kv,
    auditRecord(
      auditDraft(c, lab, subtype, action, { entity, patient, query }),
      deps.clock(),
    ),
  );
  deps.auditWake({ lab });
}
