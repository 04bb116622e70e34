/**
 * Internals shared by the KeyStore backends: argument checks, the batch normalisation every backend applies
 * the same way, lease arithmetic for backends that keep the clock themselves, and driver-error wrapping.
 */
import { compareCodePoints } from '../encoding/json.js';
import { StoreError } from '../errors.js';
import type {
  CommitOptions,
  InboundGroupSessionEntry,
  InboundGroupSessionKey,
  LeaseToken,
  MlsGroupEntry,
  OlmSessionEntry,
  OlmSessionKey,
  OutboundGroupSessionEntry,
  ReplayEntry,
  StoredRecord,
} from './types.js';

/** The schema version every backend migrates to. v1: the key tables; v2: the lease table and a session index. */
export const STORE_SCHEMA_VERSION = 2;

/** Longest lease a holder may ask for: a day. Longer is a bug (a crashed holder would lock the device out). */
export const MAX_LEASE_MS = 86_400_000;

// Lone surrogates do not survive UTF-8 drivers (they become U+FFFD) and PostgreSQL refuses NUL in text,
// so every backend refuses both: the same input behaves the same everywhere.
const LONE_SURROGATE = /\p{Cs}/u;

function invalid(message: string, field: string): StoreError {
  return new StoreError('STORE_INVALID', message, { field });
}

export function checkString(value: unknown, field: string, allowEmpty = false): string {
  if (typeof value !== 'string') throw invalid(`${field} must be a string`, field);
  if (!allowEmpty && value.length === 0) throw invalid(`${field} must not be empty`, field);
  if (value.includes('\u0000') || LONE_SURROGATE.test(value))
    throw invalid(`${field} contains a NUL character or a lone surrogate`, field);
  return value;
}

/**
 * Longest id (scope, room, session, sender key, group, value key), in UTF-8 bytes. PostgreSQL's B-tree
 * rows hold at most 2704 bytes and a primary key joins up to three ids; Matrix ids are at most 255
 * bytes, so this leaves room while every backend refuses the same inputs.
 */
export const MAX_ID_BYTES = 768;
const utf8 = new TextEncoder();

export function checkId(value: unknown, field: string): string {
  const id = checkString(value, field);
  if (id.length * 3 > MAX_ID_BYTES && utf8.encode(id).length > MAX_ID_BYTES) {
    throw invalid(`${field} is longer than ${MAX_ID_BYTES} bytes of UTF-8`, field);
  }
  return id;
}

export function checkInteger(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(`${field} must be an integer in [${min}, ${max}]`, field);
  }
  // -0 is an integer to JavaScript but reads back as 0 from SQL: store 0 everywhere.
  return value === 0 ? 0 : value;
}

function checkObject(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(`${field} must be an object`, field);
  }
  return value as Record<string, unknown>;
}

function checkArray(value: unknown, field: string): readonly unknown[] {
  if (!Array.isArray(value)) throw invalid(`${field} must be an array`, field);
  return value;
}

const MAX_SCHEMA = 2 ** 31 - 1;
const MAX_MESSAGE_INDEX = 2 ** 32 - 1;
const MAX_TIME = Number.MAX_SAFE_INTEGER;

export function checkScope(scope: unknown): string {
  return checkId(scope, 'scope');
}

export function checkRecord(value: unknown, field: string): StoredRecord {
  const r = checkObject(value, field);
  return {
    schema: checkInteger(r['schema'], `${field}.schema`, 0, MAX_SCHEMA),
    data: checkString(r['data'], `${field}.data`, true),
  };
}

export function checkMessageIndex(value: unknown, field = 'messageIndex'): number {
  return checkInteger(value, field, 0, MAX_MESSAGE_INDEX);
}

export function checkHolder(holder: unknown): string {
  return checkString(holder, 'holder');
}

export function checkDuration(durationMs: unknown): number {
  return checkInteger(durationMs, 'durationMs', 1, MAX_LEASE_MS);
}

export function checkToken(token: unknown, field = 'token'): LeaseToken {
  const t = checkObject(token, field);
  return {
    holder: checkString(t['holder'], `${field}.holder`),
    generation: checkInteger(t['generation'], `${field}.generation`, 0, Number.MAX_SAFE_INTEGER),
    expiresAt: typeof t['expiresAt'] === 'number' ? t['expiresAt'] : 0,
  };
}

/** The fence of a commit, checked, or undefined when the commit is not fenced. */
export function checkCommitOptions(options: unknown): LeaseToken | undefined {
  if (options === undefined) return undefined;
  const o = checkObject(options, 'options') as CommitOptions;
  return o.fence === undefined ? undefined : checkToken(o.fence, 'options.fence');
}

/**
 * A validated, copied batch. Within one kind, removals are applied before puts (so "remove the room's
 * outbound session and put the new one" keeps the new one); a key put twice keeps the last put; a replay
 * key given twice keeps the first, as replays are insert-only.
 */
export interface NormalizedChanges {
  readonly account: StoredRecord | undefined;
  readonly olmSessions: OlmSessionEntry[];
  readonly removeOlmSessions: OlmSessionKey[];
  readonly inboundGroupSessions: InboundGroupSessionEntry[];
  readonly removeInboundGroupSessions: InboundGroupSessionKey[];
  readonly outboundGroupSessions: OutboundGroupSessionEntry[];
  readonly removeOutboundGroupSessions: string[];
  readonly replays: ReplayEntry[];
  readonly mlsGroups: MlsGroupEntry[];
  readonly removeMlsGroups: string[];
  readonly values: { key: string; value: string | null }[];
}

function lastByKey<T>(items: readonly T[], key: (item: T) => string): T[] {
  const map = new Map<string, T>();
  for (const item of items) {
    const k = key(item);
    map.delete(k); // keep the position of the last occurrence
    map.set(k, item);
  }
  return [...map.values()];
}

function firstByKey<T>(items: readonly T[], key: (item: T) => string): T[] {
  const map = new Map<string, T>();
  for (const item of items) {
    const k = key(item);
    if (!map.has(k)) map.set(k, item);
  }
  return [...map.values()];
}

// NUL never occurs in a checked string, so it separates the parts of a compound key unambiguously.
export function joinKey(...parts: (string | number)[]): string {
  return parts.join('\u0000');
}

function list<T>(value: unknown, field: string, check: (item: unknown, field: string) => T): T[] {
  if (value === undefined) return [];
  const items = checkArray(value, field);
  // By index, not map: map skips the holes of a sparse array, which must be refused like undefined.
  const out: T[] = [];
  for (let i = 0; i < items.length; i++) out.push(check(items[i], `${field}[${i}]`));
  return out;
}

export function normalizeChanges(changes: unknown): NormalizedChanges {
  const c = checkObject(changes, 'changes');
  const olmSessions = list(c['olmSessions'], 'olmSessions', (v, f) => {
    const o = checkObject(v, f);
    return {
      senderKey: checkId(o['senderKey'], `${f}.senderKey`),
      sessionId: checkId(o['sessionId'], `${f}.sessionId`),
      lastUsedAt: checkInteger(o['lastUsedAt'], `${f}.lastUsedAt`, 0, MAX_TIME),
      record: checkRecord(o['record'], `${f}.record`),
    };
  });
  const removeOlmSessions = list(c['removeOlmSessions'], 'removeOlmSessions', (v, f) => {
    const o = checkObject(v, f);
    return {
      senderKey: checkId(o['senderKey'], `${f}.senderKey`),
      sessionId: checkId(o['sessionId'], `${f}.sessionId`),
    };
  });
  const inboundGroupSessions = list(c['inboundGroupSessions'], 'inboundGroupSessions', (v, f) => {
    const o = checkObject(v, f);
    return {
      roomId: checkId(o['roomId'], `${f}.roomId`),
      sessionId: checkId(o['sessionId'], `${f}.sessionId`),
      senderKey: checkId(o['senderKey'], `${f}.senderKey`),
      record: checkRecord(o['record'], `${f}.record`),
    };
  });
  const removeInboundGroupSessions = list(c['removeInboundGroupSessions'], 'removeInboundGroupSessions', (v, f) => {
    const o = checkObject(v, f);
    return {
      roomId: checkId(o['roomId'], `${f}.roomId`),
      sessionId: checkId(o['sessionId'], `${f}.sessionId`),
    };
  });
  const outboundGroupSessions = list(c['outboundGroupSessions'], 'outboundGroupSessions', (v, f) => {
    const o = checkObject(v, f);
    return {
      roomId: checkId(o['roomId'], `${f}.roomId`),
      sessionId: checkId(o['sessionId'], `${f}.sessionId`),
      record: checkRecord(o['record'], `${f}.record`),
    };
  });
  const removeOutboundGroupSessions = list(c['removeOutboundGroupSessions'], 'removeOutboundGroupSessions', (v, f) =>
    checkId(v, f),
  );
  const replays = list(c['replays'], 'replays', (v, f) => {
    const o = checkObject(v, f);
    return {
      sessionId: checkId(o['sessionId'], `${f}.sessionId`),
      messageIndex: checkMessageIndex(o['messageIndex'], `${f}.messageIndex`),
      eventId: checkString(o['eventId'], `${f}.eventId`),
      originServerTs: checkInteger(o['originServerTs'], `${f}.originServerTs`, 0, MAX_TIME),
    };
  });
  const mlsGroups = list(c['mlsGroups'], 'mlsGroups', (v, f) => {
    const o = checkObject(v, f);
    return { groupId: checkId(o['groupId'], `${f}.groupId`), record: checkRecord(o['record'], `${f}.record`) };
  });
  const removeMlsGroups = list(c['removeMlsGroups'], 'removeMlsGroups', (v, f) => checkId(v, f));
  const values = list(c['values'], 'values', (v, f) => {
    const o = checkObject(v, f);
    const value = o['value'];
    return {
      key: checkId(o['key'], `${f}.key`),
      value: value === null ? null : checkString(value, `${f}.value`, true),
    };
  });
  return {
    account: c['account'] === undefined ? undefined : checkRecord(c['account'], 'account'),
    olmSessions: lastByKey(olmSessions, (s) => joinKey(s.senderKey, s.sessionId)),
    removeOlmSessions,
    inboundGroupSessions: lastByKey(inboundGroupSessions, (s) => joinKey(s.roomId, s.sessionId)),
    removeInboundGroupSessions,
    outboundGroupSessions: lastByKey(outboundGroupSessions, (s) => s.roomId),
    removeOutboundGroupSessions,
    replays: firstByKey(replays, (r) => joinKey(r.sessionId, r.messageIndex)),
    mlsGroups: lastByKey(mlsGroups, (g) => g.groupId),
    removeMlsGroups,
    values: lastByKey(values, (v) => v.key),
  };
}

/**
 * Code point order, which is UTF-8 byte order: SQLite's BINARY collation and PostgreSQL's "C". (JavaScript's
 * `<` compares UTF-16 code units, which differs for U+E000..U+FFFF against characters beyond U+FFFF.)
 */
function compareIds(a: string, b: string): number {
  return a === b ? 0 : compareCodePoints(a, b) < 0 ? -1 : 1;
}

/** Newest first; equal times by session id so every backend lists in the same order. */
export function compareOlmSessions(a: OlmSessionEntry, b: OlmSessionEntry): number {
  if (a.lastUsedAt !== b.lastUsedAt) return b.lastUsedAt - a.lastUsedAt;
  return compareIds(a.sessionId, b.sessionId);
}

export function compareInboundGroupSessions(a: InboundGroupSessionEntry, b: InboundGroupSessionEntry): number {
  if (a.roomId !== b.roomId) return compareIds(a.roomId, b.roomId);
  return compareIds(a.sessionId, b.sessionId);
}

export interface LeaseRow {
  readonly holder: string;
  readonly expiration: number;
  readonly generation: number;
}

/**
 * The lease rule for backends that read the row and write it in one transaction: the same holder renews,
 * anyone takes an expired (or missing) lease, and the generation goes up when the holder changes.
 * Returns the new row, or undefined when another holder's lease is still valid.
 */
export function nextLease(
  current: LeaseRow | undefined,
  holder: string,
  now: number,
  durationMs: number,
): LeaseRow | undefined {
  if (current === undefined) return { holder, expiration: now + durationMs, generation: 1 };
  if (current.holder === holder) return { holder, expiration: now + durationMs, generation: current.generation };
  if (current.expiration < now) return { holder, expiration: now + durationMs, generation: current.generation + 1 };
  return undefined;
}

export function leaseLost(fence: LeaseToken, current: LeaseRow | undefined): StoreError {
  const now = current === undefined ? 'nobody' : `generation ${current.generation}`;
  return new StoreError(
    'STORE_LEASE_LOST',
    `the device's lease is no longer held by this holder at generation ${fence.generation} (now: ${now}); nothing was written`,
    { expected: fence.generation, ...(current === undefined ? {} : { actual: current.generation }) },
  );
}

export function fenceHolds(fence: LeaseToken, current: LeaseRow | undefined): boolean {
  return current !== undefined && current.holder === fence.holder && current.generation === fence.generation;
}

export function closedError(backend: string): StoreError {
  return new StoreError('STORE_CLOSED', `${backend} store is closed`);
}

/**
 * Wraps a driver failure. The message names the operation and the driver's error code only: driver messages
 * can quote the values of a statement, which may be record data. The driver error stays as `cause`.
 */
export function ioError(backend: string, operation: string, error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  const code =
    typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string'
      ? (error as { code: string }).code
      : typeof error === 'object' && error !== null && typeof (error as { name?: unknown }).name === 'string'
        ? (error as { name: string }).name
        : 'unknown error';
  return new StoreError('STORE_IO', `${backend}: ${operation} failed (${code})`, {}, { cause: error });
}

export function schemaTooNew(backend: string, found: number): StoreError {
  return new StoreError(
    'STORE_SCHEMA',
    `${backend} database has schema version ${found}, newer than the ${STORE_SCHEMA_VERSION} this version of triturus supports`,
    { expected: STORE_SCHEMA_VERSION, actual: found },
  );
}

/** `loadReplays`'s argument: an array of { sessionId, messageIndex } (STORE_INVALID otherwise). */
export function checkReplayKeys(keys: unknown): { sessionId: string; messageIndex: number }[] {
  if (!Array.isArray(keys)) throw new StoreError('STORE_INVALID', 'keys must be an array', { field: 'keys' });
  return keys.map((k: unknown, i) => {
    if (typeof k !== 'object' || k === null) {
      throw new StoreError('STORE_INVALID', 'each key must be an object', { field: `keys[${i}]` });
    }
    const o = k as Record<string, unknown>;
    return {
      sessionId: checkString(o['sessionId'], `keys[${i}].sessionId`),
      messageIndex: checkMessageIndex(o['messageIndex'], `keys[${i}].messageIndex`),
    };
  });
}
