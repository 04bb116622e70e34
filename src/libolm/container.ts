/**
 * libolm's pickle container: base64( AES-256-CBC(plaintext) ‖ HMAC-SHA256(ciphertext)[0..8] ),
 * keys from HKDF-SHA256(salt empty, pickle key, info "Pickle") split 32/32/16 (AES key, MAC key,
 * IV). The pickle key may be any length; a string key is taken as its UTF-8 bytes.
 */

import { aes256CbcDecrypt, aes256CbcEncrypt, constantTimeEqual, hkdfSha256, hmacSha256 } from '../crypto/index.js';
import { decodeBase64, encodeBase64 } from '../encoding/base64.js';
import { isBytes } from '../encoding/binary.js';
import { TextEncoder } from '../encoding/text.js';
import { invalidArgument, PickleError, TriturusError } from '../errors.js';

const INFO = new TextEncoder().encode('Pickle');
const MAC_LENGTH = 8;

export type LibolmPickleKey = Uint8Array | string;

function keyBytes(key: LibolmPickleKey): Uint8Array {
  if (typeof key === 'string') return new TextEncoder().encode(key);
  if (isBytes(key)) return key;
  throw invalidArgument('a libolm pickle key is a string or a Uint8Array');
}

function deriveKeys(key: LibolmPickleKey): Uint8Array {
  return hkdfSha256(keyBytes(key), new Uint8Array(0), INFO, 80);
}

/** Opens a libolm pickle; the caller wipes the returned plaintext after parsing it. */
export function openLibolmPickle(pickle: string, key: LibolmPickleKey): Uint8Array {
  if (typeof pickle !== 'string') throw invalidArgument('a libolm pickle is a base64 string');
  let bytes: Uint8Array;
  try {
    bytes = decodeBase64(pickle);
  } catch {
    throw new PickleError('PICKLE_INVALID', 'the libolm pickle is not valid base64');
  }
  if (bytes.length < 16 + MAC_LENGTH || (bytes.length - MAC_LENGTH) % 16 !== 0) {
    throw new PickleError('PICKLE_INVALID', 'the libolm pickle has an impossible length', { actual: bytes.length });
  }
  const keys = deriveKeys(key);
  try {
    const ciphertext = bytes.subarray(0, bytes.length - MAC_LENGTH);
    const mac = hmacSha256(keys.subarray(32, 64), ciphertext).subarray(0, MAC_LENGTH);
    if (!constantTimeEqual(mac, bytes.subarray(bytes.length - MAC_LENGTH))) {
      throw new PickleError(
        'PICKLE_BAD_KEY',
        'the libolm pickle does not open with this key (wrong key or damaged pickle)',
      );
    }
    try {
      return aes256CbcDecrypt(keys.subarray(0, 32), keys.subarray(64, 80), ciphertext);
    } catch (error) {
      if (error instanceof TriturusError && error.code !== 'INVALID_ARGUMENT') {
        throw new PickleError('PICKLE_INVALID', 'the libolm pickle does not decrypt');
      }
      throw error;
    }
  } finally {
    keys.fill(0);
  }
}

/** Seals a plaintext in libolm's container (used to export pickles libolm can read). */
export function sealLibolmPickle(plaintext: Uint8Array, key: LibolmPickleKey): string {
  const keys = deriveKeys(key);
  try {
    const ciphertext = aes256CbcEncrypt(keys.subarray(0, 32), keys.subarray(64, 80), plaintext);
    const out = new Uint8Array(ciphertext.length + MAC_LENGTH);
    out.set(ciphertext);
    out.set(hmacSha256(keys.subarray(32, 64), ciphertext).subarray(0, MAC_LENGTH), ciphertext.length);
    return encodeBase64(out);
  } finally {
    keys.fill(0);
  }
}
