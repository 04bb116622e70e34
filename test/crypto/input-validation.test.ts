/**
 * Input validation at the crypto face: wrong key, IV, nonce and secret lengths (and non-byte
 * inputs) throw a TriturusError with code INVALID_ARGUMENT carrying the expected and actual
 * lengths — never a backend crash (TypeError/RangeError from node:crypto or noble).
 */
import { expect, it } from 'vitest';
import {
  aes256CbcDecrypt,
  aes256CbcEncrypt,
  aes256Ctr,
  chacha20Poly1305Open,
  chacha20Poly1305Seal,
  Ed25519SecretKey,
  ed25519Verify,
  hkdfSha512,
  pbkdf2HmacSha512,
  X25519SecretKey,
} from '../../src/crypto/index.js';
import { TriturusError } from '../../src/errors.js';
import { describeEachBackend, expectTriturusError } from './helpers.js';

const bytes = (n: number) => new Uint8Array(n).fill(1);
const WRONG_32 = [0, 1, 16, 24, 31, 33, 64];
const WRONG_16 = [0, 8, 12, 15, 17, 32];
const WRONG_12 = [0, 8, 11, 13, 16, 24];

function invalid(fn: () => unknown, expected?: number, actual?: number): void {
  const error = expectTriturusError(fn, TriturusError, 'INVALID_ARGUMENT');
  if (expected !== undefined) expect(error.details.expected).toBe(expected);
  if (actual !== undefined) expect(error.details.actual).toBe(actual);
}

describeEachBackend('input validation', () => {
  it('AES-256-CBC and CTR: key must be 32 bytes, IV 16', () => {
    for (const n of WRONG_32) {
      invalid(() => aes256CbcEncrypt(bytes(n), bytes(16), bytes(5)), 32, n);
      invalid(() => aes256CbcDecrypt(bytes(n), bytes(16), bytes(16)), 32, n);
      invalid(() => aes256Ctr(bytes(n), bytes(16), bytes(5)), 32, n);
    }
    for (const n of WRONG_16) {
      invalid(() => aes256CbcEncrypt(bytes(32), bytes(n), bytes(5)), 16, n);
      invalid(() => aes256CbcDecrypt(bytes(32), bytes(n), bytes(16)), 16, n);
      invalid(() => aes256Ctr(bytes(32), bytes(n), bytes(5)), 16, n);
    }
  });

  it('ChaCha20-Poly1305: key must be 32 bytes, nonce 12 (seal and open)', () => {
    for (const n of WRONG_32) {
      invalid(() => chacha20Poly1305Seal(bytes(n), bytes(12), bytes(5)), 32, n);
      invalid(() => chacha20Poly1305Open(bytes(n), bytes(12), bytes(32)), 32, n);
    }
    for (const n of WRONG_12) {
      invalid(() => chacha20Poly1305Seal(bytes(32), bytes(n), bytes(5)), 12, n);
      invalid(() => chacha20Poly1305Open(bytes(32), bytes(n), bytes(32)), 12, n);
    }
  });

  it('X25519: secret and public keys must be 32 bytes', () => {
    const key = X25519SecretKey.fromBytes(bytes(32));
    for (const n of WRONG_32) {
      invalid(() => X25519SecretKey.fromBytes(bytes(n)), 32, n);
      invalid(() => X25519SecretKey.fromParts(bytes(n), bytes(32)), 32, n);
      invalid(() => X25519SecretKey.fromParts(bytes(32), bytes(n)), 32, n);
      invalid(() => key.diffieHellman(bytes(n)), 32, n);
    }
  });

  it('Ed25519: seed 32 bytes, expanded key 64, public key 32', () => {
    for (const n of WRONG_32) {
      invalid(() => Ed25519SecretKey.fromSeed(bytes(n)), 32, n);
      invalid(() => Ed25519SecretKey.fromSeed(bytes(32), bytes(n)), 32, n);
      invalid(() => Ed25519SecretKey.fromExpanded(bytes(64), bytes(n)), 32, n);
    }
    for (const n of [0, 32, 63, 65, 96]) invalid(() => Ed25519SecretKey.fromExpanded(bytes(n)), 64, n);
  });

  it('ed25519Verify treats wrong lengths as a failed verification, not an error', () => {
    for (const n of [0, 31, 33, 64]) expect(ed25519Verify(bytes(n), bytes(3), bytes(64))).toBe(false);
    for (const n of [0, 32, 63, 65, 128]) expect(ed25519Verify(bytes(32), bytes(3), bytes(n))).toBe(false);
  });

  it('values that are not Uint8Array are refused as INVALID_ARGUMENT', () => {
    const notBytes = [[1, 2, 3], 'a'.repeat(32), new Array(32).fill(0), new Uint16Array(32)] as unknown as Uint8Array[];
    for (const value of notBytes) {
      invalid(() => aes256CbcEncrypt(value, bytes(16), bytes(1)));
      invalid(() => aes256Ctr(bytes(32), value, bytes(1)));
      invalid(() => chacha20Poly1305Seal(value, bytes(12), bytes(1)));
      invalid(() => X25519SecretKey.fromBytes(value));
      invalid(() => Ed25519SecretKey.fromSeed(value));
    }
  });

  it('a Buffer (a Uint8Array subclass) is accepted', () => {
    const out = aes256Ctr(Buffer.alloc(32, 3), Buffer.alloc(16, 4), Buffer.from('hello'));
    expect(out.length).toBe(5);
  });

  it('PBKDF2 iterations must be a positive integer; HKDF-SHA512 output at most 16320 bytes', () => {
    for (const iterations of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      invalid(() => pbkdf2HmacSha512(bytes(8), bytes(8), iterations, 32));
    }
    invalid(() => hkdfSha512(bytes(8), bytes(8), bytes(8), 16321), undefined, 16321);
  });

  it('a refused call leaves keys usable (no partial state)', () => {
    const key = X25519SecretKey.fromBytes(bytes(32));
    const before = key.diffieHellman(X25519SecretKey.fromBytes(bytes(32).fill(2)).publicKey);
    invalid(() => key.diffieHellman(bytes(31)));
    expect(key.diffieHellman(X25519SecretKey.fromBytes(bytes(32).fill(2)).publicKey)).toEqual(before);
  });
});
