/**
 * GroupSession.prepareEncrypt (internal: the Device signs through WebCrypto with it in browsers):
 * the message is encrypted and MAC-ed at once, the signature comes later, and `complete` attaches it
 * and advances the ratchet. Checked against `encrypt` on a copy of the session (Ed25519 signatures
 * are deterministic, so the bytes must be identical), against an independent Ed25519 signature from
 * node:crypto, and for what a prepared message must refuse.
 */
import { createPrivateKey, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  GroupSession,
  InboundGroupSession,
  MegolmSessionConfig,
  SessionError,
  TriturusError,
} from '../../src/index.js';
import { expectTriturusError } from './helpers.js';

const PICKLE_KEY = new Uint8Array(32).fill(3);

function twins(config?: MegolmSessionConfig): [GroupSession, GroupSession] {
  const a = GroupSession.create(config);
  return [a, GroupSession.fromPickle(a.pickle(PICKLE_KEY), PICKLE_KEY)];
}

describe('GroupSession.prepareEncrypt', () => {
  for (const config of [MegolmSessionConfig.version1(), MegolmSessionConfig.version2()]) {
    it(`v${config.version}: prepare + sign + complete gives exactly what encrypt gives, message after message`, () => {
      const [a, b] = twins(config);
      for (let i = 0; i < 5; i++) {
        const text = `message ${i} `.repeat(i * 7 + 1);
        const prepared = b.prepareEncrypt(i % 2 === 0 ? text : new TextEncoder().encode(text));
        expect(b.messageIndex, 'nothing advances before complete').toBe(i);
        const viaPrepare = prepared.complete(prepared.sign());
        expect(viaPrepare.toBase64()).toBe(a.encrypt(text).toBase64());
        expect(viaPrepare.messageIndex).toBe(i);
        expect(b.messageIndex).toBe(i + 1);
      }
    });
  }

  it('a signature made elsewhere over `signed` (node:crypto, from the pickled seed) completes a message receivers accept', () => {
    const session = GroupSession.create();
    const receiver = InboundGroupSession.fromSessionKey(session.sessionKey());
    const prepared = session.prepareEncrypt('signed by someone else');
    // The same key, independently: node:crypto signs with the seed behind the session's public key.
    const seed = session.toParts().signingKey.seedBytes();
    expect(seed).toBeDefined();
    const key = createPrivateKey({
      key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(seed!)]),
      format: 'der',
      type: 'pkcs8',
    });
    const signature = new Uint8Array(sign(null, prepared.signed, key));
    const message = prepared.complete(signature);
    expect(new TextDecoder().decode(receiver.decrypt(message).plaintext)).toBe('signed by someone else');
  });

  it('a wrong signature is attached as given, and receivers refuse the message', () => {
    const session = GroupSession.create();
    const receiver = InboundGroupSession.fromSessionKey(session.sessionKey());
    const prepared = session.prepareEncrypt('x');
    const message = prepared.complete(new Uint8Array(64).fill(1));
    expect(() => receiver.decrypt(message)).toThrow();
  });

  it('complete refuses after the session moved on (an encrypt or a skip in between), after free, and a signature of the wrong length; nothing advances', () => {
    const session = GroupSession.create();
    const stale = session.prepareEncrypt('first');
    session.encrypt('second');
    expectTriturusError(() => stale.complete(stale.sign()), SessionError, 'SESSION_MISMATCH');
    expect(session.messageIndex).toBe(1);

    const skipped = session.prepareEncrypt('third');
    session.advanceTo(5);
    expectTriturusError(() => skipped.complete(skipped.sign()), SessionError, 'SESSION_MISMATCH');
    expect(session.messageIndex).toBe(5);

    const short = session.prepareEncrypt('fourth');
    expectTriturusError(() => short.complete(new Uint8Array(63)), TriturusError, 'INVALID_ARGUMENT');
    expect(session.messageIndex).toBe(5);
    // Still usable after the refusal.
    expect(short.complete(short.sign()).messageIndex).toBe(5);
    expect(session.messageIndex).toBe(6);

    const freed = session.prepareEncrypt('fifth');
    session.free();
    expectTriturusError(() => freed.complete(new Uint8Array(64)), SessionError, 'SESSION_NOT_FOUND');
  });

  it('two messages prepared at one index: the first completed wins, the other is refused', () => {
    const session = GroupSession.create();
    const one = session.prepareEncrypt('one');
    const two = session.prepareEncrypt('two');
    expect(one.complete(one.sign()).messageIndex).toBe(0);
    expectTriturusError(() => two.complete(two.sign()), SessionError, 'SESSION_MISMATCH');
    expect(session.messageIndex).toBe(1);
  });
});
