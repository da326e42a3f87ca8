/** Reporting helpers for the benchmarks: statistics, number formats, Markdown tables, the machine line and dependency-free SVG line charts. */

import os from "node:os";
import type { LinkScenarioResult } from "./netem.js";

// ----- Statistics --------------------------------------------------------------------

/** Median of the finite values (NaN when none). */
export function median(values: readonly number[]): number {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Nearest-rank percentile (`p` in 0..1) of an ascending array (NaN when empty). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[i];
}

// ----- Formatting -------------------------------------------------------------------------

/** A number with `digits` decimals, or "n/a" when it is not finite. */
export function fmt(n: number | undefined, digits = 1): string {
  return n !== undefined && Number.isFinite(n) ? n.toFixed(digits) : "n/a";
}

/** A ratio as "0.62×" (or "n/a"). */
export function ratio(a: number | undefined, b: number | undefined, digits = 2): string {
  if (a === undefined || b === undefined || !(b > 0) || !Number.isFinite(a)) return "n/a";
  return `${(a / b).toFixed(digits)}×`;
}

/** ✅ when `ok`, ❌ otherwise, with the target text. */
export function mark(ok: boolean, target: string): string {
  return `${ok ? "✅" : "❌"} ${target}`;
}

/** A Markdown table. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  return [line(headers), line(headers.map(() => "---")), ...rows.map(line)].join("\n");
}

/** The machine and runtime the numbers come from. */
export function machineDescription(date = new Date()): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? "unknown CPU";
  return (
    `${model}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ` +
    `${os.type()} ${os.release()}, Node ${process.version}, ${date.toISOString()}`
  );
}

// ----- SVG charts -------------------------------------------------------------------------

/** One line of a chart. */
export interface Series {
  name: string;
  color: string;
  points: readonly (readonly [number, number])[];
  /** Which y axis the series uses (default left). */
  axis?: "left" | "right";
  /** Draw a dashed line. */
  dashed?: boolean;
  /** Draw a dot at every point. */
  dots?: boolean;
  /** Draw dots only (no line). */
  dotsOnly?: boolean;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Label of the right-hand axis, when a series uses it. */
  y2Label?: string;
  series: readonly Series[];
  /** Axis upper bounds (default: a round number above the data). Lower bounds are 0. */
  xMax?: number;
  yMax?: number;
  y2Max?: number;
  /** Explicit x tick positions (default: evenly spaced round numbers). */
  xTicks?: readonly number[];
  /** Where the legend goes: inside the plot, top right (default), or in a column right of it. */
  legend?: "inside" | "right";
  width?: number;
  height?: number;
}

/** A round step that splits `max` into about `count` intervals. */
function niceStep(max: number, count = 5): number {
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * mag;
}

/** A round upper bound above every value (at least `fallback`). */
function niceMax(values: readonly number[], fallback = 1): number {
  const max = Math.max(0, ...values.filter(Number.isFinite));
  if (!(max > 0)) return fallback;
  const step = niceStep(max);
  return Math.ceil(max / step) * step;
}

function ticks(max: number): number[] {
  const step = niceStep(max);
  const out: number[] = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function label(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
}

/** A line chart as a standalone SVG document: axes from 0, grid, ticks, an optional second y axis and a legend. */
export function lineChart(o: ChartOptions): string {
  const legendRight = o.legend === "right";
  const legendWidth = 190;
  const width = (o.width ?? 760) + (legendRight ? legendWidth + 16 : 0);
  const height = o.height ?? 440;
  const hasRight = o.series.some((s) => s.axis === "right");
  const m = { top: 48, right: (hasRight ? 72 : 24) + (legendRight ? legendWidth + 16 : 0), bottom: 56, left: 72 };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const xs = o.series.flatMap((s) => s.points.map((p) => p[0]));
  const left = o.series.filter((s) => s.axis !== "right").flatMap((s) => s.points.map((p) => p[1]));
  const right = o.series.filter((s) => s.axis === "right").flatMap((s) => s.points.map((p) => p[1]));
  const xMax = o.xMax ?? niceMax(xs);
  const yMax = o.yMax ?? niceMax(left);
  const y2Max = o.y2Max ?? niceMax(right);
  const sx = (x: number) => m.left + (x / xMax) * pw;
  const sy = (y: number, axisMax: number) => m.top + ph - (Math.min(Math.max(y, 0), axisMax) / axisMax) * ph;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${esc(o.title)}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${esc(o.title)}</text>`,
  );
  // Grid and ticks.
  for (const t of ticks(yMax)) {
    const y = sy(t, yMax).toFixed(1);
    out.push(`<line x1="${m.left}" y1="${y}" x2="${m.left + pw}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle">${label(t)}</text>`);
  }
  if (hasRight) {
    for (const t of ticks(y2Max)) {
      const y = sy(t, y2Max).toFixed(1);
      out.push(`<text x="${m.left + pw + 8}" y="${y}" dominant-baseline="middle">${label(t)}</text>`);
    }
  }
  for (const t of o.xTicks ?? ticks(xMax)) {
    const x = sx(t).toFixed(1);
    out.push(`<line x1="${x}" y1="${m.top}" x2="${x}" y2="${m.top + ph}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${x}" y="${m.top + ph + 18}" text-anchor="middle">${label(t)}</text>`);
  }
  // Axes and their labels.
  out.push(
    `<line x1="${m.left}" y1="${m.top + ph}" x2="${m.left + pw}" y2="${m.top + ph}" stroke="#333"/>`,
    `<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${m.top + ph}" stroke="#333"/>`,
    `<text x="${m.left + pw / 2}" y="${height - 14}" text-anchor="middle">${esc(o.xLabel)}</text>`,
    `<text transform="translate(18 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`,
  );
  if (hasRight) {
    out.push(
      `<line x1="${m.left + pw}" y1="${m.top}" x2="${m.left + pw}" y2="${m.top + ph}" stroke="#333"/>`,
      `<text transform="translate(${width - 16} ${m.top + ph / 2}) rotate(90)" text-anchor="middle">${esc(o.y2Label ?? "")}</text>`,
    );
  }
  // Series.
  for (const s of o.series) {
    const axisMax = s.axis === "right" ? y2Max : yMax;
    const pts = s.points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y, axisMax).toFixed(1)}`);
    if (!s.dotsOnly && pts.length > 1) {
      const dash = s.dashed ? ' stroke-dasharray="6 4"' : "";
      out.push(
        `<polyline fill="none" stroke="${s.color}" stroke-width="2"${dash} stroke-linejoin="round" points="${pts.join(" ")}"/>`,
      );
    }
    if (s.dots || s.dotsOnly) {
      for (const p of pts) {
        const [x, y] = p.split(",");
        out.push(`<circle cx="${x}" cy="${y}" r="3.5" fill="${s.color}"/>`);
      }
    }
  }
  // Legend, top right inside the plot, or in its own column.
  const lx = legendRight ? width - legendWidth - 8 : m.left + pw - legendWidth;
  out.push(
    `<rect x="${lx - 8}" y="${m.top + 4}" width="${legendWidth}" height="${o.series.length * 18 + 4}" fill="white" fill-opacity="0.85" stroke="#ddd"/>`,
  );
  o.series.forEach((s, i) => {
    const y = m.top + 14 + i * 18;
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : "";
    out.push(
      s.dotsOnly
        ? `<circle cx="${lx + 12}" cy="${y}" r="3.5" fill="${s.color}"/>`
        : `<line x1="${lx}" y1="${y}" x2="${lx + 24}" y2="${y}" stroke="${s.color}" stroke-width="2"${dash}/>`,
      `<text x="${lx + 32}" y="${y}" dominant-baseline="middle">${esc(s.name)}</text>`,
    );
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}

// ----- Real-link tables ---------------------------------------------------------------------------

/** Median goodput (Mbit/s) of a transport's successful runs at one loss rate, and whether the time cap ended any. */
export function linkMedian(
  r: LinkScenarioResult,
  id: string,
  loss: number,
): { mbit: number; capped: boolean; n: number } {
  const ok = r.results.filter((x) => x.transport === id && x.loss === loss && x.ok);
  return { mbit: median(ok.map((x) => x.mbit)), capped: ok.some((x) => x.capped), n: ok.length };
}

/**
 * The tables of a real-link scenario (bench/netem.ts, bench/proxy.ts): goodput per transport and loss rate as % of
 * the link, the ratios of each rudp transport to udx-native and to the best kernel TCP, the BBR targets
 * (`targets`: minimum % of the link by loss fraction), and every run in a collapsed details table.
 */
export function linkTables(
  r: LinkScenarioResult,
  linkMbit: number,
  targets: Readonly<Record<number, number>> = {},
): string {
  const ran = r.transports.filter((t) => r.results.some((x) => x.transport === t.id));
  const pct = (mbit: number) => (100 * mbit) / linkMbit;
  const cell = (id: string, loss: number) => {
    const m = linkMedian(r, id, loss);
    if (m.n === 0) return r.results.some((x) => x.transport === id && x.loss === loss) ? "failed" : "—";
    return `${fmt(pct(m.mbit))}% (${fmt(m.mbit)})${m.capped ? " ⏱" : ""}`;
  };
  const summary = r.losses.map((loss) => [`${loss * 100}%`, ...ran.map((t) => cell(t.id, loss))]);

  const rudp = ran.filter((t) => t.id.startsWith("rudp"));
  const tcp = ran.filter((t) => t.kind === "tcp");
  const hasUdx = ran.some((t) => t.id === "udx");
  const ratios = r.losses.map((loss) => {
    const get = (id: string) => linkMedian(r, id, loss).mbit;
    const bestTcp = tcp.map((t) => ({ t, mbit: get(t.id) })).sort((a, b) => (b.mbit || 0) - (a.mbit || 0))[0];
    const udx = get("udx");
    const cells = [`${loss * 100}%`];
    if (tcp.length)
      cells.push(bestTcp && Number.isFinite(bestTcp.mbit) ? `${bestTcp.t.label} ${fmt(pct(bestTcp.mbit))}%` : "n/a");
    for (const t of rudp) {
      if (hasUdx) cells.push(ratio(get(t.id), udx));
      if (tcp.length) cells.push(ratio(get(t.id), bestTcp?.mbit));
    }
    const target = targets[loss];
    if (target !== undefined) {
      const best = Math.max(
        ...rudp
          .filter((t) => t.cc === "bbr")
          .map((t) => get(t.id))
          .filter(Number.isFinite),
      );
      const ahead = (!hasUdx || best > udx) && (!tcp.length || best > (bestTcp?.mbit ?? 0));
      cells.push(
        mark(pct(best) >= target && ahead, `≥ ${target}%${hasUdx ? ", > udx" : ""}${tcp.length ? ", > TCP" : ""}`),
      );
    } else if (Object.keys(targets).length) cells.push("—");
    return cells;
  });
  const ratioHead = [
    "loss each way",
    ...(tcp.length ? ["best kernel TCP"] : []),
    ...rudp.flatMap((t) => [...(hasUdx ? [`${t.label} / udx`] : []), ...(tcp.length ? [`${t.label} / best TCP`] : [])]),
    ...(Object.keys(targets).length ? ["issue target (best rudp BBR)"] : []),
  ];

  const details = r.results.map((x) => {
    const t = r.transports.find((y) => y.id === x.transport);
    const notes = [x.capped ? `⏱ stopped at the ${r.capSeconds} s cap` : "", x.error ?? ""].filter(Boolean).join("; ");
    return [
      t?.label ?? x.transport,
      `${x.loss * 100}%`,
      `${x.run} (seed ${x.seed})`,
      fmt(x.bytes / 2 ** 20),
      fmt(x.seconds, 2),
      fmt(x.mbit),
      fmt(pct(x.mbit)),
      x.retransmits !== undefined && x.segments
        ? `${fmt((100 * x.retransmits) / x.segments, 2)}%`
        : x.retransmits !== undefined
          ? String(x.retransmits)
          : "",
      x.payloadSize !== undefined ? String(x.payloadSize) : "",
      x.link ? `${x.link.packets} / ${x.link.lossDrops} / ${x.link.queueDrops}` : "",
      notes,
    ];
  });
  return [
    "Goodput, % of the link (Mbit/s), median:",
    "",
    table(["loss each way", ...ran.map((t) => t.label)], summary),
    "",
    table(ratioHead, ratios),
    "",
    "<details><summary>Per-run details</summary>",
    "",
    table(
      [
        "transport",
        "loss",
        "run",
        "MiB received",
        "s",
        "Mbit/s",
        "% of link",
        "retransmitted (of segments sent)",
        "payload B / segment",
        "link, data direction: packets / loss drops / queue drops",
        "notes",
      ],
      details,
    ),
    "",
    "</details>",
  ].join("\n");
}
