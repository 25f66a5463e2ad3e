// deno-lint-ignore-file no-explicit-any
/**
 * The workflow rules enforced through the FHIR API: the Task status
 * machine, and for a Task on a catalog product, its stages in order with
 * the quality check before shipping and the shipment before completion.
 */
import assert from "node:assert/strict";
import { stageSystem } from "../domain/case_workflow.ts";
import { recordQcResult, recordShipping } from "../domain/stages.ts";
import { buildStageTask } from "../domain/task_workflow.ts";
import { prescription } from "./dental.ts";
import { call, setupLab, startTestServer } from "./helpers.ts";

Deno.test("[workflow] a crown's item Task moves only as the lab's rules allow", async (t) => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const dentist = acme.tokens.dentist;
    const tech = acme.tokens.lab_technician;
    const post = async (type: string, body: any, token = dentist) => {
      const res = await call(
        server.url,
        "POST",
        `/fhir/acme/${type}`,
        token,
        body,
      );
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body;
    };
    const patient = await post("Patient", {
      resourceType: "Patient",
      gender: "male",
    });
    const technician = await post("Practitioner", {
      resourceType: "Practitioner",
      name: [{ family: "Bench" }],
    }, acme.tokens.lab_admin);
    const crown = await post(
      "ServiceRequest",
      prescription("acme", patient.id, "crown", { teeth: ["36"], shade: "A2" }),
    );
    let task = await post("Task", {
      resourceType: "Task",
      status: "requested",
      intent: "order",
      focus: { reference: `ServiceRequest/${crown.id}` },
      for: { reference: `Patient/${patient.id}` },
    });
    const catalog = await call(
      server.url,
      "GET",
      "/labs/acme/catalog/crown",
      tech,
    );
    const stages: any[] = catalog.body.stages;
    const stage = (code: string) => {
      const s = stages.find((x) => x.code === code);
      return {
        coding: [{ system: stageSystem("acme"), code, display: s.display }],
      };
    };
    const put = (body: any) =>
      call(server.url, "PUT", `/fhir/acme/Task/${task.id}`, tech, body);
    const move = async (change: any) => {
      const res = await put({ ...task, ...change });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      task = res.body;
    };
    const refused = async (change: any, pattern: RegExp) => {
      const res = await put({ ...task, ...change });
      assert.equal(res.status, 422);
      assert.match(res.headers.get("content-type") ?? "", /fhir\+json/);
      assert.equal(res.body.issue[0].code, "processing");
      assert.match(JSON.stringify(res.body.issue), pattern);
    };

    await t.step("an impossible move is refused, naming it", async () => {
      await refused({ status: "completed" }, /requested to completed/);
    });
    await t.step("hold needs a reason", async () => {
      await move({ status: "accepted" });
      await refused({ status: "on-hold" }, /reason/i);
      await move({
        status: "on-hold",
        statusReason: { text: "Waiting for a bite registration" },
      });
      await move({ status: "in-progress", statusReason: undefined });
    });
    await t.step("stages follow the catalog order", async () => {
      await move({ businessStatus: stage("model") });
      await refused({ businessStatus: stage("mill") }, /stage/i);
      await move({ businessStatus: stage("design") });
      await move({ businessStatus: stage("mill") });
      await move({ businessStatus: stage("finish") });
      await move({ businessStatus: stage("quality-check") });
    });
    await t.step("shipping waits for a passed quality check", async () => {
      await refused({ businessStatus: stage("ship") }, /quality/i);
      const qc = stages.find((s) => s.checklist).checklist;
      const checked = recordQcResult(task, {
        checklist: qc,
        results: Object.fromEntries(qc.map((i: any) => [i.id, true])),
        performer: { reference: `Practitioner/${technician.id}` },
        date: "2026-12-03T10:00:00Z",
      });
      await move({ output: checked.output, contained: checked.contained });
      await move({ businessStatus: stage("ship") });
    });
    await t.step("completion needs courier and tracking number", async () => {
      await refused({ status: "completed" }, /tracking|courier/i);
      const shipped = recordShipping(task, {
        courier: "UPS",
        trackingNumber: "1Z999AA10123456784",
      });
      await move({ output: shipped.output });
      await move({ status: "completed" });
      assert.equal(task.status, "completed");
    });
    await t.step("the work log is append-only", async () => {
      const res = await put({ ...task, output: task.output.slice(1) });
      assert.equal(res.status, 422);
    });
  } finally {
    await server.close();
  }
});

Deno.test("[workflow] a stage Task of an item is completed without the item's gates, and stays in its item", async () => {
  const server = await startTestServer();
  try {
    const acme = await setupLab(server, "acme");
    const post = async (type: string, body: any, token: string) => {
      const res = await call(
        server.url,
        "POST",
        `/fhir/acme/${type}`,
        token,
        body,
      );
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body;
    };
    const put = (body: any, token = acme.tokens.lab_technician) =>
      call(server.url, "PUT", `/fhir/acme/Task/${body.id}`, token, body);
    const dentist = acme.tokens.dentist;
    const patient = await post("Patient", { resourceType: "Patient" }, dentist);
    const crown = await post(
      "ServiceRequest",
      prescription("acme", patient.id, "crown", { teeth: ["36"], shade: "A2" }),
      dentist,
    );
    const item = await post("Task", {
      resourceType: "Task",
      status: "requested",
      intent: "order",
      focus: { reference: `ServiceRequest/${crown.id}` },
    }, dentist);
    const technician = await post("Practitioner", {
      resourceType: "Practitioner",
    }, acme.tokens.lab_admin);
    let stage = await post(
      "Task",
      buildStageTask(
        item,
        { code: "model", display: "Model", days: 1 },
        { reference: `Practitioner/${technician.id}` },
        stageSystem("acme"),
      ),
      acme.tokens.lab_admin,
    );
    for (const status of ["in-progress", "completed"]) {
      const res = await put({ ...stage, status });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      stage = res.body;
    }
    const reopened = await put({ ...stage, status: "in-progress" });
    assert.equal(reopened.status, 422);
    assert.match(
      reopened.body.issue[0].diagnostics,
      /completed to in-progress/,
    );

    // Leaving partOf would take the item's gates off a Task, or put them on.
    const { partOf: _dropped, ...detached } = stage;
    const detach = await put(detached, acme.tokens.lab_admin);
    assert.equal(detach.status, 422);
    assert.equal(detach.body.issue[0].expression[0], "Task.partOf");
    const attach = await put(
      { ...item, partOf: [{ reference: `Task/${stage.id}` }] },
      acme.tokens.lab_admin,
    );
    assert.equal(attach.status, 422);
    assert.equal(attach.body.issue[0].expression[0], "Task.partOf");
  } finally {
    await server.close();
  }
});
