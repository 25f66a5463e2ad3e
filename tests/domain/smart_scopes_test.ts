import assert from "node:assert/strict";
import {
  allows,
  covers,
  letterOf,
  parseScope,
  parseScopes,
} from "../../domain/smart_scopes.ts";

const TYPES = ["Patient", "Task", "ServiceRequest"];
const parse = (s: string) => parseScope(s, TYPES);
const letters = (s: string) => [...(parse(s)?.letters ?? [])].join("");

Deno.test("[scopes] parseScope() reads SMART v2 letters and the v1 names", () => {
  assert.equal(letters("system/Task.rs"), "rs");
  assert.equal(letters("system/*.cruds"), "cruds");
  assert.equal(letters("system/Patient.read"), "rs");
  assert.equal(letters("system/Patient.write"), "cud");
  assert.equal(letters("system/Patient.*"), "cruds");
  assert.equal(parse("system/*.c")?.type, "*");
});

Deno.test("[scopes] parseScope() refuses what LHCMS does not grant", () => {
  for (
    const scope of [
      "patient/Task.rs",
      "user/Task.rs",
      "system/Task.sr",
      "system/Task.rr",
      "system/Task.x",
      "system/Task.",
      "system/Observation.rs",
      "system/Task.rs?status=requested",
      "launch",
      "openid",
      "",
    ]
  ) assert.equal(parse(scope), undefined, scope);
});

Deno.test("[scopes] parseScopes() splits on spaces and keeps the unknown apart", () => {
  const { grants, unknown } = parseScopes(
    "system/Task.rs  launch system/Patient.r",
    TYPES,
  );
  assert.deepEqual(grants.map((g) => g.type), ["Task", "Patient"]);
  assert.deepEqual(unknown, ["launch"]);
});

Deno.test("[scopes] covers() needs every requested letter on a matching type", () => {
  const allowed = parseScopes("system/*.rs system/Task.cu", TYPES).grants;
  assert.ok(!covers(allowed, parse("system/Task.cruds")!));
  assert.ok(covers(allowed, parse("system/Task.rs")!));
  assert.ok(covers(allowed, parse("system/Task.cru")!));
  assert.ok(covers(allowed, parse("system/*.r")!));
  assert.ok(!covers(allowed, parse("system/*.c")!));
  assert.ok(
    !covers(parseScopes("system/Task.r", TYPES).grants, parse("system/*.r")!),
  );
});

Deno.test("[scopes] allows() and letterOf() map each interaction to its letter", () => {
  const grants = parseScopes("system/Task.rs", TYPES).grants;
  assert.equal(letterOf("create"), "c");
  assert.equal(letterOf("vread"), "r");
  assert.equal(letterOf("history-instance"), "r");
  assert.equal(letterOf("update"), "u");
  assert.equal(letterOf("search-type"), "s");
  assert.equal(letterOf("operation"), undefined);
  assert.ok(allows(grants, "Task", "r"));
  assert.ok(!allows(grants, "Task", "u"));
  assert.ok(!allows(grants, "Patient", "r"));
});
