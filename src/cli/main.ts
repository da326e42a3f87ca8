#!/usr/bin/env node
/** The `rudp` command line: finds the command, runs it, and turns its outcome into an exit code. */

import { readFileSync } from "node:fs";
import { UsageError, wantsHelp } from "./args.js";
import { benchCommand } from "./bench.js";
import { type Command, EXIT_FAILURE, EXIT_USAGE, flushWritable } from "./command.js";
import { demoCommand } from "./demo.js";
import { echoCommand } from "./echo.js";
import { echoServerCommand } from "./echo-server.js";
import { keygenCommand } from "./keygen.js";
import { proxyCommand } from "./proxy.js";
import { recvCommand } from "./recv.js";
import { sendCommand } from "./send.js";
import { tunnelCommand } from "./tunnel.js";

/** Every command, in the order `rudp --help` lists them. */
const COMMANDS: readonly Command[] = [
  sendCommand,
  recvCommand,
  echoServerCommand,
  echoCommand,
  proxyCommand,
  tunnelCommand,
  keygenCommand,
  demoCommand,
  benchCommand,
];

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return `Usage: rudp <command> [options]

Reliable, connection-oriented transport over UDP.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join("\n")}

Options:
  -h, --help     Show help (also: rudp <command> --help)
  -v, --version  Show the version

Exit codes: 0 success, 1 failure, 2 bad arguments, 130 interrupted.

Examples:
  rudp recv 5000 > received.bin                 # on one host
  rudp send file.bin 192.0.2.7 5000             # on the other
  rudp keygen -o server.key                     # encrypted: prints "public: <key>"
  rudp recv 5000 --key-file server.key > received.bin
  rudp send file.bin 192.0.2.7 5000 --peer-key <key>
  rudp proxy --listen 6000 --to 127.0.0.1:5000 --loss 10% --delay 25ms
  rudp demo --size 32MiB --loss 10% --delay 40ms
  rudp bench --size 256MiB
`;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

/** Runs `rudp` with `argv` (the arguments after the program name); resolves with the exit code. */
async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "-h" || name === "--help" || name === "help") {
    process.stdout.write(help());
    return 0;
  }
  if (name === "-v" || name === "--version") {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`rudp: unknown command "${name}"\nRun "rudp --help" for the list of commands.\n`);
    return EXIT_USAGE;
  }
  if (wantsHelp(rest)) {
    process.stdout.write(command.help);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`rudp ${name}: ${err.message}\nRun "rudp ${name} --help" for usage.\n`);
      return EXIT_USAGE;
    }
    process.stderr.write(`rudp ${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return EXIT_FAILURE;
  }
}

// The process lives until the command has its exit code (even if it awaits only unref'd handles),
// and then exits explicitly: closed connections linger in TIME-WAIT in the background, which must not hold it.
const keepAlive = setInterval(() => {}, 1 << 30);
main(process.argv.slice(2)).then(async (code) => {
  clearInterval(keepAlive);
  await Promise.all([flushWritable(process.stdout), flushWritable(process.stderr)]);
  process.exit(code);
});
