/**
 * A Matrix client around a store-backed triturus `Device`, talking to a `FaultHomeserver`: what an SDK
 * does around the Device (publish keys, /keys/query into `trackDevices`, /keys/claim for missing Olm
 * sessions, /sendToDevice, /sync, room sends), kept small so tests read as protocol steps.
 *
 * Each client keeps its state in a `MemoryDatabase`; `reopen()` closes the Device and opens a new one on a
 * fresh handle of the same database, which is what a restart looks like to the Device. The handle is
 * wrapped in a `FaultyStore` so tests can fail commits and see which changes travelled together.
 */
import { randomBytes } from 'node:crypto';
import {
  type DecryptedToDeviceEvent,
  Device,
  type DeviceInfo,
  type DeviceOptions,
  deviceInfoFromKeys,
  type EncryptedRoomEvent,
  type KeysUploadBody,
  type RoomEncryptionResult,
  type ToDeviceMessage,
} from '../../src/device/index.js';
import { Account, type Curve25519PublicKey } from '../../src/index.js';
import { MemoryDatabase } from '../../src/store/memory.js';
import type { ToDeviceEvent } from './fake-homeserver.js';
import type { FaultHomeserver } from './fault-homeserver.js';
import { FaultyStore } from './faulty-store.js';

export type ExtraDeviceOptions = Partial<Omit<DeviceOptions, 'userId' | 'deviceId' | 'pickleKey'>>;

export interface ClientOptions {
  /** The database holding the device (default: a new one). */
  readonly database?: MemoryDatabase;
  readonly pickleKey?: Uint8Array;
  readonly device?: ExtraDeviceOptions;
}

/** One to-device event as received and what decrypting it gave. */
export interface Received {
  readonly event: ToDeviceEvent;
  readonly result?: DecryptedToDeviceEvent;
  readonly error?: unknown;
}

export function scopeOf(userId: string, deviceId: string): string {
  return `${userId}|${deviceId}`;
}

export class DeviceClient {
  readonly server: FaultHomeserver;
  readonly userId: string;
  readonly deviceId: string;
  readonly pickleKey: Uint8Array;
  readonly database: MemoryDatabase;
  store: FaultyStore;
  device: Device;

  private constructor(
    server: FaultHomeserver,
    userId: string,
    deviceId: string,
    pickleKey: Uint8Array,
    database: MemoryDatabase,
    store: FaultyStore,
    device: Device,
  ) {
    this.server = server;
    this.userId = userId;
    this.deviceId = deviceId;
    this.pickleKey = pickleKey;
    this.database = database;
    this.store = store;
    this.device = device;
  }

  static async create(
    server: FaultHomeserver,
    userId: string,
    deviceId: string,
    options: ClientOptions = {},
  ): Promise<DeviceClient> {
    const database = options.database ?? new MemoryDatabase();
    const pickleKey = options.pickleKey ?? new Uint8Array(randomBytes(32));
    const store = new FaultyStore(database.open(scopeOf(userId, deviceId)));
    const device = await Device.create(store, { userId, deviceId, pickleKey, ...options.device });
    return new DeviceClient(server, userId, deviceId, pickleKey, database, store, device);
  }

  /** A restart: the Device is closed and a new one opened from the database on a new store handle. */
  async reopen(options: ExtraDeviceOptions = {}): Promise<Device> {
    await this.device.close();
    this.store = new FaultyStore(this.database.open(scopeOf(this.userId, this.deviceId)));
    this.device = await Device.open(this.store, {
      userId: this.userId,
      deviceId: this.deviceId,
      pickleKey: this.pickleKey,
      ...options,
    });
    return this.device;
  }

  /** Generates keys and uploads them (device keys included); marks them published once the upload returned. */
  async publish(options: { oneTimeKeys?: number; fallbackKey?: boolean } = {}): Promise<KeysUploadBody> {
    const count = options.oneTimeKeys ?? 5;
    if (count > 0) await this.device.generateOneTimeKeys(count);
    if (options.fallbackKey ?? true) await this.device.generateFallbackKey();
    const body = await this.device.keysForUpload(true);
    this.server.uploadKeys(this.userId, this.deviceId, body);
    await this.device.markKeysAsPublished();
    return body;
  }

  /** This device as others see it after /keys/query. */
  async info(): Promise<DeviceInfo> {
    const info = deviceInfoFromKeys(await this.device.deviceKeys());
    if (info === undefined) throw new Error('the device keys do not verify');
    return info;
  }

  /** /keys/query for `userIds`, fed to `trackDevices`; returns the devices accepted (own device excluded). */
  async track(...userIds: string[]): Promise<DeviceInfo[]> {
    const response = this.server.queryKeys({ device_keys: Object.fromEntries(userIds.map((u) => [u, []])) });
    const all = Object.values(response.device_keys).flatMap((devices) => Object.values(devices)) as Record<
      string,
      unknown
    >[];
    const accepted = await this.device.trackDevices(all);
    return accepted.filter((d) => d.userId !== this.userId || d.deviceId !== this.deviceId);
  }

  /** /keys/claim for one device, checked against its Ed25519 key. */
  claim(device: DeviceInfo): Curve25519PublicKey {
    const response = this.server.claimKeys({
      one_time_keys: { [device.userId]: { [device.deviceId]: 'signed_curve25519' } },
    });
    const claimed = response.one_time_keys[device.userId]?.[device.deviceId];
    if (claimed === undefined) throw new Error(`no key left to claim for ${device.userId} ${device.deviceId}`);
    return Device.oneTimeKeyFromClaim(device, claimed);
  }

  /** Encrypts one to-device event (claiming a key when there is no Olm session) and sends it. */
  async sendToDevice(
    to: DeviceInfo,
    type: string,
    content: Record<string, unknown>,
  ): Promise<{ type: number; body: string }> {
    const options = (await this.device.hasOlmSession(to)) ? {} : { oneTimeKey: this.claim(to) };
    const encrypted = await this.device.encryptToDevice(to, type, content, options);
    this.server.sendMessages(this.userId, [{ recipient: to, type: 'm.room.encrypted', content: encrypted }]);
    return encrypted.ciphertext[to.curve25519Key.toBase64()]!;
  }

  /** Shares the room key with `devices`, claiming keys for devices without an Olm session; sends the messages. */
  async shareRoomKey(roomId: string, devices: readonly DeviceInfo[]): Promise<ToDeviceMessage[]> {
    const first = await this.device.shareRoomKey(roomId, devices);
    let messages = first.messages;
    if (first.missingSessions.length > 0) {
      const claimed = new Map(first.missingSessions.map((d) => [d.curve25519Key.toBase64(), this.claim(d)]));
      const second = await this.device.shareRoomKey(roomId, devices, claimed);
      if (second.missingSessions.length > 0) throw new Error('sessions still missing after the claim');
      messages = [...messages, ...second.messages];
    }
    this.server.sendMessages(this.userId, messages);
    // As a client does once /sendToDevice returned: the recipients now have the key.
    await this.device.markRoomKeySent(roomId, messages);
    return messages;
  }

  /** One /sync: the queued to-device events, undecrypted. */
  sync(): ToDeviceEvent[] {
    return this.server.takeToDevice(this.userId, this.deviceId);
  }

  /** Decrypts events in order, keeping each result or error. */
  async decryptAll(events: readonly ToDeviceEvent[]): Promise<Received[]> {
    const out: Received[] = [];
    for (const event of events) {
      try {
        out.push({ event, result: await this.device.decryptToDevice(event) });
      } catch (error) {
        out.push({ event, error });
      }
    }
    return out;
  }

  /** One /sync, every event decrypted. */
  async receive(): Promise<Received[]> {
    return this.decryptAll(this.sync());
  }

  /** Encrypts a room event and sends it to the room. */
  async post(
    roomId: string,
    content: Record<string, unknown>,
    type = 'm.room.message',
  ): Promise<{ event: EncryptedRoomEvent; result: RoomEncryptionResult }> {
    const result = await this.device.encryptRoomEvent(roomId, type, content);
    const event = this.server.sendRoomEvent(roomId, this.userId, result.content as unknown as Record<string, unknown>);
    return { event, result };
  }

  /** The account as stored (decrypted with the pickle key), to inspect its keys. */
  async storedAccount(): Promise<Account> {
    const record = await this.store.loadAccount();
    if (record === undefined) throw new Error('no account stored');
    return Account.fromPickle(record.data, this.pickleKey);
  }

  async close(): Promise<void> {
    await this.device.close();
  }
}

/** The error code of a rejected promise (fails the test when it resolves). */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? code : `non-triturus error: ${String(error)}`;
  }
  throw new Error('expected a rejection, but the promise resolved');
}

/** The code of a received event's error, or 'ok'. */
export function outcome(received: Received): string {
  if (received.error === undefined) return 'ok';
  const code = (received.error as { code?: unknown }).code;
  return typeof code === 'string' ? code : `non-triturus error: ${String(received.error)}`;
}
