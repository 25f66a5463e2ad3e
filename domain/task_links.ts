/**
 * A Task checked against the stored records it names, once its references
 * are known to resolve. A design approval, or any Task under another whose
 * focus is a catalog item, names in `partOf` the open item Task of its own
 * prescription and patient; a stage Task's code is a stage of that
 * item's product; a design approval is owned by a Practitioner of the
 * prescription's practice; a quality check is signed by one of the lab's
 * own Practitioners.
 */
import type { Task } from "@medplum/fhirtypes";
import { productOf, stageSystem } from "./case_workflow.ts";
import { checkApprovalOwner, isDesignApproval } from "./design_approval.ts";
import { fail, LhcmsError, type Problem } from "./errors.ts";
import { type Loaded, readResource, type StoreDeps } from "./resources.ts";
import { checkStageCode, newQcRecords, sameJson } from "./stages.ts";
import { FINAL_STATUSES } from "./task_workflow.ts";

/** Checks a new Task that is part of another; throws 422 with problems. */
export async function checkNewChildTask(
  deps: StoreDeps,
  lab: string,
  task: Task,
): Promise<void> {
  const approval = isDesignApproval(task);
  if (!approval && !task.partOf?.some((p) => isRef(p.reference, "Task"))) {
    return;
  }
  const item = (await load(deps, lab, task.partOf?.[0]?.reference, "Task"))
    ?.resource as Task | undefined;
  const problems: Problem[] = [];
  if (approval) {
    const request = await load(
      deps,
      lab,
      task.focus?.reference,
      "ServiceRequest",
    );
    const owner = await load(deps, lab, task.owner?.reference, "Practitioner");
    problems.push(
      ...checkChildOf(task, item),
      ...checkApprovalOwner({
        practice: request?.stored.practice,
        owner: owner && { practice: owner.stored.practice },
      }),
    );
  } else {
    // A Task on a catalog item sits under that item's Task, whatever it
    // names as parent; other Tasks may nest as FHIR lets them.
    const product = await productOf(deps, lab, task);
    const place = product ? checkChildOf(task, item) : [];
    problems.push(...place);
    if (product && place.length === 0) {
      problems.push(...checkStageCode(task, product.stages, stageSystem(lab)));
    }
  }
  if (problems.length > 0) {
    throw fail.unprocessable("Cannot create Task", problems);
  }
}

/**
 * Checks the quality checks an update appends: the author of each is a
 * Practitioner of the lab (one no practice owns), since a check is the
 * lab's own word on its work; throws 422 naming the output.
 */
export async function checkQcSigners(
  deps: StoreDeps,
  lab: string,
  previous: Task,
  next: Task,
): Promise<void> {
  const problems: Problem[] = [];
  for (const { at, response } of newQcRecords(previous, next)) {
    const author = response?.author?.reference;
    const signer = await load(deps, lab, author, "Practitioner");
    if (!signer || signer.stored.practice !== undefined) {
      problems.push({
        message: "A quality check is signed by a Practitioner of the lab",
        expression: `Task.output[${at}]`,
      });
    }
  }
  if (problems.length > 0) {
    throw fail.unprocessable("Cannot update Task", problems);
  }
}

/**
 * Every problem with the place of a Task under `item`, the Task its one
 * `partOf` names (undefined when that is no stored Task): an open item
 * Task, part of no other Task and no design approval, of the same
 * prescription and patient.
 */
export function checkChildOf(child: Task, item: Task | undefined): Problem[] {
  const refuse = (message: string, expression = "Task.partOf") => [
    { message, expression },
  ];
  if (child.partOf?.length !== 1 || !item) {
    return refuse("partOf must name the one item Task this Task belongs to");
  }
  if (item.partOf?.length || isDesignApproval(item)) {
    return refuse("partOf must name an item Task, not a Task under one");
  }
  if (FINAL_STATUSES.includes(item.status)) {
    return refuse(`partOf names an item Task that is ${item.status}`);
  }
  const problems: Problem[] = [];
  if (!item.focus?.reference || !sameJson(item.focus, child.focus)) {
    problems.push(
      ...refuse("partOf must name the item Task of the same prescription"),
      ...refuse(
        "focus must be the prescription of the item Task in partOf",
        "Task.focus",
      ),
    );
  }
  if (child.for && !sameJson(item.for, child.for)) {
    problems.push(...refuse(
      "for must be the patient of the item Task in partOf",
      "Task.for",
    ));
  }
  return problems;
}

function isRef(reference: string | undefined, type: string): boolean {
  return reference?.startsWith(`${type}/`) ?? false;
}

async function load(
  deps: StoreDeps,
  lab: string,
  reference: string | undefined,
  type: string,
): Promise<Loaded | undefined> {
  if (!isRef(reference, type)) return undefined;
  const id = reference!.slice(type.length + 1);
  try {
    return await readResource(deps, lab, type, id, {});
  } catch (error) {
    if (error instanceof LhcmsError) return undefined;
    throw error;
  }
}
