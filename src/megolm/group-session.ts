/**
 * An outbound Megolm session (olm's docs/megolm.md): a ratchet that encrypts, and an Ed25519
 * key that signs every message and names the session. Receivers get the ratchet and the public
 * key through `sessionKey()`.
 *
 * Strong exception safety: `encrypt` advances the ratchet only once the message is complete.
 */

import { Ed25519SecretKey, randomBytes } from '../crypto/index.js';
import { ByteReader, ByteWriter, isBytes } from '../encoding/binary.js';
import { withUtf8 } from '../encoding/json.js';
import { invalidArgument, PickleError, SessionError } from '../errors.js';
import { redactInspect } from '../inspect.js';
import { Ed25519PublicKey } from '../keys.js';
import { openPickle, PickleKind, parsePickleBody, sealPickle } from '../pickle.js';
import { deriveKeys, encryptWith } from './cipher.js';
import { checkConfig, MegolmSessionConfig } from './config.js';
import { MegolmMessage, SessionKey, type UnsignedMegolmMessage } from './messages.js';
import { advance, advanceTo, newRatchetState, RATCHET_LENGTH, type RatchetState } from './ratchet.js';

const PICKLE_SCHEMA = 1;
const KEY_SEED = 0;
const KEY_EXPANDED = 1;

/** @internal A message prepared by `GroupSession.prepareEncrypt`. */
export interface PreparedMegolmEncryption {
  /** What the session's key signs. */
  readonly signed: Uint8Array;
  /** The session's signature over `signed`, on the active crypto backend. */
  sign(): Uint8Array;
  /** Attaches the signature, advances the ratchet, and gives the message. */
  complete(signature: Uint8Array): MegolmMessage;
}

/** @internal The parts a GroupSession is made of (libolm import, tests). */
export interface GroupSessionParts {
  readonly config: MegolmSessionConfig;
  readonly ratchet: Uint8Array;
  readonly counter: number;
  readonly signingKey: Ed25519SecretKey;
}
// Set in the class's static block: the record-body access the Device uses (see the functions at the end).
let sessionBodyOf: (session: GroupSession) => Uint8Array;
let sessionFromBody: (body: Uint8Array) => GroupSession;

export class GroupSession {
  /** Brand check: only objects this class built (not a Proxy, not Object.create of the prototype). */
  static [Symbol.hasInstance](value: unknown): value is GroupSession {
    return typeof value === 'object' && value !== null && #ratchet in value;
  }

  readonly #config: MegolmSessionConfig;
  readonly #ratchet: RatchetState;
  readonly #signingKey: Ed25519SecretKey;
  readonly #publicKey: Ed25519PublicKey;
  #freed = false;

  private constructor(config: MegolmSessionConfig, ratchet: RatchetState, signingKey: Ed25519SecretKey) {
    this.#config = config;
    this.#ratchet = ratchet;
    this.#signingKey = signingKey;
    this.#publicKey = Ed25519PublicKey.fromBytes(signingKey.publicKey);
  }

  /** A new session with a random ratchet (128 bytes) and a fresh Ed25519 key, at index 0. */
  static create(config: MegolmSessionConfig = MegolmSessionConfig.version1()): GroupSession {
    checkConfig(config);
    return new GroupSession(config, newRatchetState(randomBytes(RATCHET_LENGTH), 0), Ed25519SecretKey.generate());
  }

  /** @internal Takes copies of the ratchet; takes ownership of the signing key. */
  static fromParts(parts: GroupSessionParts): GroupSession {
    checkConfig(parts.config);
    if (!isBytes(parts.ratchet) || parts.ratchet.length !== RATCHET_LENGTH) {
      throw invalidArgument('a Megolm ratchet is 128 bytes', { expected: RATCHET_LENGTH });
    }
    if (!Number.isInteger(parts.counter) || parts.counter < 0 || parts.counter > 0xffffffff) {
      throw invalidArgument('a Megolm message index is a 32-bit unsigned integer', { actual: parts.counter });
    }
    return new GroupSession(parts.config, newRatchetState(parts.ratchet.slice(), parts.counter), parts.signingKey);
  }

  /** The session id: the unpadded base64 of the session's Ed25519 public key. */
  get sessionId(): string {
    return this.#publicKey.toBase64();
  }

  get signingKey(): Ed25519PublicKey {
    return this.#publicKey;
  }

  /** The index the next message will carry. */
  get messageIndex(): number {
    return this.#ratchet.counter;
  }

  get config(): MegolmSessionConfig {
    return this.#config;
  }

  encrypt(plaintext: Uint8Array | string): MegolmMessage {
    const prepared = this.prepareEncrypt(plaintext);
    return prepared.complete(prepared.sign());
  }

  /**
   * @internal `encrypt` in two steps, for a signature computed elsewhere (the Device signs through
   * WebCrypto in browsers, which is asynchronous): the message is encrypted and MAC-ed now, and
   * `complete` attaches the signature and advances the ratchet. Nothing changes until `complete`;
   * a prepared message whose session encrypted or skipped ahead in between is refused there.
   */
  prepareEncrypt(plaintext: Uint8Array | string): PreparedMegolmEncryption {
    this.#checkUsable();
    if (typeof plaintext === 'string') return withUtf8(plaintext, this.#prepareBytes);
    if (!isBytes(plaintext)) throw invalidArgument('plaintext must be a string or a Uint8Array');
    return this.#prepareBytes(plaintext);
  }

  // A field, not a method: withUtf8 takes it as is, with no closure made per message.
  readonly #prepareBytes = (bytes: Uint8Array): PreparedMegolmEncryption => {
    const ratchet = this.#ratchet;
    const counter = ratchet.counter;
    const keys = deriveKeys(ratchet.data);
    let unsigned: UnsignedMegolmMessage;
    try {
      const ciphertext = encryptWith(keys, bytes);
      unsigned = MegolmMessage.encodeUnsigned(this.#config.messageVersion, counter, ciphertext, keys.macKey);
    } finally {
      // Equivalent mutant (an empty block): a wipe of secrets, not observable through the API.
      keys.all.fill(0);
    }
    return {
      signed: unsigned.signed,
      sign: () => this.#signingKey.sign(unsigned.signed),
      complete: (signature: Uint8Array): MegolmMessage => {
        this.#checkUsable();
        if (ratchet.counter !== counter) {
          throw new SessionError(
            'SESSION_MISMATCH',
            'the session encrypted or advanced since this message was prepared',
          );
        }
        if (!isBytes(signature) || signature.length !== 64) throw invalidArgument('a signature is 64 bytes');
        const message = unsigned.complete(signature);
        // Nothing below can fail: commit.
        advance(ratchet);
        return message;
      },
    };
  };

  /**
   * Skips the ratchet forward so the next message carries `index` (e.g. past indices a crashed
   * process may have used). Returns false, changing nothing, when `index` is not above the
   * current index.
   */
  advanceTo(index: number): boolean {
    this.#checkUsable();
    // Equivalent mutant (`typeof index !== 'number'` → false): Number.isInteger refuses non-numbers too.
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index > 0xffffffff) {
      throw invalidArgument('the message index must be an integer from 0 to 2^32 - 1');
    }
    if (index <= this.#ratchet.counter) return false;
    advanceTo(this.#ratchet, index);
    return true;
  }

  /** The signed session key at the current index, to share in `m.room_key`. */
  sessionKey(): SessionKey {
    this.#checkUsable();
    return SessionKey.create(this.#ratchet.counter, this.#ratchet.data, this.#publicKey, (m) =>
      this.#signingKey.sign(m),
    );
  }

  // -------------------------------------------------------------------------------------------
  // Pickling

  pickle(pickleKey: Uint8Array): string {
    this.#checkUsable();
    return sealPickle(PickleKind.groupSession, this.#serialize(), pickleKey);
  }

  static {
    sessionBodyOf = (session) => {
      session.#checkUsable();
      return session.#serialize();
    };
    sessionFromBody = (body) => parsePickleBody(body, (b) => GroupSession.#deserialize(new ByteReader(b)));
  }

  static fromPickle(pickle: string, pickleKey: Uint8Array): GroupSession {
    const body = openPickle(PickleKind.groupSession, pickle, pickleKey);
    return parsePickleBody(body, (b) => GroupSession.#deserialize(new ByteReader(b)));
  }

  #serialize(): Uint8Array {
    const w = new ByteWriter(256);
    w.u8(PICKLE_SCHEMA).u8(this.#config.version).u32(this.#ratchet.counter).raw(this.#ratchet.data);
    const seed = this.#signingKey.seedBytes();
    if (seed !== undefined) {
      w.u8(KEY_SEED).raw(seed);
      seed.fill(0);
    } else {
      const expanded = this.#signingKey.expandedBytes();
      w.u8(KEY_EXPANDED).raw(expanded);
      expanded.fill(0);
    }
    w.raw(this.#signingKey.publicKey);
    return w.finish();
  }

  static #deserialize(r: ByteReader): GroupSession {
    const schema = r.u8();
    if (schema !== PICKLE_SCHEMA) {
      throw new PickleError('PICKLE_UNSUPPORTED_VERSION', 'unknown group session pickle schema', { actual: schema });
    }
    const config = MegolmSessionConfig.fromVersion(r.u8());
    const counter = r.u32();
    const data = r.raw(RATCHET_LENGTH);
    const kind = r.u8();
    if (kind !== KEY_SEED && kind !== KEY_EXPANDED) throw new PickleError('PICKLE_INVALID', 'unknown signing key kind');
    const secret = r.raw(kind === KEY_SEED ? 32 : 64);
    const publicKey = r.raw(32);
    r.end();
    const signingKey =
      kind === KEY_SEED
        ? Ed25519SecretKey.fromSeed(secret, publicKey)
        : Ed25519SecretKey.fromExpanded(secret, publicKey);
    secret.fill(0);
    return new GroupSession(config, newRatchetState(data, counter), signingKey);
  }

  /** @internal For the libolm exporter: copies of the ratchet and counter, and the signing key. */
  toParts(): GroupSessionParts {
    this.#checkUsable();
    return {
      config: this.#config,
      ratchet: this.#ratchet.data.slice(),
      counter: this.#ratchet.counter,
      signingKey: this.#signingKey,
    };
  }

  /** Forgets the ratchet and the signing key. The session is unusable afterwards. */
  free(): void {
    this.#ratchet.data.fill(0);
    this.#signingKey.wipe();
    this.#freed = true;
  }

  #checkUsable(): void {
    if (this.#freed) throw new SessionError('SESSION_NOT_FOUND', 'this group session was freed');
  }

  toString(): string {
    return `GroupSession(${this.sessionId})`;
  }
  toJSON(): { type: string; sessionId: string } {
    return { type: 'GroupSession', sessionId: this.sessionId };
  }
  static {
    redactInspect(GroupSession);
  }
}

/**
 * The session's pickle body, unsealed: for the Device's records, which seal it once together with
 * their metadata (not part of the public API). The caller wipes it.
 */
export function groupSessionBody(session: GroupSession): Uint8Array {
  return sessionBodyOf(session);
}

/** A session from a body made by `groupSessionBody` (PICKLE_INVALID when malformed); the body is wiped. */
export function groupSessionFromBody(body: Uint8Array): GroupSession {
  return sessionFromBody(body);
}
