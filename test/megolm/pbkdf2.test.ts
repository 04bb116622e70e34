/**
 * The chunked PBKDF2-HMAC-SHA512 (src/crypto/pbkdf2.ts) against node:crypto's and @noble/hashes'
 * PBKDF2, two independent implementations, on fixed and random inputs; and its progress reports.
 */
import { pbkdf2Sync } from 'node:crypto';
import { pbkdf2 } from '@noble/hashes/pbkdf2.js';
import { sha512 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pbkdf2HmacSha512Chunked } from '../../src/crypto/pbkdf2.js';
import { toHex } from './helpers.js';

const ascii = (s: string) => Uint8Array.from(Buffer.from(s, 'latin1'));

describe('PBKDF2-HMAC-SHA512 in chunks', () => {
  it('matches node:crypto on the RFC 6070 inputs, with SHA-512', async () => {
    const cases: [string, string, number, number][] = [
      ['password', 'salt', 1, 64],
      ['password', 'salt', 2, 64],
      ['password', 'salt', 4096, 64],
      ['passwordPASSWORDpassword', 'saltSALTsaltSALTsaltSALTsaltSALTsalt', 4096, 100],
      ['pass\0word', 'sa\0lt', 4096, 16],
    ];
    for (const [password, salt, rounds, length] of cases) {
      const ours = await pbkdf2HmacSha512Chunked(ascii(password), ascii(salt), rounds, length, { chunkRounds: 1000 });
      expect(toHex(ours)).toBe(pbkdf2Sync(ascii(password), ascii(salt), rounds, length, 'sha512').toString('hex'));
    }
  });

  it('matches a published vector: PBKDF2-HMAC-SHA512("password", "salt", 1) starts 867f70cf', async () => {
    const out = await pbkdf2HmacSha512Chunked(ascii('password'), ascii('salt'), 1, 64);
    expect(toHex(out).slice(0, 16)).toBe('867f70cf1ade02cf');
  });

  it('property: equals node:crypto and @noble/hashes for random passwords (incl. > 128 bytes), salts and lengths', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 300 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 16 }),
        async (password, salt, rounds, length, chunkRounds) => {
          const ours = toHex(await pbkdf2HmacSha512Chunked(password, salt, rounds, length, { chunkRounds }));
          expect(ours).toBe(pbkdf2Sync(password, salt, rounds, length, 'sha512').toString('hex'));
          expect(ours).toBe(toHex(pbkdf2(sha512, password, salt, { c: rounds, dkLen: length })));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('reports progress after each chunk and at the end, and yields to the event loop between chunks', async () => {
    const reports: [number, number][] = [];
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    await pbkdf2HmacSha512Chunked(ascii('p'), ascii('s'), 10, 128, {
      chunkRounds: 4,
      onProgress: (done, total) => reports.push([done, total]),
    });
    clearInterval(timer);
    // Two output blocks of 10 rounds: chunks end at 5 and 9 rounds into each block (U1 counts as one).
    expect(reports).toEqual([
      [5, 20],
      [9, 20],
      [15, 20],
      [19, 20],
      [20, 20],
    ]);
    expect(ticks).toBeGreaterThan(0);
  });

  it('refuses bad arguments', async () => {
    await expect(pbkdf2HmacSha512Chunked(ascii('p'), ascii('s'), 0, 64)).rejects.toThrow(RangeError);
    await expect(pbkdf2HmacSha512Chunked(ascii('p'), ascii('s'), 1, 0)).rejects.toThrow(RangeError);
    await expect(pbkdf2HmacSha512Chunked('p' as unknown as Uint8Array, ascii('s'), 1, 64)).rejects.toThrow(TypeError);
  });
});
