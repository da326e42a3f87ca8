/**
 * Lossy links through `rudp proxy` on loopback: the built CLI's impairment proxy (the simulator's link model
 * run in real time) between a sender and a receiver on 127.0.0.1, with 25 ms of delay each way, a 100 Mbit/s
 * bottleneck with a 625 KB queue (as in the simulated scenario) and random loss each way, for rudp (CLI with
 * BBR and CUBIC, API with BBR at 1472-byte datagrams) and udx-native. Kernel TCP cannot cross a UDP proxy.
 * A fresh proxy with the run's seed serves each transfer.
 *
 *   node --import tsx bench/proxy.ts [--quick] [--runs N] [--size MiB] [--cap S] [--losses 0,1,5,10]
 */

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { BBR_TARGETS } from "./lossy.js";
import {
  CLI,
  LINK_DELAY_MS,
  LINK_LOSSES,
  LINK_MBIT,
  type LinkCounters,
  type LinkEnv,
  type LinkOptions,
  type LinkScenarioResult,
  missingPieces,
  PINNED_PACKET_SIZE,
  Proc,
  parseLinkArgs,
  payloadFile,
  RUDP_BBR,
  RUDP_BBR_PINNED,
  RUDP_CUBIC,
  runLinkScenario,
  UDX,
} from "./netem.js";
import { linkTables } from "./report.js";

/** The proxy's bottleneck queue: the simulated path's (1 BDP). */
export const PROXY_QUEUE = "625KB";

/** The counters `rudp proxy` prints on exit for the client→server direction. */
function proxyCounters(proxy: Proc): LinkCounters | undefined {
  const row = proxy.lines.find((l) => /^\s*client->server/.test(l.text));
  if (!row) return undefined;
  // datagrams, delivered, lost, corrupted, duplicated, queue drops, bytes delivered
  const n = row.text.trim().split(/\s+/).slice(1).map(Number);
  return { packets: n[0], lossDrops: n[2], queueDrops: n[5] };
}

/** The lossy-link comparison through `rudp proxy`; skipped (with the reason) when the CLI is not built. */
export async function proxyScenario(o: LinkOptions, log: (line: string) => void): Promise<LinkScenarioResult> {
  const started = performance.now();
  const transports = [RUDP_BBR, RUDP_CUBIC, RUDP_BBR_PINNED, UDX];
  const result: LinkScenarioResult = {
    transports,
    losses: [...(o.losses ?? LINK_LOSSES)],
    bytes: o.bytes,
    runs: o.runs,
    capSeconds: o.capSeconds,
    results: [],
    missing: [],
    seconds: 0,
  };
  if (!existsSync(CLI)) {
    const why = "dist/cli/main.js is missing (run `npm run build`)";
    log(`  skipped: ${why}`);
    return { ...result, skipped: why };
  }
  const missing = await missingPieces(transports);
  result.missing = [...missing].map(([id, why]) => `${id}: ${why}`);
  let proxy: Proc | undefined;
  let current = { loss: 0, seed: o.seed };
  const env: LinkEnv = {
    recvHost: "127.0.0.1",
    spawn: (_side, cmd, args) => new Proc(cmd, args),
    before: async (loss, seed) => {
      current = { loss, seed };
    },
    route: async (port) => {
      proxy = new Proc("node", [
        CLI,
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--to",
        `127.0.0.1:${port}`,
        "--delay",
        `${LINK_DELAY_MS}ms`,
        "--rate",
        `${LINK_MBIT}mbit`,
        "--queue",
        PROXY_QUEUE,
        "--loss",
        `${current.loss * 100}%`,
        "--seed",
        String(current.seed),
      ]);
      const listen = await proxy.until(
        (l) => /^rudp proxy: .*:(\d+) -> /.exec(l.text)?.[1],
        performance.now() + 20_000,
      );
      if (listen === undefined) throw new Error(`rudp proxy did not start: ${proxy.tail()}`);
      return { host: "127.0.0.1", port: Number(listen) };
    },
    after: async () => {
      const p = proxy;
      proxy = undefined;
      if (!p) return undefined;
      await p.stop();
      return proxyCounters(p);
    },
  };
  const payload = payloadFile(o.bytes);
  // Interrupted: the children are killed and the payload removed on the way out.
  const onSignal = () => process.exit(130);
  const cleanup = () => payload.remove();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  process.once("exit", cleanup);
  try {
    result.results = await runLinkScenario(
      transports.filter((t) => !missing.has(t.id)),
      env,
      { ...o, file: payload.file },
      log,
    );
  } finally {
    await proxy?.stop();
    cleanup();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    process.off("exit", cleanup);
  }
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

/** The scenario's Markdown section. */
export function proxySection(r: LinkScenarioResult): string {
  const head = "## 6. Goodput through `rudp proxy` (loopback, real time)";
  if (r.skipped) return `${head}\n\nSkipped: ${r.skipped}.`;
  return [
    head,
    "",
    `\`rudp proxy --delay ${LINK_DELAY_MS}ms --rate ${LINK_MBIT}mbit --queue ${PROXY_QUEUE} --loss P --seed r\` (the built CLI: the simulator's link model run in real time, ` +
      "one pair of links per client) forwards between a sender and a receiver on 127.0.0.1; its rate counts UDP payload bytes, and loss applies to each datagram in each direction. " +
      `A fresh proxy serves each transfer of ${+(r.bytes / 2 ** 20).toFixed(1)} MiB (run r uses seed r for every transport). ` +
      `Goodput = bytes received / the receiver's time from the first to the last byte; a transfer still running after ${r.capSeconds} s is stopped ` +
      "and reports what arrived by then (⏱, not repeated). Median of the runs shown. The proxy is a Node process too, so sender, proxy and receiver share the machine's two cores " +
      "with other engineers' jobs: noisy, compare the ratios. Kernel TCP cannot cross a UDP proxy, so there is no TCP column. " +
      `Loopback carries 64 KB datagrams and the proxy has no MTU option, so the CLI's path MTU discovery grows rudp's segments to tens of KB (see the payload column): far fewer datagrams meet the per-datagram loss than udx's 1200-byte ones. The like-for-like comparison with udx is the pinned ${PINNED_PACKET_SIZE}-byte rudp column.`,
    "",
    ...r.transports
      .filter((t) => r.results.some((x) => x.transport === t.id))
      .map((t) => `- **${t.label}**: ${t.description}`),
    ...(r.missing.length ? [`- Not run: ${r.missing.join("; ")}`] : []),
    "",
    linkTables(r, LINK_MBIT, BBR_TARGETS),
  ].join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  proxyScenario(parseLinkArgs(process.argv.slice(2)), log)
    .then((r) => console.log(proxySection(r)))
    .catch((err: Error) => {
      console.error(err.stack ?? err.message);
      process.exitCode = 1;
    });
}
