/**
 * Olm sessions (Matrix spec olm.md; limits from PROTOCOL-NOTES.md): establishment and message
 * types, the session id, session configs v1/v2 on the wire, the spec's key derivations recomputed
 * with node:crypto from pickled secrets, out-of-order delivery and its limits (40 skipped keys per
 * chain, gap 2000, 5 receiving chains), and refusals that leave the session exactly as it was.
 */
import { describe, expect, it } from 'vitest';
import { DecodeError, DecryptionError, TriturusError } from '../../src/errors.js';
import { Account } from '../../src/olm/account.js';
import { SessionConfig } from '../../src/olm/config.js';
import { Message, type OlmMessage, PreKeyMessage } from '../../src/olm/messages.js';
import {
  MAX_MESSAGE_GAP,
  MAX_RECEIVER_CHAINS,
  MAX_SKIPPED_KEYS_PER_CHAIN,
  type Session,
} from '../../src/olm/session.js';
import {
  accountBody,
  aesCbcDecrypt,
  chainStep,
  concat,
  expectTriturusError,
  forgeNextMessage,
  hkdf,
  hmac,
  makePair,
  messageKeys,
  oneTimeKeyOf,
  parseAccountBody,
  parseSessionBody,
  randomKeyBytes,
  sessionBody,
  sha256,
  text,
  toHex,
  utf8,
  x25519,
} from './helpers.js';

function dec(session: Session, message: OlmMessage): string {
  return text(session.decrypt(message));
}

function state(session: Session): string {
  return toHex(sessionBody(session));
}

/** Asserts that decrypting fails with `code` and leaves the session's state unchanged. */
function expectRefused(session: Session, message: OlmMessage, type: typeof TriturusError, code: string): void {
  const before = state(session);
  expectTriturusError(() => session.decrypt(message), type, code);
  expect(state(session), 'state changed by a failed decrypt').toBe(before);
}

function shuffle<T>(items: T[], seed: number): T[] {
  const out = items.slice();
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Bob replies and Alice reads it, so that Alice's next message starts a new chain. */
function turn(pair: ReturnType<typeof makePair>, label = 'reply'): void {
  expect(dec(pair.aliceSession, pair.bobSession.encrypt(label))).toBe(label);
}

describe('establishing a session', () => {
  it('pre-key messages until the first reply, then normal messages', () => {
    const pair = makePair(SessionConfig.version1(), 'one');
    const { aliceSession, bobSession } = pair;
    expect(text(pair.firstPlaintext)).toBe('one');
    expect(aliceSession.hasReceivedMessage).toBe(false);
    expect(bobSession.hasReceivedMessage).toBe(true);

    const two = aliceSession.encrypt('two');
    const three = aliceSession.encrypt(utf8('three'));
    expect(two).toBeInstanceOf(PreKeyMessage);
    expect(two.type).toBe(0);
    expect(three).toBeInstanceOf(PreKeyMessage);
    expect(dec(bobSession, three)).toBe('three');
    expect(dec(bobSession, two)).toBe('two');

    const reply = bobSession.encrypt('reply');
    expect(reply).toBeInstanceOf(Message);
    expect(reply.type).toBe(1);
    expect(dec(aliceSession, reply)).toBe('reply');
    expect(aliceSession.hasReceivedMessage).toBe(true);

    const four = aliceSession.encrypt('four');
    expect(four).toBeInstanceOf(Message);
    expect(dec(bobSession, four)).toBe('four');
  });

  it('both sides have the same session id: base64(SHA-256(I_A ‖ E_A ‖ E_B))', () => {
    const alice = Account.create();
    const bob = Account.create();
    const otk = oneTimeKeyOf(bob);
    const aliceSession = alice.createOutboundSession(SessionConfig.version1(), bob.curve25519Key, otk);
    const message = aliceSession.encrypt('hi') as PreKeyMessage;
    const { session: bobSession } = bob.createInboundSession(alice.curve25519Key, message);
    const expected = Buffer.from(
      sha256(concat(alice.curve25519Key.toBytes(), message.baseKey.toBytes(), otk.toBytes())),
    )
      .toString('base64')
      .replace(/=+$/, '');
    expect(aliceSession.sessionId).toBe(expected);
    expect(bobSession.sessionId).toBe(expected);
    expect(message.identityKey.equals(alice.curve25519Key)).toBe(true);
    expect(message.oneTimeKey.equals(otk)).toBe(true);
    for (const keys of [aliceSession.sessionKeys, bobSession.sessionKeys]) {
      expect(keys.identityKey.equals(alice.curve25519Key)).toBe(true);
      expect(keys.baseKey.equals(message.baseKey)).toBe(true);
      expect(keys.oneTimeKey.equals(otk)).toBe(true);
    }
    // Another session between the same accounts has another id.
    const other = alice.createOutboundSession(SessionConfig.version1(), bob.curve25519Key, oneTimeKeyOf(bob));
    expect(other.sessionId).not.toBe(expected);
  });

  it('matchesInboundSession recognises the pre-key messages of this session only', () => {
    const pair = makePair();
    const later = pair.aliceSession.encrypt('later') as PreKeyMessage;
    expect(pair.bobSession.matchesInboundSession(later)).toBe(true);
    expect(pair.bobSession.matchesInboundSessionFrom(pair.alice.curve25519Key, later)).toBe(true);
    expect(pair.bobSession.matchesInboundSessionFrom(Account.create().curve25519Key, later)).toBe(false);

    // Same Alice, same Bob, another one-time key: another session.
    const second = pair.alice.createOutboundSession(
      SessionConfig.version1(),
      pair.bob.curve25519Key,
      oneTimeKeyOf(pair.bob),
    );
    expect(pair.bobSession.matchesInboundSession(second.encrypt('x') as PreKeyMessage)).toBe(false);
    expectTriturusError(
      () => pair.bobSession.matchesInboundSession(pair.bobSession.encrypt('x') as unknown as PreKeyMessage),
      TriturusError,
      'INVALID_ARGUMENT',
    );
  });

  it('empty and large plaintexts, strings and bytes, decryptText', () => {
    const { aliceSession, bobSession } = makePair();
    expect(bobSession.decrypt(aliceSession.encrypt(new Uint8Array(0)))).toEqual(new Uint8Array(0));
    const big = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7) & 0xff);
    expect(bobSession.decrypt(aliceSession.encrypt(big))).toEqual(big);
    expect(bobSession.decryptText(aliceSession.encrypt('日本語 😀'))).toBe('日本語 😀');
    expectTriturusError(
      () => bobSession.decryptText(aliceSession.encrypt(Uint8Array.of(0xff))),
      DecodeError,
      'JSON_INVALID',
    );
  });

  it('refuses wrong argument types with INVALID_ARGUMENT', () => {
    const { aliceSession, bobSession } = makePair();
    for (const bad of [undefined, 42, { type: 1, body: 'AAAA' }, 'AwoA']) {
      expectTriturusError(() => bobSession.decrypt(bad as unknown as OlmMessage), TriturusError, 'INVALID_ARGUMENT');
    }
    for (const bad of [undefined, 42, [1, 2]]) {
      expectTriturusError(() => aliceSession.encrypt(bad as unknown as string), TriturusError, 'INVALID_ARGUMENT');
    }
  });
});

describe('session configs on the wire', () => {
  it('version constants', () => {
    const v1 = SessionConfig.version1();
    const v2 = SessionConfig.version2();
    expect([v1.version, v1.messageVersion, v1.macLength]).toEqual([1, 3, 8]);
    expect([v2.version, v2.messageVersion, v2.macLength]).toEqual([2, 4, 32]);
    expect(SessionConfig.version1()).toBe(v1);
  });

  for (const [config, version, macLength] of [
    [SessionConfig.version1(), 3, 8],
    [SessionConfig.version2(), 4, 32],
  ] as const) {
    it(`config v${config.version}: version byte ${version}, ${macLength}-byte MAC, layout and keys as the spec says`, () => {
      const pair = makePair(config);
      expect(pair.bobSession.config.version).toBe(config.version);
      turn(pair);
      for (const [sender, receiver] of [
        [pair.aliceSession, pair.bobSession],
        [pair.bobSession, pair.aliceSession],
      ] as const) {
        // A first message makes the sending chain (lazily, after a ratchet turn); check the second.
        expect(dec(receiver, sender.encrypt('warm up'))).toBe('warm up');
        const chain = parseSessionBody(sessionBody(sender)).sender!;
        const message = sender.encrypt('spec check');
        expect(message).toBeInstanceOf(Message);
        const bytes = (message as Message).toBytes();
        expect(bytes[0]).toBe(version);
        // 0x0A 32 ratchet key | 0x10 varint index | 0x22 len ciphertext | MAC
        expect(bytes[1]).toBe(0x0a);
        expect(bytes[2]).toBe(32);
        expect(toHex(bytes.subarray(3, 35))).toBe(toHex(chain.publicKey));
        expect(bytes[35]).toBe(0x10);
        expect(bytes[36]).toBe(chain.index); // small index: one varint byte
        expect(bytes[37]).toBe(0x22);
        const length = bytes[38]!;
        expect(bytes.length).toBe(39 + length + macLength);
        const ciphertext = bytes.subarray(39, 39 + length);
        const keys = messageKeys(chainStep(chain.chainKey).messageKey);
        const mac = bytes.subarray(39 + length);
        expect(toHex((message as Message).mac)).toBe(toHex(mac));
        expect(toHex(hmac(keys.macKey, bytes.subarray(0, 39 + length)).subarray(0, macLength))).toBe(toHex(mac));
        expect(text(aesCbcDecrypt(keys.aesKey, keys.iv, ciphertext))).toBe('spec check');
        // The chain advanced by one HMAC step.
        const after = parseSessionBody(sessionBody(sender)).sender!;
        expect(toHex(after.chainKey)).toBe(toHex(chainStep(chain.chainKey).nextChainKey));
        expect(after.index).toBe(chain.index + 1);
        expect(dec(receiver, message)).toBe('spec check');
      }
    });
  }

  it('a v2 pre-key message makes a v2 inbound session; the outer pre-key version byte stays 3', () => {
    const pair = makePair(SessionConfig.version2());
    const message = pair.aliceSession.encrypt('x') as PreKeyMessage;
    expect(message.toBytes()[0]).toBe(3);
    expect(message.message.version).toBe(4);
    expect(message.message.mac.length).toBe(32);
    expect(pair.bobSession.config.version).toBe(2);
    expect((pair.bobSession.encrypt('y') as Message).version).toBe(4);
  });

  it('a session refuses messages of the other version (MESSAGE_UNSUPPORTED_VERSION), unchanged', () => {
    for (const [config, other] of [
      [SessionConfig.version1(), 4],
      [SessionConfig.version2(), 3],
    ] as const) {
      const pair = makePair(config);
      // A message on the right chain and index, correctly MACed, but with the other version byte.
      const forged = Message.fromBytes(forgeNextMessage(pair.aliceSession, utf8('wrong version'), { version: other }));
      expect(forged.version).toBe(other);
      expectRefused(pair.bobSession, forged, DecodeError, 'MESSAGE_UNSUPPORTED_VERSION');
      // The same, with the session's own version, decrypts (the forging is right).
      const genuine = Message.fromBytes(forgeNextMessage(pair.aliceSession, utf8('right version')));
      expect(dec(pair.bobSession, genuine)).toBe('right version');
    }
  });
});

describe('key derivations (recomputed with node:crypto from pickled secrets)', () => {
  it('3DH root and chain keys, then the first root ratchet step', () => {
    const alice = Account.create();
    const bob = Account.create();
    const otk = oneTimeKeyOf(bob);
    const bobKeys = parseAccountBody(accountBody(bob));
    const aliceSession = alice.createOutboundSession(SessionConfig.version1(), bob.curve25519Key, otk);
    const message = aliceSession.encrypt('hi') as PreKeyMessage;
    const { session: bobSession } = bob.createInboundSession(alice.curve25519Key, message);

    // Bob's side: S = ECDH(E_B, I_A) ‖ ECDH(I_B, E_A) ‖ ECDH(E_B, E_A); HKDF(0, S, "OLM_ROOT", 64).
    const otkSecret = bobKeys.oneTimeKeys[0]!.secret;
    const shared = concat(
      x25519(otkSecret, alice.curve25519Key.toBytes()),
      x25519(bobKeys.identitySecret, message.baseKey.toBytes()),
      x25519(otkSecret, message.baseKey.toBytes()),
    );
    const initial = hkdf(shared, new Uint8Array(0), 'OLM_ROOT', 64);
    const bobState = parseSessionBody(sessionBody(bobSession));
    const aliceState = parseSessionBody(sessionBody(aliceSession));
    expect(toHex(bobState.rootKey)).toBe(toHex(initial.subarray(0, 32)));
    expect(toHex(aliceState.rootKey)).toBe(toHex(initial.subarray(0, 32)));
    // Bob's receiving chain has taken one step (message 0); Alice's sending chain too.
    const chain1 = chainStep(initial.subarray(32, 64)).nextChainKey;
    expect(toHex(bobState.receivers[0]!.chainKey)).toBe(toHex(chain1));
    expect(toHex(aliceState.sender!.chainKey)).toBe(toHex(chain1));
    expect(toHex(bobState.receivers[0]!.ratchetKey)).toBe(toHex(aliceState.sender!.publicKey));

    // Bob's first reply: a new ratchet key T_B; (root, chain) = HKDF(root, ECDH(T_B, T_A), "OLM_RATCHET", 64).
    const reply = bobSession.encrypt('reply') as Message;
    const bobAfter = parseSessionBody(sessionBody(bobSession));
    const step = hkdf(
      x25519(bobAfter.sender!.secret, aliceState.sender!.publicKey),
      initial.subarray(0, 32),
      'OLM_RATCHET',
      64,
    );
    expect(toHex(bobAfter.rootKey)).toBe(toHex(step.subarray(0, 32)));
    expect(toHex(bobAfter.sender!.chainKey)).toBe(toHex(chainStep(step.subarray(32, 64)).nextChainKey));
    expect(toHex(reply.ratchetKey.toBytes())).toBe(toHex(bobAfter.sender!.publicKey));
    expect(dec(aliceSession, reply)).toBe('reply');
    expect(toHex(parseSessionBody(sessionBody(aliceSession)).rootKey)).toBe(toHex(step.subarray(0, 32)));
  });
});

describe('out-of-order delivery and its limits', () => {
  it('messages of one chain decrypt in any order', () => {
    const { aliceSession, bobSession } = makePair();
    const messages = Array.from({ length: 12 }, (_, i) => [i, aliceSession.encrypt(`m${i}`)] as const);
    for (const [i, m] of shuffle([...messages], 7)) expect(dec(bobSession, m)).toBe(`m${i}`);
  });

  it(`keeps the keys of the ${MAX_SKIPPED_KEYS_PER_CHAIN} most recent skipped messages per chain`, () => {
    expect(MAX_SKIPPED_KEYS_PER_CHAIN).toBe(40);
    const { aliceSession, bobSession } = makePair();
    // Index 0 was the first message; send 1..42 and deliver 42 first: 41 skipped, 40 kept.
    const messages = Array.from({ length: 42 }, (_, i) => aliceSession.encrypt(`m${i + 1}`));
    expect(dec(bobSession, messages[41]!)).toBe('m42');
    const chain = parseSessionBody(sessionBody(bobSession)).receivers[0]!;
    expect(chain.skipped.map((s) => s.index)).toEqual(Array.from({ length: 40 }, (_, i) => i + 2));
    // Index 1 was stepped past without keeping its key: lost, not a replay.
    expect(chain.lost).toEqual([[1, 2]]);
    expectRefused(bobSession, messages[0]!, DecryptionError, 'MESSAGE_KEY_NOT_KEPT');
    expectRefused(bobSession, messages[41]!, DecryptionError, 'MESSAGE_KEY_MISSING');
    for (const i of shuffle(
      Array.from({ length: 40 }, (_, k) => k + 1),
      3,
    )) {
      expect(dec(bobSession, messages[i]!)).toBe(`m${i + 1}`);
    }
    expect(parseSessionBody(sessionBody(bobSession)).receivers[0]!.skipped).toEqual([]);
  });

  it('the window counts skipped keys across decrypts, dropping the oldest', () => {
    const { aliceSession, bobSession } = makePair();
    const messages = Array.from({ length: 45 }, (_, i) => aliceSession.encrypt(`m${i + 1}`));
    expect(dec(bobSession, messages[9]!)).toBe('m10'); // skips 1..9
    expect(dec(bobSession, messages[44]!)).toBe('m45'); // skips 11..44: 43 in all, 1..3 dropped
    // 1..3 fell out of the window: lost. 10 and 45 were decrypted: replays.
    for (const i of [1, 2, 3]) expectRefused(bobSession, messages[i - 1]!, DecryptionError, 'MESSAGE_KEY_NOT_KEPT');
    for (const i of [10, 45]) expectRefused(bobSession, messages[i - 1]!, DecryptionError, 'MESSAGE_KEY_MISSING');
    for (let i = 4; i <= 44; i++) if (i !== 10) expect(dec(bobSession, messages[i - 1]!)).toBe(`m${i}`);
    for (const i of [4, 44]) expectRefused(bobSession, messages[i - 1]!, DecryptionError, 'MESSAGE_KEY_MISSING');
  });

  it('a duplicate is refused (MESSAGE_KEY_MISSING), unchanged: in order and out of order', () => {
    const { aliceSession, bobSession } = makePair();
    const a = aliceSession.encrypt('a');
    const b = aliceSession.encrypt('b');
    const c = aliceSession.encrypt('c');
    expect(dec(bobSession, c)).toBe('c');
    expectRefused(bobSession, c, DecryptionError, 'MESSAGE_KEY_MISSING');
    expect(dec(bobSession, a)).toBe('a');
    expectRefused(bobSession, a, DecryptionError, 'MESSAGE_KEY_MISSING');
    expect(dec(bobSession, b)).toBe('b');
    expectRefused(bobSession, b, DecryptionError, 'MESSAGE_KEY_MISSING');
  });

  it(`refuses a gap above ${MAX_MESSAGE_GAP} in a known chain (MESSAGE_GAP_TOO_LARGE), unchanged`, () => {
    expect(MAX_MESSAGE_GAP).toBe(2000);
    const { aliceSession, bobSession } = makePair();
    // Bob's chain expects index 1; send 1..2002.
    const messages = Array.from({ length: 2002 }, (_, i) => aliceSession.encrypt(`m${i + 1}`));
    expectRefused(bobSession, messages[2001]!, DecryptionError, 'MESSAGE_GAP_TOO_LARGE'); // index 2002: gap 2001
    expect(dec(bobSession, messages[2000]!)).toBe('m2001'); // index 2001: gap 2000
    expect(dec(bobSession, messages[2001]!)).toBe('m2002');
    expect(dec(bobSession, messages[1999]!)).toBe('m2000');
    // Index 1 was stepped past in the gap of 2000: lost; 2000 was decrypted: a replay.
    expectRefused(bobSession, messages[0]!, DecryptionError, 'MESSAGE_KEY_NOT_KEPT');
    expectRefused(bobSession, messages[1999]!, DecryptionError, 'MESSAGE_KEY_MISSING');
  });

  it(`refuses a new chain's message at an index above ${MAX_MESSAGE_GAP}, unchanged`, () => {
    const pair = makePair();
    turn(pair);
    const messages = Array.from({ length: 2002 }, (_, i) => pair.aliceSession.encrypt(`n${i}`));
    expect(messages[0]).toBeInstanceOf(Message);
    expectRefused(pair.bobSession, messages[2001]!, DecryptionError, 'MESSAGE_GAP_TOO_LARGE'); // index 2001
    expect(dec(pair.bobSession, messages[2000]!)).toBe('n2000');
    expect(dec(pair.bobSession, messages[2001]!)).toBe('n2001');
  });

  it(`keeps ${MAX_RECEIVER_CHAINS} receiving chains: late messages of older chains are refused`, () => {
    expect(MAX_RECEIVER_CHAINS).toBe(5);
    const pair = makePair();
    const late: OlmMessage[] = [];
    for (let k = 1; k <= 7; k++) {
      late.push(pair.aliceSession.encrypt(`late ${k}`));
      expect(dec(pair.bobSession, pair.aliceSession.encrypt(`fresh ${k}`))).toBe(`fresh ${k}`);
      turn(pair, `turn ${k}`);
    }
    const receivers = parseSessionBody(sessionBody(pair.bobSession)).receivers;
    expect(receivers.length).toBe(5);
    for (const k of [1, 2]) {
      const before = state(pair.bobSession);
      expect(() => pair.bobSession.decrypt(late[k - 1]!)).toThrow(DecryptionError);
      expect(state(pair.bobSession)).toBe(before);
    }
    for (let k = 3; k <= 7; k++) expect(dec(pair.bobSession, late[k - 1]!)).toBe(`late ${k}`);
    // And the conversation goes on.
    expect(dec(pair.bobSession, pair.aliceSession.encrypt('on'))).toBe('on');
    turn(pair);
  });

  it('an unknown ratchet key before this side has sent is refused (MESSAGE_KEY_MISSING), unchanged', () => {
    const pair = makePair();
    const forged = Message.fromBytes(forgeNextMessage(pair.aliceSession, utf8('x'), { ratchetKey: randomKeyBytes() }));
    expectRefused(pair.bobSession, forged, DecryptionError, 'MESSAGE_KEY_MISSING');
  });
});

describe('tampering', () => {
  it('every single-bit change to a normal message is refused with a TriturusError, leaving the session unchanged', () => {
    const pair = makePair();
    turn(pair);
    const message = pair.aliceSession.encrypt('tamper me') as Message;
    const bytes = message.toBytes();
    const ciphertextStart = 39;
    for (let i = 0; i < bytes.length; i++) {
      for (const bit of [0, 3, 7]) {
        const copy = bytes.slice();
        copy[i]! ^= 1 << bit;
        let decoded: Message;
        try {
          decoded = Message.fromBytes(copy);
        } catch (error) {
          expect(error, `byte ${i} bit ${bit}`).toBeInstanceOf(TriturusError);
          continue;
        }
        const before = state(pair.bobSession);
        let caught: unknown;
        try {
          pair.bobSession.decrypt(decoded);
        } catch (error) {
          caught = error;
        }
        expect(caught, `byte ${i} bit ${bit}`).toBeInstanceOf(TriturusError);
        if (i >= ciphertextStart) expect((caught as TriturusError).code, `byte ${i} bit ${bit}`).toBe('MAC_MISMATCH');
        expect(state(pair.bobSession), `byte ${i} bit ${bit}`).toBe(before);
      }
    }
    expect(dec(pair.bobSession, message)).toBe('tamper me');
  });

  it('a tampered pre-key message in an existing session is refused (MAC_MISMATCH), unchanged', () => {
    const pair = makePair();
    const message = pair.aliceSession.encrypt('pre-key') as PreKeyMessage;
    const bytes = message.toBytes();
    for (const offset of [1, 9, 17]) {
      const copy = bytes.slice();
      copy[copy.length - offset]! ^= 0x20;
      expectRefused(pair.bobSession, PreKeyMessage.fromBytes(copy), DecryptionError, 'MAC_MISMATCH');
    }
    expect(dec(pair.bobSession, message)).toBe('pre-key');
  });

  it('a message for another session is refused, unchanged', () => {
    const one = makePair();
    const two = makePair();
    turn(one);
    turn(two);
    const before = state(one.bobSession);
    expect(() => one.bobSession.decrypt(two.aliceSession.encrypt('elsewhere'))).toThrow(DecryptionError);
    expect(state(one.bobSession)).toBe(before);
  });
});

describe('decryptText on invalid UTF-8', () => {
  it('refuses with JSON_INVALID and leaves the message decryptable as bytes', () => {
    const alice = Account.create();
    const bob = Account.create();
    bob.generateOneTimeKeys(1);
    const outbound = alice.createOutboundSession(
      SessionConfig.version1(),
      bob.curve25519Key,
      [...bob.oneTimeKeys.values()][0]!,
    );
    const { session: inbound } = bob.createInboundSession(alice.curve25519Key, outbound.encrypt('hi') as PreKeyMessage);
    for (const [later, skipped] of [
      [false, false],
      [true, true],
    ] as const) {
      const first = outbound.encrypt(Uint8Array.of(0xff, 0xfe, 0x00));
      const second = later ? outbound.encrypt('next') : undefined;
      if (skipped && second !== undefined) expect(inbound.decryptText(second)).toBe('next');
      expect(() => inbound.decryptText(first)).toThrow(expect.objectContaining({ code: 'JSON_INVALID' }));
      expect(inbound.decrypt(first)).toEqual(Uint8Array.of(0xff, 0xfe, 0x00));
    }
  });
});
