/**
 * Bun's node:crypto has no ChaCha20-Poly1305 ("Unknown cipher"). The node backend probes for it once and
 * falls back to the noble implementation, so pickles (and so the whole Device) still work and give the same
 * bytes. Here node:crypto is replaced by one that refuses that cipher, as Bun's does; the runtime suites run
 * the real thing on Bun.
 */
import { describe, expect, it, vi } from 'vitest';

vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  const refuse = (name: string): void => {
    if (name.toLowerCase() === 'chacha20-poly1305') throw new Error('Unknown cipher');
  };
  return {
    ...real,
    createCipheriv: ((name: string, ...rest: unknown[]) => {
      refuse(name);
      return (real.createCipheriv as (...a: unknown[]) => unknown)(name, ...rest);
    }) as typeof real.createCipheriv,
    createDecipheriv: ((name: string, ...rest: unknown[]) => {
      refuse(name);
      return (real.createDecipheriv as (...a: unknown[]) => unknown)(name, ...rest);
    }) as typeof real.createDecipheriv,
  };
});

const { nodeBackend } = await import('../../src/crypto/node.js');
const { nobleBackend } = await import('../../src/crypto/noble.js');
const { Account, GroupSession, InboundGroupSession, PickleError, setCryptoBackend, cryptoBackend } = await import(
  '../../src/index.js'
);

const bytes = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255);

describe('node backend on a node:crypto without ChaCha20-Poly1305 (Bun)', () => {
  it('the mocked node:crypto really refuses the cipher', async () => {
    const { createCipheriv } = await import('node:crypto');
    expect(() => createCipheriv('chacha20-poly1305', bytes(32, 1), bytes(12, 2), { authTagLength: 16 })).toThrow(
      'Unknown cipher',
    );
  });

  it('seals and opens with the same bytes as the noble backend', () => {
    const key = bytes(32, 3);
    const nonce = bytes(12, 4);
    const aad = bytes(9, 5);
    for (const length of [0, 1, 64, 1000]) {
      const plaintext = bytes(length, 6);
      const sealed = nodeBackend.chacha20Poly1305Seal(key, nonce, plaintext, aad);
      expect(sealed).toEqual(nobleBackend.chacha20Poly1305Seal(key, nonce, plaintext, aad));
      expect(nodeBackend.chacha20Poly1305Open(key, nonce, sealed, aad)).toEqual(plaintext);
      sealed[0]! ^= 1;
      expect(nodeBackend.chacha20Poly1305Open(key, nonce, sealed, aad)).toBeUndefined();
    }
  });

  it('pickles round trip, and a wrong pickle key is a PickleError, not a plain Error', () => {
    expect(cryptoBackend().name).toBe('node');
    setCryptoBackend(nodeBackend);
    const pickleKey = bytes(32, 7);
    const account = Account.create();
    const restored = Account.fromPickle(account.pickle(pickleKey), pickleKey);
    expect(restored.curve25519Key.toBase64()).toBe(account.curve25519Key.toBase64());

    const group = GroupSession.create();
    const inbound = InboundGroupSession.fromSessionKey(group.sessionKey());
    const again = InboundGroupSession.fromPickle(inbound.pickle(pickleKey), pickleKey);
    expect(new TextDecoder().decode(again.decrypt(group.encrypt('hi')).plaintext)).toBe('hi');

    let error: unknown;
    try {
      Account.fromPickle(account.pickle(pickleKey), bytes(32, 8));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PickleError);
  });
});
