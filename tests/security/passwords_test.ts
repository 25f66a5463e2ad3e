/**
 * Password policy and hashing: breached and guessable passwords are refused
 * wherever a password is set, and a hash made with weaker Argon2id
 * parameters is replaced at the next sign-in.
 */
import assert from "node:assert/strict";
import { argon2id } from "hash-wasm";
import type { User } from "../../domain/directory.ts";
import { keys } from "../../domain/kv_keys.ts";
import { ARGON2_COST, needsRehash } from "../../domain/passwords.ts";
import {
  call,
  login,
  PASSWORD,
  startTestServer,
  type TestServer,
} from "../helpers.ts";

async function createViewer(
  server: TestServer,
  username: string,
  password: string,
) {
  return await call(server.url, "POST", "/admin/users", server.adminToken, {
    username,
    password,
    role: "viewer",
    labs: ["acme"],
  });
}

Deno.test("[passwords] POST /admin/users refuses breached and guessable passwords", async (t) => {
  const server = await startTestServer();
  try {
    await call(server.url, "POST", "/admin/labs", server.adminToken, {
      id: "acme",
      name: "Acme Lab",
    });
    const refused: Record<string, [string, RegExp]> = {
      "a breached password": ["qwerty123456", /breached/],
      "a breached password in capitals": ["QWERTY123456", /breached/],
      "a breached password with a digit more": ["1qaz2wsx3edc4", /guess/],
      "a repeat": ["aaaaaaaaaaaaaaa", /guess/],
      "a sequence": ["abcdefghijklmn", /guess/],
      "the username with digits": ["marguerite2026", /guess/],
      "eleven characters": ["x7#Lq9!vRt2", /at least 12/],
    };
    for (const [what, [password, reason]] of Object.entries(refused)) {
      await t.step(`${what} gives 400 and creates nothing`, async () => {
        const res = await createViewer(server, "marguerite", password);
        assert.equal(res.status, 400, JSON.stringify(res.body));
        assert.equal(res.body.error, "invalid");
        assert.match(res.body.message, reason);
        assert.equal(
          (await server.kv.get(keys.user("marguerite"))).value,
          null,
        );
      });
    }
    await t.step("a passphrase is accepted (control)", async () => {
      const res = await createViewer(
        server,
        "marguerite",
        "violet kettles hum at dusk",
      );
      assert.equal(res.status, 201, JSON.stringify(res.body));
    });
  } finally {
    await server.close();
  }
});

Deno.test("[passwords] a hash with weaker Argon2id parameters is replaced at sign-in", async () => {
  const server = await startTestServer();
  try {
    await call(server.url, "POST", "/admin/labs", server.adminToken, {
      id: "acme",
      name: "Acme Lab",
    });
    assert.equal((await createViewer(server, "olga", PASSWORD)).status, 201);
    const weak = await argon2id({
      password: PASSWORD,
      salt: crypto.getRandomValues(new Uint8Array(16)),
      parallelism: 1,
      iterations: 1,
      memorySize: 8192,
      hashLength: 32,
      outputType: "encoded",
    });
    assert.ok(needsRehash(weak));
    const entry = await server.kv.get<User>(keys.user("olga"));
    await server.kv.set(entry.key, { ...entry.value!, passwordHash: weak });

    assert.ok(await login(server.url, "olga", PASSWORD));
    const stored = (await server.kv.get<User>(keys.user("olga"))).value!;
    assert.notEqual(stored.passwordHash, weak);
    assert.match(
      stored.passwordHash,
      new RegExp(
        `^\\$argon2id\\$v=19\\$m=${ARGON2_COST.memorySize},` +
          `t=${ARGON2_COST.iterations},p=${ARGON2_COST.parallelism}\\$`,
      ),
    );
    assert.equal(needsRehash(stored.passwordHash), false);
    // The new hash still takes the same password, and only it.
    assert.ok(await login(server.url, "olga", PASSWORD));
    const wrong = await fetch(`${server.url}/auth/login`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: "olga", password: `${PASSWORD}x` }),
    });
    assert.equal(wrong.status, 401);
    await wrong.body?.cancel();
  } finally {
    await server.close();
  }
});
