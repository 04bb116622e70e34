/**
 * The Megolm ratchet (olm's docs/megolm.md, "The Megolm ratchet algorithm"): four 32-byte parts
 * R0..R3 and a 32-bit counter i. Part j changes every 2^(8·(3-j)) steps; when it changes, every
 * part k ≥ j is re-derived from it as H_k(R_j) = HMAC-SHA256(R_j, byte k). Advancing to any
 * later index costs at most about 4·255 HMACs.
 *
 * The counter is a u32 and wraps as libolm's and vodozemac's do: one step past 2^32 - 1 is
 * index 0 with R0 re-hashed, and advancing "to" an index below the counter goes forward through
 * the wrap (vodozemac's fix: when the top bytes already agree, R0 must still turn a full 256 times).
 *
 * Hot path: one module-level HMAC key object, specialised for one-byte messages, is re-keyed in
 * place; nothing allocates.
 */
import { HmacSha256ByteKey, hmacByteChain } from '../crypto/hmac-sha256-byte.js';

export const RATCHET_LENGTH = 128;
const PART_LENGTH = 32;

// H_j(A) = HMAC-SHA256(A, byte j) (megolm.md: the seeds are the bytes 0x00..0x03).
const HMAC = new HmacSha256ByteKey();

/** A ratchet state: 128 bytes R0‖R1‖R2‖R3 and the index they belong to. */
export interface RatchetState {
  readonly data: Uint8Array;
  counter: number;
}

export function newRatchetState(data: Uint8Array, counter: number): RatchetState {
  return { data, counter: counter >>> 0 };
}

/** Re-derives parts `from`..3 from R_from (R_from itself last, though the key is already set). */
function rehashFrom(data: Uint8Array, from: number): void {
  HMAC.setKey(data, from * PART_LENGTH);
  for (let k = 3; k >= from; k--) HMAC.macInto(k, data, k * PART_LENGTH);
}

/** One step: i ← i + 1 (mod 2^32), re-deriving from the slowest part whose byte of i changed. */
export function advance(state: RatchetState): void {
  const counter = (state.counter + 1) >>> 0;
  state.counter = counter;
  let h = 0;
  let mask = 0x00ffffff;
  // The mask is 0 at h = 3, so h stops there at the latest.
  while ((counter & mask) !== 0) {
    h++;
    mask >>>= 8;
  }
  rehashFrom(state.data, h);
  HMAC.wipe();
}

/** Advances to `target` (a u32), going forward through the 2^32 wrap when target < counter. */
export function advanceTo(state: RatchetState, target: number): void {
  target >>>= 0;
  const data = state.data;
  // Equivalent mutants: `j < 4` → `j <= 4` (a fifth pass finds the counter already at the target and
  // continues), `steps > 1` → `>= 1` or true (hmacByteChain with 0 steps leaves the part unchanged).
  for (let j = 0; j < 4; j++) {
    const shift = (3 - j) * 8;
    let steps = ((target >>> shift) - (state.counter >>> shift)) & 0xff;
    if (steps === 0) {
      // Only reachable for R0 with target < counter: the index wrapped and R0 turns 256 times.
      if (target < state.counter) steps = 0x100;
      else continue;
    }
    // All but the last step turn R_j alone; the last one also re-derives the faster parts.
    if (steps > 1) hmacByteChain(data, j * PART_LENGTH, j, steps - 1);
    rehashFrom(data, j);
    state.counter = (target & (-1 << shift)) >>> 0;
  }
  HMAC.wipe();
}

/** Copies `from` into `to` (both 128-byte states). */
export function copyRatchet(from: RatchetState, to: RatchetState): void {
  to.data.set(from.data);
  to.counter = from.counter;
}
