/**
 * To-device events in and out. Encrypting a to-device event for one device; decrypting
 * `m.room.encrypted` to-device events with the spec's checks on sender and recipient
 * (DEVICE-NOTES), one at a time or a whole /sync batch (sync.ts); and what a decrypted event
 * carries: `m.room_key` (room-events-in.ts), `m.forwarded_room_key` and `m.room_key_request`
 * (key-requests.ts). A pre-key message makes a new session only when no existing session matches,
 * and the new session commits together with the one-time key's removal. A normal message that no
 * session decrypts marks the session with its (known) sender broken (session-repair.ts).
 */

import { viaPlatform } from '../crypto/platform.js';
import { parseJsonObject, stringifyJson, utf8Decode } from '../encoding/json.js';
import { DeviceError, invalidArgument, TriturusError } from '../errors.js';
import { Curve25519PublicKey, Ed25519PublicKey } from '../keys.js';
import type { Account } from '../olm/account.js';
import { olmMessageFromParts, PreKeyMessage } from '../olm/messages.js';
import { argString, checkDeviceInfo, isObject, MEGOLM_ALGORITHM, OLM_ALGORITHM, requireString } from './common.js';
import { Batch, type DeviceContext, type OlmState } from './context.js';
import { deviceInfoFromKeys, knownDevice } from './devices.js';
import { isDmlsWelcome, join as joinDmls } from './dmls-rooms.js';
import { handleKeyRequest, receiveForwardedKey } from './key-requests.js';
import { encryptOlm, olmEntry, remember, sessionsWith } from './olm-sessions.js';
import { receiveRoomKey } from './room-events-in.js';
import { noteBrokenSession } from './session-repair.js';
import type {
  DecryptedToDeviceEvent,
  DeviceInfo,
  EncryptedToDeviceEvent,
  EventResult,
  OlmEncryptedContent,
  ReceivedToDeviceEvent,
  RoomKeyInfo,
} from './types.js';

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

interface ParsedOlmEvent {
  readonly sender: string;
  readonly senderKey: Curve25519PublicKey;
  /** The canonical spelling, never the event's text (see parseOlmEvent). */
  readonly senderKeyText: string;
  readonly ciphertexts: Record<string, unknown>;
}

/** The outer checks of an Olm to-device event (no state needed). */
function parseOlmEvent(event: EncryptedToDeviceEvent): ParsedOlmEvent {
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
  return { sender, senderKey, senderKeyText, ciphertexts };
}

/** Our ciphertext entry in the event: its Olm message type and body. */
function ourCiphertext(parsed: ParsedOlmEvent, account: Account): { type: number; body: string } {
  const ours = parsed.ciphertexts[account.curve25519Key.toBase64()];
  if (!isObject(ours)) {
    throw new DeviceError('EVENT_RECIPIENT_MISMATCH', 'the event holds no ciphertext for this device');
  }
  if (typeof ours.type !== 'number' || typeof ours.body !== 'string') {
    throw new DeviceError('EVENT_INVALID', 'the ciphertext entry needs a numeric type and a string body');
  }
  return { type: ours.type, body: ours.body };
}

/** Decrypts one parsed Olm event and stages everything it changes into `batch`. */
async function decryptParsed(
  ctx: DeviceContext,
  batch: Batch,
  parsed: ParsedOlmEvent,
): Promise<DecryptedToDeviceEvent> {
  const { sender, senderKey, senderKeyText } = parsed;
  const account = await ctx.loadAccount();
  const ours = ourCiphertext(parsed, account);
  const message = olmMessageFromParts(ours.type, ours.body);
  const sessions = await sessionsWith(ctx, senderKeyText);
  let plaintext: Uint8Array | undefined;
  let used: OlmState | undefined;
  let replay = false;
  let notKept = false;
  let lastError: unknown;
  for (const state of sessions) {
    if (message instanceof PreKeyMessage && !state.session.matchesInboundSessionFrom(senderKey, message)) continue;
    try {
      plaintext = await viaPlatform(() => state.session.decrypt(message));
      used = state;
      break;
    } catch (error) {
      if (!(error instanceof TriturusError)) throw error;
      if (error.code === 'MESSAGE_KEY_MISSING' && error.details.messageIndex !== undefined) replay = true;
      if (error.code === 'MESSAGE_KEY_NOT_KEPT') notKept = true;
      lastError = error;
      // A pre-key message that matches a session but does not decrypt must not start a new one.
      if (message instanceof PreKeyMessage) break;
    }
  }
  if (plaintext === undefined) {
    if (message instanceof PreKeyMessage && lastError === undefined) {
      const created = await viaPlatform(() => account.createInboundSession(senderKey, message));
      used = { session: created.session, lastUsedAt: ctx.now() };
      plaintext = created.plaintext;
      batch.account = ctx.accountRecord(account);
    } else if (replay) {
      throw new DeviceError('EVENT_REPLAYED', 'this to-device message was already decrypted');
    } else if (notKept) {
      throw new DeviceError(
        'EVENT_KEY_NOT_KEPT',
        'the key for this to-device message is no longer kept (too old, or skipped past): it was never decrypted',
      );
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
  batch.olmSessions.push(olmEntry(ctx, senderKeyText, used!));
  const type = requireString(payload.type, 'payload.type');
  const innerContent = isObject(payload.content) ? payload.content : {};
  let roomKey: RoomKeyInfo | undefined;
  if (type === 'm.room_key') {
    roomKey = await receiveRoomKey(ctx, batch, innerContent, senderKeyText, claimed, sender);
  } else if (type === 'm.forwarded_room_key') {
    roomKey = await receiveForwardedKey(ctx, batch, innerContent, senderKeyText, senderDevice);
  } else if (type === 'm.room_key_request') {
    await handleKeyRequest(ctx, batch, sender, innerContent);
  }
  return {
    type,
    content: innerContent,
    sender,
    senderKey,
    senderClaimedEd25519: Ed25519PublicKey.fromBase64(claimed),
    senderDevice,
    ...(roomKey === undefined ? {} : { roomKey }),
  };
}

/** Codes that mean no session of ours opens a normal message at all (not a replay, not a lost key). */
const BROKEN_SESSION_CODES = new Set(['MAC_MISMATCH', 'NO_OLM_SESSION', 'MESSAGE_KEY_MISSING']);

/** After a failed event: a normal message from a known device that no session opens marks the session broken. */
async function afterFailure(ctx: DeviceContext, batch: Batch, parsed: ParsedOlmEvent, error: TriturusError) {
  if (!BROKEN_SESSION_CODES.has(error.code)) return;
  if (error.code === 'MESSAGE_KEY_MISSING' && error.details.messageIndex !== undefined) return;
  const account = await ctx.loadAccount();
  const ours = ourCiphertext(parsed, account);
  if (ours.type !== 1) return;
  const device = await knownDevice(ctx, parsed.senderKeyText);
  if (device !== undefined && device.userId === parsed.sender) await noteBrokenSession(ctx, batch, device);
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
  const parsed = parseOlmEvent(event);
  return ctx.single(
    (batch) => decryptParsed(ctx, batch, parsed),
    (batch, error) => afterFailure(ctx, batch, parsed, error),
  );
}

/** To-device event types that only mean something when they arrive Olm-encrypted. */
const ENCRYPTED_ONLY = new Set(['m.room_key', 'm.forwarded_room_key', 'm.secret.send', 'm.dummy']);

/**
 * One /sync to-device event, staged into `batch` (the operation's staged batch): decrypted when
 * encrypted, passed through when plaintext (an `m.room_key_request` is acted on too).
 */
export async function receiveToDeviceEvent(
  ctx: DeviceContext,
  batch: Batch,
  event: EncryptedToDeviceEvent,
): Promise<EventResult<ReceivedToDeviceEvent>> {
  if (!isObject(event) || !isObject(event.content) || typeof event.type !== 'string') {
    return { ok: false, error: new DeviceError('EVENT_INVALID', 'not an event object') };
  }
  if (event.type === 'm.room.encrypted' && isDmlsWelcome(event.content.algorithm)) {
    const sender = event.sender;
    const welcome = await ctx.stage(batch, async () => {
      if (typeof sender !== 'string' || sender.length === 0) {
        throw new DeviceError('EVENT_INVALID', 'sender is missing or not a string');
      }
      return joinDmls(ctx, batch, { sender, content: event.content as Record<string, unknown> });
    });
    return welcome.ok ? { ok: true, value: { kind: 'dmls-welcome', encrypted: true, event: welcome.value } } : welcome;
  }
  if (event.type === 'm.room.encrypted') {
    let parsed: ParsedOlmEvent;
    try {
      parsed = parseOlmEvent(event);
    } catch (error) {
      if (!(error instanceof TriturusError)) throw error;
      return { ok: false, error };
    }
    const result = await ctx.stage(
      batch,
      () => decryptParsed(ctx, batch, parsed),
      (e) => afterFailure(ctx, batch, parsed, e),
    );
    return result.ok ? { ok: true, value: { kind: 'olm', encrypted: true, event: result.value } } : result;
  }
  const sender = event.sender;
  if (typeof sender !== 'string' || sender.length === 0) {
    return { ok: false, error: new DeviceError('EVENT_INVALID', 'sender is missing or not a string') };
  }
  if (ENCRYPTED_ONLY.has(event.type)) {
    return { ok: false, error: new DeviceError('EVENT_NOT_ENCRYPTED', `${event.type} must arrive Olm-encrypted`) };
  }
  const plain = { type: event.type, sender, content: event.content };
  if (event.type !== 'm.room_key_request')
    return { ok: true, value: { kind: 'plaintext', encrypted: false, event: plain } };
  const handled = await ctx.stage(batch, () => handleKeyRequest(ctx, batch, sender, event.content));
  return handled.ok ? { ok: true, value: { kind: 'plaintext', encrypted: false, event: plain } } : handled;
}

/** DEVICE-NOTES's checks on a decrypted Olm payload; returns the claimed Ed25519 key (canonical text). */
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
  const claimedText = isObject(keys) ? keys.ed25519 : undefined;
  if (typeof claimedText !== 'string') throw new DeviceError('EVENT_INVALID', 'the payload lacks keys.ed25519');
  let claimed: string;
  try {
    claimed = Ed25519PublicKey.fromBase64(claimedText).toBase64();
  } catch (error) {
    if (!(error instanceof TriturusError)) throw error;
    throw new DeviceError('EVENT_INVALID', "the payload's keys.ed25519 is not an Ed25519 key");
  }
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
