/**
 * scrypt (RFC 7914) on both backends, and `pickleKeyFromPassphrase` on top of it.
 *
 * - RFC 7914 §12's test vectors (the three that fit in memory) on each backend.
 * - The public helper: identical output on node and noble, equal to node:crypto's scryptSync called
 *   directly with the documented parameters (NFC, UTF-8, 32 bytes); progress reports; parameter
 *   bounds refused with typed errors before any work (each refusal returns at once).
 */
import { scryptSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { scrypt } from '../../src/crypto/index.js';
import { nobleBackend } from '../../src/crypto/noble.js';
import { nodeBackend } from '../../src/crypto/node.js';
import { TriturusError } from '../../src/errors.js';
import {
  generatePassphraseSalt,
  PASSPHRASE_KEY_DEFAULTS,
  type PassphraseKeyOptions,
  pickleKeyFromPassphrase,
} from '../../src/index.js';
import { ascii, describeEachBackend, hex, toHex } from './helpers.js';

describeEachBackend('RFC 7914 §12 scrypt test vectors', () => {
  const vectors = [
    {
      password: '',
      salt: '',
      N: 16,
      r: 1,
      p: 1,
      out: `77 d6 57 62 38 65 7b 20 3b 19 ca 42 c1 8a 04 97 f1 6b 48 44 e3 07 4a e8 df df fa 3f ed e2 14 42
            fc d0 06 9d ed 09 48 f8 32 6a 75 3a 0f c8 1f 17 e8 d3 e0 fb 2e 0d 36 28 cf 35 e2 0c 38 d1 89 06`,
    },
    {
      password: 'password',
      salt: 'NaCl',
      N: 1024,
      r: 8,
      p: 16,
      out: `fd ba be 1c 9d 34 72 00 78 56 e7 19 0d 01 e9 fe 7c 6a d7 cb c8 23 78 30 e7 73 76 63 4b 37 31 62
            2e af 30 d9 2e 22 a3 88 6f f1 09 27 9d 98 30 da c7 27 af b9 4a 83 ee 6d 83 60 cb df a2 cc 06 40`,
    },
    {
      password: 'pleaseletmein',
      salt: 'SodiumChloride',
      N: 16384,
      r: 8,
      p: 1,
      out: `70 23 bd cb 3a fd 73 48 46 1c 06 cd 81 fd 38 eb fd a8 fb ba 90 4f 8e 3e a9 b5 43 f6 54 5d a1 f2
            d5 43 29 55 61 3f 0f cf 62 d4 97 05 24 2a 9a f9 e6 1e 85 dc 0d 65 1e 40 df cf 01 7b 45 57 58 87`,
    },
  ];
  for (const v of vectors) {
    it(`scrypt(P="${v.password}", S="${v.salt}", N=${v.N}, r=${v.r}, p=${v.p}, dkLen=64)`, async () => {
      const out = await scrypt(ascii(v.password), ascii(v.salt), { N: v.N, r: v.r, p: v.p }, 64);
      expect(toHex(out)).toBe(toHex(hex(v.out)));
    });
  }
});

/** The documented derivation, by node:crypto directly. */
function reference(passphrase: string, salt: Uint8Array, logN: number, r: number, p: number): string {
  const N = 2 ** logN;
  const password = Buffer.from(passphrase.normalize('NFC'), 'utf8');
  return scryptSync(password, salt, 32, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 }).toString('hex');
}

async function onBoth(
  passphrase: string | Uint8Array,
  salt: Uint8Array,
  options: PassphraseKeyOptions = {},
): Promise<string> {
  const { setCryptoBackend, cryptoBackend } = await import('../../src/crypto/index.js');
  const saved = cryptoBackend();
  try {
    setCryptoBackend(nodeBackend);
    const onNode = toHex(await pickleKeyFromPassphrase(passphrase, salt, options));
    setCryptoBackend(nobleBackend);
    const onNoble = toHex(await pickleKeyFromPassphrase(passphrase, salt, options));
    expect(onNoble).toBe(onNode);
    return onNode;
  } finally {
    setCryptoBackend(saved);
  }
}

describe('pickleKeyFromPassphrase', () => {
  const salt = hex('000102030405060708090a0b0c0d0e0f');

  it('the defaults are N = 2^17, r = 8, p = 1; node and noble agree with node:crypto called directly', async () => {
    expect(PASSPHRASE_KEY_DEFAULTS).toEqual({ logN: 17, r: 8, p: 1 });
    expect(await onBoth('correct horse battery staple', salt)).toBe(
      reference('correct horse battery staple', salt, 17, 8, 1),
    );
  });

  it('other parameters within the bounds, bytes passphrases, longer salts: node, noble and node:crypto agree', async () => {
    const long = generatePassphraseSalt();
    expect(long.length).toBe(16);
    expect(toHex(generatePassphraseSalt())).not.toBe(toHex(long));
    for (const [logN, r, p] of [
      [14, 8, 1],
      [15, 4, 2],
      [16, 2, 1],
    ] as const) {
      expect(await onBoth('pass', long, { logN, r, p })).toBe(reference('pass', long, logN, r, p));
    }
    const bytes = Uint8Array.of(0xff, 0, 1, 2);
    const N = 2 ** 14;
    expect(await onBoth(bytes, salt, { logN: 14 })).toBe(
      scryptSync(bytes, salt, 32, { N, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }).toString('hex'),
    );
  });

  it('normalises a string passphrase to NFC: composed and decomposed accents give one key', async () => {
    const composed = 'caf\u00e9 cr\u00e8me';
    const decomposed = 'cafe\u0301 cre\u0300me';
    expect(composed).not.toBe(decomposed);
    const a = toHex(await pickleKeyFromPassphrase(composed, salt, { logN: 14 }));
    expect(toHex(await pickleKeyFromPassphrase(decomposed, salt, { logN: 14 }))).toBe(a);
    expect(a).toBe(reference(composed, salt, 14, 8, 1));
    expect(toHex(await pickleKeyFromPassphrase('cafe creme', salt, { logN: 14 }))).not.toBe(a);
  });

  it('reports progress from 0 to 1, never decreasing, 1 exactly once and last; the noble backend also in between', async () => {
    const { setCryptoBackend, cryptoBackend } = await import('../../src/crypto/index.js');
    const saved = cryptoBackend();
    try {
      for (const backend of [nodeBackend, nobleBackend]) {
        setCryptoBackend(backend);
        const seen: number[] = [];
        await pickleKeyFromPassphrase('progress', salt, { logN: 15, onProgress: (f) => seen.push(f) });
        expect(seen[0]).toBe(0);
        expect(seen.at(-1)).toBe(1);
        expect(seen.filter((f) => f === 1)).toHaveLength(1);
        for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1]!);
        if (backend === nobleBackend) expect(seen.filter((f) => f > 0 && f < 1).length).toBeGreaterThan(3);
      }
    } finally {
      setCryptoBackend(saved);
    }
  });

  it('a throwing progress callback rejects the promise with its error', async () => {
    const { setCryptoBackend, cryptoBackend } = await import('../../src/crypto/index.js');
    const saved = cryptoBackend();
    try {
      for (const backend of [nodeBackend, nobleBackend]) {
        setCryptoBackend(backend);
        for (const at of [0, 0.5, 1]) {
          const stop = new Error(`stop at ${at}`);
          const promise = pickleKeyFromPassphrase('p', salt, {
            logN: 14,
            onProgress: (f) => {
              if (f >= at) throw stop;
            },
          });
          await expect(promise).rejects.toBe(stop);
        }
      }
    } finally {
      setCryptoBackend(saved);
    }
  });

  /** Runs `fn` with a backend whose scrypt only records what it was asked (no work is done). */
  async function recording(fn: () => Promise<unknown>): Promise<{ N: number; r: number; p: number; length: number }[]> {
    const { setCryptoBackend, cryptoBackend } = await import('../../src/crypto/index.js');
    const saved = cryptoBackend();
    const calls: { N: number; r: number; p: number; length: number }[] = [];
    setCryptoBackend({
      ...nodeBackend,
      scrypt: async (_password, _salt, cost, length) => {
        calls.push({ ...cost, length });
        return new Uint8Array(length).fill(1);
      },
    });
    try {
      await fn();
    } catch {
      // the caller inspects the error itself
    } finally {
      setCryptoBackend(saved);
    }
    return calls;
  }

  it('refuses, before any work, parameters outside the bounds and malformed arguments (INVALID_ARGUMENT)', async () => {
    const cases: [unknown, unknown, unknown, string | undefined][] = [
      ['p', salt, { logN: 13 }, 'logN'],
      ['p', salt, { logN: 21 }, 'logN'],
      ['p', salt, { logN: 40 }, 'logN'],
      ['p', salt, { logN: 16.5 }, 'logN'],
      ['p', salt, { logN: '17' }, 'logN'],
      ['p', salt, { logN: Number.NaN }, 'logN'],
      ['p', salt, { r: 0 }, 'r'],
      ['p', salt, { logN: 17, r: 1 }, 'r'],
      ['p', salt, { r: 17 }, 'r'],
      ['p', salt, { p: 0 }, 'p'],
      ['p', salt, { p: 5 }, 'p'],
      ['p', salt, { logN: 14, r: 4 }, 'r'], // N·r = 2^16: below 16 MiB
      ['p', salt, { logN: 20, r: 16 }, 'p'], // N·r·p = 2^24 (2 GiB)
      ['p', salt, { logN: 20, r: 8, p: 2 }, 'p'],
      ['p', salt, { logN: 18, r: 16, p: 4 }, 'p'],
      ['p', salt, { onProgress: 'yes' }, 'onProgress'],
      ['p', salt, null, undefined],
      ['p', salt.subarray(0, 15), {}, 'salt'],
      ['p', new Uint8Array(1025), {}, 'salt'],
      ['p', 'salt-as-a-string', {}, 'salt'],
      ['', salt, {}, 'passphrase'],
      [new Uint8Array(0), salt, {}, 'passphrase'],
      ['x'.repeat(64 * 1024 + 1), salt, {}, 'passphrase'],
      [12345, salt, {}, 'passphrase'],
      [undefined, salt, {}, 'passphrase'],
    ];
    for (const [passphrase, s, options, field] of cases) {
      let error: unknown;
      const calls = await recording(async () => {
        try {
          await pickleKeyFromPassphrase(passphrase as string, s as Uint8Array, options as PassphraseKeyOptions);
        } catch (e) {
          error = e;
        }
      });
      expect(error, JSON.stringify(options)).toBeInstanceOf(TriturusError);
      expect((error as TriturusError).code).toBe('INVALID_ARGUMENT');
      expect((error as TriturusError).details.field).toBe(field);
      expect(calls, 'no scrypt work was started').toEqual([]);
    }
  });

  it('passes the bounds themselves through as N = 2^logN, r, p, 32 bytes', async () => {
    for (const [logN, r, p] of [
      [20, 8, 1], // the most work: N·r·p = 2^23, 1 GiB
      [14, 8, 1], // the least memory: N·r = 2^17
      [17, 16, 4],
      [20, 2, 4],
      [17, 8, 1],
    ] as const) {
      const calls = await recording(() => pickleKeyFromPassphrase('p', salt, { logN, r, p }));
      expect(calls).toEqual([{ N: 2 ** logN, r, p, length: 32 }]);
    }
    expect(await recording(() => pickleKeyFromPassphrase('p', salt))).toEqual([{ N: 2 ** 17, r: 8, p: 1, length: 32 }]);
  });

  it("leaves the caller's passphrase bytes and salt as they were", async () => {
    const passphrase = Uint8Array.of(1, 2, 3);
    const ownSalt = salt.slice();
    expect((await pickleKeyFromPassphrase(passphrase, ownSalt, { logN: 14 })).length).toBe(32);
    expect([...passphrase]).toEqual([1, 2, 3]);
    expect(toHex(ownSalt)).toBe(toHex(salt));
  });
});
