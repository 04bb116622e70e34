/**
 * A tuned SHA-256 / HMAC-SHA256 / HKDF-SHA256 for the small inputs of the Olm and Megolm ratchets.
 *
 * Why hand-written: measured on Node 20, one HMAC over a 1-byte message costs ~2.2 µs through
 * node:crypto and ~6 µs through @noble/hashes, dominated by per-call setup. Ratchet steps hash
 * 1-41 bytes under keys that are reused (chain keys, HKDF PRKs, Megolm ratchet parts), so this
 * module keeps keyed HMAC midstates (the state after the ipad/opad block) and compresses straight
 * from the caller's bytes with no allocation besides the output. It is cross-tested against both
 * @noble/hashes and node:crypto on random inputs and checked against the FIPS 180-4 and RFC 4231
 * vectors. Nothing here branches on or indexes by secret data. The compression function is
 * generated with 16 rounds unrolled in a loop of four (scripts/generate-sha256-words.mjs): as fast
 * once optimised as the earlier fully unrolled form (which was 2.1x faster than a one-round loop on
 * V8), and small enough for the engine to optimise within the first few hundred calls (issue 12).
 */

import { HkdfSha256Fixed } from './hkdf-sha256-fixed.js';
import { hmacByteChain, readWords } from './hmac-sha256-byte.js';
import {
  compressDigestBlock,
  compressIpadKey,
  compressOpadKey,
  compressScheduled,
  compressWords,
  constantSchedule,
  SHA256_IV as IV,
} from './sha256-words.js';

const WORDS = new Int32Array(16);

/** One compression of the 64 bytes at `m[o]` (big-endian words into the shared unrolled function). */
function compress(s: Int32Array, m: Uint8Array, o: number): void {
  const w = WORDS;
  // Mutation testing (test/MUTATION.md): `i <= 16` is equivalent, w[16] is past the end of the
  // 16-word Int32Array and typed-array writes there do nothing.
  for (let i = 0; i < 16; i++, o += 4) w[i] = (m[o]! << 24) | (m[o + 1]! << 16) | (m[o + 2]! << 8) | m[o + 3]!;
  compressWords(s, w);
}

// Scratch space shared by every call. The module is synchronous and never re-entered, so one
// copy is enough; secrets left here are overwritten by the next call (see SECURITY.md).
const STATE = new Int32Array(8);
const TAIL = new Uint8Array(128);
const INNER = new Uint8Array(32);

/**
 * Finishes a hash whose state `start` already absorbed `prefixLength` bytes (a multiple of 64),
 * over the concatenation of `parts`, writing 32 bytes to `out` at `outOffset`.
 */
function finish(
  start: Int32Array,
  prefixLength: number,
  data: Uint8Array,
  data2: Uint8Array | undefined,
  out: Uint8Array,
  outOffset: number,
): void {
  const s = STATE;
  s.set(start);
  const length1 = data.length;
  const total = length1 + (data2 === undefined ? 0 : data2.length);
  const tail = TAIL;
  let filled = 0;
  if (data2 === undefined) {
    const full = length1 & ~63;
    for (let o = 0; o < full; o += 64) compress(s, data, o);
    filled = length1 - full;
    // `i <= filled` is equivalent: tail[filled] gets undefined (0) and is then overwritten by 0x80.
    for (let i = 0; i < filled; i++) tail[i] = data[full + i]!;
  } else {
    // Two parts: stream them through the tail buffer (used for HKDF-Expand's T(i-1) || info || i).
    for (let i = 0; i < length1; i++) {
      tail[filled++] = data[i]!;
      if (filled === 64) {
        compress(s, tail, 0);
        filled = 0;
      }
    }
    for (let i = 0; i < data2.length; i++) {
      tail[filled++] = data2[i]!;
      if (filled === 64) {
        compress(s, tail, 0);
        filled = 0;
      }
    }
  }
  tail[filled++] = 0x80;
  const end = filled > 56 ? 128 : 64;
  tail.fill(0, filled, end);
  const bits = (prefixLength + total) * 8;
  // Lengths here stay far below 2^53 bits; write the 64-bit big-endian bit count. The high word is
  // 0 below 512 MiB, so Stryker's `bits * 0x100000000` (a multiple of 2^32: 0 once truncated to 32 bits)
  // and `end + 8` for `end - 8` (bytes past the block, zero before and never compressed) are equivalent.
  const high = Math.floor(bits / 0x100000000);
  tail[end - 8] = high >>> 24;
  tail[end - 7] = high >>> 16;
  tail[end - 6] = high >>> 8;
  tail[end - 5] = high;
  tail[end - 4] = bits >>> 24;
  tail[end - 3] = bits >>> 16;
  tail[end - 2] = bits >>> 8;
  tail[end - 1] = bits;
  compress(s, tail, 0);
  if (end === 128) compress(s, tail, 64);
  for (let i = 0; i < 8; i++, outOffset += 4) {
    const v = s[i]!;
    out[outOffset] = v >>> 24;
    out[outOffset + 1] = v >>> 16;
    out[outOffset + 2] = v >>> 8;
    out[outOffset + 3] = v;
  }
}

export function sha256(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(32);
  finish(IV, 0, data, undefined, out, 0);
  return out;
}

/**
 * An HMAC-SHA256 key with its inner and outer midstates computed once (2 compressions),
 * so each MAC under it costs only the message blocks plus one outer block.
 */
export class HmacSha256Key {
  readonly #inner = new Int32Array(8);
  readonly #outer = new Int32Array(8);

  constructor(key: Uint8Array) {
    this.setKey(key);
  }

  /** Re-keys this object in place (lets hot paths reuse one instance). */
  setKey(key: Uint8Array): void {
    const block = TAIL;
    let k = key;
    if (k.length > 64) k = sha256(k);
    block.fill(0, 0, 64);
    block.set(k);
    // `i <= 64` (both loops) is equivalent: TAIL[64] is overwritten before finish() reads it.
    for (let i = 0; i < 64; i++) block[i]! ^= 0x36;
    this.#inner.set(IV);
    compress(this.#inner, block, 0);
    for (let i = 0; i < 64; i++) block[i]! ^= 0x36 ^ 0x5c;
    this.#outer.set(IV);
    compress(this.#outer, block, 0);
    block.fill(0, 0, 64);
  }

  /** HMAC over `data` (or over `data || data2`), written into `out` at `offset`. */
  macInto(data: Uint8Array, out: Uint8Array, offset: number, data2?: Uint8Array): void {
    finish(this.#inner, 64, data, data2, INNER, 0);
    finish(this.#outer, 64, INNER, undefined, out, offset);
  }

  mac(data: Uint8Array, data2?: Uint8Array): Uint8Array {
    const out = new Uint8Array(32);
    this.macInto(data, out, 0, data2);
    return out;
  }

  // Erasure only (not observable through the API: SECURITY.md), so an emptied body survives mutation.
  wipe(): void {
    this.#inner.fill(0);
    this.#outer.fill(0);
  }
}

const KEY32 = new Int32Array(8);
const KEY32_INNER = new Int32Array(8);
const KEY32_OUTER = new Int32Array(8);
const KEY32_BLOCK = new Int32Array(16);

/**
 * HMAC-SHA256 under the 32-byte key at `key[keyOffset..keyOffset+32)` over
 * `data[0..length)`, its first `outLength` bytes written to `out` at `outOffset`. For the
 * per-message MAC keys (a new key every message, so no midstate to keep): the two key blocks go
 * through the pad-specialised compressions, the last block is built in words and the outer hash
 * is one compression of the inner digest. Nothing is allocated.
 */
export function hmacSha256Key32Into(
  key: Uint8Array,
  keyOffset: number,
  data: Uint8Array,
  length: number,
  out: Uint8Array,
  outOffset: number,
  outLength: number,
): void {
  // Internal callers always pass a whole key; a short one must not become zero words silently.
  if (keyOffset < 0 || key.length < keyOffset + 32) throw new RangeError('the HMAC key is 32 bytes');
  const k = KEY32;
  readWords(key, keyOffset, k);
  const s = KEY32_INNER;
  const outer = KEY32_OUTER;
  compressIpadKey(k, s);
  compressOpadKey(k, outer);
  const full = length & ~63;
  for (let o = 0; o < full; o += 64) compress(s, data, o);
  const w = KEY32_BLOCK;
  w.fill(0);
  const rest = length - full;
  for (let i = 0; i < rest; i++) w[i >> 2]! |= data[full + i]! << (24 - 8 * (i & 3));
  w[rest >> 2]! |= 0x80 << (24 - 8 * (rest & 3));
  if (rest >= 56) {
    compressWords(s, w);
    w.fill(0);
  }
  const bits = (64 + length) * 8;
  // As in finish(): `bits * 0x100000000` gives the same (zero) word once stored in the Int32Array.
  w[14] = Math.floor(bits / 0x100000000);
  w[15] = bits;
  compressWords(s, w);
  compressDigestBlock(outer, s, s);
  for (let i = 0; i < outLength; i++) out[outOffset + i] = s[i >> 2]! >>> (24 - 8 * (i & 3));
  k.fill(0);
  s.fill(0);
  outer.fill(0);
  w.fill(0);
}

export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  const k = new HmacSha256Key(key);
  const out = k.mac(data);
  k.wipe();
  return out;
}

// HKDF with an all-zero salt is the common case (Olm and Megolm message keys, the Olm root):
// RFC 5869 §2.2 pads a short salt with zeros, so every all-zero salt up to 64 bytes is one key.
// Made on first use, not at import (issue 12: importing the package compresses nothing).
let zeroSalt: HmacSha256Key | undefined;
function zeroSaltKey(): HmacSha256Key {
  zeroSalt ??= new HmacSha256Key(new Uint8Array(0));
  return zeroSalt;
}
const COUNTER = new Uint8Array(1);

/**
 * HKDF-Extract (RFC 5869 §2.2). An empty salt means "HashLen zeros". The all-zero-salt shortcut (here and
 * in hkdfSha256Into, and isAllZeroShort) is a cache: HMAC under any all-zero salt of at most 64 bytes is
 * HMAC under the empty key, so every mutant of the test (`false`, `&&`, `>= 64`, `<= salt.length`)
 * computes the same bytes the long way and survives as equivalent.
 */
export function hkdfSha256Extract(salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  if (salt.length === 0 || isAllZeroShort(salt)) return zeroSaltKey().mac(ikm);
  return hmacSha256(salt, ikm);
}

function isAllZeroShort(salt: Uint8Array): boolean {
  if (salt.length > 64) return false;
  let acc = 0;
  for (let i = 0; i < salt.length; i++) acc |= salt[i]!;
  return acc === 0;
}

// A scratch key re-keyed by every call that uses it (made on first use).
let prkKey: HmacSha256Key | undefined;
function prkScratchKey(): HmacSha256Key {
  prkKey ??= new HmacSha256Key(new Uint8Array(0));
  return prkKey;
}
const PRK = new Uint8Array(32);
const BLOCK = new Uint8Array(32);
let T = new Uint8Array(64);

/**
 * HKDF-Expand (RFC 5869 §2.3) from a pseudorandom key, writing `length` bytes into `out` at
 * `offset`. No allocation for info strings up to 32 bytes: this runs once per Olm/Megolm message.
 */
export function hkdfSha256ExpandInto(
  prk: Uint8Array,
  info: Uint8Array,
  length: number,
  out: Uint8Array,
  offset: number,
): void {
  if (length > 255 * 32) throw new RangeError('HKDF-SHA256 output is at most 8160 bytes');
  const key = prkScratchKey();
  key.setKey(prk);
  const block = BLOCK;
  // T(1) = HMAC(PRK, info || 1); T(i) = HMAC(PRK, T(i-1) || info || i)
  COUNTER[0] = 1;
  key.macInto(info, block, 0, COUNTER);
  let written = 0;
  if (length > 32) {
    // A scratch buffer grown to the longest info seen: `<=` or `true` (allocate again) and `false` below
    // (always a subarray of the same length) are equivalent.
    if (T.length < 32 + info.length) T = new Uint8Array(32 + info.length);
    const t = T.length === 32 + info.length ? T : T.subarray(0, 32 + info.length);
    t.set(info, 32);
    for (let i = 2; ; i++) {
      for (let j = 0; j < 32; j++) t[j] = out[offset + written + j] = block[j]!;
      written += 32;
      COUNTER[0] = i;
      key.macInto(t, block, 0, COUNTER);
      // `< 32` (and `length >= 32` above) is equivalent: one more block is computed and not used.
      if (length - written <= 32) break;
    }
    t.fill(0, 0, 32);
  }
  for (let j = 0; written < length; j++) out[offset + written++] = block[j]!;
  key.wipe();
  block.fill(0);
}

/** HKDF-Expand (RFC 5869 §2.3) from a pseudorandom key. */
export function hkdfSha256Expand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  hkdfSha256ExpandInto(prk, info, length, out, 0);
  return out;
}

/** HKDF-SHA256 (RFC 5869) writing `length` bytes into `out` at `offset`. */
export function hkdfSha256Into(
  ikm: Uint8Array,
  salt: Uint8Array,
  info: Uint8Array,
  length: number,
  out: Uint8Array,
  offset: number,
): void {
  const prk = PRK;
  if (salt.length === 0 || isAllZeroShort(salt)) zeroSaltKey().macInto(ikm, prk, 0);
  else {
    const key = prkScratchKey();
    key.setKey(salt);
    key.macInto(ikm, prk, 0);
  }
  hkdfSha256ExpandInto(prk, info, length, out, offset);
  prk.fill(0);
}

export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  hkdfSha256Into(ikm, salt, info, length, out, 0);
  return out;
}

/**
 * Runs the two SHA-256 compression functions (every path here goes through one of them) until V8
 * counts them hot and queues them for TurboFan, which compiles them on a background thread, then
 * each tuned path once. Without it the first messages of a process run them interpreted, 20-100x
 * slower, until the engine gets there by itself (issue 12). About 300 compressions: 5-10 ms, most
 * of it interpreted. The part of warmUp() that makes the first Olm and Megolm messages fast.
 */
// Its effect is speed only: emptied, or its loop run 0 or 161 times, it survives mutation as equivalent.
export function warmUpSha256(): void {
  const s = Int32Array.from(IV);
  const w = new Int32Array(16);
  const kw = constantSchedule(w);
  // V8 11.3 (Node 20) marks a function for TurboFan after about 3 + bytecode length / 150 budget
  // ticks of 66 KiB of executed bytecode each: ~135 calls of compress, ~125 of compressScheduled.
  for (let i = 0; i < 160; i++) {
    w[0] = i;
    compressWords(s, w);
    compressScheduled(s, kw, 0);
  }
  const data = new Uint8Array(160);
  const out = new Uint8Array(80);
  const info = new Uint8Array(11);
  hmacByteChain(data, 0, 0, 1);
  hmacSha256Key32Into(data, 0, data, 41, out, 0, 8);
  new HkdfSha256Fixed(32, info, 80).deriveInto(data, 0, out, 0);
  new HkdfSha256Fixed(128, info, 80).deriveInto(data, 0, out, 0);
  hkdfSha256Into(data.subarray(0, 32), data.subarray(0, 0), info, 64, out, 0);
  s.fill(0);
}
