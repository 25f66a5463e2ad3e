/**
 * A lab's catalog: the products it makes, the materials allowed for each,
 * which prescription options each asks for, its production stages with a
 * standard duration, and its turnaround in business days. Lab admins keep
 * it; prescriptions name a product by the lab's catalog code.
 */
import { addPendingAudit, type AuditRecord } from "./audit.ts";
import { fail, type Problem } from "./errors.ts";
import { keys } from "./kv_keys.ts";
import { DEFAULT_PRODUCTS, MATERIALS } from "./catalog_defaults.ts";

/** A production stage of a product, in catalog order. */
export interface CatalogStage {
  code: string;
  display: string;
  /** Standard duration in business days. */
  days: number;
  optional?: boolean;
  /** A quality-check stage lists what must pass before shipping. */
  checklist?: { id: string; text: string }[];
}

/** One product of a lab's catalog. */
export interface Product {
  code: string;
  display: string;
  /** What the prescription must name: teeth, a bridge span or an arch. */
  needs: "tooth" | "bridge" | "arch";
  /** Codes of the LHCMS material code system allowed for this product. */
  materials: string[];
  options: { shade: boolean; margin: boolean; pontic: boolean };
  stages: CatalogStage[];
  turnaroundDays: number;
  rushDays: number;
  active: boolean;
}

/** Canonical URL of a lab's product code system (`ServiceRequest.code`). */
export function catalogSystem(lab: string): string {
  return `https://lhcms.dev/fhir/lab/${lab}/CodeSystem/products`;
}

/** Adds the default catalog of a new lab to its creating commit. */
export function addDefaultCatalog(op: Deno.AtomicOperation, lab: string) {
  for (const product of DEFAULT_PRODUCTS) {
    op.set(keys.catalogProduct(lab, product.code), product);
  }
}

/** Lists a lab's products in code order. */
export async function listProducts(
  kv: Deno.Kv,
  lab: string,
): Promise<Product[]> {
  const out: Product[] = [];
  for await (
    const e of kv.list<Product>({ prefix: keys.catalogProducts(lab) })
  ) {
    out.push(e.value);
  }
  return out;
}

/** One product, or undefined. */
export async function getProduct(kv: Deno.Kv, lab: string, code: string) {
  if (!CODE.test(code)) return undefined;
  return (await kv.get<Product>(keys.catalogProduct(lab, code))).value ??
    undefined;
}

/** Creates or replaces a product after checking it, with its audit record. */
export async function putProduct(
  kv: Deno.Kv,
  lab: string,
  input: unknown,
  audit: AuditRecord,
): Promise<Product> {
  const product = checkProduct(input);
  const op = kv.atomic().set(keys.catalogProduct(lab, product.code), product);
  addPendingAudit(op, {
    ...audit,
    entity: { type: "CatalogProduct", id: product.code },
  });
  if (!(await op.commit()).ok) throw fail.conflict("Cannot save the product");
  return product;
}

const CODE = /^[a-z0-9][a-z0-9-]{0,39}$/;

/** Checks a product sent by a lab admin; 400 listing every problem. */
export function checkProduct(input: unknown): Product {
  const p = (input ?? {}) as Partial<Product>;
  const problems: Problem[] = [];
  const need = (ok: boolean, expression: string, message: string) => {
    if (!ok) problems.push({ expression, message });
  };
  need(
    typeof p.code === "string" && CODE.test(p.code),
    "code",
    "code must be 1-40 lowercase letters, digits or hyphens",
  );
  need(
    typeof p.display === "string" && p.display.trim() !== "",
    "display",
    "display is required",
  );
  need(
    ["tooth", "bridge", "arch"].includes(p.needs as string),
    "needs",
    "needs must be tooth, bridge or arch",
  );
  need(
    Array.isArray(p.materials) && p.materials.length > 0 &&
      p.materials.every((m) => typeof m === "string" && m in MATERIALS),
    "materials",
    `materials must list codes among ${Object.keys(MATERIALS).join(", ")}`,
  );
  need(
    isDays(p.turnaroundDays),
    "turnaroundDays",
    "turnaroundDays must be a whole number of days, 0-90",
  );
  need(
    isDays(p.rushDays) &&
      (p.rushDays as number) <= (p.turnaroundDays as number),
    "rushDays",
    "rushDays must be a whole number no greater than turnaroundDays",
  );
  problems.push(...checkStages(p.stages));
  if (problems.length > 0) {
    throw fail.invalid("Cannot accept the product", problems);
  }
  return {
    code: p.code!,
    display: p.display!.trim(),
    needs: p.needs!,
    materials: [...new Set(p.materials!)],
    options: {
      shade: p.options?.shade === true,
      margin: p.options?.margin === true,
      pontic: p.options?.pontic === true,
    },
    stages: p.stages!,
    turnaroundDays: p.turnaroundDays!,
    rushDays: p.rushDays!,
    active: p.active !== false,
  };
}

function isDays(value: unknown): boolean {
  return Number.isInteger(value) && (value as number) >= 0 &&
    (value as number) <= 90;
}

function checkStages(stages: unknown): Problem[] {
  if (!Array.isArray(stages) || stages.length === 0 || stages.length > 30) {
    return [{ expression: "stages", message: "stages must list 1-30 stages" }];
  }
  const problems: Problem[] = [];
  const seen = new Set<string>();
  stages.forEach((s, i) => {
    const at = `stages[${i}]`;
    if (
      !s || typeof s.code !== "string" || !CODE.test(s.code) || seen.has(s.code)
    ) {
      problems.push({
        expression: `${at}.code`,
        message: "each stage needs a unique code",
      });
    } else seen.add(s.code);
    if (typeof s?.display !== "string" || s.display.trim() === "") {
      problems.push({
        expression: `${at}.display`,
        message: "each stage needs a display",
      });
    }
    if (!isDays(s?.days)) {
      problems.push({
        expression: `${at}.days`,
        message: "days must be a whole number, 0-90",
      });
    }
  });
  return problems;
}
