/**
 * The terminology LHCMS defines, served so a practice system vendor can
 * load it into a validator: `/fhir/{lab}/CodeSystem|ValueSet|StructureDefinition`
 * read by id and searched by `url`, without sign-in like `/metadata`. A
 * lab's own catalog code systems (`products`, `stages`) are read only by
 * signed-in members of the lab. `/terminology` lists everything as HTML.
 *
 * Mounted in app.ts before the `/fhir` router, so a public request is
 * answered here before the FHIR router's sign-in middleware sees it.
 */
import { type Context, Hono } from "hono";
import { html } from "hono/html";
import { catalogSystem, listProducts } from "../domain/catalog.ts";
import { isDirectoryId, mayAccessLab } from "../domain/directory.ts";
import { fail } from "../domain/errors.ts";
import {
  findTerminology,
  LAB_CODE_SYSTEMS,
  matchesCanonical,
  productCodeSystem,
  servedTerminology,
  stageCodeSystem,
  TERMINOLOGY_TYPES,
  type TerminologyResource,
} from "../fhir/served_terminology.ts";
import { stageSystem } from "../domain/case_workflow.ts";
import type { AppDeps, AppEnv } from "./env.ts";
import { fhirBase, fhirResponse } from "./fhir_support.ts";
import { authenticate } from "./middleware.ts";

/** The terminology router, mounted at the root of the app. */
export function terminologyRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  for (const type of TERMINOLOGY_TYPES) {
    app.get(`/fhir/:lab/${type}`, (c) => search(deps, c, type));
    app.get(`/fhir/:lab/${type}/:id`, (c) => read(deps, c, type));
  }
  app.get("/terminology", (c) => c.html(indexPage()));
  app.get("/terminology/:type/:id", (c) => {
    const resource = findTerminology(c.req.param("type"), c.req.param("id"));
    if (!resource) throw fail.notFound("No such terminology resource");
    return fhirResponse(resource);
  });
  return app;
}

function labOf(c: Context<AppEnv>): string {
  const lab = c.req.param("lab") ?? "";
  if (!isDirectoryId(lab)) throw fail.notFound("No such endpoint");
  return lab;
}

async function read(deps: AppDeps, c: Context<AppEnv>, type: string) {
  const lab = labOf(c);
  const id = c.req.param("id") ?? "";
  c.set("interaction", {
    lab,
    subtype: "read",
    action: "R",
    entity: { type, id },
  });
  if (type === "CodeSystem" && isLabCodeSystem(id)) {
    return fhirResponse(await labCodeSystem(deps, c, lab, id));
  }

  const resource = findTerminology(type, id);
  if (!resource) throw fail.notFound(`${type}/${id} is not known`);
  return fhirResponse(resource);
}

function isLabCodeSystem(id: string): id is typeof LAB_CODE_SYSTEMS[number] {
  return (LAB_CODE_SYSTEMS as readonly string[]).includes(id);
}

/**
 * A lab's catalog is its own business: only signed-in members read it
 * (compliance officers excepted, as at `/labs/{lab}/catalog`).
 */
async function labCodeSystem(
  deps: AppDeps,
  c: Context<AppEnv>,
  lab: string,
  id: typeof LAB_CODE_SYSTEMS[number],
) {
  await authenticate(deps)(c, () => Promise.resolve());
  const user = c.var.caller.user;
  if (
    !(await mayAccessLab(deps.kv, user, lab)) ||
    user.role === "compliance_officer"
  ) {
    throw fail.forbidden("You have no access to this lab's catalog");
  }
  const products = await listProducts(deps.kv, lab);
  return id === "products"
    ? productCodeSystem(lab, products)
    : stageCodeSystem(lab, products);
}

const SEARCH_PARAMS = new Set(["url", "_count", "_format"]);

async function search(deps: AppDeps, c: Context<AppEnv>, type: string) {
  const lab = labOf(c);
  c.set("interaction", {
    lab,
    subtype: "search-type",
    action: "E",
    entity: { type },
  });
  const params = new URL(c.req.url).searchParams;
  const lenient = /handling=lenient/.test(c.req.header("Prefer") ?? "");
  const unknown = [...params.keys()].filter((name) => !SEARCH_PARAMS.has(name));
  if (unknown.length > 0 && !lenient) {
    throw fail.invalid(`Unknown search parameter ${unknown[0]}`);
  }

  const urls = params.getAll("url");
  let found: TerminologyResource[] = servedTerminology().filter((r) =>
    r.resourceType === type && urls.every((url) => matchesCanonical(r, url))
  );
  const own = labSystemNamed(lab, type, urls);
  if (own) found = [await labCodeSystem(deps, c, lab, own)];

  const base = fhirBase(deps, c, lab);
  const self = new URLSearchParams(urls.map((url) => ["url", url]));
  return fhirResponse({
    resourceType: "Bundle",
    type: "searchset",
    total: found.length,
    link: [{ relation: "self", url: `${base}/${type}?${self}` }],
    entry: found.map((resource) => ({
      fullUrl: `${base}/${type}/${resource.id}`,
      resource,
      search: { mode: "match" },
    })),
  });
}

// A search naming the lab's own catalog or stage system answers with it,
// after the same sign-in check as a read.
function labSystemNamed(lab: string, type: string, urls: string[]) {
  if (type !== "CodeSystem" || urls.length !== 1) return undefined;
  const url = urls[0].split("|")[0];
  if (url === catalogSystem(lab)) return "products" as const;
  if (url === stageSystem(lab)) return "stages" as const;
  return undefined;
}

/** The HTML index of every LHCMS-wide terminology resource. */
function indexPage() {
  const resources = servedTerminology();
  const sections = TERMINOLOGY_TYPES.map((type) => {
    const rows = resources.filter((r) => r.resourceType === type).map((r) =>
      html`<li><a href="/terminology/${type}/${r.id}">${r.title ?? r.id}</a>
        <code>${r.url}</code></li>`
    );
    return html`
      <h2>${type}</h2>
      <ul>${rows}</ul>
    `;
  });
  return html`
    <!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8">
        <title>LHCMS terminology</title>
      </head>
      <body>
    <h1>LHCMS terminology</h1>
    <p>Every resource is also served at <code>/fhir/{lab}/{type}/{id}</code>.
    Each lab's products and stages are at
    <code>/fhir/{lab}/CodeSystem/products</code> and
    <code>/fhir/{lab}/CodeSystem/stages</code>, for its signed-in members.</p>
    ${sections}
      </body>
    </html>
  `;
}
