/**
 * Shade codes, roles, the orderDetail element that carries them, and the
 * conformance resources LHCMS publishes for them. The shade lists are
 * written out here again, apart from domain/shades.ts.
 */
import assert from "node:assert/strict";
import type { CodeableConcept } from "@medplum/fhirtypes";
import {
  describeShade,
  parseShade,
  parseShadeRole,
  readShadeOrderDetail,
  readShades,
  SHADE_GUIDES,
  SHADE_ROLE_EXTENSION,
  SHADE_ROLE_SYSTEM,
  SHADE_ROLE_VALUE_SET,
  type ShadeGuide,
  shadeOrderDetail,
  type ShadeRole,
  VITA_3D_MASTER_SYSTEM,
  VITA_CLASSICAL_SYSTEM,
} from "../../domain/shades.ts";
import {
  lhcmsCodeSystems,
  lhcmsTerminologyResources,
  shadeGuideCodeSystem,
  shadeRoleCodeSystem,
  shadeRoleExtensionDefinition,
  shadeRoleValueSet,
} from "../../fhir/terminology.ts";

const CLASSICAL = "A1 A2 A3 A3.5 A4 B1 B2 B3 B4 C1 C2 C3 C4 D2 D3 D4";
const MASTER = "0M1 0M2 0M3 1M1 1M2 2L1.5 2L2.5 2M1 2M2 2M3 2R1.5 2R2.5 " +
  "3L1.5 3L2.5 3M1 3M2 3M3 3R1.5 3R2.5 4L1.5 4L2.5 4M1 4M2 4M3 4R1.5 " +
  "4R2.5 5M1 5M2 5M3";
const EXPECTED: Record<ShadeGuide, string[]> = {
  "vita-classical": CLASSICAL.split(" "),
  "vita-3d-master": MASTER.split(" "),
};
const ROLES: ShadeRole[] = ["body", "incisal", "cervical", "stump"];

// Every string shaped like a shade code of either guide, to show that
// nothing outside the code systems parses.
function candidates(): string[] {
  const steps = [
    "",
    "0",
    "0.5",
    "1",
    "1.5",
    "2",
    "2.5",
    "3",
    "3.5",
    "4",
    "4.5",
    "5",
    "6",
  ];
  const letters = [..."ABCDEFGHIJKLMNOPQRSTUVWXYZ"];
  const classical = letters.flatMap((l) => steps.map((s) => l + s));
  const master = [..."0123456"].flatMap((v) =>
    letters.flatMap((l) => steps.map((s) => v + l + s))
  );
  return classical.concat(master);
}

Deno.test("[shades] every VITA shade parses to its canonical code and guide", () => {
  assert.equal(EXPECTED["vita-classical"].length, 16);
  assert.equal(EXPECTED["vita-3d-master"].length, 29);
  for (const guide of Object.keys(EXPECTED) as ShadeGuide[]) {
    assert.deepEqual(SHADE_GUIDES[guide].codes, EXPECTED[guide]);
    for (const code of EXPECTED[guide]) {
      for (const written of [code, code.toLowerCase(), ` ${code} `]) {
        assert.deepEqual(parseShade(written), {
          ok: true,
          value: { guide, code },
        }, written);
      }
      assert.equal(parseShade(code, guide).ok, true, code);
    }
  }
});

Deno.test("[shades] common ways of writing a shade are understood", () => {
  const cases = {
    "a3,5": "A3.5",
    "2l1,5": "2L1.5",
    "OM1": "0M1",
    "om3": "0M3",
    "3 m 2": "3M2",
    "B 2": "B2",
  };
  for (const [written, code] of Object.entries(cases)) {
    const parsed = parseShade(written);
    assert.equal(parsed.ok && parsed.value.code, code, written);
  }
});

Deno.test("[shades] unknown shades are refused", async (t) => {
  await t.step("codes in neither guide", () => {
    for (
      const code of [
        "A5",
        "D1",
        "B3.5",
        "E1",
        "A",
        "1M3",
        "6M1",
        "2M1.5",
        "3L2",
        "0L1.5",
        "5R2.5",
        "",
        "A3.5.",
      ]
    ) {
      const parsed = parseShade(code);
      assert.equal(parsed.ok, false, code);
      assert.match(
        !parsed.ok ? parsed.message : "",
        /is not a VITA classical or VITA 3D-Master shade/,
        code,
      );
    }
  });
  await t.step("a code of the other guide names that guide", () => {
    const parsed = parseShade("2m2", "vita-classical");
    assert.deepEqual(parsed, {
      ok: false,
      message:
        'Shade "2m2" is not a VITA classical shade (it is a VITA 3D-Master shade)',
    });
    assert.equal(parseShade("A2", "vita-3d-master").ok, false);
  });
  await t.step("nothing outside the lists parses", () => {
    const all = new Set([
      ...EXPECTED["vita-classical"],
      ...EXPECTED["vita-3d-master"],
    ]);
    const accepted = candidates().filter((c) => parseShade(c).ok);
    assert.deepEqual(new Set(accepted), all);
  });
});

Deno.test("[shades] roles parse case-insensitively and unknown roles are refused", () => {
  for (const role of ROLES) {
    assert.deepEqual(parseShadeRole(role.toUpperCase()), {
      ok: true,
      value: role,
    });
  }
  for (const role of ["enamel", "dentin", "", "bodies"]) {
    assert.equal(parseShadeRole(role).ok, false, role);
  }
  assert.deepEqual(parseShadeRole("enamel"), {
    ok: false,
    message: 'Shade role "enamel" is not one of body, incisal, cervical, stump',
  });
});

Deno.test("[shades] orderDetail carries the shade coding and the role extension", () => {
  const detail = shadeOrderDetail({
    shade: { guide: "vita-3d-master", code: "2L1.5" },
    role: "incisal",
  });
  assert.deepEqual(detail, {
    extension: [{ url: SHADE_ROLE_EXTENSION, valueCode: "incisal" }],
    coding: [{
      system: VITA_3D_MASTER_SYSTEM,
      code: "2L1.5",
      display: "VITA 3D-Master 2L1.5",
    }],
    text: "Incisal shade VITA 3D-Master 2L1.5",
  });
});

Deno.test("[shades] every shade and role round trips through orderDetail", () => {
  for (const guide of Object.keys(EXPECTED) as ShadeGuide[]) {
    for (const code of EXPECTED[guide]) {
      for (const role of ROLES) {
        const choice = { shade: { guide, code }, role };
        assert.deepEqual(readShadeOrderDetail(shadeOrderDetail(choice)), {
          ok: true,
          value: choice,
        });
      }
    }
  }
});

Deno.test("[shades] reading orderDetail finds shades, defaults the role and reports bad ones", () => {
  const shade = (
    system: string,
    code: string,
    role?: string,
  ): CodeableConcept => ({
    coding: [{ system, code }],
    ...(role
      ? { extension: [{ url: SHADE_ROLE_EXTENSION, valueCode: role }] }
      : {}),
  });
  const read = readShades([
    { coding: [{ system: "https://lab.example/materials", code: "zirconia" }] },
    shade(VITA_CLASSICAL_SYSTEM, "A2"),
    shade(VITA_CLASSICAL_SYSTEM, "a1", "Incisal"),
    shade(VITA_CLASSICAL_SYSTEM, "2M2"),
    shade(VITA_3D_MASTER_SYSTEM, "3M2", "enamel"),
    {
      extension: [{ url: SHADE_ROLE_EXTENSION, valueCode: "body" }],
      text: "A2",
    },
    {
      ...shade(VITA_CLASSICAL_SYSTEM, "A2"),
      extension: [{ url: SHADE_ROLE_EXTENSION, valueString: "body" }],
    },
  ]);
  assert.deepEqual(read.shades, [
    { shade: { guide: "vita-classical", code: "A2" }, role: "body" },
    { shade: { guide: "vita-classical", code: "A1" }, role: "incisal" },
  ]);
  assert.deepEqual(
    read.problems.map((p) => p.expression),
    [3, 4, 5, 6].map((i) => `ServiceRequest.orderDetail[${i}]`),
  );
  assert.match(
    read.problems[0].message,
    /not a VITA classical shade \(it is a VITA 3D-Master shade\)/,
  );
  assert.match(read.problems[1].message, /Shade role "enamel"/);
  assert.match(read.problems[2].message, /exactly one coding/);
  assert.match(
    read.problems[3].message,
    /one shade-role extension with a valueCode/,
  );
});

Deno.test("[shades] the shade CodeSystems list exactly the codes the parser accepts", () => {
  for (const guide of Object.keys(EXPECTED) as ShadeGuide[]) {
    const system = shadeGuideCodeSystem(guide);
    assert.equal(system.resourceType, "CodeSystem");
    assert.equal(system.url, SHADE_GUIDES[guide].system);
    assert.equal(system.status, "active");
    assert.equal(system.content, "complete");
    assert.equal(system.caseSensitive, true);
    assert.equal(system.count, EXPECTED[guide].length);
    const codes = system.concept?.map((c) => c.code);
    const accepted = candidates().filter((c) => parseShade(c, guide).ok);
    assert.deepEqual(codes, EXPECTED[guide]);
    assert.deepEqual(new Set(codes), new Set(accepted));
    for (const concept of system.concept ?? []) {
      assert.ok(concept.display && concept.definition, concept.code);
    }
    assert.match(system.copyright ?? "", /trademarks of VITA Zahnfabrik/);
  }
});

Deno.test("[shades] the role CodeSystem, ValueSet and extension definition agree", () => {
  const system = shadeRoleCodeSystem();
  assert.equal(system.url, SHADE_ROLE_SYSTEM);
  assert.deepEqual(system.concept?.map((c) => c.code), ROLES);
  assert.ok(
    system.concept?.every((c) => c.display && parseShadeRole(c.code!).ok),
  );
  const valueSet = shadeRoleValueSet();
  assert.equal(valueSet.url, SHADE_ROLE_VALUE_SET);
  assert.deepEqual(valueSet.compose?.include, [{ system: SHADE_ROLE_SYSTEM }]);
  const definition = shadeRoleExtensionDefinition();
  assert.equal(definition.url, SHADE_ROLE_EXTENSION);
  assert.equal(definition.fhirVersion, "4.0.1");
  assert.equal(definition.type, "Extension");
  assert.equal(definition.derivation, "constraint");
  assert.deepEqual(definition.context, [{
    type: "element",
    expression: "ServiceRequest.orderDetail",
  }]);
  const elements = Object.fromEntries(
    definition.differential!.element!.map((e) => [e.path, e]),
  );
  assert.equal(elements["Extension.url"].fixedUri, SHADE_ROLE_EXTENSION);
  assert.deepEqual(elements["Extension.value[x]"].type, [{ code: "code" }]);
  assert.equal(
    elements["Extension.value[x]"].binding?.valueSet,
    SHADE_ROLE_VALUE_SET,
  );
  assert.equal(elements["Extension.value[x]"].binding?.strength, "required");
});

Deno.test("[shades] every LHCMS CodeSystem is complete, active and fully displayed", () => {
  const systems = lhcmsCodeSystems();
  assert.deepEqual(systems.map((s) => s.id), [
    "fdi-tooth",
    "vita-classical",
    "vita-3d-master",
    "shade-role",
  ]);
  for (const system of systems) {
    assert.equal(system.url, `https://lhcms.dev/fhir/CodeSystem/${system.id}`);
    assert.match(system.name ?? "", /^[A-Z][A-Za-z0-9]*$/, system.id);
    assert.equal(system.status, "active", system.id);
    assert.equal(system.content, "complete", system.id);
    assert.equal(system.count, system.concept?.length, system.id);
    assert.ok(system.concept?.every((c) => c.code && c.display), system.id);
  }
});

Deno.test("[shades] every conformance resource has its own URL under the base", () => {
  const urls = lhcmsTerminologyResources().map((r) =>
    `${r.resourceType} ${r.url}`
  );
  assert.deepEqual(urls, [
    "CodeSystem https://lhcms.dev/fhir/CodeSystem/fdi-tooth",
    "CodeSystem https://lhcms.dev/fhir/CodeSystem/vita-classical",
    "CodeSystem https://lhcms.dev/fhir/CodeSystem/vita-3d-master",
    "CodeSystem https://lhcms.dev/fhir/CodeSystem/shade-role",
    "ValueSet https://lhcms.dev/fhir/ValueSet/shade-role",
    "StructureDefinition https://lhcms.dev/fhir/StructureDefinition/shade-role",
  ]);
});

Deno.test("[shades] a shade's definition spells out its code", () => {
  assert.equal(
    describeShade({ guide: "vita-3d-master", code: "0M2" }),
    "Lightness group 0 (bleached), medium hue, chroma 2.",
  );
  assert.equal(
    describeShade({ guide: "vita-3d-master", code: "4R2.5" }),
    "Lightness group 4, reddish hue, chroma 2.5.",
  );
  assert.equal(
    describeShade({ guide: "vita-classical", code: "A3.5" }),
    "Hue group A (reddish-brown), step 3.5 (higher steps are darker).",
  );
});
