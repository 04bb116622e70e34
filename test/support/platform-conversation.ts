/**
 * One Olm and Megolm conversation, every step a separate call through `via`, under a seeded random source:
 * run once on the noble backend alone and once through `withPlatformCrypto`, the two transcripts must be
 * byte-identical (test/crypto/platform.test.ts in Node, test/browser/platform.test.ts in Chromium).
 */
import { type RandomSource, setRandomSource } from '../../src/crypto/index.js';
import { Account, GroupSession, InboundGroupSession, type PreKeyMessage, SessionConfig } from '../../src/index.js';

/** A deterministic random source (xorshift over a seed): the same keys on every run it is installed for. */
export function seededRandom(seed: number): RandomSource {
  let x = seed >>> 0 || 1;
  return (out) => {
    for (let i = 0; i < out.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = x & 0xff;
    }
  };
}

export type Via = <T>(fn: () => T) => Promise<T>;

/** The transcript: every message, key and plaintext, as text. Restores the system random source. */
export async function conversation(via: Via, seed = 7): Promise<string[]> {
  setRandomSource(seededRandom(seed));
  try {
    const text = new TextDecoder();
    const out: string[] = [];
    const alice = await via(() => Account.create());
    const bob = await via(() => Account.create());
    const otk = await via(() => bob.generateOneTimeKeys(1).created[0]!);
    const a = await via(() => alice.createOutboundSession(SessionConfig.version2(), bob.curve25519Key, otk));
    let m = await via(() => a.encrypt('hello bob'));
    out.push(m.toBase64());
    const created = await via(() => bob.createInboundSession(alice.curve25519Key, m as PreKeyMessage));
    out.push(text.decode(created.plaintext));
    const b = created.session;
    for (let i = 0; i < 4; i++) {
      const reply = await via(() => b.encrypt(`pong ${i}`));
      out.push(reply.toBase64(), text.decode(await via(() => a.decrypt(reply))));
      m = await via(() => a.encrypt(`ping ${i}`));
      out.push(m.toBase64(), text.decode(await via(() => b.decrypt(m))));
    }
    const group = await via(() => GroupSession.create());
    const key = await via(() => group.sessionKey());
    out.push(key.toBase64());
    const inbound = await via(() => InboundGroupSession.fromSessionKey(key));
    for (let i = 0; i < 3; i++) {
      const message = await via(() => group.encrypt(`room message ${i}`));
      out.push(message.toBase64(), text.decode((await via(() => inbound.decrypt(message))).plaintext));
    }
    out.push((await via(() => alice.sign('signed by alice'))).toBase64());
    return out;
  } finally {
    setRandomSource(undefined);
  }
}
