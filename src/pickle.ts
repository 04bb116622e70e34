/**
 * triturus's own pickle envelope, one for every object type:
 *
 *   base64( 0x01 (envelope version) | kind (1 byte) | nonce (12) | ChaCha20-Poly1305(body) )
 *
 * under a 32-byte pickle key, a fresh random nonce per pickle (vodozemac derives its IV from the
 * key; a random one never repeats a keystream), and the first two bytes bound as associated
 * data so a pickle of one kind never opens as another. The body starts with the object's own
 * schema version. ChaCha20-Poly1305 rather than AES: it is constant-time in pure JavaScript.
 */

import { chacha20Poly1305Open, chacha20Poly1305Seal, randomBytes } from './crypto/index.js';
import { decodeBase64, encodeBase64 } from './encoding/base64.js';
import { isBytes } from './encoding/binary.js';
import { TextEncoder } from './encoding/text.js';
import { invalidArgument, PickleError, TriturusError } from './errors.js';

const ENVELOPE_VERSION = 1;
const AAD_LABEL = new TextEncoder().encode('triturus pickle');

export const PickleKind = {
  account: 1,
  olmSession: 2,
  groupSession: 3,
  inboundGroupSession: 4,
  pkDecryption: 5,
  record: 6,
} as const;
export type PickleKind = (typeof PickleKind)[keyof typeof PickleKind];

export function checkPickleKey(key: Uint8Array): void {
  if (!isBytes(key)) throw invalidArgument('the pickle key must be a Uint8Array');
  if (key.length !== 32) throw invalidArgument('the pickle key must be 32 bytes', { expected: 32, actual: key.length });
}

const AADS: Uint8Array[] = [];

/** The associated data binding the envelope version and the object kind (built once per kind). */
function aad(kind: number): Uint8Array {
  let out = AADS[kind];
  if (out === undefined) {
    out = new Uint8Array(2 + AAD_LABEL.length);
    out[0] = ENVELOPE_VERSION;
    out[1] = kind;
    out.set(AAD_LABEL, 2);
    AADS[kind] = out;
  }
  return out;
}

export function sealPickle(kind: PickleKind, body: Uint8Array, key: Uint8Array): string {
  checkPickleKey(key);
  const nonce = randomBytes(12);
  const sealed = chacha20Poly1305Seal(key, nonce, body, aad(kind));
  body.fill(0);
  const out = new Uint8Array(2 + 12 + sealed.length);
  out[0] = ENVELOPE_VERSION;
  out[1] = kind;
  out.set(nonce, 2);
  out.set(sealed, 14);
  return encodeBase64(out);
}

/** Opens a pickle of the given kind; the caller must wipe the returned body after parsing. */
export function openPickle(kind: PickleKind, pickle: string, key: Uint8Array): Uint8Array {
  checkPickleKey(key);
  if (typeof pickle !== 'string') throw invalidArgument('a pickle is a string');
  let bytes: Uint8Array;
  try {
    bytes = decodeBase64(pickle);
  } catch {
    throw new PickleError('PICKLE_INVALID', 'the pickle is not valid base64');
  }
  if (bytes.length < 2 + 12 + 16) throw new PickleError('PICKLE_INVALID', 'the pickle is too short');
  if (bytes[0] !== ENVELOPE_VERSION) {
    throw new PickleError('PICKLE_UNSUPPORTED_VERSION', 'unknown pickle envelope version', { actual: bytes[0]! });
  }
  if (bytes[1] !== kind) {
    throw new PickleError('PICKLE_WRONG_TYPE', 'the pickle holds a different kind of object', {
      expected: kind,
      actual: bytes[1]!,
    });
  }
  try {
    return chacha20Poly1305Open(key, bytes.subarray(2, 14), bytes.subarray(14), aad(kind));
  } catch (error) {
    if (error instanceof TriturusError && error.code === 'AEAD_TAG_MISMATCH') {
      throw new PickleError('PICKLE_BAD_KEY', 'the pickle does not open with this key (wrong key or damaged pickle)');
    }
    throw error;
  }
}

/** Runs a body parser, turning anything but a PickleError into PICKLE_INVALID. */
export function parsePickleBody<T>(body: Uint8Array, parse: (body: Uint8Array) => T): T {
  try {
    return parse(body);
  } catch (error) {
    if (error instanceof PickleError) throw error;
    throw new PickleError('PICKLE_INVALID', 'the pickle contents are malformed', {}, { cause: error });
  } finally {
    body.fill(0);
  }
}
