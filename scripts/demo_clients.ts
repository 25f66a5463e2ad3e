/**
 * The HTTP clients of the demo story (scripts/demo_story.ts): plain JSON
 * calls for sign-in and administration, and fhir-kit-client, typed with
 * the FHIR R4 types, for everything a practice system does.
 */
import type { Resource } from "@medplum/fhirtypes";
import { Client } from "fhir-kit-client";

/** A username and password. */
export interface Credentials {
  username: string;
  password: string;
}

// fhir-kit-client types bodies as loose records; these casts are the one
// bridge to the @medplum/fhirtypes R4 types used everywhere else.
type KitResource = Record<string, unknown> & { resourceType: string };
const asKit = (r: Resource) => r as unknown as KitResource;

/** fhir-kit-client at one lab's base URL, as a practice system uses it. */
export class Fhir {
  #client: Client;

  constructor(base: string, lab: string, bearerToken: string) {
    this.#client = new Client({ baseUrl: `${base}/fhir/${lab}`, bearerToken });
  }

  /** Creates a resource; the server assigns its id. */
  async create<T extends Resource>(resource: T | Promise<T>): Promise<T> {
    const body = await resource;
    const resourceType = body.resourceType;
    return await this.#client.create({
      resourceType,
      body: asKit(body),
    }) as unknown as T;
  }

  /** Reads the current version of a resource. */
  async read<T extends Resource>(type: T["resourceType"], id: string) {
    return await this.#client.read({ resourceType: type, id }) as unknown as T;
  }

  /**
   * Updates the version that was read, with If-Match (FHIR R4 http.html,
   * "Managing Resource Contention"): 412 if it changed in between.
   */
  async update<T extends Resource>(resource: T): Promise<T> {
    return await this.#client.update({
      resourceType: resource.resourceType,
      id: resource.id as string,
      body: asKit(resource),
      options: { headers: { "If-Match": `W/"${resource.meta?.versionId}"` } },
    }) as unknown as T;
  }

  /** Searches one resource type; returns the first page's resources. */
  async search<T extends Resource>(
    type: T["resourceType"],
    searchParams: Record<string, string>,
  ): Promise<T[]> {
    const bundle = await this.#client.search({
      resourceType: type,
      searchParams,
    }) as { entry?: { resource: T }[] };
    return (bundle.entry ?? []).map((e) => e.resource);
  }
}

/** What the server said: an OperationOutcome's or a JSON error's message. */
export function said(data: unknown): string {
  const d = data as { message?: string; issue?: { diagnostics?: string }[] };
  return d?.issue?.[0]?.diagnostics ?? d?.message ?? "";
}

/** Signs in and returns the access token. */
export async function login(base: string, user: Credentials): Promise<string> {
  const res = await postJson(`${base}/auth/login`, user);
  if (res.status !== 200) throw new Error(`HTTP ${res.status} ${res.said}`);
  return res.body.access_token as string;
}

/** POSTs to `/admin/{collection}`; throws unless the server answers 201. */
export async function adminPost(
  base: string,
  token: string,
  collection: string,
  body: unknown,
): Promise<void> {
  const res = await postJson(`${base}/admin/${collection}`, body, token);
  if (res.status !== 201) throw new Error(`HTTP ${res.status} ${res.said}`);
}

async function postJson(url: string, body: unknown, token?: string) {
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  }).catch((error) => {
    // fetch says only "fetch failed"; the reason is in its cause.
    const reason = (error as Error).cause ?? error;
    throw new Error(`cannot reach LHCMS: ${(reason as Error).message}`);
  });
  const parsed = await res.json().catch(() => ({}));
  return { status: res.status, body: parsed, said: said(parsed) };
}
