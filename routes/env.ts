/** What every router receives, and the typed context variables it sets. */
import type { AuditScope } from "../domain/kv_keys.ts";
import type { KeyRing } from "../domain/crypto.ts";
import type { Logger } from "../domain/log.ts";
import type { MfaMode } from "../domain/mfa.ts";
import type { LockoutPolicy } from "../domain/sign_in_throttle.ts";
import type { Session, SessionLimits } from "../domain/sessions.ts";
import type { ScopeGrant } from "../domain/smart_scopes.ts";
import type { TokenService } from "../domain/tokens.ts";
import type { User } from "../domain/directory.ts";

/** Services shared by the routers, built once in `main.ts`. */
export interface AppDeps {
  kv: Deno.Kv;
  keyRing: KeyRing;
  tokens: TokenService;
  clock: () => Date;
  log: Logger;
  sessionLimits: SessionLimits;
  /** `LHCMS_MFA`: whether a person without a second factor may sign in. */
  mfa: MfaMode;
  /** `LHCMS_LOCKOUT_THRESHOLD`, `LHCMS_LOCKOUT_MINUTES`. */
  lockout: LockoutPolicy;
  /** Tells the audit writer that a scope has pending records. */
  auditWake: (scope: AuditScope) => void;
  /** Send HSTS: HTTPS here, or at the declared proxy in front. */
  hsts: boolean;
  /** `LHCMS_TRUST_PROXY`: the client address is in `X-Forwarded-For`. */
  trustProxy: boolean;
  /** External base URL, when the server sits behind a proxy. */
  publicUrl?: string;
  version: string;
}

/**
 * The authenticated caller of a request. For a practice system, `user` is
 * its stand-in: a dentist of its practice named after the client, and
 * `session` lives as long as the token.
 */
export interface Caller {
  user: User;
  session: Session;
  client?: ClientCaller;
}

/** A practice system acting through a SMART Backend Services token. */
export interface ClientCaller {
  id: string;
  practice: string;
  grants: ScopeGrant[];
  /** The dentist it acts for, when the request names one. */
  dentist?: string;
}

/** Hono environment of LHCMS routers. */
export type AppEnv = {
  Variables: {
    requestId: string;
    log: Logger;
    /** The client's address as the declared proxy saw it. */
    forwardedFor?: string;
    caller: Caller;
    /** The FHIR interaction under way, so a failure can be audited. */
    interaction: Interaction;
  };
};

/** A FHIR interaction, recorded when a request starts. */
export interface Interaction {
  lab: string;
  subtype: string;
  action: "C" | "R" | "U" | "D" | "E";
  entity?: { type: string; id?: string };
}
