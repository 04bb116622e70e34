/**
 * Hostile arguments to every public function and method of `triturus` (src/index.ts) and
 * `triturus/libolm` (src/libolm/index.ts); src/device and src/store have their own suites.
 * The project's rules, checked run by run (fast-check):
 *
 * - a call given an argument of the wrong type or shape throws a TriturusError with a string code
 *   (an async function rejects with one): never a TypeError, RangeError or any other error, never a
 *   synchronous throw from a promise-returning function, never a hang. The arguments are undefined,
 *   null, odd numbers (NaN, -1, 1.5, 2^53, Infinity, BigInt), symbols, strings that are not what is
 *   asked for (empty, huge, not base64, base64 of the wrong length), plain objects, arrays, byte
 *   arrays of the wrong length, other typed arrays, instances of other classes (a Curve25519 key
 *   where an Ed25519 key is wanted), entries and options of the wrong shape, freed or wiped objects,
 *   forged instances (Proxies and `Object.create(prototype)`, which pass `instanceof`) and objects
 *   whose reading throws (as in the Device suite, the caller's exception escaping is a failure too);
 * - a failed call changes nothing: the receiver's pickle body (opened here) and every valid
 *   argument serialise as before, and the receiver still works: an Olm session still decrypts its
 *   skipped and its next message and still sends, an Account keeps its one-time keys (a pre-key
 *   message to one still opens), a group session sends at the same index, an inbound session
 *   decrypts as before; the global crypto backend and random source still work;
 * - the error's `details` hold only numbers and strings, and its message, String(), JSON.stringify()
 *   and util.inspect() show none of the secrets of the fixtures (pickle key, libolm pickle key,
 *   passphrase, identity, one-time and signing keys, root and chain keys, Megolm ratchets);
 * - methods of a freed Account, Session, GroupSession or InboundGroupSession throw a TriturusError;
 * - decoders the Olm, Megolm and libolm suites do not already fuzz return a value or throw a
 *   TriturusError on arbitrary and huge input.
 *
 * A transparent Proxy of a valid value may also be accepted (it then is that value), and `equals`
 * may answer false. Functions without parameters (cryptoBackend, warmUp, Account.create, the
 * config factories, getters) get no hostile values. Members marked @internal (fromParts, toParts,
 * fromInit, encode, create, fromVersion) are not public API: they are not given hostile values, and
 * the tests read the fixtures' secrets through toParts. Counterexamples name each argument: `valid`,
 * or a label such as `Proxy(Curve25519PublicKey)`.
 */
import { inspect } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Account,
  Curve25519PublicKey,
  cryptoBackend,
  decryptKeyExport,
  Ed25519PublicKey,
  Ed25519Signature,
  ExportedSessionKey,
  encryptKeyExport,
  GroupSession,
  InboundGroupSession,
  MAX_ONE_TIME_KEYS,
  MEGOLM_V1_ALGORITHM,
  MegolmMessage,
  MegolmSessionConfig,
  Message,
  olmMessageFromParts,
  PASSPHRASE_KEY_LIMITS,
  PreKeyMessage,
  pickleKeyFromPassphrase,
  type RoomKeyExport,
  roomKeyExportFromJson,
  roomKeyExportToJson,
  Session,
  SessionConfig,
  SessionKey,
  setCryptoBackend,
  setRandomSource,
  TriturusError,
} from '../src/index.js';
import {
  accountFromLibolmPickle,
  accountToLibolmPickle,
  groupSessionFromLibolmPickle,
  groupSessionToLibolmPickle,
  inboundGroupSessionFromLibolmPickle,
  inboundGroupSessionToLibolmPickle,
  sessionFromLibolmPickle,
  sessionFromLibolmPickleDetailed,
  sessionToLibolmPickle,
} from '../src/libolm/index.js';
import { openPickleBody, sealPickleBody } from './olm/helpers.js';

/**
 * Random runs per function for the wrong-type property, after its examples (every constant of the
 * pool in every position); the other categories run their whole, small pools.
 */
const TYPE_RUNS = 40;
/** How long an async call may take before it counts as a hang (a legitimate one here takes < 50 ms). */
const HANG_MS = 5_000;

// -------------------------------------------------------------------------------------------------
// Fixtures: a busy Olm conversation, a Megolm session and its receiver, exports and libolm pickles.
// Objects under test are fresh clones from the pickles, so every run starts from the same state.

const PICKLE_KEY = Uint8Array.from({ length: 32 }, (_, i) => (i * 29 + 11) & 0xff);
const LIBOLM_KEY = 'hostile-api libolm pickle key 7Hq2vR';
const PASSPHRASE = 'hostile-api passphrase Zr8qW1mKx';
const ORIGINAL_BACKEND = cryptoBackend();

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64').replace(/=+$/, '');
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const utf8 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');

const alice = Account.create();
const bob = Account.create();
alice.generateOneTimeKeys(1);
const aliceOneTimeKey = [...alice.oneTimeKeys.values()][0]!;
bob.generateOneTimeKeys(3);
bob.generateFallbackKey();
const bobOneTimeKeys = [...bob.oneTimeKeys.values()];
const aliceSession = alice.createOutboundSession(SessionConfig.version1(), bob.curve25519Key, bobOneTimeKeys[0]!);
const firstPreKey = aliceSession.encrypt('first') as PreKeyMessage;
const bobSession = bob.createInboundSession(alice.curve25519Key, firstPreKey).session;
aliceSession.decrypt(bobSession.encrypt('reply'));
const consumedMessage = aliceSession.encrypt('consumed') as Message;
const skippedMessage = aliceSession.encrypt('skipped') as Message;
bobSession.decrypt(consumedMessage);
bobSession.decrypt(aliceSession.encrypt('delivered')); // Bob keeps the skipped message's key
const nextMessage = aliceSession.encrypt('next') as Message;
const pendingPreKey = alice
  .createOutboundSession(SessionConfig.version1(), bob.curve25519Key, bobOneTimeKeys[1]!)
  .encrypt('pending') as PreKeyMessage;
const BOB_ONE_TIME_KEY_IDS = [...bob.oneTimeKeys.keys()];

const group = GroupSession.create();
const groupKey0 = group.sessionKey();
const earlyMegolm = group.encrypt('early');
const midMegolm = group.encrypt('mid');
const inbound = InboundGroupSession.fromSessionKey(groupKey0);
inbound.decrypt(midMegolm);
const laterMegolm = group.encrypt('later');
const GROUP_NEXT_INDEX = group.messageIndex;
const exportedKey = inbound.exportAtFirstKnownIndex();

const roomKey: RoomKeyExport = {
  algorithm: MEGOLM_V1_ALGORITHM,
  roomId: '!hostile:example.org',
  senderKey: alice.curve25519Key.toBase64(),
  sessionId: exportedKey.sessionId,
  sessionKey: exportedKey,
  senderClaimedKeys: { ed25519: alice.ed25519Key.toBase64() },
  forwardingCurve25519KeyChain: [],
};
const roomKeyJson = roomKeyExportToJson(roomKey);
const exportFile = await encryptKeyExport([roomKey], PASSPHRASE, { rounds: 2 });

const pickles = {
  bob: bob.pickle(PICKLE_KEY),
  bobSession: bobSession.pickle(PICKLE_KEY),
  aliceSession: aliceSession.pickle(PICKLE_KEY),
  group: group.pickle(PICKLE_KEY),
  inbound: inbound.pickle(PICKLE_KEY),
};
const libolmPickles = {
  account: accountToLibolmPickle(bob, LIBOLM_KEY),
  session: sessionToLibolmPickle(bobSession, LIBOLM_KEY),
  group: groupSessionToLibolmPickle(group, LIBOLM_KEY),
  inbound: inboundGroupSessionToLibolmPickle(inbound, LIBOLM_KEY),
};

const freshBob = (): Account => Account.fromPickle(pickles.bob, PICKLE_KEY);
const freshBobSession = (): Session => Session.fromPickle(pickles.bobSession, PICKLE_KEY);
const freshGroup = (): GroupSession => GroupSession.fromPickle(pickles.group, PICKLE_KEY);
const freshInbound = (): InboundGroupSession => InboundGroupSession.fromPickle(pickles.inbound, PICKLE_KEY);

/** Bob's account still holds its one-time keys (a pre-key message to one opens) and still signs. */
function checkBob(account: Account): void {
  expect([...account.oneTimeKeys.keys()]).toEqual(BOB_ONE_TIME_KEY_IDS);
  expect(account.curve25519Key.equals(bob.curve25519Key)).toBe(true);
  expect(utf8(account.createInboundSession(alice.curve25519Key, pendingPreKey).plaintext)).toBe('pending');
  account.ed25519Key.verify('still signs', account.sign('still signs'));
}

/** Bob's session still opens its skipped and its next message, and still sends to Alice. */
function checkBobSession(session: Session): void {
  expect(session.decryptText(skippedMessage)).toBe('skipped');
  expect(session.decryptText(nextMessage)).toBe('next');
  const peer = Session.fromPickle(pickles.aliceSession, PICKLE_KEY);
  expect(peer.decryptText(session.encrypt('back'))).toBe('back');
}

/** The group session still sends at the same index, and receivers open it. */
function checkGroup(session: GroupSession): void {
  expect(session.messageIndex).toBe(GROUP_NEXT_INDEX);
  const got = InboundGroupSession.fromSessionKey(groupKey0).decryptText(session.encrypt('onwards'));
  expect(got).toEqual({ plaintext: 'onwards', messageIndex: GROUP_NEXT_INDEX });
}

/** The inbound session still starts at 0 and decrypts below and above its cached index. */
function checkInbound(session: InboundGroupSession): void {
  expect(session.firstKnownIndex).toBe(0);
  expect(session.isVerified).toBe(true);
  expect(session.decryptText(earlyMegolm)).toEqual({ plaintext: 'early', messageIndex: 0 });
  expect(session.decryptText(laterMegolm)).toEqual({ plaintext: 'later', messageIndex: 2 });
}

/** The crypto backend is the original one, and randomness and signatures still work. */
function checkCrypto(): void {
  expect(cryptoBackend()).toBe(ORIGINAL_BACKEND);
  const a = Account.create();
  expect(a.curve25519Key.equals(Account.create().curve25519Key)).toBe(false);
  a.ed25519Key.verify('x', a.sign('x'));
}

function restoreCrypto(): void {
  setRandomSource(undefined);
  setCryptoBackend(ORIGINAL_BACKEND);
}

// Instances of every class, unrelated to the objects under test ("other classes' instances").
const zooAccountPickle = Account.create().pickle(PICKLE_KEY);
const zooGroup = GroupSession.create(MegolmSessionConfig.version2());
const zooSessionKey = zooGroup.sessionKey();
const zooInboundPickle = InboundGroupSession.fromSessionKey(zooSessionKey, MegolmSessionConfig.version2()).pickle(
  PICKLE_KEY,
);
const zooExportedKey = InboundGroupSession.fromPickle(zooInboundPickle, PICKLE_KEY).exportAtFirstKnownIndex();
const zooMegolm = zooGroup.encrypt('zoo');
const zooGroupPickle = zooGroup.pickle(PICKLE_KEY);
const zooSignature = alice.sign('zoo');

const CLASSES = {
  Curve25519PublicKey,
  Ed25519PublicKey,
  Ed25519Signature,
  SessionConfig,
  MegolmSessionConfig,
  Message,
  PreKeyMessage,
  MegolmMessage,
  SessionKey,
  ExportedSessionKey,
  Account,
  Session,
  GroupSession,
  InboundGroupSession,
} as const;
type ClassName = keyof typeof CLASSES;

const ZOO: Record<ClassName, () => object> = {
  Curve25519PublicKey: () => alice.curve25519Key,
  Ed25519PublicKey: () => alice.ed25519Key,
  Ed25519Signature: () => zooSignature,
  SessionConfig: () => SessionConfig.version2(),
  MegolmSessionConfig: () => MegolmSessionConfig.version2(),
  // Already consumed by Bob: even a working Proxy of it cannot be decrypted again.
  Message: () => consumedMessage,
  PreKeyMessage: () => firstPreKey,
  MegolmMessage: () => zooMegolm,
  SessionKey: () => zooSessionKey,
  ExportedSessionKey: () => zooExportedKey,
  Account: () => Account.fromPickle(zooAccountPickle, PICKLE_KEY),
  Session: () => Session.fromPickle(pickles.aliceSession, PICKLE_KEY),
  GroupSession: () => GroupSession.fromPickle(zooGroupPickle, PICKLE_KEY),
  InboundGroupSession: () => InboundGroupSession.fromPickle(zooInboundPickle, PICKLE_KEY),
};

// -------------------------------------------------------------------------------------------------
// Secrets, and what an error may show

function quarters(ratchet: Uint8Array): Uint8Array[] {
  return [0, 1, 2, 3].map((i) => ratchet.slice(32 * i, 32 * i + 32));
}

/** Every secret the fixtures hold, read through the @internal exporters' toParts. */
function fixtureSecrets(): Uint8Array[] {
  const out: Uint8Array[] = [PICKLE_KEY];
  for (const account of [alice, bob]) {
    const parts = account.toParts();
    const seed = parts.signingKey.seedBytes();
    if (seed !== undefined) out.push(seed);
    const expanded = parts.signingKey.expandedBytes();
    out.push(expanded.subarray(0, 32), expanded.subarray(32), parts.identityKey.toBytes());
    for (const k of [...parts.oneTimeKeys, parts.fallbackKey, parts.previousFallbackKey]) {
      if (k !== undefined) out.push(k.key.toBytes());
    }
  }
  for (const session of [aliceSession, bobSession]) {
    const parts = session.toParts();
    out.push(parts.init.rootKey);
    if (parts.sender !== undefined) out.push(parts.sender.ratchetKey.toBytes(), parts.sender.chainKey);
    for (const r of parts.receivers) out.push(r.chainKey, ...r.skipped.map((s) => s.messageKey));
  }
  const groupParts = group.toParts();
  out.push(groupParts.ratchet, ...quarters(groupParts.ratchet), groupParts.signingKey.expandedBytes());
  const seed = groupParts.signingKey.seedBytes();
  if (seed !== undefined) out.push(seed);
  const inboundParts = inbound.toParts();
  for (const r of [inboundParts.initial.data, inboundParts.latest.data]) out.push(r, ...quarters(r));
  out.push(groupKey0.toBytes(), exportedKey.toBytes());
  return out;
}

function encodings(secret: Uint8Array): string[] {
  const buffer = Buffer.from(secret);
  const base64 = buffer.toString('base64');
  return [
    base64,
    base64.replace(/=+$/, ''),
    buffer.toString('base64url'),
    hex(secret),
    hex(secret).toUpperCase(),
    [...secret].join(','),
    base64.slice(0, 12),
    hex(secret).slice(0, 16),
  ];
}

const SECRET_TEXTS: readonly string[] = [
  ...fixtureSecrets().flatMap(encodings),
  ...[LIBOLM_KEY, PASSPHRASE].flatMap((s) => [s, ...encodings(Buffer.from(s, 'utf8'))]),
];

/** The thrown value's descriptions a caller may log. */
function renderings(error: unknown): string[] {
  const out: string[] = [];
  const add = (what: string, render: () => string | undefined): void => {
    let text: string | undefined;
    try {
      text = render();
    } catch (failure) {
      expect.fail(`${what} of the error throws ${describeThrown(failure)}`);
    }
    if (text !== undefined) out.push(text, text.replace(/\s+/g, ''));
  };
  add('String()', () => String(error));
  add('JSON.stringify()', () => JSON.stringify(error));
  add('util.inspect()', () => inspect(error));
  add('util.inspect(showHidden)', () => inspect(error, { depth: 10, showHidden: true }));
  if (error instanceof Error) {
    add('message', () => error.message);
    add('stack', () => error.stack);
    add('cause', () => inspect(error.cause, { depth: 10, showHidden: true }));
  }
  return out;
}

function expectNoSecrets(error: unknown, what: string): void {
  for (const text of renderings(error)) {
    for (const secret of SECRET_TEXTS) {
      if (text.includes(secret)) {
        expect.fail(
          `${what}: the error shows a secret (${secret.slice(0, 10)}…): ${JSON.stringify(text.slice(0, 160))}`,
        );
      }
    }
  }
}

function describeThrown(error: unknown): string {
  try {
    if (error instanceof Error) return `${error.constructor.name}: ${error.message}`;
    return typeof error === 'symbol' ? error.toString() : `${typeof error} ${String(error)}`;
  } catch {
    return typeof error;
  }
}

function describeValue(value: unknown): string {
  try {
    return fc.stringify(value).slice(0, 120);
  } catch {
    return typeof value;
  }
}

/** A TriturusError with a code, numbers and strings as details, and no secret in any rendering. */
function expectTriturusError(error: unknown, what: string): void {
  if (!(error instanceof TriturusError)) expect.fail(`${what} threw ${describeThrown(error)}, not a TriturusError`);
  if (typeof error.code !== 'string' || !/^[A-Z][A-Z0-9_]+$/.test(error.code)) {
    expect.fail(`${what} threw a TriturusError with code ${describeValue(error.code)}`);
  }
  for (const [key, value] of Object.entries(error.details ?? {})) {
    if (typeof value !== 'number' && typeof value !== 'string' && value !== undefined) {
      expect.fail(`${what} threw ${error.code} whose details.${key} is the caller's ${typeof value} value`);
    }
  }
  expectNoSecrets(error, what);
}

// -------------------------------------------------------------------------------------------------
// Serialising state: pickle bodies (opened here; pickles themselves carry a random nonce) and the
// canonical bytes of everything else.

function stateOf(value: unknown): string {
  if (
    value instanceof Account ||
    value instanceof Session ||
    value instanceof GroupSession ||
    value instanceof InboundGroupSession
  ) {
    try {
      return `${value.constructor.name}:${hex(openPickleBody(value.pickle(PICKLE_KEY), PICKLE_KEY).body)}`;
    } catch (error) {
      return `${value.constructor.name}:unpicklable:${describeThrown(error)}`;
    }
  }
  if (value instanceof SessionKey || value instanceof ExportedSessionKey) return hex(value.toBytes());
  if (
    value instanceof Curve25519PublicKey ||
    value instanceof Ed25519PublicKey ||
    value instanceof Ed25519Signature ||
    value instanceof Message ||
    value instanceof PreKeyMessage ||
    value instanceof MegolmMessage
  ) {
    return `${value.constructor.name}:${value.toBase64()}`;
  }
  if (value instanceof Uint8Array) return `bytes:${hex(value)}`;
  if (Array.isArray(value)) return `[${value.map(stateOf).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    return `{${Object.entries(value)
      .map(([k, v]) => `${k}:${stateOf(v)}`)
      .join(',')}}`;
  }
  return typeof value === 'symbol' ? value.toString() : String(value);
}

// -------------------------------------------------------------------------------------------------
// Hostile values

class HostileGetterError extends Error {}

function boom(): never {
  throw new HostileGetterError('a hostile getter or Proxy trap ran');
}

const THROWING_TRAPS: ProxyHandler<object> = {
  get: boom,
  set: boom,
  has: boom,
  ownKeys: boom,
  getOwnPropertyDescriptor: boom,
  defineProperty: boom,
  deleteProperty: boom,
  getPrototypeOf: boom,
  setPrototypeOf: boom,
  isExtensible: boom,
  preventExtensions: boom,
  apply: boom,
  construct: boom,
};

interface Entry {
  readonly label: string;
  /** Builds the value; `valid` is the valid argument it replaces (Proxies wrap it). */
  readonly make: (valid: unknown) => unknown;
  /** False for freed, forged and throwing values: they are never a valid argument. */
  readonly genuine: boolean;
  /** A Proxy that forwards everything to a genuine value: it may be accepted as that value. */
  readonly transparent: boolean;
}

function entry(
  label: string,
  make: (valid: unknown) => unknown,
  flags: { genuine?: boolean; transparent?: boolean } = {},
): Entry {
  return {
    label,
    make,
    genuine: flags.genuine ?? true,
    transparent: flags.transparent ?? false,
    [fc.toStringMethod]: () => label,
  } as Entry;
}

const forged = (label: string, make: (valid: unknown) => unknown): Entry => entry(label, make, { genuine: false });

/** The valid argument when it is an instance of `name` (else an unrelated instance), to wrap in a Proxy. */
function targetOf(name: ClassName, valid: unknown): object {
  return valid instanceof CLASSES[name] ? valid : ZOO[name]();
}

/** The valid argument when it is a byte array (else `length` bytes), to wrap in a Proxy. */
function bytesTargetOf(valid: unknown, length: number): Uint8Array {
  return valid instanceof Uint8Array ? valid.slice() : new Uint8Array(length).fill(5);
}

const HUGE = 1 << 20;
const JSON_ENTRY_LABEL = 'a JSON room key entry';

/** Every value that is not valid for some parameter: primitives, strings, objects, typed arrays, instances. */
const TYPE_CONSTANTS: readonly Entry[] = [
  entry('undefined', () => undefined),
  entry('null', () => null),
  entry('NaN', () => Number.NaN),
  entry('-1', () => -1),
  entry('1.5', () => 1.5),
  entry('2**32', () => 2 ** 32),
  entry('2**53', () => 2 ** 53),
  entry('Infinity', () => Number.POSITIVE_INFINITY),
  entry('-Infinity', () => Number.NEGATIVE_INFINITY),
  entry('-0', () => -0),
  entry('0', () => 0),
  entry('2', () => 2),
  entry('5001', () => MAX_ONE_TIME_KEYS + 1),
  entry('true', () => true),
  entry('false', () => false),
  entry('10n', () => 10n),
  entry('Symbol()', () => Symbol('hostile')),
  entry("''", () => ''),
  entry("'0'", () => '0'),
  entry("'1'", () => '1'),
  entry("'!!!!' (not base64)", () => '!!!!'),
  entry("'A' (impossible base64 length)", () => 'A'),
  entry("'AAAA' (3 bytes)", () => 'AAAA'),
  entry('base64 of 31 bytes', () => b64(new Uint8Array(31).fill(7))),
  entry('base64 of 33 bytes', () => b64(new Uint8Array(33).fill(7))),
  entry('base64 of 63 bytes', () => b64(new Uint8Array(63).fill(7))),
  entry('base64 of 166 bytes', () => b64(new Uint8Array(166).fill(7))),
  entry("'\\uD800' (lone surrogate)", () => '\uD800'),
  entry("1 MiB of 'A'", () => 'A'.repeat(HUGE)),
  entry("1 MiB of '\\u00e9'", () => '\u00e9'.repeat(HUGE)),
  entry("new String('AAAA')", () => new String('AAAA')),
  entry('{}', () => ({})),
  entry('Object.create(null)', () => Object.create(null)),
  entry('[]', () => []),
  entry('[7 × 32] (an array, not bytes)', () => new Array(32).fill(7)),
  entry('{ length: 32 }', () => ({ length: 32 })),
  entry('{ 0: 1, length: 1 }', () => ({ 0: 1, length: 1 })),
  entry("{ toString: () => 'AAAA' }", () => ({ toString: () => 'AAAA' })),
  entry('{ valueOf: () => 1 }', () => ({ valueOf: () => 1 })),
  entry('() => {}', () => () => {}),
  entry('class {}', () => class {}),
  entry('new Date(0)', () => new Date(0)),
  entry('new Map()', () => new Map()),
  entry('Promise.resolve()', () => Promise.resolve()),
  entry('new Error()', () => new Error('an error')),
  entry('a TriturusError', () => new TriturusError('INVALID_ARGUMENT', 'an error')),
  entry('new ArrayBuffer(32)', () => new ArrayBuffer(32)),
  entry('new DataView(32 bytes)', () => new DataView(new ArrayBuffer(32))),
  entry('Uint8ClampedArray(32)', () => new Uint8ClampedArray(32)),
  entry('Int8Array(32)', () => new Int8Array(32)),
  entry('Uint16Array(16)', () => new Uint16Array(16)),
  entry('Float64Array(4)', () => new Float64Array(4)),
  entry('Buffer(31)', () => Buffer.alloc(31, 1)),
  entry('Buffer(32)', () => Buffer.alloc(32, 1)),
  entry('Uint8Array(0)', () => new Uint8Array(0)),
  entry('Uint8Array(31)', () => new Uint8Array(31).fill(1)),
  entry('Uint8Array(33)', () => new Uint8Array(33).fill(1)),
  entry('Uint8Array(63)', () => new Uint8Array(63).fill(1)),
  entry('Uint8Array(65)', () => new Uint8Array(65).fill(1)),
  entry('Uint8Array(128)', () => new Uint8Array(128).fill(1)),
  entry('Uint8Array(1 MiB)', () => new Uint8Array(HUGE).fill(3)),
  ...Object.keys(ZOO).map((name) => entry(`a ${name}`, ZOO[name as ClassName])),
  entry(JSON_ENTRY_LABEL, () => ({ ...roomKeyJson })),
  entry('the crypto backend', () => ORIGINAL_BACKEND),
];

/** Entries and option objects of the wrong shape, offered where an entry or options are expected. */
const SHAPE_CONSTANTS: readonly Entry[] = [
  ...badRoomKeys().map(([label, value]) => entry(label, () => value)),
  ...badOptions().map(([label, value]) => entry(label, () => value)),
  ...badAccountKeys().map(([label, value]) => entry(label, () => value)),
  ...badPassphraseOptions().map(([label, value]) => entry(label, () => value)),
];

/** Key bytes for Account.fromKeys (fresh each time: fromKeys must leave them as they are). */
function accountKeys(): Record<string, unknown> {
  return { curve25519Secret: zooSecret(1), ed25519Seed: zooSecret(2) };
}
function zooSecret(n: number): Uint8Array {
  return new Uint8Array(32).map((_, i) => (i * 29 + n * 7 + 1) & 0xff);
}

/** Account.fromKeys arguments with one field of the wrong type, length or value. */
function badAccountKeys(): [string, unknown][] {
  const replacements: Record<string, unknown[]> = {
    curve25519Secret: [undefined, null, 'bytes', new Uint8Array(31), new Uint8Array(32), [1, 2, 3]],
    ed25519Seed: [null, new Uint8Array(33), new Uint8Array(32), 5],
    ed25519Expanded: [new Uint8Array(64).fill(1), new Uint8Array(32).fill(1)],
    ed25519PublicKey: [null, 'key', new Uint8Array(32).fill(9), new Uint8Array(31)],
    curve25519PublicKey: [null, new Uint8Array(32).fill(9), alice.ed25519Key],
    oneTimeKeys: [null, 'keys', {}, [zooSecret(3)], [{ secret: new Uint8Array(16) }], [{ secret: zooSecret(1) }]],
    fallbackKey: [null, zooSecret(4), { secret: zooSecret(4), published: 1 }, { secret: zooSecret(1) }],
  };
  const out: [string, unknown][] = [];
  for (const [field, values] of Object.entries(replacements)) {
    for (const value of values) {
      out.push([`account keys with ${field} = ${describeValue(value)}`, { ...accountKeys(), [field]: value }]);
    }
  }
  return out;
}

/** pickleKeyFromPassphrase options outside the bounds (each refused before any work). */
function badPassphraseOptions(): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (const logN of [13, 21, 16.5, '17', null, Number.NaN, 17n])
    out.push([`{ logN: ${describeValue(logN)} }`, { logN }]);
  for (const r of [0, 1, 17, 8.5]) out.push([`{ logN: 17, r: ${describeValue(r)} }`, { logN: 17, r }]);
  for (const p of [0, 5, -1]) out.push([`{ p: ${describeValue(p)} }`, { p }]);
  out.push(['{ logN: 20, r: 8, p: 2 }', { logN: 20, r: 8, p: 2 }]);
  out.push(['{ logN: 14, r: 4 }', { logN: 14, r: 4 }]);
  out.push(['[] as options', []]);
  return out;
}

/** The constants tried in every position of a parameter of this kind. */
function typeConstants(kind: Kind): Entry[] {
  const shaped = [
    'roomKey',
    'roomKeys',
    'json',
    'encryptOptions',
    'decryptOptions',
    'accountKeys',
    'passphraseOptions',
  ].includes(kind);
  return shaped ? [...TYPE_CONSTANTS, ...SHAPE_CONSTANTS] : [...TYPE_CONSTANTS];
}

/** Room key entries with one field of the wrong type or value (or missing). */
function badRoomKeys(): [string, unknown][] {
  const replacements: Record<keyof RoomKeyExport, unknown[]> = {
    algorithm: [undefined, null, 5, {}, ['m.megolm.v1.aes-sha2']],
    roomId: [undefined, null, 5, {}, true],
    senderKey: [undefined, null, 5, alice.curve25519Key],
    sessionId: [undefined, null, 5, 'not the session id', zooExportedKey.sessionId],
    sessionKey: [undefined, null, 'its base64', 'its bytes', 'a SessionKey', 'another session’s key', {}],
    senderClaimedKeys: [undefined, null, 'ed25519', [], { ed25519: 5 }, { ed25519: null }],
    forwardingCurve25519KeyChain: [undefined, null, 'key', [5], [null], {}],
    sharedHistory: [null, 'yes', 1],
  };
  // Named stand-ins, so that no key material shows in a counterexample.
  const named: Record<string, unknown> = {
    'its base64': exportedKey.toBase64(),
    'its bytes': exportedKey.toBytes(),
    'a SessionKey': groupKey0,
    'another session’s key': zooExportedKey,
  };
  const out: [string, unknown][] = [];
  for (const [field, values] of Object.entries(replacements)) {
    for (const value of values) {
      const isNamed = typeof value === 'string' && value in named && field === 'sessionKey';
      const label = `room key with ${field} = ${isNamed ? value : describeValue(value)}`;
      out.push([label, { ...roomKey, [field]: isNamed ? named[value] : value }]);
    }
  }
  const { sessionKey: _, ...withoutKey } = roomKey;
  out.push(['room key without sessionKey', withoutKey]);
  out.push(['[room key, 5]', [roomKey, 5]]);
  out.push(['[room key with sessionKey = null]', [{ ...roomKey, sessionKey: null }]]);
  out.push(['[undefined, room key]', [undefined, roomKey]]);
  out.push(['[<hole>, room key]', Object.assign(new Array(2), { 1: roomKey })]);
  out.push(['new Array(2) (two holes)', new Array(2)]);
  return out;
}

/** Key-export option objects with a field of the wrong type or range. */
function badOptions(): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (const rounds of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 32, '10', null, 10n, true]) {
    out.push([`{ rounds: ${describeValue(rounds)} }`, { rounds }]);
  }
  for (const maxRounds of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '10', null, 10n]) {
    out.push([`{ maxRounds: ${describeValue(maxRounds)} }`, { maxRounds }]);
  }
  for (const onProgress of [null, 'f', 5, {}]) {
    out.push([`{ onProgress: ${describeValue(onProgress)} }`, { onProgress }]);
  }
  return out;
}

const typePool: fc.Arbitrary<Entry> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...TYPE_CONSTANTS, ...SHAPE_CONSTANTS) },
  { weight: 1, arbitrary: fc.double().map((n) => entry(`number ${describeValue(n)}`, () => n)) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: -(2 ** 33), max: 2 ** 33 }).map((n) => entry(`integer ${n}`, () => n)),
  },
  {
    weight: 1,
    arbitrary: fc.string({ unit: 'binary', maxLength: 64 }).map((s) => entry(`string ${JSON.stringify(s)}`, () => s)),
  },
  {
    weight: 1,
    arbitrary: fc
      .uint8Array({ maxLength: 300 })
      .map((bytes) => entry(`Uint8Array(${bytes.length}) ${hex(bytes.subarray(0, 8))}…`, () => bytes.slice())),
  },
  {
    weight: 1,
    arbitrary: fc
      .uint8Array({ maxLength: 300 })
      .map((bytes) => entry(`base64 of ${bytes.length} bytes`, () => b64(bytes))),
  },
  {
    weight: 1,
    arbitrary: fc.anything({ maxDepth: 2 }).map((value) => entry(`value ${describeValue(value)}`, () => value)),
  },
  {
    weight: 1,
    arbitrary: fc
      .array(fc.integer({ min: 0, max: 255 }), { maxLength: 70 })
      .map((list) => entry(`array of ${list.length} byte values`, () => list.slice())),
  },
);

// -------------------------------------------------------------------------------------------------
// Parameter kinds and what is valid for each

type Kind =
  | 'string'
  | 'textOrBytes'
  | 'bytes'
  | 'bytes32'
  | 'bytes64'
  | 'count'
  | 'index'
  | 'olmType'
  | ClassName
  | 'OlmMessage'
  | 'roomKey'
  | 'roomKeys'
  | 'json'
  | 'encryptOptions'
  | 'decryptOptions'
  | 'randomSource'
  | 'backend'
  | 'accountKeys'
  | 'passphraseOptions';
/** A parameter; `?` marks an optional one (undefined is then valid). */
type Param = Kind | `${Kind}?`;

const kindOf = (param: Param): Kind => (param.endsWith('?') ? param.slice(0, -1) : param) as Kind;

function classesOf(kind: Kind): ClassName[] {
  if (kind === 'OlmMessage') return ['Message', 'PreKeyMessage'];
  return kind in CLASSES ? [kind as ClassName] : [];
}

function bytesLengthOf(kind: Kind): number | undefined {
  return { bytes32: 32, bytes64: 64, bytes: 16, textOrBytes: 16 }[kind as string];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Whether `value` (made by `e`) is a valid argument for `param`: such values are not hostile there. */
function accepts(param: Param, e: Entry, value: unknown): boolean {
  if (!e.genuine) return false;
  const kind = kindOf(param);
  if (param.endsWith('?') && value === undefined) return true;
  const v = value as Record<string, unknown>;
  switch (kind) {
    case 'string':
      return typeof value === 'string';
    case 'textOrBytes':
      return typeof value === 'string' || value instanceof Uint8Array;
    case 'bytes':
      return value instanceof Uint8Array;
    case 'bytes32':
      return value instanceof Uint8Array && value.length === 32;
    case 'bytes64':
      return value instanceof Uint8Array && value.length === 64;
    case 'count':
      return Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= MAX_ONE_TIME_KEYS;
    case 'index':
      return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 0xffffffff;
    case 'olmType':
      return value === 0 || value === 1;
    case 'roomKey':
      return false; // no pool value is a complete, consistent entry
    case 'json':
      return e.label === JSON_ENTRY_LABEL;
    case 'roomKeys':
      return Array.isArray(value) && value.length === 0;
    case 'encryptOptions':
      return (
        isObject(value) &&
        (v.onProgress === undefined || typeof v.onProgress === 'function') &&
        (v.rounds === undefined ||
          (Number.isInteger(v.rounds) && (v.rounds as number) >= 1 && (v.rounds as number) <= 0xffffffff))
      );
    case 'decryptOptions':
      return (
        isObject(value) &&
        (v.onProgress === undefined || typeof v.onProgress === 'function') &&
        (v.maxRounds === undefined || (Number.isInteger(v.maxRounds) && (v.maxRounds as number) >= 1))
      );
    case 'accountKeys':
      return false; // no pool value holds valid key bytes
    case 'passphraseOptions': {
      if (!isObject(value) || (v.onProgress !== undefined && typeof v.onProgress !== 'function')) return false;
      const within = (x: unknown, [min, max]: readonly [number, number], fallback: number): number | undefined =>
        x === undefined
          ? fallback
          : Number.isInteger(x) && (x as number) >= min && (x as number) <= max
            ? (x as number)
            : undefined;
      const logN = within(v.logN, PASSPHRASE_KEY_LIMITS.logN, 17);
      const r = within(v.r, PASSPHRASE_KEY_LIMITS.r, 8);
      const p = within(v.p, PASSPHRASE_KEY_LIMITS.p, 1);
      if (logN === undefined || r === undefined || p === undefined) return false;
      return 2 ** logN * r >= PASSPHRASE_KEY_LIMITS.minMemoryCost && 2 ** logN * r * p <= PASSPHRASE_KEY_LIMITS.maxWork;
    }
    case 'randomSource':
      return typeof value === 'function';
    case 'backend':
      return value === ORIGINAL_BACKEND;
    default:
      return classesOf(kind).some((name) => value instanceof CLASSES[name]);
  }
}

/** Freed and wiped objects of the expected class. */
function freedEntries(kind: Kind): Entry[] {
  // Keys that were used (their session id read) and then wiped, as a caller would.
  const wipedExported = (): ExportedSessionKey => {
    const key = ExportedSessionKey.fromBytes(exportedKey.toBytes());
    expect(key.sessionId).toBe(exportedKey.sessionId);
    key.wipe();
    return key;
  };
  switch (kind) {
    case 'Account':
      return [
        forged('a freed Account', () => {
          const account = freshBob();
          account.free();
          return account;
        }),
      ];
    case 'Session':
      return [
        forged('a freed Session', () => {
          const session = freshBobSession();
          session.free();
          return session;
        }),
      ];
    case 'GroupSession':
      return [
        forged('a freed GroupSession', () => {
          const session = freshGroup();
          session.free();
          return session;
        }),
      ];
    case 'InboundGroupSession':
      return [
        forged('a freed InboundGroupSession', () => {
          const session = freshInbound();
          session.free();
          return session;
        }),
      ];
    case 'SessionKey':
      return [
        forged('a wiped SessionKey', () => {
          const key = SessionKey.fromBytes(groupKey0.toBytes());
          expect(key.sessionId).toBe(groupKey0.sessionId);
          key.wipe();
          return key;
        }),
      ];
    case 'ExportedSessionKey':
      return [forged('a wiped ExportedSessionKey', wipedExported)];
    case 'roomKey':
      return [forged('room key whose sessionKey was wiped', () => ({ ...roomKey, sessionKey: wipedExported() }))];
    case 'roomKeys':
      return [forged('[room key whose sessionKey was wiped]', () => [{ ...roomKey, sessionKey: wipedExported() }])];
    default:
      return [];
  }
}

/** Values that pass `instanceof` without being what they claim: Proxies and bare prototypes. */
function forgedEntries(kind: Kind): Entry[] {
  const out: Entry[] = [];
  const proxy = { genuine: false, transparent: true };
  for (const name of classesOf(kind)) {
    out.push(forged(`Object.create(${name}.prototype)`, () => Object.create(CLASSES[name].prototype)));
    out.push(entry(`Proxy(${name})`, (valid) => new Proxy(targetOf(name, valid), {}), proxy));
  }
  const length = bytesLengthOf(kind);
  if (length !== undefined) {
    out.push(forged('Object.create(Uint8Array.prototype)', () => Object.create(Uint8Array.prototype)));
    out.push(entry('Proxy(Uint8Array)', (valid) => new Proxy(bytesTargetOf(valid, length), {}), proxy));
  }
  if (kind === 'roomKey' || kind === 'roomKeys') {
    const wrap = kind === 'roomKeys' ? (v: unknown) => [v] : (v: unknown) => v;
    out.push(
      forged('room key whose sessionKey is Object.create(ExportedSessionKey.prototype)', () =>
        wrap({ ...roomKey, sessionKey: Object.create(ExportedSessionKey.prototype) }),
      ),
      entry(
        'room key whose sessionKey is Proxy(ExportedSessionKey)',
        () => wrap({ ...roomKey, sessionKey: new Proxy(exportedKey, {}) }),
        proxy,
      ),
    );
  }
  return out;
}

/**
 * Objects whose reading throws: values of the expected shape with one throwing getter first (a
 * byte array's length, a field of an entry or options object), then Proxies of the expected class
 * whose get or getPrototypeOf trap throws, then Proxies whose every trap throws.
 */
function getterEntries(kind: Kind): Entry[] {
  const out: Entry[] = [];
  const throwingField = (base: object, field: string): object =>
    Object.defineProperty({ ...base }, field, { get: boom, enumerable: true });
  const length = bytesLengthOf(kind);
  if (length !== undefined) {
    // A genuine Uint8Array: native code ignores the own property, so it may also be accepted.
    out.push(
      entry(
        'Uint8Array with a throwing own length getter',
        (valid) => Object.defineProperty(bytesTargetOf(valid, length), 'length', { get: boom }),
        { genuine: false, transparent: true },
      ),
    );
  }
  if (kind === 'roomKey' || kind === 'roomKeys') {
    const wrap = kind === 'roomKeys' ? (v: unknown) => [v] : (v: unknown) => v;
    for (const field of Object.keys(roomKey)) {
      out.push(forged(`room key whose ${field} getter throws`, () => wrap(throwingField(roomKey, field))));
    }
    if (kind === 'roomKeys') {
      out.push(
        forged('[room key] whose element getter throws', () => Object.defineProperty([roomKey], 0, { get: boom })),
      );
    }
  }
  if (kind === 'json') {
    for (const field of Object.keys(roomKeyJson)) {
      out.push(forged(`JSON entry whose ${field} getter throws`, () => throwingField(roomKeyJson, field)));
    }
  }
  if (kind === 'encryptOptions' || kind === 'decryptOptions') {
    for (const field of ['onProgress', kind === 'encryptOptions' ? 'rounds' : 'maxRounds']) {
      out.push(forged(`options whose ${field} getter throws`, () => throwingField({}, field)));
    }
  }
  if (kind === 'passphraseOptions') {
    for (const field of ['onProgress', 'logN', 'r', 'p']) {
      out.push(forged(`options whose ${field} getter throws`, () => throwingField({ logN: 14 }, field)));
    }
  }
  if (kind === 'accountKeys') {
    for (const field of Object.keys(accountKeys()).concat('oneTimeKeys', 'fallbackKey', 'ed25519PublicKey')) {
      out.push(forged(`account keys whose ${field} getter throws`, () => throwingField(accountKeys(), field)));
    }
  }
  for (const name of classesOf(kind)) {
    out.push(
      forged(`Proxy(${name}) whose get trap throws`, (valid) => new Proxy(targetOf(name, valid), { get: boom })),
    );
  }
  if (length !== undefined) {
    out.push(
      forged(
        'Proxy(Uint8Array) whose get trap throws',
        (valid) => new Proxy(bytesTargetOf(valid, length), { get: boom }),
      ),
    );
  }
  if (kind === 'backend') {
    out.push(forged('Proxy(backend) whose get trap throws', () => new Proxy(ORIGINAL_BACKEND, { get: boom })));
  }
  for (const name of classesOf(kind)) {
    out.push(
      forged(
        `Proxy(${name}) whose getPrototypeOf trap throws`,
        (valid) => new Proxy(targetOf(name, valid), { getPrototypeOf: boom }),
      ),
    );
  }
  out.push(
    forged('Proxy({}) whose every trap throws', () => new Proxy({}, THROWING_TRAPS)),
    forged('Proxy([]) whose every trap throws', () => new Proxy([], THROWING_TRAPS)),
    // A function-typed Proxy is callable: where a callback is expected it may be accepted, and its
    // own exception then comes from the call (transparent).
    entry('Proxy(function) whose every trap throws', () => new Proxy(() => {}, THROWING_TRAPS), {
      genuine: false,
      transparent: true,
    }),
  );
  return out;
}

// -------------------------------------------------------------------------------------------------
// The functions and methods under test

/** Arguments as the calls see them: any value may be passed anywhere (the point of this suite). */
type Args = readonly [never, never, never];

interface World {
  readonly subject?: unknown;
  /** Valid arguments; a run replaces some with hostile values. */
  readonly args: readonly unknown[];
}

interface Case {
  readonly name: string;
  readonly params: readonly Param[];
  readonly setup: () => World;
  readonly call: (world: World, args: Args) => unknown;
  readonly functional?: (world: World) => void;
  readonly async?: boolean;
  /** A predicate (equals): answering false is as good as throwing. */
  readonly predicate?: boolean;
  readonly cleanup?: () => void;
}

type Extra = Pick<Case, 'functional' | 'async' | 'predicate' | 'cleanup'>;

/** A static function. */
function fn(
  name: string,
  params: Param[],
  args: () => unknown[],
  call: (args: Args) => unknown,
  extra: Extra = {},
): Case {
  return { name, params, setup: () => ({ args: args() }), call: (_, a) => call(a), ...extra };
}

/** A method of a fresh `subject`, checked by `functional` after each failed call. */
function on<S>(
  name: string,
  params: Param[],
  subject: () => S,
  args: () => unknown[],
  call: (subject: S, args: Args) => unknown,
  functional: ((subject: S) => void) | undefined,
  extra: Extra = {},
): Case {
  const c: Case = {
    name,
    params,
    setup: () => ({ subject: subject(), args: args() }),
    call: (w, a) => call(w.subject as S, a),
    ...extra,
  };
  return functional === undefined ? c : { ...c, functional: (w) => functional(w.subject as S) };
}

const sameAsArg =
  <S>(index: number, check: (s: S) => void) =>
  (w: World): void =>
    check(w.args[index] as S);

const CASES: readonly Case[] = [
  // Keys
  fn(
    'Curve25519PublicKey.fromBytes',
    ['bytes32'],
    () => [bob.curve25519Key.toBytes()],
    ([b]) => Curve25519PublicKey.fromBytes(b),
  ),
  fn(
    'Curve25519PublicKey.fromBase64',
    ['string'],
    () => [bob.curve25519Key.toBase64()],
    ([t]) => Curve25519PublicKey.fromBase64(t),
  ),
  fn(
    'Ed25519PublicKey.fromBytes',
    ['bytes32'],
    () => [bob.ed25519Key.toBytes()],
    ([b]) => Ed25519PublicKey.fromBytes(b),
  ),
  fn(
    'Ed25519PublicKey.fromBase64',
    ['string'],
    () => [bob.ed25519Key.toBase64()],
    ([t]) => Ed25519PublicKey.fromBase64(t),
  ),
  fn(
    'Ed25519Signature.fromBytes',
    ['bytes64'],
    () => [zooSignature.toBytes()],
    ([b]) => Ed25519Signature.fromBytes(b),
  ),
  fn(
    'Ed25519Signature.fromBase64',
    ['string'],
    () => [zooSignature.toBase64()],
    ([t]) => Ed25519Signature.fromBase64(t),
  ),
  on(
    'Curve25519PublicKey#equals',
    ['Curve25519PublicKey'],
    () => alice.curve25519Key,
    () => [bob.curve25519Key],
    (k, [o]) => k.equals(o),
    undefined,
    { predicate: true },
  ),
  on(
    'Ed25519PublicKey#equals',
    ['Ed25519PublicKey'],
    () => alice.ed25519Key,
    () => [bob.ed25519Key],
    (k, [o]) => k.equals(o),
    undefined,
    { predicate: true },
  ),
  on(
    'Ed25519PublicKey#verify',
    ['textOrBytes', 'Ed25519Signature'],
    () => alice.ed25519Key,
    () => ['zoo', zooSignature],
    (k, [m, s]) => k.verify(m, s),
    undefined,
  ),
  on(
    'Ed25519PublicKey#isValidSignature',
    ['textOrBytes', 'Ed25519Signature'],
    () => alice.ed25519Key,
    () => ['zoo', zooSignature],
    (k, [m, s]) => k.isValidSignature(m, s),
    undefined,
  ),

  // Olm messages
  fn(
    'Message.fromBytes',
    ['bytes'],
    () => [consumedMessage.toBytes()],
    ([b]) => Message.fromBytes(b),
  ),
  fn(
    'Message.fromBase64',
    ['string'],
    () => [consumedMessage.toBase64()],
    ([t]) => Message.fromBase64(t),
  ),
  fn(
    'PreKeyMessage.fromBytes',
    ['bytes'],
    () => [firstPreKey.toBytes()],
    ([b]) => PreKeyMessage.fromBytes(b),
  ),
  fn(
    'PreKeyMessage.fromBase64',
    ['string'],
    () => [firstPreKey.toBase64()],
    ([t]) => PreKeyMessage.fromBase64(t),
  ),
  fn(
    'olmMessageFromParts',
    ['olmType', 'textOrBytes'],
    () => [1, consumedMessage.toBase64()],
    ([t, b]) => olmMessageFromParts(t, b),
  ),

  // Account
  fn(
    'Account.fromKeys',
    ['accountKeys'],
    () => [accountKeys()],
    ([k]) => Account.fromKeys(k),
  ),
  fn(
    'Account.fromPickle',
    ['string', 'bytes32'],
    () => [pickles.bob, PICKLE_KEY],
    ([p, k]) => Account.fromPickle(p, k),
  ),
  on(
    'Account#sign',
    ['textOrBytes'],
    freshBob,
    () => ['m'],
    (a, [m]) => a.sign(m),
    checkBob,
  ),
  on(
    'Account#generateOneTimeKeys',
    ['count'],
    freshBob,
    () => [1],
    (a, [n]) => a.generateOneTimeKeys(n),
    checkBob,
  ),
  on(
    'Account#createOutboundSession',
    ['SessionConfig', 'Curve25519PublicKey', 'Curve25519PublicKey'],
    freshBob,
    () => [SessionConfig.version1(), alice.curve25519Key, aliceOneTimeKey],
    (a, [c, i, o]) => a.createOutboundSession(c, i, o),
    checkBob,
  ),
  on(
    'Account#createInboundSession',
    ['Curve25519PublicKey', 'PreKeyMessage'],
    freshBob,
    () => [alice.curve25519Key, pendingPreKey],
    (a, [k, m]) => a.createInboundSession(k, m),
    checkBob,
  ),
  on(
    'Account#pickle',
    ['bytes32'],
    freshBob,
    () => [PICKLE_KEY],
    (a, [k]) => a.pickle(k),
    checkBob,
  ),

  // Olm session
  fn(
    'Session.fromPickle',
    ['string', 'bytes32'],
    () => [pickles.bobSession, PICKLE_KEY],
    ([p, k]) => Session.fromPickle(p, k),
  ),
  on(
    'Session#matchesInboundSession',
    ['PreKeyMessage'],
    freshBobSession,
    () => [firstPreKey],
    (s, [m]) => s.matchesInboundSession(m),
    checkBobSession,
  ),
  on(
    'Session#matchesInboundSessionFrom',
    ['Curve25519PublicKey', 'PreKeyMessage'],
    freshBobSession,
    () => [alice.curve25519Key, firstPreKey],
    (s, [k, m]) => s.matchesInboundSessionFrom(k, m),
    checkBobSession,
  ),
  on(
    'Session#encrypt',
    ['textOrBytes'],
    freshBobSession,
    () => ['x'],
    (s, [p]) => s.encrypt(p),
    checkBobSession,
  ),
  on(
    'Session#decrypt',
    ['OlmMessage'],
    freshBobSession,
    () => [nextMessage],
    (s, [m]) => s.decrypt(m),
    checkBobSession,
  ),
  on(
    'Session#decryptText',
    ['OlmMessage'],
    freshBobSession,
    () => [nextMessage],
    (s, [m]) => s.decryptText(m),
    checkBobSession,
  ),
  on(
    'Session#pickle',
    ['bytes32'],
    freshBobSession,
    () => [PICKLE_KEY],
    (s, [k]) => s.pickle(k),
    checkBobSession,
  ),

  // Megolm wire formats
  fn(
    'MegolmMessage.fromBytes',
    ['bytes'],
    () => [laterMegolm.toBytes()],
    ([b]) => MegolmMessage.fromBytes(b),
  ),
  fn(
    'MegolmMessage.fromBase64',
    ['string'],
    () => [laterMegolm.toBase64()],
    ([t]) => MegolmMessage.fromBase64(t),
  ),
  fn(
    'SessionKey.fromBytes',
    ['bytes'],
    () => [groupKey0.toBytes()],
    ([b]) => SessionKey.fromBytes(b),
  ),
  fn(
    'SessionKey.fromBase64',
    ['string'],
    () => [groupKey0.toBase64()],
    ([t]) => SessionKey.fromBase64(t),
  ),
  fn(
    'ExportedSessionKey.fromBytes',
    ['bytes'],
    () => [exportedKey.toBytes()],
    ([b]) => ExportedSessionKey.fromBytes(b),
  ),
  fn(
    'ExportedSessionKey.fromBase64',
    ['string'],
    () => [exportedKey.toBase64()],
    ([t]) => ExportedSessionKey.fromBase64(t),
  ),

  // Megolm sessions
  fn(
    'GroupSession.create',
    ['MegolmSessionConfig?'],
    () => [undefined],
    ([c]) => GroupSession.create(c),
  ),
  fn(
    'GroupSession.fromPickle',
    ['string', 'bytes32'],
    () => [pickles.group, PICKLE_KEY],
    ([p, k]) => GroupSession.fromPickle(p, k),
  ),
  on(
    'GroupSession#encrypt',
    ['textOrBytes'],
    freshGroup,
    () => ['x'],
    (g, [p]) => g.encrypt(p),
    checkGroup,
  ),
  on(
    'GroupSession#advanceTo',
    ['index'],
    freshGroup,
    () => [10],
    (g, [i]) => g.advanceTo(i),
    checkGroup,
  ),
  on(
    'GroupSession#pickle',
    ['bytes32'],
    freshGroup,
    () => [PICKLE_KEY],
    (g, [k]) => g.pickle(k),
    checkGroup,
  ),
  fn(
    'InboundGroupSession.fromSessionKey',
    ['SessionKey', 'MegolmSessionConfig?'],
    () => [groupKey0, undefined],
    ([k, c]) => InboundGroupSession.fromSessionKey(k, c),
  ),
  fn(
    'InboundGroupSession.import',
    ['ExportedSessionKey', 'MegolmSessionConfig?'],
    () => [exportedKey, undefined],
    ([k, c]) => InboundGroupSession.import(k, c),
  ),
  fn(
    'InboundGroupSession.fromPickle',
    ['string', 'bytes32'],
    () => [pickles.inbound, PICKLE_KEY],
    ([p, k]) => InboundGroupSession.fromPickle(p, k),
  ),
  on(
    'InboundGroupSession#decrypt',
    ['MegolmMessage'],
    freshInbound,
    () => [laterMegolm],
    (s, [m]) => s.decrypt(m),
    checkInbound,
  ),
  on(
    'InboundGroupSession#decryptText',
    ['MegolmMessage'],
    freshInbound,
    () => [laterMegolm],
    (s, [m]) => s.decryptText(m),
    checkInbound,
  ),
  on(
    'InboundGroupSession#advanceTo',
    ['index'],
    freshInbound,
    () => [1],
    (s, [i]) => s.advanceTo(i),
    checkInbound,
  ),
  on(
    'InboundGroupSession#exportAt',
    ['index'],
    freshInbound,
    () => [1],
    (s, [i]) => s.exportAt(i),
    checkInbound,
  ),
  on(
    'InboundGroupSession#connected',
    ['InboundGroupSession'],
    freshInbound,
    () => [freshInbound()],
    (s, [o]) => s.connected(o),
    checkInbound,
  ),
  on(
    'InboundGroupSession#compare',
    ['InboundGroupSession'],
    freshInbound,
    () => [freshInbound()],
    (s, [o]) => s.compare(o),
    checkInbound,
  ),
  on(
    'InboundGroupSession#merge',
    ['InboundGroupSession'],
    freshInbound,
    () => [freshInbound()],
    (s, [o]) => s.merge(o),
    checkInbound,
  ),
  on(
    'InboundGroupSession#pickle',
    ['bytes32'],
    freshInbound,
    () => [PICKLE_KEY],
    (s, [k]) => s.pickle(k),
    checkInbound,
  ),

  // Key exports
  fn(
    'encryptKeyExport',
    ['roomKeys', 'string', 'encryptOptions?'],
    () => [[roomKey], PASSPHRASE, { rounds: 1 }],
    ([s, p, o]) => encryptKeyExport(s, p, o),
    { async: true },
  ),
  fn(
    'decryptKeyExport',
    ['string', 'string', 'decryptOptions?'],
    () => [exportFile, PASSPHRASE, { maxRounds: 10 }],
    ([t, p, o]) => decryptKeyExport(t, p, o),
    { async: true },
  ),
  fn(
    'roomKeyExportToJson',
    ['roomKey'],
    () => [roomKey],
    ([e]) => roomKeyExportToJson(e),
  ),
  fn(
    'roomKeyExportFromJson',
    ['json'],
    () => [roomKeyJson],
    ([j]) => roomKeyExportFromJson(j),
  ),

  // A pickle key from a passphrase
  fn(
    'pickleKeyFromPassphrase',
    ['textOrBytes', 'bytes', 'passphraseOptions?'],
    () => [PASSPHRASE, new Uint8Array(16).fill(5), { logN: 14 }],
    ([t, s, o]) => pickleKeyFromPassphrase(t, s, o),
    { async: true },
  ),

  // Global crypto configuration
  fn(
    'setRandomSource',
    ['randomSource?'],
    () => [undefined],
    ([s]) => setRandomSource(s),
    {
      functional: checkCrypto,
      cleanup: restoreCrypto,
    },
  ),
  fn(
    'setCryptoBackend',
    ['backend'],
    () => [ORIGINAL_BACKEND],
    ([b]) => setCryptoBackend(b),
    {
      functional: checkCrypto,
      cleanup: restoreCrypto,
    },
  ),

  // triturus/libolm
  fn(
    'accountFromLibolmPickle',
    ['string', 'textOrBytes'],
    () => [libolmPickles.account, LIBOLM_KEY],
    ([p, k]) => accountFromLibolmPickle(p, k),
  ),
  fn(
    'accountToLibolmPickle',
    ['Account', 'textOrBytes'],
    () => [freshBob(), LIBOLM_KEY],
    ([a, k]) => accountToLibolmPickle(a, k),
    { functional: sameAsArg(0, checkBob) },
  ),
  fn(
    'sessionFromLibolmPickle',
    ['string', 'textOrBytes'],
    () => [libolmPickles.session, LIBOLM_KEY],
    ([p, k]) => sessionFromLibolmPickle(p, k),
  ),
  fn(
    'sessionFromLibolmPickleDetailed',
    ['string', 'textOrBytes'],
    () => [libolmPickles.session, LIBOLM_KEY],
    ([p, k]) => sessionFromLibolmPickleDetailed(p, k),
  ),
  fn(
    'sessionToLibolmPickle',
    ['Session', 'textOrBytes'],
    () => [freshBobSession(), LIBOLM_KEY],
    ([s, k]) => sessionToLibolmPickle(s, k),
    { functional: sameAsArg(0, checkBobSession) },
  ),
  fn(
    'groupSessionFromLibolmPickle',
    ['string', 'textOrBytes'],
    () => [libolmPickles.group, LIBOLM_KEY],
    ([p, k]) => groupSessionFromLibolmPickle(p, k),
  ),
  fn(
    'groupSessionToLibolmPickle',
    ['GroupSession', 'textOrBytes'],
    () => [freshGroup(), LIBOLM_KEY],
    ([s, k]) => groupSessionToLibolmPickle(s, k),
    { functional: sameAsArg(0, checkGroup) },
  ),
  fn(
    'inboundGroupSessionFromLibolmPickle',
    ['string', 'textOrBytes'],
    () => [libolmPickles.inbound, LIBOLM_KEY],
    ([p, k]) => inboundGroupSessionFromLibolmPickle(p, k),
  ),
  fn(
    'inboundGroupSessionToLibolmPickle',
    ['InboundGroupSession', 'textOrBytes'],
    () => [freshInbound(), LIBOLM_KEY],
    ([s, k]) => inboundGroupSessionToLibolmPickle(s, k),
    { functional: sameAsArg(0, checkInbound) },
  ),
];

// -------------------------------------------------------------------------------------------------
// One call with hostile arguments

type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

async function settle(what: string, call: () => unknown, isAsync: boolean): Promise<Outcome> {
  let result: unknown;
  try {
    result = call();
  } catch (error) {
    if (isAsync) expect.fail(`${what} threw synchronously (${describeThrown(error)}) instead of rejecting`);
    return { ok: false, error };
  }
  if (!isAsync) return { ok: true, value: result };
  if (!(result instanceof Promise)) return expect.fail(`${what} did not return a promise`);
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<'hang'>((resolve) => {
    timer = setTimeout(() => resolve('hang'), HANG_MS);
  });
  try {
    const settled = await Promise.race([
      result.then(
        (value): Outcome => ({ ok: true, value }),
        (error): Outcome => ({ ok: false, error }),
      ),
      hang,
    ]);
    if (settled === 'hang') return expect.fail(`${what} did not settle within ${HANG_MS} ms`);
    return settled;
  } finally {
    clearTimeout(timer);
  }
}

/** The marker for an argument left valid (it prints as `valid` in counterexamples). */
const VALID: Entry = entry('valid', () => undefined);

/** Calls `c` with the hostile values of `bad` (VALID: the valid argument) and checks every rule. */
/**
 * `callerErrors`: the caller's own exception (a hostile getter's or trap's HostileGetterError) may
 * pass through unchanged, as in any JavaScript API that reads its arguments; the receiver must
 * still be untouched.
 */
async function attempt(c: Case, bad: readonly Entry[], callerErrors = false): Promise<void> {
  const world = c.setup();
  const args = world.args.slice();
  const used: Entry[] = [];
  bad.forEach((e, i) => {
    if (e === VALID) return;
    args[i] = e.make(world.args[i]);
    used.push(e);
  });
  const what = `${c.name}(${c.params.map((_, i) => bad[i]?.label ?? 'valid').join(', ')})`;
  const watched = [world.subject, ...world.args];
  const before = stateOf(watched);
  try {
    const outcome = await settle(what, () => c.call(world, args as unknown as Args), c.async === true);
    if (outcome.ok) {
      // A Proxy that forwards everything to a valid value is that value.
      if (used.every((e) => e.transparent)) return;
      if (!(c.predicate === true && outcome.value === false)) {
        expect.fail(`${what} accepted the hostile argument and returned ${describeValue(outcome.value)}`);
      }
    } else if (!(callerErrors && outcome.error instanceof HostileGetterError)) {
      expectTriturusError(outcome.error, what);
    }
    expect(stateOf(watched), `${what} changed its receiver or a valid argument`).toBe(before);
    c.functional?.(world);
  } finally {
    c.cleanup?.();
  }
}

function typeArgs(c: Case): fc.Arbitrary<Entry[]> {
  const perParam = c.params.map((p) =>
    fc.option(
      typePool.filter((e) => !accepts(p, e, e.make(undefined))),
      { nil: VALID, freq: 3 },
    ),
  );
  return fc.tuple(...perParam).filter((bad) => bad.some((e) => e !== VALID));
}

interface Choice {
  readonly index: number;
  readonly entry: Entry;
}

/** Every (parameter, hostile value) pair of a small pool, one hostile argument per call. */
function choices(c: Case, pool: (kind: Kind) => Entry[]): Choice[] {
  return c.params.flatMap((p, index) =>
    pool(kindOf(p))
      .filter((e) => !e.genuine || !accepts(p, e, e.make(undefined)))
      .map(
        (e) =>
          ({ index, entry: e, [fc.toStringMethod]: () => `argument ${index + 1} = ${e.label}` }) as unknown as Choice,
      ),
  );
}

function propertyOverPool(
  c: Case,
  pool: (kind: Kind) => Entry[],
  callerErrors = false,
): (() => Promise<void>) | undefined {
  const all = choices(c, pool);
  if (all.length === 0) return undefined;
  return async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...all), (choice) =>
        attempt(
          c,
          c.params.map((_, i) => (i === choice.index ? choice.entry : VALID)),
          callerErrors,
        ),
      ),
      // numRuns counts the examples: every pair runs once, plus a few random repeats.
      { examples: all.map((choice) => [choice]), numRuns: all.length + 5 },
    );
  };
}

// -------------------------------------------------------------------------------------------------

describe('wrong types, shapes and lengths (and other classes’ instances) throw a TriturusError, changing nothing', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      // Every constant of the pool in every position first (one hostile argument), then random mixes.
      const examples = choices(c, typeConstants).map((choice): [Entry[]] => [
        c.params.map((_, i) => (i === choice.index ? choice.entry : VALID)),
      ]);
      await fc.assert(
        fc.asyncProperty(typeArgs(c), (bad) => attempt(c, bad)),
        { examples, numRuns: examples.length + TYPE_RUNS },
      );
    });
  }
});

describe('freed and wiped objects as arguments throw a TriturusError, changing nothing', () => {
  for (const c of CASES) {
    const property = propertyOverPool(c, freedEntries);
    if (property !== undefined) it(c.name, property);
  }
});

describe('forged instances (Proxies, Object.create(prototype)) throw a TriturusError or act as the real value', () => {
  for (const c of CASES) {
    const property = propertyOverPool(c, forgedEntries);
    if (property !== undefined) it(c.name, property);
  }
});

describe('objects whose reading throws: their own exception or a TriturusError, changing nothing', () => {
  for (const c of CASES) {
    const property = propertyOverPool(c, getterEntries, true);
    if (property !== undefined) it(c.name, property);
  }
});

// -------------------------------------------------------------------------------------------------

interface FreedCall<S> {
  readonly label: string;
  readonly call: (subject: S) => unknown;
}

function freedCalls<S>(calls: FreedCall<S>[]): fc.Arbitrary<FreedCall<S>> {
  return fc.constantFrom(
    ...calls.map((c) => ({ ...c, [fc.toStringMethod]: () => c.label }) as unknown as FreedCall<S>),
  );
}

/** Every listed method of a freed object throws a TriturusError (the object is "unusable afterwards"). */
function expectUnusableAfterFree<S extends { free(): void }>(
  name: string,
  fresh: () => S,
  calls: FreedCall<S>[],
): void {
  fc.assert(
    fc.property(freedCalls(calls), (c) => {
      const subject = fresh();
      subject.free();
      const what = `${c.label} on a freed ${name}`;
      let result: unknown;
      try {
        result = c.call(subject);
      } catch (error) {
        expectTriturusError(error, what);
        return;
      }
      expect.fail(`${what} succeeded and returned ${describeValue(result)}`);
    }),
    {
      examples: calls.map((c) => [{ ...c, [fc.toStringMethod]: () => c.label } as unknown as FreedCall<S>]),
      numRuns: calls.length, // the examples count: each method once
    },
  );
}

describe('calls on a freed object throw a TriturusError', () => {
  it('Account', () => {
    expectUnusableAfterFree('Account', freshBob, [
      { label: 'sign', call: (a) => a.sign('m') },
      { label: 'generateOneTimeKeys', call: (a) => a.generateOneTimeKeys(1) },
      { label: 'generateFallbackKey', call: (a) => a.generateFallbackKey() },
      {
        label: 'createOutboundSession',
        call: (a) => a.createOutboundSession(SessionConfig.version1(), alice.curve25519Key, aliceOneTimeKey),
      },
      { label: 'createInboundSession', call: (a) => a.createInboundSession(alice.curve25519Key, pendingPreKey) },
      { label: 'pickle', call: (a) => a.pickle(PICKLE_KEY) },
      { label: 'accountToLibolmPickle', call: (a) => accountToLibolmPickle(a, LIBOLM_KEY) },
    ]);
  });

  it('Session', () => {
    expectUnusableAfterFree('Session', freshBobSession, [
      { label: 'encrypt', call: (s) => s.encrypt('x') },
      { label: 'decrypt', call: (s) => s.decrypt(skippedMessage) },
      { label: 'decryptText', call: (s) => s.decryptText(nextMessage) },
      { label: 'pickle', call: (s) => s.pickle(PICKLE_KEY) },
      { label: 'sessionToLibolmPickle', call: (s) => sessionToLibolmPickle(s, LIBOLM_KEY) },
    ]);
  });

  it('GroupSession', () => {
    expectUnusableAfterFree('GroupSession', freshGroup, [
      { label: 'encrypt', call: (g) => g.encrypt('x') },
      { label: 'advanceTo', call: (g) => g.advanceTo(GROUP_NEXT_INDEX + 5) },
      { label: 'sessionKey', call: (g) => g.sessionKey() },
      { label: 'pickle', call: (g) => g.pickle(PICKLE_KEY) },
      { label: 'groupSessionToLibolmPickle', call: (g) => groupSessionToLibolmPickle(g, LIBOLM_KEY) },
    ]);
  });

  it('InboundGroupSession', () => {
    expectUnusableAfterFree('InboundGroupSession', freshInbound, [
      { label: 'decrypt', call: (s) => s.decrypt(laterMegolm) },
      { label: 'decryptText', call: (s) => s.decryptText(earlyMegolm) },
      { label: 'advanceTo', call: (s) => s.advanceTo(1) },
      { label: 'exportAt', call: (s) => s.exportAt(1) },
      { label: 'exportAtFirstKnownIndex', call: (s) => s.exportAtFirstKnownIndex() },
      { label: 'connected', call: (s) => s.connected(freshInbound()) },
      { label: 'compare', call: (s) => s.compare(freshInbound()) },
      { label: 'merge', call: (s) => s.merge(freshInbound()) },
      { label: 'pickle', call: (s) => s.pickle(PICKLE_KEY) },
      { label: 'inboundGroupSessionToLibolmPickle', call: (s) => inboundGroupSessionToLibolmPickle(s, LIBOLM_KEY) },
    ]);
  });
});

// -------------------------------------------------------------------------------------------------
// Decoders on arbitrary input (those the Olm, Megolm and libolm suites do not already fuzz)

/** Runs a decoder: it returns a value, or throws a TriturusError. */
function decodeOrTriturus<T>(what: string, decode: () => T): T | undefined {
  try {
    return decode();
  } catch (error) {
    expectTriturusError(error, what);
    return undefined;
  }
}

/** Base64 text: arbitrary strings, and the base64 (padded or not) of bytes of any length, perhaps with one character changed. */
const base64ish = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 120 }),
  fc
    .tuple(fc.uint8Array({ maxLength: 100 }), fc.boolean(), fc.nat(), fc.string({ unit: 'binary', maxLength: 1 }))
    .map(([bytes, pad, at, ch]) => {
      let text = Buffer.from(bytes).toString('base64');
      if (!pad) text = text.replace(/=+$/, '');
      if (ch.length > 0 && text.length > 0)
        text = text.slice(0, at % text.length) + ch + text.slice((at % text.length) + 1);
      return text;
    }),
  fc.uint8Array({ minLength: 32, maxLength: 32 }).map(b64),
  fc.uint8Array({ minLength: 64, maxLength: 64 }).map(b64),
);

describe('decoders on arbitrary input return a value or throw a TriturusError', () => {
  it('Curve25519PublicKey, Ed25519PublicKey and Ed25519Signature from base64 and from bytes', () => {
    const decoders = [
      [Curve25519PublicKey, 32],
      [Ed25519PublicKey, 32],
      [Ed25519Signature, 64],
    ] as const;
    fc.assert(
      fc.property(base64ish, fc.uint8Array({ maxLength: 80 }), (text, bytes) => {
        for (const [Key, length] of decoders) {
          const fromText = decodeOrTriturus(`${Key.name}.fromBase64(${JSON.stringify(text)})`, () =>
            Key.fromBase64(text),
          );
          if (fromText !== undefined) {
            // What decodes is 32 (64) bytes whose canonical form decodes to the same bytes.
            expect(fromText.toBytes()).toHaveLength(length);
            expect(hex(Key.fromBase64(fromText.toBase64()).toBytes())).toBe(hex(fromText.toBytes()));
          }
          const fromBytes = decodeOrTriturus(`${Key.name}.fromBytes(${bytes.length} bytes)`, () =>
            Key.fromBytes(bytes),
          );
          expect(fromBytes !== undefined).toBe(bytes.length === length);
          if (fromBytes !== undefined) expect(hex(fromBytes.toBytes())).toBe(hex(bytes));
        }
      }),
      { numRuns: 400 },
    );
  });

  it('Message.fromBase64 and PreKeyMessage.fromBase64 on arbitrary strings and damaged messages', () => {
    const damaged = fc
      .tuple(fc.constantFrom(consumedMessage.toBase64(), firstPreKey.toBase64()), fc.nat(), fc.nat({ max: 20 }))
      .map(([text, at, cut]) => text.slice(0, at % text.length) + text.slice((at % text.length) + cut));
    fc.assert(
      fc.property(fc.oneof(base64ish, damaged), (text) => {
        decodeOrTriturus(`Message.fromBase64(${JSON.stringify(text)})`, () => Message.fromBase64(text));
        decodeOrTriturus(`PreKeyMessage.fromBase64(${JSON.stringify(text)})`, () => PreKeyMessage.fromBase64(text));
      }),
      { numRuns: 300 },
    );
  });

  it('roomKeyExportFromJson on arbitrary JSON values and on entries with a field replaced or removed', () => {
    const fields = Object.keys(roomKeyJson);
    const damagedEntry = fc
      .tuple(fc.constantFrom(...fields), fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }))
      .map(([field, value]) => {
        const copy: Record<string, unknown> = { ...roomKeyJson };
        if (value === undefined) delete copy[field];
        else copy[field] = value;
        return copy;
      });
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.anything({ maxDepth: 2 }), damagedEntry), (value) => {
        const decoded = decodeOrTriturus(`roomKeyExportFromJson(${describeValue(value)})`, () =>
          roomKeyExportFromJson(value),
        );
        if (decoded !== undefined) {
          // Only a complete entry decodes, and it writes back what was read.
          expect(decoded.sessionKey).toBeInstanceOf(ExportedSessionKey);
          const again = roomKeyExportToJson(decoded);
          for (const [k, v] of Object.entries(again)) expect((value as Record<string, unknown>)[k] ?? v).toEqual(v);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('sessionFromLibolmPickleDetailed on arbitrary strings and damaged pickles', () => {
    const damaged = fc
      .tuple(fc.constantFrom(...Object.values(libolmPickles)), fc.nat(), fc.constantFrom('A', 'B', '/', '='))
      .map(([text, at, ch]) => text.slice(0, at % text.length) + ch + text.slice((at % text.length) + 1));
    fc.assert(
      fc.property(
        fc.oneof(base64ish, damaged),
        fc.constantFrom<string | Uint8Array>(LIBOLM_KEY, PICKLE_KEY),
        (text, key) => {
          decodeOrTriturus('sessionFromLibolmPickleDetailed', () => sessionFromLibolmPickleDetailed(text, key));
        },
      ),
      { numRuns: 150 },
    );
  });

  // Not timed (the machines are shared): a decoder that hangs on huge input fails this test by its timeout.
  it('huge inputs are refused with a TriturusError (a hang fails by the test timeout)', {
    timeout: 120_000,
  }, async () => {
    const hugeTexts = [
      'A'.repeat(8 * HUGE),
      `${'A'.repeat(8 * HUGE - 1)}!`,
      '\u00e9'.repeat(4 * HUGE),
      `-----BEGIN MEGOLM SESSION DATA-----\n${'A'.repeat(4 * HUGE)}\n-----END MEGOLM SESSION DATA-----\n`,
    ];
    const hugeBytes = new Uint8Array(8 * HUGE).fill(3);
    for (const text of hugeTexts) {
      for (const [name, decode] of [
        ['Curve25519PublicKey.fromBase64', () => Curve25519PublicKey.fromBase64(text)],
        ['Ed25519Signature.fromBase64', () => Ed25519Signature.fromBase64(text)],
        ['Message.fromBase64', () => Message.fromBase64(text)],
        ['PreKeyMessage.fromBase64', () => PreKeyMessage.fromBase64(text)],
        ['olmMessageFromParts', () => olmMessageFromParts(0, text)],
        ['MegolmMessage.fromBase64', () => MegolmMessage.fromBase64(text)],
        ['SessionKey.fromBase64', () => SessionKey.fromBase64(text)],
        ['ExportedSessionKey.fromBase64', () => ExportedSessionKey.fromBase64(text)],
        ['Account.fromPickle', () => Account.fromPickle(text, PICKLE_KEY)],
        ['Session.fromPickle', () => Session.fromPickle(text, PICKLE_KEY)],
        ['GroupSession.fromPickle', () => GroupSession.fromPickle(text, PICKLE_KEY)],
        ['InboundGroupSession.fromPickle', () => InboundGroupSession.fromPickle(text, PICKLE_KEY)],
        ['accountFromLibolmPickle', () => accountFromLibolmPickle(text, LIBOLM_KEY)],
        ['sessionFromLibolmPickle', () => sessionFromLibolmPickle(text, LIBOLM_KEY)],
        ['groupSessionFromLibolmPickle', () => groupSessionFromLibolmPickle(text, LIBOLM_KEY)],
        ['inboundGroupSessionFromLibolmPickle', () => inboundGroupSessionFromLibolmPickle(text, LIBOLM_KEY)],
      ] as [string, () => unknown][]) {
        expect(decodeOrTriturus(`${name}(${text.length} characters)`, decode)).toBeUndefined();
      }
      const outcome = await settle('decryptKeyExport', () => decryptKeyExport(text, PASSPHRASE), true);
      expect(outcome.ok).toBe(false);
      if (!outcome.ok) expectTriturusError(outcome.error, `decryptKeyExport(${text.length} characters)`);
    }
    for (const [name, decode] of [
      ['Message.fromBytes', () => Message.fromBytes(hugeBytes)],
      ['PreKeyMessage.fromBytes', () => PreKeyMessage.fromBytes(hugeBytes)],
      ['MegolmMessage.fromBytes', () => MegolmMessage.fromBytes(hugeBytes)],
      ['SessionKey.fromBytes', () => SessionKey.fromBytes(hugeBytes)],
      ['ExportedSessionKey.fromBytes', () => ExportedSessionKey.fromBytes(hugeBytes)],
    ] as [string, () => unknown][]) {
      expect(decodeOrTriturus(`${name}(${hugeBytes.length} bytes)`, decode)).toBeUndefined();
    }
  });
});

// -------------------------------------------------------------------------------------------------

describe('errors from failed calls show no secret', () => {
  it('the leak check finds a planted secret in the message, the details and the cause (control)', () => {
    const secret = bobSession.toParts().init.rootKey;
    const planted = [
      new TriturusError('INVALID_ARGUMENT', `key ${b64(secret)}`),
      new TriturusError('INVALID_ARGUMENT', 'x', { field: hex(secret) }),
      new TriturusError('INVALID_ARGUMENT', 'x', {}, { cause: new Error(Buffer.from(secret).toString('base64url')) }),
      new TriturusError('INVALID_ARGUMENT', `passphrase ${PASSPHRASE}`),
      new TriturusError('INVALID_ARGUMENT', 'x', {}, { cause: { bytes: secret } }),
    ];
    for (const error of planted) expect(() => expectNoSecrets(error, 'control')).toThrow(/secret/);
    expect(() =>
      expectTriturusError(new TriturusError('INVALID_ARGUMENT', 'x', { actual: 10n as never }), 'control'),
    ).toThrow(/details/);
    expect(() => expectTriturusError(new TypeError('x'), 'control')).toThrow(/not a TriturusError/);
    expectNoSecrets(new TriturusError('INVALID_ARGUMENT', 'nothing to see'), 'control');
  });

  it('wrong keys, wrong passphrases, damaged pickles and tampered messages', async () => {
    const wrongKey = PICKLE_KEY.slice();
    wrongKey[0]! ^= 1;
    const tampered = (bytes: Uint8Array, at: number): Uint8Array => {
      const copy = bytes.slice();
      copy[at < 0 ? copy.length + at : at]! ^= 1;
      return copy;
    };
    const bobBody = openPickleBody(pickles.bob, PICKLE_KEY).body;
    const calls: [string, () => unknown][] = [
      ['Account.fromPickle with a wrong key', () => Account.fromPickle(pickles.bob, wrongKey)],
      ['Account.fromPickle of a session pickle', () => Account.fromPickle(pickles.bobSession, PICKLE_KEY)],
      [
        'Account.fromPickle of a cut body',
        () => Account.fromPickle(sealPickleBody(1, bobBody.subarray(0, 90), PICKLE_KEY), PICKLE_KEY),
      ],
      [
        'InboundGroupSession.fromPickle with a wrong key',
        () => InboundGroupSession.fromPickle(pickles.inbound, wrongKey),
      ],
      ['accountFromLibolmPickle with a wrong key', () => accountFromLibolmPickle(libolmPickles.account, 'wrong key')],
      ['sessionFromLibolmPickle of an account', () => sessionFromLibolmPickle(libolmPickles.account, LIBOLM_KEY)],
      [
        'groupSessionFromLibolmPickle of an inbound session',
        () => groupSessionFromLibolmPickle(libolmPickles.inbound, LIBOLM_KEY),
      ],
      [
        'inboundGroupSessionFromLibolmPickle of a group session',
        () => inboundGroupSessionFromLibolmPickle(libolmPickles.group, LIBOLM_KEY),
      ],
      ['SessionKey.fromBase64 of an exported key', () => SessionKey.fromBase64(exportedKey.toBase64())],
      ['ExportedSessionKey.fromBase64 of a session key', () => ExportedSessionKey.fromBase64(groupKey0.toBase64())],
      ['SessionKey.fromBytes with a bad signature', () => SessionKey.fromBytes(tampered(groupKey0.toBytes(), -1))],
      [
        'ExportedSessionKey.fromBytes, wrong version',
        () => ExportedSessionKey.fromBytes(tampered(exportedKey.toBytes(), 0)),
      ],
      [
        'roomKeyExportFromJson, cut session_key',
        () => roomKeyExportFromJson({ ...roomKeyJson, session_key: exportedKey.toBase64().slice(0, -3) }),
      ],
      [
        'roomKeyExportFromJson, other session_id',
        () => roomKeyExportFromJson({ ...roomKeyJson, session_id: zooExportedKey.sessionId }),
      ],
      [
        'roomKeyExportToJson, other sessionId',
        () => roomKeyExportToJson({ ...roomKey, sessionId: zooExportedKey.sessionId }),
      ],
      [
        'Session#decrypt of a tampered message',
        () => freshBobSession().decrypt(Message.fromBytes(tampered(nextMessage.toBytes(), -1))),
      ],
      ['Session#decrypt of a replay', () => freshBobSession().decrypt(consumedMessage)],
      [
        'Session#decryptText of bytes',
        () => {
          const s = Session.fromPickle(pickles.aliceSession, PICKLE_KEY);
          freshBobSession().decryptText(s.encrypt(Uint8Array.of(0xff, 0xfe)));
        },
      ],
      [
        'InboundGroupSession#decrypt of a tampered message',
        () => freshInbound().decrypt(MegolmMessage.fromBytes(tampered(laterMegolm.toBytes(), 20))),
      ],
      ['InboundGroupSession#decrypt of another session', () => freshInbound().decrypt(zooMegolm)],
      [
        'InboundGroupSession#merge of another session',
        () => freshInbound().merge(InboundGroupSession.fromPickle(zooInboundPickle, PICKLE_KEY)),
      ],
      [
        'Account#createInboundSession with a used one-time key',
        () => freshBob().createInboundSession(alice.curve25519Key, firstPreKey),
      ],
      [
        'Account#createInboundSession from the wrong sender',
        () => freshBob().createInboundSession(bob.curve25519Key, pendingPreKey),
      ],
    ];
    for (const [what, call] of calls) {
      const outcome = await settle(what, call, false);
      expect(outcome.ok, `${what} succeeded`).toBe(false);
      if (!outcome.ok) expectTriturusError(outcome.error, what);
    }
    for (const [what, text, passphrase] of [
      ['decryptKeyExport with a wrong passphrase', exportFile, `${PASSPHRASE}!`],
      [
        'decryptKeyExport of a damaged file',
        exportFile.replace(/\n(.)/, (_, c: string) => `\n${c === 'A' ? 'B' : 'A'}`),
        PASSPHRASE,
      ],
    ] as const) {
      const outcome = await settle(what, () => decryptKeyExport(text, passphrase), true);
      expect(outcome.ok, `${what} succeeded`).toBe(false);
      if (!outcome.ok) expectTriturusError(outcome.error, what);
    }
  });
});
