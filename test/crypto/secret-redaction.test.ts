/**
 * Secret-holding objects never print their secrets: String(), template literals, JSON.stringify
 * and util.inspect (also nested, with showHidden and unlimited depth) of X25519SecretKey and
 * Ed25519SecretKey contain none of the secret bytes in hex (either case), base64 (padded,
 * unpadded, URL-safe) or as a comma/space-separated list of byte values.
 */
import { inspect } from 'node:util';
import { expect, it } from 'vitest';
import { Ed25519SecretKey, X25519SecretKey } from '../../src/crypto/index.js';
import { describeEachBackend, expandSeed, toHex } from './helpers.js';

/** Distinctive secret bytes: no long runs, so any fragment of an encoding is recognisable. */
const SECRET = Uint8Array.from({ length: 32 }, (_, i) => (i * 73 + 41) & 0xff);

function encodings(secret: Uint8Array): string[] {
  const buffer = Buffer.from(secret);
  const b64 = buffer.toString('base64');
  const list = [...secret];
  return [
    toHex(secret),
    toHex(secret).toUpperCase(),
    b64,
    b64.replace(/=+$/, ''),
    buffer.toString('base64url'),
    list.join(','),
    list.join(', '),
    list.join(' '),
    // Enough of a hex or base64 prefix to identify the key.
    toHex(secret).slice(0, 16),
    b64.slice(0, 12),
  ];
}

function renderings(value: unknown): string[] {
  return [
    String(value),
    `${value}`,
    JSON.stringify(value),
    JSON.stringify({ key: value }),
    JSON.stringify([value]),
    inspect(value),
    inspect({ nested: { key: value } }),
    inspect(value, { showHidden: true, depth: Number.POSITIVE_INFINITY, getters: true }),
    inspect([value], { showHidden: true, depth: Number.POSITIVE_INFINITY }),
  ];
}

function expectNoLeak(value: unknown, secrets: Uint8Array[]): void {
  for (const rendered of renderings(value)) {
    // util.inspect lays byte lists out in padded columns: compare without whitespace too.
    for (const text of [rendered, rendered.replace(/\s+/g, '')]) {
      for (const secret of secrets) {
        for (const encoding of encodings(secret)) {
          expect(text.includes(encoding), `${JSON.stringify(text)} contains ${encoding}`).toBe(false);
        }
      }
    }
  }
}

describeEachBackend('secrets never print', () => {
  it('the leak check itself catches raw bytes, hex and base64 (control)', () => {
    expect(() => expectNoLeak({ leaked: SECRET }, [SECRET])).toThrow();
    expect(() => expectNoLeak(Buffer.from(SECRET), [SECRET])).toThrow();
    expect(() => expectNoLeak({ hex: toHex(SECRET) }, [SECRET])).toThrow();
    expect(() => expectNoLeak({ b64: Buffer.from(SECRET).toString('base64url') }, [SECRET])).toThrow();
  });

  it('X25519SecretKey, before and after its public key and backend handle exist', () => {
    const key = X25519SecretKey.fromBytes(SECRET);
    expectNoLeak(key, [SECRET]);
    key.diffieHellman(key.publicKey); // populates the backend's cached handle
    expectNoLeak(key, [SECRET]);
    expect(String(key)).toContain('redacted');
  });

  it('X25519SecretKey from fromParts and generate', () => {
    expectNoLeak(X25519SecretKey.fromParts(SECRET, new Uint8Array(32)), [SECRET]);
    const generated = X25519SecretKey.generate();
    expectNoLeak(generated, [generated.toBytes()]);
  });

  it('Ed25519SecretKey from a seed: neither the seed nor its expanded form leaks', () => {
    const key = Ed25519SecretKey.fromSeed(SECRET);
    const expanded = expandSeed(SECRET);
    expectNoLeak(key, [SECRET, expanded.subarray(0, 32), expanded.subarray(32)]);
    key.sign(new Uint8Array([1, 2, 3])); // populates the cached handle
    expectNoLeak(key, [SECRET, expanded.subarray(0, 32), expanded.subarray(32)]);
    expect(String(key)).toContain('redacted');
  });

  it('Ed25519SecretKey from a libolm expanded key', () => {
    const expanded = expandSeed(SECRET);
    const key = Ed25519SecretKey.fromExpanded(expanded);
    key.sign(new Uint8Array([4]));
    expectNoLeak(key, [expanded.subarray(0, 32), expanded.subarray(32)]);
  });

  it('the public key is not hidden by mistake: it is still available through publicKey', () => {
    const key = X25519SecretKey.fromBytes(SECRET);
    expect(key.publicKey.length).toBe(32);
    expect(toHex(key.toBytes())).toBe(toHex(SECRET));
  });
});
