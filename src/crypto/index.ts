/**
 * The crypto layer's face: the only module the protocol code imports for primitives.
 * It validates lengths at the boundary, delegates to the active backend, raises typed errors,
 * and owns backend selection and the hash/KDF/cipher wrappers. It re-exports the rest, so importers
 * see one module: the curve keys (curves.ts), the random source (random.ts), the shared state
 * (active.ts) and the byte helpers (bytes.ts).
 */

import * as defaultBackend from '#crypto-default';
import { isBytes } from '../encoding/binary.js';
import { DecryptionError, invalidArgument } from '../errors.js';
import { active, setActive } from './active.js';
import type { CryptoBackend } from './backend.js';
import { checkLength } from './bytes.js';
import { Ed25519SecretKey, ed25519Verify, X25519SecretKey } from './curves.js';
import { setSystemFill } from './random.js';
import {
  hkdfSha256 as rawHkdfSha256,
  hkdfSha256Expand as rawHkdfSha256Expand,
  hkdfSha256ExpandInto as rawHkdfSha256ExpandInto,
  hkdfSha256Into as rawHkdfSha256Into,
  warmUpSha256,
} from './sha256.js';

export type { CurveInterceptor, CurveOperation } from './active.js';
export { setCurveInterceptor } from './active.js';
export type { CryptoBackend, KeyCache } from './backend.js';
export { constantTimeEqual, wipe } from './bytes.js';
export { Ed25519SecretKey, ed25519Verify, smallOrderPointEncodings, X25519SecretKey } from './curves.js';
export type { RandomSource } from './random.js';
export { getRandomSource, randomBytes, setRandomSource } from './random.js';

// The default backend's own CSPRNG where it has one (node:crypto's on the node backend: see random.ts).
if (defaultBackend.systemRandomFill !== undefined) setSystemFill(defaultBackend.systemRandomFill);

export { HmacSha256Key, hkdfSha256Extract } from './sha256.js';

/** The backend in use: `node` (node:crypto) under Node's export condition, `noble` elsewhere. */
export function cryptoBackend(): CryptoBackend {
  return active ?? defaultBackend.default;
}

// Every method a backend must have (checked when one is installed, so a partial object fails there
// rather than in the middle of an operation).
const BACKEND_METHODS: readonly (keyof CryptoBackend)[] = [
  'sha256',
  'sha512',
  'hmacSha256',
  'hmacSha512',
  'hkdfSha512',
  'pbkdf2HmacSha512',
  'scrypt',
  'aes256CbcEncrypt',
  'aes256CbcDecrypt',
  'aes256Ctr',
  'chacha20Poly1305Seal',
  'chacha20Poly1305Open',
  'x25519PublicKey',
  'x25519',
  'ed25519PublicKeyFromSeed',
  'ed25519SignWithSeed',
  'ed25519PublicKeyFromScalar',
  'ed25519SignExpanded',
  'ed25519Verify',
];

/**
 * Replaces the backend: `nodeBackend` from 'triturus/crypto/node' or `nobleBackend` from
 * 'triturus/crypto/noble' (e.g. to run the pure-JavaScript one under Node). Affects later calls
 * only. Throws INVALID_ARGUMENT, keeping the backend in use, for anything else.
 */
export function setCryptoBackend(backend: CryptoBackend): void {
  if (
    backend === null ||
    typeof backend !== 'object' ||
    (backend.name !== 'node' && backend.name !== 'noble') ||
    BACKEND_METHODS.some((method) => typeof backend[method] !== 'function')
  ) {
    throw invalidArgument('expected a crypto backend (nodeBackend or nobleBackend)');
  }
  setActive(backend === defaultBackend.default ? undefined : backend);
}

/** The name of the backend in use, without reaching the default backend's object (which keeps all of it in a bundle). */
export function cryptoBackendName(): 'node' | 'noble' {
  return active !== undefined ? active.name : defaultBackend.backendName;
}
// ---------------------------------------------------------------------------------------------
// Hashes, MACs, KDFs

export function sha256(data: Uint8Array): Uint8Array {
  return active === undefined ? defaultBackend.sha256(data) : active.sha256(data);
}
export function sha512(data: Uint8Array): Uint8Array {
  return active === undefined ? defaultBackend.sha512(data) : active.sha512(data);
}
export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  return active === undefined ? defaultBackend.hmacSha256(key, data) : active.hmacSha256(key, data);
}
export function hmacSha512(key: Uint8Array, data: Uint8Array): Uint8Array {
  return active === undefined ? defaultBackend.hmacSha512(key, data) : active.hmacSha512(key, data);
}
function checkOutputLength(what: string, length: number, max: number): void {
  if (!Number.isSafeInteger(length) || length < 1 || length > max) {
    throw invalidArgument(`${what} output length must be an integer from 1 to ${max}`, { actual: length });
  }
}

/** HKDF-SHA256 (RFC 5869), computed by the tuned JavaScript SHA-256 on every backend. */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  checkOutputLength('HKDF-SHA256', length, 255 * 32);
  return rawHkdfSha256(ikm, salt, info, length);
}

/** HKDF-SHA256 writing into `out` at `offset` (no allocation on the hot path). */
export function hkdfSha256Into(
  ikm: Uint8Array,
  salt: Uint8Array,
  info: Uint8Array,
  length: number,
  out: Uint8Array,
  offset: number,
): void {
  checkOutputLength('HKDF-SHA256', length, 255 * 32);
  if (offset < 0 || offset + length > out.length) throw invalidArgument('HKDF output does not fit the buffer');
  rawHkdfSha256Into(ikm, salt, info, length, out, offset);
}

export function hkdfSha256Expand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  checkOutputLength('HKDF-SHA256', length, 255 * 32);
  return rawHkdfSha256Expand(prk, info, length);
}

export function hkdfSha256ExpandInto(
  prk: Uint8Array,
  info: Uint8Array,
  length: number,
  out: Uint8Array,
  offset: number,
): void {
  checkOutputLength('HKDF-SHA256', length, 255 * 32);
  if (offset < 0 || offset + length > out.length) throw invalidArgument('HKDF output does not fit the buffer');
  rawHkdfSha256ExpandInto(prk, info, length, out, offset);
}

export function hkdfSha512(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  checkOutputLength('HKDF-SHA512', length, 255 * 64);
  return active === undefined
    ? defaultBackend.hkdfSha512(ikm, salt, info, length)
    : active.hkdfSha512(ikm, salt, info, length);
}

export function pbkdf2HmacSha512(
  password: Uint8Array,
  salt: Uint8Array,
  iterations: number,
  length: number,
): Uint8Array {
  if (!Number.isSafeInteger(iterations) || iterations < 1) {
    throw invalidArgument('PBKDF2 iterations must be a positive integer', { actual: iterations });
  }
  checkOutputLength('PBKDF2', length, 1 << 20);
  return active === undefined
    ? defaultBackend.pbkdf2HmacSha512(password, salt, iterations, length)
    : active.pbkdf2HmacSha512(password, salt, iterations, length);
}

/**
 * scrypt (RFC 7914) on the active backend, asynchronously. Internal callers check the parameters
 * (the public face is `pickleKeyFromPassphrase`); this only guards the shape.
 */
export function scrypt(
  password: Uint8Array,
  salt: Uint8Array,
  cost: { N: number; r: number; p: number },
  length: number,
  onProgress?: (fraction: number) => void,
): Promise<Uint8Array> {
  const { N, r, p } = cost;
  if (!Number.isSafeInteger(N) || N < 2 || !Number.isInteger(Math.log2(N))) {
    throw invalidArgument('scrypt N must be a power of two ≥ 2', { actual: N });
  }
  if (!Number.isSafeInteger(r) || r < 1 || !Number.isSafeInteger(p) || p < 1) {
    throw invalidArgument('scrypt r and p must be positive integers');
  }
  checkOutputLength('scrypt', length, 1 << 20);
  return active === undefined
    ? defaultBackend.scrypt(password, salt, { N, r, p }, length, onProgress)
    : active.scrypt(password, salt, { N, r, p }, length, onProgress);
}

// ---------------------------------------------------------------------------------------------
// Ciphers

export function aes256CbcEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): Uint8Array {
  checkLength('AES-256 key', key, 32);
  checkLength('AES-CBC IV', iv, 16);
  return active === undefined
    ? defaultBackend.aes256CbcEncrypt(key, iv, plaintext)
    : active.aes256CbcEncrypt(key, iv, plaintext);
}

/** AES-256-CBC decryption with the whole PKCS#7 padding checked. */
export function aes256CbcDecrypt(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  checkLength('AES-256 key', key, 32);
  checkLength('AES-CBC IV', iv, 16);
  if (ciphertext.length === 0 || ciphertext.length % 16 !== 0) {
    throw new DecryptionError(
      'CIPHERTEXT_INVALID_LENGTH',
      'AES-CBC ciphertext length must be a positive multiple of 16',
      {
        actual: ciphertext.length,
      },
    );
  }
  const plaintext =
    active === undefined
      ? defaultBackend.aes256CbcDecrypt(key, iv, ciphertext)
      : active.aes256CbcDecrypt(key, iv, ciphertext);
  if (plaintext === undefined) throw new DecryptionError('PADDING_INVALID', 'AES-CBC padding is invalid');
  return plaintext;
}

export function aes256Ctr(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  checkLength('AES-256 key', key, 32);
  checkLength('AES-CTR IV', iv, 16);
  return active === undefined ? defaultBackend.aes256Ctr(key, iv, data) : active.aes256Ctr(key, iv, data);
}

/** AES-GCM (NIST SP 800-38D) with a 16- or 32-byte key, a 12-byte nonce and a 16-byte tag. */
export function aesGcmSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array = new Uint8Array(0),
): Uint8Array {
  checkAesGcmKey(key);
  checkLength('AES-GCM nonce', nonce, 12);
  return active === undefined
    ? defaultBackend.aesGcmSeal(key, nonce, plaintext, aad)
    : active.aesGcmSeal(key, nonce, plaintext, aad);
}

export function aesGcmOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array = new Uint8Array(0),
): Uint8Array {
  checkAesGcmKey(key);
  checkLength('AES-GCM nonce', nonce, 12);
  const out =
    sealed.length < 16
      ? undefined
      : active === undefined
        ? defaultBackend.aesGcmOpen(key, nonce, sealed, aad)
        : active.aesGcmOpen(key, nonce, sealed, aad);
  if (out === undefined) throw new DecryptionError('AEAD_TAG_MISMATCH', 'AES-GCM authentication failed');
  return out;
}

function checkAesGcmKey(key: Uint8Array): void {
  if (!isBytes(key)) throw invalidArgument('AES-GCM key must be a Uint8Array');
  if (key.length !== 16 && key.length !== 32) {
    throw invalidArgument('AES-GCM key must be 16 or 32 bytes', { actual: key.length });
  }
}

export function chacha20Poly1305Seal(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array = new Uint8Array(0),
): Uint8Array {
  checkLength('ChaCha20-Poly1305 key', key, 32);
  checkLength('ChaCha20-Poly1305 nonce', nonce, 12);
  return active === undefined
    ? defaultBackend.chacha20Poly1305Seal(key, nonce, plaintext, aad)
    : active.chacha20Poly1305Seal(key, nonce, plaintext, aad);
}

export function chacha20Poly1305Open(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array = new Uint8Array(0),
): Uint8Array {
  checkLength('ChaCha20-Poly1305 key', key, 32);
  checkLength('ChaCha20-Poly1305 nonce', nonce, 12);
  const out =
    sealed.length < 16
      ? undefined
      : active === undefined
        ? defaultBackend.chacha20Poly1305Open(key, nonce, sealed, aad)
        : active.chacha20Poly1305Open(key, nonce, sealed, aad);
  if (out === undefined) throw new DecryptionError('AEAD_TAG_MISMATCH', 'ChaCha20-Poly1305 authentication failed');
  return out;
}

/**
 * Builds the backend's lazily made tables (noble's base-point precomputation; OpenSSL's key
 * providers and cipher tables) now, and runs the tuned SHA-256/HMAC/HKDF code until the engine
 * compiles it, so that the first real operations, and the first messages, are not the slow ones.
 * Call it at idle, e.g. after start-up or page load; it is never required.
 */
export function warmUp(): void {
  const x = X25519SecretKey.generate();
  x.diffieHellman(X25519SecretKey.generate().publicKey);
  const e = Ed25519SecretKey.generate();
  const message = new Uint8Array(1);
  ed25519Verify(e.publicKey, message, e.sign(message));
  x.wipe();
  e.wipe();
  const key = new Uint8Array(32);
  aes256CbcDecrypt(key, key.subarray(0, 16), aes256CbcEncrypt(key, key.subarray(0, 16), message));
  warmUpSha256();
}
