/**
 * An Olm session: the double ratchet between two devices (Matrix spec, olm.md).
 *
 * Strong exception safety: `decrypt` works on copies of the chain it needs and commits the new
 * root key, chains and skipped keys only after the MAC verified and the plaintext decrypted.
 * A failed call leaves the session exactly as it was.
 *
 * A message whose key is gone is refused in one of two ways: MESSAGE_KEY_MISSING when it was
 * already decrypted (a replay or duplicate), MESSAGE_KEY_NOT_KEPT when its key was given up without
 * the message being decrypted (skipped past in a gap larger than the skipped-key window, evicted from
 * that window, or its receiving chain dropped beyond the limit of 5). Each receiving chain remembers
 * the indices it gave up as a few ranges (index-ranges.ts), and the session remembers the last
 * MAX_DROPPED_CHAINS chains it dropped. Both records are bounded; where a bound forces a merge the
 * ambiguity falls on NOT_KEPT for a chain's oldest indices, and a chain dropped longer ago than the
 * record reaches is unknown again. History from before these records (a pickle of schema 1, a libolm
 * pickle) is unknown: an index below a chain's position without a kept key counts as decrypted
 * (MESSAGE_KEY_MISSING), as it did before. Neither code is authenticated: message headers carry no
 * MAC that can be checked once the key is gone, so both only classify what the header claims.
 */

import { aes256CbcEncrypt, sha256, X25519SecretKey } from '../crypto/index.js';
import { encodeBase64 } from '../encoding/base64.js';
import { ByteReader, isBytes } from '../encoding/binary.js';
import { withUtf8 } from '../encoding/json.js';
import { TextDecoder } from '../encoding/text.js';
import { DecodeError, DecryptionError, invalidArgument, SessionError } from '../errors.js';
import { redactInspect } from '../inspect.js';
import { Curve25519PublicKey, curve25519Bytes } from '../keys.js';
import { openPickle, PickleKind, parsePickleBody, sealPickle } from '../pickle.js';
import type { SessionConfig } from './config.js';
import { inRanges, NO_RANGES, withRange } from './index-ranges.js';
import { Message, type OlmMessage, PreKeyMessage } from './messages.js';
import { advanceRoot, deriveMessageKeys, stepChain } from './ratchet.js';
import { deserializeSession, serializeSession } from './session-pickle.js';
import {
  bytesEqual,
  computeMac,
  type DroppedChain,
  MAX_DROPPED_CHAINS,
  MAX_MESSAGE_GAP,
  MAX_RECEIVER_CHAINS,
  MAX_SKIPPED_KEYS_PER_CHAIN,
  openWithKey,
  type ReceiverChain,
  type SenderChain,
  type SessionInit,
  type SessionKeys,
  type SkippedKey,
  trimSkipped,
  wipeReceiver,
} from './session-state.js';

export {
  MAX_DROPPED_CHAINS,
  MAX_LOST_RANGES_PER_CHAIN,
  MAX_MESSAGE_GAP,
  MAX_RECEIVER_CHAINS,
  MAX_SKIPPED_KEYS_PER_CHAIN,
  type SessionInit,
  type SessionKeys,
  type SkippedKey,
} from './session-state.js';

const UTF8_STRICT = new TextDecoder('utf-8', { fatal: true });

export class Session {
  /** Brand check: only objects this class built (not a Proxy, not Object.create of the prototype). */
  static [Symbol.hasInstance](value: unknown): value is Session {
    return typeof value === 'object' && value !== null && #sessionKeys in value;
  }

  #config: SessionConfig;
  readonly #sessionKeys: SessionKeys;
  #sessionId: string | undefined;
  #rootKey: Uint8Array;
  #sender: SenderChain | undefined;
  #receivers: ReceiverChain[];
  /** Oldest first, at most MAX_DROPPED_CHAINS. */
  #dropped: DroppedChain[] = [];
  #freed = false;
  #receivedMessage: boolean;

  private constructor(init: SessionInit) {
    this.#config = init.config;
    this.#sessionKeys = init.sessionKeys;
    this.#rootKey = init.rootKey;
    this.#sender = init.sender === undefined ? undefined : { ...init.sender };
    this.#receivers = init.receiver === undefined ? [] : [{ ...init.receiver, skipped: [], lost: NO_RANGES }];
    this.#receivedMessage = init.receivedMessage;
  }

  /** @internal Used by Account and the pickle importers. */
  static fromInit(init: SessionInit): Session {
    return new Session(init);
  }

  /** base64(SHA-256(Alice's identity key ‖ Alice's base key ‖ Bob's one-time key)). */
  get sessionId(): string {
    // A cache: recomputing gives the same string.
    if (this.#sessionId === undefined) {
      const k = this.#sessionKeys;
      const input = new Uint8Array(96);
      input.set(curve25519Bytes(k.identityKey), 0);
      input.set(curve25519Bytes(k.baseKey), 32);
      input.set(curve25519Bytes(k.oneTimeKey), 64);
      this.#sessionId = encodeBase64(sha256(input));
    }
    return this.#sessionId;
  }

  get sessionKeys(): SessionKeys {
    return this.#sessionKeys;
  }

  get config(): SessionConfig {
    return this.#config;
  }

  /** True once this session decrypted a message; until then, `encrypt` produces pre-key messages. */
  get hasReceivedMessage(): boolean {
    return this.#receivedMessage;
  }

  /** True when `message` was sent to start this very session (same identity, base and one-time key). */
  matchesInboundSession(message: PreKeyMessage): boolean {
    this.#checkUsable();
    if (!(message instanceof PreKeyMessage)) throw invalidArgument('expected a PreKeyMessage');
    const k = this.#sessionKeys;
    return (
      message.identityKey.equals(k.identityKey) &&
      message.baseKey.equals(k.baseKey) &&
      message.oneTimeKey.equals(k.oneTimeKey)
    );
  }

  /** Like `matchesInboundSession`, also checking the sender's identity key. */
  matchesInboundSessionFrom(theirIdentityKey: Curve25519PublicKey, message: PreKeyMessage): boolean {
    if (!(theirIdentityKey instanceof Curve25519PublicKey)) throw invalidArgument('expected a Curve25519PublicKey');
    if (!(message instanceof PreKeyMessage)) throw invalidArgument('expected a PreKeyMessage');
    return message.identityKey.equals(theirIdentityKey) && this.matchesInboundSession(message);
  }

  encrypt(plaintext: Uint8Array | string): OlmMessage {
    this.#checkUsable();
    if (typeof plaintext === 'string') return withUtf8(plaintext, (bytes) => this.#encryptBytes(bytes));
    if (!isBytes(plaintext)) throw invalidArgument('plaintext must be a string or a Uint8Array');
    return this.#encryptBytes(plaintext);
  }

  #encryptBytes(bytes: Uint8Array): OlmMessage {
    let sender = this.#sender;
    let newRoot: Uint8Array | undefined;
    if (sender === undefined) {
      // First message after receiving a new ratchet key: a DH ratchet step (olm.md "Advancing the root key").
      const latest = this.#receivers[this.#receivers.length - 1];
      if (latest === undefined) throw new SessionError('SESSION_NOT_FOUND', 'the session has no chain to send on');
      const ratchetKey = X25519SecretKey.generate();
      const next = advanceRoot(this.#rootKey, ratchetKey.diffieHellman(latest.ratchetKey));
      newRoot = next.rootKey;
      sender = { ratchetKey, chainKey: next.chainKey, index: 0 };
    }
    const messageKey = new Uint8Array(32);
    const chainKey = sender.chainKey.slice();
    stepChain(chainKey, messageKey);
    const keys = deriveMessageKeys(messageKey);
    messageKey.fill(0);
    const ciphertext = aes256CbcEncrypt(keys.aesKey, keys.iv, bytes);
    const message = Message.encode(
      this.#config.messageVersion,
      (sender.publicKey ??= Curve25519PublicKey.fromBytes(sender.ratchetKey.publicKey)),
      sender.index,
      ciphertext,
      (payload, out) => computeMac(keys.macKey, payload, out),
    );
    keys.all.fill(0);
    // Nothing below can fail: commit.
    if (newRoot !== undefined) {
      this.#rootKey.fill(0);
      this.#rootKey = newRoot;
      this.#sender = sender;
    }
    sender.chainKey.set(chainKey);
    chainKey.fill(0);
    sender.index++;
    if (this.#receivedMessage) return message;
    const k = this.#sessionKeys;
    return PreKeyMessage.create(k.oneTimeKey, k.baseKey, k.identityKey, message);
  }

  /** Decrypts a message (a pre-key message's inner message for pre-key messages). */
  decrypt(message: OlmMessage): Uint8Array {
    this.#checkUsable();
    return this.#decrypt(message, undefined);
  }

  /** Decrypts a UTF-8 message; invalid UTF-8 is refused before any state changes. */
  decryptText(message: OlmMessage): string {
    this.#checkUsable();
    let text = ''; // always assigned by `check` (called on every successful path) before it is read
    this.#decrypt(message, (plaintext) => {
      try {
        text = UTF8_STRICT.decode(plaintext);
      } catch {
        throw new DecodeError('JSON_INVALID', 'the decrypted message is not valid UTF-8');
      }
    });
    return text;
  }

  /** The decryption; `check` may refuse the plaintext before anything is committed. */
  #decrypt(message: OlmMessage, check: ((plaintext: Uint8Array) => void) | undefined): Uint8Array {
    let inner: Message;
    if (message instanceof PreKeyMessage) inner = message.message;
    else if (message instanceof Message) inner = message;
    else throw invalidArgument('expected an Olm Message or PreKeyMessage');
    if (inner.version !== this.#config.messageVersion) {
      throw new DecodeError(
        'MESSAGE_UNSUPPORTED_VERSION',
        `this session (config v${this.#config.version}) does not accept Olm message version ${inner.version}`,
        { expected: this.#config.messageVersion, actual: inner.version },
      );
    }
    const theirRatchetKey = curve25519Bytes(inner.ratchetKey);
    const index = inner.chainIndex;
    const chain = this.#receivers.find((c) => bytesEqual(c.ratchetKey, theirRatchetKey));
    if (chain !== undefined && index < chain.index) return this.#decryptSkipped(chain, inner, check);

    let rootKey: Uint8Array | undefined;
    let chainKey: Uint8Array;
    let start: number;
    if (chain !== undefined) {
      chainKey = chain.chainKey.slice();
      start = chain.index;
    } else {
      const dropped = this.#dropped.find((d) => bytesEqual(d.ratchetKey, theirRatchetKey));
      if (dropped !== undefined) {
        if (index >= dropped.nextIndex || inRanges(dropped.lost, index)) {
          throw new DecryptionError(
            'MESSAGE_KEY_NOT_KEPT',
            'no key for this message was kept: its receiving chain was dropped (5 newer chains arrived), and it is not known to have been decrypted',
            { messageIndex: index },
          );
        }
        throw new DecryptionError(
          'MESSAGE_KEY_MISSING',
          'this message was already decrypted (its receiving chain has since been dropped)',
          { messageIndex: index },
        );
      }
      if (this.#sender === undefined) {
        // Not a chain of this session that it remembers, and nothing to ratchet from. No messageIndex:
        // this says nothing about whether the message was decrypted (it may be another session's).
        throw new DecryptionError(
          'MESSAGE_KEY_MISSING',
          'the message uses an unknown ratchet key and this session has no sending chain to ratchet from',
        );
      }
      if (index > MAX_MESSAGE_GAP) {
        throw new DecryptionError('MESSAGE_GAP_TOO_LARGE', 'the message is too far ahead in a new chain', {
          messageIndex: index,
          maxGap: MAX_MESSAGE_GAP,
        });
      }
      const next = advanceRoot(this.#rootKey, this.#sender.ratchetKey.diffieHellman(theirRatchetKey));
      rootKey = next.rootKey;
      chainKey = next.chainKey;
      start = 0;
    }
    if (index - start > MAX_MESSAGE_GAP) {
      chainKey.fill(0);
      throw new DecryptionError('MESSAGE_GAP_TOO_LARGE', 'the message is too far ahead in its chain', {
        messageIndex: index,
        maxGap: MAX_MESSAGE_GAP,
      });
    }
    // Walk the chain on a copy, keeping the message keys of the last skipped messages only.
    // Keeping every key from `start` instead (the mutants `Math.min` and `i >= keepFrom` → `true`) is
    // equivalent for every state the session reaches itself, only slower: trimSkipped then evicts the
    // surplus and records the same indices as given up (they are contiguous, above every older record,
    // and index start - 1 was decrypted, so no transient extra range forces a different merge).
    const skipped: SkippedKey[] = [];
    const keepFrom = Math.max(start, index - MAX_SKIPPED_KEYS_PER_CHAIN);
    for (let i = start; i < index; i++) {
      if (i >= keepFrom) {
        const messageKey = new Uint8Array(32);
        stepChain(chainKey, messageKey);
        skipped.push({ index: i, messageKey });
      } else {
        stepChain(chainKey, undefined);
      }
    }
    const messageKey = new Uint8Array(32);
    stepChain(chainKey, messageKey);
    let plaintext: Uint8Array;
    try {
      plaintext = openWithKey(inner, messageKey, this.#config.macLength);
      check?.(plaintext);
    } catch (error) {
      chainKey.fill(0);
      rootKey?.fill(0);
      for (const s of skipped) s.messageKey.fill(0);
      throw error;
    } finally {
      messageKey.fill(0); // erasure only
    }
    // Success: commit. Keys stepped past without being kept: [start, keepFrom).
    if (chain !== undefined) {
      chain.chainKey.fill(0);
      chain.chainKey = chainKey;
      chain.index = index + 1;
      chain.lost = withRange(chain.lost, start, keepFrom);
      // `>= 0` or `true` is equivalent: pushing nothing leaves at most MAX_SKIPPED_KEYS_PER_CHAIN keys to trim.
      if (skipped.length > 0) {
        chain.skipped.push(...skipped);
        trimSkipped(chain);
      }
    } else {
      this.#rootKey.fill(0);
      this.#rootKey = rootKey!;
      const fresh: ReceiverChain = {
        // A copy of the message key object's bytes; never written to, so sharing them would be equivalent.
        ratchetKey: theirRatchetKey.slice(),
        chainKey,
        index: index + 1,
        skipped,
        lost: withRange(NO_RANGES, 0, keepFrom),
      };
      trimSkipped(fresh);
      this.#receivers.push(fresh);
      while (this.#receivers.length > MAX_RECEIVER_CHAINS) this.#drop(this.#receivers.shift()!);
      // The next encrypt ratchets with a new key of ours. (`#sender` is defined here: a new chain
      // without a sending chain was refused above, so `?.` → `.` is an equivalent mutant.)
      this.#sender?.ratchetKey.wipe();
      this.#sender?.chainKey.fill(0);
      this.#sender = undefined;
    }
    this.#receivedMessage = true;
    return plaintext;
  }

  /** Forgets a receiving chain's secrets, remembering what tells its lost messages from replays. */
  #drop(chain: ReceiverChain): void {
    let lost = chain.lost;
    for (const s of chain.skipped) lost = withRange(lost, s.index, s.index + 1);
    this.#dropped.push({ ratchetKey: chain.ratchetKey, nextIndex: chain.index, lost });
    // Beyond the bound the oldest record goes: a message of that chain is then of an unknown chain.
    while (this.#dropped.length > MAX_DROPPED_CHAINS) this.#dropped.shift();
    wipeReceiver(chain);
  }

  #decryptSkipped(
    chain: ReceiverChain,
    inner: Message,
    check: ((plaintext: Uint8Array) => void) | undefined,
  ): Uint8Array {
    const position = chain.skipped.findIndex((s) => s.index === inner.chainIndex);
    if (position < 0) {
      if (inRanges(chain.lost, inner.chainIndex)) {
        throw new DecryptionError(
          'MESSAGE_KEY_NOT_KEPT',
          'no key for this message was kept (it was skipped past in a large gap or fell out of the skipped-key window), and it is not known to have been decrypted',
          { messageIndex: inner.chainIndex },
        );
      }
      throw new DecryptionError('MESSAGE_KEY_MISSING', 'this message was already decrypted', {
        messageIndex: inner.chainIndex,
      });
    }
    const plaintext = openWithKey(inner, chain.skipped[position]!.messageKey, this.#config.macLength);
    check?.(plaintext);
    const [used] = chain.skipped.splice(position, 1);
    used!.messageKey.fill(0);
    this.#receivedMessage = true;
    return plaintext;
  }

  // -------------------------------------------------------------------------------------------
  // Pickling

  pickle(pickleKey: Uint8Array): string {
    this.#checkUsable();
    return sealPickle(PickleKind.olmSession, this.#serialize(), pickleKey);
  }

  static fromPickle(pickle: string, pickleKey: Uint8Array): Session {
    const body = openPickle(PickleKind.olmSession, pickle, pickleKey);
    return parsePickleBody(body, (b) => Session.#deserialize(new ByteReader(b)));
  }

  #serialize(): Uint8Array {
    return serializeSession({
      config: this.#config,
      sessionKeys: this.#sessionKeys,
      rootKey: this.#rootKey,
      receivedMessage: this.#receivedMessage,
      sender: this.#sender,
      receivers: this.#receivers,
      dropped: this.#dropped,
    });
  }

  static #deserialize(r: ByteReader): Session {
    const { config, sessionKeys, rootKey, receivedMessage, sender, receivers, dropped } = deserializeSession(r);
    const session = new Session({ config, sessionKeys, rootKey, receivedMessage });
    session.#sender = sender;
    session.#receivers = receivers;
    session.#dropped = dropped;
    return session;
  }

  /** @internal For the libolm importer: installs chains and skipped keys read from a libolm pickle. */
  static fromParts(
    init: SessionInit,
    sender: { ratchetKey: X25519SecretKey; chainKey: Uint8Array; index: number } | undefined,
    receivers: { ratchetKey: Uint8Array; chainKey: Uint8Array; index: number; skipped: SkippedKey[] }[],
  ): Session {
    const session = new Session(init);
    session.#sender = sender;
    // Imported history is unknown (no record of given-up keys), except for what is trimmed here.
    session.#receivers = receivers.slice(-MAX_RECEIVER_CHAINS).map((c) => ({ ...c, lost: NO_RANGES }));
    for (const chain of session.#receivers) trimSkipped(chain);
    return session;
  }

  /** @internal For exporters: the session's parts, in the shape `fromParts` takes (copies of the secrets). */
  toParts(): {
    init: SessionInit;
    sender: { ratchetKey: X25519SecretKey; chainKey: Uint8Array; index: number } | undefined;
    receivers: { ratchetKey: Uint8Array; chainKey: Uint8Array; index: number; skipped: SkippedKey[] }[];
  } {
    this.#checkUsable();
    const s = this.#sender;
    return {
      init: {
        config: this.#config,
        sessionKeys: this.#sessionKeys,
        rootKey: this.#rootKey.slice(),
        receivedMessage: this.#receivedMessage,
      },
      sender:
        s === undefined
          ? undefined
          : {
              ratchetKey: X25519SecretKey.fromParts(s.ratchetKey.toBytes(), s.ratchetKey.publicKey),
              chainKey: s.chainKey.slice(),
              index: s.index,
            },
      receivers: this.#receivers.map((r) => ({
        ratchetKey: r.ratchetKey.slice(),
        chainKey: r.chainKey.slice(),
        index: r.index,
        skipped: r.skipped.map((k) => ({ index: k.index, messageKey: k.messageKey.slice() })),
      })),
    };
  }

  /** Forgets every secret this session holds. The session is unusable afterwards. */
  free(): void {
    this.#freed = true;
    this.#rootKey.fill(0);
    this.#sender?.ratchetKey.wipe();
    this.#sender?.chainKey.fill(0);
    for (const r of this.#receivers) wipeReceiver(r);
    this.#receivers = [];
    this.#dropped = []; // public data only; every later use is refused, so the array's content is not observable
    this.#sender = undefined;
  }

  #checkUsable(): void {
    if (this.#freed) throw new SessionError('SESSION_NOT_FOUND', 'this session was freed');
  }

  toString(): string {
    return `Session(${this.sessionId})`;
  }
  toJSON(): { type: string; sessionId: string } {
    return { type: 'OlmSession', sessionId: this.sessionId };
  }
  static {
    redactInspect(Session);
  }
}
