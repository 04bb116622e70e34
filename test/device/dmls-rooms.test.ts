/**
 * DMLS rooms through the Device: credentials in the signed device keys, key packages uploaded and
 * claimed as one-time keys, a room created, members added by commits and welcomes (the welcome
 * taken in by receiveSyncChanges), room messages through the same encryptRoomEvent / decryptRoomEvent
 * as Megolm rooms (the room's algorithm decides), a reopen from the store in the middle, a removal
 * after which the removed device reads nothing new, and credentials checked against tracked devices.
 */
import { describe, expect, it } from 'vitest';
import { type EncryptedRoomEvent, settingsFromEncryptionEvent } from '../../src/device/index.js';
import { DmlsAccount } from '../../src/dmls/index.js';
import { codeOf, DeviceClient } from '../support/device-client.js';
import { FaultHomeserver } from '../support/fault-homeserver.js';

const ALICE = '@alice:example.org';
const BOB = '@bob:example.org';
const CAROL = '@carol:example.org';
const MALLORY = '@mallory:example.org';
const ROOM = '!dmls:example.org';
const SUITE = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';
const KEY_PACKAGE = `m.dmls.v1.key_package.${SUITE}`;

async function member(server: FaultHomeserver, userId: string, deviceId: string): Promise<DeviceClient> {
  const client = await DeviceClient.create(server, userId, deviceId, {
    device: { dmls: { engine: DmlsAccount, keyPackages: 4 } },
  });
  await client.device.generateKeyPackages(4);
  await client.publish({ oneTimeKeys: 5 });
  return client;
}

function claimKeyPackage(server: FaultHomeserver, userId: string, deviceId: string): string {
  const claim = server.claimKeys({ one_time_keys: { [userId]: { [deviceId]: KEY_PACKAGE } } });
  const entry = claim.one_time_keys[userId]?.[deviceId];
  if (entry === undefined) throw new Error(`no key package left for ${userId} ${deviceId}`);
  const [value] = Object.values(entry);
  expect(typeof value).toBe('string');
  return value as string;
}

/** Sends a commit as a room event, confirms it, and sends its welcome to the devices it added. */
async function commitAndWelcome(
  client: DeviceClient,
  change: { add?: string[]; remove?: [string, string][] },
  added: readonly DeviceClient[],
): Promise<EncryptedRoomEvent> {
  const content = await client.device.dmlsCommit(ROOM, change);
  const event = client.server.sendRoomEvent(ROOM, client.userId, content as unknown as Record<string, unknown>);
  const { welcome } = await client.device.confirmDmlsCommit(ROOM, event.event_id);
  if (added.length > 0) {
    expect(welcome).toBeDefined();
    client.server.sendToDevice(client.userId, 'm.room.encrypted', {
      messages: Object.fromEntries(
        added.map((d) => [d.userId, { [d.deviceId]: welcome as unknown as Record<string, unknown> }]),
      ),
    });
  }
  return event;
}

async function post(client: DeviceClient, body: string): Promise<EncryptedRoomEvent> {
  const { event, result } = await client.post(ROOM, { msgtype: 'm.text', body });
  expect(result.content.algorithm).toBe(`m.dmls.v1.${SUITE}`);
  return event;
}

async function read(client: DeviceClient, event: EncryptedRoomEvent): Promise<string> {
  const d = await client.device.decryptRoomEvent(event);
  return d.event.content.body as string;
}

describe('DMLS rooms through the Device', () => {
  it('create, add by commit and welcome, messages both ways, reopen, a third member, a removal', async () => {
    const server = new FaultHomeserver();
    const alice = await member(server, ALICE, 'ALICEDEV');
    const bob = await member(server, BOB, 'BOBDEV');
    const carol = await member(server, CAROL, 'CAROLDEV');
    for (const c of [alice, bob, carol]) await c.track(ALICE, BOB, CAROL);
    // The credential is in the signed device keys, and read back with the device.
    expect((await alice.device.getDevice(BOB, 'BOBDEV'))?.dmlsCredential).toBeDefined();
    expect(Object.keys((await bob.device.deviceKeys()).keys as object)).toContain(
      'm.dmls.v1.credential.ed25519:BOBDEV',
    );

    expect(await alice.device.createDmlsRoom(ROOM)).toBe(`m.dmls.v1.${SUITE}`);
    expect((await alice.device.getRoomSettings(ROOM)).algorithm).toBe(`m.dmls.v1.${SUITE}`);
    await commitAndWelcome(alice, { add: [claimKeyPackage(server, BOB, 'BOBDEV')] }, [bob]);
    const welcomed = await bob.device.receiveSyncChanges({ toDeviceEvents: bob.sync() });
    expect(welcomed.toDevice).toMatchObject([
      { ok: true, value: { kind: 'dmls-welcome', event: { roomId: ROOM, epoch: 1 } } },
    ]);

    // Messages through encryptRoomEvent / decryptRoomEvent, both ways; the result names the device and epoch.
    const fromBob = await post(bob, 'hello Alice');
    const d = await alice.device.decryptRoomEvent(fromBob);
    expect(d.event).toEqual({
      type: 'm.room.message',
      content: { msgtype: 'm.text', body: 'hello Alice' },
      room_id: ROOM,
    });
    expect(d.dmls).toMatchObject({ userId: BOB, deviceId: 'BOBDEV', epoch: 1 });
    expect(d.senderKey.toBase64()).toBe((await bob.info()).curve25519Key.toBase64());
    expect(d.verified).toBe(true);
    expect(await read(bob, await post(alice, 'hello Bob'))).toBe('hello Bob');

    // Both reopen from their stores; the group goes on.
    await alice.reopen({ dmls: { engine: DmlsAccount } });
    await bob.reopen({ dmls: { engine: DmlsAccount } });
    expect(await read(alice, await post(bob, 'after the restart'))).toBe('after the restart');

    // Bob adds Carol; Alice processes the commit as a room event (the m.dmls.commit pseudo-event).
    const addCarol = await commitAndWelcome(bob, { add: [claimKeyPackage(server, CAROL, 'CAROLDEV')] }, [carol]);
    const processed = await alice.device.decryptRoomEvent(addCarol);
    expect(processed.event.type).toBe('m.dmls.commit');
    expect(processed.dmls).toMatchObject({ userId: BOB, epoch: 2 });
    await carol.device.receiveSyncChanges({ toDeviceEvents: carol.sync() });
    const three = await post(carol, 'hi both');
    // A page of room events in one call: the batch holds a message of each.
    const page = await bob.device.decryptRoomEvents([three, await post(alice, 'hi Carol')]);
    expect(page.map((r) => (r.ok ? r.value.event.content.body : r.error.code))).toEqual(['hi both', 'hi Carol']);
    expect(await read(alice, three)).toBe('hi both');

    // Alice removes Carol: Bob processes the commit; Carol reads nothing sent after it.
    const removal = await commitAndWelcome(alice, { remove: [[CAROL, 'CAROLDEV']] }, []);
    expect((await bob.device.decryptRoomEvent(removal)).event.type).toBe('m.dmls.commit');
    await carol.device.decryptRoomEvent(removal).catch(() => undefined);
    const secret = await post(bob, 'Carol cannot read this');
    expect(await read(alice, secret)).toBe('Carol cannot read this');
    expect(await codeOf(carol.device.decryptRoomEvent(secret))).toMatch(/^DMLS_/);
    // And Carol cannot send into the group either (she is not a member of the epoch anymore).
    expect(await codeOf(carol.device.encryptRoomEvent(ROOM, 'm.room.message', { body: 'x' }))).toMatch(/^DMLS_/);
  });

  it('a member whose credential is not a tracked device is refused; a commit from a non-member changes nothing', async () => {
    const server = new FaultHomeserver();
    const alice = await member(server, ALICE, 'ALICEDEV');
    const bob = await member(server, BOB, 'BOBDEV');
    const mallory = await member(server, MALLORY, 'MALLORYDEV');
    await alice.track(BOB, MALLORY);
    await bob.track(ALICE); // Bob does not track Mallory
    await alice.device.createDmlsRoom(ROOM);
    await commitAndWelcome(alice, { add: [claimKeyPackage(server, BOB, 'BOBDEV')] }, [bob]);
    await bob.device.receiveSyncChanges({ toDeviceEvents: bob.sync() });
    // Alice adds Mallory; Bob cannot authenticate her credential: the commit is refused and changes nothing.
    const addMallory = await commitAndWelcome(alice, { add: [claimKeyPackage(server, MALLORY, 'MALLORYDEV')] }, [
      mallory,
    ]);
    const before = bob.store.commits.length;
    expect(await codeOf(bob.device.decryptRoomEvent(addMallory))).toMatch(/^DMLS_(REJECTED|CREDENTIAL_REJECTED)$/);
    expect(bob.store.commits.length).toBe(before);
    // Once Bob tracks Mallory (her signed device keys carry her credential), the same commit goes through.
    await bob.track(MALLORY);
    expect((await bob.device.decryptRoomEvent(addMallory)).event.type).toBe('m.dmls.commit');
  });

  it('key packages: in keysForUpload (one-time and last-resort), topped up from sync counts; DMLS off: DMLS_DISABLED', async () => {
    const server = new FaultHomeserver();
    const bob = await DeviceClient.create(server, BOB, 'BOBDEV', {
      device: { dmls: { engine: DmlsAccount, keyPackages: 6 } },
    });
    await bob.device.generateKeyPackages(2);
    const upload = await bob.device.keysForUpload();
    const packages = Object.keys(upload.one_time_keys).filter((k) => k.startsWith(KEY_PACKAGE));
    expect(packages).toHaveLength(2);
    expect(typeof upload.one_time_keys[packages[0]!]).toBe('string');
    await bob.device.markKeysAsPublished();
    expect(Object.keys((await bob.device.keysForUpload()).one_time_keys)).toEqual([]);
    // The server holds 2 of 6: below half, topped up by 4; the last-resort key is made when reported missing.
    const sync = await bob.device.receiveSyncChanges({
      oneTimeKeyCounts: { signed_curve25519: 50, [KEY_PACKAGE]: 2 },
      unusedFallbackKeyTypes: ['signed_curve25519'],
    });
    expect(sync.keysToUpload).toBe(true);
    const next = await bob.device.keysForUpload();
    expect(Object.keys(next.one_time_keys).filter((k) => k.startsWith(KEY_PACKAGE))).toHaveLength(4);
    expect(Object.keys(next.fallback_keys).filter((k) => k.startsWith(KEY_PACKAGE))).toHaveLength(1);

    const plain = await DeviceClient.create(server, CAROL, 'CAROLDEV');
    expect(await codeOf(plain.device.createDmlsRoom(ROOM))).toBe('DMLS_DISABLED');
    expect(Object.keys((await plain.device.deviceKeys()).keys as object).some((k) => k.startsWith('m.dmls'))).toBe(
      false,
    );
    // A Megolm room stays Megolm; settings from m.room.encryption with a DMLS algorithm select DMLS.
    expect(settingsFromEncryptionEvent({ algorithm: `m.dmls.v1.${SUITE}` }).algorithm).toBe(`m.dmls.v1.${SUITE}`);
  });
});
