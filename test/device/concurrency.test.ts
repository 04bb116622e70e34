/**
 * Two real processes on ONE device (same scope; a SQLite file, then PostgreSQL), each a Device in a worker
 * (test/device/child/worker.ts), kept apart only by the Device's lease:
 * - interleaved decrypts: senders in this process (Devices on memory stores) send Olm to-device messages,
 *   room keys and room events to the shared device; both workers pull from one shuffled queue; key upload
 *   runs in between. Every message is decrypted exactly once, no one-time key id is uploaded twice, a used
 *   one-time key stays used, and the senders keep talking to the shared device afterwards;
 * - interleaved encrypts (lease released after each operation, and the default lease): both workers
 *   encrypt in one room; every (session, index) is distinct and a receiver decrypts them all;
 * - takeover mid-operation: one worker is paused inside a commit (and, later, stalled after taking the
 *   lease) until the other has taken the lease and encrypted; the stale commit is refused, the Device
 *   retries on fresh state, and no index is used twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Device, type DeviceInfo } from '../../src/device/index.js';
import type { Curve25519PublicKey } from '../../src/keys.js';
import { Account } from '../../src/olm/account.js';
import { SessionConfig } from '../../src/olm/config.js';
import { MemoryStore } from '../../src/store/memory.js';
import { FakeKeyServer, randomPickleKey, rng, roomEvent, shuffle, toDeviceEvent, toWire } from './child/common.js';
import type { ChildEvent, EncryptedEvent, OpenArgs, PausedEvent, WorkerStats } from './child/protocol.js';
import {
  arrivalNow,
  createDevice,
  DeviceChild,
  killWorkers,
  note,
  openArgs,
  RemoteError,
  type SharedDevice,
  type Target,
  targets,
  withDevice,
  withStore,
} from './harness.js';

const OLM = 'm.olm.v1.curve25519-aes-sha2';
const all = targets('concurrency');
afterAll(async () => {
  await killWorkers();
  all.dispose();
});

type UploadBody = Awaited<ReturnType<Device['keysForUpload']>>;
const isEncrypted = (e: ChildEvent): e is EncryptedEvent => e.event === 'encrypted';

async function memoryDevice(name: string): Promise<Device> {
  const userId = `@${name}:example.org`;
  return Device.create(new MemoryStore(`${userId}|${name.toUpperCase()}`), {
    userId,
    deviceId: name.toUpperCase(),
    pickleKey: randomPickleKey(),
  });
}

async function infoOf(device: Device): Promise<DeviceInfo> {
  const keys = await device.identityKeys();
  return { userId: device.userId, deviceId: device.deviceId, curve25519Key: keys.curve25519, ed25519Key: keys.ed25519 };
}

type Item =
  | { readonly kind: 'toDevice'; readonly key: string; readonly event: ReturnType<typeof toDeviceEvent> }
  | { readonly kind: 'room'; readonly key: string; readonly event: ReturnType<typeof roomEvent> }
  | { readonly kind: 'keys'; readonly key: string };

interface DecryptResult {
  readonly type?: string;
  readonly sender?: string;
  readonly content?: Record<string, unknown>;
  readonly roomKey?: { isNew: boolean };
}

/** What a handled item decrypted to, in the form of the item keys. */
function resultKey(item: Item, result: DecryptResult): string {
  const c = result.content ?? {};
  if (item.kind === 'room') return `room:${c['body']}`;
  if (result.type === 'm.room_key') return `td:room-key:${result.sender}:${result.roomKey?.isNew}`;
  return `td:${c['from']}:${c['n']}`;
}

/**
 * Both workers pull from one queue until it is empty, and report which items each handled. A room event
 * whose key has not been processed yet (ROOM_KEY_UNKNOWN) goes back to the end of the queue, as a client
 * retries it after its next sync. Key-upload items run one at a time (one uploader, as in a real client)
 * while the other worker keeps decrypting.
 */
async function drain(workers: readonly DeviceChild[], queue: Item[], server: FakeKeyServer, shared: SharedDevice) {
  const handledBy = new Map<string, number[]>();
  const failures: string[] = [];
  /** Item key → how many deliveries were refused as replays (a to-device event delivered twice). */
  const replayed = new Map<string, number>();
  const retries = new Map<string, number>();
  let uploading = Promise.resolve();
  const handle = async (worker: DeviceChild, item: Item): Promise<DecryptResult | null> => {
    if (item.kind === 'toDevice') return worker.call('decryptToDevice', item.event);
    if (item.kind === 'room') return worker.call('decryptRoomEvent', item.event);
    const run = uploading.then(async () => {
      await worker.call('updateKeyCounts', { count: server.count(shared.userId, shared.deviceId) });
      const body = await worker.call<Awaited<ReturnType<Device['keysForUpload']>>>('keysForUpload', {});
      server.upload(shared.userId, shared.deviceId, body);
      await worker.call('markKeysAsPublished');
    });
    uploading = run.catch(() => undefined);
    await run;
    return null;
  };
  await Promise.all(
    workers.map(async (worker, w) => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
        // A little time between two events (as between two syncs) leaves the lease free now and then; a
        // worker hammering the lease back to back would starve the other one's backed-off retries.
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 12));
        try {
          const result = await handle(worker, item);
          if (result !== null && resultKey(item, result) !== item.key) {
            failures.push(`${item.key} decrypted to ${resultKey(item, result)}`);
          }
          handledBy.set(item.key, [...(handledBy.get(item.key) ?? []), w]);
        } catch (error) {
          const n = retries.get(item.key) ?? 0;
          if (error instanceof RemoteError && error.code === 'ROOM_KEY_UNKNOWN' && n < 100) {
            retries.set(item.key, n + 1);
            queue.push(item);
            await new Promise((resolve) => setTimeout(resolve, 2));
          } else if (error instanceof RemoteError && error.code === 'EVENT_REPLAYED' && item.kind !== 'keys') {
            replayed.set(item.key, (replayed.get(item.key) ?? 0) + 1);
          } else {
            failures.push(`${item.key}: ${String(error)}`);
          }
        }
      }
    }),
  );
  const perWorker = [0, 1].map((w) => [...handledBy.values()].flat().filter((x) => x === w).length);
  const retried = [...retries.values()].reduce((a, b) => a + b, 0);
  return { handledBy, failures, perWorker, retried, replayed };
}

/** The (session, index) pairs must be distinct, and a receiver holding the exported keys decrypts every event. */
async function checkEncrypted(t: Target, shared: SharedDevice, roomId: string, events: readonly EncryptedEvent[]) {
  const pairs = events.map((e) => `${e.sessionId}:${e.messageIndex}`);
  expect(new Set(pairs).size, 'no (session, index) used twice').toBe(pairs.length);
  // Every session was started by one of the processes, at index 0, which came with the key to share.
  const sessions = new Map<string, EncryptedEvent[]>();
  for (const e of events) sessions.set(e.sessionId, [...(sessions.get(e.sessionId) ?? []), e]);
  for (const [sessionId, list] of sessions) {
    const start = list.find((e) => e.messageIndex === 0);
    expect(start?.newRoomKey, `session ${sessionId} starts at index 0 with a room key to share`).toBe(true);
  }
  const keys = await withDevice(t, shared, (device) => device.exportRoomKeys(roomId));
  const receiver = await memoryDevice(`receiver${Date.now()}`);
  expect(await receiver.importRoomKeys(keys)).toBe(sessions.size);
  for (const e of events) {
    const d = await receiver.decryptRoomEvent(roomEvent(roomId, shared.userId, e.content));
    expect([d.event.content['body'], d.sessionId, d.messageIndex]).toEqual([
      `${e.label}-${e.seq}`,
      e.sessionId,
      e.messageIndex,
    ]);
  }
  await receiver.close();
}

/** How often consecutive indices of one session came from different workers. */
function handovers(events: readonly EncryptedEvent[]): number {
  const sorted = [...events].sort((a, b) =>
    a.sessionId === b.sessionId ? a.messageIndex - b.messageIndex : a.sessionId < b.sessionId ? -1 : 1,
  );
  let n = 0;
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.sessionId === sorted[i - 1]!.sessionId && sorted[i]!.label !== sorted[i - 1]!.label) n++;
  }
  return n;
}

/** The encrypted events a worker reported since `from`. */
const encryptedSince = (w: DeviceChild, from: number): EncryptedEvent[] => w.events.slice(from).filter(isEncrypted);

describe.each(all.list)('$backend: two processes on one device', (t) => {
  const server = new FakeKeyServer();
  let shared: SharedDevice;
  let initialKeys: Set<string>;
  let workers: DeviceChild[] = [];
  const reopen = async (extra: readonly Partial<OpenArgs>[]) => {
    await Promise.all(workers.map((w) => w.call('close')));
    await Promise.all(workers.map((w, i) => w.call('open', openArgs(t, shared, extra[i]))));
  };

  beforeAll(async () => {
    shared = await createDevice(t, `shared-${t.backend}`, server, 10);
    initialKeys = new Set(server.everUploaded(shared.userId, shared.deviceId).values());
    const fast = { options: { releaseLeaseAfterEachOperation: true } };
    workers = await Promise.all([0, 1].map(() => DeviceChild.start(openArgs(t, shared, fast))));
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop().catch(() => w.kill())));
  });

  it('interleaved decrypts from one queue: each message once, no duplicate key ids, the senders carry on', async () => {
    const seed = Date.now() % 1_000_000;
    const random = rng(seed);
    const room = '!decrypts:example.org';
    const senders: Device[] = [];
    const claimed: Curve25519PublicKey[] = [];
    const send = async (items: Item[], s: Device, from: number, n: number, oneTimeKey?: Curve25519PublicKey) => {
      const content = await s.encryptToDevice(shared.info, 'm.test', { from, n }, oneTimeKey ? { oneTimeKey } : {});
      items.push({ kind: 'toDevice', key: `td:${from}:${n}`, event: toDeviceEvent(s.userId, content) });
      return content.ciphertext[shared.info.curve25519Key.toBase64()]!.type;
    };

    // Three senders: a burst of pre-key messages each (no reply yet), their room key, room messages.
    const first: Item[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await memoryDevice(`sender${i}-${t.backend}`);
      senders.push(s);
      const otk = server.claimFor(shared.info);
      claimed.push(otk);
      for (let n = 0; n < 4; n++) {
        expect(await send(first, s, i, n, n === 0 ? otk : undefined), 'pre-key until a reply').toBe(0);
      }
      const share = await s.shareRoomKey(room, [shared.info]);
      expect(share.messages.length).toBe(1);
      first.push({
        kind: 'toDevice',
        key: `td:room-key:${s.userId}:true`,
        event: toDeviceEvent(s.userId, share.messages[0]!.content),
      });
      for (let n = 0; n < 4; n++) {
        const body = `s${i}-m${n}`;
        const r = await s.encryptRoomEvent(room, 'm.room.message', { body });
        first.push({ kind: 'room', key: `room:${body}`, event: roomEvent(room, s.userId, r.content) });
      }
    }
    for (let k = 0; k < 3; k++) first.push({ kind: 'keys', key: `keys:${k}` });
    const total = first.length;
    // Some to-device events are delivered twice (the server resends after a lost sync response), and some
    // room events come again under another event id (a replay by the server): whichever worker gets the
    // second copy must refuse it, with the other worker's replay record or Olm state.
    const duplicated = shuffle(
      first.filter((i) => i.kind === 'toDevice'),
      random,
    ).slice(0, 5);
    const forged = shuffle(
      first.filter((i) => i.kind === 'room'),
      random,
    )
      .slice(0, 3)
      .map((i) => (i.kind === 'room' ? { ...i, event: { ...i.event, event_id: `${i.event.event_id}-forged` } } : i));
    first.push(...duplicated, ...forged);
    const report = await drain(workers, shuffle(first, random), server, shared);
    note(
      t.backend,
      'decrypts: items per worker',
      report.perWorker,
      'room events retried',
      report.retried,
      'seed',
      seed,
    );
    expect(report.failures, `seed ${seed}`).toEqual([]);
    expect(
      [...report.handledBy.values()].every((w) => w.length === 1),
      'no item handled twice',
    ).toBe(true);
    expect(report.handledBy.size, 'every item handled').toBe(total);
    expect(
      Object.fromEntries(report.replayed),
      'each second delivery refused as a replay, whichever worker got it',
    ).toEqual(Object.fromEntries([...duplicated, ...forged].map((i) => [i.key, 1])));
    // One Olm session per sender on the shared device, however the pre-key messages were spread.
    const sessionCounts = await withStore(t, shared, async (store) =>
      Promise.all(
        senders.map(async (s) => (await store.loadOlmSessions((await s.identityKeys()).curve25519.toBase64())).length),
      ),
    );
    expect(sessionCounts, 'one Olm session per sender').toEqual([1, 1, 1]);
    expect(server.identicalReuploads, 'no key id offered for upload twice').toBe(0);
    const uploaded = server.everUploaded(shared.userId, shared.deviceId);
    expect(uploaded.size, 'the workers topped the one-time keys up').toBe(10 + 43);

    // The senders keep talking: the shared device answers each (from either worker), they switch to normal
    // messages; two new senders open sessions on one-time keys the workers made and uploaded.
    const second: Item[] = [];
    for (const [i, s] of senders.entries()) {
      const reply = await workers[i % 2]!.call<Record<string, unknown>>('encryptToDevice', {
        recipient: toWire(await infoOf(s)),
        type: 'm.reply',
        content: { to: i },
      });
      expect((await s.decryptToDevice(toDeviceEvent(shared.userId, reply))).content).toEqual({ to: i });
      for (let n = 4; n < 7; n++) expect(await send(second, s, i, n), 'normal once replied').toBe(1);
    }
    for (let j = 3; j < 5; j++) {
      const s = await memoryDevice(`sender${j}-${t.backend}`);
      senders.push(s);
      let otk = server.claimFor(shared.info);
      while (initialKeys.has(otk.toBase64())) otk = server.claimFor(shared.info); // others claim those
      for (let n = 0; n < 3; n++) await send(second, s, j, n, n === 0 ? otk : undefined);
    }
    second.push({ kind: 'keys', key: 'keys:again' });
    const secondTotal = second.length;
    const again = await drain(workers, shuffle(second, random), server, shared);
    note(t.backend, 'decrypts, second round: items per worker', again.perWorker, 'retried', again.retried);
    expect(again.failures, `seed ${seed}`).toEqual([]);
    expect([...again.handledBy.values()].every((w) => w.length === 1)).toBe(true);
    expect(again.handledBy.size).toBe(secondTotal);
    expect(server.identicalReuploads).toBe(0);
    const perWorker = [0, 1].map((w) => report.perWorker[w]! + again.perWorker[w]!);
    expect(Math.min(...perWorker), `both workers took work (${perWorker})`).toBeGreaterThan(0);

    // The one-time key sender0 consumed stays consumed: a stranger's pre-key message on it is refused.
    const stranger = Account.create();
    const session = stranger.createOutboundSession(SessionConfig.version1(), shared.info.curve25519Key, claimed[0]!);
    const message = session.encrypt(JSON.stringify({ type: 'm.test', content: {} }));
    const refused = workers[0]!.call('decryptToDevice', {
      type: 'm.room.encrypted',
      sender: '@stranger:example.org',
      content: {
        algorithm: OLM,
        sender_key: stranger.curve25519Key.toBase64(),
        ciphertext: { [shared.info.curve25519Key.toBase64()]: { type: message.type, body: message.toBase64() } },
      },
    });
    await expect(refused).rejects.toMatchObject({ code: 'ONE_TIME_KEY_UNKNOWN' });
    for (const s of senders) await s.close();
  });

  const encryptCase = async (roomId: string, extra: Partial<OpenArgs>, args: Record<string, unknown>) => {
    await reopen([extra, extra]);
    const starts = workers.map((w) => w.events.length);
    await Promise.all(workers.map((w, i) => w.call('encryptMany', { roomId, label: 'AB'[i], ...args })));
    const events = workers.flatMap((w, i) => encryptedSince(w, starts[i]!));
    await checkEncrypted(t, shared, roomId, events);
    return events;
  };

  it('interleaved encrypts, lease released after each operation: no (session, index) twice, all decrypt', async () => {
    const events = await encryptCase(
      '!encrypt-fast:example.org',
      { options: { releaseLeaseAfterEachOperation: true } },
      { count: 60, pauseMs: 4 },
    );
    note(
      t.backend,
      'encrypts (release after each op): handovers',
      handovers(events),
      'sessions',
      new Set(events.map((e) => e.sessionId)).size,
      'commits',
      events.filter((e) => e.committed).length,
    );
    expect(events.length).toBe(120);
    expect(handovers(events), 'the two processes took turns').toBeGreaterThan(1);
  });

  it('interleaved encrypts with the default lease (each worker idles once): no (session, index) twice', async () => {
    const events = await encryptCase(
      '!encrypt-default:example.org',
      {},
      // An idle longer than the lease (500 ms) plus the longest retry backoff (1 s): the other worker, waiting
      // since the start, is sure to take the lease then, and to hand it back when it idles in turn.
      { count: 30, pauseMs: 2, idleAt: 10, idleMs: 1600 },
    );
    note(
      t.backend,
      'encrypts (default lease): handovers',
      handovers(events),
      'sessions',
      new Set(events.map((e) => e.sessionId)).size,
      'commits',
      events.filter((e) => e.committed).length,
    );
    expect(events.length).toBe(60);
    expect(handovers(events), 'the lease changed hands both ways mid-run').toBeGreaterThanOrEqual(2);
  });

  it('a process whose lease is taken mid-operation: stale commit refused, retried on fresh state, no index reused', async () => {
    const roomId = '!takeover:example.org';
    await reopen([
      // Blocks of 16 indices: A reaches its second reserving commit within its 40 messages.
      {
        options: { leaseDurationMs: 300, outboundIndexReservation: 16 },
        faults: { pauseBeforeCommit: { kind: 'outbound', nth: [2] } },
      },
      { options: { releaseLeaseAfterEachOperation: true, outboundIndexReservation: 16 } },
    ]);
    const [a, b] = workers as [DeviceChild, DeviceChild];
    const startA = a.events.length;
    const startB = b.events.length;
    const runB = b.call('encryptMany', { roomId, label: 'B', pauseMs: 3 });
    const runA = a.call('encryptMany', { roomId, label: 'A', count: 40, pauseMs: 2 });

    // 1. A is paused inside its second reserving commit (lease still held) until B took over and encrypted.
    const paused = await a.waitFor(
      (e): e is PausedEvent => e.event === 'paused' && a.events.indexOf(e) >= startA,
      20_000,
    );
    expect(paused.when).toBe('before');
    const bBefore = encryptedSince(b, startB).length;
    await b.waitFor(() => encryptedSince(b, startB).length > bBefore, 20_000);
    a.resume(paused.pause);

    // 2. Later A stalls for 2 s right after taking the lease (its clock busy-waits); B takes over meanwhile.
    await a.waitFor(() => encryptedSince(a, startA).length >= 25, 20_000);
    await a.call('armClockStall', { ms: 2000 });
    const armedAt = arrivalNow();
    const stalledIndex = a.events.length;
    await a.waitFor((e) => e.event === 'clock-stalled' && a.events.indexOf(e) >= stalledIndex, 20_000);
    const stallEnd = a.arrivals[a.events.findIndex((e, i) => i >= stalledIndex && e.event === 'clock-stalled')]!;
    await runA;
    await b.call('stopEncrypting');
    await runB;

    const eventsA = encryptedSince(a, startA);
    const eventsB = encryptedSince(b, startB);
    const stats = await a.call<WorkerStats>('stats');
    expect(stats.leaseLost, 'the paused commit was refused with STORE_LEASE_LOST').toBeGreaterThanOrEqual(1);
    expect(stats.stale.length).toBeGreaterThanOrEqual(1);
    expect(stats.clockStalls).toBe(1);
    // The stale attempt's index (the one its refused batch reserved from) is not among A's released indices.
    const releasedA = new Set(eventsA.map((e) => `${e.sessionId}:${e.messageIndex}`));
    for (const s of stats.stale) expect(releasedA.has(`${s.sessionId}:${s.nextIndex - 1}`)).toBe(false);
    // B encrypted during A's stall.
    const duringStall = b.events.filter(
      (e, i): e is EncryptedEvent => isEncrypted(e) && b.arrivals[i]! > armedAt && b.arrivals[i]! < stallEnd,
    );
    const stalledOp = encryptedSince(a, stalledIndex)[0];
    note(
      t.backend,
      `takeover: stale batches ${JSON.stringify(stats.stale)}; released A ${eventsA.length}, B ${eventsB.length};`,
      `B during the stall ${duringStall.length} (indices ${duringStall[0]?.messageIndex}..${duringStall.at(-1)?.messageIndex});`,
      `A's stalled op released index ${stalledOp?.messageIndex} (committed: ${stalledOp?.committed})`,
    );
    expect(duringStall.length, 'B took the lease and encrypted while A stalled').toBeGreaterThan(0);
    await checkEncrypted(t, shared, roomId, [...eventsA, ...eventsB]);
  });

  it('negative control: with the fence stripped from the paused commit, the same takeover does reuse an index', async () => {
    // Shows that the checks above can fail: a store that does not fence lets the stale batch land.
    const roomId = '!control:example.org';
    await reopen([
      {
        options: { leaseDurationMs: 300, outboundIndexReservation: 16 },
        faults: { pauseBeforeCommit: { kind: 'outbound', nth: [2] }, stripFence: true },
      },
      { options: { releaseLeaseAfterEachOperation: true, outboundIndexReservation: 16 } },
    ]);
    const [a, b] = workers as [DeviceChild, DeviceChild];
    const startA = a.events.length;
    const startB = b.events.length;
    const runB = b.call('encryptMany', { roomId, label: 'B', pauseMs: 3 });
    const runA = a.call('encryptMany', { roomId, label: 'A', count: 20, pauseMs: 2 });
    const paused = await a.waitFor(
      (e): e is PausedEvent => e.event === 'paused' && a.events.indexOf(e) >= startA,
      20_000,
    );
    const bBefore = encryptedSince(b, startB).length;
    await b.waitFor(() => encryptedSince(b, startB).length > bBefore, 20_000);
    a.resume(paused.pause);
    await runA;
    await b.call('stopEncrypting');
    await runB;
    const pairs = [...encryptedSince(a, startA), ...encryptedSince(b, startB)].map(
      (e) => `${e.sessionId}:${e.messageIndex}`,
    );
    expect(pairs.length - new Set(pairs).size, 'indices used twice without the fence').toBeGreaterThan(0);
    await reopen([{}, {}]);
  });

  it('two processes race to create one device and to generate one-time keys: one account, distinct key ids', async () => {
    await Promise.all(workers.map((w) => w.call('close')));
    const fresh: SharedDevice = {
      ...shared,
      scope: `@race:example.org|RACE|${t.backend}-${Date.now()}`,
      userId: '@race:example.org',
      deviceId: 'RACE',
    };
    const created = await Promise.allSettled(workers.map((w) => w.call('open', openArgs(t, fresh, { create: true }))));
    expect(created.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const loser = created.findIndex((r) => r.status === 'rejected');
    expect((created[loser] as PromiseRejectedResult).reason).toMatchObject({ code: 'STORE_EXISTS' });
    await workers[loser]!.call('open', openArgs(t, fresh));
    const identities = await Promise.all(workers.map((w) => w.call('identityKeys')));
    expect(identities[0]).toEqual(identities[1]);
    await Promise.all(workers.map((w) => w.call('generateOneTimeKeys', { count: 5 })));
    const offered = await Promise.all(workers.map((w) => w.call<UploadBody>('keysForUpload', {})));
    expect(offered[0]!.one_time_keys).toEqual(offered[1]!.one_time_keys);
    expect(Object.keys(offered[0]!.one_time_keys), 'both batches of keys, with distinct ids').toHaveLength(10);
  });
});
