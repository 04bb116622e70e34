/**
 * `npm run tour`: the README's short tour, runnable as written. Alice and Bob each run a Device on the embedded
 * default store; Alice shares a room key over Olm and sends a Megolm room message; Bob decrypts both.
 *
 * The code between the `tour` region markers is the README's tour, word for word (test/examples.test.ts checks
 * it). Above the region: `homeserver`, a stand-in for a client's calls to a Matrix homeserver (request and
 * response bodies as the client-server API gives them), and `dataDir`, where the SQLite files go.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Device,
  type EncryptedRoomEvent,
  type KeysUploadBody,
  type OutgoingToDevice,
  type ToDeviceMessage,
} from 'triturus/device';
import type { KeyStore } from 'triturus/store';
import { openDefaultStore } from 'triturus/store/default';

type Json = Record<string, unknown>;

/** Just enough homeserver for the tour: /keys/upload, /keys/query, /keys/claim, /sendToDevice, a room, /sync. */
const homeserver = {
  deviceKeys: new Map<string, Map<string, Json>>(),
  oneTimeKeys: new Map<string, Json[]>(),
  inboxes: new Map<string, { type: string; sender: string; content: Json }[]>(),
  rooms: new Map<string, EncryptedRoomEvent[]>(),

  /** POST /keys/upload */
  async uploadKeys(device: Device, body: KeysUploadBody): Promise<void> {
    const id = `${device.userId}|${device.deviceId}`;
    if (body.device_keys !== undefined) {
      const devices = this.deviceKeys.get(device.userId) ?? new Map<string, Json>();
      devices.set(device.deviceId, body.device_keys as Json);
      this.deviceKeys.set(device.userId, devices);
    }
    const keys = this.oneTimeKeys.get(id) ?? [];
    for (const [keyId, key] of Object.entries(body.one_time_keys)) keys.push({ [keyId]: key });
    this.oneTimeKeys.set(id, keys);
  },

  /** POST /keys/query: answers { device_keys: { [userId]: { [deviceId]: device keys } } } */
  async queryKeys(body: {
    device_keys: Record<string, string[]>;
  }): Promise<{ device_keys: Record<string, Record<string, Json>> }> {
    const answer: Record<string, Record<string, Json>> = {};
    for (const userId of Object.keys(body.device_keys)) {
      answer[userId] = Object.fromEntries(this.deviceKeys.get(userId) ?? []);
    }
    return { device_keys: answer };
  },

  /** POST /keys/claim: answers { one_time_keys: { [userId]: { [deviceId]: { "signed_curve25519:ID": key } } } } */
  async claimKeys(body: {
    one_time_keys: Record<string, Record<string, string>>;
  }): Promise<{ one_time_keys: Record<string, Record<string, Json>> }> {
    const answer: Record<string, Record<string, Json>> = {};
    for (const [userId, devices] of Object.entries(body.one_time_keys)) {
      answer[userId] = {};
      for (const deviceId of Object.keys(devices)) {
        const key = this.oneTimeKeys.get(`${userId}|${deviceId}`)?.shift();
        if (key !== undefined) answer[userId][deviceId] = key;
      }
    }
    return { one_time_keys: answer };
  },

  /** PUT /sendToDevice/m.room.encrypted */
  async sendToDevice(sender: Device, messages: readonly ToDeviceMessage[]): Promise<void> {
    for (const m of messages) {
      const id = `${m.recipient.userId}|${m.recipient.deviceId}`;
      const inbox = this.inboxes.get(id) ?? [];
      inbox.push({ type: m.type, sender: sender.userId, content: m.content as unknown as Json });
      this.inboxes.set(id, inbox);
    }
  },

  /** PUT /sendToDevice/{eventType}/{txnId} with its `messages` body (a device id of `*`: every device). */
  async sendToDeviceBody(sender: Device, eventType: string, messages: OutgoingToDevice['messages']): Promise<void> {
    for (const [userId, devices] of Object.entries(messages)) {
      for (const [deviceId, content] of Object.entries(devices)) {
        const targets = deviceId === '*' ? [...(this.deviceKeys.get(userId)?.keys() ?? [])] : [deviceId];
        for (const target of targets) {
          const inbox = this.inboxes.get(`${userId}|${target}`) ?? [];
          inbox.push({ type: eventType, sender: sender.userId, content: content as Json });
          this.inboxes.set(`${userId}|${target}`, inbox);
        }
      }
    }
  },

  /** PUT /rooms/{roomId}/send/m.room.encrypted */
  async sendRoomEvent(sender: Device, roomId: string, content: object): Promise<void> {
    const timeline = this.rooms.get(roomId) ?? [];
    timeline.push({
      type: 'm.room.encrypted',
      room_id: roomId,
      event_id: `$${timeline.length + 1}`,
      sender: sender.userId,
      origin_server_ts: Date.now(),
      content: content as Json,
    });
    this.rooms.set(roomId, timeline);
  },

  /** GET /sync: the device's to-device events, its one-time key count, and the room timelines. */
  async sync(device: Device): Promise<{
    to_device: { events: { type: string; sender: string; content: Json }[] };
    device_one_time_keys_count: Record<string, number>;
    rooms: Map<string, EncryptedRoomEvent[]>;
  }> {
    const id = `${device.userId}|${device.deviceId}`;
    const events = this.inboxes.get(id) ?? [];
    this.inboxes.set(id, []);
    const count = this.oneTimeKeys.get(id)?.length ?? 0;
    return { to_device: { events }, device_one_time_keys_count: { signed_curve25519: count }, rooms: this.rooms };
  },
};

const dataDir = mkdtempSync(join(tmpdir(), 'triturus-tour-'));

// #region tour
const stores: KeyStore[] = []; // the caller owns each store: close it after its device

/** A device on the embedded default store (SQLite), with its keys published. */
async function startDevice(userId: string, deviceId: string, pickleKey: Uint8Array): Promise<Device> {
  const store = await openDefaultStore({ path: join(dataDir, `${deviceId}.sqlite`), scope: `${userId}|${deviceId}` });
  // Every record in the store is encrypted under pickleKey: keep these 32 bytes in the OS keychain (or derive
  // them from a secret the user holds); Device.open(store, { userId, deviceId, pickleKey }) reopens the device.
  const device = await Device.create(store, { userId, deviceId, pickleKey });
  stores.push(store);
  await device.generateOneTimeKeys(50);
  await homeserver.uploadKeys(device, await device.keysForUpload()); // signed device keys (until published) + one-time keys
  await device.markKeysAsPublished();
  return device;
}

const alice = await startDevice('@alice:example.org', 'LAPTOP', crypto.getRandomValues(new Uint8Array(32)));
const bob = await startDevice('@bob:example.org', 'PHONE', crypto.getRandomValues(new Uint8Array(32)));
const roomId = '!garden:example.org';

// /keys/query answers { device_keys: { [userId]: { [deviceId]: deviceKeys } } }. trackDevices takes that answer,
// checks each device's self-signature and remembers the users' device lists (getUserDevices reads them back);
// it returns the devices it accepted.
const query = await homeserver.queryKeys({ device_keys: { '@bob:example.org': [] } });
const members = await alice.trackDevices(query);

// shareRoomKey encrypts the room key for every member it has an Olm session with; the others come back in
// missingSessions. Send the messages, confirm them with markRoomKeySent (until then a member stays pending and gets
// a fresh message on the next call), claim a one-time key for each missing device, and call shareRoomKey again
// with those keys: it opens the new Olm sessions and encrypts for exactly the devices that have nothing yet.
const first = await alice.shareRoomKey(roomId, members);
await homeserver.sendToDevice(alice, first.messages);
await alice.markRoomKeySent(roomId, first.messages);
if (first.missingSessions.length > 0) {
  const claim = await homeserver.claimKeys({
    one_time_keys: Object.fromEntries(
      first.missingSessions.map((d) => [d.userId, { [d.deviceId]: 'signed_curve25519' }]),
    ),
  });
  const oneTimeKeys = new Map(
    first.missingSessions.map((d) => [
      d.curve25519Key.toBase64(),
      Device.oneTimeKeyFromClaim(d, claim.one_time_keys[d.userId]?.[d.deviceId] ?? {}), // checks the key's signature
    ]),
  );
  const second = await alice.shareRoomKey(roomId, members, oneTimeKeys);
  await homeserver.sendToDevice(alice, second.messages);
  await alice.markRoomKeySent(roomId, second.messages);
}

const { content } = await alice.encryptRoomEvent(roomId, 'm.room.message', { msgtype: 'm.text', body: 'hi Bob' });
await homeserver.sendRoomEvent(alice, roomId, content);

// Bob syncs. receiveSyncChanges takes the whole /sync (to-device events, key counts, device lists) in one store
// commit: the m.room_key inside is stored, one-time keys are topped up; each event gets its own result.
const sync = await homeserver.sync(bob);
const changes = await bob.receiveSyncChanges({
  toDeviceEvents: sync.to_device.events,
  oneTimeKeyCounts: sync.device_one_time_keys_count,
});
for (const result of changes.toDevice) {
  if (!result.ok) console.log(`Bob could not read a to-device event: ${result.error.code}`);
  else if (result.value.kind === 'olm')
    console.log(`Bob got ${result.value.event.type}, room key ${result.value.event.roomKey?.sessionId}`);
}
if (changes.keysToUpload) await homeserver.uploadKeys(bob, await bob.keysForUpload());
// Room events decrypt one by one (decryptRoomEvent) or a timeline page at a time, also with one commit.
for (const result of await bob.decryptRoomEvents(sync.rooms.get(roomId) ?? [])) {
  if (!result.ok) continue; // a missing key is asked for from Bob's other devices (see the outbox below)
  const { event, messageIndex, verified } = result.value;
  console.log(`Bob reads "${event.content['body']}" (index ${messageIndex}, ${verified ? 'verified' : 'unverified'})`);
}
// What a Device decides to send on its own (key requests, answers, session repairs) waits in its outbox.
const outbox = await bob.outgoingToDevice();
for (const message of outbox) await homeserver.sendToDeviceBody(bob, message.type, message.messages);
await bob.markSent(outbox.map((m) => m.id));
// #endregion tour

for (const device of [alice, bob]) await device.close();
for (const store of stores) await store.close();
rmSync(dataDir, { recursive: true, force: true });
