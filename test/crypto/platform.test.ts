/**
 * The platform seam (src/crypto/platform.ts): WebCrypto doing the noble backend's Ed25519 and X25519 by
 * replaying synchronous protocol calls. Node 20's WebCrypto has both curves, so these run here; the same
 * checks run in headless Chromium in platform.browser.test.ts. The oracle is always the noble backend alone
 * (`setPlatformCrypto('off')`): every output must be byte-identical and every refusal the same error.
 */
import fc from 'fast-check';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  Ed25519SecretKey,
  ed25519Verify,
  setCryptoBackend,
  setRandomSource,
  X25519SecretKey,
} from '../../src/crypto/index.js';
import { nobleBackend } from '../../src/crypto/noble.js';
import { platformCrypto, setPlatformCrypto, withPlatformCrypto } from '../../src/crypto/platform.js';
import { TriturusError } from '../../src/errors.js';
import {
  Account,
  GroupSession,
  InboundGroupSession,
  MegolmMessage,
  Message,
  PreKeyMessage,
  SessionConfig,
  SessionKey,
} from '../../src/index.js';
import { DeviceClient } from '../support/device-client.js';
import { FaultHomeserver } from '../support/fault-homeserver.js';
import {
  firstOneTimeKeyOf,
  fromLibolmMessage,
  identityKeysOf,
  LibolmScope,
  loadLibolm,
  toLibolmMessage,
} from '../support/libolm.js';
import { conversation } from '../support/platform-conversation.js';
import { defaultBackend, hex } from './helpers.js';

const subtle = globalThis.crypto.subtle;

async function codeOf(run: () => unknown | Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (error) {
    if (error instanceof TriturusError) return error.code;
    throw error;
  }
  return 'ok';
}

/** `fn` on noble alone, then through the platform: both results. */
async function both<T>(fn: () => T): Promise<[T, T]> {
  setPlatformCrypto('off');
  const alone = fn();
  setPlatformCrypto('auto');
  const platform = await withPlatformCrypto(fn);
  return [alone, platform];
}

beforeAll(async () => {
  expect(await platformCrypto()).toEqual({ ed25519: true, x25519: true });
});

beforeEach(() => {
  setCryptoBackend(nobleBackend);
  setPlatformCrypto('auto');
});

afterEach(() => {
  setCryptoBackend(defaultBackend);
  setRandomSource(undefined);
  setPlatformCrypto('auto');
  vi.restoreAllMocks();
});

describe('the platform seam on the noble backend', () => {
  it('signs through WebCrypto, byte for byte as noble does', async () => {
    const sign = vi.spyOn(subtle, 'sign');
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 200 }),
        async (seed, message) => {
          const key = Ed25519SecretKey.fromSeed(seed);
          const [alone, platform] = await both(() => key.sign(message));
          expect(platform).toEqual(alone);
        },
      ),
      { numRuns: 25 },
    );
    expect(sign).toHaveBeenCalled();
  });

  it('verifies through WebCrypto with the same verdict as noble, forged or not', async () => {
    const verify = vi.spyOn(subtle, 'verify');
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 100 }),
        fc.nat(64 * 8 - 1),
        fc.constantFrom('good', 'flip-signature', 'flip-message', 'other-key'),
        async (seed, message, bit, how) => {
          const key = Ed25519SecretKey.fromSeed(seed);
          const signature = key.sign(message).slice();
          let publicKey = key.publicKey;
          let signed = message;
          if (how === 'flip-signature') signature[bit >> 3]! ^= 1 << (bit & 7);
          if (how === 'flip-message') signed = Uint8Array.of(...message, 1);
          if (how === 'other-key') publicKey = Ed25519SecretKey.generate().publicKey;
          const [alone, platform] = await both(() => ed25519Verify(publicKey, signed, signature));
          expect(platform).toBe(alone);
          if (how === 'good') expect(platform).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
    expect(verify).toHaveBeenCalled();
  });

  it('computes X25519 through WebCrypto as noble does, and refuses the low-order points alike', async () => {
    const derive = vi.spyOn(subtle, 'deriveBits');
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        async (a, b) => {
          const ours = X25519SecretKey.fromBytes(a);
          const theirs = X25519SecretKey.fromBytes(b).publicKey;
          const [alone, platform] = await both(() => ours.diffieHellman(theirs));
          expect(platform).toEqual(alone);
          const [publicAlone, publicPlatform] = await both(() => X25519SecretKey.fromBytes(a).publicKey);
          expect(publicPlatform).toEqual(publicAlone);
        },
      ),
      { numRuns: 25 },
    );
    expect(derive).toHaveBeenCalled();
    const ours = X25519SecretKey.generate();
    for (const point of [
      '0000000000000000000000000000000000000000000000000000000000000000',
      '0100000000000000000000000000000000000000000000000000000000000000',
      'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
      '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
      'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    ]) {
      setPlatformCrypto('off');
      const alone = await codeOf(() => ours.diffieHellman(hex(point)));
      setPlatformCrypto('auto');
      const platform = await codeOf(() => withPlatformCrypto(() => ours.diffieHellman(hex(point))));
      expect(alone).toBe('KEY_NON_CONTRIBUTORY');
      expect(platform).toBe(alone);
    }
  });

  it('runs a whole Olm and Megolm conversation byte-identical to noble alone (the same random bytes)', async () => {
    setPlatformCrypto('off');
    const alone = await conversation((fn) => Promise.resolve(fn()));
    setPlatformCrypto('auto');
    const derive = vi.spyOn(subtle, 'deriveBits');
    const verify = vi.spyOn(subtle, 'verify');
    const platform = await conversation(withPlatformCrypto);
    expect(platform).toEqual(alone);
    expect(derive).toHaveBeenCalled();
    expect(verify).toHaveBeenCalled();
  });

  it('a refused message is refused with the same error and changes nothing', async () => {
    const group = GroupSession.create();
    const inbound = InboundGroupSession.fromSessionKey(group.sessionKey());
    const good = group.encrypt('the real one');
    const bytes = hex(Buffer.from(good.toBase64(), 'base64').toString('hex'));
    bytes[bytes.length - 1]! ^= 1; // the signature
    const forged = MegolmMessage.fromBase64(Buffer.from(bytes).toString('base64').replace(/=+$/, ''));
    setPlatformCrypto('off');
    const alone = await codeOf(() => inbound.decrypt(forged));
    setPlatformCrypto('auto');
    const platform = await codeOf(() => withPlatformCrypto(() => inbound.decrypt(forged)));
    expect(alone).not.toBe('ok');
    expect(platform).toBe(alone);
    expect(new TextDecoder().decode((await withPlatformCrypto(() => inbound.decrypt(good))).plaintext)).toBe(
      'the real one',
    );

    // An Olm session that has not received yet: a forged normal message must not mark it answered.
    const alice = Account.create();
    const bob = Account.create();
    const session = alice.createOutboundSession(
      SessionConfig.version2(),
      bob.curve25519Key,
      bob.generateOneTimeKeys(1).created[0]!,
    );
    const stranger = Account.create();
    const strangerSession = stranger.createOutboundSession(
      SessionConfig.version2(),
      alice.curve25519Key,
      alice.generateOneTimeKeys(1).created[0]!,
    );
    strangerSession.encrypt('first');
    const inner = Message.fromBase64((strangerSession.encrypt('second') as PreKeyMessage).message.toBase64());
    expect(await codeOf(() => withPlatformCrypto(() => session.decrypt(inner)))).not.toBe('ok');
    const next = session.encrypt('still pre-key');
    expect(next).toBeInstanceOf(PreKeyMessage);
    const answered = await withPlatformCrypto(() =>
      bob.createInboundSession(alice.curve25519Key, next as PreKeyMessage),
    );
    expect(new TextDecoder().decode(answered.plaintext)).toBe('still pre-key');
  });

  it('ends however many operations a call makes, and survives code that swallows the stop', async () => {
    const key = Ed25519SecretKey.generate();
    const messages = Array.from({ length: 40 }, (_, i) => Uint8Array.of(i));
    const signatures = messages.map((m) => key.sign(m));
    const verdicts = await withPlatformCrypto(() =>
      messages.map((m, i) => ed25519Verify(key.publicKey, m, signatures[(i + (i % 3 === 0 ? 1 : 0)) % 40]!)),
    );
    expect(verdicts).toEqual(messages.map((_, i) => i % 3 !== 0));
    // A catch-all inside the call: the attempt that hit an unknown result is discarded all the same.
    const swallowed = await withPlatformCrypto(() => {
      try {
        return ed25519Verify(key.publicKey, messages[0]!, signatures[0]!) ? 'verified' : 'refused';
      } catch {
        return 'swallowed';
      }
    });
    expect(swallowed).toBe('verified');
  });

  it("'off' and the node backend leave WebCrypto alone", async () => {
    const verify = vi.spyOn(subtle, 'verify');
    const key = Ed25519SecretKey.generate();
    const signature = key.sign(Uint8Array.of(1));
    setPlatformCrypto('off');
    expect(await withPlatformCrypto(() => ed25519Verify(key.publicKey, Uint8Array.of(1), signature))).toBe(true);
    expect(verify).not.toHaveBeenCalled();
    setPlatformCrypto('auto');
    setCryptoBackend(defaultBackend);
    expect(await withPlatformCrypto(() => ed25519Verify(key.publicKey, Uint8Array.of(1), signature))).toBe(true);
    if (defaultBackend.name === 'node') expect(verify).not.toHaveBeenCalled();
    expect(() => setPlatformCrypto('on' as 'auto')).toThrow(TriturusError);
  });

  it('talks to libolm (Olm both ways, Megolm both ways) with every curve operation on WebCrypto', async () => {
    const olm = await loadLibolm();
    const scope = new LibolmScope(olm);
    try {
      const derive = vi.spyOn(subtle, 'deriveBits');
      const verify = vi.spyOn(subtle, 'verify');
      const sign = vi.spyOn(subtle, 'sign');
      const libolm = scope.account({ oneTimeKeys: 1 });
      const theirs = identityKeysOf(libolm);
      const ours = await withPlatformCrypto(() => Account.create());
      const session = await withPlatformCrypto(() =>
        ours.createOutboundSession(SessionConfig.version1(), theirs.curve25519, firstOneTimeKeyOf(libolm)),
      );
      const first = await withPlatformCrypto(() => session.encrypt('to libolm'));
      const inbound = scope.inboundSession(libolm, ours.curve25519Key, toLibolmMessage(first));
      expect(inbound.plaintext).toBe('to libolm');
      for (let i = 0; i < 3; i++) {
        const reply = fromLibolmMessage(inbound.session.encrypt(`from libolm ${i}`) as never);
        expect(new TextDecoder().decode(await withPlatformCrypto(() => session.decrypt(reply)))).toBe(
          `from libolm ${i}`,
        );
        const next = toLibolmMessage(await withPlatformCrypto(() => session.encrypt(`to libolm ${i}`)));
        expect(inbound.session.decrypt(next.type, next.body)).toBe(`to libolm ${i}`);
      }
      const group = await withPlatformCrypto(() => GroupSession.create());
      const libolmInbound = scope.track(new olm.InboundGroupSession());
      libolmInbound.create((await withPlatformCrypto(() => group.sessionKey())).toBase64());
      const sent = await withPlatformCrypto(() => group.encrypt('room message to libolm'));
      expect(libolmInbound.decrypt(sent.toBase64()).plaintext).toBe('room message to libolm');
      const libolmOutbound = scope.track(new olm.OutboundGroupSession());
      libolmOutbound.create();
      const ourInbound = await withPlatformCrypto(() =>
        InboundGroupSession.fromSessionKey(SessionKey.fromBase64(libolmOutbound.session_key())),
      );
      const received = MegolmMessage.fromBase64(libolmOutbound.encrypt('room message from libolm'));
      const opened = await withPlatformCrypto(() => ourInbound.decrypt(received));
      expect(new TextDecoder().decode(opened.plaintext)).toBe('room message from libolm');
      expect(derive).toHaveBeenCalled();
      expect(verify).toHaveBeenCalled();
      expect(sign).toHaveBeenCalled();
    } finally {
      scope.free();
    }
  });

  it('the Device takes the WebCrypto path on its own: key sharing over Olm, room events both ways', async () => {
    const derive = vi.spyOn(subtle, 'deriveBits');
    const verify = vi.spyOn(subtle, 'verify');
    const sign = vi.spyOn(subtle, 'sign');
    const server = new FaultHomeserver();
    const alice = await DeviceClient.create(server, '@alice:example.org', 'ALICE');
    const bob = await DeviceClient.create(server, '@bob:example.org', 'BOB');
    for (const c of [alice, bob]) await c.publish();
    const [bobInfo] = await alice.track('@bob:example.org');
    const [aliceInfo] = await bob.track('@alice:example.org');
    await alice.shareRoomKey('!room:example.org', [bobInfo!]);
    for (const got of await bob.receive()) expect(got.error).toBeUndefined();
    await bob.shareRoomKey('!room:example.org', [aliceInfo!]);
    for (const got of await alice.receive()) expect(got.error).toBeUndefined();
    for (let i = 0; i < 3; i++) {
      const fromAlice = await alice.post('!room:example.org', { body: `alice ${i}` });
      expect((await bob.device.decryptRoomEvent(fromAlice.event)).event.content).toEqual({ body: `alice ${i}` });
      const fromBob = await bob.post('!room:example.org', { body: `bob ${i}` });
      expect((await alice.device.decryptRoomEvent(fromBob.event)).event.content).toEqual({ body: `bob ${i}` });
    }
    expect(derive).toHaveBeenCalled();
    expect(verify).toHaveBeenCalled();
    expect(sign).toHaveBeenCalled();
  });
});
