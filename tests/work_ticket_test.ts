// deno-lint-ignore-file no-explicit-any
/**
 * The printable work ticket: what it shows, what it never shows (the
 * patient's name, birth date, address), its barcode, headers, who may
 * print it, and its audit record.
 */
import assert from "node:assert/strict";
import zxing from "@zxing/library";
import { catalogSystem } from "../domain/catalog.ts";
import { MATERIAL_SYSTEM } from "../domain/catalog_defaults.ts";
import { keys } from "../domain/kv_keys.ts";
import { shadeOrderDetail } from "../domain/shades.ts";
import { archBodySite, toothBodySite } from "../fhir/terminology.ts";
import { caseBarcodeSvg } from "../routes/ticket_page.ts";
import { call, setupLab, startTestServer, type TestServer } from "./helpers.ts";

const FILL = "http://terminology.hl7.org/CodeSystem/v2-0203";
const caseNumberSystem = (lab: string) =>
  `https://lhcms.dev/fhir/lab/${lab}/case-number`;
const NOTE = '<script>alert("x")</script> & <b>margin</b> chamfer';

/** Decodes a bwip-js Code 128 SVG with ZXing, one scan line across it. */
function decodeBarcode(svg: string): string {
  const width = Number(/viewBox="0 0 (\d+) \d+"/.exec(svg)![1]);
  const quiet = 40;
  const row = new zxing.BitArray(width + 2 * quiet);
  for (const path of svg.matchAll(/stroke-width="([\d.]+)" d="([^"]+)"/g)) {
    const half = Number(path[1]) / 2;
    for (const move of path[2].matchAll(/M([\d.]+) /g)) {
      const x = Number(move[1]);
      for (let i = Math.round(x - half); i < Math.round(x + half); i++) {
        row.set(i + quiet);
      }
    }
  }
  return new zxing.Code128Reader().decodeRow(0, row, new Map()).getText();
}

async function post(server: TestServer, token: string, body: any) {
  const res = await call(
    server.url,
    "POST",
    `/fhir/acme/${body.resourceType}`,
    token,
    body,
  );
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

const caseNumberOf = (request: any): string =>
  request.identifier.find((i: any) => i.system === caseNumberSystem("acme"))
    .value;

/** A rush case of two items: a crown with two shades and a night guard. */
async function makeCase(server: TestServer, dentist: string, lab: string) {
  const patient = await post(server, dentist, {
    resourceType: "Patient",
    name: [{ family: "Chalmers", given: ["Peter", "James"] }],
    birthDate: "1974-12-25",
    address: [{ line: ["534 Erewhon St"], city: "PleasantVille" }],
  });
  const practitioner = await post(server, lab, {
    resourceType: "Practitioner",
    name: [{ prefix: ["Dr"], given: ["Adam"], family: "Careful" }],
  });
  const item = (code: string, extra: any) => ({
    resourceType: "ServiceRequest",
    status: "active",
    intent: "order",
    priority: "urgent",
    subject: { reference: `Patient/${patient.id}` },
    requester: { reference: `Practitioner/${practitioner.id}` },
    code: { coding: [{ system: catalogSystem("acme"), code }] },
    occurrenceDateTime: "2027-01-15",
    ...extra,
  });
  const fill = (value: string) => ({
    type: { coding: [{ system: FILL, code: "FILL" }] },
    system: caseNumberSystem("acme"),
    value,
  });
  const crown = await post(
    server,
    dentist,
    item("crown", {
      identifier: [fill("1042")],
      bodySite: [toothBodySite("11")],
      orderDetail: [
        { coding: [{ system: MATERIAL_SYSTEM, code: "zirconia" }] },
        shadeOrderDetail({
          shade: { guide: "vita-classical", code: "A2" },
          role: "body",
        }),
        shadeOrderDetail({
          shade: { guide: "vita-classical", code: "A1" },
          role: "incisal",
        }),
      ],
      note: [{ text: NOTE }],
    }),
  );
  // The second item joins the case by its number, as a PMS would. Ids
  // order by creation time only when the (test) clock has moved.
  const number = caseNumberOf(crown);
  server.clock.advance(1000);
  const guard = await post(
    server,
    dentist,
    item("night-guard", {
      identifier: [fill(number)],
      requisition: { system: caseNumberSystem("acme"), value: number },
      bodySite: [archBodySite("upper")],
      orderDetail: [{
        coding: [{ system: MATERIAL_SYSTEM, code: "thermoplastic" }],
      }],
    }),
  );
  await post(server, dentist, {
    resourceType: "Task",
    status: "requested",
    intent: "order",
    focus: { reference: `ServiceRequest/${crown.id}` },
    for: { reference: `Patient/${patient.id}` },
    restriction: { period: { end: "2027-01-13" } },
  });
  return { number, patient, crown, guard };
}

Deno.test("[ticket] a case's work ticket prints what the bench needs, and no PHI", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const other = await setupLab(server, "other");
    const made = await makeCase(
      server,
      acme.tokens.dentist,
      acme.tokens.lab_admin,
    );
    const path = `/labs/acme/cases/${made.number}/ticket`;
    const ticket = await call(
      server.url,
      "GET",
      path,
      acme.tokens.lab_technician,
    );
    const page: string = ticket.body;

    await t.step("a technician gets an HTML page that is never cached", () => {
      assert.equal(ticket.status, 200, page);
      assert.match(ticket.headers.get("Content-Type") ?? "", /^text\/html/);
      assert.equal(ticket.headers.get("Cache-Control"), "no-store");
      const csp = ticket.headers.get("Content-Security-Policy") ?? "";
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /style-src 'sha256-[A-Za-z0-9+/=]+'/);
      assert.doesNotMatch(csp, /unsafe-inline|script-src/);
      assert.doesNotMatch(page, /<script/i);
    });

    await t.step("the barcode encodes the case number and nothing else", () => {
      const svg = /<svg[\s\S]*?<\/svg>/.exec(page)?.[0] ?? "";
      assert.equal(svg, caseBarcodeSvg(made.number).trim());
      assert.equal(decodeBarcode(svg), made.number);
    });

    await t.step("it shows the case, dates, items, shades and stages", () => {
      assert.match(page, new RegExp(`Case ${made.number}<`));
      assert.match(page, /2027-01-15/);
      assert.match(page, /Ship by<\/dt><dd>2027-01-13</);
      assert.match(page, /RUSH/);
      assert.match(page, /Practice of acme/);
      assert.match(page, /Dr Adam Careful/);
      assert.match(page, /Item 1: Crown/);
      assert.match(page, /FDI 11 \(Universal 8\)/);
      assert.match(page, /Body: VITA classical A2; Incisal: VITA classical A1/);
      assert.match(page, /Zirconia/);
      assert.match(page, /Item 2: Night guard/);
      assert.match(page, /upper arch/);
      assert.match(page, /<li class="todo">Quality check<\/li>/);
    });

    await t.step("the patient appears only as initials and record id", () => {
      assert.match(
        page,
        new RegExp(`P\\.C\\. \\(Patient/${made.patient.id}\\)`),
      );
      for (const phi of ["Chalmers", "Peter", "James", "1974", "Erewhon"]) {
        assert.ok(!page.includes(phi), `${phi} is on the ticket`);
      }
    });

    await t.step("a note's HTML is escaped, not rendered", () => {
      assert.ok(!page.includes("<b>margin</b>"));
      assert.ok(page.includes("&lt;script&gt;alert("));
      assert.ok(page.includes("&amp; &lt;b&gt;margin&lt;/b&gt; chamfer"));
    });

    await t.step("the read is audited before the response", async () => {
      const records: any[] = [];
      for (
        const prefix of [
          keys.auditPending({ lab: "acme" }),
          keys.auditEvent({ lab: "acme" }),
        ]
      ) {
        for await (const e of server.kv.list<any>({ prefix })) {
          records.push(e.value);
        }
      }
      const read = records.find((r) =>
        r.entity?.type === "WorkTicket" && r.entity.id === made.number
      );
      assert.ok(read, "no audit record of the ticket");
      assert.equal(read.agent.who, "acme-lab_technician");
      assert.equal(read.action, "R");
      assert.equal(read.patient, made.patient.id);
    });

    await t.step(
      "dentists, compliance officers and other labs get 403",
      async () => {
        for (
          const token of [
            acme.tokens.dentist,
            acme.tokens.compliance_officer,
            other.tokens.lab_admin,
            other.tokens.lab_technician,
          ]
        ) {
          const res = await call(server.url, "GET", path, token);
          assert.equal(res.status, 403);
          assert.equal(typeof res.body, "object");
        }
        const anonymous = await call(server.url, "GET", path);
        assert.equal(anonymous.status, 401);
      },
    );

    await t.step("lab admins and viewers print it too", async () => {
      for (const token of [acme.tokens.lab_admin, acme.tokens.viewer]) {
        const res = await call(server.url, "GET", path, token);
        assert.equal(res.status, 200);
      }
    });

    await t.step("an unknown or malformed case number is 404", async () => {
      for (const number of ["999999", "no%20such", "x".repeat(40)]) {
        const res = await call(
          server.url,
          "GET",
          `/labs/acme/cases/${number}/ticket`,
          acme.tokens.lab_technician,
        );
        assert.equal(res.status, 404);
      }
    });
  } finally {
    await server.close();
  }
});
