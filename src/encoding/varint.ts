/**
 * Protobuf-style varints and length-delimited fields, the framing of Olm and Megolm messages.
 * The reader accepts fields in any order and skips unknown ones; every overrun is a DecodeError.
 */
import { DecodeError } from '../errors.js';

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_BYTES = 2;
export const WIRE_FIXED32 = 5;

export function varintLength(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}

/** Writes `value` (a non-negative safe integer) at `offset`; returns the offset after it. */
export function writeVarint(out: Uint8Array, offset: number, value: number): number {
  while (value >= 0x80) {
    out[offset++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  out[offset++] = value;
  return offset;
}

export class ProtoReader {
  readonly #bytes: Uint8Array;
  #offset: number;
  readonly #end: number;

  constructor(bytes: Uint8Array, start = 0, end: number = bytes.length) {
    this.#bytes = bytes;
    this.#offset = start;
    this.#end = end;
  }

  get done(): boolean {
    return this.#offset >= this.#end;
  }

  get offset(): number {
    return this.#offset;
  }

  /** Reads a varint of at most 2^53 - 1 (the largest value JavaScript holds exactly). */
  readVarint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.#offset >= this.#end) throw new DecodeError('VARINT_INVALID', 'truncated varint');
      const b = this.#bytes[this.#offset++]!;
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(value)) throw new DecodeError('VARINT_INVALID', 'varint too large');
        return value;
      }
      scale *= 128;
    }
    throw new DecodeError('VARINT_INVALID', 'varint longer than 10 bytes');
  }

  /** Reads a field key; returns [fieldNumber, wireType]. */
  readTag(): [number, number] {
    const key = this.readVarint();
    return [Math.floor(key / 8), key & 7];
  }

  /** Reads a length-delimited field's bytes (a view into the input). */
  readBytes(): Uint8Array {
    const length = this.readVarint();
    if (length > this.#end - this.#offset) {
      throw new DecodeError('MESSAGE_MALFORMED', 'length-delimited field runs past the end', {
        expected: length,
        actual: this.#end - this.#offset,
      });
    }
    const start = this.#offset;
    this.#offset += length;
    return this.#bytes.subarray(start, start + length);
  }

  skip(wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.readVarint();
        return;
      case WIRE_BYTES:
        this.readBytes();
        return;
      case WIRE_FIXED64:
        this.#advance(8);
        return;
      case WIRE_FIXED32:
        this.#advance(4);
        return;
      default:
        throw new DecodeError('MESSAGE_MALFORMED', `unsupported wire type ${wireType}`, { actual: wireType });
    }
  }

  #advance(n: number): void {
    if (n > this.#end - this.#offset) throw new DecodeError('MESSAGE_MALFORMED', 'field runs past the end');
    this.#offset += n;
  }
}
