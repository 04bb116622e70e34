/**
 * Helpers for the Olm unit and property tests. Everything that checks the code under test is
 * computed here independently of it:
 *
 * - pickles are opened and sealed with @noble/ciphers' ChaCha20-Poly1305 following the envelope
 *   documented in src/pickle.ts, and the bodies parsed with a DataView reader (not ByteReader);
 * - Olm message keys, MACs and ciphertexts are made with node:crypto from the Matrix spec (olm.md
 *   "Advancing the chain key", "Creating a message key"), and wire messages are assembled by hand.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  randomBytes,
} from 'node:crypto';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { expect } from 'vitest';
import { TriturusError } from '../../src/errors.js';
import type { Curve25519PublicKey } from '../../src/keys.js';
import { Account } from '../../src/olm/account.js';
import { SessionConfig } from '../../src/olm/config.js';
import { PreKeyMessage } from '../../src/olm/messages.js';
import type { Session } from '../../src/olm/session.js';

// ---------------------------------------------------------------------------------------------
// Bytes

export function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) throw new Error(`bad hex: ${text}`);
  return Uint8Array.from(Buffer.from(clean, 'hex'));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
}

export function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts.map((p) => Uint8Array.from(p))));
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

/** A copy with the last byte's low bit flipped. */
export function flipLastByte(bytes: Uint8Array): Uint8Array {
  const copy = bytes.slice();
  copy[copy.length - 1]! ^= 1;
  return copy;
}

export function utf8(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text, 'utf8'));
}

export function randomKeyBytes(): Uint8Array {
  return Uint8Array.from(randomBytes(32));
}

/** Asserts that `fn` throws an instance of `type` (a TriturusError subclass) with `code`. */
export function expectTriturusError(
  fn: () => unknown,
  type: abstract new (...args: never[]) => TriturusError,
  code: string,
): TriturusError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught, 'expected a throw').toBeInstanceOf(type);
  expect(caught).toBeInstanceOf(TriturusError);
  expect((caught as TriturusError).code).toBe(code);
  return caught as TriturusError;
}

/**
 * Asserts that `fn` throws a TriturusError with `code` whose message names what was wrong: it
 * matches `names` (a key word such as /MAC/ or /one-time key/, not the whole prose).
 */
export function expectRefusal(fn: () => unknown, code: string, names: RegExp): TriturusError {
  const error = thrown(fn);
  expect(error).toBeInstanceOf(TriturusError);
  expect((error as TriturusError).code).toBe(code);
  expect((error as TriturusError).message).toMatch(names);
  return error as TriturusError;
}

/** Returns what `fn` throws (failing the test when it does not throw). */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  expect.fail('expected a throw');
}

// Curve25519 u-coordinates of small order (libsodium's blocklist): X25519 with any of them is all-zero.
export const SMALL_ORDER_CURVE_POINTS: readonly [string, Uint8Array][] = [
  ['0', hex('0000000000000000000000000000000000000000000000000000000000000000')],
  ['1', hex('0100000000000000000000000000000000000000000000000000000000000000')],
  ['order 8 (a)', hex('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800')],
  ['order 8 (b)', hex('5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157')],
  ['p-1', hex('ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f')],
  ['p', hex('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f')],
];

// ---------------------------------------------------------------------------------------------
// Pickle envelope (src/pickle.ts): base64(0x01 | kind | nonce 12 | ChaCha20-Poly1305(body)),
// associated data 0x01 | kind | "triturus pickle".

export const PICKLE_KIND_ACCOUNT = 1;
export const PICKLE_KIND_OLM_SESSION = 2;

function pickleAad(kind: number): Uint8Array {
  return concat([1, kind], utf8('triturus pickle'));
}

export function openPickleBody(pickle: string, key: Uint8Array): { kind: number; body: Uint8Array } {
  const bytes = Uint8Array.from(Buffer.from(pickle, 'base64'));
  expect(bytes[0], 'pickle envelope version').toBe(1);
  const kind = bytes[1]!;
  const body = chacha20poly1305(key, bytes.subarray(2, 14), pickleAad(kind)).decrypt(bytes.subarray(14));
  return { kind, body };
}

export function sealPickleBody(kind: number, body: Uint8Array, key: Uint8Array): string {
  const nonce = Uint8Array.from(randomBytes(12));
  const sealed = chacha20poly1305(key, nonce, pickleAad(kind)).encrypt(body);
  return Buffer.from(concat([1, kind], nonce, sealed))
    .toString('base64')
    .replace(/=+$/, '');
}

/** A fixed pickle key for tests. */
export const PICKLE_KEY: Uint8Array = Uint8Array.from({ length: 32 }, (_, i) => (i * 7 + 3) & 0xff);

export function accountBody(account: Account): Uint8Array {
  const { kind, body } = openPickleBody(account.pickle(PICKLE_KEY), PICKLE_KEY);
  expect(kind).toBe(PICKLE_KIND_ACCOUNT);
  return body;
}

export function sessionBody(session: Session): Uint8Array {
  const { kind, body } = openPickleBody(session.pickle(PICKLE_KEY), PICKLE_KEY);
  expect(kind).toBe(PICKLE_KIND_OLM_SESSION);
  return body;
}

class Reader {
  #offset = 0;
  readonly #view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  }
  u8(): number {
    return this.#view.getUint8(this.#offset++);
  }
  bool(): boolean {
    const v = this.u8();
    if (v > 1) throw new Error('bad boolean in pickle body');
    return v === 1;
  }
  u32(): number {
    const v = this.#view.getUint32(this.#offset);
    this.#offset += 4;
    return v;
  }
  u64(): number {
    const v = this.#view.getBigUint64(this.#offset);
    this.#offset += 8;
    return Number(v);
  }
  raw(n: number): Uint8Array {
    if (this.#offset + n > this.bytes.length) throw new Error('pickle body truncated');
    const out = this.bytes.slice(this.#offset, this.#offset + n);
    this.#offset += n;
    return out;
  }
  end(): void {
    if (this.#offset !== this.bytes.length) throw new Error('pickle body has trailing bytes');
  }
}

export interface StoredKeyBody {
  readonly id: number;
  readonly published: boolean;
  readonly secret: Uint8Array;
  readonly publicKey: Uint8Array;
}

export interface AccountBody {
  readonly schema: number;
  /** The Ed25519 seed (32 bytes) or libolm's expanded key (64 bytes). */
  readonly signingSecret: Uint8Array;
  readonly signingPublic: Uint8Array;
  readonly identitySecret: Uint8Array;
  readonly identityPublic: Uint8Array;
  readonly nextKeyId: number;
  readonly oneTimeKeys: StoredKeyBody[];
  readonly fallbackKey: StoredKeyBody | undefined;
  readonly previousFallbackKey: StoredKeyBody | undefined;
}

function readStored(r: Reader): StoredKeyBody {
  return { id: r.u64(), published: r.bool(), secret: r.raw(32), publicKey: r.raw(32) };
}

/** Parses an account pickle body (layout in Account#serialize). */
export function parseAccountBody(body: Uint8Array): AccountBody {
  const r = new Reader(body);
  const schema = r.u8();
  const form = r.u8();
  const signingSecret = r.raw(form === 0 ? 32 : 64);
  const signingPublic = r.raw(32);
  const identitySecret = r.raw(32);
  const identityPublic = r.raw(32);
  const nextKeyId = r.u64();
  const count = r.u32();
  const oneTimeKeys: StoredKeyBody[] = [];
  for (let i = 0; i < count; i++) oneTimeKeys.push(readStored(r));
  const fallbackKey = r.bool() ? readStored(r) : undefined;
  const previousFallbackKey = r.bool() ? readStored(r) : undefined;
  r.end();
  return {
    schema,
    signingSecret,
    signingPublic,
    identitySecret,
    identityPublic,
    nextKeyId,
    oneTimeKeys,
    fallbackKey,
    previousFallbackKey,
  };
}

export interface ReceiverChainBody {
  readonly ratchetKey: Uint8Array;
  readonly chainKey: Uint8Array;
  readonly index: number;
  readonly skipped: { index: number; messageKey: Uint8Array }[];
  /** Schema 2: indices given up, as [from, to) pairs. */
  readonly lost: [number, number][];
}

export interface DroppedChainBody {
  readonly ratchetKey: Uint8Array;
  readonly nextIndex: number;
  readonly lost: [number, number][];
}

export interface SessionBody {
  readonly schema: number;
  readonly version: number;
  readonly receivedMessage: boolean;
  readonly identityKey: Uint8Array;
  readonly baseKey: Uint8Array;
  readonly oneTimeKey: Uint8Array;
  readonly rootKey: Uint8Array;
  readonly sender: { secret: Uint8Array; publicKey: Uint8Array; chainKey: Uint8Array; index: number } | undefined;
  readonly receivers: ReceiverChainBody[];
  /** Schema 2: the dropped chains remembered, oldest first. */
  readonly dropped: DroppedChainBody[];
}

/** Parses an Olm session pickle body (layout in Session#serialize), schema 1 or 2. */
export function parseSessionBody(body: Uint8Array): SessionBody {
  const r = new Reader(body);
  const schema = r.u8();
  const version = r.u8();
  const receivedMessage = r.bool();
  const identityKey = r.raw(32);
  const baseKey = r.raw(32);
  const oneTimeKey = r.raw(32);
  const rootKey = r.raw(32);
  const sender = r.bool()
    ? { secret: r.raw(32), publicKey: r.raw(32), chainKey: r.raw(32), index: r.u32() }
    : undefined;
  const ranges = (): [number, number][] => Array.from({ length: r.u8() }, () => [r.u32(), r.u32()] as [number, number]);
  const receivers: ReceiverChainBody[] = [];
  const count = r.u8();
  for (let i = 0; i < count; i++) {
    const ratchetKey = r.raw(32);
    const chainKey = r.raw(32);
    const index = r.u32();
    const skipped: { index: number; messageKey: Uint8Array }[] = [];
    const n = r.u8();
    for (let j = 0; j < n; j++) skipped.push({ index: r.u32(), messageKey: r.raw(32) });
    receivers.push({ ratchetKey, chainKey, index, skipped, lost: schema >= 2 ? ranges() : [] });
  }
  const dropped: DroppedChainBody[] = [];
  if (schema >= 2) {
    const n = r.u8();
    for (let i = 0; i < n; i++) dropped.push({ ratchetKey: r.raw(32), nextIndex: r.u32(), lost: ranges() });
  }
  r.end();
  return { schema, version, receivedMessage, identityKey, baseKey, oneTimeKey, rootKey, sender, receivers, dropped };
}

// ---------------------------------------------------------------------------------------------
// Olm by hand (Matrix spec olm.md), with node:crypto

export function hmac(key: Uint8Array, data: Uint8Array): Uint8Array {
  return Uint8Array.from(createHmac('sha256', key).update(data).digest());
}

export function hkdf(ikm: Uint8Array, salt: Uint8Array, info: string, length: number): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', ikm, salt, info, length));
}

export function sha256(data: Uint8Array): Uint8Array {
  return Uint8Array.from(createHash('sha256').update(data).digest());
}

/** X25519 with node:crypto (RFC 7748), from raw 32-byte keys. */
export function x25519(secret: Uint8Array, publicKey: Uint8Array): Uint8Array {
  const privateKey = createPrivateKey({
    key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), Buffer.from(secret)]),
    format: 'der',
    type: 'pkcs8',
  });
  const peer = createPublicKey({
    key: Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), Buffer.from(publicKey)]),
    format: 'der',
    type: 'spki',
  });
  return Uint8Array.from(diffieHellman({ privateKey, publicKey: peer }));
}

export function aesCbcDecrypt(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  const decipher = createDecipheriv('aes-256-cbc', key, iv);
  return Uint8Array.from(Buffer.concat([decipher.update(ciphertext), decipher.final()]));
}

/** Message key HMAC(ck, 0x01) and next chain key HMAC(ck, 0x02). */
export function chainStep(chainKey: Uint8Array): { messageKey: Uint8Array; nextChainKey: Uint8Array } {
  return { messageKey: hmac(chainKey, Uint8Array.of(1)), nextChainKey: hmac(chainKey, Uint8Array.of(2)) };
}

/** AES key, HMAC key and IV: HKDF-SHA256(salt 0, message key, "OLM_KEYS", 80) split 32/32/16. */
export function messageKeys(messageKey: Uint8Array): { aesKey: Uint8Array; macKey: Uint8Array; iv: Uint8Array } {
  const out = hkdf(messageKey, new Uint8Array(0), 'OLM_KEYS', 80);
  return { aesKey: out.slice(0, 32), macKey: out.slice(32, 64), iv: out.slice(64, 80) };
}

export function aesCbcEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  return Uint8Array.from(Buffer.concat([cipher.update(plaintext), cipher.final()]));
}

/** Protobuf pieces for hand-built messages. */
export function varint(value: number): number[] {
  const out: number[] = [];
  let v = BigInt(value);
  do {
    const low = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? low | 0x80 : low);
  } while (v > 0n);
  return out;
}

export function bytesField(field: number, data: Uint8Array): Uint8Array {
  return concat(varint(field * 8 + 2), varint(data.length), data);
}

export function varintField(field: number, value: number): Uint8Array {
  return concat(varint(field * 8), varint(value));
}

/** Unknown fields of every skippable wire type: varint, fixed64, length-delimited, fixed32. */
export function unknownFields(): Uint8Array {
  return concat(
    varintField(9, 300),
    [(10 << 3) | 1, 1, 2, 3, 4, 5, 6, 7, 8],
    bytesField(11, utf8('ignored')),
    [(12 << 3) | 5, 9, 9, 9, 9],
    // A large field number (multi-byte tag) too.
    bytesField(1000, Uint8Array.of(1, 2)),
  );
}

/**
 * A normal Olm message built by hand: `fields` (already-encoded protobuf fields, in the order
 * given) after the version byte, then the MAC over everything before it, truncated to macLength.
 */
export function handMessage(version: number, fields: Uint8Array[], macKey: Uint8Array, macLength: number): Uint8Array {
  const payload = concat([version], ...fields);
  return concat(payload, hmac(macKey, payload).subarray(0, macLength));
}

/**
 * Builds by hand the next message `session` would send (its sender chain's next index), with
 * the fields in the given order plus optional unknown fields, from the chain key in its pickle.
 */
export function forgeNextMessage(
  session: Session,
  plaintext: Uint8Array,
  options: {
    order?: ('ratchet' | 'index' | 'ciphertext' | 'unknown')[];
    ratchetKey?: Uint8Array;
    /** The version byte; the session's own by default. The MAC length follows it (4: 32 bytes, else 8). */
    version?: number;
    /** Steps the chain this many times first: the message is `skip` indices ahead of the next one. */
    skip?: number;
  } = {},
): Uint8Array {
  const body = parseSessionBody(sessionBody(session));
  const sender = body.sender;
  if (sender === undefined) throw new Error('the session has no sending chain');
  let chainKey = sender.chainKey;
  for (let i = 0; i < (options.skip ?? 0); i++) chainKey = chainStep(chainKey).nextChainKey;
  const { messageKey } = chainStep(chainKey);
  const keys = messageKeys(messageKey);
  const ciphertext = aesCbcEncrypt(keys.aesKey, keys.iv, plaintext);
  const fields = {
    ratchet: bytesField(1, options.ratchetKey ?? sender.publicKey),
    index: varintField(2, sender.index + (options.skip ?? 0)),
    ciphertext: bytesField(4, ciphertext),
    unknown: unknownFields(),
  };
  const order = options.order ?? ['ratchet', 'index', 'ciphertext'];
  const version = options.version ?? (body.version === 2 ? 4 : 3);
  return handMessage(
    version,
    order.map((k) => fields[k]),
    keys.macKey,
    version === 4 ? 32 : 8,
  );
}

/** A pre-key message by hand around an already-encoded inner message, outer fields in the given order. */
export function handPreKeyMessage(
  keys: { oneTimeKey: Uint8Array; baseKey: Uint8Array; identityKey: Uint8Array },
  inner: Uint8Array,
  order: ('oneTime' | 'base' | 'identity' | 'message' | 'unknown')[] = ['oneTime', 'base', 'identity', 'message'],
): Uint8Array {
  const fields = {
    oneTime: bytesField(1, keys.oneTimeKey),
    base: bytesField(2, keys.baseKey),
    identity: bytesField(3, keys.identityKey),
    message: bytesField(4, inner),
    unknown: unknownFields(),
  };
  return concat([3], ...order.map((k) => fields[k]));
}

// ---------------------------------------------------------------------------------------------
// Conversations

export interface Pair {
  readonly alice: Account;
  readonly bob: Account;
  /** Alice's outbound session. */
  readonly aliceSession: Session;
  /** Bob's inbound session, made from Alice's first message. */
  readonly bobSession: Session;
  readonly firstPlaintext: Uint8Array;
}

export function oneTimeKeyOf(account: Account): Curve25519PublicKey {
  account.generateOneTimeKeys(1);
  const keys = [...account.oneTimeKeys.values()];
  return keys[keys.length - 1]!;
}

/** Alice and Bob with a session each way established by one pre-key message from Alice. */
export function makePair(config: SessionConfig = SessionConfig.version1(), first = 'first message'): Pair {
  const alice = Account.create();
  const bob = Account.create();
  const aliceSession = alice.createOutboundSession(config, bob.curve25519Key, oneTimeKeyOf(bob));
  const message = aliceSession.encrypt(first);
  expect(message).toBeInstanceOf(PreKeyMessage);
  const { session: bobSession, plaintext } = bob.createInboundSession(alice.curve25519Key, message as PreKeyMessage);
  return { alice, bob, aliceSession, bobSession, firstPlaintext: plaintext };
}

export function text(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('utf8');
}

/** Encodes an Olm session pickle body (the inverse of parseSessionBody), for hand-built pickles. */
export function encodeSessionBody(body: SessionBody): Uint8Array {
  const out: number[] = [];
  const u8 = (v: number) => out.push(v);
  const u32 = (v: number) => out.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
  const raw = (b: Uint8Array) => out.push(...b);
  const ranges = (r: [number, number][]) => {
    u8(r.length);
    for (const [from, to] of r) {
      u32(from);
      u32(to);
    }
  };
  u8(body.schema);
  u8(body.version);
  u8(body.receivedMessage ? 1 : 0);
  for (const k of [body.identityKey, body.baseKey, body.oneTimeKey, body.rootKey]) raw(k);
  u8(body.sender === undefined ? 0 : 1);
  if (body.sender !== undefined) {
    raw(body.sender.secret);
    raw(body.sender.publicKey);
    raw(body.sender.chainKey);
    u32(body.sender.index);
  }
  u8(body.receivers.length);
  for (const r of body.receivers) {
    raw(r.ratchetKey);
    raw(r.chainKey);
    u32(r.index);
    u8(r.skipped.length);
    for (const s of r.skipped) {
      u32(s.index);
      raw(s.messageKey);
    }
    if (body.schema >= 2) ranges(r.lost);
  }
  if (body.schema >= 2) {
    u8(body.dropped.length);
    for (const d of body.dropped) {
      raw(d.ratchetKey);
      u32(d.nextIndex);
      ranges(d.lost);
    }
  }
  return Uint8Array.from(out);
}
