/**
 * Signed JSON for a triturus device, in the shapes `/keys/upload` takes (Matrix client-server API,
 * "Uploading keys"; signing rules in the spec appendices, "Signing JSON"):
 *
 * - `device_keys`: `{user_id, device_id, algorithms, keys: {"curve25519:<device>", "ed25519:<device>"}}`
 *   signed by the device's Ed25519 key under `signatures[<user>]["ed25519:<device>"]`;
 * - one-time keys as `"signed_curve25519:<key id>": {key, signatures}`;
 * - fallback keys as `"signed_curve25519:<key id>": {key, fallback: true, signatures}`.
 *
 * Signing removes `signatures` and `unsigned`, signs the canonical JSON of the rest, then puts both back
 * with the new signature added. This is deliberately small: it is meant to move into src/device later.
 */
import { canonicalJson } from '../../src/encoding/json.js';
import { type Account, type Curve25519PublicKey, type Ed25519PublicKey, Ed25519Signature } from '../../src/index.js';

/** The Olm and Megolm algorithms a triturus device advertises. */
export const DEVICE_ALGORITHMS: readonly string[] = ['m.olm.v1.curve25519-aes-sha2', 'm.megolm.v1.aes-sha2'];

export type Signatures = Record<string, Record<string, string>>;

export interface DeviceKeys {
  readonly user_id: string;
  readonly device_id: string;
  readonly algorithms: string[];
  readonly keys: Record<string, string>;
  readonly signatures: Signatures;
  readonly unsigned?: Record<string, unknown>;
}

export interface SignedCurve25519Key {
  readonly key: string;
  readonly fallback?: true;
  readonly signatures: Signatures;
}

/** Where a device's signatures go: its user id and the `ed25519:<device id>` key id. */
export interface Signer {
  readonly account: Account;
  readonly userId: string;
  readonly deviceId: string;
}

/** `value` with a signature by `signer` added to whatever signatures it already had. */
export function signJson<T extends object>(signer: Signer, value: T): T & { signatures: Signatures } {
  const { signatures, unsigned, ...content } = value as T & { signatures?: Signatures; unsigned?: unknown };
  const signature = signer.account.sign(canonicalJson(content)).toBase64();
  const merged: Signatures = { ...signatures };
  merged[signer.userId] = { ...merged[signer.userId], [`ed25519:${signer.deviceId}`]: signature };
  return { ...(value as T), signatures: merged, ...(unsigned === undefined ? {} : { unsigned }) };
}

/**
 * True when `value` carries a valid Ed25519 signature by `key` under `signatures[userId][keyId]`.
 * A missing entry, a malformed signature and a wrong one are all false.
 */
export function verifySignedJson(value: object, userId: string, keyId: string, key: Ed25519PublicKey): boolean {
  const { signatures, unsigned: _unsigned, ...content } = value as { signatures?: Signatures; unsigned?: unknown };
  const encoded = signatures?.[userId]?.[keyId];
  if (typeof encoded !== 'string') return false;
  let signature: Ed25519Signature;
  try {
    signature = Ed25519Signature.fromBase64(encoded);
  } catch {
    return false;
  }
  return key.isValidSignature(canonicalJson(content), signature);
}

/** The device's self-signed `device_keys` object. */
export function deviceKeysOf(signer: Signer): DeviceKeys {
  const { curve25519, ed25519 } = signer.account.identityKeys;
  return signJson(signer, {
    user_id: signer.userId,
    device_id: signer.deviceId,
    algorithms: [...DEVICE_ALGORITHMS],
    keys: {
      [`curve25519:${signer.deviceId}`]: curve25519.toBase64(),
      [`ed25519:${signer.deviceId}`]: ed25519.toBase64(),
    },
  });
}

/** Signs Curve25519 keys (by key id) as `signed_curve25519` one-time keys, or as fallback keys. */
export function signedCurve25519Keys(
  signer: Signer,
  keys: ReadonlyMap<string, Curve25519PublicKey>,
  options: { fallback?: boolean } = {},
): Record<string, SignedCurve25519Key> {
  const out: Record<string, SignedCurve25519Key> = {};
  for (const [keyId, key] of keys) {
    const body = options.fallback === true ? { key: key.toBase64(), fallback: true as const } : { key: key.toBase64() };
    out[`signed_curve25519:${keyId}`] = signJson(signer, body);
  }
  return out;
}

/** The account's unpublished one-time keys, signed. */
export function signedOneTimeKeys(signer: Signer): Record<string, SignedCurve25519Key> {
  return signedCurve25519Keys(signer, signer.account.oneTimeKeys);
}

/** The account's unpublished fallback key, signed with `fallback: true` (empty when there is none). */
export function signedFallbackKeys(signer: Signer): Record<string, SignedCurve25519Key> {
  return signedCurve25519Keys(signer, signer.account.fallbackKey, { fallback: true });
}
