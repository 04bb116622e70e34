/**
 * Room keys in and room events in: storing inbound Megolm sessions (which copy wins, kept apart
 * per sending device), and decrypting `m.room.encrypted` room events, one or a batch with one
 * commit, with the room and replay checks (a second, different event at one (session, message
 * index) is refused). A missing key is requested (key-requests.ts).
 */

import { viaPlatform } from '../crypto/platform.js';
import { parseJsonObject, utf8Decode } from '../encoding/json.js';
import { DeviceError, invalidArgument, TriturusError } from '../errors.js';
import { Curve25519PublicKey, Ed25519PublicKey } from '../keys.js';
import { inboundSessionBody, inboundSessionFromBody } from '../megolm/inbound-group-session.js';
import { InboundGroupSession, MegolmMessage, SessionKey } from '../megolm/index.js';
import type { InboundGroupSessionEntry } from '../store/types.js';
import { argString, isObject, MEGOLM_ALGORITHM, requireString } from './common.js';
import type { Batch, DeviceContext, InboundState } from './context.js';
import { knownDeviceById } from './devices.js';
import * as dmls from './dmls-rooms.js';
import { isDmlsAlgorithm } from './dmls-rooms.js';
import { requestRoomKey, stageKeyArrived } from './key-requests.js';
import { INBOUND_GROUP_SCHEMA, type InboundMeta, openSessionRecord, sealSessionRecord } from './records.js';
import type { DecryptedRoomEvent, EncryptedRoomEvent, EventResult, RoomKeyInfo } from './types.js';

/** How inbound group session records are read (see records.ts). */
export const INBOUND_BODY: {
  fromBody(body: Uint8Array): InboundGroupSession;
  fromPickle(pickle: string, key: Uint8Array): InboundGroupSession;
} = {
  fromBody: inboundSessionFromBody,
  fromPickle: (pickle: string, key: Uint8Array): InboundGroupSession => InboundGroupSession.fromPickle(pickle, key),
};

function alternateId(sessionId: string, senderKey: string): string {
  return `${sessionId}\u001f${senderKey}`;
}

function inboundKey(roomId: string, sessionId: string): string {
  return `${roomId}\u0000${sessionId}`;
}

/** Caches an inbound session that is being (or has been) committed. */
export function cacheInbound(ctx: DeviceContext, state: InboundState): void {
  ctx.inbound.set(inboundKey(state.meta.roomId, state.storeId), state);
}

async function loadInbound(ctx: DeviceContext, roomId: string, storeId: string): Promise<InboundState | undefined> {
  const key = inboundKey(roomId, storeId);
  const cached = ctx.inbound.get(key);
  if (cached !== undefined) return cached ?? undefined;
  const entry = await ctx.loadInboundEntry(roomId, storeId);
  if (entry === undefined) return undefined;
  const { meta, session } = openSessionRecord<InboundMeta, InboundGroupSession>(
    entry.record,
    INBOUND_GROUP_SCHEMA,
    ctx.pickleKey,
    INBOUND_BODY,
  );
  const state = { session, meta, storeId };
  ctx.inbound.set(key, state);
  return state;
}

export function inboundEntry(ctx: DeviceContext, state: InboundState): InboundGroupSessionEntry {
  return {
    roomId: state.meta.roomId,
    sessionId: state.storeId,
    senderKey: state.meta.senderKey,
    record: sealSessionRecord(INBOUND_GROUP_SCHEMA, state.meta, inboundSessionBody(state.session), ctx.pickleKey),
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

/** The stored copy of a session for a key request: from `senderKey`'s device when given. */
export async function findInbound(
  ctx: DeviceContext,
  roomId: string,
  sessionId: string,
  senderKey: string | undefined,
): Promise<InboundState | undefined> {
  const primary = await loadInbound(ctx, roomId, sessionId);
  if (primary === undefined || senderKey === undefined || primary.meta.senderKey === senderKey) return primary;
  return loadInbound(ctx, roomId, alternateId(sessionId, senderKey));
}

/** An `m.room_key` that arrived over Olm from `senderKey`: staged into `batch` when it is stored. */
export async function receiveRoomKey(
  ctx: DeviceContext,
  batch: Batch,
  content: Record<string, unknown>,
  senderKey: string,
  claimedEd25519: string,
  senderUserId: string,
): Promise<RoomKeyInfo | undefined> {
  if (content.algorithm !== MEGOLM_ALGORITHM) return undefined;
  const roomId = requireString(content.room_id, 'content.room_id');
  const sessionId = requireString(content.session_id, 'content.session_id');
  const sessionKey = SessionKey.fromBase64(requireString(content.session_key, 'content.session_key'));
  const session = await viaPlatform(() => InboundGroupSession.fromSessionKey(sessionKey));
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
      ...(content.shared_history === true ? { sharedHistory: true } : {}),
    },
  });
  if (chosen !== undefined) {
    batch.inboundGroupSessions.push(inboundEntry(ctx, chosen));
    cacheInbound(ctx, chosen);
  }
  await stageKeyArrived(ctx, batch, roomId, sessionId);
  return { roomId, sessionId, isNew: chosen !== undefined };
}

/** A DMLS room event (commit or message), checked further by the DMLS layer. */
interface ParsedDmlsEvent {
  readonly dmls: true;
  readonly room: string;
  readonly eventId: string;
  readonly sender: string;
  readonly content: Record<string, unknown>;
}

interface ParsedRoomEvent {
  readonly dmls?: false;
  readonly room: string;
  readonly eventId: string;
  readonly sender: string;
  readonly timestamp: number;
  readonly content: Record<string, unknown>;
  readonly sessionId: string;
  readonly message: MegolmMessage;
}

/** The outer checks of a room event (no state needed): EVENT_INVALID and friends. */
function parseRoomEvent(event: EncryptedRoomEvent, roomId: string | undefined): ParsedRoomEvent | ParsedDmlsEvent {
  if (!isObject(event) || !isObject(event.content)) throw new DeviceError('EVENT_INVALID', 'not an event object');
  const room = roomId === undefined ? requireString(event.room_id, 'room_id') : roomId;
  const eventId = requireString(event.event_id, 'event_id');
  const sender = requireString(event.sender, 'sender');
  // The replay record keeps the timestamp; one that is not a timestamp (absent, fractional, negative,
  // past 2^53) counts as 0, as the stores take only integers in [0, 2^53 - 1].
  const ts = event.origin_server_ts;
  const timestamp = Number.isSafeInteger(ts) && (ts as number) >= 0 ? (ts as number) : 0;
  const content = event.content;
  if (isDmlsAlgorithm(content.algorithm)) return { dmls: true, room, eventId, sender, content };
  if (content.algorithm !== MEGOLM_ALGORITHM) {
    throw new DeviceError('EVENT_UNSUPPORTED_ALGORITHM', 'unsupported room encryption algorithm');
  }
  const sessionId = requireString(content.session_id, 'content.session_id');
  const message = MegolmMessage.fromBase64(requireString(content.ciphertext, 'content.ciphertext'));
  return { room, eventId, sender, timestamp, content, sessionId, message };
}

/** Keys as key objects in results; an imported record's text that is not a key reads as absent. */
function keyOrUndefined<K>(parse: (text: string) => K, text: string | undefined): K | undefined {
  if (text === undefined) return undefined;
  try {
    return parse(text);
  } catch (error) {
    if (error instanceof TriturusError) return undefined;
    throw error;
  }
}

function resultKeys(meta: InboundMeta): NonNullable<InboundState['resultKeys']> {
  const chain: Curve25519PublicKey[] = [];
  for (const text of meta.forwardingChain) {
    const key = keyOrUndefined(Curve25519PublicKey.fromBase64, text);
    if (key !== undefined) chain.push(key);
  }
  return {
    senderKey: keyOrUndefined(Curve25519PublicKey.fromBase64, meta.senderKey),
    claimed: keyOrUndefined(Ed25519PublicKey.fromBase64, meta.senderClaimedEd25519),
    chain: Object.freeze(chain),
  };
}

/** Decrypts one parsed event, staging its replay record into `batch`. */
async function decryptParsed(
  ctx: DeviceContext,
  batch: Batch,
  parsed: ParsedRoomEvent | ParsedDmlsEvent,
): Promise<DecryptedRoomEvent> {
  // DMLS: MLS deletes each message key once used, so a message decrypts once (no replay record).
  if (parsed.dmls === true) {
    return dmls.decrypt(ctx, batch, {
      roomId: parsed.room,
      eventId: parsed.eventId,
      sender: parsed.sender,
      content: parsed.content,
    });
  }
  const { room, sessionId, eventId, timestamp } = parsed;
  const state = await inboundForEvent(ctx, room, sessionId, parsed.sender, parsed.content);
  if (state === undefined) {
    throw new DeviceError('ROOM_KEY_UNKNOWN', 'unable to decrypt: the room key for this session has not arrived');
  }
  const { plaintext, messageIndex } = await viaPlatform(() => state.session.decrypt(parsed.message));
  const payload = parseJsonObject(utf8Decode(plaintext));
  if (payload.room_id !== room) {
    throw new DeviceError('EVENT_ROOM_MISMATCH', 'the decrypted event belongs to another room');
  }
  // Every check before the replay record: a refused event must leave nothing behind.
  const type = requireString(payload.type, 'payload.type');
  state.resultKeys ??= resultKeys(state.meta);
  const { senderKey, claimed, chain } = state.resultKeys;
  if (senderKey === undefined) {
    throw new DeviceError('EVENT_KEYS_MISMATCH', "the room key's sender key is not a Curve25519 key");
  }
  const seen = await ctx.loadReplay(sessionId, messageIndex);
  if (seen !== undefined) {
    if (seen.eventId !== eventId || seen.originServerTs !== timestamp) {
      throw new DeviceError('EVENT_REPLAYED', 'another event already used this session and message index', {
        messageIndex,
      });
    }
  } else {
    batch.replays.push({ sessionId, messageIndex, eventId, originServerTs: timestamp });
  }
  return {
    event: {
      type,
      content: isObject(payload.content) ? payload.content : {},
      room_id: room,
    },
    senderKey,
    senderClaimedEd25519: claimed,
    sessionId,
    messageIndex,
    verified: (state.meta.source === 'room_key' || state.meta.source === 'own') && state.session.isVerified,
    forwardingCurve25519KeyChain: chain,
  };
}

/** After a failed event: a missing room key is asked for (the only trace a failure leaves). */
async function afterFailure(
  ctx: DeviceContext,
  batch: Batch,
  parsed: ParsedRoomEvent | ParsedDmlsEvent,
  error: TriturusError,
) {
  // No key for the session at all, or none that reaches back to this message's index.
  if (parsed.dmls === true) return;
  if (error.code !== 'ROOM_KEY_UNKNOWN' && error.code !== 'UNKNOWN_MESSAGE_INDEX') return;
  const senderKey = typeof parsed.content.sender_key === 'string' ? parsed.content.sender_key : undefined;
  await requestRoomKey(ctx, batch, parsed.room, parsed.sessionId, senderKey);
}

/**
 * Decrypts an `m.room.encrypted` room event. Refuses a second, different event at one
 * (session, message index) as a replay, and an event whose decrypted room_id differs from
 * the room it arrived in. A missing room key is requested from this user's other devices.
 */
export async function decryptRoomEvent(
  ctx: DeviceContext,
  event: EncryptedRoomEvent,
  roomId?: string,
): Promise<DecryptedRoomEvent> {
  const parsed = parseRoomEvent(event, roomId === undefined ? undefined : argString(roomId, 'roomId'));
  return ctx.single(
    (batch) => decryptParsed(ctx, batch, parsed),
    (batch, error) => afterFailure(ctx, batch, parsed, error),
  );
}

/**
 * Decrypts many room events (a timeline page, a bridge's backlog) with one store commit: one
 * result per event, in order, with the same checks and replay rules as `decryptRoomEvent` (two
 * different events at one index inside the batch are a replay too). A bad event fails alone.
 */
export async function decryptRoomEvents(
  ctx: DeviceContext,
  events: readonly EncryptedRoomEvent[],
  roomId?: string,
): Promise<EventResult<DecryptedRoomEvent>[]> {
  if (!Array.isArray(events)) throw invalidArgument('events must be an array of room events');
  const room = roomId === undefined ? undefined : argString(roomId, 'roomId');
  return ctx.run(() =>
    ctx.withBatch(async (batch) => {
      const parsedEvents: (ParsedRoomEvent | ParsedDmlsEvent | TriturusError)[] = events.map((event) => {
        try {
          return parseRoomEvent(event, room);
        } catch (error) {
          if (!(error instanceof TriturusError)) throw error;
          return error;
        }
      });
      // One read for every replay record the batch may need (the index is in the message header).
      await ctx.prefetchReplays(
        parsedEvents.flatMap((p) =>
          p instanceof TriturusError || p.dmls === true
            ? []
            : [{ sessionId: p.sessionId, messageIndex: p.message.messageIndex }],
        ),
      );
      const results: EventResult<DecryptedRoomEvent>[] = [];
      for (const parsed of parsedEvents) {
        if (parsed instanceof TriturusError) {
          results.push({ ok: false, error: parsed });
          continue;
        }
        results.push(
          await ctx.stage(
            batch,
            () => decryptParsed(ctx, batch, parsed),
            (e) => afterFailure(ctx, batch, parsed, e),
          ),
        );
      }
      return results;
    }),
  );
}
