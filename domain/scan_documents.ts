/**
 * A `DocumentReference` describes a scan file of a case: its attachments
 * that point at this lab's Binaries take their content type, size and
 * digests from the stored file, so a practice system can check what it
 * downloads against the document. A client value that disagrees is
 * refused rather than overwritten.
 */
import type { Attachment, DocumentReference } from "@medplum/fhirtypes";
import { fail, LhcmsError, type Problem } from "./errors.ts";
import { readResource, type StoreDeps, type Visibility } from "./resources.ts";
import { readScanFile, type ScanFile } from "./scan_files.ts";

/**
 * Extension on an Attachment holding the SHA-256 of the content (base64):
 * FHIR R4's `Attachment.hash` is SHA-1
 * (https://hl7.org/fhir/R4/datatypes.html#Attachment), kept for clients
 * that check it, but no longer collision-resistant.
 */
export const SHA256_EXTENSION =
  "https://lhcms.dev/fhir/StructureDefinition/attachment-sha256";

const BINARY_URL = /^Binary\/([A-Za-z0-9\-.]{1,64})$/;

/**
 * Fills in the attachments of `doc` that name a Binary of the lab (`url`
 * `Binary/{id}`, relative or under the lab's `base`); refuses one that
 * names a Binary the caller cannot see or another lab of this server.
 */
export async function describeScanAttachments(
  deps: StoreDeps,
  lab: string,
  doc: DocumentReference,
  base: string,
  visibility: Visibility,
): Promise<void> {
  const problems: Problem[] = [];
  const server = base.slice(0, base.lastIndexOf("/") + 1);
  for (const [i, content] of (doc.content ?? []).entries()) {
    const attachment = content?.attachment;
    const expression = `DocumentReference.content[${i}].attachment`;
    const url = attachment?.url?.startsWith(`${base}/`)
      ? attachment.url.slice(base.length + 1)
      : attachment?.url;
    if (!attachment || url === undefined) continue;
    const id = BINARY_URL.exec(url)?.[1];
    if (id === undefined) {
      if (url.startsWith(server)) {
        problems.push({ message: "url names another lab", expression });
      }
      continue;
    }
    const file = await visibleFile(deps, lab, id, visibility);
    if (!file) {
      problems.push({
        message: `${url} is not a Binary of this lab`,
        expression,
      });
      continue;
    }
    problems.push(...describe(attachment, file, expression));
  }
  if (problems.length > 0) {
    throw fail.unprocessable("Cannot accept the DocumentReference", problems);
  }
}

async function visibleFile(
  deps: StoreDeps,
  lab: string,
  id: string,
  visibility: Visibility,
): Promise<ScanFile | undefined> {
  try {
    await readResource(deps, lab, "Binary", id, visibility);
  } catch (error) {
    if (error instanceof LhcmsError) return undefined;
    throw error;
  }
  return await readScanFile(deps, lab, id);
}

function describe(
  attachment: Attachment,
  file: ScanFile,
  expression: string,
): Problem[] {
  const given: [keyof Attachment, unknown][] = [
    ["contentType", file.contentType],
    ["size", file.size],
    ["hash", file.sha1],
  ];
  const problems = given
    .filter(([field, value]) =>
      attachment[field] !== undefined && attachment[field] !== value
    )
    .map(([field]) => ({
      message: `${field} differs from the stored file`,
      expression: `${expression}.${field}`,
    }));
  const sha256 = attachment.extension?.find((e) => e.url === SHA256_EXTENSION);
  if (sha256 && sha256.valueBase64Binary !== file.sha256) {
    problems.push({
      message: "the SHA-256 differs from the stored file",
      expression: `${expression}.extension`,
    });
  }
  if (problems.length > 0) return problems;

  Object.assign(attachment, {
    url: `Binary/${file.id}`,
    contentType: file.contentType,
    size: file.size,
    hash: file.sha1,
    extension: [
      ...(attachment.extension ?? []).filter((e) => e.url !== SHA256_EXTENSION),
      { url: SHA256_EXTENSION, valueBase64Binary: file.sha256 },
    ],
  });
  return [];
}
