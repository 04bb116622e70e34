/**
 * PBKDF2-HMAC-SHA512 (RFC 8018 §5.2) computed in chunks, for work that must not block: key-export
 * files use 100 000+ rounds, which is 0.1-1 s of hashing. Between chunks the event loop runs and
 * the caller hears how far the work got.
 *
 * Why hand-written: neither backend can resume a PBKDF2 part-way. This keeps the HMAC's inner and
 * outer SHA-512 midstates (RFC 2104), so each round is exactly two compressions on 32-bit word
 * arrays with no allocation and no byte conversion: U(j) is fed back as words. SHA-512 itself
 * (FIPS 180-4 §6.4) uses 64-bit words held as (high, low) pairs of 32-bit integers. It is
 * cross-tested against both backends' PBKDF2 and HMAC. Nothing branches on or indexes by secrets.
 */

import { isBytes } from '../encoding/binary.js';
import { sha512 } from './index.js';

// FIPS 180-4 §4.2.3 / §5.3.5: the round constants are the first 64 bits of the fractional parts
// of the cube roots of the first 80 primes, the initial value those of the square roots of the
// first 8. Computed exactly with BigInt (integer roots of p·2^192 and p·2^128) on first use.
let K: Int32Array | undefined;
let IV: Int32Array | undefined;

function integerRoot(n: bigint, k: bigint): bigint {
  // Newton's method from above: x ← ((k-1)·x + n / x^(k-1)) / k, stopping when it no longer falls.
  // Any start at or above the root converges to it: Stryker's `length * k` (a larger start) is equivalent.
  let x = 1n << (BigInt(n.toString(2).length) / k + 1n);
  for (;;) {
    const y = ((k - 1n) * x + n / x ** (k - 1n)) / k;
    if (y >= x) return x;
    x = y;
  }
}

// A cache: every mutant of its test (computing the constants again) is equivalent. `primes.length <= 80`
// and `i <= 8` below compute one prime or word more, stored past the ends of the typed arrays (ignored).
function constants(): { k: Int32Array; iv: Int32Array } {
  if (K !== undefined && IV !== undefined) return { k: K, iv: IV };
  const primes: number[] = [];
  for (let n = 2; primes.length < 80; n++) if (primes.every((p) => n % p !== 0)) primes.push(n);
  const mask = (1n << 64n) - 1n;
  const k = new Int32Array(160);
  primes.forEach((p, i) => {
    const v = integerRoot(BigInt(p) << 192n, 3n) & mask;
    k[2 * i] = Number(v >> 32n) | 0;
    k[2 * i + 1] = Number(v & 0xffffffffn) | 0;
  });
  const iv = new Int32Array(16);
  for (let i = 0; i < 8; i++) {
    const v = integerRoot(BigInt(primes[i]!) << 128n, 2n) & mask;
    iv[2 * i] = Number(v >> 32n) | 0;
    iv[2 * i + 1] = Number(v & 0xffffffffn) | 0;
  }
  K = k;
  IV = iv;
  return { k, iv };
}

const TWO_32 = 4294967296;

/**
 * One SHA-512 compression (FIPS 180-4 §6.4.2): `w[0..31]` holds the 128-byte block as big-endian
 * 32-bit words (high word first); `w[32..159]` is the message schedule, overwritten here.
 */
function compress(state: Int32Array, w: Int32Array, k: Int32Array): void {
  // Stryker's `t <= 160` here is equivalent: the extra pass writes w[160] and w[161], past the end of
  // the 160-word Int32Array, where typed-array writes do nothing (test/MUTATION.md).
  for (let t = 32; t < 160; t += 2) {
    // σ0(W[t-15]) = ROTR1 ^ ROTR8 ^ SHR7
    let xh = w[t - 30]!;
    let xl = w[t - 29]!;
    const s0h = ((xh >>> 1) | (xl << 31)) ^ ((xh >>> 8) | (xl << 24)) ^ (xh >>> 7);
    const s0l = ((xl >>> 1) | (xh << 31)) ^ ((xl >>> 8) | (xh << 24)) ^ ((xl >>> 7) | (xh << 25));
    // σ1(W[t-2]) = ROTR19 ^ ROTR61 ^ SHR6
    xh = w[t - 4]!;
    xl = w[t - 3]!;
    const s1h = ((xh >>> 19) | (xl << 13)) ^ ((xl >>> 29) | (xh << 3)) ^ (xh >>> 6);
    const s1l = ((xl >>> 19) | (xh << 13)) ^ ((xh >>> 29) | (xl << 3)) ^ ((xl >>> 6) | (xh << 26));
    const lo = (w[t - 31]! >>> 0) + (s0l >>> 0) + (w[t - 13]! >>> 0) + (s1l >>> 0);
    w[t] = (w[t - 32]! + s0h + w[t - 14]! + s1h + ((lo / TWO_32) | 0)) | 0;
    w[t + 1] = lo | 0;
  }
  let ah = state[0]!;
  let al = state[1]!;
  let bh = state[2]!;
  let bl = state[3]!;
  let ch = state[4]!;
  let cl = state[5]!;
  let dh = state[6]!;
  let dl = state[7]!;
  let eh = state[8]!;
  let el = state[9]!;
  let fh = state[10]!;
  let fl = state[11]!;
  let gh = state[12]!;
  let gl = state[13]!;
  let hh = state[14]!;
  let hl = state[15]!;
  for (let t = 0; t < 160; t += 2) {
    // T1 = h + Σ1(e) + Ch(e, f, g) + K[t] + W[t], Σ1 = ROTR14 ^ ROTR18 ^ ROTR41
    const sigma1h = ((eh >>> 14) | (el << 18)) ^ ((eh >>> 18) | (el << 14)) ^ ((el >>> 9) | (eh << 23));
    const sigma1l = ((el >>> 14) | (eh << 18)) ^ ((el >>> 18) | (eh << 14)) ^ ((eh >>> 9) | (el << 23));
    const chh = (eh & fh) ^ (~eh & gh);
    const chl = (el & fl) ^ (~el & gl);
    const t1lo = (hl >>> 0) + (sigma1l >>> 0) + (chl >>> 0) + (k[t + 1]! >>> 0) + (w[t + 1]! >>> 0);
    const t1h = (hh + sigma1h + chh + k[t]! + w[t]! + ((t1lo / TWO_32) | 0)) | 0;
    const t1l = t1lo | 0;
    // T2 = Σ0(a) + Maj(a, b, c), Σ0 = ROTR28 ^ ROTR34 ^ ROTR39
    const sigma0h = ((ah >>> 28) | (al << 4)) ^ ((al >>> 2) | (ah << 30)) ^ ((al >>> 7) | (ah << 25));
    const sigma0l = ((al >>> 28) | (ah << 4)) ^ ((ah >>> 2) | (al << 30)) ^ ((ah >>> 7) | (al << 25));
    const majh = (ah & bh) ^ (ah & ch) ^ (bh & ch);
    const majl = (al & bl) ^ (al & cl) ^ (bl & cl);
    const t2lo = (sigma0l >>> 0) + (majl >>> 0);
    const t2h = (sigma0h + majh + ((t2lo / TWO_32) | 0)) | 0;
    const t2l = t2lo | 0;
    hh = gh;
    hl = gl;
    gh = fh;
    gl = fl;
    fh = eh;
    fl = el;
    const elo = (dl >>> 0) + (t1l >>> 0);
    eh = (dh + t1h + ((elo / TWO_32) | 0)) | 0;
    el = elo | 0;
    dh = ch;
    dl = cl;
    ch = bh;
    cl = bl;
    bh = ah;
    bl = al;
    const alo = (t1l >>> 0) + (t2l >>> 0);
    ah = (t1h + t2h + ((alo / TWO_32) | 0)) | 0;
    al = alo | 0;
  }
  add(state, 0, ah, al);
  add(state, 2, bh, bl);
  add(state, 4, ch, cl);
  add(state, 6, dh, dl);
  add(state, 8, eh, el);
  add(state, 10, fh, fl);
  add(state, 12, gh, gl);
  add(state, 14, hh, hl);
}

function add(state: Int32Array, i: number, h: number, l: number): void {
  const lo = (state[i + 1]! >>> 0) + (l >>> 0);
  state[i] = (state[i]! + h + ((lo / TWO_32) | 0)) | 0;
  state[i + 1] = lo | 0;
}

// `i <= 32` is equivalent: w[32] is the first schedule word, which compress() writes before reading it.
function loadBlock(w: Int32Array, bytes: Uint8Array, offset: number): void {
  for (let i = 0; i < 32; i++, offset += 4) {
    w[i] = (bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!;
  }
}

/** Finishes a hash whose state already absorbed one 128-byte block, over `data`. */
function finishAfterBlock(state: Int32Array, data: Uint8Array, w: Int32Array, k: Int32Array): void {
  const total = 128 + data.length;
  const padded = new Uint8Array(Math.ceil((data.length + 17) / 128) * 128);
  padded.set(data);
  padded[data.length] = 0x80;
  const bits = total * 8;
  // Lengths here are far below 2^53 bits: write the low 64 bits of the 128-bit length. The high word is 0
  // below 512 MiB, so `bits * TWO_32` and `end + 5..8` for `end - 5..8` are equivalent (writes past the
  // end of `padded` are ignored). `end + 4` for `end - 4` would need a salt of 2 MiB to show; not tested.
  const end = padded.length;
  const high = Math.floor(bits / TWO_32);
  padded[end - 8] = high >>> 24;
  padded[end - 7] = high >>> 16;
  padded[end - 6] = high >>> 8;
  padded[end - 5] = high;
  padded[end - 4] = bits >>> 24;
  padded[end - 3] = bits >>> 16;
  padded[end - 2] = bits >>> 8;
  padded[end - 1] = bits;
  for (let o = 0; o < end; o += 128) {
    loadBlock(w, padded, o);
    compress(state, w, k);
  }
  padded.fill(0);
}

/** The HMAC-SHA512 inner and outer midstates of `key` (RFC 2104: keys over 128 bytes are hashed). */
function midstates(key: Uint8Array, w: Int32Array, k: Int32Array, iv: Int32Array): [Int32Array, Int32Array] {
  const block = new Uint8Array(128);
  const hashed = key.length > 128 ? sha512(key) : undefined;
  block.set(hashed ?? key);
  hashed?.fill(0);
  const inner = Int32Array.from(iv);
  const outer = Int32Array.from(iv);
  // `i <= 128` (both loops) is equivalent: block[128] is past the end of the 128-byte array.
  for (let i = 0; i < 128; i++) block[i]! ^= 0x36;
  loadBlock(w, block, 0);
  compress(inner, w, k);
  for (let i = 0; i < 128; i++) block[i]! ^= 0x36 ^ 0x5c;
  loadBlock(w, block, 0);
  compress(outer, w, k);
  block.fill(0);
  return [inner, outer];
}

export interface Pbkdf2Progress {
  /** Called between chunks with the rounds done so far and the total (rounds × output blocks). */
  readonly onProgress?: (done: number, total: number) => void;
  /** Rounds per chunk before yielding to the event loop (default 4096, about 5-10 ms). */
  readonly chunkRounds?: number;
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * PBKDF2-HMAC-SHA512(password, salt, iterations, length), yielding to the event loop between
 * chunks of rounds. The result equals the backends' synchronous `pbkdf2HmacSha512`.
 */
export async function pbkdf2HmacSha512Chunked(
  password: Uint8Array,
  salt: Uint8Array,
  iterations: number,
  length: number,
  options: Pbkdf2Progress = {},
): Promise<Uint8Array> {
  if (!isBytes(password) || !isBytes(salt)) {
    throw new TypeError('PBKDF2 password and salt must be Uint8Arrays');
  }
  if (!Number.isSafeInteger(iterations) || iterations < 1) throw new RangeError('PBKDF2 iterations must be ≥ 1');
  // `length >= 64 * 0xffff` survives: only a 4 MiB output (half a second) would show it; not tested.
  if (!Number.isSafeInteger(length) || length < 1 || length > 64 * 0xffff) {
    throw new RangeError('PBKDF2 output length out of range');
  }
  const chunk = options.chunkRounds ?? 4096;
  if (!Number.isSafeInteger(chunk) || chunk < 1) throw new RangeError('chunkRounds must be a positive integer');
  const { k, iv } = constants();
  const w = new Int32Array(160);
  const [inner, outer] = midstates(password, w, k, iv);
  const blocks = Math.ceil(length / 64);
  const total = iterations * blocks;
  const out = new Uint8Array(blocks * 64);
  const state = new Int32Array(16);
  const u = new Int32Array(16);
  const t = new Int32Array(16);
  const first = new Uint8Array(salt.length + 4);
  first.set(salt);
  try {
    for (let block = 1; block <= blocks; block++) {
      // U1 = HMAC(P, S ‖ INT(block))
      first[salt.length] = block >>> 24;
      first[salt.length + 1] = block >>> 16;
      first[salt.length + 2] = block >>> 8;
      first[salt.length + 3] = block;
      state.set(inner);
      finishAfterBlock(state, first, w, k);
      u.set(state);
      state.set(outer);
      w.fill(0, 0, 32);
      // `i <= 16` here and in the two loops over 16 words below is equivalent: w[16] is set just after,
      // u[16] and t[16] are past the ends, and out[o + 64..] is the next block's (written later) or past the end.
      for (let i = 0; i < 16; i++) w[i] = u[i]!;
      w[16] = 0x80000000 | 0;
      w[31] = (128 + 64) * 8;
      compress(state, w, k);
      u.set(state);
      t.set(u);
      // U(j) = HMAC(P, U(j-1)): both messages are 64 bytes, so the padding words 16..31 stay as
      // set above (compress writes only the schedule, w[32..]) and each half fills w[0..15].
      for (let j = 1; j < iterations; ) {
        const stop = Math.min(iterations, j + chunk);
        for (; j < stop; j++) {
          state.set(inner);
          for (let i = 0; i < 16; i++) w[i] = u[i]!;
          compress(state, w, k);
          for (let i = 0; i < 16; i++) w[i] = state[i]!;
          state.set(outer);
          compress(state, w, k);
          for (let i = 0; i < 16; i++) {
            const v = state[i]!;
            u[i] = v;
            t[i]! ^= v;
          }
        }
        if (j < iterations) {
          options.onProgress?.((block - 1) * iterations + j, total);
          await yieldToEventLoop();
        }
      }
      const o = (block - 1) * 64;
      for (let i = 0; i < 16; i++) {
        const v = t[i]!;
        out[o + 4 * i] = v >>> 24;
        out[o + 4 * i + 1] = v >>> 16;
        out[o + 4 * i + 2] = v >>> 8;
        out[o + 4 * i + 3] = v;
      }
    }
    options.onProgress?.(total, total);
    // A shortcut: `false` (always copy) or `blocks / 64` gives the same bytes.
    if (blocks * 64 === length) return out;
    const truncated = out.slice(0, length);
    out.fill(0);
    return truncated;
  } finally {
    // Erasure of secrets, not observable through the API (SECURITY.md): an emptied block survives.
    inner.fill(0);
    outer.fill(0);
    state.fill(0);
    u.fill(0);
    t.fill(0);
    w.fill(0);
    first.fill(0);
  }
}
