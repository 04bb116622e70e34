/**
 * Live Megolm interop with libolm 3.2 (`@towns-protocol/olm`, WASM): messages both ways, session
 * keys and exports byte-identical at the same index, imports at later indices, and libolm's
 * OutboundGroupSession / InboundGroupSession pickles read (and written back) and used.
 */
import type { InboundGroupSession as LibolmInbound, OutboundGroupSession as LibolmOutbound } from '@towns-protocol/olm';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  DecryptionError,
  ExportedSessionKey,
  GroupSession,
  InboundGroupSession,
  MegolmMessage,
  MegolmSessionConfig,
  PickleError,
  SessionKey,
  SessionOrdering,
  TriturusError,
} from '../../src/index.js';
import { sealLibolmPickle } from '../../src/libolm/container.js';
import {
  groupSessionFromLibolmPickle,
  groupSessionToLibolmPickle,
  inboundGroupSessionFromLibolmPickle,
  inboundGroupSessionToLibolmPickle,
} from '../../src/libolm/index.js';
import { LibolmScope, loadLibolm, type OlmImpl } from '../support/libolm.js';
import { expectTriturusError } from './helpers.js';

let olm: OlmImpl;
let scope: LibolmScope;

beforeAll(async () => {
  olm = await loadLibolm();
});

afterEach(() => scope?.free());

function fresh(): LibolmScope {
  scope = new LibolmScope(olm);
  return scope;
}

function libolmOutbound(): LibolmOutbound {
  const s = scope.track(new olm.OutboundGroupSession());
  s.create();
  return s;
}

function libolmInbound(key: string, imported = false): LibolmInbound {
  const s = scope.track(new olm.InboundGroupSession());
  if (imported) s.import_session(key);
  else s.create(key);
  return s;
}

/** libolm's error message (e.g. OLM.UNKNOWN_MESSAGE_INDEX), never its whole module. */
function libolmError(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return (error as Error).message;
  }
  return 'no error';
}

const PICKLE_KEY = Uint8Array.from({ length: 32 }, (_, i) => i * 7);

describe('libolm interop: messages', () => {
  it('libolm outbound → triturus inbound, in order, out of order and repeated', () => {
    fresh();
    const out = libolmOutbound();
    const inbound = InboundGroupSession.fromSessionKey(SessionKey.fromBase64(out.session_key()));
    expect(inbound.sessionId).toBe(out.session_id());
    const bodies = Array.from({ length: 300 }, (_, i) => out.encrypt(`libolm ${i} ✓`));
    for (const i of [0, 1, 2, 299, 3, 255, 256, 100, 100, 0]) {
      expect(inbound.decryptText(MegolmMessage.fromBase64(bodies[i]!))).toEqual({
        plaintext: `libolm ${i} ✓`,
        messageIndex: i,
      });
    }
  });

  it('triturus outbound → libolm inbound, and message indices agree', () => {
    fresh();
    const out = GroupSession.create();
    const inbound = libolmInbound(out.sessionKey().toBase64());
    expect(inbound.session_id()).toBe(out.sessionId);
    expect(inbound.first_known_index()).toBe(0);
    const sent = Array.from({ length: 260 }, (_, i) => out.encrypt(`triturus ${i}`).toBase64());
    for (const i of [0, 259, 1, 256, 255, 7]) {
      const result = inbound.decrypt(sent[i]!);
      expect(result.plaintext).toBe(`triturus ${i}`);
      expect(result.message_index).toBe(i);
    }
  });

  it('libolm refuses a tampered triturus message and triturus a tampered libolm one', () => {
    fresh();
    const out = GroupSession.create();
    const inbound = libolmInbound(out.sessionKey().toBase64());
    const bytes = out.encrypt('x').toBytes();
    bytes[6]! ^= 1;
    expect(libolmError(() => inbound.decrypt(Buffer.from(bytes).toString('base64').replace(/=+$/, '')))).toBe(
      'OLM.BAD_SIGNATURE',
    );
    const lout = libolmOutbound();
    const ours = InboundGroupSession.fromSessionKey(SessionKey.fromBase64(lout.session_key()));
    const theirs = MegolmMessage.fromBase64(lout.encrypt('y')).toBytes();
    theirs[theirs.length - 1]! ^= 1;
    expect(() => ours.decrypt(MegolmMessage.fromBytes(theirs))).toThrow(TriturusError);
  });
});

describe('libolm interop: session keys and exports', () => {
  it('a libolm session key imported in triturus exports byte-identically to libolm at every index', () => {
    fresh();
    const out = libolmOutbound();
    for (let i = 0; i < 5; i++) out.encrypt('advance');
    const key = out.session_key();
    const ours = InboundGroupSession.fromSessionKey(SessionKey.fromBase64(key));
    const theirs = libolmInbound(key);
    expect(ours.firstKnownIndex).toBe(5);
    for (const i of [5, 6, 255, 256, 65535, 65536, 70000, 2 ** 24 + 3]) {
      expect(ours.exportAt(i).toBase64(), `index ${i}`).toBe(theirs.export_session(i));
    }
    expect(ours.exportAtFirstKnownIndex().toBase64()).toBe(theirs.export_session(5));
  });

  it('triturus’s session key is accepted by libolm, with identical exports, at a later index too', () => {
    fresh();
    const out = GroupSession.create();
    for (let i = 0; i < 3; i++) out.encrypt('advance');
    const key = out.sessionKey();
    const theirs = libolmInbound(key.toBase64());
    const ours = InboundGroupSession.fromSessionKey(key);
    expect(theirs.first_known_index()).toBe(3);
    for (const i of [3, 4, 300, 100000]) expect(theirs.export_session(i)).toBe(ours.exportAt(i).toBase64());
  });

  it('exports cross both ways: libolm imports triturus’s export and triturus libolm’s', () => {
    fresh();
    const out = GroupSession.create();
    const ours = InboundGroupSession.fromSessionKey(out.sessionKey());
    const messages = Array.from({ length: 20 }, (_, i) => out.encrypt(`m${i}`).toBase64());
    const theirs = libolmInbound(ours.exportAt(12).toBase64(), true);
    expect(theirs.first_known_index()).toBe(12);
    expect(theirs.decrypt(messages[15]!).plaintext).toBe('m15');
    expect(libolmError(() => theirs.decrypt(messages[11]!))).toBe('OLM.UNKNOWN_MESSAGE_INDEX');
    const back = InboundGroupSession.import(ExportedSessionKey.fromBase64(theirs.export_session(14)));
    expect(back.firstKnownIndex).toBe(14);
    expect(back.isVerified).toBe(false);
    expect(back.decryptText(MegolmMessage.fromBase64(messages[19]!)).plaintext).toBe('m19');
    expect(() => back.decrypt(MegolmMessage.fromBase64(messages[13]!))).toThrow(DecryptionError);
    expect(back.compare(ours)).toBe(SessionOrdering.worse);
  });

  it('an import at a later index refuses earlier libolm messages', () => {
    fresh();
    const out = libolmOutbound();
    const key = out.session_key();
    const bodies = Array.from({ length: 10 }, (_, i) => out.encrypt(`m${i}`));
    const exported = libolmInbound(key).export_session(6);
    const ours = InboundGroupSession.import(ExportedSessionKey.fromBase64(exported));
    for (let i = 0; i < 6; i++) {
      const e = expectTriturusError(
        () => ours.decrypt(MegolmMessage.fromBase64(bodies[i]!)),
        DecryptionError,
        'UNKNOWN_MESSAGE_INDEX',
      );
      expect(e.details).toEqual({ messageIndex: i, firstKnownIndex: 6 });
    }
    for (let i = 6; i < 10; i++) expect(ours.decryptText(MegolmMessage.fromBase64(bodies[i]!)).plaintext).toBe(`m${i}`);
  });
});

describe('libolm interop: pickles', () => {
  it('a libolm OutboundGroupSession pickle imports and keeps encrypting for libolm receivers', () => {
    fresh();
    const out = libolmOutbound();
    const receiver = libolmInbound(out.session_key());
    for (let i = 0; i < 4; i++) receiver.decrypt(out.encrypt('before'));
    const imported = groupSessionFromLibolmPickle(out.pickle(PICKLE_KEY.slice()), PICKLE_KEY);
    expect(imported.sessionId).toBe(out.session_id());
    expect(imported.messageIndex).toBe(out.message_index());
    // The same session key, signed by the imported (expanded) Ed25519 key.
    expect(imported.sessionKey().toBase64()).toBe(out.session_key());
    for (let i = 0; i < 3; i++) {
      const result = receiver.decrypt(imported.encrypt(`after ${i}`).toBase64());
      expect(result).toEqual({ plaintext: `after ${i}`, message_index: 4 + i });
    }
    // Our own pickle keeps the expanded (seedless) key and the ratchet.
    const own = new Uint8Array(32).fill(1);
    const restored = GroupSession.fromPickle(imported.pickle(own), own);
    expect(receiver.decrypt(restored.encrypt('restored').toBase64())).toEqual({
      plaintext: 'restored',
      message_index: 7,
    });
  });

  it('a libolm InboundGroupSession pickle imports and keeps decrypting, first index and flag intact', () => {
    fresh();
    const out = libolmOutbound();
    for (let i = 0; i < 2; i++) out.encrypt('skipped');
    const signed = libolmInbound(out.session_key());
    const exported = libolmInbound(signed.export_session(2), true);
    const bodies = Array.from({ length: 8 }, (_, i) => out.encrypt(`m${i + 2}`));
    signed.decrypt(bodies[5]!); // moves libolm's latest ratchet to index 7
    for (const [session, verified] of [
      [signed, true],
      [exported, false],
    ] as const) {
      const ours = inboundGroupSessionFromLibolmPickle(session.pickle(PICKLE_KEY.slice()), PICKLE_KEY);
      expect(ours.sessionId).toBe(session.session_id());
      expect(ours.firstKnownIndex).toBe(2);
      expect(ours.isVerified).toBe(verified);
      for (const i of [0, 7, 3, 5]) {
        expect(ours.decryptText(MegolmMessage.fromBase64(bodies[i]!)).plaintext).toBe(`m${i + 2}`);
      }
      expect(ours.exportAt(9).toBase64()).toBe(session.export_session(9));
    }
  });

  it('libolm pickles written by triturus open in libolm and continue', () => {
    fresh();
    const out = GroupSession.create();
    out.encrypt('one');
    const lout = scope.track(new olm.OutboundGroupSession());
    lout.unpickle(PICKLE_KEY.slice(), groupSessionToLibolmPickle(out, PICKLE_KEY));
    expect(lout.session_id()).toBe(out.sessionId);
    expect(lout.message_index()).toBe(1);
    expect(lout.session_key()).toBe(out.sessionKey().toBase64());
    const ours = InboundGroupSession.fromSessionKey(out.sessionKey());
    ours.decrypt(out.encrypt('two'));
    const lin = scope.track(new olm.InboundGroupSession());
    lin.unpickle(PICKLE_KEY.slice(), inboundGroupSessionToLibolmPickle(ours, PICKLE_KEY));
    expect(lin.first_known_index()).toBe(1);
    expect(lin.decrypt(lout.encrypt('from libolm')).plaintext).toBe('from libolm');
    expect(lin.export_session(40)).toBe(ours.exportAt(40).toBase64());
    // A round trip through libolm's format loses nothing.
    const back = inboundGroupSessionFromLibolmPickle(lin.pickle(PICKLE_KEY.slice()), PICKLE_KEY);
    expect(back.compare(ours)).toBe(SessionOrdering.equal);
    expect(back.isVerified).toBe(true);
  });

  it('refuses a wrong key, the other pickle type, unknown versions, truncated bodies and v2 configs', () => {
    fresh();
    const out = libolmOutbound();
    const outPickle = out.pickle(PICKLE_KEY.slice());
    const inPickle = libolmInbound(out.session_key()).pickle(PICKLE_KEY.slice());
    expectTriturusError(() => groupSessionFromLibolmPickle(outPickle, 'wrong'), PickleError, 'PICKLE_BAD_KEY');
    expectTriturusError(
      () => groupSessionFromLibolmPickle(inPickle, PICKLE_KEY),
      PickleError,
      'PICKLE_UNSUPPORTED_VERSION',
    );
    // A v2 inbound pickle read as outbound has version 2: refused; an outbound read as inbound is
    // version 1 with the wrong length: refused as malformed.
    expectTriturusError(
      () => inboundGroupSessionFromLibolmPickle(outPickle, PICKLE_KEY),
      PickleError,
      'PICKLE_INVALID',
    );
    const body = (version: number, length: number) => {
      const b = new Uint8Array(length);
      new DataView(b.buffer).setUint32(0, version);
      return sealLibolmPickle(b, PICKLE_KEY);
    };
    expectTriturusError(
      () => inboundGroupSessionFromLibolmPickle(body(3, 329), PICKLE_KEY),
      PickleError,
      'PICKLE_UNSUPPORTED_VERSION',
    );
    expectTriturusError(
      () => inboundGroupSessionFromLibolmPickle(body(2, 300), PICKLE_KEY),
      PickleError,
      'PICKLE_INVALID',
    );
    expectTriturusError(() => groupSessionFromLibolmPickle(body(1, 200), PICKLE_KEY), PickleError, 'PICKLE_INVALID');
    const v2 = GroupSession.create(MegolmSessionConfig.version2());
    expectTriturusError(() => groupSessionToLibolmPickle(v2, PICKLE_KEY), TriturusError, 'UNSUPPORTED');
    expectTriturusError(
      () =>
        inboundGroupSessionToLibolmPickle(
          InboundGroupSession.fromSessionKey(v2.sessionKey(), MegolmSessionConfig.version2()),
          PICKLE_KEY,
        ),
      TriturusError,
      'UNSUPPORTED',
    );
  });

  it('accepts libolm’s InboundGroupSession pickle version 1 (no flag: counts as verified)', () => {
    fresh();
    const out = GroupSession.create();
    const v2Pickle = inboundGroupSessionToLibolmPickle(
      InboundGroupSession.fromSessionKey(out.sessionKey()),
      PICKLE_KEY,
    );
    // Rebuild the same state as a version-1 body: u32 1 | initial | counter | latest | counter | key.
    const lin = scope.track(new olm.InboundGroupSession());
    lin.unpickle(PICKLE_KEY.slice(), v2Pickle);
    const exported = ExportedSessionKey.fromBase64(lin.export_session(0)).toBytes();
    const v1 = new Uint8Array(4 + 132 + 132 + 32);
    new DataView(v1.buffer).setUint32(0, 1);
    v1.set(exported.subarray(5, 133), 4);
    v1.set(exported.subarray(5, 133), 136);
    v1.set(exported.subarray(133, 165), 268);
    const ours = inboundGroupSessionFromLibolmPickle(sealLibolmPickle(v1, PICKLE_KEY), PICKLE_KEY);
    expect(ours.isVerified).toBe(true);
    expect(ours.decryptText(out.encrypt('v1')).plaintext).toBe('v1');
  });
});
