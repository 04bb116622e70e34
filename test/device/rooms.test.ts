/**
 * Megolm room events through store-backed Devices: encrypt/decrypt, the rotation policy (message count,
 * age, `rotateRoomKey`) with `newRoomKey` set exactly on rotation, sharing only with devices that lack
 * the key, replay records, the room binding, unknown sessions, verified flags, room-key and key-file
 * import/export, and the outbound index reservation across restarts and crashes.
 */
import { describe, expect, it } from 'vitest';
import type { DeviceInfo, ExportedRoomKey, RoomEncryptionResult } from '../../src/device/index.js';
import { Device } from '../../src/device/index.js';
import {
  DecryptionError,
  ExportedSessionKey,
  GroupSession,
  InboundGroupSession,
  MegolmMessage,
  SessionKey,
  TriturusError,
} from '../../src/index.js';
import { MemoryStore } from '../../src/store/memory.js';
import { codeOf, DeviceClient, scopeOf } from '../support/device-client.js';
import { FaultHomeserver } from '../support/fault-homeserver.js';
import { FaultyStore } from '../support/faulty-store.js';

const ALICE = '@alice:example.org';
const BOB = '@bob:example.org';
const CAROL = '@carol:example.org';
const ROOM = '!garden:example.org';
const OTHER_ROOM = '!elsewhere:example.org';
const MEGOLM = 'm.megolm.v1.aes-sha2';

async function world(aliceOptions: Parameters<typeof DeviceClient.create>[3] = {}) {
  const server = new FaultHomeserver();
  const alice = await DeviceClient.create(server, ALICE, 'ALICEDEV', aliceOptions);
  const bob = await DeviceClient.create(server, BOB, 'BOBDEV');
  const carol = await DeviceClient.create(server, CAROL, 'CAROLDEV');
  for (const c of [alice, bob, carol]) await c.publish();
  const [bobInfo] = await alice.track(BOB);
  const [carolInfo] = await alice.track(CAROL);
  await bob.track(ALICE, CAROL);
  await carol.track(ALICE, BOB);
  return { server, alice, bob, carol, bobInfo: bobInfo!, carolInfo: carolInfo! };
}

/** Shares Alice's room key with `devices` and lets each recipient receive it. */
async function share(alice: DeviceClient, devices: DeviceInfo[], receivers: DeviceClient[]): Promise<number> {
  const messages = await alice.shareRoomKey(ROOM, devices);
  for (const r of receivers) {
    for (const got of await r.receive()) expect(got.error).toBeUndefined();
  }
  return messages.length;
}

/** Opens a room event with nothing but the shared session key (an independent Megolm session). */
function openWithSessionKey(sessionKey: string, ciphertext: string) {
  const inbound = InboundGroupSession.fromSessionKey(SessionKey.fromBase64(sessionKey));
  const { plaintext, messageIndex } = inbound.decryptText(MegolmMessage.fromBase64(ciphertext));
  return { payload: JSON.parse(plaintext) as Record<string, unknown>, messageIndex };
}

describe('room events between Devices', () => {
  it('Alice encrypts, Bob and Carol decrypt; Alice reads her own events; all verified', async () => {
    const { alice, bob, carol, bobInfo, carolInfo } = await world();
    const aliceKeys = await alice.device.identityKeys();
    expect(await share(alice, [bobInfo, carolInfo], [bob, carol])).toBe(2);
    const sent = [];
    for (let n = 0; n < 5; n++) sent.push(await alice.post(ROOM, { msgtype: 'm.text', body: `message ${n}` }));
    const sessionIds = new Set(sent.map((s) => s.result.sessionId));
    expect(sessionIds.size).toBe(1);
    expect(sent.map((s) => s.result.messageIndex)).toEqual([0, 1, 2, 3, 4]);
    for (const reader of [bob, carol, alice]) {
      for (const [n, { event, result }] of sent.entries()) {
        const d = await reader.device.decryptRoomEvent(event);
        expect(d.event).toEqual({
          type: 'm.room.message',
          content: { msgtype: 'm.text', body: `message ${n}` },
          room_id: ROOM,
        });
        expect(d.messageIndex).toBe(n);
        expect(d.sessionId).toBe(result.sessionId);
        expect(d.senderKey.toBase64()).toBe(aliceKeys.curve25519.toBase64());
        expect(d.senderClaimedEd25519?.toBase64()).toBe(aliceKeys.ed25519.toBase64());
        expect(d.verified).toBe(true);
        expect(d.forwardingCurve25519KeyChain).toEqual([]);
      }
    }
    // The wire content is the spec's m.megolm.v1.aes-sha2 form.
    const content = sent[0]!.event.content;
    expect(Object.keys(content).sort()).toEqual(['algorithm', 'ciphertext', 'device_id', 'sender_key', 'session_id']);
    expect(content.algorithm).toBe(MEGOLM);
    expect(content.device_id).toBe('ALICEDEV');
    expect(content.sender_key).toBe(aliceKeys.curve25519.toBase64());
  });

  it('newRoomKey (carried until the key is shared, from the first index) opens every message of its session (checked with a bare Megolm session)', async () => {
    const { alice } = await world();
    const results: RoomEncryptionResult[] = [];
    for (let n = 0; n < 3; n++) results.push(await alice.device.encryptRoomEvent(ROOM, 'm.room.message', { n }));
    const key = results[0]!.newRoomKey!;
    expect(key).toEqual({
      algorithm: MEGOLM,
      room_id: ROOM,
      session_id: results[0]!.sessionId,
      session_key: key.session_key,
    });
    // Until the key is shared, every message carries it, still from the first index.
    expect(results[1]!.newRoomKey).toEqual(key);
    expect(results[2]!.newRoomKey).toEqual(key);
    for (const [n, r] of results.entries()) {
      const opened = openWithSessionKey(key.session_key, r.content.ciphertext);
      expect(opened).toEqual({ payload: { type: 'm.room.message', content: { n }, room_id: ROOM }, messageIndex: n });
    }
  });
});

describe('rotation', () => {
  it('after rotationPeriodMsgs messages; newRoomKey names the session of each message until shared', async () => {
    const { alice, bobInfo } = await world({ device: { rotationPeriodMsgs: 3 } });
    const results: RoomEncryptionResult[] = [];
    for (let n = 0; n < 8; n++) results.push(await alice.device.encryptRoomEvent(ROOM, 'm.room.message', { n }));
    expect(results.map((r) => r.messageIndex)).toEqual([0, 1, 2, 0, 1, 2, 0, 1]);
    expect(results.every((r) => r.newRoomKey?.session_id === r.sessionId)).toBe(true);
    // Once shareRoomKey has recorded a recipient, messages stop carrying the key.
    await alice.device.shareRoomKey(
      ROOM,
      [bobInfo],
      new Map([[bobInfo.curve25519Key.toBase64(), alice.claim(bobInfo)]]),
    );
    expect((await alice.device.encryptRoomEvent(ROOM, 'm.room.message', { n: 8 })).newRoomKey).toBeUndefined();
    const sessions = results.map((r) => r.sessionId);
    expect(new Set(sessions).size).toBe(3);
    expect(sessions[0]).toBe(sessions[2]);
    expect(sessions[3]).not.toBe(sessions[2]);
    for (const r of results) if (r.newRoomKey !== undefined) expect(r.newRoomKey.session_id).toBe(r.sessionId);
  });

  it('after rotationPeriodMs, by the device clock', async () => {
    const clock = { now: 1_000_000 };
    const { alice } = await world({ device: { rotationPeriodMs: 1000, now: () => clock.now } });
    const at = async (t: number) => {
      clock.now = 1_000_000 + t;
      return alice.device.encryptRoomEvent(ROOM, 'm.room.message', { t });
    };
    const r0 = await at(0);
    const r1 = await at(999);
    const r2 = await at(1000);
    const r3 = await at(1500);
    const r4 = await at(2000);
    expect([r0, r1, r2, r3, r4].map((r) => r.messageIndex)).toEqual([0, 1, 0, 1, 0]);
    expect(r1.sessionId).toBe(r0.sessionId);
    expect(r2.sessionId).not.toBe(r1.sessionId);
    expect(r3.sessionId).toBe(r2.sessionId);
    // The creation time is stored: a restart does not reset the age.
    clock.now = 1_000_000 + 2500;
    await alice.reopen({ rotationPeriodMs: 1000, now: () => clock.now });
    const r5 = await alice.device.encryptRoomEvent(ROOM, 'm.room.message', {});
    expect(r5.sessionId).toBe(r4.sessionId);
    clock.now = 1_000_000 + 3000;
    const r6 = await alice.device.encryptRoomEvent(ROOM, 'm.room.message', {});
    expect(r6.sessionId).not.toBe(r5.sessionId);
    expect(r6.messageIndex).toBe(0);
  });

  it('shareRoomKey past the age limit starts (and shares) a new session', async () => {
    const clock = { now: 0 };
    const { alice, bob, bobInfo } = await world({ device: { rotationPeriodMs: 1000, now: () => clock.now } });
    await share(alice, [bobInfo], [bob]);
    const first = await alice.post(ROOM, { n: 1 });
    clock.now = 5000;
    expect(await share(alice, [bobInfo], [bob])).toBe(1);
    const second = await alice.post(ROOM, { n: 2 });
    expect(second.result.sessionId).not.toBe(first.result.sessionId);
    expect(second.result.newRoomKey).toBeUndefined(); // already shared by shareRoomKey
    expect((await bob.device.decryptRoomEvent(second.event)).event.content).toEqual({ n: 2 });
  });

  it('rotateRoomKey: the next message starts a new session; old events still decrypt', async () => {
    const { alice, bob, bobInfo } = await world();
    await share(alice, [bobInfo], [bob]);
    const before = await alice.post(ROOM, { n: 1 });
    await alice.device.rotateRoomKey(ROOM);
    const after = await alice.device.encryptRoomEvent(ROOM, 'm.room.message', { n: 2 });
    expect(after.sessionId).not.toBe(before.result.sessionId);
    expect(after.newRoomKey?.session_id).toBe(after.sessionId);
    expect(after.messageIndex).toBe(0);
    // Survives a restart: the old outbound session is gone from the store.
    await alice.reopen();
    const third = await alice.device.encryptRoomEvent(ROOM, 'm.room.message', { n: 3 });
    expect(third.sessionId).toBe(after.sessionId);
    expect((await bob.device.decryptRoomEvent(before.event)).event.content).toEqual({ n: 1 });
    // rotateRoomKey on a room with no session is harmless.
    await alice.device.rotateRoomKey(OTHER_ROOM);
  });

  it('a restart does not rotate (default policy)', async () => {
    const { alice } = await world();
    const first = await alice.device.encryptRoomEvent(ROOM, 'm.room.message', {});
    for (let i = 0; i < 3; i++) {
      await alice.reopen();
      const next = await alice.device.encryptRoomEvent(ROOM, 'm.room.message', {});
      expect(next.sessionId).toBe(first.sessionId);
      // Never shared: the key (from the first index) is still carried, for the same session.
      expect(next.newRoomKey).toEqual(first.newRoomKey);
    }
  });
});

describe('shareRoomKey', () => {
  it('shares only with devices that lack the key; devices without a session come back in missingSessions', async () => {
    const { alice, bob, carol, bobInfo, carolInfo } = await world();
    const first = await alice.device.shareRoomKey(ROOM, [bobInfo, carolInfo]);
    expect(first.messages).toHaveLength(0);
    expect(first.missingSessions.map((d) => d.deviceId).sort()).toEqual(['BOBDEV', 'CAROLDEV']);
    // Only Bob's key is claimed: Carol stays missing.
    const withBob = await alice.device.shareRoomKey(
      ROOM,
      [bobInfo, carolInfo],
      new Map([[bobInfo.curve25519Key.toBase64(), alice.claim(bobInfo)]]),
    );
    expect(withBob.messages.map((m) => m.recipient.deviceId)).toEqual(['BOBDEV']);
    expect(withBob.missingSessions.map((d) => d.deviceId)).toEqual(['CAROLDEV']);
    expect(Object.values(withBob.messages[0]!.content.ciphertext)[0]!.type).toBe(0);
    // Not confirmed sent yet: Bob stays pending, and a second call makes him a fresh message.
    const pending = await alice.device.shareRoomKey(ROOM, [bobInfo]);
    expect(pending.messages.map((m) => m.recipient.deviceId)).toEqual(['BOBDEV']);
    expect(Object.values(pending.messages[0]!.content.ciphertext)[0]!.type).toBe(0);
    alice.server.sendMessages(ALICE, pending.messages);
    await alice.device.markRoomKeySent(ROOM, pending.messages);
    // Again: Bob already has it.
    const again = await alice.device.shareRoomKey(ROOM, [bobInfo]);
    expect(again).toEqual({ messages: [], missingSessions: [] });
    // After a restart too.
    await alice.reopen();
    expect(await alice.device.shareRoomKey(ROOM, [bobInfo])).toEqual({ messages: [], missingSessions: [] });
    const event = await alice.post(ROOM, { n: 1 });
    // Carol joins: she gets the key at the current index, so she reads from there on only.
    expect((await alice.shareRoomKey(ROOM, [bobInfo, carolInfo])).map((m) => m.recipient.deviceId)).toEqual([
      'CAROLDEV',
    ]);
    for (const c of [bob, carol]) for (const r of await c.receive()) expect(r.error).toBeUndefined();
    const later = await alice.post(ROOM, { n: 2 });
    expect((await bob.device.decryptRoomEvent(event.event)).event.content).toEqual({ n: 1 });
    expect((await carol.device.decryptRoomEvent(later.event)).event.content).toEqual({ n: 2 });
    let error: unknown;
    try {
      await carol.device.decryptRoomEvent(event.event);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DecryptionError);
    expect((error as DecryptionError).code).toBe('UNKNOWN_MESSAGE_INDEX');
  });

  it('after a rotation the new key goes to every device again, over the existing Olm sessions', async () => {
    const { alice, bob, carol, bobInfo, carolInfo } = await world();
    await share(alice, [bobInfo, carolInfo], [bob, carol]);
    await alice.device.rotateRoomKey(ROOM);
    const result = await alice.device.shareRoomKey(ROOM, [bobInfo, carolInfo]);
    expect(result.missingSessions).toEqual([]);
    expect(result.messages.map((m) => m.recipient.deviceId).sort()).toEqual(['BOBDEV', 'CAROLDEV']);
    alice.server.sendMessages(ALICE, result.messages);
    for (const c of [bob, carol]) {
      const [got] = await c.receive();
      expect(got?.result?.roomKey?.isNew).toBe(true);
    }
    const { event } = await alice.post(ROOM, { n: 1 });
    for (const c of [bob, carol]) expect((await c.device.decryptRoomEvent(event)).event.content).toEqual({ n: 1 });
  });
});

describe('content JSON cannot hold', () => {
  it('a cycle, a BigInt or a throwing toJSON is INVALID_ARGUMENT and burns no message index', async () => {
    const { alice, bob, bobInfo } = await world();
    await share(alice, [bobInfo], [bob]);
    const first = await alice.post(ROOM, { n: 0 });
    const cyclic: Record<string, unknown> = { body: 'loop' };
    cyclic.self = cyclic;
    const throwing = {
      toJSON() {
        throw new Error('secret detail');
      },
    };
    for (const content of [cyclic, { big: 1n }, { nested: throwing }]) {
      const error = await alice.device.encryptRoomEvent(ROOM, 'm.room.message', content).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TriturusError);
      expect((error as TriturusError).code).toBe('INVALID_ARGUMENT');
      expect((error as Error).message).not.toContain('secret detail');
      expect((error as Error).message).not.toContain('self');
    }
    // The next message takes the very next index, and Bob reads it.
    const next = await alice.post(ROOM, { n: 1 });
    expect(next.result.messageIndex).toBe(first.result.messageIndex + 1);
    expect((await bob.device.decryptRoomEvent(next.event)).event.content).toEqual({ n: 1 });
  });
});

describe('replays and the room binding', () => {
  it('the same event twice is fine; another event id or timestamp at one (session, index) is EVENT_REPLAYED', async () => {
    const { alice, bob, bobInfo } = await world();
    await share(alice, [bobInfo], [bob]);
    const { event } = await alice.post(ROOM, { body: 'pay 5' });
    expect((await bob.device.decryptRoomEvent(event)).event.content).toEqual({ body: 'pay 5' });
    expect((await bob.device.decryptRoomEvent(event)).event.content).toEqual({ body: 'pay 5' });
    expect(await codeOf(bob.device.decryptRoomEvent({ ...event, event_id: '$forged' }))).toBe('EVENT_REPLAYED');
    expect(await codeOf(bob.device.decryptRoomEvent({ ...event, origin_server_ts: event.origin_server_ts + 1 }))).toBe(
      'EVENT_REPLAYED',
    );
    // The record is in the store: after a restart, the same answers.
    await bob.reopen();
    expect(await codeOf(bob.device.decryptRoomEvent({ ...event, event_id: '$forged' }))).toBe('EVENT_REPLAYED');
    expect((await bob.device.decryptRoomEvent(event)).messageIndex).toBe(0);
    // A replay seen first (before the original) wins the slot: the record is first come, first kept.
    const second = await alice.post(ROOM, { body: 'pay 6' });
    await bob.device.decryptRoomEvent({ ...second.event, event_id: '$first-seen' });
    expect(await codeOf(bob.device.decryptRoomEvent(second.event))).toBe('EVENT_REPLAYED');
  });

  it('an event moved to another room has no key there: ROOM_KEY_UNKNOWN', async () => {
    const { alice, bob, bobInfo } = await world();
    await share(alice, [bobInfo], [bob]);
    const { event } = await alice.post(ROOM, { n: 1 });
    expect(await codeOf(bob.device.decryptRoomEvent({ ...event, room_id: OTHER_ROOM }))).toBe('ROOM_KEY_UNKNOWN');
    expect(await codeOf(bob.device.decryptRoomEvent(event, OTHER_ROOM))).toBe('ROOM_KEY_UNKNOWN');
    expect((await bob.device.decryptRoomEvent(event, ROOM)).event.room_id).toBe(ROOM);
  });

  it('a decrypted room_id other than the arrival room: EVENT_ROOM_MISMATCH, no replay record written', async () => {
    const { bob } = await world();
    // A sender whose key is filed under ROOM encrypts an event that says it belongs to OTHER_ROOM.
    const outbound = GroupSession.create();
    const senderKey = (
      await (await DeviceClient.create(bob.server, '@eve:example.org', 'EVE')).device.identityKeys()
    ).curve25519.toBase64();
    const key: ExportedRoomKey = {
      algorithm: MEGOLM,
      room_id: ROOM,
      sender_key: senderKey,
      session_id: outbound.sessionId,
      session_key: InboundGroupSession.fromSessionKey(outbound.sessionKey()).exportAtFirstKnownIndex().toBase64(),
      sender_claimed_keys: {},
      forwarding_curve25519_key_chain: [],
    };
    expect(await bob.device.importRoomKeys([key])).toBe(1);
    const event = (roomInPayload: string, n: number) => ({
      type: 'm.room.encrypted',
      room_id: ROOM,
      event_id: `$eve${n}`,
      sender: '@eve:example.org',
      origin_server_ts: n,
      content: {
        algorithm: MEGOLM,
        sender_key: senderKey,
        session_id: outbound.sessionId,
        device_id: 'EVE',
        ciphertext: outbound
          .encrypt(JSON.stringify({ type: 'm.room.message', content: { n }, room_id: roomInPayload }))
          .toBase64(),
      },
    });
    const moved = event(OTHER_ROOM, 0);
    expect(await codeOf(bob.device.decryptRoomEvent(moved))).toBe('EVENT_ROOM_MISMATCH');
    expect(await bob.store.loadReplay(outbound.sessionId, 0)).toBeUndefined();
    const honest = event(ROOM, 1);
    expect((await bob.device.decryptRoomEvent(honest)).event.content).toEqual({ n: 1 });
    expect(await bob.store.loadReplay(outbound.sessionId, 1)).toMatchObject({ eventId: '$eve1' });
  });

  it('an event naming another sender_key than the room key came from: EVENT_KEYS_MISMATCH', async () => {
    const { alice, bob, bobInfo, carolInfo } = await world();
    await share(alice, [bobInfo], [bob]);
    const { event } = await alice.post(ROOM, { n: 1 });
    const forged = { ...event, content: { ...event.content, sender_key: carolInfo.curve25519Key.toBase64() } };
    expect(await codeOf(bob.device.decryptRoomEvent(forged))).toBe('EVENT_KEYS_MISMATCH');
    expect((await bob.device.decryptRoomEvent(event)).event.content).toEqual({ n: 1 });
  });

  it('malformed room events: typed errors', async () => {
    const { alice, bob, bobInfo } = await world();
    await share(alice, [bobInfo], [bob]);
    const { event } = await alice.post(ROOM, { n: 1 });
    expect(await codeOf(bob.device.decryptRoomEvent({ ...event, content: { ...event.content, algorithm: 'x' } }))).toBe(
      'EVENT_UNSUPPORTED_ALGORITHM',
    );
    expect(await codeOf(bob.device.decryptRoomEvent({ ...event, event_id: '' }))).toBe('EVENT_INVALID');
    const { room_id: _r, ...noRoom } = event;
    expect(await codeOf(bob.device.decryptRoomEvent(noRoom as typeof event))).toBe('EVENT_INVALID');
    expect(
      await codeOf(bob.device.decryptRoomEvent({ ...event, content: { ...event.content, ciphertext: 'AAAA' } })),
    ).toMatch(/^MESSAGE_/);
    const text = event.content.ciphertext as string;
    const flipped = `${text.slice(0, 20)}${text[20] === 'A' ? 'B' : 'A'}${text.slice(21)}`;
    expect(
      await codeOf(bob.device.decryptRoomEvent({ ...event, content: { ...event.content, ciphertext: flipped } })),
    ).toBe('SIGNATURE_INVALID');
    expect((await bob.device.decryptRoomEvent(event)).event.content).toEqual({ n: 1 });
  });
});

describe('unknown sessions, verified flags, import and export', () => {
  it('an event before its key: ROOM_KEY_UNKNOWN, then the key arrives and the same event decrypts', async () => {
    const { alice, bob, bobInfo } = await world();
    alice.server.hook = (call) => (call.endpoint === 'toDevice' ? 'delay' : 'deliver');
    await alice.shareRoomKey(ROOM, [bobInfo]);
    alice.server.hook = undefined;
    const { event } = await alice.post(ROOM, { n: 1 });
    let error: unknown;
    try {
      await bob.device.decryptRoomEvent(event);
    } catch (e) {
      error = e;
    }
    expect((error as { code: string }).code).toBe('ROOM_KEY_UNKNOWN');
    expect(String((error as Error).message)).toMatch(/unable to decrypt/);
    expect(alice.server.releaseDelayed()).toBe(1);
    expect((await bob.receive())[0]?.result?.roomKey?.isNew).toBe(true);
    const d = await bob.device.decryptRoomEvent(event);
    expect(d.event.content).toEqual({ n: 1 });
    expect(d.verified).toBe(true);
  });

  it('exported keys import unverified on a new device; the exporter keeps its verified copy', async () => {
    const { alice, bob, bobInfo } = await world();
    await share(alice, [bobInfo], [bob]);
    const events = [];
    for (let n = 0; n < 3; n++) events.push((await alice.post(ROOM, { n })).event);
    const exported = await bob.device.exportRoomKeys();
    expect(exported).toHaveLength(1);
    expect(exported[0]).toMatchObject({ algorithm: MEGOLM, room_id: ROOM, forwarding_curve25519_key_chain: [] });
    expect(await bob.device.exportRoomKeys(OTHER_ROOM)).toEqual([]);
    const tablet = await DeviceClient.create(bob.server, BOB, 'TABLET');
    expect(await tablet.device.importRoomKeys(exported)).toBe(1);
    for (const [n, event] of events.entries()) {
      const d = await tablet.device.decryptRoomEvent(event);
      expect(d.event.content).toEqual({ n });
      expect(d.verified).toBe(false);
    }
    expect((await bob.device.decryptRoomEvent(events[0]!)).verified).toBe(true);
    // Forwarded keys are unverified too, and keep their forwarding chain.
    const phone = await DeviceClient.create(bob.server, BOB, 'PHONE');
    const chain = [bobInfo.curve25519Key.toBase64()];
    expect(
      await phone.device.importRoomKeys([{ ...exported[0]!, forwarding_curve25519_key_chain: chain }], 'forwarded'),
    ).toBe(1);
    const forwarded = await phone.device.decryptRoomEvent(events[1]!);
    expect(forwarded.verified).toBe(false);
    expect(forwarded.forwardingCurve25519KeyChain.map((k) => k.toBase64())).toEqual(chain);
    // Importing the same keys again stores nothing new.
    expect(await tablet.device.importRoomKeys(exported)).toBe(0);
  });

  it('an imported copy with a later first index does not replace an earlier one; an earlier one does', async () => {
    const { alice } = await world();
    const events = [];
    for (let n = 0; n < 4; n++) events.push((await alice.post(ROOM, { n })).event);
    const [full] = await alice.device.exportRoomKeys(ROOM);
    const session = InboundGroupSession.import(ExportedSessionKey.fromBase64(full!.session_key));
    const fromTwo: ExportedRoomKey = { ...full!, session_key: session.exportAt(2).toBase64() };

    const first = await DeviceClient.create(alice.server, CAROL, 'FIRST');
    expect(await first.device.importRoomKeys([full!])).toBe(1);
    expect(await first.device.importRoomKeys([fromTwo])).toBe(0);
    await first.reopen();
    expect((await first.device.decryptRoomEvent(events[0]!)).event.content).toEqual({ n: 0 });

    const second = await DeviceClient.create(alice.server, CAROL, 'SECOND');
    expect(await second.device.importRoomKeys([fromTwo])).toBe(1);
    expect(await codeOf(second.device.decryptRoomEvent(events[1]!))).toBe('UNKNOWN_MESSAGE_INDEX');
    expect((await second.device.decryptRoomEvent(events[2]!)).event.content).toEqual({ n: 2 });
    expect(await second.device.importRoomKeys([full!])).toBe(1);
    await second.reopen();
    const d = await second.device.decryptRoomEvent(events[0]!);
    expect(d.event.content).toEqual({ n: 0 });
    expect(d.verified).toBe(false);
    expect((await second.device.exportRoomKeys())[0]!.session_key).toBe(full!.session_key);
  });

  it('an import never replaces a key that came over Olm from its creator, even one knowing earlier messages', async () => {
    // DEVICE-NOTES: a stored session is replaced only by a copy from a trusted source with a lower first index.
    const { alice, bob, carol, bobInfo, carolInfo } = await world();
    await share(alice, [bobInfo], [bob]);
    const early = await alice.post(ROOM, { n: 0 });
    await share(alice, [bobInfo, carolInfo], [carol]); // Carol joins at index 1
    const late = await alice.post(ROOM, { n: 1 });
    const full = await alice.device.exportRoomKeys(ROOM);
    expect(await bob.device.importRoomKeys(full)).toBe(0);
    expect((await bob.device.decryptRoomEvent(early.event)).verified).toBe(true);
    expect(await carol.device.importRoomKeys(full)).toBe(0);
    expect(await codeOf(carol.device.decryptRoomEvent(early.event))).toBe('UNKNOWN_MESSAGE_INDEX');
    const d = await carol.device.decryptRoomEvent(late.event);
    expect(d.verified).toBe(true);
    expect((await carol.device.exportRoomKeys(ROOM))[0]!.forwarding_curve25519_key_chain).toEqual([]);
  });

  it('key files: export, import on a new device (unverified), wrong passphrase refused', async () => {
    const { alice, bob, bobInfo } = await world();
    await share(alice, [bobInfo], [bob]);
    const { event } = await alice.post(ROOM, { n: 1 });
    const file = await bob.device.exportKeyFile('correct horse', { rounds: 1000 });
    expect(file.startsWith('-----BEGIN MEGOLM SESSION DATA-----')).toBe(true);
    const laptop = await DeviceClient.create(bob.server, BOB, 'LAPTOP');
    let error: unknown;
    try {
      await laptop.device.importKeyFile(file, 'wrong horse');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DecryptionError);
    expect((error as DecryptionError).code).toBe('KEY_EXPORT_BAD_PASSPHRASE');
    expect(await laptop.store.listInboundGroupSessions()).toEqual([]);
    expect(await laptop.device.importKeyFile(file, 'correct horse')).toBe(1);
    const d = await laptop.device.decryptRoomEvent(event);
    expect(d.event.content).toEqual({ n: 1 });
    expect(d.verified).toBe(false);
    // One room's keys only.
    expect(await bob.device.exportKeyFile('p', { rounds: 10 }, OTHER_ROOM)).toMatch(/MEGOLM SESSION DATA/);
    const empty = await DeviceClient.create(bob.server, BOB, 'EMPTY');
    expect(await empty.device.importKeyFile(await bob.device.exportKeyFile('p', { rounds: 10 }, OTHER_ROOM), 'p')).toBe(
      0,
    );
  });

  it('malformed imported entries are skipped, the good ones kept', async () => {
    const { alice } = await world();
    await alice.device.encryptRoomEvent(ROOM, 'm.room.message', {});
    const [good] = await alice.device.exportRoomKeys(ROOM);
    const other = await DeviceClient.create(alice.server, CAROL, 'IMPORTER');
    const bad: ExportedRoomKey[] = [
      { ...good!, algorithm: 'm.unknown' },
      { ...good!, session_key: 'AAAA' },
      { ...good!, session_id: 'not-the-id' },
      { ...good!, room_id: '' },
    ];
    expect(await other.device.importRoomKeys([...bad, good!])).toBe(1);
    expect((await other.device.exportRoomKeys()).map((k) => k.session_id)).toEqual([good!.session_id]);
  });
});

describe('outbound index reservation', () => {
  it('across clean restarts and crashes no (session, message index) is ever used twice', async () => {
    const server = new FaultHomeserver({ seed: 7 });
    const alice = await DeviceClient.create(server, ALICE, 'ALICEDEV', { device: { leaseDurationMs: 20 } });
    const bob = await DeviceClient.create(server, BOB, 'BOBDEV');
    await bob.publish();
    const [bobInfo] = await alice.track(BOB);
    await share(alice, [bobInfo!], [bob]);
    const seen = new Set<string>();
    const events = [];
    let body = 0;
    const random = server.random;
    for (let round = 0; round < 8; round++) {
      const count = 1 + Math.floor(random() * 20);
      for (let i = 0; i < count; i++) {
        const { event, result } = await alice.post(ROOM, { body: body++ });
        if (result.newRoomKey !== undefined) {
          // A rotation (restarts skip reserved indices, which count towards the 100-message limit):
          // the new key goes to Bob as the spec's m.room_key.
          await alice.sendToDevice(bobInfo!, 'm.room_key', { ...result.newRoomKey });
          expect((await bob.receive())[0]?.result?.roomKey?.isNew).toBe(true);
        }
        const slot = `${result.sessionId}/${result.messageIndex}`;
        expect(seen.has(slot), slot).toBe(false);
        seen.add(slot);
        events.push(event);
      }
      if (round % 2 === 0) {
        await alice.reopen({ leaseDurationMs: 20 });
      } else {
        // A crash: the Device is dropped without close (its lease lapses), and a new one opens the store.
        alice.store = new FaultyStore(alice.database.open(scopeOf(ALICE, 'ALICEDEV')));
        alice.device = await Device.open(alice.store, {
          userId: ALICE,
          deviceId: 'ALICEDEV',
          pickleKey: alice.pickleKey,
          leaseDurationMs: 20,
        });
      }
    }
    expect(seen.size).toBe(body);
    // Bob reads every event, each at the index Alice reported (no replay refusals).
    for (const [n, event] of events.entries()) {
      const d = await bob.device.decryptRoomEvent(event);
      expect(d.event.content).toEqual({ body: n });
    }
  });

  it.each([
    [undefined, 256],
    [5, 5],
  ])('a crash skips exactly the rest of the reserved block (outboundIndexReservation %s)', async (option, block) => {
    const server = new FaultHomeserver({ seed: 8 });
    const extra = { leaseDurationMs: 20, ...(option === undefined ? {} : { outboundIndexReservation: option }) };
    const alice = await DeviceClient.create(server, ALICE, 'ALICEDEV', { device: extra });
    const bob = await DeviceClient.create(server, BOB, 'BOBDEV');
    await bob.publish();
    const [bobInfo] = await alice.track(BOB);
    await share(alice, [bobInfo!], [bob]);
    const crash = async () => {
      alice.store = new FaultyStore(alice.database.open(scopeOf(ALICE, 'ALICEDEV')));
      alice.device = await Device.open(alice.store, {
        userId: ALICE,
        deviceId: 'ALICEDEV',
        pickleKey: alice.pickleKey,
        ...extra,
      });
    };
    const indices: number[] = [];
    for (let i = 0; i < 3; i++) indices.push((await alice.post(ROOM, { i })).result.messageIndex);
    await crash();
    indices.push((await alice.post(ROOM, { i: 3 })).result.messageIndex);
    await crash();
    indices.push((await alice.post(ROOM, { i: 4 })).result.messageIndex);
    // Index 0 reserved [0, block); after the first crash the session resumes at block, which
    // reserves [block, 2·block); the second crash resumes at 2·block.
    expect(indices).toEqual([0, 1, 2, block, 2 * block]);
  });

  it.each([0, -1, 1.5, 65_537, Number.NaN])('refuses outboundIndexReservation %s', async (value) => {
    const store = new MemoryStore('@x:example.org|X');
    await expect(
      Device.create(store, {
        userId: '@x:example.org',
        deviceId: 'X',
        pickleKey: new Uint8Array(32),
        outboundIndexReservation: value,
      }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
