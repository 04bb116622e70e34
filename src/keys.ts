/**
 * Public key and signature types shared by every protocol module. They hold public data only,
 * so they print themselves as base64.
 */

import { ed25519Verify, type KeyCache } from './crypto/index.js';
import { decodeBase64, encodeBase64 } from './encoding/base64.js';
import { isBytes } from './encoding/binary.js';
import { TextEncoder } from './encoding/text.js';
import { invalidArgument, KeyError, SignatureError } from './errors.js';

function checkBytes(what: string, bytes: Uint8Array, length: number): void {
  if (!isBytes(bytes)) throw invalidArgument(`${what} must be a Uint8Array`);
  if (bytes.length !== length) {
    throw new KeyError('KEY_INVALID_LENGTH', `${what} must be ${length} bytes`, {
      expected: length,
      actual: bytes.length,
    });
  }
}

function fromBase64Checked(what: string, text: string, length: number): Uint8Array {
  if (typeof text !== 'string') throw invalidArgument(`${what} must be a base64 string`);
  const bytes = decodeBase64(text);
  checkBytes(what, bytes, length);
  return bytes;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

let curveBytesOf: (key: Curve25519PublicKey) => Uint8Array;
let edBytesOf: (key: Ed25519PublicKey) => Uint8Array;
let signatureBytesOf: (signature: Ed25519Signature) => Uint8Array;

/** A Curve25519 (X25519) public key: identity keys, one-time keys, ratchet keys. */
export class Curve25519PublicKey {
  /** Brand check: only objects this class built (not a Proxy, not Object.create of the prototype). */
  static [Symbol.hasInstance](value: unknown): value is Curve25519PublicKey {
    return typeof value === 'object' && value !== null && #bytes in value;
  }

  readonly #bytes: Uint8Array;
  #base64: string | undefined;

  static {
    curveBytesOf = (key) => key.#bytes;
  }

  private constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  static fromBytes(bytes: Uint8Array): Curve25519PublicKey {
    checkBytes('Curve25519 public key', bytes, 32);
    return new Curve25519PublicKey(bytes.slice());
  }

  static fromBase64(text: string): Curve25519PublicKey {
    return new Curve25519PublicKey(fromBase64Checked('Curve25519 public key', text, 32));
  }

  toBytes(): Uint8Array {
    return this.#bytes.slice();
  }

  toBase64(): string {
    if (this.#base64 === undefined) this.#base64 = encodeBase64(this.#bytes);
    return this.#base64;
  }

  equals(other: Curve25519PublicKey): boolean {
    return other instanceof Curve25519PublicKey && bytesEqual(this.#bytes, other.#bytes);
  }

  toString(): string {
    return this.toBase64();
  }
  toJSON(): string {
    return this.toBase64();
  }
}

/** An Ed25519 public key, verifying strictly (see `ed25519Verify`). */
export class Ed25519PublicKey {
  /** Brand check: only objects this class built (not a Proxy, not Object.create of the prototype). */
  static [Symbol.hasInstance](value: unknown): value is Ed25519PublicKey {
    return typeof value === 'object' && value !== null && #bytes in value;
  }

  readonly #bytes: Uint8Array;
  #base64: string | undefined;
  readonly #cache: KeyCache = {};

  static {
    edBytesOf = (key) => key.#bytes;
  }

  private constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  static fromBytes(bytes: Uint8Array): Ed25519PublicKey {
    checkBytes('Ed25519 public key', bytes, 32);
    return new Ed25519PublicKey(bytes.slice());
  }

  static fromBase64(text: string): Ed25519PublicKey {
    return new Ed25519PublicKey(fromBase64Checked('Ed25519 public key', text, 32));
  }

  toBytes(): Uint8Array {
    return this.#bytes.slice();
  }

  toBase64(): string {
    if (this.#base64 === undefined) this.#base64 = encodeBase64(this.#bytes);
    return this.#base64;
  }

  equals(other: Ed25519PublicKey): boolean {
    return other instanceof Ed25519PublicKey && bytesEqual(this.#bytes, other.#bytes);
  }

  /** Throws SignatureError SIGNATURE_INVALID unless `signature` is a valid signature of `message`. */
  verify(message: Uint8Array | string, signature: Ed25519Signature): void {
    if (!this.isValidSignature(message, signature)) {
      throw new SignatureError('SIGNATURE_INVALID', 'the Ed25519 signature does not verify');
    }
  }

  /** Like `verify`, as a boolean. */
  isValidSignature(message: Uint8Array | string, signature: Ed25519Signature): boolean {
    if (!(signature instanceof Ed25519Signature)) throw invalidArgument('signature must be an Ed25519Signature');
    const bytes = typeof message === 'string' ? new TextEncoder().encode(message) : message;
    if (!isBytes(bytes)) throw invalidArgument('message must be a string or a Uint8Array');
    return ed25519Verify(this.#bytes, bytes, signatureBytesOf(signature), this.#cache);
  }

  toString(): string {
    return this.toBase64();
  }
  toJSON(): string {
    return this.toBase64();
  }
}

export class Ed25519Signature {
  /** Brand check: only objects this class built (not a Proxy, not Object.create of the prototype). */
  static [Symbol.hasInstance](value: unknown): value is Ed25519Signature {
    return typeof value === 'object' && value !== null && #bytes in value;
  }

  readonly #bytes: Uint8Array;

  static {
    signatureBytesOf = (signature) => signature.#bytes;
  }

  private constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  static fromBytes(bytes: Uint8Array): Ed25519Signature {
    checkBytes('Ed25519 signature', bytes, 64);
    return new Ed25519Signature(bytes.slice());
  }

  static fromBase64(text: string): Ed25519Signature {
    return new Ed25519Signature(fromBase64Checked('Ed25519 signature', text, 64));
  }

  toBytes(): Uint8Array {
    return this.#bytes.slice();
  }

  toBase64(): string {
    return encodeBase64(this.#bytes);
  }

  toString(): string {
    return this.toBase64();
  }
  toJSON(): string {
    return this.toBase64();
  }
}

/** @internal The key's bytes without a copy; callers must not modify them. */
export function curve25519Bytes(key: Curve25519PublicKey): Uint8Array {
  return curveBytesOf(key);
}

/** @internal */
export function ed25519Bytes(key: Ed25519PublicKey): Uint8Array {
  return edBytesOf(key);
}
