/**
 * `npm run demo`: the whole library on its embedded default store (triturus/store/default). Three devices keep their
 * state in SQLite files in ./demo-data, talk through a tiny in-process homeserver, share room
 * keys over Olm, exchange Megolm room messages, restart (every device reopened from disk), and
 * move history to a new device with a key-export file. Prints a readable transcript.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Device, type DeviceInfo, type EncryptedRoomEvent, type ToDeviceMessage } from '../src/device/index.js';
import type { Curve25519PublicKey } from '../src/index.js';
import { openDefaultStore } from '../src/store/default.js';
import type { SqliteStore } from '../src/store/sqlite.js';

const DATA = join(process.cwd(), 'demo-data');
const ROOM = '!garden:example.org';
const say = (text = '') => console.log(text);
const short = (s: string) => `${s.slice(0, 10)}…`;

/** Just enough homeserver: a key directory, one-time key claims, to-device inboxes, a room timeline. */
class Homeserver {
  readonly #deviceKeys = new Map<string, Record<string, unknown>>();
  readonly #oneTimeKeys = new Map<string, Map<string, Record<string, unknown>>>();
  readonly #fallbackKeys = new Map<string, Record<string, unknown>>();
  readonly #inboxes = new Map<string, { type: string; sender: string; content: Record<string, unknown> }[]>();
  readonly timeline: EncryptedRoomEvent[] = [];

  upload(device: Device, body: Awaited<ReturnType<Device['keysForUpload']>>): void {
    const id = `${device.userId}|${device.deviceId}`;
    if (body.device_keys !== undefined) this.#deviceKeys.set(id, body.device_keys as Record<string, unknown>);
    const keys = this.#oneTimeKeys.get(id) ?? new Map();
    for (const [keyId, key] of Object.entries(body.one_time_keys)) keys.set(keyId, key as Record<string, unknown>);
    this.#oneTimeKeys.set(id, keys);
    for (const [keyId, key] of Object.entries(body.fallback_keys)) this.#fallbackKeys.set(id, { [keyId]: key });
  }

  query(): Record<string, unknown>[] {
    return [...this.#deviceKeys.values()];
  }

  /** /keys/claim for one device: a one-time key if any is left, else the fallback key. */
  claim(device: DeviceInfo): Record<string, unknown> {
    const id = `${device.userId}|${device.deviceId}`;
    const keys = this.#oneTimeKeys.get(id);
    const first = keys?.entries().next().value as [string, Record<string, unknown>] | undefined;
    if (first !== undefined) {
      keys!.delete(first[0]);
      return { [first[0]]: first[1] };
    }
    return this.#fallbackKeys.get(id) ?? {};
  }

  sendToDevice(sender: string, messages: readonly ToDeviceMessage[]): void {
    for (const m of messages) {
      const id = `${m.recipient.userId}|${m.recipient.deviceId}`;
      const inbox = this.#inboxes.get(id) ?? [];
      inbox.push({ type: m.type, sender, content: m.content as unknown as Record<string, unknown> });
      this.#inboxes.set(id, inbox);
    }
  }

  sync(device: Device): { type: string; sender: string; content: Record<string, unknown> }[] {
    const id = `${device.userId}|${device.deviceId}`;
    const events = this.#inboxes.get(id) ?? [];
    this.#inboxes.set(id, []);
    return events;
  }

  post(sender: Device, content: Record<string, unknown>): EncryptedRoomEvent {
    const event: EncryptedRoomEvent = {
      type: 'm.room.encrypted',
      room_id: ROOM,
      event_id: `$event${this.timeline.length + 1}`,
      sender: sender.userId,
      origin_server_ts: 1_760_000_000_000 + this.timeline.length * 1000,
      content,
    };
    this.timeline.push(event);
    return event;
  }
}

interface Person {
  readonly name: string;
  readonly userId: string;
  readonly deviceId: string;
  /** In a real app this key lives in the OS keychain; here it survives the "restart" in memory. */
  readonly pickleKey: Uint8Array;
  store: SqliteStore;
  device: Device;
}

const server = new Homeserver();

async function openPerson(name: string, deviceId: string, create: boolean, pickleKey?: Uint8Array): Promise<Person> {
  const userId = `@${name.toLowerCase()}:example.org`;
  const key = pickleKey ?? crypto.getRandomValues(new Uint8Array(32));
  const store = await openDefaultStore({
    path: join(DATA, `${name.toLowerCase()}-${deviceId}.sqlite`),
    scope: `${userId}|${deviceId}`,
  });
  const options = { userId, deviceId, pickleKey: key };
  const device = create ? await Device.create(store, options) : await Device.open(store, options);
  return { name, userId, deviceId, pickleKey: key, store, device };
}

async function publishKeys(p: Person): Promise<void> {
  await p.device.generateOneTimeKeys(10);
  await p.device.generateFallbackKey();
  const body = await p.device.keysForUpload(true);
  server.upload(p.device, body);
  await p.device.markKeysAsPublished();
  const keys = await p.device.identityKeys();
  say(
    `  ${p.name.padEnd(6)} ${p.userId} ${p.deviceId}: curve25519 ${short(keys.curve25519.toBase64())}, ` +
      `${Object.keys(body.one_time_keys).length} one-time keys + a fallback key uploaded`,
  );
}

async function knownDevices(p: Person): Promise<DeviceInfo[]> {
  // /keys/query, with every device's self-signature checked.
  return p.device.trackDevices(server.query());
}

/**
 * Shares the sender's room key with everyone else. shareRoomKey encrypts for the devices it has an Olm session
 * with and returns the others in missingSessions; those messages are sent and confirmed first. Then one-time
 * keys are claimed for the missing devices and shareRoomKey is called again: it encrypts for exactly the devices
 * that have nothing yet (each device gets the key once).
 */
async function shareRoomKey(p: Person, everyone: DeviceInfo[]): Promise<void> {
  const others = everyone.filter((d) => d.userId !== p.userId || d.deviceId !== p.deviceId);
  const send = async (messages: readonly ToDeviceMessage[], how: string): Promise<void> => {
    if (messages.length === 0) return;
    server.sendToDevice(p.userId, messages);
    await p.device.markRoomKeySent(ROOM, messages);
    say(
      `  ${p.name} sends m.room_key to ${messages.map((m) => m.recipient.userId).join(', ')} ${how}` +
        ` (Olm message types ${messages.map((m) => Object.values(m.content.ciphertext)[0]!.type).join(',')})`,
    );
  };
  const first = await p.device.shareRoomKey(ROOM, others);
  await send(first.messages, 'over existing Olm sessions');
  if (first.missingSessions.length > 0) {
    const claimed = new Map<string, Curve25519PublicKey>();
    for (const d of first.missingSessions)
      claimed.set(d.curve25519Key.toBase64(), Device.oneTimeKeyFromClaim(d, server.claim(d)));
    say(
      `  ${p.name} claims one-time keys of ${first.missingSessions.map((d) => d.userId).join(', ')} (no Olm session yet)`,
    );
    const second = await p.device.shareRoomKey(ROOM, others, claimed);
    await send(second.messages, 'over new Olm sessions');
  }
}

async function receive(p: Person): Promise<void> {
  for (const event of server.sync(p.device)) {
    const decrypted = await p.device.decryptToDevice(event);
    const key =
      decrypted.roomKey === undefined
        ? ''
        : `, room key ${short(decrypted.roomKey.sessionId)} ${decrypted.roomKey.isNew ? 'stored' : 'already known (sent twice)'}`;
    say(`  ${p.name} decrypts a to-device ${decrypted.type} from ${decrypted.sender}${key}`);
  }
}

async function post(p: Person, text: string): Promise<EncryptedRoomEvent> {
  const result = await p.device.encryptRoomEvent(ROOM, 'm.room.message', { msgtype: 'm.text', body: text });
  const event = server.post(p.device, result.content as unknown as Record<string, unknown>);
  say(`\n${p.name} posts ${event.event_id} (session ${short(result.sessionId)}, index ${result.messageIndex})`);
  return event;
}

async function read(p: Person, event: EncryptedRoomEvent): Promise<void> {
  try {
    const d = await p.device.decryptRoomEvent(event);
    const body = (d.event.content as { body?: string }).body;
    say(
      `  ${p.name.padEnd(6)} reads "${body}" (index ${d.messageIndex}, ${d.verified ? 'verified key' : 'unverified key'})`,
    );
  } catch (error) {
    const e = error as { name: string; code?: string; message: string };
    say(`  ${p.name.padEnd(6)} cannot read it: ${e.name} ${e.code}: ${e.message}`);
  }
}

rmSync(DATA, { recursive: true, force: true });
mkdirSync(DATA, { recursive: true });
say(`triturus demo: three devices, each with its own SQLite file in ${DATA}\n`);

say('Devices are created and publish their keys:');
const alice = await openPerson('Alice', 'LAPTOP', true);
const bob = await openPerson('Bob', 'PHONE', true);
const carol = await openPerson('Carol', 'DESKTOP', true);
const people = [alice, bob, carol];
for (const p of people) await publishKeys(p);
const directory = await knownDevices(alice);
for (const p of [bob, carol]) await knownDevices(p);

say(`\nAlice starts encrypting in ${ROOM}:`);
await shareRoomKey(alice, directory);
for (const p of [bob, carol]) await receive(p);
let event = await post(alice, 'Hello Bob and Carol! The garden needs watering.');
for (const p of [bob, carol]) await read(p, event);

say('\nBob answers with his own room key (his Olm session to Alice already exists; Carol needs a new one):');
await shareRoomKey(bob, directory);
for (const p of [alice, carol]) await receive(p);
event = await post(bob, 'I will do it tomorrow morning.');
for (const p of [alice, carol]) await read(p, event);

say("\nA replay: the homeserver re-sends Bob's ciphertext under another event id.");
await read(carol, { ...event, event_id: '$forged', origin_server_ts: event.origin_server_ts + 5 });

say('\n— restart: every device and store is closed, then reopened from its SQLite file —');
for (const p of people) {
  await p.device.close();
  await p.store.close();
}
for (const p of people) {
  const reopened = await openPerson(p.name, p.deviceId, false, p.pickleKey);
  p.store = reopened.store;
  p.device = reopened.device;
  say(
    `  ${p.name} reopened ${p.deviceId} from disk: curve25519 ${short((await p.device.identityKeys()).curve25519.toBase64())}`,
  );
}

say('\nThe conversation carries on after the restart:');
event = await post(alice, 'Back after a restart, same room key.');
say('  (the reopened outbound session resumes at the end of its reserved block of indices, so no');
say('   message index, and no message key, is ever used twice, even by a process that crashed)');
for (const p of [bob, carol]) await read(p, event);
await shareRoomKey(carol, directory);
for (const p of [alice, bob]) await receive(p);
event = await post(carol, 'Carol here, with a key shared over existing and new Olm sessions.');
for (const p of [alice, bob]) await read(p, event);

say('\nAlice signs in on a new tablet and moves her history with a key-export file:');
const exported = await alice.device.exportKeyFile('correct horse battery staple');
say(`  Alice exports ${exported.split('\n').length} lines of "${exported.split('\n')[0]}"`);
const tablet = await openPerson('Alice', 'TABLET', true);
people.push({ ...tablet, name: 'Tablet' });
const imported = await tablet.device.importKeyFile(exported, 'correct horse battery staple');
say(`  The tablet imports ${imported} room keys`);
for (const old of server.timeline.slice(0, 2)) await read({ ...tablet, name: 'Tablet' }, old);
try {
  await tablet.device.importKeyFile(exported, 'wrong passphrase');
} catch (error) {
  say(`  A wrong passphrase is refused: ${(error as { code?: string }).code}`);
}

for (const p of people) {
  await p.device.close();
  await p.store.close();
}
say(`\nDone. The state is in ${DATA}.`);
