// deno-lint-ignore-file no-explicit-any
/**
 * Case events through the FHIR API, as a practice system and the lab's
 * bench would send them: remakes of a shipped crown, try-ins going back and
 * forth on one item Task, enclosures in and out, and the dentist's work
 * authorization as a Provenance.
 */
import assert from "node:assert/strict";
import { Client } from "fhir-kit-client";
import {
  buildWorkAuthorization,
  readWorkAuthorization,
} from "../domain/authorization.ts";
import { stageSystem } from "../domain/case_workflow.ts";
import { crownCase as itemCase } from "./fhir_ops.ts";
import { caseNumberSystem, SHIP_BY_EXTENSION } from "../domain/dental_case.ts";
import {
  enclosureBalance,
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

/** A second practice sending to acme; returns its dentist's token. */
async function otherPractice(server: TestServer): Promise<string> {
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
  return await login(server.url, "acme-other-dentist", PASSWORD);
}

/** Lab acme with a patient, a crown and its item Task. */
async function crownCase(server: TestServer) {
  const acme = await setupLab(server, "acme");
  const practice = fhirClient(server, "acme", acme.tokens.dentist);
  const bench = fhirClient(server, "acme", acme.tokens.lab_technician);
  const { patient, crown, task } = await itemCase(practice, "acme");
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
        const token = await otherPractice(server);
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

Deno.test("[case events] try-ins and enclosures are append-only logs on the item Task", async (t) => {
  const server = await startTestServer();
  try {
    const { acme, task: created } = await crownCase(server);
    const tech = acme.tokens.lab_technician;
    const bench = fhirClient(server, "acme", tech);
    let task = created;
    const put = (body: any) =>
      call(server.url, "PUT", `/fhir/acme/Task/${task.id}`, tech, body);
    const move = async (next: any) => {
      task = fhirBody(await put(next), 200);
    };
    const refused = async (next: any, expression: RegExp) => {
      const outcome = fhirBody(await put(next), 422);
      assert.equal(outcome.issue[0].code, "processing");
      names(outcome, expression);
      const stored: any = await bench.read({
        resourceType: "Task",
        id: task.id,
      });
      assert.equal(stored.meta.versionId, task.meta.versionId);
    };
    await move({ ...task, status: "accepted" });

    await t.step(
      "two try-in round trips, read back from the history",
      async () => {
        await move(recordTryInSent(task, { when: "2026-12-04T10:00:00Z" }));
        await move(
          recordTryInReturned(task, {
            note: "Mesial contact tight; shade good",
          }),
        );
        await move(recordTryInSent(task, { when: "2026-12-07T10:00:00Z" }));
        await move(recordTryInReturned(task, { when: "2026-12-08T15:30:00Z" }));
        assert.deepEqual(tryInState(task), {
          out: false,
          sent: 2,
          returned: 2,
        });
        assert.deepEqual(
          tryInLog(task).map((e) => [e.type, e.when ?? e.note]),
          [
            ["try-in-sent", "2026-12-04T10:00:00Z"],
            ["try-in-returned", "Mesial contact tight; shade good"],
            ["try-in-sent", "2026-12-07T10:00:00Z"],
            ["try-in-returned", "2026-12-08T15:30:00Z"],
          ],
        );
        const history: any = await bench.history({
          resourceType: "Task",
          id: task.id,
        });
        // Newest first: each version is one step of the back-and-forth.
        assert.deepEqual(
          history.entry.map((e: any) => tryInState(e.resource).out),
          [false, true, false, true, false, false],
        );
      },
    );

    await t.step("a try-in out of order or edited is refused", async () => {
      await refused(
        recordTryInReturned(task, { when: "2026-12-09T10:00:00Z" }),
        /Task\.output\[4\]/,
      );
      const once = recordTryInSent(task, { when: "2026-12-09T10:00:00Z" });
      await refused(
        recordTryInSent(once, { when: "2026-12-09T11:00:00Z" }),
        /Task\.output\[5\]/,
      );
      // A blank note is no FHIR string at all: refused as structure.
      const blank = fhirBody(
        await put(recordTryInSent(task, { note: " " })),
        422,
      );
      assert.deepEqual(blank.issue.map((i: any) => i.code), ["structure"]);
      names(blank, /^Task\.output\[4\]\.value$/);
      const edited = structuredClone(task);
      edited.output[1].valueString = "Shade wrong";
      await refused(edited, /Task\.output\[1\]/);
    });

    await t.step("enclosures arrive and leave, counted", async () => {
      let next = recordArrival(task, {
        code: "impression",
        quantity: 2,
        text: "Upper and lower PVS",
      });
      next = recordArrival(next, { code: "bite-registration" });
      next = recordArrival(next, { code: "articulator" });
      await move(next);
      next = recordDeparture(task, { code: "articulator" });
      next = recordDeparture(next, { code: "impression" });
      next = recordDeparture(next, { code: "restoration" });
      await move(next);
      const stored: any = await bench.read({
        resourceType: "Task",
        id: task.id,
      });
      assert.deepEqual(enclosureBalance(stored), {
        "impression": { in: 2, out: 1 },
        "bite-registration": { in: 1, out: 0 },
        "articulator": { in: 1, out: 1 },
        "restoration": { in: 0, out: 1 },
      });
    });

    await t.step("nothing leaves that never arrived", async () => {
      const at = task.output.length;
      await refused(
        recordDeparture(task, { code: "shade-tab" }),
        new RegExp(`Task\\.output\\[${at}\\]`),
      );
      await refused(
        recordDeparture(task, { code: "impression", quantity: 2 }),
        new RegExp(`Task\\.output\\[${at}\\]`),
      );
    });

    await t.step("a past log entry cannot be edited or removed", async () => {
      const more = structuredClone(task);
      more.input[0].extension[0].valuePositiveInt = 3;
      await refused(more, /Task\.input\[0\]/);
      await refused({ ...task, input: task.input.slice(1) }, /Task\.input/);
      const renamed = structuredClone(task);
      renamed.output.at(-1).valueCodeableConcept.coding[0].code = "model";
      await refused(renamed, /Task\.output/);
    });

    await t.step("a new Task cannot start with a departure", async () => {
      const before = await storedCount(server, "acme", "Task");
      const { id: _id, meta: _meta, input: _in, output: _out, ...rest } =
        created;
      const res = await call(
        server.url,
        "POST",
        "/fhir/acme/Task",
        acme.tokens.lab_admin,
        recordDeparture({ ...rest, status: "requested" }, { code: "model" }),
      );
      names(fhirBody(res, 422), /Task\.output\[0\]/);
      assert.equal(await storedCount(server, "acme", "Task"), before);
    });
  } finally {
    await server.close();
  }
});

Deno.test("[case events] the dentist's work authorization is a Provenance on the prescription", async (t) => {
  const server = await startTestServer();
  try {
    const { acme, practice, bench, crown } = await crownCase(server);
    const beta = await setupLab(server, "beta");
    const board = "https://example.org/state-dental-board/license";
    const dentist: any = await practice.create({
      resourceType: "Practitioner",
      body: {
        resourceType: "Practitioner",
        name: [{ family: "Molar", given: ["Ada"] }],
      },
    });
    const authorization = (request = `ServiceRequest/${crown.id}`): any =>
      buildWorkAuthorization({
        request,
        dentist: `Practitioner/${dentist.id}`,
        name: "Dr Ada Molar",
        license: { system: board, value: "DDS-40213" },
        recorded: server.clock.now().toISOString(),
      });
    const refused = async (
      client: Client,
      body: any,
      status: number,
      expression?: RegExp,
    ) => {
      const outcome = await refusedBy(
        client.create({ resourceType: "Provenance", body }),
        status,
      );
      if (expression) names(outcome, expression);
    };

    let signed: any;
    await t.step(
      "the dentist records it; the bench reads and finds it",
      async () => {
        signed = await practice.create({
          resourceType: "Provenance",
          body: authorization(),
        });
        assert.equal(Client.httpFor(signed).response!.status, 201);
        const read: any = await bench.read({
          resourceType: "Provenance",
          id: signed.id,
        });
        assert.deepEqual(readWorkAuthorization(read), {
          request: `ServiceRequest/${crown.id}`,
          dentist: {
            reference: `Practitioner/${dentist.id}`,
            display: "Dr Ada Molar",
          },
          name: "Dr Ada Molar",
          license: { system: board, value: "DDS-40213" },
          recorded: server.clock.now().toISOString(),
        });
        const found: any = await bench.search({
          resourceType: "Provenance",
          searchParams: { target: `ServiceRequest/${crown.id}` },
        });
        assert.deepEqual(found.entry.map((e: any) => e.resource.id), [
          signed.id,
        ]);
      },
    );

    await t.step("only a dentist signs one", async () => {
      await refused(bench, authorization(), 403);
      const lab = fhirClient(server, "acme", acme.tokens.lab_admin);
      await refused(lab, authorization(), 403);
    });

    await t.step(
      "another lab's or practice's prescription is refused",
      async () => {
        const theirs = fhirClient(server, "beta", beta.tokens.dentist);
        const patient: any = await theirs.create({
          resourceType: "Patient",
          body: { resourceType: "Patient" },
        });
        const betaCrown: any = await theirs.create({
          resourceType: "ServiceRequest",
          body: prescription("beta", patient.id, "crown", {
            teeth: ["11"],
            shade: "A1",
          }) as any,
        });
        await refused(
          practice,
          authorization(`ServiceRequest/${betaCrown.id}`),
          422,
          /Provenance\.target/,
        );
        const intoBeta = fhirClient(server, "beta", acme.tokens.dentist);
        await refused(
          intoBeta,
          authorization(`ServiceRequest/${betaCrown.id}`),
          403,
        );
        const other = fhirClient(server, "acme", await otherPractice(server));
        await refused(other, authorization(), 422, /Provenance\.target/);
      },
    );

    await t.step("a missing or empty license number is refused", async () => {
      const missing = authorization();
      delete missing.agent[0].extension;
      await refused(practice, missing, 422, /license-number/);
      const empty = authorization();
      empty.agent[0].extension[0].valueIdentifier.value = " ";
      // A blank value is no FHIR string: the structure check names it.
      await refused(
        practice,
        empty,
        422,
        /^Provenance\.agent\[0\]\.extension\[0\]\.value\.value$/,
      );
      const undated = authorization();
      delete undated.recorded;
      await refused(practice, undated, 422, /Provenance\.recorded/);
    });

    await t.step("a recorded authorization is not changed", async () => {
      const res = await call(
        server.url,
        "PUT",
        `/fhir/acme/Provenance/${signed.id}`,
        acme.tokens.dentist,
        { ...signed, recorded: "2026-12-01T09:00:00Z" },
      );
      assert.equal(fhirBody(res, 422).issue[0].code, "processing");
      assert.equal(await storedCount(server, "acme", "Provenance"), 1);
      const read: any = await bench.read({
        resourceType: "Provenance",
        id: signed.id,
      });
      assert.equal(read.meta.versionId, "1");
      const metadata = fhirBody(
        await call(server.url, "GET", "/fhir/acme/metadata"),
        200,
      );
      const provenance = metadata.rest[0].resource.find((r: any) =>
        r.type === "Provenance"
      );
      const offered = provenance.interaction.map((i: any) => i.code);
      assert.ok(offered.includes("create"));
      assert.ok(!offered.includes("update"), "update is not offered");
    });
  } finally {
    await server.close();
  }
});
