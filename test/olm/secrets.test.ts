/**
 * Secrets never print: String(), template literals, JSON.stringify and util.inspect (showHidden,
 * depth 10) of Account, Session, X25519SecretKey and Ed25519SecretKey, and the message, string
 * form, JSON and inspection of errors from failed operations, contain none of the secret bytes.
 * The secrets are taken from the objects' own pickles, opened in the test, and searched for as
 * hex and base64 (and prefixes of them).
 */
import { createHash } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Ed25519SecretKey, X25519SecretKey } from '../../src/crypto/index.js';
import { TriturusError } from '../../src/errors.js';
import { Account } from '../../src/olm/account.js';
import { Message, type OlmMessage, type PreKeyMessage } from '../../src/olm/messages.js';
import { Session } from '../../src/olm/session.js';
import {
  accountBody,
  chainStep,
  forgeNextMessage,
  makePair,
  messageKeys,
  openPickleBody,
  type Pair,
  PICKLE_KEY,
  PICKLE_KIND_ACCOUNT,
  PICKLE_KIND_OLM_SESSION,
  parseAccountBody,
  parseSessionBody,
  sealPickleBody,
  sessionBody,
  toHex,
  utf8,
} from './helpers.js';

function encodings(secret: Uint8Array): string[] {
  const buffer = Buffer.from(secret);
  const hex = toHex(secret);
  const b64 = buffer.toString('base64');
  return [
    hex,
    hex.toUpperCase(),
    b64,
    b64.replace(/=+$/, ''),
    buffer.toString('base64url'),
    [...secret].join(','),
    // Prefixes long enough to identify a key.
    hex.slice(0, 16),
    b64.slice(0, 12),
  ];
}

function renderings(value: unknown): string[] {
  const out = [
    String(value),
    `${value}`,
    JSON.stringify(value) ?? '',
    JSON.stringify({ nested: [value] }),
    inspect(value),
    inspect(value, { depth: 10, showHidden: true }),
    inspect({ nested: { value } }, { depth: 10, showHidden: true, getters: true }),
  ];
  if (value instanceof Error)
    out.push(value.message, value.stack ?? '', inspect(value.cause, { depth: 10, showHidden: true }));
  return out;
}

function expectNoLeak(value: unknown, secrets: Uint8Array[]): void {
  expect(secrets.length).toBeGreaterThan(0);
  for (const rendered of renderings(value)) {
    // inspect lays byte lists out in columns: also compare without whitespace.
    for (const text of [rendered, rendered.replace(/\s+/g, '')]) {
      for (const secret of secrets) {
        for (const encoding of encodings(secret)) {
          if (text.includes(encoding)) expect.fail(`${JSON.stringify(text.slice(0, 200))} contains secret ${encoding}`);
        }
      }
    }
  }
}

/** Every secret an account holds, from its pickle: seed, expanded key halves, identity, one-time and fallback keys. */
function accountSecrets(account: Account): Uint8Array[] {
  const body = parseAccountBody(accountBody(account));
  const expanded = Uint8Array.from(createHash('sha512').update(body.signingSecret).digest());
  expanded[0]! &= 248;
  expanded[31]! &= 127;
  expanded[31]! |= 64;
  const stored = [...body.oneTimeKeys, body.fallbackKey, body.previousFallbackKey].filter((k) => k !== undefined);
  return [
    body.signingSecret,
    expanded.subarray(0, 32),
    expanded.subarray(32),
    body.identitySecret,
    ...stored.map((k) => k.secret),
  ];
}

/** Every secret a session holds, from its pickle, plus the keys of its next message. */
function sessionSecrets(session: Session): Uint8Array[] {
  const body = parseSessionBody(sessionBody(session));
  const out = [body.rootKey];
  if (body.sender !== undefined) {
    const next = messageKeys(chainStep(body.sender.chainKey).messageKey);
    out.push(body.sender.secret, body.sender.chainKey, next.aesKey, next.macKey);
  }
  for (const r of body.receivers) out.push(r.chainKey, ...r.skipped.map((s) => s.messageKey));
  return out;
}

function caught(fn: () => unknown): TriturusError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(TriturusError);
    return error as TriturusError;
  }
  return expect.fail('expected a throw');
}

/** A conversation with skipped keys on both sides and both fallback keys on Bob's account. */
function busyPair(): Pair & { lateToBob: OlmMessage } {
  const pair = makePair();
  pair.bob.generateOneTimeKeys(3);
  pair.bob.generateFallbackKey();
  pair.bob.generateFallbackKey();
  const lateToBob = pair.aliceSession.encrypt('late');
  pair.bobSession.decrypt(pair.aliceSession.encrypt('early'));
  pair.bobSession.encrypt('skipped by Alice');
  pair.aliceSession.decrypt(pair.bobSession.encrypt('reply'));
  pair.bobSession.decrypt(pair.aliceSession.encrypt('new chain'));
  return { ...pair, lateToBob };
}

describe('secrets never print', () => {
  it('the leak check catches hex, base64 and byte lists (control)', () => {
    const secret = Uint8Array.from({ length: 32 }, (_, i) => (i * 73 + 41) & 0xff);
    expect(() => expectNoLeak({ leaked: secret }, [secret])).toThrow();
    expect(() => expectNoLeak(`key ${toHex(secret)}`, [secret])).toThrow();
    expect(() => expectNoLeak(new Error(Buffer.from(secret).toString('base64')), [secret])).toThrow();
    expect(() => expectNoLeak({ a: { b: { c: Buffer.from(secret).toString('base64url') } } }, [secret])).toThrow();
  });

  it('Account, fresh and busy', () => {
    const fresh = Account.create();
    expectNoLeak(fresh, accountSecrets(fresh));
    const { bob, alice } = busyPair();
    const secrets = accountSecrets(bob);
    expect(secrets.length).toBeGreaterThan(8);
    expectNoLeak(bob, secrets);
    expectNoLeak(alice, accountSecrets(alice));
    expectNoLeak({ accounts: [bob, alice], keys: bob.identityKeys }, [...secrets, ...accountSecrets(alice)]);
    // The public identity is what they show.
    expect(String(bob)).toContain(bob.curve25519Key.toBase64());
  });

  it('Session, on both sides, with skipped keys, and after unpickling', () => {
    const { aliceSession, bobSession } = busyPair();
    for (const session of [aliceSession, bobSession]) {
      const secrets = sessionSecrets(session);
      expectNoLeak(session, secrets);
      const restored = Session.fromPickle(session.pickle(PICKLE_KEY), PICKLE_KEY);
      expectNoLeak(restored, secrets);
      expect(String(session)).toContain(session.sessionId);
    }
    expect(parseSessionBody(sessionBody(bobSession)).receivers.some((r) => r.skipped.length > 0)).toBe(true);
  });

  it('X25519SecretKey and Ed25519SecretKey (from bytes and generated, after use)', () => {
    const secret = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff);
    const x = X25519SecretKey.fromBytes(secret);
    x.diffieHellman(X25519SecretKey.generate().publicKey);
    expectNoLeak(x, [secret]);
    const generated = X25519SecretKey.generate();
    expectNoLeak(generated, [generated.toBytes()]);

    const ed = Ed25519SecretKey.fromSeed(secret);
    ed.sign(utf8('use it'));
    const expanded = ed.expandedBytes();
    expectNoLeak(ed, [secret, expanded.subarray(0, 32), expanded.subarray(32)]);
    const fromExpanded = Ed25519SecretKey.fromExpanded(expanded);
    fromExpanded.sign(utf8('use it'));
    expectNoLeak(fromExpanded, [expanded.subarray(0, 32), expanded.subarray(32)]);
    const generatedEd = Ed25519SecretKey.generate();
    expectNoLeak(generatedEd, [generatedEd.seedBytes()!]);
  });

  it('errors from failed operations', () => {
    const pair = busyPair();
    const { alice, bob, aliceSession, bobSession } = pair;
    const plaintext = utf8('\u00ff secret plaintext that must not be echoed');
    const secrets = [
      ...accountSecrets(alice),
      ...accountSecrets(bob),
      ...sessionSecrets(aliceSession),
      ...sessionSecrets(bobSession),
      PICKLE_KEY,
      plaintext,
    ];
    const message = aliceSession.encrypt(plaintext) as Message;
    const tampered = message.toBytes();
    tampered[tampered.length - 1]! ^= 1;
    const wrongKey = PICKLE_KEY.slice();
    wrongKey[0]! ^= 1;
    const accountPickle = bob.pickle(PICKLE_KEY);
    const body = openPickleBody(accountPickle, PICKLE_KEY).body;
    const sessionPickleBody = sessionBody(bobSession);
    const otherSession = makePair().aliceSession;
    const errors = [
      caught(() => bobSession.decrypt(Message.fromBytes(tampered))),
      caught(() => {
        bobSession.decrypt(message);
        bobSession.decrypt(message);
      }),
      caught(() => bobSession.decrypt(Message.fromBytes(forgeNextMessage(aliceSession, plaintext, { version: 4 })))),
      caught(() => bobSession.decrypt(otherSession.encrypt(plaintext))),
      caught(() => bobSession.decryptText(aliceSession.encrypt(Uint8Array.of(0xff, ...plaintext)))),
      caught(() => Account.fromPickle(accountPickle, wrongKey)),
      caught(() => Session.fromPickle(accountPickle, PICKLE_KEY)),
      // A PickleError with a cause: an authentic body cut inside a key.
      caught(() =>
        Account.fromPickle(sealPickleBody(PICKLE_KIND_ACCOUNT, body.subarray(0, 50), PICKLE_KEY), PICKLE_KEY),
      ),
      caught(() =>
        Session.fromPickle(
          sealPickleBody(PICKLE_KIND_OLM_SESSION, sessionPickleBody.subarray(0, 120), PICKLE_KEY),
          PICKLE_KEY,
        ),
      ),
      caught(() =>
        bob.createInboundSession(Account.create().curve25519Key, otherSession.encrypt('x') as PreKeyMessage),
      ),
      caught(() => {
        const p = makePair();
        bob.createInboundSession(p.alice.curve25519Key, p.aliceSession.encrypt('x') as PreKeyMessage);
      }),
      caught(() => bob.generateOneTimeKeys(-1)),
      caught(() => bob.pickle(new Uint8Array(31))),
      caught(() => aliceSession.encrypt(42 as unknown as string)),
    ];
    for (const error of errors) expectNoLeak(error, secrets);
    expect(new Set(errors.map((e) => e.code)).size).toBeGreaterThanOrEqual(8);
  });
});
