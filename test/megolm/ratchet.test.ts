/**
 * The Megolm ratchet (olm's docs/megolm.md) against the spec's recurrence stepped one index at a
 * time with node:crypto (RefRatchet), including the 2^8/2^16/2^24 boundaries and the 2^32 wrap.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { advance, advanceTo, newRatchetState, type RatchetState } from '../../src/megolm/ratchet.js';
import { RefRatchet, random, toHex } from './helpers.js';

function state(data: Uint8Array, counter: number): RatchetState {
  return newRatchetState(data.slice(), counter);
}

describe('Megolm ratchet: one step', () => {
  it('a step inside a 256-block re-derives only R3 = HMAC(R3, 0x03)', () => {
    const data = random(128);
    const s = state(data, 0);
    advance(s);
    expect(s.counter).toBe(1);
    expect(toHex(s.data.subarray(0, 96))).toBe(toHex(data.subarray(0, 96)));
    expect(toHex(s.data)).toBe(toHex(new RefRatchet(data, 0).steps(1).data));
  });

  for (const [name, from] of [
    ['2^8 boundary (R2, R3 from R2)', 0xff],
    ['2^16 boundary (R1..R3 from R1)', 0xffff],
    ['2^24 boundary (R0..R3 from R0)', 0xffffff],
    ['2^32 wrap (index 0 again, R0..R3 from R0)', 0xffffffff],
  ] as const) {
    it(`steps across the ${name} as the spec's recurrence does`, () => {
      const data = random(128);
      const s = state(data, from);
      advance(s);
      const ref = new RefRatchet(data, from).steps(1);
      expect(s.counter).toBe(ref.counter);
      expect(toHex(s.data)).toBe(toHex(ref.data));
    });
  }

  it('wraps the counter to 0 after 2^32 - 1 and changes every part', () => {
    const data = random(128);
    const s = state(data, 0xffffffff);
    advance(s);
    expect(s.counter).toBe(0);
    for (let j = 0; j < 4; j++) {
      expect(toHex(s.data.subarray(32 * j, 32 * j + 32))).not.toBe(toHex(data.subarray(32 * j, 32 * j + 32)));
    }
  });
});

describe('Megolm ratchet: advanceTo', () => {
  it('equals stepping one index at a time, across 8-bit boundaries', () => {
    const data = random(128);
    for (const [from, to] of [
      [0, 1],
      [0, 255],
      [0, 256],
      [3, 700],
      [250, 1030],
      [0xfff0, 0x10010],
    ] as const) {
      const s = state(data, from);
      advanceTo(s, to);
      const ref = new RefRatchet(data, from).steps(to - from);
      expect(s.counter).toBe(to);
      expect(toHex(s.data), `${from} → ${to}`).toBe(toHex(ref.data));
    }
  });

  it('is path independent: 0 → 2^24 + 5 directly equals 0 → 70000 → 2^24 + 5 (and steps cross the top boundary)', () => {
    const data = random(128);
    const direct = state(data, 0);
    advanceTo(direct, 2 ** 24 + 5);
    const twoHops = state(data, 0);
    advanceTo(twoHops, 70000);
    advanceTo(twoHops, 2 ** 24 + 5);
    expect(toHex(direct.data)).toBe(toHex(twoHops.data));
    // Near the top boundary, check against the recurrence itself.
    const near = state(data, 2 ** 24 - 3);
    advanceTo(near, 2 ** 24 + 5);
    expect(toHex(near.data)).toBe(toHex(new RefRatchet(data, 2 ** 24 - 3).steps(8).data));
  });

  it('goes forward through the 2^32 wrap when the target is below the counter', () => {
    const data = random(128);
    for (const [from, to] of [
      [0xfffffff0, 5],
      [0xffffff00, 0x100],
      [0xfffffffe, 0],
    ] as const) {
      const steps = (to - from + 2 ** 32) % 2 ** 32;
      const s = state(data, from);
      advanceTo(s, to);
      const ref = new RefRatchet(data, from).steps(steps);
      expect(s.counter).toBe(to);
      expect(toHex(s.data), `${from.toString(16)} → ${to}`).toBe(toHex(ref.data));
    }
  });

  it('turns R0 a full 256 times when the top bytes already agree but the target wrapped (vodozemac)', () => {
    // 0x01000005 → 0x01000003 is 2^32 - 2 steps: R0 goes round once (256 turns), then R3 three times.
    const data = random(128);
    const s = state(data, 0x01000005);
    advanceTo(s, 0x01000003);
    expect(s.counter).toBe(0x01000003);
    // Reference: 0x01000005 → 0x01000003 equals 0x01000005 → 0xffffffff → 0 → ... composed from
    // two independent advances that never wrap inside one call.
    const ref = state(data, 0x01000005);
    advanceTo(ref, 0xffffffff);
    advance(ref); // the wrap step itself, checked against the recurrence above
    advanceTo(ref, 0x01000003);
    expect(toHex(s.data)).toBe(toHex(ref.data));
  });

  it('property: advanceTo(target) equals step-by-step for random starts and gaps up to 600', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 128, maxLength: 128 }),
        fc.oneof(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 2 ** 32 - 700, max: 2 ** 32 - 1 })),
        fc.integer({ min: 1, max: 600 }),
        (data, from, gap) => {
          const to = (from + gap) >>> 0;
          const s = state(data, from);
          advanceTo(s, to);
          const ref = new RefRatchet(data, from).steps(gap);
          expect(s.counter).toBe(ref.counter);
          expect(toHex(s.data)).toBe(toHex(ref.data));
        },
      ),
      { numRuns: 25 },
    );
  });

  it('property: advanceTo(a) then advanceTo(b) equals advanceTo(b) for any a ≤ b', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 128, maxLength: 128 }),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        (data, x, y) => {
          const [a, b] = x <= y ? [x, y] : [y, x];
          const direct = state(data, 0);
          advanceTo(direct, b);
          const hops = state(data, 0);
          advanceTo(hops, a);
          advanceTo(hops, b);
          expect(toHex(hops.data)).toBe(toHex(direct.data));
          expect(hops.counter).toBe(b);
        },
      ),
      { numRuns: 20 },
    );
  });

  it('advancing to the current index changes nothing', () => {
    const data = random(128);
    const s = state(data, 1234);
    advanceTo(s, 1234);
    expect(toHex(s.data)).toBe(toHex(data));
  });
});
