/**
 * Live interop between triturus's Olm and vodozemac, driven through matrix-sdk-crypto's OlmMachine
 * (`@matrix-org/matrix-sdk-crypto-wasm`). The test plays the homeserver (test/support/fake-homeserver.ts);
 * the triturus side is an Account with signed device keys (test/support/triturus-device.ts).
 *
 * The machine is the judge: it must accept triturus's signed device keys, decrypt triturus's Olm to-device
 * events (and refuse them when the payload's sender/recipient binding is wrong), and its own to-device
 * events, sent over sessions it set up on triturus's one-time and fallback keys, must decrypt in triturus.
 */
import {
  CollectStrategy,
  type DecryptedToDeviceEvent,
  DeviceId,
  EncryptionSettings,
  initAsync,
  OlmMachine,
  ProcessedToDeviceEventType,
  RoomId,
  UserId,
} from '@matrix-org/matrix-sdk-crypto-wasm';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Curve25519PublicKey, Ed25519PublicKey, Message, PreKeyMessage } from '../../src/index.js';
import { type DeviceKeys, signJson, verifySignedJson } from '../support/device-keys.js';
import { FakeHomeserver, type ToDeviceEvent } from '../support/fake-homeserver.js';
import { LibolmScope, loadLibolm } from '../support/libolm.js';
import { type OlmEventContent, type PeerDevice, TriturusDevice } from '../support/triturus-device.js';

const VODOZEMAC_USER = '@vodozemac:example.org';
const TRITURUS_USER = '@triturus:example.org';
const ALGORITHM = 'signed_curve25519';

let machines: OlmMachine[] = [];
let devices: TriturusDevice[] = [];

beforeAll(async () => {
  await initAsync();
});

afterEach(() => {
  for (const machine of machines) machine.close();
  for (const device of devices) device.free();
  machines = [];
  devices = [];
});

async function newMachine(server: FakeHomeserver, deviceId: string, userId = VODOZEMAC_USER): Promise<OlmMachine> {
  const machine = await OlmMachine.initialize(new UserId(userId), new DeviceId(deviceId));
  machines.push(machine);
  await server.flush(machine); // uploads device keys and 50 one-time keys
  await server.sync(machine); // sees no unused fallback key on the server and uploads one
  return machine;
}

function newDevice(deviceId: string, userId = TRITURUS_USER): TriturusDevice {
  const device = new TriturusDevice(userId, deviceId);
  devices.push(device);
  return device;
}

/** The machine's device as a triturus peer, read back from /keys/query and checked with triturus. */
function machinePeer(server: FakeHomeserver, machine: OlmMachine): PeerDevice {
  const userId = machine.userId.toString();
  const deviceId = machine.deviceId.toString();
  const keys = server.queryKeys({ device_keys: { [userId]: [deviceId] } }).device_keys[userId]?.[deviceId] as
    | DeviceKeys
    | undefined;
  if (keys === undefined) throw new Error('the machine has not uploaded its device keys');
  const ed25519 = Ed25519PublicKey.fromBase64(keys.keys[`ed25519:${deviceId}`]!);
  expect(verifySignedJson(keys, userId, `ed25519:${deviceId}`, ed25519)).toBe(true);
  const peer: PeerDevice = {
    userId,
    deviceId,
    curve25519: Curve25519PublicKey.fromBase64(keys.keys[`curve25519:${deviceId}`]!),
    ed25519,
  };
  // What the machine says about itself agrees with what it uploaded.
  expect(peer.curve25519.toBase64()).toBe(machine.identityKeys.curve25519.toBase64());
  expect(peer.ed25519.toBase64()).toBe(machine.identityKeys.ed25519.toBase64());
  return peer;
}

/** Claims one key of `peer` as a client would and checks the peer's signature on it. */
function claimKey(server: FakeHomeserver, peer: PeerDevice): { key: Curve25519PublicKey; fallback: boolean } {
  const claimed = server.claimKeys({ one_time_keys: { [peer.userId]: { [peer.deviceId]: ALGORITHM } } });
  const entries = Object.entries(claimed.one_time_keys[peer.userId]?.[peer.deviceId] ?? {});
  expect(entries).toHaveLength(1);
  const [keyId, signed] = entries[0]! as [string, { key: string; fallback?: boolean }];
  expect(keyId.startsWith(`${ALGORITHM}:`)).toBe(true);
  expect(verifySignedJson(signed, peer.userId, `ed25519:${peer.deviceId}`, peer.ed25519)).toBe(true);
  return { key: Curve25519PublicKey.fromBase64(signed.key), fallback: signed.fallback === true };
}

/** Sends Olm event contents from a triturus device to the machine through the server. */
function sendToMachine(
  server: FakeHomeserver,
  from: TriturusDevice,
  to: PeerDevice,
  contents: OlmEventContent[],
): void {
  for (const content of contents) {
    server.sendToDevice(from.userId, 'm.room.encrypted', {
      messages: { [to.userId]: { [to.deviceId]: { ...content } } },
    });
  }
}

interface MachineInbox {
  /** Decrypted events (the whole Olm payload), parsed, in delivery order. */
  readonly decrypted: { type: string; sender: string; content: Record<string, unknown>; [field: string]: unknown }[];
  readonly senderKeys: string[];
  readonly senderDevices: (string | undefined)[];
  /** Events the machine could not decrypt. */
  readonly undecryptable: number;
}

/** One sync of the machine, sorted into what it decrypted and what it could not. */
async function syncMachine(server: FakeHomeserver, machine: OlmMachine): Promise<MachineInbox> {
  const inbox: MachineInbox = { decrypted: [], senderKeys: [], senderDevices: [], undecryptable: 0 };
  for (const event of await server.sync(machine)) {
    if (event.type === ProcessedToDeviceEventType.Decrypted) {
      const decrypted = event as DecryptedToDeviceEvent;
      inbox.decrypted.push(JSON.parse(decrypted.rawEvent));
      inbox.senderKeys.push(decrypted.encryptionInfo.senderCurve25519Key);
      inbox.senderDevices.push(decrypted.encryptionInfo.senderDevice?.toString());
    } else if (event.type === ProcessedToDeviceEventType.UnableToDecrypt) {
      (inbox as { undecryptable: number }).undecryptable++;
    } else {
      throw new Error(`unexpected to-device event of kind ${ProcessedToDeviceEventType[event.type]}`);
    }
  }
  return inbox;
}

/** The machine encrypts a to-device event for a triturus device and sends it through the server. */
async function machineSend(
  server: FakeHomeserver,
  machine: OlmMachine,
  to: TriturusDevice,
  type: string,
  content: Record<string, unknown>,
): Promise<void> {
  const device = await machine.getDevice(new UserId(to.userId), new DeviceId(to.deviceId));
  if (device === undefined) throw new Error('the machine does not know the triturus device');
  const encrypted = JSON.parse(await device.encryptToDeviceEvent(type, content)) as Record<string, unknown>;
  device.free();
  server.sendToDevice(machine.userId.toString(), 'm.room.encrypted', {
    messages: { [to.userId]: { [to.deviceId]: encrypted } },
  });
}

/** The Olm message type of an event's ciphertext for `device`. */
function messageTypeFor(event: ToDeviceEvent, device: TriturusDevice): number | undefined {
  return (event.content as Partial<OlmEventContent>).ciphertext?.[device.curve25519.toBase64()]?.type;
}

/** Checks the payload binding a receiver must check (DEVICE-NOTES: sender, recipient, keys, sender_device_keys). */
function expectBinding(
  payload: Record<string, unknown>,
  event: ToDeviceEvent,
  sender: PeerDevice,
  recipient: TriturusDevice,
): void {
  expect(payload['sender']).toBe(event.sender);
  expect(payload['sender']).toBe(sender.userId);
  expect(payload['recipient']).toBe(recipient.userId);
  expect(payload['recipient_keys']).toEqual({ ed25519: recipient.ed25519.toBase64() });
  expect(payload['keys']).toEqual({ ed25519: sender.ed25519.toBase64() });
  expect((event.content as Partial<OlmEventContent>).sender_key).toBe(sender.curve25519.toBase64());
  // vodozemac also sends its signed device keys (MSC4147); they must verify and match the session's keys.
  const deviceKeys = payload['sender_device_keys'] as DeviceKeys | undefined;
  if (deviceKeys !== undefined) {
    expect(deviceKeys.user_id).toBe(sender.userId);
    expect(deviceKeys.keys[`curve25519:${sender.deviceId}`]).toBe(sender.curve25519.toBase64());
    expect(deviceKeys.keys[`ed25519:${sender.deviceId}`]).toBe(sender.ed25519.toBase64());
    expect(verifySignedJson(deviceKeys, sender.userId, `ed25519:${sender.deviceId}`, sender.ed25519)).toBe(true);
  }
}

/** A machine and a triturus device that know each other's device keys. */
async function world(options: { triturusOneTimeKeys?: number; triturusFallbackKey?: boolean } = {}) {
  const server = new FakeHomeserver();
  const machine = await newMachine(server, 'VODOZEMAC');
  const triturus = newDevice('TRITURUS');
  triturus.publish(server, {
    oneTimeKeys: options.triturusOneTimeKeys ?? 5,
    fallbackKey: options.triturusFallbackKey ?? true,
  });
  await machine.updateTrackedUsers([new UserId(TRITURUS_USER)]);
  await server.flush(machine); // answers the /keys/query for the triturus user
  return { server, machine, triturus, vodozemac: machinePeer(server, machine) };
}

describe('vodozemac interop: keys and signatures', () => {
  it("the machine's uploaded device, one-time and fallback keys verify with triturus's canonical JSON", async () => {
    const { server, vodozemac } = await world();
    const uploaded = server.uploadedKeys(vodozemac.userId, vodozemac.deviceId);
    expect(uploaded.oneTimeKeys).toHaveLength(50);
    expect(uploaded.fallbackKeys).toHaveLength(1);
    const deviceKeys = uploaded.deviceKeys as unknown as DeviceKeys;
    expect(deviceKeys.algorithms).toContain('m.olm.v1.curve25519-aes-sha2');
    const keyId = `ed25519:${vodozemac.deviceId}`;
    expect(verifySignedJson(deviceKeys, vodozemac.userId, keyId, vodozemac.ed25519)).toBe(true);
    expect(verifySignedJson({ ...deviceKeys, algorithms: ['x'] }, vodozemac.userId, keyId, vodozemac.ed25519)).toBe(
      false,
    );

    // Every one-time key is signed; the fallback key's signature covers its `fallback: true` flag.
    for (let i = 0; i < 50; i++) {
      const { fallback } = claimKey(server, vodozemac);
      expect(fallback).toBe(false);
    }
    const claimed = server.claimKeys({ one_time_keys: { [vodozemac.userId]: { [vodozemac.deviceId]: ALGORITHM } } });
    const [fallbackKey] = Object.values(claimed.one_time_keys[vodozemac.userId]![vodozemac.deviceId]!) as {
      key: string;
      fallback?: boolean;
    }[];
    expect(fallbackKey?.fallback).toBe(true);
    expect(verifySignedJson(fallbackKey!, vodozemac.userId, keyId, vodozemac.ed25519)).toBe(true);
    const { fallback: _flag, ...withoutFlag } = fallbackKey!;
    expect(verifySignedJson(withoutFlag, vodozemac.userId, keyId, vodozemac.ed25519)).toBe(false);
  });

  it("the machine accepts triturus's self-signed device keys and ignores a device with a bad signature", async () => {
    const { server, machine, triturus } = await world();
    const known = await machine.getDevice(new UserId(TRITURUS_USER), new DeviceId('TRITURUS'));
    expect(known?.curve25519Key?.toBase64()).toBe(triturus.curve25519.toBase64());
    expect(known?.ed25519Key?.toBase64()).toBe(triturus.ed25519.toBase64());
    known?.free();

    // A second device whose keys are signed by another account's key.
    const forger = newDevice('FORGED');
    const impostor = newDevice('FORGED');
    const forged = signJson(forger, {
      user_id: TRITURUS_USER,
      device_id: 'FORGED',
      algorithms: ['m.olm.v1.curve25519-aes-sha2', 'm.megolm.v1.aes-sha2'],
      keys: {
        'curve25519:FORGED': impostor.curve25519.toBase64(),
        'ed25519:FORGED': impostor.ed25519.toBase64(),
      },
    });
    server.uploadKeys(TRITURUS_USER, 'FORGED', { device_keys: { ...forged } });
    await server.sync(machine); // device list changed → the machine queries again
    expect(await machine.getDevice(new UserId(TRITURUS_USER), new DeviceId('FORGED'))).toBeUndefined();
    // The well-signed device is still there.
    const again = await machine.getDevice(new UserId(TRITURUS_USER), new DeviceId('TRITURUS'));
    expect(again).toBeDefined();
    again?.free();
  });
});

describe('vodozemac interop: triturus starts the session', () => {
  it("on a claimed one-time key: pre-key messages until the machine's reply, then normal messages both ways", async () => {
    const { server, machine, triturus, vodozemac } = await world();
    const { key, fallback } = claimKey(server, vodozemac);
    expect(fallback).toBe(false);
    const session = triturus.startSession(vodozemac, key);

    const early = [1, 2, 3].map((n) =>
      triturus.encryptToDevice(vodozemac, 'org.triturus.test', { n, text: 'früh 🦎' }),
    );
    expect(early.map((c) => Object.values(c.ciphertext)[0]!.type)).toEqual([0, 0, 0]);
    sendToMachine(server, triturus, vodozemac, early);
    const inbox = await syncMachine(server, machine);
    expect(inbox.undecryptable).toBe(0);
    // The machine hands back exactly the payload triturus encrypted.
    expect(inbox.decrypted).toEqual(
      [1, 2, 3].map((n) => triturus.payloadFor(vodozemac, 'org.triturus.test', { n, text: 'früh 🦎' })),
    );
    expect(inbox.senderKeys).toEqual(Array(3).fill(triturus.curve25519.toBase64()));
    expect(inbox.senderDevices).toEqual(Array(3).fill('TRITURUS'));

    // The machine answers on the same session: a normal (type 1) message.
    await machineSend(server, machine, triturus, 'org.vodozemac.reply', { ok: true });
    const [reply] = server.takeToDevice(TRITURUS_USER, 'TRITURUS');
    expect(messageTypeFor(reply!, triturus)).toBe(1);
    const decrypted = triturus.decryptToDevice(reply!);
    expect(decrypted.newSession).toBe(false);
    expect(decrypted.session).toBe(session);
    expect(decrypted.payload.type).toBe('org.vodozemac.reply');
    expect(decrypted.payload.content).toEqual({ ok: true });
    expectBinding(decrypted.payload, reply!, vodozemac, triturus);

    // From now on triturus sends normal messages too; several turns and a burst.
    for (let round = 0; round < 6; round++) {
      const burst = Array.from({ length: 1 + (round % 3) }, (_, i) =>
        triturus.encryptToDevice(vodozemac, 'org.triturus.test', { round, i }),
      );
      expect(burst.every((c) => Object.values(c.ciphertext)[0]!.type === 1)).toBe(true);
      sendToMachine(server, triturus, vodozemac, burst);
      const got = await syncMachine(server, machine);
      expect(got.decrypted.map((e) => e.content)).toEqual(burst.map((_, i) => ({ round, i })));
      await machineSend(server, machine, triturus, 'org.vodozemac.reply', { round });
      const [back] = server.takeToDevice(TRITURUS_USER, 'TRITURUS');
      expect(messageTypeFor(back!, triturus)).toBe(1);
      const opened = triturus.decryptToDevice(back!);
      expect(opened.session).toBe(session);
      expect(opened.payload.content).toEqual({ round });
    }
    expect(triturus.sessions.get(vodozemac.curve25519.toBase64())).toHaveLength(1);
  });

  it("on the machine's fallback key once its one-time keys are gone", async () => {
    const { server, machine, triturus, vodozemac } = await world();
    expect(server.dropOneTimeKeys(vodozemac.userId, vodozemac.deviceId)).toBe(50);
    const { key, fallback } = claimKey(server, vodozemac);
    expect(fallback).toBe(true);
    triturus.startSession(vodozemac, key);
    sendToMachine(server, triturus, vodozemac, [
      triturus.encryptToDevice(vodozemac, 'org.triturus.test', { on: 'fallback' }),
      triturus.encryptToDevice(vodozemac, 'org.triturus.test', { on: 'fallback', again: true }),
    ]);
    const inbox = await syncMachine(server, machine);
    expect(inbox.undecryptable).toBe(0);
    expect(inbox.decrypted.map((e) => e.content)).toEqual([{ on: 'fallback' }, { on: 'fallback', again: true }]);

    // A second triturus device starts another session on the same fallback key.
    const second = newDevice('TRITURUS2');
    second.publish(server, { oneTimeKeys: 1 });
    await server.sync(machine);
    second.startSession(vodozemac, key);
    sendToMachine(server, second, vodozemac, [second.encryptToDevice(vodozemac, 'org.triturus.test', { from: 2 })]);
    const more = await syncMachine(server, machine);
    expect(more.undecryptable).toBe(0);
    expect(more.decrypted.map((e) => e.content)).toEqual([{ from: 2 }]);
    expect(more.senderDevices).toEqual(['TRITURUS2']);

    // The machine replies to each on its own session.
    for (const device of [triturus, second]) {
      await machineSend(server, machine, device, 'org.vodozemac.reply', { to: device.deviceId });
      const [reply] = server.takeToDevice(device.userId, device.deviceId);
      expect(messageTypeFor(reply!, device)).toBe(1);
      expect(device.decryptToDevice(reply!).payload.content).toEqual({ to: device.deviceId });
    }
  });

  it('the machine refuses a payload whose sender, recipient or keys do not bind it, and accepts the right one', async () => {
    const { server, machine, triturus, vodozemac } = await world();
    triturus.startSession(vodozemac, claimKey(server, vodozemac).key);
    const good = triturus.payloadFor(vodozemac, 'org.triturus.test', { good: true });
    const bad = [
      { ...good, sender: '@mallory:example.org' },
      { ...good, recipient: '@someone-else:example.org' },
      { ...good, recipient_keys: { ed25519: triturus.ed25519.toBase64() } },
      { ...good, keys: { ed25519: vodozemac.ed25519.toBase64() } },
    ];
    sendToMachine(server, triturus, vodozemac, [
      ...bad.map((payload) => triturus.encryptPayload(vodozemac, payload)),
      triturus.encryptPayload(vodozemac, good),
    ]);
    const inbox = await syncMachine(server, machine);
    expect(inbox.undecryptable).toBe(4);
    expect(inbox.decrypted.map((e) => e.content)).toEqual([{ good: true }]);
  });

  it('the machine decrypts a shuffled burst with lost messages', async () => {
    const { server, machine, triturus, vodozemac } = await world();
    triturus.startSession(vodozemac, claimKey(server, vodozemac).key);
    sendToMachine(server, triturus, vodozemac, [triturus.encryptToDevice(vodozemac, 'org.triturus.test', { n: -1 })]);
    expect((await syncMachine(server, machine)).decrypted).toHaveLength(1);
    await machineSend(server, machine, triturus, 'org.vodozemac.reply', {});
    triturus.decryptToDevice(server.takeToDevice(TRITURUS_USER, 'TRITURUS')[0]!);

    const burst = Array.from({ length: 12 }, (_, n) => triturus.encryptToDevice(vodozemac, 'org.triturus.test', { n }));
    const order = [7, 2, 11, 0, 5, 9, 3, 10, 4]; // 1, 6 and 8 are lost
    sendToMachine(
      server,
      triturus,
      vodozemac,
      order.map((i) => burst[i]!),
    );
    const inbox = await syncMachine(server, machine);
    expect(inbox.undecryptable).toBe(0);
    expect(inbox.decrypted.map((e) => e.content)).toEqual(order.map((n) => ({ n })));
  });
});

describe('vodozemac interop: the machine starts the session', () => {
  it('on a claimed triturus one-time key: pre-key messages until the first reply, then normal messages', async () => {
    const { server, machine, triturus, vodozemac } = await world({ triturusOneTimeKeys: 3 });
    expect(server.oneTimeKeyCounts(TRITURUS_USER, 'TRITURUS')).toEqual({ [ALGORITHM]: 3 });
    expect(await server.claimMissingSessions(machine, [TRITURUS_USER])).toBe(true);
    expect(server.oneTimeKeyCounts(TRITURUS_USER, 'TRITURUS')).toEqual({ [ALGORITHM]: 2 });
    expect(await server.claimMissingSessions(machine, [TRITURUS_USER])).toBe(false);

    for (const n of [1, 2, 3])
      await machineSend(server, machine, triturus, 'org.vodozemac.test', { n, text: 'ünïcödé' });
    const events = server.takeToDevice(TRITURUS_USER, 'TRITURUS');
    expect(events.map((e) => messageTypeFor(e, triturus))).toEqual([0, 0, 0]);
    const opened = events.map((e) => triturus.decryptToDevice(e));
    expect(opened.map((o) => o.newSession)).toEqual([true, false, false]);
    const session = opened[0]!.session;
    expect(opened.every((o) => o.session === session)).toBe(true);
    for (const [i, o] of opened.entries()) {
      expect(o.payload.type).toBe('org.vodozemac.test');
      expect(o.payload.content).toEqual({ n: i + 1, text: 'ünïcödé' });
      expectBinding(o.payload, events[i]!, vodozemac, triturus);
    }
    expect(opened[0]!.payload['sender_device_keys']).toBeDefined();
    // The session used one of the keys triturus published, which the account has now dropped.
    expect(triturus.account.storedOneTimeKeyCount).toBe(2);

    // Triturus replies (a normal message), and both sides go on with normal messages.
    const replies = [triturus.encryptToDevice(vodozemac, 'org.triturus.reply', { first: true })];
    expect(Object.values(replies[0]!.ciphertext)[0]!.type).toBe(1);
    sendToMachine(server, triturus, vodozemac, replies);
    let inbox = await syncMachine(server, machine);
    expect(inbox.decrypted.map((e) => e.content)).toEqual([{ first: true }]);
    for (let round = 0; round < 6; round++) {
      const count = 1 + (round % 3);
      for (let i = 0; i < count; i++) await machineSend(server, machine, triturus, 'org.vodozemac.test', { round, i });
      const batch = server.takeToDevice(TRITURUS_USER, 'TRITURUS');
      expect(batch.map((e) => messageTypeFor(e, triturus))).toEqual(Array(count).fill(1));
      expect(batch.map((e) => triturus.decryptToDevice(e).payload.content)).toEqual(
        Array.from({ length: count }, (_, i) => ({ round, i })),
      );
      sendToMachine(server, triturus, vodozemac, [
        triturus.encryptToDevice(vodozemac, 'org.triturus.reply', { round }),
      ]);
      inbox = await syncMachine(server, machine);
      expect(inbox.decrypted.map((e) => e.content)).toEqual([{ round }]);
    }
    expect(triturus.sessions.get(vodozemac.curve25519.toBase64())).toHaveLength(1);
  });

  it('on a triturus fallback key: the key survives the inbound session and starts a second one', async () => {
    const { server, machine, triturus, vodozemac } = await world({ triturusOneTimeKeys: 0, triturusFallbackKey: true });
    const fallback = triturus.account.currentFallbackKey!;
    expect(server.unusedFallbackKeyTypes(TRITURUS_USER, 'TRITURUS')).toEqual([ALGORITHM]);
    expect(await server.claimMissingSessions(machine, [TRITURUS_USER])).toBe(true);
    expect(server.unusedFallbackKeyTypes(TRITURUS_USER, 'TRITURUS')).toEqual([]);

    await machineSend(server, machine, triturus, 'org.vodozemac.test', { on: 'fallback' });
    const [event] = server.takeToDevice(TRITURUS_USER, 'TRITURUS');
    expect(messageTypeFor(event!, triturus)).toBe(0);
    const first = triturus.decryptToDevice(event!);
    expect(first.newSession).toBe(true);
    expect(first.session.sessionKeys.oneTimeKey.equals(fallback.key)).toBe(true);
    expect(first.payload.content).toEqual({ on: 'fallback' });
    expectBinding(first.payload, event!, vodozemac, triturus);
    expect(triturus.account.currentFallbackKey?.key.equals(fallback.key)).toBe(true);

    // A second machine (another device of the same user) claims the same fallback key.
    const other = await newMachine(server, 'VODOZEMAC2');
    const otherPeer = machinePeer(server, other);
    await other.updateTrackedUsers([new UserId(TRITURUS_USER)]);
    await server.flush(other);
    expect(await server.claimMissingSessions(other, [TRITURUS_USER])).toBe(true);
    await machineSend(server, other, triturus, 'org.vodozemac.test', { from: 'second machine' });
    const [event2] = server.takeToDevice(TRITURUS_USER, 'TRITURUS');
    const second = triturus.decryptToDevice(event2!);
    expect(second.newSession).toBe(true);
    expect(second.session.sessionKeys.oneTimeKey.equals(fallback.key)).toBe(true);
    expect(second.session.sessionId).not.toBe(first.session.sessionId);
    expectBinding(second.payload, event2!, otherPeer, triturus);

    // Both sessions carry replies and further messages.
    for (const [m, peer] of [
      [machine, vodozemac],
      [other, otherPeer],
    ] as const) {
      sendToMachine(server, triturus, peer, [
        triturus.encryptToDevice(peer, 'org.triturus.reply', { to: peer.deviceId }),
      ]);
      expect((await syncMachine(server, m)).decrypted.map((e) => e.content)).toEqual([{ to: peer.deviceId }]);
      await machineSend(server, m, triturus, 'org.vodozemac.test', { again: peer.deviceId });
      const [next] = server.takeToDevice(TRITURUS_USER, 'TRITURUS');
      expect(messageTypeFor(next!, triturus)).toBe(1);
      expect(triturus.decryptToDevice(next!).payload.content).toEqual({ again: peer.deviceId });
    }
  });

  it('a shuffled burst with lost messages decrypts in triturus', async () => {
    const { server, machine, triturus, vodozemac } = await world();
    await server.claimMissingSessions(machine, [TRITURUS_USER]);
    await machineSend(server, machine, triturus, 'org.vodozemac.test', { n: -1 });
    triturus.decryptToDevice(server.takeToDevice(TRITURUS_USER, 'TRITURUS')[0]!);
    sendToMachine(server, triturus, vodozemac, [triturus.encryptToDevice(vodozemac, 'org.triturus.reply', {})]);
    await syncMachine(server, machine);

    for (let n = 0; n < 12; n++) await machineSend(server, machine, triturus, 'org.vodozemac.test', { n });
    const burst = server.takeToDevice(TRITURUS_USER, 'TRITURUS');
    const order = [11, 3, 0, 8, 5, 1, 10, 4, 2]; // 6, 7 and 9 are lost
    expect(order.map((i) => triturus.decryptToDevice(burst[i]!).payload.content)).toEqual(order.map((n) => ({ n })));
  });

  it('shareRoomKey sends m.room_key over Olm; the Megolm key opens the room event (checked with libolm)', async () => {
    const { server, machine, triturus, vodozemac } = await world();
    const room = '!room:example.org';
    const settings = new EncryptionSettings();
    settings.sharingStrategy = CollectStrategy.allDevices();
    // Sharing needs an Olm session with every recipient device: claim one first.
    await server.claimMissingSessions(machine, [TRITURUS_USER]);
    const requests = await machine.shareRoomKey(new RoomId(room), [new UserId(TRITURUS_USER)], settings);
    expect(requests.length).toBeGreaterThan(0);
    for (const request of requests) await server.answer(machine, request);

    const events = server.takeToDevice(TRITURUS_USER, 'TRITURUS');
    expect(events).toHaveLength(1);
    const roomKey = triturus.decryptToDevice(events[0]!);
    expect(roomKey.messageType).toBe(0);
    expect(roomKey.payload.type).toBe('m.room_key');
    expectBinding(roomKey.payload, events[0]!, vodozemac, triturus);
    const content = roomKey.payload.content as {
      algorithm: string;
      room_id: string;
      session_id: string;
      session_key: string;
    };
    expect(content.algorithm).toBe('m.megolm.v1.aes-sha2');
    expect(content.room_id).toBe(room);

    const encrypted = JSON.parse(
      await machine.encryptRoomEvent(new RoomId(room), 'm.room.message', JSON.stringify({ body: 'Grüße 🦎' })),
    ) as { algorithm: string; ciphertext: string; session_id: string };
    expect(encrypted.session_id).toBe(content.session_id);
    const scope = new LibolmScope(await loadLibolm());
    try {
      const inbound = scope.track(new scope.olm.InboundGroupSession());
      inbound.create(content.session_key);
      expect(inbound.session_id()).toBe(content.session_id);
      const { plaintext, message_index } = inbound.decrypt(encrypted.ciphertext);
      expect(message_index).toBe(0);
      expect(JSON.parse(plaintext)).toEqual({
        type: 'm.room.message',
        content: { body: 'Grüße 🦎' },
        room_id: room,
      });
    } finally {
      scope.free();
    }
  });
});

describe('vodozemac interop: wire messages', () => {
  it('triturus re-encodes the machine’s Olm messages byte for byte', async () => {
    const { server, machine, triturus, vodozemac } = await world();
    await server.claimMissingSessions(machine, [TRITURUS_USER]);
    await machineSend(server, machine, triturus, 'org.vodozemac.test', { text: 'x'.repeat(1000) });
    const [event] = server.takeToDevice(TRITURUS_USER, 'TRITURUS');
    const part = (event!.content as unknown as OlmEventContent).ciphertext[triturus.curve25519.toBase64()]!;
    const preKey = PreKeyMessage.fromBase64(part.body);
    expect(preKey.toBase64()).toBe(part.body);
    expect(preKey.message.version).toBe(3); // session config v1, the spec's 8-byte MAC
    expect(preKey.message.mac).toHaveLength(8);
    triturus.decryptToDevice(event!);
    sendToMachine(server, triturus, vodozemac, [triturus.encryptToDevice(vodozemac, 'org.triturus.reply', {})]);
    expect((await syncMachine(server, machine)).decrypted).toHaveLength(1);
    await machineSend(server, machine, triturus, 'org.vodozemac.test', {});
    const [normal] = server.takeToDevice(TRITURUS_USER, 'TRITURUS');
    const body = (normal!.content as unknown as OlmEventContent).ciphertext[triturus.curve25519.toBase64()]!.body;
    expect(Message.fromBase64(body).toBase64()).toBe(body);
  });
});
