/**
 * An Olm account: a device's long-term identity keys, its one-time and fallback keys, and the
 * factory for sessions (Matrix spec, olm.md "Initial setup").
 */

import { Ed25519SecretKey, X25519SecretKey } from '../crypto/index.js';
import { ByteReader } from '../encoding/binary.js';
import { invalidArgument, SessionError } from '../errors.js';
import { redactInspect } from '../inspect.js';
import { Curve25519PublicKey, curve25519Bytes, Ed25519PublicKey, Ed25519Signature } from '../keys.js';
import { openPickle, PickleKind, parsePickleBody, sealPickle } from '../pickle.js';
import {
  type AccountKeys,
  buildFromKeys,
  bytesEqual,
  keyIdToString,
  MAX_ONE_TIME_KEYS,
  MAX_PUBLISHED_ONE_TIME_KEYS,
  type StoredKey,
  toBytes,
} from './account-keys.js';
import { deserializeAccount, serializeAccount } from './account-pickle.js';
import { SessionConfig } from './config.js';
import { PreKeyMessage } from './messages.js';
import { deriveInitialKeys } from './ratchet.js';
import { Session } from './session.js';

export {
  type AccountKeys,
  keyIdToString,
  MAX_ONE_TIME_KEYS,
  MAX_PUBLISHED_ONE_TIME_KEYS,
  type RawCurve25519Key,
} from './account-keys.js';

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
    return buildFromKeys(keys, (parts) => Account.fromParts(parts));
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
    // A cache: recomputing (the mutant `true`) gives equal keys; only the object's identity would differ.
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
    // `receivedMessage: false` is overwritten: the decrypt below sets it, or the session is freed.
    // The ratchet key's copy (`.slice()`) is never written to (a receiving chain's ratchet key is
    // public and read only), so sharing the key object's bytes would be equivalent.
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
    // Callers only test `kind === 'one-time'`: the 'fallback' literal itself is never read.
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
    return parsePickleBody(body, (b) => Account.fromParts(deserializeAccount(new ByteReader(b))));
  }

  #serialize(): Uint8Array {
    return serializeAccount({
      signingKey: this.#signingKey,
      identityKey: this.#identityKey,
      nextKeyId: this.#nextKeyId,
      oneTimeKeys: this.#oneTimeKeys,
      fallbackKey: this.#fallbackKey,
      previousFallbackKey: this.#previousFallbackKey,
    });
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
