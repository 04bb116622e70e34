/**
 * The curve keys: X25519SecretKey, Ed25519SecretKey and strict ed25519Verify, with the strictness
 * checks (canonical scalar and point encodings, the small-order points). Each operation goes to the
 * active backend's named export, or to the curve interceptor while one is set (see active.ts).
 */

import * as defaultBackend from '#crypto-default';
import { KeyError } from '../errors.js';
import { redactInspect } from '../inspect.js';
import { active, interceptor } from './active.js';
import type { KeyCache } from './backend.js';
import { checkLength, isAllZero } from './bytes.js';
import { randomBytes } from './random.js';

function x25519Public(secret: Uint8Array, cache: KeyCache): Uint8Array {
  if (interceptor !== undefined) {
    return interceptor('public', [secret], cache, () =>
      active === undefined ? defaultBackend.x25519PublicKey(secret, cache) : active.x25519PublicKey(secret, cache),
    ) as Uint8Array;
  }
  return active === undefined ? defaultBackend.x25519PublicKey(secret, cache) : active.x25519PublicKey(secret, cache);
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
