// deno-lint-ignore-file no-explicit-any
/**
 * What keeps a lab case whole, tried the way a practice system would break
 * it with fhir-kit-client: an item of another practice or patient naming
 * the case, two practices whose systems number orders alike, a burst of
 * simultaneous prescriptions, and one pan put on two open cases.
 */
import assert from "node:assert/strict";
import type { Client } from "fhir-kit-client";
import { encodeBase64 } from "../domain/config.ts";
import { auditRecord } from "../domain/audit.ts";
import { importMasterKey, KeyRing } from "../domain/crypto.ts";
import { caseNumberSystem } from "../domain/dental_case.ts";
import { createResource } from "../domain/resources.ts";
import { created, put, refusedWith } from "./case_bench.ts";
import { panNumber } from "./case_journey.ts";
import { prescription } from "./dental.ts";
import {
  call,
  fhirClient,
  login,
  PASSWORD,
  setupLab,
  startTestServer,
  type TestServer,
} from "./helpers.ts";

const caseOf = (sr: any, lab = "acme") =>
  sr.identifier.find((i: any) => i.system === caseNumberSystem(lab)).value;

/** A second practice sending to `lab`, and a client of its dentist. */
async function secondPractice(server: TestServer, lab: string) {
  const admin = (path: string, body: unknown) =>
    call(server.url, "POST", path, server.adminToken, body);
  assert.equal(
    (await admin("/admin/practices", { id: "p2", name: "P2", labs: [lab] }))
      .status,
    201,
  );
  assert.equal(
    (await admin("/admin/users", {
      username: "p2-dentist",
      password: PASSWORD,
      role: "dentist",
      practice: "p2",
    })).status,
    201,
  );
  return fhirClient(
    server,
    lab,
    await login(server.url, "p2-dentist", PASSWORD),
  );
}

const patient = async (client: Client, family: string) =>
  (await created(client, {
    resourceType: "Patient",
    name: [{ family, given: ["Test"] }],
  } as any)).id;

const crown = (patientId: string, tooth: string, extra: any = {}): any =>
  prescription("acme", patientId, "crown", {
    teeth: [tooth],
    shade: "A2",
    ...extra,
  });

/** The statuses of simultaneous creates, in the order sent. */
async function burst(client: Client, bodies: any[]) {
  const settled = await Promise.allSettled(
    bodies.map((body) =>
      client.create({ resourceType: "ServiceRequest", body })
    ),
  );
  return settled.map((s) =>
    s.status === "fulfilled"
      ? { status: 201, body: s.value as any }
      : { status: s.reason.response?.status, body: s.reason.response?.data }
  );
}

Deno.test("[case integrity] a case is one practice's and one patient's", async (t) => {
  const raw = crypto.getRandomValues(new Uint8Array(32));
  const server = await startTestServer({
    env: { LHCMS_MASTER_KEY: encodeBase64(raw) },
  });
  try {
    const acme = await setupLab(server, "acme");
    const dentist = fhirClient(server, "acme", acme.tokens.dentist);
    const labAdmin = fhirClient(server, "acme", acme.tokens.lab_admin);
    const other = await secondPractice(server, "acme");
    const alpha = await patient(dentist, "Alpha");
    const bravo = await patient(dentist, "Bravo");
    const charlie = await patient(other, "Charlie");
    let first: any;

    await t.step(
      "another practice cannot put its patient's item in the case",
      async () => {
        first = await created(dentist, crown(alpha, "11"));
        await refusedWith(
          other.create({
            resourceType: "ServiceRequest",
            body: crown(charlie, "13", { requisition: first.requisition }),
          }),
          /ServiceRequest\.requisition.*no case of this practice|no case of this practice.*ServiceRequest\.requisition/,
        );
        // A number no case has gets the same answer: no practice learns
        // which numbers another practice's cases carry.
        let unknown: any, taken: any;
        await other.create({
          resourceType: "ServiceRequest",
          body: crown(charlie, "13", {
            requisition: { system: caseNumberSystem("acme"), value: "999" },
          }),
        }).catch((e) => unknown = e.response.data);
        await other.create({
          resourceType: "ServiceRequest",
          body: crown(charlie, "13", { requisition: first.requisition }),
        }).catch((e) => taken = e.response.data);
        assert.deepEqual(unknown.issue, taken.issue);
      },
    );

    await t.step(
      "another patient of the same practice cannot join the case",
      async () => {
        await refusedWith(
          dentist.create({
            resourceType: "ServiceRequest",
            body: crown(bravo, "12", { requisition: first.requisition }),
          }),
          /another patient/,
        );
      },
    );

    await t.step(
      "the same patient's items join it, sent by the practice or the lab",
      async () => {
        const second = await created(
          dentist,
          crown(alpha, "21", { requisition: first.requisition }),
        );
        const byLab = await created(
          labAdmin,
          crown(alpha, "22", { requisition: first.requisition }),
        );
        assert.equal(caseOf(second), caseOf(first));
        assert.equal(caseOf(byLab), caseOf(first));
        const ticket = await call(
          server.url,
          "GET",
          `/labs/acme/cases/${caseOf(first)}/ticket`,
          acme.tokens.lab_technician,
        );
        assert.equal(ticket.status, 200);
        assert.match(ticket.body, new RegExp(`Patient/${alpha}`));
        assert.doesNotMatch(ticket.body, new RegExp(bravo));
      },
    );

    await t.step(
      "two practices sending the same order number get a case each",
      async () => {
        const order = { system: "https://pms.example/lab-case", value: "1001" };
        const mine = await created(
          dentist,
          crown(alpha, "31", { requisition: order }),
        );
        const theirs = await created(
          other,
          crown(charlie, "31", { requisition: order }),
        );
        assert.notEqual(caseOf(theirs), caseOf(mine));
        const mineAgain = await created(
          dentist,
          crown(alpha, "32", { requisition: order }),
        );
        const theirsAgain = await created(
          other,
          crown(charlie, "32", { requisition: order }),
        );
        assert.equal(caseOf(mineAgain), caseOf(mine));
        assert.equal(caseOf(theirsAgain), caseOf(theirs));
        await refusedWith(
          dentist.create({
            resourceType: "ServiceRequest",
            body: crown(bravo, "33", { requisition: order }),
          }),
          /another patient/,
        );
      },
    );

    await t.step("an item does not move to another patient", async () => {
      await refusedWith(
        put(dentist, { ...first, subject: { reference: `Patient/${bravo}` } }),
        /ServiceRequest\.subject/,
      );
    });

    await t.step(
      "a case that mixes patients anyway gets no ticket",
      async () => {
        // Written past the API, as a case numbered by an older release could
        // be: a prescription of Bravo carrying Alpha's case number.
        const keyRing = new KeyRing(server.kv, await importMasterKey(raw));
        const now = new Date();
        await createResource({ kv: server.kv, keyRing }, "acme", {
          ...crown(bravo, "41"),
          identifier: [{
            system: caseNumberSystem("acme"),
            value: caseOf(first),
          }],
        } as any, {
          now,
          practice: acme.practice,
          audit: auditRecord({
            subtype: "create",
            action: "C",
            outcome: "0",
            agent: { who: "test" },
            network: {},
            lab: "acme",
          }, now),
        });
        const ticket = await call(
          server.url,
          "GET",
          `/labs/acme/cases/${caseOf(first)}/ticket`,
          acme.tokens.lab_technician,
        );
        assert.equal(ticket.status, 409);
        assert.doesNotMatch(JSON.stringify(ticket.body), /Alpha|Bravo/);
      },
    );
  } finally {
    await server.close();
  }
});

Deno.test("[case integrity] a burst of prescriptions is numbered without loss", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const dentist = fhirClient(server, "acme", acme.tokens.dentist);
    const alpha = await patient(dentist, "Alpha");

    await t.step("20 new cases at once are cases 1 to 20", async () => {
      const results = await burst(
        dentist,
        Array.from({ length: 20 }, () => crown(alpha, "11")),
      );
      assert.deepEqual(
        results.map((r) => r.status),
        Array(20).fill(201),
        JSON.stringify(results.find((r) => r.status !== 201)?.body),
      );
      const numbers = results.map((r) => Number(caseOf(r.body)));
      assert.deepEqual(
        numbers.sort((a, b) => a - b),
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
    });

    await t.step("10 items of one order at once share one case", async () => {
      const order = { system: "https://pms.example/lab-case", value: "2002" };
      const results = await burst(
        dentist,
        Array.from(
          { length: 10 },
          (_, i) => crown(alpha, String(21 + i % 7), { requisition: order }),
        ),
      );
      assert.deepEqual(results.map((r) => r.status), Array(10).fill(201));
      assert.deepEqual(
        [...new Set(results.map((r) => caseOf(r.body)))],
        ["21"],
      );
    });
  } finally {
    await server.close();
  }
});

Deno.test("[case integrity] a pan holds one open case at a time", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const dentist = fhirClient(server, "acme", acme.tokens.dentist);
    const labAdmin = fhirClient(server, "acme", acme.tokens.lab_admin);
    const alpha = await patient(dentist, "Alpha");
    const withPan = (sr: any, pan: any) => ({
      ...sr,
      identifier: [...(sr.identifier ?? []), pan],
    });
    const item = async () => await created(dentist, crown(alpha, "11"));
    const a = await item(), b = await item(), c = await item();
    const T0 = "2026-12-03T09:00:00Z";

    await t.step("a pan in use on an open case is refused", async () => {
      await put(labAdmin, withPan(a, panNumber("acme", "P1", T0)));
      await refusedWith(
        put(
          labAdmin,
          withPan(b, panNumber("acme", "P1", "2026-12-04T09:00:00Z")),
        ),
        /pan number P1 is in use on case 1.*ServiceRequest\.identifier\[1\]/,
      );
      // Nor can a new prescription bring it, and the practice is not told
      // which case holds it.
      await refusedWith(
        dentist.create({
          resourceType: "ServiceRequest",
          body: withPan(
            crown(alpha, "12"),
            panNumber("acme", "P1", "2026-12-04T09:00:00Z"),
          ),
        }),
        /pan number P1 is in use on another case/,
      );
    });

    let sibling: any;
    await t.step("another item of the same case shares the pan", async () => {
      sibling = await created(
        dentist,
        crown(alpha, "21", { requisition: a.requisition }),
      );
      sibling = await put(
        labAdmin,
        withPan(sibling, panNumber("acme", "P1", T0)),
      );
    });

    await t.step("a use that ended frees the pan from then", async () => {
      const end = "2026-12-05T09:00:00Z";
      for (const id of [a.id, sibling.id]) {
        const current = await labAdmin.read({
          resourceType: "ServiceRequest",
          id,
        }) as any;
        const identifier = current.identifier.map((i: any) =>
          i.value === "P1" ? { ...i, period: { ...i.period, end } } : i
        );
        await put(labAdmin, { ...current, identifier });
      }
      await refusedWith(
        put(
          labAdmin,
          withPan(b, panNumber("acme", "P1", "2026-12-04T09:00:00Z")),
        ),
        /pan number P1 is in use on case 1/,
      );
      const taken = await put(
        labAdmin,
        withPan(b, panNumber("acme", "P1", end)),
      );
      assert.ok(taken.identifier.some((i: any) => i.value === "P1"));
    });

    await t.step("a finished case gives its pans back", async () => {
      await put(labAdmin, withPan(c, panNumber("acme", "P2", T0)));
      await refusedWith(
        put(labAdmin, withPan(a, panNumber("acme", "P2", T0))),
        /pan number P2 is in use on case 3/,
      );
      const task = await created(dentist, {
        resourceType: "Task",
        status: "requested",
        intent: "order",
        basedOn: [{ reference: `ServiceRequest/${c.id}` }],
        focus: { reference: `ServiceRequest/${c.id}` },
        for: { reference: `Patient/${alpha}` },
      } as any);
      await put(labAdmin, {
        ...task,
        status: "cancelled",
        statusReason: { text: "practice withdrew the case" },
      });
      const current = await labAdmin.read({
        resourceType: "ServiceRequest",
        id: a.id,
      }) as any;
      const taken = await put(
        labAdmin,
        withPan(current, panNumber("acme", "P2", "2026-12-04T09:00:00Z")),
      );
      assert.ok(taken.identifier.some((i: any) => i.value === "P2"));
    });

    await t.step(
      "of six cases given one pan at once, one gets it",
      async () => {
        const items = [];
        for (let i = 0; i < 6; i++) items.push(await item());
        const settled = await Promise.allSettled(
          items.map((sr) =>
            put(labAdmin, withPan(sr, panNumber("acme", "P9", T0)))
          ),
        );
        const statuses = settled.map((s) =>
          s.status === "fulfilled" ? 200 : s.reason.response?.status
        );
        assert.deepEqual(
          statuses.sort(),
          [200, 422, 422, 422, 422, 422],
        );
      },
    );
  } finally {
    await server.close();
  }
});
