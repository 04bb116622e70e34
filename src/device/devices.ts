/**
 * Other devices: reading /keys/query answers (self-signatures checked), keeping them in the
 * store, looking them up by Curve25519 key or by (user, device), and checking claimed one-time keys.
 */

import { DeviceError, invalidArgument, TriturusError } from '../errors.js';
import { Curve25519PublicKey, Ed25519PublicKey } from '../keys.js';
import { checkDeviceInfo, isObject, requireString } from './common.js';
import type { DeviceContext } from './context.js';
import { verifySignedJson } from './signing.js';
import type { DeviceInfo } from './types.js';

const KNOWN_DEVICE_PREFIX = 'device.known.';
const KNOWN_DEVICE_ID_PREFIX = 'device.known-id.';

/**
 * Reads one device from a /keys/query `device_keys` entry, checking its self-signature.
 * Returns undefined when the object is malformed or the signature does not verify.
 */
export function deviceInfoFromKeys(keys: Record<string, unknown>): DeviceInfo | undefined {
  if (!isObject(keys)) return undefined;
  try {
    const userId = keys.user_id;
    const deviceId = keys.device_id;
    const k = keys.keys;
    if (typeof userId !== 'string' || typeof deviceId !== 'string' || !isObject(k)) return undefined;
    const curve = k[`curve25519:${deviceId}`];
    const ed = k[`ed25519:${deviceId}`];
    if (typeof curve !== 'string' || typeof ed !== 'string') return undefined;
    const ed25519Key = Ed25519PublicKey.fromBase64(ed);
    verifySignedJson(keys, userId, deviceId, ed25519Key);
    return { userId, deviceId, curve25519Key: Curve25519PublicKey.fromBase64(curve), ed25519Key };
  } catch (error) {
    if (error instanceof TriturusError) return undefined;
    throw error;
  }
}

/**
 * Records devices from a /keys/query `device_keys` answer after checking their self-signature.
 * Returns the devices accepted; ones with a bad signature or wrong ids are skipped.
 */
export async function trackDevices(
  ctx: DeviceContext,
  deviceKeys: readonly Record<string, unknown>[],
): Promise<DeviceInfo[]> {
  if (!Array.isArray(deviceKeys)) throw invalidArgument('deviceKeys must be an array of device_keys objects');
  const accepted: DeviceInfo[] = [];
  for (const keys of deviceKeys) {
    const info = deviceInfoFromKeys(keys);
    if (info !== undefined) accepted.push(info);
  }
  await ctx.run(async () => {
    await ctx.commit({
      values: accepted.flatMap((d) => [
        { key: `${KNOWN_DEVICE_ID_PREFIX}${d.userId}|${d.deviceId}`, value: d.curve25519Key.toBase64() },
        {
          key: KNOWN_DEVICE_PREFIX + d.curve25519Key.toBase64(),
          value: JSON.stringify({
            userId: d.userId,
            deviceId: d.deviceId,
            curve25519: d.curve25519Key.toBase64(),
            ed25519: d.ed25519Key.toBase64(),
          }),
        },
      ]),
    });
  });
  return accepted;
}

export async function knownDeviceById(
  ctx: DeviceContext,
  userId: string,
  deviceId: string,
): Promise<DeviceInfo | undefined> {
  const curve25519 = await ctx.store.loadValue(`${KNOWN_DEVICE_ID_PREFIX}${userId}|${deviceId}`);
  return curve25519 === undefined ? undefined : knownDevice(ctx, curve25519);
}

export async function knownDevice(ctx: DeviceContext, curve25519: string): Promise<DeviceInfo | undefined> {
  const value = await ctx.store.loadValue(KNOWN_DEVICE_PREFIX + curve25519);
  if (value === undefined) return undefined;
  const d = JSON.parse(value) as { userId: string; deviceId: string; curve25519: string; ed25519: string };
  return {
    userId: d.userId,
    deviceId: d.deviceId,
    curve25519Key: Curve25519PublicKey.fromBase64(d.curve25519),
    ed25519Key: Ed25519PublicKey.fromBase64(d.ed25519),
  };
}

/**
 * Checks a claimed one-time key (the /keys/claim answer for one device: `{ "signed_curve25519:ID": {...} }`)
 * against the device's Ed25519 key, and returns the key.
 */
export function oneTimeKeyFromClaim(device: DeviceInfo, claimed: Record<string, unknown>): Curve25519PublicKey {
  checkDeviceInfo(device, 'device');
  if (!isObject(claimed)) throw invalidArgument('claimed must be the /keys/claim object for one device');
  for (const [keyId, value] of Object.entries(claimed)) {
    if (!keyId.startsWith('signed_curve25519:') || !isObject(value)) continue;
    verifySignedJson(value, device.userId, device.deviceId, device.ed25519Key);
    return Curve25519PublicKey.fromBase64(requireString(value.key, 'key'));
  }
  throw new DeviceError('EVENT_INVALID', 'the claim holds no signed_curve25519 key');
}
