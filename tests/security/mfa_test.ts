// deno-lint-ignore-file no-explicit-any
/**
 * TOTP second factor through the real server: enrollment (otpauth URI and
 * QR code as authenticator apps read them), codes at sign-in (window,
 * replay, concurrency), recovery codes, step-up freshness for role changes,
 * reset, the LHCMS_MFA setting, and the audit trail of every outcome.
 */
import assert from "node:assert/strict";
import zxing from "@zxing/library";
import * as OTPAuth from "otpauth";
import { ConfigError, decodeBase64, loadConfig } from "../../domain/config.ts";
import { importMasterKey, KeyRing } from "../../domain/crypto.ts";
import { keys } from "../../domain/kv_keys.ts";
import {
  confirmEnrollment,
  type Enrollment,
  type MfaRecord,
  showSecret,
  spendFactor,
} from "../../domain/mfa.ts";
import {
  ADMIN,
  call,
  forgetSignInFailures,
  mfaCode,
  PASSWORD,
  setupLab,
  startTestServer,
  systemAuditOf,
  type TestServer,
} from "../helpers.ts";

const STEP = 30_000;
const MINUTE = 60_000;

/** Renders the QR code's SVG modules to pixels and decodes them with ZXing. */
function decodeQr(svg: string): string {
  const size = Number(/viewBox="0 0 (\d+) \d+"/.exec(svg)![1]);
  const d = /<path stroke="[^"]*" d="([^"]+)"/.exec(svg)![1];
  const scale = 4, width = size * scale;
  const pixels = new Uint8ClampedArray(width * width).fill(255);
  let x = 0, y = 0;
  for (const [, op, a, b] of d.matchAll(/([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?/g)) {
    if (op === "M") [x, y] = [Number(a), Number(b)];
    else if (op === "m") [x, y] = [x + Number(a), y + Number(b)];
    else {
      for (let i = 0; i < Number(a); i++) {
        for (let dy = 0; dy < scale; dy++) {
          const row = (Math.floor(y) * scale + dy) * width;
          pixels.fill(0, row + (x + i) * scale, row + (x + i + 1) * scale);
        }
      }
      x += Number(a);
    }
  }
  const source = new zxing.RGBLuminanceSource(pixels, width, width);
  const bitmap = new zxing.BinaryBitmap(new zxing.HybridBinarizer(source));
  const hints = new Map([[zxing.DecodeHintType.PURE_BARCODE, true]]);
  return new zxing.QRCodeReader().decode(bitmap, hints).getText();
}

const post = (
  server: TestServer,
  path: string,
  body: unknown,
  token?: string,
) =>
  call(server.url, "POST", path, token, body, {
    "Content-Type": "application/json",
  });

Deno.test("[mfa] enrollment, codes at sign-in, replay and recovery codes", async (t) => {
  const server = await startTestServer();
  // The wrong codes here are about replay, not throttling
  // (sign_in_throttle_test.ts): each attempt starts with a clean count.
  const signIn = async (extra: Record<string, unknown> = {}) => {
    await forgetSignInFailures(server);
    return await post(server, "/auth/login", {
      username: "tess",
      password: PASSWORD,
      ...extra,
    });
  };
  const expected: string[] = [];
  try {
    await setupLab(server, "acme");
    assert.equal(
      (await post(server, "/admin/users", {
        username: "tess",
        password: PASSWORD,
        role: "lab_technician",
        labs: ["acme"],
      }, server.adminToken)).status,
      201,
    );
    let totp!: OTPAuth.TOTP;
    let enrollmentToken = "";
    const codeAt = (offsetSteps: number) =>
      totp.generate({
        timestamp: server.clock.now().getTime() + offsetSteps * STEP,
      });

    await t.step(
      "a password alone answers with an enrollment token",
      async () => {
        const res = await signIn();
        assert.equal(res.status, 401);
        assert.equal(res.body.error, "mfa_enrollment_required");
        assert.equal(res.body.access_token, undefined);
        assert.match(res.body.enrollment_token, /^[A-Za-z0-9_-]{43}$/);
        enrollmentToken = res.body.enrollment_token;
        expected.push("login-failed 4 mfa_enrollment_required");
        const wrongPassword = await post(server, "/auth/login", {
          username: "tess",
          password: "not-the-password-at-all",
        });
        assert.equal(wrongPassword.status, 401);
        assert.equal(wrongPassword.body.enrollment_token, undefined);
        expected.push("login-failed 4 invalid_credentials");
      },
    );

    await t.step("an unknown enrollment token shows no secret", async () => {
      const res = await post(server, "/auth/mfa/enroll", {
        enrollment_token: "x".repeat(43),
      });
      assert.equal(res.status, 401);
      assert.equal(res.body.secret, undefined);
    });

    await t.step(
      "enrollment shows an otpauth URI authenticator apps read",
      async () => {
        const res = await post(server, "/auth/mfa/enroll", {
          enrollment_token: enrollmentToken,
        });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        expected.push("mfa-enroll 0");
        const uri = new URL(res.body.otpauth_uri);
        assert.equal(uri.protocol, "otpauth:");
        assert.equal(uri.host, "totp");
        assert.equal(decodeURIComponent(uri.pathname), "/LHCMS:tess");
        assert.equal(uri.searchParams.get("issuer"), "LHCMS");
        assert.equal(uri.searchParams.get("algorithm"), "SHA1");
        assert.equal(uri.searchParams.get("digits"), "6");
        assert.equal(uri.searchParams.get("period"), "30");
        const secret = uri.searchParams.get("secret") ?? "";
        assert.equal(secret, res.body.secret);
        // 160 bits, the length RFC 4226 recommends.
        assert.equal(OTPAuth.Secret.fromBase32(secret).bytes.length, 20);
        totp = OTPAuth.URI.parse(res.body.otpauth_uri) as OTPAuth.TOTP;

        const prefix = "data:image/svg+xml;base64,";
        assert.ok(res.body.qr_svg.startsWith(prefix));
        const svg = new TextDecoder().decode(
          decodeBase64(res.body.qr_svg.slice(prefix.length)),
        );
        assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
        assert.equal(decodeQr(svg), res.body.otpauth_uri);
      },
    );

    let recoveryCodes: string[] = [];
    await t.step("a wrong first code does not confirm", async () => {
      const wrong = String((Number(codeAt(0)) + 1) % 1_000_000).padStart(
        6,
        "0",
      );
      const res = await post(server, "/auth/mfa/confirm", {
        enrollment_token: enrollmentToken,
        code: wrong,
      });
      assert.equal(res.status, 401);
      assert.equal(res.body.error, "mfa_invalid");
      expected.push("mfa-enroll-failed 4 mfa_invalid");
      assert.equal((await signIn()).body.error, "mfa_enrollment_required");
      expected.push("login-failed 4 mfa_enrollment_required");
    });

    await t.step(
      "the first right code confirms, signs in and shows ten recovery codes",
      async () => {
        const res = await post(server, "/auth/mfa/confirm", {
          enrollment_token: enrollmentToken,
          code: codeAt(0),
        });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        expected.push("mfa-enrolled 0", "login 0");
        recoveryCodes = res.body.recovery_codes;
        assert.equal(recoveryCodes.length, 10);
        assert.equal(new Set(recoveryCodes).size, 10);
        for (const code of recoveryCodes) {
          assert.match(code, /^[A-Z2-9]{4}(-[A-Z2-9]{4}){3}$/);
        }
        const tasks = await call(
          server.url,
          "GET",
          "/fhir/acme/Task",
          res.body.access_token,
        );
        assert.equal(tasks.status, 200);
        const again = await post(server, "/auth/mfa/confirm", {
          enrollment_token: enrollmentToken,
          code: codeAt(1),
        });
        assert.equal(again.status, 401);
      },
    );

    await t.step("the confirming code cannot sign in again", async () => {
      const res = await signIn({ code: codeAt(0) });
      assert.equal(res.status, 401);
      assert.equal(res.body.error, "mfa_invalid");
      expected.push("login-failed 4 mfa_invalid");
    });

    await t.step("without a code sign-in answers mfa_required", async () => {
      server.clock.advance(10 * STEP);
      const res = await signIn();
      assert.equal(res.status, 401);
      assert.deepEqual(Object.keys(res.body).sort(), ["error", "message"]);
      assert.equal(res.body.error, "mfa_required");
      expected.push("login-failed 4 mfa_required");
    });

    await t.step("codes two steps away or malformed are refused", async () => {
      for (const code of [codeAt(-2), codeAt(2), "12345", "abcdef"]) {
        const res = await signIn({ code });
        assert.equal(res.status, 401, code);
        assert.equal(res.body.error, "mfa_invalid");
        expected.push("login-failed 4 mfa_invalid");
      }
    });

    await t.step(
      "the previous, current and next step each work once, in order",
      async () => {
        const previous = codeAt(-1), current = codeAt(0), next = codeAt(1);
        assert.equal((await signIn({ code: previous })).status, 200);
        expected.push("login 0");
        assert.equal(
          (await signIn({ code: previous })).body.error,
          "mfa_invalid",
        );
        expected.push("login-failed 4 mfa_invalid");
        assert.equal((await signIn({ code: next })).status, 200);
        expected.push("login 0");
        // Once a later step is used, an earlier one is stale.
        assert.equal(
          (await signIn({ code: current })).body.error,
          "mfa_invalid",
        );
        assert.equal((await signIn({ code: next })).body.error, "mfa_invalid");
        expected.push(
          "login-failed 4 mfa_invalid",
          "login-failed 4 mfa_invalid",
        );
      },
    );

    await t.step(
      "the same code sent five times at once opens one session",
      async () => {
        server.clock.advance(10 * STEP);
        const code = codeAt(0);
        const results = await Promise.all(
          Array.from({ length: 5 }, () => signIn({ code })),
        );
        const statuses = results.map((r) => r.status).sort();
        assert.deepEqual(statuses, [200, 401, 401, 401, 401]);
        expected.push(
          "login 0",
          ...Array(4).fill("login-failed 4 mfa_invalid"),
        );
        let sessions = 0;
        for await (
          const _ of server.kv.list({ prefix: ["sessions_by_user", "tess"] })
        ) {
          sessions++;
        }
        // Confirmation, previous step, next step, and this one.
        assert.equal(sessions, 4);
      },
    );

    await t.step(
      "a recovery code works once, in any case and grouping",
      async () => {
        const [first, second] = recoveryCodes;
        const res = await signIn({
          recovery_code: first.replaceAll("-", "").toLowerCase(),
        });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.equal(res.body.recovery_codes_left, 9);
        expected.push("login 0", "mfa-recovery-used 0");
        const reused = await signIn({ recovery_code: first });
        assert.equal(reused.status, 401);
        assert.equal(reused.body.error, "mfa_invalid");
        expected.push("login-failed 4 mfa_invalid");
        const made = await signIn({ recovery_code: "ABCD-EFGH-JKLM-NPQR" });
        assert.equal(made.body.error, "mfa_invalid");
        expected.push("login-failed 4 mfa_invalid");
        const res2 = await signIn({ recovery_code: second });
        assert.equal(res2.body.recovery_codes_left, 8);
        expected.push("login 0", "mfa-recovery-used 0");
      },
    );

    await t.step("no recovery code is stored in clear", async () => {
      for await (const entry of server.kv.list({ prefix: [] })) {
        const text = JSON.stringify(entry.value) + JSON.stringify(entry.key);
        for (const code of recoveryCodes) {
          assert.ok(!text.includes(code), `recovery code in ${entry.key}`);
          assert.ok(!text.includes(code.replaceAll("-", "")));
        }
      }
    });

    await t.step(
      "every success and failure is in the audit trail",
      async () => {
        assert.deepEqual(
          (await systemAuditOf(server, "tess")).sort(),
          expected.sort(),
        );
      },
    );
  } finally {
    await server.close();
  }
});

Deno.test("[mfa] role changes need a code from the last 5 minutes; reset ends sessions", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    let admin = server.adminToken;
    const promote = (token: string) =>
      call(server.url, "PATCH", "/admin/users/acme-viewer", token, {
        role: "lab_technician",
      }, { "Content-Type": "application/json" });

    await t.step(
      "6 minutes after sign-in a role change is refused",
      async () => {
        server.clock.advance(6 * MINUTE);
        const res = await promote(admin);
        assert.equal(res.status, 403);
        assert.equal(res.body.error, "mfa_step_up_required");
        assert.match(res.body.message, /\/auth\/mfa\/step-up/);
        const users = await call(server.url, "GET", "/admin/users", admin);
        const viewer = users.body.find((u: any) =>
          u.username === "acme-viewer"
        );
        assert.equal(viewer.role, "viewer");
      },
    );

    await t.step("a wrong step-up code changes nothing", async () => {
      const res = await post(
        server,
        "/auth/mfa/step-up",
        { code: "000000" },
        admin,
      );
      assert.equal(res.status, 401);
      assert.equal(res.body.error, "mfa_invalid");
      const none = await post(server, "/auth/mfa/step-up", {}, admin);
      assert.equal(none.body.error, "mfa_required");
      assert.equal((await promote(admin)).status, 403);
    });

    await t.step(
      "step-up gives a new session that may change the role",
      async () => {
        const res = await post(server, "/auth/mfa/step-up", {
          code: mfaCode(server.url, ADMIN.username),
        }, admin);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        const old = admin;
        admin = res.body.access_token;
        assert.equal(
          (await call(server.url, "GET", "/admin/labs", old)).status,
          401,
        );
        const changed = await promote(admin);
        assert.equal(changed.status, 200, JSON.stringify(changed.body));
        assert.equal(changed.body.role, "lab_technician");
      },
    );

    await t.step(
      "one step-up code sent five times at once opens one session",
      async () => {
        server.clock.advance(6 * MINUTE);
        const code = mfaCode(server.url, ADMIN.username);
        const results = await Promise.all(
          Array.from(
            { length: 5 },
            () => post(server, "/auth/mfa/step-up", { code }, admin),
          ),
        );
        const ok = results.filter((r) => r.status === 200);
        assert.equal(ok.length, 1, JSON.stringify(results.map((r) => r.body)));
        assert.ok(results.every((r) => r.status === 200 || r.status === 401));
        admin = ok[0].body.access_token;
        assert.equal((await promote(admin)).status, 200);
        // Five failures: the next sign-ins would be spaced out.
        await forgetSignInFailures(server);
      },
    );

    await t.step("a reset needs the admin role", async () => {
      const res = await post(
        server,
        "/admin/users/acme-viewer/mfa-reset",
        {},
        acme.tokens.lab_admin,
      );
      assert.equal(res.status, 403);
    });

    await t.step(
      "an MFA reset ends the user's sessions and asks for enrollment",
      async () => {
        const viewer = acme.tokens.viewer;
        assert.equal(
          (await call(server.url, "GET", "/fhir/acme/Task", viewer)).status,
          200,
        );
        const res = await post(
          server,
          "/admin/users/acme-viewer/mfa-reset",
          {},
          admin,
        );
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.equal(res.body.reset, true);
        assert.equal(
          (await call(server.url, "GET", "/fhir/acme/Task", viewer)).status,
          401,
        );
        const again = await post(server, "/auth/login", {
          username: "acme-viewer",
          password: PASSWORD,
          code: mfaCode(server.url, "acme-viewer"),
        });
        assert.equal(again.status, 401);
        assert.equal(again.body.error, "mfa_enrollment_required");
      },
    );

    await t.step(
      "6 minutes later a reset is refused until step-up",
      async () => {
        server.clock.advance(6 * MINUTE);
        const res = await post(
          server,
          "/admin/users/acme-dentist/mfa-reset",
          {},
          admin,
        );
        assert.equal(res.status, 403);
        assert.equal(res.body.error, "mfa_step_up_required");
        const enrolled = await server.kv.get(keys.mfa("acme-dentist"));
        assert.notEqual(enrolled.value, null, "the refused reset kept it");
      },
    );

    await t.step("step-ups and the reset are audited", async () => {
      const trail = await systemAuditOf(server, ADMIN.username);
      for (
        const line of [
          "mfa-step-up-failed 4 mfa_invalid",
          "mfa-step-up-failed 4 mfa_required",
          "mfa-step-up 0",
          "mfa-reset 0",
        ]
      ) {
        assert.ok(trail.includes(line), `${line} missing from ${trail}`);
      }
    });
  } finally {
    await server.close();
  }
});

Deno.test("[mfa] LHCMS_MFA is required unless set to optional", async (t) => {
  await t.step("an unknown value stops start-up with one line", () => {
    assert.equal(loadConfig({}).mfa, "required");
    assert.throws(
      () => loadConfig({ LHCMS_MFA: "sometimes" }),
      (e: Error) =>
        e instanceof ConfigError &&
        e.message === "LHCMS_MFA: must be required or optional",
    );
  });

  await t.step(
    "optional: a password alone signs in until the person enrolls",
    async () => {
      const server = await startTestServer({ env: { LHCMS_MFA: "optional" } });
      try {
        const password = { username: ADMIN.username, password: ADMIN.password };
        const plain = await post(server, "/auth/login", password);
        assert.equal(plain.status, 200);
        const shown = await post(
          server,
          "/auth/mfa/enroll",
          {},
          plain.body.access_token,
        );
        assert.equal(shown.status, 200, JSON.stringify(shown.body));
        const totp = OTPAuth.URI.parse(shown.body.otpauth_uri) as OTPAuth.TOTP;
        const confirmed = await post(server, "/auth/mfa/confirm", {
          enrollment_token: shown.body.enrollment_token,
          code: totp.generate({ timestamp: server.clock.now().getTime() }),
        });
        assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
        const now = await post(server, "/auth/login", password);
        assert.equal(now.status, 401);
        assert.equal(now.body.error, "mfa_required");
      } finally {
        await server.close();
      }
    },
  );
});

Deno.test("[mfa] a code checked against a stale read is refused by the versionstamp check", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const master = await importMasterKey(
      crypto.getRandomValues(new Uint8Array(32)),
    );
    const keyRing = new KeyRing(kv, master);
    const now = new Date("2026-12-03T09:00:00Z");
    const enrollmentAt = keys.mfaEnrollment("test-token-hash");
    await kv.set(enrollmentAt, { username: "tess", expiresAt: Infinity });
    const shown = await showSecret(
      kv,
      keyRing,
      await kv.get<Enrollment>(enrollmentAt) as Deno.KvEntry<Enrollment>,
    );
    const totp = OTPAuth.URI.parse(shown!.otpauth_uri) as OTPAuth.TOTP;
    const op = kv.atomic();
    const codes = await confirmEnrollment(
      keyRing,
      await kv.get<Enrollment>(enrollmentAt) as Deno.KvEntry<Enrollment>,
      totp.generate({ timestamp: now.getTime() - STEP }),
      now,
      op,
    );
    assert.equal(codes?.length, 10);
    assert.ok((await op.commit()).ok);

    // Two requests that both read the record before either committed.
    const stale = await kv.get<MfaRecord>(keys.mfa("tess"));
    const code = totp.generate({ timestamp: now.getTime() });
    const opened: string[] = [];
    const spend = (id: string) =>
      spendFactor(
        kv,
        keyRing,
        stale as Deno.KvEntry<MfaRecord>,
        "tess",
        { code },
        now,
        (op) => {
          op.set(["opened", id], true);
          opened.push(id);
        },
      );
    assert.deepEqual(await spend("first"), {
      ok: true,
      recoveryUsed: false,
      recoveryLeft: 10,
    });
    assert.deepEqual(await spend("second"), {
      ok: false,
      reason: "mfa_invalid",
    });
    // The second built its commit from the stale read; KV refused it whole.
    assert.deepEqual(opened, ["first", "second"]);
    assert.equal((await kv.get(["opened", "second"])).versionstamp, null);
    assert.equal((await kv.get(["opened", "first"])).value, true);
  } finally {
    kv.close();
  }
});
