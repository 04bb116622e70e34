/**
 * Strict PKCS#7 in AES-256-CBC decryption: every padding byte is checked, not only the last.
 * Ciphertexts with chosen (bad) padding are built with node:crypto's raw AES-256-CBC, so the
 * oracle is independent of the code under test.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { aes256CbcDecrypt, aes256CbcEncrypt } from '../../src/crypto/index.js';
import { checkPkcs7 } from '../../src/crypto/padding.js';
import { DecryptionError } from '../../src/errors.js';
import { concatBytes, describeEachBackend, expectTriturusError, toHex } from './helpers.js';

const KEY = Uint8Array.from({ length: 32 }, (_, i) => i * 7 + 1);
const IV = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);

/** Raw AES-256-CBC over whole blocks, no padding added. */
function rawEncrypt(plaintext: Uint8Array, key = KEY, iv = IV): Uint8Array {
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  cipher.setAutoPadding(false);
  return Uint8Array.from(Buffer.concat([cipher.update(plaintext), cipher.final()]));
}

/** A message of `body` bytes followed by a final block whose last `padLength` bytes are `pad`. */
function withPadding(body: number, padLength: number, pad: number): Uint8Array {
  const total = body + padLength;
  expect(total % 16).toBe(0);
  const out = new Uint8Array(total);
  for (let i = 0; i < body; i++) out[i] = (i * 31 + 5) & 0xff;
  out.fill(pad, body);
  return out;
}

/** Reference check: the last byte n in 1..16 and the last n bytes all equal to n. */
function referencePkcs7(padded: Uint8Array): number {
  if (padded.length === 0 || padded.length % 16 !== 0) return -1;
  const n = padded[padded.length - 1]!;
  if (n < 1 || n > 16) return -1;
  for (let i = padded.length - n; i < padded.length; i++) if (padded[i] !== n) return -1;
  return padded.length - n;
}

describeEachBackend('AES-256-CBC strict PKCS#7', () => {
  it('every valid pad length 1..16, after 0, 1 and 2 full blocks, decrypts to the body', () => {
    for (const blocks of [0, 1, 2]) {
      for (let n = 1; n <= 16; n++) {
        const plain = withPadding(16 * blocks + 16 - n, n, n);
        const out = aes256CbcDecrypt(KEY, IV, rawEncrypt(plain));
        expect(toHex(out)).toBe(toHex(plain.subarray(0, plain.length - n)));
      }
    }
  });

  it('a wrong byte in ANY padding position (not only the last) throws PADDING_INVALID', () => {
    for (const blocks of [0, 1]) {
      for (let n = 2; n <= 16; n++) {
        for (let position = 0; position < n - 1; position++) {
          const plain = withPadding(16 * blocks + 16 - n, n, n);
          const index = plain.length - n + position;
          for (const wrong of [n ^ 1, 0, 0xff, n + 1]) {
            if (wrong === n) continue;
            plain[index] = wrong;
            expectTriturusError(() => aes256CbcDecrypt(KEY, IV, rawEncrypt(plain)), DecryptionError, 'PADDING_INVALID');
          }
        }
      }
    }
  });

  it('pad byte 0 throws PADDING_INVALID, whatever precedes it', () => {
    for (const filler of [0, 1, 0x10]) {
      const plain = new Uint8Array(32).fill(filler);
      plain[31] = 0;
      expectTriturusError(() => aes256CbcDecrypt(KEY, IV, rawEncrypt(plain)), DecryptionError, 'PADDING_INVALID');
    }
  });

  it('pad byte > 16 throws PADDING_INVALID, even when that many bytes before it match', () => {
    for (const pad of [17, 18, 0x20, 0x7f, 0x80, 0xfe, 0xff]) {
      // 48 bytes all equal to the pad byte: a lax check that only compares bytes would accept 17..48.
      const plain = new Uint8Array(48).fill(pad);
      expectTriturusError(() => aes256CbcDecrypt(KEY, IV, rawEncrypt(plain)), DecryptionError, 'PADDING_INVALID');
    }
  });

  it('only the last block carries padding: a bad earlier "padding" is just data', () => {
    const plain = concatBytes(new Uint8Array(16).fill(0), new Uint8Array(16).fill(16));
    expect(toHex(aes256CbcDecrypt(KEY, IV, rawEncrypt(plain)))).toBe(toHex(new Uint8Array(16)));
  });

  it('empty and non-multiple-of-16 ciphertexts throw CIPHERTEXT_INVALID_LENGTH', () => {
    const valid = aes256CbcEncrypt(KEY, IV, new Uint8Array(40));
    for (const length of [0, 1, 15, 17, 31, 33, 47]) {
      const error = expectTriturusError(
        () => aes256CbcDecrypt(KEY, IV, valid.subarray(0, length)),
        DecryptionError,
        'CIPHERTEXT_INVALID_LENGTH',
      );
      expect(error.details.actual).toBe(length);
    }
  });

  it('random plaintexts round-trip, and match node:crypto with its own PKCS#7', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (plain, key) => {
        const sealed = aes256CbcEncrypt(key, IV, plain);
        expect(sealed.length).toBe((Math.floor(plain.length / 16) + 1) * 16);
        const reference = createCipheriv('aes-256-cbc', key, IV);
        expect(toHex(sealed)).toBe(Buffer.concat([reference.update(plain), reference.final()]).toString('hex'));
        expect(toHex(aes256CbcDecrypt(key, IV, sealed))).toBe(toHex(plain));
        const decipher = createDecipheriv('aes-256-cbc', key, IV);
        expect(Buffer.concat([decipher.update(sealed), decipher.final()]).toString('hex')).toBe(toHex(plain));
      }),
      { numRuns: 200 },
    );
  });

  it('random last blocks: decryption succeeds exactly when the reference PKCS#7 check does', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.integer({ min: 0, max: 17 }),
        fc.integer({ min: 1, max: 17 }),
        (block, padLength, padValue) => {
          // Bias towards near-valid padding: the last padLength bytes set to padValue.
          const plain = block.slice();
          plain.fill(padValue, 16 - Math.min(padLength, 16));
          const expected = referencePkcs7(plain);
          const ciphertext = rawEncrypt(plain);
          if (expected < 0) {
            expectTriturusError(() => aes256CbcDecrypt(KEY, IV, ciphertext), DecryptionError, 'PADDING_INVALID');
          } else {
            expect(toHex(aes256CbcDecrypt(KEY, IV, ciphertext))).toBe(toHex(plain.subarray(0, expected)));
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('checkPkcs7 (padding.ts) against a reference implementation', () => {
  it('agrees for every last byte 0..255 over prefixes of every shape', () => {
    for (let last = 0; last < 256; last++) {
      for (let matching = 0; matching <= 16; matching++) {
        const block = new Uint8Array(32).fill(0x5a);
        block.fill(last, 32 - Math.max(matching, 1));
        block[31] = last;
        expect(checkPkcs7(block), `last ${last}, matching ${matching}`).toBe(referencePkcs7(block));
      }
    }
  });

  it('refuses lengths that are not a positive multiple of 16', () => {
    for (const length of [0, 1, 15, 17]) expect(checkPkcs7(new Uint8Array(length).fill(1))).toBe(-1);
  });
});
