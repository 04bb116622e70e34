/**
 * The hand-tuned SHA-256 / HMAC-SHA256 / HKDF-SHA256 in src/crypto/sha256.ts against node:crypto
 * and @noble/hashes on random inputs: block and padding boundaries, keys longer than the block,
 * HmacSha256Key midstate reuse with and without the second data part, interleaved keys (the module
 * shares scratch buffers), the per-message hmacSha256Key32Into (key and output at offsets, output
 * in the same array as the data), and HKDF with empty, all-zero and random salts for lengths 1..8160.
 */
import { createHash, createHmac, hkdfSync } from 'node:crypto';
import { hkdf as nobleHkdf } from '@noble/hashes/hkdf.js';
import { hmac as nobleHmac } from '@noble/hashes/hmac.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HkdfSha256Fixed } from '../../src/crypto/hkdf-sha256-fixed.js';
import { hmacByteChain } from '../../src/crypto/hmac-sha256-byte.js';
import {
  HmacSha256Key,
  hkdfSha256,
  hkdfSha256Expand,
  hkdfSha256ExpandInto,
  hkdfSha256Extract,
  hkdfSha256Into,
  hmacSha256,
  hmacSha256Key32Into,
  sha256,
  warmUpSha256,
} from '../../src/crypto/sha256.js';
import { concatBytes, toHex } from './helpers.js';

const BOUNDARIES = [0, 1, 54, 55, 56, 57, 63, 64, 65, 118, 119, 120, 121, 127, 128, 129, 191, 192, 193, 255, 256, 257];

const sized = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const data = fc.oneof(
  { weight: 5, arbitrary: fc.uint8Array({ maxLength: 300 }) },
  { weight: 3, arbitrary: fc.constantFrom(...BOUNDARIES).chain(sized) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 300, maxLength: 4000 }) },
);
const key = fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(0, 1, 32, 63, 64, 65, 128, 200).chain(sized));

const refSha256 = (d: Uint8Array) => createHash('sha256').update(d).digest('hex');
const refHmac = (k: Uint8Array, d: Uint8Array) => createHmac('sha256', k).update(d).digest('hex');
const refHkdf = (ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, n: number) =>
  Buffer.from(hkdfSync('sha256', ikm, salt, info, n)).toString('hex');

describe('sha256.ts sha256', () => {
  it('equals node:crypto and @noble/hashes at every length 0..300', () => {
    for (let n = 0; n <= 300; n++) {
      const d = Uint8Array.from({ length: n }, (_, i) => (i * 13 + n) & 0xff);
      expect(toHex(sha256(d)), `length ${n}`).toBe(refSha256(d));
    }
  });

  it('equals node:crypto and @noble/hashes on random inputs', () => {
    fc.assert(
      fc.property(data, (d) => {
        const ours = toHex(sha256(d));
        expect(ours).toBe(refSha256(d));
        expect(ours).toBe(toHex(nobleSha256(d)));
      }),
      { numRuns: 500 },
    );
  });

  it('handles a subarray view at an odd offset and a 1 MiB input', () => {
    const backing = Uint8Array.from({ length: 1 << 20 }, (_, i) => (i * 2654435761) >>> 24);
    expect(toHex(sha256(backing))).toBe(refSha256(backing));
    const view = backing.subarray(13, 13 + 777);
    expect(toHex(sha256(view))).toBe(refSha256(view));
  });

  it('does not modify its input', () => {
    const d = Uint8Array.from({ length: 130 }, (_, i) => i);
    sha256(d);
    expect(toHex(d)).toBe(toHex(Uint8Array.from({ length: 130 }, (_, i) => i)));
  });
});

describe('sha256.ts hmacSha256 and HmacSha256Key', () => {
  it('hmacSha256 equals node:crypto and @noble/hashes (keys up to 300 bytes, past the 64-byte block)', () => {
    fc.assert(
      fc.property(key, data, (k, d) => {
        const ours = toHex(hmacSha256(k, d));
        expect(ours).toBe(refHmac(k, d));
        expect(ours).toBe(toHex(nobleHmac(nobleSha256, k, d)));
      }),
      { numRuns: 500 },
    );
  });

  it('HmacSha256Key.mac(data) and mac(a, b) = HMAC(a || b), reusing the midstates many times', () => {
    fc.assert(
      fc.property(
        key,
        fc.array(fc.tuple(data, fc.uint8Array({ maxLength: 200 })), { minLength: 1, maxLength: 6 }),
        (k, parts) => {
          const hmacKey = new HmacSha256Key(k);
          for (const [a, b] of parts) {
            expect(toHex(hmacKey.mac(a))).toBe(refHmac(k, a));
            expect(toHex(hmacKey.mac(a, b))).toBe(refHmac(k, concatBytes(a, b)));
            expect(toHex(hmacKey.mac(a, new Uint8Array(0)))).toBe(refHmac(k, a));
            expect(toHex(hmacKey.mac(new Uint8Array(0), b))).toBe(refHmac(k, b));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('the second part crosses block boundaries at every split point', () => {
    const k = Uint8Array.from({ length: 32 }, (_, i) => i);
    for (const total of [55, 56, 63, 64, 65, 119, 120, 128, 129]) {
      const whole = Uint8Array.from({ length: total }, (_, i) => (i * 5 + 1) & 0xff);
      const hmacKey = new HmacSha256Key(k);
      for (let split = 0; split <= total; split++) {
        expect(toHex(hmacKey.mac(whole.subarray(0, split), whole.subarray(split))), `${total}/${split}`).toBe(
          refHmac(k, whole),
        );
      }
    }
  });

  it('interleaved keys do not disturb each other (shared scratch buffers)', () => {
    fc.assert(
      fc.property(key, key, data, data, (k1, k2, d1, d2) => {
        const a = new HmacSha256Key(k1);
        const b = new HmacSha256Key(k2);
        expect(toHex(a.mac(d1))).toBe(refHmac(k1, d1));
        expect(toHex(b.mac(d2))).toBe(refHmac(k2, d2));
        sha256(d2);
        hmacSha256(k2, d1);
        hkdfSha256(d1, k2, d2, 40);
        expect(toHex(a.mac(d2, d1))).toBe(refHmac(k1, concatBytes(d2, d1)));
        expect(toHex(b.mac(d1))).toBe(refHmac(k2, d1));
      }),
      { numRuns: 200 },
    );
  });

  it('setKey re-keys in place; macInto writes 32 bytes at the offset and nothing else', () => {
    fc.assert(
      fc.property(key, key, data, fc.integer({ min: 0, max: 40 }), (k1, k2, d, offset) => {
        const hmacKey = new HmacSha256Key(k1);
        hmacKey.setKey(k2);
        expect(toHex(hmacKey.mac(d))).toBe(refHmac(k2, d));
        const out = new Uint8Array(offset + 32 + 9).fill(0xcc);
        hmacKey.macInto(d, out, offset);
        expect(toHex(out.subarray(offset, offset + 32))).toBe(refHmac(k2, d));
        expect(out.subarray(0, offset).every((b) => b === 0xcc)).toBe(true);
        expect(out.subarray(offset + 32).every((b) => b === 0xcc)).toBe(true);
        const out2 = new Uint8Array(offset + 32);
        hmacKey.macInto(d, out2, offset, k1);
        expect(toHex(out2.subarray(offset))).toBe(refHmac(k2, concatBytes(d, k1)));
      }),
      { numRuns: 200 },
    );
  });

  it('the key object does not keep a reference to the caller key (mutating it afterwards changes nothing)', () => {
    const k = Uint8Array.from({ length: 40 }, (_, i) => i);
    const hmacKey = new HmacSha256Key(k);
    const expected = refHmac(k, new Uint8Array([1, 2, 3]));
    k.fill(0);
    expect(toHex(hmacKey.mac(new Uint8Array([1, 2, 3])))).toBe(expected);
  });
});

describe('sha256.ts hmacSha256Key32Into (per-message MAC keys)', () => {
  it('equals node:crypto at every data length 0..300 and at larger sizes, truncated to every length', () => {
    const k = Uint8Array.from({ length: 32 }, (_, i) => (i * 29 + 7) & 0xff);
    for (const n of [...Array.from({ length: 301 }, (_, i) => i), 511, 512, 1000, 4097]) {
      const d = Uint8Array.from({ length: n }, (_, i) => (i * 13 + n) & 0xff);
      const full = new Uint8Array(32);
      hmacSha256Key32Into(k, 0, d, n, full, 0, 32);
      expect(toHex(full), `length ${n}`).toBe(refHmac(k, d));
      const short = new Uint8Array(8);
      hmacSha256Key32Into(k, 0, d, n, short, 0, 8);
      expect(toHex(short)).toBe(refHmac(k, d).slice(0, 16));
    }
  });

  it('reads the key at an offset, MACs a prefix of the data, writes only its output range', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 80 }),
        fc.nat(48),
        fc.uint8Array({ maxLength: 400 }),
        fc.nat(400),
        fc.integer({ min: 0, max: 32 }),
        fc.nat(16),
        (keyBytes, keyStart, d, take, outLength, outOffset) => {
          const keyOffset = keyStart % (keyBytes.length - 31);
          const n = take % (d.length + 1);
          const k = keyBytes.slice(keyOffset, keyOffset + 32);
          const out = new Uint8Array(outOffset + outLength + 8).fill(0xa5);
          const before = d.slice();
          hmacSha256Key32Into(keyBytes, keyOffset, d, n, out, outOffset, outLength);
          expect(toHex(out.subarray(outOffset, outOffset + outLength))).toBe(
            refHmac(k, d.subarray(0, n)).slice(0, 2 * outLength),
          );
          expect(out.subarray(0, outOffset).every((b) => b === 0xa5)).toBe(true);
          expect(out.subarray(outOffset + outLength).every((b) => b === 0xa5)).toBe(true);
          expect(d).toEqual(before);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('refuses a key shorter than 32 bytes from its offset instead of reading zeros', () => {
    const out = new Uint8Array(32);
    expect(() => hmacSha256Key32Into(new Uint8Array(31), 0, new Uint8Array(1), 1, out, 0, 32)).toThrow(RangeError);
    expect(() => hmacSha256Key32Into(new Uint8Array(40), 9, new Uint8Array(1), 1, out, 0, 32)).toThrow(RangeError);
    expect(() => hmacSha256Key32Into(new Uint8Array(40), -1, new Uint8Array(1), 1, out, 0, 32)).toThrow(RangeError);
    expect(out.every((b) => b === 0)).toBe(true);
  });

  it('may write its output into the data array right after the MACed bytes (as the message encoders do)', () => {
    for (const n of [0, 55, 56, 64, 200]) {
      const bytes = Uint8Array.from({ length: n + 8 }, (_, i) => (i * 7) & 0xff);
      const k = new Uint8Array(32).fill(n);
      const expected = refHmac(k, bytes.subarray(0, n)).slice(0, 16);
      hmacSha256Key32Into(k, 0, bytes, n, bytes, n, 8);
      expect(toHex(bytes.subarray(n))).toBe(expected);
    }
  });
});

describe('sha256.ts HKDF-SHA256', () => {
  const salts = fc.oneof(
    fc.constant(new Uint8Array(0)),
    fc.integer({ min: 1, max: 100 }).map((n) => new Uint8Array(n)), // all-zero salts, shorter and longer than a block
    fc.uint8Array({ minLength: 1, maxLength: 200 }),
  );
  const infos = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.constantFrom(0, 22, 23, 24, 30, 31, 32, 55, 86, 87, 95, 96).chain(sized),
  );

  it('equals node:crypto hkdfSync and @noble/hashes for empty, all-zero and random salts (lengths 1..300)', () => {
    fc.assert(
      fc.property(data, salts, infos, fc.integer({ min: 1, max: 300 }), (ikm, salt, info, n) => {
        const ours = toHex(hkdfSha256(ikm, salt, info, n));
        expect(ours).toBe(refHkdf(ikm, salt, info, n));
        expect(ours).toBe(toHex(nobleHkdf(nobleSha256, ikm, salt, info, n)));
      }),
      { numRuns: 400 },
    );
  });

  it('equals node:crypto for lengths up to the 8160-byte maximum', () => {
    fc.assert(
      fc.property(data, salts, infos, fc.integer({ min: 1, max: 8160 }), (ikm, salt, info, n) => {
        const ours = toHex(hkdfSha256(ikm, salt, info, n));
        expect(ours).toBe(refHkdf(ikm, salt, info, n));
        expect(ours).toBe(toHex(nobleHkdf(nobleSha256, ikm, salt, info, n)));
      }),
      { numRuns: 40 },
    );
    const ikm = new Uint8Array([1, 2, 3]);
    for (const n of [1, 31, 32, 33, 63, 64, 65, 8127, 8128, 8159, 8160]) {
      for (const salt of [
        new Uint8Array(0),
        new Uint8Array(32),
        new Uint8Array(64),
        new Uint8Array(65),
        new Uint8Array([9]),
      ]) {
        expect(toHex(hkdfSha256(ikm, salt, new Uint8Array([4]), n)), `length ${n}`).toBe(
          refHkdf(ikm, salt, new Uint8Array([4]), n),
        );
      }
    }
  });

  it('all-zero salts of 1..64 bytes are the same key as the empty salt; 65 zero bytes are not', () => {
    const ikm = new Uint8Array([7, 7, 7]);
    const empty = toHex(hkdfSha256Extract(new Uint8Array(0), ikm));
    for (let n = 1; n <= 64; n++) expect(toHex(hkdfSha256Extract(new Uint8Array(n), ikm))).toBe(empty);
    // A 65-byte key is hashed first (RFC 2104), so it differs; check against node:crypto.
    expect(toHex(hkdfSha256Extract(new Uint8Array(65), ikm))).toBe(refHmac(new Uint8Array(65), ikm));
    expect(toHex(hkdfSha256Extract(new Uint8Array(65), ikm))).not.toBe(empty);
  });

  it('Extract = HMAC(salt, ikm) and Expand from any PRK equal node:crypto', () => {
    fc.assert(
      fc.property(
        salts,
        data,
        fc.uint8Array({ minLength: 32, maxLength: 64 }),
        infos,
        fc.integer({ min: 1, max: 500 }),
        (salt, ikm, prk, info, n) => {
          const extracted = hkdfSha256Extract(salt, ikm);
          const reference = createHmac('sha256', salt.length === 0 ? new Uint8Array(32) : salt)
            .update(ikm)
            .digest('hex');
          expect(toHex(extracted)).toBe(reference);
          // Expand alone: node's hkdfSync cannot take a PRK, so compare with T(i) built from node HMACs.
          const blocks: Buffer[] = [];
          let previous = Buffer.alloc(0);
          for (let i = 1; blocks.length * 32 < n; i++) {
            previous = createHmac('sha256', prk)
              .update(Buffer.concat([previous, info, Buffer.from([i])]))
              .digest();
            blocks.push(previous);
          }
          expect(toHex(hkdfSha256Expand(prk, info, n))).toBe(Buffer.concat(blocks).subarray(0, n).toString('hex'));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('hkdfSha256Into and hkdfSha256ExpandInto write exactly `length` bytes at the offset', () => {
    fc.assert(
      fc.property(
        data,
        salts,
        infos,
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 0, max: 50 }),
        (ikm, salt, info, n, offset) => {
          const expected = refHkdf(ikm, salt, info, n);
          const out = new Uint8Array(offset + n + 11).fill(0xcc);
          hkdfSha256Into(ikm, salt, info, n, out, offset);
          expect(toHex(out.subarray(offset, offset + n))).toBe(expected);
          expect(out.subarray(0, offset).every((b) => b === 0xcc)).toBe(true);
          expect(out.subarray(offset + n).every((b) => b === 0xcc)).toBe(true);
          const prk = hkdfSha256Extract(salt, ikm);
          const out2 = new Uint8Array(offset + n + 11).fill(0xdd);
          hkdfSha256ExpandInto(prk, info, n, out2, offset);
          expect(toHex(out2.subarray(offset, offset + n))).toBe(expected);
          expect(out2.subarray(offset + n).every((b) => b === 0xdd)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('hkdfSha256Into may write over its own ikm, info or salt buffer (in place)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 200 }),
        fc.uint8Array({ maxLength: 100 }),
        fc.integer({ min: 1, max: 200 }),
        (material, salt, n) => {
          const expected = refHkdf(material, salt, material, n);
          const buffer = new Uint8Array(Math.max(material.length, n));
          buffer.set(material);
          const view = buffer.subarray(0, material.length);
          hkdfSha256Into(view, salt, view, n, buffer, 0);
          expect(toHex(buffer.subarray(0, n))).toBe(expected);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('does not modify its inputs', () => {
    const ikm = Uint8Array.from({ length: 70 }, (_, i) => i);
    const salt = Uint8Array.from({ length: 70 }, (_, i) => 255 - i);
    const info = Uint8Array.from({ length: 70 }, (_, i) => i * 3);
    hkdfSha256(ikm, salt, info, 100);
    expect(ikm.every((b, i) => b === i)).toBe(true);
    expect(salt.every((b, i) => b === 255 - i)).toBe(true);
    expect(info.every((b, i) => b === ((i * 3) & 0xff))).toBe(true);
  });
});

describe('warmUpSha256 (part of warmUp, issue 12)', () => {
  it('leaves every tuned path giving the reference results (it shares their scratch state)', () => {
    const ikm = Uint8Array.from({ length: 128 }, (_, i) => i * 7 + 1);
    const salt = Uint8Array.from({ length: 32 }, (_, i) => 200 - i);
    const info = new TextEncoder().encode('MEGOLM_KEYS');
    const before = {
      hash: toHex(sha256(ikm)),
      hmac: toHex(hmacSha256(salt, ikm)),
      hkdf: toHex(hkdfSha256(ikm, salt, info, 80)),
      zeroSaltHkdf: toHex(hkdfSha256(ikm.subarray(0, 32), new Uint8Array(0), info, 80)),
    };
    warmUpSha256();
    warmUpSha256();
    expect(toHex(sha256(ikm))).toBe(refSha256(ikm));
    expect(toHex(hmacSha256(salt, ikm))).toBe(refHmac(salt, ikm));
    expect(toHex(hkdfSha256(ikm, salt, info, 80))).toBe(refHkdf(ikm, salt, info, 80));
    expect(toHex(hkdfSha256(ikm.subarray(0, 32), new Uint8Array(0), info, 80))).toBe(
      refHkdf(ikm.subarray(0, 32), new Uint8Array(0), info, 80),
    );
    expect(before).toEqual({
      hash: refSha256(ikm),
      hmac: refHmac(salt, ikm),
      hkdf: refHkdf(ikm, salt, info, 80),
      zeroSaltHkdf: refHkdf(ikm.subarray(0, 32), new Uint8Array(0), info, 80),
    });
    const out = new Uint8Array(80);
    new HkdfSha256Fixed(128, info, 80).deriveInto(ikm, 0, out, 0);
    expect(toHex(out)).toBe(refHkdf(ikm, new Uint8Array(0), info, 80));
    const chained = ikm.slice(0, 32);
    hmacByteChain(chained, 0, 2, 1);
    expect(toHex(chained)).toBe(refHmac(ikm.subarray(0, 32), Uint8Array.of(2)));
    const mac = new Uint8Array(8);
    hmacSha256Key32Into(salt, 0, ikm, 41, mac, 0, 8);
    expect(toHex(mac)).toBe(refHmac(salt, ikm.subarray(0, 41)).slice(0, 16));
  });
});
