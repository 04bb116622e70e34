/**
 * The pure-JavaScript backend (@noble/*): runs everywhere (browsers, React Native, workers).
 * It is what the package's `default` export condition selects.
 *
 * Each primitive is its own named export so that a bundler keeps only the ones a program calls
 * (the crypto facade calls these directly unless `setCryptoBackend` replaced the backend); the
 * `nobleBackend` object gathers them for callers that want the whole backend.
 */
import { gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ed25519, x25519 as nobleX25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { pbkdf2 } from '@noble/hashes/pbkdf2.js';
import { scryptAsync } from '@noble/hashes/scrypt.js';
import { sha512 as nobleSha512 } from '@noble/hashes/sha2.js';
import {
  aes256CbcDecrypt as jsAes256CbcDecrypt,
  aes256CbcEncrypt as jsAes256CbcEncrypt,
  aes256Ctr as jsAes256Ctr,
} from './aes.js';
import type { CryptoBackend, KeyCache } from './backend.js';
import { bytesToNumberLE, concat, publicKeyFromExpandedNoble, signExpandedNoble } from './noble-expanded.js';
import { hmacSha256, sha256 } from './sha256.js';

export { hmacSha256, sha256 };

interface Ed25519Expanded {
  readonly kind: 'noble-ed25519';
  readonly scalar: bigint;
  readonly prefix: Uint8Array;
}

interface Ed25519ExpandedKey {
  readonly kind: 'noble-expanded';
  readonly scalar: bigint;
  /** A view of the key's own prefix bytes, so wiping the key wipes it. */
  readonly prefix: Uint8Array;
}

function expandedKey(expanded: Uint8Array, cache: KeyCache): Ed25519ExpandedKey {
  const cached = cache.handle as Ed25519ExpandedKey | undefined;
  if (cached?.kind === 'noble-expanded') return cached;
  const handle: Ed25519ExpandedKey = {
    kind: 'noble-expanded',
    scalar: bytesToNumberLE(expanded.subarray(0, 32)),
    prefix: expanded.subarray(32, 64),
  };
  cache.handle = handle;
  return handle;
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

/** This backend's name, as a named export (reading it does not keep the whole backend object in a bundle). */
export const backendName = 'noble' as const;
/** No CSPRNG of its own: random bytes come from WebCrypto's getRandomValues (see random.ts). */
export const systemRandomFill: ((out: Uint8Array) => void) | undefined = undefined;

export const sha512: CryptoBackend['sha512'] = (data) => nobleSha512(data);
export const hmacSha512: CryptoBackend['hmacSha512'] = (key, data) => hmac(nobleSha512, key, data);
export const hkdfSha512: CryptoBackend['hkdfSha512'] = (ikm, salt, info, length) =>
  hkdf(nobleSha512, ikm, salt, info, length);
export const pbkdf2HmacSha512: CryptoBackend['pbkdf2HmacSha512'] = (password, salt, iterations, length) =>
  pbkdf2(nobleSha512, password, salt, { c: iterations, dkLen: length });

export const scrypt: CryptoBackend['scrypt'] = (password, salt, { N, r, p }, length, onProgress) =>
  // maxmem: noble's own budget formula (128·r·(N + p + 1) bytes), so the caller's bounds decide.
  scryptAsync(password, salt, {
    N,
    r,
    p,
    dkLen: length,
    maxmem: 128 * r * (N + p + 2),
    ...(onProgress === undefined ? {} : { onProgress }),
  });

// AES-256-CBC and -CTR: src/crypto/aes.ts (noble's AES module builds large tables at import; see there).
export const aes256CbcEncrypt: CryptoBackend['aes256CbcEncrypt'] = jsAes256CbcEncrypt;
export const aes256CbcDecrypt: CryptoBackend['aes256CbcDecrypt'] = jsAes256CbcDecrypt;
export const aes256Ctr: CryptoBackend['aes256Ctr'] = jsAes256Ctr;
export const chacha20Poly1305Seal: CryptoBackend['chacha20Poly1305Seal'] = (key, nonce, plaintext, aad) =>
  chacha20poly1305(key, nonce, aad).encrypt(plaintext);
export const chacha20Poly1305Open: CryptoBackend['chacha20Poly1305Open'] = (key, nonce, ciphertext, aad) => {
  try {
    return chacha20poly1305(key, nonce, aad).decrypt(ciphertext);
  } catch {
    return undefined;
  }
};

export const aesGcmSeal: CryptoBackend['aesGcmSeal'] = (key, nonce, plaintext, aad) =>
  gcm(key, nonce, aad).encrypt(plaintext);
export const aesGcmOpen: CryptoBackend['aesGcmOpen'] = (key, nonce, sealed, aad) => {
  try {
    return gcm(key, nonce, aad).decrypt(sealed);
  } catch {
    return undefined;
  }
};

export const x25519PublicKey: CryptoBackend['x25519PublicKey'] = (secret) => nobleX25519.getPublicKey(secret);
export const x25519: CryptoBackend['x25519'] = (secret, _cache, theirPublic) => {
  try {
    return nobleX25519.scalarMult(secret, theirPublic);
  } catch {
    return undefined;
  }
};

export const ed25519PublicKeyFromSeed: CryptoBackend['ed25519PublicKeyFromSeed'] = (seed, cache) => {
  const { pointBytes, scalar, prefix } = ed25519.utils.getExtendedPublicKey(seed);
  cache.handle = { kind: 'noble-ed25519', scalar, prefix } satisfies Ed25519Expanded;
  return pointBytes;
};
export const ed25519SignWithSeed: CryptoBackend['ed25519SignWithSeed'] = (seed, publicKey, cache, message) => {
  const { scalar, prefix } = expandedSeed(seed, cache);
  return signExpandedNoble(scalar, prefix, publicKey, message);
};
export const ed25519PublicKeyFromScalar: CryptoBackend['ed25519PublicKeyFromScalar'] = (scalar) =>
  publicKeyFromExpandedNoble(scalar);
export const ed25519SignExpanded: CryptoBackend['ed25519SignExpanded'] = (expanded, publicKey, cache, message) => {
  const { scalar, prefix } = expandedKey(expanded, cache);
  return signExpandedNoble(scalar, prefix, publicKey, message);
};
// A public key that verifies more than once (a Megolm session's signing key: every message; a device's key)
// keeps its decoded point in the caller's KeyCache and, from the second use, a wNAF table (window 4: 520
// points, built once in about the time of two verifications), which makes [k]A about four times cheaper.
// Measured (bench/megolm.ts, noble column): Megolm decrypt of the next message spends most of its time here.
interface VerifyKey {
  readonly kind: 'noble-ed25519-verify';
  readonly bytes: Uint8Array;
  readonly point: ReturnType<typeof ed25519.Point.fromBytes>;
  uses: number;
}

function verifyKey(publicKey: Uint8Array, cache: KeyCache): VerifyKey['point'] {
  const cached = cache.handle as VerifyKey | undefined;
  if (cached?.kind === 'noble-ed25519-verify' && equalBytes(cached.bytes, publicKey)) {
    if (++cached.uses === 2) cached.point.precompute(4, false);
    return cached.point;
  }
  const point = ed25519.Point.fromBytes(publicKey, false);
  cache.handle = { kind: 'noble-ed25519-verify', bytes: publicKey.slice(), point, uses: 1 } satisfies VerifyKey;
  return point;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export const ed25519Verify: CryptoBackend['ed25519Verify'] = (publicKey, cache, message, signature) => {
  // noble's verify checks the cofactored equation [8][S]B = [8]R + [8][k]A, which accepts
  // signatures that OpenSSL and ed25519-dalek's verify_strict (vodozemac) refuse. Check the
  // cofactorless RFC 8032 equation [S]B = R + [k]A instead, on strictly decoded points.
  try {
    const { Point } = ed25519;
    const A = verifyKey(publicKey, cache);
    const R = Point.fromBytes(signature.subarray(0, 32), false);
    const S = bytesToNumberLE(signature.subarray(32, 64));
    if (S >= Point.Fn.ORDER) return false;
    const k = Point.Fn.create(bytesToNumberLE(nobleSha512(concat(signature.subarray(0, 32), publicKey, message))));
    const left = Point.BASE.multiplyUnsafe(S);
    const right = R.add(A.multiplyUnsafe(k));
    return left.equals(right);
  } catch {
    return false;
  }
};

export const nobleBackend: CryptoBackend = {
  name: 'noble',
  sha256,
  sha512,
  hmacSha256,
  hmacSha512,
  hkdfSha512,
  pbkdf2HmacSha512,
  scrypt,
  aes256CbcEncrypt,
  aes256CbcDecrypt,
  aes256Ctr,
  chacha20Poly1305Seal,
  chacha20Poly1305Open,
  aesGcmSeal,
  aesGcmOpen,
  x25519PublicKey,
  x25519,
  ed25519PublicKeyFromSeed,
  ed25519SignWithSeed,
  ed25519PublicKeyFromScalar,
  ed25519SignExpanded,
  ed25519Verify,
};

export default nobleBackend;
