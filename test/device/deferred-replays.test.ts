/**
 * Deferred replay records (DeviceOptions.deferReplayRecords, on by default; src/device/context.ts):
 * a room event's decryption returns before its replay record is committed, the Device refuses a
 * replay at once from what it holds, a background flush commits the records of many events together,
 * a failed flush keeps them for the next commit, `close()` commits what is left, and past a bound an
 * operation waits for the commit again, so a store that keeps failing is not hidden for long.
 */
import { describe, expect, it } from 'vitest';
import { Device, type EncryptedRoomEvent } from '../../src/device/index.js';
import { StoreError } from '../../src/errors.js';
import type { StoreChanges } from '../../src/store/types.js';
import { codeOf, DeviceClient, scopeOf } from '../support/device-client.js';
import { FaultHomeserver } from '../support/fault-homeserver.js';
import { FaultyStore } from '../support/faulty-store.js';

const ALICE = '@alice:example.org';
const BOB = '@bob:example.org';
const ROOM = '!room:example.org';

async function pair(bobOptions: Parameters<typeof DeviceClient.create>[3] = {}) {
  const server = new FaultHomeserver();
  const alice = await DeviceClient.create(server, ALICE, 'ALICE', { device: { rotationPeriodMsgs: 1_000_000 } });
  const bob = await DeviceClient.create(server, BOB, 'BOB', bobOptions);
  for (const c of [alice, bob]) await c.publish();
  const [bobInfo] = await alice.track(BOB);
  await bob.track(ALICE);
  await alice.shareRoomKey(ROOM, [bobInfo!]);
  for (const got of await bob.receive()) expect(got.error).toBeUndefined();
  return { alice, bob };
}

async function posts(alice: DeviceClient, count: number): Promise<EncryptedRoomEvent[]> {
  const events: EncryptedRoomEvent[] = [];
  for (let i = 0; i < count; i++) events.push((await alice.post(ROOM, { i })).event);
  return events;
}

/** Holds the store's commits until `open()`; counts those that carry replay records. */
function gate(store: FaultyStore) {
  const inner = store.commit.bind(store);
  let release: () => void = () => undefined;
  let held: Promise<void> | undefined;
  const carried: StoreChanges[] = [];
  store.commit = async (changes, options) => {
    if (changes.replays !== undefined) carried.push(changes);
    if (held !== undefined) await held;
    return inner(changes, options);
  };
  return {
    carried,
    close() {
      held = new Promise<void>((resolve) => {
        release = resolve;
      });
    },
    open() {
      held = undefined;
      release();
    },
  };
}

/** Waits until `check` holds (the background flush runs on its own schedule), at most ~2 s. */
async function eventually(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('the condition never held');
}

const stored = async (bob: DeviceClient, event: EncryptedRoomEvent, index: number) =>
  (await bob.store.loadReplay((event.content as { session_id: string }).session_id, index))?.eventId;

describe('deferred replay records', () => {
  it('a decryption returns while its record waits for the store; a replay is refused at once; the record lands', async () => {
    const { alice, bob } = await pair();
    const [event] = await posts(alice, 1);
    const g = gate(bob.store);
    g.close();
    expect((await bob.device.decryptRoomEvent(event!)).event.content).toEqual({ i: 0 });
    expect(await stored(bob, event!, 0)).toBeUndefined();
    // Another event at the same index, before anything is in the store: refused from memory.
    expect(await codeOf(bob.device.decryptRoomEvent({ ...event!, event_id: '$replayed' }))).toBe('EVENT_REPLAYED');
    // The same event again is no replay.
    expect((await bob.device.decryptRoomEvent(event!)).event.content).toEqual({ i: 0 });
    g.open();
    await eventually(async () => (await stored(bob, event!, 0)) === event!.event_id);
  });

  it('the records of events decrypted while a commit is on its way travel together in the next one', async () => {
    const { alice, bob } = await pair();
    const events = await posts(alice, 21);
    const g = gate(bob.store);
    g.close();
    for (const [i, event] of events.entries()) {
      expect((await bob.device.decryptRoomEvent(event)).event.content).toEqual({ i });
    }
    // The first event's flush is held at the store; the other 20 wait for it.
    expect(g.carried.length).toBe(1);
    g.open();
    await eventually(async () => (await stored(bob, events[20]!, 20)) === events[20]!.event_id);
    expect(g.carried.length).toBe(2);
    expect(g.carried[1]!.replays!.map((r) => r.messageIndex)).toEqual(events.slice(1).map((_, i) => i + 1));
    for (const [i, event] of events.entries()) expect(await stored(bob, event, i)).toBe(event.event_id);
  });

  it('with deferReplayRecords: false, and with the lease released after each operation, each event waits for its commit', async () => {
    for (const device of [{ deferReplayRecords: false }, { releaseLeaseAfterEachOperation: true }]) {
      const { alice, bob } = await pair({ device });
      const [event] = await posts(alice, 1);
      const g = gate(bob.store);
      g.close();
      let done = false;
      const decrypting = bob.device.decryptRoomEvent(event!).then(() => {
        done = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(done, JSON.stringify(device)).toBe(false);
      g.open();
      await decrypting;
      expect(await stored(bob, event!, 0)).toBe(event!.event_id);
    }
  });

  it('a failed flush keeps its records: replays stay refused (even after a failed event dropped the caches), the next commit carries them', async () => {
    // No key requests: the failed event below then commits nothing.
    const { alice, bob } = await pair({ device: { requestMissingRoomKeys: false } });
    const events = await posts(alice, 3);
    bob.store.failNextCommit('fail-before', (c) => c.replays !== undefined);
    expect((await bob.device.decryptRoomEvent(events[0]!)).event.content).toEqual({ i: 0 });
    await eventually(async () => bob.store.pendingFaults === 0);
    expect(await stored(bob, events[0]!, 0)).toBeUndefined();
    // A failed operation drops every cache; the pending record still counts.
    const unknown = { ...events[1]!, content: { ...events[1]!.content, session_id: 'unknown' } };
    expect(await codeOf(bob.device.decryptRoomEvent(unknown))).toBe('ROOM_KEY_UNKNOWN');
    expect(await stored(bob, events[0]!, 0)).toBeUndefined();
    expect(await codeOf(bob.device.decryptRoomEvent({ ...events[0]!, event_id: '$replayed' }))).toBe('EVENT_REPLAYED');
    expect((await bob.device.decryptRoomEvent(events[1]!)).event.content).toEqual({ i: 1 });
    await eventually(async () => (await stored(bob, events[1]!, 1)) === events[1]!.event_id);
    expect(await stored(bob, events[0]!, 0)).toBe(events[0]!.event_id);
  });

  it('close() commits what is pending, and a reopened device refuses the replay from the store', async () => {
    const { alice, bob } = await pair();
    const [event] = await posts(alice, 1);
    bob.store.failNextCommit('fail-before', (c) => c.replays !== undefined);
    await bob.device.decryptRoomEvent(event!);
    await eventually(async () => bob.store.pendingFaults === 0);
    expect(await stored(bob, event!, 0)).toBeUndefined();
    await bob.reopen();
    expect(await stored(bob, event!, 0)).toBe(event!.event_id);
    expect(await codeOf(bob.device.decryptRoomEvent({ ...event!, event_id: '$replayed' }))).toBe('EVENT_REPLAYED');
  });

  it('a store that keeps failing: past 512 pending records an event waits for the commit and fails with it, leaving nothing', async () => {
    const { alice, bob } = await pair();
    const events = await posts(alice, 514);
    const failing = bob.store.commit.bind(bob.store);
    let broken = true;
    bob.store.commit = async (changes, options) => {
      if (broken && changes.replays !== undefined) throw new StoreError('STORE_IO', 'down');
      return failing(changes, options);
    };
    for (let i = 0; i < 512; i++) expect((await bob.device.decryptRoomEvent(events[i]!)).event.content).toEqual({ i });
    expect(await codeOf(bob.device.decryptRoomEvent(events[512]!))).toBe('STORE_IO');
    broken = false;
    // Event 512 left nothing behind: another event at its index is not a replay of it.
    const other = { ...events[512]!, event_id: '$first-to-open' };
    expect((await bob.device.decryptRoomEvent(other)).event.content).toEqual({ i: 512 });
    await eventually(async () => (await stored(bob, events[0]!, 512)) === '$first-to-open');
    for (const i of [0, 255, 511]) expect(await stored(bob, events[i]!, i)).toBe(events[i]!.event_id);
  });

  it('odd timestamps (fractional, negative, past 2^53, absent) are recorded as 0 and do not block later commits', async () => {
    const { alice, bob } = await pair();
    const events = await posts(alice, 5);
    const odd = [1.5, -1, 2 ** 60, undefined];
    for (const [i, ts] of odd.entries()) {
      const event = { ...events[i]!, origin_server_ts: ts } as EncryptedRoomEvent;
      expect((await bob.device.decryptRoomEvent(event)).event.content).toEqual({ i });
      // The same event (same odd timestamp) again is no replay.
      expect((await bob.device.decryptRoomEvent(event)).event.content).toEqual({ i });
    }
    expect((await bob.device.decryptRoomEvent(events[4]!)).event.content).toEqual({ i: 4 });
    await eventually(async () => (await stored(bob, events[4]!, 4)) === events[4]!.event_id);
    const session = (events[0]!.content as { session_id: string }).session_id;
    for (let i = 0; i < 4; i++) expect((await bob.store.loadReplay(session, i))?.originServerTs).toBe(0);
  });

  it('a deferred record is seen by another process after the lease changes hands', async () => {
    const { alice, bob } = await pair();
    const [event] = await posts(alice, 1);
    await bob.device.decryptRoomEvent(event!);
    await bob.device.close();
    const otherStore = new FaultyStore(bob.database.open(scopeOf(BOB, 'BOB')));
    const other = await Device.open(otherStore, { userId: BOB, deviceId: 'BOB', pickleKey: bob.pickleKey });
    expect(await codeOf(other.decryptRoomEvent({ ...event!, event_id: '$replayed' }))).toBe('EVENT_REPLAYED');
    await other.close();
  });
});
