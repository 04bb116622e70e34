/**
 * The triturus account pickle body (schema 1): writing an account's parts and reading them back.
 * Sealing and opening the pickle itself is pickle.ts's; the libolm formats live in src/libolm/.
 */

import { Ed25519SecretKey, X25519SecretKey } from '../crypto/index.js';
import { type ByteReader, ByteWriter } from '../encoding/binary.js';
import { PickleError } from '../errors.js';
import { type AccountParts, MAX_ONE_TIME_KEYS, type StoredKey } from './account-keys.js';

const PICKLE_SCHEMA = 1;

/** The account state the pickle body holds. */
export interface AccountPickleState {
  readonly signingKey: Ed25519SecretKey;
  readonly identityKey: X25519SecretKey;
  readonly nextKeyId: number;
  /** Insertion order is creation order. */
  readonly oneTimeKeys: ReadonlyMap<number, StoredKey>;
  readonly fallbackKey: StoredKey | undefined;
  readonly previousFallbackKey: StoredKey | undefined;
}

export function serializeAccount(state: AccountPickleState): Uint8Array {
  // A capacity hint only: the writer grows by doubling, so another size changes speed, never the bytes.
  const w = new ByteWriter(256 + state.oneTimeKeys.size * 80);
  w.u8(PICKLE_SCHEMA);
  const seed = state.signingKey.seedBytes();
  if (seed !== undefined) {
    w.u8(0).raw(seed);
    seed.fill(0);
  } else {
    const expanded = state.signingKey.expandedBytes();
    w.u8(1).raw(expanded);
    expanded.fill(0);
  }
  w.raw(state.signingKey.publicKey);
  writeKey(w, state.identityKey);
  w.u64(state.nextKeyId);
  w.u32(state.oneTimeKeys.size);
  for (const k of state.oneTimeKeys.values()) writeStored(w, k);
  for (const k of [state.fallbackKey, state.previousFallbackKey]) {
    w.bool(k !== undefined);
    if (k !== undefined) writeStored(w, k);
  }
  return w.finish();
}

/** Reads an account pickle body into the parts `Account.fromParts` takes. */
export function deserializeAccount(r: ByteReader): AccountParts {
  const schema = r.u8();
  if (schema !== PICKLE_SCHEMA) {
    throw new PickleError('PICKLE_UNSUPPORTED_VERSION', 'unknown account pickle schema', { actual: schema });
  }
  const kind = r.u8();
  if (kind > 1) throw new PickleError('PICKLE_INVALID', 'unknown signing key form');
  const secret = r.raw(kind === 0 ? 32 : 64);
  const publicKey = r.raw(32);
  const signingKey =
    kind === 0 ? Ed25519SecretKey.fromSeed(secret, publicKey) : Ed25519SecretKey.fromExpanded(secret, publicKey);
  secret.fill(0);
  const identityKey = readKey(r);
  const nextKeyId = r.u64();
  const count = r.count(MAX_ONE_TIME_KEYS);
  const oneTimeKeys: StoredKey[] = [];
  for (let i = 0; i < count; i++) oneTimeKeys.push(readStored(r));
  const fallbackKey = r.bool() ? readStored(r) : undefined;
  const previousFallbackKey = r.bool() ? readStored(r) : undefined;
  r.end();
  return { signingKey, identityKey, oneTimeKeys, fallbackKey, previousFallbackKey, nextKeyId };
}

function writeKey(w: ByteWriter, key: X25519SecretKey): void {
  const secret = key.toBytes();
  w.raw(secret).raw(key.publicKey);
  secret.fill(0);
}

function readKey(r: ByteReader): X25519SecretKey {
  const secret = r.raw(32);
  const key = X25519SecretKey.fromParts(secret, r.raw(32));
  secret.fill(0);
  return key;
}

function writeStored(w: ByteWriter, k: StoredKey): void {
  w.u64(k.id).bool(k.published);
  writeKey(w, k.key);
}

function readStored(r: ByteReader): StoredKey {
  const id = r.u64();
  const published = r.bool();
  return { id, published, key: readKey(r) };
}
