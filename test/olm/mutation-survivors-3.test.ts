/**
 * Tests for the Olm mutants that survived the runs after the split of account.ts and session.ts
 * (test/MUTATION.md, "Olm survivors after the third run"): behaviour the API promises that no test
 * pinned. Both backends.
 * - every refusal names what was wrong: its message matches a key word (the field, the argument,
 *   the limit), not the whole prose (`expectRefusal`);
 * - message decoding at the boundaries: an empty message, one too short for its MAC, a field sent
 *   again with the wrong wire type after the right one, defensive copies of inputs and results;
 * - the internal `toParts`/`fromParts` of Account and Session: round trips (seed and expanded signing
 *   keys, fallback keys, skipped keys, with and without a sending chain), the parts are copies, and
 *   `fromParts` keeps the last five receiving chains;
 * - hand-built session pickles beyond each bound (receiver chains, skipped keys, dropped chains,
 *   index ranges);
 * - a session with no chain to send on, `free()` twice.
 */

import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Account, type AccountKeys, keyIdToString, MAX_ONE_TIME_KEYS } from '../../src/olm/account.js';
import { SessionConfig } from '../../src/olm/config.js';
import {
  type IndexRanges,
  inRanges,
  MAX_INDEX_RANGES,
  NO_RANGES,
  rangesAreValid,
  withRange,
} from '../../src/olm/index-ranges.js';
import { Message, olmMessageFromParts, PreKeyMessage } from '../../src/olm/messages.js';
import { MAX_MESSAGE_GAP, MAX_RECEIVER_CHAINS, MAX_SKIPPED_KEYS_PER_CHAIN, Session } from '../../src/olm/session.js';
import {
  accountBody,
  bytesField,
  concat,
  encodeSessionBody,
  expectRefusal,
  makePair,
  oneTimeKeyOf,
  PICKLE_KEY,
  PICKLE_KIND_ACCOUNT,
  PICKLE_KIND_OLM_SESSION,
  parseAccountBody,
  parseSessionBody,
  sealPickleBody,
  sessionBody,
  text,
  varintField,
} from './helpers.js';

/** A normal message rebuilt from its fields, with `extra` fields before the MAC (left as it was). */
function withExtraFields(message: Message, ...extra: Uint8Array[]): Uint8Array {
  const bytes = message.toBytes();
  const macLength = message.mac.length;
  return concat(bytes.subarray(0, bytes.length - macLength), ...extra, bytes.subarray(bytes.length - macLength));
}

/** A normal message with its fields replaced by `fields` (the MAC bytes kept, so it no longer verifies). */
function rebuilt(message: Message, fields: Uint8Array[]): Uint8Array {
  return concat([message.version], ...fields, message.mac);
}

function fieldsOf(message: Message): { ratchet: Uint8Array; index: Uint8Array; ciphertext: Uint8Array } {
  return {
    ratchet: bytesField(1, message.ratchetKey.toBytes()),
    index: varintField(2, message.chainIndex),
    ciphertext: bytesField(4, message.ciphertext),
  };
}

describe('message decoding: refusals name what was wrong', () => {
  it('Message.fromBytes: not bytes, empty, too short for its MAC, a missing field, a short key, a 33-bit index', () => {
    const { bobSession } = makePair();
    const message = bobSession.encrypt('reply') as Message;
    const f = fieldsOf(message);
    expectRefusal(() => Message.fromBytes('AwoA' as never), 'INVALID_ARGUMENT', /must be bytes/);
    expectRefusal(() => Message.fromBytes(new Uint8Array(0)), 'MESSAGE_MALFORMED', /empty/);
    // One byte (a known version): too short for its MAC, not "empty".
    expectRefusal(() => Message.fromBytes(Uint8Array.of(3)), 'MESSAGE_MALFORMED', /MAC/);
    // One byte of an unknown version: the version is what is wrong.
    expectRefusal(() => Message.fromBytes(Uint8Array.of(9)), 'MESSAGE_UNSUPPORTED_VERSION', /version 9/);
    expectRefusal(() => Message.fromBytes(new Uint8Array(8)), 'MESSAGE_UNSUPPORTED_VERSION', /version 0/);
    expectRefusal(() => Message.fromBytes(Uint8Array.of(3, 1, 2, 3, 4, 5, 6, 7)), 'MESSAGE_MALFORMED', /MAC/);
    expectRefusal(() => Message.fromBytes(new Uint8Array(32).fill(4)), 'MESSAGE_MALFORMED', /MAC/);
    // Exactly the version and the MAC: no fields at all, so the fields are what is missing.
    for (const [version, macLength] of [
      [3, 8],
      [4, 32],
    ]) {
      const bare = concat([version!], new Uint8Array(macLength!));
      expectRefusal(() => Message.fromBytes(bare), 'MESSAGE_MISSING_FIELD', /ratchet key, chain index or ciphertext/);
    }
    expectRefusal(
      () => Message.fromBytes(rebuilt(message, [f.ratchet, f.ciphertext])),
      'MESSAGE_MISSING_FIELD',
      /chain index/,
    );
    const shortKey = expectRefusal(
      () => Message.fromBytes(rebuilt(message, [bytesField(1, new Uint8Array(31)), f.index, f.ciphertext])),
      'MESSAGE_MALFORMED',
      /ratchet key/,
    );
    expect(shortKey.details).toEqual({ expected: 32, actual: 31 });
    expectRefusal(
      () => Message.fromBytes(rebuilt(message, [f.ratchet, varintField(2, 2 ** 32), f.ciphertext])),
      'MESSAGE_MALFORMED',
      /32 bits/,
    );
    expect(Message.fromBytes(rebuilt(message, [f.ratchet, varintField(2, 2 ** 32 - 1), f.ciphertext])).chainIndex).toBe(
      2 ** 32 - 1,
    );
  });

  it('base64 and {type, body} inputs: the refusal says which message and that bytes or base64 were expected', () => {
    expectRefusal(
      () => Message.fromBase64(7 as never),
      'INVALID_ARGUMENT',
      /^an Olm message must be bytes or a base64/,
    );
    expectRefusal(
      () => PreKeyMessage.fromBase64(7 as never),
      'INVALID_ARGUMENT',
      /^an Olm pre-key message must be bytes or a base64/,
    );
    expectRefusal(
      () => olmMessageFromParts(1, 7 as never),
      'INVALID_ARGUMENT',
      /^an Olm message must be bytes or a base64/,
    );
    expectRefusal(
      () => olmMessageFromParts(0, 7 as never),
      'INVALID_ARGUMENT',
      /^an Olm pre-key message must be bytes or a base64/,
    );
  });

  it('PreKeyMessage.fromBytes: not bytes, empty, no fields, each short key, a missing field', () => {
    const { aliceSession } = makePair();
    const first = aliceSession.encrypt('again') as PreKeyMessage;
    const keys = {
      oneTime: bytesField(1, first.oneTimeKey.toBytes()),
      base: bytesField(2, first.baseKey.toBytes()),
      identity: bytesField(3, first.identityKey.toBytes()),
      message: bytesField(4, first.message.toBytes()),
    };
    expectRefusal(() => PreKeyMessage.fromBytes(7 as never), 'INVALID_ARGUMENT', /pre-key message must be bytes/);
    expectRefusal(() => PreKeyMessage.fromBytes(new Uint8Array(0)), 'MESSAGE_MALFORMED', /empty/);
    // The version byte alone: a pre-key message with no fields (not "empty").
    expectRefusal(
      () => PreKeyMessage.fromBytes(Uint8Array.of(3)),
      'MESSAGE_MISSING_FIELD',
      /lacks a key or its message/,
    );
    expectRefusal(
      () => PreKeyMessage.fromBytes(concat([3], keys.oneTime, keys.base, keys.identity)),
      'MESSAGE_MISSING_FIELD',
      /lacks a key or its message/,
    );
    const short = bytesField(1, new Uint8Array(31));
    for (const [name, fields] of [
      ['one-time key', [short, keys.base, keys.identity, keys.message]],
      ['base key', [keys.oneTime, bytesField(2, new Uint8Array(31)), keys.identity, keys.message]],
      ['identity key', [keys.oneTime, keys.base, bytesField(3, new Uint8Array(31)), keys.message]],
    ] as const) {
      const error = expectRefusal(
        () => PreKeyMessage.fromBytes(concat([3], ...fields)),
        'MESSAGE_MALFORMED',
        new RegExp(`^${name} must be 32 bytes`),
      );
      expect(error.details).toEqual({ expected: 32, actual: 31 });
    }
  });
});

describe('message fields are read only with their wire type', () => {
  it('a normal message: a chain index sent again as bytes, a ciphertext and a ratchet key sent again as varints, are skipped', () => {
    const { aliceSession, bobSession } = makePair();
    const message = bobSession.encrypt('reply') as Message;
    // Field 2 as bytes (its content a valid field 2 varint, 7); field 4 and field 1 as varints.
    const forged = Message.fromBytes(
      withExtraFields(message, bytesField(2, Uint8Array.from(varintField(2, 7))), varintField(4, 0), varintField(1, 0)),
    );
    expect(forged.chainIndex).toBe(message.chainIndex);
    expect(forged.ciphertext).toEqual(message.ciphertext);
    expect(forged.ratchetKey.equals(message.ratchetKey)).toBe(true);
    expect(text(aliceSession.decrypt(message))).toBe('reply');
  });

  it('a pre-key message: base key, identity key and inner message sent again as varints are skipped', () => {
    const { aliceSession } = makePair();
    const first = aliceSession.encrypt('again') as PreKeyMessage;
    for (const field of [1, 2, 3, 4]) {
      const forged = PreKeyMessage.fromBytes(concat(first.toBytes(), varintField(field, 0)));
      expect(forged.oneTimeKey.equals(first.oneTimeKey)).toBe(true);
      expect(forged.baseKey.equals(first.baseKey)).toBe(true);
      expect(forged.identityKey.equals(first.identityKey)).toBe(true);
      expect(forged.message.toBytes()).toEqual(first.message.toBytes());
    }
  });
});

describe('defensive copies', () => {
  it('Message#ciphertext is a copy: changing it does not change the message', () => {
    const { aliceSession, bobSession } = makePair();
    const message = bobSession.encrypt('reply') as Message;
    const before = message.toBytes();
    message.ciphertext.fill(0);
    expect(message.toBytes()).toEqual(before);
    expect(text(aliceSession.decrypt(message))).toBe('reply');
  });

  it('PreKeyMessage keeps a copy of its input and hands out copies', () => {
    const { aliceSession } = makePair();
    const input = (aliceSession.encrypt('again') as PreKeyMessage).toBytes();
    const original = input.slice();
    const message = PreKeyMessage.fromBytes(input);
    input.fill(0);
    expect(message.toBytes()).toEqual(original);
    message.toBytes().fill(0);
    expect(message.toBytes()).toEqual(original);
    expect(message.toBase64()).toBe(Buffer.from(original).toString('base64').replace(/=+$/, ''));
  });
});

describe('SessionConfig', () => {
  it('toString names the version', () => {
    expect(String(SessionConfig.version1())).toBe('SessionConfig(version 1)');
    expect(String(SessionConfig.version2())).toBe('SessionConfig(version 2)');
  });
});

describe('account refusals name what was wrong', () => {
  it('signing, outbound and inbound sessions', () => {
    const { alice, bob, aliceSession } = makePair();
    expectRefusal(() => alice.sign(7 as never), 'INVALID_ARGUMENT', /^message must be a string or a Uint8Array/);
    const key = oneTimeKeyOf(bob);
    expectRefusal(
      () => alice.createOutboundSession({} as never, bob.curve25519Key, key),
      'INVALID_ARGUMENT',
      /SessionConfig/,
    );
    expectRefusal(
      () => alice.createOutboundSession(SessionConfig.version1(), 'key' as never, key),
      'INVALID_ARGUMENT',
      /identity and one-time keys/,
    );
    const first = aliceSession.encrypt('again') as PreKeyMessage;
    expectRefusal(() => bob.createInboundSession('key' as never, first), 'INVALID_ARGUMENT', /identity key/);
    expectRefusal(
      () => bob.createInboundSession(alice.curve25519Key, {} as never),
      'INVALID_ARGUMENT',
      /PreKeyMessage/,
    );
    expectRefusal(
      () => bob.createInboundSession(bob.curve25519Key, first),
      'SESSION_MISMATCH',
      /not sent by the given identity key/,
    );
    // The one-time key was used up by the first message.
    expectRefusal(() => bob.createInboundSession(alice.curve25519Key, first), 'ONE_TIME_KEY_UNKNOWN', /one-time key/);
  });

  it('an account pickle with an unknown signing key form says so', () => {
    const body = accountBody(Account.create());
    body[1] = 2;
    expectRefusal(
      () => Account.fromPickle(sealPickleBody(PICKLE_KIND_ACCOUNT, body, PICKLE_KEY), PICKLE_KEY),
      'PICKLE_INVALID',
      /signing key form/,
    );
  });
});

describe('Account toParts and fromParts', () => {
  /** An account with published and unpublished one-time keys, a current and a previous fallback key. */
  function busyAccount(account: Account): Account {
    account.generateOneTimeKeys(3);
    account.generateFallbackKey();
    account.markKeysAsPublished();
    account.generateOneTimeKeys(2);
    account.generateFallbackKey();
    return account;
  }

  function expectSameAccount(copy: Account, account: Account): void {
    expect(copy.curve25519Key.equals(account.curve25519Key)).toBe(true);
    expect(copy.ed25519Key.equals(account.ed25519Key)).toBe(true);
    expect(copy.sign('same').toBase64()).toBe(account.sign('same').toBase64());
    expect([...copy.oneTimeKeys].map(([id, k]) => [id, k.toBase64()])).toEqual(
      [...account.oneTimeKeys].map(([id, k]) => [id, k.toBase64()]),
    );
    expect(copy.storedOneTimeKeyCount).toBe(account.storedOneTimeKeyCount);
    expect(copy.currentFallbackKey?.keyId).toBe(account.currentFallbackKey?.keyId);
    expect(copy.currentFallbackKey?.key.toBase64()).toBe(account.currentFallbackKey?.key.toBase64());
    // Same pickle body apart from nothing: every secret, flag and counter made it across.
    expect(parseAccountBody(accountBody(copy))).toEqual(parseAccountBody(accountBody(account)));
  }

  it('a round trip keeps every key, flag and the key counter (seed-based signing key)', () => {
    const account = busyAccount(Account.create());
    const parts = account.toParts();
    expect(parts.signingKey.seedBytes()).toEqual(parseAccountBody(accountBody(account)).signingSecret);
    expect(parts.oneTimeKeys.map((k) => [k.id, k.published])).toEqual([
      [0, true],
      [1, true],
      [2, true],
      [4, false],
      [5, false],
    ]);
    expect(parts.fallbackKey).toMatchObject({ id: 6, published: false });
    expect(parts.previousFallbackKey).toMatchObject({ id: 3, published: true });
    expect(parts.nextKeyId).toBe(7);
    const copy = Account.fromParts(parts);
    expectSameAccount(copy, account);
    // The next key ids continue from the same counter.
    expect([...copy.generateOneTimeKeys(1).created]).toHaveLength(1);
    account.generateOneTimeKeys(1);
    expect([...copy.oneTimeKeys.keys()]).toEqual([...account.oneTimeKeys.keys()]);
    // The previous fallback key made it across too.
    expect(copy.forgetFallbackKey()).toBe(true);
    expect(copy.forgetFallbackKey()).toBe(false);
  });

  it('an account without fallback keys has none in its parts', () => {
    const account = Account.create();
    account.generateOneTimeKeys(1);
    const parts = account.toParts();
    expect(parts.fallbackKey).toBeUndefined();
    expect(parts.previousFallbackKey).toBeUndefined();
    const copy = Account.fromParts(parts);
    expect(copy.currentFallbackKey).toBeUndefined();
    expect(copy.forgetFallbackKey()).toBe(false);
    expectSameAccount(copy, account);
  });

  it("an account with libolm's expanded signing key keeps that form (no seed)", () => {
    const account = busyAccount(
      Account.fromKeys({
        curve25519Secret: Uint8Array.from(randomBytes(32)),
        ed25519Expanded: Uint8Array.from(randomBytes(64)),
      }),
    );
    const parts = account.toParts();
    expect(parts.signingKey.seedBytes()).toBeUndefined();
    const copy = Account.fromParts(parts);
    expect(parseAccountBody(accountBody(copy)).signingSecret).toHaveLength(64);
    expectSameAccount(copy, account);
  });

  it('the parts are copies: freeing the account leaves them usable, and a session made from them works', () => {
    const account = busyAccount(Account.create());
    const signature = account.sign('before').toBase64();
    const parts = account.toParts();
    const oneTime = [...account.oneTimeKeys.values()][0]!;
    const fallback = account.currentFallbackKey!.key;
    account.free();
    const copy = Account.fromParts(parts);
    expect(copy.sign('before').toBase64()).toBe(signature);
    // A pre-key message to a one-time key, and one to the fallback key, both decrypt with the copy.
    for (const key of [oneTime, fallback]) {
      const alice = Account.create();
      const outbound = alice.createOutboundSession(SessionConfig.version1(), copy.curve25519Key, key);
      const first = outbound.encrypt('hello') as PreKeyMessage;
      expect(text(copy.createInboundSession(alice.curve25519Key, first).plaintext)).toBe('hello');
    }
  });

  it('a freed account has no parts', () => {
    const account = Account.create();
    account.free();
    expectRefusal(() => account.toParts(), 'SESSION_NOT_FOUND', /freed/);
  });
});

/** Alice and Bob after a few messages each way, with Bob's messages 1 and 2 not yet delivered. */
function conversation() {
  const pair = makePair();
  const { aliceSession, bobSession } = pair;
  const bobMessages = ['b0', 'b1', 'b2', 'b3'].map((m) => bobSession.encrypt(m));
  aliceSession.decrypt(bobMessages[0]!);
  aliceSession.decrypt(bobMessages[3]!);
  return { ...pair, bobMessages };
}

function sessionCopy(session: Session): Session {
  const { init, sender, receivers } = session.toParts();
  return Session.fromParts(init, sender, receivers);
}

describe('Session toParts and fromParts', () => {
  it('a round trip keeps the keys, chains and skipped keys: the copy goes on with the conversation', () => {
    const { aliceSession, bobSession, bobMessages } = conversation();
    const copy = sessionCopy(aliceSession);
    expect(copy.sessionId).toBe(aliceSession.sessionId);
    expect(copy.hasReceivedMessage).toBe(true);
    expect(copy.config).toBe(aliceSession.config);
    // Skipped keys: the two messages not yet delivered.
    expect(text(copy.decrypt(bobMessages[2]!))).toBe('b2');
    expect(text(copy.decrypt(bobMessages[1]!))).toBe('b1');
    // The sending chain, and the receiving chain's position.
    expect(text(bobSession.decrypt(copy.encrypt('from the copy')))).toBe('from the copy');
    expect(text(copy.decrypt(bobSession.encrypt('b4')))).toBe('b4');
    const parts = aliceSession.toParts();
    expect(parts.receivers.map((r) => [r.index, r.skipped.map((s) => s.index)])).toEqual([[4, [1, 2]]]);
  });

  it('a session with no sending chain (an inbound one before it replied) has none in its parts', () => {
    const { aliceSession, bobSession } = makePair();
    expect(bobSession.toParts().sender).toBeUndefined();
    expect(aliceSession.toParts().sender).toBeDefined();
    expect(aliceSession.toParts().sender!.index).toBe(1);
    const copy = sessionCopy(bobSession);
    expect(copy.toParts().sender).toBeUndefined();
    expect(text(aliceSession.decrypt(copy.encrypt('reply')))).toBe('reply');
  });

  it('the parts are copies: changing or wiping them leaves the session as it was', () => {
    const { aliceSession, bobSession, bobMessages } = conversation();
    const pickled = sessionBody(aliceSession);
    const parts = aliceSession.toParts();
    parts.init.rootKey.fill(0);
    parts.sender?.chainKey.fill(0);
    parts.sender?.ratchetKey.wipe();
    for (const r of parts.receivers) {
      r.ratchetKey.fill(0);
      r.chainKey.fill(0);
      for (const s of r.skipped) s.messageKey.fill(0);
    }
    expect(sessionBody(aliceSession)).toEqual(pickled);
    expect(text(aliceSession.decrypt(bobMessages[1]!))).toBe('b1');
    expect(text(bobSession.decrypt(aliceSession.encrypt('still here')))).toBe('still here');
  });

  it('a copy outlives the freed original', () => {
    const { aliceSession, bobSession, bobMessages } = conversation();
    const parts = aliceSession.toParts();
    aliceSession.free();
    const copy = Session.fromParts(parts.init, parts.sender, parts.receivers);
    expect(text(copy.decrypt(bobMessages[2]!))).toBe('b2');
    expect(text(bobSession.decrypt(copy.encrypt('after free')))).toBe('after free');
    expectRefusal(() => aliceSession.toParts(), 'SESSION_NOT_FOUND', /freed/);
  });

  it('fromParts keeps the last five receiving chains', () => {
    const { aliceSession, bobSession } = makePair();
    // Six ratchet turns: Alice receives on six chains; the session itself keeps five.
    for (let i = 0; i < MAX_RECEIVER_CHAINS + 1; i++) {
      aliceSession.decrypt(bobSession.encrypt(`b${i}`));
      bobSession.decrypt(aliceSession.encrypt(`a${i}`));
    }
    const parts = aliceSession.toParts();
    expect(parts.receivers).toHaveLength(MAX_RECEIVER_CHAINS);
    // Given one chain more, fromParts keeps the newest five (in order).
    const extra = { ...parts.receivers[0]!, ratchetKey: Uint8Array.from(randomBytes(32)) };
    const session = Session.fromParts(parts.init, parts.sender, [extra, ...parts.receivers]);
    expect(session.toParts().receivers.map((r) => r.ratchetKey)).toEqual(parts.receivers.map((r) => r.ratchetKey));
  });
});

describe('session refusals name what was wrong', () => {
  it('arguments: the message to match, the plaintext, the message to decrypt', () => {
    const { aliceSession } = makePair();
    expectRefusal(() => aliceSession.matchesInboundSession({} as never), 'INVALID_ARGUMENT', /PreKeyMessage/);
    expectRefusal(() => aliceSession.encrypt(7 as never), 'INVALID_ARGUMENT', /plaintext/);
    expectRefusal(() => aliceSession.decrypt({} as never), 'INVALID_ARGUMENT', /Olm Message or PreKeyMessage/);
  });

  it('a message of the other protocol version names both versions', () => {
    const v1 = makePair();
    const v2 = makePair(SessionConfig.version2());
    const error = expectRefusal(
      () => v1.aliceSession.decrypt(v2.bobSession.encrypt('v4')),
      'MESSAGE_UNSUPPORTED_VERSION',
      /config v1\).*version 4/,
    );
    expect(error.details).toEqual({ expected: 3, actual: 4 });
    expect(
      expectRefusal(
        () => v2.aliceSession.decrypt(v1.bobSession.encrypt('v3')),
        'MESSAGE_UNSUPPORTED_VERSION',
        /version 3/,
      ).details,
    ).toEqual({ expected: 4, actual: 3 });
  });

  it('MAC, UTF-8, an unknown chain with nothing to ratchet from, a new chain too far ahead', () => {
    const { aliceSession, bobSession } = makePair();
    const reply = bobSession.encrypt('reply') as Message;
    const bytes = reply.toBytes();
    bytes[bytes.length - 1]! ^= 1;
    expectRefusal(() => aliceSession.decrypt(Message.fromBytes(bytes)), 'MAC_MISMATCH', /MAC/);
    expectRefusal(
      () => aliceSession.decryptText(bobSession.encrypt(Uint8Array.of(0xff, 0xfe))),
      'JSON_INVALID',
      /UTF-8/,
    );
    // Bob has not replied on a chain of his own yet: a message on a chain he does not know.
    const otherReply = makePair().bobSession.encrypt('y') as Message;
    expectRefusal(() => makePair().bobSession.decrypt(otherReply), 'MESSAGE_KEY_MISSING', /unknown ratchet key/);
    // A message on a chain Alice has not seen yet (the forged reply was refused), its index past the gap limit.
    const ahead = rebuilt(reply, [
      fieldsOf(reply).ratchet,
      varintField(2, MAX_MESSAGE_GAP + 1),
      fieldsOf(reply).ciphertext,
    ]);
    const gap = expectRefusal(
      () => aliceSession.decrypt(Message.fromBytes(ahead)),
      'MESSAGE_GAP_TOO_LARGE',
      /new chain/,
    );
    expect(gap.details).toEqual({ messageIndex: MAX_MESSAGE_GAP + 1, maxGap: MAX_MESSAGE_GAP });
  });

  it('a session with no chain at all (no sending chain, no receiving chain) cannot encrypt', () => {
    const { aliceSession } = makePair();
    const { init } = aliceSession.toParts();
    const empty = Session.fromParts(init, undefined, []);
    expectRefusal(() => empty.encrypt('nothing to send on'), 'SESSION_NOT_FOUND', /no chain to send on/);
  });

  it('free() twice is harmless; the session stays unusable', () => {
    const { aliceSession } = conversation();
    aliceSession.free();
    expect(() => aliceSession.free()).not.toThrow();
    expectRefusal(() => aliceSession.encrypt('x'), 'SESSION_NOT_FOUND', /freed/);
  });
});

describe('hand-built session pickles beyond each bound', () => {
  function load(body: Uint8Array): Session {
    return Session.fromPickle(sealPickleBody(PICKLE_KIND_OLM_SESSION, body, PICKLE_KEY), PICKLE_KEY);
  }

  it('the body encoder is faithful: a real body re-encoded loads and goes on', () => {
    const { aliceSession, bobSession, bobMessages } = conversation();
    const body = sessionBody(aliceSession);
    expect(encodeSessionBody(parseSessionBody(body))).toEqual(body);
    const loaded = load(encodeSessionBody(parseSessionBody(body)));
    expect(text(loaded.decrypt(bobMessages[1]!))).toBe('b1');
    expect(text(bobSession.decrypt(loaded.encrypt('x')))).toBe('x');
  });

  it('receiver chains, skipped keys, dropped chains and index ranges: at the bound loads, beyond it is refused', () => {
    const { aliceSession } = conversation();
    const body = parseSessionBody(sessionBody(aliceSession));
    const chain = body.receivers[0]!;
    const key = () => Uint8Array.from(randomBytes(32));
    const chains = (n: number) => Array.from({ length: n }, () => ({ ...chain, ratchetKey: key() }));
    expect(load(encodeSessionBody({ ...body, receivers: chains(MAX_RECEIVER_CHAINS) }))).toBeInstanceOf(Session);
    expectRefusal(
      () => load(encodeSessionBody({ ...body, receivers: chains(MAX_RECEIVER_CHAINS + 1) })),
      'PICKLE_INVALID',
      /receiver chains/,
    );

    const skipped = (n: number) => Array.from({ length: n }, (_, i) => ({ index: i, messageKey: key() }));
    const withSkipped = (n: number) => ({
      ...body,
      receivers: [{ ...chain, index: 100, skipped: skipped(n), lost: [] as [number, number][] }],
    });
    expect(load(encodeSessionBody(withSkipped(MAX_SKIPPED_KEYS_PER_CHAIN)))).toBeInstanceOf(Session);
    expectRefusal(
      () => load(encodeSessionBody(withSkipped(MAX_SKIPPED_KEYS_PER_CHAIN + 1))),
      'PICKLE_INVALID',
      /skipped keys/,
    );

    const dropped = (n: number) =>
      Array.from({ length: n }, () => ({ ratchetKey: key(), nextIndex: 10, lost: [[2, 4]] as [number, number][] }));
    expect(load(encodeSessionBody({ ...body, dropped: dropped(8) }))).toBeInstanceOf(Session);
    expectRefusal(() => load(encodeSessionBody({ ...body, dropped: dropped(9) })), 'PICKLE_INVALID', /dropped chains/);

    const ranges = (n: number) => Array.from({ length: n }, (_, i) => [3 * i, 3 * i + 1] as [number, number]);
    const withRanges = (n: number) => ({
      ...body,
      receivers: [{ ...chain, index: 100, skipped: [], lost: ranges(n) }],
    });
    expect(load(encodeSessionBody(withRanges(16)))).toBeInstanceOf(Session);
    expectRefusal(() => load(encodeSessionBody(withRanges(17))), 'PICKLE_INVALID', /too many index ranges/);
    expectRefusal(
      () => load(encodeSessionBody({ ...body, receivers: [{ ...chain, index: 100, skipped: [], lost: [[5, 5]] }] })),
      'PICKLE_INVALID',
      /malformed index ranges/,
    );
  });
});

describe('Account.fromKeys: each refusal names the field in its message and details', () => {
  const good = (): AccountKeys => ({
    ed25519Seed: Uint8Array.from(randomBytes(32)),
    curve25519Secret: Uint8Array.from(randomBytes(32)),
  });
  const key = () => Uint8Array.from(randomBytes(32));

  it('INVALID_ARGUMENT: what is missing or of the wrong type', () => {
    const cases: [unknown, RegExp, Record<string, unknown>][] = [
      [null, /^expected an object of key bytes/, {}],
      ['keys', /^expected an object of key bytes/, {}],
      [{}, /^curve25519Secret must be a Uint8Array/, { field: 'curve25519Secret' }],
      [{ ...good(), ed25519Seed: undefined }, /exactly one of ed25519Seed .* and ed25519Expanded/, {}],
      [
        { ...good(), ed25519Expanded: new Uint8Array(64).fill(1) },
        /exactly one of ed25519Seed .* and ed25519Expanded/,
        {},
      ],
      [{ ...good(), ed25519Seed: new ArrayBuffer(32) }, /^ed25519Seed must be a Uint8Array/, { field: 'ed25519Seed' }],
      [
        { ...good(), ed25519PublicKey: 'abc' },
        /^ed25519PublicKey must be a Ed25519PublicKey or a Uint8Array/,
        { field: 'ed25519PublicKey' },
      ],
      [
        { ...good(), curve25519PublicKey: 7 },
        /^curve25519PublicKey must be a Curve25519PublicKey or a Uint8Array/,
        { field: 'curve25519PublicKey' },
      ],
      [{ ...good(), oneTimeKeys: key() }, /^oneTimeKeys must be an array/, { field: 'oneTimeKeys' }],
      [
        { ...good(), oneTimeKeys: [{ secret: key() }, null] },
        /^oneTimeKeys\[1\] must be an object \{ secret, published\? \}/,
        { field: 'oneTimeKeys[1]' },
      ],
      [
        { ...good(), oneTimeKeys: [{ secret: key(), published: 'yes' }] },
        /^oneTimeKeys\[0\]\.published must be a boolean/,
        { field: 'oneTimeKeys[0]' },
      ],
      [{ ...good(), fallbackKey: 'key' }, /^fallbackKey must be an object/, { field: 'fallbackKey' }],
      [{ ...good(), fallbackKey: {} }, /^fallbackKey\.secret must be a Uint8Array/, { field: 'fallbackKey.secret' }],
    ];
    for (const [keys, names, details] of cases) {
      const error = expectRefusal(() => Account.fromKeys(keys as AccountKeys), 'INVALID_ARGUMENT', names);
      expect(error.details, String(names)).toEqual(details);
    }
    const tooMany = expectRefusal(
      () => Account.fromKeys({ ...good(), oneTimeKeys: new Array(MAX_ONE_TIME_KEYS + 1).fill({ secret: key() }) }),
      'INVALID_ARGUMENT',
      new RegExp(`at most ${MAX_ONE_TIME_KEYS} one-time keys`),
    );
    expect(tooMany.details).toEqual({
      field: 'oneTimeKeys',
      expected: MAX_ONE_TIME_KEYS,
      actual: MAX_ONE_TIME_KEYS + 1,
    });
  });

  it('KEY_INVALID_LENGTH and KEY_INVALID: the field and what is wrong with it', () => {
    expectRefusal(
      () => Account.fromKeys({ ...good(), curve25519Secret: new Uint8Array(31).fill(1) }),
      'KEY_INVALID_LENGTH',
      /^curve25519Secret must be 32 bytes/,
    );
    expectRefusal(
      () => Account.fromKeys({ curve25519Secret: key(), ed25519Expanded: new Uint8Array(32).fill(1) }),
      'KEY_INVALID_LENGTH',
      /^ed25519Expanded must be 64 bytes/,
    );
    expectRefusal(
      () => Account.fromKeys({ ...good(), ed25519PublicKey: new Uint8Array(31) }),
      'KEY_INVALID_LENGTH',
      /^ed25519PublicKey must be 32 bytes/,
    );
    expectRefusal(
      () => Account.fromKeys({ ...good(), curve25519Secret: new Uint8Array(32) }),
      'KEY_INVALID',
      /^curve25519Secret is all zeros/,
    );
    const l = Buffer.from('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010', 'hex');
    const zeroModL = new Uint8Array(64).fill(7);
    zeroModL.set(l, 0);
    expectRefusal(
      () => Account.fromKeys({ curve25519Secret: key(), ed25519Expanded: zeroModL }),
      'KEY_INVALID',
      /0 mod L/,
    );
    const other = Account.create();
    expectRefusal(
      () => Account.fromKeys({ ...good(), ed25519PublicKey: other.ed25519Key }),
      'KEY_INVALID',
      /^ed25519PublicKey is not the public key of the given Ed25519 secret/,
    );
    expectRefusal(
      () => Account.fromKeys({ ...good(), curve25519PublicKey: other.curve25519Key }),
      'KEY_INVALID',
      /^curve25519PublicKey is not the public key of curve25519Secret/,
    );
    const otk = key();
    expectRefusal(
      () => Account.fromKeys({ ...good(), oneTimeKeys: [{ secret: otk }], fallbackKey: { secret: otk.slice() } }),
      'KEY_INVALID',
      /^fallbackKey repeats another Curve25519 key/,
    );
  });

  it('matching public keys (as objects or bytes) are accepted; published flags and ids are kept', () => {
    const keys = good();
    const reference = Account.fromKeys(keys);
    for (const [curve, ed] of [
      [reference.curve25519Key, reference.ed25519Key],
      [reference.curve25519Key.toBytes(), reference.ed25519Key.toBytes()],
    ] as const) {
      const account = Account.fromKeys({
        ...keys,
        curve25519PublicKey: curve,
        ed25519PublicKey: ed,
        oneTimeKeys: [{ secret: key(), published: true }, { secret: key() }],
        fallbackKey: { secret: key(), published: false },
      });
      expect(account.curve25519Key.equals(reference.curve25519Key)).toBe(true);
      expect([...account.oneTimeKeys.keys()]).toEqual([keyIdToString(1)]);
      expect(account.fallbackKey.has(keyIdToString(2))).toBe(true);
      expect(account.toParts().nextKeyId).toBe(3);
    }
    expect(Account.fromKeys({ ...keys, fallbackKey: { secret: key() } }).toParts().nextKeyId).toBe(1);
  });
});

describe('index ranges (the record of given-up message keys) against a model', () => {
  /** The model: a set of indices; after each addition, canonical ranges, the lowest two merged beyond the bound. */
  function modelAdd(ranges: [number, number][], from: number, to: number): [number, number][] {
    if (from >= to) return ranges;
    const set = new Set<number>();
    for (const [a, b] of ranges) for (let i = a; i < b; i++) set.add(i);
    for (let i = from; i < to; i++) set.add(i);
    const sorted = [...set].sort((x, y) => x - y);
    const out: [number, number][] = [];
    for (const i of sorted) {
      const last = out[out.length - 1];
      if (last !== undefined && last[1] === i) last[1] = i + 1;
      else out.push([i, i + 1]);
    }
    while (out.length > MAX_INDEX_RANGES) out.splice(0, 2, [out[0]![0], out[1]![1]]);
    return out;
  }

  it('withRange, inRanges and rangesAreValid agree with the model on random additions', () => {
    // A fixed xorshift sequence: the same cases on every run and both backends.
    let seed = 0x2545f491;
    const next = (n: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    let full = 0;
    for (let run = 0; run < 25; run++) {
      let ranges: IndexRanges = NO_RANGES;
      let model: [number, number][] = [];
      for (let step = 0; step < 50; step++) {
        const from = next(200);
        const to = from + next(4) - (step % 7 === 0 ? 2 : 0);
        ranges = withRange(ranges, from, to);
        model = modelAdd(model, from, to);
        if (model.length === MAX_INDEX_RANGES) full++;
        expect(ranges).toEqual(model.flat());
        expect(rangesAreValid(ranges, 204)).toBe(true);
        const members = Array.from({ length: 205 }, (_, i) => inRanges(ranges, i));
        expect(members).toEqual(Array.from({ length: 205 }, (_, i) => model.some(([a, b]) => i >= a && i < b)));
      }
      // Below the limit only.
      const top = ranges[ranges.length - 1];
      if (top !== undefined) expect(rangesAreValid(ranges, top - 1)).toBe(false);
    }
    // The bound was reached (so merges were checked), many times.
    expect(full).toBeGreaterThan(300);
  });

  it('rangesAreValid refuses odd lengths, too many ranges, empty, unsorted, overlapping or touching ranges', () => {
    expect(rangesAreValid([], 0)).toBe(true);
    expect(rangesAreValid([0, 1], 1)).toBe(true);
    expect(rangesAreValid([0, 1], 0)).toBe(false);
    expect(rangesAreValid([0, 1, 2], 5)).toBe(false);
    const many = Array.from({ length: MAX_INDEX_RANGES + 1 }, (_, i) => [3 * i, 3 * i + 1]).flat();
    expect(rangesAreValid(many.slice(0, 2 * MAX_INDEX_RANGES), 1000)).toBe(true);
    expect(rangesAreValid(many, 1000)).toBe(false);
    for (const bad of [
      [3, 3],
      [4, 3],
      [5, 6, 1, 2],
      [1, 4, 3, 6],
      [1, 3, 3, 6],
    ]) {
      expect(rangesAreValid(bad, 100), String(bad)).toBe(false);
    }
    expect(rangesAreValid([1, 3, 4, 6], 100)).toBe(true);
  });
});

describe('lost and replayed messages: the refusal says which, and why', () => {
  it('on a kept chain: skipped past or evicted (not kept) against already decrypted', () => {
    const { aliceSession, bobSession } = makePair();
    const messages = Array.from({ length: 60 }, (_, i) => aliceSession.encrypt(`m${i + 1}`));
    expect(text(bobSession.decrypt(messages[59]!))).toBe('m60'); // 1..19 stepped past, 20..59 kept
    expectRefusal(() => bobSession.decrypt(messages[0]!), 'MESSAGE_KEY_NOT_KEPT', /skipped past in a large gap/);
    expectRefusal(() => bobSession.decrypt(messages[59]!), 'MESSAGE_KEY_MISSING', /already decrypted/);
  });

  it('on a dropped chain: not kept against already decrypted, both naming the dropped chain', () => {
    const { aliceSession, bobSession } = makePair();
    const first = bobSession.encrypt('b0');
    const undelivered = bobSession.encrypt('b1');
    const late = bobSession.encrypt('b2');
    expect(text(aliceSession.decrypt(late))).toBe('b2');
    for (let i = 0; i < MAX_RECEIVER_CHAINS; i++) {
      expect(text(bobSession.decrypt(aliceSession.encrypt(`a${i}`)))).toBe(`a${i}`);
      expect(text(aliceSession.decrypt(bobSession.encrypt(`b${i}`)))).toBe(`b${i}`);
    }
    // Alice's first receiving chain (b0..b2) is dropped now: b0 and b1 were never decrypted, b2 was.
    for (const message of [first, undelivered]) {
      expectRefusal(() => aliceSession.decrypt(message), 'MESSAGE_KEY_NOT_KEPT', /receiving chain was dropped/);
    }
    expectRefusal(() => aliceSession.decrypt(late), 'MESSAGE_KEY_MISSING', /already decrypted \(its receiving chain/);
  });

  it('pickles of an unknown schema and a one-time key count out of range say what', () => {
    const { alice, aliceSession } = makePair();
    const account = accountBody(alice);
    account[0] = 7;
    expectRefusal(
      () => Account.fromPickle(sealPickleBody(PICKLE_KIND_ACCOUNT, account, PICKLE_KEY), PICKLE_KEY),
      'PICKLE_UNSUPPORTED_VERSION',
      /account pickle schema/,
    );
    const session = sessionBody(aliceSession);
    session[0] = 7;
    expectRefusal(
      () => Session.fromPickle(sealPickleBody(PICKLE_KIND_OLM_SESSION, session, PICKLE_KEY), PICKLE_KEY),
      'PICKLE_UNSUPPORTED_VERSION',
      /session pickle schema/,
    );
    expectRefusal(() => alice.generateOneTimeKeys(-1), 'INVALID_ARGUMENT', /one-time key count/);
    expectRefusal(
      () => aliceSession.matchesInboundSessionFrom('key' as never, {} as never),
      'INVALID_ARGUMENT',
      /Curve25519PublicKey/,
    );
    expectRefusal(
      () => aliceSession.matchesInboundSessionFrom(alice.curve25519Key, {} as never),
      'INVALID_ARGUMENT',
      /PreKeyMessage/,
    );
  });
});

describe('bounds, once more', () => {
  it('Account.fromKeys takes exactly MAX_ONE_TIME_KEYS one-time keys: the refusal is about the last entry, not the count', () => {
    const secret = { secret: Uint8Array.from(randomBytes(32)) };
    const keys = new Array<unknown>(MAX_ONE_TIME_KEYS).fill(secret);
    keys[MAX_ONE_TIME_KEYS - 1] = null;
    const error = expectRefusal(
      () =>
        Account.fromKeys({
          ed25519Seed: Uint8Array.from(randomBytes(32)),
          curve25519Secret: Uint8Array.from(randomBytes(32)),
          oneTimeKeys: keys as never,
        }),
      'INVALID_ARGUMENT',
      /must be an object/,
    );
    expect(error.details).toEqual({ field: `oneTimeKeys[${MAX_ONE_TIME_KEYS - 1}]` });
  });

  it('Account.fromKeys without a fallback key: the next key id follows the one-time keys', () => {
    const key = () => ({ secret: Uint8Array.from(randomBytes(32)) });
    const account = Account.fromKeys({
      ed25519Seed: Uint8Array.from(randomBytes(32)),
      curve25519Secret: Uint8Array.from(randomBytes(32)),
      oneTimeKeys: [key(), key()],
    });
    account.markKeysAsPublished();
    account.generateOneTimeKeys(1);
    expect([...account.oneTimeKeys.keys()]).toEqual([keyIdToString(2)]);
    account.generateFallbackKey();
    expect(account.currentFallbackKey?.keyId).toBe(keyIdToString(3));
  });

  it('a session at every bound (8 dropped chains, 16 ranges each) pickles back to the same body', () => {
    const { aliceSession, bobSession, bobMessages } = conversation();
    const body = parseSessionBody(sessionBody(aliceSession));
    const ranges = Array.from({ length: 16 }, (_, i) => [3 * i, 3 * i + 1] as [number, number]);
    const dropped = Array.from({ length: 8 }, () => ({
      ratchetKey: Uint8Array.from(randomBytes(32)),
      nextIndex: 100,
      lost: ranges,
    }));
    const bounded = encodeSessionBody({ ...body, dropped });
    const loaded = Session.fromPickle(sealPickleBody(PICKLE_KIND_OLM_SESSION, bounded, PICKLE_KEY), PICKLE_KEY);
    expect(sessionBody(loaded)).toEqual(bounded);
    expect(text(loaded.decrypt(bobMessages[1]!))).toBe('b1');
    expect(text(bobSession.decrypt(loaded.encrypt('at the bounds')))).toBe('at the bounds');
  });
});
