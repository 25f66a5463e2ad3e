/** Bundle builders for search results and history. */
import type { StoredResource } from "../domain/resources.ts";
import type { Bundle, OperationOutcome, Resource } from "./types.ts";

/** What a page of search results holds. */
export interface SearchResults {
  resources: Resource[];
  self: URLSearchParams;
  /** The next page's query, when more may follow. */
  next?: URLSearchParams;
  /** Parameters the server did not use. */
  ignored?: string[];
  /** The number of all matches, when counted. */
  total?: number;
}

/**
 * A searchset Bundle with self and, when more may follow, next links.
 * Parameters the server ignored are named in an OperationOutcome entry
 * (search mode `outcome`, R4 bundle.html#searchset).
 */
export function searchBundle(
  base: string,
  type: string,
  results: SearchResults,
): Bundle {
  const { resources, self, next, ignored = [], total } = results;
  const link = [{ relation: "self", url: linkUrl(base, type, self) }];
  if (next) link.push({ relation: "next", url: linkUrl(base, type, next) });
  const entry: NonNullable<Bundle["entry"]> = resources.map((resource) => ({
    fullUrl: `${base}/${resource.resourceType}/${resource.id}`,
    resource,
    search: { mode: "match" },
  }));
  if (ignored.length > 0) {
    entry.push({
      resource: ignoredOutcome(ignored),
      search: { mode: "outcome" },
    });
  }
  return {
    resourceType: "Bundle",
    type: "searchset",
    ...(total === undefined ? {} : { total }),
    link,
    entry,
  };
}

/** Names only: a parameter's value may be PHI. */
function ignoredOutcome(ignored: string[]): OperationOutcome {
  return {
    resourceType: "OperationOutcome",
    issue: ignored.map((name) => ({
      severity: "warning",
      code: "not-supported",
      diagnostics: `Unknown search parameter ${name} was ignored`,
      expression: [name],
    })),
  };
}

function linkUrl(base: string, type: string, params: URLSearchParams) {
  const query = params.toString();
  return `${base}/${type}${query ? `?${query}` : ""}`;
}

/**
 * A history Bundle, newest version first; deletions carry no resource.
 * `self` and `next` are the page's links; `total` is given only when the
 * page holds the whole history.
 */
export function historyBundle(
  base: string,
  versions: { type: string; stored: StoredResource; resource?: Resource }[],
  links: { self: string; next?: string },
): Bundle {
  const link = [{ relation: "self", url: links.self }];
  if (links.next) link.push({ relation: "next", url: links.next });
  return {
    resourceType: "Bundle",
    type: "history",
    ...(links.next ? {} : { total: versions.length }),
    link,
    entry: versions.map(({ type, stored, resource }) => ({
      fullUrl: `${base}/${type}/${stored.id}`,
      ...(resource ? { resource } : {}),
      request: {
        method: stored.deleted
          ? "DELETE"
          : stored.versionId === 1
          ? "POST"
          : "PUT",
        url: stored.versionId === 1 && !stored.deleted
          ? type
          : `${type}/${stored.id}`,
      },
      response: {
        status: stored.deleted ? "204" : stored.versionId === 1 ? "201" : "200",
        etag: `W/"${stored.versionId}"`,
        lastModified: stored.lastUpdated,
      },
    })),
  };
}
