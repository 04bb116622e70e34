/**
 * Megolm's per-message cipher (olm's docs/megolm.md, "Encrypting a message"): the 128-byte
 * ratchet R(i) gives HKDF-SHA256(salt empty, R(i), "MEGOLM_KEYS") = AES key 32 ‖ HMAC key 32 ‖
 * IV 16; AES-256-CBC with PKCS#7; HMAC-SHA256 over version ‖ payload, truncated to 8 bytes in
 * version 1. Hot path: keys land in one preallocated buffer and short MACs use a re-keyed
 * midstate HMAC; the caller wipes the keys before the next derivation.
 */
import { HkdfSha256Fixed } from '../crypto/hkdf-sha256-fixed.js';
import { aes256CbcDecrypt, aes256CbcEncrypt, constantTimeEqual, HmacSha256Key, hmacSha256 } from '../crypto/index.js';
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

// Below this payload size the midstate HMAC beats the backend's per-call setup (src/crypto/node.ts
// measured the crossover near 300 bytes); above it the backend (OpenSSL on Node) is faster.
const SHORT_MAC_LIMIT = 320;
const MAC_KEY = new HmacSha256Key(new Uint8Array(32));
const MAC_OUT = new Uint8Array(32);

/** Writes HMAC-SHA256(macKey, payload), truncated to out.length, into `out`. */
export function computeMac(macKey: Uint8Array, payload: Uint8Array, out: Uint8Array): void {
  if (payload.length <= SHORT_MAC_LIMIT) {
    MAC_KEY.setKey(macKey);
    MAC_KEY.macInto(payload, MAC_OUT, 0);
    MAC_KEY.wipe();
    out.set(MAC_OUT.subarray(0, out.length));
    MAC_OUT.fill(0);
  } else {
    const mac = hmacSha256(macKey, payload);
    out.set(mac.subarray(0, out.length));
    mac.fill(0);
  }
}

export function encryptWith(keys: MessageKeys, plaintext: Uint8Array): Uint8Array {
  return aes256CbcEncrypt(keys.aesKey, keys.iv, plaintext);
}

/** Checks the MAC over `payload` (before any decryption), then decrypts. No side effects on failure. */
export function openWith(keys: MessageKeys, payload: Uint8Array, mac: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  const expected = new Uint8Array(mac.length);
  computeMac(keys.macKey, payload, expected);
  const ok = constantTimeEqual(expected, mac);
  expected.fill(0);
  if (!ok) throw new DecryptionError('MAC_MISMATCH', 'the Megolm message MAC does not verify');
  return aes256CbcDecrypt(keys.aesKey, keys.iv, ciphertext);
}
