/**
 * Strict Ed25519 verification (RFC 8032 §5.1.7 plus the small-order rule of ed25519-dalek's
 * verify_strict, which vodozemac uses): S < L, canonical encodings of A and R, neither of small
 * order. Where possible each refused signature is built so that it *does* satisfy the plain
 * equation [S]B = R + [k]A (checked here with @noble/curves), so the test fails if the strict
 * check is missing rather than passing by accident.
 */
import { createHash } from 'node:crypto';
import { ED25519_TORSION_SUBGROUP, ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { Ed25519SecretKey, ed25519Verify, smallOrderPointEncodings } from '../../src/crypto/index.js';
import {
  ascii,
  bytesToNumberLE,
  concatBytes,
  describeEachBackend,
  expandSeed,
  hex,
  numberToBytesLE,
  toHex,
} from './helpers.js';

const { Point } = ed25519;
type EdPoint = ReturnType<typeof Point.fromBytes>;

// RFC 8032 §5.1: p = 2^255 - 19, L = 2^252 + 27742317777372353535851937790883648493.
const P = 2n ** 255n - 19n;
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

// RFC 8032 §7.1 TEST 1.
const SEED = hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
const PUBLIC = hex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
const SIGNATURE = hex(
  'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
);
const EMPTY = new Uint8Array(0);
const MESSAGE = ascii('strict verification');

/** k = SHA-512(R || A || M) mod L (RFC 8032 §5.1.7 step 2), computed with node:crypto. */
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

/** The cofactorless equation [S]B == R + [k]A, with lax (zip215) decoding of R and A. */
function equationHolds(a: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const r = Point.fromBytes(signature.subarray(0, 32), true);
  const aPoint = Point.fromBytes(a, true);
  const s = bytesToNumberLE(signature.subarray(32)) % L;
  const k = challenge(signature.subarray(0, 32), a, message);
  const left = s === 0n ? Point.ZERO : Point.BASE.multiply(s);
  return left.equals(r.add(aPoint.multiplyUnsafe(k)));
}

/**
 * For a public key A of small order: R = [r]B, S = r satisfies the equation as soon as
 * [k]A = 0, which happens for one r in ord(A) on average. Returns such a signature.
 */
function forgeForSmallOrderKey(a: Uint8Array, message: Uint8Array): Uint8Array {
  const aPoint: EdPoint = Point.fromBytes(a, true);
  for (let r = 1n; r < 500n; r++) {
    const rBytes = Point.BASE.multiply(r).toBytes();
    const k = challenge(rBytes, a, message);
    if (k === 0n || aPoint.multiplyUnsafe(k).is0()) return concatBytes(rBytes, numberToBytesLE(r));
  }
  throw new Error('no forgery found');
}

/** For a real key a: R = the identity (encoded as given), S = k·a satisfies the equation. */
function signatureWithIdentityR(rEncoding: Uint8Array, message: Uint8Array): Uint8Array {
  const a = bytesToNumberLE(expandSeed(SEED).subarray(0, 32));
  const k = challenge(rEncoding, PUBLIC, message);
  return concatBytes(rEncoding, numberToBytesLE((k * a) % L));
}

describe('smallOrderPointEncodings', () => {
  it('are 8 distinct canonical encodings of 8 distinct points, each of order dividing 8', () => {
    expect(smallOrderPointEncodings.length).toBe(8);
    const encodings = new Set(smallOrderPointEncodings.map(toHex));
    expect(encodings.size).toBe(8);
    const points = new Set<string>();
    for (const encoding of smallOrderPointEncodings) {
      const point = Point.fromBytes(encoding); // strict (RFC 8032) decoding: canonical only
      expect(toHex(point.toBytes())).toBe(toHex(encoding));
      expect(point.multiplyUnsafe(8n).is0(), toHex(encoding)).toBe(true);
      expect(point.isSmallOrder()).toBe(true);
      points.add(toHex(point.toBytes()));
    }
    expect(points.size).toBe(8);
  });

  it('are exactly the 8-torsion subgroup listed by @noble/curves', () => {
    expect([...smallOrderPointEncodings.map(toHex)].sort()).toEqual([...ED25519_TORSION_SUBGROUP].sort());
  });
});

describeEachBackend('strict Ed25519 verification', () => {
  it('accepts the untouched RFC 8032 TEST 1 signature (control)', () => {
    expect(ed25519Verify(PUBLIC, EMPTY, SIGNATURE)).toBe(true);
    expect(equationHolds(PUBLIC, EMPTY, SIGNATURE)).toBe(true);
  });

  it('refuses S >= L (S + L satisfies the equation but is malleated)', () => {
    const s = bytesToNumberLE(SIGNATURE.subarray(32));
    expect(s < L).toBe(true);
    const malleated = concatBytes(SIGNATURE.subarray(0, 32), numberToBytesLE(s + L));
    expect(equationHolds(PUBLIC, EMPTY, malleated)).toBe(true);
    expect(ed25519Verify(PUBLIC, EMPTY, malleated)).toBe(false);
    for (const sValue of [L, L + 1n, 2n * L + s, 2n ** 255n + s, 2n ** 256n - 1n]) {
      const sig = concatBytes(SIGNATURE.subarray(0, 32), numberToBytesLE(sValue));
      expect(ed25519Verify(PUBLIC, EMPTY, sig), `S = ${sValue}`).toBe(false);
    }
  });

  it('accepts S = L - 1 and small S when the signature is otherwise right (boundary control)', () => {
    // A fresh signature over several messages; any S < L must pass the range check.
    const key = Ed25519SecretKey.fromSeed(SEED);
    for (let i = 0; i < 8; i++) {
      const message = ascii(`boundary ${i}`);
      expect(ed25519Verify(PUBLIC, message, key.sign(message))).toBe(true);
    }
  });

  describe('non-canonical encodings (y >= p)', () => {
    // y = p + j for j = 0..18 are the only non-canonical y values; each with either sign bit.
    const nonCanonical: Uint8Array[] = [];
    for (let j = 0n; j < 19n; j++) {
      const encoding = numberToBytesLE(P + j);
      nonCanonical.push(encoding);
      const negative = encoding.slice();
      negative[31]! |= 0x80;
      nonCanonical.push(negative);
    }

    it('the list really is non-canonical: strict decoding refuses every entry', () => {
      for (const encoding of nonCanonical) expect(() => Point.fromBytes(encoding)).toThrow();
    });

    it('refuses each as the public key A', () => {
      for (const encoding of nonCanonical) {
        expect(ed25519Verify(encoding, EMPTY, SIGNATURE), toHex(encoding)).toBe(false);
      }
    });

    it('refuses a forged signature under A = p + 1 (the identity, non-canonically) and A = p (order 4)', () => {
      for (const encoding of [numberToBytesLE(P + 1n), numberToBytesLE(P)]) {
        const forged = forgeForSmallOrderKey(encoding, MESSAGE);
        expect(equationHolds(encoding, MESSAGE, forged)).toBe(true);
        expect(ed25519Verify(encoding, MESSAGE, forged), toHex(encoding)).toBe(false);
      }
    });

    it('refuses each as R', () => {
      for (const encoding of nonCanonical) {
        const sig = concatBytes(encoding, SIGNATURE.subarray(32));
        expect(ed25519Verify(PUBLIC, EMPTY, sig), toHex(encoding)).toBe(false);
      }
      // R = p + 1 decodes laxly to the identity; S = k·a then satisfies the equation.
      const identityR = numberToBytesLE(P + 1n);
      const sig = signatureWithIdentityR(identityR, MESSAGE);
      expect(equationHolds(PUBLIC, MESSAGE, sig)).toBe(true);
      expect(ed25519Verify(PUBLIC, MESSAGE, sig)).toBe(false);
    });
  });

  describe('small-order points', () => {
    it('refuses each as the public key A, including signatures that satisfy the equation', () => {
      for (const encoding of smallOrderPointEncodings) {
        expect(ed25519Verify(encoding, EMPTY, SIGNATURE), toHex(encoding)).toBe(false);
        const forged = forgeForSmallOrderKey(encoding, MESSAGE);
        expect(equationHolds(encoding, MESSAGE, forged), toHex(encoding)).toBe(true);
        expect(ed25519Verify(encoding, MESSAGE, forged), toHex(encoding)).toBe(false);
      }
    });

    it('refuses each as R', () => {
      for (const encoding of smallOrderPointEncodings) {
        const sig = signatureWithIdentityR(encoding, MESSAGE);
        expect(ed25519Verify(PUBLIC, MESSAGE, sig), toHex(encoding)).toBe(false);
      }
      // With R the (canonical) identity the equation holds; only the small-order rule refuses it.
      const identity = hex('0100000000000000000000000000000000000000000000000000000000000000');
      const sig = signatureWithIdentityR(identity, MESSAGE);
      expect(equationHolds(PUBLIC, MESSAGE, sig)).toBe(true);
      expect(ed25519Verify(PUBLIC, MESSAGE, sig)).toBe(false);
    });
  });
});
