/**
 * The Device's replay cache (src/device/context.ts): under its lease, the replay records of a session are read
 * a window of indices at a time, so room events decrypted in order cost one store read per window; and what it
 * knows is dropped when the lease changes hands, so another process's record is never missed.
 */
import { describe, expect, it, vi } from 'vitest';
import { Device } from '../../src/device/index.js';
import { codeOf, DeviceClient, scopeOf } from '../support/device-client.js';
import { FaultHomeserver } from '../support/fault-homeserver.js';
import { FaultyStore } from '../support/faulty-store.js';

const ALICE = '@alice:example.org';
const BOB = '@bob:example.org';
const ROOM = '!room:example.org';

async function pair(bobOptions: Parameters<typeof DeviceClient.create>[3] = {}) {
  const server = new FaultHomeserver();
  const alice = await DeviceClient.create(server, ALICE, 'ALICE');
  const bob = await DeviceClient.create(server, BOB, 'BOB', bobOptions);
  for (const c of [alice, bob]) await c.publish();
  const [bobInfo] = await alice.track(BOB);
  await bob.track(ALICE);
  await alice.shareRoomKey(ROOM, [bobInfo!]);
  for (const got of await bob.receive()) expect(got.error).toBeUndefined();
  return { alice, bob };
}

describe('the replay cache', () => {
  it('events in order: one store read per 64 indices, the next window read ahead (90 events: 0, 64, 128), none per event', async () => {
    const { alice, bob } = await pair();
    const events = [];
    for (let i = 0; i < 90; i++) events.push((await alice.post(ROOM, { i })).event);
    const window = vi.spyOn(bob.store, 'loadReplays');
    const single = vi.spyOn(bob.store, 'loadReplay');
    for (const [i, event] of events.entries()) {
      expect((await bob.device.decryptRoomEvent(event)).event.content).toEqual({ i });
    }
    expect(single).not.toHaveBeenCalled();
    // The first window when event 0 missed; each next one as the events reached the last one read.
    expect(window.mock.calls.map((c) => c[0][0]!.messageIndex)).toEqual([0, 64, 128]);
    expect(window.mock.calls.every((c) => c[0].length === 64)).toBe(true);
    // A replay of one of them (another event id at a used index) is still refused, from the cache.
    const replayed = { ...events[70]!, event_id: '$another' };
    expect(await codeOf(bob.device.decryptRoomEvent(replayed))).toBe('EVENT_REPLAYED');
    expect(window.mock.calls.length).toBe(3);
  });

  it('a record written by another process while it held the lease is seen after the lease comes back', async () => {
    const { alice, bob } = await pair({ device: { releaseLeaseAfterEachOperation: true } });
    const events: Awaited<ReturnType<typeof alice.post>>['event'][] = [];
    for (let i = 0; i < 4; i++) events.push((await alice.post(ROOM, { i })).event);
    // Bob reads index 0 (and learns that 1..63 are absent), then another process of his takes the lease.
    await bob.device.decryptRoomEvent(events[0]!);
    const otherStore = new FaultyStore(bob.database.open(scopeOf(BOB, 'BOB')));
    const other = await Device.open(otherStore, {
      userId: BOB,
      deviceId: 'BOB',
      pickleKey: bob.pickleKey,
      releaseLeaseAfterEachOperation: true,
    });
    await other.decryptRoomEvent(events[1]!);
    await other.close();
    // The same ciphertext under another event id: a replay, although Bob's cache once said index 1 was free.
    expect(await codeOf(bob.device.decryptRoomEvent({ ...events[1]!, event_id: '$replayed' }))).toBe('EVENT_REPLAYED');
    expect((await bob.device.decryptRoomEvent(events[1]!)).event.content).toEqual({ i: 1 });
  });
});
