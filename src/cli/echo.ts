/** `rudp echo`: a client for `rudp echo-server`; what is typed on stdin is sent and the echo printed on stdout. */

import { connect } from "../api/connect.js";
import { expectPositionals, formatAddress, parseArgs, parsePort, resolveHost } from "./args.js";
import {
  type Command,
  describeError,
  EXIT_FAILURE,
  EXIT_INTERRUPTED,
  EXIT_OK,
  note,
  onInterrupt,
  outputSettings,
  sleep,
  TRACE_HELP,
  TRACE_OPTIONS,
} from "./command.js";
import {
  CLIENT_ENCRYPTION_HELP,
  describeHandshakeFailure,
  describeSecurity,
  ENCRYPTION_OPTIONS,
  encryptionSetup,
} from "./encryption-options.js";
import { openTracer } from "./trace.js";

const USAGE = "rudp echo HOST PORT";

const HELP = `Usage: ${USAGE} [options]

Connects to "rudp echo-server" at HOST PORT, sends what is typed on stdin
(line by line on a terminal) and prints what comes back on stdout. At the end
of stdin (Ctrl-D) it closes its side, prints the rest of the echo and exits 0
once the server closed too. Ctrl-C closes the connection and exits.

Options:
${TRACE_HELP}

Encryption (keys from "rudp keygen"):
${CLIENT_ENCRYPTION_HELP}

Examples:
  rudp echo 127.0.0.1 7000
  rudp echo 127.0.0.1 7000 --peer-key server.pub
  printf 'one\\ntwo\\n' | rudp echo 127.0.0.1 7000
`;

/** The `rudp echo` command. */
export const echoCommand: Command = {
  name: "echo",
  summary: "Send stdin to `rudp echo-server` and print the echo",
  help: HELP,
  run: runEcho,
};

async function runEcho(args: string[]): Promise<number> {
  const { options, positionals } = parseArgs(args, { ...TRACE_OPTIONS, ...ENCRYPTION_OPTIONS });
  expectPositionals(positionals, 2, 2, USAGE);
  const port = parsePort(positionals[1]);
  const encryption = encryptionSetup(options, "client", "rudp echo");
  const { address } = await resolveHost(positionals[0]);
  const out = outputSettings(options);
  const tracer = await openTracer(out.trace, out.traceJson);
  const label = "rudp echo";
  const target = formatAddress(address, port);
  const socket = connect({
    port,
    host: address,
    allowHalfOpen: true,
    onTrace: tracer.onTrace,
    encryption: encryption.config,
  });
  let code: number;
  try {
    code = await new Promise<number>((resolve) => {
      let ended = false;
      let finished = false;
      let interrupted = false;
      const stopInterrupt = onInterrupt(() => {
        interrupted = true;
        process.stdin.unpipe(socket);
        process.stdin.pause();
        if (!socket.writableEnded) socket.end();
        // A clean close needs the server's FIN; give it a moment, then reset.
        setTimeout(() => socket.resetAndDestroy(), 2000);
      });
      const done = (c: number): void => {
        stopInterrupt();
        process.stdin.unpipe(socket);
        process.stdin.pause();
        if (interrupted)
          setTimeout(() => resolve(c), 50); // lets a RST go out before the process exits
        else resolve(c);
      };
      const check = async (): Promise<void> => {
        if (!ended || !finished) return;
        // We closed first: linger briefly to acknowledge the server's FIN again should our ACK be lost.
        let rto = 200_000;
        try {
          rto = socket.stats().rto;
        } catch {
          // Closed already.
        }
        await sleep(Math.min(1000, Math.max(100, rto / 500)));
        done(interrupted ? EXIT_INTERRUPTED : EXIT_OK);
      };
      socket.on("connect", () => {
        if (encryption.config) note(out.quiet, `${label}: connected to ${target}, ${describeSecurity(encryption)}`);
        process.stdin.pipe(socket);
      });
      socket.on("data", (chunk: Buffer) => {
        if (!process.stdout.write(chunk)) {
          socket.pause();
          process.stdout.once("drain", () => socket.resume());
        }
      });
      socket.on("end", () => {
        ended = true;
        void check();
      });
      socket.on("finish", () => {
        finished = true;
        void check();
      });
      socket.on("error", (err) => {
        const code = (err as { code?: string }).code;
        const refused = describeHandshakeFailure(err);
        process.stderr.write(
          `${label}: ${
            refused
              ? `cannot connect to ${target}: ${refused}`
              : code === "ECONNREFUSED"
                ? `cannot connect to ${target}: connection refused`
                : describeError(err)
          }\n`,
        );
        done(interrupted ? EXIT_INTERRUPTED : EXIT_FAILURE);
      });
      socket.on("close", () => {
        if (!(ended && finished)) {
          if (!interrupted) process.stderr.write(`${label}: the connection closed before the echo completed\n`);
          done(interrupted ? EXIT_INTERRUPTED : EXIT_FAILURE);
        }
      });
    });
  } finally {
    await tracer.close();
  }
  return code;
}
