/**
 * The remake rules on their own: what the API tests do not reach (an
 * original entered in error, "other" without words, duplicate codes).
 */
import assert from "node:assert/strict";
import type { ServiceRequest } from "@medplum/fhirtypes";
import {
  buildRemake,
  checkRemake,
  checkRemakeCodes,
  isRemake,
  REMAKE_REASON_SYSTEM,
  REMAKE_RESPONSIBILITY_EXTENSION,
} from "../../domain/remakes.ts";

const ORIGINAL: ServiceRequest = {
  resourceType: "ServiceRequest",
  id: "sr-1",
  status: "completed",
  intent: "order",
  subject: { reference: "Patient/p-1" },
  code: { text: "Crown" },
};
const AUTHORED = "2026-12-10T09:00:00Z";
const expressions = (sr: ServiceRequest, original = ORIGINAL) =>
  checkRemake(sr, original).map((p) => p.expression);

Deno.test("[remake] buildRemake() makes a remake that passes its own checks", () => {
  const remake = buildRemake(ORIGINAL, {
    reason: "fit",
    responsibility: "practice",
    authoredOn: AUTHORED,
  });
  assert.ok(isRemake(remake));
  assert.equal(remake.id, undefined);
  assert.deepEqual(checkRemake(remake, ORIGINAL), []);
  assert.equal(isRemake(ORIGINAL), false);
});

Deno.test("[remake] checkRemake() names each problem", async (t) => {
  const remake = (reason: "other" | "shade", text?: string) =>
    buildRemake(ORIGINAL, {
      reason,
      text,
      responsibility: "shared",
      authoredOn: AUTHORED,
    });

  await t.step("an original not in the lab, or entered in error", () => {
    const absent = checkRemake(remake("shade"), undefined);
    assert.deepEqual(absent.map((p) => p.expression), [
      "ServiceRequest.replaces[0]",
    ]);
    assert.deepEqual(
      expressions(remake("shade"), {
        ...ORIGINAL,
        status: "entered-in-error",
      }),
      ["ServiceRequest.replaces[0]"],
    );
  });

  await t.step("replacing two requests, or by absolute URL", () => {
    const two = {
      ...remake("shade"),
      replaces: [
        { reference: "ServiceRequest/sr-1" },
        { reference: "ServiceRequest/sr-2" },
      ],
    };
    assert.deepEqual(expressions(two), ["ServiceRequest.replaces"]);
    const absolute = {
      ...remake("shade"),
      replaces: [{ reference: "https://other.example/ServiceRequest/sr-1" }],
    };
    assert.deepEqual(expressions(absolute), ["ServiceRequest.replaces"]);
  });

  await t.step("'other' needs words; two reason codes are one too many", () => {
    assert.deepEqual(expressions(remake("other")), [
      "ServiceRequest.reasonCode.text",
    ]);
    assert.deepEqual(expressions(remake("other", "Patient moved abroad")), []);
    const twice = remake("shade");
    twice.reasonCode!.push({
      coding: [{ system: REMAKE_REASON_SYSTEM, code: "fit" }],
    });
    assert.deepEqual(expressions(twice), ["ServiceRequest.reasonCode"]);
  });

  await t.step("an unknown responsibility code", () => {
    const wrong = {
      ...remake("shade"),
      extension: [{
        url: REMAKE_RESPONSIBILITY_EXTENSION,
        valueCode: "insurer",
      }],
    };
    assert.equal(checkRemakeCodes(wrong).length, 1);
    assert.match(checkRemakeCodes(wrong)[0].message, /lab, practice, shared/);
  });
});
