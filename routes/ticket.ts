/**
 * `GET /labs/{lab}/cases/{caseNumber}/ticket`: the printable work ticket of
 * a case, for the lab's staff at the bench. Mounted from routes/lab.ts
 * behind its lab-member middleware; reading it is a PHI read, so its audit
 * record is committed before the page leaves.
 */
import type { Context, Handler } from "hono";
import { auditRecord, commitAudit } from "../domain/audit.ts";
import { fail } from "../domain/errors.ts";
import { can } from "../domain/roles.ts";
import { loadWorkTicket } from "../domain/work_ticket.ts";
import type { AppDeps, AppEnv } from "./env.ts";
import { network } from "./middleware.ts";
import { TICKET_CSP, ticketPage } from "./ticket_page.ts";

/**
 * The ticket handler. Lab staff who read cases (admins, lab admins,
 * technicians, viewers) print it; a dentist follows cases through FHIR,
 * and a compliance officer reads no clinical data.
 */
export function workTicket(deps: AppDeps): Handler<AppEnv> {
  return async (c) => {
    const { user } = c.var.caller;
    if (!can(user.role, "case:read") || user.role === "dentist") {
      throw fail.forbidden("Only the lab's staff print work tickets");
    }
    const lab = c.req.param("lab") as string;
    const caseNumber = c.req.param("caseNumber") as string;
    const ticket = await loadWorkTicket(deps, lab, caseNumber);

    await auditTicketRead(deps, c, lab, caseNumber, ticket.patientId);
    return c.html(ticketPage(ticket), 200, {
      "Content-Security-Policy": TICKET_CSP,
      "Cache-Control": "no-store",
    });
  };
}

async function auditTicketRead(
  deps: AppDeps,
  c: Context<AppEnv>,
  lab: string,
  caseNumber: string,
  patient?: string,
) {
  const { user } = c.var.caller;
  await commitAudit(
    deps.kv,
    auditRecord({
      subtype: "read",
      action: "R",
      outcome: "0",
      agent: { who: user.username, role: user.role },
      network: network(c),
      lab,
      entity: { type: "WorkTicket", id: caseNumber },
      patient,
    }, deps.clock()),
  );
  deps.auditWake({ lab });
}
