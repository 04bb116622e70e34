/**
 * Megolm wire formats (olm's docs/megolm.md, "Data exchange formats"): messages, session keys
 * and exported session keys, checked byte by byte against layouts built by hand, and every
 * malformed input refused with a typed error.
 */
import { describe, expect, it } from 'vitest';
import {
  DecodeError,
  ExportedSessionKey,
  GroupSession,
  InboundGroupSession,
  KeyError,
  MegolmMessage,
  SessionKey,
  SignatureError,
  TriturusError,
} from '../../src/index.js';
import {
  b64,
  concat,
  expectTriturusError,
  fromB64,
  random,
  refEncrypt,
  refExportedKey,
  refOpen,
  refSessionKey,
  refSigner,
  refVerify,
  toHex,
  varint,
} from './helpers.js';

const UTF8 = new TextEncoder();

describe('session key (m.room_key, session-sharing format)', () => {
  it('is 0x02 | u32 BE index | R0..R3 | Ed25519 key | signature over the first 165 bytes', () => {
    const session = GroupSession.create();
    for (let i = 0; i < 3; i++) session.encrypt('advance');
    const bytes = session.sessionKey().toBytes();
    expect(bytes.length).toBe(229);
    expect(bytes[0]).toBe(0x02);
    expect(toHex(bytes.subarray(1, 5))).toBe('00000003');
    expect(b64(bytes.subarray(133, 165))).toBe(session.sessionId);
    expect(refVerify(bytes.subarray(133, 165), bytes.subarray(0, 165), bytes.subarray(165))).toBe(true);
  });

  it('decodes a key built by hand and exposes its index, signing key and session id', () => {
    const signer = refSigner();
    const ratchet = random(128);
    const bytes = refSessionKey(0x01020304, ratchet, signer);
    const key = SessionKey.fromBytes(bytes);
    expect(key.messageIndex).toBe(0x01020304);
    expect(key.signingKey.toBytes()).toEqual(signer.publicKey);
    expect(key.sessionId).toBe(b64(signer.publicKey));
    expect(key.toBytes()).toEqual(bytes);
    expect(SessionKey.fromBase64(b64(bytes)).toBase64()).toBe(b64(bytes));
    // Padded base64 is accepted too.
    expect(SessionKey.fromBase64(Buffer.from(bytes).toString('base64')).messageIndex).toBe(0x01020304);
  });

  it('refuses a bad signature, a wrong version and a wrong length', () => {
    const signer = refSigner();
    const bytes = refSessionKey(0, random(128), signer);
    const forged = bytes.slice();
    forged[10]! ^= 1; // ratchet changed after signing
    expectTriturusError(() => SessionKey.fromBytes(forged), SignatureError, 'SIGNATURE_INVALID');
    const wrongVersion = bytes.slice();
    wrongVersion[0] = 0x01;
    const e = expectTriturusError(() => SessionKey.fromBytes(wrongVersion), KeyError, 'KEY_UNSUPPORTED');
    expect(e.details).toEqual({ expected: 2, actual: 1 });
    for (const length of [0, 1, 165, 228, 230]) {
      const err = expectTriturusError(
        () => SessionKey.fromBytes(new Uint8Array(length)),
        KeyError,
        'KEY_INVALID_LENGTH',
      );
      expect(err.details).toEqual({ expected: 229, actual: length });
    }
    expectTriturusError(() => SessionKey.fromBytes(concat(bytes, [0])), KeyError, 'KEY_INVALID_LENGTH');
    expectTriturusError(() => SessionKey.fromBase64('not base64!'), DecodeError, 'BASE64_INVALID');
    expectTriturusError(() => SessionKey.fromBytes('x' as unknown as Uint8Array), TriturusError, 'INVALID_ARGUMENT');
  });
});

describe('exported session key (session-export format)', () => {
  it('is 0x01 | u32 BE index | R0..R3 | Ed25519 key, 165 bytes, unsigned', () => {
    const signer = refSigner();
    const ratchet = random(128);
    const bytes = refExportedKey(77, ratchet, signer.publicKey);
    const key = ExportedSessionKey.fromBytes(bytes);
    expect(key.messageIndex).toBe(77);
    expect(key.sessionId).toBe(b64(signer.publicKey));
    expect(key.toBytes()).toEqual(bytes);
    const inbound = InboundGroupSession.import(key);
    const exported = inbound.exportAtFirstKnownIndex().toBytes();
    expect(exported.length).toBe(165);
    expect(exported).toEqual(bytes);
  });

  it('refuses the wrong version byte (the spec text once said 0x02; implementations use 0x01) and lengths', () => {
    const bytes = refExportedKey(0, random(128), random(32));
    const v2 = bytes.slice();
    v2[0] = 2;
    expectTriturusError(() => ExportedSessionKey.fromBytes(v2), KeyError, 'KEY_UNSUPPORTED');
    expectTriturusError(() => ExportedSessionKey.fromBytes(bytes.subarray(0, 164)), KeyError, 'KEY_INVALID_LENGTH');
    expectTriturusError(() => ExportedSessionKey.fromBytes(concat(bytes, [1])), KeyError, 'KEY_INVALID_LENGTH');
    // A signed session key is not an exported one.
    const sessionKey = GroupSession.create().sessionKey().toBytes();
    expectTriturusError(() => ExportedSessionKey.fromBytes(sessionKey), KeyError, 'KEY_INVALID_LENGTH');
  });
});

describe('Megolm message', () => {
  it('is version | 0x08 index | 0x12 len ciphertext | MAC(8) | signature(64), and opens with the reference', () => {
    const session = GroupSession.create();
    const key = session.sessionKey().toBytes();
    const ratchet = key.slice(5, 133);
    const publicKey = key.slice(133, 165);
    const message = session.encrypt('hello megolm');
    const bytes = message.toBytes();
    expect(bytes[0]).toBe(3);
    expect(bytes[1]).toBe(0x08);
    expect(bytes[2]).toBe(0); // index 0 is encoded, not omitted
    expect(bytes[3]).toBe(0x12);
    expect(bytes[4]).toBe(16); // one AES block
    expect(bytes.length).toBe(5 + 16 + 8 + 64);
    expect(message.messageIndex).toBe(0);
    expect(message.mac).toEqual(bytes.subarray(21, 29));
    expect(message.signature.toBytes()).toEqual(bytes.subarray(29));
    expect(message.ciphertext).toEqual(bytes.subarray(5, 21));
    const opened = refOpen(bytes, ratchet, publicKey);
    expect(opened.index).toBe(0);
    expect(Buffer.from(opened.plaintext).toString()).toBe('hello megolm');
    expect(MegolmMessage.fromBase64(message.toBase64()).toBytes()).toEqual(bytes);
    expect(JSON.stringify({ body: message })).toBe(JSON.stringify({ body: b64(bytes) }));
  });

  it('encodes large indices as varints', () => {
    const signer = refSigner();
    const ratchet = random(128);
    const bytes = refEncrypt(ratchet, 300, UTF8.encode('x'), signer);
    expect(Array.from(bytes.subarray(1, 4))).toEqual([0x08, ...varint(300)]);
    expect(MegolmMessage.fromBytes(bytes).messageIndex).toBe(300);
    const max = refEncrypt(ratchet, 0xffffffff, UTF8.encode('x'), signer);
    expect(MegolmMessage.fromBytes(max).messageIndex).toBe(0xffffffff);
  });

  it('decodes payload fields in any order and skips unknown ones; MAC and signature cover the bytes as sent', () => {
    const signer = refSigner();
    const ratchet = random(128);
    const unknown = concat(
      [0x18, ...varint(99)],
      [0x22, 3, 1, 2, 3],
      [0x2d, 1, 2, 3, 4],
      [0x31, 1, 2, 3, 4, 5, 6, 7, 8],
    );
    const inbound = InboundGroupSession.import(
      ExportedSessionKey.fromBytes(refExportedKey(5, ratchet, signer.publicKey)),
    );
    for (const options of [{ reorder: true }, { unknownFields: unknown }, { reorder: true, unknownFields: unknown }]) {
      const bytes = refEncrypt(ratchet, 5, UTF8.encode('fields'), signer, options);
      const message = MegolmMessage.fromBytes(bytes);
      expect(message.messageIndex).toBe(5);
      expect(new TextDecoder().decode(inbound.decrypt(message).plaintext)).toBe('fields');
    }
  });

  it('takes version 4 with a full 32-byte MAC', () => {
    const signer = refSigner();
    const bytes = refEncrypt(random(128), 1, UTF8.encode('v2'), signer, { version: 4 });
    const message = MegolmMessage.fromBytes(bytes);
    expect(message.version).toBe(4);
    expect(message.mac.length).toBe(32);
  });

  it('refuses malformed messages with DecodeError', () => {
    const signer = refSigner();
    const good = refEncrypt(random(128), 7, UTF8.encode('x'), signer);
    expectTriturusError(() => MegolmMessage.fromBytes(new Uint8Array(0)), DecodeError, 'MESSAGE_MALFORMED');
    const e = expectTriturusError(
      () => MegolmMessage.fromBytes(concat([2], good.subarray(1))),
      DecodeError,
      'MESSAGE_UNSUPPORTED_VERSION',
    );
    expect(e.details.actual).toBe(2);
    expectTriturusError(() => MegolmMessage.fromBytes(good.subarray(0, 60)), DecodeError, 'MESSAGE_MALFORMED');
    // No ciphertext / no index.
    const noCiphertext = concat([3, 0x08, 1], new Uint8Array(72));
    expectTriturusError(() => MegolmMessage.fromBytes(noCiphertext), DecodeError, 'MESSAGE_MISSING_FIELD');
    const noIndex = concat([3, 0x12, 1, 0], new Uint8Array(72));
    expectTriturusError(() => MegolmMessage.fromBytes(noIndex), DecodeError, 'MESSAGE_MISSING_FIELD');
    // A length running past the payload, a truncated varint, an index over 32 bits.
    expectTriturusError(
      () => MegolmMessage.fromBytes(concat([3, 0x08, 1, 0x12, 50, 0], new Uint8Array(72))),
      DecodeError,
      'MESSAGE_MALFORMED',
    );
    expectTriturusError(
      () => MegolmMessage.fromBytes(concat([3, 0x08, 0x80], new Uint8Array(72))),
      DecodeError,
      'VARINT_INVALID',
    );
    expectTriturusError(
      () => MegolmMessage.fromBytes(concat([3, 0x08, ...varint(2 ** 32), 0x12, 0], new Uint8Array(72))),
      DecodeError,
      'MESSAGE_MALFORMED',
    );
    // An unknown wire type (3, a group) in the payload.
    expectTriturusError(
      () => MegolmMessage.fromBytes(concat([3, 0x0b], new Uint8Array(72))),
      DecodeError,
      'MESSAGE_MALFORMED',
    );
    expectTriturusError(() => MegolmMessage.fromBase64('%%%'), DecodeError, 'BASE64_INVALID');
    expectTriturusError(() => MegolmMessage.fromBase64(42 as unknown as string), TriturusError, 'INVALID_ARGUMENT');
  });

  it('copies its input: changing the caller’s buffer afterwards changes nothing', () => {
    const bytes = GroupSession.create().encrypt('x').toBytes();
    const message = MegolmMessage.fromBytes(bytes);
    const before = message.toBase64();
    bytes.fill(0);
    expect(message.toBase64()).toBe(before);
    expect(fromB64(before)[0]).toBe(3);
  });
});
