/**
 * BUG (src/crypto/index.ts, ed25519Verify): the two small-order points with x = 0 — the identity
 * (y = 1) and the order-2 point (y = -1) — also have an encoding with the sign bit set
 * ("negative zero" x): 0100…0080 and ecff…ffff. They are canonical in y (y < p), so
 * pointEncodingIsCanonical lets them through, and they are not in SMALL_ORDER_POINTS, so
 * isSmallOrder misses them. RFC 8032 §5.1.3 decoding refuses x = 0 with x_0 = 1, and noble does,
 * but OpenSSL decodes them (to the identity and to (0, -1)), so with the node backend a signature
 * "from" such a key verifies for messages of the attacker's choosing: with A = 0100…0080,
 * R = B and S = 1 verify for every message. ed25519-dalek's verify_strict (vodozemac) decompresses
 * them and then refuses them as small order. Expected: ed25519Verify returns false on both
 * backends.
 */
import { createHash } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { ed25519Verify } from '../../src/crypto/index.js';
import { ascii, bytesToNumberLE, concatBytes, describeEachBackend, hex, numberToBytesLE, toHex } from './helpers.js';

const { Point } = ed25519;
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

const SIGN_BIT_SMALL_ORDER = [
  hex('0100000000000000000000000000000000000000000000000000000000000080'), // identity, x_0 = 1
  hex('ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff'), // (0, -1), x_0 = 1
];

function challenge(r: Uint8Array, a: Uint8Array, message: Uint8Array): bigint {
  return (
    bytesToNumberLE(
      Uint8Array.from(
        createHash('sha512')
          .update(concatBytes(r, a, message))
          .digest(),
      ),
    ) % L
  );
}

/** R = [r]B, S = r: satisfies [S]B = R + [k]A whenever [k]A = 0. */
function forge(a: Uint8Array, message: Uint8Array): Uint8Array {
  const aPoint = Point.fromBytes(a, true);
  for (let r = 1n; r < 500n; r++) {
    const rBytes = Point.BASE.multiply(r).toBytes();
    if (aPoint.multiplyUnsafe(challenge(rBytes, a, message)).is0()) return concatBytes(rBytes, numberToBytesLE(r));
  }
  throw new Error('no forgery found');
}

describe('sign-bit encodings of the x = 0 points', () => {
  it('decode laxly (zip215) to points of small order, and strict RFC 8032 decoding refuses them', () => {
    for (const encoding of SIGN_BIT_SMALL_ORDER) {
      expect(() => Point.fromBytes(encoding)).toThrow();
      const point = Point.fromBytes(encoding, true);
      expect(point.multiplyUnsafe(2n).is0(), toHex(encoding)).toBe(true);
    }
  });
});

describeEachBackend('ed25519Verify with a sign-bit small-order public key', () => {
  for (const encoding of SIGN_BIT_SMALL_ORDER) {
    it(`refuses forged signatures under A = ${toHex(encoding)}`, () => {
      for (const text of ['hello', 'transfer all funds', 'x']) {
        const message = ascii(text);
        expect(ed25519Verify(encoding, message, forge(encoding, message)), text).toBe(false);
      }
    });
  }
});
