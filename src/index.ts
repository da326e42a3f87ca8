/**
 * rudp: reliable, connection-oriented transport over UDP for Node.js.
 * Today the package exports the sans-IO protocol core and the simulator; the
 * node:net-style API arrives with the Node driver.
 */

export * from "./core/index.js";
