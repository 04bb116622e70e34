/**
 * An Olm session's chain state: the limits on what a peer can make us compute or store, the shapes
 * of the sending, receiving and dropped chains, and the free helpers that act on them (skipped-key
 * eviction, wiping, MAC computation and message opening).
 */

import { aes256CbcDecrypt, constantTimeEqual, type X25519SecretKey } from '../crypto/index.js';
import { hmacSha256Key32Into } from '../crypto/sha256.js';
import { DecryptionError } from '../errors.js';
import type { Curve25519PublicKey } from '../keys.js';
import type { SessionConfig } from './config.js';
import { type IndexRanges, MAX_INDEX_RANGES, withRange } from './index-ranges.js';
import type { Message } from './messages.js';
import { deriveMessageKeys } from './ratchet.js';

/** Limits from PROTOCOL-NOTES / vodozemac: defend against a peer that makes us compute or store a lot. */
export const MAX_MESSAGE_GAP = 2000;
export const MAX_SKIPPED_KEYS_PER_CHAIN = 40;
export const MAX_RECEIVER_CHAINS = 5;
/** How many dropped receiving chains a session remembers (ratchet key, position, keys given up). */
export const MAX_DROPPED_CHAINS = 8;
/** How many ranges of given-up indices a chain's record keeps (see index-ranges.ts). */
export const MAX_LOST_RANGES_PER_CHAIN: number = MAX_INDEX_RANGES;

export interface SenderChain {
  readonly ratchetKey: X25519SecretKey;
  /** The public half as a key object, made once per chain rather than once per message. */
  publicKey?: Curve25519PublicKey;
  readonly chainKey: Uint8Array;
  index: number;
}

export interface SkippedKey {
  readonly index: number;
  readonly messageKey: Uint8Array;
}

export interface ReceiverChain {
  readonly ratchetKey: Uint8Array;
  chainKey: Uint8Array;
  index: number;
  skipped: SkippedKey[];
  /** Indices below `index` whose keys were given up without the message being decrypted. */
  lost: IndexRanges;
}

/** What is left of a receiving chain once dropped: public data only. */
export interface DroppedChain {
  readonly ratchetKey: Uint8Array;
  /** The chain's position when dropped: no message from here on was decrypted. */
  readonly nextIndex: number;
  /** Indices below `nextIndex` not decrypted (given up, or still held as skipped keys when dropped). */
  readonly lost: IndexRanges;
}

/** The three public keys that identify a session: Alice's identity and base key, Bob's one-time key. */
export interface SessionKeys {
  readonly identityKey: Curve25519PublicKey;
  readonly baseKey: Curve25519PublicKey;
  readonly oneTimeKey: Curve25519PublicKey;
}

/** @internal The state a new session starts from. */
export interface SessionInit {
  readonly config: SessionConfig;
  readonly sessionKeys: SessionKeys;
  readonly rootKey: Uint8Array;
  readonly sender?: { ratchetKey: X25519SecretKey; chainKey: Uint8Array; index: number };
  readonly receiver?: { ratchetKey: Uint8Array; chainKey: Uint8Array; index: number };
  readonly receivedMessage: boolean;
}

// Only ever given two 32-byte keys: the length check and `i <= a.length` (undefined === undefined)
// are equivalent mutants here.
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function computeMac(macKey: Uint8Array, payload: Uint8Array, out: Uint8Array): void {
  hmacSha256Key32Into(macKey, 0, payload, payload.length, out, 0, out.length);
}

/** Evicts the oldest skipped keys beyond the window, recording their indices as given up. */
export function trimSkipped(chain: ReceiverChain): void {
  while (chain.skipped.length > MAX_SKIPPED_KEYS_PER_CHAIN) {
    const evicted = chain.skipped.shift()!;
    evicted.messageKey.fill(0);
    chain.lost = withRange(chain.lost, evicted.index, evicted.index + 1);
  }
}

/** Erasure only: the chain is dropped or the session freed right after (not observable through the API). */
export function wipeReceiver(chain: ReceiverChain): void {
  chain.chainKey.fill(0);
  for (const s of chain.skipped) s.messageKey.fill(0);
  chain.skipped = [];
}

/** Verifies the MAC (before any decryption), then decrypts. Throws without side effects. */
export function openWithKey(message: Message, messageKey: Uint8Array, macLength: number): Uint8Array {
  const keys = deriveMessageKeys(messageKey);
  try {
    const encoded = message.encoded;
    const payload = encoded.subarray(0, encoded.length - macLength);
    const expected = new Uint8Array(macLength);
    computeMac(keys.macKey, payload, expected);
    if (!constantTimeEqual(expected, encoded.subarray(encoded.length - macLength))) {
      throw new DecryptionError('MAC_MISMATCH', 'the Olm message MAC does not verify');
    }
    return aes256CbcDecrypt(keys.aesKey, keys.iv, message.ciphertextView);
  } finally {
    keys.all.fill(0); // erasure of the shared key buffer: not observable through the API
  }
}
