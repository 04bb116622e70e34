/**
 * The Device process killed with SIGKILL (SQLite and PostgreSQL), then the device reopened from the store:
 * - while encrypting room events: no (session, index) that was released before the kill is ever used
 *   again, and a receiver decrypts everything that was released;
 * - after generating one-time keys but before marking them published: `keysForUpload` offers the same
 *   key ids (and keys) again;
 * - around a pre-key decrypt: the new Olm session and the one-time key's removal land together or not at
 *   all, and the message then decrypts again or is refused with a typed error.
 *
 * Kill points: the exact ones are deterministic. The worker's store wrapper stops right before (or right
 * after) the real commit of a chosen batch and tells the test, which then kills it; or the worker idles
 * between two operations and is killed there. On top, the encrypt loop and a loop of pre-key decrypts are
 * killed at random moments (several rounds), and the invariants are checked whatever was in flight.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Device } from '../../src/device/index.js';
import { Curve25519PublicKey } from '../../src/keys.js';
import { Account } from '../../src/olm/account.js';
import { MemoryStore } from '../../src/store/memory.js';
import { FakeKeyServer, randomPickleKey, roomEvent, toDeviceEvent } from './child/common.js';
import type { ChildEvent, EncryptedEvent, PausedEvent } from './child/protocol.js';
import {
  createDevice,
  DeviceChild,
  killWorkers,
  note,
  open,
  openArgs,
  type SharedDevice,
  type Target,
  targets,
  withDevice,
} from './harness.js';

const all = targets('crash');
afterAll(async () => {
  await killWorkers();
  all.dispose();
});

const isEncrypted = (e: ChildEvent): e is EncryptedEvent => e.event === 'encrypted';
const isPaused = (e: ChildEvent): e is PausedEvent => e.event === 'paused';
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
type UploadBody = Awaited<ReturnType<Device['keysForUpload']>>;

async function memoryDevice(name: string): Promise<Device> {
  const userId = `@${name}:example.org`;
  return Device.create(new MemoryStore(`${userId}|X`), { userId, deviceId: 'X', pickleKey: randomPickleKey() });
}

/** What the store holds: the account's one-time public keys and the Olm sessions with one peer. */
async function inspect(t: Target, d: SharedDevice, peer: string): Promise<{ otks: Set<string>; sessions: number }> {
  const store = await open(t, d.scope);
  try {
    const record = await store.loadAccount();
    const account = Account.fromPickle(record!.data, d.pickleKey);
    const otks = new Set(
      account.toParts().oneTimeKeys.map((k) => Curve25519PublicKey.fromBytes(k.key.publicKey).toBase64()),
    );
    account.free();
    return { otks, sessions: (await store.loadOlmSessions(peer)).length };
  } finally {
    await store.close();
  }
}

describe.each(all.list)('$backend: SIGKILL and reopen', (t) => {
  it('while encrypting room events: no released index is reused, the receiver decrypts all that was released', async () => {
    const shared = await createDevice(t, `crash-encrypt-${t.backend}`);
    const roomId = '!crash:example.org';
    const released: EncryptedEvent[] = [];

    // Deterministic: killed inside the commit that reserves the second block of indices (blocks of
    // 64, so that it comes before the session's rotation at 100 messages).
    const first = await DeviceChild.start(
      openArgs(t, shared, {
        options: { outboundIndexReservation: 64 },
        faults: { pauseBeforeCommit: { kind: 'outbound', nth: [2] } },
      }),
    );
    void first.call('encryptMany', { roomId, label: 'r0' }).catch(() => undefined);
    const paused = await first.waitFor(isPaused);
    expect((await first.kill()).signal).toBe('SIGKILL');
    const r0 = first.events.filter(isEncrypted);
    expect(r0.map((e) => e.messageIndex)).toEqual(r0.map((_, i) => i));
    // The batch in flight reserved indices for the message right after the last one released.
    expect(paused.outbound).toEqual([
      expect.objectContaining({ sessionId: r0[0]!.sessionId, nextIndex: r0.length + 1 }),
    ]);
    released.push(...r0);

    // Random: three rounds killed at a random moment of the loop.
    for (let round = 1; round <= 3; round++) {
      const w = await DeviceChild.start(openArgs(t, shared));
      void w.call('encryptMany', { roomId, label: `r${round}`, pauseMs: 2 }).catch(() => undefined);
      await w.waitFor(isEncrypted);
      await sleep(20 + Math.random() * 250);
      expect((await w.kill()).signal).toBe('SIGKILL');
      const events = w.events.filter(isEncrypted);
      // A reopened device never goes back to an index released before the kill.
      const before = new Map<string, number>();
      for (const e of released) before.set(e.sessionId, Math.max(before.get(e.sessionId) ?? -1, e.messageIndex));
      const startsAt = events[0]!;
      expect(startsAt.messageIndex, `round ${round} resumes past every released index`).toBeGreaterThan(
        before.get(startsAt.sessionId) ?? -1,
      );
      released.push(...events);
    }

    // Reopened in this process, it carries on; then a receiver with the exported keys reads everything.
    const { after, keys } = await withDevice(t, shared, async (device) => {
      const after: EncryptedEvent[] = [];
      for (let seq = 0; seq < 3; seq++) {
        const r = await device.encryptRoomEvent(roomId, 'm.room.message', { body: `final-${seq}` });
        after.push({
          event: 'encrypted',
          label: 'final',
          seq,
          roomId,
          sessionId: r.sessionId,
          messageIndex: r.messageIndex,
          content: r.content as unknown as Record<string, unknown>,
          newRoomKey: r.newRoomKey !== undefined,
          committed: true,
        });
      }
      return { after, keys: await device.exportRoomKeys(roomId) };
    });
    const everything = [...released, ...after];
    const pairs = everything.map((e) => `${e.sessionId}:${e.messageIndex}`);
    expect(new Set(pairs).size, 'no (session, index) released twice').toBe(pairs.length);
    const receiver = await memoryDevice(`receiver-${t.backend}`);
    await receiver.importRoomKeys(keys);
    for (const e of everything) {
      const d = await receiver.decryptRoomEvent(roomEvent(roomId, shared.userId, e.content));
      expect([d.event.content['body'], d.messageIndex]).toEqual([`${e.label}-${e.seq}`, e.messageIndex]);
    }
    note(
      t.backend,
      'encrypt crash: released',
      released.length,
      'sessions',
      new Set(pairs.map((p) => p.split(':')[0])).size,
    );
    await receiver.close();
  });

  it('after generating one-time keys but before marking them published: the same key ids come back', async () => {
    const shared = await createDevice(t, `crash-keys-${t.backend}`);
    const server = new FakeKeyServer();
    const reread = () => withDevice(t, shared, (device) => device.keysForUpload());

    // Killed while idle between the upload and markKeysAsPublished.
    const a = await DeviceChild.start(openArgs(t, shared));
    await a.call('generateOneTimeKeys', { count: 5 });
    const offered = await a.call<UploadBody>('keysForUpload', {});
    expect(Object.keys(offered.one_time_keys)).toHaveLength(5);
    server.upload(shared.userId, shared.deviceId, offered);
    await a.kill();
    expect((await reread()).one_time_keys, 'the same ids, keys and signatures after the kill').toEqual(
      offered.one_time_keys,
    );

    // Killed inside the commit of a second generateOneTimeKeys: none of those keys exist afterwards.
    const b = await DeviceChild.start(
      openArgs(t, shared, { faults: { pauseBeforeCommit: { kind: 'account', nth: [1] } } }),
    );
    void b.call('generateOneTimeKeys', { count: 3 }).catch(() => undefined);
    await b.waitFor(isPaused);
    await b.kill();
    expect((await reread()).one_time_keys, 'the interrupted generation left nothing').toEqual(offered.one_time_keys);

    // Killed inside the commit of markKeysAsPublished: still unpublished, the same ids again.
    const c = await DeviceChild.start(
      openArgs(t, shared, { faults: { pauseBeforeCommit: { kind: 'account', nth: [1] } } }),
    );
    expect((await c.call<UploadBody>('keysForUpload', {})).one_time_keys).toEqual(offered.one_time_keys);
    void c.call('markKeysAsPublished').catch(() => undefined);
    await c.waitFor(isPaused);
    await c.kill();
    const again = await reread();
    expect(again.one_time_keys).toEqual(offered.one_time_keys);
    server.upload(shared.userId, shared.deviceId, again); // re-uploading the same keys is harmless

    // Killed right after that commit landed (before the caller heard back): published, nothing to offer.
    const d = await DeviceChild.start(
      openArgs(t, shared, { faults: { pauseAfterCommit: { kind: 'account', nth: [1] } } }),
    );
    void d.call('markKeysAsPublished').catch(() => undefined);
    await d.waitFor(isPaused);
    await d.kill();
    expect((await reread()).one_time_keys).toEqual({});

    // New keys get new ids (the server would refuse an old id with another key).
    const fresh = await withDevice(t, shared, async (device) => {
      await device.generateOneTimeKeys(2);
      return device.keysForUpload();
    });
    expect(Object.keys(fresh.one_time_keys).filter((id) => id in offered.one_time_keys)).toEqual([]);
    server.upload(shared.userId, shared.deviceId, fresh);
    expect(server.count(shared.userId, shared.deviceId)).toBe(7);
  });

  it('around a pre-key decrypt: the session and the one-time key removal land together or not at all', async () => {
    const server = new FakeKeyServer();
    const shared = await createDevice(t, `crash-prekey-${t.backend}`, server, 20);
    const prekey = async (name: string) => {
      const sender = await memoryDevice(`${name}-${t.backend}`);
      const otk = server.claimFor(shared.info);
      const content = await sender.encryptToDevice(shared.info, 'm.test', { from: name }, { oneTimeKey: otk });
      const peer = (await sender.identityKeys()).curve25519.toBase64();
      return { sender, otk: otk.toBase64(), peer, event: toDeviceEvent(sender.userId, content) };
    };
    const decryptHere = (event: ReturnType<typeof toDeviceEvent>) =>
      withDevice(t, shared, (device) => device.decryptToDevice(event));

    // Killed right before the commit: nothing landed; the message decrypts after reopening.
    const m1 = await prekey('before');
    const a = await DeviceChild.start(
      openArgs(t, shared, { faults: { pauseBeforeCommit: { kind: 'olm', nth: [1] } } }),
    );
    void a.call('decryptToDevice', m1.event).catch(() => undefined);
    const paused = await a.waitFor(isPaused);
    expect(paused.kinds, 'the session and the account (one-time key removed) in one batch').toEqual(
      expect.arrayContaining(['account', 'olm']),
    );
    await a.kill();
    let state = await inspect(t, shared, m1.peer);
    expect([state.otks.has(m1.otk), state.sessions]).toEqual([true, 0]);
    expect((await decryptHere(m1.event)).content).toEqual({ from: 'before' });
    state = await inspect(t, shared, m1.peer);
    expect([state.otks.has(m1.otk), state.sessions]).toEqual([false, 1]);

    // Killed right after the commit (the caller never saw the plaintext): both landed; a redelivery is refused.
    const m2 = await prekey('after');
    const b = await DeviceChild.start(openArgs(t, shared, { faults: { pauseAfterCommit: { kind: 'olm', nth: [1] } } }));
    void b.call('decryptToDevice', m2.event).catch(() => undefined);
    await b.waitFor(isPaused);
    await b.kill();
    state = await inspect(t, shared, m2.peer);
    expect([state.otks.has(m2.otk), state.sessions]).toEqual([false, 1]);
    await expect(decryptHere(m2.event)).rejects.toMatchObject({ code: 'EVENT_REPLAYED' });
    // The session it made works: the sender's next (still pre-key) message decrypts.
    const next = await m2.sender.encryptToDevice(shared.info, 'm.test', { from: 'after', n: 2 });
    expect((await decryptHere(toDeviceEvent(m2.sender.userId, next))).content).toEqual({ from: 'after', n: 2 });

    // Random: a loop of pre-key decrypts killed at a random moment, three rounds.
    let committed = 0;
    let pending = 0;
    for (let round = 0; round < 3; round++) {
      const messages = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => prekey(`loop${round}-${i}`)));
      const w = await DeviceChild.start(openArgs(t, shared));
      const answered = new Set<number>();
      const loop = (async () => {
        for (const [i, m] of messages.entries()) {
          await w.call('decryptToDevice', m.event);
          answered.add(i);
        }
      })().catch(() => undefined);
      await sleep(Math.random() * 60);
      await w.kill();
      await loop;
      for (const [i, m] of messages.entries()) {
        const s = await inspect(t, shared, m.peer);
        const landed = !s.otks.has(m.otk);
        expect(s.sessions, `message ${i}: a session exactly when the one-time key is gone`).toBe(landed ? 1 : 0);
        if (answered.has(i)) expect(landed, `message ${i} was answered, so it was committed`).toBe(true);
        if (landed) {
          committed++;
          await expect(decryptHere(m.event)).rejects.toMatchObject({ code: 'EVENT_REPLAYED' });
        } else {
          pending++;
          expect((await decryptHere(m.event)).content).toEqual({ from: `loop${round}-${i}` });
        }
      }
    }
    note(t.backend, 'pre-key loop kills: committed before the kill', committed, 'not committed', pending);
  });
});
