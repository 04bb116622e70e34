/**
 * Live interop with a real OlmMachine (vodozemac inside) for what the Device does on its own or in
 * bulk: whole /sync batches both ways, session repair ("unwedging": the Device repairs a session it
 * lost with the machine, which accepts the m.dummy and moves to the new session), and room key
 * requests with forwarded keys in both directions between devices of one user.
 *
 * Not here: the machine repairing a session with the Device. vodozemac's OlmMachine refuses to repair
 * a session created within the last hour, and moving its clock (Date.now and performance.now, which
 * its WASM build reads) did not make it claim a key; the Device's side of an incoming repair (a
 * pre-key m.dummy, then sending on the newest session) is covered between Devices.
 */
import { DeviceId, initAsync, LocalTrust, type OlmMachine, UserId } from '@matrix-org/matrix-sdk-crypto-wasm';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Device, type OutgoingToDevice } from '../../src/device/index.js';
import { MemoryDatabase } from '../../src/store/memory.js';
import { DeviceClient, scopeOf } from '../support/device-client.js';
import { FaultHomeserver } from '../support/fault-homeserver.js';
import { FaultyStore } from '../support/faulty-store.js';
import {
  machinePosts,
  machineReads,
  machineSendsToDevice,
  machineSharesRoomKey,
  machineSync,
  newMachine,
} from '../support/olm-machine.js';

const VODOZEMAC_USER = '@vodozemac:example.org';
const TRITURUS_USER = '@triturus:example.org';
const ALICE = '@alice:example.org';
const ROOM = '!interop:example.org';

let machines: OlmMachine[] = [];

beforeAll(async () => {
  await initAsync();
});

afterEach(() => {
  for (const machine of machines) machine.close();
  machines = [];
});

async function tracked(server: FaultHomeserver, machine: OlmMachine, ...users: string[]): Promise<void> {
  await machine.updateTrackedUsers(users.map((u) => new UserId(u)));
  await server.flush(machine);
}

/** Sends the Device's outbox through the server, then marks it sent. */
async function flushOutbox(client: DeviceClient): Promise<OutgoingToDevice[]> {
  const out = await client.device.outgoingToDevice();
  for (const message of out) {
    client.server.sendToDevice(client.userId, message.type, {
      messages: message.messages as Record<string, Record<string, Record<string, unknown>>>,
    });
  }
  await client.device.markSent(out.map((m) => m.id));
  return out;
}

async function world() {
  const server = new FaultHomeserver();
  const machine = await newMachine(server, VODOZEMAC_USER, 'VODOZEMAC');
  machines.push(machine);
  const triturus = await DeviceClient.create(server, TRITURUS_USER, 'TRITURUS');
  await triturus.publish({ oneTimeKeys: 20, fallbackKey: true });
  await tracked(server, machine, TRITURUS_USER);
  const [machineInfo] = await triturus.track(VODOZEMAC_USER);
  return { server, machine, triturus, machineInfo: machineInfo! };
}

describe('Device ↔ OlmMachine: whole /sync batches', () => {
  it("the machine's room keys and messages for three rooms open in one receiveSyncChanges (one commit), its room events in one decryptRoomEvents", async () => {
    const { server, machine, triturus, machineInfo } = await world();
    const rooms = [`${ROOM}a`, `${ROOM}b`, `${ROOM}c`];
    for (const room of rooms) await machineSharesRoomKey(server, machine, room, [TRITURUS_USER]);
    await machineSendsToDevice(server, machine, TRITURUS_USER, 'TRITURUS', { n: 1 });
    await machineSendsToDevice(server, machine, TRITURUS_USER, 'TRITURUS', { n: 2 });
    const events = triturus.sync();
    expect(events).toHaveLength(5);
    const before = triturus.store.commits.length;
    const result = await triturus.device.receiveSyncChanges({
      toDeviceEvents: events,
      oneTimeKeyCounts: server.oneTimeKeyCounts(TRITURUS_USER, 'TRITURUS'),
      unusedFallbackKeyTypes: server.unusedFallbackKeyTypes(TRITURUS_USER, 'TRITURUS'),
    });
    expect(triturus.store.commits.length - before).toBe(1);
    const ok = result.toDevice.map((r) => (r.ok && r.value.kind === 'olm' ? r.value.event : undefined));
    expect(ok.map((e) => e?.type)).toEqual([
      'm.room_key',
      'm.room_key',
      'm.room_key',
      'org.example.test',
      'org.example.test',
    ]);
    expect(ok.map((e) => e?.roomKey?.roomId)).toEqual([...rooms, undefined, undefined]);
    expect(ok.slice(3).map((e) => e?.content)).toEqual([{ n: 1 }, { n: 2 }]);
    for (const e of ok) expect(e?.senderKey.toBase64()).toBe(machineInfo.curve25519Key.toBase64());
    const roomEvents = [];
    for (const room of rooms)
      for (const body of ['x', 'y']) roomEvents.push(await machinePosts(server, machine, room, `${room} ${body}`));
    const before2 = triturus.store.commits.length;
    const decrypted = await triturus.device.decryptRoomEvents(roomEvents);
    expect(triturus.store.commits.length - before2).toBe(1);
    expect(decrypted.map((d) => (d.ok ? d.value.event.content.body : d.error.code))).toEqual(
      roomEvents.map((_e, i) => `${rooms[Math.floor(i / 2)]} ${i % 2 === 0 ? 'x' : 'y'}`),
    );
    expect(decrypted.every((d) => d.ok && d.value.verified)).toBe(true);
  });

  it('the machine takes a batch the Device sends (room keys for two rooms, to-device messages) in one of its syncs', async () => {
    const { server, machine, triturus, machineInfo } = await world();
    const rooms = [`${ROOM}a`, `${ROOM}b`];
    for (const room of rooms) await triturus.shareRoomKey(room, [machineInfo]);
    await triturus.sendToDevice(machineInfo, 'org.example.test', { n: 1 });
    const inbox = await machineSync(server, machine);
    expect(inbox.failed).toBe(0);
    expect(inbox.decrypted.map((d) => d.type)).toEqual(['m.room_key', 'm.room_key', 'org.example.test']);
    for (const room of rooms) {
      const { event } = await triturus.post(room, { msgtype: 'm.text', body: room });
      expect((await machineReads(machine, room, event)).event.content).toEqual({ msgtype: 'm.text', body: room });
    }
  });
});

describe('Device ↔ OlmMachine: session repair', () => {
  it('the Device lost its session: it repairs it with the machine (new session, m.dummy), and the machine moves to it', async () => {
    const { server, machine, triturus, machineInfo } = await world();
    const backup = [...triturus.store.commits];
    await machineSendsToDevice(server, machine, TRITURUS_USER, 'TRITURUS', { n: 1 }).catch(async () => {
      // The machine has no session yet: claim one first.
      await server.claimMissingSessions(machine, [TRITURUS_USER]);
      await machineSendsToDevice(server, machine, TRITURUS_USER, 'TRITURUS', { n: 1 });
    });
    expect((await triturus.receive())[0]?.result?.content).toEqual({ n: 1 });
    await triturus.sendToDevice(machineInfo, 'org.example.test', { back: 1 });
    expect((await machineSync(server, machine)).decrypted.map((d) => d.content)).toEqual([{ back: 1 }]);
    // Restored from before the session: the machine's normal messages no longer open.
    await triturus.device.close();
    const store = new FaultyStore(new MemoryDatabase().open(scopeOf(TRITURUS_USER, 'TRITURUS')));
    for (const c of backup) await store.commit(c);
    triturus.store = store;
    triturus.device = await Device.open(store, {
      userId: TRITURUS_USER,
      deviceId: 'TRITURUS',
      pickleKey: triturus.pickleKey,
    });
    await machineSendsToDevice(server, machine, TRITURUS_USER, 'TRITURUS', { n: 2 });
    const failed = await triturus.device.receiveSyncChanges({ toDeviceEvents: triturus.sync() });
    expect(failed.toDevice.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual(['NO_OLM_SESSION']);
    const missing = await triturus.device.missingSessions();
    expect(missing.map((d) => d.deviceId)).toEqual(['VODOZEMAC']);
    await triturus.device.createSessions(
      new Map([[machineInfo.curve25519Key.toBase64(), triturus.claim(machineInfo)]]),
    );
    const sent = await flushOutbox(triturus);
    expect(sent).toHaveLength(1);
    const inbox = await machineSync(server, machine);
    expect(inbox.failed).toBe(0);
    expect(inbox.decrypted.map((d) => d.type)).toEqual(['m.dummy']);
    // The machine now sends on the new session: its messages and room keys open again.
    await machineSendsToDevice(server, machine, TRITURUS_USER, 'TRITURUS', { n: 3 });
    expect((await triturus.receive()).map((r) => r.result?.content)).toEqual([{ n: 3 }]);
    await machineSharesRoomKey(server, machine, ROOM, [TRITURUS_USER]);
    expect((await triturus.receive())[0]?.result?.roomKey?.isNew).toBe(true);
    const event = await machinePosts(server, machine, ROOM, 'after the repair');
    expect((await triturus.device.decryptRoomEvent(event)).event.content).toEqual({
      msgtype: 'm.text',
      body: 'after the repair',
    });
  });
});

describe('Device ↔ OlmMachine: room key requests and forwarded keys between devices of one user', () => {
  async function ownWorld() {
    const server = new FaultHomeserver();
    const machine = await newMachine(server, TRITURUS_USER, 'MACHINE');
    machines.push(machine);
    const triturus = await DeviceClient.create(server, TRITURUS_USER, 'TRITURUS', {
      device: { trustOwnDevice: (d) => d.deviceId === 'MACHINE' },
    });
    await triturus.publish({ oneTimeKeys: 20, fallbackKey: true });
    const alice = await DeviceClient.create(server, ALICE, 'ALICEDEV');
    await alice.publish({ oneTimeKeys: 20 });
    await tracked(server, machine, TRITURUS_USER, ALICE);
    await server.sync(machine); // device_lists.changed: the machine queries its own user again
    await triturus.track(TRITURUS_USER, ALICE);
    // The machine verifies the triturus device (the user did, in an SDK).
    const device = await machine.getDevice(new UserId(TRITURUS_USER), new DeviceId('TRITURUS'));
    await device!.setLocalTrust(LocalTrust.Verified);
    device!.free();
    const own = await alice.track(TRITURUS_USER);
    const triturusInfo = own.find((d) => d.deviceId === 'TRITURUS')!;
    const machineInfo = own.find((d) => d.deviceId === 'MACHINE')!;
    return { server, machine, triturus, alice, triturusInfo, machineInfo };
  }

  it('the machine asks for a key it missed; the Device answers (after making an Olm session); the machine reads the history', async () => {
    const { server, machine, triturus, alice, triturusInfo } = await ownWorld();
    await alice.shareRoomKey(ROOM, [triturusInfo]); // the machine did not get it
    await triturus.receive();
    const event = (await alice.post(ROOM, { msgtype: 'm.text', body: 'before the machine had the key' })).event;
    await expect(machineReads(machine, ROOM, event)).rejects.toBeDefined();
    await server.flush(machine); // its m.room_key_request goes out
    const sync = await triturus.device.receiveSyncChanges({ toDeviceEvents: triturus.sync() });
    const requests = sync.toDevice.filter(
      (r) => r.ok && r.value.kind === 'plaintext' && r.value.event.type === 'm.room_key_request',
    );
    expect(requests.length).toBeGreaterThanOrEqual(1);
    // No Olm session with the machine yet: the Device claims one, then answers.
    const missing = await triturus.device.missingSessions();
    expect(missing.map((d) => d.deviceId)).toEqual(['MACHINE']);
    await triturus.device.createSessions(new Map(missing.map((d) => [d.curve25519Key.toBase64(), triturus.claim(d)])));
    expect((await flushOutbox(triturus)).length).toBe(2); // m.dummy, m.forwarded_room_key
    const inbox = await machineSync(server, machine);
    expect(inbox.failed).toBe(0);
    expect(inbox.decrypted.map((d) => d.type)).toContain('m.forwarded_room_key');
    const read = await machineReads(machine, ROOM, event);
    expect(read.event.content).toEqual({ msgtype: 'm.text', body: 'before the machine had the key' });
    // The machine no longer reports forwarding chains (it calls them unreliable); the original
    // sender is kept through the forward.
    expect(read.senderCurve25519Key).toBe((await alice.info()).curve25519Key.toBase64());
  });

  it('the Device asks for a key it missed; the machine answers; the Device reads the history, unverified', async () => {
    const { server, machine, triturus, alice, machineInfo } = await ownWorld();
    await alice.shareRoomKey(ROOM, [machineInfo]); // the triturus device did not get it
    await machineSync(server, machine);
    const event = (await alice.post(ROOM, { msgtype: 'm.text', body: 'for the machine only' })).event;
    expect((await triturus.device.decryptRoomEvents([event]))[0]).toMatchObject({
      ok: false,
      error: { code: 'ROOM_KEY_UNKNOWN' },
    });
    const requests = await flushOutbox(triturus);
    expect(requests.map((r) => r.type)).toEqual(['m.room_key_request']);
    // The machine sees the request; it has no Olm session with us, so it claims one and answers.
    await machineSync(server, machine);
    await server.claimMissingSessions(machine, [TRITURUS_USER]);
    await server.flush(machine);
    await machineSync(server, machine);
    const result = await triturus.device.receiveSyncChanges({ toDeviceEvents: triturus.sync() });
    const forwarded = result.toDevice.find(
      (r) => r.ok && r.value.kind === 'olm' && r.value.event.type === 'm.forwarded_room_key',
    );
    expect(forwarded).toMatchObject({ ok: true, value: { event: { roomKey: { roomId: ROOM, isNew: true } } } });
    const d = await triturus.device.decryptRoomEvent(event);
    expect(d.event.content).toEqual({ msgtype: 'm.text', body: 'for the machine only' });
    expect(d.verified).toBe(false);
    expect(d.forwardingCurve25519KeyChain.map((k) => k.toBase64())).toEqual([machineInfo.curve25519Key.toBase64()]);
    // The request is cancelled now.
    const cancel = await flushOutbox(triturus);
    expect(cancel.map((c) => (c.messages[TRITURUS_USER]!['*'] as { action: string }).action)).toEqual([
      'request_cancellation',
    ]);
  });
});
