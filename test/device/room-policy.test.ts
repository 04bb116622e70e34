/**
 * Per-room settings (rotation periods from m.room.encryption, history visibility), rotation driven by
 * membership, and reading tracked devices back (getDevice / getUserDevices across a reopen, complete
 * per-user lists from a whole /keys/query answer, a known device whose keys "change" not believed).
 */
import { describe, expect, it } from 'vitest';
import { settingsFromEncryptionEvent } from '../../src/device/index.js';
import { codeOf, DeviceClient } from '../support/device-client.js';
import { FaultHomeserver } from '../support/fault-homeserver.js';

const ALICE = '@alice:example.org';
const BOB = '@bob:example.org';
const CAROL = '@carol:example.org';
const ROOM = '!room:example.org';
const QUIET = '!quiet:example.org';

async function world(now?: () => number) {
  const server = new FaultHomeserver();
  const options = now === undefined ? {} : { device: { now } };
  const alice = await DeviceClient.create(server, ALICE, 'ALICEDEV', options);
  const bob = await DeviceClient.create(server, BOB, 'BOBDEV');
  const carol = await DeviceClient.create(server, CAROL, 'CAROLDEV');
  for (const c of [alice, bob, carol]) await c.publish({ oneTimeKeys: 10 });
  const [bobInfo] = await alice.track(BOB);
  const [carolInfo] = await alice.track(CAROL);
  await bob.track(ALICE);
  await carol.track(ALICE);
  return { server, alice, bob, carol, bobInfo: bobInfo!, carolInfo: carolInfo! };
}

describe('per-room settings', () => {
  it('rotation periods are per room, change without a reopen, and survive one', async () => {
    const { alice, bobInfo } = await world();
    expect(await alice.device.getRoomSettings(ROOM)).toEqual({
      algorithm: 'm.megolm.v1.aes-sha2',
      rotationPeriodMsgs: 100,
      rotationPeriodMs: 7 * 24 * 3600 * 1000,
      historyVisibility: undefined,
    });
    await alice.device.setRoomSettings(
      ROOM,
      settingsFromEncryptionEvent({ algorithm: 'm.megolm.v1.aes-sha2', rotation_period_msgs: 3 }),
    );
    await alice.shareRoomKey(ROOM, [bobInfo]);
    await alice.shareRoomKey(QUIET, [bobInfo]);
    const sessions = async (room: string, n: number) => {
      const ids: string[] = [];
      for (let i = 0; i < n; i++)
        ids.push((await alice.device.encryptRoomEvent(room, 'm.room.message', { i })).sessionId);
      return ids;
    };
    const room = await sessions(ROOM, 4);
    expect(new Set(room.slice(0, 3)).size).toBe(1);
    expect(room[3]).not.toBe(room[0]); // the 4th message of a 3-message room starts a new session
    const quiet = await sessions(QUIET, 4);
    expect(new Set(quiet).size).toBe(1); // the other room keeps the default of 100
    // Lowered while a session is running: the next message rotates, no reopen needed.
    const before = (await alice.device.encryptRoomEvent(QUIET, 'm.room.message', {})).sessionId;
    await alice.device.setRoomSettings(QUIET, { rotationPeriodMsgs: 2 });
    expect((await alice.device.encryptRoomEvent(QUIET, 'm.room.message', {})).sessionId).not.toBe(before);
    // Stored: a reopened device keeps both rooms' settings.
    await alice.reopen();
    expect((await alice.device.getRoomSettings(ROOM)).rotationPeriodMsgs).toBe(3);
    expect((await alice.device.getRoomSettings(QUIET)).rotationPeriodMsgs).toBe(2);
  });

  it('the age limit is per room too', async () => {
    let clock = 1_000_000;
    const { alice, bobInfo } = await world(() => clock);
    await alice.device.setRoomSettings(ROOM, { rotationPeriodMs: 60_000 });
    await alice.shareRoomKey(ROOM, [bobInfo]);
    await alice.shareRoomKey(QUIET, [bobInfo]);
    const first = (await alice.device.encryptRoomEvent(ROOM, 'm.room.message', {})).sessionId;
    const quiet = (await alice.device.encryptRoomEvent(QUIET, 'm.room.message', {})).sessionId;
    clock += 61_000;
    expect((await alice.device.encryptRoomEvent(ROOM, 'm.room.message', {})).sessionId).not.toBe(first);
    expect((await alice.device.encryptRoomEvent(QUIET, 'm.room.message', {})).sessionId).toBe(quiet);
  });

  it('history visibility: shared rooms mark keys shared_history (MSC3061); a change of visibility rotates', async () => {
    const { alice, bob, bobInfo } = await world();
    await alice.device.setRoomSettings(ROOM, { historyVisibility: 'shared' });
    const [message] = await alice.shareRoomKey(ROOM, [bobInfo]);
    expect(message).toBeDefined();
    const received = await bob.receive();
    expect(received[0]?.result?.roomKey).toMatchObject({ roomId: ROOM, isNew: true });
    const exported = await bob.device.exportRoomKeys(ROOM);
    expect(exported[0]?.shared_history).toBe(true);
    const first = (await alice.device.encryptRoomEvent(ROOM, 'm.room.message', {})).sessionId;
    await alice.device.setRoomSettings(ROOM, { historyVisibility: 'shared' }); // unchanged: no rotation
    expect((await alice.device.encryptRoomEvent(ROOM, 'm.room.message', {})).sessionId).toBe(first);
    await alice.device.setRoomSettings(ROOM, { historyVisibility: 'joined' });
    const second = await alice.device.encryptRoomEvent(ROOM, 'm.room.message', {});
    expect(second.sessionId).not.toBe(first);
    expect(second.newRoomKey?.shared_history).toBeUndefined();
    await alice.shareRoomKey(ROOM, [bobInfo]);
    await bob.receive();
    const keys = await bob.device.exportRoomKeys(ROOM);
    expect(keys.find((k) => k.session_id === second.sessionId)?.shared_history).toBeUndefined();
  });

  it('bad settings are INVALID_ARGUMENT and change nothing', async () => {
    const { alice } = await world();
    for (const bad of [
      null,
      { rotationPeriodMsgs: 0 },
      { rotationPeriodMsgs: 1.5 },
      { rotationPeriodMs: -1 },
      { historyVisibility: 'everyone' },
      { algorithm: '' },
    ]) {
      expect(await codeOf(alice.device.setRoomSettings(ROOM, bad as never))).toBe('INVALID_ARGUMENT');
    }
    expect(await codeOf(alice.device.setRoomSettings('', {}))).toBe('INVALID_ARGUMENT');
    expect((await alice.device.getRoomSettings(ROOM)).rotationPeriodMsgs).toBe(100);
    // What m.room.encryption content a client may meet: malformed periods keep the defaults.
    expect(
      settingsFromEncryptionEvent({
        algorithm: 'm.megolm.v1.aes-sha2',
        rotation_period_ms: 'x',
        rotation_period_msgs: -5,
      }),
    ).toEqual({
      algorithm: 'm.megolm.v1.aes-sha2',
    });
  });
});

describe('membership-driven rotation', () => {
  it('a member leaving or a device going away rotates; a join does not', async () => {
    const { alice, bobInfo, carolInfo } = await world();
    await alice.shareRoomKey(ROOM, [bobInfo]);
    const first = (await alice.device.encryptRoomEvent(ROOM, 'm.room.message', {})).sessionId;
    // Carol joins: she gets the current session from its current index; no rotation.
    expect(await alice.device.roomMembershipChanged(ROOM, { left: [] })).toBe(false);
    await alice.shareRoomKey(ROOM, [bobInfo, carolInfo]);
    expect((await alice.device.encryptRoomEvent(ROOM, 'm.room.message', {})).sessionId).toBe(first);
    // Someone who never had the key leaves: no rotation.
    expect(await alice.device.roomMembershipChanged(ROOM, { left: ['@dave:example.org'] })).toBe(false);
    expect((await alice.device.encryptRoomEvent(ROOM, 'm.room.message', {})).sessionId).toBe(first);
    // Carol leaves: the next message starts a new session, which Bob gets and Carol does not.
    expect(await alice.device.roomMembershipChanged(ROOM, { left: [CAROL] })).toBe(true);
    const second = await alice.device.encryptRoomEvent(ROOM, 'm.room.message', {});
    expect(second.sessionId).not.toBe(first);
    const shared = await alice.device.shareRoomKey(ROOM, [bobInfo]);
    expect(shared.messages.map((m) => m.recipient.userId)).toEqual([BOB]);
    await alice.device.markRoomKeySent(ROOM, shared.messages);
    // A device of Bob's goes away: rotation again.
    expect(
      await alice.device.roomMembershipChanged(ROOM, { removedDevices: [{ userId: BOB, deviceId: 'BOBDEV' }] }),
    ).toBe(true);
    expect((await alice.device.encryptRoomEvent(ROOM, 'm.room.message', {})).sessionId).not.toBe(second.sessionId);
    expect(await codeOf(alice.device.roomMembershipChanged(ROOM, { left: [5] } as never))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(alice.device.roomMembershipChanged(ROOM, { removedDevices: [{}] } as never))).toBe(
      'INVALID_ARGUMENT',
    );
  });
});

describe('tracked devices read back', () => {
  it('getDevice / getUserDevices survive a reopen; a whole answer is complete per user; changed keys are not believed', async () => {
    const { server, alice } = await world();
    const bobPhone = await DeviceClient.create(server, BOB, 'PHONE');
    await bobPhone.publish();
    await alice.track(BOB);
    expect((await alice.device.getUserDevices(BOB)).map((d) => d.deviceId)).toEqual(['BOBDEV', 'PHONE']);
    await alice.reopen();
    const phone = await alice.device.getDevice(BOB, 'PHONE');
    expect(phone?.curve25519Key.toBase64()).toBe((await bobPhone.info()).curve25519Key.toBase64());
    expect(await alice.device.getDevice(BOB, 'NOPE')).toBeUndefined();
    expect(await alice.device.getUserDevices('@nobody:example.org')).toEqual([]);
    // A whole /keys/query answer lists Bob with one device only: the other is forgotten.
    const answer = server.queryKeys({ device_keys: { [BOB]: [] } });
    const phoneKeys = answer.device_keys[BOB]!.PHONE! as Record<string, unknown>;
    const onlyPhone = { device_keys: { [BOB]: { PHONE: phoneKeys } } };
    expect((await alice.device.trackDevices(onlyPhone)).map((d) => d.deviceId)).toEqual(['PHONE']);
    expect((await alice.device.getUserDevices(BOB)).map((d) => d.deviceId)).toEqual(['PHONE']);
    // An entry listed under another user or device id than its own is skipped.
    const misfiled = { device_keys: { [CAROL]: { PHONE: phoneKeys } } };
    expect(await alice.device.trackDevices(misfiled)).toEqual([]);
    // A known device id with new keys (validly self-signed by them) is not believed.
    const impostor = await DeviceClient.create(new FaultHomeserver(), BOB, 'PHONE');
    await impostor.publish();
    expect(await alice.device.trackDevices([await impostor.device.deviceKeys()])).toEqual([]);
    expect((await alice.device.getDevice(BOB, 'PHONE'))?.ed25519Key.toBase64()).toBe(
      (await bobPhone.info()).ed25519Key.toBase64(),
    );
    expect(await codeOf(alice.device.trackDevices(5 as never))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(alice.device.getDevice('', 'X'))).toBe('INVALID_ARGUMENT');
  });
});
