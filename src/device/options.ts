/**
 * The Device's options: validates a DeviceOptions object and builds the DeviceContext from it,
 * filling in the defaults (lease timing, rotation limits, the outbound index reservation block).
 * Internal to the Device (see device.ts).
 */

import { isBytes } from '../encoding/binary.js';
import { invalidArgument } from '../errors.js';
import type { KeyStore } from '../store/types.js';
import { checkNumber, isObject } from './common.js';
import { DeviceContext } from './context.js';
import { checkDmlsOptions } from './dmls-rooms.js';
import type { DeviceOptions } from './types.js';

/**
 * Outbound Megolm indices reserved per commit by default (see OutboundMeta.reservedUntil). Each
 * reservation commits the pickled session (~30 µs on the memory store, a disk sync on SQLite).
 * 256 makes that one commit per session under the Matrix default rotation (100 messages) and
 * ~0.15 µs per message for long-lived sessions (bridges often raise the rotation period), while a
 * crash skips at most 256 indices, which receivers pass over in ~0.2 ms and which do not count
 * towards rotation.
 */
const DEFAULT_RESERVATION_BLOCK = 256;

export function contextFor(store: KeyStore, options: DeviceOptions): DeviceContext {
  if (!isObject(options)) throw invalidArgument('options must be an object');
  checkNumber(options.leaseDurationMs, 'leaseDurationMs', 0, false);
  checkNumber(options.leaseTimeoutMs, 'leaseTimeoutMs', 0, true);
  checkNumber(options.rotationPeriodMsgs, 'rotationPeriodMsgs', 0, false);
  checkNumber(options.rotationPeriodMs, 'rotationPeriodMs', 0, false);
  if (options.now !== undefined && typeof options.now !== 'function') throw invalidArgument('now must be a function');
  if (options.trustOwnDevice !== undefined && typeof options.trustOwnDevice !== 'function') {
    throw invalidArgument('trustOwnDevice must be a function');
  }
  if (options.deferReplayRecords !== undefined && typeof options.deferReplayRecords !== 'boolean') {
    throw invalidArgument('deferReplayRecords must be a boolean');
  }
  if (options.requestMissingRoomKeys !== undefined && typeof options.requestMissingRoomKeys !== 'boolean') {
    throw invalidArgument('requestMissingRoomKeys must be a boolean');
  }
  if (typeof options.userId !== 'string' || typeof options.deviceId !== 'string') {
    throw invalidArgument('userId and deviceId must be strings');
  }
  if (!isBytes(options.pickleKey) || options.pickleKey.length !== 32) {
    throw invalidArgument('pickleKey must be 32 bytes');
  }
  const block = options.outboundIndexReservation ?? DEFAULT_RESERVATION_BLOCK;
  if (!Number.isInteger(block) || block < 1 || block > 65_536) {
    throw invalidArgument('outboundIndexReservation must be an integer from 1 to 65536');
  }
  return new DeviceContext(store, {
    userId: options.userId,
    deviceId: options.deviceId,
    pickleKey: options.pickleKey.slice(),
    leaseDurationMs: options.leaseDurationMs ?? 500,
    leaseTimeoutMs: options.leaseTimeoutMs ?? 30_000,
    releaseAfterEach: options.releaseLeaseAfterEachOperation ?? false,
    deferReplays: options.deferReplayRecords ?? true,
    rotationPeriodMsgs: options.rotationPeriodMsgs ?? 100,
    rotationPeriodMs: options.rotationPeriodMs ?? 7 * 24 * 3600 * 1000,
    reservationBlock: block,
    trustOwnDevice: options.trustOwnDevice,
    requestMissingRoomKeys: options.requestMissingRoomKeys ?? true,
    dmls: checkDmlsOptions(options.dmls),
    now: options.now ?? Date.now,
  });
}
