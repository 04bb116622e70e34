/**
 * Shared helpers for the crypto tests. Hex conversion is done here (never with the code under
 * test), and every known-answer case runs against both backends whatever the vitest project.
 */
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect } from 'vitest';
import { cryptoBackend, setCryptoBackend } from '../../src/crypto/index.js';
import { nobleBackend } from '../../src/crypto/noble.js';
import { nodeBackend } from '../../src/crypto/node.js';
import { TriturusError } from '../../src/errors.js';

/** The backend `#crypto-default` resolved to in this project; restored after every test. */
export const defaultBackend = cryptoBackend();

export const backends = [nodeBackend, nobleBackend] as const;

/** Decodes hex, ignoring whitespace (vectors are pasted in the RFCs' line layout). */
export function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) throw new Error(`bad hex in test vector: ${text}`);
  return Uint8Array.from(Buffer.from(clean, 'hex'));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
}

export function ascii(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text, 'latin1'));
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts));
}

/**
 * Declares `body` once per backend, with that backend active during each test and the
 * project's default restored afterwards.
 */
export function describeEachBackend(title: string, body: (backend: (typeof backends)[number]) => void): void {
  for (const backend of backends) {
    describe(`${title} [${backend.name} backend]`, () => {
      beforeEach(() => setCryptoBackend(backend));
      afterEach(() => setCryptoBackend(defaultBackend));
      body(backend);
    });
  }
}

/** Runs `fn` with `backend` active, restoring the default even if it throws. */
export function withBackend<T>(backend: (typeof backends)[number], fn: () => T): T {
  setCryptoBackend(backend);
  try {
    return fn();
  } finally {
    setCryptoBackend(defaultBackend);
  }
}

/** Asserts that `fn` throws an instance of `type` (a TriturusError subclass) with `code`. */
export function expectTriturusError(
  fn: () => unknown,
  type: abstract new (...args: never[]) => TriturusError,
  code: string,
): TriturusError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught, 'expected a throw').toBeInstanceOf(type);
  expect(caught).toBeInstanceOf(TriturusError);
  expect((caught as TriturusError).code).toBe(code);
  return caught as TriturusError;
}

/** Little-endian 32-byte encoding of a non-negative bigint below 2^256. */
export function numberToBytesLE(n: bigint, length = 32): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++, n >>= 8n) out[i] = Number(n & 0xffn);
  return out;
}

export function bytesToNumberLE(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

/** Flips one bit of a copy. */
export function flipBit(bytes: Uint8Array, index: number, bit = 0): Uint8Array {
  const copy = bytes.slice();
  copy[index]! ^= 1 << bit;
  return copy;
}

/** libolm's expanded Ed25519 secret: SHA-512(seed) with the scalar half clamped (RFC 8032 §5.1.5), via node:crypto. */
export function expandSeed(seed: Uint8Array): Uint8Array {
  const h = Uint8Array.from(createHash('sha512').update(seed).digest());
  h[0]! &= 248;
  h[31]! &= 127;
  h[31]! |= 64;
  return h;
}
