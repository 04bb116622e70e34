/**
 * Unpadded base64 (Matrix spec appendices, "Unpadded Base64"; RFC 4648 §4 alphabet): output never
 * padded; input accepted with or without correct padding; bits beyond the last whole byte
 * ignored (as libolm and Python do, see src/encoding/base64.ts); bad characters, bad padding and
 * impossible lengths refused with DecodeError BASE64_INVALID. Node's Buffer is the independent
 * reference for valid data, and the constant-time variants must agree with the table-based ones.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeBase64,
  decodeBase64Secret,
  encodeBase64,
  encodeBase64Portable,
  encodeBase64Secret,
} from '../../src/encoding/base64.js';
import { DecodeError, TriturusError } from '../../src/errors.js';

const decoders = [
  ['decodeBase64', decodeBase64],
  ['decodeBase64Secret', decodeBase64Secret],
] as const;
const encoders = [
  ['encodeBase64', encodeBase64],
  ['encodeBase64Portable', encodeBase64Portable],
  ['encodeBase64Secret', encodeBase64Secret],
] as const;

function reference(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64').replace(/=+$/, '');
}

function ascii(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text, 'latin1'));
}

/** The outcome of a decode: the bytes as hex, or the error's class and code. */
function outcome(decode: (s: string) => Uint8Array, input: string): string {
  try {
    return `ok:${Buffer.from(decode(input)).toString('hex')}`;
  } catch (error) {
    if (error instanceof TriturusError) return `${error.name}:${error.code}`;
    return `foreign:${String(error)}`;
  }
}

// Stray characters: any UTF-16 code unit, lone surrogate halves included (decodeBase64Secret once
// took thousands of code units above 0xFF for digits, e.g. U+022B).
const LATIN1 = (maxLength: number, minLength = 0) =>
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), minLength, maxLength });
const BASE64_CHAR = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/');
/** Strings that are mostly base64-like, with padding and stray characters mixed in. */
const BASE64ISH = fc
  .array(
    fc.oneof(
      { weight: 20, arbitrary: BASE64_CHAR },
      { weight: 2, arbitrary: fc.constant('=') },
      {
        weight: 1,
        arbitrary: fc.constantFrom('-', '_', ' ', '\n', '.', '\0', '\x7f', '\x80', 'Á', 'é', '€', 'ŁA', '😀'),
      },
      { weight: 1, arbitrary: LATIN1(2, 1) },
    ),
    { maxLength: 40 },
  )
  .map((parts) => parts.join(''));

describe('base64 specification examples (Matrix appendices)', () => {
  const examples: [string, string][] = [
    ['', ''],
    ['f', 'Zg'],
    ['fo', 'Zm8'],
    ['foo', 'Zm9v'],
    ['foob', 'Zm9vYg'],
    ['fooba', 'Zm9vYmE'],
    ['foobar', 'Zm9vYmFy'],
  ];
  for (const [name, encode] of encoders) {
    it(`${name} produces the spec's unpadded strings`, () => {
      for (const [plain, encoded] of examples) expect(encode(ascii(plain))).toBe(encoded);
    });
  }
  for (const [name, decode] of decoders) {
    it(`${name} decodes them, padded or not`, () => {
      for (const [plain, encoded] of examples) {
        expect(Buffer.from(decode(encoded)).toString('latin1')).toBe(plain);
        const padded = encoded + '='.repeat((4 - (encoded.length % 4)) % 4);
        expect(Buffer.from(decode(padded)).toString('latin1')).toBe(plain);
      }
    });
  }
  it('the whole alphabet in order (RFC 4648 table)', () => {
    const all = Uint8Array.from({ length: 48 }, (_, i) => i);
    // 6-bit groups 0..63 in order: bytes 0x00 0x10 0x83 0x10 0x51 0x87 ...
    const sequential = Uint8Array.from(
      Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', 'base64'),
    );
    for (const [, encode] of encoders) {
      expect(encode(sequential)).toBe('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/');
      expect(encode(all)).toBe(reference(all));
    }
  });
});

describe('base64 round trips against Buffer', () => {
  it('encoders match Buffer (without padding) and never pad', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const expected = reference(bytes);
        for (const [, encode] of encoders) {
          const out = encode(bytes);
          expect(out).toBe(expected);
          expect(out).not.toContain('=');
          expect(out.length).toBe(Math.ceil((bytes.length * 4) / 3));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('decoders invert the encoders and accept Buffer’s padded output', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const unpadded = reference(bytes);
        const padded = Buffer.from(bytes).toString('base64');
        for (const [, decode] of decoders) {
          expect(decode(unpadded)).toEqual(bytes);
          expect(decode(padded)).toEqual(bytes);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('large inputs (beyond the string-building chunk size)', () => {
    const bytes = Uint8Array.from({ length: 70_001 }, (_, i) => (i * 31 + (i >> 8)) & 0xff);
    for (const [, encode] of encoders) expect(encode(bytes)).toBe(reference(bytes));
    for (const [, decode] of decoders) expect(decode(reference(bytes))).toEqual(bytes);
  });

  it('decoded output is a fresh Uint8Array', () => {
    for (const [, decode] of decoders) {
      const out = decode('AAEC');
      expect(out).toBeInstanceOf(Uint8Array);
      expect(Array.from(out)).toEqual([0, 1, 2]);
    }
  });
});

describe('base64 refusals (DecodeError BASE64_INVALID)', () => {
  const refused: [string, string][] = [
    // Wrong padding.
    ['one pad on a 3-char group', 'QQ='],
    ['three pads', 'QQ==='],
    ['pad where none belongs', 'QUJD='],
    ['pads on a full group', 'QUJD===='],
    ['a single data char padded', 'Q==='],
    ['padding in the middle', 'QQ==QQ=='],
    ['padding then data', 'Q=QQ'],
    ['only padding', '===='],
    ['two pads alone', '=='],
    ['one pad alone', '='],
    ['pad in the third of four with data after', 'QU=D'],
    // Length ≡ 1 (mod 4).
    ['1 char', 'A'],
    ['5 chars', 'AAAAA'],
    ['9 chars', 'QUJDQUJDQ'],
    ['5 chars padded to 8', 'AAAAA==='],
    // Bad characters.
    ['URL-safe -', 'ab-d'],
    ['URL-safe _', 'ab_d'],
    ['space', 'ab d'],
    ['newline', 'abc\nabcd'],
    ['dot', 'ab.d'],
    ['NUL', 'ab\0d'],
    ['DEL', 'ab\x7fd'],
    ['latin-1 0x80', 'ab\x80d'],
    // Characters whose low 7 bits are a valid base64 character.
    ['Á (U+00C1, low bits = A)', 'ÁAAA'],
    ['U+0141 (low bits = A)', 'AAA\u0141'],
    ['U+01AB (low bits = +)', 'A\u01abAA'],
    ['é in the tail', 'AAAAAé'],
    ['€', 'AA€A'],
    ['emoji (surrogate pair)', 'AA😀'],
    ['lone surrogate', 'AA\ud800A'],
    ['fullwidth A', 'ＡＡＡＡ'],
  ];
  for (const [name, decode] of decoders) {
    it(`${name} refuses each malformed input`, () => {
      for (const [what, input] of refused) {
        let caught: unknown;
        try {
          decode(input);
        } catch (error) {
          caught = error;
        }
        expect(caught, `${what}: ${JSON.stringify(input)}`).toBeInstanceOf(DecodeError);
        expect((caught as DecodeError).code, what).toBe('BASE64_INVALID');
      }
    });

    it(`${name} refuses non-strings with a DecodeError`, () => {
      for (const input of [undefined, null, 42, new Uint8Array(4), ['QUJD']]) {
        expect(() => decode(input as unknown as string)).toThrow(DecodeError);
      }
    });
  }

  it('every code unit below 0x100 outside the alphabet is refused in every position', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    for (let c = 0; c < 0x100; c++) {
      const ch = String.fromCharCode(c);
      if (alphabet.includes(ch) || ch === '=') continue;
      for (const input of [`${ch}AAA`, `A${ch}AA`, `AA${ch}A`, `AAA${ch}`, `AAAA${ch}A`, `AAAAA${ch}`]) {
        for (const [name, decode] of decoders) {
          expect(outcome(decode, input), `${name} ${JSON.stringify(input)}`).toBe('DecodeError:BASE64_INVALID');
        }
      }
    }
  });

  it('bits beyond the last whole byte are ignored, in every 2- and 3-character tail', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    for (const [name, decode] of decoders) {
      for (let v = 0; v < 64; v++) {
        // Q (16) then v: one byte, 16 << 2 | v >> 4; the low 4 bits of v are dropped.
        expect(Array.from(decode(`Q${alphabet[v]}`)), `${name} Q${alphabet[v]}`).toEqual([(16 << 2) | (v >> 4)]);
        expect(Array.from(decode(`Q${alphabet[v]}==`)), `${name} Q${alphabet[v]}==`).toEqual([(16 << 2) | (v >> 4)]);
        // A A then v: two bytes, 0 and v >> 2; the low 2 bits of v are dropped.
        expect(Array.from(decode(`AA${alphabet[v]}`)), `${name} AA${alphabet[v]}`).toEqual([0, v >> 2]);
        expect(Array.from(decode(`AAAAAA${alphabet[v]}=`)), `${name} AAAAAA${alphabet[v]}=`).toEqual([
          0,
          0,
          0,
          0,
          v >> 2,
        ]);
      }
    }
    // The same bytes as Buffer, which also ignores them.
    for (const input of ['QR', 'Qf', 'QUJ', 'QUL', 'AAAAQR']) {
      expect(decodeBase64(input)).toEqual(Uint8Array.from(Buffer.from(input, 'base64')));
    }
  });
});

describe('base64 properties', () => {
  it('the constant-time decoder agrees with the table decoder on every input', () => {
    fc.assert(
      fc.property(fc.oneof(BASE64ISH, LATIN1(24)), (input) => {
        const fast = outcome(decodeBase64, input);
        const secret = outcome(decodeBase64Secret, input);
        expect(secret).toBe(fast);
        expect(fast.startsWith('ok:') || fast === 'DecodeError:BASE64_INVALID').toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('the native (Buffer) path encodes only the viewed bytes of a subarray, like the portable loop', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.nat(20), fc.nat(20), (bytes, before, after) => {
        const backing = new Uint8Array(before + bytes.length + after).fill(0xa5);
        backing.set(bytes, before);
        const view = backing.subarray(before, before + bytes.length);
        expect(encodeBase64(view)).toBe(encodeBase64Portable(bytes));
        expect(encodeBase64(view)).toBe(reference(bytes));
      }),
      { numRuns: 500 },
    );
  });

  it('the constant-time encoder agrees with the table encoder', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        expect(encodeBase64Secret(bytes)).toBe(encodeBase64(bytes));
      }),
      { numRuns: 500 },
    );
  });

  it('what decodes is what Buffer decodes, and re-encodes to the canonical unpadded form', () => {
    fc.assert(
      fc.property(BASE64ISH, (input) => {
        let bytes: Uint8Array;
        try {
          bytes = decodeBase64(input);
        } catch (error) {
          expect(error).toBeInstanceOf(DecodeError);
          return;
        }
        // Buffer (lenient about everything) agrees on the bytes of every accepted input.
        expect(bytes).toEqual(Uint8Array.from(Buffer.from(input, 'base64')));
        const canonical = encodeBase64(bytes);
        expect(canonical.length).toBe(input.replace(/=+$/, '').length);
        expect(decodeBase64(canonical)).toEqual(bytes);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('decodeBase64Secret outside Latin-1', () => {
  it('refuses every code unit above 0xFF in every position', () => {
    for (let c = 0x100; c <= 0xffff; c += 1) {
      const ch = String.fromCharCode(c);
      for (const input of [`${ch}AAA`, `A${ch}AA`, `AA${ch}A`, `AAA${ch}`]) {
        expect(() => decodeBase64Secret(input)).toThrow(expect.objectContaining({ code: 'BASE64_INVALID' }));
      }
    }
  });
});
