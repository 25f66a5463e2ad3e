/**
 * The demo story, shared by `deno task demo` (scripts/demo.ts) and
 * tests/demo_story_test.ts: an admin sets up a lab and a practice, the
 * practice's system sends a crown prescription through the FHIR API with
 * fhir-kit-client, exactly as a PMS would, the lab works the Task to
 * completion, and the practice reads the outcome back.
 */
import type {
  Organization,
  Patient,
  Practitioner,
  Resource,
  ServiceRequest,
  Task,
} from "@medplum/fhirtypes";
import {
  adminPost,
  type Credentials,
  Fhir,
  login,
  said,
} from "./demo_clients.ts";
import { newSystemKey, systemToken } from "./smart_client.ts";
import {
  CROWN_SUMMARY,
  crownRequest,
  crownTask,
  DENTAL_DEGREE,
  fixture,
  moveTask,
} from "./demo_resources.ts";

export type { Credentials };

/** Receives one readable line per step. */
export type StepLogger = (line: string) => void;

/** The names one run of the story gives what it creates. */
export interface DemoNames {
  run: string;
  lab: string;
  practice: string;
  dentist: string;
  technician: string;
}

/** What the practice system sent. */
export interface SentCase {
  organization: Organization;
  practitioner: Practitioner;
  patient: Patient;
  serviceRequest: ServiceRequest;
  task: Task;
}

/** What the lab did. */
export interface LabWork {
  /** The requested Tasks the technician found in the lab's worklist. */
  worklist: Task[];
  /** The lab accepts the case before work starts (FHIR Task state machine). */
  accepted: Task;
  inProgress: Task;
  completed: Task;
}

/** What the practice saw at the end. */
export interface FollowUp {
  /** The Task and ServiceRequest as read back once the lab was done. */
  readBack: { task: Task; serviceRequest: ServiceRequest };
  /** The prescription, closed by the practice after the lab completed it. */
  closed: ServiceRequest;
}

/** What each step of the story produced. */
export type DemoResult = DemoNames & SentCase & LabWork & FollowUp;

/** A step that failed, named, with the server's words. */
export class DemoError extends Error {
  constructor(step: string, detail: string) {
    super(`${step} failed: ${detail}`);
    this.name = "DemoError";
  }
}

/** How the story runs. */
export interface StoryOptions {
  /** The server's clock (a test's injected clock); real time otherwise. */
  now?: () => Date;
  /**
   * The practice system connects with SMART Backend Services (a registered
   * key pair and client credentials) instead of a dentist's sign-in, and
   * acts for the dentist.
   */
  smart?: boolean;
}

/** The scopes the practice system of the story asks for. */
export const DEMO_SCOPES = [
  "system/Organization.cru",
  "system/Practitioner.cru",
  "system/Patient.cru",
  "system/ServiceRequest.cru",
  "system/Task.crus",
].join(" ");

/**
 * Runs the whole story against the LHCMS at `baseUrl`. Ids carry a per-run
 * suffix, so the story can run any number of times on one server.
 *
 * @example
 * const result = await runDemoStory("http://127.0.0.1:8080", admin, console.log);
 * result.readBack.task.status; // "completed"
 */
export async function runDemoStory(
  baseUrl: string,
  admin: Credentials,
  log: StepLogger,
  options: StoryOptions = {},
): Promise<DemoResult> {
  const base = baseUrl.replace(/\/+$/, "");
  const step = stepRunner(log);
  // Lowercase letters, digits and hyphens, as lab and practice ids must be.
  const run = `${Date.now().toString(36)}-${hex(2)}`;
  const names: DemoNames = {
    run,
    lab: `demo-lab-${run}`,
    practice: `demo-practice-${run}`,
    dentist: `demo-dentist-${run}`,
    technician: `demo-tech-${run}`,
  };
  const dentist = { username: names.dentist, password: hex(16) };
  const tech = { username: names.technician, password: hex(16) };

  const adminToken = await adminSetsUp(step, base, admin, names, [
    dentist,
    tech,
  ]);
  // The people the story creates enroll an authenticator at first sign-in.
  const enroll = { enroll: true, now: options.now };
  const signIn = async (who: string, user: Credentials) =>
    new Fhir(
      base,
      names.lab,
      await step(`${who} signs in`, () =>
        login(base, user, enroll), () =>
        `${who}: signed in as ${user.username}`),
    );
  const pms = options.smart
    ? await connectSystem(step, base, adminToken, names, options.now)
    : await signIn("practice", dentist);
  const sent = await practiceSends(step, pms, names);
  const work = await labWorks(step, await signIn("lab", tech));
  const followUp = await practiceFollowsUp(step, pms, sent);
  return { ...names, ...sent, ...work, ...followUp };
}

async function adminSetsUp(
  step: Step,
  base: string,
  admin: Credentials,
  n: DemoNames,
  [dentist, tech]: Credentials[],
): Promise<string> {
  const token = await step(
    "admin signs in",
    () => login(base, admin),
    () => `admin: signed in as ${admin.username}`,
  );
  const post = (collection: string, what: string, body: object) =>
    step(
      `admin creates the ${what}`,
      () => adminPost(base, token, collection, body),
      () => `admin: created ${what}`,
    );
  await post("labs", `lab ${n.lab}`, { id: n.lab, name: `Demo Lab ${n.run}` });
  await post("practices", `practice ${n.practice} sending to ${n.lab}`, {
    id: n.practice,
    name: `Demo Practice ${n.run}`,
    labs: [n.lab],
  });
  await post("users", `dentist ${n.dentist} of ${n.practice}`, {
    ...dentist,
    role: "dentist",
    practice: n.practice,
  });
  await post("users", `lab technician ${n.technician} at ${n.lab}`, {
    ...tech,
    role: "lab_technician",
    labs: [n.lab],
  });
  return token;
}

/**
 * The admin registers the practice system with its public key; the system
 * gets a token with a signed assertion and acts for the practice's dentist.
 */
async function connectSystem(
  step: Step,
  base: string,
  adminToken: string,
  n: DemoNames,
  now = () => new Date(),
): Promise<Fhir> {
  const key = await newSystemKey("ES384");
  const client = await step(
    "admin registers the practice system",
    () =>
      adminPost(base, adminToken, `practices/${n.practice}/clients`, {
        id: `demo-pms-${n.run}`,
        name: `Demo PMS ${n.run}`,
        jwks: { keys: [key.publicJwk] },
        scopes: DEMO_SCOPES.split(" "),
      }),
    (c) => `admin: registered practice system ${c.id} (ES384 key)`,
  );
  const credentials = {
    clientId: client.id as string,
    alg: "ES384" as const,
    privateKey: key.privateKey,
    kid: key.kid,
  };
  const token = await step(
    "the practice system gets a token",
    () => systemToken(base, credentials, DEMO_SCOPES, now()),
    () => `practice: system ${client.id} got a token for ${n.dentist}`,
  );
  return new Fhir(base, n.lab, token, { "X-On-Behalf-Of": n.dentist });
}

async function practiceSends(
  step: Step,
  pms: Fhir,
  n: DemoNames,
): Promise<SentCase> {
  const register = <T extends Resource>(
    what: string,
    name: string,
    adapt: (r: T) => void,
  ) =>
    step(
      `the practice registers ${what}`,
      () => pms.create(fixture<T>(name, adapt)),
      (r) => `practice: registered ${ref(r)} v${version(r)} (from ${name})`,
    );
  const organization = await register<Organization>(
    "itself",
    "Organization-1.json",
    (o) => (o.name = `Demo Practice ${n.run}`),
  );
  const practitioner = await register<Practitioner>(
    "its dentist",
    "Practitioner-example.json",
    (p) => (p.qualification = [{ code: DENTAL_DEGREE }]),
  );
  const patient = await register<Patient>(
    "the patient",
    "Patient-example.json",
    (p) => (p.managingOrganization = { reference: ref(organization) }),
  );
  const serviceRequest = await step(
    "the practice prescribes a crown",
    () => pms.create(crownRequest(ref(patient), ref(practitioner))),
    (sr) => `practice: sent crown prescription ${ref(sr)} (${CROWN_SUMMARY})`,
  );
  const task = await step(
    "the practice sends the Task",
    () =>
      pms.create(
        crownTask(ref(serviceRequest), ref(patient), ref(practitioner)),
      ),
    (t) => `practice: sent ${ref(t)} v${version(t)} ${t.status}`,
  );
  return { organization, practitioner, patient, serviceRequest, task };
}

async function labWorks(step: Step, workbench: Fhir): Promise<LabWork> {
  const worklist = await step(
    "the lab reads its worklist",
    () => workbench.search<Task>("Task", { status: "requested" }),
    (found) => `lab: worklist holds ${found.length} requested Task(s)`,
  );
  if (worklist.length === 0) {
    throw new DemoError("the lab reads its worklist", "no requested Task");
  }
  const move = (task: Task, status: Task["status"], business: string) =>
    step(
      `the lab moves the Task to ${status}`,
      () => workbench.update(moveTask(task, status, business)),
      (t) => `lab: ${ref(t)} v${version(t)} ${t.status} (${business})`,
    );
  const accepted = await move(worklist[0], "accepted", "Received at the lab");
  const inProgress = await move(accepted, "in-progress", "Milling");
  const completed = await move(inProgress, "completed", "Shipped");
  return { worklist, accepted, inProgress, completed };
}

async function practiceFollowsUp(
  step: Step,
  pms: Fhir,
  sent: SentCase,
): Promise<FollowUp> {
  const readBack = await step(
    "the practice reads the case back",
    async () => ({
      task: await pms.read<Task>("Task", sent.task.id!),
      serviceRequest: await pms.read<ServiceRequest>(
        "ServiceRequest",
        sent.serviceRequest.id!,
      ),
    }),
    ({ task: t, serviceRequest: sr }) =>
      `practice: reads ${ref(t)} v${version(t)} ${t.status}, ` +
      `${ref(sr)} v${version(sr)} ${sr.status}`,
  );
  const closed = await step(
    "the practice closes its prescription",
    () => pms.update({ ...readBack.serviceRequest, status: "completed" }),
    (sr) => `practice: closes ${ref(sr)} v${version(sr)} ${sr.status}`,
  );
  return { readBack, closed };
}

type Step = <T>(
  name: string,
  action: () => Promise<T>,
  line: (value: T) => string,
) => Promise<T>;

/** Runs steps: logs each one's line, turns a failure into a DemoError. */
function stepRunner(log: StepLogger): Step {
  return async (name, action, line) => {
    let value;
    try {
      value = await action();
    } catch (error) {
      if (error instanceof DemoError) throw error;
      // fhir-kit-client's errors carry the response status and body.
      const http = (error as { response?: { status: number; data: unknown } })
        .response;
      const detail = http
        ? `HTTP ${http.status} ${said(http.data)}`
        : (error as Error).message;
      throw new DemoError(name, detail);
    }
    log(line(value));
    return value;
  };
}

const ref = (r: Resource) => `${r.resourceType}/${r.id}`;
const version = (r: Resource) => r.meta?.versionId;

/** Random lowercase hex: per-run ids and the demo users' passwords. */
function hex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)))
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}
