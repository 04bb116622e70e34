/**
 * Device batches: a whole /sync of to-device events in one `receiveSyncChanges` (one store commit),
 * and a bridge's stream of room events from 50 rooms in `decryptRoomEvents` batches, on the stores a
 * server runs (a SQLite file; PostgreSQL with its default durability, on a throwaway cluster).
 *
 * Every call consumes fresh events made before timing starts (a decrypted event cannot be decrypted
 * again as new work), so each side gets its own pre-made batches. Rounds alternate ABBA; the ratio is
 * the median of the per-round ratios (triturus / reference, where "reference" is the row's comparison:
 * single calls, OlmMachine, or the memory store).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeviceLists, initAsync, type OlmMachine, UserId } from '@matrix-org/matrix-sdk-crypto-wasm';
import { Device, type DeviceInfo, type EncryptedRoomEvent, type EncryptedToDeviceEvent } from '../src/device/index.js';
import { MemoryStore } from '../src/store/memory.js';
import { PostgresStore } from '../src/store/postgres.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { KeyStore } from '../src/store/types.js';
import { startCluster } from '../test/store/postgres-global-setup.js';
import { DeviceClient } from '../test/support/device-client.js';
import { FaultHomeserver } from '../test/support/fault-homeserver.js';
import { newMachine } from '../test/support/olm-machine.js';
import type { CaseResult } from './harness.js';

const quick = process.env.BENCH_QUICK === '1';
const ROUNDS = quick ? 4 : 16;
const WARM = 2;
const BATCH = 100;
const SENDERS = 10;
const ROOMS = 50;

const dirs: string[] = [];
let postgres: { url: string; stop: () => void } | undefined;

type Kind = 'memory' | 'sqlite' | 'postgres';

async function openStore(kind: Kind, scope: string): Promise<KeyStore> {
  if (kind === 'memory') return new MemoryStore(scope);
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'triturus-batches-'));
    dirs.push(dir);
    return SqliteStore.open({ path: join(dir, 'device.sqlite'), scope });
  }
  postgres ??= await startCluster({ durable: true });
  return PostgresStore.open({ connectionString: postgres.url, scope });
}

let serial = 0;
/** A Device on `kind` whose keys are on `server` (as a DeviceClient, so senders can claim and track it). */
async function receiver(server: FaultHomeserver, kind: Kind): Promise<DeviceClient> {
  const userId = `@receiver${++serial}:example.org`;
  const client = await DeviceClient.create(server, userId, 'RECEIVER');
  // The client's memory store is swapped for the store under test before anything is written.
  const store = await openStore(kind, `${userId}|RECEIVER`);
  await client.device.close();
  client.device = await Device.create(store, { userId, deviceId: 'RECEIVER', pickleKey: client.pickleKey });
  await client.publish({ oneTimeKeys: 50 });
  return client;
}

/** Senders with an Olm session to `to` each, so that the events timed are normal Olm messages. */
async function senders(server: FaultHomeserver, target: { userId: string; deviceId: string; info: DeviceInfo }) {
  const list: DeviceClient[] = [];
  for (let i = 0; i < SENDERS; i++) {
    const s = await DeviceClient.create(server, `@sender${++serial}:example.org`, 'SENDER');
    await s.publish({ oneTimeKeys: 5 });
    await s.sendToDevice(target.info, 'org.example.hello', {});
    list.push(s);
  }
  server.takeToDevice(target.userId, target.deviceId); // the session-opening pre-key messages
  return list;
}

/** `batches` batches of BATCH to-device events for one receiver: m.room_key for a new room each. */
async function toDeviceBatches(
  server: FaultHomeserver,
  from: readonly DeviceClient[],
  target: { userId: string; deviceId: string; info: DeviceInfo },
  batches: number,
): Promise<EncryptedToDeviceEvent[][]> {
  const out: EncryptedToDeviceEvent[][] = [];
  for (let b = 0; b < batches; b++) {
    for (let i = 0; i < BATCH; i++) {
      const sender = from[i % from.length]!;
      const { messages } = await sender.device.shareRoomKey(`!b${b}e${i}:example.org`, [target.info]);
      server.sendMessages(sender.userId, messages);
    }
    out.push(server.takeToDevice(target.userId, target.deviceId));
  }
  return out;
}

async function deviceTarget(client: DeviceClient) {
  return { userId: client.userId, deviceId: client.deviceId, info: await client.info() };
}

/** Senders with an Olm session to the machine each (the machine opens their pre-key messages). */
async function machineSenders(server: FaultHomeserver, machine: OlmMachine) {
  const userId = machine.userId.toString();
  const deviceId = machine.deviceId.toString();
  const list: DeviceClient[] = [];
  let info: DeviceInfo | undefined;
  for (let i = 0; i < SENDERS; i++) {
    const s = await DeviceClient.create(server, `@sender${++serial}:example.org`, 'SENDER');
    await s.publish({ oneTimeKeys: 5 });
    [info] = await s.device.trackDevices(server.queryKeys({ device_keys: { [userId]: [] } }) as never);
    await s.sendToDevice(info!, 'org.example.hello', {});
    list.push(s);
  }
  await machine.updateTrackedUsers(list.map((s) => new UserId(s.userId)));
  await server.flush(machine);
  const opening = server.takeToDevice(userId, deviceId);
  await machine.receiveSyncChanges(JSON.stringify(opening), new DeviceLists(), new Map(), new Set());
  return { list, target: { userId, deviceId, info: info! } };
}

/** Times `mine` and `theirs` (each consuming one pre-made batch per call) in ABBA rounds. */
async function rounds(
  name: string,
  target: number | undefined,
  mine: () => Promise<unknown>,
  theirs: () => Promise<unknown>,
): Promise<CaseResult> {
  const time = async (fn: () => Promise<unknown>) => {
    const start = performance.now();
    await fn();
    return (performance.now() - start) * 1000;
  };
  for (let w = 0; w < WARM; w++) {
    await mine();
    await theirs();
  }
  const a: number[] = [];
  const b: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    (globalThis as { gc?: () => void }).gc?.();
    let x: number;
    let y: number;
    if (r % 2 === 0) {
      x = await time(mine);
      y = await time(theirs);
    } else {
      y = await time(theirs);
      x = await time(mine);
    }
    a.push(x);
    b.push(y);
    ratios.push(x / y);
  }
  const median = (v: number[]) => {
    const s = [...v].sort((p, q) => p - q);
    const m = s.length >> 1;
    return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  };
  const result = {
    name,
    nodeMicros: median(a),
    nobleMicros: undefined,
    referenceMicros: median(b),
    ratio: median(ratios),
    target,
  };
  console.log(
    `${name}: ${(result.nodeMicros / 1000).toFixed(2)} ms vs ${(result.referenceMicros / 1000).toFixed(2)} ms, ratio ${result.ratio.toFixed(2)}`,
  );
  return result;
}

function consumer<T>(batches: T[][], use: (batch: T[]) => Promise<unknown>): () => Promise<unknown> {
  let next = 0;
  return () => {
    const batch = batches[next++];
    if (batch === undefined) throw new Error('bench: out of pre-made batches');
    return use(batch);
  };
}

async function syncCases(): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  const n = ROUNDS + WARM;
  const server = new FaultHomeserver();
  // SQLite: one call against 100 single calls.
  const batched = await receiver(server, 'sqlite');
  const single = await receiver(server, 'sqlite');
  const batchedTarget = await deviceTarget(batched);
  const singleTarget = await deviceTarget(single);
  const batchEvents = await toDeviceBatches(server, await senders(server, batchedTarget), batchedTarget, n);
  const singleEvents = await toDeviceBatches(server, await senders(server, singleTarget), singleTarget, n);
  results.push(
    await rounds(
      'receiveSyncChanges, 100 to-device events (m.room_key) on SQLite, against 100 decryptToDevice calls',
      0.2,
      consumer(batchEvents, (events) => batched.device.receiveSyncChanges({ toDeviceEvents: events })),
      consumer(singleEvents, async (events) => {
        for (const event of events) await single.device.decryptToDevice(event);
      }),
    ),
  );
  // Against OlmMachine's receiveSyncChanges with the same kind of events.
  await initAsync();
  for (const kind of ['sqlite', 'memory'] as const) {
    const device = await receiver(server, kind);
    const machine = await newMachine(server, `@machine${++serial}:example.org`, 'MACHINE');
    const deviceT = await deviceTarget(device);
    const deviceEvents = await toDeviceBatches(server, await senders(server, deviceT), deviceT, n);
    const fromMachine = await machineSenders(server, machine);
    const machineEvents = await toDeviceBatches(server, fromMachine.list, fromMachine.target, n);
    results.push(
      await rounds(
        `receiveSyncChanges, 100 to-device events (m.room_key), Device on ${kind === 'sqlite' ? 'SQLite' : 'the memory store'}, against OlmMachine's`,
        kind === 'sqlite' ? 0.5 : undefined,
        consumer(deviceEvents, (events) => device.device.receiveSyncChanges({ toDeviceEvents: events })),
        consumer(machineEvents, (events) =>
          machine.receiveSyncChanges(JSON.stringify(events), new DeviceLists(), new Map(), new Set()),
        ),
      ),
    );
    machine.close();
  }
  return results;
}

async function bridgeCases(): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  const n = ROUNDS + WARM;
  const server = new FaultHomeserver();
  // One room key per room for the whole run (the bridge imports them once): no rotation after 100 messages.
  const sender = await DeviceClient.create(server, '@bridged:example.org', 'SENDER', {
    device: { rotationPeriodMsgs: 1_000_000 },
  });
  const rooms = Array.from({ length: ROOMS }, (_, i) => `!room${i}:example.org`);
  for (const room of rooms) await sender.device.encryptRoomEvent(room, 'm.room.message', { body: 'first' });
  const keys = await sender.device.exportRoomKeys();
  /** Fresh batches of BATCH room events, round robin over the rooms. */
  const makeBatches = async (): Promise<EncryptedRoomEvent[][]> => {
    const out: EncryptedRoomEvent[][] = [];
    for (let b = 0; b < n; b++) {
      const batch: EncryptedRoomEvent[] = [];
      for (let i = 0; i < BATCH; i++) {
        const room = rooms[i % ROOMS]!;
        const { content } = await sender.device.encryptRoomEvent(room, 'm.room.message', { body: 'x'.repeat(100) });
        batch.push({
          type: 'm.room.encrypted',
          room_id: room,
          event_id: `$e${++serial}`,
          sender: sender.userId,
          origin_server_ts: 1_700_000_000_000 + serial,
          content: content as unknown as Record<string, unknown>,
        });
      }
      out.push(batch);
    }
    return out;
  };
  const bridge = async (kind: Kind) => {
    const scope = `@bridge${++serial}:example.org|BRIDGE`;
    const store = await openStore(kind, scope);
    const device = await Device.create(store, {
      userId: scope.split('|')[0]!,
      deviceId: 'BRIDGE',
      pickleKey: new Uint8Array(32).fill(7),
    });
    await device.importRoomKeys(keys);
    return device;
  };
  // The memory-store batch is the yardstick; each row makes it fresh events of its own.
  for (const kind of ['sqlite', 'postgres'] as const) {
    const label = kind === 'sqlite' ? 'SQLite' : 'PostgreSQL';
    const batched = await bridge(kind);
    const yardstick = await bridge('memory');
    results.push(
      await rounds(
        `decryptRoomEvents, 100 room events from 50 rooms, ${label}, against the memory store`,
        1.5,
        consumer(await makeBatches(), (events) => batched.decryptRoomEvents(events)),
        consumer(await makeBatches(), (events) => yardstick.decryptRoomEvents(events)),
      ),
    );
    const single = await bridge(kind);
    const yardstick2 = await bridge('memory');
    results.push(
      await rounds(
        `100 decryptRoomEvent calls (one commit each), ${label}, against decryptRoomEvents on the memory store`,
        undefined,
        consumer(await makeBatches(), async (events) => {
          for (const event of events) await single.decryptRoomEvent(event);
        }),
        consumer(await makeBatches(), (events) => yardstick2.decryptRoomEvents(events)),
      ),
    );
  }
  return results;
}

export async function runBatches(): Promise<CaseResult[]> {
  try {
    return [...(await syncCases()), ...(await bridgeCases())];
  } finally {
    postgres?.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}
