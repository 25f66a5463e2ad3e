// deno-lint-ignore-file no-explicit-any
import assert from "node:assert/strict";
import type { Client } from "fhir-kit-client";
import { buildWorkAuthorization } from "../domain/authorization.ts";
import { TYPE_INTERACTIONS } from "../fhir/capability.ts";
import { STORED_TYPES } from "../fhir/types.ts";
import {
  auditSettled,
  fhirClient,
  setupLab,
  startTestServer,
} from "./helpers.ts";
import { answer, crownCase } from "./fhir_ops.ts";

/** Performs one interaction on a record of the caller's own making. */
function perform(client: Client, code: string, record: any) {
  const resourceType = record.resourceType as string;
  const id = record.id as string;
  const { id: _id, meta: _meta, ...body } = record;
  switch (code) {
    case "read":
      return answer(client.read({ resourceType, id }));
    case "vread":
      return answer(client.vread({ resourceType, id, version: "1" }));
    case "update":
      return answer(client.update({ resourceType, id, body: record }));
    case "patch":
      return answer(client.patch({
        resourceType,
        id,
        jsonPatch: [{ op: "test", path: "/id", value: id }],
      }));
    case "delete":
      return answer(client.delete({ resourceType, id }));
    case "history-instance":
      return answer(client.history({ resourceType, id }));
    case "history-type":
      return answer(client.typeHistory({ resourceType }));
    case "create":
      return answer(copyOf(client, { ...body, resourceType }));
    case "search-type":
      return answer(client.search({ resourceType, searchParams: { _id: id } }));
  }
  throw new Error(`no request for ${code}`);
}

/**
 * A new record with the content of `record`. A Task of a case gets a
 * prescription of its own, as an item has one item Task.
 */
async function copyOf(client: Client, record: any) {
  const { id: _id, meta: _meta, ...body } = record;
  if (record.resourceType === "Task" && record.focus) {
    const request: any = await client.read({
      resourceType: "ServiceRequest",
      id: record.focus.reference.split("/")[1],
    });
    const { id: _r, meta: _m, identifier: _i, requisition: _q, ...item } =
      request;
    const copy: any = await client.create({
      resourceType: "ServiceRequest",
      body: item,
    });
    body.focus = { reference: `ServiceRequest/${copy.id}` };
    delete body.basedOn;
  }
  return await client.create({ resourceType: record.resourceType, body });
}

Deno.test("[capability] the CapabilityStatement lists exactly the interactions the routes serve", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const practice = fhirClient(server, "acme", acme.tokens.dentist);
    const lab = fhirClient(server, "acme", acme.tokens.lab_admin);
    const statement: any = await practice.capabilityStatement();
    const { patient, crown, task } = await crownCase(practice, "acme");
    const dentist: any = await practice.create({
      resourceType: "Practitioner",
      body: { resourceType: "Practitioner", name: [{ family: "Molar" }] },
    });
    const records: Record<string, () => Promise<any>> = {
      Patient: () => Promise.resolve(patient),
      ServiceRequest: () => Promise.resolve(crown),
      Task: () => Promise.resolve(task),
      Practitioner: () => Promise.resolve(dentist),
      Organization: () =>
        practice.create({
          resourceType: "Organization",
          body: { resourceType: "Organization", name: "Smile Dental" },
        }),
      Provenance: () =>
        practice.create({
          resourceType: "Provenance",
          body: buildWorkAuthorization({
            request: `ServiceRequest/${crown.id}`,
            dentist: `Practitioner/${dentist.id}`,
            name: "Dr Ada Molar",
            license: { system: "https://board.example/license", value: "D-1" },
            recorded: server.clock.now().toISOString(),
          }) as any,
        }),
    };

    // Scan files have their own test (scan_capability_test.ts): a Binary is
    // created from a file, not from a copy of JSON.
    for (
      const type of STORED_TYPES.filter((t) =>
        t !== "Binary" && t !== "DocumentReference"
      )
    ) {
      await t.step(type, async () => {
        const entry = statement.rest[0].resource.find((r: any) =>
          r.type === type
        );
        const listed = entry.interaction.map((i: any) => i.code);
        assert.ok(
          listed.every((code: string) => TYPE_INTERACTIONS.includes(code)),
        );
        // A delete works on a copy of its own, so the others find theirs.
        for (const code of TYPE_INTERACTIONS) {
          const record = code === "delete"
            ? await copyOf(practice, await records[type]())
            : await records[type]();
          // A Task is deleted by the lab, not the practice (README, Roles).
          const client = type === "Task" && code === "delete" ? lab : practice;
          const res = await perform(client, code, record);
          if (listed.includes(code)) {
            assert.ok(
              res.status >= 200 && res.status < 300,
              `${type} ${code}: ${res.status} ${JSON.stringify(res.body)}`,
            );
          } else {
            assert.ok(
              res.status >= 400,
              `${type} ${code} is not listed but answered ${res.status}`,
            );
          }
        }
        const condition = await answer(practice.create({
          resourceType: type,
          body: { ...(await records[type]()), id: undefined, meta: undefined },
          options: {
            headers: { "If-None-Exist": `_id=${(await records[type]()).id}` },
          },
        }));
        assert.equal(entry.conditionalCreate, true);
        assert.equal(
          condition.status,
          200,
          `${type} conditional create ${JSON.stringify(condition.body)}`,
        );
        const record = await records[type]();
        const conditionalPut = await answer(practice.update({
          resourceType: type,
          searchParams: { _id: record.id },
          body: {
            ...(await practice.read({
              resourceType: type,
              id: record.id,
            }) as any),
          },
        }));
        assert.equal(
          conditionalPut.status === 200,
          entry.conditionalUpdate,
          `${type} conditional update answered ${conditionalPut.status}`,
        );
      });
    }

    await t.step("patch formats name both patch media types", () => {
      assert.deepEqual(statement.patchFormat.sort(), [
        "application/fhir+json",
        "application/json-patch+json",
      ]);
    });
    await auditSettled(server);
  } finally {
    await server.close();
  }
});
