/**
 * Non-contributory Diffie-Hellman (PROTOCOL-NOTES.md: reject an all-zero X25519 output everywhere):
 * a peer's identity, one-time, base or ratchet key of small order is refused with KeyError
 * KEY_NON_CONTRIBUTORY, and the account or session is left exactly as it was.
 */
import { describe, expect, it } from 'vitest';
import { KeyError } from '../../src/errors.js';
import { Curve25519PublicKey } from '../../src/keys.js';
import { Account } from '../../src/olm/account.js';
import { SessionConfig } from '../../src/olm/config.js';
import { Message, PreKeyMessage } from '../../src/olm/messages.js';
import {
  accountBody,
  bytesField,
  concat,
  expectTriturusError,
  forgeNextMessage,
  handPreKeyMessage,
  makePair,
  oneTimeKeyOf,
  SMALL_ORDER_CURVE_POINTS,
  sessionBody,
  text,
  toHex,
  utf8,
  varintField,
} from './helpers.js';

const INNER = concat(
  [3],
  bytesField(
    1,
    Uint8Array.from({ length: 32 }, (_, i) => i + 9),
  ),
  varintField(2, 0),
  bytesField(4, new Uint8Array(16)),
  new Uint8Array(8),
);

describe('non-contributory keys are refused (KEY_NON_CONTRIBUTORY) without a state change', () => {
  for (const [name, point] of SMALL_ORDER_CURVE_POINTS) {
    const bad = Curve25519PublicKey.fromBytes(point);

    it(`createOutboundSession with their identity key = ${name}`, () => {
      const alice = Account.create();
      const bob = Account.create();
      const otk = oneTimeKeyOf(bob);
      const before = toHex(accountBody(alice));
      expectTriturusError(
        () => alice.createOutboundSession(SessionConfig.version1(), bad, otk),
        KeyError,
        'KEY_NON_CONTRIBUTORY',
      );
      expect(toHex(accountBody(alice))).toBe(before);
    });

    it(`createOutboundSession with their one-time key = ${name}`, () => {
      const alice = Account.create();
      const bob = Account.create();
      const before = toHex(accountBody(alice));
      expectTriturusError(
        () => alice.createOutboundSession(SessionConfig.version2(), bob.curve25519Key, bad),
        KeyError,
        'KEY_NON_CONTRIBUTORY',
      );
      expect(toHex(accountBody(alice))).toBe(before);
    });

    it(`createInboundSession with the sender's identity key = ${name}; the one-time key survives`, () => {
      const bob = Account.create();
      const otk = oneTimeKeyOf(bob);
      const message = PreKeyMessage.fromBytes(
        handPreKeyMessage(
          { oneTimeKey: otk.toBytes(), baseKey: Account.create().curve25519Key.toBytes(), identityKey: point },
          INNER,
        ),
      );
      const before = toHex(accountBody(bob));
      expectTriturusError(() => bob.createInboundSession(bad, message), KeyError, 'KEY_NON_CONTRIBUTORY');
      expect(toHex(accountBody(bob))).toBe(before);
      // The one-time key still starts a genuine session.
      const alice = Account.create();
      const outbound = alice.createOutboundSession(SessionConfig.version1(), bob.curve25519Key, otk);
      expect(
        text(bob.createInboundSession(alice.curve25519Key, outbound.encrypt('ok') as PreKeyMessage).plaintext),
      ).toBe('ok');
    });

    it(`createInboundSession with the base key = ${name}`, () => {
      const bob = Account.create();
      bob.generateFallbackKey();
      const fallback = bob.currentFallbackKey!.key;
      const alice = Account.create();
      const message = PreKeyMessage.fromBytes(
        handPreKeyMessage(
          { oneTimeKey: fallback.toBytes(), baseKey: point, identityKey: alice.curve25519Key.toBytes() },
          INNER,
        ),
      );
      const before = toHex(accountBody(bob));
      expectTriturusError(
        () => bob.createInboundSession(alice.curve25519Key, message),
        KeyError,
        'KEY_NON_CONTRIBUTORY',
      );
      expect(toHex(accountBody(bob))).toBe(before);
    });

    it(`a message on a new chain with ratchet key = ${name}, either direction`, () => {
      const pair = makePair();
      pair.bobSession.encrypt('gives Bob a sending chain');
      const toBob = Message.fromBytes(forgeNextMessage(pair.aliceSession, utf8('x'), { ratchetKey: point }));
      const toAlice = Message.fromBytes(forgeNextMessage(pair.bobSession, utf8('y'), { ratchetKey: point }));
      for (const [session, message] of [
        [pair.bobSession, toBob],
        [pair.aliceSession, toAlice],
      ] as const) {
        const before = toHex(sessionBody(session));
        expectTriturusError(() => session.decrypt(message), KeyError, 'KEY_NON_CONTRIBUTORY');
        expect(toHex(sessionBody(session))).toBe(before);
      }
      // Both still work.
      expect(text(pair.bobSession.decrypt(pair.aliceSession.encrypt('still')))).toBe('still');
    });

    it(`a first message whose ratchet key is ${name}: no session can encrypt towards it`, () => {
      const alice = Account.create();
      const bob = Account.create();
      const outbound = alice.createOutboundSession(SessionConfig.version1(), bob.curve25519Key, oneTimeKeyOf(bob));
      // A correctly MACed first message whose ratchet key field is the small-order point.
      const inner = forgeNextMessage(outbound, utf8('hi'), { ratchetKey: point });
      const keys = outbound.sessionKeys;
      const message = PreKeyMessage.fromBytes(
        handPreKeyMessage(
          {
            oneTimeKey: keys.oneTimeKey.toBytes(),
            baseKey: keys.baseKey.toBytes(),
            identityKey: keys.identityKey.toBytes(),
          },
          inner,
        ),
      );
      const accountBefore = toHex(accountBody(bob));
      let session: ReturnType<Account['createInboundSession']>['session'];
      try {
        session = bob.createInboundSession(alice.curve25519Key, message).session;
      } catch (error) {
        // Refusing the message up front is fine too, as long as it is this error and nothing changed.
        expect(error).toBeInstanceOf(KeyError);
        expect((error as KeyError).code).toBe('KEY_NON_CONTRIBUTORY');
        expect(toHex(accountBody(bob))).toBe(accountBefore);
        return;
      }
      const before = toHex(sessionBody(session));
      expectTriturusError(() => session.encrypt('reply'), KeyError, 'KEY_NON_CONTRIBUTORY');
      expect(toHex(sessionBody(session))).toBe(before);
    });
  }
});
