/**
 * Olm to-device events between store-backed Devices: pre-key then normal messages, existing sessions
 * tried before a pre-key message makes a new one, DEVICE-NOTES's payload checks (each failing in turn
 * with its DeviceError code and nothing committed: the next legitimate message still opens on the same
 * one-time key), Megolm ciphertext on the to-device channel, the new session and the one-time key's
 * removal committed together, and m.room_key bound to the Olm sender.
 *
 * Crafted payloads come from a raw Olm sender (test/support/triturus-device.ts), which encrypts whatever
 * JSON it is given.
 */
import { describe, expect, it } from 'vitest';
import type { DeviceInfo, EncryptedToDeviceEvent } from '../../src/device/index.js';
import { Account, DeviceError, SessionError } from '../../src/index.js';
import { codeOf, DeviceClient } from '../support/device-client.js';
import { signJson } from '../support/device-keys.js';
import { FaultHomeserver } from '../support/fault-homeserver.js';
import { type PeerDevice, TriturusDevice } from '../support/triturus-device.js';

const ALICE = '@alice:example.org';
const BOB = '@bob:example.org';
const CAROL = '@carol:example.org';
const MALLORY = '@mallory:example.org';
const ROOM = '!room:example.org';

function peerOf(info: DeviceInfo): PeerDevice {
  return { userId: info.userId, deviceId: info.deviceId, curve25519: info.curve25519Key, ed25519: info.ed25519Key };
}

async function world() {
  const server = new FaultHomeserver();
  const alice = await DeviceClient.create(server, ALICE, 'ALICEDEV');
  const bob = await DeviceClient.create(server, BOB, 'BOBDEV');
  await alice.publish();
  await bob.publish();
  const [bobInfo] = await alice.track(BOB);
  const [aliceInfo] = await bob.track(ALICE);
  return { server, alice, bob, aliceInfo: aliceInfo!, bobInfo: bobInfo! };
}

/** A raw Olm sender with published keys that Bob knows (tracked), and an outbound session to Bob. */
async function rawSenderTo(bob: DeviceClient, userId = CAROL, deviceId = 'RAWDEV') {
  const raw = new TriturusDevice(userId, deviceId);
  raw.publish(bob.server, { oneTimeKeys: 1 });
  await bob.track(userId);
  const bobInfo = await bob.info();
  const peer = peerOf(bobInfo);
  const oneTimeKey = bob.claim(bobInfo);
  raw.startSession(peer, oneTimeKey);
  const event = (payload: Record<string, unknown>, sender = userId): EncryptedToDeviceEvent => ({
    type: 'm.room.encrypted',
    sender,
    content: { ...raw.encryptPayload(peer, payload) },
  });
  return {
    raw,
    peer,
    oneTimeKey,
    event,
    payload: (content: Record<string, unknown> = { n: 1 }) => raw.payloadFor(peer, 'org.example.test', content),
  };
}

/** What must not change when a decrypt fails: the stored account, the sessions with the sender, the commits. */
async function snapshot(client: DeviceClient, senderKey: string) {
  return {
    account: (await client.store.loadAccount())?.data,
    sessions: (await client.store.loadOlmSessions(senderKey)).map((s) => s.record.data),
    commits: client.store.commits.length,
  };
}

async function storedOneTimeKeys(client: DeviceClient): Promise<number> {
  const account = await client.storedAccount();
  const count = account.storedOneTimeKeyCount;
  account.free();
  return count;
}

describe('to-device round trips between two Devices', () => {
  it('pre-key, then normal messages both ways, with the sender binding reported', async () => {
    const { alice, bob, aliceInfo, bobInfo } = await world();
    const aliceKeys = await alice.device.identityKeys();
    const sent = await alice.sendToDevice(bobInfo, 'org.example.hello', { text: 'hi Bob' });
    expect(sent.type).toBe(0);
    const [first] = await bob.receive();
    expect(first?.error).toBeUndefined();
    const d = first!.result!;
    expect(d.type).toBe('org.example.hello');
    expect(d.content).toEqual({ text: 'hi Bob' });
    expect(d.sender).toBe(ALICE);
    expect(d.senderKey.toBase64()).toBe(aliceKeys.curve25519.toBase64());
    expect(d.senderClaimedEd25519.toBase64()).toBe(aliceKeys.ed25519.toBase64());
    expect(d.senderDevice?.deviceId).toBe('ALICEDEV');
    expect(d.roomKey).toBeUndefined();

    // Alice has not heard back: still pre-key messages, on the same session.
    expect((await alice.sendToDevice(bobInfo, 'org.example.hello', { n: 2 })).type).toBe(0);
    expect((await bob.receive()).map((r) => r.result?.content)).toEqual([{ n: 2 }]);
    // Bob answers on the session Alice's message made: a normal message.
    expect((await bob.sendToDevice(aliceInfo, 'org.example.reply', { n: 3 })).type).toBe(1);
    expect((await alice.receive()).map((r) => r.result?.content)).toEqual([{ n: 3 }]);
    for (let n = 4; n < 8; n++) {
      const [from, to, info] = n % 2 === 0 ? [alice, bob, bobInfo] : [bob, alice, aliceInfo];
      expect((await from.sendToDevice(info, 'org.example.chat', { n })).type).toBe(1);
      expect((await to.receive()).map((r) => r.result?.content)).toEqual([{ n }]);
    }
    // One session each way, one one-time key of Bob's used, Alice's untouched.
    expect(await alice.store.loadOlmSessions(bobInfo.curve25519Key.toBase64())).toHaveLength(1);
    expect(await bob.store.loadOlmSessions(aliceInfo.curve25519Key.toBase64())).toHaveLength(1);
    expect(await storedOneTimeKeys(bob)).toBe(4);
    expect(await storedOneTimeKeys(alice)).toBe(5);
  });

  it('content JSON cannot hold is INVALID_ARGUMENT and leaves the session where it was', async () => {
    const { alice, bob, bobInfo } = await world();
    await alice.sendToDevice(bobInfo, 'org.example.chat', { n: 1 });
    await bob.receive();
    const before = await alice.store.loadOlmSessions(bobInfo.curve25519Key.toBase64());
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(await codeOf(alice.device.encryptToDevice(bobInfo, 'org.example.chat', cyclic))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(alice.device.encryptToDevice(bobInfo, 'org.example.chat', { n: 2n }))).toBe('INVALID_ARGUMENT');
    expect(await alice.store.loadOlmSessions(bobInfo.curve25519Key.toBase64())).toEqual(before);
    await alice.sendToDevice(bobInfo, 'org.example.chat', { n: 2 });
    expect((await bob.receive()).map((r) => r.result?.content)).toEqual([{ n: 2 }]);
  });

  it('the conversation carries on after both devices restart', async () => {
    const { alice, bob, aliceInfo, bobInfo } = await world();
    await alice.sendToDevice(bobInfo, 'org.example.chat', { n: 1 });
    await bob.receive();
    await bob.reopen();
    await alice.reopen();
    expect((await bob.sendToDevice(aliceInfo, 'org.example.chat', { n: 2 })).type).toBe(1);
    expect((await alice.receive()).map((r) => r.result?.content)).toEqual([{ n: 2 }]);
    expect((await alice.sendToDevice(bobInfo, 'org.example.chat', { n: 3 })).type).toBe(1);
    expect((await bob.receive()).map((r) => r.result?.content)).toEqual([{ n: 3 }]);
  });

  it('without a session or a claimed key: NO_OLM_SESSION, for sending and for a normal message', async () => {
    const { server, alice, bob, aliceInfo, bobInfo } = await world();
    expect(await alice.device.hasOlmSession(bobInfo)).toBe(false);
    expect(await codeOf(alice.device.encryptToDevice(bobInfo, 'org.example.test', {}))).toBe('NO_OLM_SESSION');
    // A normal (type 1) message from Bob to Carol, readdressed to Alice: Alice has no session with Bob.
    const carol = await DeviceClient.create(server, CAROL, 'CAROLDEV');
    await carol.publish();
    const [carolInfo] = await bob.track(CAROL);
    await bob.sendToDevice(carolInfo!, 'org.example.test', {});
    await carol.receive();
    await carol.sendToDevice((await carol.track(BOB))[0]!, 'org.example.test', {});
    await bob.receive();
    const normal = await bob.device.encryptToDevice(carolInfo!, 'org.example.test', { secret: 1 });
    const part = normal.ciphertext[carolInfo!.curve25519Key.toBase64()]!;
    expect(part.type).toBe(1);
    const bobKey = (await bob.info()).curve25519Key.toBase64();
    const before = await snapshot(alice, bobKey);
    const readdressed = {
      type: 'm.room.encrypted',
      sender: BOB,
      content: { ...normal, ciphertext: { [aliceInfo.curve25519Key.toBase64()]: part } },
    };
    expect(await codeOf(alice.device.decryptToDevice(readdressed))).toBe('NO_OLM_SESSION');
    // Nothing of Olm changed. Bob is a known device, so the failure notes the broken session (the
    // only trace a failed decryption leaves): one commit of the repair note, nothing else.
    const after = await snapshot(alice, bobKey);
    expect({ ...after, commits: before.commits }).toEqual(before);
    expect(after.commits).toBe(before.commits + 1);
    expect(Object.keys(alice.store.commits.at(-1)!)).toEqual(['values']);
    expect(alice.store.commits.at(-1)!.values!.map((v) => v.key)).toEqual(['device.session-repair']);
    expect((await alice.device.missingSessions()).map((d) => d.deviceId)).toEqual([bobInfo.deviceId]);
  });
});

describe('existing sessions are tried before a pre-key message makes a new one', () => {
  it('repeated pre-key messages on one session make one session and use one one-time key', async () => {
    const { bob } = await world();
    const { raw, event, payload } = await rawSenderTo(bob);
    const senderKey = raw.curve25519.toBase64();
    const keysBefore = await storedOneTimeKeys(bob);
    for (let n = 0; n < 4; n++) {
      const d = await bob.device.decryptToDevice(event(payload({ n })));
      expect(d.content).toEqual({ n });
    }
    expect(await bob.store.loadOlmSessions(senderKey)).toHaveLength(1);
    expect(await storedOneTimeKeys(bob)).toBe(keysBefore - 1);
    raw.free();
  });

  it('two sessions from one sender on two one-time keys: each pre-key message finds its own session', async () => {
    const { bob } = await world();
    const { raw, peer, payload } = await rawSenderTo(bob);
    const senderKey = raw.curve25519.toBase64();
    const first = raw.latestSession(peer.curve25519)!;
    const second = raw.startSession(peer, bob.claim(await bob.info()));
    const keysBefore = await storedOneTimeKeys(bob);
    const on = (session: typeof first, n: number): EncryptedToDeviceEvent => ({
      type: 'm.room.encrypted',
      sender: raw.userId,
      content: { ...raw.encryptPayload(peer, payload({ n }), session) },
    });
    const messages = [on(first, 1), on(second, 2), on(first, 3), on(second, 4), on(second, 5), on(first, 6)];
    for (const [i, m] of messages.entries()) {
      expect((await bob.device.decryptToDevice(m)).content).toEqual({ n: i + 1 });
    }
    expect(await bob.store.loadOlmSessions(senderKey)).toHaveLength(2);
    expect(await storedOneTimeKeys(bob)).toBe(keysBefore - 2);
    raw.free();
  });

  it('a pre-key message whose outer sender_key is not the key that made it: SESSION_MISMATCH, nothing committed', async () => {
    const { bob, aliceInfo } = await world();
    const { raw, event, payload } = await rawSenderTo(bob);
    const forged = event(payload());
    const before = await snapshot(bob, aliceInfo.curve25519Key.toBase64());
    const moved = { ...forged, content: { ...forged.content, sender_key: aliceInfo.curve25519Key.toBase64() } };
    let error: unknown;
    try {
      await bob.device.decryptToDevice(moved);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SessionError);
    expect((error as SessionError).code).toBe('SESSION_MISMATCH');
    expect(await snapshot(bob, aliceInfo.curve25519Key.toBase64())).toEqual(before);
    expect((await bob.device.decryptToDevice(forged)).content).toEqual({ n: 1 });
    raw.free();
  });
});

describe("DEVICE-NOTES's checks on a decrypted Olm payload", () => {
  type Tamper = (ctx: {
    payload: Record<string, unknown>;
    raw: TriturusDevice;
    bobInfo: DeviceInfo;
    aliceInfo: DeviceInfo;
  }) => { payload: Record<string, unknown>; sender?: string };
  const other = Account.create();
  const cases: { name: string; code: string; tamper: Tamper }[] = [
    {
      name: 'the outer sender is another user',
      code: 'EVENT_SENDER_MISMATCH',
      tamper: ({ payload }) => ({ payload, sender: MALLORY }),
    },
    {
      name: 'the payload sender is another user',
      code: 'EVENT_SENDER_MISMATCH',
      tamper: ({ payload }) => ({ payload: { ...payload, sender: MALLORY } }),
    },
    {
      name: "keys.ed25519 is not the known sending device's key",
      code: 'EVENT_KEYS_MISMATCH',
      tamper: ({ payload, aliceInfo }) => ({
        payload: { ...payload, keys: { ed25519: aliceInfo.ed25519Key.toBase64() } },
      }),
    },
    {
      name: 'keys.ed25519 is missing',
      code: 'EVENT_INVALID',
      tamper: ({ payload }) => ({ payload: { ...payload, keys: {} } }),
    },
    {
      name: 'the recipient is another user',
      code: 'EVENT_RECIPIENT_MISMATCH',
      tamper: ({ payload }) => ({ payload: { ...payload, recipient: ALICE } }),
    },
    {
      name: "recipient_keys.ed25519 is another device's key",
      code: 'EVENT_RECIPIENT_MISMATCH',
      tamper: ({ payload, aliceInfo }) => ({
        payload: { ...payload, recipient_keys: { ed25519: aliceInfo.ed25519Key.toBase64() } },
      }),
    },
    {
      name: 'recipient_keys is missing',
      code: 'EVENT_RECIPIENT_MISMATCH',
      tamper: ({ payload }) => {
        const { recipient_keys: _r, ...rest } = payload;
        return { payload: rest };
      },
    },
    {
      name: 'sender_device_keys with a bad self-signature',
      code: 'EVENT_KEYS_MISMATCH',
      tamper: ({ payload, raw }) => {
        const keys = raw.deviceKeys();
        return { payload: { ...payload, sender_device_keys: { ...keys, algorithms: ['m.forged'] } } };
      },
    },
    {
      name: 'sender_device_keys of another (validly signed) device',
      code: 'EVENT_KEYS_MISMATCH',
      tamper: ({ payload }) => {
        const another = new TriturusDevice(CAROL, 'OTHERDEV');
        return { payload: { ...payload, sender_device_keys: { ...another.deviceKeys() } } };
      },
    },
    {
      name: 'sender_device_keys, self-signed, with a Curve25519 key other than the sender_key',
      code: 'EVENT_KEYS_MISMATCH',
      tamper: ({ payload, raw, aliceInfo }) => {
        const keys = raw.deviceKeys();
        const { signatures: _s, ...body } = keys;
        const forged = signJson(raw, {
          ...body,
          keys: { ...body.keys, [`curve25519:${raw.deviceId}`]: aliceInfo.curve25519Key.toBase64() },
        });
        return { payload: { ...payload, sender_device_keys: forged } };
      },
    },
    {
      name: 'sender_device_keys, self-signed, with an Ed25519 key other than keys.ed25519',
      code: 'EVENT_KEYS_MISMATCH',
      tamper: ({ payload, raw }) => {
        const body = {
          user_id: raw.userId,
          device_id: raw.deviceId,
          algorithms: ['m.olm.v1.curve25519-aes-sha2', 'm.megolm.v1.aes-sha2'],
          keys: {
            [`curve25519:${raw.deviceId}`]: raw.curve25519.toBase64(),
            [`ed25519:${raw.deviceId}`]: other.ed25519Key.toBase64(),
          },
        };
        const forged = signJson({ account: other, userId: raw.userId, deviceId: raw.deviceId }, body);
        return { payload: { ...payload, sender_device_keys: forged } };
      },
    },
    {
      name: 'sender_device_keys of the sending user, another device id',
      code: 'EVENT_KEYS_MISMATCH',
      tamper: ({ payload, raw }) => {
        const { signatures: _s, ...body } = raw.deviceKeys();
        const renamed = {
          ...body,
          device_id: 'RENAMED',
          keys: {
            'curve25519:RENAMED': raw.curve25519.toBase64(),
            'ed25519:RENAMED': raw.ed25519.toBase64(),
          },
        };
        // Signed by the right key under the new id: only the id differs... and the keys still match.
        const signed = signJson({ account: raw.account, userId: raw.userId, deviceId: 'RENAMED' }, renamed);
        return { payload: { ...payload, sender_device_keys: { ...signed, user_id: MALLORY } } };
      },
    },
    {
      name: 'sender_device_keys is not an object',
      code: 'EVENT_KEYS_MISMATCH',
      tamper: ({ payload }) => ({ payload: { ...payload, sender_device_keys: 'keys' } }),
    },
    {
      name: 'the payload has no type',
      code: 'EVENT_INVALID',
      tamper: ({ payload }) => {
        const { type: _t, ...rest } = payload;
        return { payload: rest };
      },
    },
  ];

  for (const c of cases) {
    it(`${c.name}: ${c.code}, nothing committed, the one-time key not burned`, async () => {
      const { bob, aliceInfo, bobInfo } = await world();
      const { raw, event, payload } = await rawSenderTo(bob);
      const senderKey = raw.curve25519.toBase64();
      const keysBefore = await storedOneTimeKeys(bob);
      const before = await snapshot(bob, senderKey);
      const bad = c.tamper({ payload: { ...payload({ bad: true }) }, raw, bobInfo, aliceInfo });
      let error: unknown;
      try {
        await bob.device.decryptToDevice(event(bad.payload, bad.sender));
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(DeviceError);
      expect((error as DeviceError).code).toBe(c.code);
      expect(await snapshot(bob, senderKey)).toEqual(before);
      // Another pre-key message of the same session, on the same one-time key, still opens.
      const good = await bob.device.decryptToDevice(event(payload({ good: true })));
      expect(good.content).toEqual({ good: true });
      expect(await storedOneTimeKeys(bob)).toBe(keysBefore - 1);
      // And after a restart the session is there (it was committed by the good message only).
      await bob.reopen();
      expect((await bob.device.decryptToDevice(event(payload({ after: true })))).content).toEqual({ after: true });
      raw.free();
    });
  }

  it('control: a correct sender_device_keys is accepted, and an unknown device is not checked against keys', async () => {
    const { bob } = await world();
    const { raw, event, payload } = await rawSenderTo(bob);
    const d = await bob.device.decryptToDevice(event({ ...payload(), sender_device_keys: raw.deviceKeys() }));
    expect(d.senderDevice?.deviceId).toBe('RAWDEV');
    // A sender Bob never tracked: keys.ed25519 is reported, not checked (there is nothing to check it against).
    const stranger = new TriturusDevice(MALLORY, 'STRANGER');
    const bobInfo = await bob.info();
    const peer = peerOf(bobInfo);
    stranger.startSession(peer, bob.claim(bobInfo));
    const fromStranger = await bob.device.decryptToDevice(stranger.toDeviceEvent(peer, 'org.example.test', { s: 1 }));
    expect(fromStranger.senderDevice).toBeUndefined();
    expect(fromStranger.senderClaimedEd25519.toBase64()).toBe(stranger.ed25519.toBase64());
    raw.free();
    stranger.free();
  });
});

describe('events that are not Olm ciphertext for this device', () => {
  it('Megolm ciphertext as a to-device message: EVENT_WRONG_CHANNEL; other algorithms: EVENT_UNSUPPORTED_ALGORITHM', async () => {
    const { alice, bob, aliceInfo } = await world();
    const room = await alice.device.encryptRoomEvent(ROOM, 'm.room.message', { body: 'hi' });
    const before = await snapshot(bob, aliceInfo.curve25519Key.toBase64());
    const asToDevice = { type: 'm.room.encrypted', sender: ALICE, content: { ...room.content } };
    expect(await codeOf(bob.device.decryptToDevice(asToDevice))).toBe('EVENT_WRONG_CHANNEL');
    const unknown = { ...asToDevice, content: { ...room.content, algorithm: 'm.olm.v2.unknown' } };
    expect(await codeOf(bob.device.decryptToDevice(unknown))).toBe('EVENT_UNSUPPORTED_ALGORITHM');
    expect(await snapshot(bob, aliceInfo.curve25519Key.toBase64())).toEqual(before);
  });

  it('an event with ciphertext for other devices only: EVENT_RECIPIENT_MISMATCH, then ours still opens', async () => {
    const { server, alice, bob, bobInfo, aliceInfo } = await world();
    const carol = await DeviceClient.create(server, CAROL, 'CAROLDEV');
    await carol.publish();
    const [carolInfo] = await alice.track(CAROL);
    const forCarol = await alice.device.encryptToDevice(
      carolInfo!,
      'org.example.test',
      {},
      {
        oneTimeKey: alice.claim(carolInfo!),
      },
    );
    const before = await snapshot(bob, aliceInfo.curve25519Key.toBase64());
    expect(
      await codeOf(bob.device.decryptToDevice({ type: 'm.room.encrypted', sender: ALICE, content: { ...forCarol } })),
    ).toBe('EVENT_RECIPIENT_MISMATCH');
    expect(await snapshot(bob, aliceInfo.curve25519Key.toBase64())).toEqual(before);
    await alice.sendToDevice(bobInfo, 'org.example.test', { ok: true });
    expect((await bob.receive()).map((r) => r.result?.content)).toEqual([{ ok: true }]);
  });

  it('malformed events: typed errors, nothing committed', async () => {
    const { alice, bob, aliceInfo, bobInfo } = await world();
    const good = await alice.device.encryptToDevice(
      bobInfo,
      'org.example.test',
      {},
      { oneTimeKey: alice.claim(bobInfo) },
    );
    const ours = bobInfo.curve25519Key.toBase64();
    const part = good.ciphertext[ours]!;
    const before = await snapshot(bob, aliceInfo.curve25519Key.toBase64());
    const variants: [unknown, string][] = [
      [null, 'EVENT_INVALID'],
      [{ type: 'm.room.encrypted', sender: ALICE }, 'EVENT_INVALID'],
      [{ type: 'm.room.encrypted', content: { ...good } }, 'EVENT_INVALID'],
      [{ type: 'm.room.encrypted', sender: ALICE, content: { ...good, ciphertext: 'x' } }, 'EVENT_INVALID'],
      [{ type: 'm.room.encrypted', sender: ALICE, content: { ...good, sender_key: undefined } }, 'EVENT_INVALID'],
      [{ type: 'm.room.encrypted', sender: ALICE, content: { ...good, sender_key: 'AAAA' } }, 'KEY_INVALID_LENGTH'],
      [
        {
          type: 'm.room.encrypted',
          sender: ALICE,
          content: { ...good, ciphertext: { [ours]: { type: '0', body: part.body } } },
        },
        'EVENT_INVALID',
      ],
      [
        {
          type: 'm.room.encrypted',
          sender: ALICE,
          content: { ...good, ciphertext: { [ours]: { type: 0, body: 'AAAA' } } },
        },
        'MESSAGE_UNSUPPORTED_VERSION',
      ],
      [
        {
          type: 'm.room.encrypted',
          sender: ALICE,
          content: { ...good, ciphertext: { [ours]: { type: 0, body: part.body.slice(0, 40) } } },
        },
        'MESSAGE_MALFORMED',
      ],
      [
        {
          type: 'm.room.encrypted',
          sender: ALICE,
          content: { ...good, ciphertext: { [ours]: { type: 1, body: part.body } } },
        },
        'MESSAGE_MALFORMED',
      ],
    ];
    for (const [event, code] of variants) {
      expect(await codeOf(bob.device.decryptToDevice(event as EncryptedToDeviceEvent))).toBe(code);
    }
    expect(await snapshot(bob, aliceInfo.curve25519Key.toBase64())).toEqual(before);
    expect(
      (await bob.device.decryptToDevice({ type: 'm.room.encrypted', sender: ALICE, content: { ...good } })).type,
    ).toBe('org.example.test');
  });
});

describe('a pre-key decrypt commits the new session and the one-time key removal together', () => {
  it('one commit carries both; after a restart the session is there and the key is gone', async () => {
    const { bob } = await world();
    const { raw, peer, oneTimeKey, event, payload } = await rawSenderTo(bob);
    const senderKey = raw.curve25519.toBase64();
    const keysBefore = await storedOneTimeKeys(bob);
    const commitsBefore = bob.store.commits.length;
    await bob.device.decryptToDevice(event(payload({ n: 1 })));
    const commits = bob.store.commits.slice(commitsBefore);
    expect(commits).toHaveLength(1);
    expect(commits[0]!.account).toBeDefined();
    expect(commits[0]!.olmSessions?.map((s) => s.senderKey)).toEqual([senderKey]);

    await bob.reopen();
    expect(await bob.store.loadOlmSessions(senderKey)).toHaveLength(1);
    expect(await storedOneTimeKeys(bob)).toBe(keysBefore - 1);
    // The key is really gone: a second sender that got the same key (a misbehaving server) cannot use it.
    const copycat = new TriturusDevice(MALLORY, 'COPYCAT');
    copycat.startSession(peer, oneTimeKey);
    const copyEvent = copycat.toDeviceEvent(peer, 'org.example.test', {});
    const before = await snapshot(bob, copycat.curve25519.toBase64());
    let error: unknown;
    try {
      await bob.device.decryptToDevice(copyEvent);
    } catch (e) {
      error = e;
    }
    expect((error as SessionError).code).toBe('ONE_TIME_KEY_UNKNOWN');
    expect(await snapshot(bob, copycat.curve25519.toBase64())).toEqual(before);
    // The first sender's session still works on the reopened device.
    expect((await bob.device.decryptToDevice(event(payload({ n: 2 })))).content).toEqual({ n: 2 });
    raw.free();
    copycat.free();
  });
});

describe('m.room_key over Olm', () => {
  it('is stored bound to the Olm sender key and the claimed Ed25519 key, and opens the room events', async () => {
    const { alice, bob, bobInfo } = await world();
    const aliceKeys = await alice.device.identityKeys();
    const messages = await alice.shareRoomKey(ROOM, [bobInfo]);
    expect(messages).toHaveLength(1);
    const [received] = await bob.receive();
    const d = received!.result!;
    expect(d.type).toBe('m.room_key');
    expect(d.roomKey).toMatchObject({ roomId: ROOM, isNew: true });
    const exported = await bob.device.exportRoomKeys(ROOM);
    expect(exported).toHaveLength(1);
    expect(exported[0]!.session_id).toBe(d.roomKey!.sessionId);
    expect(exported[0]!.sender_key).toBe(aliceKeys.curve25519.toBase64());
    expect(exported[0]!.sender_claimed_keys).toEqual({ ed25519: aliceKeys.ed25519.toBase64() });
    const { event } = await alice.post(ROOM, { body: 'hello room' });
    const room = await bob.device.decryptRoomEvent(event);
    expect(room.event.content).toEqual({ body: 'hello room' });
    expect(room.senderKey.toBase64()).toBe(aliceKeys.curve25519.toBase64());
    expect(room.senderClaimedEd25519?.toBase64()).toBe(aliceKeys.ed25519.toBase64());
    expect(room.verified).toBe(true);
    expect(room.sessionId).toBe(d.roomKey!.sessionId);
    // The same key again: not new.
    const resent = await alice.device.encryptToDevice(bobInfo, 'm.room_key', { ...d.content });
    const again = await bob.device.decryptToDevice({ type: 'm.room.encrypted', sender: ALICE, content: { ...resent } });
    expect(again.roomKey).toMatchObject({ roomId: ROOM, sessionId: d.roomKey!.sessionId, isNew: false });
  });

  it("a copy of Alice's key sent over another sender's Olm session is bound to that sender, not to Alice", async () => {
    const { alice, bob, bobInfo } = await world();
    // Alice shares her room key with Bob (the message is lost) and with Mallory's device, legitimately.
    const { raw, event, payload } = await rawSenderTo(bob, MALLORY, 'MALLORYDEV');
    const malloryBox = await DeviceClient.create(bob.server, MALLORY, 'MALLORYBOX');
    await malloryBox.publish();
    const boxInfo = (await alice.track(MALLORY)).find((d) => d.deviceId === 'MALLORYBOX');
    expect(await alice.shareRoomKey(ROOM, [bobInfo, boxInfo!])).toHaveLength(2);
    bob.sync(); // lost
    const [toMallory] = await malloryBox.receive();
    const stolen = toMallory!.result!.content as Record<string, unknown>;
    // Mallory passes the key on to Bob as an m.room_key of her own.
    const forwarded = await bob.device.decryptToDevice(event({ ...payload(), type: 'm.room_key', content: stolen }));
    expect(forwarded.roomKey).toMatchObject({ roomId: ROOM, isNew: true });
    const [stored] = await bob.device.exportRoomKeys(ROOM);
    expect(stored!.sender_key).toBe(raw.curve25519.toBase64());
    expect(stored!.sender_claimed_keys).toEqual({ ed25519: raw.ed25519.toBase64() });
    // Alice's event names Alice's key: the copy from Mallory does not open it.
    const { event: roomEvent } = await alice.post(ROOM, { body: 'for Bob' });
    expect(await codeOf(bob.device.decryptRoomEvent(roomEvent))).toBe('EVENT_KEYS_MISMATCH');
    raw.free();
  });
});
