/**
 * `Account.fromKeys`: an account from raw key bytes.
 *
 * - From an Ed25519 seed: public keys and signatures checked against node:crypto (RFC 8032 / 7748).
 * - From libolm's own bytes (live libolm): a libolm account's pickle is opened here, independently of
 *   triturus (HKDF-SHA256 "Pickle" → AES-256-CBC, as PROTOCOL-NOTES describes the container), and its
 *   expanded Ed25519 key, Curve25519 key, one-time keys and fallback key given to `fromKeys`. The
 *   result must show libolm's identity keys, sign exactly as libolm signs, and decrypt what a libolm
 *   peer sends to those keys.
 * - Every malformed input is a typed error naming the field; nothing is built, nothing printed.
 */
import { createDecipheriv, createPrivateKey, createPublicKey, hkdfSync, sign as nodeSign } from 'node:crypto';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ed25519Verify } from '../../src/crypto/index.js';
import { KeyError, TriturusError } from '../../src/errors.js';
import { Curve25519PublicKey, Ed25519PublicKey } from '../../src/keys.js';
import { Account, type AccountKeys, MAX_ONE_TIME_KEYS } from '../../src/olm/account.js';
import { SessionConfig } from '../../src/olm/config.js';
import { PreKeyMessage } from '../../src/olm/messages.js';
import {
  fromLibolmMessage,
  identityKeysOf,
  LibolmScope,
  loadLibolm,
  oneTimeKeysOf,
  toLibolmMessage,
} from '../support/libolm.js';
import { randomKeyBytes, toHex, utf8 } from './helpers.js';

function pkcs8(prefix: string, secret: Uint8Array) {
  return createPrivateKey({ key: Buffer.concat([Buffer.from(prefix, 'hex'), secret]), format: 'der', type: 'pkcs8' });
}
const ED25519_PKCS8 = '302e020100300506032b657004220420';
const X25519_PKCS8 = '302e020100300506032b656e04220420';

/** The raw public key node:crypto derives from a private key. */
function nodePublic(privateKey: ReturnType<typeof createPrivateKey>): Uint8Array {
  return Uint8Array.from(Buffer.from(createPublicKey(privateKey).export({ format: 'jwk' }).x as string, 'base64url'));
}

function thrown(fn: () => unknown): TriturusError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(TriturusError);
    return error as TriturusError;
  }
  expect.fail('expected a TriturusError');
}

describe('from an Ed25519 seed', () => {
  it('has the public keys node:crypto derives and signs exactly as node:crypto does', () => {
    for (let n = 0; n < 5; n++) {
      const seed = randomKeyBytes();
      const curve = randomKeyBytes();
      const account = Account.fromKeys({ ed25519Seed: seed, curve25519Secret: curve });
      const edKey = pkcs8(ED25519_PKCS8, seed);
      expect(toHex(account.ed25519Key.toBytes())).toBe(toHex(nodePublic(edKey)));
      expect(toHex(account.curve25519Key.toBytes())).toBe(toHex(nodePublic(pkcs8(X25519_PKCS8, curve))));
      for (const message of ['', 'signed', 'x'.repeat(500)]) {
        const expected = Uint8Array.from(nodeSign(null, utf8(message), edKey));
        expect(toHex(account.sign(message).toBytes())).toBe(toHex(expected));
      }
      expect(account.oneTimeKeys.size).toBe(0);
      expect(account.fallbackKey.size).toBe(0);
    }
  });

  it('one-time and fallback keys: their public keys, published flags and ids; a pickle round trip keeps all', () => {
    const secrets = [randomKeyBytes(), randomKeyBytes(), randomKeyBytes()];
    const fallback = randomKeyBytes();
    const account = Account.fromKeys({
      ed25519Seed: randomKeyBytes(),
      curve25519Secret: randomKeyBytes(),
      oneTimeKeys: [{ secret: secrets[0]! }, { secret: secrets[1]!, published: true }, { secret: secrets[2]! }],
      fallbackKey: { secret: fallback },
    });
    const publics = secrets.map((s) => toHex(nodePublic(pkcs8(X25519_PKCS8, s))));
    expect([...account.oneTimeKeys.values()].map((k) => toHex(k.toBytes()))).toEqual([publics[0], publics[2]]);
    expect(account.storedOneTimeKeyCount).toBe(3);
    const [fallbackId, fallbackKey] = [...account.fallbackKey][0]!;
    expect(toHex(fallbackKey!.toBytes())).toBe(toHex(nodePublic(pkcs8(X25519_PKCS8, fallback))));
    // Ids 0, 2 for the unpublished one-time keys, 3 for the fallback key (u64 big-endian, base64).
    const idNumber = (id: string) => Number(Buffer.from(id, 'base64').readBigUInt64BE());
    expect([...account.oneTimeKeys.keys()].map(idNumber)).toEqual([0, 2]);
    expect(idNumber(fallbackId!)).toBe(3);
    // A new key continues after them.
    const created = account.generateOneTimeKeys(1).created[0]!;
    const createdId = [...account.oneTimeKeys].find(([, k]) => k.equals(created))![0];
    expect(idNumber(createdId)).toBe(4);

    const key = randomKeyBytes();
    const restored = Account.fromPickle(account.pickle(key), key);
    expect(restored.sign('same').toBase64()).toBe(account.sign('same').toBase64());
    expect([...restored.oneTimeKeys.keys()]).toEqual([...account.oneTimeKeys.keys()]);
  });

  it('a pre-key message to a given one-time key decrypts, and uses it up', () => {
    const bobSecret = randomKeyBytes();
    const bob = Account.fromKeys({
      ed25519Seed: randomKeyBytes(),
      curve25519Secret: randomKeyBytes(),
      oneTimeKeys: [{ secret: bobSecret }],
    });
    const alice = Account.create();
    const oneTimeKey = Curve25519PublicKey.fromBytes(nodePublic(pkcs8(X25519_PKCS8, bobSecret)));
    const outbound = alice.createOutboundSession(SessionConfig.version1(), bob.curve25519Key, oneTimeKey);
    const message = outbound.encrypt('to a given key') as PreKeyMessage;
    const { plaintext } = bob.createInboundSession(alice.curve25519Key, message);
    expect(Buffer.from(plaintext).toString()).toBe('to a given key');
    expect(bob.storedOneTimeKeyCount).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// libolm's bytes

/** Opens a libolm pickle (HKDF-SHA256(key, salt 0, "Pickle") → AES key ‖ MAC key ‖ IV; MAC of 8 bytes at the end). */
function openLibolm(pickle: string, key: string): Buffer {
  const bytes = Buffer.from(pickle, 'base64');
  const keys = Buffer.from(hkdfSync('sha256', Buffer.from(key), Buffer.alloc(0), 'Pickle', 80));
  const decipher = createDecipheriv('aes-256-cbc', keys.subarray(0, 32), keys.subarray(64, 80));
  return Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - 8)), decipher.final()]);
}

interface LibolmAccountBytes {
  ed25519Public: Uint8Array;
  ed25519Expanded: Uint8Array;
  curve25519Public: Uint8Array;
  curve25519Secret: Uint8Array;
  oneTimeKeys: { id: number; published: boolean; public: Uint8Array; secret: Uint8Array }[];
  fallbackKeys: { id: number; published: boolean; public: Uint8Array; secret: Uint8Array }[];
}

/** libolm 3.2 account pickle version 4 (account.cpp): big-endian u32s, one-byte booleans. */
function parseLibolmAccount(plain: Buffer): LibolmAccountBytes {
  let at = 0;
  const take = (n: number) => Uint8Array.from(plain.subarray(at, (at += n)));
  const u32 = () => plain.readUInt32BE((at += 4) - 4);
  expect(u32()).toBe(4);
  const ed25519Public = take(32);
  const ed25519Expanded = take(64);
  const curve25519Public = take(32);
  const curve25519Secret = take(32);
  const record = () => ({ id: u32(), published: take(1)[0] === 1, public: take(32), secret: take(32) });
  const oneTimeKeys = Array.from({ length: u32() }, record);
  const fallbackKeys = Array.from({ length: take(1)[0]! }, record);
  u32();
  expect(at).toBe(plain.length);
  return { ed25519Public, ed25519Expanded, curve25519Public, curve25519Secret, oneTimeKeys, fallbackKeys };
}

describe("from libolm's bytes (live libolm)", () => {
  let scope: LibolmScope;
  beforeAll(async () => {
    scope = new LibolmScope(await loadLibolm());
  });
  afterAll(() => scope.free());

  it('shows the same identity keys, signs exactly as libolm, and opens what a libolm peer sends to its keys', () => {
    const libolm = scope.account({ oneTimeKeys: 3, fallbackKey: true });
    const raw = parseLibolmAccount(openLibolm(libolm.pickle('from-keys'), 'from-keys'));
    expect(raw.oneTimeKeys.length).toBe(3);
    // libolm lists one-time keys newest first; fromKeys takes them oldest first.
    const oldestFirst = [...raw.oneTimeKeys].reverse();
    const keys: AccountKeys = {
      ed25519Expanded: raw.ed25519Expanded,
      curve25519Secret: raw.curve25519Secret,
      ed25519PublicKey: raw.ed25519Public,
      curve25519PublicKey: Curve25519PublicKey.fromBytes(raw.curve25519Public),
      oneTimeKeys: oldestFirst.map((k) => ({ secret: k.secret, published: k.published })),
      fallbackKey: { secret: raw.fallbackKeys[0]!.secret, published: raw.fallbackKeys[0]!.published },
    };
    const account = Account.fromKeys(keys);
    const identity = identityKeysOf(libolm);
    expect(account.ed25519Key.toBase64()).toBe(identity.ed25519.toBase64());
    expect(account.curve25519Key.toBase64()).toBe(identity.curve25519.toBase64());
    expect([...account.oneTimeKeys.values()].map((k) => k.toBase64()).sort()).toEqual(
      [...oneTimeKeysOf(libolm).values()].map((k) => k.toBase64()).sort(),
    );
    const utility = scope.track(new scope.olm.Utility());
    for (const message of ['', 'hello', '{"canonical":"json"}', 'ü'.repeat(200)]) {
      const signature = account.sign(message);
      expect(signature.toBase64()).toBe(libolm.sign(message));
      expect(ed25519Verify(account.ed25519Key.toBytes(), utf8(message), signature.toBytes())).toBe(true);
      expect(() => utility.ed25519_verify(identity.ed25519.toBase64(), message, signature.toBase64())).not.toThrow();
    }

    // A libolm peer starts sessions to the identity key with one of the one-time keys and with the fallback key.
    const peer = scope.account();
    const peerIdentity = identityKeysOf(peer).curve25519;
    const fallback = Curve25519PublicKey.fromBytes(raw.fallbackKeys[0]!.public);
    for (const target of [Curve25519PublicKey.fromBytes(raw.oneTimeKeys[1]!.public), fallback]) {
      const outbound = scope.outboundSession(peer, account.curve25519Key, target);
      const first = fromLibolmMessage(outbound.encrypt('from libolm'));
      expect(first).toBeInstanceOf(PreKeyMessage);
      const { session, plaintext } = account.createInboundSession(peerIdentity, first as PreKeyMessage);
      expect(Buffer.from(plaintext).toString()).toBe('from libolm');
      const reply = toLibolmMessage(session.encrypt('back to libolm'));
      expect(outbound.decrypt(reply.type, reply.body)).toBe('back to libolm');
    }
    expect(account.storedOneTimeKeyCount).toBe(2);
  });
});

// ---------------------------------------------------------------------------------------------
// Validation

describe('malformed input: a typed error naming the field, nothing built', () => {
  const good = (): AccountKeys => ({ ed25519Seed: randomKeyBytes(), curve25519Secret: randomKeyBytes() });

  it('wrong lengths: KEY_INVALID_LENGTH with the field, expected and actual length', () => {
    const cases: [Partial<Record<keyof AccountKeys, unknown>>, string, number, number][] = [
      [{ curve25519Secret: randomKeyBytes().subarray(0, 31) }, 'curve25519Secret', 32, 31],
      [{ curve25519Secret: new Uint8Array(33).fill(1) }, 'curve25519Secret', 32, 33],
      [{ ed25519Seed: new Uint8Array(64).fill(1) }, 'ed25519Seed', 32, 64],
      [{ ed25519Seed: new Uint8Array(0) }, 'ed25519Seed', 32, 0],
      [{ ed25519Seed: undefined, ed25519Expanded: new Uint8Array(32).fill(1) }, 'ed25519Expanded', 64, 32],
      [{ ed25519Seed: undefined, ed25519Expanded: new Uint8Array(65).fill(1) }, 'ed25519Expanded', 64, 65],
      [{ ed25519PublicKey: new Uint8Array(31) }, 'ed25519PublicKey', 32, 31],
      [{ curve25519PublicKey: new Uint8Array(33) }, 'curve25519PublicKey', 32, 33],
      [
        { oneTimeKeys: [{ secret: randomKeyBytes() }, { secret: new Uint8Array(16).fill(1) }] },
        'oneTimeKeys[1].secret',
        32,
        16,
      ],
      [{ fallbackKey: { secret: new Uint8Array(31).fill(1) } }, 'fallbackKey.secret', 32, 31],
    ];
    for (const [change, field, expected, actual] of cases) {
      const error = thrown(() => Account.fromKeys({ ...good(), ...change } as AccountKeys));
      expect(error).toBeInstanceOf(KeyError);
      expect(error.code).toBe('KEY_INVALID_LENGTH');
      expect(error.details).toEqual({ field, expected, actual });
    }
  });

  it('wrong types, both or neither Ed25519 forms, too many one-time keys: INVALID_ARGUMENT', () => {
    const seed = randomKeyBytes();
    const cases: unknown[] = [
      undefined,
      null,
      'keys',
      {},
      { ...good(), curve25519Secret: Array.from(randomKeyBytes()) },
      { ...good(), curve25519Secret: Buffer.from(randomKeyBytes()).toString('base64') },
      { ...good(), ed25519Seed: undefined },
      { ...good(), ed25519Expanded: new Uint8Array(64).fill(1) },
      { ...good(), ed25519Seed: seed.buffer },
      { ...good(), ed25519PublicKey: 'abc' },
      { ...good(), curve25519PublicKey: Ed25519PublicKey.fromBytes(randomKeyBytes()) },
      { ...good(), oneTimeKeys: randomKeyBytes() },
      { ...good(), oneTimeKeys: [randomKeyBytes()] },
      { ...good(), oneTimeKeys: [{ secret: randomKeyBytes(), published: 'yes' }] },
      { ...good(), fallbackKey: randomKeyBytes() },
      { ...good(), oneTimeKeys: new Array(MAX_ONE_TIME_KEYS + 1).fill({ secret: randomKeyBytes() }) },
    ];
    for (const keys of cases) expect(thrown(() => Account.fromKeys(keys as AccountKeys)).code).toBe('INVALID_ARGUMENT');
  });

  it('all-zero secrets, a scalar that is 0 mod L, mismatched public keys, repeated keys: KEY_INVALID', () => {
    // L, little-endian: a scalar that is 0 mod L (its public key would be the neutral point).
    const l = Buffer.from('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010', 'hex');
    const expandedZeroModL = new Uint8Array(64).fill(7);
    expandedZeroModL.set(l, 0);
    const other = Account.create();
    const otk = randomKeyBytes();
    const cases: [Partial<Record<keyof AccountKeys, unknown>>, string][] = [
      [{ curve25519Secret: new Uint8Array(32) }, 'curve25519Secret'],
      [{ ed25519Seed: new Uint8Array(32) }, 'ed25519Seed'],
      [{ ed25519Seed: undefined, ed25519Expanded: new Uint8Array(64) }, 'ed25519Expanded'],
      [{ ed25519Seed: undefined, ed25519Expanded: expandedZeroModL }, 'ed25519Expanded'],
      [{ ed25519PublicKey: other.ed25519Key }, 'ed25519PublicKey'],
      [{ curve25519PublicKey: other.curve25519Key.toBytes() }, 'curve25519PublicKey'],
      [{ oneTimeKeys: [{ secret: new Uint8Array(32) }] }, 'oneTimeKeys[0].secret'],
      [{ oneTimeKeys: [{ secret: otk }, { secret: otk.slice() }] }, 'oneTimeKeys[1]'],
      [{ oneTimeKeys: [{ secret: otk }], fallbackKey: { secret: otk.slice() } }, 'fallbackKey'],
    ];
    for (const [change, field] of cases) {
      const error = thrown(() => Account.fromKeys({ ...good(), ...change } as AccountKeys));
      expect(error, field).toBeInstanceOf(KeyError);
      expect(error.code, field).toBe('KEY_INVALID');
      expect(error.details.field).toBe(field);
    }
    // The identity key given again as a one-time key.
    const keys = good();
    const error = thrown(() => Account.fromKeys({ ...keys, oneTimeKeys: [{ secret: keys.curve25519Secret.slice() }] }));
    expect([error.code, error.details.field]).toEqual(['KEY_INVALID', 'oneTimeKeys[0]']);
  });

  it("leaves the caller's arrays as they were (also after free), and never prints a secret", () => {
    const seed = randomKeyBytes();
    const curve = randomKeyBytes();
    const otk = randomKeyBytes();
    const expanded = new Uint8Array(64).map((_, i) => (i * 37 + 11) & 0xff);
    const copies = [seed, curve, otk, expanded].map(toHex);
    const secrets = [seed, curve, otk, expanded.subarray(0, 32), expanded.subarray(32)];
    const encodings = secrets.flatMap((s) => [
      toHex(s),
      toHex(s).slice(0, 16),
      Buffer.from(s).toString('base64').slice(0, 12),
    ]);
    const accounts = [
      Account.fromKeys({ ed25519Seed: seed, curve25519Secret: curve, oneTimeKeys: [{ secret: otk }] }),
      Account.fromKeys({ ed25519Expanded: expanded, curve25519Secret: curve }),
    ];
    const failures = [
      thrown(() =>
        Account.fromKeys({ ed25519Seed: seed, curve25519Secret: curve, ed25519PublicKey: randomKeyBytes() }),
      ),
      thrown(() => Account.fromKeys({ ed25519Seed: seed, curve25519Secret: curve, oneTimeKeys: [{ secret: curve }] })),
    ];
    for (const value of [...accounts, ...failures]) {
      for (const text of [String(value), JSON.stringify(value), inspect(value, { depth: 10, showHidden: true })]) {
        for (const encoding of encodings) expect(text.replace(/\s+/g, '')).not.toContain(encoding);
      }
    }
    for (const account of accounts) account.free();
    expect([seed, curve, otk, expanded].map(toHex)).toEqual(copies);
  });
});
