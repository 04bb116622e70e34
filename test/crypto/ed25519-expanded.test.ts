/**
 * Ed25519 signing from libolm's 64-byte expanded key (scalar ‖ prefix), on both backends.
 *
 * The node backend makes the nonce point r·B from OpenSSL's X25519 (src/crypto/ed25519-expanded-node.ts);
 * its results are checked here against @noble/curves' own point multiplication (an independent
 * implementation), including the scalars that must take the slow path, and its signatures against
 * the noble backend's and against libolm's, live (a libolm account's key pickled, imported, signed
 * by both), then verified strictly.
 */
import { createPublicKey, verify as nodeVerify, randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseMultiply, baseMultiplySlow, ED25519_L } from '../../src/crypto/ed25519-expanded-node.js';
import { ed25519Verify } from '../../src/crypto/index.js';
import { nobleBackend } from '../../src/crypto/noble.js';
import { nodeBackend } from '../../src/crypto/node.js';
import { accountFromLibolmPickle } from '../../src/libolm/index.js';
import { type LibolmAccount, LibolmScope, loadLibolm } from '../support/libolm.js';
import { toHex, withBackend } from './helpers.js';

const { Point } = ed25519;

function scalarOf(bytes: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(bytes).reverse().toString('hex')}`);
}

function nobleBase(r: bigint): string {
  return toHex(r === 0n ? Point.ZERO.toBytes() : Point.BASE.multiply(r).toBytes());
}

describe('r·B through X25519 (node backend)', () => {
  it('equals noble for random scalars', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 64, maxLength: 64 }), (bytes) => {
        const r = scalarOf(bytes) % ED25519_L;
        expect(toHex(baseMultiply(r))).toBe(nobleBase(r));
      }),
      { numRuns: 150 },
    );
  });

  it('equals noble for the scalars at the edges of the X25519 route, and the slow path is right too', () => {
    const j = (value: bigint) => (8n * value) % ED25519_L; // r with r·8^-1 ≡ value (mod L)
    const edges = [
      0n,
      1n,
      2n,
      7n,
      8n,
      40n,
      ED25519_L - 1n,
      ED25519_L - 8n,
      j(1n),
      j(5n), // r·8^-1 tiny: neither sign lands in [2^251, 2^252)
      j(ED25519_L - (1n << 252n)), // the largest such value
      j((1n << 252n) + 3n), // r·8^-1 ≥ 2^252
      j((1n << 252n) - 1n), // j + 1 would leave the range
      j((1n << 252n) - 2n),
      j(1n << 251n), // the lowest j in range
      j((1n << 251n) - 1n), // just below: the other sign is used
      j(ED25519_L - (1n << 251n)),
      j(ED25519_L - (1n << 251n) + 1n),
      1n << 251n,
      1n << 252n,
    ];
    for (const r of edges) {
      expect(toHex(baseMultiply(r)), `r = ${r}`).toBe(nobleBase(r));
      expect(toHex(baseMultiplySlow(r)), `slow, r = ${r}`).toBe(nobleBase(r));
    }
  });

  it('the slow path equals noble for random scalars', () => {
    for (let i = 0; i < 5; i++) {
      const r = scalarOf(Uint8Array.from(randomBytes(64))) % ED25519_L;
      expect(toHex(baseMultiplySlow(r))).toBe(nobleBase(r));
    }
  });
});

describe('signing from an expanded key: node and noble backends agree, and verify strictly', () => {
  it('public keys and signatures are identical on both backends, for any scalar and message', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 64, maxLength: 64 }),
        fc.uint8Array({ maxLength: 300 }),
        (expanded, message) => {
          const scalar = expanded.subarray(0, 32);
          const publicKey = nobleBackend.ed25519PublicKeyFromScalar(scalar);
          expect(toHex(nodeBackend.ed25519PublicKeyFromScalar(scalar))).toBe(toHex(publicKey));
          const onNoble = nobleBackend.ed25519SignExpanded(expanded, publicKey, {}, message);
          const onNode = nodeBackend.ed25519SignExpanded(expanded, publicKey, {}, message);
          expect(toHex(onNode)).toBe(toHex(onNoble));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a cached key signs as a fresh one does, and its cache holds views of the key (wiping the key wipes them)', () => {
    const expanded = Uint8Array.from(randomBytes(64));
    const publicKey = nobleBackend.ed25519PublicKeyFromScalar(expanded.subarray(0, 32));
    const message = Uint8Array.of(1, 2, 3);
    for (const backend of [nodeBackend, nobleBackend]) {
      const key = expanded.slice();
      const cache: { handle?: unknown } = {};
      const first = toHex(backend.ed25519SignExpanded(key, publicKey, cache, message));
      expect(toHex(backend.ed25519SignExpanded(key, publicKey, cache, message))).toBe(first);
      expect(toHex(backend.ed25519SignExpanded(expanded, publicKey, {}, message))).toBe(first);
      const prefix = (cache.handle as { prefix: Uint8Array }).prefix;
      expect(toHex(prefix)).toBe(toHex(expanded.subarray(32)));
      key.fill(0);
      expect(prefix.every((b) => b === 0)).toBe(true);
    }
  });
});

describe('libolm-imported accounts sign as libolm does (live libolm)', () => {
  let scope: LibolmScope;
  beforeAll(async () => {
    scope = new LibolmScope(await loadLibolm());
  });
  afterAll(() => scope.free());

  it('on both backends, for 12 libolm accounts and messages of many lengths; signatures verify strictly', () => {
    const pickleKey = 'expanded-key test';
    const utility = scope.track(new scope.olm.Utility());
    for (let n = 0; n < 12; n++) {
      const libolm: LibolmAccount = scope.account();
      const libolmEd25519 = JSON.parse(libolm.identity_keys()).ed25519 as string;
      const pickle = libolm.pickle(pickleKey);
      for (const backend of [nodeBackend, nobleBackend]) {
        withBackend(backend, () => {
          const account = accountFromLibolmPickle(pickle, pickleKey);
          expect(account.ed25519Key.toBase64()).toBe(libolmEd25519);
          const publicKey = account.ed25519Key.toBytes();
          const spki = createPublicKey({
            key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), publicKey]),
            format: 'der',
            type: 'spki',
          });
          for (const length of [0, 1, 31, 64, 100, 257]) {
            const message = 'm'.repeat(length) + n;
            const signature = account.sign(message);
            expect(signature.toBase64(), `${backend.name}, length ${length}`).toBe(libolm.sign(message));
            const bytes = signature.toBytes();
            const messageBytes = Uint8Array.from(Buffer.from(message));
            expect(ed25519Verify(publicKey, messageBytes, bytes)).toBe(true);
            expect(nodeVerify(null, messageBytes, spki, bytes)).toBe(true);
            expect(() => utility.ed25519_verify(libolmEd25519, message, signature.toBase64())).not.toThrow();
          }
        });
      }
    }
  });
});
