/**
 * The MLS identity of a Matrix device: one Ed25519 signature key per device, a BasicCredential
 * naming the (user, device), and the authentication-service hook through which the application
 * says whether a member's credential matches a tracked device's signed credential.
 *
 * BasicCredential identity (documented in docs/dmls.md): the MLS variable-length encoding
 * (RFC 9420 §2.1.2) of the UTF-8 user id followed by that of the UTF-8 device id:
 *     struct { opaque user_id<V>; opaque device_id<V>; } DmlsIdentity;
 * Nothing may follow. The published credential is the unpadded base64 of the 32-byte Ed25519
 * signature public key under `m.dmls.v1.credential.ed25519:<device_id>` in the device keys.
 */
import type { AuthenticationService, Credential } from 'ts-mls';
import { Ed25519SecretKey } from '../crypto/index.js';
import { decodeBase64, encodeBase64 } from '../encoding/base64.js';
import { DmlsError, invalidArgument } from '../errors.js';
import { redactInspect } from '../inspect.js';

export const CREDENTIAL_KEY_PREFIX = 'm.dmls.v1.credential.ed25519:';

/** The device-keys entry name of a device's DMLS credential. */
export function credentialKeyId(deviceId: string): string {
  return `${CREDENTIAL_KEY_PREFIX}${deviceId}`;
}

/** A Matrix device as an MLS member: who, and the signature key its leaf carries. */
export interface DmlsMember {
  readonly userId: string;
  readonly deviceId: string;
  readonly signatureKey: Uint8Array;
}

/**
 * Answers whether a member's signature key is the credential a tracked device published (in its
 * self-signed device keys). ts-mls asks for every leaf it meets: in a Welcome's tree, in adds, in
 * update paths. Anything but `true` refuses the member.
 */
export type DmlsAuthenticator = (member: DmlsMember) => boolean | Promise<boolean>;

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder('utf-8', { fatal: true });

function writeVarint(n: number, out: number[]): void {
  if (n < 0x40) out.push(n);
  else if (n < 0x4000) out.push(0x40 | (n >> 8), n & 0xff);
  else if (n < 0x40000000) out.push(0x80 | (n >>> 24), (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
  else throw invalidArgument('identity part too long');
}

function readVarint(bytes: Uint8Array, offset: number): [number, number] | undefined {
  const first = bytes[offset];
  if (first === undefined) return undefined;
  const prefix = first >> 6;
  if (prefix === 0) return [first, 1];
  if (prefix === 1) {
    if (offset + 2 > bytes.length) return undefined;
    const n = ((first & 0x3f) << 8) | bytes[offset + 1]!;
    return n < 0x40 ? undefined : [n, 2]; // RFC 9420 §2.1.2: minimum-length encoding only
  }
  if (prefix === 2) {
    if (offset + 4 > bytes.length) return undefined;
    const n =
      ((first & 0x3f) * 0x1000000 + (bytes[offset + 1]! << 16)) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!;
    return n < 0x4000 ? undefined : [n >>> 0, 4];
  }
  return undefined;
}

export function encodeDmlsIdentity(userId: string, deviceId: string): Uint8Array {
  if (typeof userId !== 'string' || userId.length === 0) throw invalidArgument('userId must be a non-empty string');
  if (typeof deviceId !== 'string' || deviceId.length === 0) {
    throw invalidArgument('deviceId must be a non-empty string');
  }
  const user = ENCODER.encode(userId);
  const device = ENCODER.encode(deviceId);
  const head: number[] = [];
  writeVarint(user.length, head);
  const mid: number[] = [];
  writeVarint(device.length, mid);
  const out = new Uint8Array(head.length + user.length + mid.length + device.length);
  out.set(head, 0);
  out.set(user, head.length);
  out.set(mid, head.length + user.length);
  out.set(device, head.length + user.length + mid.length);
  return out;
}

/** The (user, device) of a BasicCredential identity, or undefined when it is not in that form. */
export function decodeDmlsIdentity(identity: Uint8Array): { userId: string; deviceId: string } | undefined {
  try {
    const a = readVarint(identity, 0);
    if (a === undefined || a[0] === 0) return undefined;
    const userEnd = a[1] + a[0];
    if (userEnd > identity.length) return undefined;
    const b = readVarint(identity, userEnd);
    if (b === undefined || b[0] === 0) return undefined;
    const deviceEnd = userEnd + b[1] + b[0];
    if (deviceEnd !== identity.length) return undefined;
    return {
      userId: DECODER.decode(identity.subarray(a[1], userEnd)),
      deviceId: DECODER.decode(identity.subarray(userEnd + b[1], deviceEnd)),
    };
  } catch {
    return undefined;
  }
}

export function credentialOf(userId: string, deviceId: string): Credential {
  return { credentialType: 'basic', identity: encodeDmlsIdentity(userId, deviceId) };
}

/** The member a credential names, or undefined for any credential not in triturus's form. */
export function memberOfCredential(credential: Credential, signatureKey: Uint8Array): DmlsMember | undefined {
  if (credential.credentialType !== 'basic') return undefined;
  const id = decodeDmlsIdentity(credential.identity);
  return id === undefined ? undefined : { ...id, signatureKey };
}

/** The ts-mls authentication service over an application callback. Errors in the callback refuse. */
export function authenticationService(authenticate: DmlsAuthenticator): AuthenticationService {
  return {
    async validateCredential(credential, signaturePublicKey) {
      const member = memberOfCredential(credential, signaturePublicKey);
      if (member === undefined) return false;
      try {
        return (await authenticate({ ...member, signatureKey: signaturePublicKey.slice() })) === true;
      } catch {
        return false;
      }
    },
  };
}

const RECORD_VERSION = 1;

/** The device's MLS signature key (Ed25519). Redacts itself in logs. */
export class DmlsSigningKey {
  readonly #key: Ed25519SecretKey;
  readonly #seed: Uint8Array;

  private constructor(seed: Uint8Array, publicKey?: Uint8Array) {
    this.#seed = seed;
    this.#key = Ed25519SecretKey.fromSeed(seed, publicKey);
  }

  static generate(): DmlsSigningKey {
    const key = Ed25519SecretKey.generate();
    const seed = key.seedBytes()!;
    key.wipe();
    return new DmlsSigningKey(seed);
  }

  /** @internal the record form: version ‖ seed ‖ public key. */
  static fromRecord(record: Uint8Array): DmlsSigningKey {
    if (record.length !== 65 || record[0] !== RECORD_VERSION) {
      throw new DmlsError('DMLS_RECORD_CORRUPT', 'the DMLS signing key record is malformed');
    }
    // The stored public key is trusted (records are authenticated by the store's encryption):
    // deriving it again would cost a key import on every open.
    return new DmlsSigningKey(record.slice(1, 33), record.slice(33));
  }

  /** @internal */
  toRecord(): Uint8Array {
    const out = new Uint8Array(65);
    out[0] = RECORD_VERSION;
    out.set(this.#seed, 1);
    out.set(this.#key.publicKey, 33);
    return out;
  }

  get publicKey(): Uint8Array {
    return this.#key.publicKey.slice();
  }

  /** @internal the seed as ts-mls's signKey (its signature provider signs with it). */
  get mlsSignKey(): Uint8Array {
    return this.#seed;
  }

  /** The unpadded base64 credential value for `m.dmls.v1.credential.ed25519:<device_id>`. */
  credentialValue(): string {
    return encodeBase64(this.#key.publicKey);
  }

  wipe(): void {
    this.#seed.fill(0);
    this.#key.wipe();
  }

  toString(): string {
    return 'DmlsSigningKey([redacted])';
  }
  toJSON(): string {
    return '[redacted]';
  }
  static {
    redactInspect(DmlsSigningKey);
  }
}

/** Parses a published credential value (unpadded base64 of 32 bytes). */
export function parseCredentialValue(value: unknown): Uint8Array {
  if (typeof value !== 'string') throw new DmlsError('DMLS_INVALID', 'a DMLS credential must be a base64 string');
  let bytes: Uint8Array;
  try {
    bytes = decodeBase64(value);
  } catch {
    throw new DmlsError('DMLS_INVALID', 'a DMLS credential must be unpadded base64');
  }
  if (bytes.length !== 32) {
    throw new DmlsError('DMLS_INVALID', 'a DMLS credential must be a 32-byte Ed25519 key', { actual: bytes.length });
  }
  return bytes;
}
