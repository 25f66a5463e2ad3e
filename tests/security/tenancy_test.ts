// deno-lint-ignore-file no-explicit-any
/**
 * Tenancy: two labs on one server, and two practices at one lab. Another
 * tenant's records must be indistinguishable from records that do not
 * exist, and must never come back from a search.
 */
import assert from "node:assert/strict";
import type { Client } from "fhir-kit-client";
import { keys } from "../../domain/kv_keys.ts";
import {
  auditSettled,
  call,
  fhirClient,
  login,
  PASSWORD,
  setupLab,
  startTestServer,
  type TestServer,
} from "../helpers.ts";

const UNKNOWN_ID = "01ZZZZZZZZZZZZZZZZZZZZZZZZ";

/** Status and body of a fhir-kit-client call that must fail. */
async function refused(pending: Promise<unknown>) {
  try {
    await pending;
  } catch (error: any) {
    if (!error.response) throw error;
    return { status: error.response.status, body: error.response.data };
  }
  throw new Error("the call succeeded");
}

/** The body with an id replaced, so two refusals can be compared. */
function shape(body: unknown, id: string) {
  return JSON.parse(JSON.stringify(body).replaceAll(id, "{id}"));
}

function assertOutcome(res: { status: number; headers: Headers; body: any }) {
  assert.match(
    res.headers.get("content-type") ?? "",
    /application\/fhir\+json/,
  );
  assert.equal(res.body.resourceType, "OperationOutcome");
}

async function addDentist(server: TestServer, lab: string, practice: string) {
  await call(server.url, "POST", "/admin/practices", server.adminToken, {
    id: practice,
    name: `Practice ${practice}`,
    labs: [lab],
  });
  const username = `${practice}-dentist`;
  const res = await call(
    server.url,
    "POST",
    "/admin/users",
    server.adminToken,
    {
      username,
      password: PASSWORD,
      role: "dentist",
      practice,
    },
  );
  assert.equal(res.status, 201);
  return await login(server.url, username, PASSWORD);
}

/** A raw call; a PUT carries a Patient with the id in the path. */
function send(server: TestServer, method: string, path: string, token: string) {
  const id = path.split("/")[4];
  const body = method === "PUT" ? { ...patientBody("Put"), id } : undefined;
  return call(server.url, method, path, token, body);
}

/** Creates a resource through fhir-kit-client and returns it. */
function make(client: Client, body: { resourceType: string }): Promise<any> {
  return client.create({ resourceType: body.resourceType, body });
}

function patientBody(family: string) {
  return { resourceType: "Patient", name: [{ family, given: ["Ann"] }] };
}

function serviceRequestBody(subject: string) {
  return {
    resourceType: "ServiceRequest",
    status: "active",
    intent: "order",
    subject: { reference: subject },
  };
}

Deno.test("[tenancy] labs and practices never see each other's records", async (t) => {
  const server = await startTestServer();
  try {
    const alpha = await setupLab(server, "alpha");
    const beta = await setupLab(server, "beta");
    const alphaAdmin = fhirClient(server, "alpha", alpha.tokens.lab_admin);
    const patient = await make(alphaAdmin, patientBody("Alphason"));
    const betaToken = beta.tokens.lab_admin;
    await auditSettled(server);

    await t.step("another lab's id is a 404 like an unknown id", async () => {
      for (const suffix of ["", "/_history/1", "/_history", "PUT"]) {
        const method = suffix === "PUT" ? "PUT" : "GET";
        const path = (id: string) =>
          `/fhir/beta/Patient/${id}${method === "PUT" ? "" : suffix}`;
        const other = await send(server, method, path(patient.id), betaToken);
        const none = await send(server, method, path(UNKNOWN_ID), betaToken);
        assert.equal(other.status, 404, suffix);
        assert.equal(none.status, 404);
        assertOutcome(other);
        assert.equal(other.body.issue[0].code, "not-found");
        assert.deepEqual(
          shape(other.body, patient.id),
          shape(none.body, UNKNOWN_ID),
        );
      }
    });

    await t.step("another lab's base is 403, id known or not", async () => {
      for (const suffix of ["", "/_history/1", "PUT"]) {
        const method = suffix === "PUT" ? "PUT" : "GET";
        const path = (id: string) =>
          `/fhir/alpha/Patient/${id}${method === "PUT" ? "" : suffix}`;
        const known = await send(server, method, path(patient.id), betaToken);
        const none = await send(server, method, path(UNKNOWN_ID), betaToken);
        assert.equal(known.status, 403);
        assert.equal(none.status, 403);
        assertOutcome(known);
        assert.equal(known.body.issue[0].code, "forbidden");
        assert.deepEqual(known.body, none.body);
      }
      const path = "/fhir/alpha/Patient?family=Alphason";
      const search = await send(server, "GET", path, betaToken);
      assert.equal(search.status, 403);
      assert.equal(search.body.issue[0].code, "forbidden");
    });

    await t.step("searches never return another lab's data", async () => {
      const client = fhirClient(server, "beta", betaToken);
      await make(client, patientBody("Betason"));
      for (
        const [resourceType, searchParams] of [
          ["Patient", { family: "Alphason" }],
          ["Patient", { _id: patient.id }],
          ["Patient", {}],
          ["ServiceRequest", { patient: `Patient/${patient.id}` }],
        ] as [string, Record<string, string>][]
      ) {
        const bundle: any = await client.search({ resourceType, searchParams });
        assert.equal(bundle.resourceType, "Bundle");
        const entries = JSON.stringify(bundle.entry ?? []);
        assert.ok(!entries.includes(patient.id), JSON.stringify(searchParams));
        assert.ok(!entries.includes("Alphason"));
      }
    });

    await t.step("no reference to another lab's Patient", async () => {
      const client = fhirClient(server, "beta", beta.tokens.dentist);
      const base = `${server.url}/fhir`;
      for (
        const ref of [
          `Patient/${patient.id}`,
          `${base}/alpha/Patient/${patient.id}`,
        ]
      ) {
        const res = await refused(make(client, serviceRequestBody(ref)));
        assert.equal(res.status, 422, ref);
        assert.equal(res.body.resourceType, "OperationOutcome");
        assert.equal(res.body.issue[0].code, "processing");
      }
      const own = await make(client, patientBody("Betaref"));
      const ref = `${base}/beta/Patient/${own.id}`;
      const accepted = await make(client, serviceRequestBody(ref));
      // Stored relative to the lab's base, as FHIR servers do, so it searches.
      assert.equal(accepted.subject.reference, `Patient/${own.id}`);
      const found: any = await client.search({
        resourceType: "ServiceRequest",
        searchParams: { patient: own.id },
      });
      assert.deepEqual(found.entry.map((e: any) => e.resource.id), [
        accepted.id,
      ]);
    });

    await t.step("another lab's audit trail stays closed", async () => {
      let alphaEvent: string | undefined;
      const trail = server.kv.list({
        prefix: keys.auditEvent({ lab: "alpha" }),
      });
      for await (const e of trail) alphaEvent = e.key.at(-1) as string;
      assert.ok(alphaEvent, "alpha has audit events");
      const officer = beta.tokens.compliance_officer;
      const path = `/fhir/beta/AuditEvent/${alphaEvent}`;
      const own = await send(server, "GET", path, officer);
      assert.equal(own.status, 404);
      assert.equal(own.body.issue[0].code, "not-found");
      const theirs = await send(
        server,
        "GET",
        "/fhir/alpha/AuditEvent",
        officer,
      );
      assert.equal(theirs.status, 403);
      assert.equal(theirs.body.issue[0].code, "forbidden");
    });

    const mine = fhirClient(server, "alpha", alpha.tokens.dentist);
    await t.step("practices do not see each other's cases", async () => {
      const other = await addDentist(server, "alpha", "alpha-other");
      const theirs = fhirClient(server, "alpha", other);
      const own = await make(mine, patientBody("Practiceone"));
      const order = await make(mine, serviceRequestBody(`Patient/${own.id}`));

      for (const id of [own.id, order.id]) {
        const resourceType = id === own.id ? "Patient" : "ServiceRequest";
        const res = await refused(theirs.read({ resourceType, id }));
        assert.equal(res.status, 404);
        assert.equal(res.body.issue[0].code, "not-found");
      }
      for (
        const [resourceType, searchParams] of [
          ["Patient", { family: "Practiceone" }],
          ["Patient", { _id: own.id }],
          ["ServiceRequest", {}],
        ] as [string, Record<string, string>][]
      ) {
        const found: any = await theirs.search({ resourceType, searchParams });
        assert.equal(found.entry?.length ?? 0, 0);
      }
      const body = serviceRequestBody(`Patient/${own.id}`);
      assert.equal((await refused(make(theirs, body))).status, 422);
    });

    await t.step("the lab's Task stays visible to the dentist", async () => {
      const own = await make(mine, patientBody("Taskson"));
      const order = await make(mine, serviceRequestBody(`Patient/${own.id}`));
      const task = await make(alphaAdmin, {
        resourceType: "Task",
        status: "requested",
        intent: "order",
        basedOn: [{ reference: `ServiceRequest/${order.id}` }],
        for: { reference: `Patient/${own.id}` },
      } as { resourceType: string });
      const tech = fhirClient(server, "alpha", alpha.tokens.lab_technician);
      const moved: any = await tech.update({
        resourceType: "Task",
        id: task.id,
        body: { ...task, status: "accepted" },
      });
      assert.equal(moved.status, "accepted");

      const seen: any = await mine.read({ resourceType: "Task", id: task.id });
      assert.equal(seen.status, "accepted");
      const searchParams = { "based-on": `ServiceRequest/${order.id}` };
      const listed: any = await mine.search({
        resourceType: "Task",
        searchParams,
      });
      assert.deepEqual(listed.entry.map((e: any) => e.resource.id), [task.id]);
    });
  } finally {
    await server.close();
  }
});
