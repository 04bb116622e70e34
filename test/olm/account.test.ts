/**
 * Olm accounts (Matrix spec olm.md "Initial setup"; limits from PROTOCOL-NOTES.md): identity
 * keys, signing, one-time keys (unpublished listing, publishing, ids, the 5000-key cap), fallback
 * keys (current + previous) and which keys a new inbound session consumes.
 * Public keys are checked against node:crypto derivations of the secrets in the account pickle.
 */
import { createPrivateKey, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DecryptionError, SessionError, SignatureError, TriturusError } from '../../src/errors.js';
import { type Curve25519PublicKey, Ed25519Signature } from '../../src/keys.js';
import { Account, MAX_ONE_TIME_KEYS, MAX_PUBLISHED_ONE_TIME_KEYS } from '../../src/olm/account.js';
import { SessionConfig } from '../../src/olm/config.js';
import { PreKeyMessage } from '../../src/olm/messages.js';
import {
  accountBody,
  expectTriturusError,
  flipLastByte,
  oneTimeKeyOf,
  parseAccountBody,
  text,
  toHex,
} from './helpers.js';

function nodePublicKey(type: 'x25519' | 'ed25519', secret: Uint8Array): Uint8Array {
  const prefix = type === 'x25519' ? '302e020100300506032b656e04220420' : '302e020100300506032b657004220420';
  const key = createPrivateKey({
    key: Buffer.concat([Buffer.from(prefix, 'hex'), Buffer.from(secret)]),
    format: 'der',
    type: 'pkcs8',
  });
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  return Uint8Array.from(Buffer.from(jwk.x!, 'base64url'));
}

function nodeVerifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const key = createPublicKey({
    key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(publicKey)]),
    format: 'der',
    type: 'spki',
  });
  return nodeVerify(null, message, key, signature);
}

/** A key id as a number: the ids are unpadded base64 of a u64 big-endian. */
function keyIdNumber(id: string): bigint {
  const bytes = Buffer.from(id, 'base64');
  expect(bytes.length).toBe(8);
  expect(id).not.toContain('=');
  return bytes.readBigUInt64BE();
}

function base64Set(keys: Iterable<Curve25519PublicKey>): Set<string> {
  return new Set([...keys].map((k) => k.toBase64()));
}

/** A pre-key message from a fresh Alice to `bob` on `key`, plus Alice's account. */
function preKeyTo(
  bob: Account,
  key: Curve25519PublicKey,
  plaintext = 'hello',
): { alice: Account; message: PreKeyMessage } {
  const alice = Account.create();
  const session = alice.createOutboundSession(SessionConfig.version1(), bob.curve25519Key, key);
  const message = session.encrypt(plaintext);
  expect(message).toBeInstanceOf(PreKeyMessage);
  return { alice, message: message as PreKeyMessage };
}

/** The same pre-key message with the last byte (inside the inner message's MAC) flipped. */
function tampered(message: PreKeyMessage): PreKeyMessage {
  return PreKeyMessage.fromBytes(flipLastByte(message.toBytes()));
}

describe('identity keys', () => {
  it('are stable, distinct per account, and the public halves of the pickled secrets', () => {
    const account = Account.create();
    const first = account.identityKeys;
    expect(account.identityKeys.curve25519.equals(first.curve25519)).toBe(true);
    expect(account.identityKeys.ed25519.equals(first.ed25519)).toBe(true);
    expect(account.curve25519Key.toBase64()).toBe(first.curve25519.toBase64());
    expect(account.ed25519Key.toBase64()).toBe(first.ed25519.toBase64());
    expect(first.curve25519.toBase64()).toMatch(/^[A-Za-z0-9+/]{43}$/);

    const body = parseAccountBody(accountBody(account));
    expect(body.signingSecret.length).toBe(32);
    expect(toHex(nodePublicKey('x25519', body.identitySecret))).toBe(toHex(first.curve25519.toBytes()));
    expect(toHex(nodePublicKey('ed25519', body.signingSecret))).toBe(toHex(first.ed25519.toBytes()));

    const other = Account.create();
    expect(other.curve25519Key.equals(first.curve25519)).toBe(false);
    expect(other.ed25519Key.equals(first.ed25519)).toBe(false);
  });

  it('do not change when keys are generated, published or used', () => {
    const bob = Account.create();
    const before = [bob.curve25519Key.toBase64(), bob.ed25519Key.toBase64()];
    bob.generateOneTimeKeys(3);
    bob.generateFallbackKey();
    bob.markKeysAsPublished();
    const { alice, message } = preKeyTo(bob, bob.currentFallbackKey!.key);
    bob.createInboundSession(alice.curve25519Key, message);
    expect([bob.curve25519Key.toBase64(), bob.ed25519Key.toBase64()]).toEqual(before);
  });
});

describe('sign', () => {
  it('signatures verify with Ed25519PublicKey.verify and with node:crypto', () => {
    const account = Account.create();
    for (const message of ['', 'hello', '{"a":"日本語"}', new Uint8Array(0), Uint8Array.of(0, 1, 2, 255)]) {
      const signature = account.sign(message);
      expect(signature).toBeInstanceOf(Ed25519Signature);
      expect(signature.toBytes().length).toBe(64);
      account.ed25519Key.verify(message, signature);
      expect(account.ed25519Key.isValidSignature(message, signature)).toBe(true);
      const bytes = typeof message === 'string' ? Uint8Array.from(Buffer.from(message, 'utf8')) : message;
      expect(nodeVerifyEd25519(account.ed25519Key.toBytes(), bytes, signature.toBytes())).toBe(true);
    }
  });

  it('a string is signed as its UTF-8 bytes, deterministically (RFC 8032)', () => {
    const account = Account.create();
    const a = account.sign('日本語');
    const b = account.sign(Uint8Array.from(Buffer.from('日本語', 'utf8')));
    expect(a.toBase64()).toBe(b.toBase64());
  });

  it('a signature does not verify for another message, another key or when altered', () => {
    const account = Account.create();
    const signature = account.sign('message');
    expectTriturusError(() => account.ed25519Key.verify('messagf', signature), SignatureError, 'SIGNATURE_INVALID');
    expectTriturusError(
      () => Account.create().ed25519Key.verify('message', signature),
      SignatureError,
      'SIGNATURE_INVALID',
    );
    const altered = Ed25519Signature.fromBytes(flipLastByte(signature.toBytes()));
    expect(account.ed25519Key.isValidSignature('message', altered)).toBe(false);
  });

  it('refuses a non-message with INVALID_ARGUMENT', () => {
    const account = Account.create();
    for (const bad of [undefined, 42, { a: 1 }, [1, 2]]) {
      expectTriturusError(() => account.sign(bad as unknown as string), TriturusError, 'INVALID_ARGUMENT');
    }
  });
});

describe('one-time keys', () => {
  it('generate lists the new keys as unpublished, in order, with unique increasing ids', () => {
    const account = Account.create();
    expect(account.oneTimeKeys.size).toBe(0);
    expect(account.maxNumberOfOneTimeKeys).toBe(MAX_PUBLISHED_ONE_TIME_KEYS);
    expect(MAX_PUBLISHED_ONE_TIME_KEYS).toBe(50);
    const { created, removed } = account.generateOneTimeKeys(10);
    expect(created.length).toBe(10);
    expect(removed).toEqual([]);
    const listed = account.oneTimeKeys;
    expect([...listed.values()].map((k) => k.toBase64())).toEqual(created.map((k) => k.toBase64()));
    const ids = [...listed.keys()].map(keyIdNumber);
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
    expect(base64Set(created).size).toBe(10);
    expect(account.storedOneTimeKeyCount).toBe(10);
  });

  it('the listed keys are the public halves of the stored secrets', () => {
    const account = Account.create();
    const { created } = account.generateOneTimeKeys(3);
    const body = parseAccountBody(accountBody(account));
    expect(body.oneTimeKeys.map((k) => toHex(nodePublicKey('x25519', k.secret)))).toEqual(
      created.map((k) => toHex(k.toBytes())),
    );
  });

  it('markKeysAsPublished hides published keys; later keys are listed alone with larger ids', () => {
    const account = Account.create();
    account.generateOneTimeKeys(5);
    const firstIds = [...account.oneTimeKeys.keys()].map(keyIdNumber);
    account.markKeysAsPublished();
    expect(account.oneTimeKeys.size).toBe(0);
    expect(account.storedOneTimeKeyCount).toBe(5);
    const { created } = account.generateOneTimeKeys(4);
    const listed = account.oneTimeKeys;
    expect([...listed.values()].map((k) => k.toBase64())).toEqual(created.map((k) => k.toBase64()));
    const laterIds = [...listed.keys()].map(keyIdNumber);
    const maxFirst = [...firstIds].sort((a, b) => (a < b ? -1 : 1)).at(-1)!;
    for (const id of laterIds) expect(id > maxFirst).toBe(true);
    expect(account.storedOneTimeKeyCount).toBe(9);
    // A published key still works for an inbound session.
    account.markKeysAsPublished();
    const published = created[0]!;
    const { alice, message } = preKeyTo(account, published);
    expect(text(account.createInboundSession(alice.curve25519Key, message).plaintext)).toBe('hello');
  });

  it('zero keys is allowed and changes nothing', () => {
    const account = Account.create();
    account.generateOneTimeKeys(2);
    const before = accountBody(account);
    expect(account.generateOneTimeKeys(0)).toEqual({ created: [], removed: [] });
    expect(toHex(accountBody(account))).toBe(toHex(before));
  });

  it('refuses invalid counts with INVALID_ARGUMENT and changes nothing', () => {
    const account = Account.create();
    account.generateOneTimeKeys(2);
    const before = toHex(accountBody(account));
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, MAX_ONE_TIME_KEYS + 1, 2 ** 53, '3', undefined]) {
      expectTriturusError(() => account.generateOneTimeKeys(bad as number), TriturusError, 'INVALID_ARGUMENT');
    }
    expect(toHex(accountBody(account))).toBe(before);
  });

  it(`keeps at most ${MAX_ONE_TIME_KEYS}, dropping (and reporting) the oldest`, () => {
    expect(MAX_ONE_TIME_KEYS).toBe(5000);
    const account = Account.create();
    const first = account.generateOneTimeKeys(MAX_ONE_TIME_KEYS - 3);
    expect(first.removed).toEqual([]);
    account.markKeysAsPublished();
    const second = account.generateOneTimeKeys(8);
    expect(account.storedOneTimeKeyCount).toBe(MAX_ONE_TIME_KEYS);
    expect(second.removed.map((k) => k.toBase64())).toEqual(first.created.slice(0, 5).map((k) => k.toBase64()));
    // The dropped keys no longer start sessions; the oldest kept one does.
    const dropped = preKeyTo(account, second.removed[4]!);
    expectTriturusError(
      () => account.createInboundSession(dropped.alice.curve25519Key, dropped.message),
      SessionError,
      'ONE_TIME_KEY_UNKNOWN',
    );
    const kept = preKeyTo(account, first.created[5]!);
    expect(text(account.createInboundSession(kept.alice.curve25519Key, kept.message).plaintext)).toBe('hello');
    // Ids never repeat, even across the drop.
    const body = parseAccountBody(accountBody(account));
    expect(new Set(body.oneTimeKeys.map((k) => k.id)).size).toBe(body.oneTimeKeys.length);
  }, 60_000);
});

describe('fallback keys', () => {
  it('generate: current is listed until published; the previous one survives one rotation', () => {
    const account = Account.create();
    expect(account.fallbackKey.size).toBe(0);
    expect(account.currentFallbackKey).toBeUndefined();
    expect(account.generateFallbackKey()).toBeUndefined();
    const first = account.currentFallbackKey!;
    expect([...account.fallbackKey.entries()].map(([id, k]) => [id, k.toBase64()])).toEqual([
      [first.keyId, first.key.toBase64()],
    ]);
    account.markKeysAsPublished();
    expect(account.fallbackKey.size).toBe(0);
    expect(account.currentFallbackKey!.key.equals(first.key)).toBe(true);

    // Second: the first becomes the previous one, nothing is dropped yet.
    expect(account.generateFallbackKey()).toBeUndefined();
    const second = account.currentFallbackKey!;
    expect(second.key.equals(first.key)).toBe(false);
    expect(keyIdNumber(second.keyId) > keyIdNumber(first.keyId)).toBe(true);
    expect([...account.fallbackKey.values()].map((k) => k.toBase64())).toEqual([second.key.toBase64()]);

    // Third: the first is dropped and returned.
    const droppedKey = account.generateFallbackKey();
    expect(droppedKey?.toBase64()).toBe(first.key.toBase64());
  });

  it('fallback and one-time key ids come from one counter (no collisions)', () => {
    const account = Account.create();
    account.generateOneTimeKeys(2);
    account.generateFallbackKey();
    account.generateOneTimeKeys(2);
    const ids = [...account.oneTimeKeys.keys(), account.currentFallbackKey!.keyId];
    expect(new Set(ids).size).toBe(5);
  });

  it('both the current and the previous fallback key start sessions; forgetFallbackKey drops the previous', () => {
    const bob = Account.create();
    bob.generateFallbackKey();
    const previous = bob.currentFallbackKey!.key;
    bob.generateFallbackKey();
    const current = bob.currentFallbackKey!.key;

    const viaCurrent = preKeyTo(bob, current, 'to current');
    expect(text(bob.createInboundSession(viaCurrent.alice.curve25519Key, viaCurrent.message).plaintext)).toBe(
      'to current',
    );
    const viaPrevious = preKeyTo(bob, previous, 'to previous');
    const lateViaPrevious = preKeyTo(bob, previous, 'late');
    expect(text(bob.createInboundSession(viaPrevious.alice.curve25519Key, viaPrevious.message).plaintext)).toBe(
      'to previous',
    );

    expect(bob.forgetFallbackKey()).toBe(true);
    expect(bob.forgetFallbackKey()).toBe(false);
    expectTriturusError(
      () => bob.createInboundSession(lateViaPrevious.alice.curve25519Key, lateViaPrevious.message),
      SessionError,
      'ONE_TIME_KEY_UNKNOWN',
    );
    // The current one is unaffected.
    const again = preKeyTo(bob, current, 'again');
    expect(text(bob.createInboundSession(again.alice.curve25519Key, again.message).plaintext)).toBe('again');
  });

  it('a key dropped by rotation no longer starts sessions', () => {
    const bob = Account.create();
    bob.generateFallbackKey();
    const oldest = bob.currentFallbackKey!.key;
    const late = preKeyTo(bob, oldest);
    bob.generateFallbackKey();
    bob.generateFallbackKey();
    expectTriturusError(
      () => bob.createInboundSession(late.alice.curve25519Key, late.message),
      SessionError,
      'ONE_TIME_KEY_UNKNOWN',
    );
  });
});

describe('which keys createInboundSession consumes', () => {
  it('a used one-time key is removed: the same message or another on that key is refused', () => {
    const bob = Account.create();
    const key = oneTimeKeyOf(bob);
    const { alice, message } = preKeyTo(bob, key);
    const other = preKeyTo(bob, key);
    bob.createInboundSession(alice.curve25519Key, message);
    expect(base64Set(bob.oneTimeKeys.values()).has(key.toBase64())).toBe(false);
    expect(bob.storedOneTimeKeyCount).toBe(0);
    expectTriturusError(
      () => bob.createInboundSession(alice.curve25519Key, message),
      SessionError,
      'ONE_TIME_KEY_UNKNOWN',
    );
    expectTriturusError(
      () => bob.createInboundSession(other.alice.curve25519Key, other.message),
      SessionError,
      'ONE_TIME_KEY_UNKNOWN',
    );
  });

  it('a used fallback key is kept: many sessions can start from it', () => {
    const bob = Account.create();
    bob.generateFallbackKey();
    const key = bob.currentFallbackKey!.key;
    const before = parseAccountBody(accountBody(bob));
    for (let i = 0; i < 3; i++) {
      const { alice, message } = preKeyTo(bob, key, `n${i}`);
      expect(text(bob.createInboundSession(alice.curve25519Key, message).plaintext)).toBe(`n${i}`);
    }
    const after = parseAccountBody(accountBody(bob));
    expect(toHex(after.fallbackKey!.secret)).toBe(toHex(before.fallbackKey!.secret));
    expect(bob.currentFallbackKey!.key.equals(key)).toBe(true);
  });

  it('a one-time key is kept when the pre-key message fails to decrypt, and works afterwards', () => {
    const bob = Account.create();
    const key = oneTimeKeyOf(bob);
    bob.generateOneTimeKeys(2);
    const { alice, message } = preKeyTo(bob, key, 'genuine');
    const before = toHex(accountBody(bob));
    expectTriturusError(
      () => bob.createInboundSession(alice.curve25519Key, tampered(message)),
      DecryptionError,
      'MAC_MISMATCH',
    );
    expect(toHex(accountBody(bob))).toBe(before);
    expect(base64Set(bob.oneTimeKeys.values()).has(key.toBase64())).toBe(true);
    expect(text(bob.createInboundSession(alice.curve25519Key, message).plaintext)).toBe('genuine');
  });

  it('refuses a pre-key message whose identity key is not the given sender (SESSION_MISMATCH), keeping the key', () => {
    const bob = Account.create();
    const key = oneTimeKeyOf(bob);
    const { alice, message } = preKeyTo(bob, key);
    const before = toHex(accountBody(bob));
    expectTriturusError(
      () => bob.createInboundSession(Account.create().curve25519Key, message),
      SessionError,
      'SESSION_MISMATCH',
    );
    expect(toHex(accountBody(bob))).toBe(before);
    bob.createInboundSession(alice.curve25519Key, message);
  });

  it('refuses a key the account never had (ONE_TIME_KEY_UNKNOWN)', () => {
    const bob = Account.create();
    bob.generateOneTimeKeys(1);
    const { alice, message } = preKeyTo(bob, Account.create().curve25519Key);
    const before = toHex(accountBody(bob));
    expectTriturusError(
      () => bob.createInboundSession(alice.curve25519Key, message),
      SessionError,
      'ONE_TIME_KEY_UNKNOWN',
    );
    expect(toHex(accountBody(bob))).toBe(before);
  });

  it('refuses wrong argument types with INVALID_ARGUMENT', () => {
    const bob = Account.create();
    const key = oneTimeKeyOf(bob);
    const { alice, message } = preKeyTo(bob, key);
    expectTriturusError(
      () => bob.createInboundSession(alice.curve25519Key.toBase64() as unknown as Curve25519PublicKey, message),
      TriturusError,
      'INVALID_ARGUMENT',
    );
    expectTriturusError(
      () => bob.createInboundSession(alice.curve25519Key, message.message as unknown as PreKeyMessage),
      TriturusError,
      'INVALID_ARGUMENT',
    );
    expectTriturusError(
      () => alice.createOutboundSession(1 as unknown as SessionConfig, bob.curve25519Key, key),
      TriturusError,
      'INVALID_ARGUMENT',
    );
    expectTriturusError(
      () => alice.createOutboundSession(SessionConfig.version1(), bob.curve25519Key, key.toBytes() as never),
      TriturusError,
      'INVALID_ARGUMENT',
    );
  });
});
