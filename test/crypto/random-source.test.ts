/**
 * The injectable random source: setRandomSource makes key generation deterministic, and
 * setRandomSource(undefined) restores the system CSPRNG.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  Ed25519SecretKey,
  type RandomSource,
  randomBytes,
  setRandomSource,
  X25519SecretKey,
} from '../../src/crypto/index.js';
import { setSystemFill } from '../../src/crypto/random.js';
import { TriturusError } from '../../src/errors.js';
import { describeEachBackend, toHex } from './helpers.js';

/** A deterministic source: a simple counter stream from `seed`. */
function counterSource(seed: number): RandomSource {
  let state = seed;
  return (out) => {
    for (let i = 0; i < out.length; i++) {
      state = (state * 1103515245 + 12345) >>> 0;
      out[i] = state >>> 24;
    }
  };
}

afterEach(() => setRandomSource(undefined));

describeEachBackend('setRandomSource', () => {
  it('makes X25519SecretKey.generate() deterministic', () => {
    setRandomSource(counterSource(1));
    const a = X25519SecretKey.generate();
    setRandomSource(counterSource(1));
    const b = X25519SecretKey.generate();
    expect(toHex(a.toBytes())).toBe(toHex(b.toBytes()));
    expect(toHex(a.publicKey)).toBe(toHex(b.publicKey));
    // The generated key is exactly the source's 32 bytes, with the matching public key.
    const expected = new Uint8Array(32);
    counterSource(1)(expected);
    expect(toHex(a.toBytes())).toBe(toHex(expected));
    expect(toHex(a.publicKey)).toBe(toHex(X25519SecretKey.fromBytes(expected).publicKey));
    // A different seed gives a different key.
    setRandomSource(counterSource(2));
    expect(toHex(X25519SecretKey.generate().toBytes())).not.toBe(toHex(a.toBytes()));
  });

  it('makes Ed25519SecretKey.generate() and randomBytes deterministic', () => {
    setRandomSource(counterSource(7));
    const a = Ed25519SecretKey.generate();
    const r1 = randomBytes(50);
    setRandomSource(counterSource(7));
    const b = Ed25519SecretKey.generate();
    const r2 = randomBytes(50);
    expect(toHex(a.seedBytes()!)).toBe(toHex(b.seedBytes()!));
    expect(toHex(a.publicKey)).toBe(toHex(b.publicKey));
    expect(toHex(r1)).toBe(toHex(r2));
  });

  it('restoring with undefined gives fresh randomness again', () => {
    setRandomSource(counterSource(1));
    const fixed = X25519SecretKey.generate().toBytes();
    setRandomSource(undefined);
    const seen = new Set<string>([toHex(fixed)]);
    for (let i = 0; i < 8; i++) seen.add(toHex(X25519SecretKey.generate().toBytes()));
    expect(seen.size).toBe(9);
    const e1 = Ed25519SecretKey.generate().seedBytes()!;
    const e2 = Ed25519SecretKey.generate().seedBytes()!;
    expect(toHex(e1)).not.toBe(toHex(e2));
  });
});

describe('randomBytes from the system source', () => {
  it('fills buffers larger than the 65536-byte getRandomValues limit, every chunk', () => {
    const out = randomBytes(3 * 65536 + 100);
    expect(out.length).toBe(3 * 65536 + 100);
    for (const start of [0, 65536, 2 * 65536, 3 * 65536]) {
      const chunk = out.subarray(start, start + 100);
      expect(
        chunk.some((b) => b !== 0),
        `chunk at ${start}`,
      ).toBe(true);
    }
  });

  it('many small draws (across internal refills) are all distinct and never all-zero', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 600; i++) {
      const n = 1 + (i % 64) * 4;
      const draw = randomBytes(n);
      expect(draw.length).toBe(n);
      if (n >= 16) {
        expect(draw.some((b) => b !== 0)).toBe(true);
        seen.add(toHex(draw));
      }
    }
    expect(seen.size).toBe([...Array(600).keys()].filter((i) => 1 + (i % 64) * 4 >= 16).length);
  });

  it('returns an empty array for length 0 and distinct values on each call', () => {
    expect(randomBytes(0).length).toBe(0);
    expect(toHex(randomBytes(32))).not.toBe(toHex(randomBytes(32)));
  });
});

describe("the node backend's own random source", () => {
  it("without WebCrypto: the node backend's source is node:crypto's, the noble backend has none", async () => {
    const { cryptoBackendName } = await import('../../src/crypto/index.js');
    const saved = Object.getOwnPropertyDescriptor(globalThis, 'crypto');
    Object.defineProperty(globalThis, 'crypto', { value: undefined, configurable: true, writable: true });
    try {
      if (cryptoBackendName() === 'node') {
        const a = randomBytes(5000);
        const b = randomBytes(5000);
        expect(a.some((x) => x !== 0)).toBe(true);
        expect(toHex(a)).not.toBe(toHex(b));
      } else {
        expect(() => randomBytes(5000)).toThrow(TriturusError);
      }
    } finally {
      Object.defineProperty(globalThis, 'crypto', saved!);
    }
  });
});

describe('no system random source (an engine without WebCrypto)', () => {
  it('generating a key is a TriturusError RANDOM_UNAVAILABLE, and works again once getRandomValues is back', () => {
    // What a backend brings (the node backend: node:crypto's CSPRNG) is set aside: an engine without
    // WebCrypto runs the noble backend, which brings none.
    const backendFill = setSystemFill(undefined);
    const saved = Object.getOwnPropertyDescriptor(globalThis, 'crypto');
    Object.defineProperty(globalThis, 'crypto', { value: undefined, configurable: true, writable: true });
    let error: unknown;
    try {
      // More than the pool holds, so the system source is asked whatever the pool has left.
      randomBytes(5000);
    } catch (e) {
      error = e;
    } finally {
      Object.defineProperty(globalThis, 'crypto', saved!);
    }
    expect(randomBytes(5000).some((b) => b !== 0)).toBe(true);
    setSystemFill(backendFill);
    expect(error).toBeInstanceOf(TriturusError);
    expect((error as TriturusError).code).toBe('RANDOM_UNAVAILABLE');
    expect(randomBytes(5000).some((b) => b !== 0)).toBe(true);
  });
});
