/**
 * Tests for mutants that survived the Olm mutation run (test/MUTATION.md, scope `olm`): behaviour
 * the public API promises that no test pinned. Both backends.
 * - freed accounts and sessions refuse every use (SESSION_NOT_FOUND);
 * - toJSON shapes; the brand checks behind `instanceof`;
 * - the numbers errors carry (DESIGN: "carrying numbers where useful");
 * - matchesInboundSession needs all three keys to match;
 * - a pre-key message field with the wrong wire type is not read as that field;
 * - the one-time key count's upper bound.
 */

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DecodeError, DecryptionError, SessionError, TriturusError } from '../../src/errors.js';
import { accountFromLibolmPickle } from '../../src/libolm/index.js';
import { Account, MAX_ONE_TIME_KEYS } from '../../src/olm/account.js';
import { SessionConfig } from '../../src/olm/config.js';
import { Message, olmMessageFromParts, PreKeyMessage } from '../../src/olm/messages.js';
import { MAX_MESSAGE_GAP, Session } from '../../src/olm/session.js';
import {
  accountBody,
  bytesField,
  concat,
  PICKLE_KEY,
  PICKLE_KIND_ACCOUNT,
  PICKLE_KIND_OLM_SESSION,
  sealPickleBody,
  sessionBody,
  thrown,
} from './helpers.js';

// biome-ignore lint/suspicious/noExplicitAny: vector JSON (vectors/libolm_pickles.json, made by libolm)
const libolmVectors: any = JSON.parse(
  readFileSync(new URL('../../vectors/libolm_pickles.json', import.meta.url), 'utf8'),
);

function established() {
  const alice = Account.create();
  const bob = Account.create();
  bob.generateOneTimeKeys(1);
  const [oneTimeKey] = [...bob.oneTimeKeys.values()];
  const outbound = alice.createOutboundSession(SessionConfig.version1(), bob.curve25519Key, oneTimeKey!);
  const first = outbound.encrypt('first') as PreKeyMessage;
  const { session: inbound } = bob.createInboundSession(alice.curve25519Key, first);
  return { alice, bob, outbound, inbound, first };
}

/** The error `fn` throws, which must be a TriturusError with `code`. */
function refusal(fn: () => unknown, code: string): TriturusError {
  const error = thrown(fn);
  expect(error).toBeInstanceOf(TriturusError);
  expect((error as TriturusError).code).toBe(code);
  // Every refusal explains itself (the message is prose, not pinned, but never empty).
  expect((error as TriturusError).message.length).toBeGreaterThan(10);
  return error as TriturusError;
}

describe('freed objects refuse every use', () => {
  it('a freed session: encrypt, decrypt, pickle, matchesInboundSession', () => {
    const { outbound, inbound, first } = established();
    const reply = inbound.encrypt('reply');
    outbound.free();
    for (const use of [
      () => outbound.encrypt('after free'),
      () => outbound.decrypt(reply),
      () => outbound.pickle(new Uint8Array(32)),
      () => outbound.matchesInboundSession(first),
    ]) {
      expect(refusal(use, 'SESSION_NOT_FOUND')).toBeInstanceOf(SessionError);
    }
  });

  it('a freed account: keys, signing, sessions, pickling', () => {
    const { alice, bob } = established();
    bob.free();
    for (const use of [
      () => bob.generateOneTimeKeys(1),
      () => bob.sign('x'),
      () => bob.pickle(new Uint8Array(32)),
      () => bob.createOutboundSession(SessionConfig.version1(), alice.curve25519Key, alice.curve25519Key),
    ]) {
      expect(refusal(use, 'SESSION_NOT_FOUND')).toBeInstanceOf(SessionError);
    }
  });
});

describe('JSON shapes and brand checks', () => {
  it('toJSON names the type and the public identifiers only', () => {
    const { alice, outbound } = established();
    expect(JSON.parse(JSON.stringify(alice))).toEqual({
      type: 'OlmAccount',
      curve25519: alice.curve25519Key.toBase64(),
      ed25519: alice.ed25519Key.toBase64(),
    });
    expect(JSON.parse(JSON.stringify(outbound))).toEqual({ type: 'OlmSession', sessionId: outbound.sessionId });
  });

  it('instanceof is true only for objects the classes built', () => {
    const { alice, outbound, first } = established();
    expect(alice instanceof Account).toBe(true);
    expect(outbound instanceof Session).toBe(true);
    expect(first instanceof PreKeyMessage).toBe(true);
    for (const impostor of [
      Object.create(Account.prototype),
      Object.create(Session.prototype),
      Object.create(PreKeyMessage.prototype),
      Object.create(Message.prototype),
      {},
      null,
      undefined,
      'OlmAccount',
    ]) {
      expect(impostor instanceof Account).toBe(false);
      expect(impostor instanceof Session).toBe(false);
      expect(impostor instanceof PreKeyMessage).toBe(false);
      expect(impostor instanceof Message).toBe(false);
    }
  });
});

describe('the numbers errors carry', () => {
  it('an unknown session config version and an unknown message type name the value', () => {
    expect(refusal(() => olmMessageFromParts(7 as 0, 'AA'), 'MESSAGE_MALFORMED').details).toEqual({ actual: 7 });
    expect(refusal(() => olmMessageFromParts('0' as unknown as 0, 'AA'), 'MESSAGE_MALFORMED').details).toEqual({
      actual: Number.NaN,
    });
  });

  it('a one-time key count out of range names it (NaN when it is not a number); the upper bound is MAX_ONE_TIME_KEYS', () => {
    const account = Account.create();
    const tooMany = refusal(() => account.generateOneTimeKeys(MAX_ONE_TIME_KEYS + 1), 'INVALID_ARGUMENT');
    expect(tooMany.details).toEqual({ actual: MAX_ONE_TIME_KEYS + 1 });
    expect(refusal(() => account.generateOneTimeKeys('3' as unknown as number), 'INVALID_ARGUMENT').details).toEqual({
      actual: Number.NaN,
    });
    expect(account.generateOneTimeKeys(MAX_ONE_TIME_KEYS).created).toHaveLength(MAX_ONE_TIME_KEYS);
  });

  it('unsupported message versions name the version', () => {
    const { inbound } = established();
    const reply = inbound.encrypt('x').toBytes();
    const message = reply.slice();
    message[0] = 9;
    expect(refusal(() => Message.fromBytes(message), 'MESSAGE_UNSUPPORTED_VERSION').details).toEqual({ actual: 9 });
    const preKey = established().first.toBytes();
    preKey[0] = 9;
    expect(refusal(() => PreKeyMessage.fromBytes(preKey), 'MESSAGE_UNSUPPORTED_VERSION').details).toEqual({
      actual: 9,
    });
  });

  it('a message too far ahead names its index and the limit; a replayed one names its index', () => {
    const { outbound, inbound } = established();
    const messages = Array.from({ length: 3 }, (_, i) => inbound.encrypt(`m${i}`));
    expect(outbound.decrypt(messages[2]!)).toBeDefined();
    const replayed = refusal(() => outbound.decrypt(messages[2]!), 'MESSAGE_KEY_MISSING');
    expect(replayed).toBeInstanceOf(DecryptionError);
    expect(replayed.details).toMatchObject({ messageIndex: 2 });
    // A chain index past the gap limit in a new chain: a message of Bob's next chain, index forged.
    const reply = outbound.encrypt('to Bob');
    inbound.decrypt(reply);
    const next = inbound.encrypt('new chain').toBytes();
    const forged = reforgeChainIndex(next, MAX_MESSAGE_GAP + 1);
    const gap = refusal(() => outbound.decrypt(Message.fromBytes(forged)), 'MESSAGE_GAP_TOO_LARGE');
    expect(gap.details).toMatchObject({ messageIndex: MAX_MESSAGE_GAP + 1, maxGap: MAX_MESSAGE_GAP });
  });
});

/** A normal message with its chain index (field 2) replaced; the MAC is left as it was. */
function reforgeChainIndex(message: Uint8Array, index: number): Uint8Array {
  // Layout: version | 0x0a 0x20 ratchet key (32) | 0x10 varint index | 0x22 len ciphertext | MAC (8)
  const ratchetKey = message.subarray(3, 35);
  let offset = 35;
  if (message[offset] !== 0x10) throw new Error('expected the chain index field');
  offset++;
  while (message[offset]! & 0x80) offset++;
  offset++;
  const rest = message.subarray(offset, message.length - 8);
  const varint: number[] = [];
  for (let v = index; ; v = Math.floor(v / 128)) {
    if (v < 128) {
      varint.push(v);
      break;
    }
    varint.push((v % 128) | 0x80);
  }
  return concat(
    [message[0]!],
    bytesField(1, ratchetKey),
    [0x10, ...varint],
    rest,
    message.subarray(message.length - 8),
  );
}

describe('matchesInboundSession', () => {
  it('needs the identity key, the base key and the one-time key to match', () => {
    const { inbound, first } = established();
    expect(inbound.matchesInboundSession(first)).toBe(true);
    const bytes = first.toBytes();
    // Pre-key layout: version | 0x0a 0x20 one-time key | 0x12 0x20 base key | 0x1a 0x20 identity key | inner.
    for (const [field, offset] of [
      ['one-time key', 3],
      ['base key', 37],
      ['identity key', 71],
    ] as const) {
      const other = bytes.slice();
      other[offset + 5]! ^= 0x02;
      expect(inbound.matchesInboundSession(PreKeyMessage.fromBytes(other)), field).toBe(false);
    }
  });

  it('matchesInboundSessionFrom also needs the sender to be the one named', () => {
    const { alice, bob, inbound, first } = established();
    expect(inbound.matchesInboundSessionFrom(alice.curve25519Key, first)).toBe(true);
    expect(inbound.matchesInboundSessionFrom(bob.curve25519Key, first)).toBe(false);
    expect(refusal(() => inbound.matchesInboundSessionFrom('key' as never, first), 'INVALID_ARGUMENT')).toBeDefined();
    expect(
      refusal(() => inbound.matchesInboundSessionFrom(alice.curve25519Key, {} as never), 'INVALID_ARGUMENT'),
    ).toBeDefined();
  });
});

describe('pre-key message fields are read only with their wire type', () => {
  it('a one-time key field sent as a varint is skipped, so the key is missing', () => {
    const bytes = established().first.toBytes();
    // Replace field 1 (bytes, 34 bytes long) by field 1 as a varint (tag 0x08, value 1).
    const forged = concat([bytes[0]!], [0x08, 0x01], bytes.subarray(35));
    const error = thrown(() => PreKeyMessage.fromBytes(forged));
    expect(error).toBeInstanceOf(DecodeError);
  });
});

describe('more numbers and limits (second olm run)', () => {
  it('a message too far ahead in a chain the session knows names its index and the limit', () => {
    const { outbound, inbound } = established();
    const first = inbound.encrypt('chain message 0');
    outbound.decrypt(first);
    const forged = reforgeChainIndex(first.toBytes(), 1 + MAX_MESSAGE_GAP + 1);
    const gap = refusal(() => outbound.decrypt(Message.fromBytes(forged)), 'MESSAGE_GAP_TOO_LARGE');
    expect(gap.details).toMatchObject({ messageIndex: MAX_MESSAGE_GAP + 2, maxGap: MAX_MESSAGE_GAP });
  });

  it('an unknown config version and a key field of the wrong length name the numbers', () => {
    expect(refusal(() => SessionConfig.fromVersion(3), 'INVALID_ARGUMENT').details).toEqual({ actual: 3 });
    const bytes = established().first.toBytes();
    // The one-time key field (field 1) cut to 31 bytes.
    const forged = concat([bytes[0]!], bytesField(1, bytes.subarray(3, 34)), bytes.subarray(35));
    expect(refusal(() => PreKeyMessage.fromBytes(forged), 'MESSAGE_MALFORMED').details).toEqual({
      expected: 32,
      actual: 31,
    });
  });

  it('pickles of an unknown schema name it; an unknown signing key form is refused', () => {
    const { alice, outbound } = established();
    const account = accountBody(alice);
    const session = sessionBody(outbound);
    const withByte = (body: Uint8Array, index: number, value: number) => {
      const out = body.slice();
      out[index] = value;
      return out;
    };
    expect(
      refusal(
        () => Account.fromPickle(sealPickleBody(PICKLE_KIND_ACCOUNT, withByte(account, 0, 99), PICKLE_KEY), PICKLE_KEY),
        'PICKLE_UNSUPPORTED_VERSION',
      ).details,
    ).toEqual({ actual: 99 });
    expect(
      refusal(
        () =>
          Session.fromPickle(sealPickleBody(PICKLE_KIND_OLM_SESSION, withByte(session, 0, 99), PICKLE_KEY), PICKLE_KEY),
        'PICKLE_UNSUPPORTED_VERSION',
      ).details,
    ).toEqual({ actual: 99 });
    // Byte 1 of an account body: the signing key form (0 seed, 1 libolm's expanded key).
    refusal(
      () => Account.fromPickle(sealPickleBody(PICKLE_KIND_ACCOUNT, withByte(account, 1, 2), PICKLE_KEY), PICKLE_KEY),
      'PICKLE_INVALID',
    );
  });

  it("an account with libolm's expanded signing key survives triturus's own pickle", () => {
    const vector = libolmVectors.testGroups[0]!.tests[0]!;
    const key = new Uint8Array(Buffer.from(vector.pickleKey.base64, 'base64'));
    const imported = accountFromLibolmPickle(vector.pickle, key);
    const reloaded = Account.fromPickle(imported.pickle(PICKLE_KEY), PICKLE_KEY);
    expect(reloaded.ed25519Key.toBase64()).toBe(vector.expected.identityKeys.ed25519);
    expect(reloaded.sign(vector.expected.signedMessage).toBase64()).toBe(vector.expected.signature);
  });
});
