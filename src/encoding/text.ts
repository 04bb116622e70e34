/**
 * `TextEncoder` and `TextDecoder` for UTF-8: the engine's own where it has them, else a JavaScript
 * implementation of the subset triturus uses (`encode`, `encodeInto`, and `decode` of whole buffers, fatal
 * on malformed input). Engines without WebCrypto-era globals (QuickJS, an older Hermes) lack them; the
 * modules that encode or decode text import these names instead of reaching for the globals.
 */

const REPLACEMENT = 0xfffd;

/** UTF-8 encoding as WHATWG `TextEncoder` does it: lone surrogates become U+FFFD. */
class Utf8Encoder {
  readonly encoding = 'utf-8';

  encode(input = ''): Uint8Array {
    const out = new Uint8Array(input.length * 3);
    return out.slice(0, this.encodeInto(input, out).written);
  }

  encodeInto(input: string, destination: Uint8Array): { read: number; written: number } {
    let read = 0;
    let written = 0;
    const n = input.length;
    while (read < n) {
      let code = input.charCodeAt(read);
      let units = 1;
      if (code >= 0xd800 && code <= 0xdfff) {
        const next = read + 1 < n ? input.charCodeAt(read + 1) : 0;
        if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
          units = 2;
        } else {
          code = REPLACEMENT;
        }
      }
      const size = code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
      if (written + size > destination.length) break;
      if (size === 1) destination[written] = code;
      else if (size === 2) {
        destination[written] = 0xc0 | (code >> 6);
        destination[written + 1] = 0x80 | (code & 0x3f);
      } else if (size === 3) {
        destination[written] = 0xe0 | (code >> 12);
        destination[written + 1] = 0x80 | ((code >> 6) & 0x3f);
        destination[written + 2] = 0x80 | (code & 0x3f);
      } else {
        destination[written] = 0xf0 | (code >> 18);
        destination[written + 1] = 0x80 | ((code >> 12) & 0x3f);
        destination[written + 2] = 0x80 | ((code >> 6) & 0x3f);
        destination[written + 3] = 0x80 | (code & 0x3f);
      }
      written += size;
      read += units;
    }
    return { read, written };
  }
}

/** UTF-8 decoding (RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF). */
class Utf8Decoder {
  readonly encoding = 'utf-8';
  readonly fatal: boolean;
  readonly ignoreBOM = false;

  constructor(label = 'utf-8', options: { fatal?: boolean } = {}) {
    const l = String(label).trim().toLowerCase();
    if (l !== 'utf-8' && l !== 'utf8' && l !== 'unicode-1-1-utf-8') {
      throw new RangeError(`this TextDecoder only decodes UTF-8, not ${label}`);
    }
    this.fatal = options.fatal === true;
  }

  decode(input?: ArrayBufferView | ArrayBuffer): string {
    if (input === undefined) return '';
    const bytes =
      input instanceof Uint8Array
        ? input
        : ArrayBuffer.isView(input)
          ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
          : new Uint8Array(input);
    let i = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
    const codes: number[] = [];
    let out = '';
    while (i < bytes.length) {
      const b = bytes[i]!;
      let code = -1;
      let size = 1;
      if (b < 0x80) code = b;
      else if (b >= 0xc2 && b <= 0xf4) {
        size = b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
        // The second byte's range rules out overlongs, surrogates and code points past U+10FFFF.
        const low = b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80;
        const high = b === 0xed ? 0x9f : b === 0xf4 ? 0x8f : 0xbf;
        let value = b & (size === 2 ? 0x1f : size === 3 ? 0x0f : 0x07);
        let k = 1;
        for (; k < size; k++) {
          const c = bytes[i + k];
          if (c === undefined || c < (k === 1 ? low : 0x80) || c > (k === 1 ? high : 0xbf)) break;
          value = (value << 6) | (c & 0x3f);
        }
        if (k === size) code = value;
        else size = k;
      }
      if (code < 0) {
        if (this.fatal) throw new TypeError('The encoded data was not valid for encoding utf-8');
        code = REPLACEMENT;
      }
      if (code >= 0x10000) {
        code -= 0x10000;
        codes.push(0xd800 + (code >> 10), 0xdc00 + (code & 0x3ff));
      } else codes.push(code);
      i += size;
      if (codes.length >= 0x2000) {
        out += String.fromCharCode(...codes);
        codes.length = 0;
      }
    }
    return out + String.fromCharCode(...codes);
  }
}

const engine = globalThis as {
  TextEncoder?: typeof globalThis.TextEncoder;
  TextDecoder?: typeof globalThis.TextDecoder;
};

/** The engine's `TextEncoder`, or a JavaScript UTF-8 encoder where it has none. */
export const TextEncoder: typeof globalThis.TextEncoder =
  engine.TextEncoder ?? (Utf8Encoder as unknown as typeof globalThis.TextEncoder);

/** The engine's `TextDecoder`, or a JavaScript UTF-8 decoder where it has none. */
export const TextDecoder: typeof globalThis.TextDecoder =
  engine.TextDecoder ?? (Utf8Decoder as unknown as typeof globalThis.TextDecoder);

/** @internal The fallbacks themselves, for the tests that hold them to the engine's codecs. */
export const fallbackTextCodecs: { Encoder: typeof globalThis.TextEncoder; Decoder: typeof globalThis.TextDecoder } = {
  Encoder: Utf8Encoder as unknown as typeof globalThis.TextEncoder,
  Decoder: Utf8Decoder as unknown as typeof globalThis.TextDecoder,
};
