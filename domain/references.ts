/**
 * Referential checks on incoming resources: every relative reference must
 * name a record of the same lab that the caller may see, so a case can
 * never point into another lab or another practice. A new record inherits
 * the practice of what it refers to, so a lab's Task on a dentist's
 * prescription stays visible to that dentist.
 */
import type { FoundReference } from "../fhir/validate.ts";
import { isStoredType } from "../fhir/types.ts";
import { fail } from "./errors.ts";
import { keys } from "./kv_keys.ts";
import {
  type StoreDeps,
  type StoredResource,
  type Visibility,
  visibleTo,
} from "./resources.ts";

/** Checks references; returns the practice the new record belongs to. */
export async function resolveReferences(
  deps: StoreDeps,
  lab: string,
  references: FoundReference[],
  visibility: Visibility,
): Promise<{ practice?: string }> {
  const unresolved: FoundReference[] = [];
  const stored: (StoredResource | null)[] = [];
  const wanted = references.filter((r) => isStoredType(r.ref.split("/")[0]));
  unresolved.push(...references.filter((r) => !wanted.includes(r)));

  for (let i = 0; i < wanted.length; i += 10) {
    const batch = wanted.slice(i, i + 10);
    const entries = await deps.kv.getMany<StoredResource[]>(
      batch.map(({ ref }) => {
        const [type, id] = ref.split("/");
        return keys.resource(lab, type, id);
      }),
    );
    entries.forEach((entry, j) => {
      const type = batch[j].ref.split("/")[0];
      const value = entry.value;
      if (
        value === null || value.deleted || !visibleTo(type, value, visibility)
      ) {
        unresolved.push(batch[j]);
      } else stored.push(value);
    });
  }
  if (unresolved.length > 0) {
    throw fail.unprocessable(
      "Cannot accept the resource: references must name records of this lab",
      unresolved.map((r) => ({
        message: `${r.ref} is not a record of this lab`,
        expression: r.expression,
      })),
    );
  }
  return {
    practice: visibility.practice ?? stored.find((s) => s?.practice)?.practice,
  };
}
