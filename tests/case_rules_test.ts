// deno-lint-ignore-file no-explicit-any
/**
 * The side roads around a case's workflow, closed: a Task of a case born
 * finished or on another patient, a second item Task, a Task moved onto
 * another prescription, a prescription turned into another product, bridge
 * teeth without a role, repeated teeth, arches and shades, a second due
 * date, and lab settings that would silently reset the calendar.
 */
import assert from "node:assert/strict";
import { catalogSystem } from "../domain/catalog.ts";
import { stageSystem } from "../domain/case_workflow.ts";
import { BRIDGE_ROLE_EXTENSION } from "../domain/dental_item.ts";
import {
  MARGIN_DESIGN_SYSTEM,
  PONTIC_DESIGN_SYSTEM,
} from "../domain/design_options.ts";
import { shadeOrderDetail } from "../domain/shades.ts";
import { ADA_AREA_SYSTEM, HL7_EX_TOOTH_SYSTEM } from "../fhir/terminology.ts";
import { prescription } from "./dental.ts";
import {
  call,
  fhirBody,
  setupLab,
  startTestServer,
  storedCount,
  type TestServer,
} from "./helpers.ts";

/** Posts or puts a resource; the OperationOutcome or the stored body. */
async function send(
  server: TestServer,
  token: string,
  method: "POST" | "PUT",
  resource: any,
) {
  const path = method === "POST"
    ? `/fhir/acme/${resource.resourceType}`
    : `/fhir/acme/${resource.resourceType}/${resource.id}`;
  return await call(server.url, method, path, token, resource);
}

/** Asserts a 422 whose issues name `expression` with a matching message. */
function refused(
  res: { status: number; headers: Headers; body: any },
  expression: string,
  message: RegExp,
) {
  const body = fhirBody(res, 422);
  const issue = body.issue.find((i: any) => i.expression?.includes(expression));
  assert.ok(issue, `no issue at ${expression}: ${JSON.stringify(body)}`);
  assert.match(issue.diagnostics, message);
}

function itemTask(request: any, patient: string, extra: any = {}) {
  return {
    resourceType: "Task",
    status: "requested",
    intent: "order",
    focus: { reference: `ServiceRequest/${request.id}` },
    for: { reference: `Patient/${patient}` },
    ...extra,
  };
}

Deno.test("[case rules] a Task of a case starts at the beginning, once per item, and stays on its case", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const dentist = acme.tokens.dentist;
    const lab = acme.tokens.lab_admin;
    const created = async (resource: any) =>
      fhirBody(await send(server, dentist, "POST", resource), 201);
    const [patient, other] = [
      await created({ resourceType: "Patient", gender: "female" }),
      await created({ resourceType: "Patient", gender: "male" }),
    ];
    const crown = await created(
      prescription("acme", patient.id, "crown", { teeth: ["36"], shade: "A2" }),
    );
    const plain = await created({
      resourceType: "ServiceRequest",
      status: "active",
      intent: "order",
      subject: { reference: `Patient/${patient.id}` },
      code: { text: "Study models" },
    });

    await t.step(
      "an item Task born shipped or rejected is refused",
      async () => {
        const shipped = itemTask(crown, patient.id, {
          status: "completed",
          businessStatus: {
            coding: [{ system: stageSystem("acme"), code: "ship" }],
          },
          output: [{ type: { text: "courier" }, valueString: "UPS" }],
        });
        const res = await send(server, lab, "POST", shipped);
        refused(res, "Task.status", /completed is reached by updating it/);
        refused(res, "Task.businessStatus", /no stage/);
        refused(res, "Task.output", /no output/);
        refused(
          await send(server, lab, "POST", {
            ...itemTask(crown, patient.id),
            status: "rejected",
            statusReason: { text: "no" },
          }),
          "Task.status",
          /rejected is reached by updating it/,
        );
        assert.equal(await storedCount(server, "acme", "Task"), 0);
      },
    );

    await t.step("an item Task for another patient is refused", async () => {
      refused(
        await send(server, dentist, "POST", itemTask(crown, other.id)),
        "Task.for",
        /prescription's patient/,
      );
    });

    let task: any;
    await t.step(
      "of item Tasks sent at once for one item, exactly one lands",
      async () => {
        const answers = await Promise.all(
          Array.from(
            { length: 6 },
            () => send(server, dentist, "POST", itemTask(crown, patient.id)),
          ),
        );
        const statuses = answers.map((a) => a.status).sort();
        assert.deepEqual(statuses, [201, 422, 422, 422, 422, 422]);
        task = answers.find((a) => a.status === 201)!.body;
        refused(
          answers.find((a) => a.status === 422)!,
          "Task.focus",
          /already has its item Task/,
        );
        refused(
          await send(server, dentist, "POST", itemTask(crown, patient.id)),
          "Task.focus",
          /already has its item Task/,
        );
        assert.equal(await storedCount(server, "acme", "Task"), 1);
      },
    );

    await t.step("a stage Task cannot be born completed", async () => {
      refused(
        await send(server, lab, "POST", {
          ...itemTask(crown, patient.id),
          status: "completed",
          partOf: [{ reference: `Task/${task.id}` }],
          code: { coding: [{ system: stageSystem("acme"), code: "design" }] },
        }),
        "Task.status",
        /completed is reached by updating it/,
      );
    });

    await t.step(
      "a held Task resumes where it was, not past an acceptance",
      async () => {
        const held = fhirBody(
          await send(server, lab, "PUT", {
            ...task,
            status: "on-hold",
            statusReason: { text: "Waiting for the bite registration" },
          }),
          200,
        );
        refused(
          await send(server, lab, "PUT", { ...held, status: "in-progress" }),
          "Task.status",
          /Cannot move a Task from on-hold to in-progress/,
        );
        task = fhirBody(
          await send(server, lab, "PUT", { ...held, status: "requested" }),
          200,
        );
      },
    );

    await t.step(
      "an item Task cannot move to another prescription or patient",
      async () => {
        const moved = await send(server, lab, "PUT", {
          ...task,
          focus: { reference: `ServiceRequest/${plain.id}` },
          for: { reference: `Patient/${other.id}` },
        });
        refused(moved, "Task.focus", /Cannot change focus/);
        refused(moved, "Task.for", /Cannot change for/);
      },
    );

    await t.step(
      "a Task done elsewhere cannot be moved onto a catalog item",
      async () => {
        const loose = fhirBody(
          await send(server, lab, "POST", {
            ...itemTask(plain, patient.id),
            status: "requested",
          }),
          201,
        );
        const done = fhirBody(
          await send(server, lab, "PUT", { ...loose, status: "accepted" }),
          200,
        );
        refused(
          await send(server, lab, "PUT", {
            ...done,
            focus: { reference: `ServiceRequest/${crown.id}` },
          }),
          "Task.focus",
          /Cannot change focus/,
        );
      },
    );

    await t.step(
      "a side Task under a plain Task is not a way around the item",
      async () => {
        const loose = fhirBody(
          await send(server, lab, "POST", itemTask(plain, patient.id)),
          201,
        );
        refused(
          await send(server, lab, "POST", {
            ...itemTask(crown, patient.id),
            partOf: [{ reference: `Task/${loose.id}` }],
          }),
          "Task.partOf",
          /the item Task of the same prescription/,
        );
      },
    );

    await t.step(
      "a request without a product does not become a catalog item",
      async () => {
        const later = fhirBody(
          await send(server, dentist, "POST", {
            ...plain,
            id: undefined,
            meta: undefined,
          }),
          201,
        );
        refused(
          await send(server, dentist, "PUT", {
            ...later,
            code: crown.code,
            bodySite: crown.bodySite,
            orderDetail: crown.orderDetail,
          }),
          "ServiceRequest.code",
          /does not become a crown later/,
        );
      },
    );

    await t.step(
      "the practice withdraws an order; deleting a Task is the lab's",
      async () => {
        const res = await call(
          server.url,
          "DELETE",
          `/fhir/acme/Task/${task.id}`,
          dentist,
        );
        assert.equal(fhirBody(res, 403).issue[0].code, "forbidden");
      },
    );

    await t.step(
      "an item whose Task the lab deleted may be ordered again, once",
      async () => {
        const gone = await call(
          server.url,
          "DELETE",
          `/fhir/acme/Task/${task.id}`,
          lab,
        );
        assert.equal(gone.status, 204);
        const again = await Promise.all(
          [1, 2, 3].map(() =>
            send(server, dentist, "POST", itemTask(crown, patient.id))
          ),
        );
        assert.deepEqual(again.map((a) => a.status).sort(), [201, 422, 422]);
        task = again.find((a) => a.status === 201)!.body;
      },
    );

    await t.step("an item keeps its product", async () => {
      for (
        const code of [{ text: "crown" }, {
          coding: [{ system: catalogSystem("acme"), code: "night-guard" }],
        }]
      ) {
        refused(
          await send(server, dentist, "PUT", { ...crown, code }),
          "ServiceRequest.code",
          /product of an item stays crown/,
        );
      }
      const read = await call(
        server.url,
        "GET",
        `/fhir/acme/ServiceRequest/${crown.id}`,
        dentist,
      );
      assert.equal(fhirBody(read, 200).meta.versionId, "1");
    });
  } finally {
    await server.close();
  }
});

Deno.test("[case rules] teeth, arches, shades and the due date are each given once", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const dentist = acme.tokens.dentist;
    const patient = fhirBody(
      await send(server, dentist, "POST", {
        resourceType: "Patient",
        gender: "female",
      }),
      201,
    );
    const post = (request: any) => send(server, dentist, "POST", request);
    const bridge = () =>
      prescription("acme", patient.id, "bridge", {
        units: [
          { tooth: "13", role: "abutment" },
          { tooth: "12", role: "pontic" },
          { tooth: "11", role: "abutment" },
        ],
        shade: "A2",
      });

    await t.step("every tooth of a bridge carries its role", async () => {
      const extra = bridge();
      extra.bodySite!.push({
        coding: [{
          system: "https://lhcms.dev/fhir/CodeSystem/fdi-tooth",
          code: "47",
        }],
      });
      refused(
        await post(extra),
        "ServiceRequest.bodySite[3]",
        /each tooth of a bridge names its role/,
      );
      const roleless = prescription("acme", patient.id, "bridge", {
        teeth: ["13", "12", "11"],
        shade: "A2",
      });
      refused(
        await post(roleless),
        "ServiceRequest.bodySite[0]",
        /each tooth of a bridge names its role/,
      );
    });

    await t.step("a crown's tooth carries no bridge role", async () => {
      const crown = prescription("acme", patient.id, "crown", {
        teeth: ["36"],
        shade: "A2",
      });
      crown.bodySite![0].extension = [{
        url: BRIDGE_ROLE_EXTENSION,
        valueCode: "abutment",
      }];
      refused(
        await post(crown),
        "ServiceRequest.bodySite[0]",
        /only the teeth of a bridge carry a role/,
      );
    });

    await t.step("a tooth or an arch named twice is refused", async () => {
      refused(
        await post(
          prescription("acme", patient.id, "crown", {
            teeth: ["36", "36"],
            shade: "A2",
          }),
        ),
        "ServiceRequest.bodySite[1]",
        /tooth 36 is named twice/,
      );
      const guard = prescription("acme", patient.id, "night-guard", {
        material: "thermoplastic",
      });
      const upper = { coding: [{ system: ADA_AREA_SYSTEM, code: "01" }] };
      refused(
        await post({ ...guard, bodySite: [upper, upper] }),
        "ServiceRequest.bodySite[1]",
        /an arch is named twice/,
      );
      const lower = { coding: [{ system: ADA_AREA_SYSTEM, code: "02" }] };
      const both = fhirBody(
        await post({ ...guard, bodySite: [upper, lower] }),
        201,
      );
      assert.deepEqual(
        both.bodySite.map((s: any) => s.coding[0].code),
        ["00"],
      );
    });

    await t.step("one shade per role", async () => {
      const crown = prescription("acme", patient.id, "crown", {
        teeth: ["36"],
        shade: "A2",
      });
      crown.orderDetail!.push(
        shadeOrderDetail({
          shade: { guide: "vita-classical", code: "B1" },
          role: "body",
        }),
      );
      refused(
        await post(crown),
        "ServiceRequest.orderDetail",
        /one shade per role: body is given twice/,
      );
    });

    await t.step("HL7's ex-tooth holds no primary teeth", async () => {
      const crown = prescription("acme", patient.id, "crown", { shade: "A2" });
      crown.bodySite = [{
        coding: [{ system: HL7_EX_TOOTH_SYSTEM, code: "55" }],
      }];
      refused(
        await post(crown),
        "ServiceRequest.bodySite[0]",
        /permanent teeth only/,
      );
    });

    await t.step(
      "margin and pontic designs: one each, coded, where the product asks",
      async () => {
        const option = (system: string, code: string) => ({
          coding: [{ system, code }],
        });
        const crown = () =>
          prescription("acme", patient.id, "crown", {
            teeth: ["36"],
            shade: "A2",
          });
        const withOptions = (request: any, ...details: any[]) => ({
          ...request,
          orderDetail: [...request.orderDetail, ...details],
        });
        refused(
          await post(
            withOptions(crown(), option(PONTIC_DESIGN_SYSTEM, "ovate")),
          ),
          "ServiceRequest.orderDetail",
          /Crown takes no pontic design/,
        );
        refused(
          await post(
            withOptions(crown(), option(MARGIN_DESIGN_SYSTEM, "round")),
          ),
          "ServiceRequest.orderDetail",
          /round is not a margin design/,
        );
        refused(
          await post(withOptions(
            crown(),
            option(MARGIN_DESIGN_SYSTEM, "chamfer"),
            option(MARGIN_DESIGN_SYSTEM, "shoulder"),
          )),
          "ServiceRequest.orderDetail",
          /name one margin design/,
        );
        const stored = fhirBody(
          await post(withOptions(
            crown(),
            option(MARGIN_DESIGN_SYSTEM, "heavy-chamfer"),
          )),
          201,
        );
        const number = stored.identifier.find((i: any) =>
          i.type?.coding?.[0]?.code === "FILL"
        ).value;
        const ticket = await call(
          server.url,
          "GET",
          `/labs/acme/cases/${number}/ticket`,
          acme.tokens.lab_technician,
        );
        assert.equal(ticket.status, 200);
        assert.match(ticket.body, /<dt>Margin<\/dt>\s*<dd>Heavy chamfer<\/dd>/);
        fhirBody(
          await post(withOptions(
            bridge(),
            option(PONTIC_DESIGN_SYSTEM, "modified-ridge-lap"),
          )),
          201,
        );
      },
    );

    await t.step("the due date is occurrenceDateTime only", async () => {
      refused(
        await post({
          ...bridge(),
          occurrencePeriod: { start: "2026-12-20", end: "2026-12-21" },
        }),
        "ServiceRequest.occurrencePeriod",
        /the due date is occurrenceDateTime/,
      );
    });
    assert.equal(await storedCount(server, "acme", "ServiceRequest"), 3);
  } finally {
    await server.close();
  }
});

Deno.test("[case rules] lab settings with a misplaced field change nothing", async () => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const put = (body: unknown) =>
      call(
        server.url,
        "PUT",
        "/labs/acme/settings",
        acme.tokens.lab_admin,
        body,
      );
    const calendar = {
      workingDays: ["mon", "tue", "wed", "thu", "fri"],
      holidays: ["2026-12-24", "2026-12-25"],
      timeZone: "Europe/Berlin",
      cutoff: "14:00",
    };
    assert.equal((await put({ calendar })).status, 200);
    for (const body of [calendar, { calendar, tooLat: "refuse" }]) {
      const res = await put(body);
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.match(JSON.stringify(res.body), /is not a settings field/);
    }
    const read = await call(
      server.url,
      "GET",
      "/labs/acme/settings",
      acme.tokens.lab_admin,
    );
    assert.deepEqual(read.body.calendar.holidays, calendar.holidays);
    assert.equal(read.body.calendar.timeZone, "Europe/Berlin");
  } finally {
    await server.close();
  }
});
