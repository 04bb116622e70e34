/**
 * The one synchronous interface both crypto backends implement. Inputs are validated by the
 * callers in `src/crypto/index.ts`; a backend may assume correct lengths.
 *
 * Handles: a backend may cache an opaque per-key object (for node:crypto, a KeyObject) in the
 * `KeyCache` the caller passes, so long-lived keys are imported once.
 */
export interface KeyCache {
  handle?: unknown;
}

export interface CryptoBackend {
  readonly name: 'node' | 'noble';

  sha256(data: Uint8Array): Uint8Array;
  sha512(data: Uint8Array): Uint8Array;
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array;
  hmacSha512(key: Uint8Array, data: Uint8Array): Uint8Array;
  hkdfSha512(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  pbkdf2HmacSha512(password: Uint8Array, salt: Uint8Array, iterations: number, length: number): Uint8Array;
  /**
   * scrypt (RFC 7914), off the caller's turn of the event loop: node:crypto runs it on a worker
   * thread (reporting only 0 and 1 to `onProgress`), noble in slices of the main thread (reporting
   * as it goes). Parameters are checked by the caller; a throw from `onProgress` rejects the promise.
   */
  scrypt(
    password: Uint8Array,
    salt: Uint8Array,
    cost: { N: number; r: number; p: number },
    length: number,
    onProgress: ((fraction: number) => void) | undefined,
  ): Promise<Uint8Array>;

  /** AES-256-CBC with PKCS#7 padding. */
  aes256CbcEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** Returns undefined when the padding is not exactly valid PKCS#7 (the caller raises the error). */
  aes256CbcDecrypt(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Uint8Array | undefined;
  /** AES-256-CTR with a 128-bit big-endian counter block starting at `iv`. */
  aes256Ctr(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array;
  /** AES-GCM with a 16- or 32-byte key, a 12-byte nonce and a 16-byte tag appended (ciphertext ‖ tag). */
  aesGcmSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array;
  /** Returns undefined when the tag does not verify. */
  aesGcmOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined;
  chacha20Poly1305Seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array;
  /** Returns undefined when the tag does not verify. */
  chacha20Poly1305Open(
    key: Uint8Array,
    nonce: Uint8Array,
    ciphertext: Uint8Array,
    aad: Uint8Array,
  ): Uint8Array | undefined;

  /** Public key of a 32-byte X25519 secret; may fill `cache` with a handle for later DH. */
  x25519PublicKey(secret: Uint8Array, cache: KeyCache): Uint8Array;
  /** Raw X25519 output (the caller rejects an all-zero result). Undefined when the peer key is unusable. */
  x25519(secret: Uint8Array, cache: KeyCache, theirPublic: Uint8Array): Uint8Array | undefined;

  ed25519PublicKeyFromSeed(seed: Uint8Array, cache: KeyCache): Uint8Array;
  ed25519SignWithSeed(seed: Uint8Array, publicKey: Uint8Array, cache: KeyCache, message: Uint8Array): Uint8Array;
  /** Public key of an Ed25519 secret scalar (32 bytes little-endian, any value; reduced mod L). */
  ed25519PublicKeyFromScalar(scalar: Uint8Array): Uint8Array;
  /**
   * RFC 8032 signing from an expanded secret key (scalar ‖ prefix, 64 bytes: libolm's form, which
   * has no seed). May cache a handle in `cache`; the handle may keep views of `expanded`.
   */
  ed25519SignExpanded(expanded: Uint8Array, publicKey: Uint8Array, cache: KeyCache, message: Uint8Array): Uint8Array;
  /** RFC 8032 verification without the strictness checks (done by the caller before this). */
  ed25519Verify(publicKey: Uint8Array, cache: KeyCache, message: Uint8Array, signature: Uint8Array): boolean;
}
