/**
 * The UTF-8 codecs used where the engine has no TextEncoder/TextDecoder (QuickJS, an older Hermes): held to
 * Node's own codecs on random strings (lone surrogates included) and random bytes (malformed UTF-8 included).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fallbackTextCodecs } from '../../src/encoding/text.js';

const { Encoder, Decoder } = fallbackTextCodecs;
const native = new globalThis.TextDecoder('utf-8', { fatal: true });
const outcome = (decode: () => string): string => {
  try {
    return `ok:${decode()}`;
  } catch (error) {
    return `error:${(error as Error).name}`;
  }
};

describe('fallback UTF-8 codecs', () => {
  it('encode like TextEncoder, lone surrogates as U+FFFD', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(new Encoder().encode(s)).toEqual(new globalThis.TextEncoder().encode(s));
      }),
      { numRuns: 2000 },
    );
    expect(new Encoder().encode('a\ud800b')).toEqual(Uint8Array.of(0x61, 0xef, 0xbf, 0xbd, 0x62));
  });

  it('encodeInto stops before a character that does not fit, as TextEncoder does', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.nat(40), (s, room) => {
        const a = new Uint8Array(room);
        const b = new Uint8Array(room);
        expect(new Encoder().encodeInto(s, a)).toEqual(new globalThis.TextEncoder().encodeInto(s, b));
        expect(a).toEqual(b);
      }),
      { numRuns: 2000 },
    );
  });

  it('decode (fatal) accepts and refuses exactly what TextDecoder does', () => {
    const decoder = new Decoder('utf-8', { fatal: true });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 24 }), (bytes) => {
        expect(outcome(() => decoder.decode(bytes))).toBe(outcome(() => native.decode(bytes)));
      }),
      { numRuns: 5000 },
    );
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        const bytes = new globalThis.TextEncoder().encode(s);
        expect(decoder.decode(bytes)).toBe(s);
      }),
    );
    // Overlong, surrogate, past U+10FFFF, truncated: each refused.
    for (const bad of [
      [0xc0, 0x80],
      [0xe0, 0x80, 0x80],
      [0xed, 0xa0, 0x80],
      [0xf4, 0x90, 0x80, 0x80],
      [0xe2, 0x82],
    ]) {
      expect(outcome(() => decoder.decode(Uint8Array.from(bad)))).toBe('error:TypeError');
    }
  });
});
