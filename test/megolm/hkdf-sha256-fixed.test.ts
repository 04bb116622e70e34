/**
 * The fixed-shape HKDF-SHA256 (src/crypto/hkdf-sha256-fixed.ts) against node:crypto's hkdfSync,
 * for Megolm's and Olm's shapes and random ones (inputs that fill whole blocks or not, tails that
 * need one or two padding blocks, one to many output blocks).
 */
import { hkdfSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HkdfSha256Fixed } from '../../src/crypto/hkdf-sha256-fixed.js';
import { random, toHex } from './helpers.js';

function reference(ikm: Uint8Array, info: Uint8Array, length: number): string {
  return Buffer.from(hkdfSync('sha256', ikm, new Uint8Array(0), info, length)).toString('hex');
}

describe('HKDF-SHA256 with a fixed shape', () => {
  it('Megolm (128-byte ratchet, "MEGOLM_KEYS", 80) and Olm (32-byte key, "OLM_KEYS", 80) shapes', () => {
    for (const [n, info] of [
      [128, 'MEGOLM_KEYS'],
      [32, 'OLM_KEYS'],
    ] as const) {
      const kdf = new HkdfSha256Fixed(n, new TextEncoder().encode(info), 80);
      for (let k = 0; k < 20; k++) {
        const ikm = random(n);
        const out = new Uint8Array(90);
        kdf.deriveInto(ikm, 0, out, 5);
        expect(toHex(out.subarray(5, 85))).toBe(reference(ikm, new TextEncoder().encode(info), 80));
        expect(Array.from(out.subarray(0, 5))).toEqual([0, 0, 0, 0, 0]);
        expect(Array.from(out.subarray(85))).toEqual([0, 0, 0, 0, 0]);
      }
    }
  });

  it('property: equals hkdfSync for random shapes, reading the input at an offset', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 200 }),
        fc.uint8Array({ maxLength: 22 }),
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 0, max: 9 }),
        (n, info, length, offset) => {
          const kdf = new HkdfSha256Fixed(n, info, length);
          const buffer = random(n + offset);
          const out = new Uint8Array(length);
          kdf.deriveInto(buffer, offset, out, 0);
          expect(toHex(out)).toBe(reference(buffer.subarray(offset), info, length));
          // The object is reusable.
          const again = random(n);
          kdf.deriveInto(again, 0, out, 0);
          expect(toHex(out)).toBe(reference(again, info, length));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('refuses shapes it cannot serve', () => {
    expect(() => new HkdfSha256Fixed(32, new Uint8Array(23), 32)).toThrow(RangeError);
    expect(() => new HkdfSha256Fixed(32, new Uint8Array(1), 0)).toThrow(RangeError);
    expect(() => new HkdfSha256Fixed(-1, new Uint8Array(1), 32)).toThrow(RangeError);
  });
});
