/**
 * The catalog a new lab starts with: the products, materials and production
 * stages most dental labs offer, so a lab can take cases on day one and then
 * adjust codes, stages and turnarounds to its own practice.
 */
import type { Product } from "./catalog.ts";

/** LHCMS's shared code system of restorative materials. */
export const MATERIAL_SYSTEM = "https://lhcms.dev/fhir/CodeSystem/material";

/** Materials LHCMS knows; `alloy` marks metal-ceramic work that needs one. */
export const MATERIALS: Record<string, { display: string; alloy?: true }> = {
  "zirconia": { display: "Zirconia" },
  "lithium-disilicate": { display: "Lithium disilicate" },
  "feldspathic": { display: "Feldspathic porcelain" },
  "pfm": { display: "Porcelain fused to metal", alloy: true },
  "full-cast-gold": { display: "Full-cast gold" },
  "composite": { display: "Composite resin" },
  "pmma": { display: "PMMA" },
  "acrylic": { display: "Acrylic" },
  "titanium": { display: "Titanium" },
  "cobalt-chrome": { display: "Cobalt-chrome" },
  "thermoplastic": { display: "Thermoplastic" },
};

/** Alloy classes for metal-ceramic work (ADA classification). */
export const ALLOYS: Record<string, string> = {
  "high-noble": "High noble alloy",
  "noble": "Noble alloy",
  "base-metal": "Base metal alloy",
};

const stage = (code: string, display: string, days: number) => ({
  code,
  display,
  days,
});
const QC = {
  code: "quality-check",
  display: "Quality check",
  days: 0,
  checklist: [
    { id: "fit", text: "Fits the model, contacts and occlusion checked" },
    { id: "margins", text: "Margins closed and smooth" },
    { id: "shade", text: "Shade matches the prescription" },
  ],
};
const SHIP = stage("ship", "Ship", 0);
const FIXED = [
  stage("model", "Model", 1),
  stage("design", "Design", 1),
  stage("mill", "Mill or cast", 1),
  stage("finish", "Stain, glaze and finish", 1),
  QC,
  SHIP,
];
const REMOVABLE = [
  stage("model", "Model", 1),
  stage("setup", "Set-up", 2),
  stage("process", "Process", 2),
  stage("finish", "Finish and polish", 1),
  QC,
  SHIP,
];
const APPLIANCE = [
  stage("model", "Model", 1),
  stage("fabricate", "Fabricate", 1),
  QC,
  SHIP,
];

const CERAMIC = ["zirconia", "lithium-disilicate", "feldspathic", "pfm"];
const shaded = { shade: true, margin: true, pontic: false };

/** The starting catalog of every new lab. */
export const DEFAULT_PRODUCTS: Product[] = [
  product(
    "crown",
    "Crown",
    "tooth",
    [...CERAMIC, "full-cast-gold"],
    shaded,
    FIXED,
    5,
    2,
  ),
  product(
    "bridge",
    "Bridge",
    "bridge",
    [...CERAMIC, "full-cast-gold"],
    {
      shade: true,
      margin: true,
      pontic: true,
    },
    FIXED,
    7,
    3,
  ),
  product(
    "inlay",
    "Inlay",
    "tooth",
    ["lithium-disilicate", "composite", "full-cast-gold"],
    shaded,
    FIXED,
    5,
    2,
  ),
  product(
    "onlay",
    "Onlay",
    "tooth",
    ["lithium-disilicate", "composite", "full-cast-gold"],
    shaded,
    FIXED,
    5,
    2,
  ),
  product(
    "veneer",
    "Veneer",
    "tooth",
    ["lithium-disilicate", "feldspathic", "composite"],
    shaded,
    FIXED,
    6,
    3,
  ),
  product(
    "implant-crown",
    "Implant crown",
    "tooth",
    ["zirconia", "lithium-disilicate", "pfm"],
    shaded,
    FIXED,
    7,
    3,
  ),
  product(
    "custom-abutment",
    "Custom abutment",
    "tooth",
    ["titanium", "zirconia"],
    {
      shade: false,
      margin: true,
      pontic: false,
    },
    FIXED,
    5,
    3,
  ),
  product(
    "full-denture",
    "Full denture",
    "arch",
    ["acrylic"],
    { shade: true, margin: false, pontic: false },
    REMOVABLE,
    10,
    5,
  ),
  product(
    "partial-denture",
    "Partial denture",
    "arch",
    ["acrylic", "cobalt-chrome"],
    {
      shade: true,
      margin: false,
      pontic: false,
    },
    REMOVABLE,
    10,
    5,
  ),
  product(
    "night-guard",
    "Night guard",
    "arch",
    ["acrylic", "thermoplastic"],
    noOptions(),
    APPLIANCE,
    4,
    2,
  ),
  product(
    "aligner",
    "Clear aligner",
    "arch",
    ["thermoplastic"],
    noOptions(),
    APPLIANCE,
    7,
    4,
  ),
  product(
    "temporary",
    "Temporary crown",
    "tooth",
    ["pmma", "composite"],
    shaded,
    APPLIANCE,
    2,
    1,
  ),
];

function noOptions() {
  return { shade: false, margin: false, pontic: false };
}

function product(
  code: string,
  display: string,
  needs: Product["needs"],
  materials: string[],
  options: Product["options"],
  stages: Product["stages"],
  turnaroundDays: number,
  rushDays: number,
): Product {
  return {
    code,
    display,
    needs,
    materials,
    options,
    stages,
    turnaroundDays,
    rushDays,
    active: true,
  };
}
