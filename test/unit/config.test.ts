/** resolveConfig: defaults, merging and validation errors that name the option. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { inspect } from "node:util";
import { DEFAULT_CONFIG, mssFor, resolveConfig, type TransportConfig } from "../../src/core/config.js";
import { RudpArgumentError } from "../../src/core/errors.js";
import { MS, SECOND } from "../../src/core/time.js";
import { DATA_PACKET_OVERHEAD, MAX_DATAGRAM_SIZE, MIN_MAX_PACKET_SIZE } from "../../src/core/wire/packet.js";

type Code = "ERR_INVALID_ARG_TYPE" | "ERR_OUT_OF_RANGE" | "ERR_INVALID_ARG_VALUE";

function expectError(options: unknown, code: Code, names: string, known?: readonly string[]): void {
  assert.throws(
    () => resolveConfig(options as Partial<TransportConfig>, known),
    (e: unknown) => {
      assert.ok(e instanceof RudpArgumentError, `expected RudpArgumentError, got ${String(e)}`);
      assert.equal(e.code, code, `code for ${inspect(options)}: ${e.message}`);
      assert.ok(e.message.includes(`"${names}"`), `message names "${names}": ${e.message}`);
      return true;
    },
    `${inspect(options)} should throw ${code}`,
  );
}

const NUMERIC_KEYS = Object.keys(DEFAULT_CONFIG).filter((k) => k !== "congestionControl") as (keyof TransportConfig)[];

test("defaults: no options, empty options and undefined values give the documented defaults", () => {
  const expected: TransportConfig = {
    maxPacketSize: 1200,
    receiveWindow: 16 * 1024 * 1024,
    maxMessageSize: 16 * 1024 * 1024,
    initialWindowPackets: 10,
    congestionControl: "cubic",
    initialRto: 1 * SECOND,
    minRto: 200 * MS,
    maxRto: 60 * SECOND,
    maxRetransmissions: 15,
    maxSynRetransmissions: 6,
    fastRetransmitThreshold: 3,
    maxAckDelay: 10 * MS,
    ackEveryPackets: 2,
    keepaliveInterval: 15 * SECOND,
    idleTimeout: 60 * SECOND,
    timeWait: 4 * SECOND,
    probeTimeoutFactor: 2,
    maxProbePacketSize: 65507,
    tailResendCopies: 1,
  };
  assert.deepEqual(resolveConfig(), expected);
  assert.deepEqual(resolveConfig({}), expected);
  assert.deepEqual(resolveConfig({ maxPacketSize: undefined, congestionControl: undefined }), expected);
  assert.deepEqual({ ...DEFAULT_CONFIG }, expected);
});

test("result is a fresh mutable copy; DEFAULT_CONFIG is frozen", () => {
  const a = resolveConfig();
  assert.notEqual(a, DEFAULT_CONFIG);
  assert.equal(Object.isFrozen(DEFAULT_CONFIG), true);
  a.maxPacketSize = 1400;
  assert.equal(DEFAULT_CONFIG.maxPacketSize, 1200);
  assert.equal(resolveConfig().maxPacketSize, 1200);
});

test("options override defaults; boundary values are accepted", () => {
  const c = resolveConfig({
    maxPacketSize: 1400,
    minRto: 5 * MS,
    maxAckDelay: 0,
    keepaliveInterval: 0,
    idleTimeout: 0,
  });
  assert.equal(c.maxPacketSize, 1400);
  assert.equal(c.minRto, 5 * MS);
  assert.equal(c.maxAckDelay, 0);
  assert.equal(c.keepaliveInterval, 0);
  assert.equal(c.receiveWindow, DEFAULT_CONFIG.receiveWindow);
  assert.equal(resolveConfig({ maxPacketSize: MIN_MAX_PACKET_SIZE }).maxPacketSize, MIN_MAX_PACKET_SIZE);
  assert.equal(resolveConfig({ maxPacketSize: MAX_DATAGRAM_SIZE }).maxPacketSize, MAX_DATAGRAM_SIZE);
  assert.equal(resolveConfig({ receiveWindow: 0xffffffff }).receiveWindow, 0xffffffff);
  assert.equal(resolveConfig({ maxSynRetransmissions: 0 }).maxSynRetransmissions, 0);
  assert.equal(resolveConfig({ minRto: 1.5 * MS }).minRto, 1500, "durations may be fractional");
  assert.equal(
    resolveConfig({ minRto: 2 * SECOND, maxRto: 2 * SECOND }).maxRto,
    2 * SECOND,
    "minRto == maxRto is fine",
  );
});

test("options must be an object", () => {
  for (const bad of [null, 5, "x", true]) expectError(bad, "ERR_INVALID_ARG_TYPE", "options");
});

test("wrong type for every numeric option: ERR_INVALID_ARG_TYPE naming it", () => {
  for (const key of NUMERIC_KEYS)
    for (const bad of ["10", true, null, {}, [], 10n, Number.NaN])
      expectError({ [key]: bad }, "ERR_INVALID_ARG_TYPE", key);
});

test("congestionControl must be a string", () => {
  for (const bad of [1, true, null, {}])
    expectError({ congestionControl: bad }, "ERR_INVALID_ARG_TYPE", "congestionControl");
});

test("out of range for every numeric option: ERR_OUT_OF_RANGE naming it", () => {
  const cases: [keyof TransportConfig, number[]][] = [
    ["maxPacketSize", [MIN_MAX_PACKET_SIZE - 1, 0, -1, MAX_DATAGRAM_SIZE + 1]],
    ["receiveWindow", [4095, 0, 2 ** 32]],
    ["maxMessageSize", [0, -5, 2 ** 31 + 1]],
    ["initialWindowPackets", [0, 1001]],
    ["initialRto", [999, 600 * SECOND + 1]],
    ["minRto", [0, 999]],
    ["maxRto", [0, 3600 * SECOND + 1]],
    ["maxRetransmissions", [0, 101]],
    ["maxSynRetransmissions", [-1, 101]],
    ["fastRetransmitThreshold", [0, 1001]],
    ["maxAckDelay", [-1, SECOND + 1]],
    ["ackEveryPackets", [0, 65]],
    ["keepaliveInterval", [-1, 24 * 3600 * SECOND + 1]],
    ["idleTimeout", [-0.5, 24 * 3600 * SECOND + 1]],
    ["timeWait", [-1, 600 * SECOND + 1]],
    ["probeTimeoutFactor", [0, 0.99, 10.5]],
    ["maxProbePacketSize", [-1, 65508]],
    ["tailResendCopies", [-1, 4, 1.5]],
  ];
  assert.deepEqual(cases.map(([k]) => k).sort(), [...NUMERIC_KEYS].sort(), "every numeric option is covered");
  for (const [key, values] of cases) {
    for (const v of [...values, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])
      expectError({ [key]: v }, "ERR_OUT_OF_RANGE", key);
  }
});

test("non-integers for integer options: ERR_OUT_OF_RANGE naming the option", () => {
  for (const key of [
    "maxPacketSize",
    "receiveWindow",
    "maxMessageSize",
    "initialWindowPackets",
    "maxRetransmissions",
    "maxSynRetransmissions",
    "fastRetransmitThreshold",
    "ackEveryPackets",
  ] as const) {
    expectError({ [key]: DEFAULT_CONFIG[key] + 0.5 }, "ERR_OUT_OF_RANGE", key);
  }
});

test("unknown option: ERR_INVALID_ARG_VALUE naming it", () => {
  expectError({ maxPacketSise: 1200 }, "ERR_INVALID_ARG_VALUE", "maxPacketSise");
  expectError({ rto: 5 }, "ERR_INVALID_ARG_VALUE", "rto");
});

test("unknown option named like an Object.prototype member is rejected (regression)", () => {
  for (const key of ["constructor", "toString", "hasOwnProperty", "valueOf"])
    expectError({ [key]: 1 }, "ERR_INVALID_ARG_VALUE", key);
});

test("minRto > maxRto: ERR_OUT_OF_RANGE naming minRto", () => {
  expectError({ minRto: 2 * SECOND, maxRto: 1 * SECOND }, "ERR_OUT_OF_RANGE", "minRto");
  // Only maxRto given, below the default minRto.
  expectError({ maxRto: 100 * MS }, "ERR_OUT_OF_RANGE", "minRto");
});

test("receiveWindow below maxPacketSize: ERR_OUT_OF_RANGE naming receiveWindow", () => {
  expectError({ receiveWindow: 4096, maxPacketSize: 8000 }, "ERR_OUT_OF_RANGE", "receiveWindow");
});

test("congestionControl: any string without a list; must be listed when a list is passed", () => {
  assert.equal(resolveConfig({ congestionControl: "whatever" }).congestionControl, "whatever");
  assert.equal(resolveConfig({ congestionControl: "cubic" }, ["newreno", "cubic"]).congestionControl, "cubic");
  expectError({ congestionControl: "bbr" }, "ERR_INVALID_ARG_VALUE", "congestionControl", ["newreno", "cubic"]);
  expectError({ congestionControl: "" }, "ERR_INVALID_ARG_VALUE", "congestionControl", ["newreno"]);
  // The default is not re-checked against the list unless given explicitly.
  assert.equal(resolveConfig({}, ["cubic"]).congestionControl, "cubic");
});

test("mssFor subtracts the data packet overhead", () => {
  assert.equal(mssFor(1200), 1200 - DATA_PACKET_OVERHEAD);
  assert.equal(mssFor(1200), 1172);
});

test("profiles: low-latency changes only its defaults, explicit options still win, unknown names are rejected", () => {
  const low = resolveConfig({ profile: "low-latency" });
  assert.equal(low.maxAckDelay, 0);
  assert.equal(low.ackEveryPackets, 1);
  assert.equal(low.minRto, 50 * MS);
  assert.equal(low.probeTimeoutFactor, 1.25);
  assert.equal(low.receiveWindow, DEFAULT_CONFIG.receiveWindow);
  assert.equal(resolveConfig({ profile: "low-latency", minRto: 80 * MS }).minRto, 80 * MS);
  assert.deepEqual(resolveConfig({ profile: "default" }), resolveConfig());
  expectError({ profile: "warp" } as never, "ERR_INVALID_ARG_VALUE", "profile");
});
