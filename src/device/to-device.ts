/**
 * To-device Olm: the device's Olm sessions (cached per peer Curve25519 key, newest first),
 * encrypting to-device events, and decrypting them with the spec's checks on sender and
 * recipient (DEVICE-NOTES). A pre-key message makes a new session only when no existing session
 * matches, and the new session commits together with the one-time key's removal. An `m.room_key`
 * inside is handed to the inbound room-key rules in the same commit.
 */

import { parseJsonObject, stringifyJson, utf8Decode } from '../encoding/json.js';
import { DeviceError, invalidArgument, TriturusError } from '../errors.js';
import { Curve25519PublicKey } from '../keys.js';
import type { Account } from '../olm/account.js';
import { SessionConfig } from '../olm/config.js';
import { olmMessageFromParts, PreKeyMessage } from '../olm/messages.js';
import { Session } from '../olm/session.js';
import type { OlmSessionEntry } from '../store/types.js';
import { argString, checkDeviceInfo, isObject, MEGOLM_ALGORITHM, OLM_ALGORITHM, requireString } from './common.js';
import { Batch, type DeviceContext, type OlmState } from './context.js';
import { deviceInfoFromKeys, knownDevice } from './devices.js';
import { OLM_SESSION_SCHEMA } from './records.js';
import { forgetInbound, receiveRoomKey } from './room-events-in.js';
import type { DecryptedToDeviceEvent, DeviceInfo, EncryptedToDeviceEvent, OlmEncryptedContent } from './types.js';

export async function sessionsWith(ctx: DeviceContext, senderKey: string): Promise<OlmState[]> {
  let sessions = ctx.olm.get(senderKey);
  if (sessions === undefined) {
    const entries = await ctx.store.loadOlmSessions(senderKey);
    sessions = entries.map((e) => ({
      session: Session.fromPickle(e.record.data, ctx.pickleKey),
      lastUsedAt: e.lastUsedAt,
    }));
    ctx.olm.set(senderKey, sessions);
  }
  return sessions;
}

function olmEntry(ctx: DeviceContext, senderKey: string, state: OlmState): OlmSessionEntry {
  return {
    senderKey,
    sessionId: state.session.sessionId,
    lastUsedAt: state.lastUsedAt,
    record: { schema: OLM_SESSION_SCHEMA, data: state.session.pickle(ctx.pickleKey) },
  };
}

function remember(ctx: DeviceContext, senderKey: string, state: OlmState): void {
  const sessions = ctx.olm.get(senderKey) ?? [];
  if (!sessions.includes(state)) sessions.push(state);
  sessions.sort((a, b) => b.lastUsedAt - a.lastUsedAt);
  ctx.olm.set(senderKey, sessions);
}

/** True when an Olm session with this device exists (otherwise claim a one-time key first). */
export async function hasOlmSession(ctx: DeviceContext, device: DeviceInfo): Promise<boolean> {
  checkDeviceInfo(device, 'device');
  return ctx.run(async () => (await sessionsWith(ctx, device.curve25519Key.toBase64())).length > 0);
}

/**
 * The Olm plaintext, written around the content's JSON: callers serialise the content before the
 * operation starts, so content JSON cannot hold fails before any state is touched.
 */
function olmPayload(
  ctx: DeviceContext,
  recipient: DeviceInfo,
  type: string,
  contentJson: string,
  account: Account,
): string {
  const binding = JSON.stringify({
    sender: ctx.userId,
    sender_device: ctx.deviceId,
    keys: { ed25519: account.ed25519Key.toBase64() },
    recipient: recipient.userId,
    recipient_keys: { ed25519: recipient.ed25519Key.toBase64() },
  });
  return `{"type":${JSON.stringify(type)},"content":${contentJson},${binding.slice(1)}`;
}

/** Encrypts with the newest session (or a new one on `oneTimeKey`), returning state to commit. */
export async function encryptOlm(
  ctx: DeviceContext,
  recipient: DeviceInfo,
  type: string,
  contentJson: string,
  oneTimeKey: Curve25519PublicKey | undefined,
  changes: Batch,
): Promise<OlmEncryptedContent> {
  const account = await ctx.loadAccount();
  const theirKey = recipient.curve25519Key.toBase64();
  const sessions = await sessionsWith(ctx, theirKey);
  let state = sessions[0];
  if (state === undefined) {
    if (oneTimeKey === undefined) {
      throw new DeviceError(
        'NO_OLM_SESSION',
        `no Olm session with ${recipient.userId} ${recipient.deviceId}: claim a one-time key`,
      );
    }
    state = {
      session: account.createOutboundSession(SessionConfig.version1(), recipient.curve25519Key, oneTimeKey),
      lastUsedAt: ctx.now(),
    };
  }
  const message = state.session.encrypt(olmPayload(ctx, recipient, type, contentJson, account));
  state.lastUsedAt = ctx.now();
  remember(ctx, theirKey, state);
  changes.olmSessions.push(olmEntry(ctx, theirKey, state));
  return {
    algorithm: OLM_ALGORITHM,
    sender_key: account.curve25519Key.toBase64(),
    ciphertext: { [theirKey]: { type: message.type, body: message.toBase64() } },
  };
}

/**
 * Encrypts a to-device event for one device. Without an Olm session, pass a claimed
 * one-time key (see `oneTimeKeyFromClaim`); otherwise this fails with NO_OLM_SESSION.
 */
export async function encryptToDevice(
  ctx: DeviceContext,
  recipient: DeviceInfo,
  eventType: string,
  content: Record<string, unknown>,
  options: { oneTimeKey?: Curve25519PublicKey },
): Promise<OlmEncryptedContent> {
  checkDeviceInfo(recipient, 'recipient');
  argString(eventType, 'eventType');
  if (!isObject(content)) throw invalidArgument('content must be an object');
  if (!isObject(options)) throw invalidArgument('options must be an object');
  if (options.oneTimeKey !== undefined && !(options.oneTimeKey instanceof Curve25519PublicKey)) {
    throw invalidArgument('options.oneTimeKey must be a Curve25519PublicKey');
  }
  const contentJson = stringifyJson(content, 'the to-device content');
  return ctx.run(async () => {
    const changes = new Batch();
    const encrypted = await encryptOlm(ctx, recipient, eventType, contentJson, options.oneTimeKey, changes);
    await ctx.commit(changes);
    return encrypted;
  });
}

/**
 * Decrypts an `m.room.encrypted` to-device event and checks the spec's binding of sender and
 * recipient. Existing sessions are tried first; a pre-key message creates a session only when
 * none matches, and the new session and the one-time key's removal commit together. An
 * `m.room_key` inside is stored (bound to the Olm sender key) in the same commit.
 */
export async function decryptToDevice(
  ctx: DeviceContext,
  event: EncryptedToDeviceEvent,
): Promise<DecryptedToDeviceEvent> {
  if (!isObject(event) || !isObject(event.content)) throw new DeviceError('EVENT_INVALID', 'not an event object');
  const sender = requireString(event.sender, 'sender');
  const content = event.content;
  if (content.algorithm === MEGOLM_ALGORITHM) {
    throw new DeviceError('EVENT_WRONG_CHANNEL', 'Megolm (room) ciphertext arrived as a to-device message; refused');
  }
  if (content.algorithm !== OLM_ALGORITHM) {
    throw new DeviceError('EVENT_UNSUPPORTED_ALGORITHM', 'unsupported to-device encryption algorithm');
  }
  const senderKey = Curve25519PublicKey.fromBase64(requireString(content.sender_key, 'content.sender_key'));
  // The canonical spelling, never the event's text: padding or unused trailing bits decode to the same
  // key, and every lookup (sessions, known devices, room keys) must see the key Olm authenticates.
  const senderKeyText = senderKey.toBase64();
  const ciphertexts = content.ciphertext;
  if (!isObject(ciphertexts)) throw new DeviceError('EVENT_INVALID', 'content.ciphertext is not an object');

  return ctx.run(async () => {
    const account = await ctx.loadAccount();
    const ours = ciphertexts[account.curve25519Key.toBase64()];
    if (!isObject(ours)) {
      throw new DeviceError('EVENT_RECIPIENT_MISMATCH', 'the event holds no ciphertext for this device');
    }
    if (typeof ours.type !== 'number' || typeof ours.body !== 'string') {
      throw new DeviceError('EVENT_INVALID', 'the ciphertext entry needs a numeric type and a string body');
    }
    const message = olmMessageFromParts(ours.type, ours.body);
    const sessions = await sessionsWith(ctx, senderKeyText);
    const changes = new Batch();
    let plaintext: Uint8Array | undefined;
    let used: OlmState | undefined;
    let replay = false;
    let lastError: unknown;
    for (const state of sessions) {
      if (message instanceof PreKeyMessage && !state.session.matchesInboundSessionFrom(senderKey, message)) continue;
      try {
        plaintext = state.session.decrypt(message);
        used = state;
        break;
      } catch (error) {
        if (!(error instanceof TriturusError)) throw error;
        if (error.code === 'MESSAGE_KEY_MISSING' && error.details.messageIndex !== undefined) replay = true;
        lastError = error;
        // A pre-key message that matches a session but does not decrypt must not start a new one.
        if (message instanceof PreKeyMessage) break;
      }
    }
    if (plaintext === undefined) {
      if (message instanceof PreKeyMessage && lastError === undefined) {
        const created = account.createInboundSession(senderKey, message);
        used = { session: created.session, lastUsedAt: ctx.now() };
        plaintext = created.plaintext;
        changes.account = ctx.accountRecord(account);
      } else if (replay) {
        throw new DeviceError('EVENT_REPLAYED', 'this to-device message was already decrypted');
      } else if (lastError !== undefined) {
        throw lastError;
      } else {
        throw new DeviceError('NO_OLM_SESSION', 'no Olm session with the sender decrypts this message');
      }
    }
    const payload = parseJsonObject(utf8Decode(plaintext));
    const senderDevice = await knownDevice(ctx, senderKeyText);
    const claimed = checkOlmPayload(ctx, payload, sender, account, senderKey, senderDevice);
    used!.lastUsedAt = ctx.now();
    remember(ctx, senderKeyText, used!);
    changes.olmSessions.push(olmEntry(ctx, senderKeyText, used!));
    const type = requireString(payload.type, 'payload.type');
    const innerContent = isObject(payload.content) ? payload.content : {};
    let roomKey: DecryptedToDeviceEvent['roomKey'];
    let storedId: string | undefined;
    if (type === 'm.room_key') {
      const stored = await receiveRoomKey(ctx, innerContent, senderKeyText, claimed, sender);
      if (stored !== undefined) {
        roomKey = { roomId: stored.roomId, sessionId: stored.sessionId, isNew: stored.entry !== undefined };
        if (stored.entry !== undefined) {
          changes.inboundGroupSessions.push(stored.entry);
          storedId = stored.storeId;
        }
      }
    }
    await ctx.commit(changes);
    if (roomKey?.isNew && storedId !== undefined) forgetInbound(ctx, roomKey.roomId, storedId);
    return {
      type,
      content: innerContent,
      sender,
      senderKey,
      senderClaimedEd25519: claimed,
      senderDevice,
      ...(roomKey === undefined ? {} : { roomKey }),
    };
  });
}

/** DEVICE-NOTES's checks on a decrypted Olm payload; returns the claimed Ed25519 key. */
function checkOlmPayload(
  ctx: DeviceContext,
  payload: Record<string, unknown>,
  sender: string,
  account: Account,
  senderKey: Curve25519PublicKey,
  senderDevice: DeviceInfo | undefined,
): string {
  if (payload.sender !== sender)
    throw new DeviceError('EVENT_SENDER_MISMATCH', 'the payload sender is not the event sender');
  const keys = payload.keys;
  const claimed = isObject(keys) ? keys.ed25519 : undefined;
  if (typeof claimed !== 'string') throw new DeviceError('EVENT_INVALID', 'the payload lacks keys.ed25519');
  if (senderDevice !== undefined) {
    if (senderDevice.userId !== sender || claimed !== senderDevice.ed25519Key.toBase64()) {
      throw new DeviceError('EVENT_KEYS_MISMATCH', "the payload's keys.ed25519 is not the sending device's key");
    }
  }
  if (payload.recipient !== ctx.userId) {
    throw new DeviceError('EVENT_RECIPIENT_MISMATCH', 'the payload is addressed to another user');
  }
  const recipientKeys = payload.recipient_keys;
  if (!isObject(recipientKeys) || recipientKeys.ed25519 !== account.ed25519Key.toBase64()) {
    throw new DeviceError('EVENT_RECIPIENT_MISMATCH', "the payload's recipient_keys are not this device's keys");
  }
  const deviceKeys = payload.sender_device_keys;
  if (deviceKeys !== undefined) {
    const info = isObject(deviceKeys) ? deviceInfoFromKeys(deviceKeys) : undefined;
    if (
      info === undefined ||
      info.userId !== sender ||
      !info.curve25519Key.equals(senderKey) ||
      info.ed25519Key.toBase64() !== claimed
    ) {
      throw new DeviceError('EVENT_KEYS_MISMATCH', 'sender_device_keys do not match the sending device');
    }
  }
  return claimed;
}
