/**
 * Keeps docs/PROTOCOL.md honest: its state diagram must be exactly what
 * `stateDiagram()` generates from the transition table, its configuration
 * table must list every TransportConfig option with the code's default and
 * valid range, its flag table every header flag with its bit, its decoding
 * table every DecodeError message of the parser, and its statistics tables
 * every ConnectionStats / EndpointStats field.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { DEFAULT_CONFIG, resolveConfig, type TransportConfig } from "../../src/core/config.js";
import { CONTROLLER_NAMES } from "../../src/core/congestion/index.js";
import { stateDiagram } from "../../src/core/connection/state.js";
import { Endpoint } from "../../src/core/endpoint.js";
import { SeededRng } from "../../src/core/rng.js";
import { MS, SECOND } from "../../src/core/time.js";
import { Flag } from "../../src/core/wire/packet.js";

const DOC_URL = new URL("../../docs/PROTOCOL.md", import.meta.url);
const doc = readFileSync(DOC_URL, "utf8").replace(/\r\n/g, "\n");

/** The text between `<!-- name:start -->` and `<!-- name:end -->`, which must occur exactly once. */
function region(name: string): string {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  assert.equal(doc.split(start).length, 2, `docs/PROTOCOL.md must contain exactly one "${start}"`);
  assert.equal(doc.split(end).length, 2, `docs/PROTOCOL.md must contain exactly one "${end}"`);
  const from = doc.indexOf(start) + start.length;
  const to = doc.indexOf(end);
  assert.ok(from <= to, `"${start}" must come before "${end}"`);
  return doc.slice(from, to);
}

/** Backtick-quoted tokens of a table cell, in order. */
function codeSpans(cell: string): string[] {
  return [...cell.matchAll(/`([^`]*)`/g)].map((m) => m[1]);
}

interface Row {
  key: string;
  cells: string[];
}

/** The cells of every row of the table in region `name` (header included, separator skipped); `\|` does not split. */
function tableLines(name: string): string[][] {
  const lines: string[][] = [];
  for (const line of region(name).split("\n")) {
    const t = line.trim();
    if (!t.startsWith("|") || /^\|\s*-/.test(t)) continue;
    lines.push(
      t
        .slice(1, t.endsWith("|") && !t.endsWith("\\|") ? -1 : undefined)
        .split(/(?<!\\)\|/)
        .map((c) => c.trim()),
    );
  }
  return lines;
}

/** Data rows of the table in region `name`: rows whose first cell holds a backticked token. */
function tableRows(name: string): Row[] {
  const rows: Row[] = [];
  for (const cells of tableLines(name)) {
    const key = codeSpans(cells[0])[0];
    if (key === undefined) continue; // header row
    rows.push({ key, cells });
  }
  return rows;
}

/** Data rows of the configuration table: first cell is the option name in backticks. */
function configRows(): Row[] {
  return tableRows("config-table");
}

const KEYS = Object.keys(DEFAULT_CONFIG) as (keyof TransportConfig)[];

test("the Mermaid state diagram between the markers is exactly stateDiagram()", () => {
  const blocks = [...region("state-diagram").matchAll(/```mermaid\n([\s\S]*?)\n```/g)];
  assert.equal(blocks.length, 1, "expected exactly one ```mermaid block between the state-diagram markers");
  assert.equal(
    blocks[0][1].trimEnd(),
    stateDiagram().trimEnd(),
    "docs/PROTOCOL.md is stale: regenerate the diagram with stateDiagram() from src/core/connection/state.ts",
  );
});

test("every DEFAULT_CONFIG key appears in the configuration table, and only those", () => {
  const documented = configRows().map((r) => r.key);
  for (const key of KEYS) assert.ok(documented.includes(key), `config option "${key}" is missing from the table`);
  for (const key of documented)
    assert.ok((KEYS as string[]).includes(key), `the table documents "${key}", which is not a TransportConfig option`);
  assert.equal(new Set(documented).size, documented.length, "an option is listed twice");
});

test("the configuration table states the code's defaults", () => {
  for (const { key, cells } of configRows()) {
    const value = DEFAULT_CONFIG[key as keyof TransportConfig];
    const quoted = codeSpans(cells[1])[0];
    assert.ok(quoted !== undefined, `no default given for "${key}"`);
    const expected = typeof value === "string" ? JSON.stringify(value) : String(value);
    assert.equal(quoted, expected, `default of "${key}"`);
  }
});

/** Companion settings so that one option can reach its bounds without tripping a cross-field rule. */
function companions(key: string): Partial<TransportConfig> {
  if (key === "minRto") return { maxRto: 3600 * SECOND };
  if (key === "maxRto") return { minRto: 1 * MS };
  return {};
}

function accepts(key: string, value: number): boolean {
  try {
    resolveConfig({ ...companions(key), [key]: value });
    return true;
  } catch {
    return false;
  }
}

test("the configuration table states the code's valid ranges", () => {
  for (const { key, cells } of configRows()) {
    const spans = codeSpans(cells[2]);
    if (key === "congestionControl") {
      for (const name of CONTROLLER_NAMES) assert.ok(spans.includes(name), `controller "${name}" not listed`);
      continue;
    }
    assert.ok(spans.length >= 2, `range of "${key}" must be written as \`min\` … \`max\``);
    const [min, max] = spans.slice(0, 2).map(Number);
    assert.ok(Number.isFinite(min) && Number.isFinite(max), `range of "${key}" is not numeric`);
    const integer = /\binteger\b/.test(cells[2]);
    assert.ok(accepts(key, min), `"${key}" = ${min} (documented minimum) is rejected`);
    assert.ok(accepts(key, max), `"${key}" = ${max} (documented maximum) is rejected`);
    const step = integer ? 1 : 0.5;
    assert.ok(!accepts(key, min - step), `"${key}" = ${min - step} (below the documented minimum) is accepted`);
    assert.ok(!accepts(key, max + step), `"${key}" = ${max + step} (above the documented maximum) is accepted`);
    if (integer) assert.ok(!accepts(key, min + 0.5), `"${key}" is documented as an integer but accepts fractions`);
    else assert.ok(accepts(key, min + 0.5), `"${key}" accepts fractions but the table says integer`);
  }
});

test("the flag table lists every header flag with its bit, and only those", () => {
  const documented = new Map<string, number>();
  for (const { key, cells } of tableRows("flags-table")) documented.set(cells[1], Number(key));
  for (const [name, bit] of Object.entries(Flag)) {
    assert.ok(documented.has(name), `flag ${name} is missing from the flag table`);
    assert.equal(documented.get(name), bit, `bit of flag ${name}`);
  }
  for (const name of documented.keys())
    assert.ok(Object.hasOwn(Flag, name), `the flag table documents ${name}, which is not a Flag`);
});

test("the decoding table lists every DecodeError message of the parser, and only those", () => {
  const source = readFileSync(new URL("../../src/core/wire/packet.ts", import.meta.url), "utf8");
  const start = source.indexOf("export function parsePacket(");
  const end = source.indexOf("\n}\n", start);
  assert.ok(start >= 0 && end > start, "parsePacket not found in src/core/wire/packet.ts");
  const thrown = [...source.slice(start, end).matchAll(/new DecodeError\((["`])(.*?)\1\)/g)].map((m) =>
    m[2].replace(/\$\{[^}]*\}/g, "N"),
  );
  assert.ok(thrown.length > 0, "no DecodeError found in parsePacket");
  const documented = tableLines("decode-rules")
    .filter((cells) => /^\d+$/.test(cells[0]))
    .map((cells) => codeSpans(cells[cells.length - 1])[0]);
  assert.deepEqual(documented, thrown, "the decoding table must list parsePacket's errors in the order it checks them");
});

/** Field names in the first column of a statistics table (a cell may name several). */
function statsFields(name: string): string[] {
  return tableRows(name).flatMap((r) => codeSpans(r.cells[0]));
}

function sameFields(documented: string[], actual: string[], what: string): void {
  for (const key of actual) assert.ok(documented.includes(key), `${what} field "${key}" is missing from the table`);
  for (const key of documented)
    assert.ok(actual.includes(key), `the table documents "${key}", which is not a ${what} field`);
  assert.equal(new Set(documented).size, documented.length, `a ${what} field is listed twice`);
}

test("the statistics tables list every ConnectionStats and EndpointStats field, and only those", () => {
  const endpoint = new Endpoint({ rng: new SeededRng(1) });
  const conn = endpoint.connect(0, { address: "192.0.2.1", port: 9 });
  sameFields(statsFields("connection-stats"), Object.keys(conn.stats()), "ConnectionStats");
  sameFields(statsFields("endpoint-stats"), Object.keys(endpoint.stats()), "EndpointStats");
});
