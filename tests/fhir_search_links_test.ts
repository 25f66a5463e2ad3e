// deno-lint-ignore-file no-explicit-any
import assert from "node:assert/strict";
import { call, setupLab, startTestServer } from "./helpers.ts";

const FAMILY = "Quillfeather";

Deno.test("[search links] a search on PHI keeps the values out of every link", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const other = await setupLab(server, "other");
    const token = acme.tokens.lab_admin;
    for (const given of ["Ann", "Bea", "Cid"]) {
      const res = await call(server.url, "POST", "/fhir/acme/Patient", token, {
        resourceType: "Patient",
        name: [{ family: FAMILY, given: [given] }],
        birthDate: "1961-04-09",
      });
      assert.equal(res.status, 201);
    }

    let next: string | undefined;
    const seen: string[] = [];

    await t.step(
      "self and next links hold a sealed _state, not the name",
      async () => {
        const res = await call(
          server.url,
          "GET",
          `/fhir/acme/Patient?family=${FAMILY}&birthdate=1961&_count=1`,
          token,
        );
        assert.equal(res.status, 200);
        const links = res.body.link.map((l: any) => l.url).join(" ");
        assert.doesNotMatch(links, new RegExp(FAMILY, "i"));
        assert.doesNotMatch(links, /1961/);
        assert.match(links, /_state=/);
        seen.push(res.body.entry[0].resource.name[0].given[0]);
        next = res.body.link.find((l: any) => l.relation === "next")?.url;
        assert.ok(next);
      },
    );

    await t.step("following next walks every match once", async () => {
      while (next) {
        const res = await call(
          server.url,
          "GET",
          next.slice(server.url.length),
          token,
        );
        assert.equal(res.status, 200);
        for (const e of res.body.entry) seen.push(e.resource.name[0].given[0]);
        next = res.body.link.find((l: any) => l.relation === "next")?.url;
      }
      assert.deepEqual(seen.sort(), ["Ann", "Bea", "Cid"]);
    });

    await t.step("a search without PHI keeps readable links", async () => {
      const res = await call(
        server.url,
        "GET",
        "/fhir/acme/Patient?_count=1",
        token,
      );
      assert.equal(res.status, 200);
      const self = res.body.link.find((l: any) => l.relation === "self").url;
      assert.match(self, /\/fhir\/acme\/Patient\?_count=1$/);
    });

    await t.step(
      "a _state opens only at the lab and type that issued it",
      async () => {
        const first = await call(
          server.url,
          "GET",
          `/fhir/acme/Patient?family=${FAMILY}&_count=1`,
          token,
        );
        const state = new URL(
          first.body.link.find((l: any) => l.relation === "next").url,
        ).searchParams.get("_state")!;
        const elsewhere = await call(
          server.url,
          "GET",
          `/fhir/other/Patient?_state=${encodeURIComponent(state)}`,
          other.tokens.lab_admin,
        );
        assert.equal(elsewhere.status, 400);
        assert.equal(elsewhere.body.issue[0].code, "invalid");
        const otherType = await call(
          server.url,
          "GET",
          `/fhir/acme/Practitioner?_state=${encodeURIComponent(state)}`,
          token,
        );
        assert.equal(otherType.status, 400);
        const tampered = state.slice(0, -2) +
          (state.endsWith("A") ? "BB" : "AA");
        const bad = await call(
          server.url,
          "GET",
          `/fhir/acme/Patient?_state=${encodeURIComponent(tampered)}`,
          token,
        );
        assert.equal(bad.status, 400);
        assert.doesNotMatch(JSON.stringify(bad.body), new RegExp(FAMILY, "i"));
      },
    );

    await t.step("a blind token parameter refuses a system alone", async () => {
      const res = await call(
        server.url,
        "GET",
        "/fhir/acme/Patient?identifier=urn:oid:1.2.36.146.595.217.0.1|",
        token,
      );
      assert.equal(res.status, 400);
      assert.equal(res.body.issue[0].expression[0], "identifier");
    });
  } finally {
    await server.close();
  }
});
