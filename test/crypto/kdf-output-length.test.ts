/**
 * BUG (src/crypto/index.ts and src/crypto/sha256.ts): the KDF output length is not validated at
 * the public face, so bad lengths escape as backend-specific RangeError/Error instead of
 * TriturusError INVALID_ARGUMENT, and the two backends disagree:
 *  - pbkdf2HmacSha512(p, s, 1, 0): node returns an empty array, noble throws
 *    Error('"dkLen" must be >= 1').
 *  - hkdfSha256(…, 8161) throws a plain RangeError from sha256.ts (hkdfSha512 over its limit
 *    already throws INVALID_ARGUMENT).
 *  - negative or fractional lengths for hkdfSha256, hkdfSha512 and pbkdf2HmacSha512 throw
 *    RangeError (typed-array, node:crypto or noble messages).
 * Expected: TriturusError INVALID_ARGUMENT for every out-of-range length, and the same behaviour
 * for length 0 on both backends.
 */
import { expect, it } from 'vitest';
import { hkdfSha256, hkdfSha512, pbkdf2HmacSha512 } from '../../src/crypto/index.js';
import { nobleBackend } from '../../src/crypto/noble.js';
import { nodeBackend } from '../../src/crypto/node.js';
import { TriturusError } from '../../src/errors.js';
import { describeEachBackend, expectTriturusError, toHex, withBackend } from './helpers.js';

const IKM = new Uint8Array([1, 2, 3]);
const EMPTY = new Uint8Array(0);

function outcome(fn: () => Uint8Array): string {
  try {
    return `returns ${toHex(fn())}`;
  } catch (error) {
    return error instanceof TriturusError ? `throws ${error.code}` : `throws ${String(error)}`;
  }
}

it('pbkdf2HmacSha512 with length 0 behaves the same on both backends (empty, or INVALID_ARGUMENT)', () => {
  const onNode = withBackend(nodeBackend, () => outcome(() => pbkdf2HmacSha512(IKM, IKM, 1, 0)));
  const onNoble = withBackend(nobleBackend, () => outcome(() => pbkdf2HmacSha512(IKM, IKM, 1, 0)));
  expect(onNoble).toBe(onNode);
  expect(['returns ', 'throws INVALID_ARGUMENT']).toContain(onNode);
});

describeEachBackend('KDF output lengths out of range throw INVALID_ARGUMENT', () => {
  it('hkdfSha256 over 255 × 32 = 8160 bytes', () => {
    expectTriturusError(() => hkdfSha256(IKM, EMPTY, EMPTY, 8161), TriturusError, 'INVALID_ARGUMENT');
  });

  for (const length of [-1, 1.5, Number.NaN]) {
    it(`length ${length}`, () => {
      expectTriturusError(() => hkdfSha256(IKM, EMPTY, EMPTY, length), TriturusError, 'INVALID_ARGUMENT');
      expectTriturusError(() => hkdfSha512(IKM, EMPTY, EMPTY, length), TriturusError, 'INVALID_ARGUMENT');
      expectTriturusError(() => pbkdf2HmacSha512(IKM, IKM, 1, length), TriturusError, 'INVALID_ARGUMENT');
    });
  }
});
