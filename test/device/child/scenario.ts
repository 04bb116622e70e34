/**
 * One Device scenario, run unchanged on every backend (memory, SQLite, PostgreSQL under vitest; IndexedDB
 * in a Chromium page): devices are created in one database (each its own scope), publish keys, talk Olm
 * (pre-key then normal messages), share a room key, exchange room messages, refuse a replay, move keys
 * with a key-export file, are closed and reopened from the store, and carry on. Runner-agnostic: the
 * steps throw CheckFailure, and run in order on one shared state.
 */
import { Device, type DeviceInfo, deviceInfoFromKeys, type EncryptedRoomEvent } from '../../../src/device/index.js';
import { DmlsAccount } from '../../../src/dmls/index.js';
import { Account } from '../../../src/olm/account.js';
import { SessionConfig } from '../../../src/olm/config.js';
import type { KeyStore } from '../../../src/store/types.js';
import { check, checkEqual, checkRefused, FakeKeyServer, randomPickleKey, roomEvent, toDeviceEvent } from './common.js';

export interface ScenarioBackend {
  readonly name: string;
  /** How many devices share the database (a bridge runs many). */
  readonly devices: number;
  /** User ids are `@<prefix><n>:example.org`. */
  readonly userPrefix: string;
  open(scope: string): Promise<KeyStore>;
  /** Runs while every store is closed, before they are reopened (e.g. end the pg pool and make a new one). */
  restart?(): Promise<void>;
}

interface Member {
  readonly userId: string;
  readonly deviceId: string;
  readonly scope: string;
  readonly pickleKey: Uint8Array;
  store: KeyStore;
  device: Device;
  info: DeviceInfo;
}

interface Posted {
  readonly event: EncryptedRoomEvent;
  readonly body: string;
  readonly sender: Member;
  readonly sessionId: string;
  readonly messageIndex: number;
}

export interface ScenarioState {
  readonly backend: ScenarioBackend;
  readonly tag: string;
  readonly server: FakeKeyServer;
  readonly members: Member[];
  readonly timeline: Posted[];
  newcomer: Member | undefined;
  identities: string[];
}

export interface ScenarioStep {
  readonly name: string;
  run(state: ScenarioState): Promise<void>;
}

const ROOM = '!scenario:example.org';
const PASSPHRASE = 'correct horse battery staple';
const OLM = 'm.olm.v1.curve25519-aes-sha2';

export function newScenarioState(backend: ScenarioBackend): ScenarioState {
  return {
    backend,
    tag: `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`,
    server: new FakeKeyServer(),
    members: [],
    timeline: [],
    newcomer: undefined,
    identities: [],
  };
}

async function createMember(s: ScenarioState, userId: string, deviceId: string): Promise<Member> {
  const scope = `${userId}|${deviceId}|${s.tag}`;
  const store = await s.backend.open(scope);
  const pickleKey = randomPickleKey();
  const device = await Device.create(store, { userId, deviceId, pickleKey });
  const keys = await device.identityKeys();
  return {
    userId,
    deviceId,
    scope,
    pickleKey,
    store,
    device,
    info: { userId, deviceId, curve25519Key: keys.curve25519, ed25519Key: keys.ed25519 },
  };
}

/** Shares `sender`'s room key with every other member (claiming one-time keys where needed) and delivers it. */
async function shareAndDeliver(s: ScenarioState, sender: Member): Promise<void> {
  const others = s.members.filter((m) => m !== sender);
  const first = await sender.device.shareRoomKey(
    ROOM,
    others.map((m) => m.info),
  );
  const claims = new Map(first.missingSessions.map((d) => [d.curve25519Key.toBase64(), s.server.claimFor(d)]));
  const second = await sender.device.shareRoomKey(ROOM, first.missingSessions, claims);
  checkEqual(second.missingSessions.length, 0, 'no device is missing a session once keys were claimed');
  const messages = [...first.messages, ...second.messages];
  checkEqual(messages.length, others.length, `${sender.userId} shares with every other member once`);
  for (const message of messages) {
    const recipient = others.find((m) => m.info.curve25519Key.equals(message.recipient.curve25519Key));
    check(recipient !== undefined, 'the room key goes to a member');
    const decrypted = await recipient.device.decryptToDevice(toDeviceEvent(sender.userId, message.content));
    checkEqual(decrypted.type, 'm.room_key', 'the to-device event is an m.room_key');
    checkEqual(decrypted.roomKey?.roomId, ROOM, 'the room key is for the room');
    checkEqual(decrypted.roomKey?.isNew, true, 'the room key is new to the recipient');
  }
  // Until the caller confirms the messages went out, the recipients stay pending and get the key again.
  const resent = await sender.device.shareRoomKey(
    ROOM,
    others.map((m) => m.info),
  );
  checkEqual(resent.messages.length, others.length, 'unconfirmed recipients get the key again');
  await sender.device.markRoomKeySent(ROOM, messages);
  const again = await sender.device.shareRoomKey(
    ROOM,
    others.map((m) => m.info),
  );
  checkEqual([again.messages.length, again.missingSessions.length], [0, 0], 'once confirmed, a share sends nothing');
}

async function post(s: ScenarioState, sender: Member, body: string): Promise<Posted> {
  const result = await sender.device.encryptRoomEvent(ROOM, 'm.room.message', { msgtype: 'm.text', body });
  const posted: Posted = {
    event: roomEvent(ROOM, sender.userId, result.content),
    body,
    sender,
    sessionId: result.sessionId,
    messageIndex: result.messageIndex,
  };
  s.timeline.push(posted);
  return posted;
}

async function readAll(posted: Posted, readers: readonly Member[], verified: boolean): Promise<void> {
  for (const reader of readers) {
    const d = await reader.device.decryptRoomEvent(posted.event);
    checkEqual((d.event.content as { body?: unknown }).body, posted.body, `${reader.userId} reads the body`);
    checkEqual(d.event.room_id, ROOM, 'the room id');
    checkEqual([d.sessionId, d.messageIndex], [posted.sessionId, posted.messageIndex], 'session and index');
    checkEqual(d.senderKey.toBase64(), posted.sender.info.curve25519Key.toBase64(), 'the sender key');
    checkEqual(d.verified, verified, `${reader.userId}: verified`);
  }
}

export const scenarioSteps: readonly ScenarioStep[] = [
  {
    name: 'create devices, each in its own scope of one database',
    async run(s) {
      for (let i = 0; i < s.backend.devices; i++) {
        s.members.push(await createMember(s, `@${s.backend.userPrefix}${i}:example.org`, `DEV${i}`));
      }
      const first = s.members[0]!;
      await checkRefused(
        Device.create(first.store, { userId: first.userId, deviceId: first.deviceId, pickleKey: randomPickleKey() }),
        ['STORE_EXISTS'],
        'creating a device twice in one scope',
      );
      const empty = await s.backend.open(`@nobody:example.org|NONE|${s.tag}`);
      try {
        await checkRefused(
          Device.open(empty, { userId: '@nobody:example.org', deviceId: 'NONE', pickleKey: randomPickleKey() }),
          ['STORE_NOT_FOUND'],
          'opening a scope that holds no device',
        );
      } finally {
        await empty.close();
      }
      const curves = new Set(s.members.map((m) => m.info.curve25519Key.toBase64()));
      checkEqual(curves.size, s.members.length, 'every device has its own identity key');
    },
  },
  {
    name: 'publish signed device keys, one-time keys and a fallback key',
    async run(s) {
      for (const m of s.members) {
        await m.device.generateOneTimeKeys(4);
        await m.device.generateFallbackKey();
        const body = await m.device.keysForUpload(true);
        checkEqual(Object.keys(body.one_time_keys).length, 4, 'four one-time keys to upload');
        checkEqual(Object.keys(body.fallback_keys).length, 1, 'one fallback key to upload');
        const info = deviceInfoFromKeys(body.device_keys as Record<string, unknown>);
        check(info !== undefined, 'the device keys carry a valid self-signature');
        check(info.curve25519Key.equals(m.info.curve25519Key), 'device_keys name the Curve25519 identity key');
        checkEqual(info.ed25519Key.toBase64(), m.info.ed25519Key.toBase64(), 'device_keys name the Ed25519 key');
        for (const [keyId, object] of Object.entries(body.one_time_keys)) {
          Device.oneTimeKeyFromClaim(info, { [keyId]: object }); // throws unless signed by the device
        }
        s.server.upload(m.userId, m.deviceId, body);
        await m.device.markKeysAsPublished();
        const after = await m.device.keysForUpload();
        checkEqual(
          [Object.keys(after.one_time_keys).length, Object.keys(after.fallback_keys).length],
          [0, 0],
          'nothing left to upload once published',
        );
      }
      for (const m of s.members) {
        const accepted = await m.device.trackDevices(s.server.query());
        checkEqual(accepted.length, s.members.length, `${m.userId} accepts every signed device`);
      }
      const a = s.members[0]!;
      const b = s.members[1]!;
      const forged = structuredClone(s.server.deviceKeys(a.userId, a.deviceId)) as { keys: Record<string, string> };
      forged.keys[`curve25519:${a.deviceId}`] = b.info.curve25519Key.toBase64();
      checkEqual((await b.device.trackDevices([forged])).length, 0, 'device keys with a broken signature are skipped');
    },
  },
  {
    name: 'to-device: pre-key messages out of order, then normal messages both ways; replays and a used one-time key refused',
    async run(s) {
      const [a, b] = s.members as [Member, Member];
      await checkRefused(a.device.encryptToDevice(b.info, 'm.test', { n: 0 }), ['NO_OLM_SESSION'], 'no session yet');
      const otk = s.server.claimFor(b.info);
      const c1 = await a.device.encryptToDevice(b.info, 'm.test', { n: 1 }, { oneTimeKey: otk });
      const c2 = await a.device.encryptToDevice(b.info, 'm.test', { n: 2 });
      const typeOf = (c: typeof c1, d: Member) => c.ciphertext[d.info.curve25519Key.toBase64()]?.type;
      checkEqual([typeOf(c1, b), typeOf(c2, b)], [0, 0], 'pre-key messages until the first reply');
      const d2 = await b.device.decryptToDevice(toDeviceEvent(a.userId, c2));
      checkEqual([d2.type, d2.content, d2.sender], ['m.test', { n: 2 }, a.userId], 'the second message first');
      check(d2.senderKey.equals(a.info.curve25519Key), 'the Olm sender key');
      checkEqual(d2.senderClaimedEd25519.toBase64(), a.info.ed25519Key.toBase64(), 'the claimed Ed25519 key');
      checkEqual(d2.senderDevice?.deviceId, a.deviceId, 'the sending device is known (tracked)');
      const d1 = await b.device.decryptToDevice(toDeviceEvent(a.userId, c1));
      checkEqual(d1.content, { n: 1 }, 'then the first');
      const reply = await b.device.encryptToDevice(a.info, 'm.test', { n: 3 });
      checkEqual(typeOf(reply, a), 1, 'the reply is a normal message');
      checkEqual((await a.device.decryptToDevice(toDeviceEvent(b.userId, reply))).content, { n: 3 }, 'reply read');
      const c4 = await a.device.encryptToDevice(b.info, 'm.test', { n: 4 });
      checkEqual(typeOf(c4, b), 1, 'after the reply the sender sends normal messages');
      checkEqual((await b.device.decryptToDevice(toDeviceEvent(a.userId, c4))).content, { n: 4 }, 'normal read');
      await checkRefused(
        b.device.decryptToDevice(toDeviceEvent(a.userId, c4)),
        ['EVENT_REPLAYED'],
        'a normal message delivered twice',
      );
      await checkRefused(
        b.device.decryptToDevice(toDeviceEvent(a.userId, c1)),
        ['EVENT_REPLAYED'],
        'a pre-key message delivered twice',
      );

      // Someone else using the one-time key a already consumed: b no longer has it.
      const stranger = Account.create();
      const session = stranger.createOutboundSession(SessionConfig.version1(), b.info.curve25519Key, otk);
      const message = session.encrypt(
        JSON.stringify({
          type: 'm.test',
          content: {},
          sender: '@stranger:example.org',
          keys: { ed25519: stranger.ed25519Key.toBase64() },
          recipient: b.userId,
          recipient_keys: { ed25519: b.info.ed25519Key.toBase64() },
        }),
      );
      await checkRefused(
        b.device.decryptToDevice(
          toDeviceEvent('@stranger:example.org', {
            algorithm: OLM,
            sender_key: stranger.curve25519Key.toBase64(),
            ciphertext: { [b.info.curve25519Key.toBase64()]: { type: message.type, body: message.toBase64() } },
          }),
        ),
        ['ONE_TIME_KEY_UNKNOWN'],
        'a pre-key message on a one-time key that was already used',
      );
      const c5 = await a.device.encryptToDevice(b.info, 'm.test', { n: 5 });
      checkEqual((await b.device.decryptToDevice(toDeviceEvent(a.userId, c5))).content, { n: 5 }, 'b is unharmed');
    },
  },
  {
    name: 'room key shared over Olm (existing and new sessions); room messages from every member',
    async run(s) {
      const [a, ...others] = s.members as [Member, ...Member[]];
      await shareAndDeliver(s, a);
      const posts = [];
      for (let i = 0; i < 3; i++) posts.push(await post(s, a, `hello ${i}`));
      checkEqual(
        posts.map((p) => p.messageIndex),
        [0, 1, 2],
        'a new session starts at index 0',
      );
      checkEqual(new Set(posts.map((p) => p.sessionId)).size, 1, 'one outbound session');
      for (const p of posts) await readAll(p, others, true);
      await readAll(posts[0]!, [a], true); // its own messages too
      for (const m of others) {
        await shareAndDeliver(s, m);
        const p = await post(s, m, `from ${m.userId}`);
        await readAll(
          p,
          s.members.filter((x) => x !== m),
          true,
        );
      }
      const unknown = { ...posts[0]!.event, content: { ...posts[0]!.event.content, session_id: 'AAAAunknown' } };
      await checkRefused(others[0]!.device.decryptRoomEvent(unknown), ['ROOM_KEY_UNKNOWN'], 'a session never shared');
    },
  },
  {
    name: 'replay refusal: another event at a used (session, index) is refused, the same event is not',
    async run(s) {
      const reader = s.members[1]!;
      const first = s.timeline[0]!;
      await checkRefused(
        reader.device.decryptRoomEvent({ ...first.event, event_id: '$replayed' }),
        ['EVENT_REPLAYED'],
        'the same ciphertext under another event id',
      );
      await checkRefused(
        reader.device.decryptRoomEvent({ ...first.event, origin_server_ts: first.event.origin_server_ts + 1 }),
        ['EVENT_REPLAYED'],
        'the same ciphertext with another timestamp',
      );
      await readAll(first, [reader], true);
    },
  },
  {
    name: 'key export file moves the history to a new device (unverified); a wrong passphrase is refused',
    async run(s) {
      const b = s.members[1]!;
      const exported = await b.device.exportRoomKeys(ROOM);
      checkEqual(exported.length, s.members.length, 'one room key per member');
      const fromA = exported.find((k) => k.session_id === s.timeline[0]!.sessionId);
      checkEqual(fromA?.sender_key, s.members[0]!.info.curve25519Key.toBase64(), "a's key keeps its sender key");
      const file = await b.device.exportKeyFile(PASSPHRASE, { rounds: 1000 });
      check(file.startsWith('-----BEGIN MEGOLM SESSION DATA-----'), 'a key-export file');
      const newcomer = await createMember(s, b.userId, 'NEWCOMER');
      s.newcomer = newcomer;
      await checkRefused(
        newcomer.device.importKeyFile(file, 'wrong'),
        ['KEY_EXPORT_BAD_PASSPHRASE'],
        'wrong passphrase',
      );
      checkEqual(await newcomer.device.importKeyFile(file, PASSPHRASE), s.members.length, 'every key imported');
      checkEqual(await newcomer.device.importKeyFile(file, PASSPHRASE), 0, 'importing again stores nothing');
      for (const p of s.timeline) await readAll(p, [newcomer], false);
    },
  },
  {
    name: 'close everything and reopen from the store (a wrong pickle key or identity is refused)',
    async run(s) {
      const everyone = [...s.members, ...(s.newcomer === undefined ? [] : [s.newcomer])];
      s.identities = everyone.map((m) => m.info.curve25519Key.toBase64());
      for (const m of everyone) {
        await m.device.close();
        await m.store.close();
      }
      await s.backend.restart?.();
      for (const m of everyone) m.store = await s.backend.open(m.scope);
      const a = everyone[0]!;
      await checkRefused(
        Device.open(a.store, { userId: a.userId, deviceId: a.deviceId, pickleKey: randomPickleKey() }),
        ['PICKLE_BAD_KEY'],
        'a wrong pickle key',
      );
      await checkRefused(
        Device.open(a.store, { userId: a.userId, deviceId: 'OTHER', pickleKey: a.pickleKey }),
        ['INVALID_ARGUMENT'],
        'the store holds another device',
      );
      for (const m of everyone) {
        m.device = await Device.open(m.store, { userId: m.userId, deviceId: m.deviceId, pickleKey: m.pickleKey });
      }
      checkEqual(
        await Promise.all(everyone.map(async (m) => (await m.device.identityKeys()).curve25519.toBase64())),
        s.identities,
        'the same identity keys after reopening',
      );
    },
  },
  {
    name: 'carry on after the restart: same room session at a fresh index, Olm sessions, replay records, new keys',
    async run(s) {
      const [a, b, ...rest] = s.members as [Member, Member, ...Member[]];
      const before = s.timeline.filter((p) => p.sender === a);
      const p = await post(s, a, 'after the restart');
      checkEqual(p.sessionId, before[0]!.sessionId, 'a restart does not rotate the room key');
      check(
        before.every((q) => q.messageIndex < p.messageIndex),
        `a fresh index after reopening (${p.messageIndex})`,
      );
      await readAll(p, [b, ...rest], true);
      check(await b.device.hasOlmSession(a.info), 'the Olm session survived');
      const toA = await b.device.encryptToDevice(a.info, 'm.test', { n: 6 });
      checkEqual(toA.ciphertext[a.info.curve25519Key.toBase64()]?.type, 1, 'a normal message on the old session');
      checkEqual((await a.device.decryptToDevice(toDeviceEvent(b.userId, toA))).content, { n: 6 }, 'read after reopen');
      const toB = await a.device.encryptToDevice(b.info, 'm.test', { n: 7 });
      checkEqual((await b.device.decryptToDevice(toDeviceEvent(a.userId, toB))).content, { n: 7 }, 'and back');
      await checkRefused(
        b.device.decryptRoomEvent({ ...s.timeline[0]!.event, event_id: '$replayed-after-restart' }),
        ['EVENT_REPLAYED'],
        'replay records survive the restart',
      );
      if (s.newcomer !== undefined) await readAll(s.timeline[0]!, [s.newcomer], false);

      // Key upload resumes with new key ids.
      checkEqual(Object.keys((await a.device.keysForUpload()).one_time_keys).length, 0, 'nothing unpublished');
      check(await a.device.updateKeyCounts(s.server.count(a.userId, a.deviceId)), 'the device tops its keys up');
      const body = await a.device.keysForUpload();
      const ids = Object.keys(body.one_time_keys);
      check(ids.length > 0, 'new one-time keys');
      const ever = s.server.everUploaded(a.userId, a.deviceId);
      check(
        ids.every((id) => !ever.has(id)),
        'new key ids never used before',
      );
      s.server.upload(a.userId, a.deviceId, body);
      await a.device.markKeysAsPublished();
      // The newcomer (no Olm session with a yet) claims one of them: the old keys are claimed away first.
      const newcomer = s.newcomer;
      check(newcomer !== undefined, 'the newcomer exists');
      check(!(await newcomer.device.hasOlmSession(a.info)), 'the newcomer has no session with a yet');
      while (s.server.count(a.userId, a.deviceId) > ids.length) s.server.claim(a.userId, a.deviceId);
      const otk = s.server.claimFor(a.info);
      const content = await newcomer.device.encryptToDevice(a.info, 'm.test', { n: 8 }, { oneTimeKey: otk });
      checkEqual(
        (await a.device.decryptToDevice(toDeviceEvent(newcomer.userId, content))).content,
        { n: 8 },
        'a one-time key made after the restart works',
      );
    },
  },
  {
    name: 'DMLS room on this store: credentials, key packages, a commit and its welcome, messages, across a reopen',
    async run(s) {
      const DMLS_ROOM = '!dmls:example.org';
      const KEY_PACKAGE = 'm.dmls.v1.key_package.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';
      const options = { dmls: { engine: DmlsAccount, keyPackages: 2 } };
      const make = async (n: number) => {
        const userId = `@${s.backend.userPrefix}dmls${n}:example.org`;
        const scope = `${userId}|MLS|${s.tag}`;
        const pickleKey = randomPickleKey();
        const store = await s.backend.open(scope);
        const device = await Device.create(store, { userId, deviceId: 'MLS', pickleKey, ...options });
        return { userId, scope, pickleKey, store, device };
      };
      const a = await make(1);
      const b = await make(2);
      try {
        await b.device.generateKeyPackages(2);
        const upload = await b.device.keysForUpload();
        const keyPackage = Object.entries(upload.one_time_keys).find(([id]) => id.startsWith(KEY_PACKAGE))?.[1];
        check(typeof keyPackage === 'string', 'a key package in the upload');
        await b.device.markKeysAsPublished();
        await a.device.trackDevices([upload.device_keys as Record<string, unknown>]);
        await b.device.trackDevices([await a.device.deviceKeys()]);
        await a.device.createDmlsRoom(DMLS_ROOM);
        const commit = await a.device.dmlsCommit(DMLS_ROOM, { add: [keyPackage as string] });
        const { welcome } = await a.device.confirmDmlsCommit(DMLS_ROOM, '$dmls-commit-1');
        check(welcome !== undefined && commit.algorithm.startsWith('m.dmls.v1.'), 'a commit and its welcome');
        const joined = await b.device.joinDmlsRoom({
          type: 'm.room.encrypted',
          sender: a.userId,
          content: welcome as unknown as Record<string, unknown>,
        });
        checkEqual([joined.roomId, joined.epoch], [DMLS_ROOM, 1], 'b joined epoch 1');
        const say = async (from: typeof a, to: typeof a, body: string, n: number) => {
          const { content } = await from.device.encryptRoomEvent(DMLS_ROOM, 'm.room.message', { body });
          const event = { ...roomEvent(DMLS_ROOM, from.userId, content), event_id: `$dmls-${n}` };
          const d = await to.device.decryptRoomEvent(event);
          checkEqual(d.event.content, { body }, `${to.userId} reads ${body}`);
          checkEqual(d.dmls?.epoch, 1, 'in epoch 1');
        };
        await say(a, b, 'one', 1);
        await say(b, a, 'two', 2);
        // Every record went to the store: both reopen from it (a restart of the backend in between).
        for (const m of [a, b]) {
          await m.device.close();
          await m.store.close();
        }
        await s.backend.restart?.();
        for (const m of [a, b]) {
          m.store = await s.backend.open(m.scope);
          m.device = await Device.open(m.store, {
            userId: m.userId,
            deviceId: 'MLS',
            pickleKey: m.pickleKey,
            ...options,
          });
        }
        await say(a, b, 'three', 3);
        await say(b, a, 'four', 4);
      } finally {
        for (const m of [a, b]) {
          await m.device.close().catch(() => undefined);
          await m.store.close().catch(() => undefined);
        }
      }
    },
  },
];

/** Closes whatever the scenario left open (after a failed step too). */
export async function closeScenario(s: ScenarioState): Promise<void> {
  for (const m of [...s.members, ...(s.newcomer === undefined ? [] : [s.newcomer])]) {
    await m.device.close().catch(() => undefined);
    await m.store.close().catch(() => undefined);
  }
}
