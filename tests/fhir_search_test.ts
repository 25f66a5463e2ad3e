// deno-lint-ignore-file no-explicit-any
import assert from "node:assert/strict";
import type { Client } from "fhir-kit-client";
import {
  call,
  fhirBody,
  fhirClient,
  setupLab,
  startTestServer,
  walkPages,
} from "./helpers.ts";

const SNOMED = "http://snomed.info/sct";
const CATALOGUE = "urn:lab:catalogue";
const STAGES = "urn:lab:stages";
const MRN = "urn:oid:1.2.36.146.595.217.0.1";

/** Ids of a searchset, sorted, after checking every entry is a match. */
function idsOf(bundle: any): string[] {
  assert.equal(bundle.resourceType, "Bundle");
  assert.equal(bundle.type, "searchset");
  for (const e of bundle.entry) assert.equal(e.search.mode, "match");
  return bundle.entry.map((e: any) => e.resource.id).sort();
}

const sorted = (ids: string[]) => [...ids].sort();

/** Follows `next` links to the end; returns the ids, sorted. */
const walk = async (client: Client, type: string, params: object) =>
  sorted(await walkPages(client, type, params as Record<string, string>));

Deno.test("[search] every parameter LHCMS indexes finds exactly its matches", async (t) => {
  const server = await startTestServer();
  try {
    const { tokens } = await setupLab(server, "acme");
    const token = tokens.dentist;
    const client = fhirClient(server, "acme", token);
    const create = (body: any, via = client): Promise<any> => {
      server.clock.advance(1000);
      return via.create({ resourceType: body.resourceType, body });
    };
    const find = async (type: string, searchParams: Record<string, string>) =>
      idsOf(await client.search({ resourceType: type, searchParams }));
    const ref = (r: any) => ({ reference: `${r.resourceType}/${r.id}` });

    const org = (name: string) =>
      create({ resourceType: "Organization", name });
    const doctor = (family: string) =>
      create({ resourceType: "Practitioner", name: [{ family }] });
    const lab = await org("Acme Lab"), clinic = await org("Clinic");
    const adam = await doctor("Careful"), bev = await doctor("Crusher");
    const patient = (family: string, birthDate: string, ...id: string[]) =>
      create({
        resourceType: "Patient",
        name: [{ family }],
        birthDate,
        identifier: [{ value: id[0], system: id[1] }],
      });
    const p1 = await patient("Chalmers", "1974-12-25", "12345", MRN);
    const p2 = await patient("Chalmers", "1974-12-03", "12345", "urn:x");
    const p3 = await patient("van de Heuvel", "1944-11-17", "67890", MRN);
    const p4 = await patient("Müller", "1974-03-01", "A-1");

    // A crown in one of two code systems, or no code at all.
    const order = (
      s: any,
      status: string,
      on: string,
      by: any,
      system?: string,
    ) =>
      create({
        resourceType: "ServiceRequest",
        status,
        intent: "order",
        subject: ref(s),
        authoredOn: on,
        requester: ref(by),
        code: system
          ? { coding: [{ system, code: "crown" }] }
          : { text: "Crown" },
      });
    const sr1 = await order(p1, "active", "2026-01-15", adam, SNOMED);
    const sr2 = await order(p1, "completed", "2026-02-28T23:30:00-02:00", bev);
    const sr3 = await order(p2, "active", "2026-03-10", adam, CATALOGUE);
    const sr4 = await order(p3, "draft", "2025-12-31", clinic);
    const sr5 = await order(p2, "on-hold", "2026-03-31T23:59:59Z", bev);

    // Statuses and stages are the lab's to write; the dentist finds them.
    const bench = fhirClient(server, "acme", tokens.lab_admin);
    const task = (focus: any, status: string, owner: any, stage: string) =>
      create({
        resourceType: "Task",
        status,
        intent: "order",
        focus: ref(focus),
        owner: ref(owner),
        businessStatus: { coding: [{ system: STAGES, code: stage }] },
      }, bench);
    const t1 = await task(sr1, "requested", lab, "design");
    const t2 = await task(sr1, "in-progress", adam, "milling");
    const t3 = await task(sr3, "in-progress", lab, "design");
    const t4 = await task(sr2, "completed", clinic, "shipped");

    const ids = (...rs: any[]) => sorted(rs.map((r) => r.id));
    const cases = (type: string, table: [Record<string, string>, any[]][]) =>
      t.step(`${type}: ${table.length} queries`, async (s) => {
        for (const [params, expected] of table) {
          const name = new URLSearchParams(params).toString();
          await s.step(name, async () => {
            assert.deepEqual(await find(type, params), ids(...expected));
          });
        }
      });

    await cases("ServiceRequest", [
      [{ patient: `Patient/${p1.id}` }, [sr1, sr2]],
      [{ patient: p1.id }, [sr1, sr2]],
      [{ patient: p1.id, status: "active" }, [sr1]],
      [{ status: "active" }, [sr1, sr3]],
      [{ status: "active,on-hold" }, [sr1, sr3, sr5]],
      [{ authored: "ge2026-03" }, [sr2, sr3, sr5]],
      [{ authored: "eq2026-03" }, [sr2, sr3, sr5]],
      [{ authored: "lt2026-01" }, [sr4]],
      [{ authored: "2026" }, [sr1, sr2, sr3, sr5]],
      [{ authored: "gt2026-03-31T23:59Z" }, []],
      [{ authored: "eq2026-03-31T23:59Z" }, [sr5]],
      [{ authored: "gt2026-03-31T23:59:00Z" }, [sr5]],
      [{ requester: `Practitioner/${adam.id}` }, [sr1, sr3]],
      [{ requester: bev.id }, [sr2, sr5]],
      [{ requester: `Organization/${clinic.id}` }, [sr4]],
      [{ requester: `${adam.id},${clinic.id}` }, [sr1, sr3, sr4]],
      [{ code: `${SNOMED}|crown` }, [sr1]],
      [{ code: "crown" }, [sr1, sr3]],
      [{ code: `${CATALOGUE}|` }, [sr3]],
      [{ _lastUpdated: `ge${sr3.meta.lastUpdated}` }, [sr3, sr4, sr5]],
      [{ _lastUpdated: `lt${sr3.meta.lastUpdated}` }, [sr1, sr2]],
      [{ _lastUpdated: "eq2026-12-03" }, [sr1, sr2, sr3, sr4, sr5]],
      [{ _lastUpdated: "gt2026-12-03" }, []],
    ]);

    await cases("Task", [
      [{ focus: `ServiceRequest/${sr1.id}` }, [t1, t2]],
      [{ focus: sr1.id }, [t1, t2]],
      [{ status: "in-progress" }, [t2, t3]],
      [{ status: "in-progress", focus: `ServiceRequest/${sr1.id}` }, [t2]],
      [{ owner: `Organization/${lab.id}` }, [t1, t3]],
      [{ owner: adam.id }, [t2]],
      [{ "business-status": `${STAGES}|design` }, [t1, t3]],
      [{ "business-status": "design,shipped" }, [t1, t3, t4]],
      [{ "business-status": "other|design" }, []],
      [{ _lastUpdated: `gt${t3.meta.lastUpdated}` }, [t4]],
      [{ _lastUpdated: `le${t1.meta.lastUpdated}` }, [t1]],
    ]);

    await cases("Patient", [
      [{ identifier: `${MRN}|12345` }, [p1]],
      [{ identifier: "12345" }, [p1, p2]],
      [{ identifier: "|A-1" }, [p4]],
      [{ family: "chalmers" }, [p1, p2]],
      [{ family: "CHALMERS" }, [p1, p2]],
      [{ family: "Muller" }, [p4]],
      [{ family: "Van de  Heuvel" }, [p3]],
      [{ family: "chalm" }, []],
      [{ birthdate: "1974" }, [p1, p2, p4]],
      [{ birthdate: "1974-12" }, [p1, p2]],
      [{ birthdate: "1974-12-25" }, [p1]],
      [{ birthdate: "eq1944-11-17" }, [p3]],
      [{ family: "chalmers", birthdate: "1974-12-03" }, [p2]],
    ]);

    await t.step("a refused query is a 400 naming the parameter", async () => {
      const strict = { Prefer: "handling=strict" };
      for (
        const [query, expression, headers] of [
          ["Patient?birthdate=ge1974", "birthdate"],
          ["ServiceRequest?status=active&colour=red", "colour", strict],
          ["Task?modified=yesterday", "modified"],
        ] as const
      ) {
        const path = `/fhir/acme/${query}`;
        const res = await call(server.url, "GET", path, token, undefined, {
          ...headers,
        });
        const outcome = fhirBody(res, 400);
        assert.equal(outcome.issue[0].code, "invalid");
        assert.deepEqual(outcome.issue[0].expression, [expression]);
      }
    });

    await t.step("an unknown parameter is ignored and reported", async () => {
      for (const Prefer of [undefined, "handling=lenient"]) {
        const first: any = await client.search({
          resourceType: "ServiceRequest",
          searchParams: { status: "active", colour: "vermilion", _count: 1 },
          options: Prefer ? { headers: { Prefer } } : {},
        });
        // Links carry only the parameters used, so paging needs no Prefer.
        for (const link of first.link) assert.doesNotMatch(link.url, /colour/);
        const outcome = first.entry.pop();
        assert.equal(outcome.search.mode, "outcome");
        assert.equal(outcome.resource.resourceType, "OperationOutcome");
        assert.equal(outcome.resource.issue[0].severity, "warning");
        assert.deepEqual(outcome.resource.issue[0].expression, ["colour"]);
        assert.doesNotMatch(JSON.stringify(outcome), /vermilion/);
        const second = await client.nextPage({ bundle: first });
        assert.deepEqual(
          [...idsOf(first), ...idsOf(second)].sort(),
          ids(sr1, sr3),
        );
      }
    });

    await t.step("a search with nothing unknown has no outcome", async () => {
      const bundle: any = await client.search({
        resourceType: "ServiceRequest",
        searchParams: { status: "active" },
        options: { headers: { Prefer: "handling=strict" } },
      });
      assert.deepEqual(idsOf(bundle), ids(sr1, sr3));
    });

    await t.step("POST _search reads the form body", async () => {
      const bundle = await client.search({
        resourceType: "Task",
        searchParams: {
          status: "in-progress",
          owner: `Organization/${lab.id}`,
        },
        options: { postSearch: true },
      });
      assert.deepEqual(idsOf(bundle), ids(t3));
      const form = { "Content-Type": "application/x-www-form-urlencoded" };
      const path = "/fhir/acme/Task/_search?status=completed";
      const res = await call(server.url, "POST", path, token, "focus=", form);
      assert.deepEqual(fhirBody(res, 400).issue[0].expression, ["focus"]);
      const body = `focus=${sr2.id}`;
      const found = await call(server.url, "POST", path, token, body, form);
      assert.deepEqual(idsOf(fhirBody(found, 200)), ids(t4));
    });
  } finally {
    await server.close();
  }
});

type Made = { id: string; status: string; month: number; doctor: number };

Deno.test("[search] next links walk every match exactly once", async (t) => {
  const server = await startTestServer();
  try {
    const { tokens } = await setupLab(server, "acme");
    const client = fhirClient(server, "acme", tokens.dentist);
    const create = (body: any, via = client): Promise<any> => {
      server.clock.advance(1000);
      return via.create({ resourceType: body.resourceType, body });
    };
    // "Smith Smithy" sits twice in the name index, with others in between.
    const doctors: any[] = [];
    for (const family of ["Smith", "Smart", "Smith", "Smart", "Smith"]) {
      const name = [{ family, given: [`${family}y`] }];
      doctors.push(await create({ resourceType: "Practitioner", name }));
    }
    const patient = await create({ resourceType: "Patient", active: true });
    const crown = (system: string) => ({ system, code: "crown" });
    const made: Made[] = [];
    for (let i = 0; i < 23; i++) {
      const status = ["active", "draft", "on-hold"][i % 3];
      const m = { status, month: (i % 12) + 1, doctor: i % 5 };
      const created = await create({
        resourceType: "ServiceRequest",
        status,
        intent: "order",
        subject: { reference: `Patient/${patient.id}` },
        requester: { reference: `Practitioner/${doctors[m.doctor].id}` },
        authoredOn: `2026-${String(m.month).padStart(2, "0")}-15`,
        // Two codings of one code: two index entries per record.
        code: { coding: [crown(SNOMED), crown(CATALOGUE)] },
      });
      made.push({ ...m, id: created.id });
    }

    const all = () => true;
    const is = (status: string) => (m: Made) => m.status === status;
    const walks: Record<string, [object, (m: Made) => boolean]> = {
      "no criteria": [{ _count: 4 }, all],
      "one token": [{ status: "active", _count: 3 }, is("active")],
      "a page size of one": [{ status: "draft", _count: 1 }, is("draft")],
      "a comma OR": [
        { status: "active,draft", _count: 2 },
        (m) => !is("on-hold")(m),
      ],
      "a date range": [
        { authored: "ge2026-06", _count: 2 },
        (m) => m.month > 5,
      ],
      "a reference": [{ patient: patient.id, _count: 5 }, all],
      "plain ids of a many-target reference": [{
        requester: `${doctors[0].id},${doctors[1].id}`,
        _count: 2,
      }, (m) => m.doctor < 2],
      "a code held twice per record": [{ code: "crown", _count: 1 }, all],
      "an OR of both codings": [{
        code: `${SNOMED}|crown,${CATALOGUE}|crown`,
        _count: 3,
      }, all],
    };
    for (const [name, [params, keep]] of Object.entries(walks)) {
      await t.step(name, async () => {
        const expected = made.filter(keep).map((m) => m.id);
        assert.deepEqual(
          await walk(client, "ServiceRequest", params),
          sorted(expected),
        );
      });
    }

    await t.step("a name that matches a record twice", async () => {
      const ids = await walk(client, "Practitioner", {
        name: "smi",
        _count: 1,
      });
      assert.deepEqual(ids, sorted([0, 2, 4].map((i) => doctors[i].id)));
    });

    await t.step("_count=0 returns no entries and no next link", async () => {
      const bundle: any = await client.search({
        resourceType: "ServiceRequest",
        searchParams: { _count: 0 },
      });
      assert.deepEqual(bundle.entry, []);
      assert.deepEqual(bundle.link.map((l: any) => l.relation), ["self"]);
    });
  } finally {
    await server.close();
  }
});

Deno.test("[search] records created within one millisecond come back in creation order", async () => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const client = fhirClient(server, "acme", acme.tokens.lab_admin);
    // The test clock stands still, so every id shares its time part.
    const made: string[] = [];
    for (let i = 0; i < 12; i++) {
      const body = { resourceType: "Organization", name: `Branch ${i}` };
      made.push(
        ((await client.create({ resourceType: "Organization", body })) as any)
          .id,
      );
    }
    const bundle: any = await client.search({
      resourceType: "Organization",
      searchParams: { _count: "50" },
    });
    assert.deepEqual(bundle.entry.map((e: any) => e.resource.id), made);
  } finally {
    await server.close();
  }
});
