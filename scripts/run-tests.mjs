#!/usr/bin/env node
// Runs the test files under test/ (or the paths given) with node's test runner and tsx.
// Usage: node scripts/run-tests.mjs [dir-or-file ...]
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const roots = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const flags = process.argv.slice(2).filter((a) => a.startsWith("-"));
const files = [];
for (const root of roots.length ? roots : ["test"]) {
  if (statSync(root).isFile()) files.push(root);
  else
    for (const f of readdirSync(root, { recursive: true }))
      if (String(f).endsWith(".test.ts")) files.push(join(root, String(f)));
}
files.sort();
const r = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=2", ...flags, ...files], {
  stdio: "inherit",
});
process.exit(r.status ?? 1);
