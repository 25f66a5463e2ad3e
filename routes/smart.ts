/**
 * SMART Backend Services for practice systems: the token endpoint
 * (`POST /auth/token`, client credentials with a `private_key_jwt`
 * assertion) and the discovery document
 * (`/.well-known/smart-configuration`, also under each lab's FHIR base).
 */
import { type Context, Hono } from "hono";
import {
  addPendingAudit,
  auditRecord,
  commitAudit,
  PRACTICE_SYSTEM,
} from "../domain/audit.ts";
import {
  addJtiMark,
  checkTokenRequest,
  type ClientGrant,
} from "../domain/client_assertion.ts";
import { ASSERTION_ALGS, clientAgent } from "../domain/clients.ts";
import { OAuthError } from "../domain/errors.ts";
import { CLIENT_TOKEN_SECONDS } from "../domain/tokens.ts";
import { STORED_TYPES } from "../fhir/types.ts";
import type { AppDeps, AppEnv } from "./env.ts";
import { publicOrigin } from "./fhir_support.ts";
import { network } from "./middleware.ts";

/** The SMART routes, mounted at the root. */
export function smartRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  const configuration = (c: Context) => c.json(smartConfiguration(deps, c));
  app.get("/.well-known/smart-configuration", configuration);
  // SMART discovery looks under the FHIR base URL, which is per lab.
  app.get("/fhir/:lab/.well-known/smart-configuration", configuration);
  app.post("/auth/token", (c) => issueToken(deps, c));
  return app;
}

async function issueToken(deps: AppDeps, c: Context<AppEnv>) {
  const now = deps.clock();
  const audit = (who: string, outcomeCode?: string) =>
    auditRecord({
      subtype: outcomeCode ? "client-token-failed" : "client-token",
      action: "E",
      outcome: outcomeCode ? "4" : "0",
      outcomeCode,
      agent: { who, role: PRACTICE_SYSTEM },
      network: network(c),
    }, now);
  const refused = async (error: unknown): Promise<never> => {
    if (error instanceof OAuthError) {
      const who = error.clientId
        ? clientAgent(error.clientId)
        : "unknown-client";
      await commitAudit(deps.kv, audit(who, error.code));
      deps.auditWake("system");
    }
    throw error;
  };

  const grant: ClientGrant = await tokenForm(c).then((form) =>
    checkTokenRequest(
      deps.kv,
      form,
      `${publicOrigin(deps, c)}/auth/token`,
      STORED_TYPES,
      now,
    )
  ).catch(refused);
  const who = clientAgent(grant.client.id);
  const op = addJtiMark(deps.kv.atomic(), grant.jti, now);
  addPendingAudit(op, audit(who));
  if (!(await op.commit()).ok) {
    await refused(
      new OAuthError(
        "invalid_client",
        "This assertion was already used: sign a new one with a fresh jti",
        grant.client.id,
      ),
    );
  }
  deps.auditWake("system");
  return c.json({
    access_token: await deps.tokens.issueForClient(
      grant.client.id,
      grant.scope,
      now,
    ),
    token_type: "bearer",
    expires_in: CLIENT_TOKEN_SECONDS,
    scope: grant.scope,
  });
}

/** The form body of a token request (RFC 6749 section 4.4.2). */
async function tokenForm(c: Context): Promise<URLSearchParams> {
  const type = c.req.header("Content-Type") ?? "";
  if (!/^application\/x-www-form-urlencoded\b/.test(type)) {
    throw new OAuthError(
      "invalid_request",
      "The body must be application/x-www-form-urlencoded",
    );
  }
  return new URLSearchParams(await c.req.text());
}

/** The discovery document (SMART App Launch 2.0, "Conformance"). */
function smartConfiguration(deps: AppDeps, c: Context) {
  return {
    token_endpoint: `${publicOrigin(deps, c)}/auth/token`,
    grant_types_supported: ["client_credentials"],
    token_endpoint_auth_methods_supported: ["private_key_jwt"],
    token_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGS],
    scopes_supported: [
      "system/*.cruds",
      "system/*.rs",
      ...STORED_TYPES.flatMap((t) => [`system/${t}.cruds`, `system/${t}.rs`]),
    ],
    capabilities: [
      "client-confidential-asymmetric",
      "permission-v1",
      "permission-v2",
    ],
  };
}
