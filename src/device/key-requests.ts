/**
 * Room key requests and forwarding (`m.room_key_request`, `m.forwarded_room_key`).
 *
 * Out: a room event whose key is missing queues one request (deduplicated per session) to all of
 * this user's devices; once the key arrives (over Olm, forwarded, or imported) a
 * `request_cancellation` follows.
 *
 * In: requests are answered only for this user's own devices that the application trusts
 * (`trustOwnDevice`), with the session at its first known index: a device of the same user that
 * the user verified is the same person, as matrix-rust-sdk also decides. Without an Olm session
 * with the requester, the request waits (bounded) and the device is listed by `missingSessions()`.
 *
 * Forwarded keys are accepted only in answer to a request we sent, only from a trusted own
 * device, keep their forwarding chain (plus the device that forwarded them), are never verified,
 * and never replace a key that came over Olm (see mergeInbound's ranking).
 */

import { randomBytes } from '../crypto/index.js';
import { DeviceError, TriturusError } from '../errors.js';
import { Curve25519PublicKey, Ed25519PublicKey } from '../keys.js';
import { ExportedSessionKey, InboundGroupSession } from '../megolm/index.js';
import { isObject, MEGOLM_ALGORITHM, requireString } from './common.js';
import type { Batch, DeviceContext } from './context.js';
import { knownDeviceById } from './devices.js';
import { encryptOlm, sessionsWith } from './olm-sessions.js';
import { stageOutgoing } from './outbox.js';
import { cacheInbound, findInbound, inboundEntry, mergeInbound } from './room-events-in.js';
import type { DeviceInfo, RoomKeyInfo } from './types.js';

const OUTGOING_PREFIX = 'keyreq.out.';
const WAITING_VALUE = 'keyreq.waiting';
/** Requests from devices we have no Olm session with yet; past this many, the oldest are dropped. */
const MAX_WAITING = 100;

interface OutgoingRequest {
  readonly requestId: string;
}

interface WaitingRequest {
  readonly userId: string;
  readonly deviceId: string;
  readonly curve25519: string;
  readonly requestId: string;
  readonly roomId: string;
  readonly sessionId: string;
  readonly senderKey: string | undefined;
}

function outgoingKey(roomId: string, sessionId: string): string {
  return OUTGOING_PREFIX + JSON.stringify([roomId, sessionId]);
}

/**
 * Ids a request may carry: Matrix ids are at most 255 bytes, and store keys refuse NUL. Anything
 * else came from a hostile event and is not worth a request (nor a store error for the whole batch).
 */
function requestable(roomId: string, sessionId: string): boolean {
  const fits = (id: string) => id.length <= 255 && !id.includes('\u0000');
  return fits(roomId) && fits(sessionId);
}

function requestId(): string {
  let out = '';
  for (const b of randomBytes(12)) out += b.toString(16).padStart(2, '0');
  return out;
}

async function loadOutgoing(
  ctx: DeviceContext,
  roomId: string,
  sessionId: string,
): Promise<OutgoingRequest | undefined> {
  const value = await ctx.loadValue(outgoingKey(roomId, sessionId));
  return value === undefined ? undefined : (JSON.parse(value) as OutgoingRequest);
}

/** Queues one `m.room_key_request` for a session whose key is missing (nothing if one is out already). */
export async function requestRoomKey(
  ctx: DeviceContext,
  batch: Batch,
  roomId: string,
  sessionId: string,
  senderKey: string | undefined,
): Promise<void> {
  if (!ctx.requestMissingRoomKeys || !requestable(roomId, sessionId)) return;
  if ((await loadOutgoing(ctx, roomId, sessionId)) !== undefined) return;
  const id = requestId();
  batch.values.push({ key: outgoingKey(roomId, sessionId), value: JSON.stringify({ requestId: id }) });
  const body = {
    algorithm: MEGOLM_ALGORITHM,
    room_id: roomId,
    session_id: sessionId,
    ...(senderKey === undefined ? {} : { sender_key: senderKey }),
  };
  await stageOutgoing(ctx, batch, 'm.room_key_request', {
    [ctx.userId]: { '*': { action: 'request', body, request_id: id, requesting_device_id: ctx.deviceId } },
  });
}

/** A session's key arrived: cancel our request for it, if any. */
export async function stageKeyArrived(
  ctx: DeviceContext,
  batch: Batch,
  roomId: string,
  sessionId: string,
): Promise<void> {
  const request = await loadOutgoing(ctx, roomId, sessionId);
  if (request === undefined) return;
  batch.values.push({ key: outgoingKey(roomId, sessionId), value: null });
  await stageOutgoing(ctx, batch, 'm.room_key_request', {
    [ctx.userId]: {
      '*': { action: 'request_cancellation', request_id: request.requestId, requesting_device_id: ctx.deviceId },
    },
  });
}

async function isTrustedOwnDevice(ctx: DeviceContext, device: DeviceInfo | undefined): Promise<boolean> {
  if (device === undefined || device.userId !== ctx.userId || device.deviceId === ctx.deviceId) return false;
  if (ctx.trustOwnDevice === undefined) return false;
  return (await ctx.trustOwnDevice(device)) === true;
}

async function loadWaiting(ctx: DeviceContext): Promise<WaitingRequest[]> {
  const value = await ctx.loadValue(WAITING_VALUE);
  return value === undefined ? [] : (JSON.parse(value) as WaitingRequest[]);
}

function stageWaiting(batch: Batch, waiting: readonly WaitingRequest[]): void {
  batch.values.push({ key: WAITING_VALUE, value: waiting.length === 0 ? null : JSON.stringify(waiting) });
}

/**
 * An incoming `m.room_key_request` (plaintext, or inside Olm). Requests and cancellations from
 * anyone but this user's trusted other devices are ignored, as are malformed ones.
 */
export async function handleKeyRequest(
  ctx: DeviceContext,
  batch: Batch,
  sender: string,
  content: Record<string, unknown>,
): Promise<void> {
  const deviceId = content.requesting_device_id;
  const id = content.request_id;
  if (sender !== ctx.userId || typeof deviceId !== 'string' || typeof id !== 'string') return;
  if (deviceId === ctx.deviceId) return; // our own request, delivered back to us by `*`
  if (content.action === 'request_cancellation') {
    const waiting = await loadWaiting(ctx);
    const kept = waiting.filter((w) => !(w.deviceId === deviceId && w.requestId === id));
    if (kept.length !== waiting.length) stageWaiting(batch, kept);
    return;
  }
  const body = content.body;
  if (content.action !== 'request' || !isObject(body) || body.algorithm !== MEGOLM_ALGORITHM) return;
  if (typeof body.room_id !== 'string' || typeof body.session_id !== 'string') return;
  const device = await knownDeviceById(ctx, ctx.userId, deviceId);
  if (device === undefined || !(await isTrustedOwnDevice(ctx, device))) return;
  const request: WaitingRequest = {
    userId: ctx.userId,
    deviceId,
    curve25519: device.curve25519Key.toBase64(),
    requestId: id,
    roomId: body.room_id,
    sessionId: body.session_id,
    senderKey: typeof body.sender_key === 'string' ? body.sender_key : undefined,
  };
  if ((await sessionsWith(ctx, request.curve25519)).length > 0) {
    await answer(ctx, batch, device, request);
    return;
  }
  const waiting = await loadWaiting(ctx);
  waiting.push(request);
  while (waiting.length > MAX_WAITING) waiting.shift();
  stageWaiting(batch, waiting);
}

/** Sends the requested key, Olm-encrypted, through the outbox (nothing if we do not hold it). */
async function answer(ctx: DeviceContext, batch: Batch, device: DeviceInfo, request: WaitingRequest): Promise<void> {
  const state = await findInbound(ctx, request.roomId, request.sessionId, request.senderKey);
  if (state === undefined || state.meta.senderClaimedEd25519 === undefined) return;
  const content = {
    algorithm: MEGOLM_ALGORITHM,
    room_id: request.roomId,
    sender_key: state.meta.senderKey,
    session_id: request.sessionId,
    session_key: state.session.exportAtFirstKnownIndex().toBase64(),
    sender_claimed_ed25519_key: state.meta.senderClaimedEd25519,
    forwarding_curve25519_key_chain: [...state.meta.forwardingChain],
  };
  const encrypted = await encryptOlm(ctx, device, 'm.forwarded_room_key', JSON.stringify(content), undefined, batch);
  await stageOutgoing(ctx, batch, 'm.room.encrypted', { [device.userId]: { [device.deviceId]: encrypted } });
}

/** Devices whose key requests wait for an Olm session, by Curve25519 key. */
export async function waitingRequesters(
  ctx: DeviceContext,
): Promise<Map<string, { userId: string; deviceId: string }>> {
  return new Map((await loadWaiting(ctx)).map((w) => [w.curve25519, { userId: w.userId, deviceId: w.deviceId }]));
}

/** A session with `device` now exists: answer its waiting requests. */
export async function answerWaiting(ctx: DeviceContext, batch: Batch, device: DeviceInfo): Promise<void> {
  const waiting = await loadWaiting(ctx);
  const curve = device.curve25519Key.toBase64();
  const mine = waiting.filter((w) => w.curve25519 === curve);
  if (mine.length === 0) return;
  for (const request of mine) await answer(ctx, batch, device, request);
  stageWaiting(
    batch,
    waiting.filter((w) => w.curve25519 !== curve),
  );
}

/**
 * An `m.forwarded_room_key` that arrived over Olm from `olmSenderKey`. Stored only when we asked
 * for it and it came from a trusted device of our own; otherwise `refused` says why.
 */
export async function receiveForwardedKey(
  ctx: DeviceContext,
  batch: Batch,
  content: Record<string, unknown>,
  olmSenderKey: string,
  senderDevice: DeviceInfo | undefined,
): Promise<RoomKeyInfo | undefined> {
  if (content.algorithm !== MEGOLM_ALGORITHM) return undefined;
  const roomId = requireString(content.room_id, 'content.room_id');
  const sessionId = requireString(content.session_id, 'content.session_id');
  if (!(await isTrustedOwnDevice(ctx, senderDevice))) {
    return { roomId, sessionId, isNew: false, refused: 'UNTRUSTED_SENDER' };
  }
  if (!requestable(roomId, sessionId) || (await loadOutgoing(ctx, roomId, sessionId)) === undefined) {
    return { roomId, sessionId, isNew: false, refused: 'NOT_REQUESTED' };
  }
  let session: InboundGroupSession;
  let senderKey: string;
  let claimed: string;
  let chain: string[];
  try {
    session = InboundGroupSession.import(
      ExportedSessionKey.fromBase64(requireString(content.session_key, 'content.session_key')),
    );
    senderKey = Curve25519PublicKey.fromBase64(requireString(content.sender_key, 'content.sender_key')).toBase64();
    claimed = Ed25519PublicKey.fromBase64(
      requireString(content.sender_claimed_ed25519_key, 'content.sender_claimed_ed25519_key'),
    ).toBase64();
    const given = content.forwarding_curve25519_key_chain ?? [];
    if (!Array.isArray(given)) throw new DeviceError('EVENT_INVALID', 'the forwarding chain is not an array');
    chain = given.map((k) => Curve25519PublicKey.fromBase64(requireString(k, 'a forwarding chain key')).toBase64());
  } catch (error) {
    if (error instanceof TriturusError && !(error instanceof DeviceError)) {
      throw new DeviceError('EVENT_INVALID', 'the forwarded room key is malformed', {}, { cause: error });
    }
    throw error;
  }
  if (session.sessionId !== sessionId) {
    throw new DeviceError('EVENT_INVALID', 'the forwarded session_id does not match its session key');
  }
  const chosen = await mergeInbound(ctx, {
    session,
    meta: {
      roomId,
      senderKey,
      senderClaimedEd25519: claimed,
      source: 'forwarded',
      forwardingChain: [...chain, olmSenderKey],
    },
  });
  if (chosen !== undefined) {
    batch.inboundGroupSessions.push(inboundEntry(ctx, chosen));
    cacheInbound(ctx, chosen);
  }
  await stageKeyArrived(ctx, batch, roomId, sessionId);
  return { roomId, sessionId, isNew: chosen !== undefined };
}
