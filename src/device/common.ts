/**
 * Small rules every Device module shares: the algorithm names, and the checks that tell a
 * caller's bad argument (INVALID_ARGUMENT) from a remote event's bad field (EVENT_INVALID).
 */

import { DeviceError, invalidArgument } from '../errors.js';
import { Curve25519PublicKey, Ed25519PublicKey } from '../keys.js';
import type { DeviceInfo } from './types.js';

export const OLM_ALGORITHM = 'm.olm.v1.curve25519-aes-sha2';
export const MEGOLM_ALGORITHM = 'm.megolm.v1.aes-sha2';

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A remote event's field: EVENT_INVALID when it is not a non-empty string. */
export function requireString(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new DeviceError('EVENT_INVALID', `${what} is missing or not a string`, { field: what });
  }
  return value;
}

/** A caller's argument (not a remote event's field): INVALID_ARGUMENT when it is not a non-empty string. */
export function argString(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0) throw invalidArgument(`${what} must be a non-empty string`);
  return value;
}

export function checkDeviceInfo(device: unknown, what: string): DeviceInfo {
  if (
    !isObject(device) ||
    typeof device.userId !== 'string' ||
    typeof device.deviceId !== 'string' ||
    !(device.curve25519Key instanceof Curve25519PublicKey) ||
    !(device.ed25519Key instanceof Ed25519PublicKey)
  ) {
    throw invalidArgument(`${what} must be a DeviceInfo (from trackDevices or deviceInfoFromKeys)`);
  }
  return device as unknown as DeviceInfo;
}

export function checkNumber(value: unknown, what: string, min: number, minIncluded: boolean): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (!minIncluded && value === min)) {
    throw invalidArgument(`${what} must be a finite number ${minIncluded ? 'from' : 'above'} ${min}`);
  }
}

/** How an outbound session's shared-with list names a device: `userId|deviceId|curve25519`. */
export function deviceLabel(d: DeviceInfo): string {
  return `${d.userId}|${d.deviceId}|${d.curve25519Key.toBase64()}`;
}
