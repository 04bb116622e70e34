/**
 * Big-endian binary writer and reader for pickles (both triturus's own format and libolm's:
 * u32 big-endian integers, one-byte booleans, fixed-size byte strings). Every overrun in the
 * reader is a PickleError, so a damaged pickle never yields a half-built object.
 */

import { PickleError } from '../errors.js';
import { TextDecoder, TextEncoder } from './text.js';

// Messages are built into views of shared 8 KiB chunks, as Node's Buffer pool does: on V8 a
// fresh Uint8Array above 64 bytes lives off the heap and costs ~0.5-0.7 µs to allocate and
// collect, against ~65 ns for a view (measured on Node 20).
const CHUNK_SIZE = 8192;
let chunk = new Uint8Array(CHUNK_SIZE);
let chunkUsed = 0;

/**
 * @internal A zeroed array of `length` bytes for public data that its owner never hands out
 * (encoded messages, which give copies through `toBytes`). It may share its ArrayBuffer with
 * other such arrays, so it must never hold secrets.
 */
export function allocPublic(length: number): Uint8Array {
  if (length > CHUNK_SIZE / 4) return new Uint8Array(length);
  if (chunkUsed + length > CHUNK_SIZE) {
    chunk = new Uint8Array(CHUNK_SIZE);
    chunkUsed = 0;
  }
  const view = chunk.subarray(chunkUsed, chunkUsed + length);
  chunkUsed += (length + 7) & ~7;
  return view;
}

export class ByteWriter {
  #buffer: Uint8Array;
  #length = 0;

  constructor(capacity = 256) {
    this.#buffer = new Uint8Array(capacity);
  }

  #reserve(n: number): void {
    if (this.#length + n <= this.#buffer.length) return;
    const next = new Uint8Array(Math.max(this.#buffer.length * 2, this.#length + n));
    next.set(this.#buffer.subarray(0, this.#length));
    this.#buffer.fill(0);
    this.#buffer = next;
  }

  u8(value: number): this {
    this.#reserve(1);
    this.#buffer[this.#length++] = value;
    return this;
  }

  bool(value: boolean): this {
    return this.u8(value ? 1 : 0);
  }

  u32(value: number): this {
    this.#reserve(4);
    const b = this.#buffer;
    const o = this.#length;
    b[o] = value >>> 24;
    b[o + 1] = value >>> 16;
    b[o + 2] = value >>> 8;
    b[o + 3] = value;
    this.#length += 4;
    return this;
  }

  /** A non-negative safe integer as u64 big-endian. */
  u64(value: number): this {
    this.u32(Math.floor(value / 0x100000000));
    return this.u32(value >>> 0);
  }

  /** Bytes with no length prefix (fixed-size fields). */
  raw(bytes: Uint8Array): this {
    this.#reserve(bytes.length);
    this.#buffer.set(bytes, this.#length);
    this.#length += bytes.length;
    return this;
  }

  /** Bytes with a u32 length prefix. */
  bytes(bytes: Uint8Array): this {
    this.u32(bytes.length);
    return this.raw(bytes);
  }

  string(text: string): this {
    return this.bytes(new TextEncoder().encode(text));
  }

  get length(): number {
    return this.#length;
  }

  /** The written bytes (a copy); the internal buffer is wiped, as it may hold secrets. */
  finish(): Uint8Array {
    const out = this.#buffer.slice(0, this.#length);
    this.#buffer.fill(0);
    this.#length = 0;
    return out;
  }
}

export class ByteReader {
  readonly #bytes: Uint8Array;
  #offset = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  #take(n: number): number {
    if (n > this.#bytes.length - this.#offset) {
      throw new PickleError('PICKLE_INVALID', 'pickle is truncated', {
        expected: n,
        actual: this.#bytes.length - this.#offset,
      });
    }
    const start = this.#offset;
    this.#offset += n;
    return start;
  }

  u8(): number {
    return this.#bytes[this.#take(1)]!;
  }

  bool(): boolean {
    const v = this.u8();
    if (v > 1) throw new PickleError('PICKLE_INVALID', 'pickle holds an invalid boolean');
    return v === 1;
  }

  u32(): number {
    const o = this.#take(4);
    const b = this.#bytes;
    return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  }

  u64(): number {
    const high = this.u32();
    const low = this.u32();
    const value = high * 0x100000000 + low;
    if (!Number.isSafeInteger(value)) throw new PickleError('PICKLE_INVALID', 'pickle holds an integer too large');
    return value;
  }

  /** A copy of the next `n` bytes. */
  raw(n: number): Uint8Array {
    const o = this.#take(n);
    return this.#bytes.slice(o, o + n);
  }

  bytes(): Uint8Array {
    return this.raw(this.u32());
  }

  string(): string {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(this.bytes());
    } catch (error) {
      if (error instanceof PickleError) throw error;
      throw new PickleError('PICKLE_INVALID', 'pickle holds invalid UTF-8');
    }
  }

  /** A u32 count that must be at most `max` (guards allocations on damaged input). */
  count(max: number): number {
    const n = this.u32();
    if (n > max)
      throw new PickleError('PICKLE_INVALID', 'pickle holds a list longer than allowed', { actual: n, expected: max });
    return n;
  }

  get remaining(): number {
    return this.#bytes.length - this.#offset;
  }

  /** Throws unless every byte was consumed. */
  end(): void {
    if (this.remaining !== 0) {
      throw new PickleError('PICKLE_INVALID', 'pickle has trailing bytes', { actual: this.remaining });
    }
  }
}

/** A real Uint8Array (or Buffer): not a Proxy of one, nor an object made from its prototype. */
export function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && ArrayBuffer.isView(value);
}
