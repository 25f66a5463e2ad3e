// deno-lint-ignore-file no-explicit-any
import assert from "node:assert/strict";
import type { Client } from "fhir-kit-client";
import {
  call,
  fhirBody,
  fhirClient,
  otherPractice,
  setupLab,
  startTestServer,
  type TestServer,
  walkPages as walk,
} from "./helpers.ts";

const SUBSETTED =
  "http://terminology.hl7.org/CodeSystem/v3-ObservationValue|SUBSETTED";

interface Order {
  id: string;
  status: string;
  authored?: string;
  lastUpdated: string;
}

async function orders(server: TestServer, client: Client) {
  const made: Order[] = [];
  const patient: any = await client.create({
    resourceType: "Patient",
    body: { resourceType: "Patient", active: true },
  });
  const create = async (status: string, authoredOn?: string) => {
    server.clock.advance(1000);
    const body = {
      resourceType: "ServiceRequest",
      status,
      intent: "order",
      code: { text: "Crown" },
      subject: { reference: `Patient/${patient.id}` },
      ...(authoredOn ? { authoredOn } : {}),
    };
    const r: any = await client.create({
      resourceType: body.resourceType,
      body,
    });
    made.push({
      id: r.id,
      status,
      authored: authoredOn,
      lastUpdated: r.meta.lastUpdated,
    });
  };
  // Dates out of creation order, a tie, a missing one, mixed precision.
  await create("active", "2026-03-10");
  await create("draft", "2025-12-31");
  await create("active", "2026-03-10");
  await create("on-hold", "2026-01-15T09:00:00Z");
  await create("completed");
  await create("draft", "2026-07");
  await create("active", "2026-01-15T08:00:00Z");
  return { made: Object.assign(made, { patient: patient.id }), create };
}

const byAuthored = (a: Order, b: Order) =>
  a.authored === b.authored
    ? a.id < b.id ? -1 : 1
    : a.authored === undefined
    ? 1
    : b.authored === undefined
    ? -1
    : Date.parse(a.authored) - Date.parse(b.authored);

Deno.test("[search] _sort orders by date and status across pages", async (t) => {
  const server = await startTestServer();
  try {
    const { tokens } = await setupLab(server, "acme");
    const client = fhirClient(server, "acme", tokens.dentist);
    const { made, create } = await orders(server, client);
    const ids = (list: Order[]) => list.map((o) => o.id);

    await t.step("authored, going up, missing last", async () => {
      const got = await walk(client, "ServiceRequest", {
        _sort: "authored",
        _count: 2,
      });
      assert.deepEqual(got, ids([...made].sort(byAuthored)));
    });

    await t.step("-authored, going down, missing still last", async () => {
      const got = await walk(client, "ServiceRequest", {
        _sort: "-authored",
        _count: 3,
      });
      const down = made.filter((o) => o.authored).sort((a, b) =>
        byAuthored(b, a) || (a.id < b.id ? -1 : 1)
      );
      // Ties keep id order whichever way the dates go.
      const tie = down.findIndex((o) => o.authored === "2026-03-10");
      down.splice(tie, 2, ...down.slice(tie, tie + 2).reverse());
      const missing = made.filter((o) => !o.authored);
      assert.deepEqual(got, ids([...down, ...missing]));
    });

    await t.step("status, then -_lastUpdated", async () => {
      const got = await walk(client, "ServiceRequest", {
        _sort: "status,-_lastUpdated",
        _count: 4,
      });
      const want = [...made].sort((a, b) =>
        a.status === b.status
          ? b.lastUpdated.localeCompare(a.lastUpdated)
          : a.status.localeCompare(b.status)
      );
      assert.deepEqual(got, ids(want));
    });

    await t.step("_sort combines with a filter", async () => {
      const got = await walk(client, "ServiceRequest", {
        status: "active,draft",
        _sort: "-_lastUpdated",
        _count: 2,
      });
      const want = made.filter((o) => ["active", "draft"].includes(o.status))
        .reverse();
      assert.deepEqual(got, ids(want));
    });

    await t.step(
      "records written while paging never shift a page",
      async () => {
        const before = [...made];
        const got = await walk(
          client,
          "ServiceRequest",
          { _sort: "authored", _count: 2 },
          async (page) => {
            if (page !== 1) return;
            await create("active", "2020-01-01"); // sorts before the cursor
            await create("active", "2030-01-01"); // sorts after it
          },
        );
        const late = made.at(-1)!, early = made.at(-2)!;
        assert.ok(!got.includes(early.id));
        assert.deepEqual(
          got,
          ids([...before, late].sort(byAuthored)),
        );
      },
    );

    await t.step("Task sorts on modified", async () => {
      const bench = fhirClient(server, "acme", tokens.lab_admin);
      const made: string[] = [];
      for (const at of ["2026-05-02", "2026-05-01", "2026-05-03"]) {
        const body = {
          resourceType: "Task",
          status: "requested",
          intent: "order",
          lastModified: `${at}T10:00:00Z`,
        };
        made.push(
          ((await bench.create({ resourceType: "Task", body })) as any).id,
        );
      }
      const got = await walk(bench, "Task", { _sort: "-modified" });
      assert.deepEqual(got, [made[2], made[0], made[1]]);
    });

    await t.step("occurrence and period: found and sorted", async () => {
      const at = async (type: string, body: any, via = client) =>
        ((await via.create({ resourceType: type, body })) as any).id;
      const order = (occurrence: object) =>
        at("ServiceRequest", {
          resourceType: "ServiceRequest",
          status: "active",
          intent: "order",
          code: { text: "Bridge" },
          subject: { reference: `Patient/${made.patient}` },
          ...occurrence,
        });
      const june = await order({ occurrenceDateTime: "2026-06-10" });
      const spring = await order({
        occurrencePeriod: { start: "2026-03-01", end: "2026-05-31" },
      });
      const open = await order({ occurrencePeriod: { start: "2026-08-01" } });
      const find = async (
        params: Record<string, string>,
        type = "ServiceRequest",
      ) => await walk(client, type, params);
      assert.deepEqual(await find({ occurrence: "2026-06" }), [june]);
      assert.deepEqual(await find({ occurrence: "eq2026-04" }), []);
      assert.deepEqual(await find({ occurrence: "ap2026-04-15" }), [spring]);
      assert.deepEqual(await find({ occurrence: "gt2027" }), [open]);
      assert.deepEqual(
        await find({ occurrence: "ge2026-01", _sort: "occurrence" }),
        [spring, june, open],
      );
      assert.deepEqual(
        await find({ occurrence: "ge2026-01", _sort: "-occurrence" }),
        [open, june, spring],
      );

      const bench = fhirClient(server, "acme", tokens.lab_admin);
      const task = (executionPeriod: object) =>
        at("Task", {
          resourceType: "Task",
          status: "in-progress",
          intent: "order",
          executionPeriod,
        }, bench);
      const late = await task({ start: "2026-09-01T08:00:00Z" });
      const early = await task({
        start: "2026-02-01T08:00:00Z",
        end: "2026-02-03T17:00:00Z",
      });
      const tasks = (params: Record<string, string>) =>
        walk(bench, "Task", params);
      assert.deepEqual(await tasks({ period: "2026-02-02" }), []);
      assert.deepEqual(await tasks({ period: "ap2026-02-02" }), [early]);
      assert.deepEqual(await tasks({ period: "sa2026-06" }), [late]);
      assert.deepEqual(
        await tasks({ period: "ge2026", _sort: "period" }),
        [early, late],
      );
    });

    await t.step("anything else is refused with 400", async () => {
      for (
        const query of [
          "ServiceRequest?_sort=requester",
          "ServiceRequest?_sort=identifier",
          "ServiceRequest?_sort=colour",
          "Patient?_sort=birthdate",
          "Task?_sort=authored",
        ]
      ) {
        const res = await call(
          server.url,
          "GET",
          `/fhir/acme/${query}`,
          tokens.dentist,
        );
        const outcome = fhirBody(res, 400);
        assert.equal(outcome.issue[0].code, "not-supported");
        assert.deepEqual(outcome.issue[0].expression, ["_sort"]);
      }
    });
  } finally {
    await server.close();
  }
});

Deno.test("[search] _summary=count and _total report how many match", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const client = fhirClient(server, "acme", acme.tokens.dentist);
    const { made } = await orders(server, client);
    const active = made.filter((o) => o.status === "active").length;
    const search = (searchParams: Record<string, string>): Promise<any> =>
      client.search({ resourceType: "ServiceRequest", searchParams });

    await t.step("_summary=count: the total and no entries", async () => {
      const bundle = await search({ status: "active", _summary: "count" });
      assert.equal(bundle.type, "searchset");
      assert.equal(bundle.total, active);
      assert.deepEqual(bundle.entry ?? [], []);
      assert.deepEqual(bundle.link.map((l: any) => l.relation), ["self"]);
      assert.equal((await search({ _summary: "count" })).total, made.length);
      const none = await search({ status: "revoked", _summary: "count" });
      assert.equal(none.total, 0);
    });

    await t.step("_total=accurate counts all, on every page", async () => {
      const first = await search({ _total: "accurate", _count: "2" });
      assert.equal(first.total, made.length);
      assert.equal(first.entry.length, 2);
      const second: any = await client.nextPage({ bundle: first });
      assert.equal(second.total, made.length);
      assert.equal(second.entry.length, 2);
    });

    await t.step("_total=none and the default give no total", async () => {
      assert.equal((await search({ _total: "none" })).total, undefined);
      assert.equal((await search({ status: "active" })).total, undefined);
    });

    await t.step("another lab's records are not counted", async () => {
      const beta = await setupLab(server, "beta");
      const other = fhirClient(server, "beta", beta.tokens.dentist);
      await orders(server, other);
      const res = await call(
        server.url,
        "GET",
        "/fhir/acme/ServiceRequest?_summary=count",
        acme.tokens.lab_admin,
      );
      assert.equal(fhirBody(res, 200).total, made.length);
    });

    await t.step("another practice's records are not counted", async () => {
      const elsewhere = await otherPractice(server);
      await orders(server, elsewhere);
      assert.equal((await search({ _summary: "count" })).total, made.length);
      const sorted = await walk(client, "ServiceRequest", {
        _sort: "status",
        _count: 3,
      });
      assert.deepEqual(sorted.sort(), made.map((o) => o.id).sort());
    });

    await t.step("past 1000 matches it is refused as too costly", async () => {
      const admin = fhirClient(server, "acme", acme.tokens.lab_admin);
      const branch = (i: number) =>
        admin.create({
          resourceType: "Organization",
          body: { resourceType: "Organization", name: `Branch ${i}` },
        });
      for (let i = 0; i < 1000; i += 50) {
        await Promise.all(Array.from({ length: 50 }, (_, j) => branch(i + j)));
      }
      const count = (query: string) =>
        call(
          server.url,
          "GET",
          `/fhir/acme/Organization?${query}`,
          acme.tokens.lab_admin,
        );
      assert.equal(fhirBody(await count("_summary=count"), 200).total, 1000);
      await branch(1000);
      for (const query of ["_summary=count", "_sort=-_lastUpdated"]) {
        const outcome = fhirBody(await count(query), 400);
        assert.equal(outcome.issue[0].code, "too-costly");
        assert.match(outcome.issue[0].diagnostics, /1000/);
      }
      // Paging without a total or an order still works.
      const page = fhirBody(await count("_count=100"), 200);
      assert.equal(page.entry.length, 100);
    });

    await t.step("unsupported values are refused with 400", async () => {
      for (const query of ["_summary=true", "_total=some"]) {
        const res = await call(
          server.url,
          "GET",
          `/fhir/acme/ServiceRequest?${query}`,
          acme.tokens.dentist,
        );
        const outcome = fhirBody(res, 400);
        assert.deepEqual(outcome.issue[0].expression, [query.split("=")[0]]);
      }
    });
  } finally {
    await server.close();
  }
});

Deno.test("[search] _elements keeps the named elements and marks the subset", async (t) => {
  const server = await startTestServer();
  try {
    const { tokens } = await setupLab(server, "acme");
    const client = fhirClient(server, "acme", tokens.dentist);
    const { made } = await orders(server, client);

    await t.step("only status, code, id, meta and resourceType", async () => {
      const bundle: any = await client.search({
        resourceType: "ServiceRequest",
        searchParams: { _elements: "status,code", _count: 3 },
      });
      assert.equal(bundle.entry.length, 3);
      for (const { resource } of bundle.entry) {
        assert.deepEqual(Object.keys(resource).sort(), [
          "code",
          "id",
          "meta",
          "resourceType",
          "status",
        ]);
        assert.ok(resource.meta.versionId);
        const tags = resource.meta.tag.map((t: any) => `${t.system}|${t.code}`);
        assert.deepEqual(tags, [SUBSETTED]);
      }
      const next: any = await client.nextPage({ bundle });
      assert.ok(next.entry[0].resource.meta.tag);
      assert.equal(next.entry[0].resource.intent, undefined);
    });

    await t.step("a read still returns the whole record", async () => {
      const full: any = await client.read({
        resourceType: "ServiceRequest",
        id: made[0].id,
      });
      assert.equal(full.intent, "order");
      assert.equal(full.meta.tag, undefined);
    });

    await t.step("a path instead of a name is refused", async () => {
      const res = await call(
        server.url,
        "GET",
        "/fhir/acme/ServiceRequest?_elements=ServiceRequest.status",
        tokens.dentist,
      );
      const outcome = fhirBody(res, 400);
      assert.deepEqual(outcome.issue[0].expression, ["_elements"]);
    });
  } finally {
    await server.close();
  }
});
