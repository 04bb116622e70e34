/**
 * The hand-written AES-256-CBC/CTR of the pure-JavaScript backend (src/crypto/aes.ts) against node:crypto
 * (OpenSSL): every plaintext length from 0 to 80 in both modes, CTR counters that carry across every word
 * and wrap at 2^128, and corrupted paddings refused exactly where OpenSSL refuses them.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { aes256CbcDecrypt, aes256CbcEncrypt, aes256Ctr } from '../../src/crypto/aes.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function opensslCbcDecrypt(key: Uint8Array, iv: Uint8Array, c: Uint8Array): string | undefined {
  try {
    const d = createDecipheriv('aes-256-cbc', key, iv);
    return hex(Buffer.concat([d.update(c), d.final()]));
  } catch {
    return undefined;
  }
}

describe('AES-256 in JavaScript (the noble backend) == OpenSSL', () => {
  it('CBC with PKCS#7 and CTR, every length from 0 to 80', () => {
    for (let length = 0; length <= 80; length++) {
      const key = randomBytes(32);
      const iv = randomBytes(16);
      const data = randomBytes(length);
      const cbc = createCipheriv('aes-256-cbc', key, iv);
      const expected = Buffer.concat([cbc.update(data), cbc.final()]);
      const sealed = aes256CbcEncrypt(key, iv, data);
      expect(hex(sealed)).toBe(hex(expected));
      expect(hex(aes256CbcDecrypt(key, iv, sealed)!)).toBe(hex(data));
      const ctr = createCipheriv('aes-256-ctr', key, iv);
      expect(hex(aes256Ctr(key, iv, data))).toBe(hex(Buffer.concat([ctr.update(data), ctr.final()])));
    }
  });

  it('CTR counters carry across each 32-bit word and wrap at 2^128', () => {
    const key = randomBytes(32);
    const data = randomBytes(16 * 5);
    for (const start of [
      '000000000000000000000000fffffffe',
      '0000000000000000fffffffffffffffe',
      '00000000fffffffffffffffffffffffe',
      'fffffffffffffffffffffffffffffffe',
      '0123456789abcdef0123456789abcdef',
    ]) {
      const iv = Buffer.from(start, 'hex');
      const ctr = createCipheriv('aes-256-ctr', key, iv);
      expect(hex(aes256Ctr(key, iv, data))).toBe(hex(Buffer.concat([ctr.update(data), ctr.final()])));
    }
  });

  it('a corrupted last block is refused as OpenSSL refuses it (and never returned)', () => {
    let refused = 0;
    for (let i = 0; i < 300; i++) {
      const key = randomBytes(32);
      const iv = randomBytes(16);
      const sealed = aes256CbcEncrypt(key, iv, randomBytes(i % 40));
      // One byte of the block before the last (the IV for a one-block message) changes a byte of the last plaintext block.
      const at = sealed.length - 17 - (i % 16);
      if (at >= 0) sealed[at]! ^= 1 + (i % 255);
      else iv[16 + at]! ^= 1 + (i % 255);
      const ours = aes256CbcDecrypt(key, iv, sealed);
      const theirs = opensslCbcDecrypt(key, iv, sealed);
      expect(ours === undefined ? undefined : hex(ours)).toBe(theirs);
      if (ours === undefined) refused++;
    }
    expect(refused).toBeGreaterThan(0);
  });
});
