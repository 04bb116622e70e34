/**
 * What the Device sends on its own, between store-backed Devices over the fake homeserver:
 * - session repair: a normal message no session opens (the receiver lost its session) makes the
 *   receiver claim a key, start a new session and send an m.dummy over it; the sender's next
 *   message then opens; at most once per device per hour;
 * - room key requests: a missing key is requested from the user's other devices (once per
 *   session), answered only for trusted own devices (after making an Olm session when there is
 *   none), accepted only when asked for and from a trusted device, unverified, with its forwarding
 *   chain, never replacing a key that came over Olm; the request is cancelled once the key is in.
 */
import { describe, expect, it } from 'vitest';
import type { DeviceInfo, OutgoingToDevice } from '../../src/device/index.js';
import { Device } from '../../src/device/index.js';
import { MemoryDatabase } from '../../src/store/memory.js';
import { codeOf, DeviceClient, scopeOf } from '../support/device-client.js';
import { FaultHomeserver } from '../support/fault-homeserver.js';
import { FaultyStore } from '../support/faulty-store.js';

const ALICE = '@alice:example.org';
const BOB = '@bob:example.org';
const ROOM = '!room:example.org';

/** Sends the outbox through the server as /sendToDevice would, then marks it sent. */
async function flush(client: DeviceClient): Promise<OutgoingToDevice[]> {
  const out = await client.device.outgoingToDevice();
  for (const message of out) {
    client.server.sendToDevice(client.userId, message.type, {
      messages: message.messages as Record<string, Record<string, Record<string, unknown>>>,
    });
  }
  await client.device.markSent(out.map((m) => m.id));
  expect(await client.device.outgoingToDevice()).toEqual([]);
  return out;
}

/** Claims one-time keys for what `missingSessions()` lists, and makes the sessions. */
async function makeMissingSessions(client: DeviceClient): Promise<DeviceInfo[]> {
  const wanted = await client.device.missingSessions();
  const keys = new Map(wanted.map((d) => [d.curve25519Key.toBase64(), client.claim(d)]));
  return client.device.createSessions(keys);
}

describe('session repair', () => {
  it('a receiver that lost its session repairs it: new session, m.dummy, and the next message opens', async () => {
    let clock = 1_000_000_000;
    const now = () => clock;
    const server = new FaultHomeserver();
    const alice = await DeviceClient.create(server, ALICE, 'ALICEDEV', { device: { now } });
    const bob = await DeviceClient.create(server, BOB, 'BOBDEV', { device: { now } });
    await alice.publish({ oneTimeKeys: 10 });
    await bob.publish({ oneTimeKeys: 10 });
    const [bobInfo] = await alice.track(BOB);
    const [aliceInfo] = await bob.track(ALICE);
    // Bob's state before any session: a backup he will later be restored from.
    const backup = [...bob.store.commits];
    await alice.sendToDevice(bobInfo!, 'org.example.chat', { n: 1 });
    expect((await bob.receive())[0]?.result?.content).toEqual({ n: 1 });
    await bob.sendToDevice(aliceInfo!, 'org.example.chat', { n: 2 });
    await alice.receive();
    // Bob is restored from the backup: the session is gone. Alice's normal messages cannot open.
    await bob.device.close();
    const database = new MemoryDatabase();
    const store = new FaultyStore(database.open(scopeOf(BOB, 'BOBDEV')));
    for (const c of backup) await store.commit(c);
    bob.store = store;
    bob.device = await Device.open(store, { userId: BOB, deviceId: 'BOBDEV', pickleKey: bob.pickleKey, now });
    const normal = await alice.sendToDevice(bobInfo!, 'org.example.chat', { n: 3 });
    expect(normal.type).toBe(1);
    const sync = await bob.device.receiveSyncChanges({ toDeviceEvents: bob.sync() });
    expect(sync.toDevice.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual(['NO_OLM_SESSION']);
    expect((await bob.device.missingSessions()).map((d) => d.deviceId)).toEqual(['ALICEDEV']);
    expect((await makeMissingSessions(bob)).map((d) => d.deviceId)).toEqual(['ALICEDEV']);
    expect(await bob.device.missingSessions()).toEqual([]);
    const sent = await flush(bob);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.type).toBe('m.room.encrypted');
    // Alice gets the m.dummy (a pre-key message: a new session), and answers on it.
    const got = await alice.receive();
    expect(got.map((r) => r.result?.type)).toEqual(['m.dummy']);
    await alice.sendToDevice(bobInfo!, 'org.example.chat', { n: 4 });
    expect((await bob.receive())[0]?.result?.content).toEqual({ n: 4 });
    // Broken again within the hour: no second repair. After the hour: repaired again.
    await bob.device.close();
    const database2 = new MemoryDatabase();
    const store2 = new FaultyStore(database2.open(scopeOf(BOB, 'BOBDEV')));
    // The backup again, plus only the repair notes (not the repaired session).
    const notes = store.commits.flatMap((c) => (c.values ?? []).filter((v) => v.key === 'device.session-repair'));
    for (const c of [...backup, { values: notes }]) await store2.commit(c);
    bob.store = store2;
    bob.device = await Device.open(store2, { userId: BOB, deviceId: 'BOBDEV', pickleKey: bob.pickleKey, now });
    await alice.sendToDevice(bobInfo!, 'org.example.chat', { n: 5 });
    await bob.device.receiveSyncChanges({ toDeviceEvents: bob.sync() });
    expect(await bob.device.missingSessions()).toEqual([]);
    clock += 3600_000;
    await alice.sendToDevice(bobInfo!, 'org.example.chat', { n: 6 });
    await bob.device.receiveSyncChanges({ toDeviceEvents: bob.sync() });
    expect((await bob.device.missingSessions()).map((d) => d.deviceId)).toEqual(['ALICEDEV']);
  });

  it('no repair for a pre-key message, an unknown sender, a replay, or a garbled body of a working session', async () => {
    const server = new FaultHomeserver();
    const alice = await DeviceClient.create(server, ALICE, 'ALICEDEV');
    const bob = await DeviceClient.create(server, BOB, 'BOBDEV');
    await alice.publish({ oneTimeKeys: 10 });
    await bob.publish({ oneTimeKeys: 10 });
    const [bobInfo] = await alice.track(BOB);
    // Bob does not track Alice: an unknown sender cannot be repaired (nothing to claim against).
    await alice.sendToDevice(bobInfo!, 'org.example.chat', { n: 1 });
    const [first] = bob.sync();
    expect((await bob.device.receiveSyncChanges({ toDeviceEvents: [first!] })).toDevice[0]?.ok).toBe(true);
    // A replay of a pre-key message: refused, no repair.
    const replay = await bob.device.receiveSyncChanges({ toDeviceEvents: [first!] });
    expect(replay.toDevice[0]?.ok === false && replay.toDevice[0].error.code).toBe('EVENT_REPLAYED');
    expect(await bob.device.missingSessions()).toEqual([]);
    await bob.track(ALICE);
    await bob.sendToDevice(await alice.info(), 'org.example.chat', {});
    await alice.receive();
    await alice.sendToDevice(bobInfo!, 'org.example.chat', { n: 2 });
    const [normal] = bob.sync();
    const ours = (normal!.content.ciphertext as Record<string, { type: number; body: string }>)[
      bobInfo!.curve25519Key.toBase64()
    ]!;
    expect(ours.type).toBe(1);
    // Delivered fine, then replayed: a replay, not a broken session.
    await bob.device.receiveSyncChanges({ toDeviceEvents: [normal!] });
    const again = await bob.device.receiveSyncChanges({ toDeviceEvents: [normal!] });
    expect(again.toDevice[0]?.ok === false && again.toDevice[0].error.code).toBe('EVENT_REPLAYED');
    expect(await bob.device.missingSessions()).toEqual([]);
  });

  it('createSessions refuses a bad map and ignores keys for devices it did not ask for', async () => {
    const server = new FaultHomeserver();
    const bob = await DeviceClient.create(server, BOB, 'BOBDEV');
    expect(await codeOf(bob.device.createSessions(new Map([['x', 'y' as never]])))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(bob.device.createSessions({} as never))).toBe('INVALID_ARGUMENT');
    const alice = await DeviceClient.create(server, ALICE, 'ALICEDEV');
    await alice.publish();
    const [aliceInfo] = await bob.track(ALICE);
    expect(
      await bob.device.createSessions(new Map([[aliceInfo!.curve25519Key.toBase64(), bob.claim(aliceInfo!)]])),
    ).toEqual([]);
    expect(await bob.device.hasOlmSession(aliceInfo!)).toBe(false);
    expect(await codeOf(bob.device.markSent('x' as never))).toBe('INVALID_ARGUMENT');
  });
});

async function ownDevices(trust: { laptop: boolean; phone: boolean }) {
  const server = new FaultHomeserver();
  const alice = await DeviceClient.create(server, ALICE, 'ALICEDEV');
  const trustsOwn = (yes: boolean) => ({ device: { trustOwnDevice: () => yes } });
  const laptop = await DeviceClient.create(server, BOB, 'LAPTOP', trustsOwn(trust.laptop));
  const phone = await DeviceClient.create(server, BOB, 'PHONE', trustsOwn(trust.phone));
  for (const c of [alice, laptop, phone]) await c.publish({ oneTimeKeys: 10 });
  const bobDevices = await alice.track(BOB);
  const laptopInfo = bobDevices.find((d) => d.deviceId === 'LAPTOP')!;
  await laptop.track(ALICE, BOB);
  await phone.track(ALICE, BOB);
  return { server, alice, laptop, phone, laptopInfo };
}

describe('room key requests and forwarding', () => {
  it('a device that missed a key asks; a trusted own device answers; the key opens the history, unverified', async () => {
    const { alice, laptop, phone, laptopInfo } = await ownDevices({ laptop: true, phone: true });
    await alice.shareRoomKey(ROOM, [laptopInfo]); // the phone was not there yet
    await laptop.receive();
    const events = [(await alice.post(ROOM, { n: 0 })).event, (await alice.post(ROOM, { n: 1 })).event];
    // The phone cannot read them: one request (not two) goes to Bob's devices.
    const results = await phone.device.decryptRoomEvents(events);
    expect(results.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual(['ROOM_KEY_UNKNOWN', 'ROOM_KEY_UNKNOWN']);
    expect(await codeOf(phone.device.decryptRoomEvent(events[0]!))).toBe('ROOM_KEY_UNKNOWN');
    const requests = await flush(phone);
    expect(requests).toHaveLength(1);
    const request = requests[0]!.messages[BOB]!['*']!;
    expect(request).toMatchObject({ action: 'request', requesting_device_id: 'PHONE', body: { room_id: ROOM } });
    // The laptop gets it (plaintext to-device); it has no Olm session with the phone yet: the request waits.
    const seen = await laptop.device.receiveSyncChanges({ toDeviceEvents: laptop.sync() });
    expect(seen.toDevice[0]).toMatchObject({
      ok: true,
      value: { encrypted: false, event: { type: 'm.room_key_request' } },
    });
    expect(await laptop.device.outgoingToDevice()).toEqual([]);
    expect((await laptop.device.missingSessions()).map((d) => d.deviceId)).toEqual(['PHONE']);
    await makeMissingSessions(laptop);
    const answers = await flush(laptop);
    expect(answers.map((a) => a.type)).toEqual(['m.room.encrypted', 'm.room.encrypted']); // m.dummy, then the key
    // The phone's own copy of its request (delivered to '*') is ignored; the forwarded key is accepted.
    const got = await phone.device.receiveSyncChanges({ toDeviceEvents: phone.sync() });
    const forwarded = got.toDevice.find(
      (r) => r.ok && r.value.kind === 'olm' && r.value.event.type === 'm.forwarded_room_key',
    );
    expect(forwarded?.ok && forwarded.value.kind === 'olm' && forwarded.value.event.roomKey).toMatchObject({
      roomId: ROOM,
      isNew: true,
    });
    for (const [n, event] of events.entries()) {
      const d = await phone.device.decryptRoomEvent(event);
      expect(d.event.content).toEqual({ n });
      expect(d.verified).toBe(false);
      expect(d.forwardingCurve25519KeyChain.map((k) => k.toBase64())).toEqual([laptopInfo.curve25519Key.toBase64()]);
      expect(d.senderKey.toBase64()).toBe((await alice.info()).curve25519Key.toBase64());
    }
    // The request is cancelled now that the key is in.
    const cancel = await flush(phone);
    expect(cancel.map((c) => c.messages[BOB]!['*']!.action)).toEqual(['request_cancellation']);
    expect(cancel[0]!.messages[BOB]!['*']!.request_id).toBe(request.request_id);
  });

  it('an untrusted requester gets nothing; a forwarded key from an untrusted device or not asked for is refused', async () => {
    const { alice, laptop, phone, laptopInfo } = await ownDevices({ laptop: false, phone: false });
    await alice.shareRoomKey(ROOM, [laptopInfo]);
    await laptop.receive();
    const { event } = await alice.post(ROOM, { n: 0 });
    expect(await codeOf(phone.device.decryptRoomEvent(event))).toBe('ROOM_KEY_UNKNOWN');
    await flush(phone);
    await laptop.device.receiveSyncChanges({ toDeviceEvents: laptop.sync() });
    expect(await laptop.device.outgoingToDevice()).toEqual([]);
    expect(await laptop.device.missingSessions()).toEqual([]);
    // The laptop forwards anyway (as a hostile or buggy client could): the phone does not trust it.
    const [exported] = await laptop.device.exportRoomKeys(ROOM);
    const phoneInfo = (await laptop.device.getDevice(BOB, 'PHONE'))!;
    await laptop.sendToDevice(phoneInfo, 'm.forwarded_room_key', {
      algorithm: exported!.algorithm,
      room_id: ROOM,
      sender_key: exported!.sender_key,
      session_id: exported!.session_id,
      session_key: exported!.session_key,
      sender_claimed_ed25519_key: exported!.sender_claimed_keys.ed25519,
      forwarding_curve25519_key_chain: [],
    });
    const got = await phone.device.receiveSyncChanges({ toDeviceEvents: phone.sync() });
    const forwarded = got.toDevice.filter((r) => r.ok && r.value.kind === 'olm');
    expect(forwarded).toHaveLength(1);
    expect(forwarded[0]).toMatchObject({
      ok: true,
      value: { event: { type: 'm.forwarded_room_key', roomKey: { refused: 'UNTRUSTED_SENDER', isNew: false } } },
    });
    expect(await codeOf(phone.device.decryptRoomEvent(event))).toBe('ROOM_KEY_UNKNOWN');
  });

  it('a forwarded key not asked for is refused; one asked for never replaces a key that came over Olm', async () => {
    const { alice, laptop, phone, laptopInfo } = await ownDevices({ laptop: true, phone: true });
    const phoneInfo = (await laptop.device.getDevice(BOB, 'PHONE'))!;
    await alice.shareRoomKey(ROOM, [laptopInfo]);
    await laptop.receive();
    const early = (await alice.post(ROOM, { n: 0 })).event;
    // The phone gets the key over Olm only now, from index 1.
    const phoneForAlice = (await alice.track(BOB)).find((d) => d.deviceId === 'PHONE')!;
    await alice.shareRoomKey(ROOM, [phoneForAlice]);
    await phone.receive();
    const late = (await alice.post(ROOM, { n: 1 })).event;
    const [exported] = await laptop.device.exportRoomKeys(ROOM);
    const forward = async () => {
      await laptop.sendToDevice(phoneInfo, 'm.forwarded_room_key', {
        algorithm: exported!.algorithm,
        room_id: ROOM,
        sender_key: exported!.sender_key,
        session_id: exported!.session_id,
        session_key: exported!.session_key,
        sender_claimed_ed25519_key: exported!.sender_claimed_keys.ed25519,
        forwarding_curve25519_key_chain: [],
      });
      const got = await phone.device.receiveSyncChanges({ toDeviceEvents: phone.sync() });
      return got.toDevice.filter(
        (r) => r.ok && r.value.kind === 'olm' && r.value.event.type === 'm.forwarded_room_key',
      );
    };
    expect(await forward()).toMatchObject([{ ok: true, value: { event: { roomKey: { refused: 'NOT_REQUESTED' } } } }]);
    // The early message is before the phone's first index: asked for.
    expect(await codeOf(phone.device.decryptRoomEvent(early))).toBe('UNKNOWN_MESSAGE_INDEX');
    const out = await phone.device.outgoingToDevice();
    expect(out.map((o) => o.messages[BOB]!['*']!.action)).toEqual(['request']);
    // Asked for now, and it knows index 0, but the phone's key came over Olm: it is not replaced.
    expect(await forward()).toMatchObject([{ ok: true, value: { event: { roomKey: { isNew: false } } } }]);
    expect(await codeOf(phone.device.decryptRoomEvent(early))).toBe('UNKNOWN_MESSAGE_INDEX');
    const d = await phone.device.decryptRoomEvent(late);
    expect(d.verified).toBe(true);
    expect(d.forwardingCurve25519KeyChain).toEqual([]);
  });
});
