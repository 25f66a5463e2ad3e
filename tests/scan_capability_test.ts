// deno-lint-ignore-file no-explicit-any
/**
 * The CapabilityStatement tells a practice system exactly what it can do
 * with `Binary` and `DocumentReference`: every interaction it lists
 * works, and every other FHIR R4 interaction is refused.
 */
import assert from "node:assert/strict";
import { TYPE_INTERACTIONS } from "../fhir/capability.ts";
import { scanBytes } from "../scripts/scan_client.ts";
import { call, fhirBody, setupLab, startTestServer } from "./helpers.ts";

// Every restful interaction of FHIR R4 at type and instance level.
const ALL = TYPE_INTERACTIONS;

Deno.test("[scan] the CapabilityStatement lists exactly the Binary and DocumentReference interactions that work", async (t) => {
  const server = await startTestServer();
  try {
    const { tokens } = await setupLab(server, "acme");
    const token = tokens.dentist;
    const bytes = scanBytes(5, 2000);
    const binary = fhirBody(
      await call(server.url, "POST", "/fhir/acme/Binary", token, {
        resourceType: "Binary",
        contentType: "model/stl",
        data: btoa(String.fromCharCode(...bytes)),
      }),
      201,
    );
    const document = {
      resourceType: "DocumentReference",
      status: "current",
      content: [{ attachment: { url: `Binary/${binary.id}` } }],
    };
    const doc = fhirBody(
      await call(server.url, "POST", "/fhir/acme/DocumentReference", token, {
        ...document,
      }),
      201,
    );
    const metadata = await call(server.url, "GET", "/fhir/acme/metadata");
    const listed = (type: string): string[] =>
      metadata.body.rest[0].resource
        .find((r: any) => r.type === type)
        .interaction.map((i: any) => i.code);

    /** One request per interaction: the status it got. */
    const attempt = async (type: string, id: string, body: unknown) => {
      const base = `/fhir/acme/${type}`;
      const requests: Record<
        string,
        [string, string, unknown?, Record<string, string>?]
      > = {
        read: ["GET", `${base}/${id}`],
        vread: ["GET", `${base}/${id}/_history/1`],
        update: ["PUT", `${base}/${id}`, { ...body as object, id }],
        patch: ["PATCH", `${base}/${id}`, [], {
          "Content-Type": "application/json-patch+json",
        }],
        delete: ["DELETE", `${base}/${id}`],
        "history-instance": ["GET", `${base}/${id}/_history`],
        "history-type": ["GET", `${base}/_history`],
        create: ["POST", base, body],
        "search-type": ["GET", `${base}?_id=${id}`],
      };
      const statuses: Record<string, number> = {};
      for (const code of ALL) {
        const [method, path, payload, headers] = requests[code];
        const res = await call(
          server.url,
          method,
          path,
          token,
          payload,
          headers,
        );
        statuses[code] = res.status;
      }
      return statuses;
    };

    for (
      const [type, id, body, expected] of [
        ["Binary", binary.id, {
          resourceType: "Binary",
          contentType: "image/png",
          data: "AAEC",
        }, [
          "read",
          "vread",
          "create",
          "search-type",
          "history-instance",
        ]],
        ["DocumentReference", doc.id, document, [
          "read",
          "vread",
          "update",
          "patch",
          "delete",
          "create",
          "search-type",
          "history-instance",
          "history-type",
        ]],
      ] as const
    ) {
      await t.step(
        `${type}: listed interactions work, others are refused`,
        async () => {
          assert.deepEqual(listed(type).sort(), [...expected].sort());
          const statuses = await attempt(type, id, body);
          for (const code of ALL) {
            const works = statuses[code] >= 200 && statuses[code] < 300;
            assert.equal(
              works,
              listed(type).includes(code),
              `${type} ${code}: ${statuses[code]}`,
            );
          }
        },
      );
    }

    await t.step(
      "a vread of a Binary returns its bytes, like a read",
      async () => {
        const res = await fetch(
          `${server.url}/fhir/acme/Binary/${binary.id}/_history/1`,
          {
            headers: { Authorization: `Bearer ${token}`, Range: "bytes=10-19" },
          },
        );
        assert.equal(res.status, 206);
        assert.deepEqual(
          new Uint8Array(await res.arrayBuffer()),
          bytes.subarray(10, 20),
        );
        const missing = await call(
          server.url,
          "GET",
          `/fhir/acme/Binary/${binary.id}/_history/2`,
          token,
        );
        fhirBody(missing, 404);
      },
    );

    await t.step("the Binary entry says how files go in and out", () => {
      const entry = metadata.body.rest[0].resource.find((r: any) =>
        r.type === "Binary"
      );
      assert.match(entry.documentation, /Range/);
      assert.match(entry.documentation, /2 GiB/);
    });
  } finally {
    await server.close();
  }
});
