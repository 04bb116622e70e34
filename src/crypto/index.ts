/**
 * The crypto layer's face: the only module the protocol code imports for primitives.
 * It validates lengths at the boundary, delegates to the active backend, raises typed errors,
 * and owns the one injectable random source.
 */

import * as defaultBackend from '#crypto-default';
import { isBytes } from '../encoding/binary.js';
import { DecryptionError, invalidArgument, KeyError, TriturusError } from '../errors.js';
import { redactInspect } from '../inspect.js';
import type { CryptoBackend, KeyCache } from './backend.js';
import {
  hkdfSha256 as rawHkdfSha256,
  hkdfSha256Expand as rawHkdfSha256Expand,
  hkdfSha256ExpandInto as rawHkdfSha256ExpandInto,
  hkdfSha256Into as rawHkdfSha256Into,
  warmUpSha256,
} from './sha256.js';

export type { CryptoBackend, KeyCache } from './backend.js';
export { HmacSha256Key, hkdfSha256Extract } from './sha256.js';

// Undefined while the default backend is in use: calls then go to its named exports one by one
// (`defaultBackend.sha512(...)`), so a bundler keeps only the primitives a program reaches.
let active: CryptoBackend | undefined;

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
  active = backend === defaultBackend.default ? undefined : backend;
}

// ---------------------------------------------------------------------------------------------
// Randomness

export type RandomSource = (out: Uint8Array) => void;

// getRandomValues costs ~1.8 µs per call whatever the size (Node 20) while 4 KiB cost 2.3 µs, so
// small requests are served from a pool. Bytes handed out are zeroed in the pool at once.
const POOL_SIZE = 4096;
const pool = new Uint8Array(POOL_SIZE);
let poolOffset = POOL_SIZE;

function fillFromSystem(out: Uint8Array): void {
  // An engine without WebCrypto (React Native without a polyfill, a bare QuickJS) has no CSPRNG to offer.
  if (typeof globalThis.crypto?.getRandomValues !== 'function') {
    throw new TriturusError(
      'RANDOM_UNAVAILABLE',
      'no secure random source: globalThis.crypto.getRandomValues is missing (install a polyfill or call setRandomSource)',
    );
  }
  // getRandomValues fills at most 65536 bytes per call (WebCrypto).
  for (let offset = 0; offset < out.length; offset += 65536) {
    globalThis.crypto.getRandomValues(
      out.subarray(offset, Math.min(out.length, offset + 65536)) as Uint8Array<ArrayBuffer>,
    );
  }
}

const systemRandom: RandomSource = (out) => {
  const n = out.length;
  if (n > 256) {
    fillFromSystem(out);
    return;
  }
  if (poolOffset + n > POOL_SIZE) {
    fillFromSystem(pool);
    poolOffset = 0;
  }
  for (let i = 0; i < n; i++) {
    out[i] = pool[poolOffset + i]!;
    pool[poolOffset + i] = 0;
  }
  poolOffset += n;
};
let random: RandomSource = systemRandom;

/**
 * Replaces the random source. For deterministic tests and fixtures only: a predictable source
 * makes every key predictable. Pass undefined to restore the system's CSPRNG.
 */
export function setRandomSource(source: RandomSource | undefined): void {
  if (source !== undefined && typeof source !== 'function') {
    throw invalidArgument('the random source must be a function (or undefined for the system source)');
  }
  random = source ?? systemRandom;
}

// ---------------------------------------------------------------------------------------------
// The curve interceptor (src/crypto/platform.ts)

/** The curve operations the platform seam can take over, with their inputs. */
export type CurveOperation = 'verify' | 'sign' | 'dh' | 'public';
/**
 * Called instead of the backend for the curve operations while set; `compute` is the backend's own
 * answer. Internal: set by `withPlatformCrypto` around a synchronous call, never across a turn.
 */
export type CurveInterceptor = (
  operation: CurveOperation,
  inputs: Uint8Array[],
  cache: KeyCache,
  compute: () => unknown,
) => unknown;
let interceptor: CurveInterceptor | undefined;

/** @internal */
export function setCurveInterceptor(value: CurveInterceptor | undefined): void {
  interceptor = value;
}

/** The name of the backend in use, without reaching the default backend's object (which keeps all of it in a bundle). */
export function cryptoBackendName(): 'node' | 'noble' {
  return active !== undefined ? active.name : defaultBackend.backendName;
}

function x25519Public(secret: Uint8Array, cache: KeyCache): Uint8Array {
  if (interceptor !== undefined) {
    return interceptor('public', [secret], cache, () =>
      active === undefined ? defaultBackend.x25519PublicKey(secret, cache) : active.x25519PublicKey(secret, cache),
    ) as Uint8Array;
  }
  return active === undefined ? defaultBackend.x25519PublicKey(secret, cache) : active.x25519PublicKey(secret, cache);
}

/** The random source in use (the system's unless `setRandomSource` replaced it). */
export function getRandomSource(): RandomSource {
  return random;
}

export function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  random(out);
  return out;
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

function checkLength(what: string, bytes: Uint8Array, expected: number): void {
  if (!isBytes(bytes)) throw invalidArgument(`${what} must be a Uint8Array`);
  if (bytes.length !== expected) {
    throw invalidArgument(`${what} must be ${expected} bytes`, { expected, actual: bytes.length });
  }
}

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

// ---------------------------------------------------------------------------------------------
// Comparison and wiping

/** Compares two byte arrays in time that depends only on their lengths. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Overwrites secrets with zeros. JavaScript cannot promise no copy survives (see SECURITY.md). */
export function wipe(...arrays: (Uint8Array | undefined)[]): void {
  for (const a of arrays) a?.fill(0);
}

function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < bytes.length; i++) acc |= bytes[i]!;
  return acc === 0;
}

// ---------------------------------------------------------------------------------------------
// X25519

const REDACTED = '[redacted]';

/**
 * An X25519 secret key. The public key is computed once; the backend's handle for the secret
 * is created on first use and cached, so a key that is only stored (one-time keys in a pickle)
 * costs nothing until it is used.
 */
export class X25519SecretKey {
  /** Brand check: only objects this class built (not a Proxy, not Object.create of the prototype). */
  static [Symbol.hasInstance](value: unknown): value is X25519SecretKey {
    return typeof value === 'object' && value !== null && #secret in value;
  }

  readonly #secret: Uint8Array;
  #publicKey: Uint8Array | undefined;
  readonly #cache: KeyCache = {};

  private constructor(secret: Uint8Array, publicKey: Uint8Array | undefined) {
    this.#secret = secret;
    this.#publicKey = publicKey;
  }

  static generate(): X25519SecretKey {
    const key = new X25519SecretKey(randomBytes(32), undefined);
    key.#publicKey = x25519Public(key.#secret, key.#cache);
    return key;
  }

  /** Takes a copy of the 32 secret bytes and computes the public key. */
  static fromBytes(secret: Uint8Array): X25519SecretKey {
    checkLength('X25519 secret key', secret, 32);
    const key = new X25519SecretKey(secret.slice(), undefined);
    key.#publicKey = x25519Public(key.#secret, key.#cache);
    return key;
  }

  /** Takes copies of a secret and its (trusted, e.g. authenticated-pickle) public key; computes nothing. */
  static fromParts(secret: Uint8Array, publicKey: Uint8Array): X25519SecretKey {
    checkLength('X25519 secret key', secret, 32);
    checkLength('X25519 public key', publicKey, 32);
    return new X25519SecretKey(secret.slice(), publicKey.slice());
  }

  get publicKey(): Uint8Array {
    if (this.#publicKey === undefined) this.#publicKey = x25519Public(this.#secret, this.#cache);
    return this.#publicKey;
  }

  /** X25519(secret, theirs), refusing a non-contributory (all-zero) result. */
  diffieHellman(theirPublic: Uint8Array): Uint8Array {
    checkLength('X25519 public key', theirPublic, 32);
    const secret = this.#secret;
    const cache = this.#cache;
    const shared =
      interceptor !== undefined
        ? (interceptor('dh', [secret, theirPublic], cache, () =>
            active === undefined
              ? defaultBackend.x25519(secret, cache, theirPublic)
              : active.x25519(secret, cache, theirPublic),
          ) as Uint8Array | undefined)
        : active === undefined
          ? defaultBackend.x25519(secret, cache, theirPublic)
          : active.x25519(secret, cache, theirPublic);
    if (shared === undefined || isAllZero(shared)) {
      throw new KeyError(
        'KEY_NON_CONTRIBUTORY',
        'X25519 with this public key gives a non-contributory (all-zero) result',
      );
    }
    return shared;
  }

  /** A copy of the secret bytes (for pickling). */
  toBytes(): Uint8Array {
    return this.#secret.slice();
  }

  wipe(): void {
    this.#secret.fill(0);
    this.#cache.handle = undefined;
  }

  toString(): string {
    return `X25519SecretKey(${REDACTED})`;
  }
  toJSON(): string {
    return REDACTED;
  }
  // biome-ignore lint/correctness/noUnusedPrivateClassMembers: initialising it installs the redacting inspect hook
  static readonly #redacted: boolean = /* @__PURE__ */ redactInspect(this);
}

// ---------------------------------------------------------------------------------------------
// Ed25519

// RFC 8032: the group order L, little-endian.
const L = Uint8Array.from([
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0x10,
]);

/** True when the little-endian 32-byte scalar is < L (RFC 8032 §5.1.7 requires S < L). */
function scalarIsCanonical(s: Uint8Array, offset: number): boolean {
  for (let i = 31; i >= 0; i--) {
    const a = s[offset + i]!;
    const b = L[i]!;
    if (a < b) return true;
    if (a > b) return false;
  }
  return false;
}

/** True when the encoded y coordinate (sign bit masked) is < p = 2^255 - 19. */
function pointEncodingIsCanonical(p: Uint8Array, offset: number): boolean {
  // y >= p only when bytes 1..30 are 0xff, byte 31 (masked) is 0x7f and byte 0 >= 0xed.
  if ((p[offset + 31]! & 0x7f) !== 0x7f) return true;
  for (let i = 30; i >= 1; i--) if (p[offset + i] !== 0xff) return true;
  return p[offset]! < 0xed;
}

// The eight points of small order on edwards25519, canonically encoded (checked in the tests by
// multiplying each by 8). Signatures whose key or R is one of them are refused, as
// ed25519-dalek's verify_strict (which vodozemac uses) refuses them.
const SMALL_ORDER_POINTS = [
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0000000000000000000000000000000000000000000000000000000000000080',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
].map(fromHex);

// x = 0 (y = 1 and y = -1) with the sign bit set: invalid encodings (RFC 8032 §5.1.3) of small-order
// points that OpenSSL still decodes; without this check a forged signature verified on node:crypto.
const REFUSED_POINT_ENCODINGS = [
  ...SMALL_ORDER_POINTS,
  fromHex('0100000000000000000000000000000000000000000000000000000000000080'),
  fromHex('ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff'),
];

// A plain loop (run at import for the tables above: a regular expression here cost milliseconds of a cold start).
function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length >>> 1);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** @internal exposed for tests */
export const smallOrderPointEncodings: readonly Uint8Array[] = SMALL_ORDER_POINTS;

function isSmallOrder(p: Uint8Array, offset: number): boolean {
  outer: for (const q of REFUSED_POINT_ENCODINGS) {
    for (let i = 0; i < 32; i++) if (p[offset + i] !== q[i]) continue outer;
    return true;
  }
  return false;
}

/**
 * Strict Ed25519 verification: RFC 8032 with S < L, canonical encodings of A and R, and neither
 * of small order (CVE-2024-45193 was libolm accepting malleable signatures). Returns a boolean;
 * wrong lengths are also just `false`.
 */
export function ed25519Verify(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
  cache: KeyCache = {},
): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  if (!scalarIsCanonical(signature, 32)) return false;
  if (!pointEncodingIsCanonical(publicKey, 0) || !pointEncodingIsCanonical(signature, 0)) return false;
  if (isSmallOrder(publicKey, 0) || isSmallOrder(signature, 0)) return false;
  if (interceptor !== undefined) {
    return interceptor('verify', [publicKey, message, signature], cache, () =>
      active === undefined
        ? defaultBackend.ed25519Verify(publicKey, cache, message, signature)
        : active.ed25519Verify(publicKey, cache, message, signature),
    ) as boolean;
  }
  return active === undefined
    ? defaultBackend.ed25519Verify(publicKey, cache, message, signature)
    : active.ed25519Verify(publicKey, cache, message, signature);
}

/**
 * An Ed25519 signing key, either from a 32-byte seed (RFC 8032) or from libolm's 64-byte
 * expanded form (clamped scalar ‖ prefix), which has no seed; each backend signs both forms.
 */
export class Ed25519SecretKey {
  /** Brand check: only objects this class built (not a Proxy, not Object.create of the prototype). */
  static [Symbol.hasInstance](value: unknown): value is Ed25519SecretKey {
    return typeof value === 'object' && value !== null && #seed in value;
  }

  readonly #seed: Uint8Array | undefined;
  readonly #expanded: Uint8Array | undefined;
  #publicKey: Uint8Array | undefined;
  readonly #cache: KeyCache = {};

  private constructor(seed: Uint8Array | undefined, expanded: Uint8Array | undefined, publicKey?: Uint8Array) {
    this.#seed = seed;
    this.#expanded = expanded;
    this.#publicKey = publicKey;
  }

  static generate(): Ed25519SecretKey {
    return new Ed25519SecretKey(randomBytes(32), undefined);
  }

  static fromSeed(seed: Uint8Array, publicKey?: Uint8Array): Ed25519SecretKey {
    checkLength('Ed25519 seed', seed, 32);
    if (publicKey !== undefined) checkLength('Ed25519 public key', publicKey, 32);
    return new Ed25519SecretKey(seed.slice(), undefined, publicKey?.slice());
  }

  /** libolm's 64-byte expanded secret key. The public key is recomputed when not given. */
  static fromExpanded(expanded: Uint8Array, publicKey?: Uint8Array): Ed25519SecretKey {
    checkLength('Ed25519 expanded secret key', expanded, 64);
    if (publicKey !== undefined) checkLength('Ed25519 public key', publicKey, 32);
    return new Ed25519SecretKey(undefined, expanded.slice(), publicKey?.slice());
  }

  get publicKey(): Uint8Array {
    if (this.#publicKey === undefined) {
      this.#publicKey =
        this.#seed !== undefined
          ? active === undefined
            ? defaultBackend.ed25519PublicKeyFromSeed(this.#seed, this.#cache)
            : active.ed25519PublicKeyFromSeed(this.#seed, this.#cache)
          : active === undefined
            ? defaultBackend.ed25519PublicKeyFromScalar(this.#expanded!.subarray(0, 32))
            : active.ed25519PublicKeyFromScalar(this.#expanded!.subarray(0, 32));
    }
    return this.#publicKey;
  }

  /** True when the key has a seed (it can be exported in seed-based formats such as dehydration). */
  get hasSeed(): boolean {
    return this.#seed !== undefined;
  }

  sign(message: Uint8Array): Uint8Array {
    const seed = this.#seed;
    if (seed !== undefined) {
      const publicKey = this.publicKey;
      const cache = this.#cache;
      if (interceptor !== undefined) {
        return interceptor('sign', [seed, message], cache, () =>
          active === undefined
            ? defaultBackend.ed25519SignWithSeed(seed, publicKey, cache, message)
            : active.ed25519SignWithSeed(seed, publicKey, cache, message),
        ) as Uint8Array;
      }
      return active === undefined
        ? defaultBackend.ed25519SignWithSeed(seed, publicKey, cache, message)
        : active.ed25519SignWithSeed(seed, publicKey, cache, message);
    }
    return active === undefined
      ? defaultBackend.ed25519SignExpanded(this.#expanded!, this.publicKey, this.#cache, message)
      : active.ed25519SignExpanded(this.#expanded!, this.publicKey, this.#cache, message);
  }

  /** A copy of the seed, or undefined for a libolm expanded key. */
  seedBytes(): Uint8Array | undefined {
    return this.#seed?.slice();
  }

  /** The 64-byte expanded form (clamped scalar ‖ prefix), as libolm pickles it. */
  expandedBytes(): Uint8Array {
    if (this.#expanded !== undefined) return this.#expanded.slice();
    const h = jsSha512Seed(this.#seed!);
    h[0]! &= 248;
    h[31]! &= 127;
    h[31]! |= 64;
    return h;
  }

  wipe(): void {
    this.#seed?.fill(0);
    this.#expanded?.fill(0);
    this.#cache.handle = undefined;
  }

  toString(): string {
    return `Ed25519SecretKey(${REDACTED})`;
  }
  toJSON(): string {
    return REDACTED;
  }
  // biome-ignore lint/correctness/noUnusedPrivateClassMembers: initialising it installs the redacting inspect hook
  static readonly #redacted: boolean = /* @__PURE__ */ redactInspect(this);
}

function jsSha512Seed(seed: Uint8Array): Uint8Array {
  return active === undefined ? defaultBackend.sha512(seed) : active.sha512(seed);
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
