/**
 * NIST SP 800-38A Appendix F: F.2.5/F.2.6 CBC-AES256 and F.5.5/F.5.6 CTR-AES256.
 * The CBC vectors are unpadded; our CBC always adds PKCS#7, so encryption of the four blocks must
 * start with the vector's 64 bytes and end with the encryption of a full padding block (16 × 0x10)
 * chained from the last ciphertext block, computed independently with node:crypto (AES-ECB).
 */
import { createCipheriv } from 'node:crypto';
import { expect, it } from 'vitest';
import { aes256CbcDecrypt, aes256CbcEncrypt, aes256Ctr } from '../../src/crypto/index.js';
import { DecryptionError } from '../../src/errors.js';
import { concatBytes, describeEachBackend, expectTriturusError, hex, toHex } from './helpers.js';

const KEY = hex('603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4');
const PLAINTEXT = hex(`6bc1bee22e409f96e93d7e117393172a
                       ae2d8a571e03ac9c9eb76fac45af8e51
                       30c81c46a35ce411e5fbc1191a0a52ef
                       f69f2445df4f9b17ad2b417be66c3710`);

// F.2.5 CBC-AES256.Encrypt / F.2.6 CBC-AES256.Decrypt
const CBC_IV = hex('000102030405060708090a0b0c0d0e0f');
const CBC_CIPHERTEXT = hex(`f58c4c04d6e5f1ba779eabfb5f7bfbd6
                            9cfc4e967edb808d679f777bc6702c7d
                            39f23369a9d9bacfa530e26304231461
                            b2eb05e2c39be9fcda6c19078c6a9d1b`);

// F.5.5 CTR-AES256.Encrypt / F.5.6 CTR-AES256.Decrypt
const CTR_COUNTER = hex('f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff');
const CTR_CIPHERTEXT = hex(`601ec313775789a5b7a7f504bbf3d228
                            f443e3ca4d62b59aca84e990cacaf5c5
                            2b0930daa23de94ce87017ba2d84988d
                            dfc9c58db67aada613c2dd08457941a6`);

/** E_K(previous XOR 16 × 0x10): the CBC encryption of a full PKCS#7 padding block. */
function paddingBlockAfter(previous: Uint8Array): Uint8Array {
  const input = previous.map((b) => b ^ 0x10);
  const ecb = createCipheriv('aes-256-ecb', KEY, null);
  ecb.setAutoPadding(false);
  return Uint8Array.from(Buffer.concat([ecb.update(input), ecb.final()]));
}

describeEachBackend('NIST SP 800-38A CBC-AES256', () => {
  it('F.2.5 encrypt: the four vector blocks, then one full padding block', () => {
    const out = aes256CbcEncrypt(KEY, CBC_IV, PLAINTEXT);
    expect(out.length).toBe(80);
    expect(toHex(out.subarray(0, 64))).toBe(toHex(CBC_CIPHERTEXT));
    expect(toHex(out.subarray(64))).toBe(toHex(paddingBlockAfter(CBC_CIPHERTEXT.subarray(48))));
  });

  it('F.2.5 encrypt, block by block: each prefix of whole blocks', () => {
    for (let blocks = 1; blocks <= 4; blocks++) {
      const out = aes256CbcEncrypt(KEY, CBC_IV, PLAINTEXT.subarray(0, 16 * blocks));
      expect(toHex(out.subarray(0, 16 * blocks))).toBe(toHex(CBC_CIPHERTEXT.subarray(0, 16 * blocks)));
      expect(out.length).toBe(16 * blocks + 16);
    }
  });

  it('F.2.6 decrypt: the vector ciphertext plus its padding block gives the plaintext', () => {
    const padded = concatBytes(CBC_CIPHERTEXT, paddingBlockAfter(CBC_CIPHERTEXT.subarray(48)));
    expect(toHex(aes256CbcDecrypt(KEY, CBC_IV, padded))).toBe(toHex(PLAINTEXT));
  });

  it('F.2.6 decrypt of the bare, unpadded vector is refused: its last byte is 0x10 but the block is not 16 × 0x10', () => {
    expect(PLAINTEXT[63]).toBe(0x10);
    expectTriturusError(() => aes256CbcDecrypt(KEY, CBC_IV, CBC_CIPHERTEXT), DecryptionError, 'PADDING_INVALID');
  });
});

describeEachBackend('NIST SP 800-38A CTR-AES256', () => {
  it('F.5.5 encrypt', () => {
    expect(toHex(aes256Ctr(KEY, CTR_COUNTER, PLAINTEXT))).toBe(toHex(CTR_CIPHERTEXT));
  });

  it('F.5.6 decrypt', () => {
    expect(toHex(aes256Ctr(KEY, CTR_COUNTER, CTR_CIPHERTEXT))).toBe(toHex(PLAINTEXT));
  });

  it('F.5.5 on partial lengths: the keystream is a prefix whatever the length', () => {
    for (const n of [0, 1, 15, 16, 17, 31, 33, 47, 63]) {
      expect(toHex(aes256Ctr(KEY, CTR_COUNTER, PLAINTEXT.subarray(0, n))), `length ${n}`).toBe(
        toHex(CTR_CIPHERTEXT.subarray(0, n)),
      );
    }
  });

  it('does not modify its inputs', () => {
    const key = KEY.slice();
    const counter = CTR_COUNTER.slice();
    const data = PLAINTEXT.slice();
    aes256Ctr(key, counter, data);
    expect(toHex(key)).toBe(toHex(KEY));
    expect(toHex(counter)).toBe(toHex(CTR_COUNTER));
    expect(toHex(data)).toBe(toHex(PLAINTEXT));
  });
});
