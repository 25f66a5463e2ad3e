// deno-lint-ignore-file no-explicit-any
/**
 * What a practice system's token lets it do at the FHIR API: each
 * interaction needs its SMART scope letter, on top of what a dentist of
 * its practice may see and do; other practices' records read as absent,
 * other labs refuse it; the token opens nothing outside `/fhir`.
 */
import assert from "node:assert/strict";
import {
  auditSettled,
  call,
  fhirBody,
  login,
  PASSWORD,
  setupLab,
  startTestServer,
  storedCount,
  type TestServer,
} from "../helpers.ts";
import {
  acmeAudit,
  ALL,
  assertForbidden,
  PATIENT,
  registerSystem,
  tokenOf,
} from "../smart_helpers.ts";

/** A patient, a prescription and its Task, sent by the practice's dentist. */
async function seedCase(server: TestServer, dentistToken: string) {
  const post = async (type: string, body: unknown) =>
    fhirBody(
      await call(server.url, "POST", `/fhir/acme/${type}`, dentistToken, body),
      201,
    );
  const patient = await post("Patient", PATIENT);
  const order = await post("ServiceRequest", {
    resourceType: "ServiceRequest",
    status: "active",
    intent: "order",
    subject: { reference: `Patient/${patient.id}` },
  });
  const task = await post("Task", {
    resourceType: "Task",
    status: "requested",
    intent: "order",
    focus: { reference: `ServiceRequest/${order.id}` },
    for: { reference: `Patient/${patient.id}` },
  });
  return { patient, order, task };
}

Deno.test("[smart] each FHIR interaction needs its scope letter", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const { patient, order, task } = await seedCase(
      server,
      acme.tokens.dentist,
    );
    const system = await registerSystem(server, acme.practice, [ALL]);
    const as = async (scope: string) => {
      const token = await tokenOf(server, system, scope);
      return (method: string, path: string, body?: unknown) =>
        call(server.url, method, `/fhir/acme${path}`, token, body);
    };
    const newTask = { ...task, id: undefined, meta: undefined };

    await t.step(
      "system/Task.rs reads and searches Tasks, nothing else",
      async () => {
        const fhir = await as("system/Task.rs");
        fhirBody(await fhir("GET", `/Task/${task.id}`), 200);
        fhirBody(await fhir("GET", `/Task/${task.id}/_history/1`), 200);
        fhirBody(await fhir("GET", `/Task/${task.id}/_history`), 200);
        const found = fhirBody(
          await fhir("GET", "/Task?status=requested"),
          200,
        );
        assert.deepEqual(found.entry.map((e: any) => e.resource.id), [task.id]);
        const before = await storedCount(server, "acme", "Task");
        assertForbidden(
          await fhir("POST", "/Task", newTask),
          "create",
          /Task\.c/,
        );
        assertForbidden(
          await fhir("PUT", `/Task/${task.id}`, {
            ...task,
            status: "cancelled",
            statusReason: { text: "x" },
          }),
          "update",
          /Task\.u/,
        );
        assert.equal(await storedCount(server, "acme", "Task"), before);
        const unchanged = fhirBody(await fhir("GET", `/Task/${task.id}`), 200);
        assert.equal(unchanged.meta.versionId, "1");
        assertForbidden(
          await fhir("GET", `/ServiceRequest/${order.id}`),
          "read another type",
          /ServiceRequest\.r/,
        );
        assertForbidden(
          await fhir("GET", `/Patient?_id=${patient.id}`),
          "search",
        );
        assertForbidden(
          await fhir("POST", "/Patient/_search", undefined),
          "POST _search",
        );
      },
    );

    await t.step(
      "system/Task.cu creates and updates but cannot read",
      async () => {
        const fhir = await as("system/Task.cu");
        const made = fhirBody(await fhir("POST", "/Task", newTask), 201);
        const moved = fhirBody(
          await fhir("PUT", `/Task/${made.id}`, {
            ...made,
            status: "cancelled",
            statusReason: { text: "sent twice" },
          }),
          200,
        );
        assert.equal(moved.meta.versionId, "2");
        assertForbidden(
          await fhir("GET", `/Task/${made.id}`),
          "read",
          /Task\.r/,
        );
        assertForbidden(
          await fhir("GET", `/Task/${made.id}/_history`),
          "history",
        );
        assertForbidden(await fhir("GET", "/Task"), "search", /Task\.s/);
      },
    );

    await t.step("system/Patient.r reads but does not search", async () => {
      const fhir = await as("system/Patient.r");
      fhirBody(await fhir("GET", `/Patient/${patient.id}`), 200);
      assertForbidden(await fhir("GET", "/Patient"), "search", /Patient\.s/);
    });

    await t.step(
      "a v1 scope: system/ServiceRequest.read is r and s",
      async () => {
        const fhir = await as("system/ServiceRequest.read");
        fhirBody(await fhir("GET", `/ServiceRequest/${order.id}`), 200);
        fhirBody(await fhir("GET", "/ServiceRequest"), 200);
        assertForbidden(
          await fhir("PUT", `/ServiceRequest/${order.id}`, order),
          "update",
        );
      },
    );

    await t.step("a refusal is audited as the client's", async () => {
      await auditSettled(server);
      const trail = await acmeAudit(
        server,
        `agent=client:${system.clientId}&action=C`,
      );
      assert.deepEqual(trail.map((e) => e.outcome).sort(), ["0", "4"]);
      const agent = trail[0].agent[0];
      assert.equal(agent.who.identifier.value, `client:${system.clientId}`);
      assert.equal(agent.role[0].text, "practice_system");
    });
  } finally {
    await server.close();
  }
});

Deno.test("[smart] a practice system sees its practice's records only, at its practice's labs", async () => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    await setupLab(server, "beta");
    // A rival practice sends to the same lab.
    const admin = server.adminToken;
    const json = { "Content-Type": "application/json" };
    await call(server.url, "POST", "/admin/practices", admin, {
      id: "rival",
      name: "Rival Dental",
      labs: ["acme"],
    }, json);
    await call(server.url, "POST", "/admin/users", admin, {
      username: "rival-dentist",
      password: PASSWORD,
      role: "dentist",
      practice: "rival",
    }, json);
    const rival = await seedCase(
      server,
      await login(server.url, "rival-dentist", PASSWORD),
    );
    const labOwn = fhirBody(
      await call(
        server.url,
        "POST",
        "/fhir/acme/Patient",
        acme.tokens.lab_admin,
        PATIENT,
      ),
      201,
    );
    const own = await seedCase(server, acme.tokens.dentist);

    const token = await tokenOf(
      server,
      await registerSystem(server, acme.practice, [ALL]),
    );
    const fhir = (method: string, path: string, body?: unknown) =>
      call(server.url, method, path, token, body);

    for (const id of [rival.patient.id, labOwn.id]) {
      const res = await fhir("GET", `/fhir/acme/Patient/${id}`);
      assert.equal(fhirBody(res, 404).issue[0].code, "not-found");
    }
    const renamed = { ...rival.patient, name: [{ family: "Taken" }] };
    const put = await fhir(
      "PUT",
      `/fhir/acme/Patient/${rival.patient.id}`,
      renamed,
    );
    assert.equal(fhirBody(put, 404).issue[0].code, "not-found");
    // The rival's Task points at records this client cannot see: refused.
    fhirBody(
      await fhir("PUT", `/fhir/acme/Task/${rival.task.id}`, rival.task),
      422,
    );
    const task = await call(
      server.url,
      "GET",
      `/fhir/acme/Task/${rival.task.id}`,
      acme.tokens.lab_admin,
    );
    assert.equal(fhirBody(task, 200).meta.versionId, "1");
    const tasks = fhirBody(await fhir("GET", "/fhir/acme/Task"), 200);
    assert.deepEqual(tasks.entry.map((e: any) => e.resource.id), [own.task.id]);
    // A reference into another practice's records is refused too.
    const sneaky = {
      resourceType: "ServiceRequest",
      status: "active",
      intent: "order",
      subject: { reference: `Patient/${rival.patient.id}` },
    };
    fhirBody(await fhir("POST", "/fhir/acme/ServiceRequest", sneaky), 422);

    assertForbidden(await fhir("GET", "/fhir/beta/Patient"), "another lab");
    assertForbidden(
      await fhir("GET", `/fhir/beta/Patient/${own.patient.id}`),
      "another lab by id",
    );
  } finally {
    await server.close();
  }
});

Deno.test("[smart] a practice system's token opens the FHIR API and nothing else", async () => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const token = await tokenOf(
      server,
      await registerSystem(server, acme.practice, [ALL]),
    );
    for (
      const [method, path] of [
        ["GET", "/admin/labs"],
        ["POST", "/auth/refresh"],
        ["POST", "/auth/logout"],
        ["POST", "/auth/mfa/step-up"],
        ["GET", "/labs/acme/catalog"],
      ]
    ) {
      const res = await call(server.url, method, path, token);
      assert.equal(res.status, 401, `${method} ${path}`);
      assert.equal(res.body.error, "unauthenticated", `${method} ${path}`);
    }
    // The audit trail is not a dentist's to read, whatever the scopes.
    assertForbidden(
      await call(server.url, "GET", "/fhir/acme/AuditEvent", token),
      "audit trail",
    );
  } finally {
    await server.close();
  }
});
