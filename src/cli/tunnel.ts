/** `rudp tunnel`: carries TCP connections over rudp (client side: TCP in; server side: TCP out), half-close and resets included. */

import net from "node:net";
import { connect } from "../api/connect.js";
import { createServer as createRudpServer } from "../api/server.js";
import type { Socket } from "../api/socket.js";
import {
  expectPositionals,
  formatAddress,
  type HostPort,
  parseArgs,
  parseHostPort,
  resolveHost,
  UsageError,
} from "./args.js";
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
  CLIENT_ENCRYPTION_HELP,
  describeHandshakeFailure,
  describeSecurity,
  ENCRYPTION_OPTIONS,
  type EncryptionSetup,
  encryptionSetup,
  listeningNote,
  SERVER_ENCRYPTION_HELP,
  watchRefusals,
} from "./encryption-options.js";
import { openTracer, type Tracer } from "./trace.js";

const USAGE =
  "rudp tunnel server --listen [HOST:]PORT --to TCPHOST:TCPPORT\n       rudp tunnel client --listen [HOST:]TCPPORT --to HOST:PORT";

const HELP = `Usage: ${USAGE}

Carries TCP connections over rudp. "tunnel client" listens for TCP
connections; each one becomes an rudp connection to "tunnel server", which
opens a TCP connection to TCPHOST:TCPPORT and joins the two. Bytes, half-close
(each side may finish sending and keep receiving) and resets pass through.
Ctrl-C stops accepting, closes every connection cleanly and exits.

Options:
  --listen [HOST:]PORT  server: the UDP port for rudp; client: the TCP port
                        (default host: all addresses)
  --to HOST:PORT        server: the TCP target; client: the tunnel server
${TRACE_HELP}

Encryption, tunnel server (keys from "rudp keygen"):
${SERVER_ENCRYPTION_HELP}

Encryption, tunnel client:
${CLIENT_ENCRYPTION_HELP}

Examples:
  rudp tunnel server --listen 4000 --to 127.0.0.1:22
  rudp tunnel client --listen 2222 --to 192.0.2.7:4000    # then: ssh -p 2222 localhost
  rudp tunnel server --listen 4000 --to 127.0.0.1:22 --key-file server.key
  rudp tunnel client --listen 2222 --to 192.0.2.7:4000 --peer-key server.pub
`;

/** The `rudp tunnel` command. */
export const tunnelCommand: Command = {
  name: "tunnel",
  summary: "Carry TCP connections over rudp (tunnel server / tunnel client)",
  help: HELP,
  run: runTunnel,
};

/** Counts of a tunnel's connections. */
interface Counts {
  opened: number;
  open: Set<Pair>;
}

/** A joined TCP socket and rudp socket. */
interface Pair {
  tcp: net.Socket;
  rudp: Socket;
}

/**
 * Joins a TCP socket and an rudp socket: bytes flow both ways, a FIN on one
 * becomes an end() on the other, and an error or abrupt close on one resets
 * the other. `onClosed` runs once both have closed.
 */
export function splice(tcp: net.Socket, rudp: Socket, onClosed: (up: number, down: number) => void): void {
  tcp.pipe(rudp);
  rudp.pipe(tcp);
  const resetTcp = (): void => {
    if (!tcp.destroyed) tcp.resetAndDestroy();
  };
  const resetRudp = (): void => {
    if (!rudp.destroyed) rudp.resetAndDestroy();
  };
  tcp.on("error", resetRudp);
  rudp.on("error", resetTcp);
  // Closed without its peer's FIN (reset, failed connect, destroyed): the other side is reset too.
  tcp.on("close", (hadError) => {
    if (hadError || !tcp.readableEnded) resetRudp();
  });
  rudp.on("close", (hadError: boolean) => {
    if (hadError || !rudp.readableEnded) resetTcp();
  });
  let closed = 0;
  const onClose = (): void => {
    if (++closed === 2) onClosed(tcp.bytesRead, rudp.bytesRead);
  };
  tcp.once("close", onClose);
  rudp.once("close", onClose);
}

async function runTunnel(args: string[]): Promise<number> {
  const [mode, ...rest] = args;
  if (mode !== "server" && mode !== "client")
    throw new UsageError(
      mode === undefined
        ? `missing "server" or "client" (usage: rudp tunnel server|client ...)`
        : `unknown mode "${mode}" (expected server or client)`,
    );
  const { options, positionals } = parseArgs(rest, {
    ...TRACE_OPTIONS,
    ...ENCRYPTION_OPTIONS,
    listen: { parse: String },
    to: { parse: String },
  });
  expectPositionals(positionals, 0, 0, `rudp tunnel ${mode} --listen PORT --to HOST:PORT`);
  if (options.listen === undefined) throw new UsageError("--listen is required");
  if (options.to === undefined) throw new UsageError("--to is required");
  const listen = parseHostPort(options.listen as string, "", true);
  const to = parseHostPort(options.to as string);
  if (to.port === 0) throw new UsageError("--to: port 0 is out of range (1-65535)");
  const encryption = encryptionSetup(options, mode, `rudp tunnel ${mode}`);
  const listenHost = listen.host === "" ? undefined : (await resolveHost(listen.host)).address;
  const target = (await resolveHost(to.host)).address;
  const out = outputSettings(options);
  const tracer = await openTracer(out.trace, out.traceJson);
  try {
    return mode === "server"
      ? await tunnelServer(listenHost, listen, target, to.port, out.quiet, tracer, encryption)
      : await tunnelClient(listenHost, listen, target, to.port, out.quiet, tracer, encryption);
  } finally {
    await tracer.close();
  }
}

/** Waits for Ctrl-C, then stops accepting, ends every pair and gives them a moment to close. */
async function runUntilInterrupted(label: string, counts: Counts, quiet: boolean, stopAccepting: () => void) {
  await new Promise<void>((resolve) => {
    const stop = onInterrupt(() => {
      stop();
      resolve();
    });
  });
  stopAccepting();
  const pairs = [...counts.open];
  const closing = pairs.map(
    (p) =>
      new Promise<void>((r) => {
        let n = 0;
        const one = (): void => {
          if (++n === 2) r();
        };
        if (p.tcp.destroyed) one();
        else p.tcp.once("close", one);
        if (p.rudp.destroyed) one();
        else p.rudp.once("close", one);
        if (!p.tcp.destroyed) p.tcp.end();
        if (!p.rudp.destroyed) p.rudp.end();
      }),
  );
  await withTimeout(Promise.all(closing), 2000, undefined);
  for (const p of counts.open) {
    p.tcp.resetAndDestroy();
    p.rudp.resetAndDestroy();
  }
  note(quiet, `${label}: carried ${counts.opened} connection${counts.opened === 1 ? "" : "s"}`);
  return EXIT_OK;
}

async function tunnelServer(
  host: string | undefined,
  listen: HostPort,
  target: string,
  targetPort: number,
  quiet: boolean,
  tracer: Tracer,
  encryption: EncryptionSetup,
): Promise<number> {
  const label = "rudp tunnel server";
  const to = formatAddress(target, targetPort);
  const counts: Counts = { opened: 0, open: new Set() };
  const options = { allowHalfOpen: true, onTrace: tracer.onTrace, encryption: encryption.config };
  const server = createRudpServer(options, (rudp: Socket) => {
    counts.opened++;
    const from = formatAddress(rudp.remoteAddress, rudp.remotePort);
    const tcp = net.connect({ host: target, port: targetPort, allowHalfOpen: true });
    tcp.on("error", (err) => note(quiet, `${label}: ${from} -> ${to}: ${describeError(err)}`));
    rudp.on("error", (err) => note(quiet, `${label}: ${from}: ${describeError(err)}`));
    const pair = { tcp, rudp };
    counts.open.add(pair);
    let security = "";
    if (encryption.config) {
      try {
        security = ` (${describeSecurity(encryption, rudp.stats())})`;
      } catch {
        // Closed already: its 'closed' note follows.
      }
    }
    note(quiet, `${label}: ${from} -> ${to}${security}`);
    splice(tcp, rudp, (up, down) => {
      counts.open.delete(pair);
      note(quiet, `${label}: ${from} closed (${down} bytes in, ${up} bytes out)`);
    });
  });
  if (!(await listenOrReport(server, label, listen.port, host))) return EXIT_FAILURE;
  const a = server.address();
  note(
    quiet,
    `${label}: listening on ${formatAddress(a?.address, a?.port)} (rudp${encryption.config ? `, ${listeningNote(encryption)}` : ""}), forwarding to ${to} (TCP)`,
  );
  const stopWatching = watchRefusals(server, encryption, (line) => note(quiet, `${label}: ${line}`));
  return runUntilInterrupted(label, counts, quiet, () => {
    stopWatching();
    server.close();
  });
}

async function tunnelClient(
  host: string | undefined,
  listen: HostPort,
  target: string,
  targetPort: number,
  quiet: boolean,
  tracer: Tracer,
  encryption: EncryptionSetup,
): Promise<number> {
  const label = "rudp tunnel client";
  const to = formatAddress(target, targetPort);
  const counts: Counts = { opened: 0, open: new Set() };
  const server = net.createServer({ allowHalfOpen: true }, (tcp) => {
    counts.opened++;
    const from = formatAddress(tcp.remoteAddress, tcp.remotePort);
    const rudp = connect({
      port: targetPort,
      host: target,
      allowHalfOpen: true,
      onTrace: tracer.onTrace,
      encryption: encryption.config,
    });
    tcp.on("error", (err) => note(quiet, `${label}: ${from}: ${describeError(err)}`));
    rudp.on("error", (err) =>
      note(quiet, `${label}: ${from} -> ${to}: ${describeHandshakeFailure(err) ?? describeError(err)}`),
    );
    const pair = { tcp, rudp };
    counts.open.add(pair);
    note(quiet, `${label}: ${from} -> ${to}`);
    splice(tcp, rudp, (up, down) => {
      counts.open.delete(pair);
      note(quiet, `${label}: ${from} closed (${up} bytes out, ${down} bytes in)`);
    });
  });
  if (!(await listenOrReport(server, label, listen.port, host))) return EXIT_FAILURE;
  const a = server.address() as net.AddressInfo;
  note(
    quiet,
    `${label}: listening on ${formatAddress(a.address, a.port)} (TCP), tunnelling to ${to} (rudp${encryption.config ? `, ${describeSecurity(encryption)}` : ""})`,
  );
  return runUntilInterrupted(label, counts, quiet, () => server.close());
}
