/**
 * Per-room settings: the algorithm and rotation periods of `m.room.encryption`, and
 * `m.room.history_visibility`. Stored as one public value per room, changeable at any time
 * without reopening the Device. A change that makes the current outbound session overdue
 * rotates it on the next message; a change of history visibility (from one known value to
 * another) rotates (keys shared under the old visibility must not cover messages sent under the new one).
 */

import { invalidArgument } from '../errors.js';
import { argString, isObject, MEGOLM_ALGORITHM } from './common.js';
import type { DeviceContext } from './context.js';
import type { RoomSettings } from './types.js';

const SETTINGS_PREFIX = 'room.settings.';
const VISIBILITIES = ['invited', 'joined', 'shared', 'world_readable'] as const;

export function defaultSettings(ctx: DeviceContext): RoomSettings {
  return {
    algorithm: MEGOLM_ALGORITHM,
    rotationPeriodMsgs: ctx.rotationPeriodMsgs,
    rotationPeriodMs: ctx.rotationPeriodMs,
    historyVisibility: undefined,
  };
}

/** The room's settings (the Device's defaults for what was never set). */
export async function loadRoomSettings(ctx: DeviceContext, roomId: string): Promise<RoomSettings> {
  const cached = ctx.roomSettings.get(roomId);
  if (cached !== undefined) return cached;
  const stored = await ctx.loadValue(SETTINGS_PREFIX + roomId);
  const settings =
    stored === undefined ? defaultSettings(ctx) : { ...defaultSettings(ctx), ...(JSON.parse(stored) as object) };
  ctx.roomSettings.set(roomId, settings);
  return settings;
}

function checkPeriod(value: unknown, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw invalidArgument(`${what} must be a positive integer`);
  }
  return value;
}

/** Validates a partial settings update from the caller. */
export function checkSettingsUpdate(update: unknown): Partial<RoomSettings> {
  if (!isObject(update)) throw invalidArgument('settings must be an object');
  const result: { -readonly [K in keyof RoomSettings]?: RoomSettings[K] } = {};
  if (update.algorithm !== undefined) result.algorithm = argString(update.algorithm, 'settings.algorithm');
  const msgs = checkPeriod(update.rotationPeriodMsgs, 'settings.rotationPeriodMsgs');
  if (msgs !== undefined) result.rotationPeriodMsgs = msgs;
  const ms = checkPeriod(update.rotationPeriodMs, 'settings.rotationPeriodMs');
  if (ms !== undefined) result.rotationPeriodMs = ms;
  if (update.historyVisibility !== undefined) {
    if (!(VISIBILITIES as readonly unknown[]).includes(update.historyVisibility)) {
      throw invalidArgument(`settings.historyVisibility must be one of ${VISIBILITIES.join(', ')}`);
    }
    result.historyVisibility = update.historyVisibility as RoomSettings['historyVisibility'];
  }
  return result;
}

/**
 * The settings update an `m.room.encryption` state event's content makes (`algorithm`,
 * `rotation_period_ms`, `rotation_period_msgs`). Fields that are absent or malformed keep the
 * Device's defaults, as clients treat them.
 */
export function settingsFromEncryptionEvent(content: Record<string, unknown>): Partial<RoomSettings> {
  if (!isObject(content)) throw invalidArgument('content must be the m.room.encryption content object');
  const result: { -readonly [K in keyof RoomSettings]?: RoomSettings[K] } = {};
  if (typeof content.algorithm === 'string' && content.algorithm.length > 0) result.algorithm = content.algorithm;
  const ms = content.rotation_period_ms;
  if (typeof ms === 'number' && Number.isSafeInteger(ms) && ms >= 1) result.rotationPeriodMs = ms;
  const msgs = content.rotation_period_msgs;
  if (typeof msgs === 'number' && Number.isSafeInteger(msgs) && msgs >= 1) result.rotationPeriodMsgs = msgs;
  return result;
}

/**
 * The merged settings and the value to commit for them (room-keys-out commits it with any
 * rotation, then caches `after`).
 */
export async function mergeRoomSettings(
  ctx: DeviceContext,
  roomId: string,
  update: Partial<RoomSettings>,
): Promise<{ before: RoomSettings; after: RoomSettings; value: { key: string; value: string } }> {
  const before = await loadRoomSettings(ctx, roomId);
  const after = { ...before, ...update };
  // Only what was set is stored: the Device's defaults stay defaults.
  const stored = await ctx.loadValue(SETTINGS_PREFIX + roomId);
  const explicit = { ...(stored === undefined ? {} : (JSON.parse(stored) as object)), ...update };
  return { before, after, value: { key: SETTINGS_PREFIX + roomId, value: JSON.stringify(explicit) } };
}

/** MSC3061: keys shared under these visibilities may be given to members who join later. */
export function isSharedHistory(settings: RoomSettings): boolean {
  return settings.historyVisibility === 'shared' || settings.historyVisibility === 'world_readable';
}
