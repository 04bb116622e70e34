/**
 * Hostile input to every public KeyStore method (fast-check), on the memory store, SQLite (a real file in a temp
 * dir) and PostgreSQL (the test cluster of postgres-global-setup.ts). The project's rules, checked run by run:
 * - bad input makes a method reject with a TriturusError; malformed input is a StoreError STORE_INVALID, never a
 *   TypeError/RangeError, never a driver error (not even wrapped as STORE_IO), never a synchronous throw, never a
 *   hang;
 * - a rejected commit writes nothing at all: a snapshot, taken through the store's own getters, of every record
 *   the input could name (and of everything seeded before) is the same before and after;
 * - the same input behaves the same on every backend: accepted everywhere, or refused with the same code;
 * - lookups match ids exactly: `%`, `_`, quotes, SQL text, case, trailing spaces, Unicode normalisation never
 *   widen a getter or a listing to another room, peer or key (nor a lease holder to another holder);
 * - any valid batch reads back exactly as a model of the documented semantics (types.ts, common.ts) says, on
 *   every backend; listings come back in the same order from every backend (common.ts promises it), -0 reads
 *   back the same everywhere, and a long id is accepted everywhere or refused everywhere. Valid ids and data are
 *   all of Unicode except NUL and lone surrogates, which common.ts documents as refused by every backend (so
 *   they are hostile input here).
 * - a list with a hole (a sparse array) is malformed input like any other.
 *
 * Long strings are described in counterexamples as `huge(length, chars, seed)` and built in the run.
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { StoreError, TriturusError } from '../../src/errors.js';
import { joinKey, MAX_LEASE_MS, STORE_SCHEMA_VERSION } from '../../src/store/common.js';
import { MemoryDatabase } from '../../src/store/memory.js';
import type {
  InboundGroupSessionEntry,
  KeyStore,
  LeaseToken,
  MlsGroupEntry,
  OlmSessionEntry,
  OutboundGroupSessionEntry,
  ReplayEntry,
  StoreChanges,
  StoredRecord,
} from '../../src/store/types.js';
import { settleRaw } from '../support/settle.js';
import { freshScope, type StoreHarness } from './conformance.js';
import { postgresHarness } from './postgres-harness.js';
import { sqliteHarness } from './sqlite-harness.js';

const url = inject('postgresUrl');

/** How long a store call may take before it counts as a hang (the slowest legitimate call takes a few ms). */
const HANG_MS = 5_000;
const MAX_SCHEMA = 2 ** 31 - 1;
const MAX_INDEX = 2 ** 32 - 1;
const MAX_TIME = Number.MAX_SAFE_INTEGER;

// -------------------------------------------------------------------------------------------------
// Backends

type BackendName = 'memory' | 'sqlite' | 'postgres';
interface Backend {
  readonly name: BackendName;
  readonly harness: StoreHarness;
}

const memoryDatabase = new MemoryDatabase();
const sqlite = sqliteHarness();
const pool = new pg.Pool({ connectionString: url, max: 4 });
pool.on('error', () => {});

const BACKENDS: readonly Backend[] = [
  { name: 'memory', harness: { backend: 'memory', open: async (scope) => memoryDatabase.open(scope) } },
  { name: 'sqlite', harness: sqlite },
  { name: 'postgres', harness: postgresHarness(url, pool) },
];

/** numRuns per property and backend: PostgreSQL round trips are the slow ones. */
const RUNS = {
  mustReject: { memory: 400, sqlite: 250, postgres: 80 },
  sparse: { memory: 40, sqlite: 30, postgres: 15 },
  getters: { memory: 500, sqlite: 400, postgres: 150 },
  badLease: { memory: 200, sqlite: 150, postgres: 50 },
  holders: { memory: 40, sqlite: 30, postgres: 20 },
} as const satisfies Record<string, Record<BackendName, number>>;
const LOCKSTEP_RUNS = { arbitrary: 100, roundTrip: 50, order: 60, hugeIds: 12 } as const;

const openStores: KeyStore[] = [];
async function openStore(backend: Backend, scope: string): Promise<KeyStore> {
  const store = await backend.harness.open(scope);
  openStores.push(store);
  return store;
}
async function closeStore(store: KeyStore): Promise<void> {
  const i = openStores.indexOf(store);
  if (i >= 0) openStores.splice(i, 1);
  await store.close();
}

afterAll(async () => {
  for (const store of openStores.splice(0)) await store.close().catch(() => {});
  await pool.end();
  sqlite.dispose();
});

// -------------------------------------------------------------------------------------------------
// Calling store methods with values their types do not allow, and settling every call

type Method = (...args: unknown[]) => Promise<unknown>;
interface LooseStore {
  commit(changes: unknown, options?: unknown): Promise<void>;
  tryAcquireLease(holder: unknown, durationMs: unknown): Promise<LeaseToken | undefined>;
  releaseLease(token: unknown): Promise<void>;
}
const loose = (store: KeyStore): LooseStore => store as unknown as LooseStore;
const method = (store: KeyStore, name: string): Method => {
  const fn = (store as unknown as Record<string, Method>)[name];
  if (typeof fn !== 'function') throw new Error(`no method ${name}`);
  return fn.bind(store);
};

type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: TriturusError };

function describeError(error: unknown): string {
  try {
    if (error instanceof Error) {
      const code = (error as { code?: unknown }).code;
      return `${error.constructor.name}${typeof code === 'string' ? ` ${code}` : ''}: ${error.message}`;
    }
    return `a thrown ${typeof error} (${String(error)})`;
  } catch {
    return `a thrown ${typeof error}`;
  }
}

async function withinHangLimit<T>(what: string, promise: Promise<T>, ms = HANG_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, hung]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs one store call: its value, or its TriturusError. Anything else (or a hang) fails the run. */
async function settle<T>(what: string, start: () => Promise<T>): Promise<Outcome<T>> {
  const outcome = await settleRaw(what, start, HANG_MS, describeError);
  if ('error' in outcome) {
    const error = outcome.error;
    if (!(error instanceof TriturusError)) {
      throw new Error(`${what} failed with ${describeError(error)}, not a TriturusError`, { cause: error });
    }
    if (typeof error.code !== 'string' || !/^[A-Z][A-Z0-9_]*$/.test(error.code)) {
      throw new Error(`${what}: TriturusError with code ${String(error.code)}`);
    }
    return { ok: false, error };
  }
  return { ok: true, value: outcome.value };
}

function outcomeLabel(outcome: Outcome<unknown>): string {
  return outcome.ok ? 'accepted' : `${outcome.error.constructor.name} ${outcome.error.code}`;
}

/** The call must have been refused as malformed input: StoreError STORE_INVALID. */
function expectInvalid(outcome: Outcome<unknown>, what: string): void {
  if (outcome.ok) throw new Error(`${what} was accepted, expected StoreError STORE_INVALID`);
  const e = outcome.error;
  if (!(e instanceof StoreError) || e.code !== 'STORE_INVALID') {
    throw new Error(`${what} was refused with ${describeError(e)}, expected StoreError STORE_INVALID`, { cause: e });
  }
}

// -------------------------------------------------------------------------------------------------
// The documented input rules (common.ts), mirrored to compute what a call must do

const LONE_SURROGATE = /\p{Cs}/u;
const isId = (v: unknown): v is string =>
  typeof v === 'string' && v.length > 0 && !v.includes('\u0000') && !LONE_SURROGATE.test(v);
const isIndex = (v: unknown): v is number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= MAX_INDEX;

// -------------------------------------------------------------------------------------------------
// Long strings, described in counterexamples and built in the run

type CharClass = 'ascii' | 'bmp' | 'astral';
class Huge {
  constructor(
    readonly length: number,
    readonly chars: CharClass,
    readonly seed: number,
    readonly tail = '',
  ) {}

  /** `length` pseudo-random code points (incompressible, no NUL, no surrogate halves), then `tail`. */
  build(): string {
    let x = (this.seed ^ 0x9e3779b9) | 1;
    const out: string[] = [];
    for (let i = 0; i < this.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      const r = x >>> 0;
      out.push(
        this.chars === 'ascii'
          ? String.fromCharCode(0x21 + (r % 94))
          : this.chars === 'bmp'
            ? String.fromCharCode(0x100 + (r % (0xd800 - 0x100)))
            : String.fromCodePoint(0x10000 + (r % 0x100000)),
      );
    }
    return out.join('') + this.tail;
  }

  [fc.toStringMethod](): string {
    const tail = this.tail === '' ? '' : ` + ${JSON.stringify(this.tail)}`;
    return `huge(${this.length} ${this.chars} chars, seed ${this.seed})${tail}`;
  }
}

/** A field removed from its object (rather than set to a value). */
class Dropped {
  [fc.toStringMethod](): string {
    return '<dropped>';
  }
}
const DROPPED = new Dropped();

const isPlainObject = (v: object): boolean => {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null; // fc.record also makes null-prototype objects
};

/** Huge descriptors, one level deep (a bad value, or a record holding one), turned into strings. */
function materialize(value: unknown): unknown {
  if (value instanceof Huge) return value.build();
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && isPlainObject(value)) {
    const o = value as Record<string, unknown>;
    if (Object.values(o).some((v) => v instanceof Huge)) {
      return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v instanceof Huge ? v.build() : v]));
    }
  }
  return value;
}

// -------------------------------------------------------------------------------------------------
// Arbitraries: valid values

/** Characters that break naive SQL, LIKE patterns, collations, UTF-8/UTF-16 conversions and sort orders. */
const SPECIAL_CHARS = [
  '%',
  '_',
  '\\',
  "'",
  '"',
  ';',
  '-',
  '*',
  '?',
  '[',
  ']',
  '$',
  ' ',
  '\t',
  '\n',
  '\r',
  '\u0001',
  '\u001f',
  '\u007f',
  '\u0080',
  '\u00e9',
  'e\u0301',
  '\u00df',
  '\u0130',
  '\u200b',
  '\ufeff',
  '\ud7ff',
  '\ue000',
  '\ufffd',
  '\ufffe',
  '\uffff',
  '\u{10000}',
  '\u{1f511}',
  '\u{10ffff}',
];

const validChar = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...SPECIAL_CHARS) },
  { weight: 3, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 0xd7ff }).map((c) => String.fromCodePoint(c)) },
  { weight: 1, arbitrary: fc.integer({ min: 0xe000, max: 0xffff }).map((c) => String.fromCodePoint(c)) },
  { weight: 2, arbitrary: fc.integer({ min: 0x10000, max: 0x10ffff }).map((c) => String.fromCodePoint(c)) },
);

/** Ids that look like SQL, LIKE patterns, placeholders, or collide under case folding or normalisation. */
const HOSTILE_IDS = [
  "'); DROP TABLE triturus_values; --",
  '"; DROP TABLE triturus_inbound_group_sessions; --',
  "' OR '1'='1",
  "' OR 1=1 --",
  '%',
  '_',
  '%%',
  '%_%',
  '\\',
  '\\%',
  '*',
  '.*',
  '[a]',
  '$1',
  '?',
  ':name',
  'NULL',
  'null',
  'undefined',
  '__proto__',
  'constructor',
  ' ',
  '\u00e9',
  'e\u0301',
  '\u{1f511}',
];

const validId = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: validChar, minLength: 1, maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom(...HOSTILE_IDS) },
);
/** Data strings of the arbitrary-input properties, which pass batches on unbuilt (no Huge descriptors). */
const smallData = fc.string({ unit: validChar, maxLength: 40 });
const validData = fc.oneof(
  { weight: 10, arbitrary: smallData },
  {
    weight: 1,
    arbitrary: fc
      .record({
        length: fc.integer({ min: 1, max: 200_000 }),
        chars: fc.constantFrom<CharClass>('ascii', 'bmp', 'astral'),
        seed: fc.nat(),
      })
      .map(({ length, chars, seed }) => new Huge(length, chars, seed)),
  },
);

const schemaArb = fc.oneof(fc.constantFrom(0, 1, MAX_SCHEMA), fc.integer({ min: 0, max: MAX_SCHEMA }));
const timeArb = fc.oneof(fc.constantFrom(0, 1000, 1_700_000_000_000, MAX_TIME), fc.maxSafeNat());
const indexArb = fc.oneof(fc.constantFrom(0, 1, 7, MAX_INDEX), fc.integer({ min: 0, max: MAX_INDEX }));

// -------------------------------------------------------------------------------------------------
// The batch shape

type ObjectKind =
  | 'olmSessions'
  | 'removeOlmSessions'
  | 'inboundGroupSessions'
  | 'removeInboundGroupSessions'
  | 'outboundGroupSessions'
  | 'replays'
  | 'mlsGroups'
  | 'values';
type IdKind = 'removeOutboundGroupSessions' | 'removeMlsGroups';
type Kind = ObjectKind | IdKind;
const OBJECT_KINDS: readonly ObjectKind[] = [
  'olmSessions',
  'removeOlmSessions',
  'inboundGroupSessions',
  'removeInboundGroupSessions',
  'outboundGroupSessions',
  'replays',
  'mlsGroups',
  'values',
];
const ID_KINDS: readonly IdKind[] = ['removeOutboundGroupSessions', 'removeMlsGroups'];
const KINDS: readonly Kind[] = [...OBJECT_KINDS, ...ID_KINDS];

type FieldType = 'id' | 'data' | 'nullableData' | 'schema' | 'time' | 'index' | 'record';
const FIELDS: Record<ObjectKind, Readonly<Record<string, FieldType>>> = {
  olmSessions: { senderKey: 'id', sessionId: 'id', lastUsedAt: 'time', record: 'record' },
  removeOlmSessions: { senderKey: 'id', sessionId: 'id' },
  inboundGroupSessions: { roomId: 'id', sessionId: 'id', senderKey: 'id', record: 'record' },
  removeInboundGroupSessions: { roomId: 'id', sessionId: 'id' },
  outboundGroupSessions: { roomId: 'id', sessionId: 'id', record: 'record' },
  replays: { sessionId: 'id', messageIndex: 'index', eventId: 'id', originServerTs: 'time' },
  mlsGroups: { groupId: 'id', record: 'record' },
  values: { key: 'id', value: 'nullableData' },
};

/** Every name a batch, an entry, a record, options or a fence uses: arbitrary objects get these keys often. */
const FIELD_NAMES = [
  'account',
  ...KINDS,
  ...new Set(Object.values(FIELDS).flatMap((f) => Object.keys(f))),
  'schema',
  'data',
  'fence',
  'holder',
  'generation',
  'expiresAt',
];

type Batch = Record<string, unknown>;

const recordOf = (data: fc.Arbitrary<unknown>) => fc.record({ schema: schemaArb, data });

function entryArb(
  kind: ObjectKind,
  id: fc.Arbitrary<string>,
  data: fc.Arbitrary<unknown> = validData,
): fc.Arbitrary<Record<string, unknown>> {
  const rec = recordOf(data);
  switch (kind) {
    case 'olmSessions':
      return fc.record({ senderKey: id, sessionId: id, lastUsedAt: timeArb, record: rec });
    case 'removeOlmSessions':
      return fc.record({ senderKey: id, sessionId: id });
    case 'inboundGroupSessions':
      return fc.record({ roomId: id, sessionId: id, senderKey: id, record: rec });
    case 'removeInboundGroupSessions':
      return fc.record({ roomId: id, sessionId: id });
    case 'outboundGroupSessions':
      return fc.record({ roomId: id, sessionId: id, record: rec });
    case 'replays':
      return fc.record({ sessionId: id, messageIndex: indexArb, eventId: id, originServerTs: timeArb });
    case 'mlsGroups':
      return fc.record({ groupId: id, record: rec });
    case 'values':
      return fc.record({ key: id, value: fc.oneof({ weight: 4, arbitrary: data }, fc.constant(null)) });
  }
}

/** Unknown fields on entries and batches: the documented shape ignores them. */
const EXTRA_KEYS = ['extra', 'scope', 'id', 'constructor', 'toString', 'valueOf', 'records', 'Record', 'SenderKey'];
const extraFields = fc.dictionary(
  fc.constantFrom(...EXTRA_KEYS),
  fc.oneof(fc.string({ maxLength: 4 }), fc.integer(), fc.constant(null), fc.array(fc.nat(), { maxLength: 2 })),
  { maxKeys: 2 },
);

/**
 * A valid batch once built (buildBatch); every field optional; `extras` adds unknown fields to entries and to the
 * batch. With `data = smallData` it holds no Huge descriptors and is valid as it is.
 */
function batchArb(
  id: fc.Arbitrary<string>,
  maxLength = 3,
  extras = false,
  data: fc.Arbitrary<unknown> = validData,
): fc.Arbitrary<Batch> {
  const withExtras = (a: fc.Arbitrary<Record<string, unknown>>) =>
    extras ? fc.tuple(a, fc.option(extraFields, { freq: 3 })).map(([e, x]) => (x === null ? e : { ...x, ...e })) : a;
  const fields: Record<string, fc.Arbitrary<unknown>> = { account: recordOf(data) };
  for (const kind of OBJECT_KINDS) fields[kind] = fc.array(withExtras(entryArb(kind, id, data)), { maxLength });
  for (const kind of ID_KINDS) fields[kind] = fc.array(id, { maxLength });
  const batch = fc.record(fields, { requiredKeys: [] });
  return extras
    ? fc.tuple(batch, fc.option(extraFields, { freq: 4 })).map(([b, x]) => (x === null ? b : { ...x, ...b }))
    : batch;
}

/** Builds any Huge descriptors of a generated valid batch (data strings). */
function buildBatch(batch: Batch): StoreChanges {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(batch)) {
    if (k === 'account') out[k] = materialize(v);
    else if (Array.isArray(v))
      out[k] = v.map((e) => {
        const entry = materialize(e);
        if (typeof entry !== 'object' || entry === null) return entry;
        const o = { ...(entry as Record<string, unknown>) };
        if ('record' in o) o['record'] = materialize(o['record']);
        return o;
      });
    else out[k] = v;
  }
  return out as StoreChanges;
}

// -------------------------------------------------------------------------------------------------
// Arbitraries: known-bad values for each field type

const LONE_SURROGATES = ['\ud800', '\udbff', '\udc00', '\udfff', '\udc00\ud800', '\ud83d'];

/** A string with one NUL or lone surrogate inserted between two code points (never splitting a pair). */
const poisonedString = fc.oneof(
  fc
    .tuple(fc.string({ unit: validChar, maxLength: 10 }), fc.nat(), fc.constantFrom('\u0000', ...LONE_SURROGATES))
    .map(([s, at, bad]) => {
      const cps = [...s];
      cps.splice(at % (cps.length + 1), 0, bad);
      return cps.join('');
    }),
  fc
    .record({
      length: fc.integer({ min: 1, max: 300_000 }),
      chars: fc.constantFrom<CharClass>('ascii', 'bmp', 'astral'),
      seed: fc.nat(),
      tail: fc.constantFrom('\u0000', ...LONE_SURROGATES),
    })
    .map(({ length, chars, seed, tail }) => new Huge(length, chars, seed, tail)),
);

const poolIdForBad = fc.constantFrom('a', '%', "'); DROP TABLE triturus_values; --");
const nonString = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.bigInt(),
  poolIdForBad.map((s) => [s]), // an array where a string is expected
  fc.array(fc.string({ maxLength: 3 }), { maxLength: 2 }),
  fc.dictionary(fc.string({ maxLength: 3 }), fc.string({ maxLength: 3 }), { maxKeys: 2 }),
);

function badNumberArb(max: number): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.integer({ min: -(2 ** 31), max: -1 }),
    fc.double({ noInteger: true, noNaN: true, noDefaultInfinity: true }),
    fc.constantFrom(
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      max + 1,
      2 ** 53,
      2 ** 64,
      Number.MAX_VALUE,
      Number.MIN_VALUE,
      -Number.MIN_VALUE,
      Number.EPSILON,
      0.5,
      -1,
      Number.MIN_SAFE_INTEGER,
    ),
    fc.constantFrom('1', '0', '', '1e3', '0x10'),
    fc.constantFrom(null, undefined, true, false, 1n, [1], {}, { valueOf: 1 }),
  );
}

const maxOf = { schema: MAX_SCHEMA, time: MAX_TIME, index: MAX_INDEX } as const;

function badRecordArb(): fc.Arbitrary<unknown> {
  const valid = fc.record({ schema: schemaArb, data: fc.string({ maxLength: 8 }) });
  return fc.oneof(
    fc.constantFrom(null, undefined, 'record', '', 1, 0, true, 1n),
    valid.map((r) => [r.schema, r.data]),
    valid.map((r) => [r]),
    fc
      .tuple(valid, fc.oneof(badNumberArb(MAX_SCHEMA), fc.constant(DROPPED)))
      .map(([r, schema]) => withField(r, 'schema', schema)),
    fc
      .tuple(valid, fc.oneof(poisonedString, nonString, fc.constant(DROPPED)))
      .map(([r, data]) => withField(r, 'data', data)),
  );
}

function badValueArb(type: FieldType): fc.Arbitrary<unknown> {
  switch (type) {
    case 'id':
      return fc.oneof(fc.constant(''), poisonedString, nonString, fc.constant(DROPPED));
    case 'data':
      return fc.oneof(poisonedString, nonString, fc.constant(DROPPED));
    case 'nullableData':
      return fc.oneof(
        poisonedString,
        nonString.filter((v) => v !== null),
        fc.constant(DROPPED),
      );
    case 'schema':
    case 'time':
    case 'index':
      return fc.oneof(badNumberArb(maxOf[type]), fc.constant(DROPPED));
    case 'record':
      return fc.oneof(badRecordArb(), fc.constant(DROPPED));
  }
}

/** A copy of `o` with `field` set to `value` (or removed), Huge descriptors kept for the run to build. */
function withField(o: Record<string, unknown>, field: string, value: unknown): Record<string, unknown> {
  const copy = { ...o };
  if (value instanceof Dropped) delete copy[field];
  else copy[field] = value;
  return copy;
}

// -------------------------------------------------------------------------------------------------
// Mutations of a valid batch that make it malformed

type BadEntry =
  | { readonly entry: Record<string, unknown>; readonly field: string; readonly value: unknown }
  | { readonly whole: unknown };
type Mutation =
  | { readonly where: 'changes'; readonly value: unknown }
  | { readonly where: 'field'; readonly field: Kind | 'account'; readonly value: unknown }
  | { readonly where: 'entry'; readonly kind: Kind; readonly at: number; readonly bad: BadEntry };

function badEntryArb(kind: Kind, id: fc.Arbitrary<string>): fc.Arbitrary<BadEntry> {
  if (kind === 'removeOutboundGroupSessions' || kind === 'removeMlsGroups') {
    return badValueArb('id').map((v) => ({ whole: v instanceof Dropped ? undefined : v }));
  }
  const fields = FIELDS[kind];
  const entry = entryArb(kind, id);
  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc
        .constantFrom(...Object.keys(fields))
        .chain((field) =>
          fc.record({ entry, field: fc.constant(field), value: badValueArb(fields[field] as FieldType) }),
        ),
    },
    {
      weight: 1,
      arbitrary: fc.oneof(
        fc.constantFrom(null, undefined, 'entry', 0, 1, true, 1n).map((whole) => ({ whole })),
        entry.map((e) => ({ whole: [e] })), // an array where an object is expected
        entry.map((e) => ({ whole: Object.values(e) })),
      ),
    },
  );
}

function mutationArb(id: fc.Arbitrary<string>, batch: fc.Arbitrary<Batch>): fc.Arbitrary<Mutation> {
  const kind = fc.constantFrom(...KINDS);
  const anEntry = fc.constantFrom(...OBJECT_KINDS).chain((k) => entryArb(k, id));
  return fc.oneof(
    // The batch itself is not an object.
    fc
      .oneof(
        fc.constantFrom(null, undefined, 'changes', '', 0, 1, true, false, 1n, [], Number.NaN),
        batch.map((b) => [b]),
        batch.map((b) => Object.entries(b)),
      )
      .map((value): Mutation => ({ where: 'changes', value })),
    // A list is not an array, or the account not a record.
    fc
      .tuple(
        kind,
        fc.oneof(
          anEntry, // an object where an array is expected
          anEntry.map((e) => ({ 0: e, length: 1 })), // array-like, not an array
          fc.constantFrom(null, 'abc', '', 0, 3, true, 1n, Number.NaN),
          id,
        ),
      )
      .map(([field, value]): Mutation => ({ where: 'field', field, value })),
    badRecordArb()
      .filter((value) => value !== undefined) // an omitted account is no change
      .map((value): Mutation => ({ where: 'field', field: 'account', value })),
    // One bad entry among valid ones, anywhere in one list.
    {
      weight: 6,
      arbitrary: kind.chain((k) =>
        fc.record({
          where: fc.constant('entry' as const),
          kind: fc.constant(k),
          at: fc.nat(),
          bad: badEntryArb(k, id),
        }),
      ),
    },
  );
}

function applyMutation(batch: StoreChanges, m: Mutation): unknown {
  switch (m.where) {
    case 'changes':
      return m.value;
    case 'field':
      return { ...batch, [m.field]: materialize(m.value) };
    case 'entry': {
      const bad = 'whole' in m.bad ? m.bad.whole : withField(m.bad.entry, m.bad.field, m.bad.value);
      const built = materialize(bad);
      const entry =
        typeof built === 'object' && built !== null && !Array.isArray(built) && 'record' in built
          ? { ...(built as Record<string, unknown>), record: materialize((built as Record<string, unknown>)['record']) }
          : built;
      const list = [...(((batch as Record<string, unknown>)[m.kind] as unknown[] | undefined) ?? [])];
      list.splice(m.at % (list.length + 1), 0, entry);
      return { ...batch, [m.kind]: list };
    }
  }
}

// -------------------------------------------------------------------------------------------------
// Snapshots through the store's own getters

/** The ids and replay keys an input could name: a rejected commit must leave all of them as they were. */
interface Probe {
  readonly ids: Set<string>;
  readonly replays: Map<string, readonly [string, number]>;
}
const newProbe = (): Probe => ({ ids: new Set(), replays: new Map() });

/** Fields whose string can be a lookup key of a write (inbound sessions are listed whole instead). */
const KEY_FIELDS = new Set(['senderKey', 'roomId', 'groupId', 'key', 'sessionId']);

/**
 * Every valid id a commit of `value` could write under: strings in key fields and strings directly in arrays
 * (removal lists), anywhere, inherited enumerable fields included; and every (sessionId, messageIndex) pair.
 */
function collect(value: unknown, probe: Probe, depth = 0): Probe {
  if (typeof value !== 'object' || value === null || depth > 12) return probe;
  if (Array.isArray(value)) {
    for (const v of value) {
      if (isId(v)) probe.ids.add(v);
      else collect(v, probe, depth + 1);
    }
    return probe;
  }
  const o = value as Record<string, unknown>;
  for (const k in o) {
    const v = o[k];
    if (KEY_FIELDS.has(k) && isId(v)) probe.ids.add(v);
    else collect(v, probe, depth + 1);
  }
  const sessionId = o['sessionId'];
  const messageIndex = o['messageIndex'];
  if (isId(sessionId) && isIndex(messageIndex)) {
    probe.replays.set(joinKey(sessionId, messageIndex), [sessionId, messageIndex]);
  }
  return probe;
}

function mergeProbes(...probes: Probe[]): Probe {
  const out = newProbe();
  for (const p of probes) {
    for (const id of p.ids) out.ids.add(id);
    for (const [k, v] of p.replays) out.replays.set(k, v);
  }
  return out;
}

interface Snapshot {
  readonly account: StoredRecord | undefined;
  readonly inbound: InboundGroupSessionEntry[];
  readonly olm: [string, OlmSessionEntry[]][];
  readonly outbound: [string, OutboundGroupSessionEntry][];
  readonly replays: [string, ReplayEntry][];
  readonly mls: [string, MlsGroupEntry][];
  readonly values: [string, string][];
  /** Round trips only: every room's listing, and every (room, session) load. */
  readonly inboundByRoom?: [string, InboundGroupSessionEntry[]][];
  readonly inboundByKey?: [string, InboundGroupSessionEntry][];
}

const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

async function snapshot(store: KeyStore, probe: Probe, full = false): Promise<Snapshot> {
  const ids = [...probe.ids].sort(byCodeUnits);
  const replayKeys = [...probe.replays.entries()].sort(([a], [b]) => byCodeUnits(a, b));
  const present = <T>(pairs: [string, T | undefined][]): [string, T][] =>
    pairs.filter((p): p is [string, T] => p[1] !== undefined);
  const take = async (): Promise<Snapshot> => {
    const [account, inbound, olm, outbound, replays, mls, values] = await Promise.all([
      store.loadAccount(),
      store.listInboundGroupSessions(),
      Promise.all(ids.map(async (id) => [id, await store.loadOlmSessions(id)] as [string, OlmSessionEntry[]])),
      Promise.all(
        ids.map(
          async (id) =>
            [id, await store.loadOutboundGroupSession(id)] as [string, OutboundGroupSessionEntry | undefined],
        ),
      ),
      Promise.all(
        replayKeys.map(async ([k, [s, i]]) => [k, await store.loadReplay(s, i)] as [string, ReplayEntry | undefined]),
      ),
      Promise.all(ids.map(async (id) => [id, await store.loadMlsGroup(id)] as [string, MlsGroupEntry | undefined])),
      Promise.all(ids.map(async (id) => [id, await store.loadValue(id)] as [string, string | undefined])),
    ]);
    const snap: Snapshot = {
      account,
      inbound,
      olm: olm.filter(([, list]) => list.length > 0),
      outbound: present(outbound),
      replays: present(replays),
      mls: present(mls),
      values: present(values),
    };
    if (!full) return snap;
    const rooms = await Promise.all(
      ids.map(async (id) => [id, await store.listInboundGroupSessions(id)] as [string, InboundGroupSessionEntry[]]),
    );
    const pairs = ids.flatMap((r) => ids.map((s) => [r, s] as const));
    const byKey = await Promise.all(
      pairs.map(
        async ([r, s]) =>
          [joinKey(r, s), await store.loadInboundGroupSession(r, s)] as [string, InboundGroupSessionEntry | undefined],
      ),
    );
    return { ...snap, inboundByRoom: rooms.filter(([, list]) => list.length > 0), inboundByKey: present(byKey) };
  };
  return withinHangLimit(`snapshot of the ${store.backend} store`, take(), HANG_MS * 6);
}

/** Set semantics: lists sorted by a fixed total order, so snapshots compare regardless of list order. */
const canonicalOrder = <T>(list: readonly T[]): T[] =>
  [...list].sort((a, b) => byCodeUnits(JSON.stringify(a), JSON.stringify(b)));
function canonical(s: Snapshot): Snapshot {
  return {
    ...s,
    inbound: canonicalOrder(s.inbound),
    olm: s.olm.map(([k, list]) => [k, canonicalOrder(list)]),
    ...(s.inboundByRoom === undefined
      ? {}
      : {
          inboundByRoom: s.inboundByRoom.map(
            ([k, list]) => [k, canonicalOrder(list)] as [string, InboundGroupSessionEntry[]],
          ),
        }),
  };
}

/** Ids with everything outside printable ASCII as \\u{...}: U+E000 or U+200B are invisible in a terminal. */
const escapeId = (id: string): string =>
  id.replace(/[^\x21-\x7e]/gu, (c) => `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`);

/** The lists of two snapshots that hold the same entries in a different order, shown by escaped ids. */
function orderDifferences(a: Snapshot, b: Snapshot): string[] {
  const out: string[] = [];
  const show = (list: readonly object[]): string =>
    list
      .map((e) => {
        const o = e as { roomId?: string; sessionId: string; lastUsedAt?: number };
        const room = o.roomId === undefined ? '' : `${escapeId(o.roomId)}/`;
        const time = o.lastUsedAt === undefined ? '' : ` @${o.lastUsedAt}`;
        return `${room}${escapeId(o.sessionId)}${time}`;
      })
      .join(', ');
  const compare = (what: string, x: readonly object[], y: readonly object[] | undefined): void => {
    if (y === undefined || isDeepStrictEqual(x, y)) return;
    if (isDeepStrictEqual(canonicalOrder(x), canonicalOrder(y))) out.push(`${what}: [${show(x)}] vs [${show(y)}]`);
  };
  compare('listInboundGroupSessions()', a.inbound, b.inbound);
  for (const [key, list] of a.olm)
    compare(`loadOlmSessions(${escapeId(key)})`, list, b.olm.find(([k]) => k === key)?.[1]);
  for (const [room, list] of a.inboundByRoom ?? []) {
    compare(`listInboundGroupSessions(${escapeId(room)})`, list, b.inboundByRoom?.find(([k]) => k === room)?.[1]);
  }
  return out;
}

// -------------------------------------------------------------------------------------------------
// A model of the documented batch semantics (types.ts StoreChanges, common.ts NormalizedChanges)

class Model {
  account: StoredRecord | undefined;
  readonly olm = new Map<string, Map<string, OlmSessionEntry>>();
  readonly inbound = new Map<string, Map<string, InboundGroupSessionEntry>>();
  readonly outbound = new Map<string, OutboundGroupSessionEntry>();
  readonly replays = new Map<string, ReplayEntry>();
  readonly mls = new Map<string, MlsGroupEntry>();
  readonly values = new Map<string, string>();

  /** Applies a valid batch: removals before puts within a kind, the last put of a key wins, replays insert-only. */
  apply(c: StoreChanges): void {
    const rec = (r: StoredRecord): StoredRecord => ({ schema: r.schema, data: r.data });
    if (c.account !== undefined) this.account = rec(c.account);
    for (const k of c.removeOlmSessions ?? []) this.olm.get(k.senderKey)?.delete(k.sessionId);
    for (const s of c.olmSessions ?? []) {
      const peer = this.olm.get(s.senderKey) ?? new Map<string, OlmSessionEntry>();
      this.olm.set(s.senderKey, peer);
      peer.set(s.sessionId, {
        senderKey: s.senderKey,
        sessionId: s.sessionId,
        lastUsedAt: s.lastUsedAt,
        record: rec(s.record),
      });
    }
    for (const k of c.removeInboundGroupSessions ?? []) this.inbound.get(k.roomId)?.delete(k.sessionId);
    for (const s of c.inboundGroupSessions ?? []) {
      const room = this.inbound.get(s.roomId) ?? new Map<string, InboundGroupSessionEntry>();
      this.inbound.set(s.roomId, room);
      room.set(s.sessionId, {
        roomId: s.roomId,
        sessionId: s.sessionId,
        senderKey: s.senderKey,
        record: rec(s.record),
      });
    }
    for (const roomId of c.removeOutboundGroupSessions ?? []) this.outbound.delete(roomId);
    for (const s of c.outboundGroupSessions ?? []) {
      this.outbound.set(s.roomId, { roomId: s.roomId, sessionId: s.sessionId, record: rec(s.record) });
    }
    for (const r of c.replays ?? []) {
      const key = joinKey(r.sessionId, r.messageIndex);
      if (!this.replays.has(key)) {
        this.replays.set(key, {
          sessionId: r.sessionId,
          messageIndex: r.messageIndex,
          eventId: r.eventId,
          originServerTs: r.originServerTs,
        });
      }
    }
    for (const groupId of c.removeMlsGroups ?? []) this.mls.delete(groupId);
    for (const g of c.mlsGroups ?? []) this.mls.set(g.groupId, { groupId: g.groupId, record: rec(g.record) });
    for (const v of c.values ?? []) {
      if (v.value === null) this.values.delete(v.key);
      else this.values.set(v.key, v.value);
    }
  }

  olmSessions(senderKey: string): OlmSessionEntry[] {
    return canonicalOrder([...(this.olm.get(senderKey)?.values() ?? [])]);
  }

  inboundSessions(roomId?: string): InboundGroupSessionEntry[] {
    const rooms = roomId === undefined ? [...this.inbound.values()] : [this.inbound.get(roomId) ?? new Map()];
    return canonicalOrder(rooms.flatMap((room) => [...room.values()]));
  }

  /** The snapshot a correct store gives for `probe` (canonical order). */
  snapshot(probe: Probe, full = false): Snapshot {
    const ids = [...probe.ids].sort(byCodeUnits);
    const replayKeys = [...probe.replays.entries()].sort(([a], [b]) => byCodeUnits(a, b));
    const present = <T>(pairs: [string, T | undefined][]): [string, T][] =>
      pairs.filter((p): p is [string, T] => p[1] !== undefined);
    const snap: Snapshot = {
      account: this.account,
      inbound: this.inboundSessions(),
      olm: ids.map((id) => [id, this.olmSessions(id)] as [string, OlmSessionEntry[]]).filter(([, l]) => l.length > 0),
      outbound: present(ids.map((id) => [id, this.outbound.get(id)])),
      replays: present(replayKeys.map(([k, [s, i]]) => [k, this.replays.get(joinKey(s, i))])),
      mls: present(ids.map((id) => [id, this.mls.get(id)])),
      values: present(ids.map((id) => [id, this.values.get(id)])),
    };
    if (!full) return snap;
    return {
      ...snap,
      inboundByRoom: ids
        .map((id) => [id, this.inboundSessions(id)] as [string, InboundGroupSessionEntry[]])
        .filter(([, l]) => l.length > 0),
      inboundByKey: present(
        ids.flatMap((r) =>
          ids.map(
            (s) => [joinKey(r, s), this.inbound.get(r)?.get(s)] as [string, InboundGroupSessionEntry | undefined],
          ),
        ),
      ),
    };
  }
}

// -------------------------------------------------------------------------------------------------
// The seed every hostile property starts from: ids the mutated batches reuse, so a partial write shows

const ID_POOL = ['a', 'b', '!room:example.org', '%', '_', "'); DROP TABLE triturus_values; --", '\u{1f511}', 'e\u0301'];
const poolId = fc.constantFrom(...ID_POOL);
const mutationId = fc.oneof({ weight: 3, arbitrary: poolId }, { weight: 1, arbitrary: validId });

function seedBatch(tag: string): StoreChanges {
  const rec = (what: string) => ({ schema: 1, data: `${tag}:${what}` });
  return {
    account: rec('account'),
    olmSessions: ID_POOL.flatMap((k) =>
      ID_POOL.slice(0, 3).map((s, i) => ({
        senderKey: k,
        sessionId: s,
        lastUsedAt: 1000 * i,
        record: rec(`olm ${k} ${s}`),
      })),
    ),
    inboundGroupSessions: ID_POOL.flatMap((r) =>
      ID_POOL.slice(0, 3).map((s) => ({ roomId: r, sessionId: s, senderKey: 'a', record: rec(`in ${r} ${s}`) })),
    ),
    outboundGroupSessions: ID_POOL.map((r) => ({ roomId: r, sessionId: 'a', record: rec(`out ${r}`) })),
    replays: ID_POOL.flatMap((s) =>
      [0, 1, 7, MAX_INDEX].map((i) => ({ sessionId: s, messageIndex: i, eventId: `$${tag}`, originServerTs: 1 })),
    ),
    mlsGroups: ID_POOL.map((g) => ({ groupId: g, record: rec(`mls ${g}`) })),
    values: ID_POOL.map((k) => ({ key: k, value: `${tag}:value ${k}` })),
  };
}
const seedProbe = (tag: string): Probe => collect(seedBatch(tag), newProbe());

const SECTIONS = ['account', 'inbound', 'olm', 'outbound', 'replays', 'mls', 'values'] as const;

/** Which parts of a snapshot differ (both sides when short): empty when nothing changed. */
function snapshotChanges(before: Snapshot, after: Snapshot): string[] {
  return SECTIONS.filter((k) => !isDeepStrictEqual(before[k], after[k])).map((k) => {
    const [b, a] = [fc.stringify(before[k]), fc.stringify(after[k])];
    if (b.length + a.length <= 240) return `${k} ${b} became ${a}`;
    const size = (v: unknown): string => (Array.isArray(v) ? `${v.length} entries` : 'a record');
    return `${k} (${size(before[k])} before, ${size(after[k])} after, contents changed)`;
  });
}

/**
 * Commits `changes`, which must be refused as malformed (StoreError STORE_INVALID) and write nothing. Returns
 * what went wrong (undefined when all is well); a refusal that is not a TriturusError is still checked for writes.
 */
async function refusedAndUnchanged(
  store: KeyStore,
  changes: unknown,
  options: unknown,
  base: Probe,
): Promise<string | undefined> {
  const probe = collect(options, collect(changes, mergeProbes(base)));
  const before = await snapshot(store, probe);
  let problem: string | undefined;
  try {
    expectInvalid(
      await settle(`${store.backend} commit`, () => loose(store).commit(changes, options)),
      `${store.backend} commit`,
    );
  } catch (error) {
    problem = error instanceof Error ? error.message : String(error);
  }
  const written = snapshotChanges(before, await snapshot(store, probe));
  if (written.length > 0) return `${problem ?? `${store.backend} commit refused`}; and it wrote: ${written.join(', ')}`;
  return problem === undefined ? undefined : `${problem} (nothing was written)`;
}

async function expectRefusedAndUnchanged(
  store: KeyStore,
  changes: unknown,
  options: unknown,
  base: Probe,
): Promise<void> {
  const problem = await refusedAndUnchanged(store, changes, options, base);
  if (problem !== undefined) throw new Error(problem);
}

// -------------------------------------------------------------------------------------------------
// Getters: ids seeded in one store, lookups that must match them exactly

const GETTER_IDS = [
  '!r',
  '!r%',
  '!r_',
  '!rX',
  '!rx',
  '!R',
  '!r ',
  '!r\\',
  "!r'",
  '!r"',
  '%',
  '_',
  '\\',
  '%%',
  'a_b',
  'a%b',
  'axb',
  '\u00e9',
  'e\u0301',
  '\u00df',
  'ss',
  '\u{1f511}',
  '\uffff',
  '\ue000',
  '\u{10000}',
  "'); DROP TABLE triturus_values; --",
  '"; DROP TABLE triturus_inbound_group_sessions; --',
  '$1',
  '?',
  'NULL',
  '*',
];
const GETTER_INDEXES = [0, 7, MAX_INDEX];

function getterSeed(): StoreChanges {
  const rec = (what: string) => ({ schema: 2, data: what });
  return {
    account: rec('account'),
    olmSessions: GETTER_IDS.flatMap((k, n) =>
      ['s', '_', '%'].map((s, i) => ({
        senderKey: k,
        sessionId: s,
        lastUsedAt: n * 10 + i,
        record: rec(`olm ${k} ${s}`),
      })),
    ),
    inboundGroupSessions: GETTER_IDS.flatMap((r) =>
      ['s', '%', '_'].map((s) => ({ roomId: r, sessionId: s, senderKey: r, record: rec(`in ${r} ${s}`) })),
    ),
    outboundGroupSessions: GETTER_IDS.map((r) => ({ roomId: r, sessionId: r, record: rec(`out ${r}`) })),
    replays: GETTER_IDS.flatMap((s) =>
      GETTER_INDEXES.map((i) => ({ sessionId: s, messageIndex: i, eventId: `$${s}`, originServerTs: i })),
    ),
    mlsGroups: GETTER_IDS.map((g) => ({ groupId: g, record: rec(`mls ${g}`) })),
    values: GETTER_IDS.map((k) => ({ key: k, value: `value ${k}` })),
  };
}

type Variant =
  | 'suffix%'
  | 'prefix%'
  | '_at'
  | '%at'
  | 'upper'
  | 'lower'
  | 'space'
  | 'trim'
  | 'nfc'
  | 'nfd'
  | 'zwsp'
  | 'quote'
  | 'escape';
const VARIANTS: readonly Variant[] = [
  'suffix%',
  'prefix%',
  '_at',
  '%at',
  'upper',
  'lower',
  'space',
  'trim',
  'nfc',
  'nfd',
  'zwsp',
  'quote',
  'escape',
];
class Like {
  constructor(
    readonly of: string,
    readonly variant: Variant,
    readonly at: number,
  ) {}
  build(): string {
    const cps = [...this.of];
    const i = this.at % cps.length;
    switch (this.variant) {
      case 'suffix%':
        return `${this.of}%`;
      case 'prefix%':
        return `%${this.of}`;
      case '_at':
        return cps.map((c, j) => (j === i ? '_' : c)).join('');
      case '%at':
        return cps.map((c, j) => (j === i ? '%' : c)).join('');
      case 'upper':
        return this.of.toUpperCase();
      case 'lower':
        return this.of.toLowerCase();
      case 'space':
        return `${this.of} `;
      case 'trim':
        return this.of.trim() === '' ? this.of : this.of.trim();
      case 'nfc':
        return this.of.normalize('NFC');
      case 'nfd':
        return this.of.normalize('NFD');
      case 'zwsp':
        return `${this.of}\u200b`;
      case 'quote':
        return `${this.of}'`;
      case 'escape':
        return this.of.replaceAll('%', '\\%').replaceAll('_', '\\_');
    }
  }
  [fc.toStringMethod](): string {
    return `like(${JSON.stringify(this.of)}, ${this.variant}, ${this.at}) = ${JSON.stringify(this.build())}`;
  }
}

const getterIdArg = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...GETTER_IDS) },
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.constantFrom(...GETTER_IDS), fc.constantFrom(...VARIANTS), fc.nat())
      .map(([of, variant, at]) => new Like(of, variant, at)),
  },
  { weight: 2, arbitrary: fc.constantFrom(...HOSTILE_IDS) },
  { weight: 2, arbitrary: validId },
  {
    weight: 1,
    arbitrary: fc
      .record({
        length: fc.integer({ min: 1, max: 100_000 }),
        chars: fc.constantFrom<CharClass>('ascii', 'bmp', 'astral'),
        seed: fc.nat(),
      })
      .map(({ length, chars, seed }) => new Huge(length, chars, seed)),
  },
  { weight: 3, arbitrary: badValueArb('id').filter((v) => !(v instanceof Dropped)) },
  { weight: 1, arbitrary: fc.anything({ maxDepth: 1 }) },
);
const getterIndexArg = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...GETTER_INDEXES, 1, 2 ** 31) },
  { weight: 2, arbitrary: badNumberArb(MAX_INDEX) },
  { weight: 1, arbitrary: fc.anything({ maxDepth: 1 }) },
);

type Param = 'id' | 'optId' | 'index';
const GETTERS: Readonly<Record<string, readonly Param[]>> = {
  loadAccount: [],
  loadOlmSessions: ['id'],
  loadInboundGroupSession: ['id', 'id'],
  listInboundGroupSessions: ['optId'],
  loadOutboundGroupSession: ['id'],
  loadReplay: ['id', 'index'],
  loadMlsGroup: ['id'],
  loadValue: ['id'],
  schemaVersion: [],
};

const getterCall = fc.constantFrom(...Object.keys(GETTERS)).chain((name) => {
  const params = GETTERS[name] ?? [];
  return fc.record({
    name: fc.constant(name),
    args: fc.tuple(...params.map((p) => (p === 'index' ? getterIndexArg : getterIdArg))),
    // Calls with too few arguments (the missing ones are undefined) and with extra ones.
    count: fc.oneof({ weight: 4, arbitrary: fc.constant(params.length) }, fc.nat(params.length + 2)),
  });
});

function buildArg(v: unknown): unknown {
  return v instanceof Huge || v instanceof Like ? v.build() : v;
}

/** What a correct store returns for a getter call: undefined params are missing arguments. */
function expectedGetter(model: Model, name: string, args: unknown[]): { invalid: true } | { value: unknown } {
  const params = GETTERS[name] ?? [];
  for (const [i, p] of params.entries()) {
    const a = args[i];
    const ok = p === 'index' ? isIndex(a) : p === 'optId' ? a === undefined || isId(a) : isId(a);
    if (!ok) return { invalid: true };
  }
  const a = args[0] as string;
  switch (name) {
    case 'loadAccount':
      return { value: model.account };
    case 'loadOlmSessions':
      return { value: model.olmSessions(a) };
    case 'loadInboundGroupSession':
      return { value: model.inbound.get(a)?.get(args[1] as string) };
    case 'listInboundGroupSessions':
      return { value: model.inboundSessions(args[0] === undefined ? undefined : a) };
    case 'loadOutboundGroupSession':
      return { value: model.outbound.get(a) };
    case 'loadReplay':
      return { value: model.replays.get(joinKey(a, args[1] as number)) };
    case 'loadMlsGroup':
      return { value: model.mls.get(a) };
    case 'loadValue':
      return { value: model.values.get(a) };
    case 'schemaVersion':
      return { value: STORE_SCHEMA_VERSION };
  }
  throw new Error(`unknown getter ${name}`);
}

// -------------------------------------------------------------------------------------------------
// Leases and fences of the wrong shape

const badHolder = badValueArb('id').filter((v) => !(v instanceof Dropped));
const goodHolder = fc.constantFrom('owner', 'intruder', '%', "'); DROP TABLE triturus_leases; --");
const badDuration = fc.oneof(badNumberArb(MAX_LEASE_MS), fc.constantFrom(0, -0, MAX_LEASE_MS + 1, 2 ** 31, 2 ** 32));
const goodDuration = fc.constantFrom(1, 1000, 60_000, MAX_LEASE_MS);
const badGeneration = badNumberArb(Number.MAX_SAFE_INTEGER);

/** A token or fence that is malformed (not one that is merely stale). */
const badToken = fc.oneof(
  fc.constantFrom(null, undefined, 'owner', '', 1, true, 1n, [], ['owner', 1]),
  fc.record({ holder: badHolder, generation: fc.constantFrom(1, 2) }).map((t) => ({ ...t, expiresAt: 0 })),
  fc.record({ holder: goodHolder, generation: badGeneration }).map((t) => ({ ...t, expiresAt: 0 })),
  fc.record({ holder: goodHolder, generation: fc.constantFrom(1, 2) }).map((t) => [t]),
  fc.constantFrom({ generation: 1, expiresAt: 0 }, { holder: 'owner', expiresAt: 0 }, {}),
);
const badOptions = fc.oneof(
  fc.constantFrom(null, 'fence', '', 0, 1, true, 1n, [], Number.NaN),
  badToken.map((fence) => [{ fence }]),
  badToken.filter((fence) => fence !== undefined).map((fence) => ({ fence })),
);

type LeaseCall =
  | { readonly call: 'tryAcquireLease'; readonly holder: unknown; readonly durationMs: unknown }
  | { readonly call: 'releaseLease'; readonly token: unknown }
  | { readonly call: 'commit'; readonly batch: Batch; readonly options: unknown };

const badLeaseCall: fc.Arbitrary<LeaseCall> = fc.oneof(
  fc.record({
    call: fc.constant('tryAcquireLease' as const),
    holder: badHolder,
    durationMs: fc.oneof(goodDuration, badDuration),
  }),
  fc.record({
    call: fc.constant('tryAcquireLease' as const),
    holder: fc.oneof(goodHolder, badHolder),
    durationMs: badDuration,
  }),
  fc.record({ call: fc.constant('releaseLease' as const), token: badToken }),
  fc.record({ call: fc.constant('commit' as const), batch: batchArb(mutationId, 2), options: badOptions }),
);

// -------------------------------------------------------------------------------------------------
// Arbitrary plain data, biased toward the field names the store reads

const hostileString = fc.oneof(
  validId,
  poisonedString.filter((s): s is string => typeof s === 'string'),
  fc.constant(''),
);
/** Holes (sparse arrays) have a property of their own: here they would hide every other finding. */
function plainAnything(): fc.Arbitrary<unknown> {
  return fc.anything({
    maxDepth: 3,
    maxKeys: 5,
    key: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...FIELD_NAMES) }, fc.string({ maxLength: 6 })),
    values: [
      fc.boolean(),
      fc.integer(),
      fc.double(),
      fc.constantFrom(
        -0,
        Number.NaN,
        Number.POSITIVE_INFINITY,
        MAX_TIME,
        2 ** 53,
        MAX_INDEX + 1,
        MAX_SCHEMA + 1,
        -1,
        0.5,
      ),
      fc.nat(10),
      hostileString,
      poolId,
      fc.constant(null),
      fc.constant(undefined),
    ],
    withSparseArray: false,
    withNullPrototype: true,
    withBigInt: true,
  });
}

/** A commit input: arbitrary data, or a valid batch with one field or one entry's field arbitrary. */
const arbitraryCommit = fc.record({
  changes: fc.oneof(
    plainAnything(),
    fc
      .tuple(batchArb(mutationId, 2, false, smallData), fc.constantFrom(...FIELD_NAMES), plainAnything())
      .map(([b, field, value]) => ({ ...b, [field]: value })),
    fc
      .tuple(batchArb(mutationId, 2, false, smallData), fc.constantFrom(...OBJECT_KINDS), fc.nat(), plainAnything())
      .chain(([b, kind, at, value]) =>
        fc.constantFrom(...Object.keys(FIELDS[kind]), 'extra').chain((field) =>
          entryArb(kind, mutationId, smallData).map((e) => {
            const list = [...((b[kind] as unknown[] | undefined) ?? [])];
            list.splice(at % (list.length + 1), 0, { ...e, [field]: value });
            return { ...b, [kind]: list };
          }),
        ),
      ),
  ),
  options: fc.oneof(
    { weight: 4, arbitrary: fc.constant(undefined) },
    plainAnything(),
    plainAnything().map((fence) => ({ fence })),
    fc
      .record({
        holder: fc.oneof(goodHolder, plainAnything()),
        generation: plainAnything(),
        expiresAt: plainAnything(),
      })
      .map((fence) => ({ fence })),
  ),
});

// =================================================================================================

describe.each(BACKENDS)('hostile input to the $name store', (backend) => {
  const runs = (p: keyof typeof RUNS): number => RUNS[p][backend.name];

  it('a valid batch with one malformed spot (any list, any position, any field) is refused whole with STORE_INVALID', async () => {
    const store = await openStore(backend, freshScope(`mutations-${backend.name}`));
    await store.commit(seedBatch('seed'));
    const base = seedProbe('seed');
    await fc.assert(
      fc.asyncProperty(
        batchArb(mutationId),
        mutationArb(mutationId, batchArb(mutationId, 1)),
        async (valid, mutation) => {
          const changes = applyMutation(buildBatch(valid), mutation);
          await expectRefusedAndUnchanged(store, changes, undefined, base);
        },
      ),
      { numRuns: runs('mustReject') },
    );
    await closeStore(store);
  });

  it('a list with a hole (a sparse array) is refused whole with STORE_INVALID', async () => {
    const base = seedProbe('seed');
    await fc.assert(
      // Every list kind in every run, so one counterexample shows how each kind handles the hole.
      fc.asyncProperty(batchArb(mutationId), fc.nat(), async (valid, at) => {
        // A payload of every kind over seeded ids, so a write before the failing step shows in the snapshot.
        const generated = buildBatch(valid) as Record<string, unknown>;
        const payload: Record<string, unknown> = {
          ...seedBatch('payload'),
          removeOlmSessions: [{ senderKey: 'a', sessionId: 'b' }],
          removeInboundGroupSessions: [{ roomId: 'a', sessionId: 'b' }],
          removeOutboundGroupSessions: ['b'],
          removeMlsGroups: ['b'],
        };
        const batch: Record<string, unknown> = { account: generated['account'] ?? payload['account'] };
        for (const kind of KINDS) {
          const extra = [...((generated[kind] as unknown[] | undefined) ?? [])];
          const first = (payload[kind] as unknown[]).slice(0, 1);
          batch[kind] = [...first, ...extra];
        }
        const problems: string[] = [];
        for (const kind of KINDS) {
          const list = [...((batch[kind] as unknown[] | undefined) ?? [])];
          const i = at % (list.length + 1);
          const sparse: unknown[] = list.slice(0, i);
          sparse.length = i + 1; // index i is a hole
          sparse.push(...list.slice(i));
          // A freshly seeded scope for each check: an earlier partial write cannot hide this one.
          const store = await openStore(backend, freshScope(`holes-${backend.name}`));
          try {
            await store.commit(seedBatch('seed'));
            const problem = await refusedAndUnchanged(store, { ...batch, [kind]: sparse }, undefined, base);
            if (problem !== undefined) problems.push(`a hole at ${kind}[${i}]: ${problem}`);
          } finally {
            await closeStore(store);
          }
        }
        if (problems.length > 0) throw new Error(problems.join('\n'));
      }),
      { numRuns: runs('sparse') },
    );
  });

  it('getters given wrong-typed or hostile ids: STORE_INVALID, or exactly the matching records (no LIKE, no folding)', async () => {
    const store = await openStore(backend, freshScope(`getters-${backend.name}`));
    const model = new Model();
    const seed = getterSeed();
    model.apply(seed);
    await store.commit(seed);
    await fc.assert(
      fc.asyncProperty(fc.array(getterCall, { minLength: 1, maxLength: 4 }), async (calls) => {
        for (const call of calls) {
          const args = call.args.slice(0, call.count).map(buildArg);
          while (args.length < call.count) args.push(undefined);
          const expected = expectedGetter(model, call.name, args);
          const what = `${backend.name} ${call.name}(${args.map((a) => fc.stringify(a).slice(0, 80)).join(', ')})`;
          const outcome = await settle(what, () => method(store, call.name)(...args));
          if ('invalid' in expected) {
            expectInvalid(outcome, what);
            continue;
          }
          if (!outcome.ok) throw new Error(`${what} refused valid arguments: ${describeError(outcome.error)}`);
          const value = Array.isArray(outcome.value) ? canonicalOrder(outcome.value) : outcome.value;
          expect(value, what).toStrictEqual(expected.value);
        }
      }),
      { numRuns: runs('getters') },
    );
    // Nothing an id said was executed: every seeded record is still there, in every table.
    const all = collect(seed, newProbe());
    expect(canonical(await snapshot(store, all)), 'the seeded records after the hostile lookups').toStrictEqual(
      model.snapshot(all),
    );
    await closeStore(store);
  });

  it('lease and fence arguments of the wrong shape: STORE_INVALID, the lease and the data unchanged', async () => {
    const scope = freshScope(`lease-${backend.name}`);
    const store = await openStore(backend, scope);
    const other = await openStore(backend, scope);
    await store.commit(seedBatch('seed'));
    const base = seedProbe('seed');
    const owned = await store.tryAcquireLease('owner', MAX_LEASE_MS);
    expect(owned, 'the owner takes the free lease').toBeDefined();
    const token = owned!;
    await fc.assert(
      fc.asyncProperty(badLeaseCall, async (c) => {
        const what = `${backend.name} ${c.call}`;
        if (c.call === 'commit') {
          await expectRefusedAndUnchanged(store, buildBatch(c.batch), c.options, base);
        } else {
          const outcome =
            c.call === 'tryAcquireLease'
              ? await settle(what, () => loose(store).tryAcquireLease(buildArg(c.holder), c.durationMs))
              : await settle(what, () => loose(store).releaseLease(materialize(c.token)));
          expectInvalid(outcome, what);
        }
        // The owner still holds the lease at the same generation, and nobody else can take it.
        const intruder = await settle(`${backend.name} tryAcquireLease(intruder)`, () =>
          other.tryAcquireLease('intruder', 60_000),
        );
        expect(intruder, `${what}: the lease is still held`).toStrictEqual({ ok: true, value: undefined });
        const fenced = await settle(`${backend.name} fenced commit`, () => store.commit({}, { fence: token }));
        expect(outcomeLabel(fenced), `${what}: the owner's fence still holds`).toBe('accepted');
      }),
      { numRuns: runs('badLease') },
    );
    await closeStore(store);
    await closeStore(other);
  });

  it('hostile but valid lease holders (SQL, LIKE patterns, Unicode, long) are matched exactly', async () => {
    const holderArb = fc.oneof(
      validId,
      fc.constantFrom(...HOSTILE_IDS),
      fc
        .record({
          length: fc.integer({ min: 1, max: 20_000 }),
          chars: fc.constantFrom<CharClass>('ascii', 'bmp', 'astral'),
          seed: fc.nat(),
        })
        .map(({ length, chars, seed }) => new Huge(length, chars, seed)),
    );
    await fc.assert(
      fc.asyncProperty(
        holderArb,
        fc.constantFrom(...VARIANTS),
        fc.nat(),
        goodDuration.filter((d) => d >= 60_000),
        async (h, variant, at, durationMs) => {
          const holder = buildArg(h) as string;
          const like = new Like(holder, variant, at).build();
          const scope = freshScope(`holder-${backend.name}`);
          const a = await openStore(backend, scope);
          const b = await openStore(backend, scope);
          try {
            const before = Date.now();
            const taken = await settle('tryAcquireLease', () => a.tryAcquireLease(holder, durationMs));
            if (!taken.ok || taken.value === undefined)
              throw new Error(`the free lease was not taken: ${outcomeLabel(taken)}`);
            const t = taken.value;
            expect(t.holder === holder, 'the token names its holder exactly').toBe(true);
            expect(t.generation).toBe(1);
            expect(Math.abs(t.expiresAt - (before + durationMs))).toBeLessThan(5_000);
            if (like !== holder) {
              expect(
                await b.tryAcquireLease(like, 60_000),
                `a look-alike holder ${JSON.stringify(like).slice(0, 80)}`,
              ).toBeUndefined();
              const stale = await settle('commit fenced by a look-alike', () =>
                a.commit({ values: [{ key: 'k', value: 'look-alike' }] }, { fence: { ...t, holder: like } }),
              );
              expect(outcomeLabel(stale)).toBe('StoreError STORE_LEASE_LOST');
              await a.releaseLease({ ...t, holder: like });
              expect(
                await b.tryAcquireLease('someone else', 60_000),
                'a look-alike release freed nothing',
              ).toBeUndefined();
            }
            await a.commit({ values: [{ key: 'k', value: holder }] }, { fence: t });
            expect((await b.loadValue('k')) === holder, 'the fenced commit landed').toBe(true);
            await a.releaseLease(t);
            const next = await b.tryAcquireLease('someone else', 60_000);
            expect(next?.generation, 'after the release another holder takes the lease').toBe(2);
          } finally {
            await closeStore(a);
            await closeStore(b);
          }
        },
      ),
      { numRuns: runs('holders') },
    );
  });
});

describe('every backend in lockstep', () => {
  it('arbitrary plain data for changes, for each of its fields and for options: the same outcome everywhere, a refusal writes nothing', async () => {
    const scope = freshScope('arbitrary');
    const stores = await Promise.all(BACKENDS.map((b) => openStore(b, scope)));
    for (const s of stores) await s.commit(seedBatch('seed'));
    const base = seedProbe('seed');
    await fc.assert(
      fc.asyncProperty(arbitraryCommit, async ({ changes, options }) => {
        const probe = collect(options, collect(changes, mergeProbes(base)));
        const outcomes: string[] = [];
        const afters: Snapshot[] = [];
        for (const store of stores) {
          const before = await snapshot(store, probe);
          const outcome = await settle(`${store.backend} commit`, () => loose(store).commit(changes, options));
          const after = await snapshot(store, probe);
          if (!outcome.ok) {
            expect(
              ['STORE_INVALID', 'STORE_LEASE_LOST'].includes(outcome.error.code),
              `${store.backend}: refused with ${describeError(outcome.error)}; a driver failure (STORE_IO) means bad input reached the database`,
            ).toBe(true);
            expect(after, `${store.backend}: a refused commit (${outcomeLabel(outcome)}) wrote nothing`).toStrictEqual(
              before,
            );
          }
          outcomes.push(`${store.backend}: ${outcomeLabel(outcome)}`);
          // -0 has a test of its own (below); here it would only make rare runs fail for that one reason.
          afters.push(JSON.parse(JSON.stringify(canonical(after))) as Snapshot);
        }
        const first = outcomes[0]!.replace(/^\w+: /, '');
        expect(outcomes, 'every backend has the same outcome').toStrictEqual(
          BACKENDS.map((b) => `${b.name}: ${first}`),
        );
        for (const [i, b] of BACKENDS.entries()) {
          expect(afters[i], `${b.name} holds what memory holds`).toStrictEqual(afters[0]);
        }
      }),
      { numRuns: LOCKSTEP_RUNS.arbitrary },
    );
    for (const s of stores) await closeStore(s);
  });

  it('any valid batch sequence (full-Unicode ids and data, duplicates, removals, unknown fields) reads back as the model says on every backend', async () => {
    const caseArb = fc.uniqueArray(validId, { minLength: 1, maxLength: 6 }).chain((ids) =>
      fc.record({
        ids: fc.constant(ids),
        batches: fc.array(batchArb(fc.constantFrom(...ids), 4, true), { minLength: 1, maxLength: 3 }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(caseArb, async ({ ids, batches }) => {
        const built = batches.map(buildBatch);
        const model = new Model();
        for (const b of built) model.apply(b);
        // Every id of the batches comes from `ids`; replay keys (and the index after each) come from the batches.
        const probe: Probe = { ids: new Set(ids), replays: collect(built, newProbe()).replays };
        for (const [k, [s, i]] of [...probe.replays])
          probe.replays.set(joinKey(k, 'next'), [s, Math.min(i + 1, MAX_INDEX)]);
        const expected = model.snapshot(probe, true);
        const scope = freshScope('round-trip');
        for (const backend of BACKENDS) {
          const writer = await openStore(backend, scope);
          try {
            for (const [i, b] of built.entries()) {
              const outcome = await settle(`${backend.name} commit`, () => writer.commit(b));
              if (!outcome.ok)
                throw new Error(`${backend.name}: valid batch ${i} refused: ${describeError(outcome.error)}`);
            }
          } finally {
            await closeStore(writer);
          }
          const reader = await openStore(backend, scope); // read through a new handle: what was persisted
          try {
            const snap = await snapshot(reader, probe, true);
            // Contents only: list order across backends has a property of its own (below).
            expect(canonical(snap), `${backend.name} reads back what the model says`).toStrictEqual(expected);
          } finally {
            await closeStore(reader);
          }
        }
      }),
      { numRuns: LOCKSTEP_RUNS.roundTrip },
    );
  });

  it('listings come back in the same order from every backend ("so every backend lists in the same order")', async () => {
    // Ties in lastUsedAt, and ids mixing ASCII, U+E000..U+FFFF and astral characters: where UTF-16 and UTF-8
    // (code point) order differ.
    const orderId = fc.oneof(
      validId,
      fc.string({
        unit: fc.constantFrom('a', '%', '\ue000', '\uffff', '\u{10000}', '\u{1f511}'),
        minLength: 1,
        maxLength: 3,
      }),
    );
    const caseArb = fc.record({
      olm: fc.uniqueArray(fc.record({ sessionId: orderId, lastUsedAt: fc.constantFrom(0, 1, MAX_TIME) }), {
        minLength: 1,
        maxLength: 5,
        selector: (e) => e.sessionId,
      }),
      inbound: fc.uniqueArray(fc.record({ roomId: orderId, sessionId: orderId }), {
        minLength: 1,
        maxLength: 5,
        selector: (e) => joinKey(e.roomId, e.sessionId),
      }),
    });
    await fc.assert(
      fc.asyncProperty(caseArb, async ({ olm, inbound }) => {
        const record = { schema: 1, data: 'd' };
        const changes: StoreChanges = {
          olmSessions: olm.map((e) => ({ senderKey: 'peer', ...e, record })),
          inboundGroupSessions: inbound.map((e) => ({ ...e, senderKey: 'peer', record })),
        };
        const probe: Probe = { ids: new Set(['peer', ...inbound.map((e) => e.roomId)]), replays: new Map() };
        const scope = freshScope('order');
        const snaps: Snapshot[] = [];
        for (const backend of BACKENDS) {
          const store = await openStore(backend, scope);
          try {
            await store.commit(changes);
            const snap = await snapshot(store, probe, true);
            const first = snaps[0];
            if (first !== undefined) {
              expect(
                orderDifferences(first, snap),
                `lists that memory (left) and ${backend.name} (right) order differently, ids escaped`,
              ).toStrictEqual([]);
              expect(snap, `${backend.name} and memory agree, list order included`).toStrictEqual(first);
            }
            snaps.push(snap);
          } finally {
            await closeStore(store);
          }
        }
      }),
      { numRuns: LOCKSTEP_RUNS.order },
    );
  });

  it('-0 in an integer field (it passes as an integer) reads back the same on every backend', async () => {
    const rec = (schema: number) => ({ schema, data: 'd' });
    const cases: [string, StoreChanges][] = [
      ['account.schema', { account: rec(-0) }],
      [
        'olmSessions[0].lastUsedAt',
        { olmSessions: [{ senderKey: 'k', sessionId: 's', lastUsedAt: -0, record: rec(1) }] },
      ],
      [
        'olmSessions[0].record.schema',
        { olmSessions: [{ senderKey: 'k', sessionId: 's', lastUsedAt: 1, record: rec(-0) }] },
      ],
      [
        'inboundGroupSessions[0].record.schema',
        { inboundGroupSessions: [{ roomId: 'r', sessionId: 's', senderKey: 'k', record: rec(-0) }] },
      ],
      [
        'outboundGroupSessions[0].record.schema',
        { outboundGroupSessions: [{ roomId: 'r', sessionId: 's', record: rec(-0) }] },
      ],
      [
        'replays[0].messageIndex',
        { replays: [{ sessionId: 's', messageIndex: -0, eventId: '$e', originServerTs: 1 }] },
      ],
      [
        'replays[0].originServerTs',
        { replays: [{ sessionId: 's', messageIndex: 1, eventId: '$e', originServerTs: -0 }] },
      ],
      ['mlsGroups[0].record.schema', { mlsGroups: [{ groupId: 'g', record: rec(-0) }] }],
    ];
    const problems: string[] = [];
    for (const [field, changes] of cases) {
      const scope = freshScope('negative-zero');
      const probe = collect(changes, newProbe());
      const seen: string[] = [];
      for (const backend of BACKENDS) {
        const store = await openStore(backend, scope);
        try {
          const outcome = await settle(`${backend.name} commit`, () => store.commit(changes));
          const read = JSON.stringify(await snapshot(store, probe), (_k, v) => (Object.is(v, -0) ? '-0' : v));
          seen.push(
            `${backend.name}: ${outcome.ok ? (read.includes('"-0"') ? 'reads back -0' : 'reads back 0') : outcomeLabel(outcome)}`,
          );
        } finally {
          await closeStore(store);
        }
      }
      if (new Set(seen.map((o) => o.replace(/^\w+: /, ''))).size > 1)
        problems.push(`${field} = -0: ${seen.join(', ')}`);
    }
    expect(problems, 'integer fields given -0 where the backends disagree').toStrictEqual([]);
  });

  it('a very long id or value is accepted and read back on every backend, or refused with STORE_INVALID on every backend', async () => {
    const FIELDS_TO_GROW = [
      'olmSessions.senderKey',
      'olmSessions.sessionId',
      'inboundGroupSessions.roomId',
      'inboundGroupSessions.sessionId',
      'inboundGroupSessions.senderKey',
      'outboundGroupSessions.roomId',
      'outboundGroupSessions.sessionId',
      'replays.sessionId',
      'replays.eventId',
      'mlsGroups.groupId',
      'values.key',
      'values.value',
      'account.data',
    ] as const;
    const hugeCase = fc.record({
      field: fc.constantFrom(...FIELDS_TO_GROW),
      huge: fc
        .record({
          length: fc.integer({ min: 1, max: 40_000 }),
          chars: fc.constantFrom<CharClass>('ascii', 'bmp', 'astral'),
          seed: fc.nat(),
        })
        .map(({ length, chars, seed }) => new Huge(length, chars, seed)),
    });
    await fc.assert(
      fc.asyncProperty(hugeCase, async ({ field, huge }) => {
        const big = huge.build();
        const [kind, name] = field.split('.') as [string, string];
        const batch = buildBatch({
          account: { schema: 1, data: 'account' },
          olmSessions: [{ senderKey: 'peer', sessionId: 'olm', lastUsedAt: 1, record: { schema: 1, data: 'olm' } }],
          inboundGroupSessions: [
            { roomId: '!room', sessionId: 'in', senderKey: 'peer', record: { schema: 1, data: 'in' } },
          ],
          outboundGroupSessions: [{ roomId: '!room', sessionId: 'out', record: { schema: 1, data: 'out' } }],
          replays: [{ sessionId: 'in', messageIndex: 1, eventId: '$e', originServerTs: 1 }],
          mlsGroups: [{ groupId: 'group', record: { schema: 1, data: 'mls' } }],
          values: [{ key: 'key', value: 'value' }],
        }) as Record<string, unknown>;
        batch[kind] =
          kind === 'account'
            ? { schema: 1, data: big }
            : (batch[kind] as Record<string, unknown>[]).map((e) => ({ ...e, [name]: big }));
        const changes = batch as StoreChanges;
        const model = new Model();
        model.apply(changes);
        const probe = collect(changes, newProbe());
        const outcomes: string[] = [];
        const scope = freshScope('huge');
        for (const backend of BACKENDS) {
          const store = await openStore(backend, scope);
          try {
            const outcome = await settle(`${backend.name} commit`, () => store.commit(changes));
            outcomes.push(
              `${backend.name}: ${outcomeLabel(outcome)}${outcome.ok ? '' : ` (${outcome.error.message})`}`,
            );
            const snap = canonical(await snapshot(store, probe));
            if (outcome.ok)
              expect(snap, `${backend.name} reads the long string back`).toStrictEqual(model.snapshot(probe));
            else
              expect(snap, `${backend.name} refused the batch and wrote nothing`).toStrictEqual(
                new Model().snapshot(probe),
              );
          } finally {
            await closeStore(store);
          }
        }
        const accepted = outcomes.every((o) => o.endsWith(': accepted'));
        const refused = outcomes.every((o) => o.includes(': StoreError STORE_INVALID'));
        expect(accepted || refused, `a ${[...big].length}-code-point ${field}: ${outcomes.join('; ')}`).toBe(true);
      }),
      { numRuns: LOCKSTEP_RUNS.hugeIds },
    );
  });
});
