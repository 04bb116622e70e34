/**
 * Regression tests for Device bugs found by the in-process suite: a failed open keeping the lease,
 * restarts counting towards rotation, a lost newRoomKey after a half-failed commit, recipients
 * marked as sharing a key before the key went out, and a room member taking over the attribution
 * of another sender's room key by re-sending it first.
 */
import { describe, expect, it } from 'vitest';
import { Device } from '../../src/device/index.js';
import { MemoryDatabase } from '../../src/store/memory.js';
import { codeOf, DeviceClient, scopeOf } from '../support/device-client.js';
import { FaultHomeserver } from '../support/fault-homeserver.js';

const ROOM = '!regress:example.org';
const ALICE = '@alice:example.org';
const BOB = '@bob:example.org';
const MALLORY = '@mallory:example.org';

async function world(aliceDevice: NonNullable<Parameters<typeof DeviceClient.create>[3]>['device'] = {}) {
  const server = new FaultHomeserver();
  const alice = await DeviceClient.create(server, ALICE, 'ALICEDEV', { device: aliceDevice });
  const bob = await DeviceClient.create(server, BOB, 'BOBDEV');
  const mallory = await DeviceClient.create(server, MALLORY, 'MALLORYDEV');
  for (const c of [alice, bob, mallory]) await c.publish();
  const [bobInfo] = await alice.track(BOB);
  const [malloryInfo] = await alice.track(MALLORY);
  await bob.track(ALICE, MALLORY);
  await mallory.track(ALICE, BOB);
  return { server, alice, bob, mallory, bobInfo: bobInfo!, malloryInfo: malloryInfo! };
}

describe('Device regressions', () => {
  it('a failed open gives the lease back at once (a correct open right after does not wait)', async () => {
    const database = new MemoryDatabase();
    const scope = scopeOf(ALICE, 'ALICEDEV');
    const pickleKey = crypto.getRandomValues(new Uint8Array(32));
    const created = await Device.create(database.open(scope), { userId: ALICE, deviceId: 'ALICEDEV', pickleKey });
    await created.close();
    const wrongKey = crypto.getRandomValues(new Uint8Array(32));
    const options = { userId: ALICE, deviceId: 'ALICEDEV', leaseTimeoutMs: 0 };
    expect(await codeOf(Device.open(database.open(scope), { ...options, pickleKey: wrongKey }))).toBe('PICKLE_BAD_KEY');
    expect(await codeOf(Device.create(database.open(scope), { ...options, pickleKey }))).toBe('STORE_EXISTS');
    const opened = await Device.open(database.open(scope), { ...options, pickleKey });
    await opened.close();
  });

  it('close() works while another process holds the lease: the device is closed and unusable', async () => {
    const database = new MemoryDatabase();
    const scope = scopeOf(ALICE, 'ALICEDEV');
    const options = { userId: ALICE, deviceId: 'ALICEDEV', pickleKey: crypto.getRandomValues(new Uint8Array(32)) };
    await (await Device.create(database.open(scope), options)).close();
    // With no patience for the lease (leaseTimeoutMs 0), a close that needed it would fail at once.
    const first = await Device.open(database.open(scope), { ...options, leaseDurationMs: 50, leaseTimeoutMs: 0 });
    await new Promise((resolve) => setTimeout(resolve, 60));
    const second = await Device.open(database.open(scope), { ...options, leaseDurationMs: 10_000 });
    await first.close();
    expect(await codeOf(first.identityKeys())).toBe('STORE_CLOSED');
    await second.close();
  });

  it('restarts, clean or not, do not count towards the message rotation limit', async () => {
    const { alice } = await world({ rotationPeriodMsgs: 10 });
    const first = await alice.device.encryptRoomEvent(ROOM, 'm.room.message', { n: 0 });
    // Clean restarts: the exact index is kept, nothing is skipped.
    for (let n = 1; n <= 4; n++) {
      await alice.reopen({ rotationPeriodMsgs: 10 });
      const next = await alice.device.encryptRoomEvent(ROOM, 'm.room.message', { n });
      expect([next.sessionId, next.messageIndex]).toEqual([first.sessionId, n]);
    }
    // Crashes (the old Device is abandoned without close): indices jump past the reserved block,
    // which must not count as messages sent.
    for (let n = 5; n <= 8; n++) {
      alice.device = await Device.open(alice.database.open(scopeOf(ALICE, 'ALICEDEV')), {
        userId: ALICE,
        deviceId: 'ALICEDEV',
        pickleKey: alice.pickleKey,
        rotationPeriodMsgs: 10,
        leaseDurationMs: 1,
      });
      const next = await alice.device.encryptRoomEvent(ROOM, 'm.room.message', { n });
      expect(next.sessionId).toBe(first.sessionId);
      expect(next.messageIndex).toBeGreaterThan(n);
    }
    // Messages 9 and 10: the tenth message sent starts a new session.
    expect((await alice.device.encryptRoomEvent(ROOM, 'm.room.message', { n: 9 })).sessionId).toBe(first.sessionId);
    const rotated = await alice.device.encryptRoomEvent(ROOM, 'm.room.message', { n: 10 });
    expect(rotated.sessionId).not.toBe(first.sessionId);
  });

  it('newRoomKey survives a first commit that applied and then failed (the retry still carries it)', async () => {
    const { alice } = await world();
    alice.store.failNextCommit('fail-after');
    expect(await codeOf(alice.device.encryptRoomEvent(ROOM, 'm.room.message', { n: 1 }))).toBe('STORE_IO');
    const retry = await alice.device.encryptRoomEvent(ROOM, 'm.room.message', { n: 1 });
    expect(retry.newRoomKey?.session_id).toBe(retry.sessionId);
  });

  it('a share whose commit applied and then failed is made again (recipients stay pending until markRoomKeySent)', async () => {
    const { alice, bob, bobInfo } = await world();
    const claimed = new Map([[bobInfo.curve25519Key.toBase64(), alice.claim(bobInfo)]]);
    alice.store.failNextCommit('fail-after');
    expect(await codeOf(alice.device.shareRoomKey(ROOM, [bobInfo], claimed))).toBe('STORE_IO');
    const again = await alice.device.shareRoomKey(ROOM, [bobInfo]);
    expect(again.messages.map((m) => m.recipient.deviceId)).toEqual(['BOBDEV']);
    alice.server.sendMessages(ALICE, again.messages);
    await alice.device.markRoomKeySent(ROOM, again.messages);
    expect((await alice.device.shareRoomKey(ROOM, [bobInfo])).messages).toEqual([]);
    for (const r of await bob.receive()) expect(r.error).toBeUndefined();
    const { event } = await alice.post(ROOM, { n: 1 });
    expect((await bob.device.decryptRoomEvent(event)).event.content).toEqual({ n: 1 });
  });

  it("a member re-sending another sender's room key first does not take over that sender's messages", async () => {
    const { alice, bob, mallory, bobInfo, malloryInfo } = await world();
    // Alice shares with Mallory (a legitimate member); Mallory passes the key on to Bob as her own.
    await alice.shareRoomKey(ROOM, [malloryInfo]);
    const [toMallory] = await mallory.receive();
    expect(toMallory?.error).toBeUndefined();
    const stolen = (await alice.device.exportRoomKeys(ROOM))[0]!;
    const forgedRoomKey = {
      algorithm: 'm.megolm.v1.aes-sha2',
      room_id: ROOM,
      session_id: stolen.session_id,
      // Mallory holds the session at index 0 and can re-create a signed session key only if she has
      // Alice's session signing key, which she has not: she re-sends the m.room_key she received.
      session_key: (toMallory!.result!.content as { session_key: string }).session_key,
    };
    const [bobForMallory] = await mallory.track(BOB);
    await mallory.sendToDevice(bobForMallory!, 'm.room_key', forgedRoomKey);
    const [fromMallory] = await bob.receive();
    expect(fromMallory?.result?.roomKey?.isNew).toBe(true);
    // Alice's own copy arrives later; it is stored too, under Alice's sender key.
    await alice.shareRoomKey(ROOM, [bobInfo]);
    const [fromAlice] = await bob.receive();
    expect(fromAlice?.result?.roomKey?.isNew).toBe(true);
    const { event } = await alice.post(ROOM, { n: 1 });
    const decrypted = await bob.device.decryptRoomEvent(event);
    expect(decrypted.event.content).toEqual({ n: 1 });
    expect(decrypted.senderKey.toBase64()).toBe((await alice.info()).curve25519Key.toBase64());
    expect(decrypted.verified).toBe(true);
    // Without a sender key on the event (MSC3700), the device id and the tracked devices pick the right copy.
    const second = await alice.post(ROOM, { n: 2 });
    const { sender_key: _omitted, ...content } = second.event.content as Record<string, unknown>;
    const viaDeviceId = await bob.device.decryptRoomEvent({ ...second.event, content });
    expect(viaDeviceId.event.content).toEqual({ n: 2 });
    expect(viaDeviceId.senderKey.toBase64()).toBe((await alice.info()).curve25519Key.toBase64());
  });
});
