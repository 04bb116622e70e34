/**
 * triturus's own pickles of Account and Session (envelope in src/pickle.ts): round trips that keep
 * every key and let the conversation go on, a fresh nonce per pickle, and refusals: wrong key
 * (PICKLE_BAD_KEY), wrong kind (PICKLE_WRONG_TYPE), unknown versions, truncated, garbage and
 * malformed-but-authentic bodies (sealed in the test with @noble/ciphers) → PickleError.
 */
import { describe, expect, it } from 'vitest';
import { PickleError, TriturusError } from '../../src/errors.js';
import { Account } from '../../src/olm/account.js';
import { SessionConfig } from '../../src/olm/config.js';
import type { PreKeyMessage } from '../../src/olm/messages.js';
import { Session } from '../../src/olm/session.js';
import {
  accountBody,
  concat,
  expectTriturusError,
  makePair,
  oneTimeKeyOf,
  openPickleBody,
  PICKLE_KEY,
  PICKLE_KIND_ACCOUNT,
  PICKLE_KIND_OLM_SESSION,
  parseAccountBody,
  parseSessionBody,
  randomKeyBytes,
  sealPickleBody,
  sessionBody,
  text,
  toHex,
} from './helpers.js';

function dec(session: Session, message: Parameters<Session['decrypt']>[0]): string {
  return text(session.decrypt(message));
}

function expectPickleError(fn: () => unknown, code?: string): PickleError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught, 'expected a PickleError').toBeInstanceOf(PickleError);
  if (code !== undefined) expect((caught as PickleError).code).toBe(code);
  return caught as PickleError;
}

/** An account with one-time keys (some published), both fallback keys and a used one-time key. */
function busyAccount(): Account {
  const account = Account.create();
  account.generateOneTimeKeys(4);
  account.generateFallbackKey();
  account.markKeysAsPublished();
  account.generateOneTimeKeys(3);
  account.generateFallbackKey();
  return account;
}

describe('Account pickles', () => {
  it('round trip every key, publication flag and the key-id counter', () => {
    const account = busyAccount();
    const pickle = account.pickle(PICKLE_KEY);
    expect(pickle).toMatch(/^[A-Za-z0-9+/]+$/);
    const restored = Account.fromPickle(pickle, PICKLE_KEY);
    expect(restored.curve25519Key.equals(account.curve25519Key)).toBe(true);
    expect(restored.ed25519Key.equals(account.ed25519Key)).toBe(true);
    const list = (a: Account) => [...a.oneTimeKeys.entries()].map(([id, k]) => `${id}=${k.toBase64()}`);
    expect(list(restored)).toEqual(list(account));
    expect(list(restored).length).toBe(3);
    expect(restored.storedOneTimeKeyCount).toBe(7);
    expect(restored.currentFallbackKey).toEqual(account.currentFallbackKey);
    expect([...restored.fallbackKey.keys()]).toEqual([...account.fallbackKey.keys()]);
    // The same body, byte for byte.
    expect(toHex(accountBody(restored))).toBe(toHex(accountBody(account)));
    // New keys continue the id sequence instead of reusing ids.
    const nextOriginal = account.generateOneTimeKeys(1);
    const nextRestored = restored.generateOneTimeKeys(1);
    expect(nextRestored.created.length).toBe(1);
    expect([...restored.oneTimeKeys.keys()].at(-1)).toBe([...account.oneTimeKeys.keys()].at(-1));
    expect(nextOriginal.created[0]!.equals(nextRestored.created[0]!)).toBe(false);
  });

  it('a restored account keeps working: signs identically, starts sessions from pickled one-time and fallback keys', () => {
    const bob = busyAccount();
    const otk = [...bob.oneTimeKeys.values()][0]!;
    const fallback = bob.currentFallbackKey!.key;
    const restored = Account.fromPickle(bob.pickle(PICKLE_KEY), PICKLE_KEY);
    expect(restored.sign('x').toBase64()).toBe(bob.sign('x').toBase64());
    restored.ed25519Key.verify('y', restored.sign('y'));
    for (const key of [otk, fallback]) {
      const alice = Account.create();
      const outbound = alice.createOutboundSession(SessionConfig.version1(), restored.curve25519Key, key);
      const { session, plaintext } = restored.createInboundSession(
        alice.curve25519Key,
        outbound.encrypt('after restore') as PreKeyMessage,
      );
      expect(text(plaintext)).toBe('after restore');
      expect(dec(outbound, session.encrypt('reply'))).toBe('reply');
    }
    // And it can start outbound sessions.
    const carol = Account.create();
    const outbound = restored.createOutboundSession(SessionConfig.version1(), carol.curve25519Key, oneTimeKeyOf(carol));
    const { plaintext } = carol.createInboundSession(restored.curve25519Key, outbound.encrypt('out') as PreKeyMessage);
    expect(text(plaintext)).toBe('out');
  });

  it('a fresh nonce each time: pickles differ, bodies do not', () => {
    const account = busyAccount();
    const a = account.pickle(PICKLE_KEY);
    const b = account.pickle(PICKLE_KEY);
    expect(a).not.toBe(b);
    expect(toHex(openPickleBody(a, PICKLE_KEY).body)).toBe(toHex(openPickleBody(b, PICKLE_KEY).body));
    expect(openPickleBody(a, PICKLE_KEY).kind).toBe(PICKLE_KIND_ACCOUNT);
  });
});

describe('Session pickles', () => {
  it('round trip mid-conversation on both sides, skipped keys included; the conversation goes on', () => {
    for (const config of [SessionConfig.version1(), SessionConfig.version2()]) {
      const pair = makePair(config);
      const late = pair.aliceSession.encrypt('late');
      expect(dec(pair.bobSession, pair.aliceSession.encrypt('early'))).toBe('early');
      const reply = pair.bobSession.encrypt('reply');

      const alice = Session.fromPickle(pair.aliceSession.pickle(PICKLE_KEY), PICKLE_KEY);
      const bob = Session.fromPickle(pair.bobSession.pickle(PICKLE_KEY), PICKLE_KEY);
      expect(toHex(sessionBody(alice))).toBe(toHex(sessionBody(pair.aliceSession)));
      expect(toHex(sessionBody(bob))).toBe(toHex(sessionBody(pair.bobSession)));
      expect(alice.sessionId).toBe(pair.aliceSession.sessionId);
      expect(bob.sessionId).toBe(pair.bobSession.sessionId);
      expect(alice.config.version).toBe(config.version);
      expect(alice.hasReceivedMessage).toBe(false);
      expect(bob.hasReceivedMessage).toBe(true);

      expect(dec(bob, late)).toBe('late'); // a skipped key survived
      expect(dec(alice, reply)).toBe('reply');
      for (let i = 0; i < 3; i++) {
        expect(dec(bob, alice.encrypt(`a${i}`))).toBe(`a${i}`);
        expect(dec(alice, bob.encrypt(`b${i}`))).toBe(`b${i}`);
      }
      // The originals are independent objects and can still talk to the restored peers' twins.
      expect(dec(pair.bobSession, pair.aliceSession.encrypt('original'))).toBe('original');
    }
  });

  it('an outbound session pickled before its first message still starts the session', () => {
    const alice = Account.create();
    const bob = Account.create();
    const outbound = alice.createOutboundSession(SessionConfig.version1(), bob.curve25519Key, oneTimeKeyOf(bob));
    const restored = Session.fromPickle(outbound.pickle(PICKLE_KEY), PICKLE_KEY);
    const { plaintext } = bob.createInboundSession(alice.curve25519Key, restored.encrypt('first') as PreKeyMessage);
    expect(text(plaintext)).toBe('first');
  });

  it('a fresh nonce each time and the session kind in the envelope', () => {
    const { aliceSession } = makePair();
    const a = aliceSession.pickle(PICKLE_KEY);
    expect(a).not.toBe(aliceSession.pickle(PICKLE_KEY));
    expect(openPickleBody(a, PICKLE_KEY).kind).toBe(PICKLE_KIND_OLM_SESSION);
  });
});

describe('pickle refusals', () => {
  const account = busyAccount();
  const pair = makePair();
  const accountPickle = account.pickle(PICKLE_KEY);
  const sessionPickle = pair.bobSession.pickle(PICKLE_KEY);
  const restore = {
    account: (p: string, k: Uint8Array = PICKLE_KEY) => Account.fromPickle(p, k),
    session: (p: string, k: Uint8Array = PICKLE_KEY) => Session.fromPickle(p, k),
  };

  it('a wrong pickle key: PICKLE_BAD_KEY', () => {
    const wrong = PICKLE_KEY.slice();
    wrong[31]! ^= 1;
    expectPickleError(() => restore.account(accountPickle, wrong), 'PICKLE_BAD_KEY');
    expectPickleError(() => restore.session(sessionPickle, wrong), 'PICKLE_BAD_KEY');
    expectPickleError(() => restore.account(accountPickle, randomKeyBytes()), 'PICKLE_BAD_KEY');
  });

  it('a pickle key that is not 32 bytes: INVALID_ARGUMENT, for pickling and unpickling', () => {
    for (const key of [new Uint8Array(0), new Uint8Array(31), new Uint8Array(33), 'k'.repeat(32)]) {
      expectTriturusError(() => account.pickle(key as Uint8Array), TriturusError, 'INVALID_ARGUMENT');
      expectTriturusError(() => pair.bobSession.pickle(key as Uint8Array), TriturusError, 'INVALID_ARGUMENT');
      expectTriturusError(() => restore.account(accountPickle, key as Uint8Array), TriturusError, 'INVALID_ARGUMENT');
    }
  });

  it('a pickle of one kind refused as another: PICKLE_WRONG_TYPE', () => {
    expectPickleError(() => restore.session(accountPickle), 'PICKLE_WRONG_TYPE');
    expectPickleError(() => restore.account(sessionPickle), 'PICKLE_WRONG_TYPE');
    // Relabelling the kind byte does not help: the kind is authenticated.
    const bytes = Buffer.from(accountPickle, 'base64');
    bytes[1] = PICKLE_KIND_OLM_SESSION;
    expectPickleError(() => restore.session(bytes.toString('base64')), 'PICKLE_BAD_KEY');
  });

  it('an unknown envelope version: PICKLE_UNSUPPORTED_VERSION', () => {
    for (const version of [0, 2, 255]) {
      const bytes = Buffer.from(accountPickle, 'base64');
      bytes[0] = version;
      expectPickleError(() => restore.account(bytes.toString('base64')), 'PICKLE_UNSUPPORTED_VERSION');
    }
  });

  it('truncated pickles: PickleError at every length', () => {
    for (const [pickle, fromPickle] of [
      [accountPickle, restore.account],
      [sessionPickle, restore.session],
    ] as const) {
      for (let n = 0; n < pickle.length; n++) expectPickleError(() => fromPickle(pickle.slice(0, n)));
    }
  });

  it('garbage and altered pickles: PickleError', () => {
    const garbage = ['', 'A', '!!!!', 'not a pickle', '====', 'AAAA', 'A'.repeat(100), '\u00e9'.repeat(40)];
    for (const g of garbage) {
      expectPickleError(() => restore.account(g));
      expectPickleError(() => restore.session(g));
    }
    for (let i = 0; i < accountPickle.length; i += 7) {
      const bytes = Buffer.from(accountPickle, 'base64');
      const at = i % bytes.length;
      bytes[at]! ^= 0x10;
      expectPickleError(() => restore.account(bytes.toString('base64')));
    }
    expectTriturusError(() => restore.account(42 as unknown as string), TriturusError, 'INVALID_ARGUMENT');
  });

  it('authentic bodies that are truncated, extended or unknown-schema: PickleError', () => {
    for (const [kind, pickle, fromPickle] of [
      [PICKLE_KIND_ACCOUNT, accountPickle, restore.account],
      [PICKLE_KIND_OLM_SESSION, sessionPickle, restore.session],
    ] as const) {
      const body = openPickleBody(pickle, PICKLE_KEY).body;
      // The test's own sealing is right: the untouched body opens.
      expect(() => fromPickle(sealPickleBody(kind, body, PICKLE_KEY))).not.toThrow();
      for (let n = 0; n < body.length; n++) {
        expectPickleError(
          () => fromPickle(sealPickleBody(kind, body.subarray(0, n), PICKLE_KEY)),
          n === 0 ? undefined : 'PICKLE_INVALID',
        );
      }
      expectPickleError(() => fromPickle(sealPickleBody(kind, concat(body, [0]), PICKLE_KEY)), 'PICKLE_INVALID');
      // The schema after the current one (account 1, session 2) is unknown.
      const schema = body.slice();
      schema[0] = body[0]! + 1;
      expectPickleError(() => fromPickle(sealPickleBody(kind, schema, PICKLE_KEY)), 'PICKLE_UNSUPPORTED_VERSION');
    }
  });

  it('authentic account bodies with impossible contents: PICKLE_INVALID', () => {
    const body = openPickleBody(accountPickle, PICKLE_KEY).body;
    const parsed = parseAccountBody(body);
    // Signing key form other than seed (0) or expanded (1).
    const form = body.slice();
    form[1] = 2;
    expectPickleError(() => restore.account(sealPickleBody(PICKLE_KIND_ACCOUNT, form, PICKLE_KEY)), 'PICKLE_INVALID');
    // One-time key count above 5000 (offset: schema, form, seed 32, public 32, identity 64, next id 8).
    const countOffset = 2 + 32 + 32 + 64 + 8;
    expect(new DataView(body.buffer, body.byteOffset).getUint32(countOffset)).toBe(parsed.oneTimeKeys.length);
    const count = body.slice();
    new DataView(count.buffer).setUint32(countOffset, 5001);
    expectPickleError(() => restore.account(sealPickleBody(PICKLE_KIND_ACCOUNT, count, PICKLE_KEY)), 'PICKLE_INVALID');
    // A "published" flag that is not a boolean (first one-time key: after its u64 id).
    const flag = body.slice();
    flag[countOffset + 4 + 8] = 7;
    expectPickleError(() => restore.account(sealPickleBody(PICKLE_KIND_ACCOUNT, flag, PICKLE_KEY)), 'PICKLE_INVALID');
  });

  it('authentic session bodies with impossible contents: PICKLE_INVALID', () => {
    const pairWithChains = makePair();
    pairWithChains.aliceSession.encrypt('skipped');
    pairWithChains.bobSession.decrypt(pairWithChains.aliceSession.encrypt('x'));
    const body = sessionBody(pairWithChains.bobSession);
    const parsed = parseSessionBody(body);
    expect(parsed.sender).toBeUndefined();
    expect(parsed.receivers.length).toBe(1);
    // Config version 3.
    const version = body.slice();
    version[1] = 3;
    expectPickleError(
      () => restore.session(sealPickleBody(PICKLE_KIND_OLM_SESSION, version, PICKLE_KEY)),
      'PICKLE_INVALID',
    );
    // Receiver count (after schema, version, flag, 3 keys, root, sender flag) above 5.
    const receiversOffset = 3 + 96 + 32 + 1;
    expect(body[receiversOffset]).toBe(1);
    const receivers = body.slice();
    receivers[receiversOffset] = 6;
    expectPickleError(
      () => restore.session(sealPickleBody(PICKLE_KIND_OLM_SESSION, receivers, PICKLE_KEY)),
      'PICKLE_INVALID',
    );
    // Skipped-key count above 40 (after the chain's ratchet key, chain key and index).
    const skippedOffset = receiversOffset + 1 + 32 + 32 + 4;
    expect(body[skippedOffset]).toBe(1);
    const skipped = body.slice();
    skipped[skippedOffset] = 41;
    expectPickleError(
      () => restore.session(sealPickleBody(PICKLE_KIND_OLM_SESSION, skipped, PICKLE_KEY)),
      'PICKLE_INVALID',
    );
    // A received-message flag that is not a boolean.
    const flag = body.slice();
    flag[2] = 2;
    expectPickleError(
      () => restore.session(sealPickleBody(PICKLE_KIND_OLM_SESSION, flag, PICKLE_KEY)),
      'PICKLE_INVALID',
    );
  });
});
