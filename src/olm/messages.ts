/**
 * Olm wire messages (Matrix spec, olm.md "The Olm Message Format").
 *
 * Normal (type 1):  version | 0x0A 32 ratchet_key | 0x10 varint chain_index | 0x22 len ciphertext | MAC
 * Pre-key (type 0): 0x03 | 0x0A 32 one_time_key | 0x12 32 base_key | 0x1A 32 identity_key | 0x22 len message
 *
 * Version 3 carries an 8-byte truncated MAC (the spec); version 4 a full 32-byte MAC (session
 * config v2, vodozemac's extension). Decoders accept fields in any order and skip unknown ones.
 */
import { decodeBase64, encodeBase64 } from '../encoding/base64.js';
import { allocPublic, isBytes } from '../encoding/binary.js';
import { ProtoReader, varintLength, WIRE_BYTES, WIRE_VARINT, writeVarint } from '../encoding/varint.js';
import { DecodeError, invalidArgument } from '../errors.js';
import { Curve25519PublicKey, curve25519Bytes } from '../keys.js';

export const MESSAGE_VERSION_V1 = 3;
export const MESSAGE_VERSION_V2 = 4;
const PRE_KEY_VERSION = 3;
const MAX_CHAIN_INDEX = 0xffffffff;

export function macLengthForVersion(version: number): number {
  return version === MESSAGE_VERSION_V2 ? 32 : 8;
}

function malformed(message: string): DecodeError {
  return new DecodeError('MESSAGE_MALFORMED', message);
}

function read32(reader: ProtoReader, what: string): Uint8Array {
  const bytes = reader.readBytes();
  if (bytes.length !== 32) {
    throw new DecodeError('MESSAGE_MALFORMED', `${what} must be 32 bytes`, { expected: 32, actual: bytes.length });
  }
  return bytes.slice(); // Curve25519PublicKey.fromBytes copies again: this copy is an equivalent mutant
}

function toBytesInput(input: Uint8Array | string, what: string): Uint8Array {
  if (typeof input === 'string') return decodeBase64(input);
  if (isBytes(input)) return input;
  throw invalidArgument(`${what} must be bytes or a base64 string`);
}

/** A normal Olm message (type 1). */
export class Message {
  /** Brand check: only objects this class built (not a Proxy, not Object.create of the prototype). */
  static [Symbol.hasInstance](value: unknown): value is Message {
    return typeof value === 'object' && value !== null && #bytes in value;
  }

  readonly version: number;
  readonly ratchetKey: Curve25519PublicKey;
  readonly chainIndex: number;
  readonly #ciphertext: Uint8Array;
  /** The whole encoded message, MAC included. */
  readonly #bytes: Uint8Array;

  private constructor(
    version: number,
    ratchetKey: Curve25519PublicKey,
    chainIndex: number,
    ciphertext: Uint8Array,
    bytes: Uint8Array,
  ) {
    this.version = version;
    this.ratchetKey = ratchetKey;
    this.chainIndex = chainIndex;
    this.#ciphertext = ciphertext;
    this.#bytes = bytes;
  }

  get type(): 1 {
    return 1;
  }

  get ciphertext(): Uint8Array {
    return this.#ciphertext.slice();
  }

  get mac(): Uint8Array {
    return this.#bytes.slice(this.#bytes.length - macLengthForVersion(this.version));
  }

  /** @internal Encodes everything but the MAC; `mac` fills the MAC in place once computed. */
  static encode(
    version: number,
    ratchetKey: Curve25519PublicKey,
    chainIndex: number,
    ciphertext: Uint8Array,
    mac: (payload: Uint8Array, out: Uint8Array) => void,
  ): Message {
    const macLength = macLengthForVersion(version);
    const length =
      1 + 2 + 32 + 1 + varintLength(chainIndex) + 1 + varintLength(ciphertext.length) + ciphertext.length + macLength;
    const bytes = allocPublic(length);
    bytes[0] = version;
    bytes[1] = 0x0a;
    bytes[2] = 32;
    bytes.set(curve25519Bytes(ratchetKey), 3);
    bytes[35] = 0x10;
    let o = writeVarint(bytes, 36, chainIndex);
    bytes[o++] = 0x22;
    o = writeVarint(bytes, o, ciphertext.length);
    const ciphertextView = bytes.subarray(o, o + ciphertext.length);
    bytes.set(ciphertext, o);
    o += ciphertext.length;
    mac(bytes.subarray(0, o), bytes.subarray(o));
    return new Message(version, ratchetKey, chainIndex, ciphertextView, bytes);
  }

  static fromBytes(input: Uint8Array): Message {
    if (!isBytes(input)) throw invalidArgument('an Olm message must be bytes');
    const bytes = input.slice();
    if (bytes.length < 1) throw malformed('empty Olm message');
    const version = bytes[0]!;
    if (version !== MESSAGE_VERSION_V1 && version !== MESSAGE_VERSION_V2) {
      throw new DecodeError('MESSAGE_UNSUPPORTED_VERSION', `unsupported Olm message version ${version}`, {
        actual: version,
      });
    }
    const macLength = macLengthForVersion(version);
    if (bytes.length < 1 + macLength) throw malformed('Olm message too short for its MAC');
    const reader = new ProtoReader(bytes, 1, bytes.length - macLength);
    let ratchetKey: Uint8Array | undefined;
    let chainIndex: number | undefined;
    let ciphertext: Uint8Array | undefined;
    while (!reader.done) {
      const [field, wire] = reader.readTag();
      if (field === 1 && wire === WIRE_BYTES) ratchetKey = read32(reader, 'ratchet key');
      else if (field === 2 && wire === WIRE_VARINT) chainIndex = reader.readVarint();
      else if (field === 4 && wire === WIRE_BYTES) ciphertext = reader.readBytes();
      else reader.skip(wire);
    }
    if (ratchetKey === undefined || chainIndex === undefined || ciphertext === undefined) {
      throw new DecodeError('MESSAGE_MISSING_FIELD', 'Olm message lacks its ratchet key, chain index or ciphertext');
    }
    if (chainIndex > MAX_CHAIN_INDEX) throw malformed('Olm chain index exceeds 32 bits');
    return new Message(version, Curve25519PublicKey.fromBytes(ratchetKey), chainIndex, ciphertext, bytes);
  }

  static fromBase64(text: string): Message {
    return Message.fromBytes(toBytesInput(text, 'an Olm message'));
  }

  toBytes(): Uint8Array {
    return this.#bytes.slice();
  }

  toBase64(): string {
    return encodeBase64(this.#bytes);
  }

  /** @internal */
  get encoded(): Uint8Array {
    return this.#bytes;
  }

  /** @internal */
  get ciphertextView(): Uint8Array {
    return this.#ciphertext;
  }
}

/** A pre-key Olm message (type 0): a normal message plus the keys that start the session. */
export class PreKeyMessage {
  /** Brand check: only objects this class built (not a Proxy, not Object.create of the prototype). */
  static [Symbol.hasInstance](value: unknown): value is PreKeyMessage {
    return typeof value === 'object' && value !== null && #bytes in value;
  }

  readonly oneTimeKey: Curve25519PublicKey;
  readonly baseKey: Curve25519PublicKey;
  readonly identityKey: Curve25519PublicKey;
  readonly message: Message;
  readonly #bytes: Uint8Array;

  private constructor(
    oneTimeKey: Curve25519PublicKey,
    baseKey: Curve25519PublicKey,
    identityKey: Curve25519PublicKey,
    message: Message,
    bytes: Uint8Array,
  ) {
    this.oneTimeKey = oneTimeKey;
    this.baseKey = baseKey;
    this.identityKey = identityKey;
    this.message = message;
    this.#bytes = bytes;
  }

  get type(): 0 {
    return 0;
  }

  /** @internal Wraps an encoded normal message with the keys that start its session. */
  static create(
    oneTimeKey: Curve25519PublicKey,
    baseKey: Curve25519PublicKey,
    identityKey: Curve25519PublicKey,
    message: Message,
  ): PreKeyMessage {
    const inner = message.encoded;
    const length = 1 + 3 * 34 + 1 + varintLength(inner.length) + inner.length;
    const bytes = allocPublic(length);
    bytes[0] = PRE_KEY_VERSION;
    let o = 1;
    for (const [tag, key] of [
      [0x0a, oneTimeKey],
      [0x12, baseKey],
      [0x1a, identityKey],
    ] as const) {
      bytes[o] = tag;
      bytes[o + 1] = 32;
      bytes.set(curve25519Bytes(key), o + 2);
      o += 34;
    }
    bytes[o++] = 0x22;
    o = writeVarint(bytes, o, inner.length);
    bytes.set(inner, o);
    return new PreKeyMessage(oneTimeKey, baseKey, identityKey, message, bytes);
  }

  static fromBytes(input: Uint8Array): PreKeyMessage {
    if (!isBytes(input)) throw invalidArgument('an Olm pre-key message must be bytes');
    const bytes = input.slice();
    if (bytes.length < 1) throw malformed('empty Olm pre-key message');
    if (bytes[0] !== PRE_KEY_VERSION) {
      throw new DecodeError('MESSAGE_UNSUPPORTED_VERSION', `unsupported Olm pre-key message version ${bytes[0]}`, {
        actual: bytes[0]!,
      });
    }
    const reader = new ProtoReader(bytes, 1);
    let oneTimeKey: Uint8Array | undefined;
    let baseKey: Uint8Array | undefined;
    let identityKey: Uint8Array | undefined;
    let inner: Uint8Array | undefined;
    while (!reader.done) {
      const [field, wire] = reader.readTag();
      if (field === 1 && wire === WIRE_BYTES) oneTimeKey = read32(reader, 'one-time key');
      else if (field === 2 && wire === WIRE_BYTES) baseKey = read32(reader, 'base key');
      else if (field === 3 && wire === WIRE_BYTES) identityKey = read32(reader, 'identity key');
      else if (field === 4 && wire === WIRE_BYTES) inner = reader.readBytes();
      else reader.skip(wire);
    }
    if (oneTimeKey === undefined || baseKey === undefined || identityKey === undefined || inner === undefined) {
      throw new DecodeError('MESSAGE_MISSING_FIELD', 'Olm pre-key message lacks a key or its message');
    }
    return new PreKeyMessage(
      Curve25519PublicKey.fromBytes(oneTimeKey),
      Curve25519PublicKey.fromBytes(baseKey),
      Curve25519PublicKey.fromBytes(identityKey),
      Message.fromBytes(inner),
      bytes,
    );
  }

  static fromBase64(text: string): PreKeyMessage {
    return PreKeyMessage.fromBytes(toBytesInput(text, 'an Olm pre-key message'));
  }

  toBytes(): Uint8Array {
    return this.#bytes.slice();
  }

  toBase64(): string {
    return encodeBase64(this.#bytes);
  }
}

export type OlmMessage = PreKeyMessage | Message;

/** Decodes the `{type, body}` pair of Matrix's `m.olm.v1.curve25519-aes-sha2` ciphertext. */
export function olmMessageFromParts(type: number, body: string | Uint8Array): OlmMessage {
  if (type === 0) return PreKeyMessage.fromBytes(toBytesInput(body, 'an Olm pre-key message'));
  if (type === 1) return Message.fromBytes(toBytesInput(body, 'an Olm message'));
  const actual = typeof type === 'number' ? type : Number.NaN;
  throw new DecodeError('MESSAGE_MALFORMED', `unknown Olm message type ${actual}`, { actual });
}
