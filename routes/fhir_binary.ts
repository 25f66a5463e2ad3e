/**
 * `/fhir/{lab}/Binary`: scan files. A raw body (an STL, OBJ, PLY, photo or
 * signed PDF) is streamed into encrypted chunks, never held whole; FHIR
 * JSON with base64 `data` is taken for small files. A read returns the
 * bytes, one range if asked, or the FHIR JSON when that is what the client
 * accepts; a vread of version 1 is the same. Search and history go through
 * the generic FHIR routes, and list Binaries without their data.
 */
import { type Context, Hono } from "hono";
import { auditRecord, commitAudit } from "../domain/audit.ts";
import { decodeBase64, encodeBase64 } from "../domain/config.ts";
import { fail } from "../domain/errors.ts";
import { resolveReferences } from "../domain/references.ts";
import { readResource, readVersion } from "../domain/resources.ts";
import {
  isScanContentType,
  readScanFile,
  type ScanFile,
  scanStream,
  type ScanUpload,
  storeScan,
} from "../domain/scan_files.ts";
import { FHIR_ID, type Resource } from "../fhir/types.ts";
import {
  localReferences,
  parseResource,
  relativiseReferences,
} from "../fhir/validate.ts";
import { type ByteRange, parseRange, rangeStillValid } from "./byte_ranges.ts";
import { announcedSha256 } from "./content_digest.ts";
import type { AppDeps, AppEnv } from "./env.ts";
import {
  auditDraft,
  fhirBase,
  fhirResponse,
  patientOf,
  requirePermission,
  versionHeaders,
  visibilityOf,
} from "./fhir_support.ts";

/** The largest file a FHIR JSON read carries inline, as base64 `data`. */
export const MAX_INLINE_BYTES = 720 * 1024;

/** The Binary router, mounted under `/fhir/:lab/Binary`. */
export function binaryRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  app.post("/", (c) => upload(deps, c));
  app.get("/:id", (c) => download(deps, c, "read"));
  app.get("/:id/_history/:vid", (c) => download(deps, c, "vread"));
  app.put("/:id", (c) => {
    begin(c, "update", "U");
    throw fail.invalid(
      "A Binary cannot be changed: upload the new file as a new Binary",
    );
  });
  return app;
}

/** Whether a request is a raw Binary upload, which `app.ts` lets stream. */
export function isRawBinaryUpload(request: Request): boolean {
  const path = new URL(request.url).pathname;
  return request.method === "POST" &&
    /^\/fhir\/[^/]+\/Binary\/?$/.test(path) &&
    !isFhirJson(request.headers.get("Content-Type") ?? "");
}

function begin(c: Context<AppEnv>, subtype: string, action: "C" | "R" | "U") {
  const lab = c.req.param("lab") as string;
  const id = c.req.param("id");
  c.set("interaction", {
    lab,
    subtype,
    action,
    entity: { type: "Binary", id },
  });
  if (id !== undefined && !FHIR_ID.test(id)) {
    throw fail.invalid("The id is not a valid FHIR id");
  }
  return { lab, id: id as string };
}

async function upload(deps: AppDeps, c: Context<AppEnv>) {
  const { lab } = begin(c, "create", "C");
  const caller = c.var.caller;
  requirePermission(caller, "Binary", "create");
  const contentType = mediaType(c.req.header("Content-Type"));
  const base = fhirBase(deps, c, lab);
  const incoming = isFhirJson(contentType)
    ? await fromFhirJson(c)
    : fromRawBody(c, contentType);
  const binary = describe(incoming);
  relativiseReferences(binary, base);
  const { practice } = await resolveReferences(
    deps,
    lab,
    localReferences(binary, base),
    visibilityOf(caller),
  );

  const now = deps.clock();
  const { resource, file } = await storeScan(deps, lab, {
    ...incoming,
    securityContext: (binary as { securityContext?: { reference: string } })
      .securityContext,
  }, {
    practice,
    now,
    audit: auditRecord(
      auditDraft(c, lab, "create", "C", { patient: patientOf(binary) }),
      now,
    ),
  });
  deps.auditWake({ lab });
  return fhirResponse(resource, 201, {
    ...versionHeaders(base, resource),
    "Repr-Digest": `sha-256=:${file.sha256}:`,
  });
}

function fromRawBody(c: Context<AppEnv>, contentType: string): ScanUpload {
  if (!isScanContentType(contentType)) {
    throw fail.unsupportedMediaType(
      "Content-Type must be a scan file type (model/stl, model/obj, application/octet-stream, image/jpeg, image/png, application/pdf) or application/fhir+json",
    );
  }
  const context = c.req.header("X-Security-Context");
  return {
    contentType,
    body: c.req.raw.body ?? new Blob([]).stream(),
    expectedSha256: announcedSha256(c.req.raw.headers),
    ...(context ? { securityContext: { reference: context.trim() } } : {}),
  };
}

async function fromFhirJson(c: Context<AppEnv>): Promise<ScanUpload> {
  const resource = parseResource(await c.req.text(), "Binary") as Resource & {
    contentType?: unknown;
    data?: unknown;
    securityContext?: { reference: string };
  };
  const contentType = mediaType(String(resource.contentType ?? ""));
  if (!isScanContentType(contentType)) {
    throw fail.unprocessable("Cannot accept the Binary", [{
      message: "contentType must be a scan file type",
      expression: "Binary.contentType",
    }]);
  }
  let data: Uint8Array;
  try {
    data = decodeBase64(String(resource.data ?? ""));
  } catch {
    throw fail.unprocessable("Cannot accept the Binary", [{
      message: "data must be base64",
      expression: "Binary.data",
    }]);
  }
  return {
    contentType,
    body: new Blob([data as BlobPart]).stream(),
    expectedSha256: announcedSha256(c.req.raw.headers),
    securityContext: resource.securityContext,
  };
}

function describe(upload: ScanUpload): Resource {
  return {
    resourceType: "Binary",
    contentType: upload.contentType,
    ...(upload.securityContext
      ? { securityContext: { ...upload.securityContext } }
      : {}),
  } as Resource;
}

async function download(
  deps: AppDeps,
  c: Context<AppEnv>,
  subtype: "read" | "vread",
) {
  const { lab, id } = begin(c, subtype, "R");
  requirePermission(c.var.caller, "Binary", "read");
  const resource = await readBinary(deps, c, lab, id);
  const file = await readScanFile(deps, lab, id);
  if (isFhirJson(c.req.header("Accept") ?? "")) {
    return await readAsFhirJson(deps, c, lab, resource, file);
  }

  const etag = `"${file.sha256.replace(/=+$/, "")}"`;
  const asked = rangeStillValid(c.req.header("If-Range"), etag)
    ? parseRange(c.req.header("Range"), file.size)
    : undefined;
  if (asked === "unsatisfiable") {
    return await refuseRange(deps, c, lab, resource, file);
  }
  const range: ByteRange = asked ?? { start: 0, end: file.size - 1 };
  const body = await scanStream(
    deps,
    file,
    range,
    (error) =>
      c.var.log.error("scan download broke off", {
        binary: id,
        message: error.message,
      }),
  );

  await auditRead(deps, c, lab, resource);
  return new Response(body, {
    status: asked ? 206 : 200,
    headers: {
      "Content-Type": file.contentType,
      "Content-Length": String(range.end - range.start + 1),
      "Content-Disposition": "attachment",
      "Accept-Ranges": "bytes",
      ETag: etag,
      "Last-Modified": versionHeaders("", resource)["Last-Modified"],
      "Repr-Digest": `sha-256=:${file.sha256}:`,
      ...(asked
        ? { "Content-Range": `bytes ${asked.start}-${asked.end}/${file.size}` }
        : {}),
    },
  });
}

/**
 * The Binary a read or a vread names. A Binary is never changed, so its
 * only version is 1, and a vread of it gives the same answer as a read.
 */
async function readBinary(
  deps: AppDeps,
  c: Context<AppEnv>,
  lab: string,
  id: string,
): Promise<Resource> {
  const visibility = visibilityOf(c.var.caller);
  const vid = c.req.param("vid");
  if (vid === undefined) {
    return (await readResource(deps, lab, "Binary", id, visibility)).resource;
  }
  if (!/^[1-9][0-9]{0,8}$/.test(vid)) {
    throw fail.invalid("The version id is not valid");
  }
  return await readVersion(deps, lab, "Binary", id, Number(vid), visibility);
}

async function readAsFhirJson(
  deps: AppDeps,
  c: Context<AppEnv>,
  lab: string,
  resource: Resource,
  file: ScanFile,
) {
  if (file.size > MAX_INLINE_BYTES) {
    throw fail.notAcceptable(
      `Binary/${file.id} is ${file.size} bytes, too large to send inside FHIR JSON (at most ${MAX_INLINE_BYTES}): request it without Accept: application/fhir+json to receive the file itself, in ranges if need be`,
    );
  }
  const stream = await scanStream(deps, file, {
    start: 0,
    end: file.size - 1,
  }, () => {});
  const data = new Uint8Array(await new Response(stream).arrayBuffer());
  await auditRead(deps, c, lab, resource);
  const headers = versionHeaders(fhirBase(deps, c, lab), resource);
  delete (headers as Record<string, string>).Location;
  return fhirResponse({ ...resource, data: encodeBase64(data) }, 200, headers);
}

async function refuseRange(
  deps: AppDeps,
  c: Context<AppEnv>,
  lab: string,
  resource: Resource,
  file: ScanFile,
) {
  await auditRead(deps, c, lab, resource, "range_not_satisfiable");
  return fhirResponse(
    {
      resourceType: "OperationOutcome",
      issue: [{
        severity: "error",
        code: "invalid",
        diagnostics: `The range lies outside the file's ${file.size} bytes`,
      }],
    },
    416,
    { "Content-Range": `bytes */${file.size}` },
  );
}

/** Commits a read's audit record before the response leaves. */
async function auditRead(
  deps: AppDeps,
  c: Context<AppEnv>,
  lab: string,
  resource: Resource,
  refused?: string,
) {
  const subtype = c.var.interaction?.subtype ?? "read";
  const draft = auditDraft(c, lab, subtype, "R", {
    entity: { type: "Binary", id: resource.id },
    patient: patientOf(resource),
    ...(refused ? { outcome: "4" as const, outcomeCode: refused } : {}),
  });
  await commitAudit(deps.kv, auditRecord(draft, deps.clock()));
  deps.auditWake({ lab });
}

function mediaType(header: string | undefined): string {
  return (header ?? "").split(";")[0].trim().toLowerCase();
}

function isFhirJson(contentType: string): boolean {
  return /application\/(fhir\+)?json/i.test(contentType);
}
