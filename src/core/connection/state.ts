/**
 * The connection state machine of RFC 9293 §3.3.2 as data. The connection only
 * moves along these edges (anything else is an internal bug), and
 * docs/PROTOCOL.md draws its diagram from this table (`stateDiagram`).
 */

/** The RFC 9293 connection states, spelled as the RFC spells them. */
export type State =
  | "CLOSED"
  | "LISTEN"
  | "SYN-SENT"
  | "SYN-RECEIVED"
  | "ESTABLISHED"
  | "FIN-WAIT-1"
  | "FIN-WAIT-2"
  | "CLOSE-WAIT"
  | "CLOSING"
  | "LAST-ACK"
  | "TIME-WAIT";

/** What moves a connection from one state to another. */
export type StateEvent =
  | "connect" // active open: send SYN
  | "listen" // passive open
  | "rcv SYN" // a SYN arrived: send SYN-ACK
  | "rcv SYN-ACK" // the peer answered our SYN
  | "rcv ACK of SYN" // the peer acknowledged our SYN-ACK
  | "rcv RST of simultaneous open" // the SYN we answered was not the peer's: send our SYN again
  | "close" // the application ended its writing: queue FIN (before ESTABLISHED it waits for ESTABLISHED)
  | "rcv FIN" // the peer's FIN arrived in order
  | "rcv ACK of FIN" // our FIN was acknowledged
  | "timeout" // TIME-WAIT expired
  | "abort"; // RST sent or received, handshake or retransmission timeout

/** One edge of the state machine. */
export interface Transition {
  readonly from: State;
  readonly event: StateEvent;
  readonly to: State;
}

/** Every legal transition; "abort" is legal from every state but CLOSED and is listed once per state. */
export const TRANSITIONS: readonly Transition[] = Object.freeze([
  { from: "CLOSED", event: "connect", to: "SYN-SENT" },
  { from: "CLOSED", event: "listen", to: "LISTEN" },
  { from: "LISTEN", event: "rcv SYN", to: "SYN-RECEIVED" },
  { from: "SYN-SENT", event: "rcv SYN-ACK", to: "ESTABLISHED" },
  { from: "SYN-SENT", event: "rcv SYN", to: "SYN-RECEIVED" }, // simultaneous open, RFC 9293 §3.5 fig. 8
  { from: "SYN-RECEIVED", event: "rcv ACK of SYN", to: "ESTABLISHED" },
  // An rudp deviation (RFC 9293 §3.10.7.3 reports "refused"): a SYN anyone can forge must not end an active open.
  { from: "SYN-RECEIVED", event: "rcv RST of simultaneous open", to: "SYN-SENT" },
  { from: "ESTABLISHED", event: "close", to: "FIN-WAIT-1" },
  { from: "ESTABLISHED", event: "rcv FIN", to: "CLOSE-WAIT" },
  { from: "FIN-WAIT-1", event: "rcv ACK of FIN", to: "FIN-WAIT-2" },
  { from: "FIN-WAIT-1", event: "rcv FIN", to: "CLOSING" }, // simultaneous close
  { from: "FIN-WAIT-2", event: "rcv FIN", to: "TIME-WAIT" },
  { from: "CLOSE-WAIT", event: "close", to: "LAST-ACK" },
  { from: "CLOSING", event: "rcv ACK of FIN", to: "TIME-WAIT" },
  { from: "LAST-ACK", event: "rcv ACK of FIN", to: "CLOSED" },
  { from: "TIME-WAIT", event: "timeout", to: "CLOSED" },
  ...(
    [
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
    ] as const
  ).map((from) => ({ from, event: "abort" as const, to: "CLOSED" as const })),
]);

const INDEX = new Map<string, State>(TRANSITIONS.map((t) => [`${t.from}|${t.event}`, t.to]));

/** The state `event` leads to from `from`, or undefined if the table has no such edge. */
export function nextState(from: State, event: StateEvent): State | undefined {
  return INDEX.get(`${from}|${event}`);
}

/** States in which both sides have exchanged SYNs (data may flow). */
export function isSynchronized(s: State): boolean {
  return s !== "CLOSED" && s !== "LISTEN" && s !== "SYN-SENT" && s !== "SYN-RECEIVED";
}

/** States in which the local side may still send data. */
export function canSend(s: State): boolean {
  return s === "ESTABLISHED" || s === "CLOSE-WAIT";
}

/** The table as a Mermaid state diagram (aborts folded into one note), for docs/PROTOCOL.md. */
export function stateDiagram(): string {
  const lines = ["stateDiagram-v2", "    [*] --> CLOSED"];
  for (const t of TRANSITIONS) {
    if (t.event === "abort") continue;
    lines.push(`    ${id(t.from)} --> ${id(t.to)}: ${t.event}`);
  }
  lines.push("    note right of CLOSED: abort (RST, timeout) leads here from every state");
  return lines.join("\n");
}

function id(s: State): string {
  return s.replace(/-/g, "_");
}
