/**
 * Segments that arrive in fragments (flag FRAG, PROTOCOL.md §4.10), put back
 * together before they enter the reorder buffer. A sender resends a segment in
 * fragments when it was cut for a larger path MTU than the path now carries.
 * Fragments may come in any order, overlap (a resend cut differently) and
 * repeat. Bounded: at most MAX_PARTIAL_SEGMENTS segments are in progress at
 * once, each at most one segment's payload (≤ 65,479 bytes).
 */

import { RangeSet } from "./range-set.js";

/** Segments whose fragments may be collected at the same time. */
export const MAX_PARTIAL_SEGMENTS = 16;

/** What one fragment did. */
export enum Fragment {
  /** Stored; the segment is still incomplete. */
  Pending = 0,
  /** It completed the segment: `payload` holds it. */
  Complete = 1,
  /** Its segment length differs from that of earlier fragments of the same segment: dropped. */
  Inconsistent = 2,
  /** MAX_PARTIAL_SEGMENTS other segments are in progress: dropped (the sender resends it). */
  Full = 3,
}

interface PartialSegment {
  readonly payload: Uint8Array;
  readonly have: RangeSet;
}

/** Fragments of segments in progress, by sequence number. */
export class Reassembly {
  readonly #partial = new Map<number, PartialSegment>();
  #bytes = 0;
  /** The payload of the segment the last Complete fragment finished. */
  payload: Uint8Array = new Uint8Array(0);

  /** Segments in progress. */
  get size(): number {
    return this.#partial.size;
  }
  /** Bytes set aside for the segments in progress. */
  get bytes(): number {
    return this.#bytes;
  }
  /** True while fragments of segment `seq` are being collected. */
  has(seq: number): boolean {
    return this.#partial.has(seq);
  }

  /** Adds a fragment of segment `seq` (unwrapped): `bytes` at `offset` of a payload of `segmentLength` bytes. */
  add(seq: number, offset: number, segmentLength: number, bytes: Uint8Array): Fragment {
    let p = this.#partial.get(seq);
    if (p === undefined) {
      if (this.#partial.size >= MAX_PARTIAL_SEGMENTS) return Fragment.Full;
      p = { payload: new Uint8Array(segmentLength), have: new RangeSet() };
      this.#partial.set(seq, p);
      this.#bytes += segmentLength;
    } else if (p.payload.length !== segmentLength) {
      return Fragment.Inconsistent;
    }
    p.payload.set(bytes, offset);
    p.have.add(offset, offset + bytes.length);
    if (p.have.count !== 1 || p.have.start(0) !== 0 || p.have.end(0) !== segmentLength) return Fragment.Pending;
    this.discard(seq);
    this.payload = p.payload;
    return Fragment.Complete;
  }

  /** Forgets the segments below `next`: another copy of them was delivered. */
  discardBelow(next: number): void {
    for (const seq of this.#partial.keys()) if (seq < next) this.discard(seq);
  }

  /** Forgets segment `seq` (it arrived whole, or was completed). */
  discard(seq: number): void {
    const p = this.#partial.get(seq);
    if (p === undefined) return;
    this.#partial.delete(seq);
    this.#bytes -= p.payload.length;
  }
}
