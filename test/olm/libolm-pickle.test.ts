/**
 * libolm account pickles, live against libolm 3.2 (`@towns-protocol/olm`):
 * - version 4 (what libolm writes) imported: identity keys, identical signatures, the same
 *   unpublished one-time and fallback keys, and the account keeps working with a libolm peer;
 * - versions 3 and 2 built by hand from a v4 account's fields (layout in src/libolm/account.ts),
 *   which libolm itself must accept, then imported;
 * - export: triturus → libolm pickle → libolm unpickles it and keeps working;
 * - errors: wrong key, unknown versions, truncated and malformed contents.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import Olm, { type Account as LibolmAccount, type OlmImpl } from '@towns-protocol/olm';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  Account,
  Curve25519PublicKey,
  Ed25519Signature,
  olmMessageFromParts,
  PickleError,
  type PreKeyMessage,
  SessionConfig,
  TriturusError,
} from '../../src/index.js';
import { openLibolmPickle, sealLibolmPickle } from '../../src/libolm/container.js';
import { accountFromLibolmPickle, accountToLibolmPickle } from '../../src/libolm/index.js';

let olm: OlmImpl;
const owned: { free(): void }[] = [];
const track = <T extends { free(): void }>(o: T): T => {
  owned.push(o);
  return o;
};

beforeAll(async () => {
  olm = await Olm.initAsync();
});
afterEach(() => {
  while (owned.length > 0) owned.pop()!.free();
});

const PICKLE_KEY = 'libolm pickle key, any length';

function libolmAccount(oneTimeKeys: number, fallbackKeys: number): LibolmAccount {
  const a = track(new olm.Account());
  a.create();
  if (oneTimeKeys > 0) a.generate_one_time_keys(oneTimeKeys);
  for (let i = 0; i < fallbackKeys; i++) a.generate_fallback_key();
  return a;
}

function libolmUnpickle(pickle: string, key: string | Uint8Array = PICKLE_KEY): LibolmAccount {
  const a = track(new olm.Account());
  a.unpickle(typeof key === 'string' ? key : key.slice(), pickle);
  return a;
}

function identityOf(a: LibolmAccount): { curve25519: string; ed25519: string } {
  return JSON.parse(a.identity_keys()) as { curve25519: string; ed25519: string };
}

/** Key id strings decoded to their numbers: libolm writes u32, triturus u64, both big-endian base64. */
function keyIdNumber(id: string): number {
  const bytes = Buffer.from(id, 'base64');
  let n = 0;
  for (const b of bytes) n = n * 256 + b;
  return n;
}

function libolmKeys(json: string): Map<number, string> {
  const parsed = JSON.parse(json) as { curve25519: Record<string, string> };
  return new Map(Object.entries(parsed.curve25519).map(([id, key]) => [keyIdNumber(id), key]));
}

function triturusKeys(keys: Map<string, Curve25519PublicKey>): Map<number, string> {
  return new Map([...keys].map(([id, key]) => [keyIdNumber(id), key.toBase64()]));
}

function sortedEntries(m: Map<number, string>): [number, string][] {
  return [...m].sort((a, b) => a[0] - b[0]);
}

function pickleCode(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof PickleError) return error.code;
    throw error;
  }
  return 'no error';
}

// --- libolm's account pickle layout, written out independently here so the test checks the code --

const IDENTITY_LENGTH = 32 + 64 + 32 + 32;
const KEY_RECORD_LENGTH = 4 + 1 + 32 + 32;

interface V4Fields {
  identity: Uint8Array;
  oneTimeKeys: Uint8Array; // u32 count and the records, as they stand
  fallbackRecords: Uint8Array[];
  nextKeyId: Uint8Array; // 4 bytes
}

function splitV4(plaintext: Uint8Array): V4Fields {
  const view = new DataView(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
  expect(view.getUint32(0)).toBe(4);
  let offset = 4;
  const identity = plaintext.slice(offset, offset + IDENTITY_LENGTH);
  offset += IDENTITY_LENGTH;
  const count = view.getUint32(offset);
  const oneTimeKeys = plaintext.slice(offset, offset + 4 + count * KEY_RECORD_LENGTH);
  offset += oneTimeKeys.length;
  const fallbackCount = plaintext[offset]!;
  offset += 1;
  const fallbackRecords: Uint8Array[] = [];
  for (let i = 0; i < fallbackCount; i++) {
    fallbackRecords.push(plaintext.slice(offset, offset + KEY_RECORD_LENGTH));
    offset += KEY_RECORD_LENGTH;
  }
  const nextKeyId = plaintext.slice(offset, offset + 4);
  expect(offset + 4).toBe(plaintext.length);
  return { identity, oneTimeKeys, fallbackRecords, nextKeyId };
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

const u32 = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
};

function withPublished(record: Uint8Array, published: boolean): Uint8Array {
  const copy = record.slice();
  copy[4] = published ? 1 : 0;
  return copy;
}

/** Version 3: both fallback records always present; the published flag says a key exists. */
function buildV3(fields: V4Fields, presentPrevious = true): Uint8Array {
  const empty = new Uint8Array(KEY_RECORD_LENGTH);
  const [current, previous] = fields.fallbackRecords;
  return concat(
    u32(3),
    fields.identity,
    fields.oneTimeKeys,
    current === undefined ? empty : withPublished(current, true),
    previous === undefined || !presentPrevious ? empty : withPublished(previous, true),
    fields.nextKeyId,
  );
}

/** Version 2: no fallback keys. */
function buildV2(fields: V4Fields): Uint8Array {
  return concat(u32(2), fields.identity, fields.oneTimeKeys, fields.nextKeyId);
}

// -------------------------------------------------------------------------------------------------

describe('libolm account pickles, version 4 (written by libolm 3.2)', () => {
  it('keeps identity keys, signs exactly as libolm does, and lists the same keys', () => {
    const libolm = libolmAccount(5, 2);
    libolm.mark_keys_as_published();
    libolm.generate_one_time_keys(3); // three unpublished, five published
    libolm.generate_fallback_key(); // current unpublished, previous published
    const pickle = libolm.pickle(PICKLE_KEY);
    expect(new DataView(openLibolmPickle(pickle, PICKLE_KEY).buffer).getUint32(0)).toBe(4);

    const account = accountFromLibolmPickle(pickle, PICKLE_KEY);
    const identity = identityOf(libolm);
    expect(account.identityKeys.curve25519.toBase64()).toBe(identity.curve25519);
    expect(account.identityKeys.ed25519.toBase64()).toBe(identity.ed25519);

    const utility = track(new olm.Utility());
    for (const message of ['', 'hello', '{"canonical":"json","n":1}', 'ü'.repeat(300)]) {
      const signature = account.sign(message);
      expect(signature.toBase64()).toBe(libolm.sign(message));
      expect(() => utility.ed25519_verify(identity.ed25519, message, signature.toBase64())).not.toThrow();
      account.ed25519Key.verify(message, Ed25519Signature.fromBase64(libolm.sign(message)));
    }

    const unpublished = triturusKeys(account.oneTimeKeys);
    expect(unpublished.size).toBe(3);
    expect(sortedEntries(unpublished)).toEqual(sortedEntries(libolmKeys(libolm.one_time_keys())));
    expect(account.storedOneTimeKeyCount).toBe(8);
    expect(sortedEntries(triturusKeys(account.fallbackKey))).toEqual(
      sortedEntries(libolmKeys(libolm.unpublished_fallback_key())),
    );
    const current = account.currentFallbackKey!;
    expect(sortedEntries(new Map([[keyIdNumber(current.keyId), current.key.toBase64()]]))).toEqual(
      sortedEntries(libolmKeys(libolm.fallback_key())),
    );
    account.free();
  });

  it('string and byte keys of any length: a string key is its UTF-8 bytes', () => {
    const libolm = libolmAccount(1, 0);
    const keyBytes = new TextEncoder().encode('ключ');
    const pickle = libolm.pickle(keyBytes.slice());
    expect(accountFromLibolmPickle(pickle, 'ключ').curve25519Key.toBase64()).toBe(identityOf(libolm).curve25519);
    expect(accountFromLibolmPickle(pickle, keyBytes).curve25519Key.toBase64()).toBe(identityOf(libolm).curve25519);
    const empty = libolm.pickle(new Uint8Array(0));
    expect(accountFromLibolmPickle(empty, '').curve25519Key.toBase64()).toBe(identityOf(libolm).curve25519);
    const long = 'k'.repeat(1000);
    expect(accountFromLibolmPickle(libolm.pickle(long), long).ed25519Key.toBase64()).toBe(identityOf(libolm).ed25519);
  });

  it('keeps working: decrypts libolm pre-key messages to a one-time key and to the fallback key', () => {
    const libolm = libolmAccount(2, 1);
    const otk = [...libolmKeys(libolm.one_time_keys()).values()][0]!;
    const fallback = [...libolmKeys(libolm.fallback_key()).values()][0]!;
    const account = accountFromLibolmPickle(libolm.pickle(PICKLE_KEY), PICKLE_KEY);
    account.markKeysAsPublished();

    const peer = libolmAccount(1, 0);
    const peerKey = Curve25519PublicKey.fromBase64(identityOf(peer).curve25519);
    for (const [target, text] of [
      [otk, 'to the one-time key'],
      [fallback, 'to the fallback key'],
      [fallback, 'to the fallback key again'],
    ] as const) {
      const outbound = track(new olm.Session());
      outbound.create_outbound(peer, account.curve25519Key.toBase64(), target);
      const first = outbound.encrypt(text);
      expect(first.type).toBe(0);
      const message = olmMessageFromParts(first.type, first.body) as PreKeyMessage;
      const { session, plaintext } = account.createInboundSession(peerKey, message);
      expect(new TextDecoder().decode(plaintext)).toBe(text);
      expect(session.sessionId).toBe(outbound.session_id());
      const reply = session.encrypt(`reply ${text}`);
      expect(outbound.decrypt(reply.type, reply.toBase64())).toBe(`reply ${text}`);
      const next = outbound.encrypt('and on');
      expect(session.decryptText(olmMessageFromParts(next.type, next.body))).toBe('and on');
    }
    // The one-time key was used up; the fallback key was kept.
    expect(account.storedOneTimeKeyCount).toBe(1);
    const outbound = track(new olm.Session());
    outbound.create_outbound(peer, account.curve25519Key.toBase64(), otk);
    const replay = olmMessageFromParts(0, outbound.encrypt('reuse').body) as PreKeyMessage;
    expect(() => account.createInboundSession(peerKey, replay)).toThrow(TriturusError);
  });

  it('keeps working: creates outbound sessions libolm accepts, and new keys continue libolm’s ids', () => {
    const libolm = libolmAccount(4, 1);
    const idsBefore = [...libolmKeys(libolm.one_time_keys()).keys(), ...libolmKeys(libolm.fallback_key()).keys()];
    const account = accountFromLibolmPickle(libolm.pickle(PICKLE_KEY), PICKLE_KEY);

    const peer = libolmAccount(1, 0);
    const peerOtk = [...libolmKeys(peer.one_time_keys()).values()][0]!;
    const session = account.createOutboundSession(
      SessionConfig.version1(),
      Curve25519PublicKey.fromBase64(identityOf(peer).curve25519),
      Curve25519PublicKey.fromBase64(peerOtk),
    );
    const first = session.encrypt('from the imported account');
    const inbound = track(new olm.Session());
    inbound.create_inbound_from(peer, account.curve25519Key.toBase64(), first.toBase64());
    expect(inbound.decrypt(first.type, first.toBase64())).toBe('from the imported account');
    const reply = inbound.encrypt('hello back');
    expect(session.decryptText(olmMessageFromParts(reply.type, reply.body))).toBe('hello back');

    // libolm's next id would be max + 1; the imported account continues from there.
    account.markKeysAsPublished();
    account.generateOneTimeKeys(2);
    const newIds = [...triturusKeys(account.oneTimeKeys).keys()].sort((a, b) => a - b);
    expect(newIds).toEqual([Math.max(...idsBefore) + 1, Math.max(...idsBefore) + 2]);
    account.generateFallbackKey();
    expect([...triturusKeys(account.fallbackKey).keys()]).toEqual([Math.max(...idsBefore) + 3]);
  });

  it('an account without one-time or fallback keys', () => {
    const libolm = libolmAccount(0, 0);
    const account = accountFromLibolmPickle(libolm.pickle(PICKLE_KEY), PICKLE_KEY);
    expect(account.storedOneTimeKeyCount).toBe(0);
    expect(account.currentFallbackKey).toBeUndefined();
    expect(account.sign('x').toBase64()).toBe(libolm.sign('x'));
    account.generateOneTimeKeys(1);
    expect([...triturusKeys(account.oneTimeKeys).keys()]).toEqual([1]); // libolm numbers from 1
  });
});

describe('libolm account pickles, versions 3 and 2 (built by hand from a v4 account)', () => {
  it('version 3: libolm accepts the hand-built pickle, and so does the importer', () => {
    const libolm = libolmAccount(3, 2);
    libolm.mark_keys_as_published();
    libolm.generate_one_time_keys(2);
    const fields = splitV4(openLibolmPickle(libolm.pickle(PICKLE_KEY), PICKLE_KEY));
    expect(fields.fallbackRecords).toHaveLength(2);
    const pickle = sealLibolmPickle(buildV3(fields), PICKLE_KEY);

    const reread = libolmUnpickle(pickle);
    expect(reread.identity_keys()).toBe(libolm.identity_keys());
    expect(reread.one_time_keys()).toBe(libolm.one_time_keys());
    expect(reread.fallback_key()).toBe(libolm.fallback_key());
    // libolm treats version-3 fallback keys as published.
    expect(libolmKeys(reread.unpublished_fallback_key()).size).toBe(0);

    const account = accountFromLibolmPickle(pickle, PICKLE_KEY);
    expect(account.identityKeys.curve25519.toBase64()).toBe(identityOf(libolm).curve25519);
    expect(account.identityKeys.ed25519.toBase64()).toBe(identityOf(libolm).ed25519);
    expect(account.sign('v3').toBase64()).toBe(libolm.sign('v3'));
    expect(sortedEntries(triturusKeys(account.oneTimeKeys))).toEqual(sortedEntries(libolmKeys(libolm.one_time_keys())));
    expect(account.storedOneTimeKeyCount).toBe(5);
    expect(account.fallbackKey.size).toBe(0);
    const current = account.currentFallbackKey!;
    expect([[keyIdNumber(current.keyId), current.key.toBase64()]]).toEqual(
      sortedEntries(libolmKeys(libolm.fallback_key())),
    );

    // The previous fallback key was kept too: a libolm peer reaches the account through both.
    const peer = libolmAccount(0, 0);
    const previousPublic = Buffer.from(fields.fallbackRecords[1]!.subarray(5, 37))
      .toString('base64')
      .replace(/=+$/, '');
    const currentPublic = current.key.toBase64();
    for (const target of [currentPublic, previousPublic]) {
      const outbound = track(new olm.Session());
      outbound.create_outbound(peer, account.curve25519Key.toBase64(), target);
      const m = outbound.encrypt(`to ${target}`);
      const { plaintext } = account.createInboundSession(
        Curve25519PublicKey.fromBase64(identityOf(peer).curve25519),
        olmMessageFromParts(m.type, m.body) as PreKeyMessage,
      );
      expect(new TextDecoder().decode(plaintext)).toBe(`to ${target}`);
    }
  });

  it('version 3: a key whose published flag is clear is absent, for libolm and the importer', () => {
    const libolm = libolmAccount(1, 2);
    const fields = splitV4(openLibolmPickle(libolm.pickle(PICKLE_KEY), PICKLE_KEY));
    const onlyCurrent = sealLibolmPickle(buildV3(fields, false), PICKLE_KEY);
    const noneRecord = buildV3({ ...fields, fallbackRecords: [] });
    const none = sealLibolmPickle(noneRecord, PICKLE_KEY);

    expect(libolmKeys(libolmUnpickle(none).fallback_key()).size).toBe(0);
    const noFallback = accountFromLibolmPickle(none, PICKLE_KEY);
    expect(noFallback.currentFallbackKey).toBeUndefined();
    expect(noFallback.forgetFallbackKey()).toBe(false);

    expect(libolmUnpickle(onlyCurrent).fallback_key()).toBe(libolm.fallback_key());
    const current = accountFromLibolmPickle(onlyCurrent, PICKLE_KEY);
    expect(current.currentFallbackKey?.key.toBase64()).toBe([...libolmKeys(libolm.fallback_key()).values()][0]);
    expect(current.forgetFallbackKey()).toBe(false); // no previous key was kept
  });

  it('version 2: libolm accepts the hand-built pickle, and so does the importer', () => {
    const libolm = libolmAccount(4, 0);
    libolm.mark_keys_as_published();
    libolm.generate_one_time_keys(1);
    const fields = splitV4(openLibolmPickle(libolm.pickle(PICKLE_KEY), PICKLE_KEY));
    const pickle = sealLibolmPickle(buildV2(fields), PICKLE_KEY);

    const reread = libolmUnpickle(pickle);
    expect(reread.identity_keys()).toBe(libolm.identity_keys());
    expect(reread.one_time_keys()).toBe(libolm.one_time_keys());
    expect(reread.sign('v2')).toBe(libolm.sign('v2'));

    const account = accountFromLibolmPickle(pickle, PICKLE_KEY);
    expect(account.identityKeys.curve25519.toBase64()).toBe(identityOf(libolm).curve25519);
    expect(account.identityKeys.ed25519.toBase64()).toBe(identityOf(libolm).ed25519);
    expect(account.sign('v2').toBase64()).toBe(libolm.sign('v2'));
    expect(sortedEntries(triturusKeys(account.oneTimeKeys))).toEqual(sortedEntries(libolmKeys(libolm.one_time_keys())));
    expect(account.storedOneTimeKeyCount).toBe(5);
    expect(account.currentFallbackKey).toBeUndefined();
    account.generateOneTimeKeys(1);
    expect(Math.max(...triturusKeys(account.oneTimeKeys).keys())).toBe(6);
  });
});

describe('export to libolm (version 4)', () => {
  it('a libolm account survives import and export byte for byte', () => {
    const libolm = libolmAccount(6, 2);
    libolm.mark_keys_as_published();
    libolm.generate_one_time_keys(3);
    libolm.generate_fallback_key();
    const original = openLibolmPickle(libolm.pickle(PICKLE_KEY), PICKLE_KEY);
    const account = accountFromLibolmPickle(libolm.pickle(PICKLE_KEY), PICKLE_KEY);
    const exported = accountToLibolmPickle(account, 'another key');
    expect(openLibolmPickle(exported, 'another key')).toEqual(original);
  });

  it('a triturus account (Ed25519 seed) exported: libolm signs alike, lists the same keys and keeps working', () => {
    const account = Account.create();
    account.generateOneTimeKeys(4);
    account.generateFallbackKey();
    account.markKeysAsPublished();
    account.generateOneTimeKeys(3);
    account.generateFallbackKey();
    const key = new Uint8Array(32).fill(7);
    const libolm = libolmUnpickle(accountToLibolmPickle(account, key), key);

    expect(identityOf(libolm)).toEqual({
      curve25519: account.curve25519Key.toBase64(),
      ed25519: account.ed25519Key.toBase64(),
    });
    for (const message of ['', 'signed by both', '{"a":1}'])
      expect(libolm.sign(message)).toBe(account.sign(message).toBase64());
    expect(sortedEntries(libolmKeys(libolm.one_time_keys()))).toEqual(sortedEntries(triturusKeys(account.oneTimeKeys)));
    expect(sortedEntries(libolmKeys(libolm.unpublished_fallback_key()))).toEqual(
      sortedEntries(triturusKeys(account.fallbackKey)),
    );

    // A libolm peer reaches the exported account through a one-time key and the fallback key.
    const peer = libolmAccount(0, 0);
    const [otk] = account.oneTimeKeys.values();
    for (const target of [otk!.toBase64(), [...libolmKeys(libolm.fallback_key()).values()][0]!]) {
      const outbound = track(new olm.Session());
      outbound.create_outbound(peer, account.curve25519Key.toBase64(), target);
      const m = outbound.encrypt('to the exported account');
      const inbound = track(new olm.Session());
      inbound.create_inbound_from(libolm, identityOf(peer).curve25519, m.body);
      expect(inbound.decrypt(m.type, m.body)).toBe('to the exported account');
    }
    // libolm's next key id continues triturus's counter (no id is reused).
    const before = new Set([...triturusKeys(account.oneTimeKeys).keys()]);
    libolm.mark_keys_as_published();
    libolm.generate_one_time_keys(1);
    const [fresh] = libolmKeys(libolm.one_time_keys()).keys();
    expect(fresh).toBe(Math.max(...before) + 2); // the last fallback key took the id after the keys
  });

  it('refuses what libolm cannot hold, leaving the account unchanged', () => {
    const account = Account.create();
    account.generateOneTimeKeys(101);
    const before = triturusKeys(account.oneTimeKeys);
    let error: unknown;
    try {
      accountToLibolmPickle(account, PICKLE_KEY);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TriturusError);
    expect((error as TriturusError).code).toBe('UNSUPPORTED');
    expect((error as TriturusError).details).toMatchObject({ expected: 100, actual: 101 });
    expect(triturusKeys(account.oneTimeKeys)).toEqual(before);
    expect(() => accountToLibolmPickle({} as Account, PICKLE_KEY)).toThrow(TriturusError);
    expect(() => accountToLibolmPickle(Account.create(), 5 as unknown as string)).toThrow(TriturusError);
  });
});

describe('errors', () => {
  let plaintext: Uint8Array;
  let pickle: string;

  beforeAll(() => {
    const a = new olm.Account();
    a.create();
    a.generate_one_time_keys(2);
    a.generate_fallback_key();
    pickle = a.pickle(PICKLE_KEY);
    a.free();
    plaintext = openLibolmPickle(pickle, PICKLE_KEY);
  });

  const seal = (bytes: Uint8Array): string => sealLibolmPickle(bytes, PICKLE_KEY);
  const importCode = (p: string, key = PICKLE_KEY): string => pickleCode(() => accountFromLibolmPickle(p, key));

  it('a wrong key is PICKLE_BAD_KEY', () => {
    expect(importCode(pickle, 'wrong key')).toBe('PICKLE_BAD_KEY');
    expect(pickleCode(() => accountFromLibolmPickle(pickle, new Uint8Array(32)))).toBe('PICKLE_BAD_KEY');
    // A flipped ciphertext byte fails the MAC the same way.
    const bytes = Buffer.from(pickle, 'base64');
    bytes[3]! ^= 1;
    expect(importCode(bytes.toString('base64').replace(/=+$/, ''))).toBe('PICKLE_BAD_KEY');
  });

  it('unknown versions are PICKLE_UNSUPPORTED_VERSION (version 1 included, as libolm refuses it)', () => {
    for (const version of [0, 1, 5, 0x80000001, 0xffffffff]) {
      const bytes = plaintext.slice();
      new DataView(bytes.buffer).setUint32(0, version);
      expect(importCode(seal(bytes))).toBe('PICKLE_UNSUPPORTED_VERSION');
    }
  });

  it('every truncation, trailing bytes and impossible values are PICKLE_INVALID', () => {
    for (let length = 0; length < plaintext.length; length++) {
      expect(importCode(seal(plaintext.subarray(0, length))), `truncated to ${length}`).toBe('PICKLE_INVALID');
    }
    expect(importCode(seal(concat(plaintext, new Uint8Array(1))))).toBe('PICKLE_INVALID');
    const countOffset = 4 + IDENTITY_LENGTH;
    const tooMany = plaintext.slice();
    new DataView(tooMany.buffer).setUint32(countOffset, 101);
    expect(importCode(seal(tooMany))).toBe('PICKLE_INVALID');
    const badBool = plaintext.slice();
    badBool[countOffset + 4 + 4] = 2;
    expect(importCode(seal(badBool))).toBe('PICKLE_INVALID');
    const threeFallbacks = plaintext.slice();
    threeFallbacks[countOffset + 4 + 2 * KEY_RECORD_LENGTH] = 3;
    expect(importCode(seal(threeFallbacks))).toBe('PICKLE_INVALID');
    const duplicateId = plaintext.slice();
    duplicateId.copyWithin(countOffset + 4 + KEY_RECORD_LENGTH, countOffset + 4, countOffset + 8);
    expect(importCode(seal(duplicateId))).toBe('PICKLE_INVALID');
  });

  it('malformed containers are PICKLE_INVALID; non-string pickles and bad keys INVALID_ARGUMENT', () => {
    for (const text of ['', 'not base64 !!', 'AAAA', pickle.slice(0, -4), `${pickle}AAAA`]) {
      expect(['PICKLE_INVALID', 'PICKLE_BAD_KEY']).toContain(importCode(text));
    }
    expect(importCode('!!!!')).toBe('PICKLE_INVALID');
    for (const bad of [undefined, 42, new Uint8Array(8)]) {
      let error: unknown;
      try {
        accountFromLibolmPickle(bad as unknown as string, PICKLE_KEY);
      } catch (e) {
        error = e;
      }
      expect((error as TriturusError).code).toBe('INVALID_ARGUMENT');
    }
    let error: unknown;
    try {
      accountFromLibolmPickle(pickle, 42 as unknown as string);
    } catch (e) {
      error = e;
    }
    expect((error as TriturusError).code).toBe('INVALID_ARGUMENT');
  });

  it('error messages carry no secret material', () => {
    const secretKey = 'pk-SECRET-7f3a';
    const otherKey = 'pk-OTHER-9c1d';
    const secret = plaintext.subarray(4 + 32, 4 + 96);
    const secretHex = Buffer.from(secret).toString('hex');
    const secretB64 = Buffer.from(secret).toString('base64');
    const codes: string[] = [];
    for (const bytes of [plaintext.subarray(0, 100), plaintext.subarray(0, 300), concat(plaintext, u32(1))]) {
      const sealed = sealLibolmPickle(bytes, secretKey);
      for (const key of [secretKey, otherKey]) {
        try {
          accountFromLibolmPickle(sealed, key);
        } catch (error) {
          const e = error as TriturusError;
          codes.push(e.code);
          for (const text of [e.message, JSON.stringify(e.details), String(e)]) {
            for (const s of [secretHex.slice(0, 16), secretB64.slice(0, 16), secretKey, otherKey]) {
              expect(text).not.toContain(s);
            }
          }
        }
      }
    }
    expect(codes).toEqual(Array.from({ length: 3 }, () => ['PICKLE_INVALID', 'PICKLE_BAD_KEY']).flat());
  });
});

describe('packaging', () => {
  /** The files a module reaches through static relative imports (`.js` specifiers map to `.ts`). */
  function reachable(entry: string): Set<string> {
    const seen = new Set<string>();
    const queue = [resolve(entry)];
    while (queue.length > 0) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      const source = readFileSync(file, 'utf8');
      for (const match of source.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
        queue.push(resolve(dirname(file), match[1]!.replace(/\.js$/, '.ts')));
      }
    }
    return seen;
  }

  it('the default entry point never loads src/libolm; the ./libolm subpath does', () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const fromDefault = [...reachable(`${root}src/index.ts`)];
    expect(fromDefault.length).toBeGreaterThan(5);
    expect(fromDefault.filter((f) => f.includes(`${sep}libolm${sep}`))).toEqual([]);
    expect(reachable(`${root}src/libolm/index.ts`)).toContain(resolve(`${root}src/libolm/account.ts`));
    const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { exports: Record<string, unknown> };
    expect(pkg.exports['./libolm']).toEqual({
      'triturus-source': './src/libolm/index.ts',
      types: './dist/libolm/index.d.ts',
      node: './dist/node/libolm/index.js',
      default: './dist/libolm/index.js',
    });
  });
});
