/**
 * HKDF-SHA256 (RFC 5869) with an empty salt for one fixed shape (input length, info, output
 * length), as the per-message key derivations use it: Megolm's HKDF(0, R(i) 128 bytes,
 * "MEGOLM_KEYS", 80), Olm's HKDF(0, message key 32 bytes, "OLM_KEYS", 80).
 *
 * Everything that does not depend on the input is done once, in the constructor: the midstates
 * of the all-zero salt key, the padding block of the extract step when the input fills whole
 * blocks, and the message schedule of the first expand block (info ‖ 0x01 and padding). Each
 * derivation is then a sequence of SHA-256 compressions on 32-bit words with no allocation.
 * Cross-tested against node:crypto's hkdfSync and the general `hkdfSha256` in the tests.
 * Nothing branches on or indexes by secret data.
 */
import {
  compressDigestBlock,
  compressIpadKey,
  compressOpadKey,
  compressScheduled,
  compressWords,
  constantSchedule,
  SHA256_IV as IV,
} from './sha256-words.js';

const IPAD = 0x36363636;
const OPAD = 0x5c5c5c5c;

/**
 * Writes `bytes` into the big-endian word array `words` starting at byte position `at`. (Stryker's
 * `i <= bytes.length` writes a zero byte where the fresh array already has one: equivalent.)
 */
function putBytes(words: Int32Array, at: number, bytes: ArrayLike<number>): void {
  for (let i = 0; i < bytes.length; i++) {
    const p = at + i;
    const shift = 24 - 8 * (p & 3);
    words[p >> 2] = (words[p >> 2]! & ~(0xff << shift)) | ((bytes[i]! & 0xff) << shift);
  }
}

// The HMAC midstates of the all-zero 32-byte key (RFC 5869 §2.2: an empty salt is HashLen zeros),
// computed on the first derivation rather than at import (issue 12).
const ZERO_INNER = new Int32Array(8);
const ZERO_OUTER = new Int32Array(8);
let zeroMidstatesReady = false;

function computeZeroMidstates(): void {
  ZERO_INNER.set(IV);
  ZERO_OUTER.set(IV);
  compressWords(ZERO_INNER, new Int32Array(16).fill(IPAD));
  compressWords(ZERO_OUTER, new Int32Array(16).fill(OPAD));
  zeroMidstatesReady = true;
}

/** An HKDF-SHA256 derivation with an empty salt for inputs of one length, one info string and one output length. */
export class HkdfSha256Fixed {
  readonly #ikmLength: number;
  readonly #length: number;
  readonly #blocks: number;
  /** Schedule of the extract step's last block when it holds only padding (input a multiple of 64). */
  readonly #extractPadding: Int32Array | undefined;
  /** Schedule of T(1)'s inner block: info ‖ 0x01 ‖ padding. */
  readonly #firstBlock: Int32Array;
  /** Templates of T(i)'s inner block for i ≥ 2: words 0..7 receive T(i-1), the rest is info ‖ i ‖ padding. */
  readonly #laterBlocks: Int32Array[] = [];
  readonly #state = new Int32Array(8);
  readonly #keyInner = new Int32Array(8);
  readonly #keyOuter = new Int32Array(8);
  readonly #block = new Int32Array(16);
  readonly #t = new Int32Array(8);

  constructor(ikmLength: number, info: Uint8Array, length: number) {
    if (!Number.isInteger(ikmLength) || ikmLength < 0) throw new RangeError('HKDF input length must be ≥ 0');
    if (info.length > 22) throw new RangeError('info of at most 22 bytes (one block with T(i-1) and padding)');
    if (!Number.isInteger(length) || length < 1 || length > 255 * 32)
      throw new RangeError('HKDF output length out of range');
    this.#ikmLength = ikmLength;
    this.#length = length;
    this.#blocks = Math.ceil(length / 32);
    // A shortcut: without it (`false`, `ikmLength * 64`) #finishTail builds the same padding block at
    // derivation time, and the bytes are the same (equivalent; likewise `false` for its use in deriveInto).
    if (ikmLength % 64 === 0) {
      const pad = new Int32Array(16);
      pad[0] = 0x80000000 | 0;
      pad[15] = (64 + ikmLength) * 8;
      this.#extractPadding = constantSchedule(pad);
    }
    const first = new Int32Array(16);
    putBytes(first, 0, [...info, 1, 0x80]);
    first[15] = (64 + info.length + 1) * 8;
    this.#firstBlock = constantSchedule(first);
    for (let i = 2; i <= this.#blocks; i++) {
      const later = new Int32Array(16);
      putBytes(later, 32, [...info, i, 0x80]);
      later[15] = (64 + 32 + info.length + 1) * 8;
      this.#laterBlocks.push(later);
    }
  }

  /** Derives into `out[offset..offset+length)` from `ikm[ikmOffset..ikmOffset+ikmLength)`. */
  deriveInto(ikm: Uint8Array, ikmOffset: number, out: Uint8Array, offset: number): void {
    const s = this.#state;
    const block = this.#block;
    // Extract: PRK = HMAC(zero key, IKM). (Mutation testing, test/MUTATION.md: computing the midstates
    // again is equivalent, and so is every `i <= 8` / `i <= 16` in this method: the extra index is past the
    // end of an 8- or 16-word Int32Array, where reads give undefined and writes do nothing.)
    if (!zeroMidstatesReady) computeZeroMidstates();
    for (let i = 0; i < 8; i++) s[i] = ZERO_INNER[i]!;
    const n = this.#ikmLength;
    const whole = n - (n % 64);
    for (let o = 0; o < whole; o += 64) {
      for (let i = 0; i < 16; i++) {
        const p = ikmOffset + o + 4 * i;
        block[i] = (ikm[p]! << 24) | (ikm[p + 1]! << 16) | (ikm[p + 2]! << 8) | ikm[p + 3]!;
      }
      compressWords(s, block);
    }
    if (this.#extractPadding !== undefined) compressScheduled(s, this.#extractPadding, 0);
    else this.#finishTail(ikm, ikmOffset + whole, n - whole, (64 + n) * 8);
    // PRK = the outer hash of the inner digest; then the PRK's HMAC midstates.
    compressDigestBlock(ZERO_OUTER, s, s);
    const ki = this.#keyInner;
    const ko = this.#keyOuter;
    compressIpadKey(s, ki);
    compressOpadKey(s, ko);
    // Expand: T(1), T(2), ...
    const t = this.#t;
    const length = this.#length;
    let written = 0;
    for (let b = 1; b <= this.#blocks; b++) {
      for (let i = 0; i < 8; i++) s[i] = ki[i]!;
      if (b === 1) compressScheduled(s, this.#firstBlock, 0);
      else {
        const template = this.#laterBlocks[b - 2]!;
        for (let i = 0; i < 8; i++) block[i] = t[i]!;
        for (let i = 8; i < 16; i++) block[i] = template[i]!;
        compressWords(s, block);
      }
      compressDigestBlock(ko, s, t);
      // `written <= length`, `true` for `written < length`, and `> 4` below are equivalent: the byte-by-byte
      // branch writes the same four bytes, and nothing once `written` reaches `length`.
      for (let i = 0; i < 8 && written < length; i++) {
        const v = t[i]!;
        if (length - written >= 4) {
          out[offset + written] = v >>> 24;
          out[offset + written + 1] = v >>> 16;
          out[offset + written + 2] = v >>> 8;
          out[offset + written + 3] = v;
          written += 4;
        } else {
          for (let k = 0; written < length; k++) out[offset + written++] = v >>> (24 - 8 * k);
        }
      }
    }
    s.fill(0);
    t.fill(0);
    ki.fill(0);
    ko.fill(0);
    block.fill(0);
  }

  /** The last one or two blocks of the extract step when the input does not fill whole blocks. */
  #finishTail(ikm: Uint8Array, from: number, count: number, bits: number): void {
    const block = this.#block;
    block.fill(0);
    for (let i = 0; i < count; i++) block[i >> 2]! |= ikm[from + i]! << (24 - 8 * (i & 3));
    block[count >> 2]! |= 0x80 << (24 - 8 * (count & 3));
    if (count + 1 > 56) {
      compressWords(this.#state, block);
      block.fill(0);
    }
    block[15] = bits;
    compressWords(this.#state, block);
  }
}
