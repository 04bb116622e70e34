/**
 * The Megolm ratchet's specialised HMAC (src/crypto/hmac-sha256-byte.ts: 32-byte key, one-byte
 * message, four SHA-256 compressions on words) against node:crypto and @noble/hashes, for every
 * byte value and random keys, including keys read at an offset and output written over the key.
 */
import { createHmac } from 'node:crypto';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HmacSha256ByteKey, hmacByteChain } from '../../src/crypto/hmac-sha256-byte.js';
import { random, toHex } from './helpers.js';

describe('HMAC-SHA256 of one byte under a 32-byte key', () => {
  it('equals node:crypto for every byte value', () => {
    const key = random(32);
    const mac = new HmacSha256ByteKey();
    mac.setKey(key, 0);
    const out = new Uint8Array(32);
    for (let byte = 0; byte < 256; byte++) {
      mac.macInto(byte, out, 0);
      expect(toHex(out)).toBe(createHmac('sha256', key).update(Uint8Array.of(byte)).digest('hex'));
    }
  });

  it('property: equals @noble/hashes for random keys at random offsets, output anywhere (even over the key)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.integer({ min: 0, max: 96 }),
        fc.integer({ min: 0, max: 3 }),
        (key, offset, byte) => {
          const buffer = random(128);
          buffer.set(key, offset);
          const mac = new HmacSha256ByteKey();
          mac.setKey(buffer, offset);
          mac.macInto(byte, buffer, offset); // overwrite the key itself, as the ratchet does
          expect(toHex(buffer.subarray(offset, offset + 32))).toBe(toHex(hmac(sha256, key, Uint8Array.of(byte))));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('one key object re-keys cleanly, and wipe() forgets the key', () => {
    const mac = new HmacSha256ByteKey();
    const a = random(32);
    const b = random(32);
    const out = new Uint8Array(32);
    mac.setKey(a, 0);
    mac.setKey(b, 0);
    mac.macInto(3, out, 0);
    expect(toHex(out)).toBe(createHmac('sha256', b).update(Uint8Array.of(3)).digest('hex'));
    mac.wipe();
    mac.macInto(3, out, 0);
    expect(toHex(out)).not.toBe(createHmac('sha256', b).update(Uint8Array.of(3)).digest('hex'));
  });
});

describe('hmacByteChain', () => {
  it('equals n successive node:crypto HMACs, at any offset, leaving the other bytes alone', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 128, maxLength: 128 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 40 }),
        (data, part, byte, times) => {
          const expected = Buffer.from(data);
          let key = expected.subarray(part * 32, part * 32 + 32);
          for (let i = 0; i < times; i++) key = createHmac('sha256', key).update(Buffer.of(byte)).digest();
          key.copy(expected, part * 32);
          const actual = data.slice();
          hmacByteChain(actual, part * 32, byte, times);
          expect(Buffer.from(actual).equals(expected)).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });
});
