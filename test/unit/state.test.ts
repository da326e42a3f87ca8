/** The RFC 9293 state machine table, nextState, and the generated diagram. */

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  canSend,
  isSynchronized,
  nextState,
  type State,
  type StateEvent,
  stateDiagram,
  TRANSITIONS,
} from "../../src/core/connection/state.js";

const ALL_STATES: State[] = [
  "CLOSED",
  "LISTEN",
  "SYN-SENT",
  "SYN-RECEIVED",
  "ESTABLISHED",
  "FIN-WAIT-1",
  "FIN-WAIT-2",
  "CLOSE-WAIT",
  "CLOSING",
  "LAST-ACK",
  "TIME-WAIT",
];

const ALL_EVENTS: StateEvent[] = [
  "connect",
  "listen",
  "rcv SYN",
  "rcv SYN-ACK",
  "rcv ACK of SYN",
  "close",
  "rcv FIN",
  "rcv ACK of FIN",
  "timeout",
  "abort",
];

test("every transition in the table is what nextState returns", () => {
  for (const t of TRANSITIONS) assert.equal(nextState(t.from, t.event), t.to, `${t.from} --${t.event}-->`);
});

test("the table has no conflicting (state, event) pairs", () => {
  const seen = new Set<string>();
  for (const t of TRANSITIONS) {
    const k = `${t.from}|${t.event}`;
    assert.ok(!seen.has(k), `duplicate edge ${k}`);
    seen.add(k);
  }
});

test("nextState is undefined exactly for pairs absent from the table", () => {
  const table = new Map(TRANSITIONS.map((t) => [`${t.from}|${t.event}`, t.to]));
  for (const s of ALL_STATES)
    for (const e of ALL_EVENTS) assert.equal(nextState(s, e), table.get(`${s}|${e}`), `${s} + ${e}`);
});

test("illegal edges", () => {
  const illegal: [State, StateEvent][] = [
    ["CLOSED", "rcv FIN"],
    ["CLOSED", "abort"],
    ["CLOSED", "close"],
    ["CLOSED", "rcv SYN"],
    ["LISTEN", "rcv FIN"],
    ["LISTEN", "connect"],
    ["SYN-SENT", "rcv FIN"],
    ["ESTABLISHED", "connect"],
    ["ESTABLISHED", "rcv SYN-ACK"],
    ["CLOSE-WAIT", "rcv FIN"],
    ["LAST-ACK", "close"],
    ["FIN-WAIT-2", "close"],
    ["TIME-WAIT", "close"],
  ];
  for (const [s, e] of illegal) assert.equal(nextState(s, e), undefined, `${s} + ${e}`);
});

test("all 11 RFC 9293 states appear in the table", () => {
  const seen = new Set<State>();
  for (const t of TRANSITIONS) {
    seen.add(t.from);
    seen.add(t.to);
  }
  assert.deepEqual([...seen].sort(), [...ALL_STATES].sort());
  assert.equal(seen.size, 11);
});

test("abort leads to CLOSED from every state but CLOSED", () => {
  for (const s of ALL_STATES) assert.equal(nextState(s, "abort"), s === "CLOSED" ? undefined : "CLOSED", s);
});

test("every state is reachable from CLOSED without abort, and CLOSED is reachable from every state", () => {
  const reach = (from: State, edges: readonly { from: State; to: State }[]) => {
    const seen = new Set<State>([from]);
    const todo = [from];
    while (todo.length > 0) {
      const s = todo.pop() as State;
      for (const t of edges) {
        if (t.from !== s || seen.has(t.to)) continue;
        seen.add(t.to);
        todo.push(t.to);
      }
    }
    return seen;
  };
  const graceful = TRANSITIONS.filter((t) => t.event !== "abort");
  assert.equal(reach("CLOSED", graceful).size, 11);
  for (const s of ALL_STATES) assert.ok(reach(s, graceful).has("CLOSED"), `${s} can close gracefully`);
});

test("RFC 9293 close sequences", () => {
  const run = (start: State, events: StateEvent[]) =>
    events.reduce<State | undefined>((s, e) => s && nextState(s, e), start);
  assert.equal(run("CLOSED", ["connect", "rcv SYN-ACK", "close", "rcv ACK of FIN", "rcv FIN", "timeout"]), "CLOSED");
  assert.equal(run("CLOSED", ["listen", "rcv SYN", "rcv ACK of SYN", "rcv FIN", "close", "rcv ACK of FIN"]), "CLOSED");
  assert.equal(run("ESTABLISHED", ["close", "rcv FIN", "rcv ACK of FIN"]), "TIME-WAIT");
  assert.equal(run("CLOSED", ["connect", "rcv SYN", "rcv ACK of SYN"]), "ESTABLISHED");
});

test("isSynchronized and canSend", () => {
  const unsynced = new Set<State>(["CLOSED", "LISTEN", "SYN-SENT", "SYN-RECEIVED"]);
  for (const s of ALL_STATES) {
    assert.equal(isSynchronized(s), !unsynced.has(s), s);
    assert.equal(canSend(s), s === "ESTABLISHED" || s === "CLOSE-WAIT", s);
  }
});

test("stateDiagram mentions every non-abort edge and no abort edge", () => {
  const d = stateDiagram();
  const lines = d.split("\n");
  assert.equal(lines[0], "stateDiagram-v2");
  const id = (s: State) => s.replace(/-/g, "_");
  let edges = 0;
  for (const t of TRANSITIONS) {
    const line = `    ${id(t.from)} --> ${id(t.to)}: ${t.event}`;
    if (t.event === "abort") assert.ok(!lines.includes(line), `abort edge drawn: ${line}`);
    else {
      assert.ok(lines.includes(line), `missing: ${line}`);
      edges++;
    }
  }
  assert.equal(lines.filter((l) => l.includes("-->") && !l.includes("[*]")).length, edges);
  assert.match(d, /abort/);
  for (const s of ALL_STATES) assert.ok(d.includes(id(s)), `state ${s} in diagram`);
});
