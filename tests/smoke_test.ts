// deno-lint-ignore-file no-explicit-any
import assert from "node:assert/strict";
import { fhirClient, setupLab, startTestServer } from "./helpers.ts";

Deno.test("[smoke] a dentist creates and reads a patient through fhir-kit-client", async () => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const client = fhirClient(server, "acme", acme.tokens.dentist);
    const created: any = await client.create({
      resourceType: "Patient",
      body: {
        resourceType: "Patient",
        name: [{ family: "Chalmers", given: ["Peter"] }],
      },
    });
    assert.equal(created.meta.versionId, "1");
    const read: any = await client.read({
      resourceType: "Patient",
      id: created.id,
    });
    assert.equal(read.name[0].family, "Chalmers");
    const found: any = await client.search({
      resourceType: "Patient",
      searchParams: { family: "chalmers" },
    });
    assert.equal(found.entry.length, 1);
  } finally {
    await server.close();
  }
});
