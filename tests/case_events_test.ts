// deno-lint-ignore-file no-explicit-any
/**
 * Case events through the FHIR API, as a practice system and the lab's
 * bench would send them: remakes of a shipped crown, try-ins going back and
 * forth on one item Task, enclosures in and out, and the dentist's work
 * authorization as a Provenance.
 */
import assert from "node:assert/strict";
import { Client } from "fhir-kit-client";
import { buildWorkAuthorization } from "../domain/authorization.ts";
import { stageSystem } from "../domain/case_workflow.ts";
import { caseNumberSystem, SHIP_BY_EXTENSION } from "../domain/dental_case.ts";
import {
  ENCLOSURE_QUANTITY_EXTENSION,
  recordArrival,
  recordDeparture,
} from "../domain/enclosures.ts";
import {
  buildRemake,
  readRemake,
  REMAKE_REASON_SYSTEM,
  REMAKE_RESPONSIBILITY_EXTENSION,
} from "../domain/remakes.ts";
import { recordQcResult, recordShipping } from "../domain/stages.ts";
import {
  recordTryInReturned,
  recordTryInSent,
  tryInLog,
  tryInState,
} from "../domain/try_ins.ts";
import { prescription } from "./dental.ts";
import {
  ADMIN,
  call,
  fhirBody,
  fhirClient,
  type LabUsers,
  login,
  PASSWORD,
  setupLab,
  startTestServer,
  storedCount,
  type TestServer,
} from "./helpers.ts";

const DAY = 24 * 60 * 60 * 1000;

const caseNumber = (sr: any) =>
  sr.identifier.find((i: any) => i.system === caseNumberSystem("acme")).value;

/** The FHIR error of a refused fhir-kit-client call. */
async function refusedBy(pending: Promise<unknown>, status: number) {
  const error: any = await pending.then(
    () => assert.fail(`expected HTTP ${status}`),
    (e) => e,
  );
  assert.equal(error.response?.status, status, String(error));
  assert.equal(error.response.data.resourceType, "OperationOutcome");
  return error.response.data;
}

/** Asserts one issue names `expression` (a FHIRPath pattern). */
function names(outcome: any, expression: RegExp) {
  assert.ok(
    outcome.issue.some((i: any) =>
      (i.expression ?? []).some((e: string) => expression.test(e))
    ),
    JSON.stringify(outcome.issue),
  );
}

/**
 * Moves the clock a week on and signs everyone in again, since sessions
 * end after 15 idle minutes.
 */
async function nextWeek(server: TestServer, labs: LabUsers[]) {
  server.clock.advance(7 * DAY);
  server.adminToken = await login(server.url, ADMIN.username, ADMIN.password);
  for (const lab of labs) {
    for (
      const role of Object.keys(lab.tokens) as (keyof LabUsers["tokens"])[]
    ) {
      lab.tokens[role] = await login(
        server.url,
        `${lab.lab}-${role}`,
        PASSWORD,
      );
    }
  }
}

/** Lab acme with a patient, a crown and its item Task. */
async function crownCase(server: TestServer) {
  const acme = await setupLab(server, "acme");
  const practice = fhirClient(server, "acme", acme.tokens.dentist);
  const bench = fhirClient(server, "acme", acme.tokens.lab_technician);
  const patient: any = await practice.create({
    resourceType: "Patient",
    body: { resourceType: "Patient", gender: "female" },
  });
  const crown: any = await practice.create({
    resourceType: "ServiceRequest",
    body: prescription("acme", patient.id, "crown", {
      teeth: ["36"],
      shade: "A2",
    }) as any,
  });
  const task: any = await practice.create({
    resourceType: "Task",
    body: {
      resourceType: "Task",
      status: "requested",
      intent: "order",
      focus: { reference: `ServiceRequest/${crown.id}` },
      for: { reference: `Patient/${patient.id}` },
    },
  });
  const technician: any = await fhirClient(
    server,
    "acme",
    acme.tokens.lab_admin,
  )
    .create({
      resourceType: "Practitioner",
      body: { resourceType: "Practitioner", name: [{ family: "Bench" }] },
    });
  return { acme, practice, bench, patient, crown, task, technician };
}

/** Works an item Task through every stage to completed, as the bench. */
async function ship(
  server: TestServer,
  token: string,
  task: any,
  technician: string,
) {
  const bench = fhirClient(server, "acme", token);
  const stage = (code: string) => ({
    coding: [{ system: stageSystem("acme"), code }],
  });
  const put = async (change: any) => {
    task = await bench.update({
      resourceType: "Task",
      id: task.id,
      body: { ...task, ...change },
    });
  };
  await put({ status: "accepted" });
  await put({ status: "in-progress", businessStatus: stage("model") });
  for (const code of ["design", "mill", "finish", "quality-check"]) {
    await put({ businessStatus: stage(code) });
  }
  const catalog = await call(
    server.url,
    "GET",
    "/labs/acme/catalog/crown",
    token,
  );
  const qc = catalog.body.stages.find((s: any) => s.checklist).checklist;
  const checked = recordQcResult(task, {
    checklist: qc,
    results: Object.fromEntries(qc.map((i: any) => [i.id, true])),
    performer: { reference: `Practitioner/${technician}` },
    date: "2026-12-08T10:00:00Z",
  });
  await put({ output: checked.output, contained: checked.contained });
  await put({ businessStatus: stage("ship") });
  const shipped = recordShipping(task, {
    courier: "UPS",
    trackingNumber: "1Z999AA10123456784",
  });
  await put({ output: shipped.output });
  await put({ status: "completed" });
  return task;
}

Deno.test("[case events] a remake replaces a shipped crown and is refused when it cannot", async (t) => {
  const server = await startTestServer();
  try {
    const { acme, crown, task, technician } = await crownCase(server);
    const beta = await setupLab(server, "beta");
    const shipped = await ship(
      server,
      acme.tokens.lab_technician,
      task,
      technician.id,
    );
    assert.equal(shipped.status, "completed");
    const original: any = await fhirClient(
      server,
      "acme",
      acme.tokens.lab_admin,
    )
      .update({
        resourceType: "ServiceRequest",
        id: crown.id,
        body: { ...crown, status: "completed" },
      });
    await nextWeek(server, [acme, beta]);
    const practice = fhirClient(server, "acme", acme.tokens.dentist);
    const bench = fhirClient(server, "acme", acme.tokens.lab_technician);
    const remakeOf = (sr: any, input: any = {}): any =>
      buildRemake(sr, {
        reason: "shade",
        responsibility: "lab",
        authoredOn: server.clock.now().toISOString(),
        ...input,
      });

    let remake: any;
    await t.step(
      "a remake with reason and responsibility is a new case",
      async () => {
        remake = await practice.create({
          resourceType: "ServiceRequest",
          body: remakeOf(original),
        });
        assert.equal(Client.httpFor(remake).response!.status, 201);
        assert.deepEqual(remake.replaces, [{
          reference: `ServiceRequest/${crown.id}`,
        }]);
        assert.deepEqual(readRemake(remake), {
          original: crown.id,
          reason: "shade",
          text: undefined,
          responsibility: "lab",
        });
        assert.notEqual(caseNumber(remake), caseNumber(original));
        // Dated from the day the remake came in, not from the original:
        // received Thursday 12-10 before the cut-off, five business days
        // ship Thursday 12-17, one transit day makes it due Friday 12-18.
        assert.notEqual(remake.occurrenceDateTime, original.occurrenceDateTime);
        assert.equal(remake.occurrenceDateTime, "2026-12-18");
        const shipBy = remake.extension.find((e: any) =>
          e.url === SHIP_BY_EXTENSION
        );
        assert.equal(shipBy.valueDate, "2026-12-17");
      },
    );

    await t.step(
      "the original stays readable, linked and unchanged",
      async () => {
        const read: any = await bench.read({
          resourceType: "ServiceRequest",
          id: crown.id,
        });
        assert.equal(read.status, "completed");
        assert.equal(read.meta.versionId, original.meta.versionId);
        const found: any = await bench.search({
          resourceType: "ServiceRequest",
          searchParams: { replaces: `ServiceRequest/${crown.id}` },
        });
        assert.deepEqual(found.entry.map((e: any) => e.resource.id), [
          remake.id,
        ]);
        const history: any = await bench.history({
          resourceType: "ServiceRequest",
          id: crown.id,
        });
        assert.deepEqual(
          history.entry.map((e: any) => e.resource.status),
          ["completed", "active"],
        );
      },
    );

    await t.step(
      "a remake copying the original's requisition still gets its own number",
      async () => {
        const again: any = await practice.create({
          resourceType: "ServiceRequest",
          body: {
            ...remakeOf(original, { reason: "fit", responsibility: "shared" }),
            requisition: original.requisition,
          },
        });
        assert.notEqual(caseNumber(again), caseNumber(original));
        assert.notEqual(caseNumber(again), caseNumber(remake));
        assert.equal(again.requisition.value, caseNumber(again));
      },
    );

    await t.step("refused remakes store nothing", async () => {
      const before = await storedCount(server, "acme", "ServiceRequest");
      const refused = async (body: any, expression: RegExp) => {
        const outcome = await refusedBy(
          practice.create({ resourceType: "ServiceRequest", body }),
          422,
        );
        assert.equal(outcome.issue[0].code, "processing");
        names(outcome, expression);
      };
      await refused(
        {
          ...remakeOf(original),
          replaces: [{ reference: "ServiceRequest/nope" }],
        },
        /replaces/,
      );
      const betaPractice = fhirClient(server, "beta", beta.tokens.dentist);
      const betaPatient: any = await betaPractice.create({
        resourceType: "Patient",
        body: { resourceType: "Patient" },
      });
      const betaCrown: any = await betaPractice.create({
        resourceType: "ServiceRequest",
        body: prescription("beta", betaPatient.id, "crown", {
          teeth: ["11"],
          shade: "A1",
        }) as any,
      });
      await refused(
        {
          ...remakeOf(original),
          replaces: [{ reference: `ServiceRequest/${betaCrown.id}` }],
        },
        /replaces/,
      );
      const noReason = remakeOf(original);
      delete noReason.reasonCode;
      await refused(noReason, /reasonCode/);
      const noResponsibility = remakeOf(original);
      delete noResponsibility.extension;
      await refused(noResponsibility, /remake-responsibility/);
      const other: any = await practice.create({
        resourceType: "Patient",
        body: { resourceType: "Patient" },
      });
      await refused(
        {
          ...remakeOf(original),
          subject: { reference: `Patient/${other.id}` },
        },
        /ServiceRequest\.subject/,
      );
      assert.equal(
        await storedCount(server, "acme", "ServiceRequest"),
        before,
      );
    });

    await t.step(
      "another practice cannot remake this practice's crown",
      async () => {
        const admin = (path: string, body: unknown) =>
          call(server.url, "POST", path, server.adminToken, body);
        const made = await admin("/admin/practices", {
          id: "acme-other",
          name: "Another practice",
          labs: ["acme"],
        });
        assert.equal(made.status, 201);
        const user = await admin("/admin/users", {
          username: "acme-other-dentist",
          password: PASSWORD,
          role: "dentist",
          practice: "acme-other",
        });
        assert.equal(user.status, 201);
        const token = await login(server.url, "acme-other-dentist", PASSWORD);
        const own: any = await fhirClient(server, "acme", token).create({
          resourceType: "Patient",
          body: { resourceType: "Patient" },
        });
        const outcome = await refusedBy(
          fhirClient(server, "acme", token).create({
            resourceType: "ServiceRequest",
            body: {
              ...remakeOf(original),
              subject: { reference: `Patient/${own.id}` },
            },
          }),
          422,
        );
        names(outcome, /replaces/);
      },
    );

    await t.step("what a remake replaces is fixed once created", async () => {
      const res = await call(
        server.url,
        "PUT",
        `/fhir/acme/ServiceRequest/${remake.id}`,
        acme.tokens.dentist,
        { ...remake, replaces: [{ reference: `ServiceRequest/${remake.id}` }] },
      );
      names(fhirBody(res, 422), /ServiceRequest\.replaces/);
      const coded = await call(
        server.url,
        "PUT",
        `/fhir/acme/ServiceRequest/${remake.id}`,
        acme.tokens.dentist,
        {
          ...remake,
          reasonCode: [{
            coding: [{ system: REMAKE_REASON_SYSTEM, code: "margin" }],
          }],
        },
      );
      assert.equal(fhirBody(coded, 200).reasonCode[0].coding[0].code, "margin");
      assert.ok(
        coded.body.extension.some((e: any) =>
          e.url === REMAKE_RESPONSIBILITY_EXTENSION
        ),
      );
    });
  } finally {
    await server.close();
  }
});
