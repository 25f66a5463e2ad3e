/**
 * `deno task admin` run as the operator runs it: a separate process on the
 * KV file of a server that is running, with the task's own permissions.
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import { type AuditRecord, auditRecord } from "../../domain/audit.ts";
import { recordFailure, throttleKeys } from "../../domain/sign_in_throttle.ts";
import { encodeBase64, loadConfig } from "../../domain/config.ts";
import { keys } from "../../domain/kv_keys.ts";
import { jsonLogger } from "../../domain/log.ts";
import { type Running, start } from "../../main.ts";
import { newSystemKey, systemToken } from "../../scripts/smart_client.ts";
import { ADMIN, call, login, PASSWORD } from "../helpers.ts";

const ROOT = new URL("../../", import.meta.url);

interface Setup {
  dir: string;
  env: Record<string, string>;
}

async function setup(): Promise<Setup> {
  const dir = await Deno.makeTempDir({ prefix: "lhcms-admin-" });
  const key = encodeBase64(crypto.getRandomValues(new Uint8Array(32)));
  return {
    dir,
    env: {
      LHCMS_KV_PATH: `${dir}/lhcms.kv`,
      LHCMS_MASTER_KEY: key,
      USER: "test-operator",
    },
  };
}

/** The parent's environment without LHCMS settings that could leak in. */
function childEnv(env: Record<string, string>): Record<string, string> {
  const base = Object.entries(Deno.env.toObject())
    .filter(([k]) => !k.startsWith("LHCMS_") && k !== "PORT" && k !== "USER");
  return { ...Object.fromEntries(base), ...env };
}

/** Runs `deno task admin ...` through the command line the task defines. */
async function admin(
  s: Setup,
  args: string[],
  extraEnv: Record<string, string> = {},
) {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("deno.json", ROOT)),
  );
  const task = (config.tasks.admin as string).split(" ").slice(1);
  const output = await new Deno.Command(Deno.execPath(), {
    args: [...task, ...args],
    cwd: ROOT.pathname,
    env: childEnv({ ...s.env, ...extraEnv }),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b).trim();
  return {
    code: output.code,
    stdout: text(output.stdout),
    stderr: text(output.stderr),
  };
}

async function startServer(s: Setup): Promise<Running> {
  const config = loadConfig({
    ...s.env,
    PORT: "0",
    LHCMS_HOSTNAME: "127.0.0.1",
    LHCMS_BOOTSTRAP_ADMIN: `${ADMIN.username}:${ADMIN.password}`,
  });
  return await start(config, { log: jsonLogger({}, true) });
}

Deno.test("[admin] creates a lab, a practice and users that the running server serves", async () => {
  const s = await setup();
  const server = await startServer(s);
  try {
    const steps = [
      ["create-lab", "--id", "acme", "--name", "Acme Dental Lab"],
      ["create-lab", "--id", "beta", "--name", "Beta Lab"],
      ["create-practice", "--id", "smile", "--name", "Smile Dental"].concat(
        ["--labs", "acme,beta"],
      ),
      ["create-user", "--username", "tina", "--role", "lab_technician"].concat(
        ["--labs", "acme"],
      ),
      ["create-user", "--username", "dora", "--role", "dentist"].concat(
        ["--practice", "smile"],
      ),
    ];
    for (const args of steps) {
      const run = await admin(s, args, { LHCMS_NEW_PASSWORD: PASSWORD });
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /^Created /);
    }

    const token = await login(server.url, ADMIN.username, ADMIN.password);
    const labs = await call(server.url, "GET", "/admin/labs", token);
    assert.deepEqual(labs.body.map((l: { id: string }) => l.id).sort(), [
      "acme",
      "beta",
    ]);
    const practices = await call(server.url, "GET", "/admin/practices", token);
    assert.deepEqual(practices.body[0].labs, ["acme", "beta"]);
    const users = await call(server.url, "GET", "/admin/users", token);
    const tina = users.body.find((u: { username: string }) =>
      u.username === "tina"
    );
    assert.deepEqual([tina.role, tina.labs], ["lab_technician", ["acme"]]);
    assert.equal(tina.passwordHash, undefined);

    const tinaToken = await login(server.url, "tina", PASSWORD);
    const search = await call(
      server.url,
      "GET",
      "/fhir/acme/Patient",
      tinaToken,
    );
    assert.equal(search.status, 200);
    await login(server.url, "dora", PASSWORD);

    // A lost phone: the operator resets tina's MFA while the server runs.
    const reset = await admin(s, ["mfa-reset", "--username", "tina"]);
    assert.equal(reset.code, 0, reset.stderr);
    assert.equal(reset.stdout, "Reset MFA of tina; their sessions ended");
    const after = await call(
      server.url,
      "GET",
      "/fhir/acme/Patient",
      tinaToken,
    );
    assert.equal(after.status, 401);
    const signIn = await call(server.url, "POST", "/auth/login", undefined, {
      username: "tina",
      password: PASSWORD,
    }, { "Content-Type": "application/json" });
    assert.equal(signIn.body.error, "mfa_enrollment_required");
    const unknown = await admin(s, ["mfa-reset", "--username", "nobody"]);
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stderr, "error: No user nobody");
  } finally {
    await server.close();
    await Deno.remove(s.dir, { recursive: true });
  }
});

Deno.test("[admin] every change leaves a system audit record naming the operator", async () => {
  const s = await setup();
  try {
    await admin(s, ["create-lab", "--id", "acme", "--name", "Acme"]);
    await admin(s, ["create-practice", "--id", "smile", "--name", "Smile"]);
    await admin(
      s,
      ["create-user", "--username", "vic", "--role", "viewer"]
        .concat(["--labs", "acme"]),
      { LHCMS_NEW_PASSWORD: PASSWORD },
    );
    await admin(s, ["list-users"]);

    const kv = await Deno.openKv(s.env.LHCMS_KV_PATH);
    try {
      const records: AuditRecord[] = [];
      for (
        const prefix of [keys.auditPending("system"), keys.auditEvent("system")]
      ) {
        for await (const e of kv.list<AuditRecord>({ prefix })) {
          records.push(e.value);
        }
      }
      records.sort((a, b) => a.id.localeCompare(b.id));
      assert.deepEqual(
        records.map((
          r,
        ) => [r.agent.who, r.action, r.entity?.type, r.entity?.id]),
        [
          ["operator:test-operator", "C", "Lab", "acme"],
          ["operator:test-operator", "C", "Practice", "smile"],
          ["operator:test-operator", "C", "User", "vic"],
        ],
      );
    } finally {
      kv.close();
    }
  } finally {
    await Deno.remove(s.dir, { recursive: true });
  }
});

Deno.test("[admin] list commands print one line per record, without password hashes", async () => {
  const s = await setup();
  try {
    assert.equal((await admin(s, ["list-labs"])).stdout, "No lab yet");
    await admin(s, ["create-lab", "--id", "acme", "--name", "Acme Dental Lab"]);
    await admin(
      s,
      ["create-user", "--username", "tina", "--role"].concat(
        ["lab_technician", "--labs", "acme"],
      ),
      { LHCMS_NEW_PASSWORD: PASSWORD },
    );

    const labs = await admin(s, ["list-labs"]);
    assert.equal(labs.code, 0);
    assert.equal(labs.stdout, "acme\tAcme Dental Lab");
    const users = await admin(s, ["list-users"]);
    assert.equal(users.stdout, "tina\tlab_technician\tacme");
    assert.doesNotMatch(users.stdout, /argon2/);
  } finally {
    await Deno.remove(s.dir, { recursive: true });
  }
});

Deno.test("[admin] registers a practice system whose tokens work until disable-client", async () => {
  const s = await setup();
  const server = await startServer(s);
  try {
    await admin(s, ["create-lab", "--id", "acme", "--name", "Acme Lab"]);
    await admin(
      s,
      ["create-practice", "--id", "smile", "--name", "Smile"]
        .concat(["--labs", "acme"]),
    );
    const key = await newSystemKey("ES384");
    const jwksFile = `${s.dir}/keys.json`;
    await Deno.writeTextFile(
      jwksFile,
      JSON.stringify({ keys: [key.publicJwk] }),
    );
    const created = await admin(s, [
      "create-client",
      ...["--practice", "smile", "--id", "smile-pms", "--name", "Smile PMS"],
      ...["--scopes", "system/Patient.rs system/Task.rs"],
      ...["--jwks-file", jwksFile],
    ]);
    assert.equal(created.code, 0, created.stderr);
    assert.match(
      created.stdout,
      /^Registered client smile-pms of practice smile/,
    );
    const list = await admin(s, ["list-clients", "--practice", "smile"]);
    assert.equal(
      list.stdout,
      "smile-pms\tSmile PMS\tsystem/Patient.rs system/Task.rs",
    );

    const system = {
      clientId: "smile-pms",
      alg: "ES384" as const,
      privateKey: key.privateKey,
      kid: key.kid,
    };
    const token = await systemToken(server.url, system, "system/Patient.rs");
    const read = () => call(server.url, "GET", "/fhir/acme/Patient", token);
    assert.equal((await read()).status, 200);

    const off = await admin(s, [
      "disable-client",
      ...["--practice", "smile", "--id", "smile-pms"],
    ]);
    assert.equal(off.code, 0, off.stderr);
    assert.equal(off.stdout, "Disabled client smile-pms");
    assert.equal((await read()).status, 401);
    const listed = await admin(s, ["list-clients", "--practice", "smile"]);
    assert.match(listed.stdout, /\tdisabled$/);
  } finally {
    await server.close();
    await Deno.remove(s.dir, { recursive: true });
  }
});

Deno.test("[admin] help lists every command and exits 0", async () => {
  const s = await setup();
  try {
    const run = await admin(s, ["help"]);
    assert.equal(run.code, 0);
    for (
      const name of [
        "create-lab",
        "create-practice",
        "create-user",
        "create-client",
        "disable-client",
        "list-clients",
        "list-labs",
        "list-users",
        "mfa-reset",
        "rotate-signing-key",
        "unlock",
      ]
    ) assert.match(run.stdout, new RegExp(`^  ${name}\\b`, "m"));
  } finally {
    await Deno.remove(s.dir, { recursive: true });
  }
});

Deno.test("[admin] a mistake prints one error line and exits 1", async (t) => {
  const s = await setup();
  const cases: [string, string[], Record<string, string>, RegExp][] = [
    ["an unknown command", ["drop-lab"], {}, /Unknown command drop-lab/],
    ["a missing option", ["create-lab", "--id", "acme"], {}, /needs --name/],
    ["an unknown option", ["list-labs", "--id", "x"], {}, /Unknown option/],
    [
      "an invalid id",
      ["create-lab", "--id", "Acme!", "--name", "A"],
      {},
      /lab id must be/,
    ],
    [
      "an unknown lab",
      ["create-practice", "--id", "p", "--name", "P", "--labs", "nope"],
      {},
      /Unknown lab: nope/,
    ],
    [
      "a password argument",
      ["create-user", "--username", "u", "--password", "x"],
      {},
      /never taken from the command line/,
    ],
    [
      "an unknown role, before any password is asked",
      ["create-user", "--username", "u", "--role", "dentst"],
      {},
      /--role must be one of/,
    ],
    [
      "no password and no terminal",
      ["create-user", "--username", "u", "--role", "admin"],
      {},
      /LHCMS_NEW_PASSWORD/,
    ],
    [
      "a short password",
      ["create-user", "--username", "u", "--role", "admin"],
      { LHCMS_NEW_PASSWORD: "short" },
      /password must be at least 12 characters/,
    ],
    ["a master key that is not base64", ["list-labs"], {
      LHCMS_MASTER_KEY: "not base64!",
    }, /^error: LHCMS_MASTER_KEY/],
  ];
  try {
    await admin(s, ["create-lab", "--id", "taken", "--name", "Taken"]);
    cases.push([
      "an existing lab",
      ["create-lab", "--id", "taken", "--name", "T"],
      {},
      /taken: it exists/,
    ]);
    for (const [what, args, env, message] of cases) {
      await t.step(what, async () => {
        const run = await admin(s, args, env);
        assert.equal(run.code, 1);
        assert.equal(run.stdout, "");
        assert.equal(run.stderr.split("\n").length, 1, run.stderr);
        assert.match(run.stderr, /^error: /);
        assert.match(run.stderr, message);
      });
    }
  } finally {
    await Deno.remove(s.dir, { recursive: true });
  }
});

Deno.test("[admin] unlock forgets a user's failed sign-ins and is audited", async () => {
  const s = await setup();
  try {
    await admin(s, ["create-lab", "--id", "acme", "--name", "Acme"]);
    await admin(
      s,
      ["create-user", "--username", "vic", "--role", "viewer"]
        .concat(["--labs", "acme"]),
      { LHCMS_NEW_PASSWORD: PASSWORD },
    );
    const throttle = await throttleKeys("vic", "192.0.2.7");
    let kv = await Deno.openKv(s.env.LHCMS_KV_PATH);
    const now = Date.now();
    const failure = auditRecord({
      subtype: "login-failed",
      action: "E",
      outcome: "4",
      agent: { who: "vic" },
      network: {},
    }, new Date(now));
    await recordFailure(
      kv,
      throttle,
      now,
      { threshold: 1, minutes: 15 },
      failure,
    );
    assert.notEqual((await kv.get(throttle.account)).value, null);
    kv.close();

    const run = await admin(s, ["unlock", "--username", "vic"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, "Unlocked vic: failed sign-ins forgotten");
    kv = await Deno.openKv(s.env.LHCMS_KV_PATH);
    try {
      assert.equal((await kv.get(throttle.account)).value, null);
      // The address keeps its count: an unlock is about the account.
      assert.notEqual((await kv.get(throttle.address)).value, null);
      const subtypes: string[] = [];
      for await (
        const e of kv.list<AuditRecord>({ prefix: keys.auditPending("system") })
      ) subtypes.push(e.value.subtype);
      assert.ok(subtypes.includes("unlock"), String(subtypes));
    } finally {
      kv.close();
    }
    const unknown = await admin(s, ["unlock", "--username", "nobody"]);
    assert.equal(unknown.code, 1);
  } finally {
    await Deno.remove(s.dir, { recursive: true });
  }
});

Deno.test("[admin] rotate-signing-key: the running server signs with the new key and still accepts old tokens", async () => {
  const s = await setup();
  const server = await startServer(s);
  try {
    const before = await login(server.url, ADMIN.username, ADMIN.password);
    const oldKid = jose.decodeProtectedHeader(before).kid;

    const run = await admin(s, ["rotate-signing-key"]);
    assert.equal(run.code, 0, run.stderr);
    const [, newKid, previous] =
      /^Signing key (\S+) is current; (\S+) is retired$/.exec(run.stdout)!;
    assert.equal(previous, oldKid);

    const after = await login(server.url, ADMIN.username, ADMIN.password);
    assert.equal(jose.decodeProtectedHeader(after).kid, newKid);
    for (const token of [before, after]) {
      assert.equal(
        (await call(server.url, "GET", "/admin/labs", token)).status,
        200,
      );
    }
    const jwks = await call(server.url, "GET", "/.well-known/jwks.json");
    assert.deepEqual(
      jwks.body.keys.map((k: { kid: string }) => k.kid).sort(),
      [newKid, oldKid].sort(),
    );
  } finally {
    await server.close();
    await Deno.remove(s.dir, { recursive: true });
  }
});
