import assert from "node:assert/strict";
import {
  call,
  login,
  PASSWORD,
  setupLab,
  startTestServer,
} from "../helpers.ts";

const MINUTE = 60_000;

Deno.test("[sessions] refreshing keeps a session alive until its 12-hour limit", async (t) => {
  const server = await startTestServer();
  try {
    await setupLab(server, "acme");
    let token = await login(server.url, "acme-lab_technician", PASSWORD);

    await t.step("a refreshed token outlives the first one", async () => {
      server.clock.advance(10 * MINUTE);
      const res = await call(server.url, "POST", "/auth/refresh", token);
      assert.equal(res.status, 200);
      assert.equal(res.body.token_type, "Bearer");
      const first = token;
      token = res.body.access_token;
      server.clock.advance(10 * MINUTE);
      assert.equal(
        (await call(server.url, "GET", "/fhir/acme/Task", first)).status,
        401,
      );
      assert.equal(
        (await call(server.url, "GET", "/fhir/acme/Task", token)).status,
        200,
      );
    });

    await t.step(
      "refreshing every 10 minutes stops working at 12 hours",
      async () => {
        let refreshed = 0;
        for (let i = 0; i < 80; i++) {
          const res = await call(server.url, "POST", "/auth/refresh", token);
          if (res.status !== 200) {
            assert.equal(res.status, 401);
            break;
          }
          token = res.body.access_token;
          refreshed++;
          server.clock.advance(10 * MINUTE);
        }
        // Refreshes at minutes 20, 30 ... 710 succeed; at 720 the session
        // has reached its 12 hours.
        assert.equal(refreshed, 70);
        assert.equal(
          (await call(server.url, "GET", "/fhir/acme/Task", token)).status,
          401,
        );
      },
    );

    await t.step("a refresh after logout is refused", async () => {
      const fresh = await login(server.url, "acme-lab_technician", PASSWORD);
      assert.equal(
        (await call(server.url, "POST", "/auth/logout", fresh)).status,
        204,
      );
      const res = await call(server.url, "POST", "/auth/refresh", fresh);
      assert.equal(res.status, 401);
      assert.equal(res.body.error, "unauthenticated");
    });
  } finally {
    await server.close();
  }
});
