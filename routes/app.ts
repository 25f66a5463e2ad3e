/**
 * The whole HTTP surface: one Hono app with the routers mounted, security
 * headers, and the single place where errors become responses.
 */
import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { secureHeaders } from "hono/secure-headers";
import { auditRecord, commitAudit } from "../domain/audit.ts";
import { fail, LhcmsError, statusOf } from "../domain/errors.ts";
import { isDirectoryId } from "../domain/directory.ts";
import { keys } from "../domain/kv_keys.ts";
import { errorResponse } from "../fhir/outcome.ts";
import { adminRoutes } from "./admin.ts";
import { authRoutes } from "./auth.ts";
import { labRoutes } from "./lab.ts";
import type { AppDeps, AppEnv } from "./env.ts";
import { fhirRoutes } from "./fhir.ts";
import { requestLogging } from "./middleware.ts";
import { terminologyRoutes } from "./terminology.ts";
import {
  auditDraft,
  fhirResponse,
  interactionOf,
  MAX_BODY_BYTES,
} from "./fhir_support.ts";

/** Builds the LHCMS application. */
export function buildApp(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  app.use("*", requestLogging(deps));
  app.use("*", secureHeaders({ strictTransportSecurity: false }));
  app.use("*", async (c, next) => {
    await next();
    c.header("Cache-Control", "no-store");
  });
  // Before any route buffers a body, sign-in included: an anonymous caller
  // must not make the server hold gigabytes.
  app.use(
    "*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw fail.payloadTooLarge("The body is too large");
      },
    }),
  );

  app.get("/health", (c) => c.json({ status: "ok", version: deps.version }));
  app.get("/.well-known/jwks.json", (c) => c.json(deps.tokens.publicKeys()));
  app.route("/auth", authRoutes(deps));
  app.route("/admin", adminRoutes(deps));
  app.route("/labs", labRoutes(deps));
  app.route("/", terminologyRoutes(deps));
  app.route("/fhir", fhirRoutes(deps));

  app.notFound((c) => {
    if (isFhir(c)) {
      return fhirResponse(
        errorResponse(new LhcmsError("not_found", "No such endpoint")).body,
        404,
      );
    }
    return c.json({ error: "not_found", message: "No such endpoint" }, 404);
  });
  app.onError(async (error, c) => await handleError(deps, error, c));
  return app;
}

function isFhir(c: Context): boolean {
  return new URL(c.req.url).pathname.startsWith("/fhir/");
}

/**
 * The one place errors become responses. A failed FHIR interaction by a
 * signed-in caller is audited too (45 CFR 164.312(b)).
 */
async function handleError(
  deps: AppDeps,
  thrown: Error,
  c: Context<AppEnv>,
) {
  let error = thrown;
  // A client that hangs up while sending its body is not a server fault;
  // the refusal is still audited below like any other.
  if (error instanceof Deno.errors.BadResource) {
    c.var.log?.warn("request body unreadable: the client went away");
    error = fail.invalid("The request body could not be read");
  }
  if (!(error instanceof LhcmsError)) {
    c.var.log?.error("unhandled error", {
      name: error.name,
      message: error.message,
    });
  }
  if (isFhir(c)) {
    await auditFailure(deps, c, error);
    const { status, body } = errorResponse(error);
    const headers: Record<string, string> = status === 401
      ? { "WWW-Authenticate": "Bearer" }
      : {};
    return fhirResponse(body, status, headers);
  }
  if (error instanceof LhcmsError) {
    const headers: Record<string, string> = error.code === "unauthenticated"
      ? { "WWW-Authenticate": "Bearer" }
      : {};
    return c.json(
      { error: error.code, message: error.message },
      statusOf[error.code] as 400,
      headers,
    );
  }
  return c.json({
    error: "internal",
    message: "The server could not complete the request",
  }, 500);
}

/**
 * Audits a refused FHIR request, including one without a valid token
 * (agent "anonymous"): into the trail of the lab it aimed at, or the system
 * trail when no such lab exists.
 */
async function auditFailure(deps: AppDeps, c: Context<AppEnv>, error: Error) {
  const pathname = new URL(c.req.url).pathname;
  // As the router reads it: "/fhir/%61cme" is lab acme.
  const lab = c.var.interaction?.lab ?? decoded(pathname.split("/")[2] ?? "");
  const known = interactionOf(c.req.method, pathname);
  const interaction = c.var.interaction ?? {
    subtype: known.subtype,
    action: known.action,
    entity: known.type ? { type: known.type, id: known.id } : undefined,
  };
  const labExists = isDirectoryId(lab) &&
    (await deps.kv.get(keys.lab(lab))).value !== null;
  const draft = auditDraft(c, lab, interaction.subtype, interaction.action, {
    outcome: error instanceof LhcmsError ? "4" : "8",
    outcomeCode: error instanceof LhcmsError ? error.code : "internal",
    entity: interaction.entity,
  });
  if (!labExists) delete draft.lab;
  try {
    await commitAudit(deps.kv, auditRecord(draft, deps.clock()));
    deps.auditWake(labExists ? { lab } : "system");
  } catch (auditError) {
    c.var.log?.error("audit of a failure could not be committed", {
      message: (auditError as Error).message,
    });
  }
}

function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
