/**
 * The triturus CryptoProvider for ts-mls: MLS suites 1 and 3 on the crypto layer's primitives
 * (node:crypto under Node: OpenSSL Ed25519, X25519, AES-GCM, ChaCha20-Poly1305; the tuned
 * SHA-256/HMAC/HKDF), with key objects cached on the arrays ts-mls hands back on every call.
 *
 * `mlsCryptoProvider()` picks, per suite, whichever measured faster (bench/dmls.ts): the triturus
 * provider on the node backend, and ts-mls's default provider (WebCrypto) on the noble backend
 * for suite 1 where the platform's WebCrypto has Ed25519 and X25519. Suite 3 always uses the triturus provider: ts-mls's default needs an extra optional
 * package for ChaCha20-Poly1305.
 */
import {
  type Ciphersuite,
  type CiphersuiteImpl,
  type CryptoProvider,
  defaultCryptoProvider,
  type PrivateKey,
  type PublicKey,
} from 'ts-mls';
import {
  type HpkeAead,
  hpkeAeadOpen,
  hpkeAeadSeal,
  hpkeDeriveKeyPair,
  hpkeGenerateKeyPair,
  hpkeKeyLength,
  hpkeOpen,
  hpkeReceiveExport,
  hpkeSeal,
  hpkeSendExport,
} from '../crypto/hpke.js';
import {
  constantTimeEqual,
  cryptoBackend,
  Ed25519SecretKey,
  ed25519Verify,
  hkdfSha256Expand,
  hkdfSha256Extract,
  hmacSha256,
  type KeyCache,
  randomBytes,
  sha256,
  X25519SecretKey,
} from '../crypto/index.js';
import { platformCrypto } from '../crypto/platform.js';
import { DmlsError } from '../errors.js';

/** The suites triturus offers, by RFC 9420 name and number. */
import { isDmlsSuite } from './names.js';

export { DEFAULT_SUITE, DMLS_SUITES, type DmlsSuiteName, isDmlsSuite } from './names.js';

// HPKE keys as ts-mls sees them: opaque objects (it types them as CryptoKey but only passes them back).
interface TriturusPrivateKey {
  readonly kind: 'triturus-x25519-private';
  readonly key: X25519SecretKey;
}
interface TriturusPublicKey {
  readonly kind: 'triturus-x25519-public';
  readonly bytes: Uint8Array;
}

function privateOf(k: PrivateKey): X25519SecretKey {
  const t = k as unknown as TriturusPrivateKey;
  if (t?.kind !== 'triturus-x25519-private') throw new DmlsError('DMLS_INVALID', 'not a triturus HPKE private key');
  return t.key;
}
function publicOf(k: PublicKey): Uint8Array {
  const t = k as unknown as TriturusPublicKey;
  if (t?.kind !== 'triturus-x25519-public') throw new DmlsError('DMLS_INVALID', 'not a triturus HPKE public key');
  return t.bytes;
}
function wrapPrivate(key: X25519SecretKey): PrivateKey {
  return { kind: 'triturus-x25519-private', key } satisfies TriturusPrivateKey as unknown as PrivateKey;
}
function wrapPublic(bytes: Uint8Array): PublicKey {
  return { kind: 'triturus-x25519-public', bytes } satisfies TriturusPublicKey as unknown as PublicKey;
}

// ts-mls passes the same arrays again and again (the state's signature key, the tree's leaf keys):
// caching per array object keeps OpenSSL's key objects across calls without holding them longer.
const signingKeys = new WeakMap<Uint8Array, Ed25519SecretKey>();
const verifyingKeys = new WeakMap<Uint8Array, KeyCache>();

// PKCS#8 wrapping of a 32-byte Ed25519 seed (what ts-mls's default provider's keygen returns).
const PKCS8_ED25519_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

function signingKey(signKey: Uint8Array): Ed25519SecretKey {
  let key = signingKeys.get(signKey);
  if (key === undefined) {
    let seed = signKey;
    if (signKey.length === 48 && constantTimeEqual(signKey.subarray(0, 16), PKCS8_ED25519_PREFIX)) {
      seed = signKey.subarray(16);
    }
    if (seed.length !== 32) throw new DmlsError('DMLS_INVALID', 'MLS signature key must be a 32-byte Ed25519 seed');
    key = Ed25519SecretKey.fromSeed(seed);
    signingKeys.set(signKey, key);
  }
  return key;
}

function makeSuite(cs: Ciphersuite): CiphersuiteImpl {
  const aead: HpkeAead = cs.hpke.aead === 'AES128GCM' ? 'AES128GCM' : 'CHACHA20POLY1305';
  return {
    name: cs.name,
    hash: {
      digest: async (data) => sha256(data),
      mac: async (key, data) => hmacSha256(key, data),
      verifyMac: async (key, mac, data) => constantTimeEqual(hmacSha256(key, data), mac),
    },
    kdf: {
      extract: async (salt, ikm) => hkdfSha256Extract(salt, ikm),
      expand: async (prk, info, len) => hkdfSha256Expand(prk, info, len),
      size: 32,
    },
    signature: {
      sign: async (signKey, message) => signingKey(signKey).sign(message),
      async verify(publicKey, message, signature) {
        let cache = verifyingKeys.get(publicKey);
        if (cache === undefined) {
          cache = {};
          verifyingKeys.set(publicKey, cache);
        }
        return ed25519Verify(publicKey, message, signature, cache);
      },
      async keygen() {
        const key = Ed25519SecretKey.generate();
        const signKey = key.seedBytes()!;
        signingKeys.set(signKey, key);
        return { signKey, publicKey: key.publicKey.slice() };
      },
    },
    hpke: {
      keyLength: hpkeKeyLength(aead),
      nonceLength: 12,
      open: async (privateKey, kemOutput, ciphertext, info, aad) =>
        hpkeOpen(aead, privateOf(privateKey), kemOutput, info, aad ?? new Uint8Array(0), ciphertext),
      seal: async (publicKey, plaintext, info, aad) =>
        hpkeSeal(aead, publicOf(publicKey), info, aad ?? new Uint8Array(0), plaintext),
      async importPrivateKey(k) {
        if (k.length !== 32) throw new DmlsError('DMLS_INVALID', 'HPKE private key must be 32 bytes');
        return wrapPrivate(X25519SecretKey.fromBytes(k));
      },
      async importPublicKey(k) {
        if (k.length !== 32) throw new DmlsError('DMLS_INVALID', 'HPKE public key must be 32 bytes');
        return wrapPublic(k.slice());
      },
      exportPublicKey: async (k) => publicOf(k).slice(),
      exportPrivateKey: async (k) => privateOf(k).toBytes(),
      encryptAead: async (key, nonce, aad, plaintext) =>
        hpkeAeadSeal(aead, key, nonce, aad ?? new Uint8Array(0), plaintext),
      decryptAead: async (key, nonce, aad, ciphertext) =>
        hpkeAeadOpen(aead, key, nonce, aad ?? new Uint8Array(0), ciphertext),
      exportSecret: async (publicKey, exporterContext, length, info) =>
        hpkeSendExport(aead, publicOf(publicKey), info, exporterContext, length),
      importSecret: async (privateKey, exporterContext, kemOutput, length, info) =>
        hpkeReceiveExport(aead, privateOf(privateKey), kemOutput, info, exporterContext, length),
      async deriveKeyPair(ikm) {
        const { privateKey, publicKey } = hpkeDeriveKeyPair(ikm);
        return { privateKey: wrapPrivate(privateKey), publicKey: wrapPublic(publicKey) };
      },
      async generateKeyPair() {
        const { privateKey, publicKey } = hpkeGenerateKeyPair();
        return { privateKey: wrapPrivate(privateKey), publicKey: wrapPublic(publicKey) };
      },
    },
    rng: { randomBytes: (n) => randomBytes(n) },
  };
}

const suites = new Map<string, CiphersuiteImpl>();

/** The triturus provider on the crypto layer's active backend (suites 1 and 3 only). */
export const triturusCryptoProvider: CryptoProvider = {
  async getCiphersuiteImpl(cs: Ciphersuite): Promise<CiphersuiteImpl> {
    if (!isDmlsSuite(cs.name)) {
      throw new DmlsError('DMLS_UNSUPPORTED_SUITE', `cipher suite ${cs.name} is not offered by triturus`);
    }
    let impl = suites.get(cs.name);
    if (impl === undefined) {
      impl = makeSuite(cs);
      suites.set(cs.name, impl);
    }
    return impl;
  },
};

/**
 * The provider DMLS groups use by default: triturus's on the node backend (measured faster,
 * bench/dmls.ts), ts-mls's default (WebCrypto) for suite 1 on the noble backend.
 */
export const mlsCryptoProvider: CryptoProvider = {
  async getCiphersuiteImpl(cs: Ciphersuite): Promise<CiphersuiteImpl> {
    if (cryptoBackend().name === 'noble' && cs.name === 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519') {
      // ts-mls's default provider is WebCrypto's Ed25519 and X25519: only where the platform has them
      // (an older browser without them gets the triturus provider on noble, slower but working).
      const platform = await platformCrypto();
      if (platform.ed25519 && platform.x25519) return defaultCryptoProvider.getCiphersuiteImpl(cs);
    }
    return triturusCryptoProvider.getCiphersuiteImpl(cs);
  },
};
