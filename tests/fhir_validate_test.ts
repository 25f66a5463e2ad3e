// deno-lint-ignore-file no-explicit-any
/**
 * Validation against the FHIR R4 structure definitions on every write, and
 * `$validate`, which makes the same checks and stores nothing.
 */
import assert from "node:assert/strict";
import type { AuditRecord } from "../domain/audit.ts";
import { keys } from "../domain/kv_keys.ts";
import { isStoredType } from "../fhir/types.ts";
import { prescription } from "./dental.ts";
import {
  auditSettled,
  call,
  fhirBody,
  fhirClient,
  login,
  PASSWORD,
  setupLab,
  startTestServer,
  storedCount,
} from "./helpers.ts";

const person = {
  resourceType: "Patient",
  name: [{ family: "Chalmers" }],
  birthDate: "1974-12-25",
};

/** Crafted resources, each with the problems (expression and issue type) it must get. */
const CRAFTED: {
  name: string;
  body: any;
  problems: [string, string][];
}[] = [
  {
    name: "a number where a date belongs",
    body: { ...person, birthDate: 19741225 },
    problems: [["Patient.birthDate", "structure"]],
  },
  {
    name: "one name where a list belongs, a list where one flag belongs",
    body: { ...person, name: { family: "Chalmers" }, active: [true] },
    problems: [["Patient.active", "structure"], ["Patient.name", "structure"]],
  },
  {
    name: "a missing required element",
    body: { resourceType: "ServiceRequest", status: "active" },
    problems: [
      ["ServiceRequest.intent", "required"],
      ["ServiceRequest.subject", "required"],
    ],
  },
  {
    name: "codes outside required value sets (code and Coding)",
    body: {
      ...person,
      gender: "f",
      telecom: [{ system: "pager2", value: "555" }],
    },
    problems: [
      ["Patient.gender", "code-invalid"],
      ["Patient.telecom[0].system", "code-invalid"],
    ],
  },
  {
    name: "an element FHIR does not define",
    body: { ...person, nickname: "Pete" },
    problems: [["Patient.nickname", "structure"]],
  },
  {
    name: "a contained resource of no known type",
    body: { ...person, contained: [{ resourceType: "Toothbrush" }] },
    problems: [["Patient.contained[0]", "structure"]],
  },
  {
    name: "every problem at once, each listed",
    body: {
      ...person,
      birthDate: "25.12.1974",
      gender: "f",
      nickname: "Pete",
      name: [{ family: "Chalmers", given: ["Peter", 7] }],
    },
    problems: [
      ["Patient.birthDate", "structure"],
      ["Patient.gender", "code-invalid"],
      ["Patient.name[0].given[1]", "structure"],
      ["Patient.nickname", "structure"],
    ],
  },
];

const errorsOf = (outcome: any): [string, string][] =>
  outcome.issue
    .filter((i: any) => i.severity === "error")
    .map((i: any) => [i.expression[0], i.code] as [string, string])
    .sort();

Deno.test("[validate] a resource that breaks the R4 definitions is refused by create, and $validate lists the same problems", async (t) => {
  const server = await startTestServer();
  try {
    const { tokens } = await setupLab(server, "acme");
    const client = fhirClient(server, "acme", tokens.lab_admin);
    for (const { name, body, problems } of CRAFTED) {
      await t.step(name, async () => {
        const type = body.resourceType;
        const before = await storedCount(server, "acme", type);
        const res = await call(
          server.url,
          "POST",
          `/fhir/acme/${type}`,
          tokens.lab_admin,
          body,
        );
        const refused = fhirBody(res, 422);
        assert.deepEqual(errorsOf(refused), problems.sort());
        const checked: any = await client.operation({
          resourceType: type,
          name: "$validate",
          input: body,
        });
        assert.equal(checked.resourceType, "OperationOutcome");
        assert.deepEqual(errorsOf(checked), problems);
        assert.equal(await storedCount(server, "acme", type), before);
      });
    }
  } finally {
    await server.close();
  }
});

Deno.test("[validate] $validate checks as create or update would, dental rules included, and stores nothing", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    await setupLab(server, "beta");
    const admin = fhirClient(server, "acme", acme.tokens.lab_admin);
    const validate = (input: any, token = acme.tokens.lab_admin) =>
      call(
        server.url,
        "POST",
        `/fhir/acme/${
          input.resourceType === "Parameters"
            ? input.parameter[0].resource.resourceType
            : input.resourceType
        }/$validate`,
        token,
        input,
      );
    const asUpdate = (resource: any) => ({
      resourceType: "Parameters",
      parameter: [
        { name: "resource", resource },
        { name: "mode", valueCode: "update" },
      ],
    });
    const patient: any = await admin.create({
      resourceType: "Patient",
      body: person,
    });

    await t.step("a valid resource gets one information issue", async () => {
      for (const input of [person, asUpdate(patient).parameter[0]]) {
        const body = "resource" in input
          ? { resourceType: "Parameters", parameter: [input] }
          : input;
        const outcome = fhirBody(await validate(body), 200);
        assert.deepEqual(outcome.issue.map((i: any) => i.severity), [
          "information",
        ]);
      }
      assert.equal(await storedCount(server, "acme", "Patient"), 1);
    });

    await t.step(
      "a reference to an unexpected type is a warning, not a refusal",
      async () => {
        const odd = {
          ...person,
          generalPractitioner: [{ reference: `Patient/${patient.id}` }],
        };
        const checked = fhirBody(await validate(odd), 200);
        assert.deepEqual(
          checked.issue.map((i: any) => [i.severity, i.expression?.[0]]),
          [
            ["information", undefined],
            ["warning", "Patient.generalPractitioner[0]"],
          ],
        );
        const res = await call(
          server.url,
          "POST",
          "/fhir/acme/Patient",
          acme.tokens.lab_admin,
          odd,
          { Prefer: "return=OperationOutcome" },
        );
        const outcome = fhirBody(res, 201);
        assert.deepEqual(outcome.issue.map((i: any) => i.severity), [
          "warning",
        ]);
        assert.equal(outcome.issue[0].code, "structure");
      },
    );

    await t.step(
      "a dental rule is reported, and a valid prescription takes no case number",
      async () => {
        const bad = prescription("acme", patient.id, "crown", {
          teeth: ["99"],
          shade: "A2",
        });
        const outcome = fhirBody(await validate(bad), 200);
        assert.equal(outcome.issue[0].severity, "error");
        assert.equal(outcome.issue[0].code, "processing");
        assert.match(
          outcome.issue[0].expression[0],
          /^ServiceRequest\.bodySite/,
        );
        const good = prescription("acme", patient.id, "crown", {
          teeth: ["11"],
          shade: "A2",
        });
        for (let i = 0; i < 2; i++) {
          const ok = fhirBody(await validate(good), 200);
          assert.equal(ok.issue[0].severity, "information");
        }
        assert.equal(await storedCount(server, "acme", "ServiceRequest"), 0);
        const created: any = await admin.create({
          resourceType: "ServiceRequest",
          body: good as any,
        });
        assert.equal(created.requisition.value, "1");
      },
    );

    await t.step("mode update checks against the stored record", async () => {
      const changed = { ...patient, gender: "female" };
      const ok = fhirBody(await validate(asUpdate(changed)), 200);
      assert.equal(ok.issue[0].severity, "information");
      const bad = fhirBody(
        await validate(asUpdate({ ...patient, gender: "f" })),
        200,
      );
      assert.deepEqual(errorsOf(bad), [["Patient.gender", "code-invalid"]]);
      const read: any = await admin.read({
        resourceType: "Patient",
        id: patient.id,
      });
      assert.equal(read.meta.versionId, "1");
      assert.equal(read.gender, undefined);
      const missing = asUpdate({ ...patient, id: "no-such-patient" });
      assert.equal(
        fhirBody(await validate(missing), 404).issue[0].code,
        "not-found",
      );
    });

    await t.step(
      "roles: as create, or as a technician's status change",
      async () => {
        const found: any = await admin.search({
          resourceType: "ServiceRequest",
          searchParams: {},
        });
        const request = found.entry[0].resource;
        const task: any = await admin.create({
          resourceType: "Task",
          body: {
            resourceType: "Task",
            status: "requested",
            intent: "order",
            focus: { reference: `ServiceRequest/${request.id}` },
            for: { reference: `Patient/${patient.id}` },
          },
        });
        const technician = acme.tokens.lab_technician;
        for (const role of ["viewer", "compliance_officer", "lab_technician"]) {
          const token = acme.tokens[role as "viewer"];
          assert.equal(
            fhirBody(await validate(person, token), 403).issue[0].code,
            "forbidden",
          );
        }
        const moved = asUpdate({ ...task, status: "accepted" });
        const ok = fhirBody(await validate(moved, technician), 200);
        assert.equal(ok.issue[0].severity, "information", JSON.stringify(ok));
        const edited = asUpdate({ ...task, description: "Rush it" });
        assert.equal(
          fhirBody(await validate(edited, technician), 403).issue[0].code,
          "forbidden",
        );
        const dentist = fhirBody(
          await validate(person, acme.tokens.dentist),
          200,
        );
        assert.equal(dentist.issue[0].severity, "information");
        const stranger = await login(server.url, "beta-lab_admin", PASSWORD);
        assert.equal(
          fhirBody(await validate(person, stranger), 403).issue[0].code,
          "forbidden",
        );
        assert.equal((await validate(person, "")).status, 401);
      },
    );

    await t.step("a body it cannot read is a 400", async () => {
      const bodies = [
        '{"resourceType":',
        { resourceType: "Parameters", parameter: [] },
        {
          resourceType: "Parameters",
          parameter: [{ name: "resource", resource: person }, {
            name: "profile",
            valueUri: "http://example.org/StructureDefinition/x",
          }],
        },
        {
          resourceType: "Parameters",
          parameter: [{ name: "resource", resource: person }, {
            name: "mode",
            valueCode: "delete",
          }],
        },
        asUpdate({ ...person }),
        { ...person, resourceType: "Practitioner" },
      ];
      for (const body of bodies) {
        const res = await call(
          server.url,
          "POST",
          "/fhir/acme/Patient/$validate",
          acme.tokens.lab_admin,
          body,
        );
        assert.equal(fhirBody(res, 400).issue[0].code, "invalid");
      }
    });

    await t.step("each call is audited as an operation", async () => {
      await auditSettled(server);
      const operations = async () => {
        const out: AuditRecord[] = [];
        const prefix = keys.auditEvent({ lab: "acme" });
        for await (const e of server.kv.list<AuditRecord>({ prefix })) {
          if (e.value.subtype === "operation") out.push(e.value);
        }
        return out;
      };
      const before = (await operations()).length;
      await validate(person);
      await auditSettled(server);
      const after = await operations();
      assert.equal(after.length, before + 1);
      const last = after.find((r) =>
        !r.outcomeCode && r.entity?.type === "Patient" &&
        r.agent.who === "acme-lab_admin"
      );
      assert.ok(last);
      assert.equal(last.action, "E");
      assert.equal(last.outcome, "0");
    });

    await t.step(
      "the CapabilityStatement names $validate on each type",
      async () => {
        const cs: any = await admin.capabilityStatement();
        for (const resource of cs.rest[0].resource) {
          if (!isStoredType(resource.type)) {
            assert.equal(resource.operation, undefined);
            continue;
          }
          assert.deepEqual(resource.operation.map((o: any) => o.name), [
            "validate",
          ]);
        }
      },
    );
  } finally {
    await server.close();
  }
});
