// deno-lint-ignore-file no-explicit-any
/**
 * The terminology LHCMS serves: its own code systems, value sets and
 * extension definitions without sign-in, each lab's catalog code systems
 * to its members only, and the HTML index.
 */
import assert from "node:assert/strict";
import { catalogSystem } from "../domain/catalog.ts";
import { stageSystem } from "../domain/case_workflow.ts";
import { servedTerminology } from "../fhir/served_terminology.ts";
import {
  auditSettled,
  call,
  fhirBody,
  setupLab,
  startTestServer,
} from "./helpers.ts";

const VITA = "https://lhcms.dev/fhir/CodeSystem/vita-classical";

function assertLooksValid(resource: any, type: string) {
  assert.equal(resource.resourceType, type);
  assert.equal(resource.status, "active");
  assert.match(resource.url, /^https:\/\/lhcms\.dev\/fhir\//);
  assert.equal(resource.id, resource.url.split("/").pop());
  assert.match(resource.name, /^[A-Z][A-Za-z0-9]*$/);
  if (type === "CodeSystem") {
    assert.equal(resource.content, "complete");
    assert.ok(resource.concept.length > 0, resource.url);
    assert.equal(resource.count, resource.concept.length);
    for (const concept of resource.concept) {
      assert.ok(concept.code && concept.display, JSON.stringify(concept));
    }
  }
  if (type === "ValueSet") assert.ok(resource.compose.include.length > 0);
  if (type === "StructureDefinition") {
    assert.equal(resource.fhirVersion, "4.0.1");
    assert.ok(resource.differential.element.length > 0);
  }
}

Deno.test("[terminology] LHCMS's code systems, value sets and extensions are served without sign-in", async (t) => {
  const server = await startTestServer();
  try {
    await setupLab(server, "acme");
    const served = servedTerminology();

    await t.step("each resource reads at its type and id", async () => {
      assert.ok(served.length >= 6);
      for (const r of served) {
        const path = `/fhir/acme/${r.resourceType}/${r.id}`;
        const body = fhirBody(await call(server.url, "GET", path), 200);
        assertLooksValid(body, r.resourceType);
        assert.equal(body.url, r.url);
      }
    });

    await t.step(
      "every LHCMS-wide URL the vendor docs name is served",
      async () => {
        const named = new Set<string>();
        for (
          const doc of ["docs/fhir-mapping.md"]
        ) {
          const text = await Deno.readTextFile(doc);
          const urls = text.match(
            /https:\/\/lhcms\.dev\/fhir\/(CodeSystem|ValueSet|StructureDefinition)\/[a-z0-9-]+/g,
          );
          for (const url of urls ?? []) named.add(url);
        }
        assert.ok(named.size >= 15, `only ${named.size} URLs found`);
        const urls = new Set(served.map((r) => r.url));
        for (const url of named) assert.ok(urls.has(url), `${url} not served`);
      },
    );

    await t.step("an unknown id is a 404 OperationOutcome", async () => {
      for (const type of ["CodeSystem", "ValueSet", "StructureDefinition"]) {
        const res = await call(server.url, "GET", `/fhir/acme/${type}/nope`);
        const body = fhirBody(res, 404);
        assert.equal(body.resourceType, "OperationOutcome");
        assert.equal(body.issue[0].code, "not-found");
      }
    });

    await t.step("search by url returns a searchset Bundle", async () => {
      const search = (query: string) =>
        call(server.url, "GET", `/fhir/acme/CodeSystem?${query}`);
      const found = fhirBody(await search(`url=${VITA}`), 200);
      assert.equal(found.type, "searchset");
      assert.equal(found.entry.length, 1);
      assert.equal(found.entry[0].resource.url, VITA);
      assert.match(
        found.entry[0].fullUrl,
        /\/fhir\/acme\/CodeSystem\/vita-classical$/,
      );
      const versioned = fhirBody(await search(`url=${VITA}|1.0.0`), 200);
      assert.equal(versioned.entry.length, 1);
      const otherVersion = fhirBody(await search(`url=${VITA}|9.9.9`), 200);
      assert.equal(otherVersion.entry.length, 0);
      const none = fhirBody(await search("url=https://example.org/x"), 200);
      assert.equal(none.entry.length, 0);
      const sd = await call(
        server.url,
        "GET",
        `/fhir/acme/StructureDefinition?url=${VITA}`,
      );
      assert.equal(fhirBody(sd, 200).entry.length, 0);
      const bad = fhirBody(await search("name=VITA"), 400);
      assert.equal(bad.issue[0].code, "invalid");
    });

    await t.step("the CapabilityStatement lists the three types", async () => {
      const body = fhirBody(
        await call(server.url, "GET", "/fhir/acme/metadata"),
        200,
      );
      for (const type of ["CodeSystem", "ValueSet", "StructureDefinition"]) {
        const entry = body.rest[0].resource.find((r: any) => r.type === type);
        assert.ok(entry, type);
        assert.deepEqual(
          entry.interaction.map((i: any) => i.code),
          ["read", "search-type"],
        );
      }
    });

    await t.step("the HTML index links every resource", async () => {
      const res = await call(server.url, "GET", "/terminology");
      assert.equal(res.status, 200);
      assert.match(res.headers.get("Content-Type") ?? "", /^text\/html/);
      for (const r of served) {
        const link = `/terminology/${r.resourceType}/${r.id}`;
        assert.ok(res.body.includes(`href="${link}"`), link);
        const body = fhirBody(await call(server.url, "GET", link), 200);
        assert.equal(body.url, r.url);
      }
    });

    await t.step("the stored FHIR types still need sign-in", async () => {
      const res = await call(server.url, "GET", "/fhir/acme/Patient");
      assert.equal(fhirBody(res, 401).issue[0].code, "login");
    });
    await auditSettled(server);
  } finally {
    await server.close();
  }
});

Deno.test("[terminology] a lab's product and stage code systems are for its members", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const other = await setupLab(server, "other");
    const products = "/fhir/acme/CodeSystem/products";
    const stages = "/fhir/acme/CodeSystem/stages";

    await t.step("sign-in is required", async () => {
      for (const path of [products, stages]) {
        const res = await call(server.url, "GET", path);
        assert.equal(fhirBody(res, 401).issue[0].code, "login");
      }
      const search = await call(
        server.url,
        "GET",
        `/fhir/acme/CodeSystem?url=${catalogSystem("acme")}`,
      );
      assert.equal(search.status, 401);
    });

    await t.step("another lab's members get 403", async () => {
      for (const path of [products, stages]) {
        const res = await call(server.url, "GET", path, other.tokens.lab_admin);
        assert.equal(fhirBody(res, 403).issue[0].code, "forbidden");
      }
    });

    await t.step(
      "products lists the lab's catalog, changes included",
      async () => {
        const added = await call(
          server.url,
          "PUT",
          "/labs/acme/catalog/soft-guard",
          acme.tokens.lab_admin,
          {
            code: "soft-guard",
            display: "Soft night guard",
            needs: "arch",
            materials: ["thermoplastic"],
            stages: [
              { code: "thermoform", display: "Thermoform", days: 1 },
              { code: "ship", display: "Ship", days: 0 },
            ],
            turnaroundDays: 3,
            rushDays: 1,
          },
        );
        assert.equal(added.status, 200);
        for (const token of [acme.tokens.lab_technician, acme.tokens.dentist]) {
          const body = fhirBody(
            await call(server.url, "GET", products, token),
            200,
          );
          assertLooksValid(body, "CodeSystem");
          assert.equal(body.url, catalogSystem("acme"));
          const codes = body.concept.map((c: any) => c.code);
          for (const code of ["crown", "bridge", "night-guard", "soft-guard"]) {
            assert.ok(codes.includes(code), code);
          }
        }
        const otherLab = fhirBody(
          await call(
            server.url,
            "GET",
            "/fhir/other/CodeSystem/products",
            other.tokens.lab_technician,
          ),
          200,
        );
        assert.ok(!otherLab.concept.some((c: any) => c.code === "soft-guard"));
      },
    );

    await t.step("stages lists every stage code of the products", async () => {
      const body = fhirBody(
        await call(server.url, "GET", stages, acme.tokens.viewer),
        200,
      );
      assert.equal(body.url, stageSystem("acme"));
      const codes = body.concept.map((c: any) => c.code);
      for (const code of ["model", "quality-check", "ship", "thermoform"]) {
        assert.ok(codes.includes(code), code);
      }
      assert.equal(new Set(codes).size, codes.length);
    });

    await t.step("search by the lab's url finds it for members", async () => {
      const res = await call(
        server.url,
        "GET",
        `/fhir/acme/CodeSystem?url=${stageSystem("acme")}`,
        acme.tokens.lab_technician,
      );
      const body = fhirBody(res, 200);
      assert.equal(body.entry.length, 1);
      assert.equal(body.entry[0].resource.url, stageSystem("acme"));
    });

    await t.step("compliance officers read no catalog", async () => {
      const res = await call(
        server.url,
        "GET",
        products,
        acme.tokens.compliance_officer,
      );
      assert.equal(res.status, 403);
    });
  } finally {
    await server.close();
  }
});
