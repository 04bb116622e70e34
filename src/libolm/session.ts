/**
 * libolm Olm session pickles (libolm 3.2 `src/session.cpp`, `src/ratchet.cpp`), inside the
 * container of `container.ts`:
 *
 *   u32 version: 1, or 0x80000001 (written by libolm's `logging_enabled` branch)
 *   bool received_message
 *   Alice's identity key (32), Alice's base key (32), Bob's one-time key (32)
 *   root key (32)
 *   u32 n (0-1), sender chain: ratchet public (32) ‖ secret (32), chain key (32), u32 index
 *   u32 n (0-5), receiver chains, newest first: ratchet public key (32), chain key (32), u32 index
 *   u32 n (0-40), skipped message keys, newest first: ratchet public key (32), message key (32), u32 index
 *   0x80000001 only: u32 "chain index", which libolm reads and ignores
 *
 * Chain indices are the index of the next message, as in triturus. libolm keeps 40 skipped keys
 * for the whole session, each tagged with its chain's ratchet key; triturus keeps 40 per chain.
 */
import { X25519SecretKey } from '../crypto/index.js';
import { ByteReader, ByteWriter, isBytes } from '../encoding/binary.js';
import { invalidArgument, PickleError, TriturusError } from '../errors.js';
import { Curve25519PublicKey } from '../keys.js';
import { SessionConfig } from '../olm/config.js';
import { MAX_RECEIVER_CHAINS, Session } from '../olm/session.js';
import { parsePickleBody } from '../pickle.js';
import { type LibolmPickleKey, openLibolmPickle, sealLibolmPickle } from './container.js';

/** The session pickle version libolm 3.2 writes (and `sessionToLibolmPickle` writes). */
export const LIBOLM_SESSION_PICKLE_VERSION = 1;
/** The version libolm's `logging_enabled` branch wrote: version 1 plus a trailing u32. */
export const LIBOLM_SESSION_PICKLE_VERSION_LOGGING = 0x80000001;
/** libolm's `MAX_SKIPPED_MESSAGE_KEYS` (ratchet.hh), for the whole session. */
export const LIBOLM_MAX_SKIPPED_MESSAGE_KEYS = 40;
/** libolm's `MAX_RECEIVER_CHAINS` (ratchet.hh). */
export const LIBOLM_MAX_RECEIVER_CHAINS = 5;

interface SenderParts {
  ratchetKey: X25519SecretKey;
  chainKey: Uint8Array;
  index: number;
}

interface SkippedParts {
  index: number;
  messageKey: Uint8Array;
}

interface ReceiverParts {
  ratchetKey: Uint8Array;
  chainKey: Uint8Array;
  index: number;
  /** Oldest first, as triturus keeps them. */
  skipped: SkippedParts[];
}

interface SessionParts {
  configVersion: number;
  receivedMessage: boolean;
  identityKey: Uint8Array;
  baseKey: Uint8Array;
  oneTimeKey: Uint8Array;
  rootKey: Uint8Array;
  sender: SenderParts | undefined;
  /** Oldest first, as triturus keeps them. */
  receivers: ReceiverParts[];
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

function wipeParts(parts: Partial<SessionParts>, loose: Uint8Array[] = []): void {
  parts.rootKey?.fill(0);
  parts.sender?.ratchetKey.wipe();
  parts.sender?.chainKey.fill(0);
  for (const chain of parts.receivers ?? []) {
    chain.chainKey.fill(0);
    for (const s of chain.skipped) s.messageKey.fill(0);
  }
  for (const bytes of loose) bytes.fill(0);
}

function tooMany(what: string, actual: number, expected: number): PickleError {
  return new PickleError('PICKLE_INVALID', `the libolm session pickle holds too many ${what}`, { actual, expected });
}

function parseSession(plaintext: Uint8Array): { parts: SessionParts; droppedSkippedKeys: number } {
  const r = new ByteReader(plaintext);
  const version = r.u32();
  if (version !== LIBOLM_SESSION_PICKLE_VERSION && version !== LIBOLM_SESSION_PICKLE_VERSION_LOGGING) {
    throw new PickleError('PICKLE_UNSUPPORTED_VERSION', 'unknown libolm session pickle version', { actual: version });
  }
  const parts: Partial<SessionParts> = {};
  const loose: Uint8Array[] = [];
  try {
    const receivedMessage = r.bool();
    const identityKey = r.raw(32);
    const baseKey = r.raw(32);
    const oneTimeKey = r.raw(32);
    parts.rootKey = r.raw(32);

    const senderCount = r.u32();
    if (senderCount > 1) throw tooMany('sender chains', senderCount, 1);
    if (senderCount === 1) {
      const publicKey = r.raw(32);
      const secret = r.raw(32);
      const ratchetKey = X25519SecretKey.fromParts(secret, publicKey);
      secret.fill(0);
      parts.sender = { ratchetKey, chainKey: r.raw(32), index: 0 };
      parts.sender.index = r.u32();
    }

    const receiverCount = r.u32();
    if (receiverCount > LIBOLM_MAX_RECEIVER_CHAINS) {
      throw tooMany('receiver chains', receiverCount, LIBOLM_MAX_RECEIVER_CHAINS);
    }
    const receivers: ReceiverParts[] = [];
    parts.receivers = receivers;
    for (let i = 0; i < receiverCount; i++) {
      const chain: ReceiverParts = { ratchetKey: r.raw(32), chainKey: r.raw(32), index: 0, skipped: [] };
      receivers.push(chain);
      chain.index = r.u32();
    }
    receivers.reverse();

    const skippedCount = r.u32();
    if (skippedCount > LIBOLM_MAX_SKIPPED_MESSAGE_KEYS) {
      throw tooMany('skipped message keys', skippedCount, LIBOLM_MAX_SKIPPED_MESSAGE_KEYS);
    }
    const skipped: { ratchetKey: Uint8Array; messageKey: Uint8Array; index: number }[] = [];
    for (let i = 0; i < skippedCount; i++) {
      const ratchetKey = r.raw(32);
      const messageKey = r.raw(32);
      loose.push(messageKey);
      skipped.push({ ratchetKey, messageKey, index: r.u32() });
    }
    if (version === LIBOLM_SESSION_PICKLE_VERSION_LOGGING) r.u32();
    r.end();

    // Oldest first: a chain's list ends with its newest key, as triturus appends them.
    let droppedSkippedKeys = 0;
    for (let i = skipped.length - 1; i >= 0; i--) {
      const s = skipped[i]!;
      const chain = receivers.find((c) => bytesEqual(c.ratchetKey, s.ratchetKey));
      if (chain === undefined) {
        // Its chain is gone (libolm dropped it when a sixth chain arrived); triturus keeps
        // skipped keys per chain, so this key cannot be kept.
        s.messageKey.fill(0);
        droppedSkippedKeys++;
      } else {
        chain.skipped.push({ index: s.index, messageKey: s.messageKey });
      }
    }
    return {
      parts: {
        configVersion: 1,
        receivedMessage,
        identityKey,
        baseKey,
        oneTimeKey,
        rootKey: parts.rootKey,
        sender: parts.sender,
        receivers,
      },
      droppedSkippedKeys,
    };
  } catch (error) {
    wipeParts(parts, loose);
    throw error;
  }
}

function sessionFromParts(parts: SessionParts): Session {
  return Session.fromParts(
    {
      config: SessionConfig.fromVersion(parts.configVersion),
      sessionKeys: {
        identityKey: Curve25519PublicKey.fromBytes(parts.identityKey),
        baseKey: Curve25519PublicKey.fromBytes(parts.baseKey),
        oneTimeKey: Curve25519PublicKey.fromBytes(parts.oneTimeKey),
      },
      rootKey: parts.rootKey,
      receivedMessage: parts.receivedMessage,
    },
    parts.sender,
    parts.receivers,
  );
}

/** A session imported from libolm, with what the import could not keep. */
export interface LibolmSessionImport {
  readonly session: Session;
  /**
   * Skipped message keys that belonged to a receiver chain libolm had already dropped (possible
   * only when it held 5 chains). triturus keeps skipped keys per chain, so these were discarded:
   * the messages they would open can no longer be decrypted.
   */
  readonly droppedSkippedKeys: number;
}

/**
 * Imports a libolm Olm session pickle (versions 1 and 0x80000001) and reports how many skipped
 * message keys could not be kept (see `LibolmSessionImport.droppedSkippedKeys`).
 */
export function sessionFromLibolmPickleDetailed(pickle: string, key: LibolmPickleKey): LibolmSessionImport {
  const plaintext = openLibolmPickle(pickle, key);
  const { parts, droppedSkippedKeys } = parsePickleBody(plaintext, parseSession);
  try {
    return { session: sessionFromParts(parts), droppedSkippedKeys };
  } catch (error) {
    wipeParts(parts);
    throw error instanceof PickleError
      ? error
      : new PickleError('PICKLE_INVALID', 'the libolm session pickle contents are malformed', {}, { cause: error });
  }
}

/**
 * Imports a libolm Olm session pickle (versions 1 and 0x80000001) as a version-1 session.
 * `key` is the pickle key given to libolm (a string is taken as its UTF-8 bytes; any length).
 *
 * Skipped message keys go to the receiver chain with the same ratchet key; keys whose chain
 * libolm had already dropped are discarded (use `sessionFromLibolmPickleDetailed` to count them).
 *
 * Throws PickleError: PICKLE_BAD_KEY (wrong key or damaged pickle), PICKLE_UNSUPPORTED_VERSION,
 * PICKLE_INVALID (malformed contents).
 */
export function sessionFromLibolmPickle(pickle: string, key: LibolmPickleKey): Session {
  return sessionFromLibolmPickleDetailed(pickle, key).session;
}

// ---------------------------------------------------------------------------------------------
// Export

/** The session's state, as copies (wiped by the caller). Its record of given-up keys has no libolm form. */
function partsOfSession(session: Session): SessionParts {
  const { init, sender, receivers } = session.toParts();
  return {
    configVersion: init.config.version,
    receivedMessage: init.receivedMessage,
    identityKey: init.sessionKeys.identityKey.toBytes(),
    baseKey: init.sessionKeys.baseKey.toBytes(),
    oneTimeKey: init.sessionKeys.oneTimeKey.toBytes(),
    rootKey: init.rootKey,
    sender,
    receivers,
  };
}

function notLossless(message: string, details: { actual?: number; expected?: number } = {}): TriturusError {
  return new TriturusError('UNSUPPORTED', `cannot export this session to libolm without loss: ${message}`, details);
}

/**
 * Writes a session as a libolm version-1 session pickle, which libolm 3.2 (`Session.unpickle`) and
 * `sessionFromLibolmPickle` read.
 *
 * Throws TriturusError UNSUPPORTED, changing nothing, when libolm cannot hold the session: a
 * version-2 session (libolm speaks only version 1), or more than 40 skipped message keys in total.
 * The session's record of given-up message keys (which tells a lost message from a replay) has no
 * libolm form and is left out, as any libolm pickle's history is unknown on import.
 */
export function sessionToLibolmPickle(session: Session, key: LibolmPickleKey): string {
  if (!(session instanceof Session)) throw invalidArgument('expected a Session');
  if (typeof key !== 'string' && !isBytes(key)) {
    throw invalidArgument('a libolm pickle key is a string or a Uint8Array');
  }
  if (session.config.version !== 1) {
    throw notLossless('libolm speaks only Olm version 1', { expected: 1, actual: session.config.version });
  }
  const parts = partsOfSession(session);
  try {
    const skippedTotal = parts.receivers.reduce((n, c) => n + c.skipped.length, 0);
    if (skippedTotal > LIBOLM_MAX_SKIPPED_MESSAGE_KEYS) {
      throw notLossless('libolm keeps at most 40 skipped message keys per session', {
        expected: LIBOLM_MAX_SKIPPED_MESSAGE_KEYS,
        actual: skippedTotal,
      });
    }
    if (parts.receivers.length > Math.min(MAX_RECEIVER_CHAINS, LIBOLM_MAX_RECEIVER_CHAINS)) {
      throw notLossless('too many receiver chains', { actual: parts.receivers.length });
    }
    const w = new ByteWriter(512 + skippedTotal * 68);
    w.u32(LIBOLM_SESSION_PICKLE_VERSION).bool(parts.receivedMessage);
    w.raw(parts.identityKey).raw(parts.baseKey).raw(parts.oneTimeKey).raw(parts.rootKey);
    if (parts.sender === undefined) {
      w.u32(0);
    } else {
      const secret = parts.sender.ratchetKey.toBytes();
      w.u32(1).raw(parts.sender.ratchetKey.publicKey).raw(secret).raw(parts.sender.chainKey).u32(parts.sender.index);
      secret.fill(0);
    }
    // libolm lists are newest first.
    w.u32(parts.receivers.length);
    for (let i = parts.receivers.length - 1; i >= 0; i--) {
      const c = parts.receivers[i]!;
      w.raw(c.ratchetKey).raw(c.chainKey).u32(c.index);
    }
    // libolm drops skipped keys from the end of its list: newest chains' keys first, each
    // chain's newest key first, so the oldest keys are the first to go, as in libolm.
    w.u32(skippedTotal);
    for (let i = parts.receivers.length - 1; i >= 0; i--) {
      const c = parts.receivers[i]!;
      for (let j = c.skipped.length - 1; j >= 0; j--) {
        const s = c.skipped[j]!;
        w.raw(c.ratchetKey).raw(s.messageKey).u32(s.index);
      }
    }
    const plaintext = w.finish();
    try {
      return sealLibolmPickle(plaintext, key);
    } finally {
      plaintext.fill(0);
    }
  } finally {
    wipeParts(parts);
  }
}
