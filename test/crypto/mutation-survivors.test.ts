/**
 * Tests written for mutants of src/crypto that survived Stryker (test/MUTATION.md, "Crypto survivors,
 * by kind"): boundaries of the facade's argument checks and the details they carry, the tuned
 * SHA-256 paths (HkdfSha256Fixed, the one-byte HMAC chain) against node:crypto at their block and
 * output-length boundaries, and the chunked PBKDF2 at its padding and key-length boundaries.
 * Every expected value comes from node:crypto, never from the code under test.
 */
import { createHmac, hkdfSync, pbkdf2Sync } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it, vi } from 'vitest';
import { baseMultiply, ED25519_L } from '../../src/crypto/ed25519-expanded-node.js';
import { HkdfSha256Fixed } from '../../src/crypto/hkdf-sha256-fixed.js';
import { HmacSha256ByteKey, hmacByteChain } from '../../src/crypto/hmac-sha256-byte.js';
import {
  aes256CbcDecrypt,
  aes256CbcEncrypt,
  aes256Ctr,
  aesGcmOpen,
  aesGcmSeal,
  type CryptoBackend,
  chacha20Poly1305Open,
  chacha20Poly1305Seal,
  constantTimeEqual,
  cryptoBackend,
  Ed25519SecretKey,
  ed25519Verify,
  getRandomSource,
  hkdfSha256,
  hkdfSha256Expand,
  hkdfSha256ExpandInto,
  hkdfSha256Into,
  hkdfSha512,
  hmacSha256,
  hmacSha512,
  pbkdf2HmacSha512,
  type RandomSource,
  scrypt,
  setCryptoBackend,
  setRandomSource,
  sha256,
  sha512,
  wipe,
  X25519SecretKey,
} from '../../src/crypto/index.js';
import { nobleBackend } from '../../src/crypto/noble.js';
import { nodeBackend } from '../../src/crypto/node.js';
import { pbkdf2HmacSha512Chunked } from '../../src/crypto/pbkdf2.js';
import { hkdfSha256Expand as rawHkdfSha256Expand } from '../../src/crypto/sha256.js';
import { DecryptionError, TriturusError } from '../../src/errors.js';
import { describeEachBackend, expectTriturusError, toHex, withBackend } from './helpers.js';

const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill);
const pattern = (n: number, seed = 7) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
const refHkdf = (ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, n: number) =>
  Buffer.from(hkdfSync('sha256', ikm, salt, info, n)).toString('hex');
const refHmac = (key: Uint8Array, data: Uint8Array) => createHmac('sha256', key).update(data).digest();

function invalid(fn: () => unknown, actual?: unknown): TriturusError {
  const error = expectTriturusError(fn, TriturusError, 'INVALID_ARGUMENT');
  expect(error.message.length).toBeGreaterThan(0);
  if (actual !== undefined) expect(error.details.actual).toStrictEqual(actual);
  return error;
}

describeEachBackend('the facade: HKDF-SHA256 lengths and output ranges', () => {
  const ikm = pattern(40);
  const salt = pattern(13, 3);
  const info = pattern(9, 5);

  it('lengths 1 and 8160 are accepted by every HKDF-SHA256 entry point; 0 and 8161 are refused with the length', () => {
    for (const n of [1, 8160]) {
      const expected = refHkdf(ikm, salt, info, n);
      expect(toHex(hkdfSha256(ikm, salt, info, n))).toBe(expected);
      const out = new Uint8Array(n);
      hkdfSha256Into(ikm, salt, info, n, out, 0);
      expect(toHex(out)).toBe(expected);
      const prk = refHmac(salt, ikm);
      const expanded = hkdfSha256Expand(prk, info, n);
      expect(toHex(expanded)).toBe(expected);
      const out2 = new Uint8Array(n);
      hkdfSha256ExpandInto(prk, info, n, out2, 0);
      expect(toHex(out2)).toBe(expected);
    }
    for (const n of [0, 8161]) {
      invalid(() => hkdfSha256(ikm, salt, info, n), n);
      invalid(() => hkdfSha256Into(ikm, salt, info, n, new Uint8Array(9000), 0), n);
      invalid(() => hkdfSha256Expand(ikm.subarray(0, 32), info, n), n);
      invalid(() => hkdfSha256ExpandInto(ikm.subarray(0, 32), info, n, new Uint8Array(9000), 0), n);
    }
  });

  it('the Into forms accept an output that ends exactly at the buffer end and refuse one byte past it or a negative offset', () => {
    const expected = refHkdf(ikm, salt, info, 20);
    const prk = refHmac(salt, ikm);
    for (const into of [
      (out: Uint8Array, offset: number) => hkdfSha256Into(ikm, salt, info, 20, out, offset),
      (out: Uint8Array, offset: number) => hkdfSha256ExpandInto(prk, info, 20, out, offset),
    ]) {
      const out = new Uint8Array(25).fill(0xee);
      into(out, 5);
      expect(toHex(out.subarray(5))).toBe(expected);
      expect(out.subarray(0, 5).every((b) => b === 0xee)).toBe(true);
      invalid(() => into(new Uint8Array(25), 6));
      invalid(() => into(new Uint8Array(19), 0));
      invalid(() => into(new Uint8Array(25), -1));
    }
  });
});

describeEachBackend('the facade: PBKDF2, scrypt and cipher argument checks', () => {
  it('PBKDF2: one iteration is accepted; 0 iterations and lengths 0 or 2^20 + 1 are refused with the value', () => {
    const expected = pbkdf2Sync(bytes(8), bytes(8, 2), 1, 33, 'sha512').toString('hex');
    expect(toHex(pbkdf2HmacSha512(bytes(8), bytes(8, 2), 1, 33))).toBe(expected);
    invalid(() => pbkdf2HmacSha512(bytes(8), bytes(8), 0, 32), 0);
    invalid(() => pbkdf2HmacSha512(bytes(8), bytes(8), 1, 0), 0);
    invalid(() => pbkdf2HmacSha512(bytes(8), bytes(8), 1, (1 << 20) + 1), (1 << 20) + 1);
  });

  it('scrypt: N = 2, r = p = 1 is accepted; N of 1, 3 or 2.5, r or p of 0 or 1.5 and bad lengths are refused before any work', async () => {
    const out = await scrypt(bytes(4), bytes(4, 2), { N: 2, r: 1, p: 1 }, 16);
    expect(out.length).toBe(16);
    for (const N of [1, 3, 2.5, 0, -2, 2 ** 60]) invalid(() => scrypt(bytes(4), bytes(4), { N, r: 1, p: 1 }, 16), N);
    for (const [r, p] of [
      [0, 1],
      [1, 0],
      [1.5, 1],
      [1, 1.5],
    ] as const) {
      invalid(() => scrypt(bytes(4), bytes(4), { N: 2, r, p }, 16));
    }
    for (const n of [0, (1 << 20) + 1]) invalid(() => scrypt(bytes(4), bytes(4), { N: 2, r: 1, p: 1 }, n), n);
  });

  it('AES-CBC decryption refuses 0 and 17 bytes of ciphertext with the length in the details', () => {
    for (const n of [0, 17, 31]) {
      const error = expectTriturusError(
        () => aes256CbcDecrypt(bytes(32), bytes(16), bytes(n)),
        DecryptionError,
        'CIPHERTEXT_INVALID_LENGTH',
      );
      expect(error.details.actual).toBe(n);
    }
  });

  it('AES-GCM refuses a key that is not bytes or of 24 bytes, with its length', () => {
    invalid(() => aesGcmSeal('k'.repeat(32) as unknown as Uint8Array, bytes(12), bytes(1)));
    invalid(() => aesGcmOpen([1, 2] as unknown as Uint8Array, bytes(12), bytes(16)));
    invalid(() => aesGcmSeal(bytes(24), bytes(12), bytes(1)), 24);
    invalid(() => aesGcmOpen(bytes(24), bytes(12), bytes(16)), 24);
    expect(aesGcmOpen(bytes(16), bytes(12), aesGcmSeal(bytes(16), bytes(12), bytes(3)))).toEqual(bytes(3));
  });
});

describe('the facade refuses a sealed input shorter than the tag itself, whatever the backend says', () => {
  const shipped = cryptoBackend();
  it('AES-GCM and ChaCha20-Poly1305 with 15 bytes: AEAD_TAG_MISMATCH without asking the backend', () => {
    const asked: string[] = [];
    const lenient = Object.assign(Object.create(shipped) as CryptoBackend, {
      aesGcmOpen: () => {
        asked.push('gcm');
        return new Uint8Array(0);
      },
      chacha20Poly1305Open: () => {
        asked.push('chacha');
        return new Uint8Array(0);
      },
    });
    setCryptoBackend(lenient);
    try {
      expectTriturusError(() => aesGcmOpen(bytes(16), bytes(12), bytes(15)), DecryptionError, 'AEAD_TAG_MISMATCH');
      expectTriturusError(
        () => chacha20Poly1305Open(bytes(32), bytes(12), bytes(15)),
        DecryptionError,
        'AEAD_TAG_MISMATCH',
      );
      expect(asked).toEqual([]);
      // 16 bytes (an empty plaintext and its tag) do reach the backend.
      expect(aesGcmOpen(bytes(16), bytes(12), bytes(16))).toEqual(new Uint8Array(0));
      expect(chacha20Poly1305Open(bytes(32), bytes(12), bytes(16))).toEqual(new Uint8Array(0));
      expect(asked).toEqual(['gcm', 'chacha']);
    } finally {
      setCryptoBackend(shipped);
    }
  });
});

describe('HkdfSha256Fixed (the per-message KDF) against node:crypto at its boundaries', () => {
  const EMPTY = new Uint8Array(0);
  it('input lengths around the block and padding boundaries, info up to 22 bytes, every output length shape', () => {
    for (const ikmLength of [0, 1, 32, 54, 55, 56, 57, 63, 64, 65, 119, 120, 128, 129, 192]) {
      for (const infoLength of [0, 1, 11, 21, 22]) {
        const info = pattern(infoLength, 9);
        for (const length of [1, 2, 3, 4, 5, 31, 32, 33, 35, 64, 80, 97]) {
          const kdf = new HkdfSha256Fixed(ikmLength, info, length);
          // The input at an offset inside a larger array, the output at an offset too.
          const source = pattern(ikmLength + 7, ikmLength);
          const out = new Uint8Array(length + 6).fill(0xaa);
          kdf.deriveInto(source, 3, out, 2);
          const ikm = source.subarray(3, 3 + ikmLength);
          expect(toHex(out.subarray(2, 2 + length)), `${ikmLength}/${infoLength}/${length}`).toBe(
            refHkdf(ikm, EMPTY, info, length),
          );
          expect(out.subarray(0, 2).every((b) => b === 0xaa)).toBe(true);
          expect(out.subarray(2 + length).every((b) => b === 0xaa)).toBe(true);
        }
      }
    }
  });

  it('the largest output (8160 bytes) and a reused instance give node:crypto bytes', () => {
    const info = pattern(22);
    const kdf = new HkdfSha256Fixed(33, info, 8160);
    for (const seed of [1, 2]) {
      const ikm = pattern(33, seed);
      const out = new Uint8Array(8160);
      kdf.deriveInto(ikm, 0, out, 0);
      expect(toHex(out)).toBe(refHkdf(ikm, EMPTY, info, 8160));
    }
  });

  it('refuses negative or fractional input lengths, info over 22 bytes, and output lengths 0, 8161 or fractional', () => {
    expect(() => new HkdfSha256Fixed(-1, EMPTY, 32)).toThrow(RangeError);
    expect(() => new HkdfSha256Fixed(1.5, EMPTY, 32)).toThrow(RangeError);
    expect(() => new HkdfSha256Fixed(32, pattern(23), 32)).toThrow(RangeError);
    expect(() => new HkdfSha256Fixed(32, EMPTY, 0)).toThrow(RangeError);
    expect(() => new HkdfSha256Fixed(32, EMPTY, 8161)).toThrow(RangeError);
    expect(() => new HkdfSha256Fixed(32, EMPTY, 2.5)).toThrow(RangeError);
  });
});

describe('the one-byte HMAC key and chain (the ratchets) against node:crypto', () => {
  it('HmacSha256ByteKey: every byte value, the key and output at offsets, re-keyed in place', () => {
    const mac = new HmacSha256ByteKey();
    const keys = pattern(40, 1);
    const out = new Uint8Array(37).fill(0x55);
    for (let byte = 0; byte < 256; byte++) {
      const offset = byte % 8;
      mac.setKey(keys, offset);
      mac.macInto(byte, out, 3);
      expect(toHex(out.subarray(3, 35))).toBe(
        refHmac(keys.subarray(offset, offset + 32), Uint8Array.of(byte)).toString('hex'),
      );
    }
    expect(out.subarray(0, 3).every((b) => b === 0x55)).toBe(true);
    expect(out.subarray(35).every((b) => b === 0x55)).toBe(true);
    // Only the low 8 bits of the message byte count (the ratchet passes 0..3).
    mac.setKey(keys, 0);
    const a = new Uint8Array(32);
    const b = new Uint8Array(32);
    mac.macInto(0x102, a, 0);
    mac.macInto(2, b, 0);
    expect(a).toEqual(b);
  });

  it('hmacByteChain applies HMAC(key, byte) `times` times to the key at an offset, and leaves the rest alone', () => {
    for (const times of [0, 1, 2, 5]) {
      for (const byte of [0, 3, 0x1ff]) {
        const data = pattern(44, times + byte);
        const before = data.slice();
        let expected = Buffer.from(data.subarray(6, 38));
        for (let i = 0; i < times; i++) expected = refHmac(expected, Uint8Array.of(byte & 0xff));
        hmacByteChain(data, 6, byte, times);
        expect(toHex(data.subarray(6, 38))).toBe(expected.toString('hex'));
        expect(data.subarray(0, 6)).toEqual(before.subarray(0, 6));
        expect(data.subarray(38)).toEqual(before.subarray(38));
      }
    }
  });
});

describe('the chunked PBKDF2-HMAC-SHA512 at its boundaries', () => {
  const ref = (p: Uint8Array, s: Uint8Array, c: number, n: number) => pbkdf2Sync(p, s, c, n, 'sha512').toString('hex');

  it('passwords of 127, 128 and 129 bytes (hashed only above the 128-byte block)', async () => {
    for (const n of [0, 127, 128, 129, 200]) {
      const password = pattern(n, 3);
      expect(toHex(await pbkdf2HmacSha512Chunked(password, pattern(8), 2, 64))).toBe(ref(password, pattern(8), 2, 64));
    }
  });

  it('salts whose first block ends around the padding boundaries (salt + 4 = 111, 112, 239, 240 bytes)', async () => {
    for (const n of [0, 107, 108, 109, 235, 236, 237]) {
      const salt = pattern(n, 5);
      expect(toHex(await pbkdf2HmacSha512Chunked(pattern(16), salt, 3, 64))).toBe(ref(pattern(16), salt, 3, 64));
    }
  });

  it('a salt of 8 200 bytes (its bit length needs a third byte)', async () => {
    const salt = pattern(8200, 1);
    expect(toHex(await pbkdf2HmacSha512Chunked(pattern(5), salt, 1, 64))).toBe(ref(pattern(5), salt, 1, 64));
  });

  it('output lengths 1, 63, 64, 65, 128 and 129 (truncated or whole blocks)', async () => {
    for (const n of [1, 63, 64, 65, 128, 129]) {
      expect(toHex(await pbkdf2HmacSha512Chunked(pattern(9), pattern(9, 2), 2, n))).toBe(
        ref(pattern(9), pattern(9, 2), 2, n),
      );
    }
  });

  it('reports progress once per chunk and at the end, with a chunk of one round', async () => {
    const reports: [number, number][] = [];
    const out = await pbkdf2HmacSha512Chunked(pattern(4), pattern(4), 3, 64, {
      chunkRounds: 1,
      onProgress: (done, total) => reports.push([done, total]),
    });
    expect(toHex(out)).toBe(ref(pattern(4), pattern(4), 3, 64));
    expect(reports).toEqual([
      [2, 3],
      [3, 3],
    ]);
  });

  it('refuses an output over 64 × 65535 bytes and chunk sizes that are not positive integers', async () => {
    await expect(pbkdf2HmacSha512Chunked(bytes(1), bytes(1), 1, 64 * 0xffff + 1)).rejects.toThrow(RangeError);
    for (const chunkRounds of [0, -1, 1.5, Number.NaN]) {
      await expect(pbkdf2HmacSha512Chunked(bytes(1), bytes(1), 2, 64, { chunkRounds })).rejects.toThrow(RangeError);
    }
    await expect(pbkdf2HmacSha512Chunked(bytes(1), 's' as unknown as Uint8Array, 1, 64)).rejects.toThrow(TypeError);
    await expect(pbkdf2HmacSha512Chunked(bytes(1), bytes(1), 1.5, 64)).rejects.toThrow(RangeError);
    await expect(pbkdf2HmacSha512Chunked(bytes(1), bytes(1), 1, 2.5)).rejects.toThrow(RangeError);
  });
});

it('PBKDF2 through the facade accepts the largest output, 2^20 bytes (node backend: fast)', () => {
  const out = withBackend(nodeBackend, () => pbkdf2HmacSha512(bytes(4), bytes(4), 1, 1 << 20));
  expect(out.length).toBe(1 << 20);
  expect(toHex(out.subarray(0, 64))).toBe(pbkdf2Sync(bytes(4), bytes(4), 1, 64, 'sha512').toString('hex'));
});

describe('an installed backend is the one every primitive of the facade calls', () => {
  it('hashes, MACs, KDFs and ciphers go to the backend set by setCryptoBackend, not to the default one', () => {
    const shipped = cryptoBackend();
    const called: string[] = [];
    const methods = [
      'sha256',
      'sha512',
      'hmacSha256',
      'hmacSha512',
      'hkdfSha512',
      'pbkdf2HmacSha512',
      'aes256CbcEncrypt',
      'aes256CbcDecrypt',
      'aes256Ctr',
      'aesGcmSeal',
      'aesGcmOpen',
      'chacha20Poly1305Seal',
      'chacha20Poly1305Open',
    ] as const;
    const recording = Object.create(shipped) as CryptoBackend;
    for (const method of methods) {
      Object.defineProperty(recording, method, {
        value: (...args: unknown[]) => {
          called.push(method);
          return (shipped[method] as (...a: unknown[]) => unknown)(...args);
        },
      });
    }
    setCryptoBackend(recording);
    try {
      const k = bytes(32);
      const iv = bytes(16);
      sha256(bytes(3));
      sha512(bytes(3));
      hmacSha256(k, bytes(3));
      hmacSha512(k, bytes(3));
      hkdfSha512(k, k, k, 8);
      pbkdf2HmacSha512(k, k, 1, 8);
      aes256CbcDecrypt(k, iv, aes256CbcEncrypt(k, iv, bytes(3)));
      aes256Ctr(k, iv, bytes(3));
      aesGcmOpen(k, bytes(12), aesGcmSeal(k, bytes(12), bytes(3)));
      chacha20Poly1305Open(k, bytes(12), chacha20Poly1305Seal(k, bytes(12), bytes(3)));
    } finally {
      setCryptoBackend(shipped);
    }
    expect(called).toEqual(methods);
  });
});

describe('sha256.ts HKDF-Expand below the facade', () => {
  it('refuses more than 8160 bytes itself (RangeError), and a long info then a short one give node:crypto bytes', () => {
    const prk = pattern(32);
    expect(() => rawHkdfSha256Expand(prk, pattern(3), 8161)).toThrow(RangeError);
    // The scratch buffer grows for the 70-byte info; the 3-byte info after it must use only its start.
    for (const info of [pattern(70, 1), pattern(3, 2), pattern(0), pattern(40, 3)]) {
      expect(toHex(rawHkdfSha256Expand(prk, info, 100))).toBe(expandReference(prk, info, 100));
    }
  });
});

/** HKDF-Expand (RFC 5869 §2.3) by node:crypto's HMAC. */
function expandReference(prk: Uint8Array, info: Uint8Array, n: number): string {
  const blocks: Buffer[] = [];
  let previous = Buffer.alloc(0);
  for (let i = 1; blocks.length * 32 < n; i++) {
    previous = createHmac('sha256', prk)
      .update(Buffer.concat([previous, info, Buffer.from([i])]))
      .digest();
    blocks.push(previous);
  }
  return Buffer.concat(blocks).subarray(0, n).toString('hex');
}

describeEachBackend('curve keys (curves.ts)', () => {
  it('instanceof holds only for keys the classes built', () => {
    const x = X25519SecretKey.fromBytes(pattern(32));
    const e = Ed25519SecretKey.fromSeed(pattern(32));
    expect(x instanceof X25519SecretKey).toBe(true);
    expect(e instanceof Ed25519SecretKey).toBe(true);
    for (const impostor of [
      Object.create(X25519SecretKey.prototype),
      Object.create(Ed25519SecretKey.prototype),
      {},
      null,
      undefined,
      'key',
      42,
    ]) {
      expect(impostor instanceof X25519SecretKey).toBe(false);
      expect(impostor instanceof Ed25519SecretKey).toBe(false);
    }
    expect((e as unknown) instanceof X25519SecretKey).toBe(false);
    expect((x as unknown) instanceof Ed25519SecretKey).toBe(false);
  });

  it('keys take copies of the public keys they are given', () => {
    const secret = pattern(32);
    const publicKey = X25519SecretKey.fromBytes(secret).publicKey;
    const given = publicKey.slice();
    const x = X25519SecretKey.fromParts(secret, given);
    given.fill(0);
    expect(x.publicKey).toEqual(publicKey);
    const seed = pattern(32, 2);
    const edPublic = Ed25519SecretKey.fromSeed(seed).publicKey;
    const givenEd = edPublic.slice();
    const e = Ed25519SecretKey.fromSeed(seed, givenEd);
    const expanded = Ed25519SecretKey.fromExpanded(e.expandedBytes(), givenEd);
    givenEd.fill(0);
    expect(e.publicKey).toEqual(edPublic);
    expect(expanded.publicKey).toEqual(edPublic);
  });

  it('wipe() erases the secret: the key no longer computes what it did', () => {
    const peer = X25519SecretKey.fromBytes(pattern(32, 9)).publicKey;
    const x = X25519SecretKey.fromBytes(pattern(32, 4));
    const before = x.diffieHellman(peer);
    x.wipe();
    expect(x.diffieHellman(peer)).not.toEqual(before);
    expect(x.toBytes()).toEqual(new Uint8Array(32));
    const message = pattern(5);
    for (const e of [Ed25519SecretKey.fromSeed(pattern(32, 5)), Ed25519SecretKey.fromExpanded(pattern(64, 6))]) {
      const signature = e.sign(message);
      e.wipe();
      expect(e.sign(message)).not.toEqual(signature);
    }
  });
});

describe('curve operations go to the installed backend', () => {
  it('X25519 public keys, Ed25519 public keys and signatures from a seed or an expanded key, expandedBytes', () => {
    const shipped = cryptoBackend();
    const called = new Set<string>();
    const methods = [
      'x25519PublicKey',
      'ed25519PublicKeyFromSeed',
      'ed25519PublicKeyFromScalar',
      'ed25519SignWithSeed',
      'ed25519SignExpanded',
      'sha512',
    ] as const;
    const recording = Object.create(shipped) as CryptoBackend;
    for (const method of methods) {
      Object.defineProperty(recording, method, {
        value: (...args: unknown[]) => {
          called.add(method);
          return (shipped[method] as (...a: unknown[]) => unknown)(...args);
        },
      });
    }
    setCryptoBackend(recording);
    try {
      X25519SecretKey.fromBytes(pattern(32));
      const e = Ed25519SecretKey.fromSeed(pattern(32, 3));
      e.sign(pattern(4));
      const x = Ed25519SecretKey.fromExpanded(e.expandedBytes());
      x.sign(pattern(4));
    } finally {
      setCryptoBackend(shipped);
    }
    expect([...called].sort()).toEqual([...methods].sort());
  });
});

describe('ed25519Verify: the canonical-encoding check reads every byte of y', () => {
  it('a key with y = p - 256 (byte 1 is 0xfe, the rest as in p) is canonical: the facade passes it to the backend', () => {
    const shipped = cryptoBackend();
    setCryptoBackend(Object.assign(Object.create(shipped) as CryptoBackend, { ed25519Verify: () => true }));
    try {
      // 0xed, then 0xfe, then 0xff × 29, then 0x7f: y = p - 256 < p, so canonical (not small order either).
      const key = new Uint8Array(32).fill(0xff);
      key[0] = 0xed;
      key[1] = 0xfe;
      key[31] = 0x7f;
      const signature = new Uint8Array(64);
      signature.set(X25519SecretKey.fromBytes(pattern(32)).publicKey, 0);
      signature[31]! &= 0x7f;
      expect(ed25519Verify(key, pattern(3), signature)).toBe(true);
      // With byte 1 = 0xff too it is y = p: not canonical, refused before the backend.
      key[1] = 0xff;
      expect(ed25519Verify(key, pattern(3), signature)).toBe(false);
    } finally {
      setCryptoBackend(shipped);
    }
  });
});

describe('platform.ts detection (a fresh module, so that the check runs inside the test)', () => {
  async function detectWith(subtle: SubtleCrypto | undefined): Promise<unknown> {
    vi.resetModules();
    const real = Object.getOwnPropertyDescriptor(globalThis, 'crypto')!;
    const webcrypto = globalThis.crypto;
    if (subtle !== undefined) {
      const getRandomValues = webcrypto.getRandomValues.bind(webcrypto);
      Object.defineProperty(globalThis, 'crypto', { configurable: true, value: { getRandomValues, subtle } });
    }
    try {
      const { platformCrypto } = await import('../../src/crypto/platform.js');
      return await platformCrypto();
    } finally {
      Object.defineProperty(globalThis, 'crypto', real);
      vi.resetModules();
    }
  }

  it("Node's WebCrypto passes both known-answer checks (RFC 8032 §7.1 test 2, RFC 7748 §5.2)", async () => {
    expect(await detectWith(undefined)).toEqual({ ed25519: true, x25519: true });
  });

  it('a WebCrypto that accepts a forged signature, or derives the wrong X25519 secret, is not used', async () => {
    const subtle = globalThis.crypto.subtle;
    const lying = Object.create(subtle) as SubtleCrypto;
    Object.defineProperty(lying, 'importKey', { value: subtle.importKey.bind(subtle) });
    Object.defineProperty(lying, 'sign', { value: subtle.sign.bind(subtle) });
    Object.defineProperty(lying, 'verify', { value: async () => true });
    Object.defineProperty(lying, 'deriveBits', { value: async () => new ArrayBuffer(32) });
    expect(await detectWith(lying)).toEqual({ ed25519: false, x25519: false });
    const wrongSignature = Object.create(subtle) as SubtleCrypto;
    Object.defineProperty(wrongSignature, 'importKey', { value: subtle.importKey.bind(subtle) });
    Object.defineProperty(wrongSignature, 'sign', { value: async () => new ArrayBuffer(64) });
    Object.defineProperty(wrongSignature, 'verify', { value: subtle.verify.bind(subtle) });
    Object.defineProperty(wrongSignature, 'deriveBits', { value: subtle.deriveBits.bind(subtle) });
    expect(await detectWith(wrongSignature)).toEqual({ ed25519: false, x25519: true });
  });
});

describe('byte helpers and the random source', () => {
  it('constantTimeEqual is false for arrays of different lengths, even when one is a prefix of the other', () => {
    expect(constantTimeEqual(pattern(4), pattern(4))).toBe(true);
    expect(constantTimeEqual(pattern(4), pattern(5))).toBe(false);
    expect(constantTimeEqual(pattern(5), pattern(4))).toBe(false);
    expect(constantTimeEqual(new Uint8Array(0), new Uint8Array(1))).toBe(false);
  });

  it('wipe zeroes every array it is given and skips undefined ones', () => {
    const a = pattern(8);
    const b = pattern(3, 1);
    wipe(a, undefined, b);
    expect(a).toEqual(new Uint8Array(8));
    expect(b).toEqual(new Uint8Array(3));
  });

  it('setRandomSource refuses what is not a function (INVALID_ARGUMENT) and keeps the source in use', () => {
    const before = getRandomSource();
    invalid(() => setRandomSource('random' as unknown as RandomSource));
    invalid(() => setRandomSource(null as unknown as RandomSource));
    expect(getRandomSource()).toBe(before);
  });
});

it("the noble backend's verification cache is per public key: one cache reused for another key verifies that key", () => {
  const a = Ed25519SecretKey.fromSeed(pattern(32, 1));
  const b = Ed25519SecretKey.fromSeed(pattern(32, 2));
  const message = pattern(6);
  const sa = a.sign(message);
  const sb = b.sign(message);
  const cache = {};
  // Three uses of key a (the third with its precomputed table), then key b with the same cache.
  for (let i = 0; i < 3; i++) expect(nobleBackend.ed25519Verify(a.publicKey, cache, message, sa)).toBe(true);
  expect(nobleBackend.ed25519Verify(b.publicKey, cache, message, sb)).toBe(true);
  expect(nobleBackend.ed25519Verify(b.publicKey, cache, message, sa)).toBe(false);
  expect(nobleBackend.ed25519Verify(a.publicKey, cache, message, sa)).toBe(true);
});

describe('baseMultiply (node backend, expanded keys) at the nonces its fast path cannot take', () => {
  it('r = 0, 8, 16 and 8·2^252 mod L (j outside [2^251, 2^252)) give the same point as noble', () => {
    const L = ED25519_L;
    for (const r of [0n, 8n, 16n, (8n * (1n << 252n)) % L, (8n * (L - 1n)) % L]) {
      const expected = r === 0n ? ed25519.Point.ZERO.toBytes() : ed25519.Point.BASE.multiply(r).toBytes();
      expect(toHex(baseMultiply(r)), `r = ${r}`).toBe(toHex(expected));
    }
  });
});
