/**
 * One /sync response in one call and one store commit: its to-device events (in order, each
 * with its own result: a bad event never fails the others or throws), the one-time and fallback
 * key counts, and the device-list changes. Events see the earlier events' uncommitted changes
 * through the staged batch (context.ts), so a batch decrypts exactly as the same events one by one.
 */

import { invalidArgument } from '../errors.js';
import { isObject } from './common.js';
import type { DeviceContext } from './context.js';
import { stageDeviceListChanges } from './devices.js';
import { stageKeyPackageCounts } from './dmls-rooms.js';
import { checkKeyCounts, stageKeyCounts } from './keys.js';
import { receiveToDeviceEvent } from './to-device.js';
import type { EncryptedToDeviceEvent, EventResult, ReceivedToDeviceEvent, SyncChanges, SyncResult } from './types.js';

function stringList(value: unknown, what: string): readonly string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw invalidArgument(`${what} must be an array of strings`);
  }
  return value;
}

export async function receiveSyncChanges(ctx: DeviceContext, changes: SyncChanges): Promise<SyncResult> {
  if (!isObject(changes)) throw invalidArgument('changes must be an object');
  const given = changes as SyncChanges;
  const events: readonly EncryptedToDeviceEvent[] = given.toDeviceEvents ?? [];
  if (!Array.isArray(events)) throw invalidArgument('toDeviceEvents must be an array');
  const counts: unknown = given.oneTimeKeyCounts;
  if (counts !== undefined && !isObject(counts)) throw invalidArgument('oneTimeKeyCounts must be an object');
  // A count map without our algorithm means none are left on the server.
  const oneTimeKeyCount = counts === undefined ? undefined : (counts.signed_curve25519 ?? 0);
  checkKeyCounts(oneTimeKeyCount, given.unusedFallbackKeyTypes);
  const lists: unknown = given.changedDevices ?? {};
  if (!isObject(lists)) throw invalidArgument('changedDevices must be an object');
  const changed = stringList(lists.changed, 'changedDevices.changed');
  const left = stringList(lists.left, 'changedDevices.left');

  return ctx.run(() =>
    ctx.withBatch(async (batch) => {
      const toDevice: EventResult<ReceivedToDeviceEvent>[] = [];
      for (const event of events) toDevice.push(await receiveToDeviceEvent(ctx, batch, event));
      // After the events: pre-key messages may have used one-time keys.
      const keysToUpload = await stageKeyCounts(
        ctx,
        batch,
        oneTimeKeyCount as number | undefined,
        given.unusedFallbackKeyTypes,
      );
      const packagesToUpload = await stageKeyPackageCounts(
        ctx,
        batch,
        counts as Record<string, unknown> | undefined,
        given.unusedFallbackKeyTypes,
      );
      const usersToQuery = await stageDeviceListChanges(ctx, batch, changed, left);
      return { toDevice, keysToUpload: keysToUpload || packagesToUpload, usersToQuery };
    }),
  );
}
