/**
 * Transmission security (45 CFR 164.312(e)): with LHCMS_TLS_CERT and
 * LHCMS_TLS_KEY the service speaks HTTPS only, over TLS 1.3 (1.2 at the
 * oldest), with HSTS; production refuses plain HTTP unless a TLS proxy is
 * declared. The certificate is made for the test with openssl.
 */
import assert from "node:assert/strict";
import type { AuditRecord } from "../../domain/audit.ts";
import { ConfigError, encodeBase64, loadConfig } from "../../domain/config.ts";
import { jsonLogger } from "../../domain/log.ts";
import { start } from "../../main.ts";

async function run(command: string, args: string[], stdin?: string) {
  const child = new Deno.Command(command, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const out = await child.output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, output: text(out.stdout) + text(out.stderr) };
}

/**
 * A test CA and a P-256 server certificate it signs for 127.0.0.1 and
 * localhost, valid for a day.
 */
async function makeCertificate(dir: string) {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  const steps = [
    ["req", "-x509", ...ec, "-days", "1", "-subj", "/CN=LHCMS test CA"]
      .concat(["-keyout", `${dir}/ca.key`, "-out", `${dir}/ca.pem`]),
    ["req", ...ec, "-subj", "/CN=localhost"]
      .concat(["-keyout", `${dir}/key.pem`, "-out", `${dir}/server.csr`]),
    ["x509", "-req", "-in", `${dir}/server.csr`, "-days", "1"]
      .concat(["-CA", `${dir}/ca.pem`, "-CAkey", `${dir}/ca.key`])
      .concat(["-CAcreateserial", "-extfile", `${dir}/server.ext`])
      .concat(["-out", `${dir}/cert.pem`]),
  ];
  await Deno.writeTextFile(
    `${dir}/server.ext`,
    "subjectAltName=IP:127.0.0.1,DNS:localhost\n" +
      "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
  );
  for (const args of steps) {
    const made = await run("openssl", args);
    assert.equal(made.code, 0, made.output);
  }
  return {
    ca: `${dir}/ca.pem`,
    cert: `${dir}/cert.pem`,
    key: `${dir}/key.pem`,
  };
}

const masterKey = () =>
  encodeBase64(crypto.getRandomValues(new Uint8Array(32)));

Deno.test("[tls] with a certificate the service speaks HTTPS only, TLS 1.3, with HSTS", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "lhcms-tls-" });
  const files = await makeCertificate(dir);
  const running = await start(
    loadConfig({
      PORT: "0",
      LHCMS_HOSTNAME: "127.0.0.1",
      LHCMS_KV_PATH: `${dir}/lhcms.kv`,
      LHCMS_MASTER_KEY: masterKey(),
      LHCMS_TLS_CERT: files.cert,
      LHCMS_TLS_KEY: files.key,
      LHCMS_ENV: "production",
    }),
    { log: jsonLogger({}, true) },
  );
  const port = new URL(running.url).port;
  const caCert = await Deno.readTextFile(files.ca);
  const client = Deno.createHttpClient({ caCerts: [caCert] });
  try {
    await t.step("the URL is https and /health answers with HSTS", async () => {
      assert.match(running.url, /^https:\/\//);
      const res = await fetch(`${running.url}/health`, { client });
      assert.equal(res.status, 200);
      assert.equal((await res.json()).status, "ok");
      assert.match(
        res.headers.get("strict-transport-security") ?? "",
        /^max-age=31536000; includeSubDomains/,
      );
    });

    await t.step(
      "a TLS connection trusting only the test CA works",
      async () => {
        const conn = await Deno.connectTls({
          hostname: "127.0.0.1",
          port: Number(port),
          caCerts: [caCert],
          alpnProtocols: ["http/1.1"],
        });
        try {
          const info = await conn.handshake();
          assert.equal(info.alpnProtocol, "http/1.1");
        } finally {
          conn.close();
        }
      },
    );

    await t.step("openssl negotiates TLS 1.3", async () => {
      const res = await run("openssl", [
        "s_client",
        "-connect",
        `127.0.0.1:${port}`,
        "-tls1_3",
        "-CAfile",
        files.ca,
        "-verify_return_error",
      ], "");
      assert.match(res.output, /New, TLSv1\.3, Cipher is TLS_/, res.output);
      assert.match(res.output, /Verify return code: 0 \(ok\)/);
    });

    await t.step("TLS 1.1 is refused", async () => {
      const res = await run("openssl", [
        "s_client",
        "-connect",
        `127.0.0.1:${port}`,
        "-tls1_1",
      ], "");
      assert.notEqual(res.code, 0);
      assert.match(res.output, /Cipher is \(NONE\)/, res.output);
    });

    await t.step("plain HTTP on the same port gets no answer", async () => {
      await assert.rejects(fetch(`http://127.0.0.1:${port}/health`));
    });

    await t.step(
      "a client that does not trust the certificate is refused",
      async () => {
        await assert.rejects(fetch(`${running.url}/health`));
      },
    );
  } finally {
    client.close();
    await running.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("[tls] production refuses plain HTTP unless LHCMS_TRUST_PROXY declares a TLS proxy", async (t) => {
  const base = { LHCMS_ENV: "production", LHCMS_MASTER_KEY: masterKey() };
  await t.step("without TLS or a proxy: refused naming LHCMS_TLS_CERT", () => {
    assert.throws(
      () => loadConfig(base),
      (e) =>
        e instanceof ConfigError && e.variable === "LHCMS_TLS_CERT" &&
        /LHCMS_TRUST_PROXY/.test(e.message),
    );
  });
  await t.step("other development settings are refused too", () => {
    const proxied = { ...base, LHCMS_TRUST_PROXY: "1" };
    assert.throws(
      () => loadConfig({ ...proxied, LHCMS_MASTER_KEY: "" }),
      (e) => e instanceof ConfigError && e.variable === "LHCMS_MASTER_KEY",
    );
    assert.throws(
      () => loadConfig({ ...proxied, LHCMS_MFA: "optional" }),
      (e) => e instanceof ConfigError && e.variable === "LHCMS_MFA",
    );
    assert.throws(
      () => loadConfig({ LHCMS_ENV: "prod" }),
      (e) => e instanceof ConfigError && e.variable === "LHCMS_ENV",
    );
  });
  await t.step(
    "behind a declared proxy: plain HTTP, HSTS, forwarded address",
    async () => {
      const dir = await Deno.makeTempDir({ prefix: "lhcms-proxy-" });
      const running = await start(
        loadConfig({
          ...base,
          LHCMS_TRUST_PROXY: "1",
          PORT: "0",
          LHCMS_HOSTNAME: "127.0.0.1",
          LHCMS_KV_PATH: `${dir}/lhcms.kv`,
        }),
        { log: jsonLogger({}, true) },
      );
      try {
        assert.match(running.url, /^http:\/\//);
        const res = await fetch(`${running.url}/health`);
        assert.equal(res.status, 200);
        await res.body?.cancel();
        assert.match(
          res.headers.get("strict-transport-security") ?? "",
          /max-age/,
        );

        // The proxy's own entry, the last one, is the address audited (and
        // throttled); what the client wrote before it is not trusted.
        const refused = await fetch(`${running.url}/auth/login`, {
          method: "POST",
          headers: {
            "Content-Type": "application/json",
            "X-Forwarded-For": "198.51.100.1, 203.0.113.9",
          },
          body: JSON.stringify({ username: "nobody", password: "wrong-one-1" }),
        });
        assert.equal(refused.status, 401);
        await refused.body?.cancel();
        // By id: the audit writer may move a record between the two lists.
        const addresses = new Map<string, string | undefined>();
        for (
          const prefix of [["system", "audit_pending"], [
            "system",
            "audit_events",
          ]]
        ) {
          for await (const e of running.kv.list<AuditRecord>({ prefix })) {
            if (e.value.subtype === "login-failed") {
              addresses.set(e.value.id, e.value.network.address);
            }
          }
        }
        assert.deepEqual([...addresses.values()], ["203.0.113.9"]);
      } finally {
        await running.close();
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
});
