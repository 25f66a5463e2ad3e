// deno-lint-ignore-file no-explicit-any
import assert from "node:assert/strict";
import { auditSettled, call, setupLab, startTestServer } from "./helpers.ts";

const NIGHT_GUARD_SOFT = {
  code: "soft-guard",
  display: "Soft night guard",
  needs: "arch",
  materials: ["thermoplastic"],
  options: { shade: false, margin: false, pontic: false },
  stages: [
    { code: "model", display: "Model", days: 1 },
    { code: "fabricate", display: "Fabricate", days: 1 },
    { code: "ship", display: "Ship", days: 0 },
  ],
  turnaroundDays: 3,
  rushDays: 1,
};

Deno.test("[catalog] a lab starts with a catalog its admin keeps", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const other = await setupLab(server, "other");

    await t.step("a new lab has the common products with stages", async () => {
      const res = await call(
        server.url,
        "GET",
        "/labs/acme/catalog",
        acme.tokens.lab_technician,
      );
      assert.equal(res.status, 200);
      const codes = res.body.map((p: any) => p.code);
      for (
        const code of [
          "crown",
          "bridge",
          "inlay",
          "onlay",
          "veneer",
          "implant-crown",
          "custom-abutment",
          "full-denture",
          "partial-denture",
          "night-guard",
          "aligner",
          "temporary",
        ]
      ) assert.ok(codes.includes(code), code);
      const crown = res.body.find((p: any) => p.code === "crown");
      assert.equal(crown.needs, "tooth");
      assert.ok(crown.materials.includes("zirconia"));
      assert.ok(crown.stages.some((s: any) => s.checklist?.length > 0));
    });

    await t.step(
      "a lab admin adds a product, recorded in the audit trail",
      async () => {
        const res = await call(
          server.url,
          "PUT",
          "/labs/acme/catalog/soft-guard",
          acme.tokens.lab_admin,
          NIGHT_GUARD_SOFT,
        );
        assert.equal(res.status, 200);
        assert.equal(res.body.active, true);
        const read = await call(
          server.url,
          "GET",
          "/labs/acme/catalog/soft-guard",
          acme.tokens.dentist,
        );
        assert.equal(read.status, 200);
        assert.equal(read.body.turnaroundDays, 3);
        await auditSettled(server);
        let found = false;
        for await (
          const e of server.kv.list<any>({
            prefix: ["lab", "acme", "audit_events"],
          })
        ) {
          if (
            e.value.entity?.type === "CatalogProduct" &&
            e.value.entity.id === "soft-guard"
          ) found = true;
        }
        assert.ok(found);
      },
    );

    await t.step("a bad product is refused with every problem", async () => {
      const res = await call(
        server.url,
        "PUT",
        "/labs/acme/catalog/bad",
        acme.tokens.lab_admin,
        {
          code: "bad",
          display: "",
          needs: "mouth",
          materials: ["unobtainium"],
          stages: [],
          turnaroundDays: -1,
          rushDays: 5,
        },
      );
      assert.equal(res.status, 400);
      assert.equal(res.body.error, "invalid");
      const missing = await call(
        server.url,
        "GET",
        "/labs/acme/catalog/bad",
        acme.tokens.lab_admin,
      );
      assert.equal(missing.status, 404);
    });

    await t.step(
      "only the lab's admins change it, only its members read it",
      async () => {
        const tech = await call(
          server.url,
          "PUT",
          "/labs/acme/catalog/soft-guard",
          acme.tokens.lab_technician,
          NIGHT_GUARD_SOFT,
        );
        assert.equal(tech.status, 403);
        const foreign = await call(
          server.url,
          "PUT",
          "/labs/acme/catalog/soft-guard",
          other.tokens.lab_admin,
          NIGHT_GUARD_SOFT,
        );
        assert.equal(foreign.status, 403);
        const foreignRead = await call(
          server.url,
          "GET",
          "/labs/acme/catalog",
          other.tokens.lab_technician,
        );
        assert.equal(foreignRead.status, 403);
        const officer = await call(
          server.url,
          "GET",
          "/labs/acme/catalog",
          acme.tokens.compliance_officer,
        );
        assert.equal(officer.status, 403);
        const anonymous = await call(server.url, "GET", "/labs/acme/catalog");
        assert.equal(anonymous.status, 401);
      },
    );
  } finally {
    await server.close();
  }
});
