/**
 * Live interop between triturus's Olm and libolm 3.2 (`@towns-protocol/olm`, WASM), both ways: session setup
 * on one-time and fallback keys, long conversations, out-of-order and lost messages, signatures, and
 * message bytes. libolm is the judge: every triturus message here is decrypted by libolm and vice versa.
 *
 * Limits on skipped message keys differ (both measured here, not assumed):
 * - libolm keeps at most 40 skipped message keys per session in total, evicting the oldest;
 * - triturus (like vodozemac) keeps the latest 40 per receiving chain;
 * - both keep 5 receiving chains and refuse a jump of more than 2000 messages in a chain.
 * So within one chain both accept the same messages; keys skipped across chains beyond 40 in total are
 * decrypted by triturus only (the test "what only triturus accepts" pins the difference).
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Ed25519SecretKey } from '../../src/crypto/index.js';
import { encodeBase64 } from '../../src/encoding/base64.js';
import { canonicalJson } from '../../src/encoding/json.js';
import {
  Account,
  type Curve25519PublicKey,
  Ed25519Signature,
  Message,
  PreKeyMessage,
  type Session,
  SessionConfig,
  SessionError,
  TriturusError,
} from '../../src/index.js';
import {
  fallbackKeyOf,
  firstOneTimeKeyOf,
  fromLibolmMessage,
  identityKeysOf,
  type LibolmAccount,
  type LibolmMessage,
  LibolmScope,
  type LibolmSession,
  libolmError,
  loadLibolm,
  type OlmImpl,
  oneTimeKeysOf,
  toLibolmMessage,
} from '../support/libolm.js';

let olm: OlmImpl;
let scope: LibolmScope;

beforeAll(async () => {
  olm = await loadLibolm();
});
afterEach(() => scope?.free());

function newScope(): LibolmScope {
  scope = new LibolmScope(olm);
  return scope;
}

/** Small deterministic PRNG (mulberry32) so shuffles and schedules are reproducible. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

type Kind = 'triturus' | 'libolm';

/** One side of a conversation, speaking libolm's `{type, body}` wire form whichever library it is. */
interface End {
  readonly kind: Kind;
  encrypt(plaintext: string): LibolmMessage;
  decrypt(message: LibolmMessage): string;
}

function triturusEnd(session: Session): End {
  return {
    kind: 'triturus',
    encrypt: (plaintext) => toLibolmMessage(session.encrypt(plaintext)),
    decrypt: (message) => session.decryptText(fromLibolmMessage(message)),
  };
}

function libolmEnd(session: LibolmSession): End {
  return {
    kind: 'libolm',
    encrypt: (plaintext) => session.encrypt(plaintext),
    decrypt: (message) => session.decrypt(message.type, message.body),
  };
}

interface Pair {
  readonly initiator: End;
  readonly responder: End;
  readonly triturus: End;
  readonly libolm: End;
  readonly triturusSession: Session;
  readonly libolmSession: LibolmSession;
  readonly triturusAccount: Account;
  readonly libolmAccount: LibolmAccount;
}

/**
 * Two accounts, one of each library; `initiator` claims one of the other's one-time keys and sends a first
 * pre-key message, which the responder turns into its session. With `replied`, the responder answers once
 * so both sides have sent and received.
 */
function connect(initiator: Kind, options: { replied?: boolean } = {}): Pair {
  const libolm = scope.account({ oneTimeKeys: 1 });
  const account = Account.create();
  let triturusSession: Session;
  let libolmSession: LibolmSession;
  if (initiator === 'triturus') {
    triturusSession = account.createOutboundSession(
      SessionConfig.version1(),
      identityKeysOf(libolm).curve25519,
      firstOneTimeKeyOf(libolm),
    );
    const first = toLibolmMessage(triturusSession.encrypt('first'));
    const inbound = scope.inboundSession(libolm, account.curve25519Key, first);
    expect(inbound.plaintext).toBe('first');
    libolmSession = inbound.session;
  } else {
    account.generateOneTimeKeys(1);
    const [key] = account.oneTimeKeys.values();
    account.markKeysAsPublished();
    libolmSession = scope.outboundSession(libolm, account.curve25519Key, key!);
    const first = libolmSession.encrypt('first');
    const inbound = account.createInboundSession(
      identityKeysOf(libolm).curve25519,
      fromLibolmMessage(first) as PreKeyMessage,
    );
    expect(new TextDecoder().decode(inbound.plaintext)).toBe('first');
    triturusSession = inbound.session;
  }
  const t = triturusEnd(triturusSession);
  const l = libolmEnd(libolmSession);
  const pair: Pair = {
    initiator: initiator === 'triturus' ? t : l,
    responder: initiator === 'triturus' ? l : t,
    triturus: t,
    libolm: l,
    triturusSession,
    libolmSession,
    triturusAccount: account,
    libolmAccount: libolm,
  };
  if (options.replied === true) expect(pair.initiator.decrypt(pair.responder.encrypt('reply'))).toBe('reply');
  return pair;
}

/** The other end of a pair. */
function peerOf(pair: Pair, end: End): End {
  return end === pair.triturus ? pair.libolm : pair.triturus;
}

/** `count` messages from `from`, each with a distinct plaintext. */
function burst(from: End, count: number, label: string): { plaintext: string; message: LibolmMessage }[] {
  return Array.from({ length: count }, (_, i) => {
    const plaintext = `${label} #${i}`;
    return { plaintext, message: from.encrypt(plaintext) };
  });
}

/** Decrypts `message` at `to` and returns the plaintext, or 'refused' when either library refuses it. */
function attempt(to: End, message: LibolmMessage): string {
  try {
    return to.decrypt(message);
  } catch (error) {
    if (to.kind === 'triturus') expect(error).toBeInstanceOf(TriturusError);
    else expect(error instanceof Error ? error.message : String(error)).toMatch(/^OLM\./);
    return 'refused';
  }
}

const BOTH: Kind[] = ['triturus', 'libolm'];

describe('libolm interop: creating sessions', () => {
  it('triturus outbound → libolm inbound (create_inbound_from, decrypt, remove_one_time_keys)', () => {
    newScope();
    const libolm = scope.account({ oneTimeKeys: 3 });
    const keys = oneTimeKeysOf(libolm);
    const [firstKey, otherKey] = keys.values();
    const account = Account.create();
    const outbound = account.createOutboundSession(
      SessionConfig.version1(),
      identityKeysOf(libolm).curve25519,
      firstKey!,
    );
    const message = outbound.encrypt('Hallo, libolm');
    expect(message).toBeInstanceOf(PreKeyMessage);

    const inbound = scope.session();
    inbound.create_inbound_from(libolm, account.curve25519Key.toBase64(), message.toBase64());
    expect(inbound.decrypt(0, message.toBase64())).toBe('Hallo, libolm');
    libolm.remove_one_time_keys(inbound);
    expect(inbound.session_id()).toBe(outbound.sessionId);
    // Exactly the used key is gone from libolm's account.
    const left = oneTimeKeysOf(libolm);
    expect(left.size).toBe(2);
    expect([...left.values()].some((k) => k.equals(firstKey!))).toBe(false);
    expect([...left.values()].some((k) => k.equals(otherKey!))).toBe(true);

    // libolm replies on the same session and triturus switches to normal messages.
    const reply = inbound.encrypt('Hallo, triturus');
    expect(reply.type).toBe(1);
    expect(outbound.decryptText(fromLibolmMessage(reply))).toBe('Hallo, triturus');
    const next = outbound.encrypt('now a normal message');
    expect(next).toBeInstanceOf(Message);
    expect(inbound.decrypt(1, next.toBase64())).toBe('now a normal message');
  });

  it('libolm outbound → triturus createInboundSession', () => {
    newScope();
    const account = Account.create();
    account.generateOneTimeKeys(3);
    const [firstKey] = account.oneTimeKeys.values();
    account.markKeysAsPublished();
    const libolm = scope.account();
    const libolmKeys = identityKeysOf(libolm);
    const outbound = scope.outboundSession(libolm, account.curve25519Key, firstKey!);
    const message = outbound.encrypt('Hallo, triturus');
    expect(message.type).toBe(0);

    const { session, plaintext } = account.createInboundSession(
      libolmKeys.curve25519,
      fromLibolmMessage(message) as PreKeyMessage,
    );
    expect(new TextDecoder().decode(plaintext)).toBe('Hallo, triturus');
    expect(session.sessionId).toBe(outbound.session_id());
    expect(account.storedOneTimeKeyCount).toBe(2);
    expect(session.sessionKeys.oneTimeKey.equals(firstKey!)).toBe(true);
    expect(session.sessionKeys.identityKey.equals(libolmKeys.curve25519)).toBe(true);

    const reply = session.encrypt('Hallo, libolm');
    expect(reply).toBeInstanceOf(Message);
    expect(outbound.decrypt(reply.type, reply.toBase64())).toBe('Hallo, libolm');
    expect(outbound.has_received_message()).toBe(true);
    expect(session.hasReceivedMessage).toBe(true);
    const next = outbound.encrypt('now a normal message');
    expect(next.type).toBe(1);
    expect(session.decryptText(fromLibolmMessage(next))).toBe('now a normal message');
  });

  it('matches_inbound_from and matchesInboundSession agree on the same pre-key messages', () => {
    newScope();
    // Inbound sessions on both sides, each with: a later pre-key message of its own session, a pre-key
    // message of another session to the same account, and its own message under a wrong sender key.
    const t2l = connect('triturus');
    const l2t = connect('libolm');
    const ownLater = { t2l: t2l.initiator.encrypt('again'), l2t: l2t.initiator.encrypt('again') };
    expect(ownLater.t2l.type).toBe(0);
    expect(ownLater.l2t.type).toBe(0);

    // Another session from the same sender to the same receiver, on a fresh one-time key.
    t2l.libolmAccount.generate_one_time_keys(1);
    const foreignToLibolm = toLibolmMessage(
      t2l.triturusAccount
        .createOutboundSession(
          SessionConfig.version1(),
          identityKeysOf(t2l.libolmAccount).curve25519,
          firstOneTimeKeyOf(t2l.libolmAccount),
        )
        .encrypt('x'),
    );
    l2t.triturusAccount.generateOneTimeKeys(1);
    const [freshKey] = l2t.triturusAccount.oneTimeKeys.values();
    const foreignToTriturus = scope
      .outboundSession(l2t.libolmAccount, l2t.triturusAccount.curve25519Key, freshKey!)
      .encrypt('x');
    const stranger = Account.create().curve25519Key;

    // libolm's inbound session (from triturus) judged by libolm; triturus's inbound session judged by triturus.
    const tKey = t2l.triturusSession.sessionKeys.identityKey.toBase64();
    const libolmAnswers = [
      t2l.libolmSession.matches_inbound_from(tKey, ownLater.t2l.body),
      t2l.libolmSession.matches_inbound(ownLater.t2l.body),
      t2l.libolmSession.matches_inbound_from(tKey, foreignToLibolm.body),
      t2l.libolmSession.matches_inbound_from(stranger.toBase64(), ownLater.t2l.body),
    ];
    const lKey = l2t.triturusSession.sessionKeys.identityKey;
    const ownT = fromLibolmMessage(ownLater.l2t) as PreKeyMessage;
    const triturusAnswers = [
      l2t.triturusSession.matchesInboundSessionFrom(lKey, ownT),
      l2t.triturusSession.matchesInboundSession(ownT),
      l2t.triturusSession.matchesInboundSessionFrom(lKey, fromLibolmMessage(foreignToTriturus) as PreKeyMessage),
      l2t.triturusSession.matchesInboundSessionFrom(stranger, ownT),
    ];
    expect(libolmAnswers).toEqual([true, true, false, false]);
    expect(triturusAnswers).toEqual(libolmAnswers);

    // The later pre-key messages decrypt on the existing inbound sessions.
    expect(t2l.libolm.decrypt(ownLater.t2l)).toBe('again');
    expect(l2t.triturus.decrypt(ownLater.l2t)).toBe('again');
  });
});

describe('libolm interop: pre-key messages until the first reply', () => {
  it.each(BOTH)('initiator %s: every message is a pre-key message until a reply arrives, and each decrypts', (kind) => {
    newScope();
    const pair = connect(kind);
    const early = burst(pair.initiator, 6, 'early');
    expect(early.map((m) => m.message.type)).toEqual([0, 0, 0, 0, 0, 0]);
    // All carry the same session keys: the responder decrypts them on its existing session, out of order.
    for (const i of [3, 0, 5, 1, 4, 2]) expect(pair.responder.decrypt(early[i]!.message)).toBe(early[i]!.plaintext);
    if (kind === 'triturus') expect(pair.libolmSession.has_received_message()).toBe(true);
    else expect(pair.triturusSession.hasReceivedMessage).toBe(true);

    const reply = pair.responder.encrypt('reply');
    expect(reply.type).toBe(1);
    expect(pair.initiator.decrypt(reply)).toBe('reply');
    const after = pair.initiator.encrypt('after the reply');
    expect(after.type).toBe(1);
    expect(pair.responder.decrypt(after)).toBe('after the reply');
  });
});

describe('libolm interop: long conversations', () => {
  it.each(BOTH)('initiator %s: 400 messages with ratchet turns both ways and bursts on one chain', (kind) => {
    newScope();
    const pair = connect(kind);
    const random = seeded(kind === 'triturus' ? 1 : 2);
    let sent = 0;
    let turns = 0;
    let longestBurst = 0;
    let from = pair.responder;
    let initiatorHasReceived = false;
    while (sent < 400) {
      // Mostly alternate (a ratchet turn each time), sometimes keep the same sender for a longer burst.
      if (random() < 0.85) {
        from = peerOf(pair, from);
        turns++;
      }
      const to = peerOf(pair, from);
      const count = random() < 0.1 ? 12 + Math.floor(random() * 20) : 1 + Math.floor(random() * 3);
      longestBurst = Math.max(longestBurst, count);
      for (let i = 0; i < count; i++) {
        const plaintext = `${from.kind} → ${to.kind} message ${sent} ${'·'.repeat(sent % 17)}`;
        const message = from.encrypt(plaintext);
        expect(message.type).toBe(from === pair.initiator && !initiatorHasReceived ? 0 : 1);
        expect(to.decrypt(message)).toBe(plaintext);
        if (to === pair.initiator) initiatorHasReceived = true;
        sent++;
      }
    }
    expect(turns).toBeGreaterThan(50);
    expect(longestBurst).toBeGreaterThan(10);
  });
});

describe('libolm interop: out-of-order and lost messages (accepted by both)', () => {
  it.each(BOTH)('sender %s: a burst of 40 on one chain, shuffled with 10 lost', (kind) => {
    newScope();
    const pair = connect('triturus', { replied: true });
    const sender = kind === 'triturus' ? pair.triturus : pair.libolm;
    const receiver = peerOf(pair, sender);
    const messages = burst(sender, 40, 'burst');
    const random = seeded(kind === 'triturus' ? 3 : 4);
    const delivered = shuffled(messages, random).slice(10);
    for (const m of delivered) expect(receiver.decrypt(m.message)).toBe(m.plaintext);
    // The chain goes on after the gaps, and a ratchet turn still works.
    expect(receiver.decrypt(sender.encrypt('after'))).toBe('after');
    expect(sender.decrypt(receiver.encrypt('turn'))).toBe('turn');
  });

  it.each(BOTH)('sender %s: messages held back across three chains (37 skipped in total) arrive last', (kind) => {
    newScope();
    const pair = connect('libolm', { replied: true });
    const sender = kind === 'triturus' ? pair.triturus : pair.libolm;
    const receiver = peerOf(pair, sender);
    const held: { plaintext: string; message: LibolmMessage }[] = [];
    for (const [chain, size] of [20, 15, 5].entries()) {
      const messages = burst(sender, size, `chain ${chain}`);
      // Only the newest of each chain arrives now; the reply starts the sender's next chain.
      expect(receiver.decrypt(messages[size - 1]!.message)).toBe(messages[size - 1]!.plaintext);
      held.push(...messages.slice(0, size - 1));
      expect(sender.decrypt(receiver.encrypt(`reply ${chain}`))).toBe(`reply ${chain}`);
    }
    expect(held).toHaveLength(37);
    for (const m of held.reverse()) expect(receiver.decrypt(m.message)).toBe(m.plaintext);
  });

  it.each(BOTH)('sender %s: both keep 5 receiving chains', (kind) => {
    newScope();
    const outcomes: string[] = [];
    for (const newerChains of [4, 5]) {
      const pair = connect('triturus', { replied: true });
      const sender = kind === 'triturus' ? pair.triturus : pair.libolm;
      const receiver = peerOf(pair, sender);
      const held = sender.encrypt('held');
      expect(receiver.decrypt(sender.encrypt('delivered'))).toBe('delivered');
      for (let i = 0; i < newerChains; i++) {
        expect(sender.decrypt(receiver.encrypt('turn'))).toBe('turn');
        expect(receiver.decrypt(sender.encrypt('next chain'))).toBe('next chain');
      }
      outcomes.push(attempt(receiver, held));
    }
    expect(outcomes).toEqual(['held', 'refused']);
  });

  it.each(BOTH)('sender %s: 45 skipped on one chain, both keep the latest 40', (kind) => {
    newScope();
    const pair = connect('triturus', { replied: true });
    const sender = kind === 'triturus' ? pair.triturus : pair.libolm;
    const receiver = peerOf(pair, sender);
    const messages = burst(sender, 46, 'long');
    expect(receiver.decrypt(messages[45]!.message)).toBe(messages[45]!.plaintext);
    const outcomes = messages.slice(0, 45).map((m) => attempt(receiver, m.message) === m.plaintext);
    expect(outcomes.slice(0, 5)).toEqual([false, false, false, false, false]);
    expect(outcomes.slice(5).every(Boolean)).toBe(true);
    // A refused message changed nothing: the session goes on.
    expect(receiver.decrypt(sender.encrypt('still fine'))).toBe('still fine');
  });

  it.each(BOTH)('sender %s: a chain jump of 2000 is accepted, 2001 refused', (kind) => {
    newScope();
    const outcomes: string[] = [];
    for (const skip of [2000, 2001]) {
      const pair = connect('libolm', { replied: true });
      const sender = kind === 'triturus' ? pair.triturus : pair.libolm;
      const receiver = peerOf(pair, sender);
      for (let i = 0; i < skip; i++) sender.encrypt('lost');
      outcomes.push(attempt(receiver, sender.encrypt('far ahead')));
    }
    expect(outcomes).toEqual(['far ahead', 'refused']);
  });

  it.each(BOTH)('sender %s: a replayed message is refused and the session goes on', (kind) => {
    newScope();
    const pair = connect('triturus', { replied: true });
    const sender = kind === 'triturus' ? pair.triturus : pair.libolm;
    const receiver = peerOf(pair, sender);
    const [a, b] = burst(sender, 2, 'replay');
    expect(receiver.decrypt(b!.message)).toBe(b!.plaintext);
    expect(receiver.decrypt(a!.message)).toBe(a!.plaintext);
    expect(attempt(receiver, a!.message)).toBe('refused');
    expect(attempt(receiver, b!.message)).toBe('refused');
    expect(receiver.decrypt(sender.encrypt('next'))).toBe('next');
    expect(sender.decrypt(receiver.encrypt('turn'))).toBe('turn');
  });
});

describe('libolm interop: what only triturus accepts', () => {
  // 30 keys skipped on one chain, then 30 on the next: 60 in total. libolm keeps the newest 40 of the
  // session (it evicts chain A's 20 oldest); triturus keeps 40 per chain, so it decrypts all 60.
  function skipAcrossTwoChains(sender: End, receiver: End): { a: boolean[]; b: boolean[] } {
    const a = burst(sender, 31, 'A');
    expect(receiver.decrypt(a[30]!.message)).toBe(a[30]!.plaintext);
    expect(sender.decrypt(receiver.encrypt('turn'))).toBe('turn');
    const b = burst(sender, 31, 'B');
    expect(receiver.decrypt(b[30]!.message)).toBe(b[30]!.plaintext);
    return {
      a: a.slice(0, 30).map((m) => attempt(receiver, m.message) === m.plaintext),
      b: b.slice(0, 30).map((m) => attempt(receiver, m.message) === m.plaintext),
    };
  }

  it('triturus receiving from libolm decrypts all 60 keys skipped across two chains', () => {
    newScope();
    const pair = connect('libolm', { replied: true });
    const { a, b } = skipAcrossTwoChains(pair.libolm, pair.triturus);
    expect(a.every(Boolean)).toBe(true);
    expect(b.every(Boolean)).toBe(true);
  });

  it('libolm receiving from triturus keeps only the newest 40 of them (limit per session)', () => {
    newScope();
    const pair = connect('triturus', { replied: true });
    const { a, b } = skipAcrossTwoChains(pair.triturus, pair.libolm);
    expect(a.slice(0, 20).some(Boolean)).toBe(false);
    expect(a.slice(20).every(Boolean)).toBe(true);
    expect(b.every(Boolean)).toBe(true);
  });
});

describe('libolm interop: fallback keys', () => {
  it('triturus starts sessions on libolm fallback keys; the key survives and rotates', () => {
    newScope();
    const libolm = scope.account({ fallbackKey: true });
    const libolmKeys = identityKeysOf(libolm);
    const unpublished = JSON.parse(libolm.unpublished_fallback_key()) as { curve25519: Record<string, string> };
    const fallback = fallbackKeyOf(libolm)!;
    expect(Object.values(unpublished.curve25519)).toEqual([fallback.key.toBase64()]);
    libolm.mark_keys_as_published();
    expect(libolm.unpublished_fallback_key()).toBe(JSON.stringify({ curve25519: {} }));

    const startOn = (key: Curve25519PublicKey, text: string) => {
      const alice = Account.create();
      const outbound = alice.createOutboundSession(SessionConfig.version1(), libolmKeys.curve25519, key);
      const first = toLibolmMessage(outbound.encrypt(text));
      const session = scope.session();
      session.create_inbound_from(libolm, alice.curve25519Key.toBase64(), first.body);
      const plaintext = session.decrypt(first.type, first.body);
      libolm.remove_one_time_keys(session);
      expect(session.session_id()).toBe(outbound.sessionId);
      expect(outbound.decryptText(fromLibolmMessage(session.encrypt('ack')))).toBe('ack');
      return { plaintext, sessionId: outbound.sessionId };
    };
    const one = startOn(fallback.key, 'on the fallback key');
    expect(one.plaintext).toBe('on the fallback key');
    // remove_one_time_keys left the fallback key in place: a second sender starts another session on it.
    expect(fallbackKeyOf(libolm)?.key.equals(fallback.key)).toBe(true);
    const two = startOn(fallback.key, 'second session');
    expect(two.plaintext).toBe('second session');
    expect(two.sessionId).not.toBe(one.sessionId);

    // After rotation the old key still works until libolm forgets it.
    libolm.generate_fallback_key();
    expect(fallbackKeyOf(libolm)?.key.equals(fallback.key)).toBe(false);
    expect(startOn(fallback.key, 'previous key').plaintext).toBe('previous key');
    libolm.forget_old_fallback_key();
    const late = Account.create();
    const refused = toLibolmMessage(
      late.createOutboundSession(SessionConfig.version1(), libolmKeys.curve25519, fallback.key).encrypt('too late'),
    );
    expect(
      libolmError(() => scope.session().create_inbound_from(libolm, late.curve25519Key.toBase64(), refused.body)),
    ).toBe('OLM.BAD_MESSAGE_KEY_ID');
  });

  it('libolm starts sessions on triturus fallback keys; the key survives and rotates', () => {
    newScope();
    const bob = Account.create();
    bob.generateFallbackKey();
    const [fallbackId, fallback] = [...bob.fallbackKey.entries()][0]!;
    bob.markKeysAsPublished();
    expect(bob.fallbackKey.size).toBe(0);
    expect(bob.currentFallbackKey?.keyId).toBe(fallbackId);

    const startOn = (key: Curve25519PublicKey, text: string) => {
      const libolm = scope.account();
      const outbound = scope.outboundSession(libolm, bob.curve25519Key, key);
      const first = fromLibolmMessage(outbound.encrypt(text)) as PreKeyMessage;
      const { session, plaintext } = bob.createInboundSession(identityKeysOf(libolm).curve25519, first);
      expect(session.sessionId).toBe(outbound.session_id());
      const ack = session.encrypt('ack');
      expect(outbound.decrypt(ack.type, ack.toBase64())).toBe('ack');
      return { plaintext: new TextDecoder().decode(plaintext), sessionId: session.sessionId };
    };
    const one = startOn(fallback, 'on the fallback key');
    expect(one.plaintext).toBe('on the fallback key');
    expect(bob.currentFallbackKey?.key.equals(fallback)).toBe(true);
    const two = startOn(fallback, 'second session');
    expect(two.plaintext).toBe('second session');
    expect(two.sessionId).not.toBe(one.sessionId);

    bob.generateFallbackKey();
    expect(bob.currentFallbackKey?.key.equals(fallback)).toBe(false);
    expect(startOn(fallback, 'previous key').plaintext).toBe('previous key');
    expect(bob.forgetFallbackKey()).toBe(true);
    const libolm = scope.account();
    const late = fromLibolmMessage(scope.outboundSession(libolm, bob.curve25519Key, fallback).encrypt('too late'));
    expect(() => bob.createInboundSession(identityKeysOf(libolm).curve25519, late as PreKeyMessage)).toThrow(
      expect.objectContaining({ code: 'ONE_TIME_KEY_UNKNOWN' }),
    );
  });
});

describe('libolm interop: a one-time key is used once', () => {
  it('triturus refuses a second libolm pre-key message on a used one-time key (ONE_TIME_KEY_UNKNOWN)', () => {
    newScope();
    const bob = Account.create();
    bob.generateOneTimeKeys(2);
    const [key, otherKey] = bob.oneTimeKeys.values();
    bob.markKeysAsPublished();
    const first = scope.account();
    const second = scope.account();
    const m1 = fromLibolmMessage(scope.outboundSession(first, bob.curve25519Key, key!).encrypt('one')) as PreKeyMessage;
    const m2 = fromLibolmMessage(
      scope.outboundSession(second, bob.curve25519Key, key!).encrypt('two'),
    ) as PreKeyMessage;
    bob.createInboundSession(identityKeysOf(first).curve25519, m1);
    expect(bob.storedOneTimeKeyCount).toBe(1);
    let caught: unknown;
    try {
      bob.createInboundSession(identityKeysOf(second).curve25519, m2);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(SessionError);
    expect((caught as SessionError).code).toBe('ONE_TIME_KEY_UNKNOWN');
    // The failure changed nothing: the other key is still there and still starts a session.
    expect(bob.storedOneTimeKeyCount).toBe(1);
    const m3 = fromLibolmMessage(scope.outboundSession(second, bob.curve25519Key, otherKey!).encrypt('three'));
    const third = bob.createInboundSession(identityKeysOf(second).curve25519, m3 as PreKeyMessage);
    expect(new TextDecoder().decode(third.plaintext)).toBe('three');
    expect(bob.storedOneTimeKeyCount).toBe(0);
  });

  it('libolm refuses a second triturus pre-key message on a used one-time key (BAD_MESSAGE_KEY_ID)', () => {
    newScope();
    const libolm = scope.account({ oneTimeKeys: 1 });
    const keys = identityKeysOf(libolm);
    const key = firstOneTimeKeyOf(libolm);
    const a = Account.create();
    const b = Account.create();
    const m1 = toLibolmMessage(a.createOutboundSession(SessionConfig.version1(), keys.curve25519, key).encrypt('one'));
    const m2 = toLibolmMessage(b.createOutboundSession(SessionConfig.version1(), keys.curve25519, key).encrypt('two'));
    expect(scope.inboundSession(libolm, a.curve25519Key, m1).plaintext).toBe('one');
    expect(libolmError(() => scope.inboundSession(libolm, b.curve25519Key, m2))).toBe('OLM.BAD_MESSAGE_KEY_ID');
  });
});

describe('libolm interop: Ed25519 signatures', () => {
  const messages = [
    '',
    'plain ascii',
    'ünïcödé ✓ 🦎 日本語',
    canonicalJson({ user_id: '@a:b', keys: { 'ed25519:X': 'k' }, algorithms: ['m.olm.v1.curve25519-aes-sha2'] }),
  ];

  it('triturus Account.sign verifies in libolm Utility.ed25519_verify; tampering is caught', () => {
    newScope();
    const account = Account.create();
    const utility = scope.track(new olm.Utility());
    for (const message of messages) {
      const signature = account.sign(message).toBase64();
      expect(
        libolmError(() => utility.ed25519_verify(account.ed25519Key.toBase64(), message, signature)),
      ).toBeUndefined();
      expect(libolmError(() => utility.ed25519_verify(account.ed25519Key.toBase64(), `${message}!`, signature))).toBe(
        'OLM.BAD_MESSAGE_MAC',
      );
    }
  });

  it('libolm Account.sign verifies in triturus; tampering is caught', () => {
    newScope();
    const libolm = scope.account();
    const key = identityKeysOf(libolm).ed25519;
    for (const message of messages) {
      const signature = Ed25519Signature.fromBase64(libolm.sign(message));
      expect(key.isValidSignature(message, signature)).toBe(true);
      expect(key.isValidSignature(`${message}!`, signature)).toBe(false);
      expect(() => key.verify(`${message}!`, signature)).toThrow(
        expect.objectContaining({ code: 'SIGNATURE_INVALID' }),
      );
    }
  });

  it('the same seed gives byte-identical signatures (libolm PkSigning vs triturus Ed25519SecretKey)', () => {
    newScope();
    const signing = scope.track(new olm.PkSigning());
    const seed = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff);
    const publicKey = signing.init_with_seed(seed.slice());
    const ours = Ed25519SecretKey.fromSeed(seed);
    expect(encodeBase64(ours.publicKey)).toBe(publicKey);
    for (const message of messages) {
      expect(encodeBase64(ours.sign(new TextEncoder().encode(message)))).toBe(signing.sign(message));
    }
  });
});

describe('libolm interop: message bytes', () => {
  // No U+0000: libolm's JavaScript binding passes strings as NUL-terminated C strings, so a NUL cuts its
  // plaintext short (a limit of the binding, not of the protocol).
  const unicode = 'Grüße, Καλημέρα, こんにちは, 🦎🐸 \u0001 tab\t quote" backslash\\ \u{10FFFF} e\u0301 \uFEFF';
  // 64 KiB of UTF-8 with one-, two-, three- and four-byte characters (the chunk is 32 bytes).
  const large = 'triturus ü ✓ 日本 🦎 olm!'.repeat(2048);
  const plaintexts: [string, string][] = [
    ['empty', ''],
    ['unicode', unicode],
    ['64 KiB', large],
  ];

  it('the large plaintext is at least 64 KiB of UTF-8', () => {
    expect(new TextEncoder().encode(large).length).toBe(65536);
  });

  it.each(plaintexts)('%s plaintext: pre-key and normal messages decode both ways, byte for byte', (_, text) => {
    newScope();
    for (const kind of BOTH) {
      const pair = connect(kind);
      // Pre-key stage (initiator), then normal messages both ways after a reply.
      const preKey = pair.initiator.encrypt(text);
      expect(preKey.type).toBe(0);
      expect(pair.responder.decrypt(preKey)).toBe(text);
      const normal = pair.responder.encrypt(text);
      expect(normal.type).toBe(1);
      expect(pair.initiator.decrypt(normal)).toBe(text);
      const back = pair.initiator.encrypt(text);
      expect(back.type).toBe(1);
      expect(pair.responder.decrypt(back)).toBe(text);
      for (const wire of [preKey, normal, back]) {
        // triturus re-encodes libolm's bytes exactly, and libolm's bytes for its own messages.
        expect(fromLibolmMessage(wire).toBase64()).toBe(wire.body);
        // AES-256-CBC with PKCS#7: the ciphertext is the UTF-8 length rounded up to the next 16-byte block.
        const inner =
          wire.type === 0 ? (fromLibolmMessage(wire) as PreKeyMessage).message : (fromLibolmMessage(wire) as Message);
        const length = new TextEncoder().encode(text).length;
        expect(inner.ciphertext.length).toBe((Math.floor(length / 16) + 1) * 16);
        expect(inner.mac.length).toBe(8);
        expect(inner.version).toBe(3);
      }
    }
  });
});
