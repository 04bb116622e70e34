/**
 * HMAC-SHA256 (RFC 2104) under a 32-byte key over a one-byte message: the Megolm ratchet's only
 * operation, H_j(R) = HMAC-SHA256(R, j), run up to ~1000 times per advance with a new key each
 * time, so no midstate can be reused across steps.
 *
 * Each MAC is four SHA-256 compressions and nothing else: the key enters as eight words (no
 * 64-byte pad buffers), the inner message block (the byte j, 0x80 and the length 520 bits) is
 * constant, so its message schedule is precomputed per byte, and the outer block is built as
 * words from the inner hash. Cross-tested against HmacSha256Key and node:crypto in the tests.
 * Nothing branches on or indexes by secret data.
 */
import { compressScheduled, compressWords, SHA256_K } from './sha256-words.js';

// FIPS 180-4 §5.3.3
const IV = Int32Array.from([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);
const IPAD = 0x36363636;
const OPAD = 0x5c5c5c5c;

/** K[t] + W[t] for the inner second block of HMAC(key, byte), for every byte value (built on first use). */
const schedules: (Int32Array | undefined)[] = [];

function innerSchedule(byte: number): Int32Array {
  // The block after the 64-byte ipad block: byte, 0x80, zeros, length (64 + 1) · 8 = 520 bits.
  const w = new Int32Array(64);
  w[0] = (byte << 24) | 0x00800000;
  w[15] = 520;
  for (let t = 16; t < 64; t++) {
    const x = w[t - 15]!;
    const y = w[t - 2]!;
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    w[t] = (w[t - 16]! + s0 + w[t - 7]! + s1) | 0;
  }
  const kw = new Int32Array(64);
  for (let t = 0; t < 64; t++) kw[t] = (SHA256_K[t]! + w[t]!) | 0;
  schedules[byte] = kw;
  return kw;
}

/**
 * An HMAC-SHA256 key of exactly 32 bytes, for one-byte messages. Re-keyed in place; the
 * caller wipes it when done.
 */
export class HmacSha256ByteKey {
  readonly #inner = new Int32Array(8);
  readonly #outer = new Int32Array(8);
  readonly #state = new Int32Array(8);
  readonly #block = new Int32Array(16);

  /** Takes the 32-byte key at `key[offset..offset+32)`. */
  setKey(key: Uint8Array, offset: number): void {
    const block = this.#block;
    for (let i = 0; i < 8; i++) {
      const o = offset + 4 * i;
      block[i] = ((key[o]! << 24) | (key[o + 1]! << 16) | (key[o + 2]! << 8) | key[o + 3]!) ^ IPAD;
    }
    for (let i = 8; i < 16; i++) block[i] = IPAD;
    const inner = this.#inner;
    const outer = this.#outer;
    for (let i = 0; i < 8; i++) inner[i] = outer[i] = IV[i]!;
    compressWords(inner, block);
    for (let i = 0; i < 16; i++) block[i]! ^= IPAD ^ OPAD;
    compressWords(outer, block);
  }

  /** Writes HMAC(key, byte) (32 bytes) into `out` at `offset`. */
  macInto(byte: number, out: Uint8Array, offset: number): void {
    const s = this.#state;
    const block = this.#block;
    const inner = this.#inner;
    const outer = this.#outer;
    for (let i = 0; i < 8; i++) s[i] = inner[i]!;
    const b = byte & 0xff;
    compressScheduled(s, schedules[b] ?? innerSchedule(b), 0);
    // Outer message: the 32-byte inner hash, 0x80, zeros, length (64 + 32) · 8 = 768 bits.
    for (let i = 0; i < 8; i++) {
      block[i] = s[i]!;
      s[i] = outer[i]!;
    }
    block[8] = 0x80000000 | 0;
    for (let i = 9; i < 15; i++) block[i] = 0;
    block[15] = 768;
    compressWords(s, block);
    for (let i = 0; i < 8; i++) {
      const v = s[i]!;
      const o = offset + 4 * i;
      out[o] = v >>> 24;
      out[o + 1] = v >>> 16;
      out[o + 2] = v >>> 8;
      out[o + 3] = v;
    }
  }

  wipe(): void {
    this.#inner.fill(0);
    this.#outer.fill(0);
    this.#state.fill(0);
    this.#block.fill(0);
  }
}

const CHAIN_KEY = new Int32Array(8);
const CHAIN_BLOCK = new Int32Array(16);
const CHAIN_INNER = new Int32Array(8);
const CHAIN_OUTER = new Int32Array(8);

/**
 * Replaces the 32-byte key at `data[offset..offset+32)` with HMAC(key, byte), `times` times over
 * (the Megolm ratchet turning one part). The key stays in words between steps: the bytes are read
 * once and written once, which saves ~10% of each step against `setKey` + `macInto`.
 */
export function hmacByteChain(data: Uint8Array, offset: number, byte: number, times: number): void {
  const key = CHAIN_KEY;
  const block = CHAIN_BLOCK;
  const inner = CHAIN_INNER;
  const outer = CHAIN_OUTER;
  for (let i = 0; i < 8; i++) {
    const o = offset + 4 * i;
    key[i] = (data[o]! << 24) | (data[o + 1]! << 16) | (data[o + 2]! << 8) | data[o + 3]!;
  }
  const b = byte & 0xff;
  const schedule = schedules[b] ?? innerSchedule(b);
  for (let n = 0; n < times; n++) {
    for (let i = 0; i < 8; i++) {
      block[i] = key[i]! ^ IPAD;
      inner[i] = outer[i] = IV[i]!;
    }
    for (let i = 8; i < 16; i++) block[i] = IPAD;
    compressWords(inner, block);
    for (let i = 0; i < 16; i++) block[i]! ^= IPAD ^ OPAD;
    compressWords(outer, block);
    compressScheduled(inner, schedule, 0);
    for (let i = 0; i < 8; i++) block[i] = inner[i]!;
    block[8] = 0x80000000 | 0;
    for (let i = 9; i < 15; i++) block[i] = 0;
    block[15] = 768;
    compressWords(outer, block);
    for (let i = 0; i < 8; i++) key[i] = outer[i]!;
  }
  for (let i = 0; i < 8; i++) {
    const v = key[i]!;
    const o = offset + 4 * i;
    data[o] = v >>> 24;
    data[o + 1] = v >>> 16;
    data[o + 2] = v >>> 8;
    data[o + 3] = v;
  }
  key.fill(0);
  block.fill(0);
  inner.fill(0);
  outer.fill(0);
}
