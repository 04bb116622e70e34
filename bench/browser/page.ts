/**
 * The benchmark page: triturus (bundled as users bundle it, so the noble backend), libolm's WASM build
 * and matrix-sdk-crypto-wasm's OlmMachine, all in one page. bench/browser/run.ts drives it case by
 * case through `globalThis.triturusBench`.
 */
import {
  DecryptionSettings,
  DeviceId,
  EncryptionSettings,
  initAsync as initMachine,
  OlmMachine,
  RoomId,
  TrustRequirement,
  UserId,
} from '@matrix-org/matrix-sdk-crypto-wasm';
import Olm, {
  type InboundGroupSession as LibolmInbound,
  type OutboundGroupSession as LibolmOutbound,
  type Session as LibolmSession,
  type OlmImpl,
} from '@towns-protocol/olm';
import {
  Account,
  type Curve25519PublicKey,
  GroupSession,
  InboundGroupSession,
  MegolmMessage,
  type PreKeyMessage,
  type Session,
  SessionConfig,
  SessionKey,
} from 'triturus';
import { cryptoBackend, type KeyCache } from 'triturus/crypto';
import { Device, type EncryptedRoomEvent, type ExportedRoomKey } from 'triturus/device';
import type { KeyStore } from 'triturus/store';
import { IndexedDbStore } from 'triturus/store/indexeddb';
import { MemoryStore } from 'triturus/store/memory';
import { compare, FULL, type Iteration, type Measured, QUICK, type Settings, spin } from './harness.js';
import { platformCrypto, seamPresent, withPlatformCrypto } from './seam.js';

const ROOM = '!bench:example.org';
const CONTENT = { msgtype: 'm.text', body: 'x'.repeat(100) };
const PLAINTEXT = 'x'.repeat(100);
const PICKLE_KEY = new Uint8Array(32).fill(3);
/** Room events each decrypting side goes through (a row rarely needs them all; see `cycle`). */
const POOL = 40_000;
/** Megolm messages for the in-order protocol decrypt (as bench/megolm.ts). */
const BATCH = 4096;
const IDB_DATABASE = 'triturus-bench';
const MACHINE_PASSPHRASE = 'triturus bench passphrase';

type StoreKind = 'memory' | 'indexeddb';

let olm: OlmImpl;
let unique = 0;

// ---------------------------------------------------------------------------------------------
// triturus Devices

async function openStore(kind: StoreKind, scope: string): Promise<KeyStore> {
  if (kind === 'memory') return new MemoryStore(scope);
  return IndexedDbStore.open({ scope, databaseName: IDB_DATABASE });
}

async function device(kind: StoreKind, user: string, deferReplayRecords = true): Promise<Device> {
  const deviceId = `BENCH${unique++}`;
  const store = await openStore(kind, `@${user}:example.org|${deviceId}`);
  return Device.create(store, {
    userId: `@${user}:example.org`,
    deviceId,
    pickleKey: PICKLE_KEY,
    // OlmMachine refuses more than 10 000 messages per session; both sides rotate at that scale.
    rotationPeriodMsgs: 10_000,
    deferReplayRecords,
  });
}

/** A sender whose room key is already shared with one member, as in a real room (bench/device.ts). */
async function sender(kind: StoreKind): Promise<Device> {
  const alice = await device(kind, 'alice');
  const bob = await device('memory', 'bob');
  await bob.generateOneTimeKeys(1);
  const upload = await bob.keysForUpload(true);
  const [bobInfo] = await alice.trackDevices([upload.device_keys as Record<string, unknown>]);
  const claimed = Object.values(upload.one_time_keys)[0] as Record<string, unknown>;
  const oneTimeKey = Device.oneTimeKeyFromClaim(bobInfo!, { 'signed_curve25519:AAAAAAAAAAA': claimed });
  const shared = await alice.shareRoomKey(ROOM, [bobInfo!], new Map([[bobInfo!.curve25519Key.toBase64(), oneTimeKey]]));
  await alice.markRoomKeySent(ROOM, shared.messages);
  return alice;
}

function roomEvent(content: unknown, i: number): EncryptedRoomEvent {
  return {
    type: 'm.room.encrypted',
    room_id: ROOM,
    event_id: `$e${i}`,
    sender: '@alice:example.org',
    origin_server_ts: 1_700_000_000_000 + i,
    content: content as Record<string, unknown>,
  };
}

/** The Device encrypting fixtures, one per store kind, shared by the rows that compare it with different references. */
const memo = new Map<string, Promise<Iteration>>();
function once(key: string, make: () => Promise<Iteration>): Promise<Iteration> {
  let p = memo.get(key);
  if (p === undefined) {
    p = make();
    memo.set(key, p);
  }
  return p;
}

/**
 * Decrypting sides that ran through their whole pool during the current row (a receiver that wraps
 * around decrypts old indices again, which costs a ratchet advance from its first one); reported with
 * the row.
 */
const wrapped = new Set<string>();
function cycle<T>(label: string, items: readonly T[]): () => T {
  let i = 0;
  return () => {
    if (i === items.length) {
      wrapped.add(label);
      i = 0;
    }
    return items[i++]!;
  };
}

/** The Device's events: made once per page; each row decrypts them with a new receiver, from index 0. */
let deviceEvents: Promise<{ events: EncryptedRoomEvent[]; keys: ExportedRoomKey[] }> | undefined;
function deviceSenderEvents(): Promise<{ events: EncryptedRoomEvent[]; keys: ExportedRoomKey[] }> {
  deviceEvents ??= (async () => {
    const alice = await device('memory', 'alice');
    const events: EncryptedRoomEvent[] = [];
    for (let i = 0; i < POOL; i++)
      events.push(roomEvent((await alice.encryptRoomEvent(ROOM, 'm.room.message', CONTENT)).content, i));
    return { events, keys: await alice.exportRoomKeys() };
  })();
  return deviceEvents;
}

/** `deferReplayRecords: false`: each event's replay record is committed before the event is returned. */
async function deviceDecrypt(kind: StoreKind, deferReplayRecords = true): Promise<Iteration> {
  const { events, keys } = await deviceSenderEvents();
  const bob = await device(kind, 'bob', deferReplayRecords);
  await bob.importRoomKeys(keys);
  const next = cycle('triturus', events);
  return () => bob.decryptRoomEvent(next());
}

function deviceEncrypt(kind: StoreKind): Promise<Iteration> {
  return once(`device-encrypt-${kind}`, async () => {
    const alice = await sender(kind);
    return () => alice.encryptRoomEvent(ROOM, 'm.room.message', CONTENT);
  });
}

// ---------------------------------------------------------------------------------------------
// OlmMachine (as bench/device.ts; with a store name and passphrase it runs on IndexedDB, as Element Web runs it)

async function machine(kind: StoreKind, user: string): Promise<OlmMachine> {
  const userId = new UserId(`@${user}:example.org`);
  const deviceId = new DeviceId(`BENCH${unique++}`);
  if (kind === 'memory') return OlmMachine.initialize(userId, deviceId);
  return OlmMachine.initialize(userId, deviceId, `bench-machine-${user}-${unique++}`, MACHINE_PASSPHRASE);
}

function settings(): EncryptionSettings {
  const s = new EncryptionSettings();
  s.rotationPeriodMessages = 10_000n;
  return s;
}

/** OlmMachine encrypting (a JSON string in, a JSON string out), sharing a new session every 10 000 messages. */
async function machineEncryptor(kind: StoreKind): Promise<{
  encrypt: (body: string) => Promise<string>;
  alice: OlmMachine;
  room: RoomId;
}> {
  const alice = await machine(kind, 'alice');
  const room = new RoomId(ROOM);
  await alice.shareRoomKey(room, [], settings());
  let sent = 0;
  const encrypt = async (body: string) => {
    if (sent === 10_000) {
      await alice.shareRoomKey(room, [], settings());
      sent = 0;
    }
    sent++;
    return alice.encryptRoomEvent(room, 'm.room.message', body);
  };
  return { encrypt, alice, room };
}

/** The Device's whole job on OlmMachine: content object in, encrypted content object out. */
function machineEncrypt(kind: StoreKind): Promise<Iteration> {
  return once(`machine-encrypt-${kind}`, async () => {
    const { encrypt } = await machineEncryptor(kind);
    return async () => JSON.parse(await encrypt(JSON.stringify(CONTENT)));
  });
}

/** OlmMachine's events (and its exported keys): made once per page, as the Device's. */
let machineEvents: Promise<{ objects: EncryptedRoomEvent[]; keys: string }> | undefined;
function machineSenderEvents(): Promise<{ objects: EncryptedRoomEvent[]; keys: string }> {
  machineEvents ??= (async () => {
    const { encrypt, alice } = await machineEncryptor('memory');
    const body = JSON.stringify(CONTENT);
    const objects: EncryptedRoomEvent[] = [];
    for (let i = 0; i < POOL; i++) objects.push(roomEvent(JSON.parse(await encrypt(body)), i));
    return { objects, keys: await alice.exportRoomKeys(() => true) };
  })();
  return machineEvents;
}

/** The Device's whole job on OlmMachine: event object in, plaintext event object out; a new receiver per row. */
async function machineDecrypt(kind: StoreKind): Promise<Iteration> {
  const { objects, keys } = await machineSenderEvents();
  const bob = await machine(kind, 'bob');
  await bob.importExportedRoomKeys(keys, () => undefined);
  const room = new RoomId(ROOM);
  const decryption = new DecryptionSettings(TrustRequirement.Untrusted);
  const next = cycle('OlmMachine', objects);
  return async () => {
    const result = await bob.decryptRoomEvent(JSON.stringify(next()), room, decryption);
    return JSON.parse(result.event);
  };
}

// ---------------------------------------------------------------------------------------------
// libolm doing the Device's job without a store

function libolmOutbound(): LibolmOutbound {
  const s = new olm.OutboundGroupSession();
  s.create();
  return s;
}

function libolmInbound(key: string): LibolmInbound {
  const s = new olm.InboundGroupSession();
  s.create(key);
  return s;
}

/** libolm: the payload JSON built, encrypted, and the m.megolm.v1.aes-sha2 content object made. */
function libolmRoomEncrypt(): Iteration {
  const out = libolmOutbound();
  const sessionId = out.session_id();
  return () => ({
    algorithm: 'm.megolm.v1.aes-sha2',
    sender_key: 'SENDERKEYSENDERKEYSENDERKEYSENDERKEYSENDER0',
    ciphertext: out.encrypt(JSON.stringify({ type: 'm.room.message', content: CONTENT, room_id: ROOM })),
    session_id: sessionId,
    device_id: 'BENCH',
  });
}

/**
 * libolm: the event's ciphertext decrypted (the next message in order) and its payload parsed. At the end
 * of the pool a new inbound session starts again from the first message (as bench/megolm.ts does).
 */
function libolmRoomDecrypt(): Iteration {
  const out = libolmOutbound();
  const key = out.session_key();
  const payload = JSON.stringify({ type: 'm.room.message', content: CONTENT, room_id: ROOM });
  const events = Array.from({ length: POOL }, (_, i) =>
    roomEvent({ algorithm: 'm.megolm.v1.aes-sha2', ciphertext: out.encrypt(payload), session_id: out.session_id() }, i),
  );
  let inbound = libolmInbound(key);
  let i = 0;
  return () => {
    if (i === POOL) {
      inbound.free();
      inbound = libolmInbound(key);
      i = 0;
    }
    const event = events[i++]!;
    return JSON.parse(inbound.decrypt(event.content['ciphertext'] as string).plaintext);
  };
}

// ---------------------------------------------------------------------------------------------
// Protocol objects: Olm and Megolm (as bench/olm.ts and bench/megolm.ts)

function otk(account: Account): Curve25519PublicKey {
  account.generateOneTimeKeys(1);
  const key = [...account.oneTimeKeys.values()][0]!;
  account.markKeysAsPublished();
  return key;
}

function triturusPair(): { alice: Session; bob: Session } {
  const a = Account.create();
  const b = Account.create();
  const alice = a.createOutboundSession(SessionConfig.version1(), b.curve25519Key, otk(b));
  const { session: bob } = b.createInboundSession(a.curve25519Key, alice.encrypt('hi') as PreKeyMessage);
  alice.decrypt(bob.encrypt('hi'));
  return { alice, bob };
}

function libolmPair(): { alice: LibolmSession; bob: LibolmSession } {
  const a = new olm.Account();
  a.create();
  const b = new olm.Account();
  b.create();
  b.generate_one_time_keys(1);
  const key = Object.values(JSON.parse(b.one_time_keys()).curve25519)[0] as string;
  b.mark_keys_as_published();
  const alice = new olm.Session();
  alice.create_outbound(a, JSON.parse(b.identity_keys()).curve25519, key);
  const first = alice.encrypt('hi');
  const bob = new olm.Session();
  bob.create_inbound_from(b, JSON.parse(a.identity_keys()).curve25519, first.body);
  bob.decrypt(first.type, first.body);
  b.remove_one_time_keys(bob);
  const reply = bob.encrypt('hi');
  alice.decrypt(reply.type, reply.body);
  return { alice, bob };
}

/** A pre-key message to a fallback key (not consumed), so the same message can start a session each time. */
function triturusInboundFixture(): { b: Account; from: Curve25519PublicKey; message: PreKeyMessage } {
  const a = Account.create();
  const b = Account.create();
  b.generateFallbackKey();
  const fallback = [...b.fallbackKey.values()][0]!;
  const message = a.createOutboundSession(SessionConfig.version1(), b.curve25519Key, fallback).encrypt(PLAINTEXT);
  return { b, from: a.curve25519Key, message: message as PreKeyMessage };
}

function libolmCreateInbound(): Iteration {
  const a = new olm.Account();
  a.create();
  const b = new olm.Account();
  b.create();
  b.generate_fallback_key();
  const fallback = Object.values(JSON.parse(b.unpublished_fallback_key()).curve25519)[0] as string;
  const s = new olm.Session();
  s.create_outbound(a, JSON.parse(b.identity_keys()).curve25519, fallback);
  const message = s.encrypt(PLAINTEXT);
  const identity = JSON.parse(a.identity_keys()).curve25519;
  return () => {
    const r = new olm.Session();
    r.create_inbound_from(b, identity, message.body);
    r.decrypt(message.type, message.body);
    r.free();
  };
}

function libolmPingPong(): Iteration {
  const { alice, bob } = libolmPair();
  let turn = false;
  return () => {
    turn = !turn;
    const [from, to] = turn ? [alice, bob] : [bob, alice];
    const m = from.encrypt(PLAINTEXT);
    to.decrypt(m.type, m.body);
  };
}

/** Cycles through in-order messages; at the end of the batch a fresh inbound session starts again. */
function inOrder<S, T>(messages: string[], open: () => S, decrypt: (session: S, m: string) => T): () => T {
  let session = open();
  let next = 0;
  return () => {
    if (next === messages.length) {
      session = open();
      next = 0;
    }
    return decrypt(session, messages[next++]!);
  };
}

function triturusMegolmDecrypt(viaSeam: boolean): Iteration {
  const out = GroupSession.create();
  const key = out.sessionKey().toBase64();
  const messages = Array.from({ length: BATCH }, () => out.encrypt(PLAINTEXT).toBase64());
  const open = () => InboundGroupSession.fromSessionKey(SessionKey.fromBase64(key));
  if (!viaSeam) return inOrder(messages, open, (inbound, m) => inbound.decrypt(MegolmMessage.fromBase64(m)));
  let session = open();
  let next = 0;
  return async () => {
    if (next === messages.length) {
      session = await withPlatformCrypto(open);
      next = 0;
    }
    const m = messages[next++]!;
    return withPlatformCrypto(() => session.decrypt(MegolmMessage.fromBase64(m)));
  };
}

function libolmMegolmDecrypt(): Iteration {
  const out = libolmOutbound();
  const key = out.session_key();
  const messages = Array.from({ length: BATCH }, () => out.encrypt(PLAINTEXT));
  let previous: LibolmInbound | undefined;
  return inOrder(
    messages,
    () => {
      previous?.free();
      previous = libolmInbound(key);
      return previous;
    },
    (inbound, m) => inbound.decrypt(m),
  );
}

// ---------------------------------------------------------------------------------------------
// Primitives: WebCrypto's Ed25519 / X25519 against noble's (through the active triturus backend)

const MESSAGE_100 = new TextEncoder().encode(PLAINTEXT);

async function webEd25519(): Promise<{ privateKey: CryptoKey; publicKey: CryptoKey; raw: Uint8Array<ArrayBuffer> }> {
  const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const raw = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
  return { privateKey: pair.privateKey, publicKey: pair.publicKey, raw };
}

async function webX25519(): Promise<{ privateKey: CryptoKey; publicKey: CryptoKey; raw: Uint8Array<ArrayBuffer> }> {
  const pair = (await crypto.subtle.generateKey({ name: 'X25519' }, true, ['deriveBits'])) as CryptoKeyPair;
  const raw = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
  return { privateKey: pair.privateKey, publicKey: pair.publicKey, raw };
}

function nobleEd25519(): { seed: Uint8Array; publicKey: Uint8Array; cache: KeyCache } {
  const seed = crypto.getRandomValues(new Uint8Array(32));
  const cache: KeyCache = {};
  const publicKey = cryptoBackend().ed25519PublicKeyFromSeed(seed, cache);
  return { seed, publicKey, cache };
}

// ---------------------------------------------------------------------------------------------
// The cases

export interface BrowserCase {
  readonly name: string;
  /** The reference's name, for the table. */
  readonly reference: string;
  /** Largest acceptable ratio; undefined for information rows. */
  readonly target: number | undefined;
  /** Iterations return promises. */
  readonly async: boolean;
  readonly mine: () => Iteration | Promise<Iteration>;
  readonly theirs: () => Iteration | Promise<Iteration>;
  /** A note printed under the table. */
  readonly note?: string;
}

const seamLabel = (): string => (seamPresent ? 'withPlatformCrypto' : 'withPlatformCrypto shim: noble');

const cases: BrowserCase[] = [
  // Device against OlmMachine, both in memory, then both on IndexedDB.
  ...(['memory', 'indexeddb'] as const).flatMap((kind): BrowserCase[] => {
    const label = kind === 'memory' ? 'both in memory' : 'both on IndexedDB';
    return [
      {
        name: `Device \`decryptRoomEvent\` 100 B vs OlmMachine (${label})`,
        reference: 'OlmMachine',
        target: 0.5,
        async: true,
        mine: () => deviceDecrypt(kind),
        theirs: () => machineDecrypt(kind),
      },
      {
        name: `Device \`encryptRoomEvent\` 100 B vs OlmMachine (${label})`,
        reference: 'OlmMachine',
        target: undefined,
        async: true,
        mine: () => deviceEncrypt(kind),
        theirs: () => machineEncrypt(kind),
      },
    ];
  }),
  // Device against libolm doing the same job without a store.
  ...(['memory', 'indexeddb'] as const).flatMap((kind): BrowserCase[] => {
    const label = kind === 'memory' ? 'MemoryStore' : 'IndexedDbStore';
    return [
      {
        name: `Device \`decryptRoomEvent\` 100 B (${label}) vs libolm decrypt + JSON parse`,
        reference: 'libolm',
        target: 1.0,
        async: true,
        mine: () => deviceDecrypt(kind),
        theirs: libolmRoomDecrypt,
      },
      {
        name: `Device \`encryptRoomEvent\` 100 B (${label}) vs libolm encrypt + JSON`,
        reference: 'libolm',
        target: 1.0,
        async: true,
        mine: () => deviceEncrypt(kind),
        theirs: libolmRoomEncrypt,
      },
    ];
  }),
  {
    name: 'Device `decryptRoomEvent` 100 B (IndexedDbStore, `deferReplayRecords: false`: each record committed before the event returns) vs libolm decrypt + JSON parse',
    reference: 'libolm',
    target: undefined,
    async: true,
    mine: () => deviceDecrypt('indexeddb', false),
    theirs: libolmRoomDecrypt,
  },
  {
    name: 'Device `decryptRoomEvent` 100 B vs OlmMachine (both on IndexedDB; the Device with `deferReplayRecords: false`)',
    reference: 'OlmMachine',
    target: undefined,
    async: true,
    mine: () => deviceDecrypt('indexeddb', false),
    theirs: () => machineDecrypt('indexeddb'),
  },
  {
    name: `Olm create inbound session + decrypt vs libolm (${seamLabel()})`,
    reference: 'libolm',
    target: 1.0,
    async: true,
    mine: () => {
      const { b, from, message } = triturusInboundFixture();
      return () => withPlatformCrypto(() => b.createInboundSession(from, message));
    },
    theirs: libolmCreateInbound,
  },
  {
    name: `Olm ping-pong message (ratchet turn) vs libolm (${seamLabel()})`,
    reference: 'libolm',
    target: 1.0,
    async: true,
    mine: () => {
      const { alice, bob } = triturusPair();
      let turn = false;
      return async () => {
        turn = !turn;
        const [from, to] = turn ? [alice, bob] : [bob, alice];
        const m = await withPlatformCrypto(() => from.encrypt(PLAINTEXT));
        return withPlatformCrypto(() => to.decrypt(m));
      };
    },
    theirs: libolmPingPong,
  },
  {
    name: 'Sync protocol objects on noble alone: Megolm decrypt 100 B (next message in order) vs libolm',
    reference: 'libolm',
    target: 3,
    async: false,
    mine: () => triturusMegolmDecrypt(false),
    theirs: libolmMegolmDecrypt,
  },
  {
    name: 'Sync protocol objects on noble alone: Megolm encrypt 100 B vs libolm',
    reference: 'libolm',
    target: undefined,
    async: false,
    mine: () => {
      const s = GroupSession.create();
      return () => s.encrypt(PLAINTEXT).toBase64();
    },
    theirs: () => {
      const s = libolmOutbound();
      return () => s.encrypt(PLAINTEXT);
    },
  },
  {
    name: `Megolm decrypt 100 B (next message in order) vs libolm (${seamLabel()})`,
    reference: 'libolm',
    target: undefined,
    async: true,
    mine: () => triturusMegolmDecrypt(true),
    theirs: libolmMegolmDecrypt,
  },
  {
    name: 'Sync protocol objects on noble alone: Olm create inbound session + decrypt vs libolm',
    reference: 'libolm',
    target: undefined,
    async: false,
    mine: () => {
      const { b, from, message } = triturusInboundFixture();
      return () => b.createInboundSession(from, message);
    },
    theirs: libolmCreateInbound,
  },
  {
    name: 'Sync protocol objects on noble alone: Olm ping-pong message vs libolm',
    reference: 'libolm',
    target: undefined,
    async: false,
    mine: () => {
      const { alice, bob } = triturusPair();
      let turn = false;
      return () => {
        turn = !turn;
        if (turn) bob.decrypt(alice.encrypt(PLAINTEXT));
        else alice.decrypt(bob.encrypt(PLAINTEXT));
      };
    },
    theirs: libolmPingPong,
  },
  // The floor: noble (sync) against WebCrypto (async) for the two curve operations.
  {
    name: 'Primitive: Ed25519 sign 100 B, noble vs WebCrypto',
    reference: 'WebCrypto',
    target: undefined,
    async: true,
    mine: () => {
      const k = nobleEd25519();
      return () => cryptoBackend().ed25519SignWithSeed(k.seed, k.publicKey, k.cache, MESSAGE_100);
    },
    theirs: async () => {
      const k = await webEd25519();
      return () => crypto.subtle.sign('Ed25519', k.privateKey, MESSAGE_100);
    },
  },
  {
    name: 'Primitive: Ed25519 verify 100 B, noble vs WebCrypto (key imported once)',
    reference: 'WebCrypto',
    target: undefined,
    async: true,
    mine: () => {
      const k = nobleEd25519();
      const signature = cryptoBackend().ed25519SignWithSeed(k.seed, k.publicKey, k.cache, MESSAGE_100);
      return () => cryptoBackend().ed25519Verify(k.publicKey, {}, MESSAGE_100, signature);
    },
    theirs: async () => {
      const k = await webEd25519();
      const signature = await crypto.subtle.sign('Ed25519', k.privateKey, MESSAGE_100);
      return () => crypto.subtle.verify('Ed25519', k.publicKey, signature, MESSAGE_100);
    },
  },
  {
    name: 'Primitive: Ed25519 verify 100 B, noble vs WebCrypto (raw public key imported each call)',
    reference: 'WebCrypto',
    target: undefined,
    async: true,
    mine: () => {
      const k = nobleEd25519();
      const signature = cryptoBackend().ed25519SignWithSeed(k.seed, k.publicKey, k.cache, MESSAGE_100);
      return () => cryptoBackend().ed25519Verify(k.publicKey, {}, MESSAGE_100, signature);
    },
    theirs: async () => {
      const k = await webEd25519();
      const signature = await crypto.subtle.sign('Ed25519', k.privateKey, MESSAGE_100);
      return async () => {
        const key = await crypto.subtle.importKey('raw', k.raw, { name: 'Ed25519' }, false, ['verify']);
        return crypto.subtle.verify('Ed25519', key, signature, MESSAGE_100);
      };
    },
  },
  {
    name: 'Primitive: X25519 shared secret, noble vs WebCrypto deriveBits (keys imported once)',
    reference: 'WebCrypto',
    target: undefined,
    async: true,
    mine: () => {
      const secret = crypto.getRandomValues(new Uint8Array(32));
      const theirs = cryptoBackend().x25519PublicKey(crypto.getRandomValues(new Uint8Array(32)), {});
      return () => cryptoBackend().x25519(secret, {}, theirs);
    },
    theirs: async () => {
      const mine = await webX25519();
      const other = await webX25519();
      return () => crypto.subtle.deriveBits({ name: 'X25519', public: other.publicKey }, mine.privateKey, 256);
    },
  },
  {
    name: 'Primitive: X25519 shared secret, noble vs WebCrypto deriveBits (their raw public key imported each call)',
    reference: 'WebCrypto',
    target: undefined,
    async: true,
    mine: () => {
      const secret = crypto.getRandomValues(new Uint8Array(32));
      const theirs = cryptoBackend().x25519PublicKey(crypto.getRandomValues(new Uint8Array(32)), {});
      return () => cryptoBackend().x25519(secret, {}, theirs);
    },
    theirs: async () => {
      const mine = await webX25519();
      const other = await webX25519();
      return async () => {
        const key = await crypto.subtle.importKey('raw', other.raw, { name: 'X25519' }, false, []);
        return crypto.subtle.deriveBits({ name: 'X25519', public: key }, mine.privateKey, 256);
      };
    },
  },
];

export interface CaseInfo {
  readonly name: string;
  readonly reference: string;
  readonly target: number | undefined;
}

export interface BrowserBenchApi {
  init(
    quick: boolean,
  ): Promise<{ backend: string; platform: { ed25519: boolean; x25519: boolean } | undefined; seam: boolean }>;
  cases(): CaseInfo[];
  run(name: string): Promise<Measured & { wrapped: string[] }>;
  /** Runs one side of a case for `ms` (for the profiler), after building and warming its fixture. */
  prepare(name: string, side: 'mine' | 'theirs'): Promise<void>;
  spin(ms: number): Promise<number>;
}

let settings_: Settings = FULL;
let prepared: { fn: Iteration; async: boolean } | undefined;

function find(name: string): BrowserCase {
  const c = cases.find((x) => x.name === name);
  if (c === undefined) throw new Error(`no case ${name}`);
  return c;
}

const api: BrowserBenchApi = {
  async init(quick) {
    settings_ = quick ? QUICK : FULL;
    // The WASM files are served next to the bundle; their packages would look for them beside their own modules.
    olm = await Olm.initAsync({ locateFile: () => '/olm.wasm' });
    await initMachine('/matrix_sdk_crypto_wasm_bg.wasm');
    return { backend: cryptoBackend().name, platform: await platformCrypto(), seam: seamPresent };
  },
  cases: () => cases.map((c) => ({ name: c.name, reference: c.reference, target: c.target })),
  async run(name) {
    const c = find(name);
    const mine = await c.mine();
    const theirs = await c.theirs();
    wrapped.clear();
    const measured = await compare(mine, theirs, c.async, settings_);
    return { ...measured, wrapped: [...wrapped] };
  },
  async prepare(name, side) {
    const c = find(name);
    const fn = await c[side]();
    prepared = { fn, async: c.async };
    await spin(fn, c.async, settings_.warmUpMs);
  },
  async spin(ms) {
    if (prepared === undefined) throw new Error('nothing prepared');
    return spin(prepared.fn, prepared.async, ms);
  },
};

(globalThis as unknown as { triturusBench: BrowserBenchApi }).triturusBench = api;
