/**
 * A lost message (MESSAGE_KEY_NOT_KEPT) against a replay (MESSAGE_KEY_MISSING) at the Olm layer, in
 * every way a key is given up: stepped past in a gap larger than the skipped-key window, evicted
 * from the window, and its receiving chain dropped beyond the limit of 5. Each case is checked
 * again after a pickle round trip; every refusal leaves the session unchanged and carries the
 * message index. Also: the bounds (16 ranges per chain, 8 dropped chains remembered) and which way
 * their ambiguity falls, pickles of schema 1 (a committed fixture written before schema 2: they load,
 * work, and their history is unknown; made by scripts/make-session-schema1-fixture.ts at commit 9f1a788, removed
 * since, as it now writes schema 2), and malformed records in authentic schema-2 bodies.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DecryptionError, PickleError, type TriturusError } from '../../src/errors.js';
import { Message, type OlmMessage, type PreKeyMessage } from '../../src/olm/messages.js';
import {
  MAX_DROPPED_CHAINS,
  MAX_LOST_RANGES_PER_CHAIN,
  MAX_RECEIVER_CHAINS,
  MAX_SKIPPED_KEYS_PER_CHAIN,
  Session,
} from '../../src/olm/session.js';
import {
  expectTriturusError,
  forgeNextMessage,
  hex,
  makePair,
  openPickleBody,
  type Pair,
  PICKLE_KEY,
  PICKLE_KIND_OLM_SESSION,
  parseSessionBody,
  randomKeyBytes,
  sealPickleBody,
  sessionBody,
  text,
  toHex,
  utf8,
} from './helpers.js';

function state(session: Session): string {
  return toHex(sessionBody(session));
}

function dec(session: Session, message: OlmMessage): string {
  return text(session.decrypt(message));
}

/** The refusal's code and message index; the session must be unchanged. */
function refusal(session: Session, message: OlmMessage): { code: string; messageIndex: number | undefined } {
  const before = state(session);
  let error: TriturusError | undefined;
  try {
    session.decrypt(message);
  } catch (e) {
    error = e as TriturusError;
  }
  expect(error, 'expected a refusal').toBeInstanceOf(DecryptionError);
  expect(state(session), 'a refusal changed the session').toBe(before);
  return { code: error!.code, messageIndex: error!.details.messageIndex };
}

const lost = (messageIndex: number) => ({ code: 'MESSAGE_KEY_NOT_KEPT', messageIndex });
const replay = (messageIndex: number) => ({ code: 'MESSAGE_KEY_MISSING', messageIndex });

function repickled(session: Session): Session {
  const restored = Session.fromPickle(session.pickle(PICKLE_KEY), PICKLE_KEY);
  expect(state(restored)).toBe(state(session));
  return restored;
}

/** Bob replies and Alice reads it: Alice's next message starts a new chain for Bob. */
function turn(pair: Pair, bob: Session = pair.bobSession): void {
  expect(dec(pair.aliceSession, bob.encrypt('turn'))).toBe('turn');
}

describe('replay or lost, on a kept chain', () => {
  it('stepped past in a gap larger than the window: lost; the decrypted message: a replay (also after a pickle)', () => {
    const { aliceSession, bobSession } = makePair();
    const messages = Array.from({ length: 100 }, (_, i) => aliceSession.encrypt(`m${i + 1}`));
    expect(dec(bobSession, messages[99]!)).toBe('m100'); // index 100: 1..59 stepped past, 60..99 kept
    expect(parseSessionBody(sessionBody(bobSession)).receivers[0]!.lost).toEqual([[1, 60]]);
    for (const session of [bobSession, repickled(bobSession)]) {
      for (const i of [1, 30, 59]) expect(refusal(session, messages[i - 1]!)).toEqual(lost(i));
      expect(refusal(session, messages[99]!)).toEqual(replay(100));
      // The first message (index 0, the pre-key message's) was decrypted too.
      expect(dec(session, messages[59]!)).toBe('m60');
      expect(refusal(session, messages[59]!)).toEqual(replay(60));
    }
  });

  it('evicted from the window of 40: lost, one by one, across decrypts', () => {
    const { aliceSession, bobSession } = makePair();
    const messages = Array.from({ length: 50 }, (_, i) => aliceSession.encrypt(`m${i + 1}`));
    expect(dec(bobSession, messages[20]!)).toBe('m21'); // keeps 1..20
    expect(dec(bobSession, messages[5]!)).toBe('m6');
    expect(dec(bobSession, messages[48]!)).toBe('m49'); // keeps 22..48 too: 19 + 27 = 46, so 1..5 and 7 go
    const chain = parseSessionBody(sessionBody(bobSession)).receivers[0]!;
    expect(chain.skipped.length).toBe(MAX_SKIPPED_KEYS_PER_CHAIN);
    expect(chain.lost).toEqual([
      [1, 6],
      [7, 8],
    ]);
    const restored = repickled(bobSession);
    for (const session of [bobSession, restored]) {
      for (const i of [1, 5, 7]) expect(refusal(session, messages[i - 1]!)).toEqual(lost(i));
      for (const i of [6, 21, 49]) expect(refusal(session, messages[i - 1]!)).toEqual(replay(i));
      expect(dec(session, messages[7]!)).toBe('m8');
    }
  });

  it('a failed decrypt (bad MAC) after a gap records nothing; the real message then does', () => {
    const { aliceSession, bobSession } = makePair();
    const messages = Array.from({ length: 60 }, (_, i) => aliceSession.encrypt(`m${i + 1}`));
    // Alice has not heard from Bob yet: these are pre-key messages; tamper with the inner message.
    const bytes = (messages[59] as PreKeyMessage).message.toBytes();
    bytes[bytes.length - 1]! ^= 1;
    const before = state(bobSession);
    expectTriturusError(() => bobSession.decrypt(Message.fromBytes(bytes)), DecryptionError, 'MAC_MISMATCH');
    expect(state(bobSession)).toBe(before);
    expect(parseSessionBody(sessionBody(bobSession)).receivers[0]!.lost).toEqual([]);
    expect(dec(bobSession, messages[59]!)).toBe('m60');
    expect(parseSessionBody(sessionBody(bobSession)).receivers[0]!.lost).toEqual([[1, 20]]);
  });
});

describe('replay or lost, on a dropped chain', () => {
  /** Bob's first chain from Alice (indices 0..60) read partly, then dropped by 5 newer chains. */
  function droppedChain() {
    const pair = makePair();
    const first = Array.from({ length: 60 }, (_, i) => pair.aliceSession.encrypt(`c0 ${i + 1}`));
    expect(dec(pair.bobSession, first[49]!)).toBe('c0 50'); // index 50: 1..9 stepped past, 10..49 kept
    expect(dec(pair.bobSession, first[19]!)).toBe('c0 20');
    const ratchetKey = parseSessionBody(sessionBody(pair.bobSession)).receivers[0]!.ratchetKey;
    for (let k = 0; k < MAX_RECEIVER_CHAINS; k++) {
      turn(pair);
      expect(dec(pair.bobSession, pair.aliceSession.encrypt(`chain ${k + 1}`))).toBe(`chain ${k + 1}`);
    }
    const body = parseSessionBody(sessionBody(pair.bobSession));
    expect(body.receivers.length).toBe(MAX_RECEIVER_CHAINS);
    expect(body.dropped.map((d) => toHex(d.ratchetKey))).toEqual([toHex(ratchetKey)]);
    // Position 51; given up: 1..9 stepped past, and the 39 keys still kept when dropped (10..49 but 20).
    expect(body.dropped[0]!.nextIndex).toBe(51);
    expect(body.dropped[0]!.lost).toEqual([
      [1, 20],
      [21, 50],
    ]);
    return { pair, first };
  }

  it('with no sending chain: kept-then-dropped and never-reached keys are lost, decrypted ones replays', () => {
    const { pair, first } = droppedChain();
    for (const session of [pair.bobSession, repickled(pair.bobSession)]) {
      for (const i of [1, 9, 10, 19, 21, 49, 51, 60]) expect(refusal(session, first[i - 1]!)).toEqual(lost(i));
      for (const i of [20, 50]) expect(refusal(session, first[i - 1]!)).toEqual(replay(i));
    }
  });

  it('with a sending chain (no ratchet step is tried for a dropped chain): the same answers', () => {
    const { pair, first } = droppedChain();
    pair.bobSession.encrypt('Bob now has a sending chain');
    expect(parseSessionBody(sessionBody(pair.bobSession)).sender).not.toBeUndefined();
    for (const session of [pair.bobSession, repickled(pair.bobSession)]) {
      for (const i of [5, 30, 55]) expect(refusal(session, first[i - 1]!)).toEqual(lost(i));
      expect(refusal(session, first[19]!)).toEqual(replay(20));
    }
  });

  it(`${MAX_DROPPED_CHAINS} dropped chains are remembered; an older one is unknown again, as before the records`, () => {
    const { pair, first } = droppedChain();
    for (let k = 0; k < MAX_DROPPED_CHAINS - 1; k++) {
      turn(pair);
      expect(dec(pair.bobSession, pair.aliceSession.encrypt(`more ${k}`))).toBe(`more ${k}`);
    }
    expect(parseSessionBody(sessionBody(pair.bobSession)).dropped.length).toBe(MAX_DROPPED_CHAINS);
    expect(refusal(pair.bobSession, first[0]!)).toEqual(lost(1)); // still the oldest remembered
    turn(pair);
    expect(dec(pair.bobSession, pair.aliceSession.encrypt('one more'))).toBe('one more');
    const body = parseSessionBody(sessionBody(pair.bobSession));
    expect(body.dropped.length).toBe(MAX_DROPPED_CHAINS);
    // Forgotten: without a sending chain, MESSAGE_KEY_MISSING without an index (nothing said about a replay) …
    for (const i of [1, 20])
      expect(refusal(pair.bobSession, first[i - 1]!)).toEqual({
        code: 'MESSAGE_KEY_MISSING',
        messageIndex: undefined,
      });
    // … and with one, the ratchet step gives the wrong keys.
    pair.bobSession.encrypt('sending');
    expect(refusal(pair.bobSession, first[19]!).code).toBe('MAC_MISMATCH');
  });

  it('a ratchet key the session never had: MESSAGE_KEY_MISSING without an index', () => {
    const pair = makePair();
    const forged = Message.fromBytes(forgeNextMessage(pair.aliceSession, utf8('x'), { ratchetKey: randomKeyBytes() }));
    expect(refusal(pair.bobSession, forged)).toEqual({ code: 'MESSAGE_KEY_MISSING', messageIndex: undefined });
  });
});

describe('the bound of 16 ranges per chain: the two lowest merge, so ambiguity falls on "not kept" for the oldest indices', () => {
  it('18 separate losses on one chain: the 3 oldest merge with the decrypted messages between them', () => {
    expect(MAX_LOST_RANGES_PER_CHAIN).toBe(16);
    const { aliceSession, bobSession } = makePair();
    const step = MAX_SKIPPED_KEYS_PER_CHAIN + 2; // each round: one index stepped past, 40 kept and read, one read
    const rounds = 18;
    const messages = Array.from({ length: step * rounds }, (_, i) => aliceSession.encrypt(`m${i + 1}`));
    const at = (index: number) => messages[index - 1]!;
    for (let r = 0; r < rounds; r++) {
      const base = r * step; // Bob is at base + 1
      expect(dec(bobSession, at(base + step))).toBe(`m${base + step}`); // steps past base + 1
      for (let i = base + 2; i < base + step; i++) dec(bobSession, at(i));
    }
    const ranges = parseSessionBody(sessionBody(bobSession)).receivers[0]!.lost;
    expect(ranges.length).toBe(MAX_LOST_RANGES_PER_CHAIN);
    // Losses at 1, 43, 85, …: the first three became one range [1, 86).
    expect(ranges[0]).toEqual([1, 2 * step + 2]);
    expect(ranges[1]).toEqual([3 * step + 1, 3 * step + 2]);
    for (const session of [bobSession, repickled(bobSession)]) {
      for (let r = 0; r < rounds; r++) expect(refusal(session, at(r * step + 1))).toEqual(lost(r * step + 1));
      // Decrypted inside the merged range: reported as not kept (the documented ambiguity) …
      expect(refusal(session, at(step + 5))).toEqual(lost(step + 5));
      // … but exact everywhere after it.
      expect(refusal(session, at(3 * step + 5))).toEqual(replay(3 * step + 5));
      expect(refusal(session, at(rounds * step))).toEqual(replay(rounds * step));
    }
  });
});

describe('session pickles of schema 1 (test/olm/fixtures/session-schema1.json, written before schema 2)', () => {
  const fixture = JSON.parse(readFileSync(new URL('./fixtures/session-schema1.json', import.meta.url), 'utf8')) as {
    pickleKey: string;
    bobSession: string;
    aliceSession: string;
    sessionId: string;
    messages: Record<string, string>;
  };
  const key = hex(fixture.pickleKey);
  const message = (name: string) => Message.fromBase64(fixture.messages[name]!);

  it('load and work; history from before is unknown (counted as decrypted, as before); new losses are told apart', () => {
    const bob = Session.fromPickle(fixture.bobSession, key);
    const alice = Session.fromPickle(fixture.aliceSession, key);
    expect(bob.sessionId).toBe(fixture.sessionId);
    expect(alice.sessionId).toBe(fixture.sessionId);
    // Before: a0-a4 evicted, a6-a8 stepped past, a5, a10 and a49 decrypted. The pickle kept none of this.
    for (const i of [0, 4, 5, 7, 10, 49]) expect(refusal(bob, message(`a${i}`))).toEqual(replay(i));
    expect(dec(bob, message('a11'))).toBe('a11'); // a kept key
    expect(dec(bob, message('a50'))).toBe('a50');
    expect(refusal(bob, message('a11'))).toEqual(replay(11));
    // From now on losses are recorded.
    const later = Array.from({ length: 50 }, (_, i) => alice.encrypt(`a${51 + i}`));
    expect(dec(bob, later[49]!)).toBe('a100'); // steps past 51..59
    const saved = repickled(bob);
    expect(parseSessionBody(sessionBody(saved)).schema).toBe(2);
    for (const session of [bob, saved]) {
      expect(refusal(session, later[3]!)).toEqual(lost(54));
      expect(refusal(session, later[49]!)).toEqual(replay(100));
      expect(dec(session, later[20]!)).toBe('a71');
    }
    // And the conversation goes on both ways.
    expect(dec(alice, bob.encrypt('reply'))).toBe('reply');
    expect(dec(bob, alice.encrypt('on'))).toBe('on');
  });

  it('the fixture is schema 1; a schema-1 body labelled 2, or a schema-2 body labelled 1, is refused', () => {
    const old = openPickleBody(fixture.bobSession, key);
    expect(old.kind).toBe(PICKLE_KIND_OLM_SESSION);
    expect(parseSessionBody(old.body).schema).toBe(1);
    const current = sessionBody(Session.fromPickle(fixture.bobSession, key));
    expect(current[0]).toBe(2);
    for (const [body, schema] of [
      [old.body, 2],
      [current, 1],
    ] as const) {
      const relabelled = body.slice();
      relabelled[0] = schema;
      expectTriturusError(
        () => Session.fromPickle(sealPickleBody(PICKLE_KIND_OLM_SESSION, relabelled, PICKLE_KEY), PICKLE_KEY),
        PickleError,
        'PICKLE_INVALID',
      );
    }
  });
});

describe('authentic schema-2 bodies with malformed records: PICKLE_INVALID', () => {
  /** Bob's body with one chain holding lost range [1, 10) (index 50), the offset of that chain's range count. */
  function withOneRange(): { body: Uint8Array; offset: number } {
    const { aliceSession, bobSession } = makePair();
    const messages = Array.from({ length: 50 }, (_, i) => aliceSession.encrypt(`m${i + 1}`));
    dec(bobSession, messages[49]!);
    const body = sessionBody(bobSession);
    const parsed = parseSessionBody(body);
    expect(parsed.receivers[0]!.lost).toEqual([[1, 10]]);
    // schema, version, flag, 3 keys, root, sender flag, receiver count, ratchet, chain key, index, skipped count, skipped
    const offset = 3 + 96 + 32 + 1 + 1 + 32 + 32 + 4 + 1 + 40 * 36;
    expect(body[offset]).toBe(1);
    return { body, offset };
  }
  const open = (body: Uint8Array) => () =>
    Session.fromPickle(sealPickleBody(PICKLE_KIND_OLM_SESSION, body, PICKLE_KEY), PICKLE_KEY);

  it('ranges out of order, empty, reaching the chain position, or too many', () => {
    const { body, offset } = withOneRange();
    const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.length);
    expect(open(body)).not.toThrow();
    const edit = (from: number, to: number) => {
      const b = body.slice();
      view(b).setUint32(offset + 1, from);
      view(b).setUint32(offset + 5, to);
      return b;
    };
    for (const [from, to] of [
      [5, 5], // empty
      [6, 2], // reversed
      [1, 52], // beyond the chain's position (51)
      [0, 0xffffffff],
    ]) {
      expectTriturusError(open(edit(from!, to!)), PickleError, 'PICKLE_INVALID');
    }
    expect(open(edit(0, 51))).not.toThrow(); // the whole chain up to its position is possible
    // Two ranges, touching or overlapping or unsorted.
    const two = (ranges: number[]) => {
      const b = new Uint8Array(body.length + 8);
      b.set(body.subarray(0, offset));
      b[offset] = 2;
      for (let i = 0; i < 4; i++) view(b).setUint32(offset + 1 + 4 * i, ranges[i]!);
      b.set(body.subarray(offset + 9), offset + 17);
      return b;
    };
    expect(open(two([1, 3, 5, 9]))).not.toThrow();
    for (const ranges of [
      [1, 5, 5, 9], // touching
      [1, 6, 5, 9], // overlapping
      [5, 9, 1, 3], // unsorted
    ]) {
      expectTriturusError(open(two(ranges)), PickleError, 'PICKLE_INVALID');
    }
    const tooMany = body.slice();
    tooMany[offset] = MAX_LOST_RANGES_PER_CHAIN + 1;
    expectTriturusError(open(tooMany), PickleError, 'PICKLE_INVALID');
  });

  it('more dropped chains than remembered, or a dropped chain whose ranges reach its position', () => {
    const { body } = withOneRange();
    // The dropped count is the last byte (no dropped chains yet).
    expect(body[body.length - 1]).toBe(0);
    const dropped = (count: number, records: Uint8Array) => {
      const b = new Uint8Array(body.length + records.length);
      b.set(body);
      b[body.length - 1] = count;
      b.set(records, body.length);
      return b;
    };
    const record = (nextIndex: number, ranges: number[]) => {
      const b = new Uint8Array(32 + 4 + 1 + 4 * ranges.length);
      b.fill(9, 0, 32);
      const v = new DataView(b.buffer);
      v.setUint32(32, nextIndex);
      b[36] = ranges.length / 2;
      for (const [i, n] of ranges.entries()) v.setUint32(37 + 4 * i, n);
      return b;
    };
    expect(open(dropped(1, record(10, [2, 4])))).not.toThrow();
    expectTriturusError(open(dropped(1, record(10, [2, 11]))), PickleError, 'PICKLE_INVALID');
    const many = Array.from({ length: MAX_DROPPED_CHAINS + 1 }, () => record(1, []));
    const all = new Uint8Array(many.reduce((n, r) => n + r.length, 0));
    let at = 0;
    for (const r of many) {
      all.set(r, at);
      at += r.length;
    }
    expectTriturusError(open(dropped(MAX_DROPPED_CHAINS + 1, all)), PickleError, 'PICKLE_INVALID');
  });
});
