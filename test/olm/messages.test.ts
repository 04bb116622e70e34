/**
 * Olm wire messages (Matrix spec olm.md "The Olm Message Format"): decoding accepts fields in any
 * order and skips unknown ones (protobuf rules), which the tests prove with byte strings built by
 * hand, MACed with keys derived in the test, that then decrypt. Malformed input gets DecodeError
 * codes; `olmMessageFromParts` handles the `{type, body}` transport form.
 */
import { describe, expect, it } from 'vitest';
import { DecodeError, TriturusError } from '../../src/errors.js';
import { Account } from '../../src/olm/account.js';
import { SessionConfig } from '../../src/olm/config.js';
import { Message, olmMessageFromParts, PreKeyMessage } from '../../src/olm/messages.js';
import {
  bytesField,
  concat,
  expectTriturusError,
  forgeNextMessage,
  handPreKeyMessage,
  makePair,
  oneTimeKeyOf,
  text,
  toHex,
  unknownFields,
  utf8,
  varint,
  varintField,
} from './helpers.js';

const KEY_A = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
const KEY_B = Uint8Array.from({ length: 32 }, (_, i) => 100 + i);
const KEY_C = Uint8Array.from({ length: 32 }, (_, i) => 200 + (i % 50));
const MAC8 = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  );
}

function expectDecode(fn: () => unknown, code: string): void {
  expectTriturusError(fn, DecodeError, code);
}

describe('Message encoding', () => {
  it('a real message round trips through bytes and base64', () => {
    const { aliceSession, bobSession } = makePair();
    bobSession.encrypt('x');
    const message = bobSession.encrypt('hello') as Message;
    const back = Message.fromBytes(message.toBytes());
    expect(back.version).toBe(3);
    expect(back.ratchetKey.equals(message.ratchetKey)).toBe(true);
    expect(back.chainIndex).toBe(1);
    expect(toHex(back.ciphertext)).toBe(toHex(message.ciphertext));
    expect(toHex(back.mac)).toBe(toHex(message.mac));
    expect(back.toBase64()).toBe(message.toBase64());
    expect(Message.fromBase64(message.toBase64()).toBase64()).toBe(message.toBase64());
    expect(message.toBase64()).toBe(Buffer.from(message.toBytes()).toString('base64').replace(/=+$/, ''));
    expect(text(aliceSession.decrypt(Message.fromBase64(message.toBase64())))).toBe('hello');
  });

  it('decodes the fields of a hand-built message in every order, with unknown fields anywhere', () => {
    const ciphertext = Uint8Array.of(9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6);
    const fields = [bytesField(1, KEY_A), varintField(2, 300), bytesField(4, ciphertext)];
    for (const order of permutations([0, 1, 2, 3])) {
      const parts = order.map((i) => (i === 3 ? unknownFields() : fields[i]!));
      const bytes = concat([3], ...parts, MAC8);
      const message = Message.fromBytes(bytes);
      expect(toHex(message.ratchetKey.toBytes())).toBe(toHex(KEY_A));
      expect(message.chainIndex).toBe(300);
      expect(toHex(message.ciphertext)).toBe(toHex(ciphertext));
      expect(toHex(message.mac)).toBe(toHex(MAC8));
      expect(toHex(message.toBytes())).toBe(toHex(bytes));
    }
  });

  it('hand-built messages with fields in any order and unknown fields decrypt (MAC over the bytes as sent)', () => {
    const pair = makePair();
    const orders = permutations(['ratchet', 'index', 'ciphertext'] as const).flatMap((order) => [
      [...order],
      [...order.slice(0, 1), 'unknown' as const, ...order.slice(1)],
      ['unknown' as const, ...order, 'unknown' as const],
    ]);
    for (const [n, order] of orders.entries()) {
      const bytes = forgeNextMessage(pair.aliceSession, utf8(`forged ${n}`), { order });
      expect(text(pair.bobSession.decrypt(Message.fromBytes(bytes)))).toBe(`forged ${n}`);
      pair.aliceSession.encrypt('advance'); // the forged message used Alice's next index
    }
  });

  it('refuses malformed messages with DecodeError codes', () => {
    const ct = bytesField(4, new Uint8Array(16));
    const good = [bytesField(1, KEY_A), varintField(2, 0), ct];
    expectDecode(() => Message.fromBytes(new Uint8Array(0)), 'MESSAGE_MALFORMED');
    for (const version of [0, 1, 2, 5, 0x83]) {
      expectDecode(() => Message.fromBytes(concat([version], ...good, MAC8)), 'MESSAGE_UNSUPPORTED_VERSION');
    }
    // Shorter than its MAC.
    expectDecode(() => Message.fromBytes(Uint8Array.of(3, 1, 2, 3)), 'MESSAGE_MALFORMED');
    expectDecode(() => Message.fromBytes(concat([4], new Uint8Array(31))), 'MESSAGE_MALFORMED');
    // Each required field missing.
    for (let i = 0; i < 3; i++) {
      const parts = good.filter((_, j) => j !== i);
      expectDecode(() => Message.fromBytes(concat([3], ...parts, MAC8)), 'MESSAGE_MISSING_FIELD');
    }
    // A known field number with the wrong wire type is not that field.
    expectDecode(
      () => Message.fromBytes(concat([3], varintField(1, 5), varintField(2, 0), ct, MAC8)),
      'MESSAGE_MISSING_FIELD',
    );
    // Ratchet key of the wrong length.
    for (const length of [0, 31, 33]) {
      expectDecode(
        () => Message.fromBytes(concat([3], bytesField(1, new Uint8Array(length)), varintField(2, 0), ct, MAC8)),
        'MESSAGE_MALFORMED',
      );
    }
    // Chain index beyond 32 bits.
    expectDecode(
      () => Message.fromBytes(concat([3], bytesField(1, KEY_A), varintField(2, 2 ** 32), ct, MAC8)),
      'MESSAGE_MALFORMED',
    );
    expect(Message.fromBytes(concat([3], bytesField(1, KEY_A), varintField(2, 2 ** 32 - 1), ct, MAC8)).chainIndex).toBe(
      2 ** 32 - 1,
    );
    // A field running into the MAC, a truncated varint, an unsupported wire type.
    expectDecode(
      () => Message.fromBytes(concat([3], bytesField(1, KEY_A), [0x22, 20], new Uint8Array(8))),
      'MESSAGE_MALFORMED',
    );
    expectDecode(() => Message.fromBytes(concat([3], ...good, [0x10, 0x80], MAC8)), 'VARINT_INVALID');
    expectDecode(() => Message.fromBytes(concat([3], ...good, [(7 << 3) | 3], MAC8)), 'MESSAGE_MALFORMED');
  });

  it('takes a copy of its input', () => {
    const bytes = concat([3], bytesField(1, KEY_A), varintField(2, 7), bytesField(4, Uint8Array.of(1)), MAC8);
    const message = Message.fromBytes(bytes);
    bytes.fill(0);
    expect(message.chainIndex).toBe(7);
    expect(toHex(message.ratchetKey.toBytes())).toBe(toHex(KEY_A));
    expect(toHex(message.mac)).toBe(toHex(MAC8));
    const out = message.toBytes();
    out.fill(0);
    expect(toHex(message.mac)).toBe(toHex(MAC8));
  });

  it('refuses non-bytes with INVALID_ARGUMENT', () => {
    expectTriturusError(() => Message.fromBytes('AwoA' as unknown as Uint8Array), TriturusError, 'INVALID_ARGUMENT');
    expectTriturusError(() => Message.fromBase64(42 as unknown as string), TriturusError, 'INVALID_ARGUMENT');
    expectDecode(() => Message.fromBase64('not base64!'), 'BASE64_INVALID');
  });
});

describe('PreKeyMessage encoding', () => {
  it('a real pre-key message round trips and carries the session keys', () => {
    const alice = Account.create();
    const bob = Account.create();
    const otk = oneTimeKeyOf(bob);
    const session = alice.createOutboundSession(SessionConfig.version1(), bob.curve25519Key, otk);
    const message = session.encrypt('hi') as PreKeyMessage;
    const back = PreKeyMessage.fromBase64(message.toBase64());
    expect(back.oneTimeKey.equals(otk)).toBe(true);
    expect(back.identityKey.equals(alice.curve25519Key)).toBe(true);
    expect(back.baseKey.equals(session.sessionKeys.baseKey)).toBe(true);
    expect(toHex(back.message.toBytes())).toBe(toHex(message.message.toBytes()));
    expect(toHex(back.toBytes())).toBe(toHex(message.toBytes()));
    // Spec layout: 0x03 | 0x0A 32 OTK | 0x12 32 base | 0x1A 32 identity | 0x22 len message.
    const bytes = message.toBytes();
    const inner = message.message.toBytes();
    expect(toHex(bytes)).toBe(
      toHex(
        concat(
          [3, 0x0a, 32],
          otk.toBytes(),
          [0x12, 32],
          session.sessionKeys.baseKey.toBytes(),
          [0x1a, 32],
          alice.curve25519Key.toBytes(),
          [0x22],
          varint(inner.length),
          inner,
        ),
      ),
    );
    expect(text(bob.createInboundSession(alice.curve25519Key, back).plaintext)).toBe('hi');
  });

  it('decodes hand-built pre-key messages with outer fields in any order and unknown fields', () => {
    const inner = concat([3], bytesField(1, KEY_C), varintField(2, 0), bytesField(4, new Uint8Array(16)), MAC8);
    const keys = { oneTimeKey: KEY_A, baseKey: KEY_B, identityKey: KEY_C };
    for (const order of permutations(['oneTime', 'base', 'identity', 'message'] as const)) {
      for (const withUnknown of [false, true]) {
        const fields = withUnknown ? [...order.slice(0, 2), 'unknown' as const, ...order.slice(2)] : order;
        const message = PreKeyMessage.fromBytes(handPreKeyMessage(keys, inner, fields));
        expect(toHex(message.oneTimeKey.toBytes())).toBe(toHex(KEY_A));
        expect(toHex(message.baseKey.toBytes())).toBe(toHex(KEY_B));
        expect(toHex(message.identityKey.toBytes())).toBe(toHex(KEY_C));
        expect(toHex(message.message.toBytes())).toBe(toHex(inner));
      }
    }
  });

  it('a hand-built pre-key message (reordered, unknown fields, inner forged in the test) starts a session', () => {
    for (const order of [
      ['message', 'identity', 'base', 'oneTime'],
      ['unknown', 'base', 'message', 'unknown', 'oneTime', 'identity'],
    ] as const) {
      const alice = Account.create();
      const bob = Account.create();
      const session = alice.createOutboundSession(SessionConfig.version1(), bob.curve25519Key, oneTimeKeyOf(bob));
      const inner = forgeNextMessage(session, utf8('by hand'), {
        order: ['ciphertext', 'unknown', 'index', 'ratchet'],
      });
      const keys = session.sessionKeys;
      const bytes = handPreKeyMessage(
        {
          oneTimeKey: keys.oneTimeKey.toBytes(),
          baseKey: keys.baseKey.toBytes(),
          identityKey: keys.identityKey.toBytes(),
        },
        inner,
        [...order],
      );
      const { session: bobSession, plaintext } = bob.createInboundSession(
        alice.curve25519Key,
        PreKeyMessage.fromBytes(bytes),
      );
      expect(text(plaintext)).toBe('by hand');
      expect(bobSession.sessionId).toBe(session.sessionId);
      // Alice's real first message (same index) is now a duplicate for Bob; her second goes through.
      session.encrypt('index 0');
      expect(text(bobSession.decrypt(session.encrypt('index 1')))).toBe('index 1');
    }
  });

  it('refuses malformed pre-key messages with DecodeError codes', () => {
    const inner = concat([3], bytesField(1, KEY_C), varintField(2, 0), bytesField(4, new Uint8Array(16)), MAC8);
    const keys = { oneTimeKey: KEY_A, baseKey: KEY_B, identityKey: KEY_C };
    const good = handPreKeyMessage(keys, inner);
    expectDecode(() => PreKeyMessage.fromBytes(new Uint8Array(0)), 'MESSAGE_MALFORMED');
    for (const version of [0, 1, 2, 4]) {
      const copy = good.slice();
      copy[0] = version;
      expectDecode(() => PreKeyMessage.fromBytes(copy), 'MESSAGE_UNSUPPORTED_VERSION');
    }
    const all = ['oneTime', 'base', 'identity', 'message'] as const;
    for (const missing of all) {
      const bytes = handPreKeyMessage(
        keys,
        inner,
        all.filter((f) => f !== missing),
      );
      expectDecode(() => PreKeyMessage.fromBytes(bytes), 'MESSAGE_MISSING_FIELD');
    }
    expectDecode(
      () => PreKeyMessage.fromBytes(handPreKeyMessage({ ...keys, baseKey: new Uint8Array(33) }, inner)),
      'MESSAGE_MALFORMED',
    );
    // A bad inner message is refused as such.
    const badInner = inner.slice();
    badInner[0] = 7;
    expectDecode(() => PreKeyMessage.fromBytes(handPreKeyMessage(keys, badInner)), 'MESSAGE_UNSUPPORTED_VERSION');
    // Truncations.
    for (let n = 1; n < good.length; n++) {
      let caught: unknown;
      try {
        PreKeyMessage.fromBytes(good.subarray(0, n));
      } catch (error) {
        caught = error;
      }
      expect(caught, `prefix of ${n} bytes`).toBeInstanceOf(DecodeError);
    }
  });
});

describe('olmMessageFromParts', () => {
  it('decodes type 0 and type 1 from base64 (padded or not) and from bytes', () => {
    const pair = makePair();
    const pre = pair.aliceSession.encrypt('pre') as PreKeyMessage;
    const normal = pair.bobSession.encrypt('normal') as Message;
    const fromPre = olmMessageFromParts(0, pre.toBase64());
    expect(fromPre).toBeInstanceOf(PreKeyMessage);
    expect(fromPre.toBase64()).toBe(pre.toBase64());
    expect(olmMessageFromParts(0, pre.toBytes()).toBase64()).toBe(pre.toBase64());
    const fromNormal = olmMessageFromParts(1, Buffer.from(normal.toBytes()).toString('base64'));
    expect(fromNormal).toBeInstanceOf(Message);
    expect(fromNormal.toBase64()).toBe(normal.toBase64());
    expect(text(pair.aliceSession.decrypt(olmMessageFromParts(1, normal.toBytes())))).toBe('normal');
    expect(text(pair.bobSession.decrypt(fromPre))).toBe('pre');
  });

  it('refuses unknown types, mismatched types and bad bodies', () => {
    const pair = makePair();
    const pre = pair.aliceSession.encrypt('pre') as PreKeyMessage;
    for (const type of [2, -1, 1.5, Number.NaN]) {
      expectDecode(() => olmMessageFromParts(type, pre.toBase64()), 'MESSAGE_MALFORMED');
    }
    // A pre-key message body given as type 1 does not parse as a normal message.
    expect(() => olmMessageFromParts(1, pre.toBase64())).toThrow(DecodeError);
    expectDecode(() => olmMessageFromParts(0, 'A'), 'BASE64_INVALID');
    expectDecode(() => olmMessageFromParts(1, '!!!!'), 'BASE64_INVALID');
    expectTriturusError(() => olmMessageFromParts(1, 42 as unknown as string), TriturusError, 'INVALID_ARGUMENT');
  });
});
