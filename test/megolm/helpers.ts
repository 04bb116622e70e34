/**
 * Helpers for the Megolm tests. Everything that checks the code under test is computed here
 * independently of it, with node:crypto and the definitions of olm's docs/megolm.md:
 *
 * - `RefRatchet` steps the ratchet by the spec's recurrence (R(i,j) re-derived from the slowest
 *   part whose byte of i changed), one index at a time, with node:crypto's HMAC;
 * - `refEncrypt` builds a whole Megolm message by hand (HKDF "MEGOLM_KEYS", AES-256-CBC, HMAC,
 *   Ed25519), optionally with its payload fields reordered or padded with unknown fields;
 * - `refOpen` checks and decrypts a message the same way;
 * - session keys and exported keys are assembled byte by byte.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  randomBytes,
  sign,
  verify,
} from 'node:crypto';
import { expect } from 'vitest';
import { TriturusError } from '../../src/errors.js';

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
}

export function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts.map((p) => Uint8Array.from(p))));
}

export function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64').replace(/=+$/, '');
}

export function fromB64(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text, 'base64'));
}

export function random(n: number): Uint8Array {
  return Uint8Array.from(randomBytes(n));
}

/** Asserts that `fn` throws an instance of `type` (a TriturusError subclass) with `code`. */
export function expectTriturusError(
  fn: () => unknown,
  type: abstract new (...args: never[]) => TriturusError,
  code: string,
): TriturusError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught, 'expected a throw').toBeInstanceOf(type);
  expect(caught).toBeInstanceOf(TriturusError);
  expect((caught as TriturusError).code).toBe(code);
  return caught as TriturusError;
}

export async function expectTriturusRejection(
  promise: Promise<unknown>,
  type: abstract new (...args: never[]) => TriturusError,
  code: string,
): Promise<TriturusError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught, 'expected a rejection').toBeInstanceOf(type);
  expect((caught as TriturusError).code).toBe(code);
  return caught as TriturusError;
}

// ---------------------------------------------------------------------------------------------
// The ratchet, by the spec's recurrence

function hmac(key: Uint8Array, byte: number): Uint8Array {
  return Uint8Array.from(createHmac('sha256', key).update(Uint8Array.of(byte)).digest());
}

/** The Megolm ratchet stepped one index at a time (megolm.md, "The Megolm ratchet algorithm"). */
export class RefRatchet {
  readonly parts: Uint8Array[];
  counter: number;

  constructor(data: Uint8Array, counter: number) {
    this.parts = [0, 1, 2, 3].map((j) => data.slice(32 * j, 32 * j + 32));
    this.counter = counter;
  }

  get data(): Uint8Array {
    return concat(...this.parts);
  }

  /** i → i + 1 (mod 2^32): when i+1 ≡ 0 mod 2^24 every part comes from R0, mod 2^16 from R1, mod 2^8 from R2. */
  step(): void {
    const next = (this.counter + 1) >>> 0;
    const from = next % 2 ** 24 === 0 ? 0 : next % 2 ** 16 === 0 ? 1 : next % 2 ** 8 === 0 ? 2 : 3;
    const source = this.parts[from]!;
    const fresh = [0, 1, 2, 3].map((k) => (k >= from ? hmac(source, k) : this.parts[k]!));
    for (let k = 0; k < 4; k++) this.parts[k] = fresh[k]!;
    this.counter = next;
  }

  steps(n: number): this {
    for (let i = 0; i < n; i++) this.step();
    return this;
  }
}

// ---------------------------------------------------------------------------------------------
// Keys and messages built by hand

export interface RefSigner {
  readonly privateKey: KeyObject;
  readonly publicKey: Uint8Array;
}

export function refSigner(): RefSigner {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const jwk = publicKey.export({ format: 'jwk' });
  return { privateKey, publicKey: Uint8Array.from(Buffer.from(jwk.x as string, 'base64url')) };
}

export function refSign(signer: RefSigner, message: Uint8Array): Uint8Array {
  return Uint8Array.from(sign(null, message, signer.privateKey));
}

export function refVerify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const key = createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') },
    format: 'jwk',
  });
  return verify(null, message, key, signature);
}

/** The Ed25519 public key of a 32-byte seed, by node:crypto. */
export function publicKeyOfSeed(seed: Uint8Array): Uint8Array {
  const key = createPrivateKey({
    key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(seed)]),
    format: 'der',
    type: 'pkcs8',
  });
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  return Uint8Array.from(Buffer.from(jwk.x as string, 'base64url'));
}

function u32be(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

export function refExportedKey(index: number, ratchet: Uint8Array, publicKey: Uint8Array): Uint8Array {
  return concat([1], u32be(index), ratchet, publicKey);
}

export function refSessionKey(index: number, ratchet: Uint8Array, signer: RefSigner): Uint8Array {
  const body = concat([2], u32be(index), ratchet, signer.publicKey);
  return concat(body, refSign(signer, body));
}

export function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

export function refKeys(ratchet: Uint8Array): { aes: Uint8Array; mac: Uint8Array; iv: Uint8Array } {
  const keys = Uint8Array.from(Buffer.from(hkdfSync('sha256', ratchet, new Uint8Array(0), 'MEGOLM_KEYS', 80)));
  return { aes: keys.slice(0, 32), mac: keys.slice(32, 64), iv: keys.slice(64, 80) };
}

export interface RefMessageOptions {
  readonly version?: 3 | 4;
  /** Write the ciphertext field before the index field. */
  readonly reorder?: boolean;
  /** Extra protobuf fields (raw bytes) appended to the payload. */
  readonly unknownFields?: Uint8Array;
}

/** A Megolm message built by hand for the ratchet state `ratchet` at `index`. */
export function refEncrypt(
  ratchet: Uint8Array,
  index: number,
  plaintext: Uint8Array,
  signer: RefSigner,
  options: RefMessageOptions = {},
): Uint8Array {
  const version = options.version ?? 3;
  const keys = refKeys(ratchet);
  const cipher = createCipheriv('aes-256-cbc', keys.aes, keys.iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const indexField = [0x08, ...varint(index)];
  const ciphertextField = concat([0x12, ...varint(ciphertext.length)], ciphertext);
  const fields = options.reorder
    ? concat(ciphertextField, options.unknownFields ?? [], indexField)
    : concat(indexField, ciphertextField, options.unknownFields ?? []);
  const payload = concat([version], fields);
  const macLength = version === 4 ? 32 : 8;
  const mac = Uint8Array.from(createHmac('sha256', keys.mac).update(payload).digest()).slice(0, macLength);
  const signed = concat(payload, mac);
  return concat(signed, refSign(signer, signed));
}

/** Checks and decrypts a version-3 or -4 message whose payload is index then ciphertext. */
export function refOpen(
  message: Uint8Array,
  ratchet: Uint8Array,
  publicKey: Uint8Array,
): { index: number; plaintext: Uint8Array } {
  const version = message[0]!;
  const macLength = version === 4 ? 32 : 8;
  const signedEnd = message.length - 64;
  if (!refVerify(publicKey, message.subarray(0, signedEnd), message.subarray(signedEnd))) {
    throw new Error('reference: bad signature');
  }
  const payload = message.subarray(0, signedEnd - macLength);
  const keys = refKeys(ratchet);
  const mac = createHmac('sha256', keys.mac).update(payload).digest().subarray(0, macLength);
  if (!Buffer.from(mac).equals(Buffer.from(message.subarray(signedEnd - macLength, signedEnd)))) {
    throw new Error('reference: bad MAC');
  }
  // Parse the two fields by hand: 0x08 varint, 0x12 varint-length bytes.
  let o = 1;
  if (payload[o++] !== 0x08) throw new Error('reference: index tag');
  let index = 0;
  for (let scale = 1; ; scale *= 128) {
    const b = payload[o++]!;
    index += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) break;
  }
  if (payload[o++] !== 0x12) throw new Error('reference: ciphertext tag');
  let length = 0;
  for (let scale = 1; ; scale *= 128) {
    const b = payload[o++]!;
    length += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) break;
  }
  const decipher = createDecipheriv('aes-256-cbc', keys.aes, keys.iv);
  const plaintext = Buffer.concat([decipher.update(payload.subarray(o, o + length)), decipher.final()]);
  return { index, plaintext: Uint8Array.from(plaintext) };
}
