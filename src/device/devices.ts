/**
 * Other devices: reading /keys/query answers (self-signatures checked), keeping them in the
 * store (by Curve25519 key, by (user, device), and one complete list per user), the users whose
 * device lists changed, and checking claimed one-time keys.
 */

import { CREDENTIAL_KEY_PREFIX } from '../dmls/identity.js';
import { DeviceError, invalidArgument, TriturusError } from '../errors.js';
import { Curve25519PublicKey, Ed25519PublicKey } from '../keys.js';
import { argString, checkDeviceInfo, isObject, requireString } from './common.js';
import type { Batch, DeviceContext } from './context.js';
import { verifySignedJson } from './signing.js';
import type { DeviceInfo } from './types.js';

const KNOWN_DEVICE_PREFIX = 'device.known.';
const KNOWN_DEVICE_ID_PREFIX = 'device.known-id.';
/** One value per user: `{ <device id>: { curve25519, ed25519 } }`, the user's complete tracked list. */
const USER_DEVICES_PREFIX = 'device.user.';
/** Users whose device list changed (/sync `device_lists.changed`) and who were not queried since. */
const OUTDATED_VALUE = 'device.outdated';

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
    // A DMLS credential (MSC2883) rides in the same signed object; one that is not a key is not one.
    const credential = k[`${CREDENTIAL_KEY_PREFIX}${deviceId}`];
    let dmlsCredential: Ed25519PublicKey | undefined;
    if (typeof credential === 'string') {
      try {
        dmlsCredential = Ed25519PublicKey.fromBase64(credential);
      } catch (error) {
        if (!(error instanceof TriturusError)) throw error;
      }
    }
    return {
      userId,
      deviceId,
      curve25519Key: Curve25519PublicKey.fromBase64(curve),
      ed25519Key,
      ...(dmlsCredential === undefined ? {} : { dmlsCredential }),
    };
  } catch (error) {
    if (error instanceof TriturusError) return undefined;
    throw error;
  }
}

/** A /keys/query answer: `{ device_keys: { <user>: { <device>: <signed device keys> } } }`. */
export interface KeysQueryAnswer {
  readonly device_keys: { readonly [userId: string]: { readonly [deviceId: string]: Record<string, unknown> } };
}

interface StoredDevice {
  readonly curve25519: string;
  readonly ed25519: string;
  /** The DMLS credential it publishes, if any. */
  readonly dmls?: string;
}

function userListKey(userId: string): string {
  return USER_DEVICES_PREFIX + userId;
}

async function loadUserList(ctx: DeviceContext, userId: string): Promise<Record<string, StoredDevice>> {
  const value = await ctx.loadValue(userListKey(userId));
  return value === undefined ? {} : (JSON.parse(value) as Record<string, StoredDevice>);
}

/**
 * Records devices from a /keys/query answer after checking their self-signature: either the whole
 * answer (`{ device_keys: {...} }`), whose device list per user is complete (devices no longer
 * listed are forgotten), or an array of `device_keys` objects (added to what is known). Returns the
 * devices accepted. Skipped: entries with a bad signature or ids that differ from where they are
 * listed, and a known device id whose keys changed (a device's keys never change; a homeserver
 * that says otherwise is not believed).
 */
export async function trackDevices(
  ctx: DeviceContext,
  answer: readonly Record<string, unknown>[] | KeysQueryAnswer,
): Promise<DeviceInfo[]> {
  const candidates: DeviceInfo[] = [];
  const complete = new Set<string>();
  if (Array.isArray(answer)) {
    for (const keys of answer) {
      const info = deviceInfoFromKeys(keys);
      if (info !== undefined) candidates.push(info);
    }
  } else if (isObject(answer) && isObject(answer.device_keys)) {
    for (const [userId, devices] of Object.entries(answer.device_keys)) {
      if (!isObject(devices)) continue;
      complete.add(userId);
      for (const [deviceId, keys] of Object.entries(devices)) {
        const info = isObject(keys) ? deviceInfoFromKeys(keys) : undefined;
        if (info !== undefined && info.userId === userId && info.deviceId === deviceId) candidates.push(info);
      }
    }
  } else {
    throw invalidArgument('deviceKeys must be a /keys/query answer or an array of device_keys objects');
  }
  return ctx.run(async () => {
    const accepted: DeviceInfo[] = [];
    const values: { key: string; value: string | null }[] = [];
    const users = new Set([...complete, ...candidates.map((d) => d.userId)]);
    for (const userId of users) {
      const known = await loadUserList(ctx, userId);
      const next: Record<string, StoredDevice> = complete.has(userId) ? {} : { ...known };
      for (const d of candidates) {
        if (d.userId !== userId) continue;
        const stored: StoredDevice = {
          curve25519: d.curve25519Key.toBase64(),
          ed25519: d.ed25519Key.toBase64(),
          ...(d.dmlsCredential === undefined ? {} : { dmls: d.dmlsCredential.toBase64() }),
        };
        const before = known[d.deviceId];
        if (before !== undefined && (before.curve25519 !== stored.curve25519 || before.ed25519 !== stored.ed25519)) {
          next[d.deviceId] = before;
          continue;
        }
        next[d.deviceId] = stored;
        accepted.push(d);
        values.push(
          { key: `${KNOWN_DEVICE_ID_PREFIX}${d.userId}|${d.deviceId}`, value: stored.curve25519 },
          {
            key: KNOWN_DEVICE_PREFIX + stored.curve25519,
            value: JSON.stringify({
              userId: d.userId,
              deviceId: d.deviceId,
              curve25519: stored.curve25519,
              ed25519: stored.ed25519,
            }),
          },
        );
      }
      if (JSON.stringify(next) !== JSON.stringify(known)) {
        values.push({ key: userListKey(userId), value: Object.keys(next).length === 0 ? null : JSON.stringify(next) });
      }
    }
    const outdated = await loadOutdated(ctx);
    const stillOutdated = outdated.filter((u) => !users.has(u));
    if (stillOutdated.length !== outdated.length) values.push(outdatedValue(stillOutdated));
    if (values.length > 0) await ctx.commit({ values });
    return accepted;
  });
}

/** A tracked device by user and device id (undefined when unknown or forgotten). */
export async function getDevice(ctx: DeviceContext, userId: string, deviceId: string): Promise<DeviceInfo | undefined> {
  argString(userId, 'userId');
  argString(deviceId, 'deviceId');
  return ctx.run(async () => {
    const stored = (await loadUserList(ctx, userId))[deviceId];
    return stored === undefined ? undefined : toInfo(userId, deviceId, stored);
  });
}

/** Every tracked device of a user, by device id order. */
export async function getUserDevices(ctx: DeviceContext, userId: string): Promise<DeviceInfo[]> {
  argString(userId, 'userId');
  return ctx.run(async () => {
    const list = await loadUserList(ctx, userId);
    return Object.keys(list)
      .sort()
      .map((deviceId) => toInfo(userId, deviceId, list[deviceId]!));
  });
}

function toInfo(userId: string, deviceId: string, d: StoredDevice): DeviceInfo {
  return {
    userId,
    deviceId,
    curve25519Key: Curve25519PublicKey.fromBase64(d.curve25519),
    ed25519Key: Ed25519PublicKey.fromBase64(d.ed25519),
    ...(d.dmls === undefined ? {} : { dmlsCredential: Ed25519PublicKey.fromBase64(d.dmls) }),
  };
}

/** A tracked device from its user's list, inside a running operation (no queue). */
export async function getDeviceInList(
  ctx: DeviceContext,
  userId: string,
  deviceId: string,
): Promise<DeviceInfo | undefined> {
  const stored = (await loadUserList(ctx, userId))[deviceId];
  return stored === undefined ? undefined : toInfo(userId, deviceId, stored);
}

async function loadOutdated(ctx: DeviceContext): Promise<string[]> {
  const value = await ctx.loadValue(OUTDATED_VALUE);
  return value === undefined ? [] : (JSON.parse(value) as string[]);
}

function outdatedValue(users: readonly string[]): { key: string; value: string | null } {
  return { key: OUTDATED_VALUE, value: users.length === 0 ? null : JSON.stringify(users) };
}

/**
 * /sync's `device_lists`: users whose devices changed are to be queried again (until
 * `trackDevices` gets an answer for them); users we no longer share a room with are not.
 * Returns every user still to query.
 */
export async function stageDeviceListChanges(
  ctx: DeviceContext,
  batch: Batch,
  changed: readonly string[],
  left: readonly string[],
): Promise<string[]> {
  const outdated = await loadOutdated(ctx);
  const gone = new Set(left);
  const next = [...new Set([...outdated, ...changed])].filter((u) => !gone.has(u));
  if (JSON.stringify(next) !== JSON.stringify(outdated)) batch.values.push(outdatedValue(next));
  return next;
}

/** Users whose device lists changed since they were last tracked. */
export function usersToQuery(ctx: DeviceContext): Promise<string[]> {
  return ctx.run(() => loadOutdated(ctx));
}

export async function knownDeviceById(
  ctx: DeviceContext,
  userId: string,
  deviceId: string,
): Promise<DeviceInfo | undefined> {
  const curve25519 = await ctx.loadValue(`${KNOWN_DEVICE_ID_PREFIX}${userId}|${deviceId}`);
  return curve25519 === undefined ? undefined : knownDevice(ctx, curve25519);
}

export async function knownDevice(ctx: DeviceContext, curve25519: string): Promise<DeviceInfo | undefined> {
  const value = await ctx.loadValue(KNOWN_DEVICE_PREFIX + curve25519);
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
