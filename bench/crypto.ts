/**
 * Crypto micro-benchmarks (`node --import tsx bench/crypto.ts [--quick]`):
 * seal+open throughput of ChaCha20-Poly1305 and AES-256-GCM through the
 * per-datagram path (PacketSealer/PacketOpener on the node provider) at
 * 1200-byte and 64 KiB payloads, the cost of each Noise handshake, and of
 * importing raw X25519 keys as JWK or DER. Every figure is the median of 5
 * runs. Prints Markdown.
 */

import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from "node:crypto";
import { cpus } from "node:os";
import { NoiseHandshake, type NoisePattern } from "../src/core/crypto/noise.js";
import { PacketOpener, PacketSealer } from "../src/core/crypto/packet-protection.js";
import type { AeadName, CryptoProvider } from "../src/core/crypto/provider.js";
import { nodeCryptoProvider } from "../src/runtime/node-crypto.js";

const QUICK = process.argv.includes("--quick");
const RUNS = 5;
const AEADS: readonly AeadName[] = ["chacha20-poly1305", "aes-256-gcm"];
const SIZES = [1200, 65536] as const;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Nanoseconds per call of `fn` over `n` calls (after a short warm-up). */
function nsPerCall(n: number, fn: (i: number) => void): number {
  for (let i = 0; i < Math.min(n, 200); i++) fn(i);
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  return Number(process.hrtime.bigint() - start) / n;
}

/** Median over RUNS runs of `nsPerCall`. */
function timePerCall(n: number, fn: (i: number) => void): number {
  return median(Array.from({ length: RUNS }, () => nsPerCall(n, fn)));
}

interface AeadRow {
  aead: AeadName;
  size: number;
  sealNs: number;
  openNs: number;
  roundTripNs: number;
}

/** One run's measurements of seal alone, open alone and seal+open for one AEAD and size. */
function aeadRun(crypto: CryptoProvider, size: number): Omit<AeadRow, "aead" | "size"> {
  const n = QUICK ? (size > 4096 ? 100 : 1000) : size > 4096 ? 1000 : 10_000;
  const key = new Uint8Array(randomBytes(32));
  const payload = new Uint8Array(randomBytes(size));
  const header = new Uint8Array(randomBytes(20));
  const datagram = new Uint8Array(header.length + size + 16);
  datagram.set(header);

  // Seal alone, into a reused datagram buffer as a sender would.
  const sealOnly = new PacketSealer(crypto, key);
  const sealNs = nsPerCall(n, () => {
    sealOnly.seal(header, payload, datagram, header.length);
  });

  // Open alone, over a batch sealed beforehand.
  const batch = Math.min(n, 2000);
  const sealer = new PacketSealer(crypto, key);
  const sealed = Array.from({ length: batch }, () => sealer.seal(header, payload).bytes);
  let opener = new PacketOpener(crypto, key);
  const openNs = nsPerCall(batch, (i) => {
    if (i === 0) opener = new PacketOpener(crypto, key);
    if (opener.open(header, i, 0, sealed[i]) === null) throw new Error("open failed");
  });

  // The full per-datagram path: seal then open, packet after packet.
  const tx = new PacketSealer(crypto, key);
  const rx = new PacketOpener(crypto, key);
  const roundTripNs = nsPerCall(n, () => {
    const pn = tx.nextPacketNumber;
    const s = tx.seal(header, payload, datagram, header.length);
    if (rx.open(header, pn, s.keyPhase, s.bytes) === null) throw new Error("open failed");
  });
  return { sealNs, openNs, roundTripNs };
}

/** Medians of RUNS runs per AEAD, the AEADs interleaved run by run so load changes hit both alike. */
function aeadRows(size: number): AeadRow[] {
  const runs = new Map<AeadName, Omit<AeadRow, "aead" | "size">[]>(AEADS.map((a) => [a, []]));
  for (let r = 0; r < RUNS; r++) {
    for (const aead of r % 2 === 0 ? AEADS : [...AEADS].reverse()) {
      runs.get(aead)!.push(aeadRun(nodeCryptoProvider(aead), size));
    }
  }
  return AEADS.map((aead) => {
    const xs = runs.get(aead)!;
    return {
      aead,
      size,
      sealNs: median(xs.map((x) => x.sealNs)),
      openNs: median(xs.map((x) => x.openNs)),
      roundTripNs: median(xs.map((x) => x.roundTripNs)),
    };
  });
}

function handshakeNs(crypto: CryptoProvider, pattern: NoisePattern): number {
  const server = crypto.generateKeyPair();
  const client = crypto.generateKeyPair();
  const psk = new Uint8Array(randomBytes(32));
  const opts = (initiator: boolean) =>
    pattern === "NNpsk0"
      ? { pattern, initiator, psk }
      : initiator
        ? { pattern, initiator, remoteStaticKey: server.publicKey, staticKeyPair: client }
        : { pattern, initiator, staticKeyPair: server };
  return timePerCall(QUICK ? 20 : 200, () => {
    const i = new NoiseHandshake(crypto, opts(true));
    const r = new NoiseHandshake(crypto, opts(false));
    r.readMessage(i.writeMessage());
    i.readMessage(r.writeMessage());
    i.split();
    r.split();
  });
}

function keyImportRows(): [string, number][] {
  const n = QUICK ? 100 : 1000;
  const raw = randomBytes(32);
  const d = raw.toString("base64url");
  const pub = createPublicKey(createPrivateKey({ key: { kty: "OKP", crv: "X25519", d, x: d }, format: "jwk" })).export({
    format: "jwk",
  }).x as string;
  const pubRaw = Buffer.from(pub, "base64url");
  const pkcs8 = Buffer.concat([Buffer.from("302e020100300506032b656e04220420", "hex"), raw]);
  const spki = Buffer.concat([Buffer.from("302a300506032b656e032100", "hex"), pubRaw]);
  const crypto = nodeCryptoProvider();
  const staticKey = new Uint8Array(randomBytes(32));
  return [
    [
      "private key, JWK",
      timePerCall(n, () => createPrivateKey({ key: { kty: "OKP", crv: "X25519", d, x: d }, format: "jwk" })),
    ],
    ["private key, DER (PKCS#8)", timePerCall(n, () => createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" }))],
    [
      "public key, JWK",
      timePerCall(n, () => createPublicKey({ key: { kty: "OKP", crv: "X25519", x: pub }, format: "jwk" })),
    ],
    ["public key, DER (SPKI)", timePerCall(n, () => createPublicKey({ key: spki, format: "der", type: "spki" }))],
    ["generateKeyPair() (random bytes + JWK import + public export)", timePerCall(n, () => crypto.generateKeyPair())],
    ["generateKeyPairSync('x25519'), keys left as KeyObjects", timePerCall(n, () => generateKeyPairSync("x25519"))],
    ["X25519 dh() with a cached static private key", timePerCall(n, () => crypto.dh(staticKey, pubRaw))],
  ];
}

function fmt(x: number, digits = 0): string {
  return x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function main(): void {
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  console.log(`# rudp crypto benchmark\n`);
  console.log(
    `node ${process.versions.node}, OpenSSL ${process.versions.openssl}, ${cpu} (${cpus().length} cores); median of ${RUNS} runs${QUICK ? " (--quick)" : ""}.\n`,
  );

  console.log("## AEAD per datagram (PacketSealer / PacketOpener, 20-byte header as associated data)\n");
  console.log("| AEAD | payload | seal ns/pkt | open ns/pkt | seal+open ns/pkt | seal+open MB/s |");
  console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
  const rows: AeadRow[] = [];
  for (const size of SIZES) {
    for (const r of aeadRows(size)) {
      rows.push(r);
      const mbps = (size / r.roundTripNs) * 1e3;
      console.log(
        `| ${r.aead} | ${size} B | ${fmt(r.sealNs)} | ${fmt(r.openNs)} | ${fmt(r.roundTripNs)} | ${fmt(mbps)} |`,
      );
    }
  }
  for (const size of SIZES) {
    const [c, a] = AEADS.map((aead) => rows.find((r) => r.aead === aead && r.size === size)!);
    const faster = c.roundTripNs <= a.roundTripNs ? c : a;
    const slower = faster === c ? a : c;
    console.log(
      `\n${size} B: ${faster.aead} is ${fmt(slower.roundTripNs / faster.roundTripNs, 2)}x as fast as ${slower.aead} (seal+open).`,
    );
  }

  console.log("\n## Noise handshake (both sides, both messages, split)\n");
  console.log("| pattern | AEAD | µs per handshake |");
  console.log("| --- | --- | ---: |");
  for (const pattern of ["NNpsk0", "NK", "IK"] as const) {
    for (const aead of AEADS) {
      console.log(`| ${pattern} | ${aead} | ${fmt(handshakeNs(nodeCryptoProvider(aead), pattern) / 1e3, 1)} |`);
    }
  }

  console.log("\n## X25519 keys in node:crypto\n");
  console.log("| operation | µs |");
  console.log("| --- | ---: |");
  for (const [name, ns] of keyImportRows()) console.log(`| ${name} | ${fmt(ns / 1e3, 1)} |`);
}

main();
