/**
 * Labs, practices (dental offices) and users: who exists, who belongs where,
 * and whether a caller may act at a lab. Administration calls these; so do
 * `scripts/admin.ts` and the bootstrap at start-up.
 */
import { addPendingAudit, type AuditRecord } from "./audit.ts";
import { addDefaultCatalog } from "./catalog.ts";
import { fail } from "./errors.ts";
import type { KeyRing } from "./crypto.ts";
import { keys } from "./kv_keys.ts";
import { passwordProblem } from "./password_policy.ts";
import { hashPassword } from "./passwords.ts";
import { isRole, type Role } from "./roles.ts";
import { endAllSessions, endingSessions } from "./sessions.ts";

/** A dental laboratory: one tenant. */
export interface Lab {
  id: string;
  name: string;
  createdAt: string;
}

/** A dental office that sends cases to the labs listed. */
export interface Practice {
  id: string;
  name: string;
  labs: string[];
  createdAt: string;
}

/** A person who signs in. Usernames identify workforce, never patients. */
export interface User {
  username: string;
  passwordHash: string;
  role: Role;
  labs: string[];
  practice?: string;
  disabled: boolean;
  createdAt: string;
  /** Raised when all of the user's sessions end (`sessions.ts`). */
  sessionGeneration?: number;
}

/** A user as shown to administrators: no password hash. */
export type PublicUser = Omit<User, "passwordHash" | "sessionGeneration">;

const ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Whether `id` has the shape of a lab or practice id. */
export function isDirectoryId(id: string): boolean {
  return ID_PATTERN.test(id);
}

/** Whether `name` has the shape of a username. */
export function isUsername(name: string): boolean {
  return USERNAME_PATTERN.test(name);
}
const USERNAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const LAB_ROLES: Role[] = [
  "lab_admin",
  "lab_technician",
  "viewer",
  "compliance_officer",
];

/** The id if it has the shape of a directory id; throws `invalid` otherwise. */
export function checkId(what: string, id: unknown): string {
  if (typeof id !== "string" || !ID_PATTERN.test(id)) {
    throw fail.invalid(
      `${what} id must be 1-63 lowercase letters, digits or hyphens`,
      [{ message: "invalid id", expression: "id" }],
    );
  }
  return id;
}

/** The trimmed display name; throws `invalid` unless 1-200 characters. */
export function checkName(name: unknown): string {
  if (typeof name !== "string" || name.trim() === "" || name.length > 200) {
    throw fail.invalid(
      "name must be a non-empty string of at most 200 characters",
    );
  }
  return name.trim();
}

async function checkLabsExist(kv: Deno.Kv, labs: unknown): Promise<string[]> {
  if (!Array.isArray(labs) || labs.some((l) => typeof l !== "string")) {
    throw fail.invalid("labs must be a list of lab ids");
  }
  const unique = [...new Set(labs as string[])];
  if (unique.some((id) => !ID_PATTERN.test(id))) {
    throw fail.invalid("labs must be a list of lab ids");
  }
  const missing: string[] = [];
  // getMany reads at most 10 keys at a time.
  for (let i = 0; i < unique.length; i += 10) {
    const ids = unique.slice(i, i + 10);
    const entries = await kv.getMany(ids.map((id) => keys.lab(id)));
    missing.push(...ids.filter((_, j) => entries[j].value === null));
  }
  if (missing.length > 0) {
    throw fail.unprocessable(`Unknown lab: ${missing.join(", ")}`);
  }
  return unique;
}

/**
 * Creates a lab and its first encryption keys in one commit, with the
 * audit record of the change when one is given.
 */
export async function createLab(
  kv: Deno.Kv,
  keyRing: KeyRing,
  input: { id?: unknown; name?: unknown },
  now = new Date(),
  audit?: AuditRecord,
): Promise<Lab> {
  const lab: Lab = {
    id: checkId("lab", input.id),
    name: checkName(input.name),
    createdAt: now.toISOString(),
  };
  const op = kv.atomic()
    .check({ key: keys.lab(lab.id), versionstamp: null })
    .set(keys.lab(lab.id), lab);
  await keyRing.addLabKeys(op, lab.id);
  addDefaultCatalog(op, lab.id);
  if (audit) {
    addPendingAudit(op, { ...audit, entity: { type: "Lab", id: lab.id } });
  }
  const result = await op.commit();
  if (!result.ok) throw fail.conflict(`Cannot create lab ${lab.id}: it exists`);
  return lab;
}

/** Creates a practice enabled at existing labs. */
export async function createPractice(
  kv: Deno.Kv,
  input: { id?: unknown; name?: unknown; labs?: unknown },
  now = new Date(),
  audit?: AuditRecord,
): Promise<Practice> {
  const practice: Practice = {
    id: checkId("practice", input.id),
    name: checkName(input.name),
    labs: await checkLabsExist(kv, input.labs ?? []),
    createdAt: now.toISOString(),
  };
  const op = kv.atomic()
    .check({ key: keys.practice(practice.id), versionstamp: null })
    .set(keys.practice(practice.id), practice);
  if (audit) {
    addPendingAudit(op, {
      ...audit,
      entity: { type: "Practice", id: practice.id },
    });
  }
  const result = await op.commit();
  if (!result.ok) {
    throw fail.conflict(`Cannot create practice ${practice.id}: it exists`);
  }
  return practice;
}

/** Creates a user; lab staff need labs, a dentist needs a practice. */
export async function createUser(
  kv: Deno.Kv,
  input: {
    username?: unknown;
    password?: unknown;
    role?: unknown;
    labs?: unknown;
    practice?: unknown;
  },
  now = new Date(),
  audit?: AuditRecord,
): Promise<PublicUser> {
  const username = input.username;
  if (typeof username !== "string" || !USERNAME_PATTERN.test(username)) {
    throw fail.invalid("username must be 1-64 letters, digits or . _ @ -");
  }
  const problem = passwordProblem(input.password, username);
  if (problem) throw fail.invalid(`Cannot create user: ${problem}`);
  if (!isRole(input.role)) throw fail.invalid("role is not a known role");

  const user: User = {
    username,
    passwordHash: "",
    role: input.role,
    labs: await checkLabsExist(kv, input.labs ?? []),
    disabled: false,
    createdAt: now.toISOString(),
  };
  await checkMembership(kv, user, input.practice);
  user.passwordHash = await hashPassword(input.password as string);

  const op = kv.atomic()
    .check({ key: keys.user(username), versionstamp: null })
    .set(keys.user(username), user);
  if (audit) {
    addPendingAudit(op, { ...audit, entity: { type: "User", id: username } });
  }
  const result = await op.commit();
  if (!result.ok) {
    throw fail.conflict(`Cannot create user ${username}: it exists`);
  }
  return publicUser(user);
}

async function checkMembership(kv: Deno.Kv, user: User, practice: unknown) {
  if (user.role === "dentist") {
    if (typeof practice !== "string") {
      throw fail.invalid("A dentist needs a practice");
    }
    if ((await kv.get(keys.practice(practice))).value === null) {
      throw fail.unprocessable(`Unknown practice: ${practice}`);
    }
    user.practice = practice;
  } else if (practice !== undefined) {
    throw fail.invalid("Only a dentist belongs to a practice");
  }
  if (LAB_ROLES.includes(user.role) && user.labs.length === 0) {
    throw fail.invalid(`A ${user.role} needs at least one lab`);
  }
}

/** What an administrator may change on an existing user. */
export interface UserChange {
  disabled?: boolean;
  role?: Role;
}

/**
 * Disables, re-enables or changes the role of a user, committing the audit
 * record of the change with it. A new role must fit the user's labs or
 * practice. Disabling also ends every session of the user, so tokens
 * already issued stop working at once.
 */
export async function updateUser(
  kv: Deno.Kv,
  username: string,
  change: UserChange,
  audit: AuditRecord,
): Promise<PublicUser> {
  const entry = await kv.get<User>(keys.user(username));
  if (entry.value === null) {
    throw fail.notFound(`User ${username} is not known`);
  }
  let user: User = { ...entry.value };
  if (change.disabled !== undefined) user.disabled = change.disabled;
  if (change.disabled) user = endingSessions(user);
  if (change.role !== undefined && change.role !== user.role) {
    const practice = user.practice;
    delete user.practice;
    user.role = change.role;
    await checkMembership(
      kv,
      user,
      change.role === "dentist" ? practice : undefined,
    );
  }
  const op = kv.atomic().check(entry).set(entry.key, user);
  addPendingAudit(op, { ...audit, entity: { type: "User", id: username } });
  const result = await op.commit();
  if (!result.ok) {
    throw fail.conflict(`Cannot change user ${username}: it changed meanwhile`);
  }
  if (user.disabled) await endAllSessions(kv, username);
  return publicUser(user);
}

/** The user without its password hash. */
export function publicUser(user: User): PublicUser {
  const { passwordHash: _, sessionGeneration: _g, ...rest } = user;
  return rest;
}

/** True when no user exists yet (the bootstrap admin may be created). */
export async function hasNoUsers(kv: Deno.Kv): Promise<boolean> {
  for await (const _ of kv.list({ prefix: keys.users() }, { limit: 1 })) {
    return false;
  }
  return true;
}

/** Lists records of one global collection (labs, practices or users). */
export async function listAll<T>(
  kv: Deno.Kv,
  prefix: Deno.KvKey,
): Promise<T[]> {
  const out: T[] = [];
  for await (const entry of kv.list<T>({ prefix })) out.push(entry.value);
  return out;
}

/**
 * Whether `user` may act at `labId`: an admin anywhere, a dentist at the
 * labs its practice sends to, everyone else at the labs they belong to.
 */
export async function mayAccessLab(
  kv: Deno.Kv,
  user: User,
  labId: string,
): Promise<boolean> {
  if (user.role === "admin") {
    return (await kv.get(keys.lab(labId))).value !== null;
  }
  if (user.role === "dentist") {
    if (!user.practice) return false;
    const practice = await kv.get<Practice>(keys.practice(user.practice));
    return practice.value?.labs.includes(labId) ?? false;
  }
  return user.labs.includes(labId);
}
