// deno-lint-ignore-file no-explicit-any
import assert from "node:assert/strict";
import {
  call,
  fhirBody,
  fhirClient,
  fixture,
  FIXTURES,
  setupLab,
  startTestServer,
  storedCount,
} from "./helpers.ts";

/**
 * What LHCMS does with each example as published: the elements whose
 * references it refuses (none for an accepted one), as `Type.<path>.reference`.
 * Examples point at records by ids this lab never issued.
 */
const AS_PUBLISHED: Record<string, string> = {
  "Organization-1": "",
  "Organization-f001": "",
  "Organization-hl7": "endpoint[0]",
  "Practitioner-example": "",
  "Practitioner-f001": "",
  "Practitioner-f201": "",
  "Patient-newborn": "",
  "Patient-example": "managingOrganization",
  "Patient-f001": "managingOrganization",
  "Patient-pat1": "contact[0].organization link[0].other managingOrganization",
  "Patient-pat2": "link[0].other managingOrganization",
  "ServiceRequest-di": "requester subject",
  "ServiceRequest-example": "subject",
  "ServiceRequest-example-implant": "performer[0] requester subject",
  "ServiceRequest-subrequest": "requester subject",
  "Task-example1": "contained[0].agent[0].who contained[0].signature[0].who " +
    "contained[0].target[0] encounter focus for owner requester",
  "Task-example2": "encounter for owner partOf[0] requester",
  "Task-example3": "focus for owner requester",
  "Task-example4": "encounter for output[0].valueReference owner partOf[0] " +
    "requester",
  "Task-example6": "encounter focus for output[0].valueReference " +
    "output[1].valueReference owner requester",
};

/** The value at a simple FHIRPath such as `Task.output[1].valueReference`. */
function valueAt(resource: any, expression: string): any {
  return expression.split(".").slice(1).reduce((node, step) => {
    const [, name, index] = /^([^[]+)(?:\[(\d+)\])?$/.exec(step)!;
    return index === undefined ? node[name] : node[name][Number(index)];
  }, resource);
}

/**
 * Examples of types LHCMS does not take from clients, with why: each is
 * refused with 404 by create and by $validate alike.
 */
const NOT_STORED: Record<string, string> = {
  // The audit trail is written by LHCMS itself, never posted.
  "AuditEvent-example-login": "AuditEvent",
  "AuditEvent-example-rest": "AuditEvent",
  "AuditEvent-example-search": "AuditEvent",
  // Transaction Bundles are posted to the base URL, not supported yet.
  "Bundle-bundle-transaction": "Bundle",
  // An outcome is an answer, not a record.
  "OperationOutcome-validationfail": "OperationOutcome",
};

const withoutMeta = (r: any) => ({ ...r, id: undefined, meta: undefined });

Deno.test("[fixtures] every example in the folder has a stated verdict", async () => {
  const names: string[] = [];
  for await (const entry of Deno.readDir(FIXTURES)) {
    names.push(entry.name.replace(/\.json$/, ""));
  }
  assert.deepEqual(
    names.sort(),
    [...Object.keys(AS_PUBLISHED), ...Object.keys(NOT_STORED)].sort(),
  );
});

/** The reference problems of an outcome, checked against the example. */
function refusedReferences(outcome: any, example: any): string[] {
  for (const issue of outcome.issue) {
    assert.equal(issue.code, "processing");
    const mentioned = /: (\S+) is not a record of this lab$/.exec(
      issue.diagnostics,
    )?.[1];
    const raw = valueAt(example, issue.expression[0]);
    assert.ok(mentioned && raw.startsWith(mentioned), issue.diagnostics);
  }
  return outcome.issue.map((i: any) => i.expression[0]).sort();
}

Deno.test("[fixtures] each published example is accepted, or refused with a 422 naming each reference, by create and $validate alike", async (t) => {
  const server = await startTestServer();
  try {
    const { tokens } = await setupLab(server, "acme");
    const token = tokens.lab_admin;
    const post = (path: string, body: unknown) =>
      call(server.url, "POST", `/fhir/acme/${path}`, token, body);
    for (const [name, paths] of Object.entries(AS_PUBLISHED)) {
      await t.step(name, async () => {
        const example = await fixture(`${name}.json`);
        const type = example.resourceType;
        const refused = paths.split(" ").filter((p) => p !== "")
          .map((p) => `${type}.${p}.reference`).sort();
        const before = await storedCount(server, "acme", type);
        const checked = fhirBody(await post(`${type}/$validate`, example), 200);
        assert.equal(await storedCount(server, "acme", type), before);
        const res = await post(type, example);
        if (refused.length === 0) {
          assert.deepEqual(checked.issue.map((i: any) => i.severity), [
            "information",
          ]);
          const created = fhirBody(res, 201);
          const read = await call(
            server.url,
            "GET",
            `/fhir/acme/${type}/${created.id}`,
            token,
          );
          assert.deepEqual(
            withoutMeta(fhirBody(read, 200)),
            withoutMeta(example),
          );
          return;
        }
        assert.deepEqual(refusedReferences(checked, example), refused);
        assert.deepEqual(
          refusedReferences(fhirBody(res, 422), example),
          refused,
        );
        assert.equal(await storedCount(server, "acme", type), before);
      });
    }
    for (const [name, type] of Object.entries(NOT_STORED)) {
      await t.step(`${name}: ${type} is not taken`, async () => {
        const example = await fixture(`${name}.json`);
        // Only the audit roles reach the trail's routes at all.
        const auditor = tokens.compliance_officer;
        for (const path of [type, `${type}/$validate`]) {
          const res = await call(
            server.url,
            "POST",
            `/fhir/acme/${path}`,
            type === "AuditEvent" ? auditor : token,
            example,
          );
          assert.equal(fhirBody(res, 404).issue[0].code, "not-found");
          if (type !== "AuditEvent") continue;
          const outcome = fhirBody(await post(path, example), 403);
          assert.equal(outcome.issue[0].code, "forbidden");
        }
      });
    }
  } finally {
    await server.close();
  }
});

/**
 * A copy of an example whose references are rewritten through `map`; a
 * reference mapped to null keeps only its display, as for a record kept
 * outside the lab (an Encounter, a Specimen).
 */
function adapt(example: any, map: Record<string, string | null>): any {
  const walk = (node: any): any => {
    if (Array.isArray(node)) return node.map(walk);
    if (!node || typeof node !== "object") return node;
    const out = Object.fromEntries(
      Object.entries(node).map(([k, v]) => [k, walk(v)]),
    );
    if (typeof node.reference === "string" && node.reference in map) {
      const target = map[node.reference];
      if (target === null) {
        delete out.reference;
        out.display ??= node.reference;
      } else out.reference = target;
    }
    return out;
  };
  const { id: _id, ...rest } = example;
  return walk(rest);
}

Deno.test("[fixtures] examples adapted to one lab's records are accepted and read back unchanged", async (t) => {
  const server = await startTestServer();
  try {
    const { tokens } = await setupLab(server, "acme");
    const client = fhirClient(server, "acme", tokens.lab_admin);
    // Records the examples name but the lab keeps elsewhere.
    const map: Record<string, string | null> = {
      "Encounter/example": null,
      "Endpoint/example": null,
      "Specimen/101": null,
      "DiagnosticReport/lipids": null,
      "MedicationRequest/medrx002": null,
    };
    const made: Record<string, any> = {};
    const sent: Record<string, any> = {};
    /** Creates the adapted example and maps its published reference. */
    const create = async (name: string, aliases: string[] = []) => {
      const example = await fixture(`${name}.json`);
      const body = adapt(example, map);
      const created: any = await client.create({
        resourceType: body.resourceType,
        body,
      });
      assert.deepEqual(withoutMeta(created), withoutMeta(body));
      const ref = `${body.resourceType}/${created.id}`;
      for (const alias of [`${body.resourceType}/${example.id}`, ...aliases]) {
        map[alias] = ref;
      }
      made[name] = created;
      sent[name] = body;
      return created;
    };

    await t.step("the directory: organizations and practitioners", async () => {
      await create("Organization-1", [
        "Organization/1832473e-2fe0-452d-abe9-3cdb9879522f",
      ]);
      await create("Organization-f001");
      await create("Organization-hl7");
      await create("Practitioner-example");
      await create("Practitioner-f001", ["Practitioner/f202"]);
      await create("Practitioner-f201", [
        "Practitioner/3ad0687e-f477-468c-afd5-fcc2bf897809",
      ]);
    });

    await t.step(
      "patients, including two that link to each other",
      async () => {
        await create("Patient-newborn");
        await create("Patient-example");
        await create("Patient-f001", ["Patient/dicom"]);
        // pat1 and pat2 name each other: pat1 first, then its link, by update.
        map["Patient/pat2"] = null;
        const pat1 = await create("Patient-pat1");
        await create("Patient-pat2");
        const linked = {
          ...adapt(await fixture("Patient-pat1.json"), map),
          id: pat1.id,
        };
        const updated: any = await client.update({
          resourceType: "Patient",
          id: pat1.id,
          body: linked,
        });
        assert.equal(updated.meta.versionId, "2");
        sent["Patient-pat1"] = linked;
        assert.equal(updated.link[0].other.reference, map["Patient/pat2"]);
      },
    );

    await t.step("service requests on those patients", async () => {
      await create("ServiceRequest-example", ["ServiceRequest/lipid"]);
      await create("ServiceRequest-example-implant", [
        "ServiceRequest/physiotherapy/_history/1",
      ]);
      await create("ServiceRequest-di");
      await create("ServiceRequest-subrequest");
      const found: any = await client.search({
        resourceType: "ServiceRequest",
        searchParams: { patient: map["Patient/example"]! },
      });
      const ids = found.entry.map((e: any) => e.resource.id).sort();
      assert.deepEqual(
        ids,
        [
          made["ServiceRequest-example"].id,
          made["ServiceRequest-example-implant"].id,
        ].sort(),
      );
    });

    await t.step("tasks on those requests, part of one another", async () => {
      await create("Task-example1");
      for (
        const name of [
          "Task-example2",
          "Task-example3",
          "Task-example4",
          "Task-example6",
        ]
      ) {
        await create(name);
      }
      const found: any = await client.search({
        resourceType: "Task",
        searchParams: {
          focus: map["ServiceRequest/lipid"]!,
          status: "completed",
        },
      });
      assert.deepEqual(found.entry.map((e: any) => e.resource.id), [
        made["Task-example6"].id,
      ]);
      const parts: any = await client.search({
        resourceType: "Task",
        searchParams: { "part-of": made["Task-example1"].id },
      });
      assert.equal(parts.entry.length, 2);
    });

    await t.step(
      "every record reads back as sent, apart from id and meta",
      async () => {
        assert.deepEqual(
          Object.keys(sent).sort(),
          Object.keys(AS_PUBLISHED).sort(),
        );
        for (const [name, body] of Object.entries(sent)) {
          const { resourceType, id } = made[name];
          const read: any = await client.read({ resourceType, id });
          assert.deepEqual(withoutMeta(read), withoutMeta(body), name);
        }
      },
    );
  } finally {
    await server.close();
  }
});
