/**
 * Unpadded standard base64, as Matrix uses it. Encoding never pads; decoding accepts input with
 * or without correct padding and refuses bad characters and impossible lengths. Bits beyond the
 * last whole byte are ignored, as libolm and Python's base64 do: the Matrix specification's own
 * signing test vector (the seed `…XA1`) carries non-zero trailing bits. Compare decoded bytes,
 * never base64 strings.
 *
 * Two decoders: `decodeBase64` uses a lookup table (fast, for public data such as messages and
 * public keys); `decodeBase64Secret` maps characters with arithmetic only, so its timing and
 * memory accesses do not depend on the secret (CVE-2024-45192 was libolm's table-based decode
 * of keys).
 */
import { DecodeError } from '../errors.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const ENCODE = new Uint8Array(64);
for (let i = 0; i < 64; i++) ENCODE[i] = ALPHABET.charCodeAt(i);
const DECODE = new Int16Array(128).fill(-1);
for (let i = 0; i < 64; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

// Converting the ASCII codes to a string through TextDecoder is ~8x faster than
// String.fromCharCode.apply on V8; runtimes without a latin1 TextDecoder use the fallback.
const ASCII: { decode(bytes: Uint8Array): string } | undefined = (() => {
  try {
    const decoder = new TextDecoder('latin1');
    return decoder.decode(Uint8Array.of(65, 47)) === 'A/' ? decoder : undefined;
  } catch {
    return undefined;
  }
})();
const CHUNK = 0x2000;

function asciiToString(codes: Uint8Array): string {
  if (ASCII !== undefined) return ASCII.decode(codes);
  let out = '';
  for (let c = 0; c < codes.length; c += CHUNK) {
    out += String.fromCharCode.apply(null, codes.subarray(c, Math.min(codes.length, c + CHUNK)) as unknown as number[]);
  }
  return out;
}

interface NativeBuffer {
  from(buffer: ArrayBufferLike, byteOffset: number, length: number): { toString(encoding: 'base64'): string };
}
// Where Node's Buffer exists, it encodes natively: ~190 ns for a 250-byte Megolm message against
// ~900 ns for the loop below, whose output array alone is an off-heap allocation on V8.
const NATIVE: NativeBuffer | undefined = (() => {
  const candidate = (globalThis as { Buffer?: NativeBuffer }).Buffer;
  try {
    return candidate?.from(Uint8Array.of(0xfb, 0xff).buffer, 0, 2).toString('base64') === '+/8='
      ? candidate
      : undefined;
  } catch {
    return undefined;
  }
})();

export function encodeBase64(bytes: Uint8Array): string {
  if (NATIVE === undefined) return encodeBase64Portable(bytes);
  const text = NATIVE.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  const end = text.length - (bytes.length % 3 === 0 ? 0 : 3 - (bytes.length % 3));
  return end === text.length ? text : text.slice(0, end);
}

/** @internal The encoder for runtimes without Node's Buffer (exported for the tests). */
export function encodeBase64Portable(bytes: Uint8Array): string {
  const length = bytes.length;
  const codes = new Uint8Array(Math.ceil((length * 4) / 3));
  let o = 0;
  let i = 0;
  const table = ENCODE;
  for (; i + 2 < length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    codes[o] = table[n >>> 18]!;
    codes[o + 1] = table[(n >>> 12) & 63]!;
    codes[o + 2] = table[(n >>> 6) & 63]!;
    codes[o + 3] = table[n & 63]!;
    o += 4;
  }
  const rest = length - i;
  if (rest === 1) {
    const n = bytes[i]!;
    codes[o++] = table[n >>> 2]!;
    codes[o++] = table[(n & 3) << 4]!;
  } else if (rest === 2) {
    const n = (bytes[i]! << 8) | bytes[i + 1]!;
    codes[o++] = table[n >>> 10]!;
    codes[o++] = table[(n >>> 4) & 63]!;
    codes[o++] = table[(n & 15) << 2]!;
  }
  return asciiToString(codes);
}

/** The base64 character code of a 6-bit value, computed without a table (constant time). */
function encodeCharConstantTime(v: number): number {
  // Start from 'A' + v and add corrections for the ranges above 25, 51, 61 and 62.
  let c = v + 65;
  c += ((25 - v) >> 8) & 6; // 26..51 -> 'a'..'z'
  c -= ((51 - v) >> 8) & 75; // 52..61 -> '0'..'9'
  c -= ((61 - v) >> 8) & 15; // 62 -> '+'
  c += ((62 - v) >> 8) & 3; // 63 -> '/'
  return c;
}

/** Like `encodeBase64`, with no secret-dependent table lookups (for keys and other secrets). */
export function encodeBase64Secret(bytes: Uint8Array): string {
  const codes = new Uint8Array(Math.ceil((bytes.length * 4) / 3));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < bytes.length; i++) {
    acc = ((acc << 8) | bytes[i]!) & 0xffff;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      codes[o++] = encodeCharConstantTime((acc >>> bits) & 63);
    }
  }
  if (bits > 0) codes[o++] = encodeCharConstantTime((acc << (6 - bits)) & 63);
  const out = asciiToString(codes);
  codes.fill(0);
  return out;
}

function invalid(what: string): DecodeError {
  return new DecodeError('BASE64_INVALID', `invalid base64: ${what}`);
}

/** Length of the data part once optional padding is removed; throws on malformed padding. */
function unpaddedLength(s: string): number {
  if (typeof s !== 'string') throw invalid('expected a string');
  let length = s.length;
  if (length % 4 === 0 && length > 0 && s.charCodeAt(length - 1) === 61) {
    length--;
    if (s.charCodeAt(length - 1) === 61) length--;
  }
  if (length % 4 === 1) throw invalid('impossible length');
  return length;
}

export function decodeBase64(s: string): Uint8Array {
  const length = unpaddedLength(s);
  const out = new Uint8Array(Math.floor((length * 3) / 4));
  let o = 0;
  let i = 0;
  let bad = 0;
  const table = DECODE;
  for (; i + 3 < length; i += 4) {
    const a = table[s.charCodeAt(i) & 127]!;
    const b = table[s.charCodeAt(i + 1) & 127]!;
    const c = table[s.charCodeAt(i + 2) & 127]!;
    const d = table[s.charCodeAt(i + 3) & 127]!;
    bad |= a | b | c | d;
    if ((s.charCodeAt(i) | s.charCodeAt(i + 1) | s.charCodeAt(i + 2) | s.charCodeAt(i + 3)) > 127) bad = -1;
    const n = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = n >>> 16;
    out[o++] = n >>> 8;
    out[o++] = n;
  }
  const rest = length - i;
  if (rest > 0) {
    const a = table[s.charCodeAt(i) & 127]!;
    const b = table[s.charCodeAt(i + 1) & 127]!;
    const c = rest === 3 ? table[s.charCodeAt(i + 2) & 127]! : 0;
    bad |= a | b | c;
    if ((s.charCodeAt(i) | s.charCodeAt(i + 1) | (rest === 3 ? s.charCodeAt(i + 2) : 0)) > 127) bad = -1;
    const n = (a << 18) | (b << 12) | (c << 6);
    out[o++] = n >>> 16;
    if (rest === 3) out[o++] = n >>> 8;
  }
  if (bad < 0) throw invalid('unexpected character');
  return out;
}

/** 6-bit value of a base64 character, or -1, with no table lookup and no branch on the character. */
function decodeCharConstantTime(c: number): number {
  // Each term is (value + 1) when c is in its range and 0 otherwise; ranges are disjoint.
  let v = 0;
  v += (((64 - c) & (c - 91)) >> 8) & (c - 64); // 'A'..'Z' -> 1..26
  v += (((96 - c) & (c - 123)) >> 8) & (c - 70); // 'a'..'z' -> 27..52
  v += (((47 - c) & (c - 58)) >> 8) & (c + 5); // '0'..'9' -> 53..62
  v += (((42 - c) & (c - 44)) >> 8) & 63; // '+' -> 63
  v += (((46 - c) & (c - 48)) >> 8) & 64; // '/' -> 64
  return v - 1;
}

/** Like `decodeBase64`, in time and memory-access pattern independent of the (secret) content. */
export function decodeBase64Secret(s: string): Uint8Array {
  const length = unpaddedLength(s);
  const out = new Uint8Array(Math.floor((length * 3) / 4));
  let bad = 0;
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < length; i++) {
    const c = s.charCodeAt(i);
    const v = decodeCharConstantTime(c);
    // The range tests hold for c < 256 only; any code unit above 255 is invalid.
    bad |= v | ((255 - c) >> 31);
    acc = ((acc << 6) | (v & 63)) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = acc >>> bits;
    }
  }
  if (bad < 0) {
    out.fill(0);
    throw invalid('unexpected character');
  }
  return out;
}
