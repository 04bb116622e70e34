/**
 * PBKDF2-HMAC-SHA512 and HKDF-SHA512 have no RFC test vectors; both are cross-checked on random
 * inputs against node:crypto (pbkdf2Sync, hkdfSync) and @noble/hashes, on both backends.
 */
import { hkdfSync, pbkdf2Sync } from 'node:crypto';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha512 as nobleSha512 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { hkdfSha512, pbkdf2HmacSha512 } from '../../src/crypto/index.js';
import { ascii, describeEachBackend, toHex } from './helpers.js';

const bytes = (maxLength: number) => fc.uint8Array({ maxLength });

describeEachBackend('PBKDF2-HMAC-SHA512 against node:crypto pbkdf2Sync', () => {
  it('fixed cases, including lengths across the 64-byte block', () => {
    const password = ascii('password');
    const salt = ascii('salt');
    for (const [iterations, length] of [
      [1, 64],
      [2, 64],
      [1, 1],
      [3, 65],
      [1000, 32],
      [5, 200],
    ] as const) {
      expect(toHex(pbkdf2HmacSha512(password, salt, iterations, length))).toBe(
        pbkdf2Sync(password, salt, iterations, length, 'sha512').toString('hex'),
      );
    }
  });

  it('random passwords (incl. longer than the 128-byte block), salts, iterations and lengths', () => {
    fc.assert(
      fc.property(
        bytes(300),
        bytes(100),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 300 }),
        (password, salt, iterations, length) => {
          expect(toHex(pbkdf2HmacSha512(password, salt, iterations, length))).toBe(
            pbkdf2Sync(password, salt, iterations, length, 'sha512').toString('hex'),
          );
        },
      ),
      { numRuns: 60 },
    );
  });
});

describeEachBackend('HKDF-SHA512 against node:crypto hkdfSync and @noble/hashes', () => {
  it('random inputs, lengths 1..1000', () => {
    fc.assert(
      fc.property(bytes(300), bytes(300), bytes(300), fc.integer({ min: 1, max: 1000 }), (ikm, salt, info, length) => {
        const ours = toHex(hkdfSha512(ikm, salt, info, length));
        expect(ours).toBe(Buffer.from(hkdfSync('sha512', ikm, salt, info, length)).toString('hex'));
        expect(ours).toBe(toHex(hkdf(nobleSha512, ikm, salt, info, length)));
      }),
      { numRuns: 100 },
    );
  });

  it('the maximum output, 255 × 64 = 16320 bytes', () => {
    const ikm = ascii('input keying material');
    const ours = toHex(hkdfSha512(ikm, new Uint8Array(0), ascii('info'), 16320));
    expect(ours).toBe(Buffer.from(hkdfSync('sha512', ikm, new Uint8Array(0), ascii('info'), 16320)).toString('hex'));
  });

  it('an empty salt equals a 64-byte zero salt (RFC 5869 §2.2)', () => {
    const ikm = ascii('ikm');
    expect(toHex(hkdfSha512(ikm, new Uint8Array(0), ascii('x'), 80))).toBe(
      toHex(hkdfSha512(ikm, new Uint8Array(64), ascii('x'), 80)),
    );
  });
});
