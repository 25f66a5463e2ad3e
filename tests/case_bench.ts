// deno-lint-ignore-file no-explicit-any
/**
 * The lab's side of tests/case_journey_test.ts: fhir-kit-client calls that
 * assert their status, and a bench that moves item Tasks through their
 * catalog stages with a stage Task per stage, as a lab would.
 */
import assert from "node:assert/strict";
import { Client } from "fhir-kit-client";
import type {
  Practitioner,
  Reference,
  Resource,
  Task,
} from "@medplum/fhirtypes";
import {
  readStage,
  recordQcResult,
  recordShipping,
  type Shipment,
  stageConcept,
  type StageDef,
} from "../domain/stages.ts";
import { buildStageTask } from "../domain/task_workflow.ts";

/** The HTTP status of a fhir-kit-client answer. */
export const statusOf = (resource: unknown): number =>
  Client.httpFor(resource as any).response!.status;

/** Creates a resource and asserts 201; returns what the server stored. */
export async function created(client: Client, resource: Resource) {
  const body: any = await client.create({
    resourceType: resource.resourceType,
    body: resource as any,
  });
  assert.equal(statusOf(body), 201);
  return body;
}

/** Updates a resource by its id; a refusal's error carries its outcome. */
export function put(client: Client, resource: Resource): Promise<any> {
  return client.update({
    resourceType: resource.resourceType,
    id: resource.id!,
    body: resource as any,
  }).catch((error) => {
    if (error.response) {
      error.message += ` ${JSON.stringify(error.response.data)}`;
    }
    throw error;
  });
}

/** Asserts a refusal with `status` and an OperationOutcome; returns it. */
export async function refusedBy(
  pending: Promise<unknown>,
  status: number,
): Promise<any> {
  let response: any;
  try {
    await pending;
  } catch (error: any) {
    if (!error.response) throw error;
    response = error.response;
  }
  assert.ok(response, "the server accepted what it should refuse");
  assert.equal(response.status, status, JSON.stringify(response.data));
  assert.equal(response.data.resourceType, "OperationOutcome");
  return response.data;
}

/** Asserts a 422 OperationOutcome whose issues match `pattern`. */
export async function refusedWith(pending: Promise<unknown>, pattern: RegExp) {
  const outcome = await refusedBy(pending, 422);
  assert.equal(outcome.issue[0].code, "processing");
  assert.match(JSON.stringify(outcome.issue), pattern);
}

/** The resources of a searchset or history Bundle, in its order. */
export const entries = (bundle: any): any[] =>
  (bundle.entry ?? []).map((e: any) => e.resource);

/** The items of the test case. */
export type Item = "bridge" | "crown";

/**
 * The lab's work on the items: the technician moves the item Tasks and
 * their stage Tasks; the lab admin plans stage Tasks.
 */
export class Bench {
  /** The current version of each item Task. */
  tasks = {} as Record<Item, Task>;
  #stageTasks = new Map<string, Task[]>();

  constructor(
    readonly hands: Client,
    readonly office: Client,
    readonly technician: Reference<Practitioner>,
    readonly stages: Record<Item, StageDef[]>,
    readonly system: string,
  ) {}

  stage(key: Item, code: string): StageDef {
    return this.stages[key].find((s) => s.code === code)!;
  }

  concept(key: Item, code: string) {
    return stageConcept(this.stage(key, code), this.system);
  }

  /** Updates an item Task as the technician and asserts 200. */
  async move(key: Item, change: Partial<Task>): Promise<Task> {
    const next = await put(this.hands, { ...this.tasks[key], ...change });
    assert.equal(statusOf(next), 200);
    this.tasks[key] = next;
    return next;
  }

  refusedMove(key: Item, change: Partial<Task>, pattern: RegExp) {
    return refusedWith(
      put(this.hands, { ...this.tasks[key], ...change }),
      pattern,
    );
  }

  /** Creates the stage Task of `code` for the item, as the lab admin. */
  async plan(key: Item, code: string): Promise<Task> {
    const item = this.tasks[key];
    const child = await created(
      this.office,
      buildStageTask(item, this.stage(key, code), this.technician, this.system),
    );
    assert.equal(child.status, "ready");
    assert.deepEqual(child.partOf, [{ reference: `Task/${item.id}` }]);
    const list = this.#stageTasks.get(`${key}/${code}`) ?? [];
    this.#stageTasks.set(`${key}/${code}`, [...list, child]);
    return child;
  }

  /** Moves the latest stage Task of `code` to `status`. */
  async stageStatus(key: Item, code: string, status: Task["status"]) {
    const list = this.#stageTasks.get(`${key}/${code}`)!;
    const next = await put(this.hands, { ...list.at(-1)!, status });
    assert.equal(next.status, status);
    list[list.length - 1] = next;
  }

  /**
   * Moves the item to the stage, then closes the stage Task it left and
   * starts the one it entered; so a refused move touches no stage Task.
   */
  async enter(key: Item, code: string) {
    const from = readStage(this.tasks[key], this.system);
    await this.move(key, { businessStatus: this.concept(key, code) });
    assert.equal(
      this.tasks[key].businessStatus!.text,
      this.stage(key, code).display,
    );
    if (from) await this.stageStatus(key, from, "completed");
    await this.stageStatus(key, code, "in-progress");
  }

  /** Records a quality check; it fails on the shade unless `passes`. */
  async check(key: Item, passes: boolean, date: string) {
    const checklist = this.stages[key].find((s) => s.checklist)!.checklist!;
    const checked = recordQcResult(this.tasks[key], {
      checklist,
      results: Object.fromEntries(
        checklist.map((c) => [c.id, passes || c.id !== "shade"]),
      ),
      performer: this.technician,
      date,
    });
    await this.move(key, {
      output: checked.output,
      contained: checked.contained,
    });
  }

  /** Records the shipment, completes the item and its ship stage Task. */
  async ship(key: Item, shipment: Shipment) {
    const shipped = recordShipping(this.tasks[key], shipment);
    await this.move(key, { output: shipped.output });
    await this.move(key, { status: "completed" });
    await this.stageStatus(key, "ship", "completed");
  }
}
