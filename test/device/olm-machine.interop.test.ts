/**
 * Live interop between a store-backed triturus Device and a real OlmMachine
 * (`@matrix-org/matrix-sdk-crypto-wasm`, vodozemac inside), through the fake homeserver: room keys go
 * over Olm to-device messages and room events over Megolm, in both directions, several messages each
 * way on the same sessions, and on after the Device is reopened from its store.
 */
import {
  CollectStrategy,
  DecryptionSettings,
  DeviceId,
  EncryptionSettings,
  initAsync,
  type DecryptedToDeviceEvent as MachineDecryptedToDevice,
  OlmMachine,
  ProcessedToDeviceEventType,
  RoomId,
  TrustRequirement,
  UserId,
} from '@matrix-org/matrix-sdk-crypto-wasm';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceInfo, EncryptedRoomEvent } from '../../src/device/index.js';
import { DeviceClient } from '../support/device-client.js';
import { FaultHomeserver } from '../support/fault-homeserver.js';

const VODOZEMAC_USER = '@vodozemac:example.org';
const TRITURUS_USER = '@triturus:example.org';
const ROOM = '!interop:example.org';

let machines: OlmMachine[] = [];

beforeAll(async () => {
  await initAsync();
});

afterEach(() => {
  for (const machine of machines) machine.close();
  machines = [];
});

async function world() {
  const server = new FaultHomeserver();
  const machine = await OlmMachine.initialize(new UserId(VODOZEMAC_USER), new DeviceId('VODOZEMAC'));
  machines.push(machine);
  await server.flush(machine); // device keys and one-time keys
  await server.sync(machine); // then a fallback key
  const triturus = await DeviceClient.create(server, TRITURUS_USER, 'TRITURUS');
  await triturus.publish({ oneTimeKeys: 5, fallbackKey: true });
  await machine.updateTrackedUsers([new UserId(TRITURUS_USER)]);
  await server.flush(machine); // the machine's /keys/query for the triturus user
  const tracked = await triturus.track(VODOZEMAC_USER); // checks the machine's self-signature
  expect(tracked.map((d) => d.deviceId)).toEqual(['VODOZEMAC']);
  const machineInfo = tracked[0]!;
  expect(machineInfo.curve25519Key.toBase64()).toBe(machine.identityKeys.curve25519.toBase64());
  expect(machineInfo.ed25519Key.toBase64()).toBe(machine.identityKeys.ed25519.toBase64());
  return { server, machine, triturus, machineInfo };
}

function settings(): EncryptionSettings {
  const s = new EncryptionSettings();
  s.sharingStrategy = CollectStrategy.allDevices();
  return s;
}

/** The machine shares its room key with the triturus user (claiming a key first when it needs a session). */
async function machineSharesRoomKey(server: FaultHomeserver, machine: OlmMachine): Promise<void> {
  await server.claimMissingSessions(machine, [TRITURUS_USER]);
  const requests = await machine.shareRoomKey(new RoomId(ROOM), [new UserId(TRITURUS_USER)], settings());
  for (const request of requests) await server.answer(machine, request);
}

async function machinePosts(server: FaultHomeserver, machine: OlmMachine, body: string): Promise<EncryptedRoomEvent> {
  const content = JSON.parse(
    await machine.encryptRoomEvent(new RoomId(ROOM), 'm.room.message', JSON.stringify({ msgtype: 'm.text', body })),
  ) as Record<string, unknown>;
  return server.sendRoomEvent(ROOM, VODOZEMAC_USER, content);
}

async function machineReads(machine: OlmMachine, event: EncryptedRoomEvent) {
  const decrypted = await machine.decryptRoomEvent(
    JSON.stringify(event),
    new RoomId(ROOM),
    new DecryptionSettings(TrustRequirement.Untrusted),
  );
  const result = {
    event: JSON.parse(decrypted.event) as { type: string; content: Record<string, unknown>; room_id?: string },
    senderCurve25519Key: decrypted.senderCurve25519Key,
    senderClaimedEd25519Key: decrypted.senderClaimedEd25519Key,
    senderDevice: decrypted.senderDevice?.toString(),
  };
  decrypted.free();
  return result;
}

/** One /sync of the machine: what it decrypted (whole payloads), and how many it could not. */
async function machineSync(server: FaultHomeserver, machine: OlmMachine) {
  const decrypted: { type: string; content: Record<string, unknown>; senderKey: string }[] = [];
  let failed = 0;
  for (const event of await server.sync(machine)) {
    if (event.type === ProcessedToDeviceEventType.Decrypted) {
      const d = event as MachineDecryptedToDevice;
      const raw = JSON.parse(d.rawEvent) as { type: string; content: Record<string, unknown> };
      decrypted.push({ type: raw.type, content: raw.content, senderKey: d.encryptionInfo.senderCurve25519Key });
    } else {
      failed++;
    }
  }
  return { decrypted, failed };
}

/** The machine encrypts a to-device event for the triturus device over its Olm session. */
async function machineSendsToDevice(server: FaultHomeserver, machine: OlmMachine, content: Record<string, unknown>) {
  const device = await machine.getDevice(new UserId(TRITURUS_USER), new DeviceId('TRITURUS'));
  if (device === undefined) throw new Error('the machine does not know the triturus device');
  const encrypted = JSON.parse(await device.encryptToDeviceEvent('org.example.test', content)) as Record<
    string,
    unknown
  >;
  device.free();
  server.sendToDevice(VODOZEMAC_USER, 'm.room.encrypted', { messages: { [TRITURUS_USER]: { TRITURUS: encrypted } } });
}

/** The Device shares its room key with the machine and the machine takes it in. */
async function deviceSharesRoomKey(
  server: FaultHomeserver,
  machine: OlmMachine,
  triturus: DeviceClient,
  machineInfo: DeviceInfo,
) {
  const messages = await triturus.shareRoomKey(ROOM, [machineInfo]);
  const inbox = await machineSync(server, machine);
  return { messages, inbox };
}

async function deviceReads(triturus: DeviceClient, event: EncryptedRoomEvent) {
  return triturus.device.decryptRoomEvent(event);
}

describe('Device ↔ OlmMachine: room keys and room messages both ways', () => {
  it('the machine shares first; then the Device answers over the same Olm session; again after a restart', async () => {
    const { server, machine: vodozemac, triturus, machineInfo } = await world();
    const triturusKeys = await triturus.device.identityKeys();

    // Machine → Device: m.room_key over a new Olm session (pre-key), then Megolm room events.
    await machineSharesRoomKey(server, vodozemac);
    const received = await triturus.receive();
    expect(received).toHaveLength(1);
    expect(received[0]!.error).toBeUndefined();
    const roomKey = received[0]!.result!;
    expect(roomKey.type).toBe('m.room_key');
    expect(roomKey.roomKey).toMatchObject({ roomId: ROOM, isNew: true });
    expect(roomKey.senderKey.toBase64()).toBe(machineInfo.curve25519Key.toBase64());
    expect(roomKey.senderDevice?.deviceId).toBe('VODOZEMAC');
    for (const body of ['one', 'two', 'Grüße 🦎']) {
      const event = await machinePosts(server, vodozemac, body);
      const d = await deviceReads(triturus, event);
      expect(d.event).toEqual({ type: 'm.room.message', content: { msgtype: 'm.text', body }, room_id: ROOM });
      expect(d.senderKey.toBase64()).toBe(machineInfo.curve25519Key.toBase64());
      expect(d.senderClaimedEd25519?.toBase64()).toBe(machineInfo.ed25519Key.toBase64());
      expect(d.verified).toBe(true);
    }

    // Device → machine: its own room key over the session the machine made (a normal message), then events.
    const { messages, inbox } = await deviceSharesRoomKey(server, vodozemac, triturus, machineInfo);
    expect(messages).toHaveLength(1);
    expect(Object.values(messages[0]!.content.ciphertext)[0]!.type).toBe(1);
    expect(inbox.failed).toBe(0);
    expect(inbox.decrypted.map((d) => d.type)).toEqual(['m.room_key']);
    expect(inbox.decrypted[0]!.senderKey).toBe(triturusKeys.curve25519.toBase64());
    for (const body of ['three', 'four', 'five']) {
      const { event } = await triturus.post(ROOM, { msgtype: 'm.text', body });
      const read = await machineReads(vodozemac, event);
      expect(read.event.content).toEqual({ msgtype: 'm.text', body });
      expect(read.event.type).toBe('m.room.message');
      expect(read.senderCurve25519Key).toBe(triturusKeys.curve25519.toBase64());
      expect(read.senderClaimedEd25519Key).toBe(triturusKeys.ed25519.toBase64());
      expect(read.senderDevice).toBe('TRITURUS');
    }

    // To-device both ways on the one Olm session.
    for (let n = 0; n < 3; n++) {
      await triturus.sendToDevice(machineInfo, 'org.example.test', { n });
      const got = await machineSync(server, vodozemac);
      expect(got.decrypted.map((d) => d.content)).toEqual([{ n }]);
      await machineSendsToDevice(server, vodozemac, { back: n });
      expect((await triturus.receive()).map((r) => r.result?.content)).toEqual([{ back: n }]);
    }
    expect(await triturus.store.loadOlmSessions(machineInfo.curve25519Key.toBase64())).toHaveLength(1);

    // The Device restarts from its store; everything carries on.
    await triturus.reopen();
    for (const body of ['six', 'seven']) {
      const event = await machinePosts(server, vodozemac, body);
      expect((await deviceReads(triturus, event)).event.content).toEqual({ msgtype: 'm.text', body });
    }
    const indices: number[] = [];
    for (const body of ['eight', 'nine']) {
      const { event, result } = await triturus.post(ROOM, { msgtype: 'm.text', body });
      expect(result.newRoomKey).toBeUndefined(); // same session after the restart
      indices.push(result.messageIndex);
      expect((await machineReads(vodozemac, event)).event.content).toEqual({ msgtype: 'm.text', body });
    }
    expect(indices[1]).toBe(indices[0]! + 1);
    expect(indices[0]).toBeGreaterThanOrEqual(3);
    const sent = await triturus.sendToDevice(machineInfo, 'org.example.test', { after: 'restart' });
    expect(sent.type).toBe(1);
    expect((await machineSync(server, vodozemac)).decrypted.map((d) => d.content)).toEqual([{ after: 'restart' }]);
    await machineSendsToDevice(server, vodozemac, { after: 'restart' });
    expect((await triturus.receive()).map((r) => r.result?.content)).toEqual([{ after: 'restart' }]);

    // A rotation on the Device side reaches the machine over the same Olm session.
    await triturus.device.rotateRoomKey(ROOM);
    const rotated = await deviceSharesRoomKey(server, vodozemac, triturus, machineInfo);
    expect(rotated.inbox.decrypted.map((d) => d.type)).toEqual(['m.room_key']);
    const { event, result } = await triturus.post(ROOM, { msgtype: 'm.text', body: 'ten' });
    expect(result.messageIndex).toBe(0);
    expect((await machineReads(vodozemac, event)).event.content).toEqual({ msgtype: 'm.text', body: 'ten' });
  });

  it('the Device shares first on a claimed one-time key (pre-key); the machine answers; again after a restart', async () => {
    const { server, machine: vodozemac, triturus, machineInfo } = await world();
    // Device → machine on a new Olm session made on the machine's claimed one-time key.
    const { messages, inbox } = await deviceSharesRoomKey(server, vodozemac, triturus, machineInfo);
    expect(Object.values(messages[0]!.content.ciphertext)[0]!.type).toBe(0);
    expect(inbox.decrypted.map((d) => d.type)).toEqual(['m.room_key']);
    const events: EncryptedRoomEvent[] = [];
    for (let n = 0; n < 3; n++) events.push((await triturus.post(ROOM, { msgtype: 'm.text', body: `t${n}` })).event);
    // The machine reads them out of order too.
    for (const n of [2, 0, 1]) {
      expect((await machineReads(vodozemac, events[n]!)).event.content).toEqual({ msgtype: 'm.text', body: `t${n}` });
    }
    // Machine → Device: the machine already has the Olm session the Device made, so its key comes as a normal message.
    await machineSharesRoomKey(server, vodozemac);
    const [roomKey] = await triturus.receive();
    expect(roomKey?.error).toBeUndefined();
    expect(roomKey?.result?.roomKey?.isNew).toBe(true);
    expect(await triturus.store.loadOlmSessions(machineInfo.curve25519Key.toBase64())).toHaveLength(1);
    const machineEvents: EncryptedRoomEvent[] = [];
    for (let n = 0; n < 3; n++) machineEvents.push(await machinePosts(server, vodozemac, `v${n}`));
    await triturus.reopen();
    for (const [n, event] of machineEvents.entries()) {
      const d = await deviceReads(triturus, event);
      expect(d.event.content).toEqual({ msgtype: 'm.text', body: `v${n}` });
      expect(d.messageIndex).toBe(n);
    }
    // Both keep going on the same sessions.
    const { event } = await triturus.post(ROOM, { msgtype: 'm.text', body: 't3' });
    expect((await machineReads(vodozemac, event)).event.content).toEqual({ msgtype: 'm.text', body: 't3' });
    const later = await machinePosts(server, vodozemac, 'v3');
    expect((await deviceReads(triturus, later)).messageIndex).toBe(3);
    // The Device's key file opens in the machine's reader, and the machine's key file imports into a Device.
    const file = await triturus.device.exportKeyFile('interop passphrase', { rounds: 1000 });
    const imported = JSON.parse(OlmMachine.decryptExportedRoomKeys(file, 'interop passphrase')) as {
      session_id: string;
    }[];
    expect(imported.map((k) => k.session_id).sort()).toEqual(
      (await triturus.device.exportRoomKeys(ROOM)).map((k) => k.session_id).sort(),
    );
    const machineFile = OlmMachine.encryptExportedRoomKeys(
      await vodozemac.exportRoomKeys(() => true),
      'machine passphrase',
      1000,
    );
    const laptop = await DeviceClient.create(server, TRITURUS_USER, 'LAPTOP');
    expect(await laptop.device.importKeyFile(machineFile, 'machine passphrase')).toBe(2);
    const fromFile = await laptop.device.decryptRoomEvent(machineEvents[0]!);
    expect(fromFile.event.content).toEqual({ msgtype: 'm.text', body: 'v0' });
    expect(fromFile.verified).toBe(false);
    expect((await laptop.device.decryptRoomEvent(events[0]!)).event.content).toEqual({ msgtype: 'm.text', body: 't0' });
  });
});
