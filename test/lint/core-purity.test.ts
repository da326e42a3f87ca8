/**
 * The core is sans-IO: no node:* imports, timers, clocks or ambient randomness.
 * (Biome enforces the same with noRestrictedImports/noRestrictedGlobals; this
 * test also catches what a linter override could miss, such as a new folder.)
 */

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

const FORBIDDEN: [RegExp, string][] = [
  [/from\s+["'](node:|(fs|dgram|net|os|crypto|timers|child_process)["'/])/, "a node:* import"],
  [/\bimport\s*\(/, "a dynamic import"],
  [/\bDate\b/, "Date"],
  [/\b(setTimeout|setInterval|setImmediate|queueMicrotask)\b/, "a timer"],
  [/\bMath\.random\b/, "Math.random"],
  [/\bperformance\b/, "a clock"],
  [/\bprocess\./, "process"],
  [/\bBuffer\b/, "Buffer"],
  [/\brequire\s*\(/, "require"],
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith(".ts"))
    .map((f) => join(dir, f));
}

for (const dir of ["src/core", "src/sim"]) {
  test(`${dir} is free of I/O, timers, clocks and ambient randomness`, () => {
    const files = sourceFiles(dir);
    assert.ok(files.length > 5);
    for (const file of files) {
      const code = readFileSync(file, "utf8")
        .replace(/\/\*[\s\S]*?\*\//g, "")
        .replace(/\/\/.*$/gm, "");
      for (const [re, what] of FORBIDDEN) assert.doesNotMatch(code, re, `${file} uses ${what}`);
    }
  });
}

test("the purity check itself notices a violation", () => {
  const [re] = FORBIDDEN[0];
  assert.match('import { x } from "node:dgram";', re);
  assert.match("const t = Date.now();", FORBIDDEN[2][0]);
});
