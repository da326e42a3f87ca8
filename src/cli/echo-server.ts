/** `rudp echo-server`: echoes every byte and message it receives back to the client, for any number of clients. */

import { createServer, type Server } from "../api/server.js";
import type { Socket } from "../api/socket.js";
import { expectPositionals, formatAddress, parseArgs, parsePort, resolveHost } from "./args.js";
import {
  type Command,
  describeError,
  EXIT_FAILURE,
  EXIT_OK,
  listenOrReport,
  note,
  onInterrupt,
  outputSettings,
  TRACE_HELP,
  TRACE_OPTIONS,
  withTimeout,
} from "./command.js";
import {
  describeSecurity,
  ENCRYPTION_OPTIONS,
  encryptionSetup,
  listeningNote,
  SERVER_ENCRYPTION_HELP,
  watchRefusals,
} from "./encryption-options.js";
import { openTracer } from "./trace.js";

const USAGE = "rudp echo-server PORT";

const HELP = `Usage: ${USAGE} [options]

Listens on UDP port PORT (0 picks a free one) and sends everything each
client sends back to it: stream bytes and messages. Serves any number of
clients at once. Ctrl-C closes every connection cleanly and exits.

Options:
  --host HOST          address to listen on (default: all, IPv6 and IPv4)
${TRACE_HELP}

Encryption (keys from "rudp keygen"):
${SERVER_ENCRYPTION_HELP}

Examples:
  rudp echo-server 7000
  rudp echo-server 7000 --key-file server.key --allow clients.txt
  rudp echo-server 7000 --host 127.0.0.1 --trace
`;

/** The `rudp echo-server` command. */
export const echoServerCommand: Command = {
  name: "echo-server",
  summary: "Echo every byte and message back to each client",
  help: HELP,
  run: runEchoServer,
};

async function runEchoServer(args: string[]): Promise<number> {
  const { options, positionals } = parseArgs(args, {
    ...TRACE_OPTIONS,
    ...ENCRYPTION_OPTIONS,
    host: { parse: String },
  });
  expectPositionals(positionals, 1, 1, USAGE);
  const port = parsePort(positionals[0], true);
  const encryption = encryptionSetup(options, "server", "rudp echo-server");
  const hostText = options.host as string | undefined;
  const host = hostText === undefined ? undefined : (await resolveHost(hostText)).address;
  const out = outputSettings(options);
  const tracer = await openTracer(out.trace, out.traceJson);
  const label = "rudp echo-server";
  const server: Server = createServer({
    allowHalfOpen: true,
    onTrace: tracer.onTrace,
    encryption: encryption.config,
  });
  if (!(await listenOrReport(server, label, port, host))) {
    await tracer.close();
    return EXIT_FAILURE;
  }
  const a = server.address();
  note(
    out.quiet,
    `${label}: listening on ${formatAddress(a?.address, a?.port)}${encryption.config ? ` (${listeningNote(encryption)})` : ""}`,
  );
  const stopWatching = watchRefusals(server, encryption, (line) => note(out.quiet, `${label}: ${line}`));

  const sockets = new Set<Socket>();
  let served = 0;
  server.on("connection", (socket: Socket) => {
    served++;
    sockets.add(socket);
    const peer = formatAddress(socket.remoteAddress, socket.remotePort);
    let security = "";
    if (encryption.config) {
      try {
        security = `, ${describeSecurity(encryption, socket.stats())}`;
      } catch {
        // Closed already: its 'close' note follows.
      }
    }
    note(out.quiet, `${label}: ${peer} connected${security}`);
    socket.pipe(socket);
    socket.on("message", (m: Buffer) => {
      if (!socket.writableEnded && !socket.destroyed) socket.sendMessage(m);
    });
    socket.on("error", (err) => note(out.quiet, `${label}: ${peer}: ${describeError(err)}`));
    socket.on("close", () => {
      sockets.delete(socket);
      note(out.quiet, `${label}: ${peer} closed (${socket.bytesRead} bytes echoed)`);
    });
  });

  await new Promise<void>((resolve) => {
    const stop = onInterrupt(() => {
      stop();
      resolve();
    });
  });
  // Ctrl-C: stop accepting, end every connection (after what it echoes) and give them a moment to close.
  stopWatching();
  server.close();
  const closing = [...sockets].map(
    (s) =>
      new Promise<void>((r) => {
        s.once("close", () => r());
        s.end();
      }),
  );
  await withTimeout(Promise.all(closing), 2000, undefined);
  for (const s of sockets) s.resetAndDestroy();
  note(out.quiet, `${label}: served ${served} connection${served === 1 ? "" : "s"}`);
  await tracer.close();
  return EXIT_OK;
}
