/**
 * Access token verification against forgeries signed with the server's own
 * key (so a refusal is the claim check's doing, not the signature's) and
 * with others: alg none, HMAC keyed with the public key, key-choosing
 * headers, future iat, foreign aud or iss, missing sub, sid or iat,
 * expiry, unknown kid; and signing key rotation.
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import { decodeBase64 } from "../../domain/config.ts";
import { importMasterKey, unwrapWithMaster } from "../../domain/crypto.ts";
import { keys } from "../../domain/kv_keys.ts";
import type { StoredSigningKey } from "../../domain/signing_keys.ts";
import {
  ADMIN,
  call,
  login,
  startTestServer,
  stepUp,
  type TestServer,
} from "../helpers.ts";

const MINUTE = 60_000;
const PROTECTED = "/admin/labs";
const b64 = (value: unknown) => jose.base64url.encode(JSON.stringify(value));

/** The server's private signing key `kid`, unwrapped as only it could. */
async function signingKey(server: TestServer, kid: string) {
  const master = await importMasterKey(decodeBase64(server.masterKey));
  const stored = (await server.kv.get<StoredSigningKey>(keys.signingKey(kid)))
    .value!;
  const raw = await unwrapWithMaster(
    master,
    keys.signingKey(kid),
    stored.wrapped,
  );
  const jwk = JSON.parse(new TextDecoder().decode(raw));
  return await jose.importJWK(jwk, "ES256") as CryptoKey;
}

async function status(server: TestServer, token: string) {
  const res = await call(server.url, "GET", PROTECTED, undefined, undefined, {
    Authorization: `Bearer ${token}`,
  });
  return res.status;
}

Deno.test("[token forgery] every forged variant gets 401", async (t) => {
  const server = await startTestServer();
  try {
    const real = server.adminToken;
    const header = jose.decodeProtectedHeader(real);
    const kid = header.kid!;
    const key = await signingKey(server, kid);
    const claims = jose.decodeJwt(real);
    const nowS = Math.floor(server.clock.now().getTime() / 1000);
    const good = { ...claims, iat: nowS, exp: nowS + 600 };
    const sign = (
      payload: jose.JWTPayload,
      extra: Record<string, unknown> = {},
      signer: CryptoKey = key,
    ) =>
      new jose.SignJWT(payload)
        .setProtectedHeader({ alg: "ES256", kid, typ: "JWT", ...extra })
        .sign(signer);
    const without = (name: string) => {
      const copy: jose.JWTPayload = { ...good };
      delete copy[name];
      return copy;
    };
    const jwks = (await call(server.url, "GET", "/.well-known/jwks.json")).body;
    const publicJwk = jwks.keys.find((k: jose.JWK) => k.kid === kid);
    const publicPem = await jose.exportSPKI(
      await jose.importJWK(publicJwk, "ES256") as CryptoKey,
    );
    const pair = await jose.generateKeyPair("ES256", { extractable: true });
    const attacker = {
      privateKey: pair.privateKey as unknown as CryptoKey,
      publicKey: pair.publicKey as unknown as CryptoKey,
    };
    const attackerJwk = await jose.exportJWK(attacker.publicKey);

    await t.step(
      "control: a token signed here with good claims works",
      async () => {
        assert.equal(await status(server, await sign(good)), 200);
      },
    );

    const forged: Record<string, () => Promise<string>> = {
      "alg none": () =>
        Promise.resolve(
          `${b64({ alg: "none", typ: "JWT", kid })}.${b64(good)}.`,
        ),
      "HS256 keyed with the public JWK": () =>
        new jose.SignJWT(good).setProtectedHeader({
          alg: "HS256",
          kid,
          typ: "JWT",
        })
          .sign(new TextEncoder().encode(JSON.stringify(publicJwk))),
      "HS256 keyed with the public key PEM": () =>
        new jose.SignJWT(good).setProtectedHeader({
          alg: "HS256",
          kid,
          typ: "JWT",
        })
          .sign(new TextEncoder().encode(publicPem)),
      "a jku header": () =>
        sign(good, { jku: "https://evil.example/jwks.json" }),
      "an x5u header": () =>
        sign(good, { x5u: "https://evil.example/cert.pem" }),
      "a jwk header with the attacker's key": () =>
        sign(good, { jwk: attackerJwk }, attacker.privateKey),
      "a jwk header with the server's own key": () =>
        sign(good, { jwk: publicJwk }),
      "iat 10 minutes in the future": () =>
        sign({ ...good, iat: nowS + 600, exp: nowS + 1200 }),
      "a foreign aud": () => sign({ ...good, aud: "another-api" }),
      "a foreign iss": () => sign({ ...good, iss: "someone-else" }),
      "no sub": () => sign(without("sub")),
      "no sid": () => sign(without("sid")),
      "no iat": () => sign(without("iat")),
      "no exp": () => sign(without("exp")),
      "expired": () => sign({ ...good, iat: nowS - 1200, exp: nowS - 1 }),
      "an unknown kid, the server's key": () =>
        sign(good, { kid: "no-such-kid" }),
      "an unknown kid, another key": () =>
        sign(good, { kid: "no-such-kid" }, attacker.privateKey),
      "no kid": () =>
        new jose.SignJWT(good).setProtectedHeader({ alg: "ES256", typ: "JWT" })
          .sign(key),
      "another typ": () => sign(good, { typ: "at+jwt" }),
      "a numeric sub": () => sign({ ...good, sub: 42 as unknown as string }),
    };
    for (const [what, make] of Object.entries(forged)) {
      await t.step(`${what} gives 401`, async () => {
        assert.equal(await status(server, await make()), 401);
      });
    }
  } finally {
    await server.close();
  }
});

Deno.test("[token forgery] signing key rotation: new key signs, old key verifies its tokens until they expire", async (t) => {
  const server = await startTestServer();
  try {
    const before = server.adminToken;
    const oldKid = jose.decodeProtectedHeader(before).kid!;
    let admin = before;
    let newKid = "";
    const jwksKids = async () =>
      (await call(server.url, "GET", "/.well-known/jwks.json")).body.keys
        .map((k: jose.JWK) => k.kid).sort();

    await t.step("rotation needs a fresh code", async () => {
      server.clock.advance(6 * MINUTE);
      const res = await call(
        server.url,
        "POST",
        "/admin/signing-keys/rotate",
        admin,
      );
      assert.equal(res.status, 403);
      assert.equal(res.body.error, "mfa_step_up_required");
      admin = await stepUp(server, ADMIN.username, admin);
    });

    await t.step("after rotation the JWKS shows both keys", async () => {
      const res = await call(
        server.url,
        "POST",
        "/admin/signing-keys/rotate",
        admin,
      );
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.previous, oldKid);
      newKid = res.body.kid;
      assert.notEqual(newKid, oldKid);
      assert.deepEqual(await jwksKids(), [newKid, oldKid].sort());
    });

    await t.step(
      "new tokens carry the new kid; old ones still work",
      async () => {
        const fresh = await login(server.url, ADMIN.username, ADMIN.password);
        assert.equal(jose.decodeProtectedHeader(fresh).kid, newKid);
        assert.equal(await status(server, fresh), 200);
        assert.equal(jose.decodeProtectedHeader(admin).kid, oldKid);
        assert.equal(await status(server, admin), 200);
      },
    );

    await t.step(
      "a token the retired key signs after retirement is refused",
      async () => {
        const oldKey = await signingKey(server, oldKid);
        const claims = jose.decodeJwt(admin);
        const nowS = Math.floor(server.clock.now().getTime() / 1000) + 1;
        server.clock.advance(1000);
        const late = await new jose.SignJWT({
          ...claims,
          iat: nowS,
          exp: nowS + 600,
        })
          .setProtectedHeader({ alg: "ES256", kid: oldKid, typ: "JWT" })
          .sign(oldKey);
        assert.equal(await status(server, late), 401);
      },
    );

    await t.step(
      "once its tokens have expired the old key leaves the JWKS and KV",
      async () => {
        server.clock.advance(17 * MINUTE);
        assert.deepEqual(await jwksKids(), [newKid]);
        const fresh = await login(server.url, ADMIN.username, ADMIN.password);
        const again = await call(
          server.url,
          "POST",
          "/admin/signing-keys/rotate",
          fresh,
        );
        assert.equal(again.status, 200);
        assert.equal(
          (await server.kv.get(keys.signingKey(oldKid))).value,
          null,
        );
        assert.notEqual(
          (await server.kv.get(keys.signingKey(newKid))).value,
          null,
        );
      },
    );
  } finally {
    await server.close();
  }
});
