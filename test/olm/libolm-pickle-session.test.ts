/**
 * libolm Olm session pickles, live against libolm 3.2 (`@towns-protocol/olm`): sessions in every
 * state pickled by libolm (version 1, what it writes) and by hand as version 0x80000001, imported,
 * and the conversation continued with libolm in both directions, including the out-of-order
 * messages whose skipped keys were outstanding. Then export: triturus → libolm pickle → libolm
 * continues the conversation. And the errors.
 */
import Olm, { type Account as LibolmAccount, type Session as LibolmSession, type OlmImpl } from '@towns-protocol/olm';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  Account,
  Curve25519PublicKey,
  olmMessageFromParts,
  PickleError,
  type PreKeyMessage,
  type Session,
  SessionConfig,
  TriturusError,
} from '../../src/index.js';
import { openLibolmPickle, sealLibolmPickle } from '../../src/libolm/container.js';
import {
  sessionFromLibolmPickle,
  sessionFromLibolmPickleDetailed,
  sessionToLibolmPickle,
} from '../../src/libolm/index.js';
import { openPickle, PickleKind } from '../../src/pickle.js';

let olm: OlmImpl;
const owned: { free(): void }[] = [];
const track = <T extends { free(): void }>(o: T): T => {
  owned.push(o);
  return o;
};

beforeAll(async () => {
  olm = await Olm.initAsync();
});
afterEach(() => {
  while (owned.length > 0) owned.pop()!.free();
});

const KEY = 'session pickle key';

interface Wire {
  type: 0 | 1;
  body: string;
}

/** One end of a conversation, libolm or triturus. */
interface End {
  readonly name: string;
  encrypt(text: string): Wire;
  decrypt(message: Wire): string;
  sessionId(): string;
}

function libolmEnd(session: LibolmSession, name = 'libolm'): End {
  return {
    name,
    encrypt: (text) => session.encrypt(text),
    decrypt: (m) => session.decrypt(m.type, m.body),
    sessionId: () => session.session_id(),
  };
}

function triturusEnd(session: Session, name = 'triturus'): End {
  return {
    name,
    encrypt: (text) => {
      const m = session.encrypt(text);
      return { type: m.type, body: m.toBase64() };
    },
    decrypt: (m) => session.decryptText(olmMessageFromParts(m.type, m.body)),
    sessionId: () => session.sessionId,
  };
}

function libolmAccount(oneTimeKeys = 0): LibolmAccount {
  const a = track(new olm.Account());
  a.create();
  if (oneTimeKeys > 0) a.generate_one_time_keys(oneTimeKeys);
  return a;
}

const curveOf = (a: LibolmAccount): string => (JSON.parse(a.identity_keys()) as { curve25519: string }).curve25519;
const firstOtkOf = (a: LibolmAccount): string =>
  Object.values((JSON.parse(a.one_time_keys()) as { curve25519: Record<string, string> }).curve25519)[0]!;

function libolmOutbound(from: LibolmAccount, to: LibolmAccount): LibolmSession {
  const s = track(new olm.Session());
  s.create_outbound(from, curveOf(to), firstOtkOf(to));
  return s;
}

function libolmInbound(account: LibolmAccount, from: LibolmAccount, first: Wire): LibolmSession {
  const s = track(new olm.Session());
  s.create_inbound_from(account, curveOf(from), first.body);
  account.remove_one_time_keys(s);
  return s;
}

function libolmUnpickle(pickle: string, key: string | Uint8Array = KEY): LibolmSession {
  const s = track(new olm.Session());
  s.unpickle(key, pickle);
  return s;
}

/** Imports a libolm session's pickle; `hand` can rewrite the plaintext (e.g. into version 0x80000001). */
function importLibolm(session: LibolmSession, hand?: (plaintext: Uint8Array) => Uint8Array): Session {
  let pickle = session.pickle(KEY);
  if (hand !== undefined) pickle = sealLibolmPickle(hand(openLibolmPickle(pickle, KEY)), KEY);
  return sessionFromLibolmPickle(pickle, KEY);
}

let counter = 0;
/** Sends `count` messages from `from` and delivers them to `to` in order; returns nothing. */
function deliver(from: End, to: End, count = 1): void {
  for (let i = 0; i < count; i++) {
    const text = `${from.name} → ${to.name} #${counter++}`;
    expect(to.decrypt(from.encrypt(text))).toBe(text);
  }
}

/** Ratchet turns both ways, with bursts of different lengths. */
function converse(x: End, y: End, rounds = 3): void {
  for (let r = 0; r < rounds; r++) {
    deliver(x, y, 1 + (r % 3));
    deliver(y, x, 1 + ((r + 1) % 3));
  }
}

function withVersion(version: number, trailer?: number) {
  return (plaintext: Uint8Array): Uint8Array => {
    const out = new Uint8Array(plaintext.length + (trailer === undefined ? 0 : 4));
    out.set(plaintext);
    const view = new DataView(out.buffer);
    view.setUint32(0, version);
    if (trailer !== undefined) view.setUint32(plaintext.length, trailer);
    return out;
  };
}

/** Both pickle versions: 1 as libolm writes it, 0x80000001 built by hand (v1 plus a trailing u32). */
const VERSIONS = [
  { name: 'version 1', hand: undefined },
  { name: 'version 0x80000001', hand: withVersion(0x80000001, 7) },
] as const;

describe('which version libolm 3.2 writes', () => {
  it('libolm writes session pickle version 1, and accepts a hand-built 0x80000001 (v1 + trailing u32)', () => {
    const alice = libolmAccount();
    const bob = libolmAccount(1);
    const a = libolmOutbound(alice, bob);
    const first = a.encrypt('hi');
    const plaintext = openLibolmPickle(a.pickle(KEY), KEY);
    expect(new DataView(plaintext.buffer).getUint32(0)).toBe(1);

    const reread = libolmUnpickle(sealLibolmPickle(withVersion(0x80000001, 0xdeadbeef)(plaintext), KEY));
    expect(reread.session_id()).toBe(a.session_id());
    const b = libolmInbound(bob, alice, first);
    expect(b.decrypt(first.type, first.body)).toBe('hi');
    const m = reread.encrypt('from the reread session');
    expect(b.decrypt(m.type, m.body)).toBe('from the reread session');
  });
});

describe.each(VERSIONS)('libolm sessions imported ($name)', ({ hand }) => {
  it('outbound, before any reply: keeps sending pre-key messages of the same session', () => {
    const alice = libolmAccount();
    const bob = libolmAccount(1);
    const a = libolmOutbound(alice, bob);
    const sentBefore = [a.encrypt('one'), a.encrypt('two')];
    const imported = importLibolm(a, hand);
    expect(imported.hasReceivedMessage).toBe(false);
    expect(imported.sessionId).toBe(a.session_id());
    expect(imported.config.version).toBe(1);

    const importedEnd = triturusEnd(imported);
    const third = importedEnd.encrypt('three');
    expect(third.type).toBe(0);
    expect(imported.matchesInboundSession(olmMessageFromParts(0, sentBefore[0]!.body) as PreKeyMessage)).toBe(true);
    const b = libolmInbound(bob, alice, sentBefore[0]!);
    const bobEnd = libolmEnd(b);
    expect(bobEnd.decrypt(sentBefore[0]!)).toBe('one');
    expect(bobEnd.decrypt(third)).toBe('three'); // out of order across the import
    expect(bobEnd.decrypt(sentBefore[1]!)).toBe('two');
    converse(bobEnd, importedEnd);
    expect(imported.hasReceivedMessage).toBe(true);
  });

  it('outbound, right after creation (nothing encrypted yet)', () => {
    const alice = libolmAccount();
    const bob = libolmAccount(1);
    const imported = importLibolm(libolmOutbound(alice, bob), hand);
    const first = triturusEnd(imported).encrypt('first');
    const b = libolmInbound(bob, alice, first);
    expect(b.decrypt(first.type, first.body)).toBe('first');
    converse(libolmEnd(b), triturusEnd(imported));
  });

  it('inbound, after the first message and before replying', () => {
    const alice = libolmAccount();
    const bob = libolmAccount(1);
    const a = libolmOutbound(alice, bob);
    const first = a.encrypt('first');
    const late = a.encrypt('sent before the import, delivered after');
    const b = libolmInbound(bob, alice, first);
    expect(b.decrypt(first.type, first.body)).toBe('first');
    const imported = importLibolm(b, hand);
    expect(imported.hasReceivedMessage).toBe(true);
    expect(imported.sessionId).toBe(a.session_id());
    const importedEnd = triturusEnd(imported);
    expect(importedEnd.decrypt(late)).toBe('sent before the import, delivered after');
    const reply = importedEnd.encrypt('reply');
    expect(reply.type).toBe(1);
    expect(a.decrypt(reply.type, reply.body)).toBe('reply');
    converse(libolmEnd(a), importedEnd, 4);
  });

  it('inbound, created but not yet decrypted (received_message still false)', () => {
    const alice = libolmAccount();
    const bob = libolmAccount(1);
    const a = libolmOutbound(alice, bob);
    const first = a.encrypt('first');
    const b = libolmInbound(bob, alice, first);
    const imported = importLibolm(b, hand);
    expect(imported.hasReceivedMessage).toBe(false);
    expect(triturusEnd(imported).decrypt(first)).toBe('first');
    converse(triturusEnd(imported), libolmEnd(a));
  });

  it('after ratchet turns both ways: either side imported continues with libolm', () => {
    for (const side of ['alice', 'bob'] as const) {
      const alice = libolmAccount();
      const bob = libolmAccount(1);
      const a = libolmOutbound(alice, bob);
      const first = a.encrypt('first');
      const b = libolmInbound(bob, alice, first);
      b.decrypt(first.type, first.body);
      converse(libolmEnd(a, 'alice'), libolmEnd(b, 'bob'), 5);
      // Leave the imported side's sender chain mid-burst as well.
      deliver(libolmEnd(side === 'alice' ? a : b), libolmEnd(side === 'alice' ? b : a), 2);
      const imported = triturusEnd(importLibolm(side === 'alice' ? a : b, hand), `imported ${side}`);
      const peer = libolmEnd(side === 'alice' ? b : a, 'libolm peer');
      deliver(imported, peer, 2); // continues the same sending chain
      converse(peer, imported, 5);
      converse(imported, peer, 2);
    }
  });

  it('skipped keys outstanding in two chains: the imported session decrypts them out of order', () => {
    const alice = libolmAccount();
    const bob = libolmAccount(1);
    const a = libolmOutbound(alice, bob);
    const first = a.encrypt('first');
    const b = libolmInbound(bob, alice, first);
    b.decrypt(first.type, first.body);
    const aliceEnd = libolmEnd(a, 'alice');
    const bobEnd = libolmEnd(b, 'bob');
    converse(aliceEnd, bobEnd, 2);

    const chain1 = [1, 2, 3, 4, 5].map((i) => ({ text: `chain 1 #${i}`, wire: a.encrypt(`chain 1 #${i}`) }));
    expect(bobEnd.decrypt(chain1[4]!.wire)).toBe('chain 1 #5');
    deliver(bobEnd, aliceEnd);
    const chain2 = [1, 2, 3, 4].map((i) => ({ text: `chain 2 #${i}`, wire: a.encrypt(`chain 2 #${i}`) }));
    expect(bobEnd.decrypt(chain2[3]!.wire)).toBe('chain 2 #4');

    const detailed = sessionFromLibolmPickleDetailed(
      hand === undefined ? b.pickle(KEY) : sealLibolmPickle(hand(openLibolmPickle(b.pickle(KEY), KEY)), KEY),
      KEY,
    );
    expect(detailed.droppedSkippedKeys).toBe(0);
    const imported = triturusEnd(detailed.session, 'imported bob');
    for (const i of [1, 0, 3, 2]) expect(imported.decrypt(chain1[i]!.wire)).toBe(chain1[i]!.text);
    for (const i of [2, 0, 1]) expect(imported.decrypt(chain2[i]!.wire)).toBe(chain2[i]!.text);
    // Each key opens its message once.
    expect(() => imported.decrypt(chain1[0]!.wire)).toThrow(TriturusError);
    expect(() => imported.decrypt(chain2[1]!.wire)).toThrow(TriturusError);
    converse(imported, aliceEnd, 3);
  });

  it('skipped keys on the outbound side too (alice skipped some of bob’s replies)', () => {
    const alice = libolmAccount();
    const bob = libolmAccount(1);
    const a = libolmOutbound(alice, bob);
    const first = a.encrypt('first');
    const b = libolmInbound(bob, alice, first);
    b.decrypt(first.type, first.body);
    const replies = [1, 2, 3].map((i) => ({ text: `reply ${i}`, wire: b.encrypt(`reply ${i}`) }));
    expect(a.decrypt(replies[2]!.wire.type, replies[2]!.wire.body)).toBe('reply 3');
    const imported = triturusEnd(importLibolm(a, hand), 'imported alice');
    expect(imported.decrypt(replies[1]!.wire)).toBe('reply 2');
    expect(imported.decrypt(replies[0]!.wire)).toBe('reply 1');
    converse(imported, libolmEnd(b), 3);
  });

  it('skipped keys of a chain libolm already dropped: libolm cannot use them either; they are not kept', () => {
    const alice = libolmAccount();
    const bob = libolmAccount(1);
    const a = libolmOutbound(alice, bob);
    const first = a.encrypt('first');
    const b = libolmInbound(bob, alice, first);
    b.decrypt(first.type, first.body);
    const aliceEnd = libolmEnd(a, 'alice');
    const bobEnd = libolmEnd(b, 'bob');
    deliver(bobEnd, aliceEnd);

    // Bob skips two messages of one chain, then five more chains arrive: libolm drops that
    // chain (it keeps 5) but not its skipped keys (it keeps 40 for the whole session).
    const lost = [a.encrypt('lost 1'), a.encrypt('lost 2')];
    deliver(aliceEnd, bobEnd);
    for (let i = 0; i < 5; i++) {
      deliver(bobEnd, aliceEnd);
      deliver(aliceEnd, bobEnd);
    }
    const plaintext = openLibolmPickle(b.pickle(KEY), KEY);
    const detailed = sessionFromLibolmPickleDetailed(
      sealLibolmPickle(hand === undefined ? plaintext : hand(plaintext), KEY),
      KEY,
    );
    expect(detailed.droppedSkippedKeys).toBe(2);

    // libolm itself no longer opens them (it consults skipped keys only through a chain it holds).
    const bobCopy = libolmUnpickle(b.pickle(KEY));
    for (const m of lost) expect(() => bobCopy.decrypt(m.type, m.body)).toThrow();
    const imported = triturusEnd(detailed.session, 'imported bob');
    for (const m of lost) expect(() => imported.decrypt(m)).toThrow(TriturusError);
    converse(aliceEnd, imported, 3);
  });
});

describe('export to libolm (version 1)', () => {
  function triturusToLibolm(session: Session): LibolmSession {
    const key = new Uint8Array(40).fill(3);
    return libolmUnpickle(sessionToLibolmPickle(session, key), key.slice());
  }

  it('a triturus outbound session before any reply: libolm keeps sending pre-key messages', () => {
    const account = Account.create();
    const bob = libolmAccount(1);
    const session = account.createOutboundSession(
      SessionConfig.version1(),
      Curve25519PublicKey.fromBase64(curveOf(bob)),
      Curve25519PublicKey.fromBase64(firstOtkOf(bob)),
    );
    const sent = [triturusEnd(session).encrypt('one'), triturusEnd(session).encrypt('two')];
    const exported = triturusToLibolm(session);
    expect(exported.session_id()).toBe(session.sessionId);
    expect(exported.has_received_message()).toBe(false);
    const third = exported.encrypt('three');
    expect(third.type).toBe(0);
    const b = track(new olm.Session());
    b.create_inbound_from(bob, account.curve25519Key.toBase64(), sent[0]!.body);
    expect(b.decrypt(third.type, third.body)).toBe('three');
    expect(b.decrypt(sent[1]!.type, sent[1]!.body)).toBe('two');
    expect(b.decrypt(sent[0]!.type, sent[0]!.body)).toBe('one');
    converse(libolmEnd(b), libolmEnd(exported, 'exported'), 3);
  });

  it('a triturus inbound session with skipped keys in two chains: libolm opens them and continues', () => {
    const account = Account.create();
    account.generateOneTimeKeys(1);
    const alice = libolmAccount();
    const a = track(new olm.Session());
    a.create_outbound(alice, account.curve25519Key.toBase64(), [...account.oneTimeKeys.values()][0]!.toBase64());
    const first = a.encrypt('first');
    const { session } = account.createInboundSession(
      Curve25519PublicKey.fromBase64(curveOf(alice)),
      olmMessageFromParts(0, first.body) as PreKeyMessage,
    );
    const bobEnd = triturusEnd(session, 'bob');
    const aliceEnd = libolmEnd(a, 'alice');
    converse(aliceEnd, bobEnd, 2);
    const chain1 = [1, 2, 3].map((i) => ({ text: `c1 #${i}`, wire: a.encrypt(`c1 #${i}`) }));
    expect(bobEnd.decrypt(chain1[2]!.wire)).toBe('c1 #3');
    deliver(bobEnd, aliceEnd);
    const chain2 = [1, 2, 3, 4].map((i) => ({ text: `c2 #${i}`, wire: a.encrypt(`c2 #${i}`) }));
    expect(bobEnd.decrypt(chain2[3]!.wire)).toBe('c2 #4');

    const exported = triturusToLibolm(session);
    expect(exported.session_id()).toBe(session.sessionId);
    for (const i of [1, 0]) expect(exported.decrypt(chain1[i]!.wire.type, chain1[i]!.wire.body)).toBe(chain1[i]!.text);
    for (const i of [0, 2, 1])
      expect(exported.decrypt(chain2[i]!.wire.type, chain2[i]!.wire.body)).toBe(chain2[i]!.text);
    converse(libolmEnd(exported, 'exported bob'), aliceEnd, 3);

    // And back: libolm's pickle of it imports again and continues.
    const back = triturusEnd(importLibolm(exported), 'reimported bob');
    converse(aliceEnd, back, 2);
  });

  it('refuses what libolm cannot hold (a version-2 session; more than 40 skipped keys), changing nothing', () => {
    const alice = Account.create();
    const bob = Account.create();
    bob.generateOneTimeKeys(1);
    const v2 = alice.createOutboundSession(
      SessionConfig.version2(),
      bob.curve25519Key,
      [...bob.oneTimeKeys.values()][0]!,
    );
    const code = (fn: () => unknown): unknown => {
      try {
        fn();
      } catch (error) {
        return { code: (error as TriturusError).code, details: (error as TriturusError).details };
      }
      return 'no error';
    };
    expect(code(() => sessionToLibolmPickle(v2, KEY))).toMatchObject({ code: 'UNSUPPORTED', details: { actual: 2 } });

    // 30 skipped keys in one chain and 11 in the next: 41 in total, fine for triturus (40 per chain).
    const libolmAlice = libolmAccount();
    bob.generateOneTimeKeys(1);
    const a = track(new olm.Session());
    a.create_outbound(libolmAlice, bob.curve25519Key.toBase64(), [...bob.oneTimeKeys.values()][0]!.toBase64());
    const first = a.encrypt('first');
    const { session } = bob.createInboundSession(
      Curve25519PublicKey.fromBase64(curveOf(libolmAlice)),
      olmMessageFromParts(0, first.body) as PreKeyMessage,
    );
    const bobEnd = triturusEnd(session, 'bob');
    deliver(bobEnd, libolmEnd(a));
    const burst1 = Array.from({ length: 31 }, (_, i) => a.encrypt(`b1 ${i}`));
    expect(bobEnd.decrypt(burst1[30]!)).toBe('b1 30');
    deliver(bobEnd, libolmEnd(a));
    const burst2 = Array.from({ length: 12 }, (_, i) => a.encrypt(`b2 ${i}`));
    expect(bobEnd.decrypt(burst2[11]!)).toBe('b2 11');
    const before = stateOf(session);
    expect(code(() => sessionToLibolmPickle(session, KEY))).toMatchObject({
      code: 'UNSUPPORTED',
      details: { expected: 40, actual: 41 },
    });
    expect(stateOf(session)).toBe(before);
    // Still all there: after one more is used, 40 remain and the export goes through.
    expect(bobEnd.decrypt(burst1[0]!)).toBe('b1 0');
    const exported = triturusToLibolm(session);
    for (let i = 1; i < 30; i++) expect(exported.decrypt(burst1[i]!.type, burst1[i]!.body)).toBe(`b1 ${i}`);
    for (let i = 0; i < 11; i++) expect(exported.decrypt(burst2[i]!.type, burst2[i]!.body)).toBe(`b2 ${i}`);
  });
});

/** The session's state: the body of its own pickle (the envelope's nonce differs on each pickle). */
function stateOf(session: Session): string {
  const key = new Uint8Array(32).fill(9);
  return Buffer.from(openPickle(PickleKind.olmSession, session.pickle(key), key)).toString('hex');
}

describe('errors', () => {
  let plaintext: Uint8Array;
  beforeAll(() => {
    const alice = new olm.Account();
    alice.create();
    const bob = new olm.Account();
    bob.create();
    bob.generate_one_time_keys(1);
    const a = new olm.Session();
    a.create_outbound(alice, curveOf(bob), firstOtkOf(bob));
    const first = a.encrypt('x');
    const b = new olm.Session();
    b.create_inbound_from(bob, curveOf(alice), first.body);
    b.decrypt(first.type, first.body);
    const reply = b.encrypt('y');
    a.decrypt(reply.type, reply.body);
    a.encrypt('z'); // a sender chain and one receiver chain
    plaintext = openLibolmPickle(a.pickle(KEY), KEY);
    for (const o of [a, b, alice, bob]) o.free();
  });

  const code = (bytes: Uint8Array, key = KEY): string => {
    try {
      sessionFromLibolmPickle(sealLibolmPickle(bytes, KEY), key);
    } catch (error) {
      if (error instanceof PickleError) return error.code;
      throw error;
    }
    return 'no error';
  };

  // Offsets in the version-1 layout: version 4, bool 1, three keys 96, root key 32.
  const SENDER_COUNT = 4 + 1 + 96 + 32;

  it('the fixture is a valid pickle with a sender and a receiver chain', () => {
    expect(code(plaintext)).toBe('no error');
    const view = new DataView(plaintext.buffer);
    expect(view.getUint32(SENDER_COUNT)).toBe(1);
    expect(view.getUint32(SENDER_COUNT + 4 + 100)).toBe(1);
  });

  it('a wrong key is PICKLE_BAD_KEY', () => {
    expect(code(plaintext, 'another key')).toBe('PICKLE_BAD_KEY');
  });

  it('unknown versions are PICKLE_UNSUPPORTED_VERSION', () => {
    for (const version of [0, 2, 4, 0x80000000, 0x80000002, 0xffffffff]) {
      expect(code(withVersion(version)(plaintext))).toBe('PICKLE_UNSUPPORTED_VERSION');
    }
  });

  it('truncations, trailing bytes and impossible counts are PICKLE_INVALID', () => {
    for (let length = 0; length < plaintext.length; length++) {
      expect(code(plaintext.subarray(0, length)), `truncated to ${length}`).toBe('PICKLE_INVALID');
    }
    expect(code(withVersion(1, 0)(plaintext))).toBe('PICKLE_INVALID'); // v1 with 0x80000001's trailer
    expect(code(withVersion(0x80000001)(plaintext))).toBe('PICKLE_INVALID'); // trailer missing
    const set = (offset: number, value: number): Uint8Array => {
      const copy = plaintext.slice();
      new DataView(copy.buffer).setUint32(offset, value);
      return copy;
    };
    expect(code(set(SENDER_COUNT, 2))).toBe('PICKLE_INVALID');
    expect(code(set(SENDER_COUNT + 4 + 100, 6))).toBe('PICKLE_INVALID');
    expect(code(set(SENDER_COUNT + 4 + 100 + 4 + 68, 41))).toBe('PICKLE_INVALID');
    const badBool = plaintext.slice();
    badBool[4] = 2;
    expect(code(badBool)).toBe('PICKLE_INVALID');
  });
});
