/**
 * DEVICE-NOTES's fault scenarios (after complement-crypto), in process: a FaultHomeserver with per-device
 * to-device queues and a fault hook per call (drop, duplicate, reorder, delay, fail before applying,
 * apply then fail), and a FaultyStore whose commits fail before applying or apply and then fail.
 */
import { describe, expect, it } from 'vitest';
import { Device, type DeviceInfo, type EncryptedRoomEvent } from '../../src/device/index.js';
import { MAX_SKIPPED_KEYS_PER_CHAIN } from '../../src/olm/session.js';
import { MemoryDatabase } from '../../src/store/memory.js';
import { codeOf, DeviceClient, type ExtraDeviceOptions, outcome, scopeOf } from '../support/device-client.js';
import { type FaultAction, type FaultCall, FaultHomeserver, FaultInjected } from '../support/fault-homeserver.js';

const ALICE = '@alice:example.org';
const BOB = '@bob:example.org';
const ROOM = '!faults:example.org';

async function world(seed = 1, aliceOptions: ExtraDeviceOptions = {}, bobOptions: ExtraDeviceOptions = {}) {
  const server = new FaultHomeserver({ seed });
  const alice = await DeviceClient.create(server, ALICE, 'ALICEDEV', { device: aliceOptions });
  const bob = await DeviceClient.create(server, BOB, 'BOBDEV', { device: bobOptions });
  await alice.publish();
  await bob.publish();
  const [bobInfo] = await alice.track(BOB);
  const [aliceInfo] = await bob.track(ALICE);
  return { server, alice, bob, aliceInfo: aliceInfo!, bobInfo: bobInfo! };
}

/** A hook that answers `action` for the calls `match` picks, `deliver` otherwise. */
function when(match: (call: FaultCall) => boolean, action: FaultAction): (call: FaultCall) => FaultAction {
  return (call) => (match(call) ? action : 'deliver');
}

const toBob = (call: FaultCall) => call.endpoint === 'toDevice' && call.recipient?.userId === BOB;
const toAlice = (call: FaultCall) => call.endpoint === 'toDevice' && call.recipient?.userId === ALICE;

async function storedOneTimeKeys(client: DeviceClient): Promise<number> {
  const account = await client.storedAccount();
  const count = account.storedOneTimeKeyCount;
  account.free();
  return count;
}

async function errorOf(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return { code: String((error as { code?: unknown }).code), message: String((error as Error).message) };
  }
  throw new Error('expected a rejection');
}

describe('the fault homeserver itself', () => {
  it('drops, duplicates, delays, reorders and fails calls as its hook says', async () => {
    const server = new FaultHomeserver();
    const send = (n: number) =>
      server.sendToDevice(ALICE, 'org.example.test', { messages: { [BOB]: { BOBDEV: { n } } } });
    const actions: FaultAction[] = ['deliver', 'drop', 'duplicate', 'delay', 'reorder', 'deliver'];
    let i = 0;
    server.hook = (call) => (call.endpoint === 'toDevice' ? actions[i++]! : 'deliver');
    for (let n = 0; n < 6; n++) send(n);
    server.hook = undefined;
    expect(server.takeToDevice(BOB, 'BOBDEV').map((e) => e.content.n)).toEqual([0, 2, 2, 5, 4]);
    expect(server.releaseDelayed()).toBe(1);
    expect(server.takeToDevice(BOB, 'BOBDEV').map((e) => e.content.n)).toEqual([3]);
    server.hook = when((c) => c.endpoint === 'sendToDevice', 'fail-before');
    expect(() => send(7)).toThrow(FaultInjected);
    server.hook = when((c) => c.endpoint === 'sendToDevice', 'fail-after');
    expect(() => send(8)).toThrow(FaultInjected);
    server.hook = when((c) => c.endpoint === 'sync', 'fail-after');
    expect(() => server.takeToDevice(BOB, 'BOBDEV')).toThrow(FaultInjected);
    server.hook = when((c) => c.endpoint === 'sync', 'duplicate');
    expect(server.takeToDevice(BOB, 'BOBDEV').map((e) => e.content.n)).toEqual([8, 8]);
  });
});

describe('lost and late room keys', () => {
  it('a lost m.room_key: a clear ROOM_KEY_UNKNOWN; the key sent again later recovers every event', async () => {
    const { server, alice, bob, bobInfo } = await world();
    const first = await alice.post(ROOM, { n: 0 });
    const roomKey = first.result.newRoomKey!;
    server.hook = when(toBob, 'drop');
    await alice.sendToDevice(bobInfo, 'm.room_key', { ...roomKey });
    server.hook = undefined;
    expect(await bob.receive()).toEqual([]);
    const events: EncryptedRoomEvent[] = [first.event];
    for (let n = 1; n < 4; n++) events.push((await alice.post(ROOM, { n })).event);
    for (const event of events) {
      const error = await errorOf(bob.device.decryptRoomEvent(event));
      expect(error.code).toBe('ROOM_KEY_UNKNOWN');
      expect(error.message).toMatch(/unable to decrypt/);
    }
    // Alice's client sends the key again (e.g. answering a key request): now every event opens, verified.
    await alice.sendToDevice(bobInfo, 'm.room_key', { ...roomKey });
    expect((await bob.receive())[0]?.result?.roomKey?.isNew).toBe(true);
    for (const [n, event] of events.entries()) {
      const d = await bob.device.decryptRoomEvent(event);
      expect(d.event.content).toEqual({ n });
      expect(d.verified).toBe(true);
    }
  });

  it('a lost shareRoomKey message: shareRoomKey does not send it again; a forwarded copy recovers (unverified)', async () => {
    const { server, alice, bob, bobInfo } = await world();
    server.hook = when(toBob, 'drop');
    expect(await alice.shareRoomKey(ROOM, [bobInfo])).toHaveLength(1);
    server.hook = undefined;
    const { event } = await alice.post(ROOM, { n: 1 });
    expect(await codeOf(bob.device.decryptRoomEvent(event))).toBe('ROOM_KEY_UNKNOWN');
    expect((await alice.device.shareRoomKey(ROOM, [bobInfo])).messages).toEqual([]);
    const keys = await alice.device.exportRoomKeys(ROOM);
    expect(await bob.device.importRoomKeys(keys, 'forwarded')).toBe(1);
    const d = await bob.device.decryptRoomEvent(event);
    expect(d.event.content).toEqual({ n: 1 });
    expect(d.verified).toBe(false);
  });

  it('a room event before its key (the sync that carries the key is late), then retried', async () => {
    const { server, alice, bob, bobInfo } = await world();
    await alice.shareRoomKey(ROOM, [bobInfo]);
    const { event } = await alice.post(ROOM, { n: 1 });
    server.hook = when((c) => c.endpoint === 'sync' && c.user === BOB, 'delay');
    expect(await bob.receive()).toEqual([]);
    server.hook = undefined;
    expect(await codeOf(bob.device.decryptRoomEvent(event))).toBe('ROOM_KEY_UNKNOWN');
    const received = await bob.receive();
    expect(received.map(outcome)).toEqual(['ok']);
    expect((await bob.device.decryptRoomEvent(event)).event.content).toEqual({ n: 1 });
  });
});

describe('lost, duplicated and shuffled to-device messages', () => {
  it('the first reply on a new Olm session lost: the sender keeps sending pre-key messages until one arrives', async () => {
    const { server, alice, bob, aliceInfo, bobInfo } = await world();
    const types: number[] = [];
    types.push((await alice.sendToDevice(bobInfo, 'org.example.test', { n: 1 })).type);
    expect((await bob.receive()).map(outcome)).toEqual(['ok']);
    server.hook = when(toAlice, 'drop');
    expect((await bob.sendToDevice(aliceInfo, 'org.example.reply', { r: 1 })).type).toBe(1);
    server.hook = undefined;
    expect(await alice.receive()).toEqual([]);
    for (let n = 2; n < 5; n++) {
      types.push((await alice.sendToDevice(bobInfo, 'org.example.test', { n })).type);
      expect((await bob.receive()).map((r) => r.result?.content)).toEqual([{ n }]);
    }
    expect(types).toEqual([0, 0, 0, 0]);
    // A restart of Alice changes nothing: still pre-key until she hears back.
    await alice.reopen();
    expect((await alice.sendToDevice(bobInfo, 'org.example.test', { n: 5 })).type).toBe(0);
    expect((await bob.receive()).map(outcome)).toEqual(['ok']);
    await bob.sendToDevice(aliceInfo, 'org.example.reply', { r: 2 });
    expect((await alice.receive()).map((r) => r.result?.content)).toEqual([{ r: 2 }]);
    expect((await alice.sendToDevice(bobInfo, 'org.example.test', { n: 6 })).type).toBe(1);
    expect((await bob.receive()).map((r) => r.result?.content)).toEqual([{ n: 6 }]);
    expect(await bob.store.loadOlmSessions(aliceInfo.curve25519Key.toBase64())).toHaveLength(1);
    expect(await alice.store.loadOlmSessions(bobInfo.curve25519Key.toBase64())).toHaveLength(1);
    expect(await storedOneTimeKeys(bob)).toBe(4);
  });

  it('every to-device message delivered twice: one session, one one-time key, duplicates refused as EVENT_REPLAYED', async () => {
    const { server, alice, bob, aliceInfo, bobInfo } = await world();
    server.hook = (call) => (call.endpoint === 'toDevice' ? 'duplicate' : 'deliver');
    await alice.shareRoomKey(ROOM, [bobInfo]);
    for (let n = 0; n < 4; n++) await alice.sendToDevice(bobInfo, 'org.example.test', { n });
    const received = await bob.receive();
    expect(received.map(outcome)).toEqual(
      Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? 'ok' : 'EVENT_REPLAYED')),
    );
    expect(received.filter((r) => r.result?.roomKey !== undefined)).toHaveLength(1);
    expect(await bob.store.loadOlmSessions(aliceInfo.curve25519Key.toBase64())).toHaveLength(1);
    expect(await storedOneTimeKeys(bob)).toBe(4);
    // Replies both ways, still doubled.
    for (let n = 0; n < 3; n++) await bob.sendToDevice(aliceInfo, 'org.example.reply', { n });
    expect((await alice.receive()).map(outcome)).toEqual([
      'ok',
      'EVENT_REPLAYED',
      'ok',
      'EVENT_REPLAYED',
      'ok',
      'EVENT_REPLAYED',
    ]);
    await alice.sendToDevice(bobInfo, 'org.example.test', { last: true });
    expect((await bob.receive()).map(outcome)).toEqual(['ok', 'EVENT_REPLAYED']);
    const { event } = await alice.post(ROOM, { n: 1 });
    expect((await bob.device.decryptRoomEvent(event)).event.content).toEqual({ n: 1 });
    expect(await alice.store.loadOlmSessions(bobInfo.curve25519Key.toBase64())).toHaveLength(1);
    expect(await storedOneTimeKeys(alice)).toBe(5);
  });

  it("120 pre-key messages fully shuffled: exactly those inside Olm's skipped-key window open, the rest are refused", async () => {
    const { server, alice, bob, aliceInfo, bobInfo } = await world(120);
    const indexOf = new Map<string, number>();
    for (let n = 0; n < 120; n++) {
      const sent = await alice.sendToDevice(bobInfo, 'org.example.test', { n });
      expect(sent.type).toBe(0);
      indexOf.set(sent.body, n); // Alice sent them in order on one chain: n is the chain index
    }
    server.hook = when((c) => c.endpoint === 'sync' && c.user === BOB, 'reorder');
    const received = await bob.receive();
    server.hook = undefined;
    const order = received.map((r) => indexOf.get(ciphertextBody(r.event.content))!);
    expect([...order].sort((x, y) => x - y)).toEqual(Array.from({ length: 120 }, (_, i) => i));
    expect(order).not.toEqual([...order].sort((x, y) => x - y));

    // Olm's receiving chain: a message ahead of the chain keeps the keys of the ones it skipped, at most
    // MAX_SKIPPED_KEYS_PER_CHAIN (the oldest go first); an older message opens only with a kept key.
    let next = 0;
    let kept: number[] = [];
    const expected = order.map((n) => {
      if (n >= next) {
        for (let k = Math.max(next, n - MAX_SKIPPED_KEYS_PER_CHAIN); k < n; k++) kept.push(k);
        kept = kept.slice(-MAX_SKIPPED_KEYS_PER_CHAIN);
        next = n + 1;
        return 'ok';
      }
      // Never delivered twice here: a key no longer kept means the message was lost, not replayed.
      if (!kept.includes(n)) return 'EVENT_KEY_NOT_KEPT';
      kept = kept.filter((k) => k !== n);
      return 'ok';
    });
    expect(received.map(outcome)).toEqual(expected);
    for (const [i, r] of received.entries())
      if (r.result !== undefined) expect(r.result.content).toEqual({ n: order[i] });
    expect(expected.filter((e) => e === 'ok').length).toBeGreaterThan(MAX_SKIPPED_KEYS_PER_CHAIN);
    // One session, one one-time key, and the conversation goes on.
    expect(await bob.store.loadOlmSessions(aliceInfo.curve25519Key.toBase64())).toHaveLength(1);
    expect(await storedOneTimeKeys(bob)).toBe(4);
    await bob.sendToDevice(aliceInfo, 'org.example.reply', {});
    expect((await alice.receive()).map(outcome)).toEqual(['ok']);
    expect((await alice.sendToDevice(bobInfo, 'org.example.test', { n: 120 })).type).toBe(1);
    expect((await bob.receive()).map(outcome)).toEqual(['ok']);
  });

  it('120 messages reordered within the window (held back, swapped, delayed): every one opens once', async () => {
    const { server, alice, bob, aliceInfo, bobInfo } = await world(5);
    // Start the session so later messages are normal ones, then disturb the traffic.
    await alice.sendToDevice(bobInfo, 'org.example.test', { n: -1 });
    await bob.receive();
    await bob.sendToDevice(aliceInfo, 'org.example.reply', {});
    await alice.receive();
    const actions: FaultAction[] = ['deliver', 'reorder', 'delay', 'deliver', 'duplicate'];
    server.hook = (call) => (toBob(call) ? actions[Math.floor(server.random() * actions.length)]! : 'deliver');
    const got: number[] = [];
    const outcomes: string[] = [];
    for (let n = 0; n < 120; n++) {
      await alice.sendToDevice(bobInfo, 'org.example.test', { n });
      if (n % 20 === 19) {
        server.releaseDelayed();
        for (const r of await bob.receive()) {
          outcomes.push(outcome(r));
          if (r.result !== undefined) got.push((r.result.content as { n: number }).n);
        }
      }
    }
    server.hook = undefined;
    server.releaseDelayed();
    for (const r of await bob.receive()) {
      outcomes.push(outcome(r));
      if (r.result !== undefined) got.push((r.result.content as { n: number }).n);
    }
    expect([...got].sort((x, y) => x - y)).toEqual(Array.from({ length: 120 }, (_, i) => i));
    expect(new Set(outcomes)).toEqual(new Set(['ok', 'EVENT_REPLAYED']));
    expect(outcomes.filter((o) => o === 'EVENT_REPLAYED').length).toBe(outcomes.length - 120);
  });
});

function ciphertextBody(content: Record<string, unknown>): string {
  const parts = (content as { ciphertext: Record<string, { body: string }> }).ciphertext;
  return Object.values(parts)[0]!.body;
}

describe('store commits that fail before applying, or apply and then fail', () => {
  it('a pre-key decrypt whose commit fails before applying, then a restart: nothing kept; the retry succeeds once', async () => {
    const { alice, bob, aliceInfo, bobInfo } = await world();
    await alice.sendToDevice(bobInfo, 'org.example.test', { n: 1 });
    const [event] = bob.sync();
    bob.store.failNextCommit('fail-before');
    expect(await codeOf(bob.device.decryptToDevice(event!))).toBe('STORE_IO');
    expect(await bob.store.loadOlmSessions(aliceInfo.curve25519Key.toBase64())).toEqual([]);
    expect(await storedOneTimeKeys(bob)).toBe(5);
    // The process dies here (after the pre-key decrypt, before any commit) and comes back.
    await bob.reopen();
    expect((await bob.device.decryptToDevice(event!)).content).toEqual({ n: 1 });
    expect(await codeOf(bob.device.decryptToDevice(event!))).toBe('EVENT_REPLAYED');
    expect(await bob.store.loadOlmSessions(aliceInfo.curve25519Key.toBase64())).toHaveLength(1);
    expect(await storedOneTimeKeys(bob)).toBe(4);
  });

  it('an m.room_key decrypt whose commit applies and then fails: the retry reports EVENT_REPLAYED, nothing lost or doubled', async () => {
    const { alice, bob, aliceInfo, bobInfo } = await world();
    await alice.shareRoomKey(ROOM, [bobInfo]);
    const { event: roomEvent } = await alice.post(ROOM, { n: 1 });
    const [toDevice] = bob.sync();
    bob.store.failNextCommit('fail-after');
    expect(await codeOf(bob.device.decryptToDevice(toDevice!))).toBe('STORE_IO');
    // The batch landed whole: session, one-time key removal and room key.
    expect(await bob.store.loadOlmSessions(aliceInfo.curve25519Key.toBase64())).toHaveLength(1);
    expect(await storedOneTimeKeys(bob)).toBe(4);
    // The plaintext was consumed by the committed state: the retry is a replay, not a second session.
    expect(await codeOf(bob.device.decryptToDevice(toDevice!))).toBe('EVENT_REPLAYED');
    expect(await bob.store.loadOlmSessions(aliceInfo.curve25519Key.toBase64())).toHaveLength(1);
    expect(await storedOneTimeKeys(bob)).toBe(4);
    expect((await bob.device.decryptRoomEvent(roomEvent)).event.content).toEqual({ n: 1 });
    await alice.sendToDevice(bobInfo, 'org.example.test', { next: true });
    expect((await bob.receive()).map((r) => r.result?.content)).toEqual([{ next: true }]);
  });

  it('encryptToDevice: a failed commit of either kind leaves one session and the retry reaches the peer', async () => {
    for (const mode of ['fail-before', 'fail-after'] as const) {
      const { alice, bob, aliceInfo, bobInfo } = await world();
      const oneTimeKey = alice.claim(bobInfo);
      alice.store.failNextCommit(mode);
      expect(
        await codeOf(alice.device.encryptToDevice(bobInfo, 'org.example.test', { lost: true }, { oneTimeKey })),
      ).toBe('STORE_IO');
      expect(await alice.store.loadOlmSessions(bobInfo.curve25519Key.toBase64())).toHaveLength(
        mode === 'fail-after' ? 1 : 0,
      );
      // The client retries with the key it claimed.
      const retried = await alice.device.encryptToDevice(bobInfo, 'org.example.test', { n: 1 }, { oneTimeKey });
      alice.server.sendMessages(ALICE, [{ recipient: bobInfo, type: 'm.room.encrypted', content: retried }]);
      expect((await bob.receive()).map((r) => r.result?.content)).toEqual([{ n: 1 }]);
      expect(await alice.store.loadOlmSessions(bobInfo.curve25519Key.toBase64())).toHaveLength(1);
      expect(await bob.store.loadOlmSessions(aliceInfo.curve25519Key.toBase64())).toHaveLength(1);
    }
  });

  it('encryptRoomEvent with failing commits: retries succeed and no message index is ever used twice', async () => {
    // Each failed reservation skips a block of indices: a high message limit keeps one session throughout.
    // Blocks of 16 make 80 messages cross several reservations.
    const { alice, bob, bobInfo } = await world(1, { rotationPeriodMsgs: 100_000, outboundIndexReservation: 16 });
    await alice.shareRoomKey(ROOM, [bobInfo]);
    await bob.receive();
    const slots = new Set<number>();
    const events: { event: EncryptedRoomEvent; n: number }[] = [];
    let faults = 0;
    let modes = 0;
    for (let n = 0; n < 80; n++) {
      // Commits happen once per reserved block of indices; the next one after each injection fails,
      // alternately before and after applying.
      if (alice.store.pendingFaults === 0) alice.store.failNextCommit(modes++ % 2 === 0 ? 'fail-before' : 'fail-after');
      let posted: Awaited<ReturnType<DeviceClient['post']>> | undefined;
      for (let attempt = 0; posted === undefined; attempt++) {
        expect(attempt).toBeLessThan(2);
        try {
          posted = await alice.post(ROOM, { n });
        } catch (error) {
          expect((error as { code?: string }).code).toBe('STORE_IO');
          faults++;
        }
      }
      expect(posted.result.newRoomKey).toBeUndefined();
      expect(slots.has(posted.result.messageIndex)).toBe(false);
      slots.add(posted.result.messageIndex);
      events.push({ event: posted.event, n });
    }
    expect(faults).toBeGreaterThanOrEqual(4);
    expect(alice.store.injected).toBe(faults);
    for (const { event, n } of events) expect((await bob.device.decryptRoomEvent(event)).event.content).toEqual({ n });
  });

  it('shareRoomKey whose commit fails before applying: the retry shares with the same devices', async () => {
    const { alice, bob, bobInfo } = await world();
    alice.store.failNextCommit('fail-before');
    expect(
      await codeOf(
        alice.device.shareRoomKey(ROOM, [bobInfo], new Map([[bobInfo.curve25519Key.toBase64(), alice.claim(bobInfo)]])),
      ),
    ).toBe('STORE_IO');
    expect(await alice.store.loadOutboundGroupSession(ROOM)).toBeUndefined();
    const messages = await alice.shareRoomKey(ROOM, [bobInfo]);
    expect(messages.map((m) => m.recipient.deviceId)).toEqual(['BOBDEV']);
    expect((await bob.receive()).map(outcome)).toEqual(['ok']);
    const { event } = await alice.post(ROOM, { n: 1 });
    expect((await bob.device.decryptRoomEvent(event)).event.content).toEqual({ n: 1 });
  });

  it('decryptRoomEvent whose replay record fails to commit, either way: the retry returns the event', async () => {
    const { alice, bob, bobInfo } = await world(1, {}, { deferReplayRecords: false });
    await alice.shareRoomKey(ROOM, [bobInfo]);
    await bob.receive();
    for (const mode of ['fail-before', 'fail-after'] as const) {
      const { event, result } = await alice.post(ROOM, { mode });
      bob.store.failNextCommit(mode, (c) => c.replays !== undefined);
      expect(await codeOf(bob.device.decryptRoomEvent(event))).toBe('STORE_IO');
      expect((await bob.device.decryptRoomEvent(event)).event.content).toEqual({ mode });
      expect(await bob.store.loadReplay(result.sessionId, result.messageIndex)).toMatchObject({
        eventId: event.event_id,
      });
      expect(await codeOf(bob.device.decryptRoomEvent({ ...event, event_id: '$other' }))).toBe('EVENT_REPLAYED');
    }
  });

  it('keys uploaded but the answer lost: the same key ids are uploaded again, nothing doubled on the server', async () => {
    const server = new FaultHomeserver();
    const carol = await DeviceClient.create(server, '@carol:example.org', 'CAROLDEV');
    await carol.device.generateOneTimeKeys(5);
    await carol.device.generateFallbackKey();
    const body = await carol.device.keysForUpload(true);
    server.hook = when((c) => c.endpoint === 'keys/upload', 'fail-after');
    expect(() => server.uploadKeys(carol.userId, carol.deviceId, body)).toThrow(FaultInjected);
    server.hook = undefined;
    // A crash here too: the reopened device offers the same keys.
    await carol.reopen();
    const again = await carol.device.keysForUpload(true);
    expect(Object.keys(again.one_time_keys)).toEqual(Object.keys(body.one_time_keys));
    expect(again.fallback_keys).toEqual(body.fallback_keys);
    expect(server.uploadKeys(carol.userId, carol.deviceId, again).one_time_key_counts).toEqual({
      signed_curve25519: 5,
    });
    await carol.device.markKeysAsPublished();
    expect(await carol.device.keysForUpload()).toEqual({ one_time_keys: {}, fallback_keys: {} });
  });
});

describe('two processes on one device (shared database, lease taken per operation)', () => {
  it('interleaved encrypts and decrypts: no reused message index, no stuck session, no duplicate key ids', async () => {
    const server = new FaultHomeserver();
    const database = new MemoryDatabase();
    const pickleKey = new Uint8Array(32).fill(3);
    const alice = await DeviceClient.create(server, ALICE, 'ALICEDEV', { database, pickleKey });
    await alice.close();
    const options = { userId: ALICE, deviceId: 'ALICEDEV', pickleKey, releaseLeaseAfterEachOperation: true };
    const one = await Device.open(database.open(scopeOf(ALICE, 'ALICEDEV')), options);
    const two = await Device.open(database.open(scopeOf(ALICE, 'ALICEDEV')), options);
    const processes = [one, two];
    // One-time keys generated by both: distinct ids.
    await Promise.all([one.generateOneTimeKeys(3), two.generateOneTimeKeys(3)]);
    const upload = await one.keysForUpload(true);
    expect(Object.keys(upload.one_time_keys)).toHaveLength(6);
    expect(Object.keys((await two.keysForUpload()).one_time_keys)).toEqual(Object.keys(upload.one_time_keys));
    server.uploadKeys(ALICE, 'ALICEDEV', upload);
    await two.markKeysAsPublished();

    const bob = await DeviceClient.create(server, BOB, 'BOBDEV');
    await bob.publish();
    const [aliceInfo] = await bob.track(ALICE);
    const [bobInfo] = await (async () => {
      const response = server.queryKeys({ device_keys: { [BOB]: [] } });
      return one.trackDevices(Object.values(response.device_keys[BOB]!) as Record<string, unknown>[]);
    })();

    // Bob's messages are decrypted by whichever process takes them, concurrently.
    for (let n = 0; n < 12; n++) await bob.sendToDevice(aliceInfo!, 'org.example.test', { n });
    const events = server.takeToDevice(ALICE, 'ALICEDEV');
    const results = await Promise.all(events.map((e, i) => processes[i % 2]!.decryptToDevice(e)));
    expect(results.map((r) => (r.content as { n: number }).n).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 12 }, (_, i) => i),
    );
    // Room messages from both, concurrently: never the same index.
    const share = await one.shareRoomKey(ROOM, [bobInfo as DeviceInfo]);
    server.sendMessages(ALICE, share.messages);
    expect((await bob.receive()).map(outcome)).toEqual(['ok']);
    const posted = await Promise.all(
      Array.from({ length: 40 }, (_, n) => processes[n % 2]!.encryptRoomEvent(ROOM, 'm.room.message', { n })),
    );
    expect(new Set(posted.map((p) => p.sessionId)).size).toBe(1);
    expect(new Set(posted.map((p) => p.messageIndex)).size).toBe(40);
    for (const [n, p] of posted.entries()) {
      const event = server.sendRoomEvent(ROOM, ALICE, { ...p.content });
      expect((await bob.device.decryptRoomEvent(event)).event.content).toEqual({ n });
    }
    // Both can still talk to Bob over the one Olm session.
    for (const [i, p] of processes.entries()) {
      const content = await p.encryptToDevice(bobInfo as DeviceInfo, 'org.example.reply', { i });
      server.sendMessages(ALICE, [{ recipient: bobInfo as DeviceInfo, type: 'm.room.encrypted', content }]);
    }
    expect((await bob.receive()).map((r) => r.result?.content)).toEqual([{ i: 0 }, { i: 1 }]);
    expect(await bob.store.loadOlmSessions((await one.identityKeys()).curve25519.toBase64())).toHaveLength(1);
    await one.close();
    await two.close();
  });
});
