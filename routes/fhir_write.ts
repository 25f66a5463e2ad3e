/**
 * The two write paths every FHIR write goes through, so a create, a
 * conditional create, an update, a patch and a conditional update meet the
 * same checks: the resource's structure, its references, the caller's
 * role, the dental case rules, and one audited commit.
 */
import type { Task } from "@medplum/fhirtypes";
import type { Context } from "hono";
import { auditRecord } from "../domain/audit.ts";
import { prepareCreate, prepareUpdate } from "../domain/case_hooks.ts";
import { checkNewTask } from "../domain/case_workflow.ts";
import { checkNewChildTask, checkQcSigners } from "../domain/task_links.ts";
import { fail, LhcmsError, type Problem } from "../domain/errors.ts";
import { resolveReferences } from "../domain/references.ts";
import { describeScanAttachments } from "../domain/scan_documents.ts";
import {
  createResource,
  updateResource,
  type Visibility,
} from "../domain/resources.ts";
import type { Resource } from "../fhir/types.ts";
import {
  checkResource,
  localReferences,
  relativiseReferences,
} from "../fhir/validate.ts";
import type { AppDeps, AppEnv } from "./env.ts";
import {
  auditDraft,
  fhirBase,
  patientOf,
  requirePermission,
  requireTaskWrite,
  requireUpdate,
  visibilityOf,
} from "./fhir_support.ts";

/** A stored resource and the warnings of its write. */
export interface Written {
  resource: Resource;
  warnings: Problem[];
}

/** What the checks ahead of the dental rules found. */
export interface Checked {
  /** Structure warnings, returned with the answer. */
  warnings: Problem[];
  /** The practice a new record belongs to, from its references. */
  practice?: string;
  visibility: Visibility;
}

/**
 * The checks of a new resource ahead of the dental rules, shared by every
 * create and by `$validate`: structure, who may write this Task, and the
 * references, each a refusal when it fails.
 */
export async function checkNewResource(
  deps: AppDeps,
  c: Context<AppEnv>,
  lab: string,
  resource: Resource,
): Promise<Checked> {
  delete resource.id;
  const warnings = checkResource(resource);
  const task = resource.resourceType === "Task" ? resource : undefined;
  if (task) {
    requireTaskWrite(c.var.caller, undefined, task);
    checkNewTask(task);
  }
  const { practice, visibility } = await checkReferences(
    deps,
    c,
    lab,
    resource,
  );
  if (task) await checkNewChildTask(deps, lab, task);
  return { warnings, practice, visibility };
}

/** The checks of a changed resource ahead of its current version's. */
export async function checkChangedResource(
  deps: AppDeps,
  c: Context<AppEnv>,
  lab: string,
  resource: Resource,
): Promise<Checked> {
  const warnings = checkResource(resource);
  const { visibility } = await checkReferences(deps, c, lab, resource);
  return { warnings, visibility };
}

/**
 * The rules of a Task change that depend on who makes it: the role's Task
 * permission and the signers of quality checks.
 */
export async function checkTaskChange(
  deps: AppDeps,
  c: Context<AppEnv>,
  lab: string,
  previous: Resource,
  next: Resource,
) {
  if (next.resourceType !== "Task") return;
  requireTaskWrite(c.var.caller, previous as Task, next);
  await checkQcSigners(deps, lab, previous as Task, next);
}

// References made relative to the lab's base and checked against what the
// caller may see; a scan document's attachments described from their files.
async function checkReferences(
  deps: AppDeps,
  c: Context<AppEnv>,
  lab: string,
  resource: Resource,
) {
  const base = fhirBase(deps, c, lab);
  relativiseReferences(resource, base);
  const visibility = visibilityOf(c.var.caller);
  const { practice } = await resolveReferences(
    deps,
    lab,
    localReferences(resource, base),
    visibility,
  );
  if (resource.resourceType === "DocumentReference") {
    await describeScanAttachments(deps, lab, resource, base, visibility);
  }
  return { practice, visibility };
}

/**
 * Checks and stores a new resource. `claim` adds a conditional create's
 * claim to the commit; a commit it makes fail is left to its caller.
 */
export async function storeCreate(
  deps: AppDeps,
  c: Context<AppEnv>,
  lab: string,
  resource: Resource,
  claim?: (op: Deno.AtomicOperation) => void,
): Promise<Written> {
  requirePermission(c.var.caller, resource.resourceType, "create");
  const { warnings, practice, visibility } = await checkNewResource(
    deps,
    c,
    lab,
    resource,
  );
  const written = await createWithRules(deps, c, lab, resource, {
    practice,
    visibility,
    claim,
  });
  return { ...written, warnings: [...warnings, ...written.warnings] };
}

/**
 * Applies the dental rules and stores. A new case number is checked against
 * the lab's counter in the commit, so a concurrent case can make the commit
 * fail: the rules then run again on the fresh counter, after a short random
 * wait.
 */
async function createWithRules(
  deps: AppDeps,
  c: Context<AppEnv>,
  lab: string,
  resource: Resource,
  owner: {
    practice?: string;
    visibility: Visibility;
    claim?: (op: Deno.AtomicOperation) => void;
  },
): Promise<Written> {
  const { practice, visibility, claim } = owner;
  for (let attempt = 0;; attempt++) {
    const now = deps.clock();
    const prepared = await prepareCreate(deps, lab, resource, {
      now,
      practice,
      visibility,
    });
    try {
      const created = await createResource(deps, lab, prepared.resource, {
        practice,
        now,
        commit: (op) => {
          prepared.commit?.(op);
          claim?.(op);
        },
        audit: auditRecord(
          auditDraft(c, lab, "create", "C", { patient: patientOf(resource) }),
          now,
        ),
      });
      return { resource: created, warnings: prepared.warnings };
    } catch (error) {
      const busy = error instanceof LhcmsError && error.code === "conflict" &&
        prepared.commit !== undefined && claim === undefined;
      if (!busy) throw error;
      if (attempt + 1 >= MAX_CREATE_ATTEMPTS) {
        throw fail.conflict(
          `Cannot create ${resource.resourceType}: too many writes to ` +
            "the same case records (case numbers, pans, an item's Task) at " +
            "the same time; send it again",
        );
      }
      await backOff(attempt);
    }
  }
}

// Each round of a burst lets at least one create through, so a burst of
// this many simultaneous new cases from one lab still all succeed.
const MAX_CREATE_ATTEMPTS = 64;

/**
 * Waits a random time that grows with the attempt (up to 50 ms), so
 * writers that lost the same race do not collide again at once.
 */
function backOff(attempt: number): Promise<void> {
  const ceiling = Math.min(50, 2 ** attempt);
  return new Promise((done) => setTimeout(done, Math.random() * ceiling));
}

/**
 * Checks and stores a new version of a resource, as an update (`subtype`
 * "update") or a patch ("patch"). A technician's change is held to a
 * Task's status elements.
 */
export async function storeUpdate(
  deps: AppDeps,
  c: Context<AppEnv>,
  lab: string,
  resource: Resource & { id: string },
  options: { ifMatch?: number; subtype: "update" | "patch" },
): Promise<Written> {
  requireUpdate(c.var.caller, resource.resourceType);
  const { warnings: checked, visibility } = await checkChangedResource(
    deps,
    c,
    lab,
    resource,
  );

  const now = deps.clock();
  let warnings: Problem[] = checked;
  // What the rules of the latest review add to its commit (a pan guard).
  let reviewed: ((op: Deno.AtomicOperation) => void) | undefined;
  const updated = await updateResource(deps, lab, resource, {
    visibility,
    now,
    ifMatch: options.ifMatch,
    review: async (previous, next) => {
      await checkTaskChange(deps, c, lab, previous, next);
      const prepared = await prepareUpdate(deps, lab, previous, next, {
        now,
        practice: visibility.practice,
        visibility,
      });
      warnings = [...checked, ...prepared.warnings];
      reviewed = prepared.commit;
      return prepared.resource;
    },
    commit: (op) => reviewed?.(op),
    audit: auditRecord(
      auditDraft(c, lab, options.subtype, "U", {
        patient: patientOf(resource),
      }),
      now,
    ),
  });
  return { resource: updated, warnings };
}
