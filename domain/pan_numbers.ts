/**
 * A pan (tray) holds one case's work at a time. Labs reuse pans, so each
 * use carries a period; a use is refused when its period overlaps the use
 * of the same pan by another case the lab has not finished. A use without
 * an end lasts until its case is finished (case_items.ts), so a lab that
 * never closes periods still gets its pans back when it ships.
 */
import type { Identifier, ServiceRequest } from "@medplum/fhirtypes";
import { isCaseFinished, searchLab } from "./case_items.ts";
import { caseNumberSystem } from "./dental_case.ts";
import { panNumberSystem } from "./dental_item.ts";
import { fail, type Problem } from "./errors.ts";
import { keys } from "./kv_keys.ts";
import type { StoreDeps } from "./resources.ts";

/** Where the check stands: the item's case, and who is asking. */
export interface PanContext {
  /**
   * The item as stored, when it is being updated: it is no rival, and the
   * pan uses it already had are not judged again.
   */
  previous?: ServiceRequest;
  /**
   * The body as sent, when the rules reordered its identifiers: problems
   * point at the sender's own `identifier[i]`.
   */
  sent?: ServiceRequest;
  /** Lab staff see which case holds the pan; a practice does not. */
  showCase: boolean;
}

/**
 * Throws 422 when a pan of `request` is held by another open case; returns
 * what the write's commit must add so that a concurrent write of the same
 * pan makes it fail (and be checked again).
 */
export async function requireFreePans(
  deps: StoreDeps,
  lab: string,
  request: ServiceRequest,
  context: PanContext,
): Promise<(op: Deno.AtomicOperation) => void> {
  const system = panNumberSystem(lab);
  const own = caseOf(lab, request);
  const finished = new Map<string, Promise<boolean>>();
  const isOpen = (n: string) => {
    if (!finished.has(n)) finished.set(n, isCaseFinished(deps, lab, n));
    return finished.get(n)!.then((done) => !done);
  };
  const before = (context.previous?.identifier ?? []).map((id) =>
    JSON.stringify([id.system, id.value, id.period])
  );
  const kept = (id: Identifier) =>
    before.includes(JSON.stringify([id.system, id.value, id.period]));
  const sentIndex = (pan: Identifier, i: number) => {
    const at =
      context.sent?.identifier?.findIndex((id) =>
        id.system === pan.system && id.value === pan.value
      ) ?? -1;
    return at >= 0 ? at : i;
  };
  const problems: Problem[] = [];
  const guards: Deno.KvEntryMaybe<unknown>[] = [];
  for (const [i, pan] of (request.identifier ?? []).entries()) {
    if (pan.system !== system || !pan.value || kept(pan)) continue;
    // Read before the search: a write of this pan committed after the
    // search then changes the guard this commit checks.
    const blind = await deps.keyRing.blindIndex(lab, "case|pan", pan.value);
    guards.push(await deps.kv.get(keys.panGuard(lab, blind)));
    for (const other of await itemsWithPan(deps, lab, system, pan.value)) {
      const rival = caseOf(lab, other);
      if (other.id === context.previous?.id || !rival || rival === own) {
        continue;
      }
      const clash = (other.identifier ?? []).some((use) =>
        use.system === system && use.value === pan.value &&
        overlaps(use, pan)
      );
      if (clash && await isOpen(rival)) {
        problems.push({
          message:
            `pan number ${pan.value} is in use on ${
              context.showCase ? `case ${rival}` : "another case"
            } during this period; end that use (identifier.period.end) or ` +
            "choose another pan",
          expression: `ServiceRequest.identifier[${sentIndex(pan, i)}]`,
        });
        break;
      }
    }
  }
  if (problems.length > 0) {
    throw fail.unprocessable("Cannot accept the pan number", problems);
  }
  return (op) => {
    for (const guard of guards) op.check(guard).set(guard.key, true);
  };
}

function caseOf(lab: string, request: ServiceRequest): string | undefined {
  const system = caseNumberSystem(lab);
  return request.identifier?.find((i) => i.system === system)?.value;
}

async function itemsWithPan(
  deps: StoreDeps,
  lab: string,
  system: string,
  value: string,
) {
  return await searchLab(deps, lab, "ServiceRequest", {
    identifier: `${system}|${value}`,
  }) as ServiceRequest[];
}

/**
 * Whether two uses share a moment. A missing end runs on; a use may start
 * the moment the other ends, as a pan emptied at noon is filled at noon.
 */
function overlaps(a: Identifier, b: Identifier): boolean {
  const start = (id: Identifier) => Date.parse(id.period?.start ?? "") || 0;
  const end = (id: Identifier) =>
    id.period?.end ? Date.parse(id.period.end) : Infinity;
  return start(a) < end(b) && start(b) < end(a);
}
