/**
 * `TextEncoder` and `TextDecoder` for UTF-8: the engine's own where it has them, else a JavaScript
 * implementation of the subset triturus uses (`encode`, `encodeInto`, and `decode` of whole buffers, fatal
 * on malformed input). Engines without WebCrypto-era globals (QuickJS, an older Hermes) lack them; the
 * modules that encode or decode text import these names instead of reaching for the globals.
 */

// Lone surrogates, which TextEncoder writes as U+FFFD and encodeURIComponent refuses.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** UTF-8 encoding as WHATWG `TextEncoder` does it (through encodeURIComponent, which every engine has). */
class Utf8Encoder {
  readonly encoding = 'utf-8';

  encode(input = ''): Uint8Array {
    const escaped = encodeURIComponent(String(input).replace(LONE_SURROGATE, '\ufffd'));
    const out: number[] = [];
    for (let i = 0; i < escaped.length; i++) {
      if (escaped[i] === '%') {
        out.push(Number.parseInt(escaped.slice(i + 1, i + 3), 16));
        i += 2;
      } else out.push(escaped.charCodeAt(i));
    }
    return Uint8Array.from(out);
  }

  /** Writes whole characters while they fit, as `TextEncoder.encodeInto` does. */
  encodeInto(input: string, destination: Uint8Array): { read: number; written: number } {
    let read = 0;
    let written = 0;
    for (const character of input) {
      const bytes = this.encode(character);
      if (written + bytes.length > destination.length) break;
      destination.set(bytes, written);
      written += bytes.length;
      read += character.length;
    }
    return { read, written };
  }
}

/**
 * Fatal UTF-8 decoding (RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF), through
 * decodeURIComponent, which refuses exactly those. Only `fatal: true` is offered: it is all triturus uses.
 */
class Utf8Decoder {
  readonly encoding = 'utf-8';
  readonly fatal = true;
  readonly ignoreBOM = false;

  constructor(label = 'utf-8', options: { fatal?: boolean } = {}) {
    if (!/^\s*(utf-?8|unicode-1-1-utf-8)\s*$/i.test(String(label)) || options.fatal !== true) {
      throw new RangeError('this TextDecoder fallback decodes UTF-8 with fatal: true only');
    }
  }

  decode(input?: ArrayBufferView | ArrayBuffer): string {
    if (input === undefined) return '';
    const bytes = ArrayBuffer.isView(input)
      ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
      : new Uint8Array(input);
    let escaped = '';
    for (let i = 0; i < bytes.length; i++) escaped += `%${(bytes[i]! + 256).toString(16).slice(1)}`;
    let text: string;
    try {
      text = decodeURIComponent(escaped);
    } catch {
      throw new TypeError('The encoded data was not valid for encoding utf-8');
    }
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
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
