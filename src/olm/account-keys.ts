/**
 * Account key material and input validation: the one-time key limits, the public key-input types,
 * the checks `Account.fromKeys` runs on raw key bytes and the building of an account's parts from
 * them, key ids, and small byte helpers shared by the account modules.
 */

import { Ed25519SecretKey, X25519SecretKey } from '../crypto/index.js';
import { encodeBase64 } from '../encoding/base64.js';
import { isBytes } from '../encoding/binary.js';
import { TextEncoder } from '../encoding/text.js';
import { invalidArgument, KeyError } from '../errors.js';
import { Curve25519PublicKey, Ed25519PublicKey } from '../keys.js';

/** How many one-time keys a device publishes (vodozemac's PUBLIC_MAX_ONE_TIME_KEYS). */
export const MAX_PUBLISHED_ONE_TIME_KEYS = 50;
/** How many one-time keys an account keeps; the oldest are dropped beyond this. */
export const MAX_ONE_TIME_KEYS: number = 100 * MAX_PUBLISHED_ONE_TIME_KEYS;

export interface StoredKey {
  readonly id: number;
  readonly key: X25519SecretKey;
  published: boolean;
}

/** A Curve25519 one-time or fallback key given to `Account.fromKeys`. */
export interface RawCurve25519Key {
  /** The 32-byte X25519 secret key. */
  readonly secret: Uint8Array;
  /** Whether the server already has its public half (then it is not listed for upload). Default false. */
  readonly published?: boolean;
}

/**
 * The raw key bytes `Account.fromKeys` builds an account from. The account keeps copies; the
 * caller's arrays are neither kept nor changed (wipe them when done).
 */
export interface AccountKeys {
  /** The 32-byte Curve25519 (X25519) identity secret key. */
  readonly curve25519Secret: Uint8Array;
  /** The Ed25519 signing key as an RFC 8032 seed (32 bytes)... */
  readonly ed25519Seed?: Uint8Array;
  /**
   * ...or in libolm's 64-byte expanded form (secret scalar ‖ prefix), which has no seed. Exactly one
   * of the two. Such an account signs exactly as libolm does but cannot be written in seed-based
   * formats (dehydrated devices).
   */
  readonly ed25519Expanded?: Uint8Array;
  /** When given, must be the public key of `curve25519Secret` (a check against mixed-up keys). */
  readonly curve25519PublicKey?: Curve25519PublicKey | Uint8Array;
  /** When given, must be the public key of the Ed25519 secret. */
  readonly ed25519PublicKey?: Ed25519PublicKey | Uint8Array;
  /** One-time keys, oldest first (key ids 0, 1, … in this order). At most MAX_ONE_TIME_KEYS. */
  readonly oneTimeKeys?: readonly RawCurve25519Key[];
  /** The current fallback key (its id follows the one-time keys'). */
  readonly fallbackKey?: RawCurve25519Key;
}

function checkSecretBytes(field: string, value: unknown, length: number): Uint8Array {
  if (!isBytes(value)) throw invalidArgument(`${field} must be a Uint8Array`, { field });
  if (value.length !== length) {
    throw new KeyError('KEY_INVALID_LENGTH', `${field} must be ${length} bytes`, {
      field,
      expected: length,
      actual: value.length,
    });
  }
  let any = 0;
  // `i <= value.length` is equivalent: the extra element is undefined, and `any | undefined` is `any`.
  for (let i = 0; i < value.length; i++) any |= value[i]!;
  if (any === 0) throw new KeyError('KEY_INVALID', `${field} is all zeros (a wiped buffer?)`, { field });
  return value;
}

function checkRawKey(field: string, value: unknown): { secret: Uint8Array; published: boolean } {
  if (typeof value !== 'object' || value === null) {
    throw invalidArgument(`${field} must be an object { secret, published? }`, { field });
  }
  const { secret, published } = value as RawCurve25519Key;
  if (published !== undefined && typeof published !== 'boolean') {
    throw invalidArgument(`${field}.published must be a boolean`, { field });
  }
  return { secret: checkSecretBytes(`${field}.secret`, secret, 32), published: published ?? false };
}

function publicBytes(
  field: string,
  value: unknown,
  type: typeof Curve25519PublicKey | typeof Ed25519PublicKey,
): Uint8Array {
  if (value instanceof type) return value.toBytes();
  if (isBytes(value)) {
    if (value.length !== 32) {
      throw new KeyError('KEY_INVALID_LENGTH', `${field} must be 32 bytes`, {
        field,
        expected: 32,
        actual: value.length,
      });
    }
    return value;
  }
  throw invalidArgument(`${field} must be a ${type.name} or a Uint8Array`, { field });
}

// The encoding of the neutral point: the public key of a scalar that is 0 mod L.
const ED25519_IDENTITY = Uint8Array.of(1, ...new Uint8Array(31));

/** Key ids are the key's counter as a big-endian u64 in unpadded base64 (vodozemac's form). */
export function keyIdToString(id: number): string {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(id));
  return encodeBase64(bytes);
}

export function toBytes(message: Uint8Array | string, what: string): Uint8Array {
  if (typeof message === 'string') return new TextEncoder().encode(message);
  if (isBytes(message)) return message;
  throw invalidArgument(`${what} must be a string or a Uint8Array`);
}

// Only ever given two 32-byte keys: the length check and `i <= a.length` (undefined === undefined)
// are equivalent mutants here.
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The parts an account is built from (the shape `Account.fromParts` takes). */
export interface AccountParts {
  signingKey: Ed25519SecretKey;
  identityKey: X25519SecretKey;
  oneTimeKeys: { id: number; key: X25519SecretKey; published: boolean }[];
  fallbackKey?: { id: number; key: X25519SecretKey; published: boolean } | undefined;
  previousFallbackKey?: { id: number; key: X25519SecretKey; published: boolean } | undefined;
  nextKeyId: number;
}

/**
 * The body of `Account.fromKeys`: checks `keys`, builds the parts and hands them to `build`,
 * wiping whatever was built if a check on the results (or `build`) fails.
 */
export function buildFromKeys<T>(keys: AccountKeys, build: (parts: AccountParts) => T): T {
  if (typeof keys !== 'object' || keys === null) throw invalidArgument('expected an object of key bytes');
  // Each field is read once (a getter or Proxy cannot show one value to the checks and another to the use).
  const {
    curve25519Secret: rawCurve,
    ed25519Seed: rawSeed,
    ed25519Expanded: rawExpanded,
    curve25519PublicKey: rawCurvePublic,
    ed25519PublicKey: rawEdPublic,
    oneTimeKeys: rawOneTimeKeys,
    fallbackKey: rawFallback,
  } = keys;
  const curve25519Secret = checkSecretBytes('curve25519Secret', rawCurve, 32);
  const hasSeed = rawSeed !== undefined;
  if (hasSeed === (rawExpanded !== undefined)) {
    throw invalidArgument('give exactly one of ed25519Seed (32 bytes) and ed25519Expanded (64 bytes)');
  }
  const ed25519Secret = hasSeed
    ? checkSecretBytes('ed25519Seed', rawSeed, 32)
    : checkSecretBytes('ed25519Expanded', rawExpanded, 64);
  const expectedCurve =
    rawCurvePublic === undefined ? undefined : publicBytes('curve25519PublicKey', rawCurvePublic, Curve25519PublicKey);
  const expectedEd =
    rawEdPublic === undefined ? undefined : publicBytes('ed25519PublicKey', rawEdPublic, Ed25519PublicKey);
  const rawOneTime: unknown = rawOneTimeKeys === undefined ? [] : rawOneTimeKeys;
  if (!Array.isArray(rawOneTime)) throw invalidArgument('oneTimeKeys must be an array', { field: 'oneTimeKeys' });
  const count = rawOneTime.length;
  if (count > MAX_ONE_TIME_KEYS) {
    throw invalidArgument(`at most ${MAX_ONE_TIME_KEYS} one-time keys`, {
      field: 'oneTimeKeys',
      expected: MAX_ONE_TIME_KEYS,
      actual: count,
    });
  }
  const oneTime: { secret: Uint8Array; published: boolean }[] = [];
  for (let i = 0; i < count; i++) oneTime.push(checkRawKey(`oneTimeKeys[${i}]`, rawOneTime[i]));
  const fallback = rawFallback === undefined ? undefined : checkRawKey('fallbackKey', rawFallback);

  // Everything is well-formed: build, wiping whatever was built if a check on the results fails.
  const built: { wipe(): void }[] = [];
  try {
    const signingKey = hasSeed
      ? Ed25519SecretKey.fromSeed(ed25519Secret)
      : Ed25519SecretKey.fromExpanded(ed25519Secret);
    built.push(signingKey);
    const identityKey = X25519SecretKey.fromBytes(curve25519Secret);
    built.push(identityKey);
    if (bytesEqual(signingKey.publicKey, ED25519_IDENTITY)) {
      throw new KeyError('KEY_INVALID', 'ed25519Expanded holds a scalar that is 0 mod L (no usable key)', {
        field: 'ed25519Expanded',
      });
    }
    if (expectedEd !== undefined && !bytesEqual(expectedEd, signingKey.publicKey)) {
      throw new KeyError('KEY_INVALID', 'ed25519PublicKey is not the public key of the given Ed25519 secret', {
        field: 'ed25519PublicKey',
      });
    }
    if (expectedCurve !== undefined && !bytesEqual(expectedCurve, identityKey.publicKey)) {
      throw new KeyError('KEY_INVALID', 'curve25519PublicKey is not the public key of curve25519Secret', {
        field: 'curve25519PublicKey',
      });
    }
    const seen = new Set<string>([encodeBase64(identityKey.publicKey)]);
    const record = (field: string, k: { secret: Uint8Array; published: boolean }, id: number): StoredKey => {
      const key = X25519SecretKey.fromBytes(k.secret);
      built.push(key);
      const text = encodeBase64(key.publicKey);
      if (seen.has(text)) throw new KeyError('KEY_INVALID', `${field} repeats another Curve25519 key`, { field });
      seen.add(text);
      return { id, key, published: k.published };
    };
    const oneTimeKeys = oneTime.map((k, i) => record(`oneTimeKeys[${i}]`, k, i));
    const fallbackKey = fallback === undefined ? undefined : record('fallbackKey', fallback, oneTime.length);
    return build({
      signingKey,
      identityKey,
      oneTimeKeys,
      fallbackKey,
      nextKeyId: oneTime.length + (fallback === undefined ? 0 : 1),
    });
  } catch (error) {
    for (const key of built) key.wipe();
    throw error;
  }
}
