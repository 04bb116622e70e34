/**
 * Protobuf-style varints and field framing (protobuf encoding guide: base-128 varints, least
 * significant group first, wire types 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32).
 * The reference encoder here uses BigInt, independent of writeVarint.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtoReader, varintLength, WIRE_BYTES, WIRE_VARINT, writeVarint } from '../../src/encoding/varint.js';
import { DecodeError } from '../../src/errors.js';

const MAX_SAFE = Number.MAX_SAFE_INTEGER; // 2^53 - 1

/** LEB128 of a non-negative bigint. */
function leb128(value: bigint): number[] {
  const out: number[] = [];
  do {
    const low = Number(value & 0x7fn);
    value >>= 7n;
    out.push(value > 0n ? low | 0x80 : low);
  } while (value > 0n);
  return out;
}

function expectDecodeError(fn: () => unknown, code: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught, 'expected a DecodeError').toBeInstanceOf(DecodeError);
  expect((caught as DecodeError).code).toBe(code);
}

function reader(bytes: number[], start?: number, end?: number): ProtoReader {
  return new ProtoReader(Uint8Array.from(bytes), start, end);
}

const SAFE_UINT = fc.oneof(
  fc.nat({ max: 0x7f }),
  fc.nat({ max: 0xffffffff }),
  fc.maxSafeNat(),
  fc.constantFrom(0, 127, 128, 16383, 16384, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 49, MAX_SAFE - 1, MAX_SAFE),
);

describe('varint encoding', () => {
  it('known encodings', () => {
    const cases: [number, number[]][] = [
      [0, [0x00]],
      [1, [0x01]],
      [127, [0x7f]],
      [128, [0x80, 0x01]],
      [150, [0x96, 0x01]], // the protobuf guide's example
      [300, [0xac, 0x02]],
      [16384, [0x80, 0x80, 0x01]],
      [2 ** 32 - 1, [0xff, 0xff, 0xff, 0xff, 0x0f]],
      [MAX_SAFE, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]],
    ];
    for (const [value, bytes] of cases) {
      const out = new Uint8Array(12);
      const end = writeVarint(out, 2, value);
      expect(end).toBe(2 + bytes.length);
      expect(Array.from(out.subarray(2, end))).toEqual(bytes);
      expect(varintLength(value)).toBe(bytes.length);
      expect(reader(bytes).readVarint()).toBe(value);
    }
  });

  it('round trips and matches a BigInt LEB128 encoder (up to 2^53 - 1)', () => {
    fc.assert(
      fc.property(SAFE_UINT, (value) => {
        const expected = leb128(BigInt(value));
        expect(varintLength(value)).toBe(expected.length);
        const out = new Uint8Array(expected.length);
        expect(writeVarint(out, 0, value)).toBe(expected.length);
        expect(Array.from(out)).toEqual(expected);
        const r = new ProtoReader(out);
        expect(r.readVarint()).toBe(value);
        expect(r.done).toBe(true);
        expect(r.offset).toBe(expected.length);
      }),
      { numRuns: 500 },
    );
  });

  it('several varints in a row', () => {
    fc.assert(
      fc.property(fc.array(SAFE_UINT, { maxLength: 20 }), (values) => {
        const bytes = values.flatMap((v) => leb128(BigInt(v)));
        const r = reader(bytes);
        for (const v of values) expect(r.readVarint()).toBe(v);
        expect(r.done).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describe('varint refusals (DecodeError VARINT_INVALID)', () => {
  it('empty and truncated input', () => {
    expectDecodeError(() => reader([]).readVarint(), 'VARINT_INVALID');
    expectDecodeError(() => reader([0x80]).readVarint(), 'VARINT_INVALID');
    expectDecodeError(() => reader([0xff, 0xff, 0xff]).readVarint(), 'VARINT_INVALID');
    // Every proper prefix of a multi-byte varint is truncated.
    const full = leb128(BigInt(MAX_SAFE));
    for (let n = 0; n < full.length; n++)
      expectDecodeError(() => reader(full.slice(0, n)).readVarint(), 'VARINT_INVALID');
  });

  it('truncated by the reader window, not only by the buffer', () => {
    // 0x96 0x01 = 150, but the window ends after the first byte.
    expectDecodeError(() => reader([0x96, 0x01], 0, 1).readVarint(), 'VARINT_INVALID');
  });

  it('values of 2^53 and above', () => {
    for (const value of [2n ** 53n, 2n ** 53n + 1n, 2n ** 56n, 2n ** 63n, 2n ** 64n - 1n]) {
      expectDecodeError(() => reader(leb128(value)).readVarint(), 'VARINT_INVALID');
    }
  });

  it('more than 10 bytes', () => {
    expectDecodeError(() => reader([...Array(10).fill(0x80), 0x00]).readVarint(), 'VARINT_INVALID');
    expectDecodeError(() => reader(Array(11).fill(0xff)).readVarint(), 'VARINT_INVALID');
    expectDecodeError(() => reader(Array(64).fill(0x80)).readVarint(), 'VARINT_INVALID');
  });

  it('any byte string either decodes to the BigInt reading of its first varint or is refused', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 14 }), (bytes) => {
        let expected: bigint | undefined;
        let value = 0n;
        for (let i = 0; i < Math.min(bytes.length, 10); i++) {
          value |= BigInt(bytes[i]! & 0x7f) << BigInt(7 * i);
          if ((bytes[i]! & 0x80) === 0) {
            expected = value;
            break;
          }
        }
        const r = new ProtoReader(bytes);
        if (expected === undefined || expected > BigInt(MAX_SAFE)) {
          expectDecodeError(() => r.readVarint(), 'VARINT_INVALID');
        } else {
          expect(r.readVarint()).toBe(Number(expected));
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('ProtoReader fields', () => {
  it('readTag splits field number and wire type', () => {
    expect(reader([0x0a]).readTag()).toEqual([1, WIRE_BYTES]);
    expect(reader([0x10]).readTag()).toEqual([2, WIRE_VARINT]);
    expect(reader([0x22]).readTag()).toEqual([4, 2]);
    // Field 1000, wire type 5: key 8005 = 0xc5 0x3e.
    expect(reader([0xc5, 0x3e]).readTag()).toEqual([1000, 5]);
    expectDecodeError(() => reader([0x80]).readTag(), 'VARINT_INVALID');
  });

  it('readBytes returns the field and refuses lengths past the end', () => {
    const r = reader([0x03, 1, 2, 3, 9]);
    expect(Array.from(r.readBytes())).toEqual([1, 2, 3]);
    expect(r.offset).toBe(4);
    expect(Array.from(reader([0x00]).readBytes())).toEqual([]);
    expectDecodeError(() => reader([0x04, 1, 2, 3]).readBytes(), 'MESSAGE_MALFORMED');
    // The window's end counts, not the buffer's.
    expectDecodeError(() => reader([0x03, 1, 2, 3], 0, 3).readBytes(), 'MESSAGE_MALFORMED');
    // A huge length is refused, not allocated.
    expectDecodeError(() => reader([...leb128(2n ** 40n), 1]).readBytes(), 'MESSAGE_MALFORMED');
  });

  it('skip moves over each supported wire type', () => {
    const cases: [number, number[]][] = [
      [0, [0xac, 0x02]], // varint 300
      [1, [1, 2, 3, 4, 5, 6, 7, 8]], // fixed64
      [2, [0x02, 0xaa, 0xbb]], // length-delimited
      [5, [1, 2, 3, 4]], // fixed32
    ];
    for (const [wire, bytes] of cases) {
      const r = reader([...bytes, 0x7f]);
      r.skip(wire);
      expect(r.offset, `wire type ${wire}`).toBe(bytes.length);
      expect(r.readVarint()).toBe(0x7f);
      expect(r.done).toBe(true);
    }
  });

  it('skip refuses truncated fields', () => {
    expectDecodeError(() => reader([0x80]).skip(0), 'VARINT_INVALID');
    expectDecodeError(() => reader([1, 2, 3, 4, 5, 6, 7]).skip(1), 'MESSAGE_MALFORMED');
    expectDecodeError(() => reader([0x05, 1, 2]).skip(2), 'MESSAGE_MALFORMED');
    expectDecodeError(() => reader([1, 2, 3]).skip(5), 'MESSAGE_MALFORMED');
    expectDecodeError(() => reader([1, 2, 3, 4, 5, 6, 7, 8, 9], 0, 7).skip(1), 'MESSAGE_MALFORMED');
  });

  it('skip refuses groups and undefined wire types', () => {
    for (const wire of [3, 4, 6, 7]) {
      expectDecodeError(() => reader([0, 0, 0, 0, 0, 0, 0, 0, 0]).skip(wire), 'MESSAGE_MALFORMED');
    }
  });

  it('a reader over a window reads only inside it', () => {
    const r = reader([0xff, 0x08, 0x96, 0x01, 0xff], 1, 4);
    expect(r.readTag()).toEqual([1, WIRE_VARINT]);
    expect(r.readVarint()).toBe(150);
    expect(r.done).toBe(true);
  });
});
