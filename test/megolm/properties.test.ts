/**
 * Properties of Megolm sessions (fast-check): decryption in any order (with repeats), imports at
 * random indices, the compare/connected/merge laws, advance-then-decrypt, failed decryptions that
 * change nothing, and decoders that only ever throw TriturusError.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DecryptionError,
  decryptKeyExport,
  ExportedSessionKey,
  GroupSession,
  InboundGroupSession,
  MegolmMessage,
  SessionKey,
  SessionOrdering,
  TriturusError,
} from '../../src/index.js';
import { groupSessionFromLibolmPickle, inboundGroupSessionFromLibolmPickle } from '../../src/libolm/index.js';
import { toHex } from './helpers.js';

function snapshot(session: InboundGroupSession): string {
  const p = session.toParts();
  return `${p.initial.counter}:${toHex(p.initial.data)}|${p.latest.counter}:${toHex(p.latest.data)}|${p.verified}`;
}

/** An outbound session with `n` messages, and the session key from before the first one. */
function conversation(n: number): { outbound: GroupSession; key: SessionKey; messages: MegolmMessage[] } {
  const outbound = GroupSession.create();
  const key = outbound.sessionKey();
  const messages = Array.from({ length: n }, (_, i) => outbound.encrypt(`message ${i}`));
  return { outbound, key, messages };
}

const ordering = fc.array(fc.nat({ max: 59 }), { minLength: 1, maxLength: 40 });

describe('Megolm properties', () => {
  it('every message decrypts to its plaintext and index, in any order and any number of times', () => {
    const { key, messages } = conversation(60);
    fc.assert(
      fc.property(ordering, (order) => {
        const inbound = InboundGroupSession.fromSessionKey(key);
        for (const i of order) {
          expect(inbound.decryptText(messages[i]!)).toEqual({ plaintext: `message ${i}`, messageIndex: i });
        }
      }),
      { numRuns: 30 },
    );
  });

  it('an import at index k decrypts exactly the messages from k on', () => {
    const { key, messages } = conversation(60);
    const source = InboundGroupSession.fromSessionKey(key);
    fc.assert(
      fc.property(fc.nat({ max: 59 }), ordering, (k, order) => {
        const imported = InboundGroupSession.import(ExportedSessionKey.fromBase64(source.exportAt(k).toBase64()));
        expect(imported.firstKnownIndex).toBe(k);
        for (const i of order) {
          if (i >= k) expect(imported.decryptText(messages[i]!).messageIndex).toBe(i);
          else {
            const before = snapshot(imported);
            expect(() => imported.decrypt(messages[i]!)).toThrow(DecryptionError);
            expect(snapshot(imported)).toBe(before);
          }
        }
      }),
      { numRuns: 30 },
    );
  });

  it('compare is antisymmetric, connected symmetric, and merging never loses an index', () => {
    const { key, messages } = conversation(40);
    const unrelated = InboundGroupSession.fromSessionKey(GroupSession.create().sessionKey());
    const flip = { better: 'worse', worse: 'better', equal: 'equal', unconnected: 'unconnected' } as const;
    fc.assert(
      fc.property(fc.nat({ max: 39 }), fc.nat({ max: 39 }), fc.boolean(), (a, b, aSigned) => {
        const base = InboundGroupSession.fromSessionKey(key);
        const x = aSigned && a === 0 ? base : InboundGroupSession.import(base.exportAt(a));
        const y = InboundGroupSession.import(base.exportAt(b));
        // Decrypting moves the caches, which must not change the relations.
        x.decrypt(messages[39]!);
        expect(x.connected(y)).toBe(true);
        expect(y.connected(x)).toBe(true);
        const xy = x.compare(y);
        expect(y.compare(x)).toBe(flip[xy]);
        expect(xy).toBe(a < b ? SessionOrdering.better : a === b ? SessionOrdering.equal : SessionOrdering.worse);
        const merged = x.merge(y);
        expect(merged.firstKnownIndex).toBe(Math.min(a, b));
        expect(merged.isVerified).toBe(x.isVerified || y.isVerified);
        expect(merged.compare(x)).not.toBe(SessionOrdering.worse);
        expect(merged.compare(y)).not.toBe(SessionOrdering.worse);
        for (let i = Math.min(a, b); i < 40; i += 7) expect(merged.decryptText(messages[i]!).messageIndex).toBe(i);
        expect(x.compare(unrelated)).toBe(SessionOrdering.unconnected);
        expect(unrelated.connected(y)).toBe(false);
      }),
      { numRuns: 30 },
    );
  });

  it('advancing to k then decrypting equals decrypting step by step', () => {
    const { key, messages } = conversation(50);
    fc.assert(
      fc.property(fc.nat({ max: 49 }), fc.nat({ max: 49 }), (k, m) => {
        const stepwise = InboundGroupSession.fromSessionKey(key);
        for (let i = 0; i <= Math.max(k, m); i++) stepwise.decrypt(messages[i]!);
        const jumped = InboundGroupSession.fromSessionKey(key);
        jumped.advanceTo(k);
        expect(jumped.exportAtFirstKnownIndex().toBase64()).toBe(stepwise.exportAt(k).toBase64());
        if (m >= k) expect(jumped.decryptText(messages[m]!).plaintext).toBe(`message ${m}`);
        else expect(() => jumped.decrypt(messages[m]!)).toThrow(DecryptionError);
      }),
      { numRuns: 25 },
    );
  });

  it('the outbound counter wraps at 2^32 and receivers stay in step across it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), (before) => {
        const outbound = GroupSession.create();
        outbound.advanceTo(2 ** 32 - before);
        const inbound = InboundGroupSession.fromSessionKey(outbound.sessionKey());
        for (let i = 0; i < before; i++) {
          const message = outbound.encrypt(`m${i}`);
          expect(inbound.decryptText(message)).toEqual({ plaintext: `m${i}`, messageIndex: 2 ** 32 - before + i });
        }
        expect(outbound.messageIndex).toBe(0);
        // Past the wrap the index restarts at 0, below the receiver's first index: refused, as in
        // libolm and vodozemac; a new receiver from the current key decrypts it.
        const wrapped = outbound.encrypt('after the wrap');
        expect(wrapped.messageIndex).toBe(0);
        expect(() => inbound.decrypt(wrapped)).toThrow(DecryptionError);
        const fresh = InboundGroupSession.fromSessionKey(outbound.sessionKey());
        expect(fresh.decryptText(outbound.encrypt('fresh')).messageIndex).toBe(1);
      }),
      { numRuns: 6 },
    );
  });

  it('a failed decryption changes nothing (any flipped bit, any session state)', () => {
    const { key, messages } = conversation(30);
    fc.assert(
      fc.property(
        fc.nat({ max: 29 }),
        fc.nat({ max: 29 }),
        fc.nat({ max: 10_000 }),
        fc.nat({ max: 7 }),
        (warm, target, position, bit) => {
          const inbound = InboundGroupSession.fromSessionKey(key);
          inbound.decrypt(messages[warm]!);
          const bytes = messages[target]!.toBytes();
          bytes[position % bytes.length]! ^= 1 << bit;
          const before = snapshot(inbound);
          let tampered: MegolmMessage;
          try {
            tampered = MegolmMessage.fromBytes(bytes);
          } catch (error) {
            expect(error).toBeInstanceOf(TriturusError);
            return;
          }
          expect(() => inbound.decrypt(tampered)).toThrow(TriturusError);
          expect(snapshot(inbound)).toBe(before);
          expect(inbound.decryptText(messages[target]!).messageIndex).toBe(target);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('decoders fed arbitrary bytes or strings throw only TriturusError', async () => {
    const pickleKey = new Uint8Array(32);
    const decoders: ((input: Uint8Array, text: string) => unknown)[] = [
      (b) => MegolmMessage.fromBytes(b),
      (_, t) => MegolmMessage.fromBase64(t),
      (b) => SessionKey.fromBytes(b),
      (_, t) => SessionKey.fromBase64(t),
      (b) => ExportedSessionKey.fromBytes(b),
      (_, t) => ExportedSessionKey.fromBase64(t),
      (_, t) => InboundGroupSession.fromPickle(t, pickleKey),
      (_, t) => GroupSession.fromPickle(t, pickleKey),
      (_, t) => inboundGroupSessionFromLibolmPickle(t, 'key'),
      (_, t) => groupSessionFromLibolmPickle(t, 'key'),
    ];
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.uint8Array({ minLength: 229, maxLength: 229 }),
      fc.uint8Array({ minLength: 165, maxLength: 165 }),
      fc.uint8Array({ minLength: 1, maxLength: 120 }).map((b) => Uint8Array.of(3, ...b)),
    );
    fc.assert(
      fc.property(bytes, fc.oneof(fc.string(), fc.base64String()), (b, t) => {
        const text = t.length % 3 === 0 ? Buffer.from(b).toString('base64') : t;
        for (const decode of decoders) {
          try {
            decode(b, text);
          } catch (error) {
            expect(error).toBeInstanceOf(TriturusError);
          }
        }
      }),
      { numRuns: 200 },
    );
    await fc.assert(
      fc.asyncProperty(fc.string(), fc.uint8Array({ maxLength: 120 }), async (t, b) => {
        const armoured = `-----BEGIN MEGOLM SESSION DATA-----\n${Buffer.from(b).toString('base64')}\n-----END MEGOLM SESSION DATA-----`;
        for (const text of [t, armoured]) {
          try {
            await decryptKeyExport(text, 'p', { maxRounds: 50 });
          } catch (error) {
            expect(error).toBeInstanceOf(TriturusError);
          }
        }
      }),
      { numRuns: 60 },
    );
  });
});
