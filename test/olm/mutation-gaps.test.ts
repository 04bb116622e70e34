/**
 * Gaps found by mutation testing (test/MUTATION.md) in the Olm session, runs on both backends.
 *
 * An outbound session sends pre-key messages until it has decrypted a message from the other side
 * (hasReceivedMessage). If a message that fails its MAC check set that flag, anyone could send a
 * garbled or forged message to a session that is waiting for its first reply and make it switch to
 * normal messages: the receiver, if it lost (or never got) the first pre-key message, could then
 * never create its inbound session. The existing failed-decrypt tests only used sessions that had
 * already received a message, where the flag is set either way.
 */
import { describe, expect, it } from 'vitest';
import { DecryptionError, TriturusError } from '../../src/errors.js';
import { Account } from '../../src/olm/account.js';
import { SessionConfig } from '../../src/olm/config.js';
import { Message, olmMessageFromParts, PreKeyMessage } from '../../src/olm/messages.js';

const utf8 = new TextDecoder();

function pair() {
  const alice = Account.create();
  const bob = Account.create();
  bob.generateOneTimeKeys(2);
  const oneTimeKeys = [...bob.oneTimeKeys.values()];
  bob.markKeysAsPublished();
  const outbound = alice.createOutboundSession(SessionConfig.version1(), bob.curve25519Key, oneTimeKeys[0]!);
  return { alice, bob, outbound };
}

/** Bob's genuine first reply to Alice's outbound session. */
function genuineReply() {
  const { alice, bob, outbound } = pair();
  const first = outbound.encrypt('hello Bob');
  if (!(first instanceof PreKeyMessage)) throw new Error('the first message must be a pre-key message');
  const { session: inbound } = bob.createInboundSession(alice.curve25519Key, first);
  const reply = inbound.encrypt('hello Alice');
  expect(reply).toBeInstanceOf(Message);
  return { alice, bob, outbound, reply: reply.toBytes() };
}

/** `bytes` with one byte changed. */
function withFlippedByte(bytes: Uint8Array, index: number): Uint8Array {
  const out = bytes.slice();
  out[index < 0 ? out.length + index : index]! ^= 0x01;
  return out;
}

const garbled: [string, (reply: Uint8Array) => Uint8Array][] = [
  ['its last MAC byte flipped', (reply) => withFlippedByte(reply, -1)],
  ['a ciphertext byte flipped', (reply) => withFlippedByte(reply, -9)],
  // Byte 0 is the version, 1-2 the ratchet key's tag and length: byte 10 is inside the key.
  ['a ratchet key byte flipped (a chain the session does not know)', (reply) => withFlippedByte(reply, 10)],
];

describe('a message that fails its MAC check does not count as received', () => {
  it.each(garbled)('a reply with %s: the outbound session keeps sending pre-key messages', (_, garble) => {
    const { outbound, reply } = genuineReply();
    expect(outbound.hasReceivedMessage).toBe(false);
    const forged = olmMessageFromParts(1, Buffer.from(garble(reply)).toString('base64'));
    expect(() => outbound.decrypt(forged)).toThrow(TriturusError);
    expect(outbound.hasReceivedMessage).toBe(false);
    expect(outbound.encrypt('still waiting for Bob')).toBeInstanceOf(PreKeyMessage);

    // The genuine reply still decrypts, and only then do normal messages start.
    expect(utf8.decode(outbound.decrypt(olmMessageFromParts(1, Buffer.from(reply).toString('base64'))))).toBe(
      'hello Alice',
    );
    expect(outbound.hasReceivedMessage).toBe(true);
    expect(outbound.encrypt('now a normal message')).toBeInstanceOf(Message);
  });

  it('a message of another session: refused with a MAC error, and the session still sends pre-key messages', () => {
    const { outbound } = pair();
    const other = genuineReply();
    const forged = olmMessageFromParts(1, Buffer.from(other.reply).toString('base64'));
    let error: unknown;
    try {
      outbound.decrypt(forged);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DecryptionError);
    expect((error as DecryptionError).code).toBe('MAC_MISMATCH');
    expect(outbound.hasReceivedMessage).toBe(false);
    expect(outbound.encrypt('to Bob')).toBeInstanceOf(PreKeyMessage);
  });

  it('a lost first message is not fatal after a forgery: Bob, who never got it, can start the session from the next one', () => {
    const { alice, bob, outbound, reply } = (() => {
      // Alice's first message is lost: Bob never creates his inbound session from it.
      const p = pair();
      p.outbound.encrypt('lost on the way');
      const stranger = genuineReply();
      return { ...p, reply: stranger.reply };
    })();
    expect(() => outbound.decrypt(olmMessageFromParts(1, Buffer.from(reply).toString('base64')))).toThrow(
      TriturusError,
    );
    const next = outbound.encrypt('second try');
    if (!(next instanceof PreKeyMessage))
      throw new Error('after a forgery the session must still send pre-key messages');
    const { session, plaintext } = bob.createInboundSession(alice.curve25519Key, next);
    expect(utf8.decode(plaintext)).toBe('second try');
    expect(session.sessionId).toBe(outbound.sessionId);
  });
});
