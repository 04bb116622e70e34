/**
 * ByteWriter / ByteReader, the big-endian pickle codec: layouts checked against DataView, round
 * trips, and every overrun or invalid value refused with PickleError PICKLE_INVALID.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocPublic, ByteReader, ByteWriter } from '../../src/encoding/binary.js';
import { PickleError } from '../../src/errors.js';

function expectPickleInvalid(fn: () => unknown): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught, 'expected a PickleError').toBeInstanceOf(PickleError);
  expect((caught as PickleError).code).toBe('PICKLE_INVALID');
}

type Item =
  | { t: 'u8'; v: number }
  | { t: 'bool'; v: boolean }
  | { t: 'u32'; v: number }
  | { t: 'u64'; v: number }
  | { t: 'raw'; v: Uint8Array }
  | { t: 'bytes'; v: Uint8Array }
  | { t: 'string'; v: string };

const ITEM: fc.Arbitrary<Item> = fc.oneof(
  fc.record({ t: fc.constant('u8' as const), v: fc.nat({ max: 255 }) }),
  fc.record({ t: fc.constant('bool' as const), v: fc.boolean() }),
  fc.record({ t: fc.constant('u32' as const), v: fc.nat({ max: 0xffffffff }) }),
  fc.record({ t: fc.constant('u64' as const), v: fc.maxSafeNat() }),
  fc.record({ t: fc.constant('raw' as const), v: fc.uint8Array({ maxLength: 40 }) }),
  fc.record({ t: fc.constant('bytes' as const), v: fc.uint8Array({ maxLength: 40 }) }),
  fc.record({ t: fc.constant('string' as const), v: fc.string({ unit: 'grapheme', maxLength: 10 }) }),
);

function write(items: Item[], capacity?: number): Uint8Array {
  const w = new ByteWriter(capacity);
  for (const item of items) {
    switch (item.t) {
      case 'u8':
        w.u8(item.v);
        break;
      case 'bool':
        w.bool(item.v);
        break;
      case 'u32':
        w.u32(item.v);
        break;
      case 'u64':
        w.u64(item.v);
        break;
      case 'raw':
        w.raw(item.v);
        break;
      case 'bytes':
        w.bytes(item.v);
        break;
      case 'string':
        w.string(item.v);
        break;
    }
  }
  return w.finish();
}

/** The expected bytes, built with DataView/Buffer. */
function reference(items: Item[]): Uint8Array {
  const parts: Buffer[] = [];
  for (const item of items) {
    const b = Buffer.alloc(item.t === 'u64' ? 8 : item.t === 'u32' ? 4 : 1);
    switch (item.t) {
      case 'u8':
        parts.push(Buffer.of(item.v));
        break;
      case 'bool':
        parts.push(Buffer.of(item.v ? 1 : 0));
        break;
      case 'u32':
        b.writeUInt32BE(item.v);
        parts.push(b);
        break;
      case 'u64':
        b.writeBigUInt64BE(BigInt(item.v));
        parts.push(b);
        break;
      case 'raw':
        parts.push(Buffer.from(item.v));
        break;
      case 'bytes': {
        const n = Buffer.alloc(4);
        n.writeUInt32BE(item.v.length);
        parts.push(n, Buffer.from(item.v));
        break;
      }
      case 'string': {
        const s = Buffer.from(item.v, 'utf8');
        const n = Buffer.alloc(4);
        n.writeUInt32BE(s.length);
        parts.push(n, s);
        break;
      }
    }
  }
  return Uint8Array.from(Buffer.concat(parts));
}

function readAll(bytes: Uint8Array, items: Item[]): unknown[] {
  const r = new ByteReader(bytes);
  const out = items.map((item) => {
    switch (item.t) {
      case 'u8':
        return r.u8();
      case 'bool':
        return r.bool();
      case 'u32':
        return r.u32();
      case 'u64':
        return r.u64();
      case 'raw':
        return r.raw(item.v.length);
      case 'bytes':
        return r.bytes();
      case 'string':
        return r.string();
      default:
        throw new Error('unknown item');
    }
  });
  r.end();
  return out;
}

describe('ByteWriter layout', () => {
  it('writes big-endian integers, one-byte booleans and u32-prefixed byte strings', () => {
    const out = new ByteWriter(1)
      .u8(0xab)
      .bool(true)
      .bool(false)
      .u32(0x01020304)
      .u64(0x0102030405060)
      .raw(Uint8Array.of(9, 8))
      .bytes(Uint8Array.of(7))
      .string('é')
      .finish();
    expect(Buffer.from(out).toString('hex')).toBe(
      ['ab', '01', '00', '01020304', '0000102030405060', '0908', '00000001' + '07', '00000002' + 'c3a9'].join(''),
    );
  });

  it('u64 covers the whole safe range', () => {
    const out = new ByteWriter()
      .u64(Number.MAX_SAFE_INTEGER)
      .u64(0)
      .u64(2 ** 32)
      .finish();
    expect(Buffer.from(out).toString('hex')).toBe('001fffffffffffff' + '0000000000000000' + '0000000100000000');
  });

  it('matches a DataView/Buffer reference and round trips through ByteReader (property)', () => {
    fc.assert(
      fc.property(fc.array(ITEM, { maxLength: 20 }), fc.integer({ min: 1, max: 64 }), (items, capacity) => {
        const bytes = write(items, capacity);
        expect(bytes).toEqual(reference(items));
        const back = readAll(bytes, items);
        expect(back).toEqual(items.map((i) => i.v));
      }),
      { numRuns: 300 },
    );
  });

  it('finish returns a copy, empties the writer and length tracks what was written', () => {
    const w = new ByteWriter(4);
    w.u32(1).u8(2);
    expect(w.length).toBe(5);
    const first = w.finish();
    expect(Array.from(first)).toEqual([0, 0, 0, 1, 2]);
    expect(w.length).toBe(0);
    w.u8(3);
    expect(Array.from(w.finish())).toEqual([3]);
    expect(Array.from(first)).toEqual([0, 0, 0, 1, 2]);
  });
});

describe('ByteReader refusals (PickleError PICKLE_INVALID)', () => {
  it('every truncation of a valid encoding is refused (property)', () => {
    fc.assert(
      fc.property(fc.array(ITEM, { minLength: 1, maxLength: 10 }), fc.nat(), (items, cut) => {
        const bytes = reference(items);
        if (bytes.length === 0) return;
        const length = cut % bytes.length;
        expectPickleInvalid(() => readAll(bytes.subarray(0, length), items));
      }),
      { numRuns: 300 },
    );
  });

  it('each read past the end', () => {
    expectPickleInvalid(() => new ByteReader(new Uint8Array(0)).u8());
    expectPickleInvalid(() => new ByteReader(new Uint8Array(0)).bool());
    expectPickleInvalid(() => new ByteReader(new Uint8Array(3)).u32());
    expectPickleInvalid(() => new ByteReader(new Uint8Array(7)).u64());
    expectPickleInvalid(() => new ByteReader(new Uint8Array(4)).raw(5));
    expectPickleInvalid(() => new ByteReader(Uint8Array.of(0, 0, 0, 3, 1, 2)).bytes());
    expectPickleInvalid(() => new ByteReader(Uint8Array.of(0, 0, 0, 3, 0x61)).string());
    // A huge length prefix is refused, not allocated.
    expectPickleInvalid(() => new ByteReader(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 1)).bytes());
  });

  it('a refused read reports the sizes', () => {
    let caught: unknown;
    try {
      new ByteReader(new Uint8Array(3)).u32();
    } catch (error) {
      caught = error;
    }
    expect((caught as PickleError).details).toEqual({ expected: 4, actual: 3 });
  });

  it('booleans other than 0 and 1', () => {
    for (const v of [2, 0x80, 0xff]) expectPickleInvalid(() => new ByteReader(Uint8Array.of(v)).bool());
  });

  it('u64 values beyond 2^53 - 1', () => {
    expect(new ByteReader(Uint8Array.of(0, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)).u64()).toBe(
      Number.MAX_SAFE_INTEGER,
    );
    expectPickleInvalid(() => new ByteReader(Uint8Array.of(0, 0x20, 0, 0, 0, 0, 0, 0)).u64());
    expectPickleInvalid(() => new ByteReader(new Uint8Array(8).fill(0xff)).u64());
  });

  it('strings that are not UTF-8', () => {
    for (const bad of [[0xff], [0xc3], [0xed, 0xa0, 0x80]]) {
      expectPickleInvalid(() => new ByteReader(Uint8Array.of(0, 0, 0, bad.length, ...bad)).string());
    }
  });

  it('count above its maximum', () => {
    expect(new ByteReader(Uint8Array.of(0, 0, 0, 5)).count(5)).toBe(5);
    expectPickleInvalid(() => new ByteReader(Uint8Array.of(0, 0, 0, 6)).count(5));
    expectPickleInvalid(() => new ByteReader(Uint8Array.of(0xff, 0xff, 0xff, 0xff)).count(5000));
  });

  it('end refuses trailing bytes and remaining counts down', () => {
    const r = new ByteReader(Uint8Array.of(1, 2, 3));
    expect(r.remaining).toBe(3);
    r.u8();
    expect(r.remaining).toBe(2);
    expectPickleInvalid(() => r.end());
    r.raw(2);
    expect(r.remaining).toBe(0);
    r.end();
  });

  it('raw returns a copy, not a view', () => {
    const source = Uint8Array.of(1, 2, 3);
    const copy = new ByteReader(source).raw(3);
    source[0] = 9;
    expect(Array.from(copy)).toEqual([1, 2, 3]);
  });
});

describe('allocPublic (shared chunks for encoded messages)', () => {
  it('hands out zeroed, non-overlapping arrays of the asked length, across chunk boundaries', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 60 }), (lengths) => {
        const arrays = lengths.map((n) => {
          const a = allocPublic(n);
          expect(a.length).toBe(n);
          expect(a.every((b) => b === 0)).toBe(true);
          a.fill(0xee);
          return a;
        });
        // Writing each array in full never reached into another one.
        for (const [i, a] of arrays.entries()) {
          a.fill(i & 0xff);
        }
        for (const [i, a] of arrays.entries()) expect(a.every((b) => b === (i & 0xff))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('large requests get their own buffer', () => {
    const a = allocPublic(100_000);
    expect(a.length).toBe(100_000);
    expect(a.byteOffset).toBe(0);
    expect(a.buffer.byteLength).toBe(100_000);
  });
});
