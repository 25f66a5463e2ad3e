/**
 * `/auth`: sign-in with password and TOTP second factor, MFA enrollment and
 * step-up, refresh and sign-out, returning bearer tokens.
 */
import { Hono } from "hono";
import { addPendingAudit, auditRecord, commitAudit } from "../domain/audit.ts";
import type { User } from "../domain/directory.ts";
import { fail, LhcmsError } from "../domain/errors.ts";
import { keys } from "../domain/kv_keys.ts";
import {
  confirmEnrollment,
  type Enrollment,
  ENROLLMENT_SECONDS,
  enrollmentKey,
  type FactorCheck,
  type MfaRecord,
  newEnrollmentToken,
  showSecret,
  spendFactor,
} from "../domain/mfa.ts";
import { checkCredentials } from "../domain/credentials.ts";
import {
  addEndSession,
  addSession,
  endUserSessions,
  newSession,
} from "../domain/sessions.ts";
import { addClearAccount } from "../domain/sign_in_throttle.ts";
import { ACCESS_TOKEN_SECONDS } from "../domain/tokens.ts";
import type { AppDeps, AppEnv } from "./env.ts";
import { authenticate, authenticatedCaller, network } from "./middleware.ts";
import { authAudit, signInAttempt } from "./sign_in_gate.ts";

/** The `/auth` router. */
export function authRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();

  app.post("/login", async (c) => {
    const body = await c.req.json().catch(() => null);
    const username = typeof body?.username === "string" ? body.username : "";
    const password = typeof body?.password === "string" ? body.password : "";
    const now = deps.clock();
    const gate = await signInAttempt(c, deps, username, now);
    const { user, account } = await checkCredentials(
      deps.kv,
      username,
      password,
    );
    // An unknown name may be a password typed in the wrong field: not recorded.
    const audit = authAudit(c, now, account ?? "unknown-user", user?.role);
    const failed = (reason: string) => gate.fail(audit("login-failed", reason));

    // A locked account answers exactly as a wrong password does, even to
    // the right one, and costs the same Argon2id verification.
    if (!user || gate.locked) {
      await failed(gate.locked ? "account_locked" : "invalid_credentials");
      throw fail.unauthenticated("Username or password is incorrect");
    }
    const mfa = await deps.kv.get<MfaRecord>(keys.mfa(user.username));
    if (mfa.value === null && deps.mfa === "required") {
      const { token, hash } = await newEnrollmentToken();
      const enrollment: Enrollment = {
        username: user.username,
        expiresAt: now.getTime() + ENROLLMENT_SECONDS * 1000,
      };
      const op = deps.kv.atomic().set(keys.mfaEnrollment(hash), enrollment, {
        expireIn: ENROLLMENT_SECONDS * 1000,
      });
      addPendingAudit(op, audit("login-failed", "mfa_enrollment_required"));
      await op.commit();
      deps.auditWake("system");
      return c.json({
        error: "mfa_enrollment_required",
        message: "Set up an authenticator app: POST /auth/mfa/enroll, " +
          "then /auth/mfa/confirm with its first code",
        enrollment_token: token,
        expires_in: ENROLLMENT_SECONDS,
      }, 401);
    }
    if (mfa.value === null) {
      // LHCMS_MFA=optional and not enrolled: the password alone suffices.
      const session = newSession(
        user,
        now.getTime(),
        deps.sessionLimits,
      );
      const op = addSession(deps.kv.atomic(), session, deps.sessionLimits);
      addClearAccount(op, gate.keys);
      addPendingAudit(op, audit("login"));
      await op.commit();
      deps.auditWake("system");
      return c.json(await tokenBody(deps, user.username, session.id, now));
    }

    const session = newSession(
      user,
      now.getTime(),
      deps.sessionLimits,
      now.getTime(),
    );
    const check = await spendFactor(
      deps.kv,
      deps.keyRing,
      mfa as Deno.KvEntry<MfaRecord>,
      user.username,
      body ?? {},
      now,
      (op, recoveryUsed) => {
        addSession(op, session, deps.sessionLimits);
        addClearAccount(op, gate.keys);
        addPendingAudit(op, audit("login"));
        if (recoveryUsed) addPendingAudit(op, audit("mfa-recovery-used"));
      },
    );
    if (!check.ok && check.reason === "mfa_invalid") {
      // A wrong code counts like a wrong password: guessing six digits
      // must be as slow as guessing the password.
      await failed(check.reason);
      throw factorError(check.reason);
    }
    if (!check.ok) {
      await commitAudit(deps.kv, audit("login-failed", check.reason));
      deps.auditWake("system");
      throw factorError(check.reason);
    }
    deps.auditWake("system");
    return c.json({
      ...(await tokenBody(deps, user.username, session.id, now)),
      ...(check.recoveryUsed
        ? { recovery_codes_left: check.recoveryLeft }
        : {}),
    });
  });

  // Shows a new secret for an enrollment under way: to the holder of an
  // enrollment token, or to a signed-in person without a second factor
  // (possible only with LHCMS_MFA=optional).
  app.post("/mfa/enroll", async (c) => {
    const body = await c.req.json().catch(() => null);
    const now = deps.clock();
    let token = typeof body?.enrollment_token === "string"
      ? body.enrollment_token
      : "";
    let entry: Deno.KvEntryMaybe<Enrollment>;
    if (token) {
      entry = await liveEnrollment(deps, token, now).catch(async (e) => {
        await commitAudit(
          deps.kv,
          authAudit(c, now, "unknown-user")(
            "mfa-enroll-failed",
            "enrollment_token_invalid",
          ),
        );
        deps.auditWake("system");
        throw e;
      });
    } else {
      const { user } = await authenticatedCaller(deps, c);
      if ((await deps.kv.get(keys.mfa(user.username))).value !== null) {
        throw fail.conflict("A second factor is already enrolled");
      }
      const fresh = await newEnrollmentToken();
      token = fresh.token;
      const value: Enrollment = {
        username: user.username,
        expiresAt: now.getTime() + ENROLLMENT_SECONDS * 1000,
      };
      await deps.kv.set(keys.mfaEnrollment(fresh.hash), value, {
        expireIn: ENROLLMENT_SECONDS * 1000,
      });
      entry = await deps.kv.get<Enrollment>(keys.mfaEnrollment(fresh.hash));
    }
    if (entry.value === null) throw enrollmentGone();
    const shown = await showSecret(
      deps.kv,
      deps.keyRing,
      entry as Deno.KvEntry<Enrollment>,
    );
    if (!shown) throw fail.conflict("The enrollment changed meanwhile: retry");
    await commitAudit(
      deps.kv,
      authAudit(c, now, entry.value.username)("mfa-enroll"),
    );
    deps.auditWake("system");
    return c.json({
      ...shown,
      enrollment_token: token,
      expires_in: Math.round((entry.value.expiresAt - now.getTime()) / 1000),
    });
  });

  // The first code proves the app holds the secret; the person is then
  // signed in and sees the recovery codes, once.
  app.post("/mfa/confirm", async (c) => {
    const body = await c.req.json().catch(() => null);
    const now = deps.clock();
    const token = typeof body?.enrollment_token === "string"
      ? body.enrollment_token
      : "";
    const code = typeof body?.code === "string" ? body.code.trim() : "";
    const entry = await liveEnrollment(deps, token, now).catch(async (e) => {
      await commitAudit(
        deps.kv,
        authAudit(c, now, "unknown-user")(
          "mfa-enroll-failed",
          "enrollment_token_invalid",
        ),
      );
      deps.auditWake("system");
      throw e;
    });
    const { username } = entry.value as Enrollment;
    const user = (await deps.kv.get<User>(keys.user(username))).value;
    const audit = authAudit(c, now, username, user?.role);
    const session = newSession(
      user ?? { username },
      now.getTime(),
      deps.sessionLimits,
      now.getTime(),
    );
    const op = deps.kv.atomic();
    const codes = user && !user.disabled
      ? await confirmEnrollment(
        deps.keyRing,
        entry as Deno.KvEntry<Enrollment>,
        code,
        now,
        op,
      )
      : undefined;
    if (!codes) {
      await commitAudit(deps.kv, audit("mfa-enroll-failed", "mfa_invalid"));
      deps.auditWake("system");
      throw factorError("mfa_invalid");
    }
    addSession(op, session, deps.sessionLimits);
    addPendingAudit(op, audit("mfa-enrolled"));
    addPendingAudit(op, audit("login"));
    if (!(await op.commit()).ok) {
      throw fail.conflict("This enrollment was already confirmed or changed");
    }
    deps.auditWake("system");
    return c.json({
      ...(await tokenBody(deps, username, session.id, now)),
      recovery_codes: codes,
    });
  });

  // A fresh second factor for a sensitive action: a new session id, marked
  // with the time of the proof, replaces the current one.
  app.post("/mfa/step-up", authenticate(deps), async (c) => {
    const body = await c.req.json().catch(() => null);
    const { user, session: old } = c.var.caller;
    const now = deps.clock();
    const audit = authAudit(c, now, user.username, user.role);
    // Guessing a step-up code with a stolen token counts like guessing at
    // sign-in: same counters, same waits, same lock.
    const gate = await signInAttempt(c, deps, user.username, now);
    const mfa = await deps.kv.get<MfaRecord>(keys.mfa(user.username));
    if (mfa.value === null) {
      await commitAudit(
        deps.kv,
        audit("mfa-step-up-failed", "mfa_not_enrolled"),
      );
      deps.auditWake("system");
      throw fail.unprocessable(
        "No second factor is enrolled: POST /auth/mfa/enroll first",
      );
    }
    const session = {
      ...newSession(
        user,
        now.getTime(),
        deps.sessionLimits,
        now.getTime(),
      ),
      createdAt: old.createdAt,
      expiresAt: old.expiresAt,
    };
    const check: FactorCheck = gate.locked
      ? { ok: false, reason: "mfa_invalid" }
      : await spendFactor(
        deps.kv,
        deps.keyRing,
        mfa as Deno.KvEntry<MfaRecord>,
        user.username,
        body ?? {},
        now,
        (op, recoveryUsed) => {
          addEndSession(op, old);
          addSession(op, session, deps.sessionLimits);
          addPendingAudit(op, audit("mfa-step-up"));
          if (recoveryUsed) addPendingAudit(op, audit("mfa-recovery-used"));
        },
      );
    if (!check.ok && check.reason === "mfa_invalid") {
      const reason = gate.locked ? "account_locked" : check.reason;
      await gate.fail(audit("mfa-step-up-failed", reason));
      throw factorError(check.reason);
    }
    if (!check.ok) {
      await commitAudit(deps.kv, audit("mfa-step-up-failed", check.reason));
      deps.auditWake("system");
      throw factorError(check.reason);
    }
    deps.auditWake("system");
    return c.json({
      ...(await tokenBody(deps, user.username, session.id, now)),
      ...(check.recoveryUsed
        ? { recovery_codes_left: check.recoveryLeft }
        : {}),
    });
  });

  // A new token for the same session: activity keeps a session alive up to
  // its absolute limit, while each token still lives 15 minutes.
  app.post("/refresh", authenticate(deps), async (c) => {
    const { user, session } = c.var.caller;
    return c.json(
      await tokenBody(deps, user.username, session.id, deps.clock()),
    );
  });

  // Signing out ends every session of the person, on every device: a
  // token left on a shared workstation stops working too.
  app.post("/logout", authenticate(deps), async (c) => {
    const { user } = c.var.caller;
    const record = auditRecord({
      subtype: "logout",
      action: "E",
      outcome: "0",
      agent: { who: user.username, role: user.role },
      network: network(c),
    }, deps.clock());
    await endUserSessions(
      deps.kv,
      user.username,
      (op) => addPendingAudit(op, record),
    );
    deps.auditWake("system");
    return c.body(null, 204);
  });

  return app;
}

async function tokenBody(
  deps: AppDeps,
  username: string,
  sessionId: string,
  now: Date,
) {
  return {
    access_token: await deps.tokens.issue(username, sessionId, now),
    token_type: "Bearer",
    expires_in: ACCESS_TOKEN_SECONDS,
  };
}

function factorError(reason: "mfa_required" | "mfa_invalid") {
  return reason === "mfa_required"
    ? new LhcmsError(
      "mfa_required",
      "Send the current code of your authenticator app as code, " +
        "or a recovery code as recovery_code",
    )
    : new LhcmsError("mfa_invalid", "The code is wrong, expired or used");
}

function enrollmentGone() {
  return fail.unauthenticated(
    "The enrollment token is invalid or expired: sign in again",
  );
}

/** The enrollment of a token that has not expired at `now`. */
async function liveEnrollment(deps: AppDeps, token: string, now: Date) {
  if (!token || token.length > 100) throw enrollmentGone();
  const entry = await deps.kv.get<Enrollment>(await enrollmentKey(token));
  if (entry.value === null || entry.value.expiresAt <= now.getTime()) {
    throw enrollmentGone();
  }
  return entry;
}
