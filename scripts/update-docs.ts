/**
 * Regenerates the parts of docs/PROTOCOL.md that come from code: the state
 * diagram (from the transition table). Run: npx tsx scripts/update-docs.ts
 */

import { readFileSync, writeFileSync } from "node:fs";
import { stateDiagram } from "../src/core/connection/state.js";

const path = "docs/PROTOCOL.md";
const doc = readFileSync(path, "utf8");
const start = "<!-- state-diagram:start -->";
const end = "<!-- state-diagram:end -->";
const i = doc.indexOf(start);
const j = doc.indexOf(end);
if (i < 0 || j < 0) throw new Error("state diagram markers not found");
const updated = `${doc.slice(0, i + start.length)}\n\`\`\`mermaid\n${stateDiagram()}\n\`\`\`\n${doc.slice(j)}`;
writeFileSync(path, updated);
console.log(updated === doc ? "docs/PROTOCOL.md already up to date" : "docs/PROTOCOL.md updated");
