/**
 * Design approval: the lab asks the dentist to approve a CAD design on a
 * child Task; the practice approves (completed) or rejects with a reason.
 */
import assert from "node:assert/strict";
import type { Task } from "@medplum/fhirtypes";
import type { Problem } from "../../domain/errors.ts";
import {
  approveDesign,
  buildDesignApproval,
  checkDesignApproval,
  checkDesignApprovalChange,
  designApprovalState,
  rejectDesign,
  rejectionReason,
} from "../../domain/design_approval.ts";

const WHEN = "2026-03-02T10:00:00Z";
const ITEM: Task = {
  resourceType: "Task",
  id: "item-1",
  status: "in-progress",
  intent: "order",
  focus: { reference: "ServiceRequest/sr-1" },
  for: { reference: "Patient/p-1" },
};
const messages = (problems: Problem[]) => problems.map((p) => p.message);

Deno.test("[workflow] design approval: asked, then approved or rejected", async (t) => {
  const dentist = { reference: "Practitioner/dr-who" };
  const asked = buildDesignApproval({
    item: ITEM,
    dentist,
    design: { contentType: "model/stl", url: "https://lab.example/d/1.stl" },
    authoredOn: WHEN,
  });
  await t.step("the request is well-formed", () => {
    assert.deepEqual(checkDesignApproval(asked), []);
    assert.equal(designApprovalState(asked), "pending");
    const bad = {
      ...asked,
      status: "draft" as const,
      owner: { reference: "Organization/o" },
      input: [],
    };
    assert.deepEqual(messages(checkDesignApproval(bad)), [
      "A design approval starts as requested",
      "owner must be the dentist's Practitioner",
      "A design approval needs a design input",
    ]);
  });
  await t.step("the practice approves", () => {
    const approved = approveDesign(asked, WHEN);
    assert.deepEqual(checkDesignApprovalChange(asked, approved), []);
    assert.equal(designApprovalState(approved), "approved");
  });
  await t.step("the practice rejects with a reason, not without", () => {
    const reason = { text: "Contacts too tight" };
    const rejected = rejectDesign(asked, reason, WHEN);
    assert.deepEqual(checkDesignApprovalChange(asked, rejected), []);
    assert.deepEqual(rejectionReason(rejected), reason);
    const silent = { ...rejected, statusReason: undefined };
    assert.equal(checkDesignApprovalChange(asked, silent).length, 1);
  });
  await t.step("the design and the item stay as the lab asked", () => {
    const swapped = { ...approveDesign(asked, WHEN), input: [], partOf: [] };
    assert.deepEqual(messages(checkDesignApprovalChange(asked, swapped)), [
      "Cannot change partOf of a design approval",
      "Cannot change input of a design approval",
    ]);
  });
  await t.step("the lab withdraws it with a reason", () => {
    const withdrawn: Task = {
      ...asked,
      status: "cancelled",
      statusReason: { text: "Dentist approved by phone" },
    };
    assert.deepEqual(checkDesignApprovalChange(asked, withdrawn), []);
    assert.equal(designApprovalState(withdrawn), "withdrawn");
    assert.equal(rejectionReason(withdrawn), undefined);
  });
  await t.step("an answer is final", () => {
    const approved = approveDesign(asked, WHEN);
    const flipped = rejectDesign(approved, { text: "Changed my mind" }, WHEN);
    assert.deepEqual(messages(checkDesignApprovalChange(approved, flipped)), [
      "Cannot move a Task from completed to rejected",
    ]);
  });
});
