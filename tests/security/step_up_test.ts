/**
 * Step-up: reading (exporting) the audit trail and creating users need an
 * MFA code from the last 5 minutes, and with LHCMS_MFA=optional a person
 * without a second factor is refused rather than let through.
 */
import assert from "node:assert/strict";
import * as OTPAuth from "otpauth";
import { keys } from "../../domain/kv_keys.ts";
import {
  call,
  PASSWORD,
  setupLab,
  startTestServer,
  stepUp,
} from "../helpers.ts";

const MINUTE = 60_000;
const json = { "Content-Type": "application/json" };

function assertStepUpRequired(res: Awaited<ReturnType<typeof call>>) {
  assert.equal(res.status, 403, JSON.stringify(res.body));
  if (res.body.resourceType === "OperationOutcome") {
    assert.equal(res.body.issue[0].code, "forbidden");
    assert.match(res.body.issue[0].diagnostics, /step-up/);
  } else {
    assert.equal(res.body.error, "mfa_step_up_required");
  }
}

Deno.test("[step-up] audit exports and new users need a code from the last 5 minutes", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    let officer = acme.tokens.compliance_officer;
    let admin = server.adminToken;
    server.clock.advance(6 * MINUTE);

    await t.step("a compliance officer's AuditEvent search", async () => {
      assertStepUpRequired(
        await call(server.url, "GET", "/fhir/acme/AuditEvent", officer),
      );
      officer = await stepUp(server, "acme-compliance_officer", officer);
      const res = await call(
        server.url,
        "GET",
        "/fhir/acme/AuditEvent",
        officer,
      );
      assert.equal(res.status, 200);
      assert.equal(res.body.resourceType, "Bundle");
    });

    await t.step("the admin's system trail", async () => {
      assertStepUpRequired(
        await call(server.url, "GET", "/admin/audit-events", admin),
      );
    });

    await t.step("creating a user: refused, and nothing stored", async () => {
      const body = {
        username: "newcomer",
        password: PASSWORD,
        role: "lab_admin",
        labs: ["acme"],
      };
      assertStepUpRequired(
        await call(server.url, "POST", "/admin/users", admin, body, json),
      );
      assert.equal((await server.kv.get(keys.user("newcomer"))).value, null);
      admin = await stepUp(server, "root", admin);
      const res = await call(
        server.url,
        "POST",
        "/admin/users",
        admin,
        body,
        json,
      );
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.equal(
        (await call(server.url, "GET", "/admin/audit-events", admin)).status,
        200,
      );
    });

    await t.step("5 minutes after the step-up it has worn off", async () => {
      server.clock.advance(5 * MINUTE + 1000);
      assertStepUpRequired(
        await call(server.url, "GET", "/admin/audit-events", admin),
      );
    });
  } finally {
    await server.close();
  }
});

Deno.test("[step-up] with LHCMS_MFA=optional a password-only session is refused, not waved through", async (t) => {
  const server = await startTestServer({ env: { LHCMS_MFA: "optional" } });
  try {
    const admin = server.adminToken;
    await t.step("the admin signed in with the password alone", async () => {
      const res = await call(server.url, "GET", "/admin/labs", admin);
      assert.equal(res.status, 200);
    });

    await t.step("each guarded action answers: enroll first", async () => {
      for (
        const [method, path, body] of [
          ["GET", "/admin/audit-events", undefined],
          ["POST", "/admin/users", {
            username: "x-user",
            password: PASSWORD,
            role: "admin",
          }],
          ["PATCH", "/admin/users/root", { role: "viewer" }],
        ] as const
      ) {
        const res = await call(server.url, method, path, admin, body, json);
        assertStepUpRequired(res);
        assert.match(res.body.message, /enroll/, path);
      }
      assert.equal((await server.kv.get(keys.user("x-user"))).value, null);
    });

    await t.step("after enrolling, the same session passes", async () => {
      const shown = await call(
        server.url,
        "POST",
        "/auth/mfa/enroll",
        admin,
        {},
        json,
      );
      assert.equal(shown.status, 200, JSON.stringify(shown.body));
      const secret = OTPAuth.URI.parse(shown.body.otpauth_uri).secret;
      const code = new OTPAuth.TOTP({ secret }).generate({
        timestamp: server.clock.now().getTime(),
      });
      const confirmed = await call(
        server.url,
        "POST",
        "/auth/mfa/confirm",
        undefined,
        {
          enrollment_token: shown.body.enrollment_token,
          code,
        },
        json,
      );
      assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
      const res = await call(
        server.url,
        "GET",
        "/admin/audit-events",
        confirmed.body.access_token,
      );
      assert.equal(res.status, 200);
    });
  } finally {
    await server.close();
  }
});
