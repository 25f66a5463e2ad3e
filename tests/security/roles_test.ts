// deno-lint-ignore-file no-explicit-any
/**
 * Roles through the real server: every refusal is a 403 with an
 * OperationOutcome (FHIR) or `{error: "forbidden"}` (administration), and a
 * refused write changes nothing.
 */
import assert from "node:assert/strict";
import {
  call,
  fhirClient,
  type LabUsers,
  setupLab,
  startTestServer,
  type TestServer,
} from "../helpers.ts";

type Reply = Awaited<ReturnType<typeof call>>;

function assertForbidden(res: Reply, what: string) {
  assert.equal(res.status, 403, what);
  assert.match(
    res.headers.get("content-type") ?? "",
    /application\/fhir\+json/,
  );
  assert.equal(res.body.resourceType, "OperationOutcome");
  assert.equal(res.body.issue[0].code, "forbidden", what);
}

const patient = { resourceType: "Patient", name: [{ family: "Rolecase" }] };

/** A Patient, a ServiceRequest and a Task on it, made by the lab admin. */
async function seed(server: TestServer, acme: LabUsers) {
  const admin = fhirClient(server, "acme", acme.tokens.lab_admin);
  const p: any = await admin.create({ resourceType: "Patient", body: patient });
  const order: any = await admin.create({
    resourceType: "ServiceRequest",
    body: {
      resourceType: "ServiceRequest",
      status: "active",
      intent: "order",
      subject: { reference: `Patient/${p.id}` },
    },
  });
  const task: any = await admin.create({
    resourceType: "Task",
    body: {
      resourceType: "Task",
      status: "requested",
      intent: "order",
      priority: "routine",
      description: "Zirconia crown, shade A2",
      basedOn: [{ reference: `ServiceRequest/${order.id}` }],
      for: { reference: `Patient/${p.id}` },
    },
  });
  const other: any = await admin.create({
    resourceType: "Patient",
    body: patient,
  });
  return { patient: p, other, order, task };
}

Deno.test("[roles] each role is refused what the matrix does not grant", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const { patient: p, other, order, task } = await seed(server, acme);
    const fhir = (
      role: keyof LabUsers["tokens"],
      method: string,
      path: string,
      body?: unknown,
    ) => call(server.url, method, `/fhir/acme${path}`, acme.tokens[role], body);

    await t.step(
      "a technician may not create a Patient or ServiceRequest",
      async () => {
        assertForbidden(
          await fhir("lab_technician", "POST", "/Patient", patient),
          "create Patient",
        );
        assertForbidden(
          await fhir("lab_technician", "POST", "/ServiceRequest", {
            ...order,
            id: undefined,
          }),
          "create ServiceRequest",
        );
        assertForbidden(
          await fhir("lab_technician", "PUT", `/ServiceRequest/${order.id}`, {
            ...order,
            status: "completed",
          }),
          "update ServiceRequest",
        );
        const all = await fhir("lab_admin", "GET", "/Patient");
        assert.equal(all.status, 200);
        assert.equal(all.body.entry.length, 2);
      },
    );

    await t.step(
      "a technician changes a Task's status and nothing else",
      async () => {
        const changes: Record<string, unknown> = {
          priority: "stat",
          description: "Gold crown",
          for: { reference: `Patient/${other.id}` },
          // Dropped, as an empty list is not FHIR JSON.
          basedOn: undefined,
        };
        for (const [field, value] of Object.entries(changes)) {
          const res = await fhir("lab_technician", "PUT", `/Task/${task.id}`, {
            ...task,
            status: "accepted",
            [field]: value,
          });
          assertForbidden(res, `Task.${field}`);
        }
        const unchanged = await fhir("lab_admin", "GET", `/Task/${task.id}`);
        assert.equal(unchanged.status, 200);
        assert.equal(unchanged.body.meta.versionId, "1");

        const technician = fhirClient(
          server,
          "acme",
          acme.tokens.lab_technician,
        );
        const moved: any = await technician.update({
          resourceType: "Task",
          id: task.id,
          body: {
            ...task,
            status: "accepted",
            businessStatus: { text: "milling" },
          },
        });
        assert.equal(moved.status, "accepted");
        assert.equal(moved.meta.versionId, "2");
        assert.equal(moved.description, task.description);
      },
    );

    await t.step("a viewer may not write", async () => {
      const current = (await fhir("viewer", "GET", `/Task/${task.id}`)).body;
      const attempts: [string, string, unknown][] = [
        ["POST", "/Patient", patient],
        ["PUT", `/Patient/${p.id}`, { ...p, gender: "other" }],
        ["PUT", `/Task/${task.id}`, { ...current, status: "completed" }],
        ["POST", "/Task", { ...task, id: undefined }],
      ];
      for (const [method, path, body] of attempts) {
        assertForbidden(
          await fhir("viewer", method, path, body),
          `${method} ${path}`,
        );
      }
      const after = await fhir("viewer", "GET", `/Task/${task.id}`);
      assert.equal(after.status, 200);
      assert.equal(after.body.status, "accepted");
    });

    await t.step("a compliance officer reads nothing clinical", async () => {
      const paths = [
        `/Patient/${p.id}`,
        `/Patient/${p.id}/_history/1`,
        `/Patient/${p.id}/_history`,
        `/ServiceRequest/${order.id}`,
        `/Task/${task.id}`,
        "/Patient",
        "/Patient?family=Rolecase",
        "/ServiceRequest",
        "/Task",
        "/Practitioner",
        "/Organization",
      ];
      for (const path of paths) {
        assertForbidden(await fhir("compliance_officer", "GET", path), path);
      }
      const posted = await call(
        server.url,
        "POST",
        "/fhir/acme/Patient/_search",
        acme.tokens.compliance_officer,
        "family=Rolecase",
        { "Content-Type": "application/x-www-form-urlencoded" },
      );
      assertForbidden(posted, "POST _search");
    });

    await t.step("only the admin role reaches /admin", async () => {
      for (const [role, token] of Object.entries(acme.tokens)) {
        for (
          const [method, path, body] of [
            ["GET", "/admin/users", undefined],
            ["GET", "/admin/labs", undefined],
            ["POST", "/admin/labs", {
              id: `by-${role}`.replace("_", "-"),
              name: "X",
            }],
            ["GET", "/admin/audit-events", undefined],
          ] as const
        ) {
          const res = await call(server.url, method, path, token, body);
          assert.equal(res.status, 403, `${role} ${method} ${path}`);
          assert.match(
            res.headers.get("content-type") ?? "",
            /application\/json/,
          );
          assert.equal(res.body.error, "forbidden");
        }
      }
      const labs = await call(
        server.url,
        "GET",
        "/admin/labs",
        server.adminToken,
      );
      assert.equal(labs.status, 200);
      assert.deepEqual(labs.body.map((l: any) => l.id), ["acme"]);
    });

    await t.step("only audit roles read /fhir/{lab}/AuditEvent", async () => {
      for (
        const role of [
          "lab_admin",
          "lab_technician",
          "dentist",
          "viewer",
        ] as const
      ) {
        assertForbidden(await fhir(role, "GET", "/AuditEvent"), role);
        assertForbidden(await fhir(role, "GET", "/AuditEvent?action=R"), role);
      }
      for (const token of [acme.tokens.compliance_officer, server.adminToken]) {
        const res = await call(
          server.url,
          "GET",
          "/fhir/acme/AuditEvent",
          token,
        );
        assert.equal(res.status, 200);
        assert.match(
          res.headers.get("content-type") ?? "",
          /application\/fhir\+json/,
        );
        assert.equal(res.body.resourceType, "Bundle");
      }
    });
  } finally {
    await server.close();
  }
});
