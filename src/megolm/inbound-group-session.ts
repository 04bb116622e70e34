/**
 * An inbound Megolm session: the receiving side of one sender's group session. It keeps the
 * ratchet at its first known index (the oldest message it can decrypt) and, as a cache, the
 * ratchet at the highest index decrypted so far, so in-order messages cost one ratchet step.
 *
 * Decryption (olm's docs/megolm.md): verify the Ed25519 signature, then the MAC, then decrypt.
 * Strong exception safety: the ratchet is advanced on a scratch copy and committed only after
 * the message decrypted, so a failed decrypt changes nothing.
 */

import { constantTimeEqual } from '../crypto/index.js';
import { ByteReader, ByteWriter, isBytes } from '../encoding/binary.js';
import { TextDecoder } from '../encoding/text.js';
import { DecodeError, DecryptionError, invalidArgument, PickleError, SessionError, SignatureError } from '../errors.js';
import { redactInspect } from '../inspect.js';
import { Ed25519PublicKey, ed25519Bytes } from '../keys.js';
import { openPickle, PickleKind, parsePickleBody, sealPickle } from '../pickle.js';
import { deriveKeys, openWith } from './cipher.js';
import { checkConfig, MegolmSessionConfig } from './config.js';
import { ExportedSessionKey, exportedKeyRatchet, MegolmMessage, SessionKey, sessionKeyRatchet } from './messages.js';
import { advanceTo, copyRatchet, newRatchetState, RATCHET_LENGTH, type RatchetState } from './ratchet.js';

const PICKLE_SCHEMA = 1;
const TEXT = new TextDecoder('utf-8', { fatal: true });

/** How two copies of one session relate (vodozemac's `SessionOrdering`). */
export const SessionOrdering = {
  /** Both start at the same index of the same ratchet. */
  equal: 'equal',
  /** This session starts at a lower index: it decrypts everything the other does, and more. */
  better: 'better',
  /** This session starts at a higher index than the other. */
  worse: 'worse',
  /** The sessions are not two copies of one ratchet (different key, config or ratchet). */
  unconnected: 'unconnected',
} as const;
export type SessionOrdering = (typeof SessionOrdering)[keyof typeof SessionOrdering];

export interface DecryptedMessage {
  readonly plaintext: Uint8Array;
  readonly messageIndex: number;
}

export interface DecryptedText {
  readonly plaintext: string;
  readonly messageIndex: number;
}

/** @internal The parts an InboundGroupSession is made of (libolm import and export). */
export interface InboundGroupSessionParts {
  readonly config: MegolmSessionConfig;
  readonly signingKey: Uint8Array;
  readonly initial: { readonly data: Uint8Array; readonly counter: number };
  readonly latest: { readonly data: Uint8Array; readonly counter: number };
  readonly verified: boolean;
}

// One scratch ratchet for every session: the code is synchronous and never re-entered.
const SCRATCH: RatchetState = newRatchetState(new Uint8Array(RATCHET_LENGTH), 0);

function checkIndex(index: unknown, what: string): number {
  // Equivalent mutant (`typeof index !== 'number'` → false): Number.isInteger refuses non-numbers too.
  if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index > 0xffffffff) {
    throw invalidArgument(`${what} must be an integer from 0 to 2^32 - 1`, {
      actual: typeof index === 'number' ? index : Number.NaN,
    });
  }
  return index;
}

function checkRatchetPart(part: { data: Uint8Array; counter: number }, what: string): void {
  if (!isBytes(part.data) || part.data.length !== RATCHET_LENGTH) {
    throw invalidArgument(`${what} ratchet must be 128 bytes`, { expected: RATCHET_LENGTH });
  }
  checkIndex(part.counter, `${what} ratchet index`);
}
// Set in the class's static block: the record-body access the Device uses (see the functions at the end).
let sessionBodyOf: (session: InboundGroupSession) => Uint8Array;
let sessionFromBody: (body: Uint8Array) => InboundGroupSession;

export class InboundGroupSession {
  /** Brand check: only objects this class built (not a Proxy, not Object.create of the prototype). */
  static [Symbol.hasInstance](value: unknown): value is InboundGroupSession {
    return typeof value === 'object' && value !== null && #initial in value;
  }

  readonly #config: MegolmSessionConfig;
  readonly #signingKey: Ed25519PublicKey;
  readonly #initial: RatchetState;
  readonly #latest: RatchetState;
  #verified: boolean;
  #freed = false;

  private constructor(
    config: MegolmSessionConfig,
    signingKey: Ed25519PublicKey,
    initial: RatchetState,
    latest: RatchetState,
    verified: boolean,
  ) {
    this.#config = config;
    this.#signingKey = signingKey;
    this.#initial = initial;
    this.#latest = latest;
    this.#verified = verified;
  }

  /**
   * A session from the signed key a sender shared (`m.room_key`). The key's signature was
   * verified when it was decoded, so the session counts as verified.
   */
  static fromSessionKey(
    key: SessionKey,
    config: MegolmSessionConfig = MegolmSessionConfig.version1(),
  ): InboundGroupSession {
    if (!(key instanceof SessionKey)) throw invalidArgument('expected a SessionKey');
    checkConfig(config);
    const ratchet = sessionKeyRatchet(key);
    const index = key.messageIndex;
    return new InboundGroupSession(
      config,
      key.signingKey,
      newRatchetState(ratchet.slice(), index),
      newRatchetState(ratchet.slice(), index),
      true,
    );
  }

  /**
   * A session from an unsigned exported key (forwarded keys, backups, key-export files). Nothing
   * proves who made it, so the session is not verified.
   */
  static import(
    key: ExportedSessionKey,
    config: MegolmSessionConfig = MegolmSessionConfig.version1(),
  ): InboundGroupSession {
    if (!(key instanceof ExportedSessionKey)) throw invalidArgument('expected an ExportedSessionKey');
    checkConfig(config);
    const ratchet = exportedKeyRatchet(key);
    const index = key.messageIndex;
    return new InboundGroupSession(
      config,
      key.signingKey,
      newRatchetState(ratchet.slice(), index),
      newRatchetState(ratchet.slice(), index),
      false,
    );
  }

  /** @internal Takes copies of every part. A latest ratchet below the initial one is dropped. */
  static fromParts(parts: InboundGroupSessionParts): InboundGroupSession {
    checkConfig(parts.config);
    checkRatchetPart(parts.initial, 'the initial');
    checkRatchetPart(parts.latest, 'the latest');
    const signingKey = Ed25519PublicKey.fromBytes(parts.signingKey);
    const initial = newRatchetState(parts.initial.data.slice(), parts.initial.counter);
    const latest =
      parts.latest.counter >= parts.initial.counter
        ? newRatchetState(parts.latest.data.slice(), parts.latest.counter)
        : newRatchetState(initial.data.slice(), initial.counter);
    return new InboundGroupSession(parts.config, signingKey, initial, latest, parts.verified === true);
  }

  /** @internal Copies of every part (for the libolm exporter). */
  toParts(): InboundGroupSessionParts {
    this.#checkUsable();
    return {
      config: this.#config,
      signingKey: ed25519Bytes(this.#signingKey).slice(),
      initial: { data: this.#initial.data.slice(), counter: this.#initial.counter },
      latest: { data: this.#latest.data.slice(), counter: this.#latest.counter },
      verified: this.#verified,
    };
  }

  /** The session id: the unpadded base64 of the sender's Ed25519 session key. */
  get sessionId(): string {
    return this.#signingKey.toBase64();
  }

  get signingKey(): Ed25519PublicKey {
    return this.#signingKey;
  }

  get config(): MegolmSessionConfig {
    return this.#config;
  }

  /** The lowest message index this session can decrypt. */
  get firstKnownIndex(): number {
    return this.#initial.counter;
  }

  /**
   * True when the session came from a signed session key (directly, or merged with such a copy).
   * A successful decryption does not change it: a valid message signature proves only that the
   * sender knew the session's key, not who sent us the key.
   */
  get isVerified(): boolean {
    return this.#verified;
  }

  decrypt(message: MegolmMessage): DecryptedMessage {
    return this.#decrypt(message, (plaintext, messageIndex) => ({ plaintext, messageIndex }));
  }

  /** Like `decrypt`, for UTF-8 plaintexts (room events are JSON); invalid UTF-8 changes nothing. */
  decryptText(message: MegolmMessage): DecryptedText {
    return this.#decrypt(message, (plaintext, messageIndex) => {
      try {
        return { plaintext: TEXT.decode(plaintext), messageIndex };
      } catch {
        throw new DecodeError('JSON_INVALID', 'the decrypted message is not valid UTF-8');
      } finally {
        // Equivalent mutant (an empty block): a wipe of the plaintext bytes, not observable.
        plaintext.fill(0);
      }
    });
  }

  /** Verifies and decrypts; `finish` shapes the result and may still refuse it before anything is committed. */
  #decrypt<T>(message: MegolmMessage, finish: (plaintext: Uint8Array, messageIndex: number) => T): T {
    this.#checkUsable();
    if (!(message instanceof MegolmMessage)) throw invalidArgument('expected a MegolmMessage');
    if (message.version !== this.#config.messageVersion) {
      throw new DecodeError(
        'MESSAGE_UNSUPPORTED_VERSION',
        `this session (config v${this.#config.version}) does not accept Megolm message version ${message.version}`,
        { expected: this.#config.messageVersion, actual: message.version },
      );
    }
    const encoded = message.encoded;
    const signedLength = encoded.length - 64;
    if (!this.#signingKey.isValidSignature(encoded.subarray(0, signedLength), message.signature)) {
      throw new SignatureError('SIGNATURE_INVALID', 'the Megolm message signature does not verify');
    }
    const index = message.messageIndex;
    const initial = this.#initial;
    const latest = this.#latest;
    if (index < initial.counter) {
      throw new DecryptionError(
        'UNKNOWN_MESSAGE_INDEX',
        'the message is older than the first index this session knows',
        { messageIndex: index, firstKnownIndex: initial.counter },
      );
    }
    // Equivalent mutants in the choice below (each condition → false, `>` → `>=`): any ratchet at or
    // below `index` advanced to it is the same ratchet; the shortcuts only save the copy and the steps.
    let ratchet: RatchetState;
    if (index === latest.counter) ratchet = latest;
    else if (index === initial.counter) ratchet = initial;
    else {
      copyRatchet(index > latest.counter ? latest : initial, SCRATCH);
      advanceTo(SCRATCH, index);
      ratchet = SCRATCH;
    }
    const keys = deriveKeys(ratchet.data);
    try {
      const payloadLength = message.payloadLength;
      const plaintext = openWith(
        keys,
        encoded.subarray(0, payloadLength),
        encoded.subarray(payloadLength, signedLength),
        message.ciphertextView,
      );
      const result = finish(plaintext, index);
      // Success: keep the furthest ratchet reached as the cache for the next message. Equivalent
      // mutants: `ratchet === SCRATCH` → true and `index > latest.counter` → `>=` (a ratchet other than
      // SCRATCH is at an index ≤ latest.counter, and SCRATCH is never at latest.counter).
      if (ratchet === SCRATCH && index > latest.counter) copyRatchet(SCRATCH, latest);
      return result;
    } finally {
      // Equivalent mutants (the block emptied, the condition changed): wipes of secrets; SCRATCH is
      // overwritten before every use.
      keys.all.fill(0);
      if (ratchet === SCRATCH) SCRATCH.data.fill(0);
    }
  }

  /**
   * Forgets every index below `index` for good. Returns false (and changes nothing) when the
   * session already starts at or beyond it.
   */
  advanceTo(index: number): boolean {
    this.#checkUsable();
    checkIndex(index, 'the message index');
    const initial = this.#initial;
    if (index <= initial.counter) return false;
    advanceTo(initial, index);
    // Keep the cache when it is already past the new start. Equivalent mutant: `<` → `<=` (at equal
    // indices the copy is the same ratchet).
    if (this.#latest.counter < index) copyRatchet(initial, this.#latest);
    return true;
  }

  /** The session exported at `index` (SessionError INDEX_OUT_OF_RANGE below the first known index). */
  exportAt(index: number): ExportedSessionKey {
    this.#checkUsable();
    checkIndex(index, 'the message index');
    const initial = this.#initial;
    if (index < initial.counter) {
      throw new SessionError('INDEX_OUT_OF_RANGE', 'cannot export below the first known index', {
        messageIndex: index,
        firstKnownIndex: initial.counter,
      });
    }
    // Equivalent mutants (the shortcut and the start below → false, `<=` → `<`): any ratchet at or
    // below `index` advanced to it is the same ratchet.
    if (index === initial.counter) return this.exportAtFirstKnownIndex();
    const latest = this.#latest;
    copyRatchet(latest.counter <= index ? latest : initial, SCRATCH);
    try {
      advanceTo(SCRATCH, index);
      return ExportedSessionKey.create(index, SCRATCH.data, this.#signingKey);
    } finally {
      // Equivalent mutant (an empty block): a wipe of secrets, overwritten before every use.
      SCRATCH.data.fill(0);
    }
  }

  exportAtFirstKnownIndex(): ExportedSessionKey {
    this.#checkUsable();
    return ExportedSessionKey.create(this.#initial.counter, this.#initial.data, this.#signingKey);
  }

  // -------------------------------------------------------------------------------------------
  // Two copies of one session

  /**
   * True when both are copies of one sender's ratchet (same key, same config, and the ratchet of
   * the one starting lower, advanced to the other's first index, equals it). The ratchets are
   * compared in constant time.
   */
  connected(other: InboundGroupSession): boolean {
    if (!(other instanceof InboundGroupSession)) throw invalidArgument('expected an InboundGroupSession');
    this.#checkUsable();
    other.#checkUsable();
    if (this.#config !== other.#config || !this.#signingKey.equals(other.#signingKey)) return false;
    // Equivalent mutants below: `<=` → `<` (equal first indices compare the same two ratchets either
    // way), the start (`<=` → `<` or false) and `!==` → true (advancing to the current index is a
    // no-op): any ratchet at or below the target gives the same one. The finally block wipes.
    const [low, high] = this.#initial.counter <= other.#initial.counter ? [this, other] : [other, this];
    const target = high.#initial.counter;
    const from = low.#latest.counter <= target ? low.#latest : low.#initial;
    copyRatchet(from, SCRATCH);
    try {
      if (SCRATCH.counter !== target) advanceTo(SCRATCH, target);
      return constantTimeEqual(SCRATCH.data, high.#initial.data);
    } finally {
      SCRATCH.data.fill(0);
    }
  }

  /** How this session relates to `other` (a copy of the same session, perhaps at another index). */
  compare(other: InboundGroupSession): SessionOrdering {
    if (!this.connected(other)) return SessionOrdering.unconnected;
    const a = this.#initial.counter;
    const b = other.#initial.counter;
    return a < b ? SessionOrdering.better : a === b ? SessionOrdering.equal : SessionOrdering.worse;
  }

  /**
   * A new session holding the better (lower-index) ratchet of two connected copies, verified if
   * either was. Throws SessionError SESSIONS_NOT_CONNECTED for unrelated sessions; neither input
   * changes.
   */
  merge(other: InboundGroupSession): InboundGroupSession {
    const ordering = this.compare(other);
    if (ordering === SessionOrdering.unconnected) {
      throw new SessionError('SESSIONS_NOT_CONNECTED', 'the sessions are not copies of one Megolm session');
    }
    const best = ordering === SessionOrdering.worse ? other : this;
    return new InboundGroupSession(
      this.#config,
      this.#signingKey,
      newRatchetState(best.#initial.data.slice(), best.#initial.counter),
      newRatchetState(best.#latest.data.slice(), best.#latest.counter),
      this.#verified || other.#verified,
    );
  }

  // -------------------------------------------------------------------------------------------
  // Pickling

  pickle(pickleKey: Uint8Array): string {
    this.#checkUsable();
    return sealPickle(PickleKind.inboundGroupSession, this.#serialize(), pickleKey);
  }

  static {
    sessionBodyOf = (session) => {
      session.#checkUsable();
      return session.#serialize();
    };
    sessionFromBody = (body) => parsePickleBody(body, (b) => InboundGroupSession.#deserialize(new ByteReader(b)));
  }

  static fromPickle(pickle: string, pickleKey: Uint8Array): InboundGroupSession {
    const body = openPickle(PickleKind.inboundGroupSession, pickle, pickleKey);
    return parsePickleBody(body, (b) => InboundGroupSession.#deserialize(new ByteReader(b)));
  }

  #serialize(): Uint8Array {
    const w = new ByteWriter(320);
    w.u8(PICKLE_SCHEMA).u8(this.#config.version).bool(this.#verified).raw(ed25519Bytes(this.#signingKey));
    w.u32(this.#initial.counter).raw(this.#initial.data);
    w.u32(this.#latest.counter).raw(this.#latest.data);
    return w.finish();
  }

  static #deserialize(r: ByteReader): InboundGroupSession {
    const schema = r.u8();
    if (schema !== PICKLE_SCHEMA) {
      throw new PickleError('PICKLE_UNSUPPORTED_VERSION', 'unknown inbound group session pickle schema', {
        actual: schema,
      });
    }
    const config = MegolmSessionConfig.fromVersion(r.u8());
    const verified = r.bool();
    const signingKey = Ed25519PublicKey.fromBytes(r.raw(32));
    const initialCounter = r.u32();
    const initialData = r.raw(RATCHET_LENGTH);
    const latestCounter = r.u32();
    const latestData = r.raw(RATCHET_LENGTH);
    r.end();
    if (latestCounter < initialCounter) {
      throw new PickleError('PICKLE_INVALID', 'the latest ratchet is behind the initial one');
    }
    return new InboundGroupSession(
      config,
      signingKey,
      newRatchetState(initialData, initialCounter),
      newRatchetState(latestData, latestCounter),
      verified,
    );
  }

  /** Forgets both ratchets. The session is unusable afterwards. */
  free(): void {
    this.#initial.data.fill(0);
    this.#latest.data.fill(0);
    this.#freed = true;
  }

  #checkUsable(): void {
    if (this.#freed) throw new SessionError('SESSION_NOT_FOUND', 'this inbound group session was freed');
  }

  toString(): string {
    return `InboundGroupSession(${this.sessionId}, first index ${this.firstKnownIndex})`;
  }
  toJSON(): { type: string; sessionId: string; firstKnownIndex: number } {
    return { type: 'InboundGroupSession', sessionId: this.sessionId, firstKnownIndex: this.firstKnownIndex };
  }
  static {
    redactInspect(InboundGroupSession);
  }
}

/**
 * The session's pickle body, unsealed: for the Device's records, which seal it once together with
 * their metadata (not part of the public API). The caller wipes it.
 */
export function inboundSessionBody(session: InboundGroupSession): Uint8Array {
  return sessionBodyOf(session);
}

/** A session from a body made by `inboundSessionBody` (PICKLE_INVALID when malformed); the body is wiped. */
export function inboundSessionFromBody(body: Uint8Array): InboundGroupSession {
  return sessionFromBody(body);
}
