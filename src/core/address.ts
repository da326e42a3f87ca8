/**
 * Network addresses as the core sees them: opaque host strings and ports.
 * The core never resolves names; drivers hand it numeric addresses.
 */

/** A UDP peer address. */
export interface Address {
  readonly address: string;
  readonly port: number;
}

/** A string that identifies an address, usable as a Map key. */
export function addressKey(a: Address): string {
  return a.address.includes(":") ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

/** True when both name the same host and port (without building keys: this runs per packet). */
export function sameAddress(a: Address, b: Address): boolean {
  return a.port === b.port && a.address === b.address;
}
