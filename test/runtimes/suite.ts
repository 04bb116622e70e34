/**
 * One suite for every runtime (Node, Deno, Bun): bundled by esbuild with the `node` condition (so each runtime
 * gets the node:crypto backend, with its fallbacks), run as a plain script, one JSON line per case on stdout.
 * It runs the store conformance suite on the default store (the runtime's own SQLite engine), an Olm and
 * Megolm round trip, pickles, and two Devices on the default store across a restart.
 * Nothing here may be Node-only beyond node:fs, node:os and node:path, which all three runtimes have.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Device, type DeviceInfo, type EncryptedRoomEvent, type ToDeviceMessage } from '../../src/device/index.js';
import {
  Account,
  cryptoBackend,
  GroupSession,
  InboundGroupSession,
  olmMessageFromParts,
  PickleError,
  type PreKeyMessage,
  SessionConfig,
} from '../../src/index.js';
import { defaultSqliteEngine, openDefaultStore } from '../../src/store/default.js';
import { builtinSqliteDriver, type SqliteDatabase, type SqliteDriver } from '../../src/store/sqlite-driver.js';
import { type ConformanceCase, casesFor, type StoreHarness, V1_FIXTURE } from '../store/conformance.js';
import { SQLITE_V1_DDL } from '../store/sqlite-v1.js';

const engine = defaultSqliteEngine();
const dir = mkdtempSync(join(tmpdir(), 'triturus-runtime-'));
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
const emit = (line: Record<string, unknown>): void => console.log(JSON.stringify(line));

async function rawDriver(): Promise<SqliteDriver> {
  if (engine !== 'better-sqlite3') return builtinSqliteDriver(engine);
  const specifier = 'better-sqlite3';
  return ((await import(specifier)) as { default: SqliteDriver }).default;
}

function withRaw<T>(Driver: SqliteDriver, path: string, fn: (db: SqliteDatabase) => T): T {
  const db = new Driver(path, { timeout: 5000 });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

function insertV1Fixture(db: SqliteDatabase, scope: string): void {
  const f = V1_FIXTURE;
  const o = f.olmSession;
  const i = f.inboundGroupSession;
  const g = f.outboundGroupSession;
  db.prepare('INSERT INTO triturus_accounts VALUES (?, ?, ?)').run(scope, f.account.schema, f.account.data);
  db.prepare('INSERT INTO triturus_olm_sessions VALUES (?, ?, ?, ?, ?, ?)').run(
    scope,
    o.senderKey,
    o.sessionId,
    o.lastUsedAt,
    o.schema,
    o.data,
  );
  db.prepare('INSERT INTO triturus_inbound_group_sessions VALUES (?, ?, ?, ?, ?, ?)').run(
    scope,
    i.roomId,
    i.sessionId,
    i.senderKey,
    i.schema,
    i.data,
  );
  db.prepare('INSERT INTO triturus_outbound_group_sessions VALUES (?, ?, ?, ?, ?)').run(
    scope,
    g.roomId,
    g.sessionId,
    g.schema,
    g.data,
  );
  db.prepare('INSERT INTO triturus_replays VALUES (?, ?, ?, ?, ?)').run(
    scope,
    f.replay.sessionId,
    f.replay.messageIndex,
    f.replay.eventId,
    f.replay.originServerTs,
  );
  db.prepare('INSERT INTO triturus_mls_groups VALUES (?, ?, ?, ?)').run(
    scope,
    f.mlsGroup.groupId,
    f.mlsGroup.schema,
    f.mlsGroup.data,
  );
  db.prepare('INSERT INTO triturus_values VALUES (?, ?, ?)').run(scope, f.value.key, f.value.value);
}

const quote = (s: string): string => `'${s.replaceAll("'", "''")}'`;

function harness(Driver: SqliteDriver): StoreHarness {
  const path = join(dir, 'store.db');
  let files = 0;
  const newFile = (): string => join(dir, `fixture-${++files}.db`);
  return {
    backend: 'sqlite',
    open: (scope) => openDefaultStore({ scope, path }),
    async installWriteTrap(scope, key) {
      withRaw(Driver, path, (db) =>
        db.exec(
          `CREATE TRIGGER trap_${++files} BEFORE INSERT ON triturus_values
           WHEN NEW.scope = ${quote(scope)} AND NEW.key = ${quote(key)}
           BEGIN SELECT RAISE(ABORT, 'write trapped by the test'); END`,
        ),
      );
    },
    schemaFixtures: {
      async createV1(scope) {
        const file = newFile();
        withRaw(Driver, file, (db) => {
          db.exec(SQLITE_V1_DDL);
          insertV1Fixture(db, scope);
        });
        return () => openDefaultStore({ scope, path: file });
      },
      async createNewer(scope) {
        const file = newFile();
        withRaw(Driver, file, (db) => {
          db.exec(SQLITE_V1_DDL);
          db.prepare('INSERT INTO triturus_schema VALUES (99, 0)').run();
        });
        return () => openDefaultStore({ scope, path: file });
      },
    },
  };
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

const roundTrip: ConformanceCase = {
  name: 'olm and megolm round trip, pickles',
  async run() {
    const alice = Account.create();
    const bob = Account.create();
    bob.generateOneTimeKeys(1);
    const [, oneTimeKey] = [...bob.oneTimeKeys][0]!;
    bob.markKeysAsPublished();
    const outbound = alice.createOutboundSession(SessionConfig.version1(), bob.curve25519Key, oneTimeKey);
    const first = outbound.encrypt('hello bob');
    const incoming = olmMessageFromParts(first.type, first.toBase64()) as PreKeyMessage;
    const { session, plaintext } = bob.createInboundSession(alice.curve25519Key, incoming);
    check(text(plaintext) === 'hello bob', 'olm pre-key message');
    const reply = session.encrypt('hello alice');
    check(text(outbound.decrypt(olmMessageFromParts(reply.type, reply.toBase64()))) === 'hello alice', 'olm reply');

    const group = GroupSession.create();
    const inbound = InboundGroupSession.fromSessionKey(group.sessionKey());
    const { plaintext: roomText, messageIndex } = inbound.decrypt(group.encrypt('to the room'));
    check(text(roomText) === 'to the room' && messageIndex === 0, 'megolm message');

    const pickleKey = crypto.getRandomValues(new Uint8Array(32));
    const restored = InboundGroupSession.fromPickle(inbound.pickle(pickleKey), pickleKey);
    check(text(restored.decrypt(group.encrypt('again')).plaintext) === 'again', 'megolm after a pickle round trip');
    let error: unknown;
    try {
      InboundGroupSession.fromPickle(inbound.pickle(pickleKey), new Uint8Array(32));
    } catch (e) {
      error = e;
    }
    check(error instanceof PickleError, `a wrong pickle key is a PickleError, got ${String(error)}`);
  },
};

const devices: ConformanceCase = {
  name: 'two devices on the default store: room key over olm, a room message, a restart',
  async run() {
    const room = '!runtime:example.org';
    const open = async (name: string, create: boolean, pickleKey: Uint8Array) => {
      const userId = `@${name}:example.org`;
      const store = await openDefaultStore({ path: join(dir, `${name}.db`), scope: `${userId}|DEVICE` });
      const options = { userId, deviceId: 'DEVICE', pickleKey };
      return { store, device: create ? await Device.create(store, options) : await Device.open(store, options) };
    };
    const aliceKey = crypto.getRandomValues(new Uint8Array(32));
    const bobKey = crypto.getRandomValues(new Uint8Array(32));
    const alice = await open('alice', true, aliceKey);
    let bob = await open('bob', true, bobKey);
    await bob.device.generateOneTimeKeys(1);
    const upload = await bob.device.keysForUpload(true);
    await bob.device.markKeysAsPublished();
    const aliceUpload = await alice.device.keysForUpload(true);
    const [bobInfo] = (await alice.device.trackDevices([
      upload.device_keys as Record<string, unknown>,
    ])) as DeviceInfo[];
    await bob.device.trackDevices([aliceUpload.device_keys as Record<string, unknown>]);
    check(bobInfo !== undefined, 'alice accepts bob’s device keys');
    const first = await alice.device.shareRoomKey(room, [bobInfo]);
    check(first.missingSessions.length === 1 && first.messages.length === 0, 'no olm session yet');
    const claimed = new Map([
      [bobInfo.curve25519Key.toBase64(), Device.oneTimeKeyFromClaim(bobInfo, upload.one_time_keys)],
    ]);
    const { messages } = await alice.device.shareRoomKey(room, [bobInfo], claimed);
    check(messages.length === 1, 'one m.room_key message');
    await alice.device.markRoomKeySent(room, messages);
    const message = messages[0] as ToDeviceMessage;
    const toDevice = await bob.device.decryptToDevice({
      type: message.type,
      sender: alice.device.userId,
      content: message.content as unknown as Record<string, unknown>,
    });
    check(toDevice.roomKey?.roomId === room, 'bob stores the room key');
    const { content } = await alice.device.encryptRoomEvent(room, 'm.room.message', { msgtype: 'm.text', body: 'hi' });
    const event: EncryptedRoomEvent = {
      type: 'm.room.encrypted',
      room_id: room,
      event_id: '$1',
      sender: alice.device.userId,
      origin_server_ts: 1,
      content: content as unknown as Record<string, unknown>,
    };
    check((await bob.device.decryptRoomEvent(event)).event.content['body'] === 'hi', 'bob reads the message');
    await bob.device.close();
    await bob.store.close();
    bob = await open('bob', false, bobKey);
    check((await bob.device.decryptRoomEvent(event)).event.content['body'] === 'hi', 'bob reads it after a restart');
    for (const p of [alice, bob]) {
      await p.device.close();
      await p.store.close();
    }
  },
};

const runtime =
  (globalThis as { Bun?: { version: string } }).Bun !== undefined
    ? `bun ${(globalThis as unknown as { Bun: { version: string } }).Bun.version}`
    : (globalThis as { Deno?: { version: { deno: string } } }).Deno !== undefined
      ? `deno ${(globalThis as unknown as { Deno: { version: { deno: string } } }).Deno.version.deno}`
      : `node ${process.version}`;
emit({ runtime, engine, backend: cryptoBackend().name });

const Driver = await rawDriver();
const h = harness(Driver);
for (const c of [roundTrip, devices, ...casesFor(h)]) {
  try {
    await c.run(h);
    emit({ name: c.name, ok: true });
  } catch (error) {
    emit({
      name: c.name,
      ok: false,
      message: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    });
  }
}
rmSync(dir, { recursive: true, force: true });
emit({ done: true });
