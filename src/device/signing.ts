/**
 * Signing JSON objects (Matrix spec appendices, "Signing JSON"): remove `signatures` and
 * `unsigned`, sign the canonical JSON, add `signatures[entity]["ed25519:<key id>"]`, put
 * `unsigned` back. Verification needs that exact entry; other algorithms are ignored.
 */
import { canonicalJson } from '../encoding/json.js';
import { DecodeError, invalidArgument, SignatureError } from '../errors.js';
import { type Ed25519PublicKey, Ed25519Signature } from '../keys.js';

export type JsonObject = { [key: string]: unknown };

export interface JsonSigner {
  sign(message: string): Ed25519Signature;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The canonical JSON that is signed: the object without `signatures` and `unsigned`. */
export function signedPayload(object: JsonObject): string {
  if (!isObject(object)) throw invalidArgument('only JSON objects can be signed');
  const { signatures: _s, unsigned: _u, ...rest } = object;
  return canonicalJson(rest);
}

/** Returns a copy of `object` carrying a signature by `signer` under `entity` and `ed25519:<keyId>`. */
export function signJson(object: JsonObject, entity: string, keyId: string, signer: JsonSigner): JsonObject {
  const signature = signer.sign(signedPayload(object)).toBase64();
  const existing = isObject(object.signatures) ? object.signatures : {};
  const forEntity = isObject(existing[entity]) ? existing[entity] : {};
  return {
    ...object,
    signatures: { ...existing, [entity]: { ...forEntity, [`ed25519:${keyId}`]: signature } },
  };
}

/** Throws SignatureError unless `object` carries a valid signature by `publicKey` under `entity` and `ed25519:<keyId>`. */
export function verifySignedJson(object: JsonObject, entity: string, keyId: string, publicKey: Ed25519PublicKey): void {
  if (!isObject(object)) throw new DecodeError('JSON_INVALID', 'a signed JSON value must be an object');
  const signatures = object.signatures;
  const forEntity = isObject(signatures) ? signatures[entity] : undefined;
  const encoded = isObject(forEntity) ? forEntity[`ed25519:${keyId}`] : undefined;
  if (typeof encoded !== 'string') {
    throw new SignatureError('SIGNATURE_MISSING', `no ed25519:${keyId} signature by ${entity}`);
  }
  let signature: Ed25519Signature;
  try {
    signature = Ed25519Signature.fromBase64(encoded);
  } catch {
    throw new SignatureError('SIGNATURE_INVALID', `the ed25519:${keyId} signature by ${entity} is malformed`);
  }
  publicKey.verify(signedPayload(object), signature);
}

/** Like `verifySignedJson`, as a boolean. */
export function hasValidSignature(
  object: JsonObject,
  entity: string,
  keyId: string,
  publicKey: Ed25519PublicKey,
): boolean {
  try {
    verifySignedJson(object, entity, keyId, publicKey);
    return true;
  } catch (error) {
    if (error instanceof SignatureError || error instanceof DecodeError) return false;
    throw error;
  }
}
