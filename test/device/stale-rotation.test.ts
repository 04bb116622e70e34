// Regression: an encrypt that needs no commit (its index is inside the reserved block) was not
// fenced, so a process that stalled past its lease, or whose clock ran behind PostgreSQL's, could
// still send a message on a room session another process had rotated away. The Device now keeps
// the lease deadline on its own clock and refuses to release uncommitted output after it.
import { afterAll, describe, expect, inject, it } from 'vitest';
import { FakeKeyServer } from './child/common.js';
import { createDevice, DeviceChild, killWorkers, openArgs, type Target, targets } from './harness.js';

const all = targets('repro');
afterAll(async () => {
  await killWorkers();
  all.dispose();
});

type R = { sessionId: string; messageIndex: number; newRoomKey: boolean };

describe.each(all.list)('$backend', (t) => {
  it('a process stalled after taking the lease must not encrypt with a room session another process rotated away', async () => {
    const shared = await createDevice(t, `rot-${t.backend}`, new FakeKeyServer(), 1);
    const roomId = '!rotate:example.org';
    const a = await DeviceChild.start(openArgs(t, shared, { options: { leaseDurationMs: 300 } }));
    const b = await DeviceChild.start(openArgs(t, shared, { options: { releaseLeaseAfterEachOperation: true } }));
    const r0 = await a.call<R>('encryptRoomEvent', { roomId, body: 'a0' }); // index 0, reserves a block
    await a.call('encryptRoomEvent', { roomId, body: 'a1' });
    await a.call('armClockStall', { ms: 1500 }); // A's next operation stalls right after it took the lease
    let aDone = false;
    const stalled = a.call<R>('encryptRoomEvent', { roomId, body: 'a2' }).then((r) => {
      aDone = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 50));
    await b.call('rotateRoomKey', { roomId }); // a member left: the old session must never be used again
    const rb = await b.call<R>('encryptRoomEvent', { roomId, body: 'b0' });
    expect(aDone, 'inconclusive: A finished before B rotated').toBe(false);
    expect(rb.newRoomKey).toBe(true);
    const ra = await stalled;
    // Today: ra.sessionId === r0.sessionId, index 2, released after B's rotation committed.
    expect(ra.sessionId, 'A encrypted with the rotated-away session after the rotation committed').not.toBe(
      r0.sessionId,
    );
    await a.stop();
    await b.stop();
  });
});

// The same without any stall: on PostgreSQL the token's expiresAt is the server's clock, compared with the
// host's Date.now(); a host whose clock runs behind trusts an expired lease for as long as it is behind.
it('postgres: a host whose clock runs 3 s behind must not encrypt on a session another host rotated', async () => {
  const t: Target = { backend: 'postgres', target: inject('postgresUrl') };
  const shared = await createDevice(t, 'skew', new FakeKeyServer(), 1);
  const roomId = '!skew:example.org';
  const a = await DeviceChild.start(openArgs(t, shared, { clockSkewMs: 3000 }));
  const b = await DeviceChild.start(openArgs(t, shared, { options: { releaseLeaseAfterEachOperation: true } }));
  const r0 = await a.call<R>('encryptRoomEvent', { roomId, body: 'a0' });
  await b.call('rotateRoomKey', { roomId }); // B gets the lease once it lapsed on the server (~0.5 s)
  const rb = await b.call<R>('encryptRoomEvent', { roomId, body: 'b0' });
  expect(rb.newRoomKey).toBe(true);
  const ra = await a.call<R>('encryptRoomEvent', { roomId, body: 'a1' });
  // Today: ra.sessionId === r0.sessionId (index 1), no renewal, no commit, no fence.
  expect(ra.sessionId).not.toBe(r0.sessionId);
  await a.stop();
  await b.stop();
});
