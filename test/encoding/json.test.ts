/**
 * Matrix canonical JSON (spec appendices, "Signing JSON" → "Canonical JSON"): the spec's own
 * examples, key order by Unicode code point, integers only within ±(2^53 - 1), -0 written as 0,
 * and the grammar's string escapes. Plus the UTF-8 and JSON-object helpers.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  parseJsonObject,
  stringifyJson,
  utf8Decode,
  utf8Encode,
  withUtf8,
} from '../../src/encoding/json.js';
import { DecodeError, TriturusError } from '../../src/errors.js';

function expectCode(fn: () => unknown, type: typeof TriturusError, code: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught, 'expected a throw').toBeInstanceOf(type);
  expect((caught as TriturusError).code).toBe(code);
}

describe('canonical JSON: the specification examples', () => {
  // Inputs exactly as the appendix gives them (whitespace and all), parsed with JSON.parse.
  const examples: [string, string][] = [
    ['{}', '{}'],
    ['{\n    "one": 1,\n    "two": "Two"\n}', '{"one":1,"two":"Two"}'],
    ['{\n    "b": "2",\n    "a": "1"\n}', '{"a":"1","b":"2"}'],
    ['{"b":"2","a":"1"}', '{"a":"1","b":"2"}'],
    [
      `{
    "auth": {
        "success": true,
        "mxid": "@john.doe:example.com",
        "profile": {
            "display_name": "John Doe",
            "three_pids": [
                {
                    "medium": "email",
                    "address": "john.doe@example.org"
                },
                {
                    "medium": "msisdn",
                    "address": "123456789"
                }
            ]
        }
    }
}`,
      '{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}',
    ],
    ['{\n    "a": "日本語"\n}', '{"a":"日本語"}'],
    ['{\n    "本": 2,\n    "日": 1\n}', '{"日":1,"本":2}'],
    ['{\n    "a": "\\u65E5"\n}', '{"a":"日"}'],
    ['{\n    "a": null\n}', '{"a":null}'],
    ['{\n    "a": -0,\n    "b": 1e10\n}', '{"a":0,"b":10000000000}'],
  ];
  for (const [input, expected] of examples) {
    it(`${JSON.stringify(input).slice(0, 50)} → ${expected.slice(0, 40)}`, () => {
      expect(canonicalJson(JSON.parse(input))).toBe(expected);
    });
  }
});

describe('canonical JSON: key order by code point', () => {
  it('sorts by code point where UTF-16 code-unit order differs', () => {
    // U+FB01 (one code unit 0xFB01) sorts before U+1F600 (code units 0xD83D 0xDE00) by code
    // point, after it by UTF-16 code unit (what Array.prototype.sort and < do).
    const value = { '\u{1F600}': 1, '\uFB01': 2, a: 3, '\uFFFF': 4, '\u{10000}': 5 };
    expect(canonicalJson(value)).toBe('{"a":3,"\uFB01":2,"\uFFFF":4,"\u{10000}":5,"\u{1F600}":1}');
    // Plain UTF-16 sorting would put the astral keys first among the non-ASCII ones.
    expect(Object.keys(value).sort()).toEqual(['a', '\u{10000}', '\u{1F600}', '\uFB01', '\uFFFF']);
  });

  it('a prefix sorts before its extensions, and comparison is not locale-aware', () => {
    expect(canonicalJson({ ab: 1, a: 2, B: 3, b: 4, é: 5, e: 6 })).toBe('{"B":3,"a":2,"ab":1,"b":4,"e":6,"é":5}');
    expect(canonicalJson({ 'a\u{1F600}': 1, a: 2, 'a\uFB01': 3 })).toBe('{"a":2,"a\uFB01":3,"a\u{1F600}":1}');
  });

  it('nested objects and arrays keep array order and sort every object', () => {
    expect(
      canonicalJson({
        z: [
          { b: 1, a: [3, 1, 2] },
          { d: {}, c: [] },
        ],
        y: false,
      }),
    ).toBe('{"y":false,"z":[{"a":[3,1,2],"b":1},{"c":[],"d":{}}]}');
  });

  it('matches code-point-sorted UTF-8 bytes on random keys (property)', () => {
    // Sorting UTF-8 byte strings gives code point order (RFC 3629 §1), an independent oracle.
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ unit: 'grapheme', maxLength: 4 }), { maxLength: 8 }), (keys) => {
        const object: Record<string, number> = {};
        keys.forEach((k, i) => {
          object[k] = i;
        });
        const expected = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
        const out = canonicalJson(object);
        expect(Object.keys(JSON.parse(out))).toEqual(
          // JSON.parse puts integer-like keys first; compare the order of the others.
          Object.keys(JSON.parse(JSON.stringify(Object.fromEntries(expected.map((k) => [k, object[k]]))))),
        );
        expect(out).toBe(`{${expected.map((k) => `${JSON.stringify(k)}:${object[k]}`).join(',')}}`);
      }),
      { numRuns: 300 },
    );
  });
});

describe('canonical JSON: numbers', () => {
  it('writes integers within ±(2^53 - 1) plainly, -0 as 0', () => {
    expect(canonicalJson([0, -0, 1, -1, 2 ** 53 - 1, -(2 ** 53 - 1), 1e15, 1e10])).toBe(
      '[0,0,1,-1,9007199254740991,-9007199254740991,1000000000000000,10000000000]',
    );
    expect(canonicalJson(-0)).toBe('0');
    expect(canonicalJson({ a: -0 })).toBe('{"a":0}');
  });

  it('refuses floats, NaN, infinities and integers out of range (INVALID_ARGUMENT, naming the path)', () => {
    for (const bad of [
      0.5,
      -1.5,
      1e-7,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      2 ** 53,
      -(2 ** 53),
      1e21,
    ]) {
      expectCode(() => canonicalJson(bad), TriturusError, 'INVALID_ARGUMENT');
      expectCode(() => canonicalJson({ ok: 1, deep: [{ x: bad }] }), TriturusError, 'INVALID_ARGUMENT');
    }
    let caught: unknown;
    try {
      canonicalJson({ ok: 1, deep: [{ x: 0.5 }] });
    } catch (error) {
      caught = error;
    }
    expect((caught as TriturusError).message).toContain('deep');
  });

  it('refuses values JSON cannot carry', () => {
    for (const bad of [10n, Symbol('s'), () => 1, undefined]) {
      expectCode(() => canonicalJson(bad), TriturusError, 'INVALID_ARGUMENT');
      expectCode(() => canonicalJson({ a: [bad === undefined ? 10n : bad] }), TriturusError, 'INVALID_ARGUMENT');
    }
  });

  it('drops undefined object members and writes undefined array items as null (like JSON.stringify)', () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(canonicalJson([undefined, 1])).toBe('[null,1]');
  });
});

describe('canonical JSON: strings', () => {
  it('escapes only what the grammar requires, with its short forms', () => {
    expect(canonicalJson('"\\/\b\f\n\r\t')).toBe('"\\"\\\\/\\b\\f\\n\\r\\t"');
    expect(canonicalJson('\u0000\u0007\u000b\u000e\u001f')).toBe('"\\u0000\\u0007\\u000b\\u000e\\u001f"');
    // DEL and everything from U+0020 up (but " and \) stay literal, non-ASCII as UTF-8.
    expect(canonicalJson(' ~\u007f\u0080é日😀')).toBe('" ~\u007f\u0080é日😀"');
  });

  it('every string is a grammar `string` and parses back to itself (property)', () => {
    // The appendix grammar: unescaped %x20-21 / %x23-5B / %x5D-10FFFF, escapes \" \\ \b \f \n \r \t \u00XX.
    const grammar = /^"(?:[\x20\x21\x23-\x5b\x5d-\u{10ffff}]|\\["\\bfnrt]|\\u000[0-7bef]|\\u001[0-9a-f])*"$/u;
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 30 }), (s) => {
        const out = canonicalJson(s);
        expect(JSON.parse(out)).toBe(s);
        expect(grammar.test(out), out).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('matches a reference encoder (UTF-8 byte order of keys, JSON.stringify leaves) on random trees', () => {
    const reference = (v: unknown): string => {
      if (Array.isArray(v)) return `[${v.map(reference).join(',')}]`;
      if (v !== null && typeof v === 'object') {
        const keys = Object.keys(v).sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
        return `{${keys.map((k) => `${JSON.stringify(k)}:${reference((v as Record<string, unknown>)[k])}`).join(',')}}`;
      }
      return JSON.stringify(v);
    };
    const leaf = fc.oneof(
      fc.boolean(),
      fc.constant(null),
      fc.maxSafeInteger(),
      fc.string({ unit: 'binary', maxLength: 6 }),
    );
    const { tree } = fc.letrec((tie) => ({
      tree: fc.oneof(
        { depthSize: 'small' },
        leaf,
        fc.array(tie('tree'), { maxLength: 4 }),
        fc.dictionary(fc.string({ unit: 'binary', maxLength: 4 }), tie('tree'), { maxKeys: 5 }),
      ),
    }));
    fc.assert(
      fc.property(tree, (value) => {
        const out = canonicalJson(value);
        expect(out).toBe(reference(value));
        expect(JSON.parse(out)).toEqual(value);
        // Idempotent: re-canonicalising the parsed output gives the same text.
        expect(canonicalJson(JSON.parse(out))).toBe(out);
      }),
      { numRuns: 300 },
    );
  });
});

describe('UTF-8 and JSON object helpers', () => {
  it('utf8Encode/utf8Decode round trip and match Buffer', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 20 }), (s) => {
        const bytes = utf8Encode(s);
        expect(Buffer.from(bytes).equals(Buffer.from(s, 'utf8'))).toBe(true);
        expect(utf8Decode(bytes)).toBe(s);
      }),
      { numRuns: 200 },
    );
  });

  it('utf8Decode refuses invalid UTF-8 with DecodeError JSON_INVALID', () => {
    for (const bad of [[0x80], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf5, 0x80, 0x80, 0x80], [0xe6, 0x97], [0xff]]) {
      expectCode(() => utf8Decode(Uint8Array.from(bad)), DecodeError, 'JSON_INVALID');
    }
  });

  it('parseJsonObject returns objects and refuses everything else with DecodeError JSON_INVALID', () => {
    expect(parseJsonObject('{"a":[1,{"b":null}]}')).toEqual({ a: [1, { b: null }] });
    for (const bad of ['', '{', '[]', 'null', '1', '"x"', 'true', '{"a":1}x', "{'a':1}", '{a:1}']) {
      expectCode(() => parseJsonObject(bad), DecodeError, 'JSON_INVALID');
    }
  });
});

describe('canonicalJson and toJSON', () => {
  it('encodes objects with toJSON as JSON.stringify does (keys, dates), so signatures cover the real value', () => {
    const key = { toJSON: () => 'B5LLswsHbCBE2Ewd4YnUdUM1vRCG6m7zOYfVkKfwj28' };
    expect(canonicalJson({ when: new Date(0), key })).toBe(
      '{"key":"B5LLswsHbCBE2Ewd4YnUdUM1vRCG6m7zOYfVkKfwj28","when":"1970-01-01T00:00:00.000Z"}',
    );
  });
});

describe('withUtf8 (the encrypt paths’ reused plaintext buffer)', () => {
  const reference = new TextEncoder();

  it('hands over exactly TextEncoder’s bytes, lone surrogates included', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => {
        const seen = withUtf8(text, (bytes) => Array.from(bytes));
        expect(seen).toEqual(Array.from(reference.encode(text)));
      }),
      { numRuns: 500 },
    );
  });

  it('zeroes the plaintext after the call, also when the callback throws', () => {
    let kept: Uint8Array | undefined;
    withUtf8('secret plaintext', (bytes) => {
      kept = bytes;
      expect(bytes.some((b) => b !== 0)).toBe(true);
    });
    expect(kept!.every((b) => b === 0)).toBe(true);
    let thrown: Uint8Array | undefined;
    expect(() =>
      withUtf8('another secret', (bytes) => {
        thrown = bytes;
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(thrown!.every((b) => b === 0)).toBe(true);
    // The buffer is free again after the throw: a later call still gets correct bytes.
    expect(withUtf8('after', (bytes) => new TextDecoder().decode(bytes))).toBe('after');
  });

  it('a nested call gets its own array and neither clobbers the other', () => {
    const result = withUtf8('outer text', (outer) => {
      const inner = withUtf8('inner', (bytes) => {
        expect(bytes.buffer).not.toBe(outer.buffer);
        return new TextDecoder().decode(bytes);
      });
      return [new TextDecoder().decode(outer), inner];
    });
    expect(result).toEqual(['outer text', 'inner']);
  });

  it('texts beyond the reusable buffer (64 KiB) are encoded into a fresh array', () => {
    const text = 'é'.repeat(40_000);
    const [length, ok] = withUtf8(text, (bytes) => [bytes.length, bytes.every((b, i) => b === (i % 2 ? 0xa9 : 0xc3))]);
    expect(length).toBe(80_000);
    expect(ok).toBe(true);
  });
});

describe('JSON that cannot be written', () => {
  it('canonicalJson refuses nesting past 128 levels and cycles with INVALID_ARGUMENT, not a stack overflow', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 128; i++) deep = [deep];
    expect(canonicalJson(deep)).toBe(`${'['.repeat(128)}1${']'.repeat(128)}`);
    let hostile: unknown = 1;
    for (let i = 0; i < 100_000; i++) hostile = { a: hostile };
    expect(() => canonicalJson(hostile)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    const cyclic: Record<string, unknown> = {};
    cyclic.me = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('stringifyJson turns JSON.stringify failures into INVALID_ARGUMENT without quoting the cause', () => {
    expect(stringifyJson({ a: [1, 'x'] }, 'the content')).toBe('{"a":[1,"x"]}');
    const cyclic: Record<string, unknown> = { private: 1 };
    cyclic.self = cyclic;
    for (const bad of [
      cyclic,
      { n: 1n },
      {
        toJSON: () => {
          throw new Error('private words');
        },
      },
    ]) {
      let caught: unknown;
      try {
        stringifyJson(bad, 'the content');
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(TriturusError);
      expect((caught as TriturusError).code).toBe('INVALID_ARGUMENT');
      expect((caught as Error).message).toMatch(/^the content cannot be written as JSON/);
      expect((caught as Error).message).not.toMatch(/private|self/);
    }
  });
});
