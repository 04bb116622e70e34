/**
 * Room keys out: each room's outbound Megolm session, its rotation, the reservation of message
 * indices (so no index is used twice, even across a crash or another process), encrypting room
 * events (with a fast path for the common case), and sharing the session key as Olm-encrypted
 * `m.room_key` to-device messages with the devices that do not have it yet.
 */

import { platformWanted, viaPlatform, withPlatformCrypto } from '../crypto/platform.js';
import { stringifyJson } from '../encoding/json.js';
import { invalidArgument } from '../errors.js';
import { Curve25519PublicKey } from '../keys.js';
import { groupSessionBody, groupSessionFromBody } from '../megolm/group-session.js';
import { GroupSession, InboundGroupSession, type MegolmMessage, SessionKey } from '../megolm/index.js';
import type { Account } from '../olm/account.js';
import type { OutboundGroupSessionEntry } from '../store/types.js';
import { argString, checkDeviceInfo, deviceLabel, isObject, MEGOLM_ALGORITHM } from './common.js';
import { Batch, type DeviceContext, type InboundState, type OutboundState } from './context.js';
import * as dmls from './dmls-rooms.js';
import { isDmlsAlgorithm } from './dmls-rooms.js';
import { encryptOlm, sessionsWith } from './olm-sessions.js';
import { OUTBOUND_GROUP_SCHEMA, type OutboundMeta, openSessionRecord, sealSessionRecord } from './records.js';
import { cacheInbound, inboundEntry } from './room-events-in.js';
import { checkSettingsUpdate, isSharedHistory, loadRoomSettings, mergeRoomSettings } from './room-settings.js';
import type {
  DeviceInfo,
  RoomEncryptionResult,
  RoomKeyContent,
  RoomSettings,
  ShareRoomKeyResult,
  ToDeviceMessage,
} from './types.js';

/** How outbound group session records are read (see records.ts). */
export const OUTBOUND_BODY: {
  fromBody(body: Uint8Array): GroupSession;
  fromPickle(pickle: string, key: Uint8Array): GroupSession;
} = {
  fromBody: groupSessionFromBody,
  fromPickle: (pickle: string, key: Uint8Array): GroupSession => GroupSession.fromPickle(pickle, key),
};

async function loadOutbound(ctx: DeviceContext, roomId: string): Promise<OutboundState | undefined> {
  const cached = ctx.outbound.get(roomId);
  if (cached !== undefined) return cached ?? undefined;
  const entry = await ctx.loadOutboundEntry(roomId);
  if (entry === undefined) {
    ctx.outbound.set(roomId, null);
    return undefined;
  }
  const { meta, session } = openSessionRecord<OutboundMeta, GroupSession>(
    entry.record,
    OUTBOUND_GROUP_SCHEMA,
    ctx.pickleKey,
    OUTBOUND_BODY,
  );
  const settings = await loadRoomSettings(ctx, roomId);
  const state: OutboundState = { session, meta: { ...meta, skipped: meta.skipped ?? 0 }, settings };
  // Another process (or this one before a crash) may have used indices up to the reservation;
  // unless this Device knows where it stopped and nobody else has held the lease since.
  const resume = ctx.outboundResume.get(roomId);
  ctx.outboundResume.delete(roomId);
  const known =
    resume !== undefined && resume.sessionId === session.sessionId && resume.generation === ctx.token?.generation;
  const next = known ? Math.max(session.messageIndex, resume.next) : Math.max(session.messageIndex, meta.reservedUntil);
  if (session.messageIndex < next) {
    state.meta = { ...state.meta, skipped: state.meta.skipped + (next - session.messageIndex) };
    session.advanceTo(next);
  }
  ctx.outbound.set(roomId, state);
  return state;
}

function outboundEntry(ctx: DeviceContext, roomId: string, state: OutboundState): OutboundGroupSessionEntry {
  return {
    roomId,
    sessionId: state.session.sessionId,
    record: sealSessionRecord(OUTBOUND_GROUP_SCHEMA, state.meta, groupSessionBody(state.session), ctx.pickleKey),
  };
}

/**
 * The session key to hand out: from the first index while nobody has the session (messages sent
 * before the first share stay readable), from the current index once some device has it (a device
 * added later does not get earlier messages).
 */
function keyToShare(state: OutboundState): SessionKey {
  if (state.meta.sharedWith.length === 0 && state.meta.initialKey !== undefined) {
    state.initialKey ??= SessionKey.fromBase64(state.meta.initialKey);
    return state.initialKey;
  }
  return state.session.sessionKey();
}

/** Rotation counts messages sent, not indices: indices skipped by reloads do not count (no rotation on restart). */
function needsRotation(ctx: DeviceContext, state: OutboundState): boolean {
  const sent = state.session.messageIndex - state.meta.skipped;
  // The limits are the room's (room-settings.ts).
  return (
    sent >= state.settings.rotationPeriodMsgs || ctx.now() - state.meta.createdAt >= state.settings.rotationPeriodMs
  );
}

async function newOutbound(
  ctx: DeviceContext,
  roomId: string,
  account: Account,
  changes: Batch,
): Promise<OutboundState> {
  const settings = await loadRoomSettings(ctx, roomId);
  const { session, initialKey } = await viaPlatform(() => {
    const created = GroupSession.create();
    return { session: created, initialKey: created.sessionKey() };
  });
  const ownSession = await viaPlatform(() => InboundGroupSession.fromSessionKey(initialKey));
  const state: OutboundState = {
    session,
    meta: {
      createdAt: ctx.now(),
      reservedUntil: 0,
      skipped: 0,
      sharedWith: [],
      initialKey: initialKey.toBase64(),
    },
    initialKey,
    settings,
  };
  const own: InboundState = {
    session: ownSession,
    meta: {
      roomId,
      senderKey: account.curve25519Key.toBase64(),
      senderClaimedEd25519: account.ed25519Key.toBase64(),
      senderUserId: ctx.userId,
      source: 'own',
      forwardingChain: [],
      ...(isSharedHistory(settings) ? { sharedHistory: true } : {}),
    },
    storeId: session.sessionId,
  };
  cacheInbound(ctx, own);
  changes.inboundGroupSessions.push(inboundEntry(ctx, own));
  return state;
}

/**
 * Encrypts a room event with the room's outbound Megolm session, starting a new one when there
 * is none or the rotation policy says so (then `newRoomKey` is set: share it before sending).
 * The content is written by JSON.stringify, with its rules (undefined, functions and symbols are
 * left out, NaN and ±Infinity become null); content it cannot write at all (a cycle, a BigInt, a
 * throwing toJSON) is INVALID_ARGUMENT, before anything is touched.
 */
export function encryptRoomEvent(
  ctx: DeviceContext,
  roomId: string,
  eventType: string,
  content: Record<string, unknown>,
): Promise<RoomEncryptionResult> {
  // Not an async function: on every message's path, one async frame less (errors still reject).
  let plaintext: string;
  try {
    argString(roomId, 'roomId');
    argString(eventType, 'eventType');
    if (!isObject(content)) throw invalidArgument('content must be an object');
    // Serialised first: content JSON cannot hold fails before any state is touched.
    plaintext = stringifyJson({ type: eventType, content, room_id: roomId }, 'the event content');
  } catch (error) {
    return Promise.reject(error);
  }
  // Fast path, most messages: everything is cached and nothing is written (the index lies inside
  // the reserved block, under a lease with at least half its time left), so nothing awaits and
  // the queue is bypassed: no other operation is running, and this one cannot be interleaved.
  // Not when WebCrypto does the signing (a browser on the noble backend): that path awaits.
  if (!ctx.busy && !ctx.closed && ctx.leaseIsFresh() && !platformWanted()) {
    if (!ctx.releaseAfterEach) ctx.renewAhead();
    try {
      const account = ctx.account;
      const state = ctx.outbound.get(roomId);
      if (
        account !== undefined &&
        state != null &&
        state.session.messageIndex < state.meta.reservedUntil &&
        !needsRotation(ctx, state)
      ) {
        const result = encryptWith(ctx, account, roomId, state, plaintext);
        if (ctx.leaseStillHeld()) return Promise.resolve(result);
        // The lease may have lapsed while encrypting (the process stalled): the output is
        // withheld and the operation starts over as after a lost lease, on fresh state (the
        // used index is skipped, which is harmless).
        ctx.dropCaches();
        ctx.forgetLostLease();
      }
    } catch (error) {
      // As in the queue: nothing cached survives a failure (a throwing `now` option, say).
      ctx.dropCaches();
      return Promise.reject(error);
    }
  }
  return ctx.run(async () => {
    // The room's algorithm decides: a DMLS room encrypts in its group's winning epoch.
    const settings = ctx.roomSettings.get(roomId) ?? (await loadRoomSettings(ctx, roomId));
    if (isDmlsAlgorithm(settings.algorithm)) {
      return ctx.withBatch(async (batch) => {
        const { content, epoch } = await dmls.encrypt(ctx, batch, roomId, plaintext);
        return { content, sessionId: epoch.id, messageIndex: epoch.epoch };
      });
    }
    const account = ctx.account ?? (await ctx.loadAccount());
    // Most messages write nothing (the index lies inside the reserved block): no batch for them.
    let changes: Batch | undefined;
    let state = ctx.outbound.get(roomId) ?? (await loadOutbound(ctx, roomId));
    if (state === undefined || needsRotation(ctx, state)) {
      changes = new Batch();
      state = await newOutbound(ctx, roomId, account, changes);
    }
    const index = state.session.messageIndex;
    const current = state;
    const result = platformWanted()
      ? await encryptWithPlatform(ctx, account, roomId, current, plaintext)
      : encryptWith(ctx, account, roomId, current, plaintext);
    if (index >= state.meta.reservedUntil) {
      state.meta = { ...state.meta, reservedUntil: index + ctx.reservationBlock };
      (changes ??= new Batch()).outboundGroupSessions.push(outboundEntry(ctx, roomId, state));
    }
    if (changes !== undefined) await ctx.commit(changes);
    else ctx.checkLeaseStillHeld();
    ctx.outbound.set(roomId, state);
    return result;
  });
}

/** Encrypts one room event with `state`'s session and builds the result (the shared part of both paths). */
function encryptWith(
  ctx: DeviceContext,
  account: Account,
  roomId: string,
  state: OutboundState,
  plaintext: string,
): RoomEncryptionResult {
  const sessionKey = sessionKeyToShare(state);
  const index = state.session.messageIndex;
  return encryptionResult(ctx, account, roomId, state, sessionKey, index, state.session.encrypt(plaintext));
}

/**
 * `encryptWith` where WebCrypto signs (see crypto/platform.ts): the message is encrypted and MAC-ed
 * once, then signed asynchronously and completed, instead of the whole call running again with the
 * signature replayed.
 */
async function encryptWithPlatform(
  ctx: DeviceContext,
  account: Account,
  roomId: string,
  state: OutboundState,
  plaintext: string,
): Promise<RoomEncryptionResult> {
  const sessionKey = await viaPlatform(() => sessionKeyToShare(state));
  const index = state.session.messageIndex;
  const prepared = state.session.prepareEncrypt(plaintext);
  const message = prepared.complete(await withPlatformCrypto(prepared.sign));
  return encryptionResult(ctx, account, roomId, state, sessionKey, index, message);
}

/**
 * Until shareRoomKey has recorded a recipient, the caller must still share the key: say so on every
 * message (also after a retry whose first attempt created the session and then failed).
 */
function sessionKeyToShare(state: OutboundState): string | undefined {
  return state.meta.sharedWith.length === 0 ? (state.meta.initialKey ?? keyToShare(state).toBase64()) : undefined;
}

function encryptionResult(
  ctx: DeviceContext,
  account: Account,
  roomId: string,
  state: OutboundState,
  sessionKey: string | undefined,
  index: number,
  ciphertext: MegolmMessage,
): RoomEncryptionResult {
  const sessionId = state.session.sessionId;
  const content = {
    algorithm: MEGOLM_ALGORITHM,
    sender_key: account.curve25519Key.toBase64(),
    ciphertext: ciphertext.toBase64(),
    session_id: sessionId,
    device_id: ctx.deviceId,
  } as const;
  if (sessionKey === undefined) return { content, sessionId, messageIndex: index };
  const newRoomKey = roomKeyContent(roomId, state, sessionKey);
  return { content, sessionId, messageIndex: index, newRoomKey };
}

function roomKeyContent(roomId: string, state: OutboundState, sessionKey: string): RoomKeyContent {
  return {
    algorithm: MEGOLM_ALGORITHM,
    room_id: roomId,
    session_id: state.session.sessionId,
    session_key: sessionKey,
    ...(isSharedHistory(state.settings) ? { shared_history: true } : {}),
  };
}

/** Discards the room's outbound session (a member left or a device was removed): the next message starts a new one. */
export async function rotateRoomKey(ctx: DeviceContext, roomId: string): Promise<void> {
  argString(roomId, 'roomId');
  await ctx.run(async () => {
    await ctx.commit({ removeOutboundGroupSessions: [roomId] });
    ctx.outbound.set(roomId, null);
  });
}

/**
 * Shares the room's current outbound session, as Olm-encrypted `m.room_key` to-device messages,
 * with the devices that do not have it yet. Recipients stay pending until the caller confirms
 * with `markRoomKeySent` that the messages went out; a pending device gets a fresh message on
 * the next call (so a lost /sendToDevice or a failed commit never leaves a member without the
 * key). Devices without an Olm session are returned in `missingSessions` unless a claimed
 * one-time key is given for them in `oneTimeKeys` (keyed by Curve25519 key). Starts an outbound
 * session when the room has none or the current one is due for rotation.
 */
export async function shareRoomKey(
  ctx: DeviceContext,
  roomId: string,
  devices: readonly DeviceInfo[],
  oneTimeKeys: ReadonlyMap<string, Curve25519PublicKey>,
): Promise<ShareRoomKeyResult> {
  argString(roomId, 'roomId');
  if (!Array.isArray(devices)) throw invalidArgument('devices must be an array of DeviceInfo');
  for (const d of devices) checkDeviceInfo(d, 'each device');
  if (!(oneTimeKeys instanceof Map) || ![...oneTimeKeys.values()].every((k) => k instanceof Curve25519PublicKey)) {
    throw invalidArgument('oneTimeKeys must be a Map from Curve25519 key to Curve25519PublicKey');
  }
  return ctx.run(async () => {
    const account = await ctx.loadAccount();
    const changes = new Batch();
    let state = await loadOutbound(ctx, roomId);
    if (state === undefined || needsRotation(ctx, state)) state = await newOutbound(ctx, roomId, account, changes);
    const sent = new Set(state.meta.sharedWith.filter((s) => s.sent).map((s) => s.device));
    const sharing = state;
    const sessionKey = await viaPlatform(() => keyToShare(sharing));
    const firstIndex = sessionKey.messageIndex;
    const roomKey = roomKeyContent(roomId, state, sessionKey.toBase64());
    const messages: ToDeviceMessage[] = [];
    const missingSessions: DeviceInfo[] = [];
    const pending = new Map(state.meta.sharedWith.map((s) => [s.device, s]));
    for (const device of devices) {
      const label = deviceLabel(device);
      if (sent.has(label)) continue;
      const key = device.curve25519Key.toBase64();
      const has = (await sessionsWith(ctx, key)).length > 0;
      const otk = oneTimeKeys.get(key);
      if (!has && otk === undefined) {
        missingSessions.push(device);
        continue;
      }
      const content = await encryptOlm(ctx, device, 'm.room_key', JSON.stringify(roomKey), otk, changes);
      messages.push({ recipient: device, type: 'm.room.encrypted', content });
      pending.set(label, { device: label, index: firstIndex, sent: false });
    }
    state.meta = {
      ...state.meta,
      sharedWith: [...pending.values()],
      reservedUntil: Math.max(state.meta.reservedUntil, state.session.messageIndex),
    };
    changes.outboundGroupSessions.push(outboundEntry(ctx, roomId, state));
    await ctx.commit(changes);
    ctx.outbound.set(roomId, state);
    return { messages, missingSessions };
  });
}

/**
 * Records that the `m.room_key` messages from `shareRoomKey` reached the homeserver (call after
 * /sendToDevice succeeded), so later calls do not send them again.
 */
export async function markRoomKeySent(
  ctx: DeviceContext,
  roomId: string,
  recipients: readonly (DeviceInfo | ToDeviceMessage)[],
): Promise<void> {
  argString(roomId, 'roomId');
  if (!Array.isArray(recipients)) throw invalidArgument('recipients must be an array');
  for (const r of recipients) {
    checkDeviceInfo(isObject(r) && 'recipient' in r ? r.recipient : r, 'each recipient (or message recipient)');
  }
  await ctx.run(async () => {
    const state = await loadOutbound(ctx, roomId);
    if (state === undefined) return;
    const labels = new Set(recipients.map((r) => deviceLabel('recipient' in r ? r.recipient : r)));
    let changed = false;
    const sharedWith = state.meta.sharedWith.map((s) => {
      if (s.sent || !labels.has(s.device)) return s;
      changed = true;
      return { ...s, sent: true };
    });
    if (!changed) return;
    state.meta = {
      ...state.meta,
      sharedWith,
      reservedUntil: Math.max(state.meta.reservedUntil, state.session.messageIndex),
    };
    await ctx.commit({ outboundGroupSessions: [outboundEntry(ctx, roomId, state)] });
  });
}

/**
 * At a clean close: the batch recording each cached outbound session's exact index, so a reopen
 * continues there instead of skipping the rest of the reserved block (skipped indices are harmless
 * but waste).
 */
export function closingReservations(ctx: DeviceContext): Batch {
  const changes = new Batch();
  for (const [roomId, state] of ctx.outbound) {
    if (state !== null && state.session.messageIndex < state.meta.reservedUntil) {
      state.meta = { ...state.meta, reservedUntil: state.session.messageIndex };
      changes.outboundGroupSessions.push(outboundEntry(ctx, roomId, state));
    }
  }
  return changes;
}

/**
 * Changes a room's settings. The cached outbound session takes the new rotation limits at once
 * (so the next message rotates if it is now overdue); a change of history visibility discards the
 * outbound session in the same commit.
 */
export async function setRoomSettings(ctx: DeviceContext, roomId: string, update: unknown): Promise<RoomSettings> {
  argString(roomId, 'roomId');
  const checked = checkSettingsUpdate(update);
  return ctx.run(async () => {
    const { before, after, value } = await mergeRoomSettings(ctx, roomId, checked);
    const rotate = before.historyVisibility !== undefined && before.historyVisibility !== after.historyVisibility;
    await ctx.commit({ values: [value], ...(rotate ? { removeOutboundGroupSessions: [roomId] } : {}) });
    ctx.roomSettings.set(roomId, after);
    if (rotate) ctx.outbound.set(roomId, null);
    else {
      const state = ctx.outbound.get(roomId);
      if (state != null) state.settings = after;
    }
    return after;
  });
}

export interface MembershipChange {
  /** Users who left the room (or were kicked or banned). */
  readonly left?: readonly string[];
  /** Devices that went away (deleted, or gone from /keys/query). */
  readonly removedDevices?: readonly { readonly userId: string; readonly deviceId: string }[];
}

/**
 * Membership changed in a room: when the outbound session was shared with a device of a user who
 * left, or with a device that went away, it is discarded and the next message starts a new one.
 * A join changes nothing (the new member is simply shared the current session from its current
 * index). Returns true when the session was rotated.
 */
export async function roomMembershipChanged(ctx: DeviceContext, roomId: string, change: unknown): Promise<boolean> {
  argString(roomId, 'roomId');
  if (!isObject(change)) throw invalidArgument('change must be an object');
  const left = change.left ?? [];
  const removed = change.removedDevices ?? [];
  if (!Array.isArray(left) || !left.every((u) => typeof u === 'string')) {
    throw invalidArgument('change.left must be an array of user ids');
  }
  if (
    !Array.isArray(removed) ||
    !removed.every((d) => isObject(d) && typeof d.userId === 'string' && typeof d.deviceId === 'string')
  ) {
    throw invalidArgument('change.removedDevices must be an array of { userId, deviceId }');
  }
  const leftUsers = new Set<string>(left);
  const gone = new Set(removed.map((d) => `${d.userId}|${d.deviceId}`));
  return ctx.run(async () => {
    const state = await loadOutbound(ctx, roomId);
    if (state === undefined) return false;
    const affected = state.meta.sharedWith.some((s) => {
      // The label is `userId|deviceId|curve25519`: user ids hold no '|', and keys are base64.
      const userId = s.device.slice(0, s.device.indexOf('|'));
      const userAndDevice = s.device.slice(0, s.device.lastIndexOf('|'));
      return leftUsers.has(userId) || gone.has(userAndDevice);
    });
    if (!affected) return false;
    await ctx.commit({ removeOutboundGroupSessions: [roomId] });
    ctx.outbound.set(roomId, null);
    return true;
  });
}
