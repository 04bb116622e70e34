/**
 * An Olm account: a device's long-term identity keys, its one-time and fallback keys, and the
 * factory for sessions (Matrix spec, olm.md "Initial setup").
 */

import { Ed25519SecretKey, X25519SecretKey } from '../crypto/index.js';
import { encodeBase64 } from '../encoding/base64.js';
import { ByteReader, ByteWriter, isBytes } from '../encoding/binary.js';
import { TextEncoder } from '../encoding/text.js';
import { invalidArgument, KeyError, PickleError, SessionError } from '../errors.js';
import { redactInspect } from '../inspect.js';
import { Curve25519PublicKey, curve25519Bytes, Ed25519PublicKey, Ed25519Signature } from '../keys.js';
import { openPickle, PickleKind, parsePickleBody, sealPickle } from '../pickle.js';
import { SessionConfig } from './config.js';
import { PreKeyMessage } from './messages.js';
import { deriveInitialKeys } from './ratchet.js';
import { Session } from './session.js';

/** How many one-time keys a device publishes (vodozemac's PUBLIC_MAX_ONE_TIME_KEYS). */
export const MAX_PUBLISHED_ONE_TIME_KEYS = 50;
/** How many one-time keys an account keeps; the oldest are dropped beyond this. */
export const MAX_ONE_TIME_KEYS: number = 100 * MAX_PUBLISHED_ONE_TIME_KEYS;

const PICKLE_SCHEMA = 1;

interface StoredKey {
  readonly id: number;
  readonly key: X25519SecretKey;
  published: boolean;
}

export interface IdentityKeys {
  readonly curve25519: Curve25519PublicKey;
  readonly ed25519: Ed25519PublicKey;
}

export interface OneTimeKeyGenerationResult {
  readonly created: Curve25519PublicKey[];
  /** Keys dropped to stay within MAX_ONE_TIME_KEYS. */
  readonly removed: Curve25519PublicKey[];
}

export interface InboundCreationResult {
  readonly session: Session;
  readonly plaintext: Uint8Array;
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

function toBytes(message: Uint8Array | string, what: string): Uint8Array {
  if (typeof message === 'string') return new TextEncoder().encode(message);
  if (isBytes(message)) return message;
  throw invalidArgument(`${what} must be a string or a Uint8Array`);
}

export class Account {
  /** Brand check: only objects this class built (not a Proxy, not Object.create of the prototype). */
  static [Symbol.hasInstance](value: unknown): value is Account {
    return typeof value === 'object' && value !== null && #signingKey in value;
  }

  readonly #signingKey: Ed25519SecretKey;
  readonly #identityKey: X25519SecretKey;
  #identityKeys: IdentityKeys | undefined;
  /** Insertion order is creation order, so the first entries are the oldest. */
  readonly #oneTimeKeys: Map<number, StoredKey> = new Map();
  #fallbackKey: StoredKey | undefined;
  #previousFallbackKey: StoredKey | undefined;
  #nextKeyId = 0;
  #freed = false;

  private constructor(signingKey: Ed25519SecretKey, identityKey: X25519SecretKey) {
    this.#signingKey = signingKey;
    this.#identityKey = identityKey;
  }

  static create(): Account {
    return new Account(Ed25519SecretKey.generate(), X25519SecretKey.generate());
  }

  /**
   * Builds an account from raw key bytes: the identity keys (Curve25519 secret, and the Ed25519 key
   * as a seed or in libolm's expanded form), optionally the expected public keys, one-time keys and a
   * fallback key. The account keeps copies of the secrets (wiped by `free()`); the arguments are
   * left as they are.
   *
   * Throws, building nothing: INVALID_ARGUMENT for a missing or mistyped field, both or neither
   * Ed25519 forms, or more than MAX_ONE_TIME_KEYS one-time keys; KeyError KEY_INVALID_LENGTH for a
   * wrong length (`details.field` names it), KEY_INVALID for an all-zero secret, an expanded key
   * whose scalar is 0 mod L, a public key that does not match its secret, or a Curve25519 key given
   * twice.
   */
  static fromKeys(keys: AccountKeys): Account {
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
      rawCurvePublic === undefined
        ? undefined
        : publicBytes('curve25519PublicKey', rawCurvePublic, Curve25519PublicKey);
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
      return Account.fromParts({
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

  /** @internal For importers (libolm pickles, dehydrated devices). */
  static fromParts(parts: {
    signingKey: Ed25519SecretKey;
    identityKey: X25519SecretKey;
    oneTimeKeys: { id: number; key: X25519SecretKey; published: boolean }[];
    fallbackKey?: { id: number; key: X25519SecretKey; published: boolean } | undefined;
    previousFallbackKey?: { id: number; key: X25519SecretKey; published: boolean } | undefined;
    nextKeyId: number;
  }): Account {
    const account = new Account(parts.signingKey, parts.identityKey);
    for (const k of parts.oneTimeKeys) account.#oneTimeKeys.set(k.id, { ...k });
    account.#fallbackKey = parts.fallbackKey === undefined ? undefined : { ...parts.fallbackKey };
    account.#previousFallbackKey =
      parts.previousFallbackKey === undefined ? undefined : { ...parts.previousFallbackKey };
    account.#nextKeyId = parts.nextKeyId;
    return account;
  }

  /** @internal For exporters: the account's parts, in the shape `fromParts` takes (copies of the secrets). */
  toParts(): {
    signingKey: Ed25519SecretKey;
    identityKey: X25519SecretKey;
    oneTimeKeys: { id: number; key: X25519SecretKey; published: boolean }[];
    fallbackKey: { id: number; key: X25519SecretKey; published: boolean } | undefined;
    previousFallbackKey: { id: number; key: X25519SecretKey; published: boolean } | undefined;
    nextKeyId: number;
  } {
    this.#checkUsable();
    const copy = (k: StoredKey) => ({
      id: k.id,
      key: X25519SecretKey.fromParts(k.key.toBytes(), k.key.publicKey),
      published: k.published,
    });
    const seed = this.#signingKey.seedBytes();
    return {
      signingKey:
        seed !== undefined
          ? Ed25519SecretKey.fromSeed(seed, this.#signingKey.publicKey)
          : Ed25519SecretKey.fromExpanded(this.#signingKey.expandedBytes(), this.#signingKey.publicKey),
      identityKey: X25519SecretKey.fromParts(this.#identityKey.toBytes(), this.#identityKey.publicKey),
      oneTimeKeys: [...this.#oneTimeKeys.values()].map(copy),
      fallbackKey: this.#fallbackKey === undefined ? undefined : copy(this.#fallbackKey),
      previousFallbackKey: this.#previousFallbackKey === undefined ? undefined : copy(this.#previousFallbackKey),
      nextKeyId: this.#nextKeyId,
    };
  }

  get identityKeys(): IdentityKeys {
    if (this.#identityKeys === undefined) {
      this.#identityKeys = {
        curve25519: Curve25519PublicKey.fromBytes(this.#identityKey.publicKey),
        ed25519: Ed25519PublicKey.fromBytes(this.#signingKey.publicKey),
      };
    }
    return this.#identityKeys;
  }

  get curve25519Key(): Curve25519PublicKey {
    return this.identityKeys.curve25519;
  }

  get ed25519Key(): Ed25519PublicKey {
    return this.identityKeys.ed25519;
  }

  sign(message: Uint8Array | string): Ed25519Signature {
    this.#checkUsable();
    return Ed25519Signature.fromBytes(this.#signingKey.sign(toBytes(message, 'message')));
  }

  get maxNumberOfOneTimeKeys(): number {
    return MAX_PUBLISHED_ONE_TIME_KEYS;
  }

  /** How many one-time keys the account holds (published or not). */
  get storedOneTimeKeyCount(): number {
    return this.#oneTimeKeys.size;
  }

  generateOneTimeKeys(count: number): OneTimeKeyGenerationResult {
    this.#checkUsable();
    if (!Number.isSafeInteger(count) || count < 0 || count > MAX_ONE_TIME_KEYS) {
      throw invalidArgument(`one-time key count must be an integer from 0 to ${MAX_ONE_TIME_KEYS}`, {
        actual: typeof count === 'number' ? count : Number.NaN,
      });
    }
    // Generate first, so a failure (e.g. no randomness) changes nothing.
    const fresh: StoredKey[] = [];
    for (let i = 0; i < count; i++)
      fresh.push({ id: this.#nextKeyId + i, key: X25519SecretKey.generate(), published: false });
    const created: Curve25519PublicKey[] = [];
    for (const k of fresh) {
      this.#oneTimeKeys.set(k.id, k);
      created.push(Curve25519PublicKey.fromBytes(k.key.publicKey));
    }
    this.#nextKeyId += count;
    const removed: Curve25519PublicKey[] = [];
    for (const [id, k] of this.#oneTimeKeys) {
      if (this.#oneTimeKeys.size <= MAX_ONE_TIME_KEYS) break;
      removed.push(Curve25519PublicKey.fromBytes(k.key.publicKey));
      k.key.wipe();
      this.#oneTimeKeys.delete(id);
    }
    return { created, removed };
  }

  /** Unpublished one-time keys by key id. */
  get oneTimeKeys(): Map<string, Curve25519PublicKey> {
    const out = new Map<string, Curve25519PublicKey>();
    for (const k of this.#oneTimeKeys.values()) {
      if (!k.published) out.set(keyIdToString(k.id), Curve25519PublicKey.fromBytes(k.key.publicKey));
    }
    return out;
  }

  /**
   * Makes a new fallback key. The current one becomes the previous one (still accepted, so
   * messages in flight decrypt); the old previous one is dropped and returned.
   */
  generateFallbackKey(): Curve25519PublicKey | undefined {
    this.#checkUsable();
    const key: StoredKey = { id: this.#nextKeyId, key: X25519SecretKey.generate(), published: false };
    this.#nextKeyId++;
    const dropped = this.#previousFallbackKey;
    this.#previousFallbackKey = this.#fallbackKey;
    this.#fallbackKey = key;
    if (dropped === undefined) return undefined;
    const publicKey = Curve25519PublicKey.fromBytes(dropped.key.publicKey);
    dropped.key.wipe();
    return publicKey;
  }

  /** The current fallback key by key id, when it has not been published yet. */
  get fallbackKey(): Map<string, Curve25519PublicKey> {
    const out = new Map<string, Curve25519PublicKey>();
    const k = this.#fallbackKey;
    if (k !== undefined && !k.published) out.set(keyIdToString(k.id), Curve25519PublicKey.fromBytes(k.key.publicKey));
    return out;
  }

  /** The current fallback key whether published or not. */
  get currentFallbackKey(): { keyId: string; key: Curve25519PublicKey } | undefined {
    const k = this.#fallbackKey;
    return k === undefined
      ? undefined
      : { keyId: keyIdToString(k.id), key: Curve25519PublicKey.fromBytes(k.key.publicKey) };
  }

  /** Drops the previous fallback key; true when there was one. */
  forgetFallbackKey(): boolean {
    this.#checkUsable();
    const k = this.#previousFallbackKey;
    if (k === undefined) return false;
    k.key.wipe();
    this.#previousFallbackKey = undefined;
    return true;
  }

  markKeysAsPublished(): void {
    this.#checkUsable();
    for (const k of this.#oneTimeKeys.values()) k.published = true;
    if (this.#fallbackKey !== undefined) this.#fallbackKey.published = true;
  }

  createOutboundSession(
    config: SessionConfig,
    theirIdentityKey: Curve25519PublicKey,
    theirOneTimeKey: Curve25519PublicKey,
  ): Session {
    this.#checkUsable();
    if (!(config instanceof SessionConfig)) throw invalidArgument('config must be a SessionConfig');
    if (!(theirIdentityKey instanceof Curve25519PublicKey) || !(theirOneTimeKey instanceof Curve25519PublicKey)) {
      throw invalidArgument('their identity and one-time keys must be Curve25519PublicKey values');
    }
    const identity = curve25519Bytes(theirIdentityKey);
    const oneTime = curve25519Bytes(theirOneTimeKey);
    const baseKey = X25519SecretKey.generate();
    // S = ECDH(I_A, E_B) ‖ ECDH(E_A, I_B) ‖ ECDH(E_A, E_B)  (olm.md "Initial setup")
    const shared = new Uint8Array(96);
    try {
      shared.set(this.#identityKey.diffieHellman(oneTime), 0);
      shared.set(baseKey.diffieHellman(identity), 32);
      shared.set(baseKey.diffieHellman(oneTime), 64);
    } catch (error) {
      shared.fill(0);
      baseKey.wipe();
      throw error;
    }
    const { rootKey, chainKey } = deriveInitialKeys(shared);
    const ratchetKey = X25519SecretKey.generate();
    const session = Session.fromInit({
      config,
      sessionKeys: {
        identityKey: this.curve25519Key,
        baseKey: Curve25519PublicKey.fromBytes(baseKey.publicKey),
        oneTimeKey: theirOneTimeKey,
      },
      rootKey,
      sender: { ratchetKey, chainKey, index: 0 },
      receivedMessage: false,
    });
    baseKey.wipe();
    return session;
  }

  /**
   * Creates the session a pre-key message starts and decrypts that message. The one-time key it
   * used is removed only after the message decrypted; a fallback key is kept.
   */
  createInboundSession(theirIdentityKey: Curve25519PublicKey, message: PreKeyMessage): InboundCreationResult {
    this.#checkUsable();
    if (!(theirIdentityKey instanceof Curve25519PublicKey))
      throw invalidArgument('their identity key must be a Curve25519PublicKey');
    if (!(message instanceof PreKeyMessage)) throw invalidArgument('expected a PreKeyMessage');
    if (!message.identityKey.equals(theirIdentityKey)) {
      throw new SessionError('SESSION_MISMATCH', 'the pre-key message was not sent by the given identity key');
    }
    const found = this.#findPrivateOneTimeKey(message.oneTimeKey);
    if (found === undefined) {
      throw new SessionError(
        'ONE_TIME_KEY_UNKNOWN',
        'the pre-key message uses a one-time key this account does not have',
      );
    }
    const identity = curve25519Bytes(message.identityKey);
    const baseKey = curve25519Bytes(message.baseKey);
    // S = ECDH(E_B, I_A) ‖ ECDH(I_B, E_A) ‖ ECDH(E_B, E_A)
    const shared = new Uint8Array(96);
    try {
      shared.set(found.stored.key.diffieHellman(identity), 0);
      shared.set(this.#identityKey.diffieHellman(baseKey), 32);
      shared.set(found.stored.key.diffieHellman(baseKey), 64);
    } catch (error) {
      shared.fill(0);
      throw error;
    }
    const { rootKey, chainKey } = deriveInitialKeys(shared);
    const inner = message.message;
    const session = Session.fromInit({
      config: SessionConfig.fromVersion(inner.version === 4 ? 2 : 1),
      sessionKeys: { identityKey: message.identityKey, baseKey: message.baseKey, oneTimeKey: message.oneTimeKey },
      rootKey,
      receiver: { ratchetKey: curve25519Bytes(inner.ratchetKey).slice(), chainKey, index: 0 },
      receivedMessage: false,
    });
    let plaintext: Uint8Array;
    try {
      plaintext = session.decrypt(message);
    } catch (error) {
      session.free();
      throw error;
    }
    if (found.kind === 'one-time') {
      found.stored.key.wipe();
      this.#oneTimeKeys.delete(found.stored.id);
    }
    return { session, plaintext };
  }

  #findPrivateOneTimeKey(
    publicKey: Curve25519PublicKey,
  ): { kind: 'one-time' | 'fallback'; stored: StoredKey } | undefined {
    const wanted = curve25519Bytes(publicKey);
    for (const stored of this.#oneTimeKeys.values()) {
      if (bytesEqual(stored.key.publicKey, wanted)) return { kind: 'one-time', stored };
    }
    for (const stored of [this.#fallbackKey, this.#previousFallbackKey]) {
      if (stored !== undefined && bytesEqual(stored.key.publicKey, wanted)) return { kind: 'fallback', stored };
    }
    return undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Pickling

  pickle(pickleKey: Uint8Array): string {
    this.#checkUsable();
    return sealPickle(PickleKind.account, this.#serialize(), pickleKey);
  }

  static fromPickle(pickle: string, pickleKey: Uint8Array): Account {
    const body = openPickle(PickleKind.account, pickle, pickleKey);
    return parsePickleBody(body, (b) => Account.#deserialize(new ByteReader(b)));
  }

  #serialize(): Uint8Array {
    const w = new ByteWriter(256 + this.#oneTimeKeys.size * 80);
    w.u8(PICKLE_SCHEMA);
    const seed = this.#signingKey.seedBytes();
    if (seed !== undefined) {
      w.u8(0).raw(seed);
      seed.fill(0);
    } else {
      const expanded = this.#signingKey.expandedBytes();
      w.u8(1).raw(expanded);
      expanded.fill(0);
    }
    w.raw(this.#signingKey.publicKey);
    writeKey(w, this.#identityKey);
    w.u64(this.#nextKeyId);
    w.u32(this.#oneTimeKeys.size);
    for (const k of this.#oneTimeKeys.values()) writeStored(w, k);
    for (const k of [this.#fallbackKey, this.#previousFallbackKey]) {
      w.bool(k !== undefined);
      if (k !== undefined) writeStored(w, k);
    }
    return w.finish();
  }

  static #deserialize(r: ByteReader): Account {
    const schema = r.u8();
    if (schema !== PICKLE_SCHEMA) {
      throw new PickleError('PICKLE_UNSUPPORTED_VERSION', 'unknown account pickle schema', { actual: schema });
    }
    const kind = r.u8();
    if (kind > 1) throw new PickleError('PICKLE_INVALID', 'unknown signing key form');
    const secret = r.raw(kind === 0 ? 32 : 64);
    const publicKey = r.raw(32);
    const signingKey =
      kind === 0 ? Ed25519SecretKey.fromSeed(secret, publicKey) : Ed25519SecretKey.fromExpanded(secret, publicKey);
    secret.fill(0);
    const identityKey = readKey(r);
    const account = new Account(signingKey, identityKey);
    account.#nextKeyId = r.u64();
    const count = r.count(MAX_ONE_TIME_KEYS);
    for (let i = 0; i < count; i++) {
      const k = readStored(r);
      account.#oneTimeKeys.set(k.id, k);
    }
    account.#fallbackKey = r.bool() ? readStored(r) : undefined;
    account.#previousFallbackKey = r.bool() ? readStored(r) : undefined;
    r.end();
    return account;
  }

  /** Forgets every secret. The account is unusable afterwards. */
  free(): void {
    this.#freed = true;
    this.#signingKey.wipe();
    this.#identityKey.wipe();
    for (const k of this.#oneTimeKeys.values()) k.key.wipe();
    this.#oneTimeKeys.clear();
    this.#fallbackKey?.key.wipe();
    this.#previousFallbackKey?.key.wipe();
  }

  #checkUsable(): void {
    if (this.#freed) throw new SessionError('SESSION_NOT_FOUND', 'this account was freed');
  }

  toString(): string {
    return `Account(curve25519=${this.curve25519Key.toBase64()}, ed25519=${this.ed25519Key.toBase64()})`;
  }
  toJSON(): { type: string; curve25519: string; ed25519: string } {
    return { type: 'OlmAccount', curve25519: this.curve25519Key.toBase64(), ed25519: this.ed25519Key.toBase64() };
  }
  static {
    redactInspect(Account);
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function writeKey(w: ByteWriter, key: X25519SecretKey): void {
  const secret = key.toBytes();
  w.raw(secret).raw(key.publicKey);
  secret.fill(0);
}

function readKey(r: ByteReader): X25519SecretKey {
  const secret = r.raw(32);
  const key = X25519SecretKey.fromParts(secret, r.raw(32));
  secret.fill(0);
  return key;
}

function writeStored(w: ByteWriter, k: StoredKey): void {
  w.u64(k.id).bool(k.published);
  writeKey(w, k.key);
}

function readStored(r: ByteReader): StoredKey {
  const id = r.u64();
  const published = r.bool();
  return { id, published, key: readKey(r) };
}
