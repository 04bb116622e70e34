/**
 * Whole batches: `receiveSyncChanges` (one /sync: to-device events, key counts, device lists) and
 * `decryptRoomEvents` (a page of room events), each with one store commit. The central property: a
 * batch gives exactly the results the same events give one by one, on a clone of the same device
 * (the clone replays the original's commit log into a fresh database), and leaves the device in the
 * same state (both go on to decrypt the same later messages).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type {
  DecryptedRoomEvent,
  DecryptedToDeviceEvent,
  EncryptedRoomEvent,
  EncryptedToDeviceEvent,
  EventResult,
  ReceivedToDeviceEvent,
} from '../../src/device/index.js';
import { Device } from '../../src/device/index.js';
import { TriturusError } from '../../src/index.js';
import { MemoryDatabase } from '../../src/store/memory.js';
import { codeOf, DeviceClient, scopeOf } from '../support/device-client.js';
import { FaultHomeserver } from '../support/fault-homeserver.js';
import { FaultyStore } from '../support/faulty-store.js';

const ALICE = '@alice:example.org';
const BOB = '@bob:example.org';
const CAROL = '@carol:example.org';
const ROOM = '!room:example.org';
const OTHER_ROOM = '!other:example.org';

async function world() {
  const server = new FaultHomeserver();
  const alice = await DeviceClient.create(server, ALICE, 'ALICEDEV');
  const bob = await DeviceClient.create(server, BOB, 'BOBDEV');
  const carol = await DeviceClient.create(server, CAROL, 'CAROLDEV');
  for (const c of [alice, bob, carol]) await c.publish({ oneTimeKeys: 20 });
  const [bobInfo] = await alice.track(BOB);
  const [carolBob] = await carol.track(BOB);
  await bob.track(ALICE, CAROL);
  return { server, alice, bob, carol, bobInfo: bobInfo!, carolBob: carolBob! };
}

/** A second Device with the same state: the original's commits replayed into a fresh database. */
async function clone(client: DeviceClient): Promise<{ device: Device; store: FaultyStore }> {
  const database = new MemoryDatabase();
  const store = new FaultyStore(database.open(scopeOf(client.userId, client.deviceId)));
  for (const changes of client.store.commits) await store.commit(changes);
  store.commits.length = 0;
  const device = await Device.open(store, {
    userId: client.userId,
    deviceId: client.deviceId,
    pickleKey: client.pickleKey,
  });
  return { device, store };
}

const toDeviceView = (d: DecryptedToDeviceEvent) => ({
  type: d.type,
  content: d.content,
  sender: d.sender,
  senderKey: d.senderKey.toBase64(),
  claimed: d.senderClaimedEd25519.toBase64(),
  device: d.senderDevice?.deviceId,
  roomKey: d.roomKey,
});

const roomView = (d: DecryptedRoomEvent) => ({
  event: d.event,
  senderKey: d.senderKey.toBase64(),
  claimed: d.senderClaimedEd25519?.toBase64(),
  sessionId: d.sessionId,
  messageIndex: d.messageIndex,
  verified: d.verified,
  chain: d.forwardingCurve25519KeyChain.map((k) => k.toBase64()),
});

function outcomeView<T, V>(
  result: EventResult<T>,
  view: (value: T) => V,
): { ok: true; value: V } | { ok: false; code: string } {
  return result.ok ? { ok: true, value: view(result.value) } : { ok: false, code: result.error.code };
}

async function single<T>(work: () => Promise<T>): Promise<EventResult<T>> {
  try {
    return { ok: true, value: await work() };
  } catch (error) {
    if (!(error instanceof TriturusError)) throw error;
    return { ok: false, error };
  }
}

function encryptedOnly(result: EventResult<ReceivedToDeviceEvent>): EventResult<DecryptedToDeviceEvent> {
  if (!result.ok) return result;
  if (result.value.kind !== 'olm') throw new Error('expected an encrypted event');
  return { ok: true, value: result.value.event };
}

/** Spoils one event: a flipped byte in our ciphertext body (MAC failure), or another field. */
function spoil(event: EncryptedToDeviceEvent, how: number, bobKey: string): EncryptedToDeviceEvent {
  const copy = structuredClone(event) as { type: string; sender: string; content: Record<string, unknown> };
  const ciphertext = copy.content.ciphertext as Record<string, { type: number; body: string }>;
  const ours = ciphertext[bobKey]!;
  if (how === 0) {
    const i = Math.min(10, ours.body.length - 1);
    ours.body = ours.body.slice(0, i) + (ours.body[i] === 'A' ? 'B' : 'A') + ours.body.slice(i + 1);
  } else if (how === 1) copy.sender = '@mallory:example.org';
  else copy.content.algorithm = 'm.unknown';
  return copy as EncryptedToDeviceEvent;
}

describe('receiveSyncChanges', () => {
  it('one commit for a whole sync: events in order with one result each, key counts, device lists', async () => {
    const { server, alice, bob, bobInfo } = await world();
    await alice.sendToDevice(bobInfo, 'org.example.chat', { n: 1 }); // pre-key: a new session, a key used
    await alice.shareRoomKey(ROOM, [bobInfo]); // m.room_key on the same session
    const events = bob.sync();
    expect(events).toHaveLength(2);
    const garbage = { type: 'm.room.encrypted', sender: ALICE, content: { algorithm: 'm.olm.v1.curve25519-aes-sha2' } };
    const plaintext = { type: 'm.key.verification.request', sender: ALICE, content: { from_device: 'ALICEDEV' } };
    const unencryptedKey = { type: 'm.room_key', sender: ALICE, content: { room_id: ROOM } };
    const before = bob.store.commits.length;
    const result = await bob.device.receiveSyncChanges({
      toDeviceEvents: [events[0]!, garbage as never, events[1]!, plaintext, unencryptedKey],
      oneTimeKeyCounts: { signed_curve25519: 3 },
      unusedFallbackKeyTypes: ['signed_curve25519'],
      changedDevices: { changed: [ALICE, CAROL], left: [] },
    });
    expect(bob.store.commits.length - before).toBe(1);
    const [first, second, third, fourth, fifth] = result.toDevice;
    expect(first?.ok && first.value.kind === 'olm' && first.value.event.content).toEqual({ n: 1 });
    expect(second?.ok === false && second.error.code).toBe('EVENT_INVALID');
    expect(third?.ok && third.value.kind === 'olm' && third.value.event.roomKey).toMatchObject({
      roomId: ROOM,
      isNew: true,
    });
    expect(fourth).toEqual({ ok: true, value: { kind: 'plaintext', encrypted: false, event: plaintext } });
    expect(fifth?.ok === false && fifth.error.code).toBe('EVENT_NOT_ENCRYPTED');
    // 3 on the server, under half of 50: topped up (keys to upload), in the same commit.
    expect(result.keysToUpload).toBe(true);
    expect(Object.keys((await bob.device.keysForUpload()).one_time_keys)).toHaveLength(47);
    expect(result.usersToQuery).toEqual([ALICE, CAROL]);
    // The room key works: Alice's room message opens.
    const { event } = await alice.post(ROOM, { body: 'hi' });
    expect((await bob.device.decryptRoomEvent(event)).event.content).toEqual({ body: 'hi' });
    // Device lists: users stay to query until tracked; users who left are dropped.
    const later = await bob.device.receiveSyncChanges({ changedDevices: { changed: [], left: [CAROL] } });
    expect(later.usersToQuery).toEqual([ALICE]);
    await bob.track(ALICE);
    expect(await bob.device.usersToQuery()).toEqual([]);
    server.releaseDelayed();
  });

  it('a sync that reports only fallback-key information leaves the one-time keys alone', async () => {
    const { bob } = await world();
    const upload = async () => await bob.device.keysForUpload();
    expect(await upload()).toEqual({ one_time_keys: {}, fallback_keys: {} });
    const only = await bob.device.receiveSyncChanges({ unusedFallbackKeyTypes: [] });
    expect(only.keysToUpload).toBe(true);
    const body = await upload();
    expect(Object.keys(body.one_time_keys)).toEqual([]); // no count reported: no top-up
    expect(Object.keys(body.fallback_keys)).toHaveLength(1); // the used fallback key is replaced
    // The one-argument form too: updateKeyCounts(undefined, types).
    await bob.device.markKeysAsPublished();
    expect(await bob.device.updateKeyCounts(undefined, ['signed_curve25519'])).toBe(false);
    expect(await upload()).toEqual({ one_time_keys: {}, fallback_keys: {} });
    // A count map without signed_curve25519: none left on the server.
    await bob.device.receiveSyncChanges({ oneTimeKeyCounts: {} });
    expect(Object.keys((await upload()).one_time_keys)).toHaveLength(50);
  });

  it('bad arguments are INVALID_ARGUMENT and commit nothing; a store failure fails the whole sync', async () => {
    const { alice, bob, bobInfo } = await world();
    const before = bob.store.commits.length;
    for (const bad of [
      null,
      5,
      { toDeviceEvents: 'x' },
      { oneTimeKeyCounts: [] },
      { oneTimeKeyCounts: { signed_curve25519: -1 } },
      { unusedFallbackKeyTypes: [1] },
      { changedDevices: { changed: [5] } },
    ]) {
      expect(await codeOf(bob.device.receiveSyncChanges(bad as never))).toBe('INVALID_ARGUMENT');
    }
    expect(bob.store.commits.length).toBe(before);
    await alice.sendToDevice(bobInfo, 'org.example.chat', { n: 1 });
    const events = bob.sync();
    bob.store.failNextCommit('fail-before');
    expect(await codeOf(bob.device.receiveSyncChanges({ toDeviceEvents: events }))).toBe('STORE_IO');
    // Nothing was kept: the same sync again decrypts the same event.
    const again = await bob.device.receiveSyncChanges({ toDeviceEvents: events });
    expect(
      again.toDevice[0]?.ok && again.toDevice[0].value.kind === 'olm' && again.toDevice[0].value.event.content,
    ).toEqual({
      n: 1,
    });
  });

  it('property: a sync batch gives the results of the same events one by one, and the same state after', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            from: fc.constantFrom('alice', 'carol'),
            kind: fc.constantFrom('chat', 'room_key', 'chat'),
            spoil: fc.option(fc.integer({ min: 0, max: 2 }), { freq: 4 }),
            duplicate: fc.boolean(),
          }),
          { minLength: 1, maxLength: 8 },
        ),
        fc.array(fc.nat(), { minLength: 12, maxLength: 12 }),
        async (plan, order) => {
          const { alice, bob, carol, bobInfo, carolBob } = await world();
          const twin = await clone(bob);
          const bobKey = bobInfo.curve25519Key.toBase64();
          const events: EncryptedToDeviceEvent[] = [];
          for (const [i, step] of plan.entries()) {
            const sender = step.from === 'alice' ? alice : carol;
            const to = step.from === 'alice' ? bobInfo : carolBob;
            if (step.kind === 'room_key') await sender.shareRoomKey(`${ROOM}${i}`, [to]);
            else await sender.sendToDevice(to, 'org.example.chat', { i });
            for (const event of bob.sync()) {
              events.push(step.spoil === null ? event : spoil(event, step.spoil, bobKey));
              if (step.duplicate) events.push(event);
            }
          }
          // A deterministic shuffle from `order`.
          for (let i = events.length - 1; i > 0; i--) {
            const j = order[i % order.length]! % (i + 1);
            [events[i], events[j]] = [events[j]!, events[i]!];
          }
          const singles: EventResult<DecryptedToDeviceEvent>[] = [];
          for (const event of events) singles.push(await single(() => bob.device.decryptToDevice(event)));
          const commitsBefore = twin.store.commits.length;
          const batch = await twin.device.receiveSyncChanges({ toDeviceEvents: events });
          expect(twin.store.commits.length - commitsBefore).toBeLessThanOrEqual(1);
          expect(batch.toDevice.map((r) => outcomeView(encryptedOnly(r), toDeviceView))).toEqual(
            singles.map((r) => outcomeView(r, toDeviceView)),
          );
          // The same state: the next messages from both senders open alike on both.
          await alice.sendToDevice(bobInfo, 'org.example.chat', { last: 'alice' });
          await carol.sendToDevice(carolBob, 'org.example.chat', { last: 'carol' });
          const next = bob.sync();
          for (const event of next) {
            const a = await single(() => bob.device.decryptToDevice(event));
            const b = await single(() => twin.device.decryptToDevice(event));
            expect(outcomeView(b, toDeviceView)).toEqual(outcomeView(a, toDeviceView));
            expect(a.ok).toBe(true);
          }
          await twin.device.close();
        },
      ),
      { numRuns: 15 },
    );
  });
});

describe('decryptRoomEvents', () => {
  it('property: a batch gives the results of the same events one by one (replays inside the batch too), one commit', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            room: fc.constantFrom(ROOM, ROOM, OTHER_ROOM),
            repeat: fc.constantFrom('none', 'same', 'other-id'),
            shared: fc.boolean(),
          }),
          { minLength: 1, maxLength: 10 },
        ),
        async (plan) => {
          const { alice, bob, bobInfo } = await world();
          const events: EncryptedRoomEvent[] = [];
          for (const [i, step] of plan.entries()) {
            if (step.shared) await alice.shareRoomKey(step.room, [bobInfo]);
            const { event } = await alice.post(step.room, { i });
            events.push(event);
            if (step.repeat === 'same') events.push(event);
            if (step.repeat === 'other-id') events.push({ ...event, event_id: `${event.event_id}-forged` });
          }
          await bob.receive();
          const twin = await clone(bob);
          const singles: EventResult<DecryptedRoomEvent>[] = [];
          for (const event of events) singles.push(await single(() => bob.device.decryptRoomEvent(event)));
          const before = twin.store.commits.length;
          const batch = await twin.device.decryptRoomEvents(events);
          expect(twin.store.commits.length - before).toBeLessThanOrEqual(1);
          expect(batch.map((r) => outcomeView(r, roomView))).toEqual(singles.map((r) => outcomeView(r, roomView)));
          // The replay records were kept alike: a forged copy of every event is refused on both
          // (or fails alike when it never decrypted).
          for (const event of events) {
            const forged = { ...event, event_id: `${event.event_id}-later` };
            const a = await single(() => bob.device.decryptRoomEvent(forged));
            const b = await single(() => twin.device.decryptRoomEvent(forged));
            expect(outcomeView(b, roomView)).toEqual(outcomeView(a, roomView));
          }
          await twin.device.close();
        },
      ),
      { numRuns: 20 },
    );
  });

  it('malformed entries fail alone; a missing key is requested once for the whole batch', async () => {
    const { alice, bob, bobInfo } = await world();
    await alice.shareRoomKey(ROOM, [bobInfo]);
    await bob.receive();
    const { event } = await alice.post(ROOM, { n: 1 });
    await alice.device.rotateRoomKey(ROOM);
    const unknown1 = (await alice.post(ROOM, { n: 2 })).event; // a session Bob never got
    const unknown2 = (await alice.post(ROOM, { n: 3 })).event;
    const results = await bob.device.decryptRoomEvents([
      null as never,
      event,
      unknown1,
      { nonsense: 1 } as never,
      unknown2,
    ]);
    expect(results.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual([
      'EVENT_INVALID',
      'ok',
      'ROOM_KEY_UNKNOWN',
      'EVENT_INVALID',
      'ROOM_KEY_UNKNOWN',
    ]);
    const out = await bob.device.outgoingToDevice();
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({
      type: 'm.room_key_request',
      messages: {
        [BOB]: {
          '*': {
            action: 'request',
            requesting_device_id: 'BOBDEV',
            body: { room_id: ROOM, session_id: unknown1.content.session_id },
          },
        },
      },
    });
    expect(await codeOf(bob.device.decryptRoomEvents('x' as never))).toBe('INVALID_ARGUMENT');
  });
});
