/**
 * deno task admin <command> [options]      (deno task admin help)
 *
 * Operator commands that do what POST /admin/labs, /admin/practices,
 * /admin/practices/{id}/clients and /admin/users do, straight against the KV store the server uses (same
 * LHCMS_KV_PATH or LHCMS_KV_URL, same LHCMS_MASTER_KEY). They work while
 * the server runs, and each change leaves an audit record in the system
 * scope with the agent "operator:<OS user>".
 */
import { parseArgs } from "node:util";
import {
  addPendingAudit,
  type AuditRecord,
  auditRecord,
} from "../domain/audit.ts";
import { ConfigError, loadConfig } from "../domain/config.ts";
import type { KeyRing } from "../domain/crypto.ts";
import {
  createLab,
  createPractice,
  createUser,
  type Lab,
  listAll,
  type Practice,
  publicUser,
  type User,
} from "../domain/directory.ts";
import {
  listClients,
  registerClient,
  setClientDisabled,
} from "../domain/clients.ts";
import { LhcmsError } from "../domain/errors.ts";
import { STORED_TYPES } from "../fhir/types.ts";
import { keys } from "../domain/kv_keys.ts";
import type { Logger } from "../domain/log.ts";
import { resetMfa } from "../domain/mfa.ts";
import { isRole, ROLES } from "../domain/roles.ts";
import { unlockAccount } from "../domain/sign_in_throttle.ts";
import type { TokenService } from "../domain/tokens.ts";
import { openStore } from "../main.ts";

/** A mistake in how the command was called. */
class UsageError extends Error {}

interface Store {
  kv: Deno.Kv;
  keyRing: KeyRing;
  tokens: TokenService;
  /** The audit record of a change at `now`, committed with the change. */
  audit(now: Date): AuditRecord;
}

type Options = Record<string, string | string[] | undefined>;

interface Command {
  usage: string;
  options?: string[];
  required?: string[];
  run(store: Store, options: Options): Promise<string[]>;
}

const COMMANDS: Record<string, Command> = {
  "create-lab": {
    usage: 'create-lab --id acme --name "Acme Dental Lab"',
    options: ["id", "name"],
    required: ["id", "name"],
    run: async ({ kv, keyRing, audit }, o) => {
      const input = { id: o.id, name: o.name };
      const lab = await retryLocked((now) =>
        createLab(kv, keyRing, input, now, audit(now))
      );
      return [`Created lab ${lab.id} (${lab.name})`];
    },
  },
  "create-practice": {
    usage: 'create-practice --id smile --name "Smile Dental" --labs acme',
    options: ["id", "name", "labs"],
    required: ["id", "name"],
    run: async ({ kv, audit }, o) => {
      const input = { id: o.id, name: o.name, labs: o.labs };
      const practice = await retryLocked((now) =>
        createPractice(kv, input, now, audit(now))
      );
      return [
        `Created practice ${practice.id} sending to: ${labList(practice)}`,
      ];
    },
  },
  "create-user": {
    usage: "create-user --username tina --role lab_technician --labs acme" +
      "\n      (dentists: --practice smile; the password comes from" +
      "\n      LHCMS_NEW_PASSWORD or a prompt, never from the command line)",
    options: ["username", "role", "labs", "practice"],
    required: ["username", "role"],
    run: async ({ kv, audit }, o) => {
      // Checked before the prompt, so a typo is not found after typing twice.
      if (!isRole(o.role)) {
        throw new UsageError(`--role must be one of ${ROLES.join(", ")}`);
      }
      const password = await newPassword(String(o.username));
      const input = {
        username: o.username,
        password,
        role: o.role,
        labs: o.labs,
        practice: o.practice,
      };
      const user = await retryLocked((now) =>
        createUser(kv, input, now, audit(now))
      );
      return [`Created user ${user.username} (${user.role})`];
    },
  },
  "mfa-reset": {
    usage: "mfa-reset --username tina" +
      "\n      (a lost phone: ends the user's sessions; the next sign-in" +
      "\n      enrolls a new authenticator)",
    options: ["username"],
    required: ["username"],
    run: async (store, o) => {
      const username = String(o.username);
      const hadFactor = await changeUser(
        store,
        username,
        "mfa-reset",
        (addAudit) => resetMfa(store.kv, username, addAudit),
      );
      return [
        hadFactor
          ? `Reset MFA of ${username}; their sessions ended`
          : `${username} had no MFA enrolled; their sessions ended`,
      ];
    },
  },
  "create-client": {
    usage: 'create-client --practice smile --name "Smile PMS" --scopes ' +
      '"system/ServiceRequest.cruds system/Task.rs"' +
      "\n      --jwks-file keys.json | --public-key-file key.pem [--id smile-pms]" +
      "\n      (a practice system, SMART Backend Services; public keys only)",
    options: [
      "practice",
      "name",
      "scopes",
      "jwks-file",
      "public-key-file",
      "id",
    ],
    required: ["practice", "name", "scopes"],
    run: async ({ kv, audit }, o) => {
      const input = {
        id: o.id,
        name: o.name,
        scopes: String(o.scopes).split(/[\s,]+/).filter(Boolean),
        ...(await clientKeys(o)),
      };
      const client = await retryLocked((now) =>
        registerClient(
          kv,
          String(o.practice),
          input,
          STORED_TYPES,
          now,
          audit(now),
        )
      );
      return [
        `Registered client ${client.id} of practice ${client.practice}`,
        `Scopes: ${client.scopes.join(" ")}`,
      ];
    },
  },
  "disable-client": {
    usage: "disable-client --practice smile --id smile-pms" +
      "\n      (its tokens stop working at once; enable-client undoes it)",
    options: ["practice", "id"],
    required: ["practice", "id"],
    run: (store, o) => switchClient(store, o, true),
  },
  "enable-client": {
    usage: "enable-client --practice smile --id smile-pms",
    options: ["practice", "id"],
    required: ["practice", "id"],
    run: (store, o) => switchClient(store, o, false),
  },
  "list-clients": {
    usage: "list-clients --practice smile",
    options: ["practice"],
    required: ["practice"],
    run: async ({ kv }, o) => {
      const clients = await listClients(kv, String(o.practice));
      const lines = clients.map((c) =>
        [c.id, c.name, c.scopes.join(" ")].join("\t") +
        (c.disabled ? "\tdisabled" : "")
      );
      return orNone(lines, "No client yet");
    },
  },
  unlock: {
    usage: "unlock --username tina" +
      "\n      (lifts a lockout after failed sign-ins before it expires)",
    options: ["username"],
    required: ["username"],
    run: async (store, o) => {
      const username = String(o.username);
      const hadFailures = await changeUser(
        store,
        username,
        "unlock",
        (addAudit) => unlockAccount(store.kv, username, addAudit),
      );
      return [
        hadFailures
          ? `Unlocked ${username}: failed sign-ins forgotten`
          : `${username} had no failed sign-ins to forget`,
      ];
    },
  },
  "rotate-signing-key": {
    usage: "rotate-signing-key" +
      "\n      (a new key signs tokens; the old one verifies its tokens until" +
      "\n      they expire)",
    run: async ({ tokens, audit }) => {
      const { kid, previous } = await retryLocked((now) =>
        tokens.rotate(now, (op, kid) =>
          addPendingAudit(op, {
            ...audit(now),
            subtype: "rotate-signing-key",
            action: "U",
            entity: { type: "SigningKey", id: kid },
          }))
      );
      return [`Signing key ${kid} is current; ${previous} is retired`];
    },
  },
  "list-labs": {
    usage: "list-labs",
    run: async ({ kv }) => {
      const labs = await listAll<Lab>(kv, keys.labs());
      return orNone(labs.map((l) => `${l.id}\t${l.name}`), "No lab yet");
    },
  },
  "list-practices": {
    usage: "list-practices",
    run: async ({ kv }) => {
      const practices = await listAll<Practice>(kv, keys.practices());
      const lines = practices.map((p) => `${p.id}\t${p.name}\t${labList(p)}`);
      return orNone(lines, "No practice yet");
    },
  },
  "list-users": {
    usage: "list-users",
    run: async ({ kv }) => {
      const users = (await listAll<User>(kv, keys.users())).map(publicUser);
      const lines = users.map((u) =>
        [u.username, u.role, u.practice ?? labList(u)].join("\t") +
        (u.disabled ? "\tdisabled" : "")
      );
      return orNone(lines, "No user yet");
    },
  },
};

/** The public keys of a new client, read from the file named. */
async function clientKeys(o: Options) {
  const jwksFile = o["jwks-file"], pemFile = o["public-key-file"];
  if ((jwksFile === undefined) === (pemFile === undefined)) {
    throw new UsageError("Give either --jwks-file or --public-key-file");
  }
  const text = await Deno.readTextFile(String(jwksFile ?? pemFile));
  if (pemFile !== undefined) return { public_key: text };
  try {
    return { jwks: JSON.parse(text) };
  } catch {
    throw new UsageError(`${jwksFile} is not JSON`);
  }
}

async function switchClient(
  { kv, audit }: Store,
  o: Options,
  disabled: boolean,
): Promise<string[]> {
  const id = String(o.id);
  await retryLocked((now) =>
    setClientDisabled(kv, String(o.practice), id, disabled, {
      ...audit(now),
      subtype: "update",
      action: "U",
    })
  );
  return [`${disabled ? "Disabled" : "Enabled"} client ${id}`];
}

/**
 * Runs `change` on an existing user; `change` commits the audit record
 * (subtype `subtype`) that the callback it is given adds.
 */
async function changeUser<T>(
  { kv, audit }: Store,
  username: string,
  subtype: string,
  change: (addAudit: (op: Deno.AtomicOperation) => void) => Promise<T>,
): Promise<T> {
  if ((await kv.get(keys.user(username))).value === null) {
    throw new UsageError(`No user ${username}`);
  }
  return await retryLocked((now) =>
    change((op) =>
      addPendingAudit(op, {
        ...audit(now),
        subtype,
        action: "U",
        entity: { type: "User", id: username },
      })
    )
  );
}

function help(): string[] {
  return [
    "Usage: deno task admin <command> [options]",
    "",
    ...Object.values(COMMANDS).map((c) => `  ${c.usage}`),
    "  help",
    "",
    "--labs takes one id, a comma-separated list, or repeats.",
    "The store is the server's: LHCMS_KV_PATH (or LHCMS_KV_URL) and",
    "LHCMS_MASTER_KEY, as for deno task start.",
  ];
}

const labList = (x: { labs: string[] }) => x.labs.join(",") || "-";
const orNone = (lines: string[], none: string) =>
  lines.length > 0 ? lines : [none];

/** Parses the options of one command; refuses what it does not take. */
function parseOptions(name: string, command: Command, args: string[]) {
  if (args.some((a) => /^--password(=|$)/.test(a))) {
    throw new UsageError(
      "A password is never taken from the command line (others can read " +
        "it in the process list): set LHCMS_NEW_PASSWORD or answer the prompt",
    );
  }
  let values: Options;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      options: Object.fromEntries((command.options ?? []).map((o) => [o, {
        type: "string" as const,
        multiple: o === "labs",
      }])),
    }));
  } catch (error) {
    throw new UsageError(`${name}: ${(error as Error).message}`);
  }
  for (const option of command.required ?? []) {
    if (!values[option]) throw new UsageError(`${name} needs --${option}`);
  }
  const labs = values.labs as string[] | undefined;
  if (labs) values.labs = labs.flatMap((l) => l.split(",")).filter(Boolean);
  return values;
}

/** The new user's password: LHCMS_NEW_PASSWORD, else asked twice. */
async function newPassword(username: string): Promise<string> {
  const fromEnv = Deno.env.get("LHCMS_NEW_PASSWORD");
  if (fromEnv) return fromEnv;
  if (!Deno.stdin.isTerminal()) {
    throw new UsageError(
      "Set LHCMS_NEW_PASSWORD: there is no terminal to ask for the password",
    );
  }
  const first = await readHidden(`Password for ${username}: `);
  if (first !== await readHidden("Repeat it: ")) {
    throw new UsageError("The two passwords differ");
  }
  return first;
}

/** Reads one line from the terminal without echoing it. */
async function readHidden(question: string): Promise<string> {
  const bytes: number[] = [];
  const chunk = new Uint8Array(64);
  await Deno.stderr.write(new TextEncoder().encode(question));
  Deno.stdin.setRaw(true);
  try {
    for (;;) {
      const n = await Deno.stdin.read(chunk);
      if (n === null) break;
      for (const b of chunk.subarray(0, n)) {
        // Raw mode turns Ctrl-C and Ctrl-D into bytes instead of signals.
        if (b === 3 || b === 4) throw new UsageError("Cancelled");
        if (b === 10 || b === 13) {
          return new TextDecoder().decode(new Uint8Array(bytes));
        }
        if (b !== 8 && b !== 127) bytes.push(b);
        // Backspace drops one character: its UTF-8 continuation bytes too.
        else while ((bytes.pop() ?? 0xc0) >> 6 === 2);
      }
    }
    return new TextDecoder().decode(new Uint8Array(bytes));
  } finally {
    Deno.stdin.setRaw(false);
    await Deno.stderr.write(new TextEncoder().encode("\n"));
  }
}

// Two processes can share a local KV file, but a commit from either may
// fail with "database is locked" while the other writes (DESIGN.md,
// measured): a few retries with growing pauses ride that out.
async function retryLocked<T>(action: (now: Date) => Promise<T>): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await action(new Date());
    } catch (error) {
      const locked = /database is locked/i.test(String(error));
      if (!locked || attempt >= 6) throw error;
      await new Promise((r) => setTimeout(r, 20 * 2 ** attempt));
    }
  }
}

/**
 * An operator's change is audited as routes/admin.ts audits an admin's,
 * with "operator:<OS user>" as agent. The server's periodic audit sweep
 * seals these pending records into the system audit log.
 */
function operatorAudit(now: Date): AuditRecord {
  const who = `operator:${Deno.env.get("USER") || "unknown"}`;
  const draft = { subtype: "create", action: "C", outcome: "0" } as const;
  return auditRecord({ ...draft, agent: { who }, network: {} }, now);
}

// Plain lines for a person at a terminal, instead of the server's JSON.
const consoleLog: Logger = {
  info: () => {},
  warn: (message) => console.error(`warning: ${message}`),
  error: (message) => console.error(`error: ${message}`),
  with: () => consoleLog,
};

/** Runs one command line; returns the process exit code. */
async function main(args: string[]): Promise<number> {
  const [name = "help", ...rest] = args;
  if (["help", "--help", "-h"].includes(name)) {
    console.log(help().join("\n"));
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    throw new UsageError(`Unknown command ${name}: see deno task admin help`);
  }
  const options = parseOptions(name, command, rest);

  const config = loadConfig(Deno.env.toObject());
  const { kv, keyRing, tokens } = await openStore(config, consoleLog, {
    createDevKey: false,
  });
  try {
    const store = { kv, keyRing, tokens, audit: operatorAudit };
    const lines = await command.run(store, options);
    console.log(lines.join("\n"));
    return 0;
  } finally {
    kv.close();
  }
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (error) {
    const known = error instanceof UsageError ||
      error instanceof ConfigError || error instanceof LhcmsError;
    const message = known
      ? (error as Error).message
      : `${(error as Error).name}: ${(error as Error).message}`;
    console.error(`error: ${message.replace(/\s*\n\s*/g, " ")}`);
    code = 1;
  }
  Deno.exit(code);
}
