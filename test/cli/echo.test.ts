/** `rudp echo-server` with two `rudp echo` clients at once; Ctrl-C stops the server cleanly. */

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { freeUdpPort, interrupt, killAll, rudp } from "./helpers.js";

after(killAll);

test("echo-server echoes the lines of two clients at once", { timeout: 60_000 }, async () => {
  try {
    const port = await freeUdpPort();
    const server = rudp(["echo-server", String(port), "--host", "127.0.0.1"]);
    await server.waitForStderr(/listening on/);
    const inputs = [0, 1].map((c) =>
      Array.from({ length: 2000 }, (_, i) => `client ${c} line ${i} ${"x".repeat(i % 50)}\n`).join(""),
    );
    const clients = inputs.map(() => rudp(["echo", "127.0.0.1", String(port)], { stdin: "pipe" }));
    clients.forEach((c, i) => {
      // Typed a line at a time at first, then the rest at once.
      const lines = inputs[i].split(/(?<=\n)/);
      c.child.stdin?.write(lines.slice(0, 3).join(""));
      setTimeout(() => c.child.stdin?.end(lines.slice(3).join("")), 200);
    });
    const results = await Promise.all(clients.map((c) => c.exited));
    results.forEach((r, i) => {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(String(r.stdout), inputs[i]);
    });
    await server.waitForStderr(/closed.*\n(.|\n)*closed/);
    assert.match(server.stderr(), /connected(.|\n)*connected/);
    const stopped = await interrupt(server);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stderr, /served 2 connections/);
  } finally {
    killAll();
  }
});
