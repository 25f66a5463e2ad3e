// deno-lint-ignore-file no-explicit-any
/**
 * A practice system acting for a dentist (X-On-Behalf-Of): only an enabled
 * dentist of its practice, audited with the client, and needed for a work
 * authorization.
 */
import assert from "node:assert/strict";
import { buildWorkAuthorization } from "../../domain/authorization.ts";
import {
  ADMIN,
  auditSettled,
  call,
  fhirBody,
  login,
  PASSWORD,
  setupLab,
  startTestServer,
} from "../helpers.ts";
import {
  acmeAudit,
  ALL,
  assertForbidden,
  PATIENT,
  registerSystem,
  tokenOf,
} from "../smart_helpers.ts";

Deno.test("[smart] acting for a dentist: X-On-Behalf-Of is checked and audited with the client", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    await setupLab(server, "beta");
    const system = await registerSystem(server, acme.practice, [ALL]);
    const token = await tokenOf(server, system);
    const as =
      (dentist?: string) => (method: string, path: string, body?: unknown) =>
        call(
          server.url,
          method,
          `/fhir/acme${path}`,
          token,
          body,
          dentist ? { "X-On-Behalf-Of": dentist } : {},
        );

    await t.step(
      "only an enabled dentist of the client's practice",
      async () => {
        const json = { "Content-Type": "application/json" };
        await call(server.url, "POST", "/admin/users", server.adminToken, {
          username: "gone-dentist",
          password: PASSWORD,
          role: "dentist",
          practice: acme.practice,
        }, json);
        const admin = await login(server.url, ADMIN.username, ADMIN.password);
        const off = await call(
          server.url,
          "PATCH",
          "/admin/users/gone-dentist",
          admin,
          { disabled: true },
          json,
        );
        assert.equal(off.status, 200);
        for (
          const who of [
            "nobody",
            "beta-dentist",
            "acme-lab_admin",
            "gone-dentist",
          ]
        ) {
          const res = await as(who)("POST", "/Patient", PATIENT);
          assertForbidden(res, who, /X-On-Behalf-Of/);
        }
        const person = await call(
          server.url,
          "GET",
          "/fhir/acme/Patient",
          acme.tokens.dentist,
          undefined,
          { "X-On-Behalf-Of": "acme-dentist" },
        );
        assert.equal(fhirBody(person, 400).issue[0].code, "invalid");
      },
    );

    const made = fhirBody(
      await as("acme-dentist")("POST", "/Patient", PATIENT),
      201,
    );

    await t.step("the event names the client and the dentist", async () => {
      await auditSettled(server);
      // The four refused names above are the client's refusals.
      const all = await acmeAudit(
        server,
        `agent=client:${system.clientId}&action=C`,
      );
      assert.deepEqual(all.map((e) => e.outcome).sort(), [
        "0",
        "4",
        "4",
        "4",
        "4",
      ]);
      for (const agent of ["acme-dentist", `client:${system.clientId}`]) {
        const trail = await acmeAudit(
          server,
          `agent=${agent}&action=C&patient=${made.id}`,
        );
        assert.equal(trail.length, 1, agent);
        const agents = trail[0].agent;
        assert.deepEqual(
          agents.map((a: any) => [a.who.identifier.value, a.requestor]),
          [[`client:${system.clientId}`, false], ["acme-dentist", true]],
        );
        assert.equal(agents[0].type.coding[0].code, "110150");
      }
    });

    await t.step("a work authorization needs the dentist named", async () => {
      const practitioner = fhirBody(
        await as()("POST", "/Practitioner", {
          resourceType: "Practitioner",
          name: [{ family: "Careful" }],
        }),
        201,
      );
      const order = fhirBody(
        await as()("POST", "/ServiceRequest", {
          resourceType: "ServiceRequest",
          status: "active",
          intent: "order",
          subject: { reference: `Patient/${made.id}` },
        }),
        201,
      );
      const authorization = buildWorkAuthorization({
        request: `ServiceRequest/${order.id}`,
        dentist: `Practitioner/${practitioner.id}`,
        name: "Adam Careful",
        license: { value: "DDS-1234" },
        recorded: "2026-12-03T09:00:00Z",
      });
      assertForbidden(
        await as()("POST", "/Provenance", authorization),
        "without a dentist",
        /X-On-Behalf-Of/,
      );
      fhirBody(
        await as("acme-dentist")("POST", "/Provenance", authorization),
        201,
      );
    });
  } finally {
    await server.close();
  }
});
