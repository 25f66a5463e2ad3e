// deno-lint-ignore-file no-explicit-any
/**
 * SMART Backend Services: practice systems registered by an admin get
 * tokens with signed client assertions, and act as their practice within
 * their scopes. The attacks: replayed, expired, far-future, misaddressed,
 * wrongly signed or self-keyed assertions, unknown and disabled clients,
 * scopes beyond the registration. What the tokens then allow is in
 * smart_access_test.ts and smart_on_behalf_test.ts; registration in
 * smart_registration_test.ts.
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import {
  type AssertionOverrides,
  newSystemKey,
  postTokenForm,
  signAssertion,
  tokenForm,
} from "../../scripts/smart_client.ts";
import {
  ADMIN,
  call,
  fhirBody,
  fhirClient,
  login,
  setupLab,
  startTestServer,
} from "../helpers.ts";
import {
  ALL,
  ask,
  assertOAuthError,
  PATIENT,
  registerSystem,
  tokenOf,
  tokenUrl,
} from "../smart_helpers.ts";

Deno.test("[smart] a registered practice system gets a token and sends a case with fhir-kit-client", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    for (const alg of ["ES384", "RS384"] as const) {
      await t.step(`with an ${alg} key`, async () => {
        const system = await registerSystem(server, acme.practice, [ALL], {
          alg,
        });
        const res = await ask(server, system, "system/Patient.cruds");
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.equal(res.body.token_type, "bearer");
        assert.equal(res.body.expires_in, 300);
        assert.equal(res.body.scope, "system/Patient.cruds");
        const claims = jose.decodeJwt(res.body.access_token);
        assert.equal(claims.client_id, system.clientId);
        assert.equal(claims.sub, system.clientId);
        assert.equal(
          jose.decodeProtectedHeader(res.body.access_token).alg,
          "ES256",
        );

        const pms = fhirClient(server, "acme", res.body.access_token);
        const patient: any = await pms.create({
          resourceType: "Patient",
          body: PATIENT,
        });
        assert.equal(patient.meta.versionId, "1");
        const read: any = await pms.read({
          resourceType: "Patient",
          id: patient.id,
        });
        assert.equal(read.id, patient.id);
        // The practice's dentist sees what its system sent, and the other
        // way round: the system acts as its practice.
        const dentist = fhirClient(server, "acme", acme.tokens.dentist);
        const seen: any = await dentist.read({
          resourceType: "Patient",
          id: patient.id,
        });
        assert.equal(seen.id, patient.id);
      });
    }
  } finally {
    await server.close();
  }
});

Deno.test("[smart] the token endpoint refuses forged, stale and replayed assertions", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const system = await registerSystem(server, acme.practice, [ALL]);
    const now = () => Math.floor(server.clock.now().getTime() / 1000);

    await t.step("a replayed assertion, even with other scopes", async () => {
      const assertion = await signAssertion(
        system,
        tokenUrl(server),
        server.clock.now(),
      );
      const first = await postTokenForm(
        server.url,
        tokenForm(assertion, ALL),
      );
      assert.equal(first.status, 200);
      const again = await postTokenForm(
        server.url,
        tokenForm(assertion, "system/Task.rs"),
      );
      assertOAuthError(again, 401, "invalid_client", "replay");
      assert.match(again.body.error_description, /already used/);
    });

    await t.step(
      "the same assertion sent twice at once: one token",
      async () => {
        const assertion = await signAssertion(
          system,
          tokenUrl(server),
          server.clock.now(),
        );
        const answers = await Promise.all(
          [1, 2, 3].map(() =>
            postTokenForm(server.url, tokenForm(assertion, ALL))
          ),
        );
        assert.deepEqual(answers.map((a) => a.status).sort(), [200, 401, 401]);
      },
    );

    const refusals: [string, AssertionOverrides, RegExp][] = [
      ["an expired assertion", { claims: { exp: now() - 120 } }, /expired/],
      [
        "an exp more than five minutes ahead",
        { claims: { exp: now() + 600 } },
        /five minutes/,
      ],
      [
        "another audience",
        { claims: { aud: `${server.url}/fhir/acme` } },
        /aud must be the token endpoint/,
      ],
      ["no jti", { claims: { jti: undefined } }, /jti/],
      [
        "sub other than iss",
        { claims: { sub: "someone-else" } },
        /iss and sub/,
      ],
      [
        "a key named in the header",
        { header: { jku: "https://attacker.example/jwks.json" } },
        /may not name its own key/,
      ],
    ];
    for (const [what, overrides, message] of refusals) {
      await t.step(what, async () => {
        const res = await ask(server, system, ALL, overrides);
        assertOAuthError(res, 401, "invalid_client", what);
        assert.match(res.body.error_description, message);
      });
    }

    await t.step(
      "the edges: exp five minutes ahead, or just past within a minute's skew",
      async () => {
        for (const exp of [now() + 300, now() + 360, now() - 30]) {
          const res = await ask(server, system, ALL, { claims: { exp } });
          assert.equal(res.status, 200, JSON.stringify(res.body));
        }
        const late = await ask(server, system, ALL, {
          claims: { exp: now() + 361 },
        });
        assertOAuthError(late, 401, "invalid_client", "361 seconds ahead");
      },
    );

    await t.step("a wrong algorithm (ES256, RS256, HS256)", async () => {
      const es256 = await jose.generateKeyPair("ES256");
      const rs256 = await jose.generateKeyPair("RS256");
      const forged = [
        { key: es256.privateKey, header: { alg: "ES256" } },
        { key: rs256.privateKey, header: { alg: "RS256" } },
      ];
      for (const overrides of forged) {
        const res = await ask(server, system, ALL, overrides);
        assertOAuthError(res, 401, "invalid_client", overrides.header.alg);
        assert.match(res.body.error_description, /RS384 or ES384/);
      }
      const hs = await new jose.SignJWT({
        iss: system.clientId,
        sub: system.clientId,
        aud: tokenUrl(server),
        exp: now() + 60,
        jti: crypto.randomUUID(),
      }).setProtectedHeader({ alg: "HS256" })
        .sign(new TextEncoder().encode("a shared secret of 32 bytes long"));
      const res = await postTokenForm(server.url, tokenForm(hs, ALL));
      assertOAuthError(res, 401, "invalid_client", "HS256");
      const none = new jose.UnsecuredJWT({
        iss: system.clientId,
        sub: system.clientId,
        aud: tokenUrl(server),
        exp: now() + 60,
        jti: crypto.randomUUID(),
      }).encode();
      const unsigned = await postTokenForm(server.url, tokenForm(none, ALL));
      assertOAuthError(unsigned, 401, "invalid_client", "alg none");
    });

    await t.step("a signature by another key of the right kind", async () => {
      const other = await newSystemKey("ES384");
      const res = await ask(server, system, ALL, { key: other.privateKey });
      assertOAuthError(res, 401, "invalid_client", "other key");
      assert.match(res.body.error_description, /signature/);
    });

    await t.step("an unknown client", async () => {
      const stranger = { ...system, clientId: "no-such-client" };
      const res = await ask(server, stranger);
      assertOAuthError(res, 401, "invalid_client", "unknown");
      assert.equal(res.body.error_description, "Unknown client");
    });

    await t.step(
      "scopes beyond the registration or not system scopes",
      async () => {
        const narrow = await registerSystem(server, acme.practice, [
          "system/Task.rs",
          "system/ServiceRequest.read",
        ]);
        for (
          const scope of [
            "system/Task.cruds",
            "system/*.rs",
            "system/Patient.r",
            "patient/Task.rs",
            "system/Task.rs launch",
            "system/Task.sr",
            "system/Task.rs?status=requested",
            "system/Unknown.rs",
          ]
        ) {
          const res = await ask(server, narrow, scope);
          assertOAuthError(res, 400, "invalid_scope", scope);
        }
        const ok = await ask(
          server,
          narrow,
          "system/Task.r system/ServiceRequest.rs",
        );
        assert.equal(ok.status, 200, JSON.stringify(ok.body));
      },
    );

    await t.step("malformed requests", async () => {
      const assertion = await signAssertion(
        system,
        tokenUrl(server),
        server.clock.now(),
      );
      const form = tokenForm(assertion, ALL);
      form.set("grant_type", "password");
      assertOAuthError(
        await postTokenForm(server.url, form),
        400,
        "unsupported_grant_type",
        "grant type",
      );
      const noType = tokenForm(assertion, ALL);
      noType.delete("client_assertion_type");
      assertOAuthError(
        await postTokenForm(server.url, noType),
        400,
        "invalid_request",
        "assertion type",
      );
      const json = await fetch(tokenUrl(server), {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(Object.fromEntries(tokenForm(assertion, ALL))),
      });
      assert.equal(json.status, 400);
      assert.equal((await json.json()).error, "invalid_request");
    });
  } finally {
    await server.close();
  }
});

Deno.test("[smart] a disabled client gets no token and its tokens stop working at once", async () => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const system = await registerSystem(server, acme.practice, [ALL]);
    const token = await tokenOf(server, system);
    assert.equal(
      (await call(server.url, "GET", "/fhir/acme/Patient", token)).status,
      200,
    );

    const admin = await login(server.url, ADMIN.username, ADMIN.password);
    const off = await call(
      server.url,
      "PATCH",
      `/admin/practices/${acme.practice}/clients/${system.clientId}`,
      admin,
      { disabled: true },
      { "Content-Type": "application/json" },
    );
    assert.equal(off.status, 200, JSON.stringify(off.body));
    assert.equal(off.body.disabled, true);

    const refused = await call(server.url, "GET", "/fhir/acme/Patient", token);
    assert.equal(fhirBody(refused, 401).issue[0].code, "login");
    const res = await ask(server, system);
    assertOAuthError(res, 401, "invalid_client", "disabled");
    assert.match(res.body.error_description, /disabled/);
  } finally {
    await server.close();
  }
});

Deno.test("[smart] a client token expires after five minutes", async () => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const system = await registerSystem(server, acme.practice, [ALL]);
    const token = await tokenOf(server, system);
    server.clock.advance(299_000);
    assert.equal(
      (await call(server.url, "GET", "/fhir/acme/Patient", token)).status,
      200,
    );
    server.clock.advance(2_000);
    const res = await call(server.url, "GET", "/fhir/acme/Patient", token);
    assert.equal(fhirBody(res, 401).issue[0].code, "login");
  } finally {
    await server.close();
  }
});
