/**
 * Hostile input to the public Device operations (fast-check). The project's rules, checked run by run:
 * - bad input makes an operation reject with a TriturusError carrying a string code: never a TypeError,
 *   RangeError or other crash, never a synchronous throw from a promise-returning method, never a hang;
 * - a failed operation changes nothing in the store (no commit at all; no one-time key burned, no Olm or
 *   Megolm session advanced, no replay record written), which is also checked functionally: the untouched
 *   event still opens afterwards, the next room message takes the next index;
 * - an operation that succeeds on a mutated input gives exactly what the intact input gives (a mutation may
 *   only succeed when it does not change the meaning, e.g. an unused field).
 *
 * Inputs are arbitrary JSON and JS values, and mutations of valid events, keys and claims: a field dropped or
 * replaced (wrong types, huge strings, deep nesting, NaN, valid-looking ids of other sessions and devices),
 * base64 flipped, truncated or extended, a map key renamed. Special values are described in the
 * counterexamples by name (`{ special: 'deep-array' }`, `{ like: 'alice-curve' }`) and built in the run.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type DecryptedRoomEvent,
  type DecryptedToDeviceEvent,
  Device,
  type DeviceInfo,
  deviceInfoFromKeys,
  type ExportedRoomKey,
  type OlmEncryptedContent,
  type RoomEncryptionResult,
  type ShareRoomKeyResult,
} from '../../src/device/index.js';
import {
  Account,
  type Curve25519PublicKey,
  GroupSession,
  InboundGroupSession,
  TriturusError,
} from '../../src/index.js';
import { roomKeyExportFromJson } from '../../src/megolm/export.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { StoreChanges } from '../../src/store/types.js';
import { DeviceClient } from '../support/device-client.js';
import { signJson } from '../support/device-keys.js';
import { FaultHomeserver } from '../support/fault-homeserver.js';
import { settleRaw } from '../support/settle.js';
import { type PeerDevice, TriturusDevice } from '../support/triturus-device.js';

const ALICE = '@alice:example.org';
const BOB = '@bob:example.org';
const CAROL = '@carol:example.org';
const DAVE = '@dave:example.org';
const MALLORY = '@mallory:example.org';
const ROOM = '!hostile:example.org';
const OTHER_ROOM = '!elsewhere:example.org';
const ENCRYPT_ROOM = '!encrypt:example.org';
const MEGOLM = 'm.megolm.v1.aes-sha2';
const OLM = 'm.olm.v1.curve25519-aes-sha2';

/** How long an operation may take before it counts as a hang (the slowest legitimate call here takes ~10 ms). */
const HANG_MS = 5_000;

// -------------------------------------------------------------------------------------------------
// Calling operations with values their types do not allow

interface LooseDevice {
  decryptRoomEvent(event: unknown, roomId?: unknown): Promise<DecryptedRoomEvent>;
  decryptToDevice(event: unknown): Promise<DecryptedToDeviceEvent>;
  trackDevices(deviceKeys: unknown): Promise<DeviceInfo[]>;
  importRoomKeys(keys: unknown, source?: unknown): Promise<number>;
  encryptRoomEvent(roomId: unknown, eventType: unknown, content: unknown): Promise<RoomEncryptionResult>;
  encryptToDevice(
    recipient: unknown,
    eventType: unknown,
    content: unknown,
    options?: unknown,
  ): Promise<OlmEncryptedContent>;
  hasOlmSession(device: unknown): Promise<boolean>;
  shareRoomKey(roomId: unknown, devices: unknown, oneTimeKeys?: unknown): Promise<ShareRoomKeyResult>;
  markRoomKeySent(roomId: unknown, recipients: unknown): Promise<void>;
  rotateRoomKey(roomId: unknown): Promise<void>;
  generateOneTimeKeys(count: unknown): Promise<void>;
  updateKeyCounts(count: unknown, unusedFallbackKeyTypes?: unknown): Promise<boolean>;
  exportRoomKeys(roomId?: unknown): Promise<ExportedRoomKey[]>;
  importKeyFile(text: unknown, passphrase: unknown, options?: unknown): Promise<number>;
  exportKeyFile(passphrase: unknown, options?: unknown, roomId?: unknown): Promise<string>;
  keysForUpload(includeDeviceKeys?: unknown): Promise<unknown>;
}

const loose = (device: Device): LooseDevice => device as unknown as LooseDevice;
const looseClaim = Device.oneTimeKeyFromClaim as unknown as (device: unknown, claimed: unknown) => Curve25519PublicKey;
const looseInfo = deviceInfoFromKeys as unknown as (keys: unknown) => DeviceInfo | undefined;
const looseCreate = Device.create as unknown as (store: unknown, options: unknown) => Promise<Device>;

type Settled<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: TriturusError };

function describeError(error: unknown): string {
  try {
    if (error instanceof Error) return `${error.constructor.name}: ${error.message}`;
    return `a thrown ${typeof error} (${String(error)})`;
  } catch {
    return `a thrown ${typeof error}`;
  }
}

function expectTriturus(error: unknown, what: string): asserts error is TriturusError {
  expect(error instanceof TriturusError, `${what} failed with ${describeError(error)}, not a TriturusError`).toBe(true);
  const code = (error as TriturusError).code;
  expect(typeof code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(code), `${what}: error code ${String(code)}`).toBe(true);
}

/** Runs a promise-returning operation: its value, or its TriturusError (anything else fails the run). */
async function settle<T>(what: string, start: () => Promise<T>): Promise<Settled<T>> {
  const outcome = await settleRaw(what, start, HANG_MS, describeError);
  if ('error' in outcome) {
    expectTriturus(outcome.error, what);
    return { ok: false, error: outcome.error };
  }
  return { ok: true, value: outcome.value };
}

/** The same for a synchronous function. */
function attempt<T>(what: string, run: () => T): Settled<T> {
  try {
    return { ok: true, value: run() };
  } catch (error) {
    expectTriturus(error, what);
    return { ok: false, error };
  }
}

// -------------------------------------------------------------------------------------------------
// What must not change: the store

interface Watch {
  /** Curve25519 keys whose Olm sessions are compared. */
  readonly peers?: readonly string[];
  /** Rooms whose outbound session is compared. */
  readonly rooms?: readonly string[];
}

/**
 * The store's content (account, Olm sessions with `peers`, every inbound group session, outbound sessions of
 * `rooms`) and the number of commits applied. A MemoryStore changes only through commits, so "no commit"
 * already means "nothing changed"; the content makes a failure readable.
 */
async function storeState(client: DeviceClient, watch: Watch = {}) {
  const store = client.store;
  const inbound = createHash('sha256');
  for (const e of await store.listInboundGroupSessions()) {
    inbound.update(
      `${e.roomId}\u0000${e.sessionId}\u0000${e.senderKey}\u0000${e.record.schema}\u0000${e.record.data}\u0001`,
    );
  }
  const olm: Record<string, string[]> = {};
  for (const peer of watch.peers ?? []) {
    olm[peer] = (await store.loadOlmSessions(peer)).map((s) => `${s.sessionId} ${s.lastUsedAt} ${s.record.data}`);
  }
  const outbound: Record<string, string | undefined> = {};
  for (const room of watch.rooms ?? []) outbound[room] = (await store.loadOutboundGroupSession(room))?.record.data;
  return {
    commits: store.commits.length,
    account: (await store.loadAccount())?.data,
    olm,
    inbound: inbound.digest('hex'),
    outbound,
  };
}
type StoreState = Awaited<ReturnType<typeof storeState>>;

function summarize(changes: StoreChanges): string {
  return Object.entries(changes)
    .map(([k, v]) => (Array.isArray(v) ? `${k}[${v.length}]` : k))
    .join(' ');
}

/** The commits applied since `before`, summarized (`replays[1] olmSessions[1]`). */
function appliedSince(client: DeviceClient, before: StoreState): string[] {
  return client.store.commits.slice(before.commits).map(summarize);
}

/**
 * What a failure may leave behind, and only for its own error: a request for a missing room key
 * (ROOM_KEY_UNKNOWN), or the note of a broken Olm session (no session opens a normal message).
 */
function allowedTraces(error: TriturusError | undefined): string[] {
  if (error?.code === 'ROOM_KEY_UNKNOWN') return ['keyreq.out.', 'device.outbox'];
  if (error !== undefined && ['MAC_MISMATCH', 'NO_OLM_SESSION', 'MESSAGE_KEY_MISSING'].includes(error.code)) {
    return ['device.session-repair'];
  }
  return [];
}

async function expectUnchanged(
  client: DeviceClient,
  before: StoreState,
  watch: Watch,
  what: string,
  error?: TriturusError,
): Promise<void> {
  const allowed = allowedTraces(error);
  const isTrace = (c: StoreChanges) =>
    Object.keys(c).every((k) => k === 'values') &&
    (c.values ?? []).every((v) => allowed.some((prefix) => v.key.startsWith(prefix)));
  const applied = client.store.commits.slice(before.commits);
  expect(applied.filter((c) => !isTrace(c)).map(summarize), `${what} failed, yet committed`).toEqual([]);
  expect(
    { ...(await storeState(client, watch)), commits: before.commits },
    `${what} failed, yet the store changed`,
  ).toEqual(before);
}

async function storedOneTimeKeys(client: DeviceClient): Promise<number> {
  const account = await client.storedAccount();
  const count = account.storedOneTimeKeyCount;
  account.free();
  return count;
}

// -------------------------------------------------------------------------------------------------
// Hostile values, described in counterexamples by name and built in the run

const HUGE = 'A'.repeat(256 * 1024);
const DEPTH = 100_000;
let deepArrayValue: unknown;
let deepObjectValue: unknown;
function deepArray(): unknown {
  if (deepArrayValue === undefined) {
    let v: unknown = [];
    for (let i = 0; i < DEPTH; i++) v = [v];
    deepArrayValue = v;
  }
  return deepArrayValue;
}
function deepObject(): unknown {
  if (deepObjectValue === undefined) {
    let v: unknown = {};
    for (let i = 0; i < DEPTH; i++) v = { a: v };
    deepObjectValue = v;
  }
  return deepObjectValue;
}

/** Plain-data values that are wrong almost everywhere. */
const SPECIALS: Record<string, () => unknown> = {
  'empty-string': () => '',
  'huge-string': () => HUGE,
  'huge-base64': () => `Aw${HUGE}`,
  'control-chars': () => '\u0000\n\u001f"\\',
  'lone-surrogate': () => '\ud800x',
  'non-ascii': () => 'é💥ß',
  'base64-padded': () => 'AAAA====',
  zero: () => 0,
  one: () => 1,
  two: () => 2,
  negative: () => -1,
  fraction: () => 0.5,
  'negative-zero': () => -0,
  nan: () => Number.NaN,
  infinity: () => Number.POSITIVE_INFINITY,
  'minus-infinity': () => Number.NEGATIVE_INFINITY,
  'max-value': () => Number.MAX_VALUE,
  'unsafe-integer': () => 2 ** 53,
  'uint32-overflow': () => 2 ** 32,
  true: () => true,
  false: () => false,
  null: () => null,
  undefined: () => undefined,
  'empty-object': () => ({}),
  'empty-array': () => [],
  'array-of-strings': () => ['a', 'b'],
  'array-of-nulls': () => [null, null],
  'nested-object': () => ({ a: { b: { c: [1, { d: 'e' }] } } }),
  'wide-object': () => Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, i])),
  'long-array': () => new Array(100_000).fill(0),
  'deep-array': deepArray,
  'deep-object': deepObject,
};
const SPECIAL_NAMES = Object.keys(SPECIALS);

/** Valid-looking values of the world (other sessions, devices, rooms), resolved by name in the run. */
const LIKE_NAMES = [
  'room',
  'other-room',
  'alice',
  'bob',
  'mallory',
  'alice-curve',
  'alice-ed',
  'bob-curve',
  'bob-ed',
  'fresh-curve',
  'fresh-ed',
  'session-id',
  'other-session-id',
  'alice-device',
  'bob-device',
  'megolm',
  'olm',
] as const;
type LikeName = (typeof LIKE_NAMES)[number];
type Ctx = Record<LikeName, string>;

type Spec =
  | { readonly special: string }
  | { readonly like: LikeName }
  | { readonly json: fc.JsonValue }
  | { readonly any: unknown };

const specArb: fc.Arbitrary<Spec> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...SPECIAL_NAMES).map((special) => ({ special })) },
  { weight: 3, arbitrary: fc.constantFrom(...LIKE_NAMES).map((like) => ({ like })) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((json) => ({ json })) },
  { weight: 2, arbitrary: fc.anything({ maxDepth: 2 }).map((any) => ({ any })) },
);

function materialize(spec: Spec, ctx: Ctx): unknown {
  if ('special' in spec) return SPECIALS[spec.special]!();
  if ('like' in spec) return ctx[spec.like];
  if ('json' in spec) return structuredClone(spec.json);
  return spec.any;
}

/** Unpadded base64 of random bytes (optionally starting with a plausible version byte). */
const base64Arb: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom<number[]>([], [3], [4], [1]), fc.uint8Array({ maxLength: 300 }))
  .map(([prefix, bytes]) =>
    Buffer.from([...prefix, ...bytes])
      .toString('base64')
      .replace(/=+$/, ''),
  );

const CHARS = [
  ...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/',
  '=',
  '-',
  '_',
  ' ',
  '\n',
  '\u0000',
  'é',
  '\ud800',
];

// -------------------------------------------------------------------------------------------------
// Mutations of valid inputs

/** A path into the input; a segment `$name` is the context value `name` (e.g. a Curve25519 key). */
type Path = readonly string[];

type Mutation =
  | { readonly op: 'drop'; readonly path: Path }
  | { readonly op: 'set'; readonly path: Path; readonly value: Spec }
  | { readonly op: 'flip'; readonly path: Path; readonly at: number; readonly char: string }
  | { readonly op: 'truncate'; readonly path: Path; readonly keep: number }
  | { readonly op: 'append'; readonly path: Path; readonly text: string }
  | { readonly op: 'rename'; readonly path: Path; readonly to: Spec };

interface MutationTargets {
  /** Fields that are dropped or replaced. */
  readonly fields: readonly Path[];
  /** String fields whose characters are flipped, truncated or extended. */
  readonly strings: readonly Path[];
  /** Map entries moved to another key. */
  readonly keys: readonly Path[];
}

function mutationArb(targets: MutationTargets): fc.Arbitrary<Mutation> {
  const field = fc.constantFrom(...targets.fields);
  const text = fc.constantFrom(...targets.strings);
  return fc.oneof(
    fc.record({ op: fc.constant('drop' as const), path: field }),
    { weight: 3, arbitrary: fc.record({ op: fc.constant('set' as const), path: field, value: specArb }) },
    {
      weight: 2,
      arbitrary: fc.record({
        op: fc.constant('flip' as const),
        path: text,
        at: fc.nat(),
        char: fc.constantFrom(...CHARS),
      }),
    },
    fc.record({ op: fc.constant('truncate' as const), path: text, keep: fc.nat() }),
    fc.record({
      op: fc.constant('append' as const),
      path: text,
      text: fc.oneof(fc.string({ minLength: 1 }), base64Arb, fc.constantFrom('=', '==', ' ', '\n', 'A', 'AAAA')),
    }),
    fc.record({
      op: fc.constant('rename' as const),
      path: fc.constantFrom(...targets.keys),
      to: fc.oneof(
        fc.constantFrom(...LIKE_NAMES).map((like): Spec => ({ like })),
        fc.string().map((json): Spec => ({ json })),
      ),
    }),
  );
}

const mutationsArb = (targets: MutationTargets) => fc.array(mutationArb(targets), { minLength: 1, maxLength: 3 });

type Container = Record<string, unknown>;
const isContainer = (v: unknown): v is Container => typeof v === 'object' && v !== null;

function setOwn(target: Container, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** `input` (plain JSON) with the mutations applied in order; a mutation whose target is gone is skipped. */
function mutate(input: unknown, mutations: readonly Mutation[], ctx: Ctx): unknown {
  const root: Container = { v: structuredClone(input) };
  const resolve = (segment: string): string => (segment.startsWith('$') ? ctx[segment.slice(1) as LikeName] : segment);
  for (const m of mutations) {
    const path = ['v', ...m.path.map(resolve)];
    let parent: unknown = root;
    for (const segment of path.slice(0, -1)) parent = isContainer(parent) ? parent[segment] : undefined;
    if (!isContainer(parent)) continue;
    const key = path.at(-1)!;
    const current = parent[key];
    switch (m.op) {
      case 'drop':
        // From an array, an element is removed (JSON has no holes).
        if (Array.isArray(parent)) parent.splice(Number(key), 1);
        else delete parent[key];
        break;
      case 'set':
        setOwn(parent, key, materialize(m.value, ctx));
        break;
      case 'flip':
        if (typeof current === 'string' && current.length > 0) {
          const at = m.at % current.length;
          setOwn(parent, key, current.slice(0, at) + m.char + current.slice(at + 1));
        }
        break;
      case 'truncate':
        if (typeof current === 'string' && current.length > 0)
          setOwn(parent, key, current.slice(0, m.keep % current.length));
        break;
      case 'append':
        if (typeof current === 'string') setOwn(parent, key, current + m.text);
        break;
      case 'rename': {
        const to = materialize(m.to, ctx);
        if (key in parent && typeof to === 'string') {
          delete parent[key];
          setOwn(parent, to, current);
        }
        break;
      }
    }
  }
  return root.v;
}

// -------------------------------------------------------------------------------------------------
// The world: Alice and Bob (store-backed Devices), a room key of Alice's that Bob holds, an Olm session

interface World {
  readonly server: FaultHomeserver;
  readonly alice: DeviceClient;
  readonly bob: DeviceClient;
  readonly aliceInfo: DeviceInfo;
  readonly bobInfo: DeviceInfo;
  readonly ctx: Ctx;
}

async function makeWorld(): Promise<World> {
  const server = new FaultHomeserver();
  // No rotation by count: every run adds messages to one session.
  const alice = await DeviceClient.create(server, ALICE, 'ALICEDEV', { device: { rotationPeriodMsgs: 1_000_000 } });
  // Replay records committed with each event, so that each check sees exactly one operation's writes
  // (the deferred default is tested in test/device/deferred-replays.test.ts).
  const bob = await DeviceClient.create(server, BOB, 'BOBDEV', { device: { deferReplayRecords: false } });
  await alice.publish();
  await bob.publish({ oneTimeKeys: 100 });
  const [bobInfo] = await alice.track(BOB);
  const [aliceInfo] = await bob.track(ALICE);
  await alice.shareRoomKey(ROOM, [bobInfo!]);
  await alice.shareRoomKey(OTHER_ROOM, [bobInfo!]);
  for (const got of await bob.receive()) expect(got.error).toBeUndefined();
  const first = await alice.post(ROOM, { n: -1 });
  const other = await alice.post(OTHER_ROOM, { n: -1 });
  const fresh = Account.create();
  const ctx: Ctx = {
    room: ROOM,
    'other-room': OTHER_ROOM,
    alice: ALICE,
    bob: BOB,
    mallory: MALLORY,
    'alice-curve': aliceInfo!.curve25519Key.toBase64(),
    'alice-ed': aliceInfo!.ed25519Key.toBase64(),
    'bob-curve': bobInfo!.curve25519Key.toBase64(),
    'bob-ed': bobInfo!.ed25519Key.toBase64(),
    'fresh-curve': fresh.curve25519Key.toBase64(),
    'fresh-ed': fresh.ed25519Key.toBase64(),
    'session-id': first.result.sessionId,
    'other-session-id': other.result.sessionId,
    'alice-device': 'ALICEDEV',
    'bob-device': 'BOBDEV',
    megolm: MEGOLM,
    olm: OLM,
  };
  fresh.free();
  return { server, alice, bob, aliceInfo: aliceInfo!, bobInfo: bobInfo!, ctx };
}

/**
 * A room key that importRoomKeys can take as it is: Megolm, non-empty room id and sender key, a session key
 * whose session id matches, a forwarding chain of strings (or none). Of the claimed keys only `ed25519` is
 * used: a string, or absent. (The Matrix export form, as importKeyFile reads it, plus non-empty ids.)
 */
function wellFormedKey(value: unknown): boolean {
  if (!isContainer(value) || Array.isArray(value)) return false;
  if (value.algorithm !== MEGOLM) return false;
  if (typeof value.room_id !== 'string' || value.room_id === '') return false;
  if (typeof value.sender_key !== 'string' || value.sender_key === '') return false;
  // The key-export file format's own reading of an entry decides the rest (claimed keys, chain, key).
  try {
    roomKeyExportFromJson(value);
    return true;
  } catch {
    return false;
  }
}

/** The claimed Ed25519 key importRoomKeys should keep from an entry. */
function claimedEd25519(value: Record<string, unknown>): unknown {
  const claimed = value.sender_claimed_keys;
  return isContainer(claimed) && !Array.isArray(claimed) ? claimed.ed25519 : undefined;
}

const peerOf = (info: DeviceInfo): PeerDevice => ({
  userId: info.userId,
  deviceId: info.deviceId,
  curve25519: info.curve25519Key,
  ed25519: info.ed25519Key,
});

const infoView = (d: DeviceInfo | undefined) =>
  d === undefined
    ? undefined
    : { userId: d.userId, deviceId: d.deviceId, curve: d.curve25519Key.toBase64(), ed: d.ed25519Key.toBase64() };

const toDeviceView = (d: DecryptedToDeviceEvent) => ({
  type: d.type,
  content: d.content,
  sender: d.sender,
  senderKey: d.senderKey.toBase64(),
  senderClaimedEd25519: d.senderClaimedEd25519.toBase64(),
  senderDevice: infoView(d.senderDevice),
  roomKey: d.roomKey,
});

/** Key objects have no enumerable fields (toEqual would see nothing): results are compared as text. */
const roomEventView = (d: DecryptedRoomEvent) => ({
  ...d,
  senderKey: d.senderKey.toBase64(),
  senderClaimedEd25519: d.senderClaimedEd25519?.toBase64(),
  forwardingCurve25519KeyChain: d.forwardingCurve25519KeyChain.map((k) => k.toBase64()),
});
type RoomEventView = ReturnType<typeof roomEventView>;

let serial = 0;

// -------------------------------------------------------------------------------------------------

describe('decryptRoomEvent on hostile input', () => {
  let w: World;
  beforeAll(async () => {
    w = await makeWorld();
  });
  const watch = (): Watch => ({ peers: [w.ctx['alice-curve']] });

  it('arbitrary values and event-shaped garbage: a TriturusError, nothing committed', async () => {
    const eventShape = fc.record(
      {
        type: fc.oneof(fc.constant('m.room.encrypted'), fc.jsonValue({ maxDepth: 1 })),
        room_id: fc.oneof(fc.constantFrom(ROOM, OTHER_ROOM), fc.jsonValue({ maxDepth: 1 })),
        event_id: fc.oneof(fc.string(), fc.jsonValue({ maxDepth: 1 })),
        sender: fc.oneof(fc.constantFrom(ALICE, MALLORY), fc.jsonValue({ maxDepth: 1 })),
        origin_server_ts: fc.oneof(fc.nat(), fc.double(), fc.jsonValue({ maxDepth: 1 })),
        content: fc.oneof(
          fc.record(
            {
              algorithm: fc.oneof(fc.constantFrom(MEGOLM, OLM), fc.jsonValue({ maxDepth: 1 })),
              sender_key: fc.oneof(fc.constant(w.ctx['alice-curve']), base64Arb, fc.jsonValue({ maxDepth: 1 })),
              ciphertext: fc.oneof(base64Arb, fc.jsonValue({ maxDepth: 1 })),
              session_id: fc.oneof(
                fc.constantFrom(w.ctx['session-id'], w.ctx['other-session-id']),
                base64Arb,
                fc.jsonValue({ maxDepth: 1 }),
              ),
              device_id: fc.oneof(fc.constant('ALICEDEV'), fc.jsonValue({ maxDepth: 1 })),
            },
            { requiredKeys: [] },
          ),
          fc.jsonValue({ maxDepth: 2 }),
        ),
      },
      { requiredKeys: [] },
    );
    const input = fc.oneof(
      fc.jsonValue().map((json): Spec => ({ json })),
      fc.anything().map((any): Spec => ({ any })),
      eventShape.map((json): Spec => ({ json: json as fc.JsonValue })),
      specArb,
    );
    const roomArg = fc.option(fc.oneof(fc.constant<Spec>({ like: 'room' }), specArb), { nil: undefined, freq: 3 });
    await fc.assert(
      fc.asyncProperty(input, roomArg, async (spec, roomSpec) => {
        const event = materialize(spec, w.ctx);
        const room = roomSpec === undefined ? undefined : materialize(roomSpec, w.ctx);
        const before = await storeState(w.bob, watch());
        const got = await settle('decryptRoomEvent', () => loose(w.bob.device).decryptRoomEvent(event, room));
        expect(got.ok, 'garbage decrypted').toBe(false);
        await expectUnchanged(w.bob, before, watch(), 'decryptRoomEvent', got.ok ? undefined : got.error);
      }),
      { numRuns: 300 },
    );
  });

  it('mutations of a valid event: the same plaintext or a TriturusError; a failure commits nothing and burns nothing', async () => {
    const targets: MutationTargets = {
      fields: [
        ['type'],
        ['room_id'],
        ['event_id'],
        ['sender'],
        ['origin_server_ts'],
        ['unsigned'],
        ['content'],
        ['content', 'algorithm'],
        ['content', 'sender_key'],
        ['content', 'ciphertext'],
        ['content', 'session_id'],
        ['content', 'device_id'],
      ],
      strings: [
        ['content', 'ciphertext'],
        ['content', 'ciphertext'],
        ['content', 'session_id'],
        ['content', 'sender_key'],
        ['room_id'],
        ['event_id'],
        ['sender'],
      ],
      keys: [['content', 'ciphertext'], ['content', 'session_id'], ['room_id']],
    };
    const roomArg = fc.option(fc.oneof(fc.constant<Spec>({ like: 'room' }), specArb), { nil: undefined, freq: 4 });
    await fc.assert(
      fc.asyncProperty(mutationsArb(targets), roomArg, async (mutations, roomSpec) => {
        const content = { msgtype: 'm.text', body: `hostile ${serial++}` };
        const { event, result } = await w.alice.post(ROOM, content);
        const expected: RoomEventView = {
          event: { type: 'm.room.message', content, room_id: ROOM },
          senderKey: w.ctx['alice-curve'],
          senderClaimedEd25519: w.ctx['alice-ed'],
          sessionId: result.sessionId,
          messageIndex: result.messageIndex,
          verified: true,
          forwardingCurve25519KeyChain: [],
        };
        const mutated = mutate(event, mutations, w.ctx);
        const room = roomSpec === undefined ? undefined : materialize(roomSpec, w.ctx);
        const before = await storeState(w.bob, watch());
        const got = await settle('decryptRoomEvent', () => loose(w.bob.device).decryptRoomEvent(mutated, room));
        if (got.ok) {
          expect(roomEventView(got.value), 'a mutated event decrypted to something else').toEqual(expected);
          expect(appliedSince(w.bob, before), 'a success records one replay entry').toEqual(['replays[1]']);
        } else {
          await expectUnchanged(w.bob, before, watch(), 'decryptRoomEvent', got.ok ? undefined : got.error);
          // Nothing was recorded or advanced: the untouched event opens as it would have.
          expect(roomEventView(await w.bob.device.decryptRoomEvent(event))).toEqual(expected);
        }
      }),
      {
        numRuns: 300,
        // Always tried too: a room id argument whose string conversion overflows the stack.
        examples: [[[{ op: 'drop', path: ['unsigned'] }], { special: 'deep-array' }]],
      },
    );
  });

  it('crafted plaintexts under a held room key: success exactly for a well-formed payload, else a TriturusError and nothing committed', async () => {
    // A raw Megolm session whose key Bob imported: it encrypts any bytes, as a malicious key holder can.
    const raw = GroupSession.create();
    const senderKey = w.ctx['fresh-curve'];
    const exported = InboundGroupSession.fromSessionKey(raw.sessionKey()).exportAtFirstKnownIndex().toBase64();
    const key: ExportedRoomKey = {
      algorithm: MEGOLM,
      room_id: ROOM,
      sender_key: senderKey,
      session_id: raw.sessionId,
      session_key: exported,
      sender_claimed_keys: { ed25519: w.ctx['fresh-ed'] },
      forwarding_curve25519_key_chain: [],
    };
    expect(await w.bob.device.importRoomKeys([key])).toBe(1);
    const json = fc.jsonValue({ maxDepth: 2 });
    const payloadArb = fc.oneof(
      {
        weight: 4,
        arbitrary: fc
          .record(
            {
              room_id: fc.oneof(fc.constant(ROOM), fc.constant(ROOM), json),
              type: fc.oneof(fc.string(), fc.constantFrom('', 'm.room.message'), json),
              content: fc.oneof(fc.dictionary(fc.string(), json, { maxKeys: 4 }), json),
              extra: json,
            },
            { requiredKeys: [] },
          )
          .map((o) => ({ text: JSON.stringify(o) })),
      },
      fc.jsonValue().map((v) => ({ text: JSON.stringify(v) })),
      fc.string().map((text) => ({ text })),
      fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ bytes })),
    );
    await fc.assert(
      fc.asyncProperty(payloadArb, async (payload) => {
        const index = raw.messageIndex;
        const plaintext = 'text' in payload ? payload.text : payload.bytes;
        const event = {
          type: 'm.room.encrypted',
          room_id: ROOM,
          event_id: `$raw-${index}`,
          sender: MALLORY,
          origin_server_ts: 1_000 + index,
          content: {
            algorithm: MEGOLM,
            sender_key: senderKey,
            session_id: raw.sessionId,
            device_id: 'RAWDEV',
            ciphertext: raw.encrypt(plaintext).toBase64(),
          },
        };
        let parsed: unknown;
        try {
          const text =
            typeof plaintext === 'string' ? plaintext : new TextDecoder('utf-8', { fatal: true }).decode(plaintext);
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        const object = isContainer(parsed) && !Array.isArray(parsed) ? parsed : undefined;
        const wellFormed =
          object !== undefined && object.room_id === ROOM && typeof object.type === 'string' && object.type.length > 0;
        const before = await storeState(w.bob, watch());
        const got = await settle('decryptRoomEvent', () => w.bob.device.decryptRoomEvent(event));
        if (wellFormed) {
          expect(got.ok, `a well-formed payload was refused: ${got.ok ? '' : got.error.code}`).toBe(true);
          if (got.ok) {
            const c = object.content;
            expect(got.value.event).toEqual({
              type: object.type,
              content: isContainer(c) && !Array.isArray(c) ? c : {},
              room_id: ROOM,
            });
            expect(got.value.messageIndex).toBe(index);
            expect(got.value.senderKey.toBase64()).toBe(senderKey);
            expect(got.value.verified).toBe(false);
          }
        } else {
          expect(got.ok, 'a malformed payload was accepted').toBe(false);
          await expectUnchanged(w.bob, before, watch(), 'decryptRoomEvent', got.ok ? undefined : got.error);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('decryptToDevice on hostile input', () => {
  let w: World;
  let raw: TriturusDevice;
  let bobPeer: PeerDevice;
  beforeAll(async () => {
    w = await makeWorld();
    // An Olm session both ways between Alice and Bob: Alice's messages to Bob are normal (type 1) ones.
    await w.bob.sendToDevice(w.aliceInfo, 'org.example.hello', {});
    for (const got of await w.alice.receive()) expect(got.error).toBeUndefined();
    // A raw sender Bob knows, for pre-key messages on fresh one-time keys.
    raw = new TriturusDevice(CAROL, 'RAWDEV');
    raw.publish(w.server);
    await w.bob.track(CAROL);
    bobPeer = peerOf(await w.bob.info());
  });
  const watch = (): Watch => ({ peers: [w.ctx['alice-curve'], raw.curve25519.toBase64()] });

  const targets: MutationTargets = {
    fields: [
      ['type'],
      ['sender'],
      ['content'],
      ['content', 'algorithm'],
      ['content', 'sender_key'],
      ['content', 'ciphertext'],
      ['content', 'ciphertext', '$bob-curve'],
      ['content', 'ciphertext', '$bob-curve', 'type'],
      ['content', 'ciphertext', '$bob-curve', 'type'],
      ['content', 'ciphertext', '$bob-curve', 'body'],
      ['content', 'ciphertext', '$alice-curve'],
      ['content', 'unknown'],
    ],
    strings: [
      ['content', 'ciphertext', '$bob-curve', 'body'],
      ['content', 'ciphertext', '$bob-curve', 'body'],
      ['content', 'ciphertext', '$bob-curve', 'body'],
      ['content', 'sender_key'],
      ['sender'],
    ],
    keys: [
      ['content', 'ciphertext', '$bob-curve'],
      ['content', 'sender_key'],
    ],
  };

  it('arbitrary values and event-shaped garbage: a TriturusError, nothing committed', async () => {
    const json = fc.jsonValue({ maxDepth: 1 });
    const part = fc.record(
      {
        type: fc.oneof(fc.constantFrom(0, 1), fc.integer(), fc.double(), json),
        body: fc.oneof(base64Arb, fc.string(), json),
      },
      { requiredKeys: [] },
    );
    const eventShape = fc.record(
      {
        type: fc.oneof(fc.constant('m.room.encrypted'), json),
        sender: fc.oneof(fc.constantFrom(ALICE, CAROL, MALLORY), json),
        content: fc.oneof(
          fc.record(
            {
              algorithm: fc.oneof(fc.constantFrom(OLM, MEGOLM), json),
              sender_key: fc.oneof(
                fc.constantFrom(w.ctx['alice-curve'], w.ctx['fresh-curve'], raw.curve25519.toBase64()),
                base64Arb,
                json,
              ),
              ciphertext: fc.oneof(
                fc.record({ [w.ctx['bob-curve']]: fc.oneof(part, json) }),
                fc.dictionary(fc.string(), fc.oneof(part, json), { maxKeys: 3 }),
                json,
              ),
            },
            { requiredKeys: [] },
          ),
          json,
        ),
      },
      { requiredKeys: [] },
    );
    const input = fc.oneof(
      fc.jsonValue().map((j): Spec => ({ json: j })),
      fc.anything().map((any): Spec => ({ any })),
      eventShape.map((j): Spec => ({ json: j as fc.JsonValue })),
      eventShape.map((j): Spec => ({ json: j as fc.JsonValue })),
      specArb,
    );
    await fc.assert(
      fc.asyncProperty(input, async (spec) => {
        const event = materialize(spec, w.ctx);
        const before = await storeState(w.bob, watch());
        const got = await settle('decryptToDevice', () => loose(w.bob.device).decryptToDevice(event));
        expect(got.ok, 'garbage decrypted').toBe(false);
        await expectUnchanged(w.bob, before, watch(), 'decryptToDevice', got.ok ? undefined : got.error);
      }),
      { numRuns: 300 },
    );
  });

  it('mutations of a normal (type 1) message: the same event or a TriturusError; a failure advances no session', async () => {
    await fc.assert(
      fc.asyncProperty(mutationsArb(targets), async (mutations) => {
        const content = { n: serial++, text: 'normal' };
        const encrypted = await w.alice.device.encryptToDevice(w.bobInfo, 'org.example.hostile', content);
        expect(encrypted.ciphertext[w.ctx['bob-curve']]?.type).toBe(1);
        const event = { type: 'm.room.encrypted', sender: ALICE, content: { ...encrypted } };
        const expected = {
          type: 'org.example.hostile',
          content,
          sender: ALICE,
          senderKey: w.ctx['alice-curve'],
          senderClaimedEd25519: w.ctx['alice-ed'],
          senderDevice: infoView(w.aliceInfo),
          roomKey: undefined,
        };
        const mutated = mutate(event, mutations, w.ctx);
        const before = await storeState(w.bob, watch());
        const got = await settle('decryptToDevice', () => loose(w.bob.device).decryptToDevice(mutated));
        if (got.ok) {
          expect(toDeviceView(got.value), 'a mutated message decrypted to something else').toEqual(expected);
        } else {
          await expectUnchanged(w.bob, before, watch(), 'decryptToDevice', got.ok ? undefined : got.error);
          expect(toDeviceView(await w.bob.device.decryptToDevice(event))).toEqual(expected);
        }
      }),
      { numRuns: 250 },
    );
  });

  it("a failed decryption (hostile remote input) does not move the receiver's own room message index", async () => {
    await fc.assert(
      fc.asyncProperty(mutationsArb(targets), fc.boolean(), async (mutations, roomEvent) => {
        const first = await w.bob.device.encryptRoomEvent(ENCRYPT_ROOM, 'm.room.message', { n: 1 });
        let got: Settled<unknown>;
        if (roomEvent) {
          const { event } = await w.alice.post(ROOM, { n: serial++ });
          const mutated = mutate(event, mutations, w.ctx);
          got = await settle('decryptRoomEvent', () => loose(w.bob.device).decryptRoomEvent(mutated));
        } else {
          const content = await w.alice.device.encryptToDevice(w.bobInfo, 'org.example.hostile', { n: serial++ });
          const event = { type: 'm.room.encrypted', sender: ALICE, content: { ...content } };
          got = await settle('decryptToDevice', () =>
            loose(w.bob.device).decryptToDevice(mutate(event, mutations, w.ctx)),
          );
          // Keep the Olm conversation in step whatever happened.
          if (!got.ok) await w.bob.device.decryptToDevice(event);
        }
        fc.pre(!got.ok);
        const next = await w.bob.device.encryptRoomEvent(ENCRYPT_ROOM, 'm.room.message', { n: 2 });
        expect(next.sessionId).toBe(first.sessionId);
        expect(next.messageIndex, `a failed decryption (${got.ok ? '' : got.error.code}) moved the index`).toBe(
          first.messageIndex + 1,
        );
      }),
      { numRuns: 100 },
    );
  });

  it('mutations of a pre-key (type 0) message: the same event or a TriturusError; a failure burns no one-time key', async () => {
    const bobSelf = await w.bob.info();
    const rawExpected = (content: Record<string, unknown>) => ({
      type: 'org.example.hostile',
      content,
      sender: CAROL,
      senderKey: raw.curve25519.toBase64(),
      senderClaimedEd25519: raw.ed25519.toBase64(),
      senderDevice: { userId: CAROL, deviceId: 'RAWDEV', curve: raw.curve25519.toBase64(), ed: raw.ed25519.toBase64() },
      roomKey: undefined,
    });
    await fc.assert(
      fc.asyncProperty(mutationsArb(targets), async (mutations) => {
        // A new Olm session on one of Bob's one-time keys, claimed from the server (never the fallback key).
        if ((await storedOneTimeKeys(w.bob)) < 5) await w.bob.publish({ oneTimeKeys: 100, fallbackKey: false });
        raw.startSession(bobPeer, w.bob.claim(bobSelf));
        const content = { n: serial++, text: 'pre-key' };
        const event = raw.toDeviceEvent(bobPeer, 'org.example.hostile', content);
        expect((event.content.ciphertext as Record<string, { type: number }>)[w.ctx['bob-curve']]?.type).toBe(0);
        const mutated = mutate(event, mutations, w.ctx);
        const keysBefore = await storedOneTimeKeys(w.bob);
        const before = await storeState(w.bob, watch());
        const got = await settle('decryptToDevice', () => loose(w.bob.device).decryptToDevice(mutated));
        if (got.ok) {
          expect(toDeviceView(got.value), 'a mutated message decrypted to something else').toEqual(
            rawExpected(content),
          );
        } else {
          await expectUnchanged(w.bob, before, watch(), 'decryptToDevice', got.ok ? undefined : got.error);
          expect(await storedOneTimeKeys(w.bob), 'a one-time key was burned').toBe(keysBefore);
          // The one-time key is still there: the untouched message opens.
          expect(toDeviceView(await w.bob.device.decryptToDevice(event))).toEqual(rawExpected(content));
        }
        expect(await storedOneTimeKeys(w.bob)).toBe(keysBefore - 1);
      }),
      {
        numRuns: 150,
        // Always tried too: the same sender key, padded (base64 decoders accept it).
        examples: [[[{ op: 'append', path: ['content', 'sender_key'], text: '=' }]]],
      },
    );
  });

  it('a pre-key message is bound to its tracked sender however its sender_key is spelled (padding, trailing bits)', async () => {
    const bobSelf = await w.bob.info();
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    // Spellings base64 decoders accept for the same 32 bytes: the 2 unused bits of the last character, padding.
    const spell = (key: string, trailing: number, pad: string): string => {
      const last = alphabet.indexOf(key.at(-1)!);
      return key.slice(0, -1) + alphabet[(last & ~3) | trailing] + pad;
    };
    const spelling = fc.record({ trailing: fc.integer({ min: 0, max: 3 }), pad: fc.constantFrom('', '=', '==') });
    await fc.assert(
      fc.asyncProperty(spelling, fc.boolean(), async ({ trailing, pad }, forged) => {
        if ((await storedOneTimeKeys(w.bob)) < 5) await w.bob.publish({ oneTimeKeys: 100, fallbackKey: false });
        raw.startSession(bobPeer, w.bob.claim(bobSelf));
        const content = { n: serial++, text: 'spelling' };
        const payload = raw.payloadFor(bobPeer, 'org.example.hostile', content);
        // A forged payload claims Alice's Ed25519 key: a tracked sender may only claim its own.
        const claimed = forged ? { ...payload, keys: { ed25519: w.ctx['alice-ed'] } } : payload;
        const encrypted = raw.encryptPayload(bobPeer, claimed);
        const event = {
          type: 'm.room.encrypted',
          sender: CAROL,
          content: { ...encrypted, sender_key: spell(encrypted.sender_key, trailing, pad) },
        };
        const keysBefore = await storedOneTimeKeys(w.bob);
        const before = await storeState(w.bob, watch());
        const got = await settle('decryptToDevice', () => w.bob.device.decryptToDevice(event));
        if (forged) expect(got.ok, 'a forged keys.ed25519 was accepted').toBe(false);
        if (got.ok) {
          expect(toDeviceView(got.value)).toEqual({
            type: 'org.example.hostile',
            content,
            sender: CAROL,
            senderKey: raw.curve25519.toBase64(),
            senderClaimedEd25519: raw.ed25519.toBase64(),
            senderDevice: {
              userId: CAROL,
              deviceId: 'RAWDEV',
              curve: raw.curve25519.toBase64(),
              ed: raw.ed25519.toBase64(),
            },
            roomKey: undefined,
          });
        } else {
          await expectUnchanged(w.bob, before, watch(), 'decryptToDevice', got.ok ? undefined : got.error);
          expect(await storedOneTimeKeys(w.bob), 'a one-time key was burned').toBe(keysBefore);
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe('trackDevices, deviceInfoFromKeys, oneTimeKeyFromClaim and importRoomKeys on hostile input', () => {
  let w: World;
  let carol: TriturusDevice;
  let dave: TriturusDevice;
  let carolKeys: Record<string, unknown>;
  let daveKeys: Record<string, unknown>;
  beforeAll(async () => {
    w = await makeWorld();
    carol = new TriturusDevice(CAROL, 'CAROLDEV');
    dave = new TriturusDevice(DAVE, 'DAVEDEV');
    carolKeys = { ...carol.deviceKeys() };
    daveKeys = { ...dave.deviceKeys() };
  });
  const view = (d: TriturusDevice) => ({
    userId: d.userId,
    deviceId: d.deviceId,
    curve: d.curve25519.toBase64(),
    ed: d.ed25519.toBase64(),
  });
  const keyTargets: MutationTargets = {
    fields: [
      ['user_id'],
      ['device_id'],
      ['algorithms'],
      ['algorithms', '0'],
      ['keys'],
      ['keys', 'curve25519:CAROLDEV'],
      ['keys', 'ed25519:CAROLDEV'],
      ['signatures'],
      ['signatures', CAROL],
      ['signatures', CAROL, 'ed25519:CAROLDEV'],
      ['unsigned'],
      ['extra'],
    ],
    strings: [
      ['signatures', CAROL, 'ed25519:CAROLDEV'],
      ['keys', 'curve25519:CAROLDEV'],
      ['keys', 'ed25519:CAROLDEV'],
      ['user_id'],
      ['device_id'],
    ],
    keys: [['keys', 'curve25519:CAROLDEV'], ['keys', 'ed25519:CAROLDEV'], ['signatures', CAROL], ['user_id']],
  };

  it('trackDevices / deviceInfoFromKeys: bad entries are skipped (or the call refused), never a crash; good neighbours are kept', async () => {
    type Entry = { readonly kind: 'carol'; readonly mutations: readonly Mutation[] } | { readonly kind: 'dave' } | Spec;
    const entry: fc.Arbitrary<Entry> = fc.oneof(
      { weight: 3, arbitrary: mutationsArb(keyTargets).map((mutations) => ({ kind: 'carol' as const, mutations })) },
      fc.constant({ kind: 'dave' as const }),
      specArb,
    );
    const input = fc.oneof(
      { weight: 4, arbitrary: fc.array(entry, { minLength: 1, maxLength: 3 }).map((list) => ({ list })) },
      specArb.map((whole) => ({ whole })),
    );
    await fc.assert(
      fc.asyncProperty(input, async (shape) => {
        const build = (e: Entry): unknown =>
          'kind' in e
            ? e.kind === 'dave'
              ? structuredClone(daveKeys)
              : mutate(carolKeys, e.mutations, w.ctx)
            : materialize(e, w.ctx);
        const argument = 'list' in shape ? shape.list.map(build) : materialize(shape.whole, w.ctx);
        // deviceInfoFromKeys on each entry: a legitimate device, or undefined for anything malformed.
        for (const item of Array.isArray(argument) ? argument : [argument]) {
          const info = attempt('deviceInfoFromKeys', () => looseInfo(item));
          if (info.ok && info.value !== undefined)
            expect([view(carol), view(dave)]).toContainEqual(infoView(info.value));
        }
        const before = await storeState(w.bob);
        const got = await settle('trackDevices', () => loose(w.bob.device).trackDevices(argument));
        if (!got.ok) {
          await expectUnchanged(w.bob, before, {}, 'trackDevices');
          return;
        }
        const accepted = got.value.map(infoView);
        for (const a of accepted) expect([view(carol), view(dave)], 'a forged device was accepted').toContainEqual(a);
        if ('list' in shape && shape.list.some((e) => 'kind' in e && e.kind === 'dave')) {
          expect(accepted, "a valid device was dropped for its neighbours' sake").toContainEqual(view(dave));
        }
        // Only the accepted devices were written.
        const written = w.bob.store.commits.slice(before.commits).flatMap((c) => {
          const { values, ...rest } = c;
          expect(Object.keys(rest).filter((k) => (rest as Record<string, unknown>)[k] !== undefined)).toEqual([]);
          return (values ?? []).map((v) => v.key);
        });
        for (const key of written) {
          expect(
            accepted.some(
              (a) =>
                a !== undefined &&
                (key.includes(a.curve) ||
                  key.includes(`${a.userId}|${a.deviceId}`) ||
                  key === `device.user.${a.userId}`),
            ),
            `trackDevices wrote ${key} for no accepted device`,
          ).toBe(true);
        }
      }),
      { numRuns: 250 },
    );
  });

  it('Device.oneTimeKeyFromClaim: the claimed key or a TriturusError, for any device and claim', async () => {
    const otk = Account.create();
    otk.generateOneTimeKeys(1);
    const [[keyId, key]] = [...otk.oneTimeKeys] as [[string, Curve25519PublicKey]];
    const claim = { [`signed_curve25519:${keyId}`]: signJson(carol, { key: key.toBase64() }) };
    const carolInfo: DeviceInfo = {
      userId: CAROL,
      deviceId: 'CAROLDEV',
      curve25519Key: carol.curve25519,
      ed25519Key: carol.ed25519,
    };
    const claimTargets: MutationTargets = {
      fields: [
        [`signed_curve25519:${keyId}`],
        [`signed_curve25519:${keyId}`, 'key'],
        [`signed_curve25519:${keyId}`, 'signatures'],
        [`signed_curve25519:${keyId}`, 'signatures', CAROL],
        [`signed_curve25519:${keyId}`, 'signatures', CAROL, 'ed25519:CAROLDEV'],
        [`signed_curve25519:${keyId}`, 'fallback'],
        ['signed_curve25519:ZZZZZZ'],
        ['signed_curve25519:'],
      ],
      strings: [
        [`signed_curve25519:${keyId}`, 'key'],
        [`signed_curve25519:${keyId}`, 'signatures', CAROL, 'ed25519:CAROLDEV'],
      ],
      keys: [[`signed_curve25519:${keyId}`], [`signed_curve25519:${keyId}`, 'signatures', CAROL]],
    };
    const infoFields = ['userId', 'deviceId', 'curve25519Key', 'ed25519Key'] as const;
    const deviceArb = fc.oneof(
      { weight: 3, arbitrary: fc.constant({ intact: true as const }) },
      fc.record({ field: fc.constantFrom(...infoFields), value: specArb }),
      specArb.map((whole) => ({ whole })),
    );
    const claimArb = fc.oneof(
      { weight: 3, arbitrary: mutationsArb(claimTargets).map((mutations) => ({ mutations })) },
      fc.constant({ intact: true as const }),
      specArb.map((whole) => ({ whole })),
    );
    fc.assert(
      fc.property(deviceArb, claimArb, (d, c) => {
        const device =
          'intact' in d
            ? carolInfo
            : 'whole' in d
              ? materialize(d.whole, w.ctx)
              : { ...carolInfo, [d.field]: materialize(d.value, w.ctx) };
        const claimed =
          'intact' in c ? claim : 'whole' in c ? materialize(c.whole, w.ctx) : mutate(claim, c.mutations, w.ctx);
        const got = attempt('oneTimeKeyFromClaim', () => looseClaim(device, claimed));
        if (got.ok) {
          expect(got.value.toBase64(), 'a claim gave another key').toBe(key.toBase64());
          const asInfo = device as Partial<DeviceInfo>;
          expect(asInfo.userId).toBe(CAROL);
          expect(asInfo.deviceId).toBe('CAROLDEV');
          expect(asInfo.ed25519Key?.toBase64()).toBe(carol.ed25519.toBase64());
        }
        if ('intact' in d && 'intact' in c) expect(got.ok).toBe(true);
      }),
      { numRuns: 300 },
    );
    otk.free();
  });

  it('importRoomKeys: bad entries are skipped (or the call refused), never a crash; what is stored exports cleanly', async () => {
    const keyTargets2: MutationTargets = {
      fields: [
        ['algorithm'],
        ['room_id'],
        ['sender_key'],
        ['session_id'],
        ['session_key'],
        ['sender_claimed_keys'],
        ['sender_claimed_keys', 'ed25519'],
        ['forwarding_curve25519_key_chain'],
        ['forwarding_curve25519_key_chain', '0'],
        ['extra'],
      ],
      strings: [['session_key'], ['session_key'], ['session_id'], ['room_id'], ['sender_key']],
      keys: [['session_key'], ['sender_claimed_keys', 'ed25519'], ['room_id']],
    };
    const freshKey = (room: string): ExportedRoomKey => {
      const session = GroupSession.create();
      const inbound = InboundGroupSession.fromSessionKey(session.sessionKey());
      const exported = inbound.exportAtFirstKnownIndex().toBase64();
      return {
        algorithm: MEGOLM,
        room_id: room,
        sender_key: w.ctx['fresh-curve'],
        session_id: session.sessionId,
        session_key: exported,
        sender_claimed_keys: { ed25519: w.ctx['fresh-ed'] },
        forwarding_curve25519_key_chain: [w.ctx['alice-curve']],
      };
    };
    const input = fc.oneof(
      {
        weight: 5,
        arbitrary: fc.record({
          mutations: mutationsArb(keyTargets2),
          neighbour: fc.boolean(),
          alone: fc.boolean(),
        }),
      },
      specArb.map((whole) => ({ whole })),
      fc.array(specArb, { minLength: 1, maxLength: 3 }).map((list) => ({ list })),
    );
    const source = fc.option(fc.constantFrom('import', 'forwarded'), { nil: undefined });
    await fc.assert(
      fc.asyncProperty(input, source, async (shape, src) => {
        const n = serial++;
        const valid = freshKey(`!import-${n}:example.org`);
        const neighbour = freshKey(`!neighbour-${n}:example.org`);
        let argument: unknown;
        let entries = 1;
        let hasNeighbour = false;
        let mutated: unknown;
        if ('mutations' in shape) {
          mutated = mutate(valid, shape.mutations, w.ctx);
          hasNeighbour = shape.neighbour && !shape.alone;
          argument = shape.alone ? mutated : hasNeighbour ? [mutated, neighbour] : [mutated];
          entries = hasNeighbour ? 2 : 1;
        } else if ('whole' in shape) {
          argument = materialize(shape.whole, w.ctx);
        } else {
          argument = shape.list.map((s) => materialize(s, w.ctx));
          entries = shape.list.length;
        }
        const before = await storeState(w.bob);
        const got = await settle('importRoomKeys', () => loose(w.bob.device).importRoomKeys(argument, src));
        if (!got.ok) {
          await expectUnchanged(w.bob, before, {}, 'importRoomKeys');
          return;
        }
        const stored = w.bob.store.commits.slice(before.commits).flatMap((c) => c.inboundGroupSessions ?? []);
        expect(Number.isInteger(got.value) && got.value >= 0 && got.value <= entries).toBe(true);
        expect(stored).toHaveLength(got.value);
        if (hasNeighbour) {
          expect(
            stored.map((s) => s.sessionId),
            'a valid key was dropped for its neighbours sake',
          ).toContain(neighbour.session_id);
        }
        // A mutated entry in a list is stored exactly when it is a well-formed Megolm room key, and then as given.
        if ('mutations' in shape && !shape.alone) {
          const ids = stored.map((s) => s.sessionId);
          if (wellFormedKey(mutated)) {
            expect(ids, 'a well-formed key was not imported').toContain(valid.session_id);
            const m = mutated as Record<string, unknown>;
            const exported = (await w.bob.device.exportRoomKeys(m.room_id as string)).find(
              (k) => k.session_id === valid.session_id,
            );
            expect(exported?.room_id).toBe(m.room_id);
            expect(exported?.sender_key).toBe(m.sender_key);
            expect(exported?.forwarding_curve25519_key_chain).toEqual(m.forwarding_curve25519_key_chain ?? []);
            expect(exported?.sender_claimed_keys.ed25519).toBe(claimedEd25519(m));
          } else {
            expect(ids, 'a malformed key was imported').not.toContain(valid.session_id);
          }
        }
        // Whatever was stored is a room key in the Matrix export form (what exportKeyFile and backups need).
        for (const room of new Set(stored.map((s) => s.roomId))) {
          for (const exported of await w.bob.device.exportRoomKeys(room)) {
            const checked = attempt('roomKeyExportFromJson', () => roomKeyExportFromJson(exported));
            expect(checked.ok, `an imported key is stored malformed: ${checked.ok ? '' : checked.error.message}`).toBe(
              true,
            );
          }
        }
      }),
      { numRuns: 250 },
    );
  });

  it('importRoomKeys: an unknown source is refused', async () => {
    const bad = specArb.filter((s) => {
      const v = peek(s);
      return v !== undefined && v !== 'import' && v !== 'forwarded';
    });
    await fc.assert(
      fc.asyncProperty(bad, async (spec) => {
        const session = GroupSession.create();
        const key: ExportedRoomKey = {
          algorithm: MEGOLM,
          room_id: `!source-${serial++}:example.org`,
          sender_key: w.ctx['fresh-curve'],
          session_id: session.sessionId,
          session_key: InboundGroupSession.fromSessionKey(session.sessionKey()).exportAtFirstKnownIndex().toBase64(),
          sender_claimed_keys: {},
          forwarding_curve25519_key_chain: [],
        };
        const before = await storeState(w.bob);
        const got = await settle('importRoomKeys', () =>
          loose(w.bob.device).importRoomKeys([key], materialize(spec, w.ctx)),
        );
        expect(got.ok, 'a key was imported under an unknown source').toBe(false);
        await expectUnchanged(w.bob, before, {}, 'importRoomKeys');
      }),
      { numRuns: 100 },
    );
  });
});

// -------------------------------------------------------------------------------------------------

/** Objects that JSON cannot hold, or whose reading throws. */
const UNWRITABLE: Record<string, () => unknown> = {
  cycle: () => {
    const o: Record<string, unknown> = { body: 'x' };
    o.self = o;
    return o;
  },
  'nested-cycle': () => {
    const o: Record<string, unknown> = { body: 'x', list: [] };
    (o.list as unknown[]).push({ back: o });
    return o;
  },
  bigint: () => ({ body: 'x', n: 10n }),
  'nested-bigint': () => ({ body: 'x', deep: [{ n: 1n }] }),
  'throwing-getter': () =>
    Object.defineProperty({ body: 'x' }, 'boom', {
      enumerable: true,
      get() {
        throw new Error('getter');
      },
    }),
  'throwing-toJSON': () => ({
    body: 'x',
    toJSON() {
      throw new RangeError('toJSON');
    },
  }),
  'throwing-proxy': () =>
    new Proxy(
      { body: 'x' },
      {
        ownKeys() {
          throw new TypeError('ownKeys');
        },
      },
    ),
  // Not here: 100 000 levels of nesting. Whether JSON.stringify gets through them depends on V8's
  // stack at that moment, and both outcomes are right (a sent event, or INVALID_ARGUMENT from the
  // same path as a cycle).
};

/** Values JSON.stringify would silently drop or change (the recipient would read other content). */
const LOSSY: Record<string, () => unknown> = {
  symbol: () => Symbol('value'),
  function: () => () => 1,
  nan: () => Number.NaN,
  infinity: () => Number.POSITIVE_INFINITY,
  'minus-infinity': () => Number.NEGATIVE_INFINITY,
};

type Arg = { readonly ok: true } | { readonly special: string } | { readonly unwritable: string } | Spec;
const isBad = (a: Arg): boolean => !('ok' in a);

function badArgs(bad: { roomId: fc.Arbitrary<Arg>; eventType: fc.Arbitrary<Arg>; content: fc.Arbitrary<Arg> }) {
  const okArg = fc.constant<Arg>({ ok: true });
  return fc
    .record({
      roomId: fc.oneof(okArg, bad.roomId),
      eventType: fc.oneof(okArg, bad.eventType),
      content: fc.oneof(okArg, bad.content),
    })
    .filter((a) => isBad(a.roomId) || isBad(a.eventType) || isBad(a.content));
}

/** The value a spec stands for, without a world (every `like` value is a string). */
function peek(s: Spec): unknown {
  if ('special' in s) return SPECIALS[s.special]!();
  if ('json' in s) return s.json;
  if ('any' in s) return s.any;
  return 'a string';
}

/** Non-strings (the empty string is tested on its own below). */
const nonString: fc.Arbitrary<Arg> = specArb.filter((s) => typeof peek(s) !== 'string');
const isObjectValue = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);
const nonObjectContent: fc.Arbitrary<Arg> = fc.oneof(
  specArb.filter((s) => !isObjectValue(peek(s))),
  fc.constantFrom(...Object.keys(UNWRITABLE)).map((unwritable): Arg => ({ unwritable })),
);

function materializeArg(a: Arg, valid: unknown, ctx: Ctx): unknown {
  if ('ok' in a) return valid;
  if ('unwritable' in a) return UNWRITABLE[a.unwritable]!();
  return materialize(a, ctx);
}

describe('encryptRoomEvent and encryptToDevice on hostile input', () => {
  let w: World;
  beforeAll(async () => {
    w = await makeWorld();
    await w.bob.sendToDevice(w.aliceInfo, 'org.example.hello', {});
    for (const got of await w.alice.receive()) expect(got.error).toBeUndefined();
  });

  const bad = {
    roomId: fc.oneof(nonString, fc.constant<Arg>({ special: 'empty-string' })),
    eventType: nonString as fc.Arbitrary<Arg>,
    content: nonObjectContent,
  };

  /** A bad call must fail, commit nothing, and leave the outbound session where it was. */
  async function checkRoomEvent(roomId: unknown, eventType: unknown, content: unknown): Promise<void> {
    const first = await w.alice.device.encryptRoomEvent(ENCRYPT_ROOM, 'm.room.message', { n: 1 });
    const watch: Watch = { rooms: [ENCRYPT_ROOM] };
    const before = await storeState(w.alice, watch);
    const got = await settle('encryptRoomEvent', () =>
      loose(w.alice.device).encryptRoomEvent(roomId, eventType, content),
    );
    expect(got.ok, 'encryptRoomEvent accepted a bad argument').toBe(false);
    await expectUnchanged(w.alice, before, watch, 'encryptRoomEvent');
    const next = await w.alice.device.encryptRoomEvent(ENCRYPT_ROOM, 'm.room.message', { n: 2 });
    expect(next.sessionId).toBe(first.sessionId);
    expect(next.messageIndex, 'the failed call used a message index').toBe(first.messageIndex + 1);
  }

  /** A bad call must fail, commit nothing, and the next message on the session still opens at Bob's. */
  async function checkToDevice(recipient: unknown, eventType: unknown, content: unknown, options: unknown) {
    const watch: Watch = { peers: [w.ctx['bob-curve']] };
    const before = await storeState(w.alice, watch);
    const got = await settle('encryptToDevice', () =>
      loose(w.alice.device).encryptToDevice(recipient, eventType, content, options),
    );
    expect(got.ok, 'encryptToDevice accepted a bad argument').toBe(false);
    await expectUnchanged(w.alice, before, watch, 'encryptToDevice');
    const n = serial++;
    await w.alice.sendToDevice(w.bobInfo, 'org.example.after', { n });
    expect((await w.bob.receive()).map((r) => r.result?.content ?? r.error)).toEqual([{ n }]);
  }

  it('encryptRoomEvent: wrong-typed room id, event type or content, and content JSON cannot hold → TriturusError, index unchanged', async () => {
    await fc.assert(
      fc.asyncProperty(badArgs(bad), async (args) => {
        await checkRoomEvent(
          materializeArg(args.roomId, ENCRYPT_ROOM, w.ctx),
          materializeArg(args.eventType, 'm.room.message', w.ctx),
          materializeArg(args.content, { body: 'x' }, w.ctx),
        );
      }),
      { numRuns: 250 },
    );
  });

  it('encryptToDevice: wrong-typed recipient, event type, content or options → TriturusError, session unchanged', async () => {
    type RecipientArg =
      | { readonly ok: true }
      | { readonly whole: Spec }
      | { readonly field: 'userId' | 'deviceId' | 'curve25519Key' | 'ed25519Key'; readonly value: Spec }
      | { readonly keyAsString: 'curve25519Key' | 'ed25519Key' };
    const recipientArb: fc.Arbitrary<RecipientArg> = fc.oneof(
      fc.constant({ ok: true as const }),
      specArb.map((whole) => ({ whole })),
      // A DeviceInfo with one field of the wrong type (another string id would be a legitimate recipient).
      fc.record({
        field: fc.constantFrom('userId' as const, 'deviceId' as const),
        value: nonString as fc.Arbitrary<Spec>,
      }),
      fc.record({ field: fc.constantFrom('curve25519Key' as const, 'ed25519Key' as const), value: specArb }),
      fc.constantFrom('curve25519Key' as const, 'ed25519Key' as const).map((keyAsString) => ({ keyAsString })),
    );
    type OptionsArg = { readonly ok: true } | { readonly whole: Spec } | { readonly oneTimeKey: Spec };
    const optionsArb: fc.Arbitrary<OptionsArg> = fc.oneof(
      { weight: 2, arbitrary: fc.constant({ ok: true as const }) },
      specArb.filter((s) => peek(s) !== undefined).map((whole) => ({ whole })),
      specArb.map((oneTimeKey) => ({ oneTimeKey })),
    );
    const argsArb = fc.record({
      recipient: recipientArb,
      eventType: fc.oneof(fc.constant<Arg>({ ok: true }), nonString),
      content: fc.oneof(fc.constant<Arg>({ ok: true }), nonObjectContent),
      options: optionsArb,
    });
    await fc.assert(
      fc.asyncProperty(argsArb, async (args) => {
        const r = args.recipient;
        let recipient: unknown = w.bobInfo;
        if ('whole' in r) recipient = materialize(r.whole, w.ctx);
        else if ('field' in r) recipient = { ...w.bobInfo, [r.field]: materialize(r.value, w.ctx) };
        else if ('keyAsString' in r) recipient = { ...w.bobInfo, [r.keyAsString]: w.bobInfo[r.keyAsString].toBase64() };
        const o = args.options;
        let options: unknown = {};
        if ('whole' in o) options = materialize(o.whole, w.ctx);
        else if ('oneTimeKey' in o) options = { oneTimeKey: materialize(o.oneTimeKey, w.ctx) };
        // Options that are not an object are wrong; an object (even with a wrong oneTimeKey) is harmless
        // while a session exists, since the one-time key is then not used.
        const optionsBad = 'whole' in o && (options === null || typeof options !== 'object');
        fc.pre(!('ok' in r) || isBad(args.eventType) || isBad(args.content) || optionsBad);
        await checkToDevice(
          recipient,
          materializeArg(args.eventType, 'org.example.test', w.ctx),
          materializeArg(args.content, { body: 'x' }, w.ctx),
          options,
        );
      }),
      { numRuns: 250 },
    );
  });

  it('encryptRoomEvent and encryptToDevice: content values JSON does not represent (symbol, function, NaN, ±Infinity) are written as JSON.stringify writes them', async () => {
    // Documented behaviour (Device.encryptRoomEvent): content is serialised by JSON.stringify, so
    // the receiver gets exactly JSON.parse(JSON.stringify(content)), as with any JavaScript Matrix SDK.
    const placement = fc.constantFrom('top', 'nested', 'in-array');
    let eventNumber = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...Object.keys(LOSSY)),
        placement,
        fc.boolean(),
        async (name, where, toDevice) => {
          const value = LOSSY[name]!();
          const content =
            where === 'top'
              ? { body: 'x', value }
              : where === 'nested'
                ? { body: 'x', inner: { value } }
                : { body: 'x', list: [1, value] };
          const expected = JSON.parse(JSON.stringify(content)) as unknown;
          if (toDevice) {
            await w.alice.sendToDevice(w.bobInfo, 'org.example.test', content);
            expect((await w.bob.receive()).map((r) => r.result?.content ?? r.error)).toEqual([expected]);
          } else {
            const r = await w.alice.device.encryptRoomEvent(ENCRYPT_ROOM, 'm.room.message', content);
            const opened = await w.alice.device.decryptRoomEvent({
              type: 'm.room.encrypted',
              room_id: ENCRYPT_ROOM,
              event_id: `$lossy${eventNumber++}`,
              sender: w.alice.userId,
              origin_server_ts: 1,
              content: r.content as unknown as Record<string, unknown>,
            });
            expect(opened.event.content).toEqual(expected);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('encryptRoomEvent: an empty event type, which no receiver accepts (EVENT_INVALID), is refused', async () => {
    await checkRoomEvent(ENCRYPT_ROOM, '', { body: 'x' });
  });

  it('encryptToDevice: an empty event type, which no receiver accepts (EVENT_INVALID), is refused', async () => {
    await checkToDevice(w.bobInfo, '', { body: 'x' }, {});
  });
});

// -------------------------------------------------------------------------------------------------

describe('the other public operations on hostile input', () => {
  let w: World;
  beforeAll(async () => {
    w = await makeWorld();
    // An outbound session shared with Bob, so markRoomKeySent and shareRoomKey have something to work on.
    await w.alice.post(ENCRYPT_ROOM, { n: 0 });
  });

  type CallArg = Spec | { readonly valid: string } | { readonly list: readonly (Spec | { readonly valid: string })[] };
  type Call = { readonly op: string; readonly args: readonly CallArg[] };
  const valid = (name: string) => fc.constant({ valid: name });
  const arg = (name: string) => fc.oneof({ weight: 2, arbitrary: specArb }, valid(name));
  const listOf = (name: string) =>
    fc.oneof(
      specArb,
      fc.array(fc.oneof(specArb, valid(name)), { minLength: 1, maxLength: 3 }).map((list) => ({ list })),
    );
  const calls: fc.Arbitrary<Call> = fc.oneof(
    fc.tuple(specArb).map((args) => ({ op: 'hasOlmSession', args })),
    fc.tuple(arg('room'), listOf('bob-info'), arg('otks')).map((args) => ({ op: 'shareRoomKey', args })),
    fc.tuple(arg('room'), listOf('bob-info')).map((args) => ({ op: 'markRoomKeySent', args })),
    fc.tuple(specArb).map((args) => ({ op: 'rotateRoomKey', args })),
    fc.tuple(specArb).map((args) => ({ op: 'generateOneTimeKeys', args })),
    fc.tuple(specArb, arg('fallback-types')).map((args) => ({ op: 'updateKeyCounts', args })),
    fc.tuple(specArb).map((args) => ({ op: 'exportRoomKeys', args })),
    fc.tuple(specArb, arg('passphrase'), specArb).map((args) => ({ op: 'importKeyFile', args })),
    fc.tuple(specArb, specArb).map((args) => ({ op: 'exportKeyFile', args })),
    fc.tuple(specArb).map((args) => ({ op: 'keysForUpload', args })),
  );

  it('every call resolves or rejects with a TriturusError (never a crash or a hang); a rejection commits nothing', async () => {
    const values = (name: string): unknown => {
      switch (name) {
        case 'room':
          return ENCRYPT_ROOM;
        case 'bob-info':
          return w.bobInfo;
        case 'otks':
          return new Map();
        case 'fallback-types':
          return ['signed_curve25519'];
        case 'passphrase':
          return 'passphrase';
        default:
          throw new Error(name);
      }
    };
    const build = (a: CallArg): unknown => {
      if ('valid' in a) return values(a.valid);
      if ('list' in a) return a.list.map(build);
      return materialize(a, w.ctx);
    };
    await fc.assert(
      fc.asyncProperty(calls, async (call) => {
        const args = call.args.map(build);
        const device = loose(w.alice.device);
        const first = await w.alice.device.encryptRoomEvent(ENCRYPT_ROOM, 'm.room.message', { before: call.op });
        const before = await storeState(w.alice, { rooms: [ENCRYPT_ROOM], peers: [w.ctx['bob-curve']] });
        const run = (): Promise<unknown> => {
          switch (call.op) {
            case 'hasOlmSession':
              return device.hasOlmSession(args[0]);
            case 'shareRoomKey':
              return device.shareRoomKey(args[0], args[1], args[2]);
            case 'markRoomKeySent':
              return device.markRoomKeySent(args[0], args[1]);
            case 'rotateRoomKey':
              return device.rotateRoomKey(args[0]);
            case 'generateOneTimeKeys':
              return device.generateOneTimeKeys(args[0]);
            case 'updateKeyCounts':
              return device.updateKeyCounts(args[0], args[1]);
            case 'exportRoomKeys':
              return device.exportRoomKeys(args[0]);
            case 'importKeyFile':
              return device.importKeyFile(args[0], args[1], args[2]);
            case 'exportKeyFile':
              return device.exportKeyFile(args[0], { rounds: 10 }, args[1]);
            default:
              return device.keysForUpload(args[0]);
          }
        };
        const got = await settle(call.op, run);
        if (!got.ok) {
          await expectUnchanged(w.alice, before, { rooms: [ENCRYPT_ROOM], peers: [w.ctx['bob-curve']] }, call.op);
        }
        // The device still works; after a rejection, the room's next message takes the next index.
        const next = await w.alice.device.encryptRoomEvent(ENCRYPT_ROOM, 'm.room.message', { after: call.op });
        if (!got.ok) {
          expect(next.sessionId).toBe(first.sessionId);
          expect(next.messageIndex, `the failed ${call.op} moved the room's message index`).toBe(
            first.messageIndex + 1,
          );
        }
      }),
      { numRuns: 300 },
    );
  });

  it('Device.create with hostile options: a TriturusError, or a device whose operations work or fail cleanly', async () => {
    const fields = [
      'userId',
      'deviceId',
      'pickleKey',
      'leaseDurationMs',
      'leaseTimeoutMs',
      'releaseLeaseAfterEachOperation',
      'rotationPeriodMsgs',
      'rotationPeriodMs',
      'outboundIndexReservation',
      'now',
    ] as const;
    const optionsArb = fc.oneof(
      { weight: 4, arbitrary: fc.record({ field: fc.constantFrom(...fields), value: specArb }) },
      specArb.map((whole) => ({ whole })),
    );
    await fc.assert(
      fc.asyncProperty(optionsArb, async (o) => {
        const base = { userId: '@create:example.org', deviceId: 'CREATE', pickleKey: new Uint8Array(32).fill(7) };
        const options =
          'whole' in o ? materialize(o.whole, w.ctx) : { ...base, [o.field]: materialize(o.value, w.ctx) };
        const store = new MemoryStore(`hostile-create-${serial++}`);
        const created = await settle('Device.create', () => looseCreate(store, options));
        if (!created.ok) return;
        const device = created.value;
        await settle('encryptRoomEvent', () => device.encryptRoomEvent(ROOM, 'm.room.message', { n: 1 }));
        await settle('generateOneTimeKeys', () => device.generateOneTimeKeys(1));
        await settle('keysForUpload', () => device.keysForUpload(true));
        await settle('shareRoomKey', () => device.shareRoomKey(ROOM, []));
        await settle('close', () => device.close());
      }),
      { numRuns: 200 },
    );
  });
});
