/**
 * A client that hangs up in the middle of its request body: the server
 * takes it as the client's doing (a warning, not an unhandled error), stores
 * nothing and goes on serving.
 */
import assert from "node:assert/strict";
import {
  call,
  recordingLogger,
  setupLab,
  startTestServer,
  storedCount,
} from "../helpers.ts";

Deno.test("[limits] a body cut off by the client is a warning and stores nothing", async () => {
  const lines: { level: string; message: string }[] = [];
  const server = await startTestServer({ log: recordingLogger(lines) });
  try {
    const { tokens } = await setupLab(server, "acme");
    const before = await storedCount(server, "acme", "Patient");
    const { port } = new URL(server.url);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: +port });
    const head = [
      "POST /fhir/acme/Patient HTTP/1.1",
      "Host: 127.0.0.1",
      `Authorization: Bearer ${tokens.dentist}`,
      "Content-Type: application/fhir+json",
      "Content-Length: 5000",
      "",
      '{"resourceType":"Patient","name":[{"family":"Cut',
    ].join("\r\n");
    await conn.write(new TextEncoder().encode(head));
    // Let the server start reading the body, then hang up.
    await new Promise((r) => setTimeout(r, 200));
    conn.close();

    // The server answers the next request as usual.
    const res = await call(server.url, "GET", "/fhir/acme/metadata");
    assert.equal(res.status, 200);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(await storedCount(server, "acme", "Patient"), before);
    assert.ok(
      lines.some((l) =>
        l.level === "warn" && /client went away/.test(l.message)
      ),
      JSON.stringify(lines),
    );
    assert.ok(!lines.some((l) => l.level === "error"), JSON.stringify(lines));
  } finally {
    await server.close();
  }
});
