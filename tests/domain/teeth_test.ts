/**
 * Tooth notation, arches, bridges and arch products, and the bodySite
 * codings that carry them. The conversion table is written out by hand
 * here, apart from the one domain/teeth.ts builds.
 */
import assert from "node:assert/strict";
import {
  areAdjacent,
  type BridgeUnit,
  fdiToUniversal,
  parseTooth,
  TEETH,
  toothByFdi,
  universalToFdi,
  validateBridge,
  validateProductSites,
} from "../../domain/teeth.ts";
import {
  ADA_AREA_SYSTEM,
  ADA_UNIVERSAL_SYSTEM,
  archBodySite,
  FDI_TOOTH_SYSTEM,
  fdiToothCodeSystem,
  HL7_EX_TOOTH_SYSTEM,
  readBodySites,
  toothBodySite,
} from "../../fhir/terminology.ts";

// FDI:Universal, arch by arch, from the patient's right to left.
const TABLE: Record<string, string> = Object.fromEntries(
  `18:1 17:2 16:3 15:4 14:5 13:6 12:7 11:8 21:9 22:10 23:11 24:12 25:13 26:14
   27:15 28:16 48:32 47:31 46:30 45:29 44:28 43:27 42:26 41:25 31:24 32:23
   33:22 34:21 35:20 36:19 37:18 38:17 55:A 54:B 53:C 52:D 51:E 61:F 62:G 63:H
   64:I 65:J 85:T 84:S 83:R 82:Q 81:P 71:O 72:N 73:M 74:L 75:K`
    .split(/\s+/).map((pair) => pair.split(":")),
);

// Builds bridge units from "13a 12p 11a" (a = abutment, p = pontic).
function units(spec: string): BridgeUnit[] {
  return spec.split(" ").map((u) => ({
    tooth: u.slice(0, -1),
    role: { a: "abutment", p: "pontic", c: "cantilever" }[u.at(-1)!]!,
  }));
}

Deno.test("[teeth] every tooth converts FDI → Universal → FDI", () => {
  assert.equal(Object.keys(TABLE).length, 52);
  assert.deepEqual(TEETH.map((t) => t.fdi).sort(), Object.keys(TABLE).sort());
  for (const [fdi, universal] of Object.entries(TABLE)) {
    assert.equal(fdiToUniversal(fdi), universal, fdi);
    assert.equal(universalToFdi(universal), fdi, universal);
    assert.equal(universalToFdi(fdiToUniversal(fdi)), fdi);
    const parsed = parseTooth(universal.toLowerCase(), "universal");
    assert.equal(parsed.ok && parsed.value.fdi, fdi, universal);
  }
});

Deno.test("[teeth] the notation decides what a number means", () => {
  const fdi = parseTooth("11", "fdi"), universal = parseTooth(11, "universal");
  assert.equal(
    fdi.ok && fdi.value.name,
    "Permanent upper right central incisor",
  );
  assert.equal(universal.ok && universal.value.fdi, "23");
  const padded = parseTooth(" 48 ", "fdi");
  assert.equal(padded.ok && padded.value.universal, "32");
});

Deno.test("[teeth] teeth that do not exist are refused with the valid ranges", async (t) => {
  await t.step("FDI", () => {
    for (
      const code of [
        "19",
        "0",
        "10",
        "29",
        "39",
        "49",
        "50",
        "56",
        "66",
        "76",
        "86",
        "91",
        "1",
        "111",
        "",
        "A",
      ]
    ) {
      const parsed = parseTooth(code, "fdi");
      assert.equal(parsed.ok, false, code);
      assert.match(
        !parsed.ok ? parsed.message : "",
        /does not exist in FDI notation.*51-55/,
        code,
      );
    }
  });
  await t.step("Universal", () => {
    for (const code of ["0", "33", "U", "Z", "51", "AA", "-1", "1.5", ""]) {
      const parsed = parseTooth(code, "universal");
      assert.equal(parsed.ok, false, code);
      assert.match(
        !parsed.ok ? parsed.message : "",
        /Universal notation.*1-32.*A-T/,
        code,
      );
    }
    assert.throws(() => universalToFdi("U"), RangeError);
    assert.throws(() => fdiToUniversal("19"), RangeError);
  });
  await t.step("long input is not echoed", () => {
    const parsed = parseTooth("Jane Doe, born 1970", "fdi");
    assert.match(
      !parsed.ok ? parsed.message : "",
      /^Tooth \(value not repeated\) does not/,
    );
  });
});

Deno.test("[teeth] arch, quadrant and dentition follow the FDI quadrant digit", () => {
  const expected: Record<string, [string, string, string]> = {
    1: ["upper", "upper-right", "permanent"],
    2: ["upper", "upper-left", "permanent"],
    3: ["lower", "lower-left", "permanent"],
    4: ["lower", "lower-right", "permanent"],
    5: ["upper", "upper-right", "primary"],
    6: ["upper", "upper-left", "primary"],
    7: ["lower", "lower-left", "primary"],
    8: ["lower", "lower-right", "primary"],
  };
  for (const fdi of Object.keys(TABLE)) {
    const tooth = toothByFdi(fdi)!;
    assert.deepEqual(
      [tooth.arch, tooth.quadrant, tooth.dentition],
      expected[fdi[0]],
      fdi,
    );
  }
  assert.equal(toothByFdi("38")?.name, "Permanent lower left third molar");
  assert.equal(toothByFdi("85")?.name, "Primary lower right second molar");
  assert.equal(toothByFdi("14")?.name, "Permanent upper right first premolar");
});

Deno.test("[teeth] neighbours are one place apart on one arch", async (t) => {
  await t.step("slots run 18..11 then 21..28, and 48..41 then 31..38", () => {
    const upper = "18 17 16 15 14 13 12 11 21 22 23 24 25 26 27 28".split(" ");
    const lower = "48 47 46 45 44 43 42 41 31 32 33 34 35 36 37 38".split(" ");
    for (const arch of [upper, lower]) {
      arch.forEach((fdi, i) => assert.equal(toothByFdi(fdi)?.slot, i + 1, fdi));
      for (let i = 1; i < arch.length; i++) {
        assert.ok(areAdjacent(arch[i - 1], arch[i]));
      }
    }
  });
  await t.step("across the midline, in both dentitions", () => {
    for (
      const [a, b] of [["11", "21"], ["41", "31"], ["51", "61"], ["81", "71"], [
        "55",
        "54",
      ]]
    ) {
      assert.ok(areAdjacent(a, b), `${a}-${b}`);
      assert.ok(areAdjacent(b, a), `${b}-${a}`);
    }
  });
  await t.step(
    "a primary molar stands next to the first permanent molar",
    () => {
      assert.ok(areAdjacent("16", "55"));
      assert.equal(
        areAdjacent("15", "55"),
        false,
        "same place is not a neighbour",
      );
    },
  );
  await t.step("not across arches, gaps or unknown teeth", () => {
    for (
      const [a, b] of [["11", "13"], ["18", "28"], ["11", "41"], ["28", "38"], [
        "11",
        "11",
      ], ["19", "18"]]
    ) {
      assert.equal(areAdjacent(a, b), false, `${a}-${b}`);
    }
  });
});

Deno.test("[teeth] valid bridges on both arches have no problems", () => {
  const valid = [
    "13a 12p 11a",
    "11a 12p 13a",
    "12a 11p 21p 22a",
    "24a 25p 26p 27a",
    "46a 45p 44a",
    "32a 31p 41p 42a",
    "35a 36p 37a",
    "55a 54p 53a",
    "83a 82p 81p 71a",
  ];
  for (const spec of valid) {
    assert.deepEqual(validateBridge(units(spec)), [], spec);
  }
});

Deno.test("[teeth] bridge validation names every problem", async (t) => {
  const messages = (spec: string) =>
    validateBridge(units(spec)).map((p) => p.message);
  await t.step("fewer than three units", () => {
    assert.deepEqual(messages("13a 12a"), [
      "A bridge has at least 3 units; this one has 2",
    ]);
    assert.equal(messages("").length > 0, true);
  });
  await t.step("a gap names the missing teeth", () => {
    assert.deepEqual(messages("13a 12p 21a"), [
      "Units 2 and 3 (teeth 12 and 21) are not next to each other along the arch; 11 lies between them",
    ]);
  });
  await t.step("a wider gap names every missing tooth", () => {
    assert.match(messages("14a 13p 21a").join(), /; 12, 11 lie between them$/);
  });
  await t.step("units out of order along the arch", () => {
    assert.match(
      messages("11a 13p 12a").join("|"),
      /Units 1 and 2 \(teeth 11 and 13\)/,
    );
  });
  await t.step("two arches", () => {
    assert.deepEqual(messages("12a 11p 41a"), [
      "A bridge stays on one arch; this one has upper teeth (12, 11) and lower teeth (41)",
    ]);
  });
  await t.step("a pontic at either end", () => {
    assert.deepEqual(messages("13p 12a 11a"), [
      'The first unit (tooth "13") must be an abutment, not a pontic',
    ]);
    assert.deepEqual(messages("13a 12a 11p"), [
      'The last unit (tooth "11") must be an abutment, not a pontic',
    ]);
  });
  await t.step("repeats, and two teeth in one place", () => {
    assert.deepEqual(messages("13a 12p 13a"), [
      "Unit 3 (tooth 13) repeats unit 1",
    ]);
    assert.deepEqual(messages("16a 15p 55p 14a"), [
      "Unit 3 (tooth 55) takes the place of unit 2 (tooth 15)",
    ]);
  });
  await t.step("unknown teeth and roles, cantilevers included", () => {
    const found = messages("19a 18p 17c");
    assert.equal(found.length, 2);
    assert.match(
      found[0],
      /^Unit 1: Tooth "19" does not exist in FDI notation/,
    );
    assert.match(found[1], /^Unit 3: role "cantilever" is not supported/);
  });
  await t.step("all problems at once, each at its unit", () => {
    const found = validateBridge(units("13p 19a"), "ServiceRequest.bodySite");
    assert.deepEqual(found.map((p) => p.expression), [
      "ServiceRequest.bodySite",
      "ServiceRequest.bodySite[1]",
      "ServiceRequest.bodySite[0]",
    ]);
  });
});

Deno.test("[teeth] products get the sites they need", async (t) => {
  const check = (needs: "teeth" | "arch" | "bridge", sites: object) =>
    validateProductSites({ needs }, sites, "ServiceRequest.bodySite").map((p) =>
      p.message
    );
  await t.step("an arch product names one arch, or both, and no teeth", () => {
    for (const arch of ["upper", "lower", "both"]) {
      assert.deepEqual(check("arch", { arch }), []);
    }
    assert.deepEqual(check("arch", {}), [
      "This product is made for an arch; name upper, lower or both",
    ]);
    assert.deepEqual(check("arch", { arch: "left" }), [
      'This product is made for an arch; name upper, lower or both, not "left"',
    ]);
    assert.deepEqual(check("arch", { arch: "upper", teeth: ["11"] }), [
      "An arch product names an arch, not teeth",
    ]);
  });
  await t.step("a tooth product names existing teeth once, and no arch", () => {
    assert.deepEqual(check("teeth", { teeth: ["11", "55"] }), []);
    assert.deepEqual(check("teeth", {}), [
      "This product is made on teeth; name at least one",
    ]);
    assert.deepEqual(check("teeth", { teeth: ["11"], arch: "upper" }), [
      "This product is made on teeth, not a whole arch; name no arch",
    ]);
    assert.match(
      check("teeth", { teeth: ["11", "99"] })[0],
      /Tooth "99" does not exist/,
    );
    assert.deepEqual(check("teeth", { teeth: ["11", "11"] }), [
      "Tooth 11 is named twice",
    ]);
  });
  await t.step("a bridge product names a valid span", () => {
    assert.deepEqual(check("bridge", { units: units("13a 12p 11a") }), []);
    assert.equal(
      check("bridge", { units: units("13a 12p 11a"), arch: "upper" }).length,
      1,
    );
    assert.deepEqual(check("bridge", {}), [
      "A bridge has at least 3 units; this one has 0",
    ]);
  });
});

Deno.test("[teeth] bodySite carries both codings and reads back for every tooth", () => {
  for (const [fdi, universal] of Object.entries(TABLE)) {
    const site = toothBodySite(fdi);
    assert.deepEqual(site.coding?.map((c) => [c.system, c.code]), [
      [FDI_TOOTH_SYSTEM, fdi],
      [ADA_UNIVERSAL_SYSTEM, universal],
    ]);
    assert.deepEqual(readBodySites([site]), { teeth: [fdi], problems: [] });
    const alone = [{ coding: [site.coding![1]] }, {
      coding: [site.coding![0]],
    }];
    assert.deepEqual(readBodySites(alone).teeth, [fdi, fdi]);
  }
  assert.throws(() => toothBodySite("19"), RangeError);
});

Deno.test("[teeth] bodySite arches round trip, and upper with lower reads as both", () => {
  for (const arch of ["upper", "lower", "both"] as const) {
    const site = archBodySite(arch);
    assert.equal(site.coding?.[0].system, ADA_AREA_SYSTEM);
    assert.deepEqual(readBodySites([site]), { teeth: [], arch, problems: [] });
  }
  assert.equal(
    readBodySites([archBodySite("upper"), archBodySite("lower")]).arch,
    "both",
  );
  const upper = archBodySite("upper").coding!,
    lower = archBodySite("lower").coding!;
  assert.equal(readBodySites([{ coding: [...upper, ...lower] }]).arch, "both");
});

Deno.test("[teeth] bodySite input that names no real tooth or arch is a problem", () => {
  const fdi = (code: string, system = FDI_TOOTH_SYSTEM) => ({ system, code });
  const read = readBodySites([
    { coding: [fdi("11", HL7_EX_TOOTH_SYSTEM)] },
    { coding: [fdi("19")] },
    { coding: [fdi("11"), fdi("9", ADA_UNIVERSAL_SYSTEM)] },
    { coding: [fdi("11"), fdi("01", ADA_AREA_SYSTEM)] },
    { coding: [fdi("10", ADA_AREA_SYSTEM)] },
    { coding: [fdi("11", "http://snomed.info/sct")], text: "UR1" },
  ]);
  assert.deepEqual(read.teeth, ["11"]);
  assert.deepEqual(
    read.problems.map((p) => p.expression),
    [1, 2, 3, 4, 5].map((i) => `ServiceRequest.bodySite[${i}]`),
  );
  assert.match(read.problems[1].message, /different teeth \(FDI 11 and 21\)/);
});

Deno.test("[teeth] the FDI CodeSystem lists exactly the teeth the parser accepts", () => {
  const system = fdiToothCodeSystem();
  assert.equal(system.url, FDI_TOOTH_SYSTEM);
  assert.equal(system.status, "active");
  assert.equal(system.content, "complete");
  assert.equal(system.count, 52);
  const accepted = Array.from(
    { length: 100 },
    (_, i) => String(i).padStart(2, "0"),
  )
    .concat(Array.from({ length: 10 }, (_, i) => String(i)))
    .filter((code) => parseTooth(code, "fdi").ok);
  assert.deepEqual(system.concept?.map((c) => c.code).sort(), accepted.sort());
  for (const concept of system.concept ?? []) {
    assert.ok(concept.display, concept.code);
    assert.equal(
      concept.property?.[0].valueString,
      TABLE[concept.code!],
      concept.code,
    );
  }
});
