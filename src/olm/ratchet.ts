/**
 * The Olm double ratchet's symmetric steps (Matrix spec, olm.md "Advancing the chain key",
 * "Creating a message key", "Advancing the root key"). Hot path: every message runs a chain
 * step, an HKDF and a MAC, so these use one re-keyable HMAC object and preallocated buffers.
 */

import { HkdfSha256Fixed } from '../crypto/hkdf-sha256-fixed.js';
import { HmacSha256ByteKey } from '../crypto/hmac-sha256-byte.js';
import { hkdfSha256 } from '../crypto/index.js';
import { TextEncoder } from '../encoding/text.js';

// The chain step's HMACs take one-byte messages under a 32-byte key: the specialised HMAC (inner
// schedules precomputed per byte, words throughout) is ~25% faster than the general one here.
const CHAIN = new HmacSha256ByteKey();

export const INFO_ROOT: Uint8Array = new TextEncoder().encode('OLM_ROOT');
export const INFO_RATCHET: Uint8Array = new TextEncoder().encode('OLM_RATCHET');
export const INFO_KEYS: Uint8Array = new TextEncoder().encode('OLM_KEYS');

/**
 * One chain step: writes the message key HMAC(ck, 0x01) into `messageKey` (when given) and
 * replaces `chainKey` in place with HMAC(ck, 0x02).
 */
export function stepChain(chainKey: Uint8Array, messageKey: Uint8Array | undefined): void {
  CHAIN.setKey(chainKey, 0);
  if (messageKey !== undefined) CHAIN.macInto(0x01, messageKey, 0);
  CHAIN.macInto(0x02, chainKey, 0);
  CHAIN.wipe();
}

/** AES key, HMAC key and IV derived from a message key: HKDF(0, mk, "OLM_KEYS") split 32/32/16. */
export interface MessageKeys {
  readonly aesKey: Uint8Array;
  readonly macKey: Uint8Array;
  readonly iv: Uint8Array;
  readonly all: Uint8Array;
}

const EMPTY = new Uint8Array(0);
// One preallocated set of views: deriving keys allocates nothing. The caller uses the keys
// synchronously and wipes `all` before the next derivation.
const KEYS_ALL = new Uint8Array(80);
const KEYS: MessageKeys = {
  aesKey: KEYS_ALL.subarray(0, 32),
  macKey: KEYS_ALL.subarray(32, 64),
  iv: KEYS_ALL.subarray(64, 80),
  all: KEYS_ALL,
};

// HKDF(0, 32-byte message key, "OLM_KEYS", 80) with everything input-independent precomputed.
const KEYS_KDF = new HkdfSha256Fixed(32, INFO_KEYS, 80);

export function deriveMessageKeys(messageKey: Uint8Array): MessageKeys {
  KEYS_KDF.deriveInto(messageKey, 0, KEYS_ALL, 0);
  return KEYS;
}

/** Root ratchet: (root key, chain key) = HKDF(root key, DH output, "OLM_RATCHET") split 32/32. */
export function advanceRoot(
  rootKey: Uint8Array,
  sharedSecret: Uint8Array,
): { rootKey: Uint8Array; chainKey: Uint8Array } {
  const out = hkdfSha256(sharedSecret, rootKey, INFO_RATCHET, 64);
  sharedSecret.fill(0);
  return { rootKey: out.slice(0, 32), chainKey: out.slice(32, 64) };
}

/** The 3DH root: (root key, chain key) = HKDF(0, S, "OLM_ROOT") split 32/32. */
export function deriveInitialKeys(sharedSecret: Uint8Array): { rootKey: Uint8Array; chainKey: Uint8Array } {
  const out = hkdfSha256(sharedSecret, EMPTY, INFO_ROOT, 64);
  sharedSecret.fill(0);
  const keys = { rootKey: out.slice(0, 32), chainKey: out.slice(32, 64) };
  out.fill(0);
  return keys;
}
