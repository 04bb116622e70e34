/**
 * HPKE (RFC 9180) in base mode for the two MLS cipher suites triturus offers:
 * DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, and AES-128-GCM (MLS suite 1) or
 * ChaCha20-Poly1305 (MLS suite 3). MLS uses HPKE single-shot (one seal per context, sequence
 * number 0) and the secret export; that is all this module offers.
 *
 * The primitives are the crypto layer's own (node:crypto under Node, noble elsewhere).
 */
import { invalidArgument } from '../errors.js';
import {
  aesGcmOpen,
  aesGcmSeal,
  chacha20Poly1305Open,
  chacha20Poly1305Seal,
  hkdfSha256Expand,
  hkdfSha256Extract,
  wipe,
  X25519SecretKey,
} from './index.js';

export type HpkeAead = 'AES128GCM' | 'CHACHA20POLY1305';

const ENCODER = new TextEncoder();
const HPKE_V1 = ENCODER.encode('HPKE-v1');
const EMPTY = new Uint8Array(0);

// RFC 9180 §7.1-7.3: KEM 0x0020 (DHKEM(X25519, HKDF-SHA256)), KDF 0x0001 (HKDF-SHA256),
// AEAD 0x0001 (AES-128-GCM) and 0x0003 (ChaCha20Poly1305).
const KEM_SUITE_ID = Uint8Array.from([0x4b, 0x45, 0x4d, 0x00, 0x20]); // "KEM" ‖ I2OSP(0x0020, 2)
function hpkeSuiteId(aead: HpkeAead): Uint8Array {
  // "HPKE" ‖ kem_id ‖ kdf_id ‖ aead_id
  return Uint8Array.from([0x48, 0x50, 0x4b, 0x45, 0x00, 0x20, 0x00, 0x01, 0x00, aead === 'AES128GCM' ? 0x01 : 0x03]);
}

/** Key length Nk of the AEAD; the nonce length Nn is 12 for both. */
export function hpkeKeyLength(aead: HpkeAead): number {
  return aead === 'AES128GCM' ? 16 : 32;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function labeledExtract(suiteId: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array): Uint8Array {
  const labeled = concat(HPKE_V1, suiteId, ENCODER.encode(label), ikm);
  try {
    return hkdfSha256Extract(salt, labeled);
  } finally {
    wipe(labeled);
  }
}

function labeledExpand(suiteId: Uint8Array, prk: Uint8Array, label: string, info: Uint8Array, length: number) {
  const labeledInfo = concat(Uint8Array.of(length >> 8, length & 0xff), HPKE_V1, suiteId, ENCODER.encode(label), info);
  return hkdfSha256Expand(prk, labeledInfo, length);
}

/** An X25519 HPKE key pair; the secret is held by the crypto layer's key class (cached handles). */
export interface HpkeKeyPair {
  readonly privateKey: X25519SecretKey;
  readonly publicKey: Uint8Array;
}

/** DeriveKeyPair(ikm) of DHKEM(X25519, HKDF-SHA256) (RFC 9180 §7.1.3). */
export function hpkeDeriveKeyPair(ikm: Uint8Array): HpkeKeyPair {
  const dkpPrk = labeledExtract(KEM_SUITE_ID, EMPTY, 'dkp_prk', ikm);
  const sk = labeledExpand(KEM_SUITE_ID, dkpPrk, 'sk', EMPTY, 32);
  wipe(dkpPrk);
  const privateKey = X25519SecretKey.fromBytes(sk);
  wipe(sk);
  return { privateKey, publicKey: privateKey.publicKey };
}

export function hpkeGenerateKeyPair(): HpkeKeyPair {
  const privateKey = X25519SecretKey.generate();
  return { privateKey, publicKey: privateKey.publicKey };
}

function extractAndExpand(dh: Uint8Array, kemContext: Uint8Array): Uint8Array {
  const eaePrk = labeledExtract(KEM_SUITE_ID, EMPTY, 'eae_prk', dh);
  const shared = labeledExpand(KEM_SUITE_ID, eaePrk, 'shared_secret', kemContext, 32);
  wipe(eaePrk);
  return shared;
}

function encap(recipientPublic: Uint8Array): { shared: Uint8Array; enc: Uint8Array } {
  const ephemeral = X25519SecretKey.generate();
  try {
    const dh = ephemeral.diffieHellman(recipientPublic);
    const enc = ephemeral.publicKey.slice();
    const shared = extractAndExpand(dh, concat(enc, recipientPublic));
    wipe(dh);
    return { shared, enc };
  } finally {
    ephemeral.wipe();
  }
}

function decap(enc: Uint8Array, recipient: X25519SecretKey): Uint8Array {
  if (enc.length !== 32) throw invalidArgument('HPKE encapsulated key must be 32 bytes', { actual: enc.length });
  const dh = recipient.diffieHellman(enc);
  const shared = extractAndExpand(dh, concat(enc, recipient.publicKey));
  wipe(dh);
  return shared;
}

interface Context {
  readonly key: Uint8Array;
  readonly nonce: Uint8Array;
  readonly exporterSecret: Uint8Array;
}

/** KeySchedule<ROLE>() in mode_base (RFC 9180 §5.1). */
function keySchedule(aead: HpkeAead, shared: Uint8Array, info: Uint8Array): Context {
  const suiteId = hpkeSuiteId(aead);
  const pskIdHash = labeledExtract(suiteId, EMPTY, 'psk_id_hash', EMPTY);
  const infoHash = labeledExtract(suiteId, EMPTY, 'info_hash', info);
  const context = concat(Uint8Array.of(0), pskIdHash, infoHash);
  const secret = labeledExtract(suiteId, shared, 'secret', EMPTY);
  const out = {
    key: labeledExpand(suiteId, secret, 'key', context, hpkeKeyLength(aead)),
    nonce: labeledExpand(suiteId, secret, 'base_nonce', context, 12),
    exporterSecret: labeledExpand(suiteId, secret, 'exp', context, 32),
  };
  wipe(secret);
  return out;
}

function wipeContext(c: Context): void {
  wipe(c.key, c.nonce, c.exporterSecret);
}

/** The AEAD of the suite on its own (MLS encrypts messages with it directly). */
export function hpkeAeadSeal(
  aead: HpkeAead,
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  return aead === 'AES128GCM'
    ? aesGcmSeal(key, nonce, plaintext, aad)
    : chacha20Poly1305Seal(key, nonce, plaintext, aad);
}

/** Throws DecryptionError AEAD_TAG_MISMATCH when the tag does not verify. */
export function hpkeAeadOpen(
  aead: HpkeAead,
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  sealed: Uint8Array,
): Uint8Array {
  return aead === 'AES128GCM' ? aesGcmOpen(key, nonce, sealed, aad) : chacha20Poly1305Open(key, nonce, sealed, aad);
}

/** Single-shot SealBase (RFC 9180 §6.1). */
export function hpkeSeal(
  aead: HpkeAead,
  recipientPublic: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
): { enc: Uint8Array; ct: Uint8Array } {
  const { shared, enc } = encap(recipientPublic);
  const context = keySchedule(aead, shared, info);
  wipe(shared);
  try {
    return { enc, ct: hpkeAeadSeal(aead, context.key, context.nonce, aad, plaintext) };
  } finally {
    wipeContext(context);
  }
}

/** Single-shot OpenBase (RFC 9180 §6.1). Throws a typed error when the ciphertext does not open. */
export function hpkeOpen(
  aead: HpkeAead,
  recipient: X25519SecretKey,
  enc: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  ct: Uint8Array,
): Uint8Array {
  const shared = decap(enc, recipient);
  const context = keySchedule(aead, shared, info);
  wipe(shared);
  try {
    return hpkeAeadOpen(aead, context.key, context.nonce, aad, ct);
  } finally {
    wipeContext(context);
  }
}

/** SendExport (RFC 9180 §6.2): a fresh encapsulation and the exported secret. */
export function hpkeSendExport(
  aead: HpkeAead,
  recipientPublic: Uint8Array,
  info: Uint8Array,
  exporterContext: Uint8Array,
  length: number,
): { enc: Uint8Array; secret: Uint8Array } {
  const { shared, enc } = encap(recipientPublic);
  const context = keySchedule(aead, shared, info);
  wipe(shared);
  try {
    return { enc, secret: labeledExpand(hpkeSuiteId(aead), context.exporterSecret, 'sec', exporterContext, length) };
  } finally {
    wipeContext(context);
  }
}

/** ReceiveExport (RFC 9180 §6.2). */
export function hpkeReceiveExport(
  aead: HpkeAead,
  recipient: X25519SecretKey,
  enc: Uint8Array,
  info: Uint8Array,
  exporterContext: Uint8Array,
  length: number,
): Uint8Array {
  const shared = decap(enc, recipient);
  const context = keySchedule(aead, shared, info);
  wipe(shared);
  try {
    return labeledExpand(hpkeSuiteId(aead), context.exporterSecret, 'sec', exporterContext, length);
  } finally {
    wipeContext(context);
  }
}
