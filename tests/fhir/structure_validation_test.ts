import assert from "node:assert/strict";
import { validateStructure } from "../../fhir/structure_validation.ts";
import type { Resource } from "../../fhir/types.ts";

const problemsOf = (resource: unknown) => {
  const { errors } = validateStructure(resource as Resource);
  return errors.map((p) => [p.expression, p.code]);
};

const request = {
  resourceType: "ServiceRequest",
  status: "active",
  intent: "order",
  subject: { display: "A patient" },
};

Deno.test("[structure] a CodeableConcept with a required binding needs a coding from its value set", () => {
  const condition = (code: string) => ({
    ...request,
    contained: [{
      resourceType: "Condition",
      id: "c",
      subject: { display: "A patient" },
      clinicalStatus: {
        coding: [{
          system: "http://terminology.hl7.org/CodeSystem/condition-clinical",
          code,
        }],
      },
    }],
    reasonReference: [{ reference: "#c" }],
  });
  assert.deepEqual(problemsOf(condition("active")), []);
  assert.deepEqual(problemsOf(condition("cured")), [
    ["ServiceRequest.contained[0].clinicalStatus", "code-invalid"],
  ]);
});

Deno.test("[structure] a code is checked against its system-wide value set, a MIME type is not checked", () => {
  const patient = (gender: string, contentType: string) => ({
    resourceType: "Patient",
    gender,
    photo: [{ contentType, url: "https://example.org/p.png" }],
  });
  assert.deepEqual(problemsOf(patient("unknown", "image/x-anything")), []);
  assert.deepEqual(problemsOf(patient("Male", "image/png")), [
    ["Patient.gender", "code-invalid"],
  ]);
});

Deno.test("[structure] a choice element is named as FHIRPath names it", () => {
  const task = {
    resourceType: "Task",
    status: "draft",
    intent: "order",
    input: [{ type: { text: "count" }, valueInteger: "three" }],
  };
  assert.deepEqual(problemsOf(task), [["Task.input[0].value", "structure"]]);
});

Deno.test("[structure] empty strings and arrays are refused, each named once", () => {
  const organization = {
    resourceType: "Organization",
    name: "",
    alias: [""],
    telecom: [],
    address: [{ city: "" }],
  };
  assert.deepEqual(problemsOf(organization), [
    ["Organization.name", "structure"],
    ["Organization.alias[0]", "structure"],
    ["Organization.telecom", "structure"],
    ["Organization.address[0].city", "structure"],
  ]);
});

Deno.test("[structure] a shape the library gives up on is a structure problem, not a crash", () => {
  const patient = { resourceType: "Patient", gender: "male", _gender: "x" };
  assert.deepEqual(problemsOf(patient), [["Patient", "structure"]]);
});
