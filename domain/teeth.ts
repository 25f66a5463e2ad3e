/**
 * Teeth as a dental lab names them: FDI (ISO 3950) and ADA Universal
 * notation, arches, quadrants and neighbours, bridge spans and arch
 * products. Pure functions; the FHIR codings live in fhir/terminology.ts.
 *
 * LHCMS stores one form, the FDI two-digit string ("11", "55"): it is the
 * ISO standard most of the world's labs use, each code says its own
 * quadrant and dentition, and it needs no second alphabet for primary
 * teeth. Universal is converted at the edges.
 */
import type { Problem } from "./errors.ts";

/** How a tooth is written on input. */
export type ToothNotation = "fdi" | "universal";
/** Upper (maxillary) or lower (mandibular) arch. */
export type Arch = "upper" | "lower";
/** What an arch product names: one arch or both. */
export type ArchSelection = Arch | "both";
/** The arch selections, in the order documents list them. */
export const ARCH_SELECTIONS: readonly ArchSelection[] = [
  "upper",
  "lower",
  "both",
];
/** A quadrant, named from the patient's point of view. */
export type Quadrant =
  | "upper-right"
  | "upper-left"
  | "lower-left"
  | "lower-right";
/** Permanent or primary (deciduous) teeth. */
export type Dentition = "permanent" | "primary";

/** One tooth and where it sits. */
export interface Tooth {
  /** Canonical FDI code, e.g. "11". */
  readonly fdi: string;
  /** ADA Universal designation, e.g. "8" or "E". */
  readonly universal: string;
  readonly arch: Arch;
  readonly quadrant: Quadrant;
  readonly dentition: Dentition;
  /**
   * Place along the arch, 1 to 16 from the patient's right to left. A
   * primary tooth takes the place of its permanent successor (55 that of
   * 15), so neighbours are the teeth whose slots differ by one.
   */
  readonly slot: number;
  /** English name, e.g. "Permanent upper right central incisor". */
  readonly name: string;
}

/** A parse result: the value, or a message fit for an OperationOutcome. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

// Permanent teeth in slot order, patient's right to left (ISO 3950).
const SLOTS: Record<Arch, number[]> = {
  upper: [18, 17, 16, 15, 14, 13, 12, 11, 21, 22, 23, 24, 25, 26, 27, 28],
  lower: [48, 47, 46, 45, 44, 43, 42, 41, 31, 32, 33, 34, 35, 36, 37, 38],
};
// Indexed by (FDI quadrant digit - 1) % 4, then by FDI second digit - 1.
const QUADRANTS = "upper-right upper-left lower-left lower-right".split(" ");
const KINDS: Record<Dentition, string[]> = {
  permanent: ("central incisor,lateral incisor,canine,first premolar," +
    "second premolar,first molar,second molar,third molar").split(","),
  primary: "central incisor,lateral incisor,canine,first molar,second molar"
    .split(","),
};

function makeTooth(fdi: number, arch: Arch, slot: number, universal: string) {
  const q = Math.floor(fdi / 10);
  const dentition: Dentition = q > 4 ? "primary" : "permanent";
  const quadrant = QUADRANTS[(q - 1) % 4] as Quadrant;
  const side = quadrant.split("-")[1];
  const name = `${q > 4 ? "Primary" : "Permanent"} ${arch} ${side} ` +
    KINDS[dentition][(fdi % 10) - 1];
  return { fdi: String(fdi), universal, arch, quadrant, dentition, slot, name };
}

// Universal counts 1-16 along the upper arch and 17-32 back along the
// lower one; primary teeth run A-J upper and K-T lower the same way.
function buildTeeth(): Tooth[] {
  const teeth: Tooth[] = [];
  for (const arch of ["upper", "lower"] as const) {
    SLOTS[arch].forEach((fdi, i) => {
      const universal = arch === "upper" ? i + 1 : 32 - i;
      teeth.push(makeTooth(fdi, arch, i + 1, String(universal)));
    });
    // Primary teeth sit in slots 4-13 and their FDI quadrant is 4 higher.
    SLOTS[arch].slice(3, 13).forEach((fdi, i) => {
      const letter = arch === "upper" ? 65 + i : 84 - i; // from A or from T
      teeth.push(makeTooth(fdi + 40, arch, i + 4, String.fromCharCode(letter)));
    });
  }
  return teeth;
}

/** All 52 teeth: permanent then primary, upper arch then lower. */
export const TEETH: readonly Tooth[] = buildTeeth();
const BY_FDI = new Map(TEETH.map((t) => [t.fdi, t]));
const BY_UNIVERSAL = new Map(TEETH.map((t) => [t.universal, t]));

/** Quotes short code-like input; anything else is not echoed (no PHI). */
export function quoteCode(text: string): string {
  return /^[0-9A-Za-z.,]{1,12}$/.test(text)
    ? `"${text}"`
    : "(value not repeated)";
}

/**
 * Reads a tooth written in FDI or Universal notation. The notation must be
 * known: "11" is an upper right central incisor in FDI, an upper left
 * canine in Universal. Universal letters may be lower case.
 * @example parseTooth("e", "universal") // { ok: true, value: { fdi: "51", … } }
 */
export function parseTooth(
  input: string | number,
  notation: ToothNotation,
): Parsed<Tooth> {
  const text = String(input).trim();
  const tooth = notation === "fdi"
    ? BY_FDI.get(text)
    : BY_UNIVERSAL.get(text.toUpperCase());
  if (tooth) return { ok: true, value: tooth };
  const known = notation === "fdi"
    ? "FDI notation (ISO 3950): permanent teeth are 11-18, 21-28, 31-38 " +
      "and 41-48, primary teeth 51-55, 61-65, 71-75 and 81-85"
    : "ADA Universal notation: permanent teeth are 1-32, primary teeth A-T";
  return {
    ok: false,
    message: `Tooth ${quoteCode(text)} does not exist in ${known}`,
  };
}

/** The tooth with this canonical FDI code, or undefined if none exists. */
export function toothByFdi(fdi: string): Tooth | undefined {
  return BY_FDI.get(fdi);
}

function requireTooth(code: string, notation: ToothNotation): Tooth {
  const parsed = parseTooth(code, notation);
  if (!parsed.ok) throw new RangeError(parsed.message);
  return parsed.value;
}

/** The Universal designation of an FDI tooth; throws RangeError if none. */
export function fdiToUniversal(fdi: string): string {
  return requireTooth(fdi, "fdi").universal;
}

/** The FDI code of a Universal tooth; throws RangeError if none. */
export function universalToFdi(universal: string): string {
  return requireTooth(universal, "universal").fdi;
}

/** Whether two FDI teeth are neighbours on one arch (11 and 21 are). */
export function areAdjacent(a: string, b: string): boolean {
  const x = BY_FDI.get(a), y = BY_FDI.get(b);
  return !!x && !!y && x.arch === y.arch && Math.abs(x.slot - y.slot) === 1;
}

/** FDI teeth strictly between two teeth of one arch, in a's dentition. */
export function teethBetween(a: string, b: string): string[] {
  const x = BY_FDI.get(a), y = BY_FDI.get(b);
  if (!x || !y || x.arch !== y.arch) return [];
  const [low, high] = [Math.min(x.slot, y.slot), Math.max(x.slot, y.slot)];
  return TEETH.filter((t) =>
    t.arch === x.arch && t.dentition === x.dentition && t.slot > low &&
    t.slot < high
  ).map((t) => t.fdi);
}

/** The role of one bridge unit. Cantilevers are refused (see the docs). */
export type BridgeRole = "abutment" | "pontic";
/** The roles a bridge unit may have. */
export const BRIDGE_ROLES: readonly BridgeRole[] = ["abutment", "pontic"];
/** The fewest units a bridge has: two abutments and a pontic. */
export const MIN_BRIDGE_UNITS = 3;

/** One unit of a bridge as received: an FDI tooth and a role. */
export interface BridgeUnit {
  readonly tooth: string;
  readonly role: string;
}

// Builds a problem, naming `path[index]` (or `path`) when a path is given.
type Report = (message: string, index?: number) => Problem;

function reporter(path?: string): Report {
  return (message, index) => {
    if (path === undefined) return { message };
    const at = index === undefined ? path : `${path}[${index}]`;
    return { message, expression: at };
  };
}

type Teeth = (Tooth | undefined)[];

function unitProblems(units: readonly BridgeUnit[], report: Report) {
  return units.flatMap((unit, i) => {
    const parsed = parseTooth(unit.tooth, "fdi");
    const found = parsed.ok
      ? []
      : [report(`Unit ${i + 1}: ${parsed.message}`, i)];
    if ((BRIDGE_ROLES as readonly string[]).includes(unit.role)) return found;
    return found.concat(report(
      `Unit ${i + 1}: role ${quoteCode(unit.role)} is not supported; ` +
        "a bridge unit is an abutment or a pontic (no cantilevers)",
      i,
    ));
  });
}

function repeats(teeth: Teeth, report: Report): Problem[] {
  return teeth.flatMap((t, i) => {
    const j = teeth.findIndex((u) =>
      u?.arch === t?.arch && u?.slot === t?.slot
    );
    if (!t || j === i) return [];
    const first = teeth[j]!;
    return [report(
      `Unit ${i + 1} (tooth ${t.fdi}) ` +
        (first.fdi === t.fdi
          ? `repeats unit ${j + 1}`
          : `takes the place of unit ${j + 1} (tooth ${first.fdi})`),
      i,
    )];
  });
}

function gaps(teeth: Teeth, report: Report): Problem[] {
  return teeth.flatMap((b, i) => {
    const a = teeth[i - 1];
    if (!a || !b || a.arch !== b.arch) return [];
    if ([0, 1].includes(Math.abs(a.slot - b.slot))) return [];
    const between = teethBetween(a.fdi, b.fdi);
    return [report(
      `Units ${i} and ${i + 1} (teeth ${a.fdi} and ${b.fdi}) are not ` +
        "next to each other along the arch" +
        (between.length === 0 ? "" : `; ${between.join(", ")} ` +
          `${between.length > 1 ? "lie" : "lies"} between them`),
      i,
    )];
  });
}

function spanProblems(
  units: readonly BridgeUnit[],
  teeth: Teeth,
  report: Report,
): Problem[] {
  const problems: Problem[] = [];
  const on = (arch: Arch) =>
    teeth.filter((t) => t?.arch === arch).map((t) => t!.fdi).join(", ");
  if (on("upper") && on("lower")) {
    problems.push(report(
      "A bridge stays on one arch; this one has upper teeth " +
        `(${on("upper")}) and lower teeth (${on("lower")})`,
    ));
  }
  const ends = [[0, "first"], [units.length - 1, "last"]] as const;
  for (const [i, end] of units.length > 0 ? ends : []) {
    if (units[i].role !== "pontic") continue;
    problems.push(report(
      `The ${end} unit (tooth ${quoteCode(units[i].tooth)}) must be an ` +
        "abutment, not a pontic",
      i,
    ));
  }
  return problems;
}

/**
 * Every problem with a bridge: units that are not teeth or have an unknown
 * role, fewer than {@link MIN_BRIDGE_UNITS} units, repeats, two arches,
 * gaps or disorder along the arch, and a pontic at either end. With `path`
 * (e.g. "ServiceRequest.bodySite"), a problem names its unit as
 * `path[index]`, or `path` when it concerns the whole bridge.
 * @example validateBridge([{ tooth: "13", role: "abutment" }]) // 1 problem
 */
export function validateBridge(
  units: readonly BridgeUnit[],
  path?: string,
): Problem[] {
  const report = reporter(path);
  const teeth = units.map((u) => toothByFdi(String(u.tooth).trim()));
  const size = units.length >= MIN_BRIDGE_UNITS ? [] : [report(
    `A bridge has at least ${MIN_BRIDGE_UNITS} units; this one has ` +
      `${units.length}`,
  )];
  return size.concat(
    unitProblems(units, report),
    repeats(teeth, report),
    spanProblems(units, teeth, report),
    gaps(teeth, report),
  );
}

/** What a product is made on: single teeth, a bridge span or an arch. */
export type ProductNeeds = "teeth" | "arch" | "bridge";

/** The sites a prescription line names; teeth in FDI. */
export interface ProductSites {
  readonly teeth?: readonly string[];
  readonly units?: readonly BridgeUnit[];
  readonly arch?: string;
}

function teethProblems(teeth: readonly string[], report: Report): Problem[] {
  if (teeth.length === 0) {
    return [report("This product is made on teeth; name at least one")];
  }
  return teeth.flatMap((code, i) => {
    const parsed = parseTooth(code, "fdi");
    if (!parsed.ok) return [report(parsed.message, i)];
    const first = teeth.findIndex((c) => c.trim() === code.trim());
    return first === i ? [] : [report(`Tooth ${code} is named twice`, i)];
  });
}

function archProblems(sites: ProductSites, report: Report): Problem[] {
  const { arch, teeth = [], units = [] } = sites;
  const problems: Problem[] = [];
  if (!(ARCH_SELECTIONS as readonly string[]).includes(arch ?? "")) {
    const given = arch === undefined ? "" : `, not ${quoteCode(arch)}`;
    problems.push(report(
      `This product is made for an arch; name upper, lower or both${given}`,
    ));
  }
  if (teeth.length + units.length > 0) {
    problems.push(report("An arch product names an arch, not teeth"));
  }
  return problems;
}

/**
 * Checks that a product gets the sites it needs: a tooth product names
 * teeth, a bridge names units with roles (see {@link validateBridge}), and
 * an arch product names "upper", "lower" or "both" instead, with no teeth.
 * @example validateProductSites({ needs: "arch" }, { arch: "upper" }) // []
 */
export function validateProductSites(
  product: { readonly needs: ProductNeeds },
  sites: ProductSites,
  path?: string,
): Problem[] {
  const report = reporter(path);
  if (product.needs === "arch") return archProblems(sites, report);
  const noArch = sites.arch === undefined ? [] : [
    report("This product is made on teeth, not a whole arch; name no arch"),
  ];
  return noArch.concat(
    product.needs === "bridge"
      ? validateBridge(sites.units ?? [], path)
      : teethProblems(sites.teeth ?? [], report),
  );
}
