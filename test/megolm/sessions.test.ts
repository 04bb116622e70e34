/**
 * GroupSession and InboundGroupSession: encryption and decryption checked against the hand-built
 * reference (helpers.ts), first known index, advance, export, the compare/merge/connected
 * relations, session configs v1/v2, errors, pickles, strong exception safety and redaction.
 */
import { createHmac, hkdfSync } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  DecodeError,
  DecryptionError,
  ExportedSessionKey,
  GroupSession,
  InboundGroupSession,
  MegolmMessage,
  MegolmSessionConfig,
  PickleError,
  SessionError,
  SessionKey,
  SessionOrdering,
  SignatureError,
  TriturusError,
} from '../../src/index.js';
import {
  b64,
  concat,
  expectTriturusError,
  RefRatchet,
  random,
  refEncrypt,
  refExportedKey,
  refOpen,
  refSessionKey,
  refSign,
  refSigner,
  toHex,
} from './helpers.js';

const UTF8 = new TextEncoder();
const TEXT = new TextDecoder();
const PICKLE_KEY = new Uint8Array(32).fill(9);

/** The ratchet bytes and signing key a session key carries, read by hand. */
function parts(key: SessionKey | ExportedSessionKey): { index: number; ratchet: Uint8Array; publicKey: Uint8Array } {
  const bytes = key.toBytes();
  return {
    index: Buffer.from(bytes).readUInt32BE(1),
    ratchet: bytes.slice(5, 133),
    publicKey: bytes.slice(133, 165),
  };
}

function snapshot(session: InboundGroupSession): string {
  const p = session.toParts();
  return JSON.stringify({
    initial: [p.initial.counter, toHex(p.initial.data)],
    latest: [p.latest.counter, toHex(p.latest.data)],
    verified: p.verified,
  });
}

describe('GroupSession', () => {
  it('encrypts with the ratchet at each index and signs with the session key (checked by the reference)', () => {
    const session = GroupSession.create();
    const { ratchet, publicKey } = parts(session.sessionKey());
    const ref = new RefRatchet(ratchet, 0);
    for (let i = 0; i < 300; i++) {
      expect(session.messageIndex).toBe(i);
      const message = session.encrypt(`message ${i}`);
      if (i % 37 === 0 || i === 255 || i === 256 || i === 299) {
        const opened = refOpen(message.toBytes(), ref.data, publicKey);
        expect(opened.index).toBe(i);
        expect(TEXT.decode(opened.plaintext)).toBe(`message ${i}`);
      }
      ref.step();
    }
    expect(session.messageIndex).toBe(300);
  });

  it('session id is the unpadded base64 of the Ed25519 key; session keys track the index', () => {
    const session = GroupSession.create();
    expect(session.sessionId).toMatch(/^[A-Za-z0-9+/]{43}$/);
    expect(session.signingKey.toBase64()).toBe(session.sessionId);
    expect(session.sessionKey().sessionId).toBe(session.sessionId);
    session.encrypt(new Uint8Array([1, 2, 3]));
    expect(session.sessionKey().messageIndex).toBe(1);
    expect(session.config).toBe(MegolmSessionConfig.version1());
  });

  it('advanceTo skips indices forward only', () => {
    const session = GroupSession.create();
    const { ratchet } = parts(session.sessionKey());
    expect(session.advanceTo(1000)).toBe(true);
    expect(session.messageIndex).toBe(1000);
    expect(toHex(parts(session.sessionKey()).ratchet)).toBe(toHex(new RefRatchet(ratchet, 0).steps(1000).data));
    expect(session.advanceTo(999)).toBe(false);
    expect(session.advanceTo(1000)).toBe(false);
    expect(session.messageIndex).toBe(1000);
    expectTriturusError(() => session.advanceTo(-1), TriturusError, 'INVALID_ARGUMENT');
    expectTriturusError(() => session.advanceTo(2 ** 32), TriturusError, 'INVALID_ARGUMENT');
  });

  it('refuses plaintexts that are neither strings nor bytes, leaving the index alone', () => {
    const session = GroupSession.create();
    expectTriturusError(() => session.encrypt(42 as unknown as string), TriturusError, 'INVALID_ARGUMENT');
    expect(session.messageIndex).toBe(0);
  });

  it('version 2 sends version-4 messages with the full 32-byte MAC', () => {
    const session = GroupSession.create(MegolmSessionConfig.version2());
    const { ratchet, publicKey } = parts(session.sessionKey());
    const bytes = session.encrypt('v2').toBytes();
    expect(bytes[0]).toBe(4);
    expect(bytes.length).toBe(5 + 16 + 32 + 64);
    expect(TEXT.decode(refOpen(bytes, ratchet, publicKey).plaintext)).toBe('v2');
  });

  it('pickles and unpickles, continuing the same ratchet and key', () => {
    for (const config of [MegolmSessionConfig.version1(), MegolmSessionConfig.version2()]) {
      const session = GroupSession.create(config);
      session.encrypt('one');
      const inbound = InboundGroupSession.fromSessionKey(session.sessionKey(), config);
      const restored = GroupSession.fromPickle(session.pickle(PICKLE_KEY), PICKLE_KEY);
      expect(restored.sessionId).toBe(session.sessionId);
      expect(restored.messageIndex).toBe(1);
      expect(restored.config).toBe(config);
      expect(inbound.decryptText(restored.encrypt('two'))).toEqual({ plaintext: 'two', messageIndex: 1 });
    }
  });

  it('refuses pickles under another key, of another kind, or damaged', () => {
    const pickle = GroupSession.create().pickle(PICKLE_KEY);
    expectTriturusError(() => GroupSession.fromPickle(pickle, new Uint8Array(32)), PickleError, 'PICKLE_BAD_KEY');
    const inboundPickle = InboundGroupSession.fromSessionKey(GroupSession.create().sessionKey()).pickle(PICKLE_KEY);
    expectTriturusError(() => GroupSession.fromPickle(inboundPickle, PICKLE_KEY), PickleError, 'PICKLE_WRONG_TYPE');
    expectTriturusError(() => GroupSession.fromPickle('!!', PICKLE_KEY), PickleError, 'PICKLE_INVALID');
    expectTriturusError(() => GroupSession.fromPickle(pickle, new Uint8Array(16)), TriturusError, 'INVALID_ARGUMENT');
  });

  it('is unusable after free()', () => {
    const session = GroupSession.create();
    session.free();
    expectTriturusError(() => session.encrypt('x'), SessionError, 'SESSION_NOT_FOUND');
    expectTriturusError(() => session.sessionKey(), SessionError, 'SESSION_NOT_FOUND');
    expectTriturusError(() => session.pickle(PICKLE_KEY), SessionError, 'SESSION_NOT_FOUND');
  });

  it('never prints its ratchet or signing key', () => {
    const session = GroupSession.create();
    const key = session.sessionKey();
    const secretRatchet = b64(parts(key).ratchet);
    const seedish = JSON.stringify(session) + String(session) + inspect(session, { depth: 10, showHidden: true });
    expect(seedish).toContain(session.sessionId);
    expect(seedish).not.toContain(secretRatchet.slice(0, 20));
    for (const text of [String(key), JSON.stringify(key), inspect(key, { depth: 10, showHidden: true })]) {
      expect(text).toContain('redacted');
      expect(text).not.toContain(secretRatchet.slice(0, 20));
      expect(text).not.toContain(key.toBase64().slice(0, 20));
    }
  });
});

describe('InboundGroupSession: decryption', () => {
  it('decrypts hand-built messages at any index at or after the first known one, in any order', () => {
    const signer = refSigner();
    const start = random(128);
    const inbound = InboundGroupSession.fromSessionKey(SessionKey.fromBytes(refSessionKey(10, start, signer)));
    const ref = new RefRatchet(start, 10);
    const messages = new Map<number, Uint8Array>();
    for (let i = 10; i < 600; i++) {
      if (i % 7 === 0 || i === 10 || i === 255 || i === 256 || i === 599) {
        messages.set(i, refEncrypt(ref.data, i, UTF8.encode(`at ${i}`), signer));
      }
      ref.step();
    }
    const order = [...messages.keys()].sort((a, b) => ((a * 7919) % 101) - ((b * 7919) % 101));
    for (const i of [...order, ...order.slice(0, 5)]) {
      const result = inbound.decrypt(MegolmMessage.fromBytes(messages.get(i)!));
      expect(result.messageIndex).toBe(i);
      expect(TEXT.decode(result.plaintext)).toBe(`at ${i}`);
    }
    expect(inbound.firstKnownIndex).toBe(10);
  });

  it('refuses indices below the first known one with UNKNOWN_MESSAGE_INDEX and both indices', () => {
    const outbound = GroupSession.create();
    const early = outbound.encrypt('early');
    outbound.encrypt('also early');
    const inbound = InboundGroupSession.fromSessionKey(outbound.sessionKey());
    const e = expectTriturusError(() => inbound.decrypt(early), DecryptionError, 'UNKNOWN_MESSAGE_INDEX');
    expect(e.details).toEqual({ messageIndex: 0, firstKnownIndex: 2 });
    expect(inbound.decryptText(outbound.encrypt('now')).plaintext).toBe('now');
  });

  it('checks the signature, then the MAC; a failure changes nothing', () => {
    const outbound = GroupSession.create();
    const inbound = InboundGroupSession.fromSessionKey(outbound.sessionKey());
    outbound.encrypt('skip');
    const message = outbound.encrypt('target').toBytes();
    const before = snapshot(inbound);
    // Any flipped byte breaks the signature first (it covers everything before it).
    for (const position of [0, 1, 4, 10, message.length - 70, message.length - 1]) {
      const tampered = message.slice();
      tampered[position]! ^= 0x40;
      let decoded: MegolmMessage;
      try {
        decoded = MegolmMessage.fromBytes(tampered);
      } catch (error) {
        expect(error).toBeInstanceOf(DecodeError);
        continue;
      }
      expect(() => inbound.decrypt(decoded)).toThrow(TriturusError);
      expect(snapshot(inbound)).toBe(before);
    }
    expectTriturusError(
      () => inbound.decrypt(MegolmMessage.fromBytes(concat(message.subarray(0, -1), [message.at(-1)! ^ 1]))),
      SignatureError,
      'SIGNATURE_INVALID',
    );
    // A correctly signed message with a wrong MAC: signed by the session key, so only the MAC can fail.
    const { ratchet } = parts(inbound.exportAtFirstKnownIndex());
    const signer = refSigner();
    const other = InboundGroupSession.import(
      ExportedSessionKey.fromBytes(refExportedKey(0, ratchet, signer.publicKey)),
    );
    const wrongRatchet = random(128);
    const badMac = refEncrypt(wrongRatchet, 1, UTF8.encode('x'), signer);
    const otherBefore = snapshot(other);
    expectTriturusError(() => other.decrypt(MegolmMessage.fromBytes(badMac)), DecryptionError, 'MAC_MISMATCH');
    expect(snapshot(other)).toBe(otherBefore);
    expect(TEXT.decode(inbound.decrypt(MegolmMessage.fromBytes(message)).plaintext)).toBe('target');
  });

  it('refuses a message of the other protocol version', () => {
    const v2 = GroupSession.create(MegolmSessionConfig.version2());
    const v1Inbound = InboundGroupSession.fromSessionKey(v2.sessionKey());
    const e = expectTriturusError(() => v1Inbound.decrypt(v2.encrypt('x')), DecodeError, 'MESSAGE_UNSUPPORTED_VERSION');
    expect(e.details).toEqual({ expected: 3, actual: 4 });
    const v2Inbound = InboundGroupSession.fromSessionKey(v2.sessionKey(), MegolmSessionConfig.version2());
    expect(v2Inbound.decryptText(v2.encrypt('y')).plaintext).toBe('y');
  });

  it('decryptText refuses invalid UTF-8 and changes nothing', () => {
    const outbound = GroupSession.create();
    const inbound = InboundGroupSession.fromSessionKey(outbound.sessionKey());
    outbound.encrypt('skipped');
    const before = snapshot(inbound);
    expectTriturusError(
      () => inbound.decryptText(outbound.encrypt(Uint8Array.of(0xff, 0xfe))),
      DecodeError,
      'JSON_INVALID',
    );
    expect(snapshot(inbound)).toBe(before);
    expect(Array.from(inbound.decrypt(outbound.encrypt(Uint8Array.of(0xff))).plaintext)).toEqual([0xff]);
  });

  it('refuses a ciphertext whose padding is wrong, after a valid MAC and signature', () => {
    const signer = refSigner();
    const ratchet = random(128);
    const inbound = InboundGroupSession.import(
      ExportedSessionKey.fromBytes(refExportedKey(0, ratchet, signer.publicKey)),
    );
    // Build by hand: 16 bytes of AES-CBC output that decrypt to a block with bad padding.
    const good = refEncrypt(ratchet, 0, UTF8.encode('0123456789abcdef'), signer); // two blocks, the second all padding
    // Drop the last ciphertext block: the first block decrypts to data with a bad pad byte.
    const payload = concat(good.subarray(0, 4), [16], good.subarray(5, 21));
    const keys = Buffer.from(hkdfSync('sha256', ratchet, new Uint8Array(0), 'MEGOLM_KEYS', 80));
    const mac = createHmac('sha256', keys.subarray(32, 64)).update(payload).digest().subarray(0, 8);
    const signed = concat(payload, mac);
    const message = MegolmMessage.fromBytes(concat(signed, refSign(signer, signed)));
    const before = snapshot(inbound);
    expectTriturusError(() => inbound.decrypt(message), DecryptionError, 'PADDING_INVALID');
    expect(snapshot(inbound)).toBe(before);
  });
});

describe('InboundGroupSession: index management', () => {
  it('fromSessionKey is verified, import is not; decrypting does not change that', () => {
    const outbound = GroupSession.create();
    const signed = InboundGroupSession.fromSessionKey(outbound.sessionKey());
    const imported = InboundGroupSession.import(signed.exportAtFirstKnownIndex());
    expect(signed.isVerified).toBe(true);
    expect(imported.isVerified).toBe(false);
    imported.decrypt(outbound.encrypt('x'));
    expect(imported.isVerified).toBe(false);
  });

  it('exports at any index from the first known one, as the ratchet stepped by the reference', () => {
    const outbound = GroupSession.create();
    const { ratchet, publicKey } = parts(outbound.sessionKey());
    const inbound = InboundGroupSession.fromSessionKey(outbound.sessionKey());
    for (const i of [0, 1, 255, 256, 70000]) {
      const exported = inbound.exportAt(i).toBytes();
      expect(toHex(exported)).toBe(toHex(refExportedKey(i, new RefRatchet(ratchet, 0).steps(i).data, publicKey)));
    }
    inbound.advanceTo(300);
    const e = expectTriturusError(() => inbound.exportAt(299), SessionError, 'INDEX_OUT_OF_RANGE');
    expect(e.details).toEqual({ messageIndex: 299, firstKnownIndex: 300 });
    expect(inbound.exportAtFirstKnownIndex().messageIndex).toBe(300);
    expectTriturusError(() => inbound.exportAt(1.5), TriturusError, 'INVALID_ARGUMENT');
  });

  it('advanceTo forgets earlier indices for good and keeps later ones decryptable', () => {
    const outbound = GroupSession.create();
    const key = outbound.sessionKey();
    const inbound = InboundGroupSession.fromSessionKey(key);
    const messages = Array.from({ length: 20 }, (_, i) => outbound.encrypt(`m${i}`));
    expect(inbound.decryptText(messages[15]!).plaintext).toBe('m15'); // the cache is now at 15
    expect(inbound.advanceTo(10)).toBe(true);
    expect(inbound.firstKnownIndex).toBe(10);
    expect(inbound.advanceTo(10)).toBe(false);
    expect(inbound.advanceTo(3)).toBe(false);
    expectTriturusError(() => inbound.decrypt(messages[9]!), DecryptionError, 'UNKNOWN_MESSAGE_INDEX');
    for (const i of [10, 19, 12, 15]) expect(inbound.decryptText(messages[i]!).plaintext).toBe(`m${i}`);
    expect(inbound.advanceTo(18)).toBe(true);
    expect(inbound.exportAtFirstKnownIndex().toBase64()).toBe(
      InboundGroupSession.fromSessionKey(key).exportAt(18).toBase64(),
    );
  });

  it('compare, connected and merge follow vodozemac’s SessionOrdering', () => {
    const outbound = GroupSession.create();
    const a = InboundGroupSession.fromSessionKey(outbound.sessionKey());
    const b = InboundGroupSession.import(a.exportAt(10));
    const unrelated = InboundGroupSession.fromSessionKey(GroupSession.create().sessionKey());
    expect(a.compare(b)).toBe(SessionOrdering.better);
    expect(b.compare(a)).toBe(SessionOrdering.worse);
    expect(a.compare(InboundGroupSession.import(a.exportAtFirstKnownIndex()))).toBe(SessionOrdering.equal);
    expect(a.connected(b) && b.connected(a)).toBe(true);
    expect(a.compare(unrelated)).toBe(SessionOrdering.unconnected);
    expect(unrelated.compare(a)).toBe(SessionOrdering.unconnected);
    // Same signing key, different ratchet: not connected.
    const { publicKey } = parts(a.exportAtFirstKnownIndex());
    const forged = InboundGroupSession.import(ExportedSessionKey.fromBytes(refExportedKey(10, random(128), publicKey)));
    expect(a.connected(forged)).toBe(false);
    expect(forged.compare(b)).toBe(SessionOrdering.unconnected);
    // Same ratchet, other config: not connected.
    const v2 = InboundGroupSession.import(a.exportAtFirstKnownIndex(), MegolmSessionConfig.version2());
    expect(a.connected(v2)).toBe(false);

    const merged = b.merge(a);
    expect(merged.firstKnownIndex).toBe(0);
    expect(merged.isVerified).toBe(true);
    expect(merged.compare(a)).toBe(SessionOrdering.equal);
    expect(merged.compare(b)).toBe(SessionOrdering.better);
    expect(b.firstKnownIndex).toBe(10); // inputs unchanged
    expectTriturusError(() => a.merge(unrelated), SessionError, 'SESSIONS_NOT_CONNECTED');
    expectTriturusError(() => a.compare({} as InboundGroupSession), TriturusError, 'INVALID_ARGUMENT');
  });

  it('connected compares ratchets even when the cache of the lower session is past the other’s start', () => {
    const outbound = GroupSession.create();
    const low = InboundGroupSession.fromSessionKey(outbound.sessionKey());
    for (let i = 0; i < 30; i++) low.decrypt(outbound.encrypt('x')); // cache at 29
    const high = InboundGroupSession.import(low.exportAt(20));
    expect(low.connected(high)).toBe(true);
    expect(high.connected(low)).toBe(true);
    expect(low.compare(high)).toBe(SessionOrdering.better);
  });

  it('pickles both ratchets, the flag and the config', () => {
    const outbound = GroupSession.create(MegolmSessionConfig.version2());
    const inbound = InboundGroupSession.import(
      InboundGroupSession.fromSessionKey(
        outbound.sessionKey(),
        MegolmSessionConfig.version2(),
      ).exportAtFirstKnownIndex(),
      MegolmSessionConfig.version2(),
    );
    for (let i = 0; i < 5; i++) inbound.decrypt(outbound.encrypt('x'));
    const restored = InboundGroupSession.fromPickle(inbound.pickle(PICKLE_KEY), PICKLE_KEY);
    expect(snapshot(restored)).toBe(snapshot(inbound));
    expect(restored.config).toBe(MegolmSessionConfig.version2());
    expect(restored.isVerified).toBe(false);
    expect(restored.sessionId).toBe(outbound.sessionId);
    expect(restored.decryptText(outbound.encrypt('after')).messageIndex).toBe(5);
    expectTriturusError(
      () => InboundGroupSession.fromPickle(inbound.pickle(PICKLE_KEY), random(32)),
      PickleError,
      'PICKLE_BAD_KEY',
    );
  });

  it('is unusable after free() and never prints its ratchets', () => {
    const outbound = GroupSession.create();
    const inbound = InboundGroupSession.fromSessionKey(outbound.sessionKey());
    const secret = b64(parts(inbound.exportAtFirstKnownIndex()).ratchet).slice(0, 20);
    for (const text of [String(inbound), JSON.stringify(inbound), inspect(inbound, { depth: 10, showHidden: true })]) {
      expect(text).toContain(inbound.sessionId);
      expect(text).not.toContain(secret);
    }
    const exported = inbound.exportAtFirstKnownIndex();
    for (const text of [String(exported), JSON.stringify({ exported }), inspect(exported)]) {
      expect(text).toContain('redacted');
      expect(text).not.toContain(secret);
    }
    inbound.free();
    expectTriturusError(() => inbound.decrypt(outbound.encrypt('x')), SessionError, 'SESSION_NOT_FOUND');
    expectTriturusError(() => inbound.exportAtFirstKnownIndex(), SessionError, 'SESSION_NOT_FOUND');
  });
});
