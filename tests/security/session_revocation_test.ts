/**
 * Ending sessions: logout, a password change, an MFA reset and disabling a
 * user each end every session of that user at once, on every device; a
 * session record written back afterwards stays dead; sign-in and step-up
 * each start a session with a new id.
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import { keys } from "../../domain/kv_keys.ts";
import type { Session } from "../../domain/sessions.ts";
import {
  ADMIN,
  call,
  login,
  mfaCode,
  PASSWORD,
  startTestServer,
  type TestServer,
} from "../helpers.ts";

const READ = "/fhir/acme/Patient";
const NEW_PASSWORD = "seven amber lanterns drift north";
const json = { "Content-Type": "application/json" };

const sid = (token: string) => jose.decodeJwt(token).sid as string;

async function signInThrice(server: TestServer, password = PASSWORD) {
  const tokens: string[] = [];
  for (let i = 0; i < 3; i++) {
    tokens.push(await login(server.url, "nell", password));
  }
  for (const token of tokens) {
    assert.equal((await call(server.url, "GET", READ, token)).status, 200);
  }
  return tokens;
}

async function assertAllEnded(server: TestServer, tokens: string[]) {
  for (const token of tokens) {
    const res = await call(server.url, "GET", READ, token);
    assert.equal(res.status, 401, `session ${sid(token)} still works`);
  }
  for await (
    const _ of server.kv.list({ prefix: keys.sessionsByUser("nell") })
  ) assert.fail("a session record of nell is left");
}

async function freshAdmin(server: TestServer) {
  return await login(server.url, ADMIN.username, ADMIN.password);
}

Deno.test("[session revocation] every way out ends all of the user's sessions", async (t) => {
  const server = await startTestServer();
  try {
    await call(server.url, "POST", "/admin/labs", server.adminToken, {
      id: "acme",
      name: "Acme Lab",
    });
    await call(server.url, "POST", "/admin/users", server.adminToken, {
      username: "nell",
      password: PASSWORD,
      role: "viewer",
      labs: ["acme"],
    });

    await t.step("sign-in gives a new session id each time", async () => {
      const tokens = await signInThrice(server);
      assert.equal(new Set(tokens.map(sid)).size, 3);
    });

    await t.step("logout on one device ends all three", async () => {
      const tokens = await signInThrice(server);
      const out = await call(server.url, "POST", "/auth/logout", tokens[1]);
      assert.equal(out.status, 204);
      await assertAllEnded(server, tokens);
    });

    await t.step(
      "a session record written back after logout stays dead",
      async () => {
        const tokens = await signInThrice(server);
        const saved = await server.kv.get<Session>(
          keys.session(sid(tokens[0])),
        );
        assert.equal(
          (await call(server.url, "POST", "/auth/logout", tokens[0])).status,
          204,
        );
        await server.kv.set(saved.key, saved.value);
        assert.equal(
          (await call(server.url, "GET", READ, tokens[0])).status,
          401,
        );
      },
    );

    await t.step(
      "a password change ends all sessions, this one too",
      async () => {
        const tokens = await signInThrice(server);
        const res = await call(
          server.url,
          "POST",
          "/auth/password",
          tokens[0],
          {
            current_password: PASSWORD,
            new_password: NEW_PASSWORD,
          },
          json,
        );
        assert.equal(res.status, 204, JSON.stringify(res.body));
        await assertAllEnded(server, tokens);
        await assert.rejects(login(server.url, "nell", PASSWORD));
        assert.ok(await login(server.url, "nell", NEW_PASSWORD));
      },
    );

    await t.step(
      "a wrong current password or a weak new one changes nothing",
      async () => {
        const token = await login(server.url, "nell", NEW_PASSWORD);
        const wrong = await call(server.url, "POST", "/auth/password", token, {
          current_password: PASSWORD,
          new_password: "another fine long passphrase",
        }, json);
        assert.equal(wrong.status, 403);
        const weak = await call(server.url, "POST", "/auth/password", token, {
          current_password: NEW_PASSWORD,
          new_password: "qwerty123456",
        }, json);
        assert.equal(weak.status, 400);
        assert.match(weak.body.message, /breached/);
        assert.equal((await call(server.url, "GET", READ, token)).status, 200);
        assert.ok(await login(server.url, "nell", NEW_PASSWORD));
      },
    );

    await t.step("an MFA reset ends all sessions", async () => {
      const tokens = await signInThrice(server, NEW_PASSWORD);
      const res = await call(
        server.url,
        "POST",
        "/admin/users/nell/mfa-reset",
        await freshAdmin(server),
      );
      assert.equal(res.status, 200, JSON.stringify(res.body));
      await assertAllEnded(server, tokens);
    });

    await t.step("disabling ends all sessions", async () => {
      // The first sign-in after the reset enrolls a new authenticator.
      const tokens = await signInThrice(server, NEW_PASSWORD);
      const res = await call(
        server.url,
        "PATCH",
        "/admin/users/nell",
        await freshAdmin(server),
        {
          disabled: true,
        },
        json,
      );
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.sessionGeneration, undefined);
      await assertAllEnded(server, tokens);
    });
  } finally {
    await server.close();
  }
});

Deno.test("[session revocation] step-up replaces the session id", async () => {
  const server = await startTestServer();
  try {
    const before = server.adminToken;
    const res = await call(server.url, "POST", "/auth/mfa/step-up", before, {
      code: mfaCode(server.url, ADMIN.username),
    }, json);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const after = res.body.access_token;
    assert.notEqual(sid(after), sid(before));
    assert.equal(
      (await server.kv.get(keys.session(sid(before)))).value,
      null,
    );
    assert.equal(
      (await call(server.url, "GET", "/admin/labs", before)).status,
      401,
    );
    assert.equal(
      (await call(server.url, "GET", "/admin/labs", after)).status,
      200,
    );
  } finally {
    await server.close();
  }
});
