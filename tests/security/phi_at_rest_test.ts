// deno-lint-ignore-file no-explicit-any
/**
 * PHI and MFA secrets at rest: after a patient and a case have been written, read, searched
 * and audited, the raw bytes of the KV files hold none of the PHI, in any
 * encoding V8 or SQLite would store a string in, and no KV key holds it.
 * Nor do they hold the TOTP secret of anyone who signed in.
 * Positive controls prove the scan finds values that are kept in clear.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import * as OTPAuth from "otpauth";
import {
  ADMIN,
  auditSettled,
  authenticatorSecret,
  call,
  fhirClient,
  login,
  PASSWORD,
  startTestServer,
} from "../helpers.ts";

const PHI = {
  family: "Quixotlewski",
  given: "Zdzisława",
  birthDate: "1937-08-14",
  identifier: "MRN-88412-QX",
  phone: "+1 555 0199 7311",
  line: "4471 Marmalade Crescent",
  city: "Thistlewood",
  note: "prefers Wednesday fittings, bruxism XQ7",
};
// Stored in clear on purpose: a one-byte (Latin-1) and a two-byte (UTF-16)
// V8 string.
const CONTROL_LATIN1 = "Marigold Ceramics Studio";
const CONTROL_UTF16 = "Pracownia Łódź Ceramika";

/** The encodings a string may take on disk. */
function encodings(text: string): { name: string; bytes: Uint8Array }[] {
  const out = [{ name: "utf-8", bytes: new TextEncoder().encode(text) }];
  if ([...text].every((ch) => ch.charCodeAt(0) < 256)) {
    out.push({
      name: "latin-1",
      bytes: Uint8Array.from(text, (ch) => ch.charCodeAt(0)),
    });
  }
  const utf16 = new Uint8Array(text.length * 2);
  for (let i = 0; i < text.length; i++) {
    utf16[2 * i] = text.charCodeAt(i) & 0xff;
    utf16[2 * i + 1] = text.charCodeAt(i) >> 8;
  }
  out.push({ name: "utf-16le", bytes: utf16 });
  return out;
}

/** Every spelling a value might be stored as: as given, folded, upper. */
function spellings(value: string): string[] {
  const folded = value.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();
  return [
    ...new Set([value, value.toLowerCase(), folded, value.toUpperCase()]),
  ];
}

/** Where in `files` any spelling of `value` occurs, in any encoding. */
function findIn(files: Map<string, Uint8Array>, value: string): string[] {
  const hits: string[] = [];
  for (const [file, bytes] of files) {
    const haystack = Buffer.from(bytes);
    for (const spelling of spellings(value)) {
      for (const { name, bytes: needle } of encodings(spelling)) {
        if (haystack.indexOf(Buffer.from(needle)) >= 0) {
          hits.push(`${file} (${name})`);
        }
      }
    }
  }
  return hits;
}

Deno.test("[phi] no PHI is readable in the KV files or keys", async (t) => {
  const server = await startTestServer();
  const keep = await Deno.makeTempDir({ prefix: "lhcms-phi-" });
  let closed = false;
  try {
    for (
      const [id, name] of [["marigold", CONTROL_LATIN1], [
        "lodz",
        CONTROL_UTF16,
      ]]
    ) {
      const lab = await call(
        server.url,
        "POST",
        "/admin/labs",
        server.adminToken,
        {
          id,
          name,
        },
      );
      assert.equal(lab.status, 201);
    }
    const user = await call(
      server.url,
      "POST",
      "/admin/users",
      server.adminToken,
      {
        username: "lab-admin",
        password: PASSWORD,
        role: "lab_admin",
        labs: ["marigold"],
      },
    );
    assert.equal(user.status, 201);
    const client = fhirClient(
      server,
      "marigold",
      await login(server.url, "lab-admin", PASSWORD),
    );

    const patient: any = await client.create({
      resourceType: "Patient",
      body: {
        resourceType: "Patient",
        name: [{ family: PHI.family, given: [PHI.given] }],
        birthDate: PHI.birthDate,
        identifier: [{ system: "urn:lhcms:test:mrn", value: PHI.identifier }],
        telecom: [{ system: "phone", value: PHI.phone }],
        address: [{ line: [PHI.line], city: PHI.city }],
      },
    });
    const order: any = await client.create({
      resourceType: "ServiceRequest",
      body: {
        resourceType: "ServiceRequest",
        status: "active",
        intent: "order",
        subject: { reference: `Patient/${patient.id}` },
        note: [{ text: PHI.note }],
      },
    });
    await client.update({
      resourceType: "ServiceRequest",
      id: order.id,
      body: { ...order, status: "on-hold" },
    });
    const searches: Record<string, string>[] = [
      { family: PHI.family },
      { given: PHI.given, birthdate: PHI.birthDate },
      { identifier: PHI.identifier },
      { name: PHI.given.toLowerCase() },
    ];
    for (const searchParams of searches) {
      const found: any = await client.search({
        resourceType: "Patient",
        searchParams,
      });
      assert.deepEqual(found.entry.map((e: any) => e.resource.id), [
        patient.id,
      ]);
    }
    const refused = await call(
      server.url,
      "GET",
      `/fhir/marigold/Patient?family:contains=${PHI.family}`,
      await login(server.url, "lab-admin", PASSWORD),
    );
    assert.equal(refused.status, 400);
    assert.equal(refused.body.issue[0].code, "invalid");
    assert.ok(!JSON.stringify(refused.body).includes(PHI.family));
    const back: any = await client.read({
      resourceType: "ServiceRequest",
      id: order.id,
    });
    assert.equal(back.note[0].text, PHI.note);
    await auditSettled(server);

    await t.step("no KV key holds PHI", async () => {
      let count = 0;
      for await (const entry of server.kv.list({ prefix: [] })) {
        count++;
        const key = JSON.stringify(entry.key).toLowerCase();
        for (const value of Object.values(PHI)) {
          for (const spelling of spellings(value)) {
            assert.ok(
              !key.includes(spelling.toLowerCase()),
              `${value} in ${key}`,
            );
          }
        }
      }
      assert.ok(count > 50, `only ${count} keys listed`);
    });

    const totpSecrets = ["lab-admin", ADMIN.username].map((name) =>
      authenticatorSecret(server.url, name)
    );

    // Hard links keep the bytes when the helper's close removes the folder;
    // the main file's link also sees what closing checkpoints into it.
    for await (const entry of Deno.readDir(server.dir)) {
      await Deno.link(`${server.dir}/${entry.name}`, `${keep}/${entry.name}`);
    }
    closed = true;
    await server.close();
    const files = new Map<string, Uint8Array>();
    for await (const entry of Deno.readDir(keep)) {
      files.set(entry.name, await Deno.readFile(`${keep}/${entry.name}`));
    }

    await t.step("the scan finds values stored in clear (controls)", () => {
      assert.ok(files.has("lhcms.kv"));
      assert.ok(
        findIn(files, CONTROL_LATIN1).some((h) => h.includes("latin-1")),
      );
      assert.ok(
        findIn(files, CONTROL_UTF16).some((h) => h.includes("utf-16le")),
      );
      assert.ok(findIn(files, "on-hold").length > 0, "a status code in clear");
    });

    await t.step("the KV files hold no PHI in any encoding", () => {
      for (const [field, value] of Object.entries(PHI)) {
        assert.deepEqual(findIn(files, value), [], `${field} found`);
      }
    });

    await t.step("the KV files hold no TOTP secret, encoded or raw", () => {
      for (const secret of totpSecrets) {
        assert.deepEqual(findIn(files, secret), [], "base32 secret found");
        const raw = Buffer.from(OTPAuth.Secret.fromBase32(secret).bytes);
        for (const [file, bytes] of files) {
          assert.equal(Buffer.from(bytes).indexOf(raw), -1, `raw in ${file}`);
        }
      }
    });
  } finally {
    if (!closed) await server.close();
    await Deno.remove(keep, { recursive: true });
  }
});
