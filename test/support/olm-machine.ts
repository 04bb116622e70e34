/**
 * Driving an OlmMachine (`@matrix-org/matrix-sdk-crypto-wasm`, vodozemac inside) against triturus
 * Devices through the fake homeserver: world set-up, sharing, posting, reading, and one /sync.
 */
import {
  CollectStrategy,
  DecryptionSettings,
  DeviceId,
  EncryptionSettings,
  type DecryptedToDeviceEvent as MachineDecryptedToDevice,
  OlmMachine,
  ProcessedToDeviceEventType,
  RoomId,
  TrustRequirement,
  UserId,
} from '@matrix-org/matrix-sdk-crypto-wasm';
import type { EncryptedRoomEvent } from '../../src/device/index.js';
import type { FaultHomeserver } from './fault-homeserver.js';

export async function newMachine(server: FaultHomeserver, userId: string, deviceId: string): Promise<OlmMachine> {
  const machine = await OlmMachine.initialize(new UserId(userId), new DeviceId(deviceId));
  await server.flush(machine); // device keys and one-time keys
  await server.sync(machine); // then a fallback key
  return machine;
}

export function allDevices(): EncryptionSettings {
  const s = new EncryptionSettings();
  s.sharingStrategy = CollectStrategy.allDevices();
  return s;
}

/** The machine shares its room key with `users` (claiming keys first for devices without a session). */
export async function machineSharesRoomKey(
  server: FaultHomeserver,
  machine: OlmMachine,
  roomId: string,
  users: readonly string[],
): Promise<void> {
  await server.claimMissingSessions(machine, users);
  const requests = await machine.shareRoomKey(
    new RoomId(roomId),
    users.map((u) => new UserId(u)),
    allDevices(),
  );
  for (const request of requests) await server.answer(machine, request);
}

export async function machinePosts(
  server: FaultHomeserver,
  machine: OlmMachine,
  roomId: string,
  body: string,
): Promise<EncryptedRoomEvent> {
  const content = JSON.parse(
    await machine.encryptRoomEvent(new RoomId(roomId), 'm.room.message', JSON.stringify({ msgtype: 'm.text', body })),
  ) as Record<string, unknown>;
  return server.sendRoomEvent(roomId, machine.userId.toString(), content);
}

export async function machineReads(machine: OlmMachine, roomId: string, event: EncryptedRoomEvent) {
  const decrypted = await machine.decryptRoomEvent(
    JSON.stringify(event),
    new RoomId(roomId),
    new DecryptionSettings(TrustRequirement.Untrusted),
  );
  const result = {
    event: JSON.parse(decrypted.event) as { type: string; content: Record<string, unknown>; room_id?: string },
    senderCurve25519Key: decrypted.senderCurve25519Key,
    senderClaimedEd25519Key: decrypted.senderClaimedEd25519Key,
    senderDevice: decrypted.senderDevice?.toString(),
    forwardingCurve25519KeyChain: decrypted.forwardingCurve25519KeyChain,
  };
  decrypted.free();
  return result;
}

/** One /sync of the machine: what it decrypted (whole payloads), and how many it could not. */
export async function machineSync(server: FaultHomeserver, machine: OlmMachine) {
  const decrypted: { type: string; content: Record<string, unknown>; senderKey: string }[] = [];
  const plain: { type: string; content: Record<string, unknown> }[] = [];
  let failed = 0;
  for (const event of await server.sync(machine)) {
    if (event.type === ProcessedToDeviceEventType.Decrypted) {
      const d = event as MachineDecryptedToDevice;
      const raw = JSON.parse(d.rawEvent) as { type: string; content: Record<string, unknown> };
      decrypted.push({ type: raw.type, content: raw.content, senderKey: d.encryptionInfo.senderCurve25519Key });
    } else if (event.type === ProcessedToDeviceEventType.PlainText) {
      plain.push(JSON.parse(event.rawEvent) as { type: string; content: Record<string, unknown> });
    } else {
      failed++;
    }
  }
  return { decrypted, plain, failed };
}

/** The machine encrypts a to-device event for one device over its Olm session and sends it. */
export async function machineSendsToDevice(
  server: FaultHomeserver,
  machine: OlmMachine,
  userId: string,
  deviceId: string,
  content: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const device = await machine.getDevice(new UserId(userId), new DeviceId(deviceId));
  if (device === undefined) throw new Error('the machine does not know that device');
  const encrypted = JSON.parse(await device.encryptToDeviceEvent('org.example.test', content)) as Record<
    string,
    unknown
  >;
  device.free();
  server.sendToDevice(machine.userId.toString(), 'm.room.encrypted', {
    messages: { [userId]: { [deviceId]: encrypted } },
  });
  return encrypted;
}
