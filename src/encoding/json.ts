/**
 * Matrix canonical JSON (spec appendices, "Canonical JSON"): no insignificant whitespace, object
 * keys sorted by Unicode code point, integers only in ±(2^53 - 1), shortest UTF-8 form
 * (JSON.stringify's string escaping is exactly that: only ", \\ and control characters escaped).
 */

import { DecodeError, invalidArgument } from '../errors.js';
import { TextDecoder, TextEncoder } from './text.js';

/** Orders strings by Unicode code point (JavaScript's `<` compares UTF-16 code units). */
export function compareCodePoints(a: string, b: string): number {
  // JavaScript compares UTF-16 code units; code point order differs only between surrogate
  // pairs (U+10000..) and U+E000..U+FFFF, so walk code points explicitly.
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x < y ? -1 : 1;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

// Deeper values are refused (also what a cycle becomes), so hostile input cannot exhaust the stack.
const MAX_DEPTH = 128;

function write(value: unknown, path: string, depth: number): string {
  if (depth > MAX_DEPTH) {
    throw invalidArgument(`canonical JSON nests deeper than ${MAX_DEPTH} levels (or holds a cycle)`, { field: path });
  }
  // As JSON.stringify does: an object with toJSON (key types, Date) is encoded as what it returns.
  if (typeof value === 'object' && value !== null && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    value = (value as { toJSON(key: string): unknown }).toJSON(path);
  }
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isInteger(value) || !Number.isSafeInteger(value)) {
        throw invalidArgument(`canonical JSON allows only integers within ±(2^53-1) (at ${path})`, { field: path });
      }
      return Object.is(value, -0) ? '0' : String(value);
    case 'object': {
      if (Array.isArray(value))
        return `[${value.map((v, i) => write(v === undefined ? null : v, `${path}[${i}]`, depth + 1)).join(',')}]`;
      const keys = Object.keys(value as object)
        .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
        .sort(compareCodePoints);
      const parts = keys.map(
        (k) => `${JSON.stringify(k)}:${write((value as Record<string, unknown>)[k], `${path}.${k}`, depth + 1)}`,
      );
      return `{${parts.join(',')}}`;
    }
    default:
      throw invalidArgument(`canonical JSON cannot encode a ${typeof value} (at ${path})`, { field: path });
  }
}

export function canonicalJson(value: unknown): string {
  return write(value, '$', 0);
}

/**
 * JSON.stringify for caller-supplied values (event content): what JSON cannot hold (a cycle, a
 * BigInt, a throwing toJSON) is an INVALID_ARGUMENT. The cause is not quoted, since its message
 * can name parts of the plaintext.
 */
export function stringifyJson(value: unknown, what: string): string {
  try {
    return JSON.stringify(value);
  } catch {
    throw invalidArgument(`${what} cannot be written as JSON (a cycle, a BigInt or a failing toJSON)`);
  }
}

const encoder = new TextEncoder();
const fatalDecoder = new TextDecoder('utf-8', { fatal: true });

export function utf8Encode(text: string): Uint8Array {
  return encoder.encode(text);
}

// A reusable buffer for plaintexts on the encrypt paths. On V8 a fresh Uint8Array of more than
// 64 bytes lives outside the heap and costs ~0.7 µs to allocate and collect (measured on Node 20),
// against ~60 ns for encodeInto. Bigger texts than this get a fresh array.
const SCRATCH_LIMIT = 64 * 1024;
let scratch = new Uint8Array(1024);
let scratchBusy = false;

/**
 * Calls `use` with the UTF-8 encoding of `text`, in a buffer that is only valid during the call
 * and zeroed afterwards (plaintexts do not linger). Re-entrant calls get their own array.
 */
export function withUtf8<T>(text: string, use: (bytes: Uint8Array) => T): T {
  const worst = text.length * 3;
  if (scratchBusy || worst > SCRATCH_LIMIT) {
    const bytes = encoder.encode(text);
    try {
      return use(bytes);
    } finally {
      bytes.fill(0);
    }
  }
  if (worst > scratch.length) scratch = new Uint8Array(Math.min(SCRATCH_LIMIT, Math.max(worst, 2 * scratch.length)));
  const { written } = encoder.encodeInto(text, scratch);
  scratchBusy = true;
  try {
    return use(scratch.subarray(0, written));
  } finally {
    scratch.fill(0, 0, written);
    scratchBusy = false;
  }
}

export function utf8Decode(bytes: Uint8Array): string {
  try {
    return fatalDecoder.decode(bytes);
  } catch {
    throw new DecodeError('JSON_INVALID', 'not valid UTF-8');
  }
}

/** Parses JSON into an object, raising DecodeError on bad JSON or a non-object. */
export function parseJsonObject(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new DecodeError('JSON_INVALID', 'invalid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new DecodeError('JSON_INVALID', 'expected a JSON object');
  }
  return value as Record<string, unknown>;
}
