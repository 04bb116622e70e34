/**
 * Device: encryptRoomEvent and decryptRoomEvent (100-byte bodies) on the memory and SQLite
 * stores, side by side with matrix-sdk-crypto-wasm's OlmMachine (vodozemac) in one process.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DecryptionSettings,
  DeviceId,
  EncryptionSettings,
  initAsync,
  OlmMachine,
  RoomId,
  TrustRequirement,
  UserId,
} from '@matrix-org/matrix-sdk-crypto-wasm';
import { Device, type EncryptedRoomEvent } from '../src/device/index.js';
import type { KeyStore } from '../src/store/index.js';
import { MemoryStore } from '../src/store/memory.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { BenchModule, Case } from './harness.js';

const ROOM = '!bench:example.org';
const CONTENT = { msgtype: 'm.text', body: 'x'.repeat(100) };
/** Enough distinct events that a benchmark run rarely wraps around; both sides cycle the same way. */
const POOL = 12_000;
const dirs: string[] = [];

async function openStore(kind: 'memory' | 'sqlite', name: string): Promise<KeyStore> {
  if (kind === 'memory') return new MemoryStore(name);
  const dir = mkdtempSync(join(tmpdir(), 'triturus-bench-'));
  dirs.push(dir);
  return SqliteStore.open({ path: join(dir, 'device.sqlite'), scope: name });
}

/** A sender whose room key is already shared with one member, as in a real room (no newRoomKey). */
export async function sender(kind: 'memory' | 'sqlite'): Promise<Device> {
  const alice = await device(kind, 'alice');
  const bob = await device('memory', 'bob');
  await bob.generateOneTimeKeys(1);
  const upload = await bob.keysForUpload(true);
  const [bobInfo] = await alice.trackDevices([upload.device_keys as Record<string, unknown>]);
  const claimed = Object.values(upload.one_time_keys)[0] as Record<string, unknown>;
  const oneTimeKey = Device.oneTimeKeyFromClaim(bobInfo!, { 'signed_curve25519:AAAAAAAAAAA': claimed });
  const shared = await alice.shareRoomKey(ROOM, [bobInfo!], new Map([[bobInfo!.curve25519Key.toBase64(), oneTimeKey]]));
  await alice.markRoomKeySent(ROOM, shared.messages);
  return alice;
}

async function device(kind: 'memory' | 'sqlite', user: string): Promise<Device> {
  const store = await openStore(kind, `@${user}:example.org|BENCH`);
  return Device.create(store, {
    userId: `@${user}:example.org`,
    deviceId: 'BENCH',
    pickleKey: new Uint8Array(32).fill(3),
    // OlmMachine refuses more than 10 000 messages per session; both sides rotate at that scale.
    rotationPeriodMsgs: 10_000,
  });
}

function roomEvent(content: unknown, i: number): EncryptedRoomEvent {
  return {
    type: 'm.room.encrypted',
    room_id: ROOM,
    event_id: `$e${i}`,
    sender: '@alice:example.org',
    origin_server_ts: 1_700_000_000_000 + i,
    content: content as Record<string, unknown>,
  };
}

async function triturusDecrypt(kind: 'memory' | 'sqlite'): Promise<() => Promise<unknown>> {
  const alice = await device('memory', 'alice');
  const bob = await device(kind, 'bob');
  const events: EncryptedRoomEvent[] = [];
  for (let i = 0; i < POOL; i++)
    events.push(roomEvent((await alice.encryptRoomEvent(ROOM, 'm.room.message', CONTENT)).content, i));
  await bob.importRoomKeys(await alice.exportRoomKeys());
  let i = 0;
  return () => bob.decryptRoomEvent(events[i++ % POOL]!);
}

async function machine(user: string): Promise<OlmMachine> {
  return OlmMachine.initialize(new UserId(`@${user}:example.org`), new DeviceId('BENCH'));
}

function settings(): EncryptionSettings {
  const s = new EncryptionSettings();
  s.rotationPeriodMessages = 10_000n;
  return s;
}

/**
 * OlmMachine panics past 10 000 messages in a session: share a new session at that point (also used
 * by floors.ts). `encrypt` is the bare call (a JSON string in, a JSON string out).
 */
export async function machineEncryptor(): Promise<{
  encrypt: (body?: string) => Promise<string>;
  alice: OlmMachine;
  room: RoomId;
}> {
  const alice = await machine('alice');
  const room = new RoomId(ROOM);
  const fixed = JSON.stringify(CONTENT);
  await alice.shareRoomKey(room, [], settings());
  let sent = 0;
  const encrypt = async (body = fixed) => {
    // The session expires after exactly 10 000 messages; sharing again then starts a new one.
    if (sent === 10_000) {
      await alice.shareRoomKey(room, [], settings());
      sent = 0;
    }
    sent++;
    return alice.encryptRoomEvent(room, 'm.room.message', body);
  };
  return { encrypt, alice, room };
}

/**
 * OlmMachine doing the Device's whole job: the content object in, the encrypted content object
 * out, which is how an SDK calls it (matrix-js-sdk's RoomEncryptor stringifies the content and
 * parses the result).
 */
async function machineEncryptJob(): Promise<() => Promise<unknown>> {
  const { encrypt } = await machineEncryptor();
  return async () => JSON.parse(await encrypt(JSON.stringify(CONTENT)));
}

/** OlmMachine decrypting; with `job`, the Device's whole job (event object in, plaintext event object out). */
async function machineDecrypt(job: boolean): Promise<() => Promise<unknown>> {
  const { encrypt, alice, room } = await machineEncryptor();
  const bob = await machine('bob');
  const objects: EncryptedRoomEvent[] = [];
  for (let i = 0; i < POOL; i++) objects.push(roomEvent(JSON.parse(await encrypt()), i));
  const strings = objects.map((e) => JSON.stringify(e));
  await bob.importExportedRoomKeys(await alice.exportRoomKeys(() => true), () => undefined);
  const decryption = new DecryptionSettings(TrustRequirement.Untrusted);
  let i = 0;
  if (!job) return () => bob.decryptRoomEvent(strings[i++ % POOL]!, room, decryption);
  return async () => {
    const result = await bob.decryptRoomEvent(JSON.stringify(objects[i++ % POOL]!), room, decryption);
    return JSON.parse(result.event);
  };
}

async function deviceEncrypt(kind: 'memory' | 'sqlite'): Promise<() => Promise<unknown>> {
  const alice = await sender(kind);
  return () => alice.encryptRoomEvent(ROOM, 'm.room.message', CONTENT);
}

// The targeted rows compare the same job on both sides (objects in, objects out, see
// machineEncryptJob); the rows marked "bare call" give OlmMachine its JSON strings ready-made.
export const deviceCases: Case[] = [
  {
    name: 'encryptRoomEvent 100 B (memory store)',
    target: 0.5,
    async: true,
    skipNoble: true,
    triturus: () => deviceEncrypt('memory'),
    reference: machineEncryptJob,
  },
  {
    name: 'decryptRoomEvent 100 B (memory store)',
    target: 0.5,
    async: true,
    skipNoble: true,
    triturus: () => triturusDecrypt('memory'),
    reference: () => machineDecrypt(true),
  },
  {
    name: 'encryptRoomEvent 100 B (memory store), OlmMachine bare call',
    target: undefined,
    async: true,
    skipNoble: true,
    triturus: () => deviceEncrypt('memory'),
    reference: async () => (await machineEncryptor()).encrypt,
  },
  {
    name: 'decryptRoomEvent 100 B (memory store), OlmMachine bare call',
    target: undefined,
    async: true,
    skipNoble: true,
    triturus: () => triturusDecrypt('memory'),
    reference: () => machineDecrypt(false),
  },
  {
    name: 'encryptRoomEvent 100 B (SQLite store)',
    target: undefined, // the issue sets targets for the memory store; SQLite syncs every commit to disk
    async: true,
    skipNoble: true,
    triturus: () => deviceEncrypt('sqlite'),
    reference: machineEncryptJob,
  },
  {
    name: 'decryptRoomEvent 100 B (SQLite store)',
    target: undefined, // the issue sets targets for the memory store; SQLite syncs every commit to disk
    async: true,
    skipNoble: true,
    triturus: () => triturusDecrypt('sqlite'),
    reference: () => machineDecrypt(true),
  },
];

export const deviceModule: BenchModule = {
  name: 'device',
  title: 'Device (store-backed room events)',
  reference: 'OlmMachine',
  init: async () => {
    await initAsync();
  },
  cases: deviceCases,
  cleanup: () => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  },
};
