/** Bundle builders for search results and history. */
import type { StoredResource } from "../domain/resources.ts";
import type { Bundle, Resource } from "./types.ts";

/** A searchset Bundle with self and, when more may follow, next links. */
export function searchBundle(
  base: string,
  type: string,
  resources: Resource[],
  self: URLSearchParams,
  next?: URLSearchParams,
): Bundle {
  const link = [{ relation: "self", url: linkUrl(base, type, self) }];
  if (next) link.push({ relation: "next", url: linkUrl(base, type, next) });
  return {
    resourceType: "Bundle",
    type: "searchset",
    link,
    entry: resources.map((resource) => ({
      fullUrl: `${base}/${resource.resourceType}/${resource.id}`,
      resource,
      search: { mode: "match" },
    })),
  };
}

function linkUrl(base: string, type: string, params: URLSearchParams) {
  const query = params.toString();
  return `${base}/${type}${query ? `?${query}` : ""}`;
}

/** A history Bundle, newest version first; deletions carry no resource. */
export function historyBundle(
  base: string,
  type: string,
  versions: { stored: StoredResource; resource?: Resource }[],
): Bundle {
  return {
    resourceType: "Bundle",
    type: "history",
    total: versions.length,
    entry: versions.map(({ stored, resource }) => ({
      fullUrl: `${base}/${type}/${stored.id}`,
      ...(resource ? { resource } : {}),
      request: {
        method: stored.deleted
          ? "DELETE"
          : stored.versionId === 1
          ? "POST"
          : "PUT",
        url: stored.versionId === 1 ? type : `${type}/${stored.id}`,
      },
      response: {
        status: stored.deleted ? "204" : stored.versionId === 1 ? "201" : "200",
        etag: `W/"${stored.versionId}"`,
        lastModified: stored.lastUpdated,
      },
    })),
  };
}
