// deno-lint-ignore-file no-explicit-any
import assert from "node:assert/strict";
import {
  call,
  fhirBody,
  setupLab,
  startTestServer,
  storedCount,
} from "./helpers.ts";

const person = {
  resourceType: "Patient",
  name: [{ family: "Chalmers" }],
  birthDate: "1974-12-25",
};

const expressions = (outcome: any) =>
  outcome.issue.map((i: any) => i.expression?.[0]);

Deno.test("[invalid] bad input gets a 4xx OperationOutcome and stores nothing", async (t) => {
  const server = await startTestServer();
  try {
    const { tokens } = await setupLab(server, "acme");
    const beta = await setupLab(server, "beta");
    const token = tokens.lab_admin;
    const send = (method: string, path: string, body: unknown, headers = {}) =>
      call(server.url, method, `/fhir/acme/${path}`, token, body, headers);
    /** Posts `body`, expects `status`, and checks nothing of `type` was added. */
    const refused = async (
      type: string,
      body: unknown,
      status: number,
      headers = {},
    ) => {
      const before = await storedCount(server, "acme", type);
      const outcome = fhirBody(await send("POST", type, body, headers), status);
      assert.equal(outcome.resourceType, "OperationOutcome");
      assert.equal(await storedCount(server, "acme", type), before);
      return outcome;
    };
    const patient = fhirBody(await send("POST", "Patient", person), 201);
    const request = {
      resourceType: "ServiceRequest",
      status: "active",
      intent: "order",
      subject: { reference: `Patient/${patient.id}` },
    };
    const stored = fhirBody(await send("POST", "ServiceRequest", request), 201);
    const storedPath = `ServiceRequest/${stored.id}`;
    const expectUnchanged = async () => {
      const read = fhirBody(await send("GET", storedPath, undefined), 200);
      assert.equal(read.meta.versionId, "1");
      assert.equal(read.status, "active");
    };

    await t.step("malformed JSON is a 400", async () => {
      const outcome = await refused("Patient", '{"resourceType":', 400);
      assert.equal(outcome.issue[0].code, "invalid");
    });

    await t.step("a body of another resourceType is a 400", async () => {
      const outcome = await refused("Patient", request, 400);
      assert.equal(outcome.issue[0].code, "invalid");
      assert.deepEqual(expressions(outcome), ["resourceType"]);
    });

    await t.step("a body that is not FHIR JSON is a 415", async () => {
      const outcome = await refused("Patient", JSON.stringify(person), 415, {
        "Content-Type": "text/plain",
      });
      assert.equal(outcome.issue[0].code, "not-supported");
    });

    await t.step(
      "an id in the body that differs from the URL is a 400",
      async () => {
        const body = { ...stored, id: "someone-else", status: "revoked" };
        const outcome = fhirBody(await send("PUT", storedPath, body), 400);
        assert.equal(outcome.issue[0].code, "invalid");
        assert.deepEqual(expressions(outcome), ["ServiceRequest.id"]);
        await expectUnchanged();
      },
    );

    await t.step("an unknown resource type is a 404", async () => {
      const outcome = await refused("Device", { resourceType: "Device" }, 404);
      assert.equal(outcome.issue[0].code, "not-found");
      const search = await send("GET", "Device", undefined);
      assert.equal(fhirBody(search, 404).issue[0].code, "not-found");
    });

    await t.step(
      "ServiceRequest without status, intent or subject is a 422",
      async () => {
        const { status: _s, intent: _i, subject: _p, ...rest } = request;
        const outcome = await refused("ServiceRequest", rest, 422);
        assert.equal(outcome.issue[0].code, "required");
        assert.deepEqual(expressions(outcome), [
          "ServiceRequest.status",
          "ServiceRequest.intent",
          "ServiceRequest.subject",
        ]);
      },
    );

    await t.step("Task without status or intent is a 422", async () => {
      const task = { resourceType: "Task", focus: { reference: storedPath } };
      const outcome = await refused("Task", task, 422);
      assert.equal(outcome.issue[0].code, "required");
      assert.deepEqual(expressions(outcome), ["Task.status", "Task.intent"]);
    });

    await t.step(
      "an update that drops a required element is a 422",
      async () => {
        const { status: _s, ...rest } = stored;
        const outcome = fhirBody(await send("PUT", storedPath, rest), 422);
        assert.deepEqual(expressions(outcome), ["ServiceRequest.status"]);
        await expectUnchanged();
      },
    );

    await t.step("a status outside its value set is a 422", async () => {
      const body = { ...request, status: "finished" };
      const outcome = await refused("ServiceRequest", body, 422);
      assert.equal(outcome.issue[0].code, "code-invalid");
      assert.deepEqual(expressions(outcome), ["ServiceRequest.status"]);
    });

    await t.step("an impossible birth date is a 422", async () => {
      const body = { ...person, birthDate: "1974-02-30" };
      const outcome = await refused("Patient", body, 422);
      assert.deepEqual(expressions(outcome), ["Patient.birthDate"]);
    });

    await t.step(
      "a reference to a record the lab does not hold is a 422",
      async () => {
        const subject = { reference: "Patient/no-such-patient" };
        const outcome = await refused("ServiceRequest", {
          ...request,
          subject,
        }, 422);
        assert.equal(outcome.issue[0].code, "processing");
        assert.deepEqual(expressions(outcome), [
          "ServiceRequest.subject.reference",
        ]);
        assert.match(outcome.issue[0].diagnostics, /Patient\/no-such-patient/);
      },
    );

    await t.step("a reference to another lab's record is a 422", async () => {
      const theirs = fhirBody(
        await call(
          server.url,
          "POST",
          "/fhir/beta/Patient",
          beta.tokens.lab_admin,
          person,
        ),
        201,
      );
      const subject = { reference: `Patient/${theirs.id}` };
      const outcome = await refused("ServiceRequest", {
        ...request,
        subject,
      }, 422);
      assert.deepEqual(expressions(outcome), [
        "ServiceRequest.subject.reference",
      ]);
    });

    await t.step("an update to a missing reference is a 422", async () => {
      const body = { ...stored, requester: { reference: "Practitioner/x" } };
      const outcome = fhirBody(await send("PUT", storedPath, body), 422);
      assert.deepEqual(expressions(outcome), [
        "ServiceRequest.requester.reference",
      ]);
      await expectUnchanged();
    });
  } finally {
    await server.close();
  }
});
