/**
 * RFC 7748 (Elliptic Curves for Security), X25519 known answers:
 * §5.2 the two single-step vectors and the iterated ladder (1 and 1,000 iterations; the
 * 1,000,000-iteration value is left out to keep the suite fast), §6.1 the Diffie-Hellman example.
 */
import { describe, expect, it } from 'vitest';
import { X25519SecretKey } from '../../src/crypto/index.js';
import { describeEachBackend, hex, toHex } from './helpers.js';

// A placeholder public key for fromParts: diffieHellman never reads it, and it saves a base-point
// multiplication per ladder step.
const UNUSED_PUBLIC = new Uint8Array(32);

function x25519(scalar: Uint8Array, u: Uint8Array): Uint8Array {
  return X25519SecretKey.fromParts(scalar, UNUSED_PUBLIC).diffieHellman(u);
}

describeEachBackend('RFC 7748 §5.2 X25519 test vectors', () => {
  it('vector 1', () => {
    const k = hex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4');
    const u = hex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c');
    expect(toHex(X25519SecretKey.fromBytes(k).diffieHellman(u))).toBe(
      'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552',
    );
  });

  it('vector 2 (u has bit 255 set, which must be masked)', () => {
    const k = hex('4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d');
    const u = hex('e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493');
    expect(toHex(X25519SecretKey.fromBytes(k).diffieHellman(u))).toBe(
      '95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957',
    );
  });

  it('iterated: after one and after 1,000 iterations', () => {
    let k: Uint8Array = hex('0900000000000000000000000000000000000000000000000000000000000000');
    let u: Uint8Array = k.slice();
    for (let i = 1; i <= 1000; i++) {
      const r = x25519(k, u);
      u = k;
      k = r;
      if (i === 1) expect(toHex(k)).toBe('422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079');
    }
    expect(toHex(k)).toBe('684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51');
  });
});

describeEachBackend('RFC 7748 §6.1 Curve25519 Diffie-Hellman', () => {
  const alicePrivate = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
  const alicePublic = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a';
  const bobPrivate = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
  const bobPublic = 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f';
  const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';

  it("Alice's and Bob's public keys", () => {
    expect(toHex(X25519SecretKey.fromBytes(alicePrivate).publicKey)).toBe(alicePublic);
    expect(toHex(X25519SecretKey.fromBytes(bobPrivate).publicKey)).toBe(bobPublic);
  });

  it('both sides compute the same shared secret K', () => {
    expect(toHex(X25519SecretKey.fromBytes(alicePrivate).diffieHellman(hex(bobPublic)))).toBe(shared);
    expect(toHex(X25519SecretKey.fromBytes(bobPrivate).diffieHellman(hex(alicePublic)))).toBe(shared);
  });

  it('a key from fromParts (no recomputation) gives the same secret, and publicKey is the one given', () => {
    const alice = X25519SecretKey.fromParts(alicePrivate, hex(alicePublic));
    expect(toHex(alice.publicKey)).toBe(alicePublic);
    expect(toHex(alice.diffieHellman(hex(bobPublic)))).toBe(shared);
  });

  it('fromBytes copies its input: mutating the caller array afterwards changes nothing', () => {
    const secret = alicePrivate.slice();
    const alice = X25519SecretKey.fromBytes(secret);
    secret.fill(0);
    expect(toHex(alice.toBytes())).toBe(toHex(alicePrivate));
    expect(toHex(alice.diffieHellman(hex(bobPublic)))).toBe(shared);
  });
});

describe('RFC 7748 §5: non-canonical u-coordinates are reduced modulo p', () => {
  describeEachBackend('u = p + 9 acts as u = 9', () => {
    it('gives the same output as the base point', () => {
      const k = hex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4');
      const nine = hex('0900000000000000000000000000000000000000000000000000000000000000');
      // p + 9 = 2^255 - 10, little-endian.
      const pPlusNine = hex('f6ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f');
      expect(toHex(x25519(k, pPlusNine))).toBe(toHex(x25519(k, nine)));
      expect(toHex(x25519(k, nine))).toBe(toHex(X25519SecretKey.fromBytes(k).publicKey));
    });
  });
});
