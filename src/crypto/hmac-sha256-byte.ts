/**
 * HMAC-SHA256 (RFC 2104) under a 32-byte key over a one-byte message: the Megolm ratchet's only
 * operation, H_j(R) = HMAC-SHA256(R, j), run up to ~1000 times per advance with a new key each
 * time, so no midstate can be reused across steps.
 *
 * Each MAC is four SHA-256 compressions and nothing else: the key enters as eight words and the
 * two key blocks are compressed by functions specialised for the pads; the inner message block
 * (the byte j, 0x80 and the length 520 bits) is constant, so its message schedule is precomputed
 * per byte; the outer block is compressed straight from the inner digest's words. Cross-tested against HmacSha256Key and node:crypto in the tests.
 * Nothing branches on or indexes by secret data.
 */
import {
  compressDigestBlock,
  compressIpadKey,
  compressOpadKey,
  compressScheduled,
  constantSchedule,
} from './sha256-words.js';

/** K[t] + W[t] for the inner second block of HMAC(key, byte), for every byte value (built on first use). */
const schedules: (Int32Array | undefined)[] = [];

function innerSchedule(byte: number): Int32Array {
  // The block after the 64-byte ipad block: byte, 0x80, zeros, length (64 + 1) · 8 = 520 bits.
  const block = new Int32Array(16);
  block[0] = (byte << 24) | 0x00800000;
  block[15] = 520;
  const kw = constantSchedule(block);
  schedules[byte] = kw;
  return kw;
}

/**
 * An HMAC-SHA256 key of exactly 32 bytes, for one-byte messages. Re-keyed in place; the
 * caller wipes it when done.
 */
export class HmacSha256ByteKey {
  readonly #key = new Int32Array(8);
  readonly #inner = new Int32Array(8);
  readonly #outer = new Int32Array(8);
  readonly #state = new Int32Array(8);

  /** Takes the 32-byte key at `key[offset..offset+32)`. */
  setKey(key: Uint8Array, offset: number): void {
    const k = this.#key;
    readWords(key, offset, k);
    compressIpadKey(k, this.#inner);
    compressOpadKey(k, this.#outer);
    k.fill(0);
  }

  /** Writes HMAC(key, byte) (32 bytes) into `out` at `offset`. */
  macInto(byte: number, out: Uint8Array, offset: number): void {
    const s = this.#state;
    s.set(this.#inner);
    const b = byte & 0xff;
    compressScheduled(s, schedules[b] ?? innerSchedule(b), 0);
    compressDigestBlock(this.#outer, s, s);
    writeWords(s, out, offset);
  }

  wipe(): void {
    this.#key.fill(0);
    this.#inner.fill(0);
    this.#outer.fill(0);
    this.#state.fill(0);
  }
}

/** Reads the 32 bytes at `bytes[offset..offset+32)` as eight big-endian words. */
export function readWords(bytes: Uint8Array, offset: number, words: Int32Array): void {
  for (let i = 0; i < 8; i++) {
    const o = offset + 4 * i;
    words[i] = (bytes[o]! << 24) | (bytes[o + 1]! << 16) | (bytes[o + 2]! << 8) | bytes[o + 3]!;
  }
}

function writeWords(words: Int32Array, bytes: Uint8Array, offset: number): void {
  for (let i = 0; i < 8; i++) {
    const v = words[i]!;
    const o = offset + 4 * i;
    bytes[o] = v >>> 24;
    bytes[o + 1] = v >>> 16;
    bytes[o + 2] = v >>> 8;
    bytes[o + 3] = v;
  }
}

const CHAIN_KEY = new Int32Array(8);
const CHAIN_INNER = new Int32Array(8);
const CHAIN_OUTER = new Int32Array(8);

/**
 * Replaces the 32-byte key at `data[offset..offset+32)` with HMAC(key, byte), `times` times over
 * (the Megolm ratchet turning one part). The key stays in words between steps: the bytes are read
 * once and written once.
 */
export function hmacByteChain(data: Uint8Array, offset: number, byte: number, times: number): void {
  const key = CHAIN_KEY;
  const inner = CHAIN_INNER;
  const outer = CHAIN_OUTER;
  readWords(data, offset, key);
  const b = byte & 0xff;
  const schedule = schedules[b] ?? innerSchedule(b);
  for (let n = 0; n < times; n++) {
    compressIpadKey(key, inner);
    compressOpadKey(key, outer);
    compressScheduled(inner, schedule, 0);
    compressDigestBlock(outer, inner, key);
  }
  writeWords(key, data, offset);
  key.fill(0);
  inner.fill(0);
  outer.fill(0);
}
