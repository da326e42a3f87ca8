#!/usr/bin/env node
/**
 * Builds rudp's optional native UDP datapath (native/udp_batch.c) with the
 * node-gyp that npm bundles, against the headers of the Node that runs it.
 * Never fails the install: without Linux, a compiler or local headers it says
 * why it skipped, and rudp uses node:dgram. Nothing is downloaded.
 *
 * Usage: node scripts/build-native.mjs [--quiet]
 */

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const nativeDir = join(root, "native");
const quiet = process.argv.includes("--quiet");

function skip(why) {
  console.log(`rudp: native datapath not built (${why}); node:dgram will be used`);
  process.exit(0);
}

if (process.env.RUDP_SKIP_NATIVE_BUILD) skip("RUDP_SKIP_NATIVE_BUILD is set");
if (process.platform !== "linux") skip(`it needs Linux's recvmmsg/sendmmsg, this is ${process.platform}`);
if (!existsSync(join(nativeDir, "binding.gyp"))) skip("native/ sources are missing");

function findNodeGyp() {
  const candidates = [process.env.npm_config_node_gyp];
  const npmExec = process.env.npm_execpath;
  if (npmExec) candidates.push(join(dirname(npmExec), "..", "node_modules", "node-gyp", "bin", "node-gyp.js"));
  const bundled = ["lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"];
  candidates.push(join(dirname(process.execPath), "..", ...bundled));
  try {
    candidates.push(createRequire(import.meta.url).resolve("node-gyp/bin/node-gyp.js"));
  } catch {}
  return candidates.find((c) => c && existsSync(c));
}

/** A directory holding include/node/node_api.h for this Node, so node-gyp has nothing to fetch. */
function findNodeDir() {
  const candidates = [process.env.npm_config_nodedir, join(dirname(process.execPath), "..")];
  return candidates.find((d) => d && existsSync(join(d, "include", "node", "node_api.h")));
}

const nodeGyp = findNodeGyp();
if (!nodeGyp) skip("node-gyp was not found next to npm");
const nodeDir = findNodeDir();
if (!nodeDir) skip("this Node's headers (include/node) are not installed");

const result = spawnSync(process.execPath, [nodeGyp, "rebuild", `--nodedir=${nodeDir}`, "--loglevel=error"], {
  cwd: nativeDir,
  stdio: quiet ? "pipe" : "inherit",
  env: { ...process.env, npm_config_nodedir: nodeDir },
});
if (result.status !== 0) {
  if (quiet) process.stderr.write(result.stderr ?? "");
  skip(`node-gyp exited with ${result.status ?? result.signal}`);
}
console.log("rudp: native datapath built (native/build/Release/udp_batch.node)");
