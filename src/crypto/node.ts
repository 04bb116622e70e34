/**
 * The node:crypto (OpenSSL) backend, selected by the package's `node` export condition (Node,
 * Bun, Deno). Measured on Node 20: X25519 and Ed25519 through OpenSSL are 15-30x faster than
 * noble and 3-4x faster than libolm's WASM, provided keys enter as JWK (DER import is 5-13x
 * slower) and long-lived handles are cached in the caller's KeyCache.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  type KeyObject,
  scrypt as nodeScrypt,
  pbkdf2Sync,
  randomFillSync,
  sign,
  verify,
} from 'node:crypto';
import { createRequire } from 'node:module';
import type { CryptoBackend, KeyCache } from './backend.js';
import { ed25519PublicKeyFromScalarNode, ed25519SignExpandedNode } from './ed25519-expanded-node.js';
import { checkPkcs7 } from './padding.js';
import { hmacSha256 as jsHmacSha256, sha256 as jsSha256 } from './sha256.js';

// Below these sizes the tuned JavaScript SHA-256 beats node:crypto's per-call setup
// (measured on Node 20: crossover near 300 bytes for HMAC, 200 for a plain hash).
// Both paths give the same bytes, so every mutant of the two tests below (`<`, `>`, `true`, `false`)
// survives as equivalent (test/MUTATION.md): the limits are speed tuning only.
const JS_HMAC_LIMIT = 320;
const JS_HASH_LIMIT = 192;

const PAD_SCRATCH_LIMIT = 64 * 1024 + 16;
let padScratch = new Uint8Array(1024);

function copy(buffer: Uint8Array): Uint8Array {
  // Node may hand out views into shared pools; callers get a fresh, private array. A Buffer that
  // owns its whole ArrayBuffer (what cipher and hash outputs are) is re-wrapped without a copy. That
  // shortcut saves time only: its mutants (always copy; the condition emptied) are equivalent.
  if (
    buffer.byteOffset === 0 &&
    buffer.byteLength === buffer.buffer.byteLength &&
    !(buffer.buffer instanceof SharedArrayBuffer)
  ) {
    return new Uint8Array(buffer.buffer, 0, buffer.byteLength);
  }
  const out = new Uint8Array(buffer.length);
  out.set(buffer);
  return out;
}

function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64url');
}

function fromB64url(s: string): Uint8Array {
  return copy(Buffer.from(s, 'base64url'));
}

interface NodeHandle {
  readonly kind: 'node';
  readonly key: KeyObject;
}

// The key handle cache: a mutant that misses it imports the key again (equivalent, slower).
function cachedKey(cache: KeyCache): KeyObject | undefined {
  const h = cache.handle as NodeHandle | undefined;
  return h?.kind === 'node' ? h.key : undefined;
}

function privateKey(curve: 'X25519' | 'Ed25519', secret: Uint8Array, cache: KeyCache): KeyObject {
  let key = cachedKey(cache);
  if (key === undefined) {
    key = createPrivateKey({ key: { kty: 'OKP', crv: curve, d: b64url(secret), x: '' }, format: 'jwk' });
    cache.handle = { kind: 'node', key } satisfies NodeHandle;
  }
  return key;
}

function publicKeyOf(key: KeyObject): Uint8Array {
  // JWK export of a key imported from bytes; keys from generateKeyPairSync are avoided on purpose.
  const jwk = key.export({ format: 'jwk' });
  return fromB64url(jwk.x as string);
}

// Not every runtime's node:crypto has every cipher: Bun's has no ChaCha20-Poly1305. Probed once, on
// first use; where it is missing the noble implementation (same bytes) takes over.
let nodeHasChacha: boolean | undefined;

// Loaded on first use only, with a synchronous require (the backend is synchronous): where
// node:crypto has the cipher (Node, Deno) it is never loaded, which keeps four modules and 80 KB out
// of every `import('triturus')` (issue 12). Bundlers that do not follow createRequire leave it to
// be resolved at run time from node_modules.
type NobleChacha = typeof import('@noble/ciphers/chacha.js').chacha20poly1305;
let nobleChachaImpl: NobleChacha | undefined;
function nobleChacha(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array): ReturnType<NobleChacha> {
  nobleChachaImpl ??= (
    createRequire(import.meta.url)('@noble/ciphers/chacha.js') as typeof import('@noble/ciphers/chacha.js')
  ).chacha20poly1305;
  return nobleChachaImpl(key, nonce, aad);
}
// A probe and its cache: mutants that probe again, or take the noble path (the same bytes), are equivalent.
function hasNodeChacha(): boolean {
  if (nodeHasChacha === undefined) {
    try {
      createCipheriv('chacha20-poly1305', new Uint8Array(32), new Uint8Array(12), { authTagLength: 16 });
      nodeHasChacha = true;
    } catch {
      nodeHasChacha = false;
    }
  }
  return nodeHasChacha;
}

function chachaSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  if (!hasNodeChacha()) return nobleChacha(key, nonce, aad).encrypt(plaintext);
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  cipher.setAAD(aad, { plaintextLength: plaintext.length });
  const body = cipher.update(plaintext);
  cipher.final();
  const out = new Uint8Array(body.length + 16);
  out.set(body);
  out.set(cipher.getAuthTag(), body.length);
  return out;
}

function chachaOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
  if (!hasNodeChacha()) {
    try {
      return nobleChacha(key, nonce, aad).decrypt(sealed);
    } catch {
      return undefined;
    }
  }
  if (sealed.length < 16) return undefined;
  const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  decipher.setAAD(aad, { plaintextLength: sealed.length - 16 });
  const body = decipher.update(sealed.subarray(0, sealed.length - 16));
  try {
    decipher.final();
  } catch {
    body.fill(0);
    return undefined;
  }
  return copy(body);
}

function gcmSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  const cipher = createCipheriv(key.length === 16 ? 'aes-128-gcm' : 'aes-256-gcm', key, nonce, { authTagLength: 16 });
  // Skipping an empty AAD saves a call: `>= 0` (setting it) is equivalent, here and in gcmOpen.
  if (aad.length > 0) cipher.setAAD(aad);
  const body = cipher.update(plaintext);
  cipher.final();
  const out = new Uint8Array(body.length + 16);
  out.set(body);
  out.set(cipher.getAuthTag(), body.length);
  return out;
}

function gcmOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
  if (sealed.length < 16) return undefined;
  const decipher = createDecipheriv(key.length === 16 ? 'aes-128-gcm' : 'aes-256-gcm', key, nonce, {
    authTagLength: 16,
  });
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  if (aad.length > 0) decipher.setAAD(aad);
  const body = decipher.update(sealed.subarray(0, sealed.length - 16));
  try {
    decipher.final();
  } catch {
    body.fill(0);
    return undefined;
  }
  return copy(body);
}

/** This backend's name, as a named export (reading it does not keep the whole backend object in a bundle). */
export const backendName = 'node' as const;

/**
 * The system random source on this backend (the facade installs it, see random.ts): node:crypto's,
 * ready at once. Not imported from random.ts here: that would make the bundled build load one more chunk.
 */
export const systemRandomFill: ((out: Uint8Array) => void) | undefined = (out) => {
  randomFillSync(out);
};

export const nodeBackend: CryptoBackend = {
  name: 'node',
  sha256: (data) => (data.length <= JS_HASH_LIMIT ? jsSha256(data) : copy(createHash('sha256').update(data).digest())),
  sha512: (data) => copy(createHash('sha512').update(data).digest()),
  hmacSha256: (key, data) =>
    data.length <= JS_HMAC_LIMIT ? jsHmacSha256(key, data) : copy(createHmac('sha256', key).update(data).digest()),
  hmacSha512: (key, data) => copy(createHmac('sha512', key).update(data).digest()),
  hkdfSha512: (ikm, salt, info, length) => new Uint8Array(hkdfSync('sha512', ikm, salt, info, length)),
  pbkdf2HmacSha512: (password, salt, iterations, length) =>
    copy(pbkdf2Sync(password, salt, iterations, length, 'sha512')),

  scrypt(password, salt, { N, r, p }, length, onProgress) {
    return new Promise((resolve, reject) => {
      onProgress?.(0);
      // maxmem above OpenSSL's need (128·N·r plus 128·r·p), so that the caller's bounds decide.
      nodeScrypt(password, salt, length, { N, r, p, maxmem: 128 * r * (N + p + 2) + 1024 * 1024 }, (error, key) => {
        if (error !== null) {
          reject(error);
          return;
        }
        const out = new Uint8Array(key);
        key.fill(0);
        try {
          onProgress?.(1);
        } catch (progressError) {
          out.fill(0);
          reject(progressError);
          return;
        }
        resolve(out);
      });
    });
  },

  aes256CbcEncrypt(key, iv, plaintext) {
    // PKCS#7 padding done here so that one update() call suffices: skipping final() saves ~1 µs
    // per message, which matters on the Olm/Megolm hot path.
    // The padded copy goes into a reused buffer (zeroed after): a fresh one costs ~0.7 µs.
    // The scratch buffer's size and when it is used are speed only: those mutants are equivalent.
    const pad = 16 - (plaintext.length % 16);
    const length = plaintext.length + pad;
    if (length > padScratch.length && length <= PAD_SCRATCH_LIMIT) padScratch = new Uint8Array(PAD_SCRATCH_LIMIT);
    const padded = length <= padScratch.length ? padScratch.subarray(0, length) : new Uint8Array(length);
    padded.set(plaintext);
    padded.fill(pad, plaintext.length);
    try {
      // No setAutoPadding(false) either (0.2 µs): when encrypting, update() emits every whole
      // block at once, and final(), which would add a padding block, is never called.
      return copy(createCipheriv('aes-256-cbc', key, iv).update(padded));
    } finally {
      padded.fill(0);
    }
  },
  aes256CbcDecrypt(key, iv, ciphertext) {
    // Without padding, update() returns every block at once; the padding is checked here.
    const decipher = createDecipheriv('aes-256-cbc', key, iv);
    decipher.setAutoPadding(false);
    const padded = decipher.update(ciphertext);
    const length = checkPkcs7(padded);
    if (length < 0) {
      padded.fill(0);
      return undefined;
    }
    const out = copy(padded.subarray(0, length));
    padded.fill(0);
    return out;
  },
  aes256Ctr(key, iv, data) {
    const cipher = createCipheriv('aes-256-ctr', key, iv);
    const head = cipher.update(data);
    cipher.final();
    return copy(head);
  },
  aesGcmSeal: gcmSeal,
  aesGcmOpen: gcmOpen,
  chacha20Poly1305Seal: chachaSeal,
  chacha20Poly1305Open: chachaOpen,

  x25519PublicKey: (secret, cache) => publicKeyOf(privateKey('X25519', secret, cache)),
  x25519(secret, cache, theirPublic) {
    const key = privateKey('X25519', secret, cache);
    try {
      const peer = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(theirPublic) }, format: 'jwk' });
      // OpenSSL refuses an all-zero (non-contributory) result; the caller checks again anyway.
      return copy(diffieHellman({ privateKey: key, publicKey: peer }));
    } catch {
      return undefined;
    }
  },

  ed25519PublicKeyFromSeed: (seed, cache) => publicKeyOf(privateKey('Ed25519', seed, cache)),
  ed25519SignWithSeed: (seed, _publicKey, cache, message) =>
    copy(sign(null, message, privateKey('Ed25519', seed, cache))),
  ed25519PublicKeyFromScalar: ed25519PublicKeyFromScalarNode,
  ed25519SignExpanded: ed25519SignExpandedNode,
  ed25519Verify(publicKey, cache, message, signature) {
    let key = cachedKey(cache);
    try {
      if (key === undefined) {
        key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(publicKey) }, format: 'jwk' });
        cache.handle = { kind: 'node', key } satisfies NodeHandle;
      }
      return verify(null, message, key, signature);
    } catch {
      return false;
    }
  },
};

// The primitives one by one, as the crypto facade imports them from `#crypto-default` (see noble.ts).
export const sha256: CryptoBackend['sha256'] = nodeBackend.sha256;
export const sha512: CryptoBackend['sha512'] = nodeBackend.sha512;
export const hmacSha256: CryptoBackend['hmacSha256'] = nodeBackend.hmacSha256;
export const hmacSha512: CryptoBackend['hmacSha512'] = nodeBackend.hmacSha512;
export const hkdfSha512: CryptoBackend['hkdfSha512'] = nodeBackend.hkdfSha512;
export const pbkdf2HmacSha512: CryptoBackend['pbkdf2HmacSha512'] = nodeBackend.pbkdf2HmacSha512;
export const scrypt: CryptoBackend['scrypt'] = nodeBackend.scrypt;
export const aes256CbcEncrypt: CryptoBackend['aes256CbcEncrypt'] = nodeBackend.aes256CbcEncrypt;
export const aes256CbcDecrypt: CryptoBackend['aes256CbcDecrypt'] = nodeBackend.aes256CbcDecrypt;
export const aes256Ctr: CryptoBackend['aes256Ctr'] = nodeBackend.aes256Ctr;
export const chacha20Poly1305Seal: CryptoBackend['chacha20Poly1305Seal'] = nodeBackend.chacha20Poly1305Seal;
export const chacha20Poly1305Open: CryptoBackend['chacha20Poly1305Open'] = nodeBackend.chacha20Poly1305Open;
export const aesGcmSeal: CryptoBackend['aesGcmSeal'] = nodeBackend.aesGcmSeal;
export const aesGcmOpen: CryptoBackend['aesGcmOpen'] = nodeBackend.aesGcmOpen;
export const x25519PublicKey: CryptoBackend['x25519PublicKey'] = nodeBackend.x25519PublicKey;
export const x25519: CryptoBackend['x25519'] = nodeBackend.x25519;
export const ed25519PublicKeyFromSeed: CryptoBackend['ed25519PublicKeyFromSeed'] = nodeBackend.ed25519PublicKeyFromSeed;
export const ed25519SignWithSeed: CryptoBackend['ed25519SignWithSeed'] = nodeBackend.ed25519SignWithSeed;
export const ed25519PublicKeyFromScalar: CryptoBackend['ed25519PublicKeyFromScalar'] =
  nodeBackend.ed25519PublicKeyFromScalar;
export const ed25519SignExpanded: CryptoBackend['ed25519SignExpanded'] = nodeBackend.ed25519SignExpanded;
export const ed25519Verify: CryptoBackend['ed25519Verify'] = nodeBackend.ed25519Verify;

export default nodeBackend;
