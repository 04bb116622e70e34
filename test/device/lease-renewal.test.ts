/**
 * The Device renews its lease ahead, in the background (src/device/context.ts, `renewAhead`): with
 * less than three quarters of the lease left, an operation starts one renewal and does not wait for
 * it, so operations that keep coming never wait for the store's lease row; `close()` waits for a
 * renewal in flight before giving the lease back, so that the lease is not taken again after it.
 */
import { describe, expect, it } from 'vitest';
import { Device } from '../../src/device/index.js';
import type { LeaseToken } from '../../src/store/types.js';
import { DeviceClient, scopeOf } from '../support/device-client.js';
import { FaultHomeserver } from '../support/fault-homeserver.js';
import { FaultyStore } from '../support/faulty-store.js';

const ALICE = '@alice:example.org';
const ROOM = '!room:example.org';
// Long enough that a loaded machine's stalls stay well inside its quarters.
const LEASE_MS = 4000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Counts lease requests and can hold them until released. */
function watchLease(store: FaultyStore) {
  const inner = store.tryAcquireLease.bind(store);
  const state = { calls: 0, held: undefined as Promise<void> | undefined, release: () => {} };
  store.tryAcquireLease = async (holder: string, durationMs: number): Promise<LeaseToken | undefined> => {
    state.calls++;
    if (state.held !== undefined) await state.held;
    return inner(holder, durationMs);
  };
  return {
    get calls() {
      return state.calls;
    },
    hold() {
      state.held = new Promise<void>((resolve) => {
        state.release = () => {
          state.held = undefined;
          resolve();
        };
      });
    },
    release: () => state.release(),
  };
}

describe('lease renewal ahead of time', () => {
  it('an operation past a quarter of the lease starts a renewal and does not wait for it; the lease is then fresh for longer', async () => {
    const server = new FaultHomeserver();
    const alice = await DeviceClient.create(server, ALICE, 'ALICE', { device: { leaseDurationMs: LEASE_MS } });
    await alice.device.encryptRoomEvent(ROOM, 'm.room.message', { n: 0 });
    const lease = watchLease(alice.store);
    // Within the first quarter: nothing to renew.
    await alice.device.encryptRoomEvent(ROOM, 'm.room.message', { n: 1 });
    expect(lease.calls).toBe(0);
    await sleep(LEASE_MS * 0.3);
    lease.hold();
    // Past a quarter (not yet half): the renewal starts and is held at the store, the message is not.
    const sent = await alice.device.encryptRoomEvent(ROOM, 'm.room.message', { n: 2 });
    expect(sent.messageIndex).toBe(2);
    expect(lease.calls).toBe(1);
    // Only one renewal at a time.
    await alice.device.encryptRoomEvent(ROOM, 'm.room.message', { n: 3 });
    expect(lease.calls).toBe(1);
    lease.release();
    await sleep(10);
    // Renewed: at 0.3 + 0.3 of the first lease (past its half) the lease is still fresh, no foreground renewal.
    await sleep(LEASE_MS * 0.3);
    const before = lease.calls;
    lease.hold();
    const late = alice.device.encryptRoomEvent(ROOM, 'm.room.message', { n: 4 });
    const done = await Promise.race([late.then(() => 'sent'), sleep(1000).then(() => 'waiting')]);
    expect(done, 'the message waited for the lease').toBe('sent');
    expect(lease.calls).toBe(before + 1);
    lease.release();
    await alice.device.close();
  });

  it('close() waits for a renewal in flight, then gives the lease back: another process takes it at once', async () => {
    const server = new FaultHomeserver();
    const alice = await DeviceClient.create(server, ALICE, 'ALICE', { device: { leaseDurationMs: LEASE_MS } });
    await alice.device.encryptRoomEvent(ROOM, 'm.room.message', { n: 0 });
    const lease = watchLease(alice.store);
    await sleep(LEASE_MS * 0.3);
    lease.hold();
    await alice.device.encryptRoomEvent(ROOM, 'm.room.message', { n: 1 });
    expect(lease.calls).toBe(1);
    let closed = false;
    const closing = alice.device.close().then(() => {
      closed = true;
    });
    await sleep(200);
    expect(closed, 'close() gave the lease back while a renewal was on its way').toBe(false);
    lease.release();
    await closing;
    // Had the renewal landed after the release, the lease would be taken again for LEASE_MS.
    const other = await Device.open(new FaultyStore(alice.database.open(scopeOf(ALICE, 'ALICE'))), {
      userId: ALICE,
      deviceId: 'ALICE',
      pickleKey: alice.pickleKey,
      leaseTimeoutMs: 0,
    });
    await other.close();
  });
});
