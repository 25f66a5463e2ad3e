/**
 * The printable work ticket as HTML: the lab case number as a Code 128
 * barcode (SVG from bwip-js, built from the case number alone), dates,
 * items, shades, instructions and a stage checklist per item. Every value
 * goes through Hono's `html` template, which escapes each interpolation;
 * only the barcode SVG, made by the library from a checked case number,
 * is inserted raw. No script; the one style sheet is allowed by its hash.
 */
import bwipjs from "bwip-js";
import { encodeBase64 } from "../domain/config.ts";
import type { TicketItem, WorkTicket } from "../domain/work_ticket.ts";
import { html, raw } from "hono/html";

/**
 * The Code 128 barcode of a case number as SVG. It encodes the case
 * number and nothing else, so a scanner reads no PHI from it.
 */
export function caseBarcodeSvg(caseNumber: string): string {
  return bwipjs.toSVG({
    bcid: "code128",
    text: caseNumber,
    scale: 2,
    height: 12,
    includetext: false,
    paddingwidth: 10,
  });
}

// A5 portrait fits a tray and prints at A5 or, scaled, on Letter paper.
const CSS = `
@page { size: A5 portrait; margin: 8mm; }
body { font: 10pt/1.35 system-ui, sans-serif; color: #000; margin: 0; }
header { display: flex; justify-content: space-between; align-items: start;
  border-bottom: 2px solid #000; padding-bottom: 4mm; }
.barcode svg { height: 16mm; width: auto; }
.case-number { font: bold 16pt ui-monospace, monospace; letter-spacing: 1px; }
.rush { border: 2px solid #000; padding: 1mm 3mm; font-weight: bold; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 1mm 4mm;
  margin: 3mm 0; }
dt { font-weight: bold; }
dd { margin: 0; }
section.item { border: 1px solid #000; padding: 2mm 3mm; margin-top: 3mm;
  break-inside: avoid; }
h2 { font-size: 11pt; margin: 0 0 1mm; }
ul.stages { list-style: none; padding: 0; margin: 1mm 0 0;
  columns: 2; }
ul.stages li::before { content: "\\2610\\00a0"; }
ul.stages li.done::before { content: "\\2611\\00a0"; }
ul.stages li.current { font-weight: bold; }
.note { white-space: pre-wrap; border-left: 2px solid #000; padding-left: 2mm; }
`;

/** The CSP source that admits exactly the ticket's style sheet. */
export const STYLE_HASH = `'sha256-${
  encodeBase64(
    new Uint8Array(
      await crypto.subtle.digest("SHA-256", new TextEncoder().encode(CSS)),
    ),
  )
}'`;

/** The Content-Security-Policy of the ticket: no script, no fetches. */
export const TICKET_CSP = `default-src 'none'; style-src ${STYLE_HASH}; ` +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function teethText(item: TicketItem) {
  if (item.arch) return `${item.arch} arch`;
  return item.teeth.map((t) =>
    `FDI ${t.fdi} (Universal ${t.universal})${t.role ? ` ${t.role}` : ""}`
  ).join(", ");
}

function itemSection(item: TicketItem, index: number) {
  const shades = item.shades.map((s) => `${s.role}: ${s.shade}`).join("; ");
  const material = [item.material, item.alloy].filter((m) => m).join(", ");
  return html`<section class="item">
<h2>Item ${index + 1}: ${item.product}</h2>
<dl>
<dt>Teeth</dt><dd>${teethText(item) || "none"}</dd>
<dt>Shades</dt><dd>${shades || "none"}</dd>
<dt>Material</dt><dd>${material || "not given"}</dd>
${
    item.margin
      ? html`
        <dt>Margin</dt>
        <dd>${item.margin}</dd>
      `
      : ""
  }
${
    item.pontic
      ? html`
        <dt>Pontic</dt>
        <dd>${item.pontic}</dd>
      `
      : ""
  }
<dt>Ship by</dt><dd>${item.shipBy ?? "not set"}</dd>
${
    item.status
      ? html`
        <dt>Status</dt>
        <dd>${item.status}</dd>
      `
      : ""
  }
</dl>
${item.notes.map((n) => html`<p class="note">${n}</p>`)}
<ul class="stages">
${
    item.stages.map((s) =>
      html`<li class="${s.state}">${s.display}${
        s.state === "current" ? " (current)" : ""
      }</li>`
    )
  }
</ul>
</section>`;
}

/** The whole ticket page. */
export function ticketPage(ticket: WorkTicket) {
  const barcode = raw(caseBarcodeSvg(ticket.caseNumber));
  return html`
    <!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8">
        <title>Work ticket ${ticket.caseNumber}</title>
        <style>${raw(CSS)}</style>
      </head>
      <body>
    <header>
    <div>
    <div class="case-number">Case ${ticket.caseNumber}</div>
    ${ticket.rush ? html`<span class="rush">RUSH</span>` : ""}
    </div>
    <div class="barcode">${barcode}</div>
    </header>
    <dl>
    <dt>Due</dt><dd>${ticket.due ?? "not set"}</dd>
    <dt>Ship by</dt><dd>${ticket.shipBy ?? "not set"}</dd>
    <dt>Practice</dt><dd>${ticket.practice ?? "not recorded"}</dd>
    <dt>Dentist</dt><dd>${ticket.dentist ?? "not recorded"}</dd>
    <dt>Patient</dt><dd>${ticket.patientLabel ?? "not recorded"}</dd>
    </dl>
    ${ticket.items.map(itemSection)}
      </body>
    </html>
  `;
}
