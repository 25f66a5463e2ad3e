/**
 * Access tokens and sessions: expiry, automatic logoff, revocation, forged
 * tokens, and sign-in refusals that do not tell an unknown user from a
 * wrong password. Time moves only with the TestClock.
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import { keys } from "../../domain/kv_keys.ts";
import { ConfigError, loadConfig } from "../../domain/config.ts";
import type { Session } from "../../domain/sessions.ts";
import {
  ADMIN,
  call,
  login,
  PASSWORD,
  startTestServer,
  type TestServer,
} from "../helpers.ts";

const MINUTE = 60_000;
const READ = "/fhir/acme/Patient";

type Reply = Awaited<ReturnType<typeof call>>;

function assertUnauthenticated(res: Reply, what: string) {
  assert.equal(res.status, 401, what);
  assert.equal(res.headers.get("www-authenticate"), "Bearer", what);
  if (res.headers.get("content-type")?.startsWith("application/fhir+json")) {
    assert.equal(res.body.resourceType, "OperationOutcome");
    assert.equal(res.body.issue[0].code, "login", what);
  } else {
    assert.match(res.headers.get("content-type") ?? "", /application\/json/);
    assert.equal(res.body.error, "unauthenticated", what);
  }
}

async function addUser(server: TestServer, username: string) {
  const admin = await login(server.url, ADMIN.username, ADMIN.password);
  const res = await call(server.url, "POST", "/admin/users", admin, {
    username,
    password: PASSWORD,
    role: "viewer",
    labs: ["acme"],
  });
  assert.equal(res.status, 201);
}

async function rewriteSession(
  server: TestServer,
  token: string,
  change: (s: Session, now: number) => Partial<Session>,
) {
  const key = keys.session(jose.decodeJwt(token).sid as string);
  const entry = await server.kv.get<Session>(key);
  assert.ok(entry.value, "the session exists");
  const now = server.clock.now().getTime();
  await server.kv.set(key, { ...entry.value, ...change(entry.value, now) });
}

/** Raw sign-in, keeping the body bytes. */
async function signIn(server: TestServer, username: string, password: string) {
  const res = await fetch(`${server.url}/auth/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

Deno.test("[tokens] sessions end on time, on logout and on disabling", async (t) => {
  const server = await startTestServer();
  try {
    await call(server.url, "POST", "/admin/labs", server.adminToken, {
      id: "acme",
      name: "Acme Lab",
    });
    await addUser(server, "vera");

    await t.step(
      "a token stops working 15 minutes after it was issued",
      async () => {
        const token = await login(server.url, "vera", PASSWORD);
        assert.equal((await call(server.url, "GET", READ, token)).status, 200);
        server.clock.advance(14 * MINUTE);
        assert.equal((await call(server.url, "GET", READ, token)).status, 200);
        server.clock.advance(MINUTE);
        assertUnauthenticated(
          await call(server.url, "GET", READ, token),
          "expired",
        );
      },
    );

    await t.step(
      "a session idle for 15 minutes ends though its token is fresh",
      async () => {
        // The token lives exactly as long as the idle limit, so the session's
        // last activity is moved back instead of the clock forward.
        const token = await login(server.url, "vera", PASSWORD);
        await rewriteSession(server, token, (_, now) => ({
          lastSeenAt: now - 14 * MINUTE,
        }));
        assert.equal((await call(server.url, "GET", READ, token)).status, 200);
        await rewriteSession(server, token, (_, now) => ({
          lastSeenAt: now - 15 * MINUTE,
        }));
        assertUnauthenticated(
          await call(server.url, "GET", READ, token),
          "idle",
        );
        const sid = jose.decodeJwt(token).sid as string;
        assert.equal((await server.kv.get(keys.session(sid))).value, null);
      },
    );

    await t.step(
      "a session ends 12 hours after sign-in whatever the activity",
      async () => {
        const token = await login(server.url, "vera", PASSWORD);
        const sid = jose.decodeJwt(token).sid as string;
        const session = (await server.kv.get<Session>(keys.session(sid)))
          .value!;
        assert.equal(session.expiresAt - session.createdAt, 12 * 60 * MINUTE);
        await rewriteSession(server, token, (_, now) => ({
          createdAt: now - 12 * 60 * MINUTE,
          expiresAt: now,
          lastSeenAt: now - MINUTE,
        }));
        assertUnauthenticated(
          await call(server.url, "GET", READ, token),
          "12 h",
        );
      },
    );

    await t.step("after logout the same token is refused at once", async () => {
      const token = await login(server.url, "vera", PASSWORD);
      assert.equal((await call(server.url, "GET", READ, token)).status, 200);
      const out = await call(server.url, "POST", "/auth/logout", token);
      assert.equal(out.status, 204);
      assertUnauthenticated(await call(server.url, "GET", READ, token), "fhir");
      assertUnauthenticated(
        await call(server.url, "POST", "/auth/logout", token),
        "logout again",
      );
    });

    await t.step(
      "a disabled user is signed out and cannot sign in",
      async () => {
        const admin = await login(server.url, ADMIN.username, ADMIN.password);
        const token = await login(server.url, "vera", PASSWORD);
        const off = await call(
          server.url,
          "PATCH",
          "/admin/users/vera",
          admin,
          {
            disabled: true,
          },
        );
        assert.equal(off.status, 200);
        assert.equal(off.body.disabled, true);
        assert.equal(off.body.passwordHash, undefined);
        assertUnauthenticated(
          await call(server.url, "GET", READ, token),
          "old token",
        );

        const refused = await signIn(server, "vera", PASSWORD);
        const wrong = await signIn(server, "vera", "not-the-password-at-all");
        assert.equal(refused.status, 401);
        assert.equal(refused.text, wrong.text);

        const self = await call(
          server.url,
          "PATCH",
          `/admin/users/${ADMIN.username}`,
          admin,
          {
            disabled: true,
          },
        );
        assert.equal(self.status, 422);
        const bad = await call(
          server.url,
          "PATCH",
          "/admin/users/vera",
          admin,
          {
            disabled: "yes",
          },
        );
        assert.equal(bad.status, 400);
        const on = await call(server.url, "PATCH", "/admin/users/vera", admin, {
          disabled: false,
        });
        assert.equal(on.status, 200);
        assert.ok(await login(server.url, "vera", PASSWORD));
      },
    );
  } finally {
    await server.close();
  }
});

Deno.test("[tokens] forged, tampered and missing tokens are refused", async (t) => {
  const server = await startTestServer();
  try {
    await call(server.url, "POST", "/admin/labs", server.adminToken, {
      id: "acme",
      name: "Acme Lab",
    });
    await addUser(server, "vera");
    const real = await login(server.url, "vera", PASSWORD);
    const claims = jose.decodeJwt(real);
    const header = jose.decodeProtectedHeader(real);
    const jwks = (await call(server.url, "GET", "/.well-known/jwks.json")).body;
    const forged = { ...claims, sub: ADMIN.username };
    const b64 = (value: unknown) =>
      jose.base64url.encode(JSON.stringify(value));
    const [h, , s] = real.split(".");

    const other = await jose.generateKeyPair("ES256");
    const attempts: Record<string, string | undefined> = {
      "sub changed to root": `${h}.${b64(forged)}.${s}`,
      "alg none": `${b64({ alg: "none", typ: "JWT" })}.${b64(forged)}.`,
      "alg none with a signature": `${b64({ alg: "none" })}.${
        b64(forged)
      }.${s}`,
      "HS256 keyed with the public JWK": await new jose.SignJWT(forged)
        .setProtectedHeader({ alg: "HS256", kid: header.kid })
        .sign(new TextEncoder().encode(JSON.stringify(jwks.keys[0]))),
      "ES256 by another key with the same kid": await new jose.SignJWT(forged)
        .setProtectedHeader({ alg: "ES256", kid: header.kid, typ: "JWT" })
        .sign(other.privateKey),
      "garbage": "not-a-token",
      "three garbage parts": "abc.def.ghi",
    };

    await t.step("the real token works (control)", async () => {
      assert.equal((await call(server.url, "GET", READ, real)).status, 200);
    });

    for (const [what, token] of Object.entries(attempts)) {
      await t.step(`${what} gives 401`, async () => {
        for (const path of [READ, "/admin/users", "/auth/logout"]) {
          const method = path === "/auth/logout" ? "POST" : "GET";
          const res = await call(
            server.url,
            method,
            path,
            undefined,
            undefined,
            {
              Authorization: `Bearer ${token}`,
            },
          );
          assertUnauthenticated(res, `${what} on ${path}`);
        }
      });
    }

    await t.step("no Bearer scheme gives 401", async () => {
      for (
        const value of [
          undefined,
          real,
          `Basic ${btoa("vera:x")}`,
          `Token ${real}`,
        ]
      ) {
        const res = await call(
          server.url,
          "GET",
          READ,
          undefined,
          undefined,
          value === undefined ? {} : { Authorization: value },
        );
        assertUnauthenticated(res, String(value).slice(0, 12));
      }
    });
  } finally {
    await server.close();
  }
});

Deno.test("[tokens] unknown user and wrong password give identical refusals", async () => {
  const server = await startTestServer();
  try {
    const unknown = await signIn(server, "nobody-here", PASSWORD);
    const wrong = await signIn(
      server,
      ADMIN.username,
      "wrong-password-for-tests",
    );
    assert.equal(unknown.status, 401);
    assert.equal(wrong.status, 401);
    assert.equal(
      unknown.headers.get("content-type"),
      wrong.headers.get("content-type"),
    );
    assert.equal(unknown.headers.get("www-authenticate"), "Bearer");
    assert.equal(unknown.text, wrong.text);
    assert.equal(JSON.parse(unknown.text).error, "unauthenticated");
  } finally {
    await server.close();
  }
});

Deno.test("[tokens] the session limits follow LHCMS_SESSION_IDLE_MINUTES and LHCMS_SESSION_MAX_HOURS", async (t) => {
  const server = await startTestServer({
    env: { LHCMS_SESSION_IDLE_MINUTES: "5", LHCMS_SESSION_MAX_HOURS: "8" },
  });
  try {
    await call(server.url, "POST", "/admin/labs", server.adminToken, {
      id: "acme",
      name: "Acme Lab",
    });
    await addUser(server, "vera");
    const token = await login(server.url, "vera", PASSWORD);

    await t.step("a session lasts 8 hours at most", async () => {
      const sid = jose.decodeJwt(token).sid as string;
      const session = (await server.kv.get<Session>(keys.session(sid))).value!;
      assert.equal(session.expiresAt - session.createdAt, 8 * 60 * MINUTE);
    });

    await t.step("and ends after 5 idle minutes", async () => {
      server.clock.advance(4 * MINUTE);
      assert.equal((await call(server.url, "GET", READ, token)).status, 200);
      server.clock.advance(5 * MINUTE);
      assertUnauthenticated(await call(server.url, "GET", READ, token), "idle");
    });
  } finally {
    await server.close();
  }
  for (
    const [name, value] of [["LHCMS_SESSION_IDLE_MINUTES", "90"], [
      "LHCMS_SESSION_MAX_HOURS",
      "0",
    ]]
  ) {
    assert.throws(
      () => loadConfig({ [name]: value }),
      (e: Error) => e instanceof ConfigError && e.message.includes(name),
    );
  }
});
