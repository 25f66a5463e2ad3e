/**
 * Start-up as an operator sees it: `main.ts` run as its own process with
 * the permissions of `deno task start`, configured only by environment.
 */
import assert from "node:assert/strict";
import { encodeBase64 } from "../domain/config.ts";
import { ADMIN, login } from "./helpers.ts";

const ROOT = new URL("../", import.meta.url);
const BOOTSTRAP = `${ADMIN.username}:${ADMIN.password}`;

/** `deno task start`'s own command line, so the test follows the task. */
async function startArgs(): Promise<string[]> {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("deno.json", ROOT)),
  );
  const args = (config.tasks.start as string).split(" ").slice(1);
  return args.map((a) =>
    a === "main.ts" ? new URL("main.ts", ROOT).pathname : a
  );
}

const newKey = () => encodeBase64(crypto.getRandomValues(new Uint8Array(32)));

/** A port that was free a moment ago: PORT=0 would not tell us the port. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** The parent's environment without LHCMS settings that could leak in. */
function childEnv(env: Record<string, string>): Record<string, string> {
  const base = Object.entries(Deno.env.toObject())
    .filter(([k]) => !k.startsWith("LHCMS_") && k !== "PORT");
  return { ...Object.fromEntries(base), ...env };
}

/** A main.ts process, its stderr collected as it runs. */
class Server {
  readonly port = freePort();
  readonly url = `http://127.0.0.1:${this.port}`;
  #child: Deno.ChildProcess;
  #stderr: Promise<string>;

  constructor(args: string[], dir: string, env: Record<string, string>) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args,
      cwd: ROOT.pathname,
      env: childEnv({
        LHCMS_KV_PATH: `${dir}/lhcms.kv`,
        LHCMS_HOSTNAME: "127.0.0.1",
        PORT: String(this.port),
        ...env,
      }),
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    this.#stderr = new Response(this.#child.stderr).text();
  }

  /**
   * Exit code and stderr lines of a process expected to stop by itself;
   * fails, instead of waiting forever, if it starts serving.
   */
  async exited(): Promise<{ code: number; lines: string[] }> {
    const state = await this.#poll();
    assert.equal(state, "exited", "LHCMS did not stop at start-up");
    const { code } = await this.#child.status;
    const text = await this.#stderr;
    return { code, lines: text.split("\n").filter((l) => l.trim() !== "") };
  }

  /** Whether /health answered within a bounded number of polls. */
  async ready(): Promise<boolean> {
    return await this.#poll() === "ready";
  }

  async #poll(tries = 200): Promise<"ready" | "exited" | "silent"> {
    let exited = false;
    this.#child.status.then(() => (exited = true));
    for (let i = 0; i < tries; i++) {
      if (exited) return "exited";
      const ok = await fetch(`${this.url}/health`)
        .then(async (res) => (await res.body?.cancel(), res.ok))
        .catch(() => false);
      if (ok) return "ready";
      await new Promise((r) => setTimeout(r, 50));
    }
    return exited ? "exited" : "silent";
  }

  /** Stops the process (SIGTERM, the shutdown path) and returns its stderr. */
  async stop(): Promise<string> {
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // It had already exited.
    }
    await this.#child.status;
    return await this.#stderr;
  }
}

/**
 * How the server answers a password: "401 mfa_enrollment_required" means
 * it was right (the admin has not enrolled an authenticator yet),
 * "401 unauthenticated" that it was not.
 */
async function passwordOutcome(
  url: string,
  username: string,
  password: string,
) {
  const res = await fetch(`${url}/auth/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  return `${res.status} ${(await res.json()).error}`;
}

/** Runs `body` with a temp dir and the start-up command line. */
async function withDir(body: (dir: string, args: string[]) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "lhcms-startup-" });
  try {
    await body(dir, await startArgs());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Starts with `env`, expects exit 1 with one stderr line naming `variable`. */
async function assertRefused(
  args: string[],
  dir: string,
  env: Record<string, string>,
  variable: string,
) {
  const server = new Server(args, dir, env);
  try {
    const { code, lines } = await server.exited();
    assert.equal(code, 1, lines.join("\n"));
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(lines[0], new RegExp(`\\b${variable}\\b`));
  } finally {
    await server.stop();
  }
}

Deno.test("[startup] a bad LHCMS_MASTER_KEY stops start-up with one line naming it", async (t) => {
  await withDir(async (dir, args) => {
    const short = encodeBase64(crypto.getRandomValues(new Uint8Array(16)));
    await t.step(
      "a key of 16 bytes",
      () =>
        assertRefused(
          args,
          dir,
          { LHCMS_MASTER_KEY: short },
          "LHCMS_MASTER_KEY",
        ),
    );
    await t.step(
      "a key that is not base64",
      () =>
        assertRefused(
          args,
          dir,
          { LHCMS_MASTER_KEY: "not*base64!" },
          "LHCMS_MASTER_KEY",
        ),
    );
  });
});

Deno.test("[startup] PORT=abc stops start-up with one line naming PORT", async () => {
  await withDir((dir, args) =>
    assertRefused(
      args,
      dir,
      { PORT: "abc", LHCMS_MASTER_KEY: newKey() },
      "PORT",
    )
  );
});

Deno.test("[startup] LHCMS_BOOTSTRAP_ADMIN without a colon stops start-up naming it", async () => {
  await withDir((dir, args) =>
    assertRefused(args, dir, {
      LHCMS_BOOTSTRAP_ADMIN: "rootwithoutpassword",
      LHCMS_MASTER_KEY: newKey(),
    }, "LHCMS_BOOTSTRAP_ADMIN")
  );
});

Deno.test("[startup] a breached LHCMS_BOOTSTRAP_ADMIN password stops start-up naming it", async () => {
  await withDir((dir, args) =>
    assertRefused(args, dir, {
      LHCMS_BOOTSTRAP_ADMIN: "root:password123456",
      LHCMS_MASTER_KEY: newKey(),
    }, "LHCMS_BOOTSTRAP_ADMIN")
  );
});

Deno.test("[startup] LHCMS_ENV=production on plain HTTP stops start-up naming LHCMS_TLS_CERT", async () => {
  await withDir((dir, args) =>
    assertRefused(args, dir, {
      LHCMS_ENV: "production",
      LHCMS_MASTER_KEY: newKey(),
    }, "LHCMS_TLS_CERT")
  );
});

Deno.test("[startup] without LHCMS_MASTER_KEY a dev key file is created beside the KV file, loudly", async () => {
  await withDir(async (dir, args) => {
    const server = new Server(args, dir, {});
    let stderr = "";
    try {
      assert.ok(await server.ready(), "the server never answered /health");
    } finally {
      stderr = await server.stop();
    }
    const key = await Deno.readTextFile(`${dir}/dev-master.key`);
    assert.equal(atob(key.trim()).length, 32);
    const mode = (await Deno.stat(`${dir}/dev-master.key`)).mode;
    assert.equal(mode! & 0o077, 0, "the key file is readable by others");
    assert.match(stderr, /"level":"warn"[^\n]*DEVELOPMENT MASTER KEY IN USE/);
  });
});

Deno.test("[startup] the bootstrap admin signs in and /health answers on PORT", async () => {
  await withDir(async (dir, args) => {
    const env = {
      LHCMS_MASTER_KEY: newKey(),
      LHCMS_BOOTSTRAP_ADMIN: BOOTSTRAP,
    };
    const server = new Server(args, dir, env);
    try {
      assert.ok(await server.ready(), "the server never answered /health");
      const health = await fetch(`${server.url}/health`);
      assert.equal(health.status, 200);
      assert.equal((await health.json()).status, "ok");
      // Enrolls an authenticator on the way, as at any first sign-in.
      assert.ok(await login(server.url, ADMIN.username, ADMIN.password));
    } finally {
      await server.stop();
    }
  });
});

Deno.test("[startup] a restart with another master key on the same KV file is refused naming LHCMS_MASTER_KEY", async () => {
  await withDir(async (dir, args) => {
    const first = new Server(args, dir, {
      LHCMS_MASTER_KEY: newKey(),
      LHCMS_BOOTSTRAP_ADMIN: BOOTSTRAP,
    });
    try {
      assert.ok(await first.ready(), "the first start never answered /health");
    } finally {
      await first.stop();
    }
    await assertRefused(
      args,
      dir,
      { LHCMS_MASTER_KEY: newKey() },
      "LHCMS_MASTER_KEY",
    );
  });
});

Deno.test("[startup] once users exist the bootstrap admin is neither created again nor changed", async () => {
  await withDir(async (dir, args) => {
    const key = newKey();
    const first = new Server(args, dir, {
      LHCMS_MASTER_KEY: key,
      LHCMS_BOOTSTRAP_ADMIN: BOOTSTRAP,
    });
    try {
      assert.ok(await first.ready(), "the first start never answered /health");
    } finally {
      await first.stop();
    }

    const changed = `${ADMIN.username}:another-password-entirely`;
    for (const bootstrap of [changed, "second-root:second-root-password"]) {
      const again = new Server(args, dir, {
        LHCMS_MASTER_KEY: key,
        LHCMS_BOOTSTRAP_ADMIN: bootstrap,
      });
      try {
        assert.ok(await again.ready(), "the restart never answered /health");
        const [name, password] = bootstrap.split(":");
        assert.equal(
          await passwordOutcome(again.url, name, password),
          "401 unauthenticated",
        );
        assert.equal(
          await passwordOutcome(again.url, ADMIN.username, ADMIN.password),
          "401 mfa_enrollment_required",
        );
      } finally {
        await again.stop();
      }
    }
  });
});
