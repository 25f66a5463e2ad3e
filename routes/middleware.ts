/** Middleware shared by the routers: request ids, logging, authentication. */
import type { Context, MiddlewareHandler } from "hono";
import { getConnInfo } from "hono/deno";
import { fail, LhcmsError } from "../domain/errors.ts";
import { FRESH_MFA_MS } from "../domain/mfa.ts";
import {
  isCurrentSession,
  type Session,
  useSession,
} from "../domain/sessions.ts";
import type { User } from "../domain/directory.ts";
import { keys } from "../domain/kv_keys.ts";
import type { AccessClaims } from "../domain/tokens.ts";
import type { AppDeps, AppEnv, Caller } from "./env.ts";
import {
  actingDentist,
  addActingDentist,
  clientCaller,
  ON_BEHALF_OF,
} from "./client_caller.ts";

/** Gives each request an id and a logger, and logs its outcome (no query string). */
export function requestLogging(deps: AppDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const requestId = crypto.randomUUID();
    c.set("requestId", requestId);
    if (deps.trustProxy) {
      // The proxy appends the address it saw; earlier entries are the
      // client's own claims.
      const hops = c.req.header("X-Forwarded-For")?.split(",") ?? [];
      const last = hops.at(-1)?.trim();
      if (last) c.set("forwardedFor", last.slice(0, 64));
    }
    c.set("log", deps.log.with({ requestId }));
    const started = performance.now();
    await next();
    c.header("X-Request-Id", requestId);
    c.var.log.info("request", {
      method: c.req.method,
      path: new URL(c.req.url).pathname,
      status: c.res.status,
      ms: Math.round(performance.now() - started),
      user: c.var.caller?.user.username,
    });
  };
}

/**
 * Requires a valid bearer token bound to a live session of an enabled user,
 * and sets `caller`.
 */
export function authenticate(deps: AppDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    c.set("caller", await authenticatedCaller(deps, c));
    await next();
  };
}

/**
 * Like {@link authenticate}, but also takes a practice system's token
 * (SMART Backend Services): the FHIR API is the only surface clients use.
 */
export function authenticateFhir(deps: AppDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const claims = await bearerClaims(deps, c);
    const dentist = actingDentist(c);
    const client = claims.client_id !== undefined;
    c.set(
      "caller",
      client
        ? await clientCaller(deps, claims)
        : await userCaller(deps, claims),
    );
    if (dentist !== undefined && !client) {
      throw fail.invalid(
        `${ON_BEHALF_OF} is for practice systems; a person acts as themself`,
      );
    }
    if (dentist !== undefined) {
      await addActingDentist(deps, c.var.caller, dentist);
    }
    await next();
  };
}

/**
 * The person behind the request's bearer token; throws `unauthenticated`,
 * also for a practice system's token.
 */
export async function authenticatedCaller(
  deps: AppDeps,
  c: Context,
): Promise<Caller> {
  const claims = await bearerClaims(deps, c);
  if (claims.client_id !== undefined) {
    throw fail.unauthenticated(
      "A practice system's token is accepted by the FHIR API only",
    );
  }
  return await userCaller(deps, claims);
}

async function bearerClaims(deps: AppDeps, c: Context): Promise<AccessClaims> {
  const header = c.req.header("Authorization") ?? "";
  const match = /^Bearer ([A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]+)$/
    .exec(header);
  if (!match) throw fail.unauthenticated("A bearer token is required");
  return await deps.tokens.verify(match[1], deps.clock());
}

async function userCaller(
  deps: AppDeps,
  claims: AccessClaims,
): Promise<Caller> {
  const now = deps.clock();
  const [sessionEntry, userEntry] = await deps.kv.getMany<[Session, User]>([
    keys.session(claims.sid),
    keys.user(claims.sub),
  ]);
  const session = await useSession(
    deps.kv,
    sessionEntry,
    now.getTime(),
    deps.sessionLimits,
  );
  const user = userEntry.value;
  if (!user || user.disabled || !isCurrentSession(session, user)) {
    throw fail.unauthenticated("Session has ended");
  }
  return { user, session };
}

/**
 * For audit exports, key and role changes: the session must have proved a
 * second factor in the last 5 minutes (at sign-in or
 * `POST /auth/mfa/step-up`). Use after {@link authenticate}. With
 * `LHCMS_MFA=optional`, a person who never enrolled has nothing to prove
 * and is refused too, told to enroll first: a password alone never passes.
 */
export function requireFreshMfa(deps: AppDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const { user, session } = c.var.caller;
    const now = deps.clock().getTime();
    if (session.mfaAt !== undefined && now - session.mfaAt <= FRESH_MFA_MS) {
      return await next();
    }
    const enrolled = deps.mfa === "required" ||
      (await deps.kv.get(keys.mfa(user.username))).value !== null;
    throw new LhcmsError(
      "mfa_step_up_required",
      enrolled
        ? "This action needs an MFA code from the last 5 minutes: " +
          "send one to POST /auth/mfa/step-up and use the new token"
        : "This action needs a second factor, and none is enrolled: " +
          "enroll one (POST /auth/mfa/enroll), then step up",
    );
  };
}

/** The client's network address and user agent, for the audit trail. */
export function network(c: Context): { address?: string; userAgent?: string } {
  let address: string | undefined = c.get("forwardedFor");
  try {
    address ??= getConnInfo(c).remote.address;
  } catch {
    address = undefined;
  }
  return { address, userAgent: c.req.header("User-Agent")?.slice(0, 200) };
}
