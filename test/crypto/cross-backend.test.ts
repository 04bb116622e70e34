/**
 * Property tests: the node backend and the noble backend give identical results for every
 * primitive, on random inputs (lengths 0..300, block boundaries, some large), through the public
 * face with each backend switched in turn. Both are also checked against node:crypto where a
 * primitive has an independent reference there.
 */
import { createHash, createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as crypto from '../../src/crypto/index.js';
import { nobleBackend } from '../../src/crypto/noble.js';
import { nodeBackend } from '../../src/crypto/node.js';
import { expandSeed, toHex, withBackend } from './helpers.js';

/** Runs `fn` under each backend and asserts the results are equal; returns the node result. */
function same<T>(fn: () => T, show: (value: T) => unknown = (v) => (v instanceof Uint8Array ? toHex(v) : v)): T {
  const onNode = withBackend(nodeBackend, fn);
  const onNoble = withBackend(nobleBackend, fn);
  expect(show(onNoble)).toEqual(show(onNode));
  return onNode;
}

/** Throws or returns, as a comparable value. */
function outcome(fn: () => Uint8Array): string {
  try {
    return toHex(fn());
  } catch (error) {
    return `throws ${(error as { code?: string }).code ?? String(error)}`;
  }
}

// Lengths around SHA-256/512 block and padding boundaries, and around the node backend's switch
// from the tuned JavaScript SHA-256 to OpenSSL (192 bytes for a hash, 320 for an HMAC).
const BOUNDARY_LENGTHS = [
  0, 1, 31, 32, 33, 55, 56, 57, 63, 64, 65, 111, 112, 113, 119, 120, 127, 128, 129, 191, 192, 193, 239, 240, 255, 256,
  319, 320, 321,
];

const data = fc.oneof(
  { weight: 6, arbitrary: fc.uint8Array({ maxLength: 300 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(...BOUNDARY_LENGTHS).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
  },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 300, maxLength: 5000 }) },
);
// Views into a larger buffer at an odd offset, to catch code that ignores byteOffset.
const viewed = fc.tuple(data, fc.integer({ min: 1, max: 15 })).map(([bytes, offset]) => {
  const backing = new Uint8Array(bytes.length + offset + 7).fill(0xee);
  backing.set(bytes, offset);
  return backing.subarray(offset, offset + bytes.length);
});
const anyData = fc.oneof(data, viewed);
const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const iv16 = fc.uint8Array({ minLength: 16, maxLength: 16 });
const nonce12 = fc.uint8Array({ minLength: 12, maxLength: 12 });
const hmacKey = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc.constantFrom(0, 1, 63, 64, 65, 127, 128, 129).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
);

const LARGE = Uint8Array.from({ length: 1 << 17 }, (_, i) => (i * 2654435761) >>> 24);

describe('node backend == noble backend: hashes and MACs', () => {
  it('sha256 (and == node:crypto)', () => {
    fc.assert(
      fc.property(anyData, (d) => {
        expect(toHex(same(() => crypto.sha256(d)))).toBe(createHash('sha256').update(d).digest('hex'));
      }),
      { numRuns: 300 },
    );
  });

  it('sha512 (and == node:crypto)', () => {
    fc.assert(
      fc.property(anyData, (d) => {
        expect(toHex(same(() => crypto.sha512(d)))).toBe(createHash('sha512').update(d).digest('hex'));
      }),
      { numRuns: 300 },
    );
  });

  it('hmacSha256, keys shorter and longer than the 64-byte block (and == node:crypto)', () => {
    fc.assert(
      fc.property(hmacKey, anyData, (k, d) => {
        expect(toHex(same(() => crypto.hmacSha256(k, d)))).toBe(createHmac('sha256', k).update(d).digest('hex'));
      }),
      { numRuns: 300 },
    );
  });

  it('hmacSha512, keys shorter and longer than the 128-byte block (and == node:crypto)', () => {
    fc.assert(
      fc.property(hmacKey, anyData, (k, d) => {
        expect(toHex(same(() => crypto.hmacSha512(k, d)))).toBe(createHmac('sha512', k).update(d).digest('hex'));
      }),
      { numRuns: 300 },
    );
  });

  it('every boundary length, exhaustively, for all four', () => {
    for (const n of BOUNDARY_LENGTHS) {
      const d = Uint8Array.from({ length: n }, (_, i) => (i * 7 + n) & 0xff);
      for (const k of [new Uint8Array(0), new Uint8Array(64).fill(1), new Uint8Array(129).fill(2)]) {
        same(() => crypto.hmacSha256(k, d));
        same(() => crypto.hmacSha512(k, d));
      }
      same(() => crypto.sha256(d));
      same(() => crypto.sha512(d));
    }
  });

  it('large inputs (128 KiB)', () => {
    expect(toHex(same(() => crypto.sha256(LARGE)))).toBe(createHash('sha256').update(LARGE).digest('hex'));
    expect(toHex(same(() => crypto.sha512(LARGE)))).toBe(createHash('sha512').update(LARGE).digest('hex'));
    same(() => crypto.hmacSha256(LARGE.subarray(0, 100), LARGE));
    same(() => crypto.hmacSha512(LARGE.subarray(0, 200), LARGE));
  });
});

describe('node backend == noble backend: KDFs', () => {
  it('hkdfSha512', () => {
    fc.assert(
      fc.property(
        anyData,
        fc.uint8Array({ maxLength: 200 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.integer({ min: 1, max: 2000 }),
        (ikm, salt, info, n) => {
          same(() => crypto.hkdfSha512(ikm, salt, info, n));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('hkdfSha256 (the same tuned code under either backend, but through the face)', () => {
    fc.assert(
      fc.property(
        anyData,
        fc.uint8Array({ maxLength: 200 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.integer({ min: 1, max: 2000 }),
        (ikm, salt, info, n) => {
          same(() => crypto.hkdfSha256(ikm, salt, info, n));
        },
      ),
      { numRuns: 50 },
    );
  });

  it('pbkdf2HmacSha512', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.uint8Array({ maxLength: 64 }),
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 1, max: 200 }),
        (password, salt, iterations, n) => {
          same(() => crypto.pbkdf2HmacSha512(password, salt, iterations, n));
        },
      ),
      { numRuns: 50 },
    );
  });
});

describe('node backend == noble backend: ciphers', () => {
  it('AES-256-CBC encrypt and decrypt', () => {
    fc.assert(
      fc.property(key32, iv16, anyData, (k, iv, d) => {
        const sealed = same(() => crypto.aes256CbcEncrypt(k, iv, d));
        expect(toHex(same(() => crypto.aes256CbcDecrypt(k, iv, sealed)))).toBe(toHex(d));
      }),
      { numRuns: 200 },
    );
  });

  it('AES-256-CBC decryption of random (mostly badly padded) ciphertexts: same result or same error', () => {
    fc.assert(
      fc.property(
        key32,
        iv16,
        fc
          .integer({ min: 0, max: 6 })
          .chain((blocks) => fc.uint8Array({ minLength: 16 * blocks, maxLength: 16 * blocks })),
        (k, iv, c) => {
          same(() => outcome(() => crypto.aes256CbcDecrypt(k, iv, c)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('AES-256-CTR, including counters about to wrap', () => {
    const wrapping = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((iv) => {
      const out = iv.slice();
      out.fill(0xff, 8 + (iv[0]! % 8));
      return out;
    });
    fc.assert(
      fc.property(key32, fc.oneof(iv16, wrapping), anyData, (k, iv, d) => {
        const out = same(() => crypto.aes256Ctr(k, iv, d));
        expect(toHex(same(() => crypto.aes256Ctr(k, iv, out)))).toBe(toHex(d));
      }),
      { numRuns: 200 },
    );
  });

  it('ChaCha20-Poly1305 seal and open, and tampering refused by both', () => {
    fc.assert(
      fc.property(key32, nonce12, anyData, fc.uint8Array({ maxLength: 100 }), fc.nat(), (k, nonce, d, aad, where) => {
        const sealed = same(() => crypto.chacha20Poly1305Seal(k, nonce, d, aad));
        expect(sealed.length).toBe(d.length + 16);
        expect(toHex(same(() => crypto.chacha20Poly1305Open(k, nonce, sealed, aad)))).toBe(toHex(d));
        const tampered = sealed.slice();
        tampered[where % tampered.length]! ^= 1 << (where % 8);
        expect(same(() => outcome(() => crypto.chacha20Poly1305Open(k, nonce, tampered, aad)))).toBe(
          'throws AEAD_TAG_MISMATCH',
        );
      }),
      { numRuns: 200 },
    );
  });
});

describe('node backend == noble backend: X25519', () => {
  it('public keys and Diffie-Hellman (both directions agree)', () => {
    fc.assert(
      fc.property(key32, key32, (a, b) => {
        const aPublic = same(() => crypto.X25519SecretKey.fromBytes(a).publicKey);
        const bPublic = same(() => crypto.X25519SecretKey.fromBytes(b).publicKey);
        const ab = same(() => crypto.X25519SecretKey.fromBytes(a).diffieHellman(bPublic));
        const ba = same(() => crypto.X25519SecretKey.fromBytes(b).diffieHellman(aPublic));
        expect(toHex(ab)).toBe(toHex(ba));
        expect(toHex(same(() => crypto.X25519SecretKey.fromParts(a, aPublic).diffieHellman(bPublic)))).toBe(toHex(ab));
      }),
      { numRuns: 100 },
    );
  });

  it('arbitrary peer u-coordinates (bit 255 and values >= p included): same output or same error', () => {
    fc.assert(
      fc.property(key32, key32, (a, u) => {
        same(() => outcome(() => crypto.X25519SecretKey.fromBytes(a).diffieHellman(u)));
        // Bit 255 is ignored (RFC 7748 §5).
        const masked = u.slice();
        masked[31]! &= 0x7f;
        const high = u.slice();
        high[31]! |= 0x80;
        const onMasked = same(() => outcome(() => crypto.X25519SecretKey.fromBytes(a).diffieHellman(masked)));
        expect(same(() => outcome(() => crypto.X25519SecretKey.fromBytes(a).diffieHellman(high)))).toBe(onMasked);
      }),
      { numRuns: 100 },
    );
  });
});

describe('node backend == noble backend: Ed25519', () => {
  it('public key, signature from the seed, signature from the expanded key, verification', () => {
    fc.assert(
      fc.property(key32, anyData, (seed, message) => {
        const publicKey = same(() => crypto.Ed25519SecretKey.fromSeed(seed).publicKey);
        const signature = same(() => crypto.Ed25519SecretKey.fromSeed(seed).sign(message));
        const expanded = expandSeed(seed);
        expect(toHex(same(() => crypto.Ed25519SecretKey.fromSeed(seed).expandedBytes()))).toBe(toHex(expanded));
        expect(toHex(same(() => crypto.Ed25519SecretKey.fromExpanded(expanded).publicKey))).toBe(toHex(publicKey));
        expect(toHex(same(() => crypto.Ed25519SecretKey.fromExpanded(expanded).sign(message)))).toBe(toHex(signature));
        expect(same(() => crypto.ed25519Verify(publicKey, message, signature))).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('libolm expanded keys that are not SHA-512 of any known seed (random clamped scalar and prefix)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 64, maxLength: 64 }),
        fc.uint8Array({ maxLength: 100 }),
        (raw, message) => {
          const expanded = raw.slice();
          expanded[0]! &= 248;
          expanded[31]! &= 127;
          expanded[31]! |= 64;
          const publicKey = same(() => crypto.Ed25519SecretKey.fromExpanded(expanded).publicKey);
          const signature = same(() => crypto.Ed25519SecretKey.fromExpanded(expanded).sign(message));
          expect(same(() => crypto.ed25519Verify(publicKey, message, signature))).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('verification of random and tampered signatures: same verdict', () => {
    fc.assert(
      fc.property(
        key32,
        fc.uint8Array({ maxLength: 100 }),
        fc.nat(),
        fc.uint8Array({ minLength: 64, maxLength: 64 }),
        (seed, message, where, junk) => {
          const key = withBackend(nodeBackend, () => crypto.Ed25519SecretKey.fromSeed(seed));
          const publicKey = withBackend(nodeBackend, () => key.publicKey);
          const signature = withBackend(nodeBackend, () => key.sign(message));
          const tampered = signature.slice();
          tampered[where % 64]! ^= 1 << (where % 8);
          expect(same(() => crypto.ed25519Verify(publicKey, message, tampered))).toBe(false);
          same(() => crypto.ed25519Verify(publicKey, message, junk));
          same(() => crypto.ed25519Verify(junk.subarray(0, 32), message, signature));
        },
      ),
      { numRuns: 100 },
    );
  });
});
