/**
 * Megolm's per-message cipher (olm's docs/megolm.md, "Encrypting a message"): the 128-byte
 * ratchet R(i) gives HKDF-SHA256(salt empty, R(i), "MEGOLM_KEYS") = AES key 32 ‖ HMAC key 32 ‖
 * IV 16; AES-256-CBC with PKCS#7; HMAC-SHA256 over version ‖ payload, truncated to 8 bytes in
 * version 1. Hot path: keys land in one preallocated buffer and short MACs are computed in words
 * under the fresh key (hmacSha256Key32Into); the caller wipes the keys before the next derivation.
 */

import { HkdfSha256Fixed } from '../crypto/hkdf-sha256-fixed.js';
import { aes256CbcDecrypt, aes256CbcEncrypt, constantTimeEqual, hmacSha256 } from '../crypto/index.js';
import { hmacSha256Key32Into } from '../crypto/sha256.js';
import { TextEncoder } from '../encoding/text.js';
import { DecryptionError } from '../errors.js';

const KDF = new HkdfSha256Fixed(128, new TextEncoder().encode('MEGOLM_KEYS'), 80);

export interface MessageKeys {
  readonly aesKey: Uint8Array;
  readonly macKey: Uint8Array;
  readonly iv: Uint8Array;
  readonly all: Uint8Array;
}

const KEYS_ALL = new Uint8Array(80);
const KEYS: MessageKeys = {
  aesKey: KEYS_ALL.subarray(0, 32),
  macKey: KEYS_ALL.subarray(32, 64),
  iv: KEYS_ALL.subarray(64, 80),
  all: KEYS_ALL,
};

export function deriveKeys(ratchet: Uint8Array): MessageKeys {
  KDF.deriveInto(ratchet, 0, KEYS_ALL, 0);
  return KEYS;
}

// Below this payload size the JavaScript HMAC (a fresh 32-byte key each message, ~165 ns per block)
// beats the backend's per-call setup (about 2 µs through node:crypto); above it OpenSSL is faster.
// Equivalent mutants of the test against it (either path for every length): both compute the same HMAC.
const SHORT_MAC_LIMIT = 320;

/**
 * Writes HMAC-SHA256(macKey, payload[0..length)), truncated to `outLength` bytes, into `out` at
 * `outOffset` (the caller may pass one array holding both, as the message encoder does).
 */
export function computeMac(
  macKey: Uint8Array,
  payload: Uint8Array,
  length: number,
  out: Uint8Array,
  outOffset: number,
  outLength: number,
): void {
  if (length <= SHORT_MAC_LIMIT) {
    hmacSha256Key32Into(macKey, 0, payload, length, out, outOffset, outLength);
  } else {
    const mac = hmacSha256(macKey, payload.subarray(0, length));
    out.set(mac.subarray(0, outLength), outOffset);
    mac.fill(0);
  }
}

export function encryptWith(keys: MessageKeys, plaintext: Uint8Array): Uint8Array {
  return aes256CbcEncrypt(keys.aesKey, keys.iv, plaintext);
}

/** Checks the MAC over `payload` (before any decryption), then decrypts. No side effects on failure. */
export function openWith(keys: MessageKeys, payload: Uint8Array, mac: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  const expected = new Uint8Array(mac.length);
  computeMac(keys.macKey, payload, payload.length, expected, 0, mac.length);
  const ok = constantTimeEqual(expected, mac);
  expected.fill(0);
  if (!ok) throw new DecryptionError('MAC_MISMATCH', 'the Megolm message MAC does not verify');
  return aes256CbcDecrypt(keys.aesKey, keys.iv, ciphertext);
}
