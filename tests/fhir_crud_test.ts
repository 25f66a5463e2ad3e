// deno-lint-ignore-file no-explicit-any
import assert from "node:assert/strict";
import { Client } from "fhir-kit-client";
import {
  call,
  fhirBody,
  fhirClient,
  setupLab,
  startTestServer,
  storedCount,
} from "./helpers.ts";

/** A valid body of each stored type; `refs` names records created before. */
function bodyOf(type: string, refs: Record<string, string>): any {
  const bodies: Record<string, any> = {
    Organization: { name: "Smile Dental Practice" },
    Practitioner: { name: [{ family: "Careful" }] },
    Patient: {
      name: [{ family: "Chalmers", given: ["Peter"] }],
      birthDate: "1974-12-25",
      managingOrganization: { reference: refs.Organization },
    },
    ServiceRequest: {
      status: "active",
      intent: "order",
      code: { text: "Zirconia crown, tooth 36" },
      subject: { reference: refs.Patient },
      requester: { reference: refs.Practitioner },
    },
    Task: {
      status: "requested",
      intent: "order",
      // As urgent as its prescription (changed to urgent above); the
      // server would copy it from there if the Task left it out.
      priority: "urgent",
      focus: { reference: refs.ServiceRequest },
      for: { reference: refs.Patient },
    },
  };
  return { resourceType: type, ...bodies[type] };
}

/** What the second version of each type changes. */
const CHANGE: Record<string, object> = {
  Organization: { name: "Smile Dental Group" },
  Practitioner: { active: false },
  Patient: { gender: "male" },
  ServiceRequest: { priority: "urgent" },
  // The dentist's one change of an order: withdrawing it before work starts.
  Task: { status: "cancelled", statusReason: { text: "Sent elsewhere" } },
};
const TYPES = Object.keys(CHANGE);

const withoutMeta = (r: any) => ({ ...r, id: undefined, meta: undefined });

Deno.test("[crud] every stored type keeps versions through create, read, update, vread and history", async (t) => {
  const server = await startTestServer();
  try {
    const { tokens } = await setupLab(server, "acme");
    const token = tokens.dentist;
    const client = fhirClient(server, "acme", token);
    const base = `${server.url}/fhir/acme`;
    const refs: Record<string, string> = {};
    const ids: Record<string, string> = {};
    const put = (type: string, body: unknown, etag: string) =>
      call(server.url, "PUT", `/fhir/acme/${type}/${ids[type]}`, token, body, {
        "If-Match": etag,
      });

    for (const type of TYPES) {
      await t.step(`${type}: create answers 201 with version 1`, async () => {
        const res = await call(
          server.url,
          "POST",
          `/fhir/acme/${type}`,
          token,
          {
            ...bodyOf(type, refs),
            id: "client-chosen",
          },
        );
        const body = fhirBody(res, 201);
        assert.notEqual(body.id, "client-chosen");
        assert.equal(res.headers.get("ETag"), 'W/"1"');
        assert.equal(
          res.headers.get("Location"),
          `${base}/${type}/${body.id}/_history/1`,
        );
        assert.equal(body.meta.versionId, "1");
        assert.equal(body.meta.lastUpdated, server.clock.now().toISOString());
        ids[type] = body.id;
        refs[type] = `${type}/${body.id}`;
      });

      await t.step(`${type}: read returns what was created`, async () => {
        const read: any = await client.read({
          resourceType: type,
          id: ids[type],
        });
        const res = Client.httpFor(read).response!;
        assert.equal(res.status, 200);
        assert.match(
          res.headers.get("Content-Type")!,
          /^application\/fhir\+json/,
        );
        assert.equal(res.headers.get("ETag"), 'W/"1"');
        assert.deepEqual(withoutMeta(read), withoutMeta(bodyOf(type, refs)));
        assert.equal(read.meta.versionId, "1");
      });

      await t.step(
        `${type}: update with If-Match makes version 2`,
        async () => {
          server.clock.advance(60_000);
          const current: any = await client.read({
            resourceType: type,
            id: ids[type],
          });
          const res = await put(type, { ...current, ...CHANGE[type] }, 'W/"1"');
          const body = fhirBody(res, 200);
          assert.equal(res.headers.get("ETag"), 'W/"2"');
          assert.equal(
            res.headers.get("Location"),
            `${base}/${type}/${ids[type]}/_history/2`,
          );
          assert.equal(body.meta.versionId, "2");
          assert.equal(body.meta.lastUpdated, server.clock.now().toISOString());
          assert.notEqual(body.meta.lastUpdated, current.meta.lastUpdated);
        },
      );

      await t.step(
        `${type}: a stale If-Match is refused with 412`,
        async () => {
          const current: any = await client.read({
            resourceType: type,
            id: ids[type],
          });
          const res = await put(type, { ...current, language: "nl" }, 'W/"1"');
          assert.equal(fhirBody(res, 412).issue[0].code, "conflict");
          const after: any = await client.read({
            resourceType: type,
            id: ids[type],
          });
          assert.equal(after.meta.versionId, "2");
          assert.equal(after.language, undefined);
        },
      );

      await t.step(
        `${type}: vread returns each version as it was`,
        async () => {
          const id = ids[type];
          const v1: any = await client.vread({
            resourceType: type,
            id,
            version: "1",
          });
          const v2: any = await client.vread({
            resourceType: type,
            id,
            version: "2",
          });
          assert.equal(
            Client.httpFor(v1).response!.headers.get("ETag"),
            'W/"1"',
          );
          assert.equal(v1.meta.versionId, "1");
          assert.equal(v2.meta.versionId, "2");
          assert.deepEqual(withoutMeta(v1), withoutMeta(bodyOf(type, refs)));
          assert.deepEqual(
            withoutMeta(v2),
            withoutMeta({ ...v1, ...CHANGE[type] }),
          );
          const path = `/fhir/acme/${type}/${id}/_history/3`;
          const missing = await call(server.url, "GET", path, token);
          assert.equal(fhirBody(missing, 404).issue[0].code, "not-found");
        },
      );

      await t.step(
        `${type}: history lists both versions, newest first`,
        async () => {
          const bundle: any = await client.history({
            resourceType: type,
            id: ids[type],
          });
          assert.equal(bundle.resourceType, "Bundle");
          assert.equal(bundle.type, "history");
          assert.equal(bundle.total, 2);
          const entries = bundle.entry.map((e: any) => [
            e.resource.meta.versionId,
            e.request.method,
            e.response.etag,
          ]);
          assert.deepEqual(entries, [["2", "PUT", 'W/"2"'], [
            "1",
            "POST",
            'W/"1"',
          ]]);
        },
      );

      await t.step(
        `${type}: If-None-Match answers 304 only when current`,
        async () => {
          const path = `/fhir/acme/${refs[type]}`;
          const get = (etag: string) =>
            call(server.url, "GET", path, token, undefined, {
              "If-None-Match": etag,
            });
          for (const current of ['W/"2"', '"2"', 'W/"1", W/"2"', "*"]) {
            const same = await get(current);
            assert.equal(same.status, 304, current);
            assert.equal(same.headers.get("ETag"), 'W/"2"');
            assert.equal(same.body, undefined);
          }
          assert.equal(fhirBody(await get('W/"1"'), 200).meta.versionId, "2");
          assert.equal(fhirBody(await get('W/"12"'), 200).meta.versionId, "2");
        },
      );
    }

    await t.step("each type holds exactly the one record created", async () => {
      for (const type of TYPES) {
        assert.equal(await storedCount(server, "acme", type), 1, type);
      }
    });
  } finally {
    await server.close();
  }
});

Deno.test("[crud] of concurrent updates holding one If-Match, one wins and the rest get 412", async () => {
  const server = await startTestServer();
  try {
    const { tokens } = await setupLab(server, "acme");
    const token = tokens.dentist;
    const created = await call(
      server.url,
      "POST",
      "/fhir/acme/Patient",
      token,
      {
        resourceType: "Patient",
        active: true,
      },
    );
    const current = fhirBody(created, 201);
    const path = `/fhir/acme/Patient/${current.id}`;
    const results = await Promise.all(
      ["en", "nl", "de", "fr", "es", "it"].map((language) =>
        call(server.url, "PUT", path, token, { ...current, language }, {
          "If-Match": 'W/"1"',
        })
      ),
    );

    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 412, 412, 412, 412, 412]);
    const winner = results.find((r) => r.status === 200)!;
    for (const lost of results.filter((r) => r.status === 412)) {
      assert.equal(fhirBody(lost, 412).issue[0].code, "conflict");
    }
    const read = fhirBody(await call(server.url, "GET", path, token), 200);
    assert.equal(read.meta.versionId, "2");
    assert.equal(read.language, winner.body.language);
  } finally {
    await server.close();
  }
});
