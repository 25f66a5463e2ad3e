/**
 * The case-event terminology served matches the codes the rule modules
 * accept, so a code added to a module cannot go unpublished.
 */
import assert from "node:assert/strict";
import type { CodeSystem } from "@medplum/fhirtypes";
import {
  LICENSE_EXTENSION,
  PROVENANCE_ACTIVITY_SYSTEM,
  WORK_AUTHORIZATION,
} from "../../domain/authorization.ts";
import { TASK_INPUT_SYSTEM } from "../../domain/design_approval.ts";
import {
  ENCLOSURE_QUANTITY_EXTENSION,
  ENCLOSURE_SYSTEM,
  ENCLOSURES,
} from "../../domain/enclosures.ts";
import {
  REMAKE_REASON_SYSTEM,
  REMAKE_REASONS,
  REMAKE_RESPONSIBILITIES,
  REMAKE_RESPONSIBILITY_EXTENSION,
  REMAKE_RESPONSIBILITY_SYSTEM,
  REMAKE_RESPONSIBILITY_VALUE_SET,
} from "../../domain/remakes.ts";
import { TASK_OUTPUT_SYSTEM } from "../../domain/stages.ts";
import { servedTerminology } from "../../fhir/served_terminology.ts";

const served = servedTerminology();
const codesOf = (url: string) => {
  const system = served.find((r) =>
    r.resourceType === "CodeSystem" && r.url === url
  ) as CodeSystem | undefined;
  assert.ok(system, url);
  return system.concept!.map((c) => c.code).sort();
};

Deno.test("[terminology] every case-event code system is served in full", () => {
  assert.deepEqual(
    codesOf(REMAKE_REASON_SYSTEM),
    Object.keys(REMAKE_REASONS).sort(),
  );
  assert.deepEqual(
    codesOf(REMAKE_RESPONSIBILITY_SYSTEM),
    Object.keys(REMAKE_RESPONSIBILITIES).sort(),
  );
  assert.deepEqual(codesOf(ENCLOSURE_SYSTEM), Object.keys(ENCLOSURES).sort());
  assert.deepEqual(codesOf(PROVENANCE_ACTIVITY_SYSTEM), [WORK_AUTHORIZATION]);
  assert.deepEqual(codesOf(TASK_INPUT_SYSTEM), ["design", "enclosure-in"]);
  assert.deepEqual(codesOf(TASK_OUTPUT_SYSTEM), [
    "courier",
    "enclosure-out",
    "qc-result",
    "rework",
    "tracking-number",
    "try-in-returned",
    "try-in-sent",
  ]);
});

Deno.test("[terminology] the case-event extensions and value set are served", () => {
  for (
    const url of [
      REMAKE_RESPONSIBILITY_EXTENSION,
      ENCLOSURE_QUANTITY_EXTENSION,
      LICENSE_EXTENSION,
    ]
  ) {
    assert.ok(
      served.some((r) =>
        r.resourceType === "StructureDefinition" && r.url === url
      ),
      url,
    );
  }
  assert.ok(
    served.some((r) =>
      r.resourceType === "ValueSet" && r.url === REMAKE_RESPONSIBILITY_VALUE_SET
    ),
  );
  const ids = served.map((r) => `${r.resourceType}/${r.id}`);
  assert.equal(new Set(ids).size, ids.length);
});
