/**
 * libolm account pickles (libolm 3.2 `src/account.cpp`), inside the container of `container.ts`:
 *
 *   u32 version (2, 3 or 4)
 *   Ed25519 public key (32) ‖ expanded secret key (64: clamped scalar ‖ prefix)
 *   Curve25519 public key (32) ‖ secret key (32)
 *   u32 n, n × one-time key: u32 id, bool published, public (32), secret (32)   (newest first)
 *   v3: current fallback key, previous fallback key (both always present, same record as a
 *       one-time key); a key exists when its published flag is set, and counts as published
 *   v4: u8 count (0-2), then the current and, with 2, the previous fallback key
 *   u32 next_one_time_key_id (the last id handed out; libolm numbers keys from 1)
 *
 * Integers are big-endian, booleans one byte. Version 1 stored a 32-byte Ed25519 key that libolm
 * itself refuses ("keys thus used should be considered compromised").
 */
import { Ed25519SecretKey, randomBytes, X25519SecretKey } from '../crypto/index.js';
import { ByteReader, ByteWriter, isBytes } from '../encoding/binary.js';
import { invalidArgument, PickleError, TriturusError } from '../errors.js';
import { Account } from '../olm/account.js';
import { openPickle, PickleKind, parsePickleBody } from '../pickle.js';
import { type LibolmPickleKey, openLibolmPickle, sealLibolmPickle } from './container.js';

/** libolm's `MAX_ONE_TIME_KEYS` (account.hh): its key list never holds more. */
export const LIBOLM_MAX_ONE_TIME_KEYS = 100;
/** The account pickle version libolm 3.2 writes (and the one `accountToLibolmPickle` writes). */
export const LIBOLM_ACCOUNT_PICKLE_VERSION = 4;

const U32_MAX = 0xffffffff;

interface KeyRecord {
  id: number;
  published: boolean;
  key: X25519SecretKey;
}

/** Everything an account pickle holds, in triturus's order (oldest one-time key first). */
interface AccountParts {
  signingKey: Ed25519SecretKey;
  identityKey: X25519SecretKey;
  oneTimeKeys: KeyRecord[];
  fallbackKey: KeyRecord | undefined;
  previousFallbackKey: KeyRecord | undefined;
  /** The id the next new key gets (triturus's counter). */
  nextKeyId: number;
}

function wipeParts(parts: Partial<AccountParts>, records: KeyRecord[]): void {
  parts.signingKey?.wipe();
  parts.identityKey?.wipe();
  for (const r of records) r.key.wipe();
}

function readKeyPair(r: ByteReader): X25519SecretKey {
  const publicKey = r.raw(32);
  const secret = r.raw(32);
  const key = X25519SecretKey.fromParts(secret, publicKey);
  secret.fill(0);
  return key;
}

function readRecord(r: ByteReader, records: KeyRecord[]): KeyRecord {
  const id = r.u32();
  const published = r.bool();
  const record = { id, published, key: readKeyPair(r) };
  records.push(record);
  return record;
}

function parseAccount(plaintext: Uint8Array): AccountParts {
  const r = new ByteReader(plaintext);
  const version = r.u32();
  if (version === 1) {
    throw new PickleError(
      'PICKLE_UNSUPPORTED_VERSION',
      'libolm account pickle version 1 kept a truncated Ed25519 key; libolm itself refuses it',
      { actual: version },
    );
  }
  if (version < 2 || version > 4) {
    throw new PickleError('PICKLE_UNSUPPORTED_VERSION', 'unknown libolm account pickle version', {
      actual: version,
    });
  }
  const parts: Partial<AccountParts> = {};
  const records: KeyRecord[] = [];
  try {
    const signingPublic = r.raw(32);
    const expanded = r.raw(64);
    parts.signingKey = Ed25519SecretKey.fromExpanded(expanded, signingPublic);
    expanded.fill(0);
    parts.identityKey = readKeyPair(r);

    const count = r.count(LIBOLM_MAX_ONE_TIME_KEYS);
    const newestFirst: KeyRecord[] = [];
    for (let i = 0; i < count; i++) newestFirst.push(readRecord(r, records));
    const ids = new Set<number>();
    for (const k of newestFirst) {
      if (ids.has(k.id)) throw new PickleError('PICKLE_INVALID', 'the libolm pickle repeats a one-time key id');
      ids.add(k.id);
    }

    let fallbackKey: KeyRecord | undefined;
    let previousFallbackKey: KeyRecord | undefined;
    if (version === 3) {
      // Version 3 always holds two records and marks the existing ones as published
      // (libolm 3.2 reads it this way and keeps them published).
      const current = readRecord(r, records);
      const previous = readRecord(r, records);
      if (current.published) {
        fallbackKey = current;
        if (previous.published) previousFallbackKey = previous;
      }
    } else if (version === 4) {
      const fallbackCount = r.u8();
      if (fallbackCount > 2) {
        throw new PickleError('PICKLE_INVALID', 'the libolm pickle claims more than two fallback keys', {
          actual: fallbackCount,
        });
      }
      if (fallbackCount >= 1) fallbackKey = readRecord(r, records);
      if (fallbackCount === 2) previousFallbackKey = readRecord(r, records);
    }
    const lastKeyId = r.u32();
    r.end();

    // libolm hands out ++next, so its next key would get lastKeyId + 1; never reuse a held id.
    let nextKeyId = lastKeyId + 1;
    for (const k of records) if (k.id >= nextKeyId) nextKeyId = k.id + 1;
    // Keys read but not kept (absent v3 fallback records) are wiped now.
    for (const k of records) {
      if (k !== fallbackKey && k !== previousFallbackKey && !newestFirst.includes(k)) k.key.wipe();
    }
    return {
      signingKey: parts.signingKey,
      identityKey: parts.identityKey,
      oneTimeKeys: newestFirst.reverse(),
      fallbackKey,
      previousFallbackKey,
      nextKeyId,
    };
  } catch (error) {
    wipeParts(parts, records);
    throw error;
  }
}

/**
 * Imports a libolm account pickle (versions 2, 3 and 4). `key` is the pickle key given to libolm
 * (a string is taken as its UTF-8 bytes; any length).
 *
 * Key ids keep their numbers, and the counter continues after libolm's, so new keys never reuse
 * an id. triturus formats ids as big-endian u64 in base64 (11 characters) where libolm used u32
 * (6 characters): the same key is listed under a different id string than libolm showed for it.
 * Keys the server already holds stay usable (a pre-key message names the key, not its id).
 *
 * Throws PickleError: PICKLE_BAD_KEY (wrong key or damaged pickle), PICKLE_UNSUPPORTED_VERSION,
 * PICKLE_INVALID (malformed contents).
 */
export function accountFromLibolmPickle(pickle: string, key: LibolmPickleKey): Account {
  const plaintext = openLibolmPickle(pickle, key);
  const parts = parsePickleBody(plaintext, parseAccount);
  return Account.fromParts({
    signingKey: parts.signingKey,
    identityKey: parts.identityKey,
    oneTimeKeys: parts.oneTimeKeys,
    fallbackKey: parts.fallbackKey,
    previousFallbackKey: parts.previousFallbackKey,
    nextKeyId: parts.nextKeyId,
  });
}

// ---------------------------------------------------------------------------------------------
// Export

// The account's state is read back from triturus's own pickle body (src/olm/account-pickle.ts, schema 1),
// as Account has no accessor for its secrets. Any other schema is refused rather than guessed.
const TRITURUS_ACCOUNT_SCHEMA = 1;

function readTriturusRecord(r: ByteReader, records: KeyRecord[]): KeyRecord {
  const id = r.u64();
  const published = r.bool();
  const secret = r.raw(32);
  const record = { id, published, key: X25519SecretKey.fromParts(secret, r.raw(32)) };
  secret.fill(0);
  records.push(record);
  return record;
}

function partsOfAccount(account: Account): AccountParts {
  const pickleKey = randomBytes(32);
  let body: Uint8Array;
  try {
    body = openPickle(PickleKind.account, account.pickle(pickleKey), pickleKey);
  } finally {
    pickleKey.fill(0);
  }
  try {
    const r = new ByteReader(body);
    const schema = r.u8();
    if (schema !== TRITURUS_ACCOUNT_SCHEMA) {
      throw new TriturusError('UNSUPPORTED', 'this account state cannot be exported to libolm by this version', {
        actual: schema,
      });
    }
    const parts: Partial<AccountParts> = {};
    const records: KeyRecord[] = [];
    try {
      const form = r.u8();
      const secret = r.raw(form === 0 ? 32 : 64);
      const publicKey = r.raw(32);
      parts.signingKey =
        form === 0 ? Ed25519SecretKey.fromSeed(secret, publicKey) : Ed25519SecretKey.fromExpanded(secret, publicKey);
      secret.fill(0);
      const identitySecret = r.raw(32);
      parts.identityKey = X25519SecretKey.fromParts(identitySecret, r.raw(32));
      identitySecret.fill(0);
      const nextKeyId = r.u64();
      const count = r.u32();
      const oneTimeKeys: KeyRecord[] = [];
      for (let i = 0; i < count; i++) oneTimeKeys.push(readTriturusRecord(r, records));
      const fallbackKey = r.bool() ? readTriturusRecord(r, records) : undefined;
      const previousFallbackKey = r.bool() ? readTriturusRecord(r, records) : undefined;
      r.end();
      return {
        signingKey: parts.signingKey,
        identityKey: parts.identityKey,
        oneTimeKeys,
        fallbackKey,
        previousFallbackKey,
        nextKeyId,
      };
    } catch (error) {
      wipeParts(parts, records);
      throw error;
    }
  } finally {
    body.fill(0);
  }
}

function notLossless(message: string, details: { actual?: number; expected?: number } = {}): TriturusError {
  return new TriturusError('UNSUPPORTED', `cannot export to libolm without loss: ${message}`, details);
}

function writeKeyPair(w: ByteWriter, key: X25519SecretKey): void {
  const secret = key.toBytes();
  w.raw(key.publicKey).raw(secret);
  secret.fill(0);
}

function writeRecord(w: ByteWriter, record: KeyRecord): void {
  w.u32(record.id).bool(record.published);
  writeKeyPair(w, record.key);
}

/**
 * Writes an account as a libolm version 4 account pickle, which libolm 3.2 (`Account.unpickle`)
 * and `accountFromLibolmPickle` read. A seed-based Ed25519 key is written in libolm's expanded
 * form (signatures stay identical; the seed itself is not kept).
 *
 * Throws TriturusError UNSUPPORTED, changing nothing, when libolm cannot hold the account: more
 * than 100 one-time keys, or a key id beyond u32.
 */
export function accountToLibolmPickle(account: Account, key: LibolmPickleKey): string {
  if (!(account instanceof Account)) throw invalidArgument('expected an Account');
  if (typeof key !== 'string' && !isBytes(key)) {
    throw invalidArgument('a libolm pickle key is a string or a Uint8Array');
  }
  const parts = partsOfAccount(account);
  const records = [...parts.oneTimeKeys, parts.fallbackKey, parts.previousFallbackKey].filter(
    (k): k is KeyRecord => k !== undefined,
  );
  try {
    if (parts.oneTimeKeys.length > LIBOLM_MAX_ONE_TIME_KEYS) {
      throw notLossless('libolm keeps at most 100 one-time keys', {
        expected: LIBOLM_MAX_ONE_TIME_KEYS,
        actual: parts.oneTimeKeys.length,
      });
    }
    for (const k of records) {
      if (k.id > U32_MAX) throw notLossless('libolm key ids are 32-bit', { actual: k.id });
    }
    // libolm stores the last id handed out; its next key gets that + 1.
    const lastKeyId = Math.max(0, parts.nextKeyId - 1);
    if (lastKeyId > U32_MAX) throw notLossless('libolm key ids are 32-bit', { actual: parts.nextKeyId });

    const w = new ByteWriter(256 + parts.oneTimeKeys.length * 69);
    w.u32(LIBOLM_ACCOUNT_PICKLE_VERSION);
    const expanded = parts.signingKey.expandedBytes();
    w.raw(parts.signingKey.publicKey).raw(expanded);
    expanded.fill(0);
    writeKeyPair(w, parts.identityKey);
    w.u32(parts.oneTimeKeys.length);
    for (let i = parts.oneTimeKeys.length - 1; i >= 0; i--) writeRecord(w, parts.oneTimeKeys[i]!);
    if (parts.fallbackKey === undefined) {
      if (parts.previousFallbackKey !== undefined) throw notLossless('a previous fallback key without a current one');
      w.u8(0);
    } else {
      w.u8(parts.previousFallbackKey === undefined ? 1 : 2);
      writeRecord(w, parts.fallbackKey);
      if (parts.previousFallbackKey !== undefined) writeRecord(w, parts.previousFallbackKey);
    }
    w.u32(lastKeyId);
    const plaintext = w.finish();
    try {
      return sealLibolmPickle(plaintext, key);
    } finally {
      plaintext.fill(0);
    }
  } finally {
    wipeParts(parts, records);
  }
}
