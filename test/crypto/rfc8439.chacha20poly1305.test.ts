/**
 * RFC 8439 (ChaCha20 and Poly1305) §2.8.2, the AEAD_CHACHA20_POLY1305 example. The sealed form
 * is ciphertext || tag.
 */
import { expect, it } from 'vitest';
import { chacha20Poly1305Open, chacha20Poly1305Seal } from '../../src/crypto/index.js';
import { DecryptionError } from '../../src/errors.js';
import { ascii, concatBytes, describeEachBackend, expectTriturusError, flipBit, hex, toHex } from './helpers.js';

const PLAINTEXT = ascii(
  "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
);
const AAD = hex('50515253c0c1c2c3c4c5c6c7');
const KEY = hex(`80 81 82 83 84 85 86 87 88 89 8a 8b 8c 8d 8e 8f
                 90 91 92 93 94 95 96 97 98 99 9a 9b 9c 9d 9e 9f`);
const NONCE = hex('07 00 00 00 40 41 42 43 44 45 46 47');
const CIPHERTEXT = hex(`d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6
                        3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36
                        92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
                        3ff4def08e4b7a9de576d26586cec64b6116`);
const TAG = hex('1ae10b594f09e26a7e902ecbd0600691');
const SEALED = concatBytes(CIPHERTEXT, TAG);

describeEachBackend('RFC 8439 §2.8.2 ChaCha20-Poly1305', () => {
  it("the plaintext is the RFC's 114 bytes", () => {
    expect(PLAINTEXT.length).toBe(114);
    expect(CIPHERTEXT.length).toBe(114);
  });

  it('seal gives ciphertext || tag', () => {
    expect(toHex(chacha20Poly1305Seal(KEY, NONCE, PLAINTEXT, AAD))).toBe(toHex(SEALED));
  });

  it('open returns the plaintext', () => {
    expect(toHex(chacha20Poly1305Open(KEY, NONCE, SEALED, AAD))).toBe(toHex(PLAINTEXT));
  });

  it('a flipped bit in the tag, the ciphertext or the AAD throws AEAD_TAG_MISMATCH', () => {
    for (const index of [114, 120, 129]) {
      expectTriturusError(
        () => chacha20Poly1305Open(KEY, NONCE, flipBit(SEALED, index, index % 8), AAD),
        DecryptionError,
        'AEAD_TAG_MISMATCH',
      );
    }
    for (const index of [0, 57, 113]) {
      expectTriturusError(
        () => chacha20Poly1305Open(KEY, NONCE, flipBit(SEALED, index, 3), AAD),
        DecryptionError,
        'AEAD_TAG_MISMATCH',
      );
    }
    for (const index of [0, 11]) {
      expectTriturusError(
        () => chacha20Poly1305Open(KEY, NONCE, SEALED, flipBit(AAD, index, 7)),
        DecryptionError,
        'AEAD_TAG_MISMATCH',
      );
    }
  });

  it('a missing AAD, another nonce, another key or a truncated input throws AEAD_TAG_MISMATCH', () => {
    expectTriturusError(() => chacha20Poly1305Open(KEY, NONCE, SEALED), DecryptionError, 'AEAD_TAG_MISMATCH');
    expectTriturusError(
      () => chacha20Poly1305Open(KEY, flipBit(NONCE, 0), SEALED, AAD),
      DecryptionError,
      'AEAD_TAG_MISMATCH',
    );
    expectTriturusError(
      () => chacha20Poly1305Open(flipBit(KEY, 31, 7), NONCE, SEALED, AAD),
      DecryptionError,
      'AEAD_TAG_MISMATCH',
    );
    for (const length of [0, 1, 15, 16, 129]) {
      expectTriturusError(
        () => chacha20Poly1305Open(KEY, NONCE, SEALED.subarray(0, length), AAD),
        DecryptionError,
        'AEAD_TAG_MISMATCH',
      );
    }
  });

  it('an empty plaintext seals to a bare 16-byte tag that opens to nothing', () => {
    const sealed = chacha20Poly1305Seal(KEY, NONCE, new Uint8Array(0), AAD);
    expect(sealed.length).toBe(16);
    expect(chacha20Poly1305Open(KEY, NONCE, sealed, AAD).length).toBe(0);
  });
});
