/**
 * The store-backed face of triturus for SDK and bridge authors. Every operation loads what it
 * needs from the KeyStore (through caches kept while this process holds the device's lease),
 * runs the Olm/Megolm steps, and commits every resulting change in one atomic, lease-fenced
 * batch before it returns anything. A failed operation commits nothing and drops the caches,
 * so memory never runs ahead of the store.
 *
 * Concurrency: operations on one Device run one at a time. Across processes (or tabs) the
 * device's lease decides who may write; a commit fenced with a stale lease fails, the caches
 * are reloaded, and the operation is retried once on fresh state. Ciphertext is released only
 * after its state is committed, so no message key is ever used for two different messages.
 *
 * This class is a thin facade: the rules live in one module per concern over a shared
 * `DeviceContext` (context.ts): keys.ts (own keys and uploads), devices.ts (other devices),
 * olm-sessions.ts and to-device.ts (Olm), sync.ts (a whole /sync), room-settings.ts and
 * room-keys-out.ts (outbound sessions, sharing, rotation), room-events-in.ts (inbound sessions,
 * decryption, replay), key-requests.ts (requests and forwarded keys), session-repair.ts (broken
 * sessions), outbox.ts (what the Device sends on its own), key-transfer.ts (import and export).
 */

import type { DmlsSuiteName } from '../dmls/names.js';
import type { CommitContent, WelcomeContent } from '../dmls/wire.js';
import { invalidArgument, StoreError } from '../errors.js';
import { redactInspect } from '../inspect.js';
import type { Curve25519PublicKey, Ed25519PublicKey } from '../keys.js';
import type { DecryptKeyExportOptions, EncryptKeyExportOptions } from '../megolm/export.js';
import { Account } from '../olm/account.js';
import type { KeyStore } from '../store/types.js';
import { argString, isObject } from './common.js';
import type { Batch, DeviceContext } from './context.js';
import type { KeysQueryAnswer } from './devices.js';
import * as devices from './devices.js';
import * as dmlsRooms from './dmls-rooms.js';
import * as keyTransfer from './key-transfer.js';
import * as keys from './keys.js';
import * as olmSessions from './olm-sessions.js';
import { contextFor } from './options.js';
import * as outbox from './outbox.js';
import { ACCOUNT_SCHEMA } from './records.js';
import * as roomEventsIn from './room-events-in.js';
import type { MembershipChange } from './room-keys-out.js';
import * as roomKeysOut from './room-keys-out.js';
import { loadRoomSettings } from './room-settings.js';
import * as sessionRepair from './session-repair.js';
import * as sync from './sync.js';
import * as toDevice from './to-device.js';
import type {
  DecryptedRoomEvent,
  DecryptedToDeviceEvent,
  DeviceInfo,
  DeviceOptions,
  DmlsWelcomeEvent,
  EncryptedRoomEvent,
  EncryptedToDeviceEvent,
  EventResult,
  ExportedRoomKey,
  KeysUploadBody,
  OlmEncryptedContent,
  OutgoingToDevice,
  RoomEncryptionResult,
  RoomSettings,
  ShareRoomKeyResult,
  SyncChanges,
  SyncResult,
  ToDeviceMessage,
} from './types.js';

export { MEGOLM_ALGORITHM, OLM_ALGORITHM } from './common.js';
export { deviceInfoFromKeys, type KeysQueryAnswer } from './devices.js';
export type { MembershipChange } from './room-keys-out.js';
export { settingsFromEncryptionEvent } from './room-settings.js';

const IDENTITY_VALUE = 'device.identity';

export class Device {
  readonly userId: string;
  readonly deviceId: string;
  readonly #ctx: DeviceContext;

  private constructor(store: KeyStore, options: DeviceOptions) {
    this.#ctx = contextFor(store, options);
    this.userId = this.#ctx.userId;
    this.deviceId = this.#ctx.deviceId;
  }

  /** Creates a new device (identity keys, no one-time keys yet) in an empty store. */
  static async create(store: KeyStore, options: DeviceOptions): Promise<Device> {
    const device = new Device(store, options);
    const ctx = device.#ctx;
    await device.#startup(async () => {
      if ((await store.loadAccount()) !== undefined) {
        throw new StoreError('STORE_EXISTS', 'this store already holds a device; use Device.open');
      }
      const account = Account.create();
      await ctx.commit({
        account: { schema: ACCOUNT_SCHEMA, data: account.pickle(ctx.pickleKey) },
        values: [{ key: IDENTITY_VALUE, value: JSON.stringify({ userId: ctx.userId, deviceId: ctx.deviceId }) }],
      });
      ctx.account = account;
    });
    return device;
  }

  /** Opens the device a store holds. A wrong pickle key fails with PickleError PICKLE_BAD_KEY. */
  static async open(store: KeyStore, options: DeviceOptions): Promise<Device> {
    const device = new Device(store, options);
    const ctx = device.#ctx;
    await device.#startup(async () => {
      const identity = await store.loadValue(IDENTITY_VALUE);
      if (identity === undefined)
        throw new StoreError('STORE_NOT_FOUND', 'this store holds no device; use Device.create');
      const parsed = JSON.parse(identity) as { userId: string; deviceId: string };
      if (parsed.userId !== ctx.userId || parsed.deviceId !== ctx.deviceId) {
        throw invalidArgument('the store holds a different device (user or device id differs)');
      }
      await ctx.loadAccount();
    });
    return device;
  }

  /** Runs the first operation; if it fails, gives the lease back at once and forgets the key. */
  async #startup(operation: () => Promise<void>): Promise<void> {
    const ctx = this.#ctx;
    try {
      await ctx.run(operation);
    } catch (error) {
      ctx.closed = true;
      await ctx.releaseLease();
      ctx.pickleKey.fill(0);
      throw error;
    }
  }

  /** Releases the lease and forgets cached secrets. The store itself stays open (the caller owns it). */
  async close(): Promise<void> {
    const ctx = this.#ctx;
    // Waits for a running operation, but not for the lease: closing must work while another
    // process holds it.
    await ctx.exclusive(async () => {
      if (ctx.closed) return;
      // Deferred replay records first (DeviceOptions.deferReplayRecords), fenced by the lease as ever.
      if (ctx.leaseStillHeld()) await ctx.settleReplays().catch(() => undefined);
      if (ctx.leaseIsFresh()) {
        const changes = roomKeysOut.closingReservations(ctx);
        if (!changes.empty) await ctx.commit(changes).catch(() => undefined);
      }
      ctx.closed = true;
      ctx.dropCaches();
      await ctx.releaseLease();
    });
    ctx.pickleKey.fill(0);
  }

  // -------------------------------------------------------------------------------------------
  // Own keys and uploads (keys.ts)

  /** The device's identity keys (loaded at open; cheap). */
  async identityKeys(): Promise<{ curve25519: Curve25519PublicKey; ed25519: Ed25519PublicKey }> {
    return keys.identityKeys(this.#ctx);
  }

  /** The signed `device_keys` object for /keys/upload. */
  async deviceKeys(): Promise<Record<string, unknown>> {
    return keys.deviceKeys(this.#ctx);
  }

  /** Generates one-time keys (committed at once, unpublished until `markKeysAsPublished`). */
  async generateOneTimeKeys(count: number): Promise<void> {
    return keys.generateOneTimeKeys(this.#ctx, count);
  }

  /** Makes a new fallback key (the previous one stays usable until forgotten). */
  async generateFallbackKey(): Promise<void> {
    return keys.generateFallbackKey(this.#ctx);
  }

  /**
   * The /keys/upload body: signed unpublished one-time keys and fallback key, and the signed device
   * keys until `markKeysAsPublished` (`includeDeviceKeys` forces them in or out). Calling again
   * before `markKeysAsPublished` returns the same key ids (an interrupted upload is simply repeated).
   */
  async keysForUpload(includeDeviceKeys?: boolean): Promise<KeysUploadBody> {
    return keys.keysForUpload(this.#ctx, includeDeviceKeys);
  }

  /** Records that the last `keysForUpload` body reached the server. */
  async markKeysAsPublished(): Promise<void> {
    return keys.markKeysAsPublished(this.#ctx);
  }

  /**
   * Reacts to /sync's `device_one_time_keys_count` and `device_unused_fallback_key_types`: tops the
   * one-time keys up when the server holds fewer than half the maximum, and makes a new fallback
   * key when the server reports ours used; either may be absent (`undefined`). Returns true when
   * there are keys to upload. `receiveSyncChanges` does this as part of a whole sync.
   */
  async updateKeyCounts(
    oneTimeKeyCount: number | undefined,
    unusedFallbackKeyTypes?: readonly string[],
  ): Promise<boolean> {
    return keys.updateKeyCounts(this.#ctx, oneTimeKeyCount, unusedFallbackKeyTypes);
  }

  // -------------------------------------------------------------------------------------------
  // Other devices (devices.ts)

  /**
   * Records devices from a /keys/query answer (the whole answer: each listed user's list is
   * complete; or an array of `device_keys` objects), checking self-signatures. Returns the devices
   * accepted; bad signatures, mismatched ids and changed keys of a known device are skipped.
   */
  async trackDevices(answer: readonly Record<string, unknown>[] | KeysQueryAnswer): Promise<DeviceInfo[]> {
    return devices.trackDevices(this.#ctx, answer);
  }

  /** A tracked device (undefined when unknown). */
  async getDevice(userId: string, deviceId: string): Promise<DeviceInfo | undefined> {
    return devices.getDevice(this.#ctx, userId, deviceId);
  }

  /** Every tracked device of a user. */
  async getUserDevices(userId: string): Promise<DeviceInfo[]> {
    return devices.getUserDevices(this.#ctx, userId);
  }

  /** Users whose device lists changed (/sync `device_lists`) and were not queried since. */
  async usersToQuery(): Promise<string[]> {
    return devices.usersToQuery(this.#ctx);
  }

  /**
   * Checks a claimed one-time key (the /keys/claim answer for one device: `{ "signed_curve25519:ID": {...} }`)
   * against the device's Ed25519 key, and returns the key.
   */
  static oneTimeKeyFromClaim(device: DeviceInfo, claimed: Record<string, unknown>): Curve25519PublicKey {
    return devices.oneTimeKeyFromClaim(device, claimed);
  }

  // -------------------------------------------------------------------------------------------
  // To-device Olm (to-device.ts)

  /** True when an Olm session with this device exists (otherwise claim a one-time key first). */
  async hasOlmSession(device: DeviceInfo): Promise<boolean> {
    return olmSessions.hasOlmSession(this.#ctx, device);
  }

  /**
   * Encrypts a to-device event for one device. Without an Olm session, pass a claimed
   * one-time key (see `oneTimeKeyFromClaim`); otherwise this fails with NO_OLM_SESSION.
   */
  async encryptToDevice(
    recipient: DeviceInfo,
    eventType: string,
    content: Record<string, unknown>,
    options: { oneTimeKey?: Curve25519PublicKey } = {},
  ): Promise<OlmEncryptedContent> {
    return toDevice.encryptToDevice(this.#ctx, recipient, eventType, content, options);
  }

  /**
   * Decrypts an `m.room.encrypted` to-device event and checks the spec's binding of sender and
   * recipient. Existing sessions are tried first; a pre-key message creates a session only when
   * none matches, and the new session and the one-time key's removal commit together. An
   * `m.room_key` inside is stored (bound to the Olm sender key) in the same commit.
   */
  async decryptToDevice(event: EncryptedToDeviceEvent): Promise<DecryptedToDeviceEvent> {
    return toDevice.decryptToDevice(this.#ctx, event);
  }

  /**
   * One /sync response in one store commit: its to-device events (one result each, in order; a
   * bad event never fails the others), the one-time and fallback key counts, and the device-list
   * changes. Throws only for a bad argument or a store failure (then nothing was committed).
   */
  async receiveSyncChanges(changes: SyncChanges): Promise<SyncResult> {
    return sync.receiveSyncChanges(this.#ctx, changes);
  }

  // -------------------------------------------------------------------------------------------
  // What the Device sends on its own (outbox.ts, session-repair.ts, key-requests.ts)

  /** To-device messages to send (key requests and answers, session repairs): /sendToDevice each, then `markSent`. */
  async outgoingToDevice(): Promise<OutgoingToDevice[]> {
    return outbox.outgoingToDevice(this.#ctx);
  }

  /** Removes sent messages from the outbox. */
  async markSent(ids: readonly string[]): Promise<void> {
    return outbox.markSent(this.#ctx, ids);
  }

  /** Devices the Device wants a new Olm session with (broken sessions, waiting key requests): claim a key for each. */
  async missingSessions(): Promise<DeviceInfo[]> {
    return sessionRepair.missingSessions(this.#ctx);
  }

  /** Makes those sessions from claimed one-time keys (by Curve25519 key); what they carry goes to the outbox. */
  async createSessions(oneTimeKeys: ReadonlyMap<string, Curve25519PublicKey>): Promise<DeviceInfo[]> {
    return sessionRepair.createSessions(this.#ctx, oneTimeKeys);
  }

  // -------------------------------------------------------------------------------------------
  // Room keys out (room-keys-out.ts)

  /**
   * Encrypts a room event with the room's outbound Megolm session, starting a new one when there
   * is none or the rotation policy says so (then `newRoomKey` is set: share it before sending).
   * The content is written by JSON.stringify, with its rules (undefined, functions and symbols are
   * left out, NaN and ±Infinity become null); content it cannot write at all (a cycle, a BigInt, a
   * throwing toJSON) is INVALID_ARGUMENT, before anything is touched.
   */
  encryptRoomEvent(roomId: string, eventType: string, content: Record<string, unknown>): Promise<RoomEncryptionResult> {
    // Not async: on every message's path, one async frame less (errors still reject).
    return roomKeysOut.encryptRoomEvent(this.#ctx, roomId, eventType, content);
  }

  /** Discards the room's outbound session (a member left or a device was removed): the next message starts a new one. */
  async rotateRoomKey(roomId: string): Promise<void> {
    return roomKeysOut.rotateRoomKey(this.#ctx, roomId);
  }

  /**
   * Changes a room's settings (see `settingsFromEncryptionEvent` for `m.room.encryption`); returns
   * them all. New rotation limits apply to the current session; a history visibility change rotates.
   */
  async setRoomSettings(roomId: string, settings: Partial<RoomSettings>): Promise<RoomSettings> {
    return roomKeysOut.setRoomSettings(this.#ctx, roomId, settings);
  }

  /** A room's settings (the Device's defaults where none were set). */
  async getRoomSettings(roomId: string): Promise<RoomSettings> {
    argString(roomId, 'roomId');
    return this.#ctx.run(() => loadRoomSettings(this.#ctx, roomId));
  }

  /**
   * A member left, or a device went away: if the room's session was shared with them, the next
   * message starts a new one (returns true). Joins need no call.
   */
  async roomMembershipChanged(roomId: string, change: MembershipChange): Promise<boolean> {
    return roomKeysOut.roomMembershipChanged(this.#ctx, roomId, change);
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
  async shareRoomKey(
    roomId: string,
    devices: readonly DeviceInfo[],
    oneTimeKeys: ReadonlyMap<string, Curve25519PublicKey> = new Map(),
  ): Promise<ShareRoomKeyResult> {
    return roomKeysOut.shareRoomKey(this.#ctx, roomId, devices, oneTimeKeys);
  }

  /**
   * Records that the `m.room_key` messages from `shareRoomKey` reached the homeserver (call after
   * /sendToDevice succeeded), so later calls do not send them again.
   */
  async markRoomKeySent(roomId: string, recipients: readonly (DeviceInfo | ToDeviceMessage)[]): Promise<void> {
    return roomKeysOut.markRoomKeySent(this.#ctx, roomId, recipients);
  }

  // -------------------------------------------------------------------------------------------
  // Room events in (room-events-in.ts)

  /**
   * Decrypts an `m.room.encrypted` room event. Refuses a second, different event at one
   * (session, message index) as a replay, and an event whose decrypted room_id differs from
   * the room it arrived in.
   */
  async decryptRoomEvent(event: EncryptedRoomEvent, roomId?: string): Promise<DecryptedRoomEvent> {
    return roomEventsIn.decryptRoomEvent(this.#ctx, event, roomId);
  }

  /** Many room events with one store commit (same checks and replay rules); one result per event, in order. */
  async decryptRoomEvents(
    events: readonly EncryptedRoomEvent[],
    roomId?: string,
  ): Promise<EventResult<DecryptedRoomEvent>[]> {
    return roomEventsIn.decryptRoomEvents(this.#ctx, events, roomId);
  }

  // -------------------------------------------------------------------------------------------
  // DMLS rooms (dmls-rooms.ts; the Device option `dmls` turns them on)

  /** Makes DMLS key packages (published with the next `keysForUpload`, like one-time keys). */
  async generateKeyPackages(count: number): Promise<void> {
    return keys.generateKeyPackages(this.#ctx, count);
  }

  /** Creates the room's DMLS group (this device alone in it); the room's algorithm becomes `m.dmls.v1.<suite>`. */
  async createDmlsRoom(roomId: string, options: { suite?: DmlsSuiteName } = {}): Promise<string> {
    argString(roomId, 'roomId');
    if (!isObject(options)) throw invalidArgument('options must be an object');
    return this.#dmlsOperation((batch) => dmlsRooms.createRoom(this.#ctx, batch, roomId, options.suite));
  }

  /**
   * A commit on the room's winning epoch: adds the devices whose claimed key packages are given (the
   * /keys/claim values for `m.dmls.v1.key_package.<suite>`), removes devices, resolves forks. Send the
   * content as an `m.room.encrypted` room event, then call `confirmDmlsCommit` with its event id.
   */
  async dmlsCommit(
    roomId: string,
    change: { add?: readonly string[]; remove?: readonly (readonly [string, string])[] },
  ): Promise<CommitContent> {
    argString(roomId, 'roomId');
    if (!isObject(change)) throw invalidArgument('change must be an object');
    return this.#dmlsOperation((batch) => dmlsRooms.commit(this.#ctx, batch, roomId, change));
  }

  /** Our commit was sent as `eventId`: returns the welcome (to-device content) for the devices it added. */
  async confirmDmlsCommit(
    roomId: string,
    eventId: string,
  ): Promise<{ epoch: number; welcome: WelcomeContent | undefined }> {
    argString(roomId, 'roomId');
    argString(eventId, 'eventId');
    return this.#dmlsOperation((batch) => dmlsRooms.confirmCommit(this.#ctx, batch, roomId, eventId));
  }

  /** What a commit must add and remove so that the group matches the room's devices (from the room state). */
  async dmlsMembershipChanges(
    roomId: string,
    devices: readonly (readonly [string, string])[],
  ): Promise<{ add: [string, string][]; remove: [string, string][] }> {
    argString(roomId, 'roomId');
    if (!Array.isArray(devices)) throw invalidArgument('devices must be an array of [userId, deviceId]');
    return this.#dmlsOperation((batch) => dmlsRooms.membershipChanges(this.#ctx, batch, roomId, devices));
  }

  /** Joins a room's group from a to-device welcome (`receiveSyncChanges` does this for a whole sync). */
  async joinDmlsRoom(event: EncryptedToDeviceEvent): Promise<DmlsWelcomeEvent> {
    if (!isObject(event) || !isObject(event.content) || typeof event.sender !== 'string') {
      throw invalidArgument('event must be a to-device event with a sender and content');
    }
    return this.#dmlsOperation((batch) =>
      dmlsRooms.join(this.#ctx, batch, { sender: event.sender, content: event.content as Record<string, unknown> }),
    );
  }

  #dmlsOperation<T>(work: (batch: Batch) => Promise<T>): Promise<T> {
    return this.#ctx.run(() => this.#ctx.withBatch(work));
  }

  // -------------------------------------------------------------------------------------------
  // Key transfer (key-transfer.ts)

  /** Exports every inbound session (or one room's) at its first known index, in the Matrix form. */
  async exportRoomKeys(roomId?: string): Promise<ExportedRoomKey[]> {
    return keyTransfer.exportRoomKeys(this.#ctx, roomId);
  }

  /**
   * Imports room keys (from a key-export file, a backup, or a forwarded key the SDK asked for).
   * They are never marked verified, and replace a stored copy only when they know earlier
   * messages. Returns how many were stored. Malformed entries are skipped.
   */
  async importRoomKeys(keys: readonly ExportedRoomKey[], source: 'import' | 'forwarded' = 'import'): Promise<number> {
    return keyTransfer.importRoomKeys(this.#ctx, keys, source);
  }

  /** A `MEGOLM SESSION DATA` key-export file of every room key (or one room's). */
  async exportKeyFile(passphrase: string, options: EncryptKeyExportOptions = {}, roomId?: string): Promise<string> {
    return keyTransfer.exportKeyFile(this.#ctx, passphrase, options, roomId);
  }

  /** Imports a key-export file; a wrong passphrase fails with KEY_EXPORT_BAD_PASSPHRASE. */
  async importKeyFile(text: string, passphrase: string, options: DecryptKeyExportOptions = {}): Promise<number> {
    return keyTransfer.importKeyFile(this.#ctx, text, passphrase, options);
  }

  toString(): string {
    return `Device(${this.userId} ${this.deviceId})`;
  }
  toJSON(): { type: string; userId: string; deviceId: string } {
    return { type: 'Device', userId: this.userId, deviceId: this.deviceId };
  }
  static {
    redactInspect(Device);
  }
}
