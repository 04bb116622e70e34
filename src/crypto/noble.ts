/**
 * The pure-JavaScript backend (@noble/*): runs everywhere (browsers, React Native, workers).
 * It is what the package's `default` export condition selects.
 */
import { cbc, ctr, gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { pbkdf2 } from '@noble/hashes/pbkdf2.js';
import { sha512 } from '@noble/hashes/sha2.js';
import type { CryptoBackend, KeyCache } from './backend.js';
import { bytesToNumberLE, concat, signExpandedNoble } from './noble-expanded.js';
import { checkPkcs7 } from './padding.js';
import { hmacSha256, sha256 } from './sha256.js';

interface Ed25519Expanded {
  readonly kind: 'noble-ed25519';
  readonly scalar: bigint;
  readonly prefix: Uint8Array;
}

function expandedSeed(seed: Uint8Array, cache: KeyCache): Ed25519Expanded {
  const cached = cache.handle as Ed25519Expanded | undefined;
  if (cached?.kind === 'noble-ed25519') return cached;
  // Caching the expanded key saves one SHA-512 per signature; noble re-derives it otherwise.
  const { scalar, prefix } = ed25519.utils.getExtendedPublicKey(seed);
  const handle: Ed25519Expanded = { kind: 'noble-ed25519', scalar, prefix };
  cache.handle = handle;
  return handle;
}

export const nobleBackend: CryptoBackend = {
  name: 'noble',
  sha256,
  sha512: (data) => sha512(data),
  hmacSha256,
  hmacSha512: (key, data) => hmac(sha512, key, data),
  hkdfSha512: (ikm, salt, info, length) => hkdf(sha512, ikm, salt, info, length),
  pbkdf2HmacSha512: (password, salt, iterations, length) =>
    pbkdf2(sha512, password, salt, { c: iterations, dkLen: length }),

  aes256CbcEncrypt: (key, iv, plaintext) => cbc(key, iv).encrypt(plaintext),
  aes256CbcDecrypt(key, iv, ciphertext) {
    const padded = cbc(key, iv, { disablePadding: true }).decrypt(ciphertext);
    const length = checkPkcs7(padded);
    if (length < 0) {
      padded.fill(0);
      return undefined;
    }
    const out = padded.slice(0, length);
    padded.fill(0);
    return out;
  },
  aes256Ctr: (key, iv, data) => ctr(key, iv).encrypt(data),
  aesGcmSeal: (key, nonce, plaintext, aad) => gcm(key, nonce, aad).encrypt(plaintext),
  aesGcmOpen(key, nonce, sealed, aad) {
    try {
      return gcm(key, nonce, aad).decrypt(sealed);
    } catch {
      return undefined;
    }
  },
  chacha20Poly1305Seal: (key, nonce, plaintext, aad) => chacha20poly1305(key, nonce, aad).encrypt(plaintext),
  chacha20Poly1305Open(key, nonce, ciphertext, aad) {
    try {
      return chacha20poly1305(key, nonce, aad).decrypt(ciphertext);
    } catch {
      return undefined;
    }
  },

  x25519PublicKey: (secret) => x25519.getPublicKey(secret),
  x25519(secret, _cache, theirPublic) {
    try {
      return x25519.scalarMult(secret, theirPublic);
    } catch {
      return undefined;
    }
  },

  ed25519PublicKeyFromSeed: (seed, cache) => {
    const { pointBytes, scalar, prefix } = ed25519.utils.getExtendedPublicKey(seed);
    cache.handle = { kind: 'noble-ed25519', scalar, prefix } satisfies Ed25519Expanded;
    return pointBytes;
  },
  ed25519SignWithSeed(seed, publicKey, cache, message) {
    const { scalar, prefix } = expandedSeed(seed, cache);
    return signExpandedNoble(scalar, prefix, publicKey, message);
  },
  ed25519Verify(publicKey, _cache, message, signature) {
    // noble's verify checks the cofactored equation [8][S]B = [8]R + [8][k]A, which accepts
    // signatures that OpenSSL and ed25519-dalek's verify_strict (vodozemac) refuse. Check the
    // cofactorless RFC 8032 equation [S]B = R + [k]A instead, on strictly decoded points.
    try {
      const { Point } = ed25519;
      const A = Point.fromBytes(publicKey, false);
      const R = Point.fromBytes(signature.subarray(0, 32), false);
      const S = bytesToNumberLE(signature.subarray(32, 64));
      if (S >= Point.Fn.ORDER) return false;
      const k = Point.Fn.create(bytesToNumberLE(sha512(concat(signature.subarray(0, 32), publicKey, message))));
      const left = Point.BASE.multiplyUnsafe(S);
      const right = R.add(A.multiplyUnsafe(k));
      return left.equals(right);
    } catch {
      return false;
    }
  },
};

export default nobleBackend;
