/**
 * Room keys in and room events in: storing inbound Megolm sessions (which copy wins, kept apart
 * per sending device), and decrypting `m.room.encrypted` room events with the room and replay
 * checks (a second, different event at one (session, message index) is refused).
 */

import { parseJsonObject, utf8Decode } from '../encoding/json.js';
import { DeviceError } from '../errors.js';
import { InboundGroupSession, MegolmMessage, SessionKey } from '../megolm/index.js';
import type { InboundGroupSessionEntry } from '../store/types.js';
import { argString, isObject, MEGOLM_ALGORITHM, requireString } from './common.js';
import type { DeviceContext, InboundState } from './context.js';
import { knownDeviceById } from './devices.js';
import { INBOUND_GROUP_SCHEMA, type InboundMeta, openRecord, sealRecord } from './records.js';
import type { DecryptedRoomEvent, EncryptedRoomEvent } from './types.js';

function alternateId(sessionId: string, senderKey: string): string {
  return `${sessionId}\u001f${senderKey}`;
}

function inboundKey(roomId: string, sessionId: string): string {
  return `${roomId}\u0000${sessionId}`;
}

/** Drops one cached inbound session (the next use reloads it from the store). */
export function forgetInbound(ctx: DeviceContext, roomId: string, storeId: string): void {
  ctx.inbound.delete(inboundKey(roomId, storeId));
}

/** Caches an inbound session that is being (or has been) committed. */
export function cacheInbound(ctx: DeviceContext, state: InboundState): void {
  ctx.inbound.set(inboundKey(state.meta.roomId, state.storeId), state);
}

async function loadInbound(ctx: DeviceContext, roomId: string, storeId: string): Promise<InboundState | undefined> {
  const key = inboundKey(roomId, storeId);
  const cached = ctx.inbound.get(key);
  if (cached !== undefined) return cached ?? undefined;
  const entry = await ctx.store.loadInboundGroupSession(roomId, storeId);
  if (entry === undefined) return undefined;
  const { meta, pickle } = openRecord<InboundMeta>(entry.record, INBOUND_GROUP_SCHEMA, ctx.pickleKey);
  const state = { session: InboundGroupSession.fromPickle(pickle, ctx.pickleKey), meta, storeId };
  ctx.inbound.set(key, state);
  return state;
}

export function inboundEntry(ctx: DeviceContext, state: InboundState): InboundGroupSessionEntry {
  return {
    roomId: state.meta.roomId,
    sessionId: state.storeId,
    senderKey: state.meta.senderKey,
    record: sealRecord(INBOUND_GROUP_SCHEMA, state.meta, state.session.pickle(ctx.pickleKey), ctx.pickleKey),
  };
}

/**
 * Decides whether a received/imported inbound session is stored: when there is no copy from the
 * same sender, or when it comes from a source at least as trusted and knows an earlier index.
 * Copies from different senders are kept apart (see InboundState.storeId).
 */
export async function mergeInbound(
  ctx: DeviceContext,
  candidate: Omit<InboundState, 'storeId'>,
): Promise<InboundState | undefined> {
  const { roomId, senderKey } = candidate.meta;
  const sessionId = candidate.session.sessionId;
  const primary = await loadInbound(ctx, roomId, sessionId);
  const storeId =
    primary === undefined || primary.meta.senderKey === senderKey ? sessionId : alternateId(sessionId, senderKey);
  const existing = storeId === sessionId ? primary : await loadInbound(ctx, roomId, storeId);
  if (existing === undefined) return { ...candidate, storeId };
  const rank = (s: InboundMeta['source']) => (s === 'own' || s === 'room_key' ? 1 : 0);
  if (rank(candidate.meta.source) < rank(existing.meta.source)) return undefined;
  if (!existing.session.connected(candidate.session)) return undefined;
  if (
    candidate.session.firstKnownIndex >= existing.session.firstKnownIndex &&
    rank(candidate.meta.source) === rank(existing.meta.source)
  ) {
    return undefined;
  }
  return {
    session: existing.session.merge(candidate.session),
    meta: rank(candidate.meta.source) > rank(existing.meta.source) ? candidate.meta : existing.meta,
    storeId,
  };
}

/** The stored copy of a session that belongs to the event's sender (see InboundState.storeId). */
async function inboundForEvent(
  ctx: DeviceContext,
  roomId: string,
  sessionId: string,
  sender: string,
  content: Record<string, unknown>,
): Promise<InboundState | undefined> {
  const claimedKey = typeof content.sender_key === 'string' ? content.sender_key : undefined;
  const matches = (state: InboundState) =>
    (claimedKey === undefined || state.meta.senderKey === claimedKey) &&
    (state.meta.senderUserId === undefined || state.meta.senderUserId === sender);
  const primary = ctx.inbound.get(inboundKey(roomId, sessionId)) ?? (await loadInbound(ctx, roomId, sessionId));
  if (primary === undefined || matches(primary)) return primary;
  // The first copy came from another device: look for the copy from the event's sender.
  let senderKey = claimedKey;
  if (senderKey === undefined && typeof content.device_id === 'string') {
    senderKey = (await knownDeviceById(ctx, sender, content.device_id))?.curve25519Key.toBase64();
  }
  const alternate =
    senderKey === undefined ? undefined : await loadInbound(ctx, roomId, alternateId(sessionId, senderKey));
  if (alternate !== undefined && matches(alternate)) return alternate;
  throw new DeviceError(
    'EVENT_KEYS_MISMATCH',
    "the room key for this session came from another device than the event's sender",
  );
}

/** An `m.room_key` that arrived over Olm from `senderKey`: the entry to commit when it is stored. */
export async function receiveRoomKey(
  ctx: DeviceContext,
  content: Record<string, unknown>,
  senderKey: string,
  claimedEd25519: string,
  senderUserId: string,
): Promise<
  { roomId: string; sessionId: string; storeId: string; entry: InboundGroupSessionEntry | undefined } | undefined
> {
  if (content.algorithm !== MEGOLM_ALGORITHM) return undefined;
  const roomId = requireString(content.room_id, 'content.room_id');
  const sessionId = requireString(content.session_id, 'content.session_id');
  const sessionKey = SessionKey.fromBase64(requireString(content.session_key, 'content.session_key'));
  const session = InboundGroupSession.fromSessionKey(sessionKey);
  if (session.sessionId !== sessionId) {
    throw new DeviceError('EVENT_INVALID', 'the m.room_key session_id does not match its session key');
  }
  const chosen = await mergeInbound(ctx, {
    session,
    meta: {
      roomId,
      senderKey,
      senderClaimedEd25519: claimedEd25519,
      senderUserId,
      source: 'room_key',
      forwardingChain: [],
    },
  });
  return {
    roomId,
    sessionId,
    storeId: chosen?.storeId ?? sessionId,
    entry: chosen === undefined ? undefined : inboundEntry(ctx, chosen),
  };
}

/**
 * Decrypts an `m.room.encrypted` room event. Refuses a second, different event at one
 * (session, message index) as a replay, and an event whose decrypted room_id differs from
 * the room it arrived in.
 */
export async function decryptRoomEvent(
  ctx: DeviceContext,
  event: EncryptedRoomEvent,
  roomId?: string,
): Promise<DecryptedRoomEvent> {
  if (!isObject(event) || !isObject(event.content)) throw new DeviceError('EVENT_INVALID', 'not an event object');
  const room = roomId === undefined ? requireString(event.room_id, 'room_id') : argString(roomId, 'roomId');
  const eventId = requireString(event.event_id, 'event_id');
  const sender = requireString(event.sender, 'sender');
  const timestamp = typeof event.origin_server_ts === 'number' ? event.origin_server_ts : 0;
  const content = event.content;
  if (content.algorithm !== MEGOLM_ALGORITHM) {
    throw new DeviceError('EVENT_UNSUPPORTED_ALGORITHM', 'unsupported room encryption algorithm');
  }
  const sessionId = requireString(content.session_id, 'content.session_id');
  const message = MegolmMessage.fromBase64(requireString(content.ciphertext, 'content.ciphertext'));
  return ctx.run(async () => {
    const state = await inboundForEvent(ctx, room, sessionId, sender, content);
    if (state === undefined) {
      throw new DeviceError('ROOM_KEY_UNKNOWN', 'unable to decrypt: the room key for this session has not arrived');
    }
    const { plaintext, messageIndex } = state.session.decrypt(message);
    const payload = parseJsonObject(utf8Decode(plaintext));
    if (payload.room_id !== room) {
      throw new DeviceError('EVENT_ROOM_MISMATCH', 'the decrypted event belongs to another room');
    }
    // Every check before the replay record: a refused event must leave nothing behind.
    const type = requireString(payload.type, 'payload.type');
    const seen = await ctx.store.loadReplay(sessionId, messageIndex);
    if (seen !== undefined) {
      if (seen.eventId !== eventId || seen.originServerTs !== timestamp) {
        throw new DeviceError('EVENT_REPLAYED', 'another event already used this session and message index', {
          messageIndex,
        });
      }
    } else {
      await ctx.commit({ replays: [{ sessionId, messageIndex, eventId, originServerTs: timestamp }] });
    }
    return {
      event: {
        type,
        content: isObject(payload.content) ? payload.content : {},
        room_id: room,
      },
      senderKey: state.meta.senderKey,
      senderClaimedEd25519: state.meta.senderClaimedEd25519,
      sessionId,
      messageIndex,
      verified: (state.meta.source === 'room_key' || state.meta.source === 'own') && state.session.isVerified,
      forwardingCurve25519KeyChain: state.meta.forwardingChain,
    };
  });
}
