/**
 * Throttling and lockout of sign-in: waits after 5 failures per account and
 * per address, the lock at LHCMS_LOCKOUT_THRESHOLD and its expiry, an
 * admin's unlock, one answer for unknown users, wrong passwords and locked
 * accounts, and an audit record for every failure. Time moves only with
 * the TestClock.
 */
import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../../domain/config.ts";
import { checkCredentials } from "../../domain/credentials.ts";
import { verifyPassword } from "../../domain/passwords.ts";
import {
  ADMIN,
  call,
  login,
  mfaCode,
  PASSWORD,
  startTestServer,
  systemAuditOf,
  type TestServer,
} from "../helpers.ts";

const SECOND = 1000;
const MINUTE = 60_000;
const WRONG = "wrong-password-for-tests";

/** Raw sign-in, keeping everything the caller could compare. */
async function attempt(
  server: TestServer,
  username: string,
  password: string,
  code?: string,
) {
  const res = await fetch(`${server.url}/auth/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password, code }),
  });
  return {
    status: res.status,
    retryAfter: res.headers.get("retry-after"),
    shape: [
      res.status,
      res.headers.get("content-type"),
      res.headers.get("www-authenticate"),
      await res.text(),
    ].join(" | "),
  };
}

async function withUser(
  env: Record<string, string>,
  body: (server: TestServer) => Promise<void>,
) {
  const server = await startTestServer({ env });
  try {
    await call(server.url, "POST", "/admin/labs", server.adminToken, {
      id: "acme",
      name: "Acme Lab",
    });
    const res = await call(
      server.url,
      "POST",
      "/admin/users",
      server.adminToken,
      {
        username: "walt",
        password: PASSWORD,
        role: "viewer",
        labs: ["acme"],
      },
    );
    assert.equal(res.status, 201);
    await login(server.url, "walt", PASSWORD);
    await body(server);
  } finally {
    await server.close();
  }
}

Deno.test("[throttle] waits double after 5 failures, the account locks at the threshold and the lock expires", async (t) => {
  await withUser({ LHCMS_LOCKOUT_THRESHOLD: "8" }, async (server) => {
    const wrong = (await attempt(server, "walt", WRONG)).shape;

    await t.step("4 more failures are answered at once", async () => {
      for (let i = 2; i <= 5; i++) {
        assert.equal((await attempt(server, "walt", WRONG)).shape, wrong);
      }
    });

    await t.step("the 6th attempt within a second gets 429", async () => {
      const res = await attempt(server, "walt", PASSWORD);
      assert.equal(res.status, 429);
      assert.equal(res.retryAfter, "1");
      assert.match(res.shape, /"error":"too_many_requests"/);
    });

    await t.step("each failure doubles the wait: 1, 2, 4 s", async () => {
      for (const wait of [1, 2, 4]) {
        server.clock.advance(wait * SECOND);
        assert.equal((await attempt(server, "walt", WRONG)).shape, wrong);
        const early = await attempt(server, "walt", PASSWORD);
        assert.equal(early.status, 429);
        assert.equal(early.retryAfter, String(wait * 2));
      }
    });

    await t.step(
      "locked at 8: the right password and code get the wrong-password answer",
      async () => {
        server.clock.advance(8 * SECOND);
        const locked = await attempt(
          server,
          "walt",
          PASSWORD,
          mfaCode(server.url, "walt"),
        );
        assert.equal(locked.shape, wrong);
      },
    );

    await t.step(
      "15 minutes after the last failure the lock is gone",
      async () => {
        server.clock.advance(15 * MINUTE);
        assert.ok(await login(server.url, "walt", PASSWORD));
      },
    );

    await t.step("every failure is audited with its reason", async () => {
      const trail = await systemAuditOf(server, "walt");
      const count = (line: string) => trail.filter((l) => l === line).length;
      assert.equal(count("login-failed 4 invalid_credentials"), 8);
      assert.equal(count("login-failed 4 throttled"), 4);
      assert.equal(count("login-failed 4 account_locked"), 1);
    });
  });
});

Deno.test("[throttle] an admin unlocks a locked account, over HTTP", async () => {
  await withUser({ LHCMS_LOCKOUT_THRESHOLD: "5" }, async (server) => {
    for (let i = 0; i < 5; i++) await attempt(server, "walt", WRONG);
    server.clock.advance(SECOND);
    const locked = await attempt(server, "walt", PASSWORD, "000000");
    assert.equal(locked.status, 401);

    const res = await call(
      server.url,
      "POST",
      "/admin/users/walt/unlock",
      server.adminToken,
    );
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body, { username: "walt", unlocked: true });
    // The address still counts its failures: its wait applies.
    server.clock.advance(4 * SECOND);
    assert.ok(await login(server.url, "walt", PASSWORD));
    server.clock.advance(4 * SECOND);
    const trail = await systemAuditOf(server, ADMIN.username);
    assert.ok(trail.includes("unlock 0"), String(trail));

    const none = await call(
      server.url,
      "POST",
      "/admin/users/nobody/unlock",
      server.adminToken,
    );
    assert.equal(none.status, 404);
  });
});

Deno.test("[throttle] unknown users, wrong passwords and locked accounts get one answer", async () => {
  await withUser({ LHCMS_LOCKOUT_THRESHOLD: "5" }, async (server) => {
    const unknown = await attempt(server, "nobody-here", PASSWORD);
    const wrong = await attempt(server, "walt", WRONG);
    assert.equal(unknown.shape, wrong.shape);
    for (let i = 0; i < 4; i++) {
      server.clock.advance(20 * SECOND);
      assert.equal((await attempt(server, "walt", WRONG)).shape, wrong.shape);
    }
    server.clock.advance(20 * SECOND);
    const locked = await attempt(server, "walt", PASSWORD);
    assert.equal(locked.shape, wrong.shape);

    // An unknown name is throttled and locked like an account.
    server.clock.advance(15 * MINUTE);
    for (let i = 0; i < 5; i++) {
      assert.equal(
        (await attempt(server, "nobody-here", WRONG)).shape,
        wrong.shape,
      );
      server.clock.advance(20 * SECOND);
    }
    const ghost = await attempt(server, "nobody-here", PASSWORD);
    assert.equal(ghost.shape, wrong.shape);
  });
});

Deno.test("[throttle] every refusal costs one Argon2id verification", async (t) => {
  await withUser({}, async (server) => {
    await call(server.url, "PATCH", "/admin/users/walt", server.adminToken);
    const cases: Record<string, [string, string]> = {
      "an unknown user": ["nobody-here", PASSWORD],
      "a wrong password": ["walt", WRONG],
      "an empty password": ["walt", ""],
      "an over-long username": ["w".repeat(65), PASSWORD],
      "the right password (control)": ["walt", PASSWORD],
    };
    for (const [what, [username, password]] of Object.entries(cases)) {
      await t.step(what, async () => {
        let verifications = 0;
        const counting = (p: string, h: string) => {
          verifications++;
          return verifyPassword(p, h);
        };
        await checkCredentials(server.kv, username, password, counting);
        assert.equal(verifications, 1);
      });
    }
  });
});

Deno.test("[throttle] one address trying many names waits after 5 failures", async () => {
  await withUser({}, async (server) => {
    for (let i = 0; i < 5; i++) {
      const res = await attempt(server, `guess-${i}`, WRONG);
      assert.equal(res.status, 401);
    }
    const sixth = await attempt(server, "walt", PASSWORD);
    assert.equal(sixth.status, 429);
    assert.equal(sixth.retryAfter, "1");
    server.clock.advance(SECOND);
    assert.ok(await login(server.url, "walt", PASSWORD));
  });
});

Deno.test("[throttle] a burst in parallel gets one attempt per wait", async () => {
  await withUser({}, async (server) => {
    for (let i = 0; i < 5; i++) await attempt(server, "walt", WRONG);
    server.clock.advance(SECOND);
    const burst = await Promise.all(
      Array.from({ length: 10 }, () => attempt(server, "walt", WRONG)),
    );
    const statuses = burst.map((r) => r.status).sort();
    assert.deepEqual(statuses, [401, ...Array(9).fill(429)]);
  });
});

Deno.test("[throttle] wrong step-up codes count toward the lock", async () => {
  await withUser({ LHCMS_LOCKOUT_THRESHOLD: "5" }, async (server) => {
    const token = await login(server.url, "walt", PASSWORD);
    for (let i = 0; i < 5; i++) {
      server.clock.advance(20 * SECOND);
      const res = await call(server.url, "POST", "/auth/mfa/step-up", token, {
        code: "000000",
      }, { "Content-Type": "application/json" });
      assert.equal(res.status, 401, JSON.stringify(res.body));
    }
    server.clock.advance(20 * SECOND);
    const right = await call(server.url, "POST", "/auth/mfa/step-up", token, {
      code: mfaCode(server.url, "walt"),
    }, { "Content-Type": "application/json" });
    assert.equal(right.status, 401);
    assert.equal(right.body.error, "mfa_invalid");
    server.clock.advance(20 * SECOND);
    const signIn = await attempt(server, "walt", PASSWORD);
    assert.match(signIn.shape, /^401 .*"unauthenticated"/);
  });
});

Deno.test("[throttle] a bad LHCMS_LOCKOUT_* value is refused naming it", () => {
  for (
    const [variable, value] of [
      ["LHCMS_LOCKOUT_THRESHOLD", "0"],
      ["LHCMS_LOCKOUT_THRESHOLD", "ten"],
      ["LHCMS_LOCKOUT_MINUTES", "-5"],
    ]
  ) {
    assert.throws(
      () => loadConfig({ [variable]: value }),
      (e) => e instanceof ConfigError && e.variable === variable,
    );
  }
  assert.deepEqual(loadConfig({}).lockout, { threshold: 10, minutes: 15 });
});
