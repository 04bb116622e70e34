/**
 * AES-GCM (NIST SP 800-38D), checked on both backends against the GCM specification's test
 * case 4 (AES-128, 96-bit IV, AAD, 60-byte plaintext) and an AES-256 case, and against the
 * failure modes that must throw.
 */
import { expect, it } from 'vitest';
import { aesGcmOpen, aesGcmSeal } from '../../src/crypto/index.js';
import { DecryptionError } from '../../src/errors.js';
import { concatBytes, describeEachBackend, expectTriturusError, flipBit, hex, toHex } from './helpers.js';

// McGrew & Viega, "The Galois/Counter Mode of Operation", test case 4.
const KEY = hex('feffe9928665731c6d6a8f9467308308');
const IV = hex('cafebabefacedbaddecaf888');
const PLAINTEXT = hex(`d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
                       1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39`);
const AAD = hex('feedfacedeadbeeffeedfacedeadbeefabaddad2');
const CIPHERTEXT = hex(`42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e
                        21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091`);
const TAG = hex('5bc94fbc3221a5db94fae95ae7121a47');

// The same document, test case 16 (AES-256 with the 96-bit IV and AAD).
const KEY256 = hex('feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308');
const CIPHERTEXT256 = hex(`522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa
                           8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662`);
const TAG256 = hex('76fc6ece0f4e1768cddf8853bb2d551b');

describeEachBackend('AES-GCM (SP 800-38D)', () => {
  it('AES-128 test case 4: seal gives ciphertext || tag, open returns the plaintext', () => {
    expect(toHex(aesGcmSeal(KEY, IV, PLAINTEXT, AAD))).toBe(toHex(concatBytes(CIPHERTEXT, TAG)));
    expect(toHex(aesGcmOpen(KEY, IV, concatBytes(CIPHERTEXT, TAG), AAD))).toBe(toHex(PLAINTEXT));
  });

  it('AES-256 test case 16', () => {
    expect(toHex(aesGcmSeal(KEY256, IV, PLAINTEXT, AAD))).toBe(toHex(concatBytes(CIPHERTEXT256, TAG256)));
    expect(toHex(aesGcmOpen(KEY256, IV, concatBytes(CIPHERTEXT256, TAG256), AAD))).toBe(toHex(PLAINTEXT));
  });

  it('empty AAD and empty plaintext round trip', () => {
    const sealed = aesGcmSeal(KEY, IV, new Uint8Array(0));
    expect(sealed.length).toBe(16);
    expect(aesGcmOpen(KEY, IV, sealed).length).toBe(0);
  });

  it('a flipped bit in the tag, the ciphertext or the AAD throws AEAD_TAG_MISMATCH', () => {
    const sealed = concatBytes(CIPHERTEXT, TAG);
    for (const index of [0, 59, 60, 75]) {
      expectTriturusError(() => aesGcmOpen(KEY, IV, flipBit(sealed, index), AAD), DecryptionError, 'AEAD_TAG_MISMATCH');
    }
    expectTriturusError(() => aesGcmOpen(KEY, IV, sealed, flipBit(AAD, 3)), DecryptionError, 'AEAD_TAG_MISMATCH');
    expectTriturusError(() => aesGcmOpen(KEY, IV, sealed.subarray(0, 15), AAD), DecryptionError, 'AEAD_TAG_MISMATCH');
  });

  it('refuses keys other than 16 or 32 bytes and nonces other than 12', () => {
    expect(() => aesGcmSeal(new Uint8Array(24), IV, PLAINTEXT)).toThrow(/16 or 32 bytes/);
    expect(() => aesGcmSeal(KEY, new Uint8Array(16), PLAINTEXT)).toThrow(/12 bytes/);
  });
});
