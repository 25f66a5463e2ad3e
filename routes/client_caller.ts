/**
 * The caller behind a practice system's token: the registered client,
 * standing in as a dentist of its practice (the same lab access and
 * visibility), with the scopes of its token and, when the request names
 * one, the dentist it acts for.
 */
import type { Context } from "hono";
import { clientAgent, getClient } from "../domain/clients.ts";
import type { User } from "../domain/directory.ts";
import { fail } from "../domain/errors.ts";
import { keys } from "../domain/kv_keys.ts";
import { parseScopes } from "../domain/smart_scopes.ts";
import type { AccessClaims } from "../domain/tokens.ts";
import { STORED_TYPES } from "../fhir/types.ts";
import type { AppDeps, Caller } from "./env.ts";

/** The request header naming the dentist a practice system acts for. */
export const ON_BEHALF_OF = "X-On-Behalf-Of";

/** The username in {@link ON_BEHALF_OF}, if the request has one. */
export function actingDentist(c: Context): string | undefined {
  const value = c.req.header(ON_BEHALF_OF)?.trim();
  return value === undefined || value === "" ? undefined : value;
}

/**
 * The caller of a client token. Throws `unauthenticated` for a client that
 * is gone or disabled.
 */
export async function clientCaller(
  deps: AppDeps,
  claims: AccessClaims,
): Promise<Caller> {
  const client = await getClient(deps.kv, claims.client_id!);
  if (!client || client.disabled) {
    throw fail.unauthenticated("The client is disabled");
  }
  const now = deps.clock().getTime();
  const username = clientAgent(client.id);
  return {
    user: {
      username,
      passwordHash: "",
      role: "dentist",
      labs: [],
      practice: client.practice,
      disabled: false,
      createdAt: client.createdAt,
    },
    session: {
      id: claims.sid,
      username,
      createdAt: now,
      lastSeenAt: now,
      expiresAt: claims.exp * 1000,
      // Not a person's session: nothing signs a client out but disabling it.
      generation: 0,
    },
    client: {
      id: client.id,
      practice: client.practice,
      grants: parseScopes(claims.scope ?? "", STORED_TYPES).grants,
    },
  };
}

/**
 * Records the dentist a client acts for. Throws `forbidden` unless it is
 * an enabled dentist of the client's practice; the caller is already set
 * then, so the refusal is audited as the client's.
 */
export async function addActingDentist(
  deps: AppDeps,
  caller: Caller,
  dentist: string,
): Promise<void> {
  const person = (await deps.kv.get<User>(keys.user(dentist))).value;
  const ok = person?.role === "dentist" && !person.disabled &&
    person.practice === caller.client?.practice;
  if (!ok) {
    throw fail.forbidden(
      `${ON_BEHALF_OF} must name an enabled dentist of the client's practice`,
    );
  }
  caller.client!.dentist = dentist;
}
