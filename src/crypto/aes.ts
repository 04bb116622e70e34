/**
 * AES-256 in CBC (PKCS#7) and CTR modes for the pure-JavaScript backend: the modes Olm, Megolm, key
 * export files and key backup use. Written here rather than taken from @noble/ciphers for a measured
 * reason: loading noble's AES module builds two 64K-entry table sets at import (about 7 ms in Node and
 * more in a fresh browser renderer, a third of a fresh page's first Megolm decryption), and its per-call
 * setup made AES about 15% of a Megolm decryption in Chromium. These four 1 KiB tables per direction are
 * built on first use, in well under a millisecond. AES-GCM (DMLS, HPKE) stays with noble.
 *
 * The rounds are the standard 32-bit table formulation (FIPS 197, section 5 with the round functions
 * folded into four lookup tables). Like every table-driven AES, including noble's, its memory access
 * pattern depends on the key and the data; the node backend (OpenSSL, AES-NI) has no such tables.
 * Tested against FIPS 197 / SP 800-38A vectors and node:crypto on random inputs (test/crypto).
 */

import { checkPkcs7 } from './padding.js';

interface Tables {
  readonly sbox: Uint8Array;
  readonly inverse: Uint8Array;
  readonly te: readonly [Uint32Array, Uint32Array, Uint32Array, Uint32Array];
  readonly td: readonly [Uint32Array, Uint32Array, Uint32Array, Uint32Array];
}

let tables: Tables | undefined;

function times2(x: number): number {
  return ((x << 1) ^ ((x >>> 7) * 0x1b)) & 0xff;
}

function rotateRight8(w: number): number {
  return ((w >>> 8) | (w << 24)) >>> 0;
}

function buildTables(): Tables {
  // The S-box from GF(2^8) inverses (generator 3) and the affine map.
  const exp = new Uint8Array(256);
  const log = new Uint8Array(256);
  for (let i = 0, x = 1; i < 255; i++) {
    exp[i] = x;
    log[x] = i;
    x ^= times2(x);
  }
  const sbox = new Uint8Array(256);
  const inverse = new Uint8Array(256);
  for (let i = 0; i < 256; i++) {
    const inv = i === 0 ? 0 : exp[(255 - log[i]!) % 255]!;
    let s = inv;
    for (let r = 1; r < 5; r++) s ^= ((inv << r) | (inv >>> (8 - r))) & 0xff;
    s ^= 0x63;
    sbox[i] = s;
    inverse[s] = i;
  }
  const te = [new Uint32Array(256), new Uint32Array(256), new Uint32Array(256), new Uint32Array(256)] as const;
  const td = [new Uint32Array(256), new Uint32Array(256), new Uint32Array(256), new Uint32Array(256)] as const;
  // Products in GF(2^8) by the log tables (the table build runs on a cold page: keep it short).
  const multiply = (x: number, y: number): number => (x === 0 ? 0 : exp[(log[x]! + log[y]!) % 255]!);
  for (let i = 0; i < 256; i++) {
    const s = sbox[i]!;
    let w = ((multiply(s, 2) << 24) | (s << 16) | (s << 8) | multiply(s, 3)) >>> 0;
    const v = inverse[i]!;
    let d = ((multiply(v, 14) << 24) | (multiply(v, 9) << 16) | (multiply(v, 13) << 8) | multiply(v, 11)) >>> 0;
    for (let t = 0; t < 4; t++) {
      te[t]![i] = w;
      td[t]![i] = d;
      w = rotateRight8(w);
      d = rotateRight8(d);
    }
  }
  return { sbox, inverse, te, td };
}

const ROUNDS = 14;

/** The 60 words of an AES-256 encryption key schedule. */
function expandKey(t: Tables, key: Uint8Array): Uint32Array {
  const w = new Uint32Array(4 * (ROUNDS + 1));
  for (let i = 0; i < 8; i++) {
    w[i] = ((key[4 * i]! << 24) | (key[4 * i + 1]! << 16) | (key[4 * i + 2]! << 8) | key[4 * i + 3]!) >>> 0;
  }
  const s = t.sbox;
  let rcon = 1;
  for (let i = 8; i < w.length; i++) {
    let x = w[i - 1]!;
    if (i % 8 === 0) {
      x = (s[(x >>> 16) & 0xff]! << 24) | (s[(x >>> 8) & 0xff]! << 16) | (s[x & 0xff]! << 8) | s[x >>> 24]!;
      x ^= rcon << 24;
      rcon = times2(rcon);
    } else if (i % 8 === 4) {
      x = (s[x >>> 24]! << 24) | (s[(x >>> 16) & 0xff]! << 16) | (s[(x >>> 8) & 0xff]! << 8) | s[x & 0xff]!;
    }
    w[i] = (w[i - 8]! ^ x) >>> 0;
  }
  return w;
}

/** The decryption schedule: round keys in reverse order, InvMixColumns applied to the inner ones. */
function decryptionKey(t: Tables, encryption: Uint32Array): Uint32Array {
  const d = new Uint32Array(encryption.length);
  const [td0, td1, td2, td3] = t.td;
  const s = t.sbox;
  for (let round = 0; round <= ROUNDS; round++) {
    for (let j = 0; j < 4; j++) {
      const w = encryption[4 * (ROUNDS - round) + j]!;
      d[4 * round + j] =
        round === 0 || round === ROUNDS
          ? w
          : td0[s[w >>> 24]!]! ^ td1[s[(w >>> 16) & 0xff]!]! ^ td2[s[(w >>> 8) & 0xff]!]! ^ td3[s[w & 0xff]!]!;
    }
  }
  return d;
}

/** Encrypts the block in `state` (four big-endian words) in place. */
function encryptBlock(t: Tables, rk: Uint32Array, state: Uint32Array): void {
  const [te0, te1, te2, te3] = t.te;
  let s0 = state[0]! ^ rk[0]!;
  let s1 = state[1]! ^ rk[1]!;
  let s2 = state[2]! ^ rk[2]!;
  let s3 = state[3]! ^ rk[3]!;
  let k = 4;
  for (let round = 1; round < ROUNDS; round++, k += 4) {
    const t0 = te0[s0 >>> 24]! ^ te1[(s1 >>> 16) & 0xff]! ^ te2[(s2 >>> 8) & 0xff]! ^ te3[s3 & 0xff]! ^ rk[k]!;
    const t1 = te0[s1 >>> 24]! ^ te1[(s2 >>> 16) & 0xff]! ^ te2[(s3 >>> 8) & 0xff]! ^ te3[s0 & 0xff]! ^ rk[k + 1]!;
    const t2 = te0[s2 >>> 24]! ^ te1[(s3 >>> 16) & 0xff]! ^ te2[(s0 >>> 8) & 0xff]! ^ te3[s1 & 0xff]! ^ rk[k + 2]!;
    const t3 = te0[s3 >>> 24]! ^ te1[(s0 >>> 16) & 0xff]! ^ te2[(s1 >>> 8) & 0xff]! ^ te3[s2 & 0xff]! ^ rk[k + 3]!;
    s0 = t0;
    s1 = t1;
    s2 = t2;
    s3 = t3;
  }
  const s = t.sbox;
  state[0] =
    ((s[s0 >>> 24]! << 24) | (s[(s1 >>> 16) & 0xff]! << 16) | (s[(s2 >>> 8) & 0xff]! << 8) | s[s3 & 0xff]!) ^ rk[k]!;
  state[1] =
    ((s[s1 >>> 24]! << 24) | (s[(s2 >>> 16) & 0xff]! << 16) | (s[(s3 >>> 8) & 0xff]! << 8) | s[s0 & 0xff]!) ^
    rk[k + 1]!;
  state[2] =
    ((s[s2 >>> 24]! << 24) | (s[(s3 >>> 16) & 0xff]! << 16) | (s[(s0 >>> 8) & 0xff]! << 8) | s[s1 & 0xff]!) ^
    rk[k + 2]!;
  state[3] =
    ((s[s3 >>> 24]! << 24) | (s[(s0 >>> 16) & 0xff]! << 16) | (s[(s1 >>> 8) & 0xff]! << 8) | s[s2 & 0xff]!) ^
    rk[k + 3]!;
}

/** Decrypts the block in `state` in place with a decryption schedule. */
function decryptBlock(t: Tables, rk: Uint32Array, state: Uint32Array): void {
  const [td0, td1, td2, td3] = t.td;
  let s0 = state[0]! ^ rk[0]!;
  let s1 = state[1]! ^ rk[1]!;
  let s2 = state[2]! ^ rk[2]!;
  let s3 = state[3]! ^ rk[3]!;
  let k = 4;
  for (let round = 1; round < ROUNDS; round++, k += 4) {
    const t0 = td0[s0 >>> 24]! ^ td1[(s3 >>> 16) & 0xff]! ^ td2[(s2 >>> 8) & 0xff]! ^ td3[s1 & 0xff]! ^ rk[k]!;
    const t1 = td0[s1 >>> 24]! ^ td1[(s0 >>> 16) & 0xff]! ^ td2[(s3 >>> 8) & 0xff]! ^ td3[s2 & 0xff]! ^ rk[k + 1]!;
    const t2 = td0[s2 >>> 24]! ^ td1[(s1 >>> 16) & 0xff]! ^ td2[(s0 >>> 8) & 0xff]! ^ td3[s3 & 0xff]! ^ rk[k + 2]!;
    const t3 = td0[s3 >>> 24]! ^ td1[(s2 >>> 16) & 0xff]! ^ td2[(s1 >>> 8) & 0xff]! ^ td3[s0 & 0xff]! ^ rk[k + 3]!;
    s0 = t0;
    s1 = t1;
    s2 = t2;
    s3 = t3;
  }
  const v = t.inverse;
  state[0] =
    ((v[s0 >>> 24]! << 24) | (v[(s3 >>> 16) & 0xff]! << 16) | (v[(s2 >>> 8) & 0xff]! << 8) | v[s1 & 0xff]!) ^ rk[k]!;
  state[1] =
    ((v[s1 >>> 24]! << 24) | (v[(s0 >>> 16) & 0xff]! << 16) | (v[(s3 >>> 8) & 0xff]! << 8) | v[s2 & 0xff]!) ^
    rk[k + 1]!;
  state[2] =
    ((v[s2 >>> 24]! << 24) | (v[(s1 >>> 16) & 0xff]! << 16) | (v[(s0 >>> 8) & 0xff]! << 8) | v[s3 & 0xff]!) ^
    rk[k + 2]!;
  state[3] =
    ((v[s3 >>> 24]! << 24) | (v[(s2 >>> 16) & 0xff]! << 16) | (v[(s1 >>> 8) & 0xff]! << 8) | v[s0 & 0xff]!) ^
    rk[k + 3]!;
}

function readWord(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
}

function writeWord(bytes: Uint8Array, offset: number, w: number): void {
  bytes[offset] = w >>> 24;
  bytes[offset + 1] = w >>> 16;
  bytes[offset + 2] = w >>> 8;
  bytes[offset + 3] = w;
}

/** AES-256-CBC with PKCS#7 padding (the key is 32 bytes and the IV 16: checked by the facade). */
export function aes256CbcEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const t = (tables ??= buildTables());
  const rk = expandKey(t, key);
  const pad = 16 - (plaintext.length % 16);
  const out = new Uint8Array(plaintext.length + pad);
  out.set(plaintext);
  out.fill(pad, plaintext.length);
  const state = new Uint32Array(4);
  for (let j = 0; j < 4; j++) state[j] = readWord(iv, 4 * j);
  for (let offset = 0; offset < out.length; offset += 16) {
    for (let j = 0; j < 4; j++) state[j] = (state[j]! ^ readWord(out, offset + 4 * j)) >>> 0;
    encryptBlock(t, rk, state);
    for (let j = 0; j < 4; j++) writeWord(out, offset + 4 * j, state[j]!);
  }
  rk.fill(0);
  state.fill(0);
  return out;
}

/**
 * AES-256-CBC decryption; undefined when the PKCS#7 padding is not exactly valid (checked over the
 * whole last block). The ciphertext is a positive multiple of 16 bytes: checked by the facade.
 */
export function aes256CbcDecrypt(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Uint8Array | undefined {
  const t = (tables ??= buildTables());
  const encryption = expandKey(t, key);
  const rk = decryptionKey(t, encryption);
  encryption.fill(0);
  const padded = new Uint8Array(ciphertext.length);
  const state = new Uint32Array(4);
  let p0 = readWord(iv, 0);
  let p1 = readWord(iv, 4);
  let p2 = readWord(iv, 8);
  let p3 = readWord(iv, 12);
  for (let offset = 0; offset < ciphertext.length; offset += 16) {
    const c0 = readWord(ciphertext, offset);
    const c1 = readWord(ciphertext, offset + 4);
    const c2 = readWord(ciphertext, offset + 8);
    const c3 = readWord(ciphertext, offset + 12);
    state[0] = c0;
    state[1] = c1;
    state[2] = c2;
    state[3] = c3;
    decryptBlock(t, rk, state);
    writeWord(padded, offset, state[0]! ^ p0);
    writeWord(padded, offset + 4, state[1]! ^ p1);
    writeWord(padded, offset + 8, state[2]! ^ p2);
    writeWord(padded, offset + 12, state[3]! ^ p3);
    p0 = c0;
    p1 = c1;
    p2 = c2;
    p3 = c3;
  }
  rk.fill(0);
  state.fill(0);
  const length = checkPkcs7(padded);
  if (length < 0) {
    padded.fill(0);
    return undefined;
  }
  const out = padded.slice(0, length);
  padded.fill(0);
  return out;
}

/** AES-256-CTR with a 128-bit big-endian counter starting at `iv` (wrapping modulo 2^128). */
export function aes256Ctr(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  const t = (tables ??= buildTables());
  const rk = expandKey(t, key);
  const out = new Uint8Array(data.length);
  const counter = new Uint32Array(4);
  const block = new Uint32Array(4);
  const stream = new Uint8Array(16);
  for (let j = 0; j < 4; j++) counter[j] = readWord(iv, 4 * j);
  for (let offset = 0; offset < data.length; offset += 16) {
    block.set(counter);
    encryptBlock(t, rk, block);
    for (let j = 0; j < 4; j++) writeWord(stream, 4 * j, block[j]!);
    const end = Math.min(16, data.length - offset);
    for (let i = 0; i < end; i++) out[offset + i] = data[offset + i]! ^ stream[i]!;
    // Increment the 128-bit counter.
    for (let j = 3; j >= 0; j--) {
      counter[j] = (counter[j]! + 1) >>> 0;
      if (counter[j] !== 0) break;
    }
  }
  rk.fill(0);
  block.fill(0);
  stream.fill(0);
  counter.fill(0);
  return out;
}
