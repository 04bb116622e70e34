/**
 * Olm sessions the Device needs on its own, and session repair ("unwedging").
 *
 * `missingSessions()` lists the devices the Device wants a new Olm session with: broken sessions
 * to repair, and devices whose room key requests wait for a session. The SDK claims a one-time key
 * for each (/keys/claim, checked with `oneTimeKeyFromClaim`) and calls `createSessions()`, which
 * makes the sessions and puts what they carry (an `m.dummy`, the requested keys) in the outbox.
 *
 * Repair. When a normal (non-pre-key) message from a known device fails
 * to decrypt with every session we have, our session with that device is broken: we start a new
 * one and send an `m.dummy` over it, so the sender's next message uses the new session. At most
 * once per device per hour (Matrix spec, end-to-end encryption module), so a stream of bad
 * messages (or a hostile homeserver) cannot make us claim keys and send without end.
 *
 * The broken device is noted in the same commit as the failed event (the only state a failed
 * decryption leaves); `missingSessions()` lists it until a one-time key is claimed for it and
 * `createSessions()` makes the new session and puts the `m.dummy` in the outbox.
 */

import { invalidArgument } from '../errors.js';
import { Curve25519PublicKey, Ed25519PublicKey } from '../keys.js';
import type { Batch, DeviceContext } from './context.js';
import { knownDeviceById } from './devices.js';
import { answerWaiting, waitingRequesters } from './key-requests.js';
import { encryptOlm } from './olm-sessions.js';
import { stageOutgoing } from './outbox.js';
import type { DeviceInfo } from './types.js';

const REPAIR_VALUE = 'device.session-repair';
/** The spec's limit: one new session per device per hour. */
export const REPAIR_INTERVAL_MS = 3600_000;

interface RepairRecord {
  readonly userId: string;
  readonly deviceId: string;
  readonly ed25519: string;
  /** Waiting for a one-time key (`createSessions`). */
  readonly pending: boolean;
  /** When the last repair (new session and m.dummy) was made, or when the break was noted. */
  readonly at: number;
}

type RepairTable = Record<string, RepairRecord>;

async function load(ctx: DeviceContext): Promise<RepairTable> {
  const value = await ctx.loadValue(REPAIR_VALUE);
  return value === undefined ? {} : (JSON.parse(value) as RepairTable);
}

function stage(batch: Batch, table: RepairTable): void {
  batch.values.push({ key: REPAIR_VALUE, value: Object.keys(table).length === 0 ? null : JSON.stringify(table) });
}

/** Notes that our session with `device` is broken, unless it was repaired within the hour. */
export async function noteBrokenSession(ctx: DeviceContext, batch: Batch, device: DeviceInfo): Promise<void> {
  const table = await load(ctx);
  const key = device.curve25519Key.toBase64();
  const existing = table[key];
  if (existing !== undefined && (existing.pending || ctx.now() - existing.at < REPAIR_INTERVAL_MS)) return;
  table[key] = {
    userId: device.userId,
    deviceId: device.deviceId,
    ed25519: device.ed25519Key.toBase64(),
    pending: true,
    at: ctx.now(),
  };
  stage(batch, table);
}

/** The devices whose broken sessions wait for a one-time key, by Curve25519 key. */
export async function pendingRepairs(ctx: DeviceContext): Promise<Map<string, RepairRecord>> {
  const table = await load(ctx);
  return new Map(Object.entries(table).filter(([, r]) => r.pending));
}

/** Records that the device got its new session now (the hour's pause starts). */
export async function stageRepaired(ctx: DeviceContext, batch: Batch, curve25519: string): Promise<void> {
  const table = await load(ctx);
  const existing = table[curve25519];
  if (existing === undefined) return;
  table[curve25519] = { ...existing, pending: false, at: ctx.now() };
  // Old entries past the pause are of no use: keep the table small.
  for (const [key, r] of Object.entries(table)) {
    if (!r.pending && ctx.now() - r.at >= REPAIR_INTERVAL_MS) delete table[key];
  }
  stage(batch, table);
}

/** The devices the Device wants a new Olm session with (claim a one-time key for each). */
export async function missingSessions(ctx: DeviceContext): Promise<DeviceInfo[]> {
  return ctx.run(async () => {
    const result = new Map<string, DeviceInfo>();
    for (const [curve, r] of await pendingRepairs(ctx)) {
      result.set(curve, {
        userId: r.userId,
        deviceId: r.deviceId,
        curve25519Key: Curve25519PublicKey.fromBase64(curve),
        ed25519Key: Ed25519PublicKey.fromBase64(r.ed25519),
      });
    }
    for (const [curve, r] of await waitingRequesters(ctx)) {
      if (result.has(curve)) continue;
      const device = await knownDeviceById(ctx, r.userId, r.deviceId);
      if (device !== undefined) result.set(curve, device);
    }
    return [...result.values()];
  });
}

/**
 * Makes the sessions `missingSessions()` asked for, from claimed one-time keys (keyed by the
 * device's Curve25519 key; keys for devices not listed are ignored): a broken session is replaced
 * by a new one that carries an `m.dummy`, and waiting key requests are answered. Everything goes to
 * the outbox in one commit. Returns the devices that got a session.
 */
export async function createSessions(
  ctx: DeviceContext,
  oneTimeKeys: ReadonlyMap<string, Curve25519PublicKey>,
): Promise<DeviceInfo[]> {
  if (!(oneTimeKeys instanceof Map) || ![...oneTimeKeys.values()].every((k) => k instanceof Curve25519PublicKey)) {
    throw invalidArgument('oneTimeKeys must be a Map from Curve25519 key to Curve25519PublicKey');
  }
  const wanted = await missingSessions(ctx);
  return ctx.run(() =>
    ctx.withBatch(async (batch) => {
      const repairs = await pendingRepairs(ctx);
      const done: DeviceInfo[] = [];
      for (const device of wanted) {
        const curve = device.curve25519Key.toBase64();
        const oneTimeKey = oneTimeKeys.get(curve);
        if (oneTimeKey === undefined) continue;
        if (repairs.has(curve)) {
          const dummy = await encryptOlm(ctx, device, 'm.dummy', '{}', oneTimeKey, batch, true);
          await stageOutgoing(ctx, batch, 'm.room.encrypted', { [device.userId]: { [device.deviceId]: dummy } });
          await stageRepaired(ctx, batch, curve);
        } else {
          // The new session opens with an m.dummy (a session is made by its first message); the answers follow on it.
          const opening = await encryptOlm(ctx, device, 'm.dummy', '{}', oneTimeKey, batch);
          await stageOutgoing(ctx, batch, 'm.room.encrypted', { [device.userId]: { [device.deviceId]: opening } });
        }
        await answerWaiting(ctx, batch, device);
        done.push(device);
      }
      return done;
    }),
  );
}
