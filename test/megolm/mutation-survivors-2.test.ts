/**
 * Tests for the Megolm mutants that survived the incremental runs (test/MUTATION.md, "Megolm
 * survivors"): behaviour the API promises that no test pinned. Both backends.
 * - the internal constructors (`fromParts`) refuse bad parts with their details, and keep the
 *   parts they take as copies; inbound sessions keep the furthest ratchet reached (what the libolm
 *   exporter writes as the "latest" ratchet), and never share bytes with a key or another session;
 * - the record bodies the Device seals (`groupSessionBody` and friends): round trips, refusals of
 *   unknown schemas, signing-key forms and inconsistent ratchets;
 * - message and key decoding edge cases: lengths at the boundaries, a field with the wrong wire
 *   type, defensive copies;
 * - key-export files: the armor (padding, line breaks), the length and maxRounds boundaries, each
 *   refusal's details, which entry and field a refusal names, optional fields absent rather than
 *   undefined, and a backend failure wrapped with its cause.
 * Messages are checked only where they carry information (which field or argument was wrong).
 */
import { createCipheriv, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { type CryptoBackend, cryptoBackend, Ed25519SecretKey, setCryptoBackend } from '../../src/crypto/index.js';
import { DecodeError, DecryptionError, PickleError, TriturusError } from '../../src/errors.js';
import { ed25519Bytes } from '../../src/keys.js';
import { MegolmSessionConfig } from '../../src/megolm/config.js';
import {
  decryptKeyExport,
  encryptKeyExport,
  type RoomKeyExport,
  roomKeyExportFromJson,
  roomKeyExportToJson,
} from '../../src/megolm/export.js';
import { GroupSession, groupSessionBody, groupSessionFromBody } from '../../src/megolm/group-session.js';
import {
  InboundGroupSession,
  inboundSessionBody,
  inboundSessionFromBody,
} from '../../src/megolm/inbound-group-session.js';
import { MegolmMessage } from '../../src/megolm/messages.js';
import { thrown } from '../olm/helpers.js';
import { refOpen } from './helpers.js';

function refusal(fn: () => unknown, code: string): TriturusError {
  const error = thrown(fn);
  expect(error).toBeInstanceOf(TriturusError);
  expect((error as TriturusError).code).toBe(code);
  return error as TriturusError;
}
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  return expect.fail('expected a rejection');
}
async function refusalAsync(promise: Promise<unknown>, code: string): Promise<TriturusError> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(TriturusError);
  expect((error as TriturusError).code).toBe(code);
  return error as TriturusError;
}

/** An outbound session, its first `count` messages, and the ratchet at each index (from exports). */
function sessionWithMessages(count: number) {
  const outbound = GroupSession.create();
  const reference = InboundGroupSession.fromSessionKey(outbound.sessionKey());
  const messages = Array.from({ length: count }, (_, i) => outbound.encrypt(`message ${i}`));
  const ratchetAt = (index: number) => reference.exportAt(index).toBytes().slice(5, 133);
  const signingKey = ed25519Bytes(outbound.signingKey).slice();
  return { outbound, reference, messages, ratchetAt, signingKey };
}

// ---------------------------------------------------------------------------------------------
// Outbound sessions

describe('GroupSession.fromParts refuses bad parts, with details', () => {
  const parts = () => ({
    config: MegolmSessionConfig.version1(),
    ratchet: new Uint8Array(128).fill(7),
    counter: 0,
    signingKey: Ed25519SecretKey.generate(),
  });

  it('a ratchet that is not 128 bytes', () => {
    for (const ratchet of [new Uint8Array(127), new Uint8Array(129), Array(128).fill(0)]) {
      const error = refusal(
        () => GroupSession.fromParts({ ...parts(), ratchet: ratchet as Uint8Array }),
        'INVALID_ARGUMENT',
      );
      expect(error.details).toEqual({ expected: 128 });
    }
  });

  it('an index that is not a 32-bit unsigned integer; 0 and 2^32 - 1 are accepted', () => {
    for (const counter of [-1, 1.5, 2 ** 32, Number.NaN]) {
      const error = refusal(() => GroupSession.fromParts({ ...parts(), counter }), 'INVALID_ARGUMENT');
      expect(error.details).toEqual({ actual: counter });
    }
    expect(GroupSession.fromParts({ ...parts(), counter: 0xffffffff }).messageIndex).toBe(0xffffffff);
    expect(GroupSession.fromParts({ ...parts(), counter: 0 }).messageIndex).toBe(0);
  });

  it('advanceTo(0) on a new session changes nothing and returns false (0 is a valid index)', () => {
    const session = GroupSession.create();
    expect(session.advanceTo(0)).toBe(false);
    expect(session.messageIndex).toBe(0);
  });

  it('toString names the session by its id', () => {
    const session = GroupSession.create();
    expect(String(session)).toBe(`GroupSession(${session.sessionId})`);
  });
});

describe('outbound session record bodies (groupSessionBody / groupSessionFromBody)', () => {
  it('round-trip: the restored session goes on where the original stopped', () => {
    const { outbound, reference } = sessionWithMessages(3);
    const restored = groupSessionFromBody(groupSessionBody(outbound));
    expect(restored.sessionId).toBe(outbound.sessionId);
    expect(restored.messageIndex).toBe(3);
    expect(reference.decryptText(restored.encrypt('after')).plaintext).toBe('after');
  });

  it('a freed session has no body', () => {
    const session = GroupSession.create();
    session.free();
    refusal(() => groupSessionBody(session), 'SESSION_NOT_FOUND');
  });

  it('a generated signing key is kept as its 32-byte seed (form 0); a libolm expanded key as 64 bytes (form 1)', () => {
    const body = groupSessionBody(GroupSession.create());
    expect(body.length).toBe(1 + 1 + 4 + 128 + 1 + 32 + 32);
    expect(body[134]).toBe(0);

    const generated = Ed25519SecretKey.generate();
    const expanded = Ed25519SecretKey.fromExpanded(generated.expandedBytes(), generated.publicKey);
    const session = GroupSession.fromParts({
      config: MegolmSessionConfig.version2(),
      ratchet: new Uint8Array(128).fill(1),
      counter: 9,
      signingKey: expanded,
    });
    const expandedBody = groupSessionBody(session);
    expect(expandedBody.length).toBe(1 + 1 + 4 + 128 + 1 + 64 + 32);
    expect(expandedBody[134]).toBe(1);
    const restored = groupSessionFromBody(expandedBody.slice());
    expect(restored.sessionId).toBe(session.sessionId);
    expect(restored.config).toBe(MegolmSessionConfig.version2());
    expect(restored.messageIndex).toBe(9);

    // An unknown form is refused, even when the bytes that follow would fit the 64-byte form.
    const unknown = expandedBody.slice();
    unknown[134] = 2;
    const error = refusal(() => groupSessionFromBody(unknown), 'PICKLE_INVALID');
    expect(error).toBeInstanceOf(PickleError);
  });

  it('an unknown schema is refused with its number', () => {
    const body = groupSessionBody(GroupSession.create());
    body[0] = 2;
    const error = refusal(() => groupSessionFromBody(body), 'PICKLE_UNSUPPORTED_VERSION');
    expect(error).toBeInstanceOf(PickleError);
    expect(error.details).toEqual({ actual: 2 });
  });
});

describe('messages longer than the short-MAC path', () => {
  it('a 1000-byte plaintext carries the MAC the spec defines (checked by the reference)', () => {
    const outbound = GroupSession.create();
    const ratchet = outbound.toParts().ratchet;
    const plaintext = new Uint8Array(1000).fill(0x61);
    const message = outbound.encrypt(plaintext);
    const opened = refOpen(message.toBytes(), ratchet, ed25519Bytes(outbound.signingKey));
    expect(opened.index).toBe(0);
    expect(Buffer.from(opened.plaintext).equals(Buffer.from(plaintext))).toBe(true);
  });
});

describe('MegolmSessionConfig', () => {
  it('MAC lengths and toString', () => {
    expect(MegolmSessionConfig.version1().macLength).toBe(8);
    expect(MegolmSessionConfig.version2().macLength).toBe(32);
    expect(String(MegolmSessionConfig.version1())).toBe('MegolmSessionConfig(version 1)');
    expect(String(MegolmSessionConfig.version2())).toBe('MegolmSessionConfig(version 2)');
  });
});

// ---------------------------------------------------------------------------------------------
// Inbound sessions

describe('InboundGroupSession index checks carry the refused number', () => {
  it('advanceTo and exportAt', () => {
    const { reference } = sessionWithMessages(0);
    for (const index of [-1, 1.5, 2 ** 32]) {
      expect(refusal(() => reference.advanceTo(index), 'INVALID_ARGUMENT').details).toEqual({ actual: index });
      expect(refusal(() => reference.exportAt(index), 'INVALID_ARGUMENT').details).toEqual({ actual: index });
    }
    expect(refusal(() => reference.advanceTo('3' as unknown as number), 'INVALID_ARGUMENT').details).toEqual({
      actual: Number.NaN,
    });
  });
});

describe('InboundGroupSession.fromParts', () => {
  function parts(s: ReturnType<typeof sessionWithMessages>, initial: number, latest: number) {
    return {
      config: MegolmSessionConfig.version1(),
      signingKey: s.signingKey,
      initial: { data: s.ratchetAt(initial), counter: initial },
      latest: { data: s.ratchetAt(latest), counter: latest },
      verified: false,
    };
  }

  it('refuses a ratchet that is not 128 bytes, naming which one', () => {
    const s = sessionWithMessages(1);
    const good = parts(s, 0, 0);
    let error = refusal(
      () => InboundGroupSession.fromParts({ ...good, initial: { data: new Uint8Array(127), counter: 0 } }),
      'INVALID_ARGUMENT',
    );
    expect(error.details).toEqual({ expected: 128 });
    expect(error.message).toMatch(/initial/);
    error = refusal(
      () =>
        InboundGroupSession.fromParts({
          ...good,
          latest: { data: Array(128).fill(0) as unknown as Uint8Array, counter: 0 },
        }),
      'INVALID_ARGUMENT',
    );
    expect(error.details).toEqual({ expected: 128 });
    expect(error.message).toMatch(/latest/);
  });

  it('refuses an index out of range, naming which ratchet', () => {
    const s = sessionWithMessages(1);
    const good = parts(s, 0, 0);
    let error = refusal(
      () => InboundGroupSession.fromParts({ ...good, latest: { data: good.latest.data, counter: -1 } }),
      'INVALID_ARGUMENT',
    );
    expect(error.details).toEqual({ actual: -1 });
    expect(error.message).toMatch(/latest ratchet index/);
    error = refusal(
      () => InboundGroupSession.fromParts({ ...good, initial: { data: good.initial.data, counter: 2 ** 32 } }),
      'INVALID_ARGUMENT',
    );
    expect(error.message).toMatch(/initial ratchet index/);
  });

  it('keeps a latest ratchet at or above the initial one as given', () => {
    const s = sessionWithMessages(8);
    const above = InboundGroupSession.fromParts(parts(s, 5, 7));
    expect(above.toParts().latest.counter).toBe(7);
    expect(above.toParts().latest.data).toEqual(s.ratchetAt(7));
    expect(above.decryptText(s.messages[7]!).plaintext).toBe('message 7');
    // Equal indices: the latest part is the one given (parts are taken, not recomputed).
    const other = new Uint8Array(128).fill(0x5a);
    const equal = InboundGroupSession.fromParts({
      ...parts(s, 5, 5),
      latest: { data: other, counter: 5 },
    });
    expect(equal.toParts().latest.data).toEqual(other);
    expect(equal.toParts().initial.data).toEqual(s.ratchetAt(5));
  });

  it('drops a latest ratchet below the initial one (a copy of the initial takes its place)', () => {
    const s = sessionWithMessages(8);
    const session = InboundGroupSession.fromParts(parts(s, 5, 2));
    const p = session.toParts();
    expect(p.latest.counter).toBe(5);
    expect(p.latest.data).toEqual(s.ratchetAt(5));
    // The pickle of such a session loads (a latest below the initial would be refused).
    const key = new Uint8Array(32).fill(3);
    expect(InboundGroupSession.fromPickle(session.pickle(key), key).firstKnownIndex).toBe(5);
    // The copy is a copy: moving the cache forward leaves the first known ratchet alone.
    expect(session.decryptText(s.messages[7]!).plaintext).toBe('message 7');
    expect(session.exportAtFirstKnownIndex().toBytes().slice(5, 133)).toEqual(s.ratchetAt(5));
    expect(session.decryptText(s.messages[5]!).plaintext).toBe('message 5');
  });

  it('toParts returns copies (changing them changes nothing)', () => {
    const s = sessionWithMessages(1);
    const session = InboundGroupSession.fromParts(parts(s, 0, 0));
    session.toParts().signingKey.fill(0);
    expect(session.toParts().signingKey).toEqual(s.signingKey);
    expect(session.signingKey.toBytes()).toEqual(s.signingKey);
  });

  it('the signingKey getter is the sender session key', () => {
    const s = sessionWithMessages(1);
    expect(s.reference.signingKey.equals(s.outbound.signingKey)).toBe(true);
    expect(s.reference.signingKey.toBase64()).toBe(s.reference.sessionId);
  });
});

describe('the latest ratchet an inbound session keeps is the furthest one decrypted', () => {
  it('moves forward on a later message, not back on an earlier one', () => {
    const s = sessionWithMessages(8);
    const late = InboundGroupSession.fromSessionKey(s.outbound.sessionKey());
    expect(late.toParts().latest.counter).toBe(8); // the session key was taken at index 8
    const early = InboundGroupSession.import(s.reference.exportAt(0));
    expect(early.toParts().latest.counter).toBe(0);
    early.decrypt(s.messages[5]!);
    expect(early.toParts().latest.counter).toBe(5);
    expect(early.toParts().latest.data).toEqual(s.ratchetAt(5));
    early.decrypt(s.messages[3]!);
    expect(early.toParts().latest.counter).toBe(5);
    expect(early.toParts().latest.data).toEqual(s.ratchetAt(5));
    early.decrypt(s.messages[0]!);
    expect(early.toParts().latest.counter).toBe(5);
    expect(early.toParts().initial.counter).toBe(0);
  });

  it('advanceTo keeps a latest ratchet beyond the new start, and lifts one below it', () => {
    const s = sessionWithMessages(9);
    const ahead = InboundGroupSession.import(s.reference.exportAt(0));
    ahead.decrypt(s.messages[8]!);
    expect(ahead.advanceTo(3)).toBe(true);
    expect(ahead.toParts().initial.counter).toBe(3);
    expect(ahead.toParts().latest.counter).toBe(8);
    expect(ahead.toParts().latest.data).toEqual(s.ratchetAt(8));

    const behind = InboundGroupSession.import(s.reference.exportAt(0));
    expect(behind.advanceTo(5)).toBe(true);
    expect(behind.toParts().latest.counter).toBe(5);
    expect(behind.toParts().latest.data).toEqual(s.ratchetAt(5));
    const key = new Uint8Array(32).fill(4);
    expect(InboundGroupSession.fromPickle(behind.pickle(key), key).firstKnownIndex).toBe(5);
    expect(inboundSessionFromBody(inboundSessionBody(behind)).toParts().latest.counter).toBe(5);
  });
});

describe('inbound sessions share no bytes with the key they came from or the sessions they merge', () => {
  it('import: wiping the exported key afterwards leaves the session whole', () => {
    const s = sessionWithMessages(2);
    const key = s.reference.exportAt(0);
    const before = key.toBytes();
    const session = InboundGroupSession.import(key);
    key.wipe();
    expect(session.exportAtFirstKnownIndex().toBytes()).toEqual(before);
    expect(session.decryptText(s.messages[0]!).plaintext).toBe('message 0');
  });

  it('merge: using the merged session changes neither input ("neither input changes")', () => {
    const s = sessionWithMessages(4);
    const a = InboundGroupSession.import(s.reference.exportAt(0));
    const b = InboundGroupSession.import(s.reference.exportAt(0));
    const aFirst = a.exportAtFirstKnownIndex().toBytes();
    const merged = a.merge(b);
    expect(merged.decryptText(s.messages[3]!).plaintext).toBe('message 3');
    expect(merged.advanceTo(2)).toBe(true);
    expect(a.exportAtFirstKnownIndex().toBytes()).toEqual(aFirst);
    expect(a.toParts().latest.data).toEqual(s.ratchetAt(0));
    expect(a.decryptText(s.messages[0]!).plaintext).toBe('message 0');
  });
});

describe('inbound session record bodies (inboundSessionBody / inboundSessionFromBody)', () => {
  it('round-trip', () => {
    const s = sessionWithMessages(4);
    const session = InboundGroupSession.import(s.reference.exportAt(1));
    session.decrypt(s.messages[2]!);
    const restored = inboundSessionFromBody(inboundSessionBody(session));
    expect(restored.sessionId).toBe(session.sessionId);
    expect(restored.firstKnownIndex).toBe(1);
    expect(restored.isVerified).toBe(false);
    expect(restored.toParts().latest.counter).toBe(2);
    expect(restored.decryptText(s.messages[3]!).plaintext).toBe('message 3');
  });

  it('a freed session has no body', () => {
    const session = InboundGroupSession.fromSessionKey(GroupSession.create().sessionKey());
    session.free();
    refusal(() => inboundSessionBody(session), 'SESSION_NOT_FOUND');
  });

  it('refuses an unknown schema (with its number) and a latest ratchet behind the initial one', () => {
    const s = sessionWithMessages(6);
    const session = InboundGroupSession.import(s.reference.exportAt(5));
    const body = inboundSessionBody(session);
    const schema = body.slice();
    schema[0] = 7;
    const error = refusal(() => inboundSessionFromBody(schema), 'PICKLE_UNSUPPORTED_VERSION');
    expect(error.details).toEqual({ actual: 7 });
    // schema, config, verified, signing key (32), initial index (4) and ratchet (128), then the latest index
    const behind = body.slice();
    new DataView(behind.buffer).setUint32(1 + 1 + 1 + 32 + 4 + 128, 4);
    expect(refusal(() => inboundSessionFromBody(behind), 'PICKLE_INVALID')).toBeInstanceOf(PickleError);
    const equal = body.slice();
    expect(inboundSessionFromBody(equal).firstKnownIndex).toBe(5);
  });
});

// ---------------------------------------------------------------------------------------------
// Messages and keys

describe('Megolm message decoding at the length boundaries', () => {
  it('one byte is too short for the MAC and signature (with both lengths)', () => {
    expect(refusal(() => MegolmMessage.fromBytes(Uint8Array.of(3)), 'MESSAGE_MALFORMED').details).toEqual({
      expected: 73,
      actual: 1,
    });
    expect(refusal(() => MegolmMessage.fromBytes(Uint8Array.of(4)), 'MESSAGE_MALFORMED').details).toEqual({
      expected: 97,
      actual: 1,
    });
    expect(refusal(() => MegolmMessage.fromBytes(new Uint8Array(72).fill(3)), 'MESSAGE_MALFORMED').details).toEqual({
      expected: 73,
      actual: 72,
    });
  });

  it('version, MAC and signature with an empty payload lack the fields', () => {
    const bytes = new Uint8Array(73);
    bytes[0] = 3;
    refusal(() => MegolmMessage.fromBytes(bytes), 'MESSAGE_MISSING_FIELD');
  });

  it('a field 2 sent as a varint is skipped as unknown, not read as the ciphertext', () => {
    const payload = [3, 0x10, 0x05, 0x08, 0x07, 0x12, 0x02, 0xaa, 0xbb];
    const bytes = Uint8Array.from([...payload, ...new Array(8 + 64).fill(0)]);
    const message = MegolmMessage.fromBytes(bytes);
    expect(message.messageIndex).toBe(7);
    expect(message.ciphertext).toEqual(Uint8Array.of(0xaa, 0xbb));
  });

  it('toString names the version and index', () => {
    const session = GroupSession.create();
    session.encrypt('a');
    expect(String(session.encrypt('b'))).toBe('MegolmMessage(version 3, index 1)');
  });
});

describe('session keys hand out copies', () => {
  it('SessionKey.toBytes and ExportedSessionKey.toBytes', () => {
    const outbound = GroupSession.create();
    const key = outbound.sessionKey();
    const exported = InboundGroupSession.fromSessionKey(key).exportAt(0);
    for (const k of [key, exported]) {
      const before = Uint8Array.from(k.toBytes());
      k.toBytes().fill(0);
      expect(k.toBytes()).toEqual(before);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Key-export files

const HEADER = '-----BEGIN MEGOLM SESSION DATA-----';
const FOOTER = '-----END MEGOLM SESSION DATA-----';

function entryOf(session: InboundGroupSession, roomId = '!room:example.org'): RoomKeyExport {
  return {
    algorithm: 'm.megolm.v1.aes-sha2',
    roomId,
    senderKey: 'c2VuZGVyIGN1cnZlMjU1MTkga2V5IGluIGJhc2U2NA',
    sessionId: session.sessionId,
    sessionKey: session.exportAtFirstKnownIndex(),
    senderClaimedKeys: { ed25519: 'Y2xhaW1lZCBlZDI1NTE5IGtleSBpbiBiYXNlIDY0' },
    forwardingCurve25519KeyChain: [],
  };
}
const newEntry = () => entryOf(InboundGroupSession.fromSessionKey(GroupSession.create().sessionKey()));

/** A key-export file (spec, "Key exports") of any plaintext, built with node:crypto. */
function exportFile(plaintext: string, passphrase: string, rounds = 1): string {
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  iv[8]! &= 0x7f;
  const keys = pbkdf2Sync(passphrase, salt, rounds, 64, 'sha512');
  const cipher = createCipheriv('aes-256-ctr', keys.subarray(0, 32), iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const roundBytes = Buffer.alloc(4);
  roundBytes.writeUInt32BE(rounds);
  const body = Buffer.concat([Buffer.of(1), salt, iv, roundBytes, ciphertext]);
  const mac = createHmac('sha256', keys.subarray(32, 64)).update(body).digest();
  return `${HEADER}\n${Buffer.concat([body, mac]).toString('base64')}\n${FOOTER}\n`;
}
const armored = (bytes: Uint8Array) => `${HEADER}\n${Buffer.from(bytes).toString('base64')}\n${FOOTER}\n`;

describe('key-export armor', () => {
  it('the base64 body is padded to a multiple of 4', async () => {
    // 37 + JSON + 32 bytes: some length among three consecutive room ids is not a multiple of 3.
    const session = InboundGroupSession.fromSessionKey(GroupSession.create().sessionKey());
    for (const roomId of ['!a:x', '!ab:x', '!abc:x']) {
      const file = await encryptKeyExport([entryOf(session, roomId)], 'p', { rounds: 1 });
      const body = file.split('\n').slice(1, -2).join('');
      expect(body.length % 4).toBe(0);
      const unpadded = body.replace(/=+$/, '');
      expect(body.length - unpadded.length).toBe((4 - (unpadded.length % 4)) % 4);
    }
  });

  it('lines of 96 characters, and no empty line when the body fills its last line', async () => {
    const session = InboundGroupSession.fromSessionKey(GroupSession.create().sessionKey());
    // The file is 37 + JSON + 32 bytes; 72 bytes make one full 96-character line.
    let roomId = '!r:x';
    while ((69 + JSON.stringify([roomKeyExportToJson(entryOf(session, roomId))]).length) % 72 !== 0) roomId += 'a';
    const file = await encryptKeyExport([entryOf(session, roomId)], 'p', { rounds: 1 });
    const lines = file.split('\n');
    expect(lines[0]).toBe(HEADER);
    expect(lines.at(-2)).toBe(FOOTER);
    expect(lines.at(-1)).toBe('');
    const body = lines.slice(1, -2);
    expect(body.every((line) => line.length === 96)).toBe(true);
    expect((await decryptKeyExport(file, 'p'))[0]!.roomId).toBe(roomId);
  });

  it('the header and footer lines with nothing between: too short, with the lengths', async () => {
    const error = await refusalAsync(decryptKeyExport(HEADER + FOOTER, 'p'), 'KEY_EXPORT_MALFORMED');
    expect(error.details).toEqual({ expected: 69, actual: 0 });
  });

  it('a header and footer sharing their dashes is not an armor (refused before any length check)', async () => {
    const text = `${HEADER}${FOOTER.slice(5)}`;
    expect(text.startsWith(HEADER) && text.endsWith(FOOTER)).toBe(true);
    const error = await refusalAsync(decryptKeyExport(text, 'p'), 'KEY_EXPORT_MALFORMED');
    expect(error.details).toEqual({});
  });
});

describe('key-export lengths and limits', () => {
  it('69 bytes (no ciphertext) is long enough to be checked against the passphrase; 68 is not', async () => {
    const bytes = new Uint8Array(69).fill(0x33);
    bytes[0] = 1;
    new DataView(bytes.buffer).setUint32(33, 1);
    const error = await refusalAsync(decryptKeyExport(armored(bytes), 'p'), 'KEY_EXPORT_BAD_PASSPHRASE');
    expect(error).toBeInstanceOf(DecryptionError);
    const short = await refusalAsync(decryptKeyExport(armored(bytes.subarray(0, 68)), 'p'), 'KEY_EXPORT_MALFORMED');
    expect(short.details).toEqual({ expected: 69, actual: 68 });
  });

  it('maxRounds must be a positive integer; 1 allows one-round files', async () => {
    const file = exportFile('[]', 'p', 1);
    for (const maxRounds of [0, -1, 1.5]) {
      await refusalAsync(decryptKeyExport(file, 'p', { maxRounds }), 'INVALID_ARGUMENT');
    }
    expect(await decryptKeyExport(file, 'p', { maxRounds: 1 })).toEqual([]);
  });

  it('encryption accepts 2^32 - 1 rounds (seen through the first progress report) and refuses 2^32', async () => {
    class Stop extends Error {}
    const stopped = await rejection(
      encryptKeyExport([], 'p', {
        rounds: 0xffffffff,
        onProgress: () => {
          throw new Stop();
        },
      }),
    );
    expect(stopped).toBeInstanceOf(Stop);
    const error = await refusalAsync(encryptKeyExport([], 'p', { rounds: 2 ** 32 }), 'INVALID_ARGUMENT');
    expect(error.details).toEqual({ actual: 2 ** 32 });
  });

  it('argument checks name the argument', async () => {
    expect((await refusalAsync(encryptKeyExport([], 5 as unknown as string), 'INVALID_ARGUMENT')).message).toMatch(
      /passphrase/,
    );
    expect((await refusalAsync(decryptKeyExport('x', 5 as unknown as string), 'INVALID_ARGUMENT')).message).toMatch(
      /passphrase/,
    );
    expect((await refusalAsync(decryptKeyExport(5 as unknown as string, 'p'), 'INVALID_ARGUMENT')).message).toMatch(
      /key export/,
    );
  });
});

describe('key-export entries: a refusal names the entry and the field', () => {
  const bad: [string, (e: RoomKeyExport) => unknown][] = [
    ['sessionKey', (e) => ({ ...e, sessionKey: 'not a key' })],
    ['sessionId', (e) => ({ ...e, sessionId: 5 })],
    ['sessionId', (e) => ({ ...e, sessionId: 'AAAA' })],
    ['senderClaimedKeys', (e) => ({ ...e, senderClaimedKeys: [] })],
    ['senderClaimedKeys.ed25519', (e) => ({ ...e, senderClaimedKeys: { ed25519: 5 } })],
    ['forwardingCurve25519KeyChain', (e) => ({ ...e, forwardingCurve25519KeyChain: 'x' })],
    ['forwardingCurve25519KeyChain[1]', (e) => ({ ...e, forwardingCurve25519KeyChain: ['a', 5] })],
    ['sharedHistory', (e) => ({ ...e, sharedHistory: 'yes' })],
    ['algorithm', (e) => ({ ...e, algorithm: 5 })],
    ['roomId', (e) => ({ ...e, roomId: null })],
    ['senderKey', (e) => ({ ...e, senderKey: undefined })],
  ];

  it('encryptKeyExport: sessions[i].field', async () => {
    const good = newEntry();
    const notObject = await refusalAsync(
      encryptKeyExport([good, null as never], 'p', { rounds: 1 }),
      'INVALID_ARGUMENT',
    );
    expect(notObject.message).toMatch(/sessions\[1\]/);
    for (const [name, make] of bad) {
      const error = await refusalAsync(
        encryptKeyExport([good, make(newEntry()) as RoomKeyExport], 'p', { rounds: 1 }),
        'INVALID_ARGUMENT',
      );
      expect(error.message).toContain(`sessions[1].${name}`);
    }
  });

  it('roomKeyExportToJson: entry.field', () => {
    for (const [name, make] of bad) {
      const error = refusal(() => roomKeyExportToJson(make(newEntry()) as RoomKeyExport), 'INVALID_ARGUMENT');
      expect(error.message).toContain(`entry.${name}`);
    }
  });

  it('decryptKeyExport and roomKeyExportFromJson: the entry number, and the field in details', async () => {
    const good = roomKeyExportToJson(newEntry());
    const cases: [string, Record<string, unknown>][] = [
      ['room_id', { ...good, room_id: 5 }],
      ['sender_claimed_keys', { ...good, sender_claimed_keys: null }],
      ['sender_claimed_keys', { ...good, sender_claimed_keys: ['a'] }],
      ['forwarding_curve25519_key_chain', { ...good, forwarding_curve25519_key_chain: [5] }],
      ['session_key', { ...good, session_key: 'AAAA' }],
      ['session_id', { ...good, session_id: 'AAAA' }],
    ];
    for (const [name, entry] of cases) {
      const direct = refusal(() => roomKeyExportFromJson(entry), 'KEY_EXPORT_MALFORMED');
      expect(direct).toBeInstanceOf(DecodeError);
      expect(direct.details).toEqual({ field: name });
      expect(direct.message).toContain(`"${name}"`);
      const error = await refusalAsync(
        decryptKeyExport(exportFile(JSON.stringify([good, entry]), 'p'), 'p'),
        'KEY_EXPORT_MALFORMED',
      );
      expect(error.details).toEqual({ field: name });
      expect(error.message).toContain('entry 1');
      if (name === 'session_key') expect(error.cause).toBeInstanceOf(TriturusError);
    }
    const notObject = await refusalAsync(
      decryptKeyExport(exportFile(JSON.stringify([good, 'x']), 'p'), 'p'),
      'KEY_EXPORT_MALFORMED',
    );
    expect(notObject.message).toContain('entry 1');
  });

  it('optional fields: absent stays absent (no key holding undefined)', () => {
    const entry = newEntry();
    const json = roomKeyExportToJson(entry);
    expect(Object.keys(json)).not.toContain('shared_history');
    expect(Object.keys(roomKeyExportToJson({ ...entry, sharedHistory: false }))).toContain('shared_history');
    const back = roomKeyExportFromJson(json);
    expect(Object.keys(back)).not.toContain('sharedHistory');
    expect(roomKeyExportFromJson({ ...json, shared_history: true }).sharedHistory).toBe(true);
    expect(Object.keys(roomKeyExportFromJson({ ...json, shared_history: 'yes' }))).not.toContain('sharedHistory');
  });
});

describe('key-export plaintexts that are not an array of entries', () => {
  it('a JSON object is refused as such (KEY_EXPORT_MALFORMED, no internal cause)', async () => {
    for (const json of ['{}', '{"map":1}', '"text"', '5']) {
      const error = await refusalAsync(decryptKeyExport(exportFile(json, 'p'), 'p'), 'KEY_EXPORT_MALFORMED');
      expect(error.cause).toBeUndefined();
    }
  });
});

describe('a backend failure while opening a key export', () => {
  const shipped = cryptoBackend();
  afterEach(() => setCryptoBackend(shipped));

  it('is KEY_EXPORT_MALFORMED with the failure as its cause', async () => {
    const file = exportFile('[]', 'p');
    const failure = new Error('backend failure');
    const failing = Object.assign(Object.create(shipped) as CryptoBackend, {
      aes256Ctr: () => {
        throw failure;
      },
    });
    setCryptoBackend(failing);
    const error = await refusalAsync(decryptKeyExport(file, 'p'), 'KEY_EXPORT_MALFORMED');
    expect(error).toBeInstanceOf(DecodeError);
    expect(error.cause).toBe(failure);
    setCryptoBackend(shipped);
    expect(await decryptKeyExport(file, 'p')).toEqual([]);
  });
});
