// deno-lint-ignore-file no-explicit-any
/**
 * The story `deno task demo` tells, run as is against a test server: every
 * step's result, then what the server itself holds afterwards.
 */
import assert from "node:assert/strict";
import {
  DemoError,
  type DemoResult,
  runDemoStory,
} from "../scripts/demo_story.ts";
import {
  ADMIN,
  auditSettled,
  call,
  mfaCode,
  startTestServer,
  type TestServer,
} from "./helpers.ts";

async function playStory(server: TestServer, smart = false) {
  const lines: string[] = [];
  // The admin's phone, and the test's clock for the people the story enrolls.
  const admin = { ...ADMIN, code: () => mfaCode(server.url, ADMIN.username) };
  const result = await runDemoStory(server.url, admin, (l) => lines.push(l), {
    now: server.clock.now,
    smart,
  });
  return { lines, result };
}

function assertStory(r: DemoResult) {
  const ref = (x: { resourceType: string; id?: string }) =>
    `${x.resourceType}/${x.id}`;
  const patient = ref(r.patient), practitioner = ref(r.practitioner);
  const serviceRequest = ref(r.serviceRequest);

  assert.equal(r.organization.meta?.versionId, "1");
  assert.equal(r.organization.name, `Demo Practice ${r.run}`);
  assert.equal(r.practitioner.meta?.versionId, "1");
  assert.equal(r.practitioner.name?.[0].family, "Careful");
  assert.equal(r.practitioner.qualification?.[0].code.coding?.[0].code, "DDS");
  assert.equal(r.patient.meta?.versionId, "1");
  assert.notEqual(r.patient.id, "example");
  assert.equal(r.patient.name?.[0].family, "Chalmers");
  assert.equal(r.patient.managingOrganization?.reference, ref(r.organization));

  const sr = r.serviceRequest;
  assert.deepEqual([sr.meta?.versionId, sr.status, sr.intent], [
    "1",
    "active",
    "order",
  ]);
  assert.equal(sr.subject.reference, patient);
  assert.equal(sr.requester?.reference, practitioner);
  assert.equal(sr.code?.coding?.[0].code, "D2740");
  assert.equal(sr.bodySite?.[0].coding?.[0].code, "36");
  assert.match(sr.note?.[0].text ?? "", /Shade A2/);

  const t = r.task;
  assert.deepEqual([t.meta?.versionId, t.status, t.intent], [
    "1",
    "requested",
    "order",
  ]);
  assert.equal(t.focus?.reference, serviceRequest);
  assert.equal(t.for?.reference, patient);
}

function assertLabAndFollowUp(r: DemoResult) {
  assert.deepEqual(r.worklist.map((t) => t.id), [r.task.id]);
  assert.deepEqual(
    [r.accepted.meta?.versionId, r.accepted.status],
    ["2", "accepted"],
  );
  assert.deepEqual(
    [r.inProgress.meta?.versionId, r.inProgress.status],
    ["3", "in-progress"],
  );
  assert.equal(r.inProgress.businessStatus?.text, "Milling");
  assert.deepEqual(
    [r.completed.meta?.versionId, r.completed.status],
    ["4", "completed"],
  );
  assert.equal(r.completed.businessStatus?.text, "Shipped");

  const { task, serviceRequest } = r.readBack;
  assert.deepEqual([task.id, task.meta?.versionId, task.status], [
    r.task.id,
    "4",
    "completed",
  ]);
  assert.equal(task.businessStatus?.text, "Shipped");
  assert.equal(task.focus?.reference, `ServiceRequest/${r.serviceRequest.id}`);
  assert.deepEqual([serviceRequest.meta?.versionId, serviceRequest.status], [
    "1",
    "active",
  ]);
  assert.deepEqual([r.closed.meta?.versionId, r.closed.status], [
    "2",
    "completed",
  ]);
}

Deno.test("[demo] the story's every step produces what the practice and lab expect", async () => {
  const server = await startTestServer();
  try {
    const { lines, result } = await playStory(server);
    assert.match(result.lab, /^demo-lab-[a-z0-9-]+$/);
    assertStory(result);
    assertLabAndFollowUp(result);

    assert.equal(lines.length, 18);
    assert.equal(lines[0], `admin: signed in as ${ADMIN.username}`);
    assert.ok(lines.every((l) => l.length > 0 && !l.includes("\n")));
    assert.match(
      lines[17],
      /^practice: closes ServiceRequest\/\S+ v2 completed$/,
    );
  } finally {
    await server.close();
  }
});

Deno.test("[demo] after the story the server holds the lab, its users and the Task's four versions", async () => {
  const server = await startTestServer();
  try {
    const { result: r } = await playStory(server);
    const admin = server.adminToken;

    const labs = await call(server.url, "GET", "/admin/labs", admin);
    assert.ok(labs.body.some((l: any) => l.id === r.lab));
    const practices = await call(server.url, "GET", "/admin/practices", admin);
    const practice = practices.body.find((p: any) => p.id === r.practice);
    assert.deepEqual(practice.labs, [r.lab]);
    const users = await call(server.url, "GET", "/admin/users", admin);
    const byName = new Map(users.body.map((u: any) => [u.username, u]));
    assert.equal((byName.get(r.dentist) as any).practice, r.practice);
    assert.deepEqual((byName.get(r.technician) as any).labs, [r.lab]);

    const history = await call(
      server.url,
      "GET",
      `/fhir/${r.lab}/Task/${r.task.id}/_history`,
      admin,
    );
    assert.equal(history.status, 200);
    assert.deepEqual(
      history.body.entry.map((e: any) => e.resource.status),
      ["completed", "in-progress", "accepted", "requested"],
    );
  } finally {
    await server.close();
  }
});

Deno.test("[demo] the story runs twice on one server with fresh ids", async () => {
  const server = await startTestServer();
  try {
    const first = (await playStory(server)).result;
    const second = (await playStory(server)).result;
    assert.notEqual(first.lab, second.lab);
    assert.notEqual(first.dentist, second.dentist);
    assert.deepEqual(second.worklist.map((t) => t.id), [second.task.id]);
    assert.equal(second.readBack.task.status, "completed");
  } finally {
    await server.close();
  }
});

Deno.test("[demo] the story with a SMART practice system instead of a sign-in", async () => {
  const server = await startTestServer();
  try {
    const { lines, result } = await playStory(server, true);
    assertStory(result);
    assertLabAndFollowUp(result);
    assert.equal(lines.length, 19);
    assert.match(lines[5], /^admin: registered practice system demo-pms-/);
    assert.equal(
      lines[6],
      `practice: system demo-pms-${result.run} got a token for ${result.dentist}`,
    );
    assert.ok(!lines.some((l) => l.startsWith("practice: signed in")));

    // Every practice step is the client's, for the dentist.
    await auditSettled(server);
    const trail = await call(
      server.url,
      "GET",
      `/fhir/${result.lab}/AuditEvent?agent=${result.dentist}`,
      server.adminToken,
    );
    assert.equal(trail.status, 200);
    const events = trail.body.entry.map((e: any) => e.resource);
    // Five creates (organization, dentist, patient, crown, Task), two
    // reads and the closing update.
    assert.equal(events.length, 8);
    for (const event of events) {
      assert.deepEqual(
        event.agent.map((a: any) => a.who.identifier.value),
        [`client:demo-pms-${result.run}`, result.dentist],
      );
    }
  } finally {
    await server.close();
  }
});

Deno.test("[demo] a wrong admin password stops the story at its first step", async () => {
  const server = await startTestServer();
  try {
    const lines: string[] = [];
    const wrong = { username: ADMIN.username, password: "not-the-password" };
    await assert.rejects(
      runDemoStory(server.url, wrong, (l) => lines.push(l)),
      (error: Error) => {
        assert.ok(error instanceof DemoError);
        assert.match(error.message, /^admin signs in failed: HTTP 401/);
        return true;
      },
    );
    assert.deepEqual(lines, []);
  } finally {
    await server.close();
  }
});
