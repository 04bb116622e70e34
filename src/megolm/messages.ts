/**
 * Megolm wire formats (olm's docs/megolm.md, "Data exchange formats").
 *
 * Message:              version | 0x08 varint message_index | 0x12 len ciphertext | MAC | signature(64)
 * Session key (shared): 0x02 | u32 BE index | R0..R3 (128) | Ed25519 public key (32) | signature (64) = 229 bytes
 * Exported session key: 0x01 | u32 BE index | R0..R3 (128) | Ed25519 public key (32)                 = 165 bytes
 *
 * Message version 3 carries an 8-byte truncated MAC (the specification), version 4 the full
 * 32-byte MAC (vodozemac's session config v2). The MAC covers version and payload; the signature
 * covers version, payload and MAC. Decoders accept payload fields in any order and skip unknown
 * ones; the MAC and signature are checked over the bytes as received (as libolm does).
 *
 * Session keys hold the ratchet, a secret: they decode in constant time and redact themselves.
 */

import type { Ed25519SecretKey } from '../crypto/index.js';
import { decodeBase64, decodeBase64Secret, encodeBase64, encodeBase64Secret } from '../encoding/base64.js';
import { allocPublic, isBytes } from '../encoding/binary.js';
import { ProtoReader, varintLength, WIRE_BYTES, WIRE_VARINT, writeVarint } from '../encoding/varint.js';
import { DecodeError, invalidArgument, KeyError } from '../errors.js';
import { redactInspect } from '../inspect.js';
import { Ed25519PublicKey, Ed25519Signature, ed25519Bytes } from '../keys.js';
import { computeMac } from './cipher.js';
import { MEGOLM_VERSION_V1, MEGOLM_VERSION_V2 } from './config.js';
import { RATCHET_LENGTH } from './ratchet.js';

const SIGNATURE_LENGTH = 64;
const MAX_MESSAGE_INDEX = 0xffffffff;
const REDACTED = '[redacted]';

export function macLengthForVersion(version: number): number {
  return version === MEGOLM_VERSION_V2 ? 32 : 8;
}

function malformed(message: string, details: { expected?: number; actual?: number } = {}): DecodeError {
  return new DecodeError('MESSAGE_MALFORMED', message, details);
}

function bytesInput(input: unknown, what: string): Uint8Array {
  if (!isBytes(input)) throw invalidArgument(`${what} must be a Uint8Array`);
  return input;
}

function stringInput(input: unknown, what: string): string {
  if (typeof input !== 'string') throw invalidArgument(`${what} must be a base64 string`);
  return input;
}

/** @internal A Megolm message encoded up to its signature (see `MegolmMessage.encodeUnsigned`). */
export interface UnsignedMegolmMessage {
  /** What the session's key signs: version ‖ payload ‖ MAC. */
  readonly signed: Uint8Array;
  /** Writes the 64-byte signature and gives the message. */
  complete(signature: Uint8Array): MegolmMessage;
}

/** An encrypted, MAC-ed and signed Megolm message. Public data. */
export class MegolmMessage {
  /** Brand check: only objects this class built (not a Proxy, not Object.create of the prototype). */
  static [Symbol.hasInstance](value: unknown): value is MegolmMessage {
    return typeof value === 'object' && value !== null && #bytes in value;
  }

  readonly version: number;
  readonly messageIndex: number;
  /** The whole encoded message. */
  readonly #bytes: Uint8Array;
  /** Where the ciphertext sits in `#bytes` (kept as numbers: a view per message costs an allocation). */
  readonly #ciphertextStart: number;
  readonly #ciphertextEnd: number;
  readonly #macLength: number;
  #signature: Ed25519Signature | undefined;

  private constructor(version: number, messageIndex: number, bytes: Uint8Array, start: number, end: number) {
    this.version = version;
    this.messageIndex = messageIndex;
    this.#bytes = bytes;
    this.#ciphertextStart = start;
    this.#ciphertextEnd = end;
    this.#macLength = macLengthForVersion(version);
  }

  /**
   * @internal Encodes version, index and ciphertext, writes the MAC under `macKey` over
   * version ‖ payload right after it, and `signingKey`'s signature over version ‖ payload ‖ MAC.
   */
  static encode(
    version: number,
    messageIndex: number,
    ciphertext: Uint8Array,
    macKey: Uint8Array,
    signingKey: Ed25519SecretKey,
  ): MegolmMessage {
    const unsigned = MegolmMessage.encodeUnsigned(version, messageIndex, ciphertext, macKey);
    return unsigned.complete(signingKey.sign(unsigned.signed));
  }

  /**
   * @internal `encode` up to the signature: `signed` is version ‖ payload ‖ MAC, and `complete`
   * writes the signature after it and gives the message (for a signature computed elsewhere, e.g.
   * by WebCrypto: see GroupSession.prepareEncrypt).
   */
  static encodeUnsigned(
    version: number,
    messageIndex: number,
    ciphertext: Uint8Array,
    macKey: Uint8Array,
  ): UnsignedMegolmMessage {
    const macLength = macLengthForVersion(version);
    const payloadLength = 1 + 1 + varintLength(messageIndex) + 1 + varintLength(ciphertext.length) + ciphertext.length;
    const signedLength = payloadLength + macLength;
    const bytes = allocPublic(signedLength + SIGNATURE_LENGTH);
    bytes[0] = version;
    bytes[1] = 0x08;
    // Index 0 is encoded too: libolm cannot decode a message without it.
    let o = writeVarint(bytes, 2, messageIndex);
    bytes[o++] = 0x12;
    o = writeVarint(bytes, o, ciphertext.length);
    bytes.set(ciphertext, o);
    computeMac(macKey, bytes, payloadLength, bytes, payloadLength, macLength);
    const start = o;
    return {
      signed: bytes.subarray(0, signedLength),
      complete: (signature: Uint8Array): MegolmMessage => {
        bytes.set(signature, signedLength);
        return new MegolmMessage(version, messageIndex, bytes, start, start + ciphertext.length);
      },
    };
  }

  static fromBytes(input: Uint8Array): MegolmMessage {
    return MegolmMessage.#decode(bytesInput(input, 'a Megolm message').slice());
  }

  static fromBase64(text: string): MegolmMessage {
    // The decoded bytes are fresh: no second copy.
    return MegolmMessage.#decode(decodeBase64(stringInput(text, 'a Megolm message')));
  }

  /** Decodes bytes this object may keep. */
  static #decode(bytes: Uint8Array): MegolmMessage {
    if (bytes.length < 1) throw malformed('empty Megolm message');
    const version = bytes[0]!;
    if (version !== MEGOLM_VERSION_V1 && version !== MEGOLM_VERSION_V2) {
      throw new DecodeError('MESSAGE_UNSUPPORTED_VERSION', `unsupported Megolm message version ${version}`, {
        actual: version,
      });
    }
    const suffix = macLengthForVersion(version) + SIGNATURE_LENGTH;
    if (bytes.length < 1 + suffix) {
      throw malformed('Megolm message too short for its MAC and signature', {
        expected: 1 + suffix,
        actual: bytes.length,
      });
    }
    const reader = new ProtoReader(bytes, 1, bytes.length - suffix);
    let messageIndex: number | undefined;
    let ciphertext: Uint8Array | undefined;
    while (!reader.done) {
      const [field, wire] = reader.readTag();
      if (field === 1 && wire === WIRE_VARINT) messageIndex = reader.readVarint();
      else if (field === 2 && wire === WIRE_BYTES) ciphertext = reader.readBytes();
      else reader.skip(wire);
    }
    if (messageIndex === undefined || ciphertext === undefined) {
      throw new DecodeError('MESSAGE_MISSING_FIELD', 'Megolm message lacks its message index or ciphertext');
    }
    if (messageIndex > MAX_MESSAGE_INDEX) throw malformed('Megolm message index exceeds 32 bits');
    // Equivalent mutant (`-` → `+`): `bytes` is always a fresh array at offset 0 (fromBytes copies,
    // fromBase64 decodes into a new array).
    const start = ciphertext.byteOffset - bytes.byteOffset;
    return new MegolmMessage(version, messageIndex, bytes, start, start + ciphertext.length);
  }

  toBytes(): Uint8Array {
    return this.#bytes.slice();
  }

  toBase64(): string {
    return encodeBase64(this.#bytes);
  }

  get ciphertext(): Uint8Array {
    return this.#bytes.slice(this.#ciphertextStart, this.#ciphertextEnd);
  }

  get mac(): Uint8Array {
    const end = this.#bytes.length - SIGNATURE_LENGTH;
    return this.#bytes.slice(end - this.#macLength, end);
  }

  get signature(): Ed25519Signature {
    this.#signature ??= Ed25519Signature.fromBytes(this.#bytes.subarray(this.#bytes.length - SIGNATURE_LENGTH));
    return this.#signature;
  }

  /** @internal The encoded bytes (no copy). */
  get encoded(): Uint8Array {
    return this.#bytes;
  }

  /** @internal */
  get ciphertextView(): Uint8Array {
    return this.#bytes.subarray(this.#ciphertextStart, this.#ciphertextEnd);
  }

  /** @internal Length of version ‖ payload (what the MAC covers). */
  get payloadLength(): number {
    return this.#bytes.length - SIGNATURE_LENGTH - this.#macLength;
  }

  toString(): string {
    return `MegolmMessage(version ${this.version}, index ${this.messageIndex})`;
  }
  toJSON(): string {
    return this.toBase64();
  }
}

// ---------------------------------------------------------------------------------------------
// Session keys

const SESSION_KEY_VERSION = 2;
const EXPORTED_KEY_VERSION = 1;
/** 1 + 4 + 128 + 32: the part both formats share (and the part a session key's signature covers). */
const BODY_LENGTH = 1 + 4 + RATCHET_LENGTH + 32;
export const SESSION_KEY_LENGTH: number = BODY_LENGTH + SIGNATURE_LENGTH;
export const EXPORTED_SESSION_KEY_LENGTH: number = BODY_LENGTH;

function checkKeyLayout(bytes: Uint8Array, what: string, length: number, version: number): void {
  if (bytes.length !== length) {
    throw new KeyError('KEY_INVALID_LENGTH', `a ${what} is ${length} bytes`, {
      expected: length,
      actual: bytes.length,
    });
  }
  if (bytes[0] !== version) {
    throw new KeyError('KEY_UNSUPPORTED', `unknown ${what} version ${bytes[0]}`, {
      expected: version,
      actual: bytes[0]!,
    });
  }
}

function readIndex(bytes: Uint8Array): number {
  return ((bytes[1]! << 24) | (bytes[2]! << 16) | (bytes[3]! << 8) | bytes[4]!) >>> 0;
}

/** Writes version ‖ index ‖ ratchet ‖ public key into `out` (at least 165 bytes). */
function writeBody(out: Uint8Array, version: number, index: number, ratchet: Uint8Array, publicKey: Uint8Array): void {
  out[0] = version;
  out[1] = index >>> 24;
  out[2] = index >>> 16;
  out[3] = index >>> 8;
  out[4] = index;
  out.set(ratchet, 5);
  out.set(publicKey, 5 + RATCHET_LENGTH);
}

let sessionKeyBytes: (key: SessionKey) => Uint8Array;
let exportedKeyBytes: (key: ExportedSessionKey) => Uint8Array;

/**
 * The signed session key an outbound session shares in `m.room_key` (the session-sharing
 * format). Decoding verifies the signature, so every SessionKey object is authentic.
 */
export class SessionKey {
  /** Brand check: only objects this class built (not a Proxy, not Object.create of the prototype). */
  static [Symbol.hasInstance](value: unknown): value is SessionKey {
    return typeof value === 'object' && value !== null && #bytes in value;
  }

  readonly #bytes: Uint8Array;
  #wiped = false;
  #signingKey: Ed25519PublicKey | undefined;

  static {
    sessionKeyBytes = (key) => key.#live();
  }

  private constructor(bytes: Uint8Array, signingKey?: Ed25519PublicKey) {
    this.#bytes = bytes;
    this.#signingKey = signingKey;
  }

  /** @internal Builds and signs a session key for an outbound session's current state. */
  static create(
    index: number,
    ratchet: Uint8Array,
    signingKey: Ed25519PublicKey,
    sign: (message: Uint8Array) => Uint8Array,
  ): SessionKey {
    const bytes = new Uint8Array(SESSION_KEY_LENGTH);
    writeBody(bytes, SESSION_KEY_VERSION, index, ratchet, ed25519Bytes(signingKey));
    bytes.set(sign(bytes.subarray(0, BODY_LENGTH)), BODY_LENGTH);
    return new SessionKey(bytes, signingKey);
  }

  /** Decodes a session key and verifies its signature (SignatureError SIGNATURE_INVALID if it fails). */
  static fromBytes(input: Uint8Array): SessionKey {
    const bytes = bytesInput(input, 'a Megolm session key').slice();
    try {
      checkKeyLayout(bytes, 'Megolm session key', SESSION_KEY_LENGTH, SESSION_KEY_VERSION);
      const signingKey = Ed25519PublicKey.fromBytes(bytes.subarray(5 + RATCHET_LENGTH, BODY_LENGTH));
      signingKey.verify(bytes.subarray(0, BODY_LENGTH), Ed25519Signature.fromBytes(bytes.subarray(BODY_LENGTH)));
      return new SessionKey(bytes, signingKey);
    } catch (error) {
      bytes.fill(0);
      throw error;
    }
  }

  static fromBase64(text: string): SessionKey {
    const bytes = decodeBase64Secret(stringInput(text, 'a Megolm session key'));
    try {
      return SessionKey.fromBytes(bytes);
    } finally {
      // Equivalent mutant (an empty block): a wipe of the decoded secret, not observable.
      bytes.fill(0);
    }
  }

  /** The message index the key starts at. */
  get messageIndex(): number {
    return readIndex(this.#live());
  }

  /** The session's Ed25519 key, which also names it. */
  get signingKey(): Ed25519PublicKey {
    const bytes = this.#live();
    // Equivalent mutants: both constructors set #signingKey, so the right-hand side never runs here
    // (`??=` → `&&=` rebuilds an equal key; `5 + RATCHET_LENGTH` is not covered).
    this.#signingKey ??= Ed25519PublicKey.fromBytes(bytes.subarray(5 + RATCHET_LENGTH, BODY_LENGTH));
    return this.#signingKey;
  }

  get sessionId(): string {
    return this.signingKey.toBase64();
  }

  toBytes(): Uint8Array {
    return this.#live().slice();
  }

  toBase64(): string {
    return encodeBase64Secret(this.#live());
  }

  /** Overwrites the key material. The object is unusable afterwards. */
  wipe(): void {
    this.#wiped = true;
    this.#bytes.fill(0);
  }

  #live(): Uint8Array {
    if (this.#wiped) throw invalidArgument('this session key was wiped');
    return this.#bytes;
  }

  toString(): string {
    return `SessionKey(${REDACTED})`;
  }
  toJSON(): string {
    return REDACTED;
  }
  static {
    redactInspect(SessionKey);
  }
}

/**
 * An unsigned session key at some index (the session-export format), as forwarded keys,
 * key backups and key-export files carry it. A session imported from one is not verified.
 */
export class ExportedSessionKey {
  /** Brand check: only objects this class built (not a Proxy, not Object.create of the prototype). */
  static [Symbol.hasInstance](value: unknown): value is ExportedSessionKey {
    return typeof value === 'object' && value !== null && #bytes in value;
  }

  readonly #bytes: Uint8Array;
  #wiped = false;
  #signingKey: Ed25519PublicKey | undefined;

  static {
    exportedKeyBytes = (key) => key.#live();
  }

  private constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  /** @internal */
  static create(index: number, ratchet: Uint8Array, signingKey: Ed25519PublicKey): ExportedSessionKey {
    const bytes = new Uint8Array(EXPORTED_SESSION_KEY_LENGTH);
    writeBody(bytes, EXPORTED_KEY_VERSION, index, ratchet, ed25519Bytes(signingKey));
    const key = new ExportedSessionKey(bytes);
    key.#signingKey = signingKey;
    return key;
  }

  static fromBytes(input: Uint8Array): ExportedSessionKey {
    const bytes = bytesInput(input, 'an exported Megolm session key').slice();
    try {
      checkKeyLayout(bytes, 'exported Megolm session key', EXPORTED_SESSION_KEY_LENGTH, EXPORTED_KEY_VERSION);
    } catch (error) {
      bytes.fill(0);
      throw error;
    }
    return new ExportedSessionKey(bytes);
  }

  static fromBase64(text: string): ExportedSessionKey {
    const bytes = decodeBase64Secret(stringInput(text, 'an exported Megolm session key'));
    try {
      return ExportedSessionKey.fromBytes(bytes);
    } finally {
      // Equivalent mutant (an empty block): a wipe of the decoded secret, not observable.
      bytes.fill(0);
    }
  }

  get messageIndex(): number {
    return readIndex(this.#live());
  }

  get signingKey(): Ed25519PublicKey {
    const bytes = this.#live();
    this.#signingKey ??= Ed25519PublicKey.fromBytes(bytes.subarray(5 + RATCHET_LENGTH, BODY_LENGTH));
    return this.#signingKey;
  }

  get sessionId(): string {
    return this.signingKey.toBase64();
  }

  toBytes(): Uint8Array {
    return this.#live().slice();
  }

  toBase64(): string {
    return encodeBase64Secret(this.#live());
  }

  wipe(): void {
    this.#wiped = true;
    this.#bytes.fill(0);
  }

  #live(): Uint8Array {
    if (this.#wiped) throw invalidArgument('this session key was wiped');
    return this.#bytes;
  }

  toString(): string {
    return `ExportedSessionKey(${REDACTED})`;
  }
  toJSON(): string {
    return REDACTED;
  }
  static {
    redactInspect(ExportedSessionKey);
  }
}

/** @internal The ratchet bytes of a session key (a view; callers copy). */
export function sessionKeyRatchet(key: SessionKey): Uint8Array {
  return sessionKeyBytes(key).subarray(5, 5 + RATCHET_LENGTH);
}

/** @internal */
export function exportedKeyRatchet(key: ExportedSessionKey): Uint8Array {
  return exportedKeyBytes(key).subarray(5, 5 + RATCHET_LENGTH);
}
