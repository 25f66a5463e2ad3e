// deno-lint-ignore-file no-explicit-any
/**
 * Helpers of the FHIR interaction tests: what a fhir-kit-client call
 * answered (status, headers, body, whether it failed), a dentist of a
 * second practice at a lab, and a crown case to work on.
 */
import { Client } from "fhir-kit-client";
import { prescription } from "./dental.ts";
import {
  call,
  fhirClient,
  login,
  PASSWORD,
  type TestServer,
} from "./helpers.ts";

/** What the server answered to one client call. */
export interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

/** Awaits a fhir-kit-client call and gives back the answer, error or not. */
export async function answer(pending: Promise<unknown>): Promise<Answer> {
  try {
    const body: any = await pending;
    const response = Client.httpFor(body).response as Response;
    return { status: response.status, headers: response.headers, body };
  } catch (error) {
    const e = error as { response?: { status: number; data: any } };
    if (!e.response) throw error;
    return {
      status: e.response.status,
      headers: new Headers(),
      body: e.response.data,
    };
  }
}

/**
 * A dentist of a second practice (`{lab}-other`) that sends cases to the
 * same lab, and a client for them.
 */
export async function otherDentist(server: TestServer, lab: string) {
  const practice = `${lab}-other`;
  const username = `${lab}-other-dentist`;
  for (
    const [path, body] of [
      ["/admin/practices", { id: practice, name: "Other", labs: [lab] }],
      ["/admin/users", {
        username,
        password: PASSWORD,
        role: "dentist",
        practice,
      }],
    ] as const
  ) {
    const res = await call(server.url, "POST", path, server.adminToken, body);
    if (res.status !== 201) throw new Error(`setup: ${res.status}`);
  }
  const token = await login(server.url, username, PASSWORD);
  return { token, client: fhirClient(server, lab, token) };
}

/** A patient, a crown prescription and its item Task, made by `client`. */
export async function crownCase(client: Client, lab: string) {
  const patient: any = await client.create({
    resourceType: "Patient",
    body: { resourceType: "Patient", gender: "female" },
  });
  const crown: any = await client.create({
    resourceType: "ServiceRequest",
    body: prescription(lab, patient.id, "crown", {
      teeth: ["36"],
      shade: "A2",
    }) as any,
  });
  const task: any = await client.create({
    resourceType: "Task",
    body: {
      resourceType: "Task",
      status: "requested",
      intent: "order",
      focus: { reference: `ServiceRequest/${crown.id}` },
      for: { reference: `Patient/${patient.id}` },
    },
  });
  return { patient, crown, task };
}
