// deno-lint-ignore-file no-explicit-any
/**
 * Registering practice systems (SMART Backend Services) and finding them:
 * what an admin may register, the audit trail of token requests, and the
 * discovery documents.
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import { newSystemKey } from "../../scripts/smart_client.ts";
import {
  ADMIN,
  auditSettled,
  call,
  fhirBody,
  login,
  setupLab,
  startTestServer,
} from "../helpers.ts";
import { ALL, ask, registerSystem, tokenOf } from "../smart_helpers.ts";

Deno.test("[smart] registration takes public keys and system scopes from an admin with a fresh code", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const admin = await login(server.url, ADMIN.username, ADMIN.password);
    const { publicJwk } = await newSystemKey("ES384");
    const register = (body: unknown, token = admin, practice = acme.practice) =>
      call(
        server.url,
        "POST",
        `/admin/practices/${practice}/clients`,
        token,
        body,
        { "Content-Type": "application/json" },
      );
    const valid = { name: "PMS", jwks: { keys: [publicJwk] }, scopes: [ALL] };
    const clientCount = async () => {
      let n = 0;
      for await (const _ of server.kv.list({ prefix: ["clients"] })) n++;
      return n;
    };

    await t.step("refused: bad keys, scopes and practices", async () => {
      // jose refuses to make one: Web Crypto will.
      const rsa1024 = await crypto.subtle.generateKey(
        {
          name: "RSASSA-PKCS1-v1_5",
          modulusLength: 1024,
          publicExponent: new Uint8Array([1, 0, 1]),
          hash: "SHA-384",
        },
        true,
        ["sign", "verify"],
      );
      const p256 = await jose.generateKeyPair("ES256", { extractable: true });
      const secret = await newSystemKey("ES384");
      const privateJwk = await jose.exportJWK(secret.privateKey);
      const bad: [string, unknown, number][] = [
        ["a private key", { ...valid, jwks: { keys: [privateJwk] } }, 400],
        [
          "a 1024-bit RSA key",
          {
            ...valid,
            jwks: { keys: [await jose.exportJWK(rsa1024.publicKey)] },
          },
          400,
        ],
        [
          "a P-256 key",
          { ...valid, jwks: { keys: [await jose.exportJWK(p256.publicKey)] } },
          400,
        ],
        ["a symmetric key", {
          ...valid,
          jwks: { keys: [{ kty: "oct", k: "AAAA" }] },
        }, 400],
        ["no key", { name: "PMS", scopes: [ALL] }, 400],
        ["a PEM that is not a key", {
          ...valid,
          jwks: undefined,
          public_key:
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
        }, 400],
        ["a patient scope", { ...valid, scopes: ["patient/*.rs"] }, 400],
        ["no scopes", { ...valid, scopes: [] }, 400],
        ["a bad id", { ...valid, id: "Not An Id" }, 400],
        [
          "an oversized key set",
          {
            ...valid,
            jwks: { keys: [{ ...publicJwk, x5c: ["A".repeat(30_000)] }] },
          },
          400,
        ],
      ];
      for (const [what, body, status] of bad) {
        const res = await register(body);
        assert.equal(
          res.status,
          status,
          `${what}: ${JSON.stringify(res.body)}`,
        );
      }
      assert.equal((await register(valid, admin, "nowhere")).status, 404);
      assert.equal((await register(valid, acme.tokens.lab_admin)).status, 403);
      assert.equal(await clientCount(), 0);
    });

    await t.step("a PEM public key works like a JWK set", async () => {
      const { privateKey, publicKey } = await jose.generateKeyPair("RS384", {
        extractable: true,
      });
      const res = await register({
        id: "pem-pms",
        name: "PEM PMS",
        public_key: await jose.exportSPKI(publicKey),
        scopes: "system/Patient.rs system/Task.rs",
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.deepEqual(res.body.scopes, [
        "system/Patient.rs",
        "system/Task.rs",
      ]);
      const kid = res.body.jwks.keys[0].kid;
      const token = await tokenOf(
        server,
        { clientId: "pem-pms", alg: "RS384", privateKey, kid },
        "system/Patient.rs",
      );
      assert.equal(jose.decodeJwt(token).client_id, "pem-pms");
      assert.equal((await register({ ...valid, id: "pem-pms" })).status, 409);
    });

    await t.step(
      "the list shows the practice's clients, public keys only",
      async () => {
        const res = await call(
          server.url,
          "GET",
          `/admin/practices/${acme.practice}/clients`,
          admin,
        );
        assert.equal(res.status, 200);
        assert.deepEqual(res.body.map((c: any) => c.id), ["pem-pms"]);
        assert.ok(res.body[0].jwks.keys.every((k: any) => !("d" in k)));
      },
    );

    await t.step("a stale sign-in must step up first", async () => {
      server.clock.advance(6 * 60_000);
      const res = await register({ ...valid, id: "late-pms" });
      assert.equal(res.status, 403);
      assert.equal(res.body.error, "mfa_step_up_required");
    });
  } finally {
    await server.close();
  }
});

Deno.test("[smart] token requests are in the system audit trail, refusals with their reason", async () => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const system = await registerSystem(server, acme.practice, [ALL], {
      id: "audited-pms",
    });
    await tokenOf(server, system);
    await ask(server, system, ALL, { claims: { exp: 1 } });
    await ask(server, { ...system, clientId: "ghost" });
    await auditSettled(server);

    const trail = await call(
      server.url,
      "GET",
      "/admin/audit-events",
      server.adminToken,
    );
    const events = trail.body.records.filter((r: any) =>
      r.subtype.startsWith("client-token")
    ).map((r: any) => [r.subtype, r.agent.who, r.outcomeCode ?? null]);
    assert.deepEqual(events, [
      ["client-token", "client:audited-pms", null],
      ["client-token-failed", "client:audited-pms", "invalid_client"],
      ["client-token-failed", "unknown-client", "invalid_client"],
    ]);
    const registered = trail.body.records.find((r: any) =>
      r.entity?.type === "Client"
    );
    assert.deepEqual(registered.entity, { type: "Client", id: "audited-pms" });
  } finally {
    await server.close();
  }
});

Deno.test("[smart] discovery: smart-configuration at the root and under each FHIR base, the token endpoint in metadata", async () => {
  const server = await startTestServer();
  try {
    for (
      const path of [
        "/.well-known/smart-configuration",
        "/fhir/acme/.well-known/smart-configuration",
      ]
    ) {
      const res = await call(server.url, "GET", path);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get("content-type") ?? "", /application\/json/);
      assert.equal(res.body.token_endpoint, `${server.url}/auth/token`);
      assert.deepEqual(res.body.grant_types_supported, ["client_credentials"]);
      assert.deepEqual(res.body.token_endpoint_auth_methods_supported, [
        "private_key_jwt",
      ]);
      assert.deepEqual(
        res.body.token_endpoint_auth_signing_alg_values_supported,
        ["RS384", "ES384"],
      );
      assert.ok(
        res.body.capabilities.includes("client-confidential-asymmetric"),
      );
      assert.ok(res.body.capabilities.includes("permission-v2"));
      assert.ok(
        res.body.scopes_supported.includes("system/ServiceRequest.cruds"),
      );
      assert.ok(res.body.scopes_supported.includes("system/Task.rs"));
    }
    const metadata = await call(server.url, "GET", "/fhir/acme/metadata");
    const security = fhirBody(metadata, 200).rest[0].security;
    assert.equal(
      security.extension[0].extension[0].valueUri,
      `${server.url}/auth/token`,
    );
    assert.equal(security.service[0].coding[0].code, "SMART-on-FHIR");
  } finally {
    await server.close();
  }
});
