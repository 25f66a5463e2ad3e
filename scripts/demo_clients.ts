/**
 * The HTTP clients of the demo story (scripts/demo_story.ts): plain JSON
 * calls for sign-in (with a TOTP authenticator, otpauth) and administration, and fhir-kit-client, typed with
 * the FHIR R4 types, for everything a practice system does.
 */
import type { Resource } from "@medplum/fhirtypes";
import { Client } from "fhir-kit-client";
import * as OTPAuth from "otpauth";

/** A username and password, and the person's authenticator once enrolled. */
export interface Credentials {
  username: string;
  password: string;
  /** The current code of the person's authenticator app. */
  code?: () => string;
}

/**
 * An authenticator app, as a phone would hold it: codes from the otpauth
 * URI shown at enrollment, never the same time step twice (LHCMS refuses a
 * used step).
 */
export class Authenticator {
  #totp: OTPAuth.HOTP | OTPAuth.TOTP;
  #lastStep = -1;

  constructor(otpauthUri: string, private readonly now: () => Date) {
    this.#totp = OTPAuth.URI.parse(otpauthUri);
  }

  /** The code of the current step, or of the next one if this one is used. */
  code(): string {
    const step = Math.floor(this.now().getTime() / 30_000);
    const use = Math.max(step, this.#lastStep + 1);
    if (use > step + 1) throw new Error("no unused code before the next step");
    this.#lastStep = use;
    return (this.#totp as OTPAuth.TOTP).generate({ timestamp: use * 30_000 });
  }
}

// fhir-kit-client types bodies as loose records; these casts are the one
// bridge to the @medplum/fhirtypes R4 types used everywhere else.
type KitResource = Record<string, unknown> & { resourceType: string };
const asKit = (r: Resource) => r as unknown as KitResource;

/** fhir-kit-client at one lab's base URL, as a practice system uses it. */
export class Fhir {
  #client: Client;

  constructor(
    base: string,
    lab: string,
    bearerToken: string,
    customHeaders: Record<string, string> = {},
  ) {
    this.#client = new Client({
      baseUrl: `${base}/fhir/${lab}`,
      bearerToken,
      customHeaders,
    });
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

/** How {@link login} treats a person without a second factor yet. */
export interface LoginOptions {
  /** Enroll them (people the caller created); otherwise say what to do. */
  enroll?: boolean;
  /** The clock of the server's codes (a test's injected clock). */
  now?: () => Date;
}

/**
 * Signs in and returns the access token, answering with the person's
 * authenticator code. With `enroll`, a person not yet enrolled is enrolled
 * on the way and `user.code` set to their new authenticator.
 */
export async function login(
  base: string,
  user: Credentials,
  options: LoginOptions = {},
): Promise<string> {
  const { username, password } = user;
  let res = await postJson(`${base}/auth/login`, {
    username,
    password,
    code: user.code?.(),
  });
  if (res.status === 401 && res.body.error === "mfa_enrollment_required") {
    if (!options.enroll) {
      throw new Error(
        `${username} has not enrolled an authenticator yet: sign in once ` +
          "as the README's 'Signing in' shows",
      );
    }
    const enrollment_token = res.body.enrollment_token;
    const shown = await postJson(`${base}/auth/mfa/enroll`, {
      enrollment_token,
    });
    if (shown.status !== 200) {
      throw new Error(`HTTP ${shown.status} ${shown.said}`);
    }
    const app = new Authenticator(
      shown.body.otpauth_uri,
      options.now ?? (() => new Date()),
    );
    user.code = () => app.code();
    res = await postJson(`${base}/auth/mfa/confirm`, {
      enrollment_token,
      code: user.code(),
    });
  }
  if (res.status !== 200) throw new Error(`HTTP ${res.status} ${res.said}`);
  return res.body.access_token as string;
}

/**
 * POSTs to `/admin/{collection}`; throws unless the server answers 201.
 * Returns what was created.
 */
export async function adminPost(
  base: string,
  token: string,
  collection: string,
  body: unknown,
  // deno-lint-ignore no-explicit-any
): Promise<any> {
  const res = await postJson(`${base}/admin/${collection}`, body, token);
  if (res.status !== 201) throw new Error(`HTTP ${res.status} ${res.said}`);
  return res.body;
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
