// deno-lint-ignore-file no-explicit-any
/**
 * Dental prescriptions through the FHIR API: checked against the catalog,
 * numbered per case, dated from the lab's calendar, with clear refusals.
 */
import assert from "node:assert/strict";
import { caseNumberSystem, SHIP_BY_EXTENSION } from "../domain/dental_case.ts";
import { ALLOY_SYSTEM } from "../domain/dental_item.ts";
import {
  SHADE_ROLE_EXTENSION,
  VITA_CLASSICAL_SYSTEM,
} from "../domain/shades.ts";
import { ADA_UNIVERSAL_SYSTEM, FDI_TOOTH_SYSTEM } from "../fhir/terminology.ts";
import { prescription } from "./dental.ts";
import { call, setupLab, startTestServer } from "./helpers.ts";

const caseNumber = (sr: any) =>
  sr.identifier.find((i: any) => i.system === caseNumberSystem("acme")).value;

Deno.test("[dental case] prescriptions are checked, numbered and dated", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const dentist = acme.tokens.dentist;
    const send = (body: any, prefer?: string) =>
      call(
        server.url,
        "POST",
        "/fhir/acme/ServiceRequest",
        dentist,
        body,
        prefer ? { Prefer: prefer } : {},
      );
    const patient =
      (await call(server.url, "POST", "/fhir/acme/Patient", dentist, {
        resourceType: "Patient",
      })).body.id;
    const ok = async (body: any) => {
      const res = await send(body);
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body;
    };
    const refused = async (body: any, expression: RegExp) => {
      const res = await send(body);
      assert.equal(res.status, 422, JSON.stringify(res.body));
      assert.equal(res.body.resourceType, "OperationOutcome");
      assert.ok(
        res.body.issue.some((i: any) =>
          expression.test(i.expression?.[0] ?? "")
        ),
        JSON.stringify(res.body),
      );
    };

    let first: any;
    await t.step(
      "a crown gets case number 1, both tooth codings and its dates",
      async () => {
        first = await ok(
          prescription("acme", patient, "crown", {
            teeth: ["36"],
            shade: "A2",
          }),
        );
        assert.equal(caseNumber(first), "1");
        assert.equal(first.requisition.value, "1");
        const codings = first.bodySite[0].coding;
        assert.deepEqual(
          codings.map((c: any) => [c.system, c.code]).sort(),
          [[ADA_UNIVERSAL_SYSTEM, "19"], [FDI_TOOTH_SYSTEM, "36"]].sort(),
        );
        // Received Thursday 2026-12-03 09:00 UTC, before the 14:00 cut-off:
        // 5 business days ship Thursday 12-10, one transit day, due Friday.
        assert.equal(first.occurrenceDateTime, "2026-12-11");
        const shipBy = first.extension.find((e: any) =>
          e.url === SHIP_BY_EXTENSION
        );
        assert.equal(shipBy.valueDate, "2026-12-10");
      },
    );

    await t.step(
      "items of one case share its number; a new case gets the next",
      async () => {
        const second = await ok(prescription("acme", patient, "crown", {
          teeth: ["46"],
          shade: "A3",
          requisition: first.requisition,
        }));
        assert.equal(caseNumber(second), "1");
        const other = await ok(
          prescription("acme", patient, "inlay", {
            teeth: ["17"],
            shade: "B1",
            material: "composite",
          }),
        );
        assert.equal(caseNumber(other), "2");
        const order = { system: "urn:oid:1.2.3.4.5", value: "PO-77" };
        const a = await ok(
          prescription("acme", patient, "crown", {
            teeth: ["11"],
            shade: "A1",
            requisition: order,
          }),
        );
        const b = await ok(prescription("acme", patient, "veneer", {
          teeth: ["21"],
          shade: "A1",
          material: "feldspathic",
          requisition: order,
        }));
        assert.equal(caseNumber(a), "3");
        assert.equal(caseNumber(b), "3");
        assert.deepEqual(b.requisition, order);
        await refused(
          prescription("acme", patient, "crown", {
            teeth: ["11"],
            shade: "A1",
            requisition: { system: caseNumberSystem("acme"), value: "999" },
          }),
          /requisition/,
        );
      },
    );

    await t.step("concurrent new cases never share a number", async () => {
      const results = await Promise.all(
        Array.from(
          { length: 8 },
          () =>
            send(
              prescription("acme", patient, "crown", {
                teeth: ["26"],
                shade: "A2",
              }),
            ),
        ),
      );
      assert.ok(results.every((r) => r.status === 201));
      const numbers = results.map((r) => caseNumber(r.body));
      assert.equal(new Set(numbers).size, 8);
    });

    await t.step(
      "a bridge spans abutments at both ends; an ADA tooth is read",
      async () => {
        const bridge = await ok(prescription("acme", patient, "bridge", {
          units: [
            { tooth: "34", role: "abutment" },
            { tooth: "35", role: "pontic" },
            { tooth: "36", role: "abutment" },
          ],
          shade: "A3",
        }));
        assert.equal(bridge.bodySite.length, 3);
        await refused(
          prescription("acme", patient, "bridge", {
            units: [
              { tooth: "34", role: "abutment" },
              { tooth: "35", role: "abutment" },
              { tooth: "36", role: "pontic" },
            ],
            shade: "A3",
          }),
          /bodySite/,
        );
        const universal = prescription("acme", patient, "crown", {
          shade: "A2",
        });
        universal.bodySite = [{
          coding: [{ system: ADA_UNIVERSAL_SYSTEM, code: "3" }],
        }];
        const read = await ok(universal);
        assert.ok(
          read.bodySite[0].coding.some((c: any) =>
            c.system === FDI_TOOTH_SYSTEM && c.code === "16"
          ),
        );
      },
    );

    await t.step(
      "what a product needs is checked, with every problem",
      async () => {
        await refused(
          prescription("acme", patient, "crown", { teeth: ["36"] }),
          /orderDetail/,
        );
        await refused(
          prescription("acme", patient, "crown", {
            teeth: ["36"],
            shade: "A2",
            material: "acrylic",
          }),
          /orderDetail/,
        );
        await refused(
          prescription("acme", patient, "crown", { shade: "A2" }),
          /bodySite/,
        );
        await refused(
          prescription("acme", patient, "crown", {
            teeth: ["19"],
            shade: "A2",
          }),
          /bodySite/,
        );
        await refused(
          prescription("acme", patient, "night-guard", {
            teeth: ["36"],
            material: "acrylic",
          }),
          /bodySite/,
        );
        const pfm = prescription("acme", patient, "crown", {
          teeth: ["36"],
          shade: "A2",
          material: "pfm",
        });
        await refused(pfm, /orderDetail/);
        pfm.orderDetail!.push({
          coding: [{ system: ALLOY_SYSTEM, code: "high-noble" }],
        });
        await ok(pfm);
        const guard = prescription("acme", patient, "night-guard", {
          material: "acrylic",
        });
        guard.bodySite = [{
          coding: [{
            system:
              "http://terminology.hl7.org/CodeSystem/ADAAreaOralCavitySystem",
            code: "01",
          }],
        }];
        await ok(guard);
        const unknown = prescription("acme", patient, "spaceship", {
          teeth: ["36"],
        });
        await refused(unknown, /ServiceRequest.code/);
      },
    );

    await t.step(
      "a due date earlier than possible is a warning, or refused by setting",
      async () => {
        const early = prescription("acme", patient, "crown", {
          teeth: ["36"],
          shade: "A2",
          due: "2026-12-04",
        });
        const res = await send(early, "return=OperationOutcome");
        assert.equal(res.status, 201);
        assert.equal(res.body.resourceType, "OperationOutcome");
        assert.equal(res.body.issue[0].severity, "warning");
        assert.match(res.body.issue[0].diagnostics, /2026-12-04/);
        const settings = await call(
          server.url,
          "PUT",
          "/labs/acme/settings",
          acme.tokens.lab_admin,
          {
            calendar: {
              workingDays: ["mon", "tue", "wed", "thu", "fri"],
              holidays: ["2026-12-08"],
              timeZone: "UTC",
              cutoff: "14:00",
            },
            tooLate: "refuse",
            transitDays: { [acme.practice]: 2 },
          },
        );
        assert.equal(settings.status, 200, JSON.stringify(settings.body));
        await refused(early, /occurrenceDateTime/);
        // With the 12-08 holiday, ship Friday 12-11; two transit days: Tuesday.
        const later = await ok(
          prescription("acme", patient, "crown", {
            teeth: ["36"],
            shade: "A2",
          }),
        );
        assert.equal(later.occurrenceDateTime, "2026-12-15");
      },
    );

    await t.step(
      "an item Task takes its prescription's ship-by date",
      async () => {
        const task = await call(
          server.url,
          "POST",
          "/fhir/acme/Task",
          dentist,
          {
            resourceType: "Task",
            status: "requested",
            intent: "order",
            focus: { reference: `ServiceRequest/${first.id}` },
          },
        );
        assert.equal(task.status, 201);
        assert.equal(task.body.restriction.period.end, "2026-12-10");
      },
    );

    await t.step(
      "the lab keeps the case number when the practice updates",
      async () => {
        const changed = {
          ...first,
          // Left out (an empty list is not FHIR JSON): the lab's number stays.
          identifier: undefined,
          requisition: undefined,
          note: [{ text: "Lighter shade please" }],
        };
        const res = await call(
          server.url,
          "PUT",
          `/fhir/acme/ServiceRequest/${first.id}`,
          dentist,
          changed,
        );
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.equal(caseNumber(res.body), "1");
        assert.equal(res.body.requisition.value, "1");
      },
    );

    await t.step(
      "a shade written loosely comes back canonical, with its role",
      async () => {
        const crown = prescription("acme", patient, "crown", { teeth: ["11"] });
        crown.orderDetail!.push({
          // Lower case and a comma; not spaces around it, which FHIR refuses
          // in any code.
          coding: [{ system: VITA_CLASSICAL_SYSTEM, code: "a3,5" }],
        });
        const stored = await ok(crown);
        assert.deepEqual(stored.orderDetail[1], {
          extension: [{ url: SHADE_ROLE_EXTENSION, valueCode: "body" }],
          coding: [{
            system: VITA_CLASSICAL_SYSTEM,
            code: "A3.5",
            display: "VITA classical A3.5",
          }],
          text: "Body shade VITA classical A3.5",
        });
        assert.deepEqual(stored.orderDetail[0], crown.orderDetail![0]);
      },
    );
  } finally {
    await server.close();
  }
});
