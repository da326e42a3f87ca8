/** `rudp proxy`: a UDP impairment proxy built on the simulator's `Link`, run in real time, one pair of links per client. */

import { randomInt } from "node:crypto";
import dgram from "node:dgram";
import type { Address } from "../core/address.js";
import { MS } from "../core/time.js";
import { addLinkStats, emptyLinkStats, Link, type LinkConfig, type LinkStats } from "../sim/link.js";
import { deriveSeed } from "../sim/seed.js";
import {
  expectPositionals,
  formatAddress,
  type HostPort,
  parseArgs,
  parseCount,
  parseHostPort,
  resolveHost,
  UsageError,
} from "./args.js";
import { type Command, describeError, EXIT_FAILURE, EXIT_OK, note, onInterrupt } from "./command.js";
import { RealtimeLinkSink } from "./realtime-link.js";
import { parseDuration, parseProbability, parseRate, parseSize } from "./units.js";

const USAGE = "rudp proxy --listen [HOST:]PORT --to HOST:PORT";

const HELP = `Usage: ${USAGE} [impairments]

Forwards UDP datagrams between clients and HOST:PORT through simulated links
(the same model as "rudp demo" and the test simulator, run in real time).
Each client address gets its own pair of links, one per direction with the
same settings, and its own upstream socket. Counters are printed on exit
(Ctrl-C or SIGTERM).

Options:
  --listen [HOST:]PORT  where clients send to (default host: all addresses)
  --to HOST:PORT        where datagrams are forwarded
  --loss P              random loss, each direction          (default 0)
  --corrupt P           one bit flipped in a datagram        (default 0)
  --dup P               datagram duplicated                  (default 0)
  --delay TIME          one-way delay                        (default 0)
  --jitter TIME         delay varies by up to ± TIME         (default 0)
  --rate RATE           bottleneck rate, e.g. 100mbit        (default unlimited)
  --queue N|SIZE        bottleneck queue: N datagrams, or a size such as 256KiB
                        (default 64KiB; only with --rate)
  --seed N              seed of the impairments' randomness  (default random)
  --idle-timeout TIME   forget a client after TIME without traffic (default 2min)
  -q, --quiet           print nothing but errors

Examples:
  rudp proxy --listen 6000 --to 127.0.0.1:5000 --loss 10%
  rudp proxy --listen 6000 --to 192.0.2.7:5000 --delay 40ms --jitter 10ms --rate 20mbit --queue 50
`;

/** The `rudp proxy` command. */
export const proxyCommand: Command = {
  name: "proxy",
  summary: "UDP impairment proxy: loss, corruption, duplication, delay, jitter, rate limit",
  help: HELP,
  run: runProxy,
};

/** A --queue value: datagrams when a plain number, else bytes. */
function parseQueue(text: string): Partial<LinkConfig> {
  if (/^[0-9]+$/.test(text)) {
    const n = Number(text);
    if (n < 1) throw new RangeError("the queue must hold at least one datagram");
    return { queuePackets: n, queueBytes: Number.POSITIVE_INFINITY };
  }
  const bytes = parseSize(text);
  if (bytes < 1) throw new RangeError("the queue must hold at least one byte");
  return { queueBytes: bytes };
}

/** One client: its links and its upstream socket. */
interface Flow {
  client: Address;
  upstream: dgram.Socket;
  up: Link;
  down: Link;
  lastActive: number;
}

async function runProxy(args: string[]): Promise<number> {
  const { options, positionals } = parseArgs(args, {
    listen: { parse: String },
    to: { parse: String },
    loss: { parse: parseProbability },
    corrupt: { parse: parseProbability },
    dup: { parse: parseProbability },
    delay: { parse: parseDuration },
    jitter: { parse: parseDuration },
    rate: { parse: parseRate },
    queue: { parse: parseQueue },
    seed: { parse: parseCount },
    "idle-timeout": { parse: parseDuration },
    quiet: { short: "q" },
  });
  expectPositionals(positionals, 0, 0, USAGE);
  if (options.listen === undefined) throw new UsageError(`--listen is required (usage: ${USAGE})`);
  if (options.to === undefined) throw new UsageError(`--to is required (usage: ${USAGE})`);
  const listen: HostPort = parseHostPort(options.listen as string, "", true);
  const toSpec = parseHostPort(options.to as string);
  if (toSpec.port === 0) throw new UsageError("--to: port 0 is out of range (1-65535)");
  const target = await resolveHost(toSpec.host);
  const listenHost = listen.host === "" ? undefined : (await resolveHost(listen.host)).address;
  const quiet = options.quiet === true;
  const seed = (options.seed as number | undefined) ?? randomInt(2 ** 32);
  const config: Partial<LinkConfig> = {
    loss: (options.loss as number | undefined) ?? 0,
    corrupt: (options.corrupt as number | undefined) ?? 0,
    duplicate: (options.dup as number | undefined) ?? 0,
    delay: ((options.delay as number | undefined) ?? 0) * MS,
    jitter: ((options.jitter as number | undefined) ?? 0) * MS,
    rate: (options.rate as number | undefined) ?? 0,
    ...(options.queue as Partial<LinkConfig> | undefined),
  };
  const idleMs = (options["idle-timeout"] as number | undefined) ?? 120_000;
  const label = "rudp proxy";
  const targetAddr: Address = { address: target.address, port: toSpec.port };

  const flows = new Map<string, Flow>();
  const flowOfLink = new Map<Link, Flow>();
  const retired = { up: emptyLinkStats(), down: emptyLinkStats() };
  let clients = 0;

  let listenSocket: dgram.Socket;
  const sink = new RealtimeLinkSink((link, _from, to, data) => {
    const flow = flowOfLink.get(link);
    if (!flow) return;
    link.noteArrival(data.length, true);
    if (link === flow.up) flow.upstream.send(data, targetAddr.port, targetAddr.address, ignore);
    else listenSocket.send(data, to.port, to.address, ignore);
  });

  try {
    listenSocket = await bindUdp(listenHost, listen.port);
  } catch (err) {
    process.stderr.write(
      `${label}: cannot listen on ${formatAddress(listenHost ?? "*", listen.port)}: ${describeError(err)}\n`,
    );
    return EXIT_FAILURE;
  }

  const flowFor = (address: string, port: number): Flow => {
    const key = formatAddress(address, port);
    let flow = flows.get(key);
    if (flow) return flow;
    const n = clients++;
    const client: Address = { address, port };
    const upstream = dgram.createSocket(target.family === "IPv6" ? "udp6" : "udp4");
    upstream.on("error", ignore);
    upstream.bind(0, () => setBuffers(upstream));
    const up = new Link(key, "upstream", config, deriveSeed(seed, `client ${n} up`), sink);
    const down = new Link("upstream", key, config, deriveSeed(seed, `client ${n} down`), sink);
    flow = { client, upstream, up, down, lastActive: performance.now() };
    const f = flow;
    upstream.on("message", (msg, rinfo) => {
      if (rinfo.port !== targetAddr.port || rinfo.address !== targetAddr.address) return;
      f.lastActive = performance.now();
      f.down.send(sink.now(), targetAddr, f.client, msg);
    });
    flows.set(key, flow);
    flowOfLink.set(up, flow);
    flowOfLink.set(down, flow);
    note(quiet, `${label}: new client ${key}`);
    return flow;
  };

  const retire = (key: string, flow: Flow): void => {
    flows.delete(key);
    flowOfLink.delete(flow.up);
    flowOfLink.delete(flow.down);
    addLinkStats(retired.up, flow.up.stats);
    addLinkStats(retired.down, flow.down.stats);
    flow.upstream.close();
  };

  listenSocket.on("message", (msg, rinfo) => {
    const flow = flowFor(rinfo.address, rinfo.port);
    flow.lastActive = performance.now();
    flow.up.send(sink.now(), flow.client, targetAddr, msg);
  });
  listenSocket.on("error", (err) => note(quiet, `${label}: ${describeError(err)}`));

  const sweep = setInterval(
    () => {
      const now = performance.now();
      for (const [key, flow] of flows) if (now - flow.lastActive > idleMs) retire(key, flow);
    },
    Math.min(10_000, Math.max(100, idleMs / 4)),
  );
  sweep.unref();

  const la = listenSocket.address();
  note(
    quiet,
    `${label}: ${formatAddress(la.address, la.port)} -> ${formatAddress(target.address, toSpec.port)}: ` +
      `${describeConfig(config)} (seed ${seed})`,
  );

  await new Promise<void>((resolve) => {
    const stop = onInterrupt(() => {
      stop();
      resolve();
    });
  });
  clearInterval(sweep);
  sink.close();
  const total = { up: { ...retired.up }, down: { ...retired.down } };
  for (const flow of flows.values()) {
    addLinkStats(total.up, flow.up.stats);
    addLinkStats(total.down, flow.down.stats);
    flow.upstream.close();
  }
  listenSocket.close();
  if (!quiet) process.stderr.write(`${formatCounters(clients, total.up, total.down).join("\n")}\n`);
  return EXIT_OK;
}

function ignore(): void {}

function setBuffers(s: dgram.Socket): void {
  try {
    s.setRecvBufferSize(4 * 1024 * 1024);
    s.setSendBufferSize(4 * 1024 * 1024);
  } catch {
    // The kernel may refuse; the defaults still work, with more drops at high rates.
  }
}

/** Binds the listening socket: dual-stack "::" (falling back to 0.0.0.0) when no host is given. */
async function bindUdp(host: string | undefined, port: number): Promise<dgram.Socket> {
  const attempt = (type: "udp4" | "udp6", address: string): Promise<dgram.Socket> =>
    new Promise((resolve, reject) => {
      const s = dgram.createSocket({ type, ipv6Only: false });
      s.once("error", (err) => {
        s.close();
        reject(err);
      });
      s.bind(port, address, () => {
        s.removeAllListeners("error");
        setBuffers(s);
        resolve(s);
      });
    });
  if (host !== undefined) return attempt(host.includes(":") ? "udp6" : "udp4", host);
  try {
    return await attempt("udp6", "::");
  } catch {
    return attempt("udp4", "0.0.0.0");
  }
}

function describeConfig(c: Partial<LinkConfig>): string {
  const parts: string[] = [];
  const pct = (p: number | undefined): string => `${((p ?? 0) * 100).toFixed(2).replace(/\.?0+$/, "")}%`;
  parts.push(`loss ${pct(c.loss)}`);
  if (c.corrupt) parts.push(`corrupt ${pct(c.corrupt)}`);
  if (c.duplicate) parts.push(`dup ${pct(c.duplicate)}`);
  parts.push(`delay ${(c.delay ?? 0) / MS}ms`);
  if (c.jitter) parts.push(`jitter ${c.jitter / MS}ms`);
  if (c.rate) {
    parts.push(`rate ${c.rate / 1e6}mbit`);
    if (c.queuePackets !== undefined) parts.push(`queue ${c.queuePackets} datagrams`);
    else if (c.queueBytes !== undefined) parts.push(`queue ${c.queueBytes} bytes`);
  }
  return parts.join(", ");
}

/** The counters table printed on exit. */
export function formatCounters(clients: number, up: LinkStats, down: LinkStats): string[] {
  const cols: [string, keyof LinkStats][] = [
    ["datagrams", "sent"],
    ["delivered", "delivered"],
    ["lost", "lost"],
    ["corrupted", "corrupted"],
    ["duplicated", "duplicated"],
    ["queue drops", "queueDrops"],
    ["bytes delivered", "bytesDelivered"],
  ];
  const head = ["direction      ", ...cols.map(([h]) => h)];
  const row = (name: string, s: LinkStats): string[] => [
    name,
    ...cols.map(([h, k]) => String(s[k]).padStart(h.length)),
  ];
  const lines = [head, row("client->server ", up), row("server->client ", down)].map((r) => `  ${r.join("  ")}`);
  return [`rudp proxy: ${clients} client${clients === 1 ? "" : "s"}`, ...lines];
}
