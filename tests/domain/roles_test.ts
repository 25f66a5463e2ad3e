/**
 * The role matrix of domain/roles.ts, written out once more by hand so a
 * change to it has to be made on purpose in two places.
 */
import assert from "node:assert/strict";
import {
  can,
  isRole,
  type Permission,
  type Role,
  ROLES,
} from "../../domain/roles.ts";

const PERMISSIONS: Permission[] = [
  "case:create",
  "case:read",
  "case:update",
  "case:delete",
  "case:authorize",
  "task:order",
  "task:withdraw",
  "task:answer",
  "task:work",
  "task:edit",
  "patient:create",
  "patient:read",
  "patient:update",
  "patient:delete",
  "directory:create",
  "directory:read",
  "directory:update",
  "directory:delete",
  "audit:read",
  "catalog:manage",
  "admin:manage",
];

const CLINICAL = PERMISSIONS.filter((p) =>
  /^(case|patient|directory):/.test(p) && p !== "case:authorize"
);

// The practice's own decisions; no lab role makes them.
const PRACTICE_ONLY: Permission[] = ["case:authorize", "task:answer"];

const LAB = [
  ...CLINICAL,
  "task:order",
  "task:withdraw",
  "task:work",
  "task:edit",
] as const;

const EXPECTED: Record<Role, Permission[]> = {
  admin: PERMISSIONS.filter((p) => !PRACTICE_ONLY.includes(p)),
  lab_admin: PERMISSIONS.filter((p) =>
    (LAB as readonly string[]).includes(p) || p === "catalog:manage"
  ),
  lab_technician: [
    "case:read",
    "task:work",
    "patient:read",
    "directory:read",
  ],
  dentist: PERMISSIONS.filter((p) =>
    CLINICAL.includes(p) ||
    ["case:authorize", "task:order", "task:withdraw", "task:answer"]
      .includes(p)
  ),
  compliance_officer: ["audit:read"],
  viewer: ["case:read", "patient:read", "directory:read"],
};

Deno.test("[roles] the matrix grants each role exactly its permissions", async (t) => {
  assert.deepEqual([...ROLES].sort(), Object.keys(EXPECTED).sort());
  for (const role of ROLES) {
    await t.step(role, () => {
      const granted = PERMISSIONS.filter((p) => can(role, p));
      assert.deepEqual(granted, EXPECTED[role]);
    });
  }
});

Deno.test("[roles] safeguards hold whatever else the matrix says", async (t) => {
  await t.step(
    "only admin manages and only admin and compliance read audit",
    () => {
      assert.deepEqual(ROLES.filter((r) => can(r, "admin:manage")), ["admin"]);
      assert.deepEqual(
        ROLES.filter((r) => can(r, "audit:read")),
        ["admin", "compliance_officer"],
      );
    },
  );

  await t.step("a compliance officer reads nothing clinical", () => {
    for (const p of CLINICAL) {
      assert.equal(can("compliance_officer", p), false, p);
    }
  });

  await t.step(
    "technicians and viewers create nothing and update no case",
    () => {
      for (const role of ["lab_technician", "viewer"] as const) {
        for (
          const p of PERMISSIONS.filter((p) => /:(create|update)$/.test(p))
        ) {
          assert.equal(can(role, p), false, `${role} ${p}`);
        }
      }
      for (const p of PERMISSIONS.filter((p) => p.startsWith("task:"))) {
        assert.equal(can("viewer", p), false, p);
      }
    },
  );

  await t.step(
    "the lab's work is not the practice's, nor the practice's answers the lab's",
    () => {
      assert.deepEqual(
        ROLES.filter((r) => can(r, "task:work")),
        ["admin", "lab_admin", "lab_technician"],
      );
      for (const p of PRACTICE_ONLY) {
        assert.deepEqual(ROLES.filter((r) => can(r, p)), ["dentist"], p);
      }
    },
  );
});

Deno.test("[roles] isRole accepts the known role names only", () => {
  for (const role of ROLES) assert.equal(isRole(role), true);
  for (const value of ["root", "Admin", "admin ", "", null, undefined, 1, {}]) {
    assert.equal(isRole(value), false, String(value));
  }
});
