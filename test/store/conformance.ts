/**
 * The KeyStore conformance suite: one list of named async cases, run unchanged against every backend (by
 * vitest in Node, and inside a real browser page for IndexedDB). It imports no test runner and nothing
 * Node-only. Every case closes its store and reopens it before checking, so persistence is always tested.
 */
import { StoreError } from '../../src/errors.js';
import { STORE_SCHEMA_VERSION } from '../../src/store/common.js';
import type { KeyStore, LeaseToken, StoreChanges } from '../../src/store/types.js';

export interface StoreHarness {
  readonly backend: string;
  /** Opens a new handle on the harness's shared database (a reopen, or a second process or tab). */
  open(scope: string): Promise<KeyStore>;
  /** Makes the database engine itself refuse writing value `key` in `scope`, so a batch fails midway. */
  installWriteTrap?(scope: string, key: string): Promise<void>;
  /** Databases made by hand: at the first schema holding `V1_FIXTURE`, and at a schema newer than supported. */
  readonly schemaFixtures?: {
    createV1(scope: string): Promise<() => Promise<KeyStore>>;
    createNewer(scope: string): Promise<() => Promise<KeyStore>>;
  };
}

export interface ConformanceCase {
  readonly name: string;
  /** A harness hook the case needs; cases whose hook a backend cannot provide are not generated for it. */
  readonly needs?: 'writeTrap' | 'schemaFixtures';
  run(harness: StoreHarness): Promise<void>;
}

/** The rows a harness writes with the first schema's DDL, by hand, for the upgrade case. */
export const V1_FIXTURE = {
  account: { schema: 1, data: 'v1-account' },
  olmSession: {
    senderKey: 'v1-peer-key',
    sessionId: 'v1-olm',
    lastUsedAt: 1_700_000_000_000,
    schema: 1,
    data: 'v1-olm',
  },
  inboundGroupSession: {
    roomId: '!v1:example.org',
    sessionId: 'v1-in',
    senderKey: 'v1-peer-key',
    schema: 1,
    data: 'v1-in',
  },
  outboundGroupSession: { roomId: '!v1:example.org', sessionId: 'v1-out', schema: 1, data: 'v1-out' },
  replay: { sessionId: 'v1-in', messageIndex: 7, eventId: '$v1-event', originServerTs: 1_700_000_000_123 },
  mlsGroup: { groupId: 'v1-group', schema: 1, data: 'v1-mls' },
  value: { key: 'v1-key', value: 'v1-value' },
} as const;

// ---------------------------------------------------------------------------------------------------------
// A tiny assertion kit (no runner dependency).

export class ConformanceFailure extends Error {
  override get name(): string {
    return 'ConformanceFailure';
  }
}

function canonical(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
}

export function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new ConformanceFailure(message);
}

export function checkEqual(actual: unknown, expected: unknown, message: string): void {
  const a = canonical(actual);
  const e = canonical(expected);
  if (a !== e) {
    const short = (s: string): string => (s.length > 400 ? `${s.slice(0, 400)}…` : s);
    throw new ConformanceFailure(`${message}: expected ${short(e)}, got ${short(a)}`);
  }
}

export async function checkRejects(action: () => Promise<unknown>, code: string, message: string): Promise<StoreError> {
  let outcome: unknown;
  try {
    await action();
  } catch (error) {
    outcome = error;
  }
  if (!(outcome instanceof StoreError)) {
    const got = outcome === undefined ? 'success' : String(outcome);
    throw new ConformanceFailure(`${message}: expected StoreError ${code}, got ${got}`);
  }
  if (outcome.code !== code) {
    throw new ConformanceFailure(`${message}: expected ${code}, got ${outcome.code} (${outcome.message})`);
  }
  return outcome;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let counter = 0;
/** A scope no other case (or earlier run on the same database) uses. */
export function freshScope(label: string): string {
  counter += 1;
  return `@${label}-${Date.now().toString(36)}-${counter}-${Math.random().toString(36).slice(2, 8)}:example.org|DEVICE`;
}

async function using<T>(harness: StoreHarness, scope: string, fn: (store: KeyStore) => Promise<T>): Promise<T> {
  const store = await harness.open(scope);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

const rec = (data: string, schema = 1) => ({ schema, data });

/** A batch touching every kind of record; ids and data carry `tag` so two batches never collide. */
export function fullBatch(tag: string, data = tag): StoreChanges {
  return {
    account: rec(`account-${data}`),
    olmSessions: [
      { senderKey: `peer-${tag}`, sessionId: `olm-${tag}-1`, lastUsedAt: 2000, record: rec(`olm1-${data}`) },
      { senderKey: `peer-${tag}`, sessionId: `olm-${tag}-2`, lastUsedAt: 1000, record: rec(`olm2-${data}`) },
    ],
    inboundGroupSessions: [
      {
        roomId: `!room-${tag}:example.org`,
        sessionId: `in-${tag}`,
        senderKey: `peer-${tag}`,
        record: rec(`in-${data}`),
      },
    ],
    outboundGroupSessions: [
      { roomId: `!room-${tag}:example.org`, sessionId: `out-${tag}`, record: rec(`out-${data}`) },
    ],
    replays: [{ sessionId: `in-${tag}`, messageIndex: 3, eventId: `$event-${data}`, originServerTs: 1234 }],
    mlsGroups: [{ groupId: `group-${tag}`, record: rec(`mls-${data}`) }],
    values: [
      { key: `value-${tag}-1`, value: `v1-${data}` },
      { key: `value-${tag}-2`, value: `v2-${data}` },
    ],
  };
}

/** Reads back every record of `fullBatch(tag)`; returns how many of its 8 records are present with `data`. */
async function countBatch(store: KeyStore, tag: string, data = tag): Promise<number> {
  const found = [
    (await store.loadAccount())?.data === `account-${data}`,
    (await store.loadOlmSessions(`peer-${tag}`)).map((s) => s.record.data).join() === `olm1-${data},olm2-${data}`,
    (await store.loadInboundGroupSession(`!room-${tag}:example.org`, `in-${tag}`))?.record.data === `in-${data}`,
    (await store.loadOutboundGroupSession(`!room-${tag}:example.org`))?.record.data === `out-${data}`,
    (await store.loadReplay(`in-${tag}`, 3))?.eventId === `$event-${data}`,
    (await store.loadMlsGroup(`group-${tag}`))?.record.data === `mls-${data}`,
    (await store.loadValue(`value-${tag}-1`)) === `v1-${data}`,
    (await store.loadValue(`value-${tag}-2`)) === `v2-${data}`,
  ];
  return found.filter(Boolean).length;
}

async function checkBatchPresent(store: KeyStore, tag: string, message: string, data = tag): Promise<void> {
  checkEqual(await countBatch(store, tag, data), 8, `${message}: records of the batch present`);
}

/** None of the batch's records exist: the account may exist, but not with the batch's data. */
async function checkBatchAbsent(store: KeyStore, tag: string, message: string): Promise<void> {
  checkEqual(await countBatch(store, tag), 0, `${message}: records of the batch present`);
  checkEqual(await store.loadOlmSessions(`peer-${tag}`), [], `${message}: olm sessions`);
  checkEqual(await store.listInboundGroupSessions(`!room-${tag}:example.org`), [], `${message}: inbound sessions`);
  checkEqual(await store.loadOutboundGroupSession(`!room-${tag}:example.org`), undefined, `${message}: outbound`);
  checkEqual(await store.loadReplay(`in-${tag}`, 3), undefined, `${message}: replay`);
  checkEqual(await store.loadMlsGroup(`group-${tag}`), undefined, `${message}: mls group`);
  checkEqual(await store.loadValue(`value-${tag}-1`), undefined, `${message}: value`);
}

// ---------------------------------------------------------------------------------------------------------

export const conformanceCases: readonly ConformanceCase[] = [
  {
    name: 'account: save, load, overwrite',
    async run(h) {
      const scope = freshScope('account');
      await using(h, scope, async (s) => {
        checkEqual(await s.loadAccount(), undefined, 'a new store has no account');
        await s.commit({ account: rec('pickle-1', 1) });
      });
      await using(h, scope, async (s) => {
        checkEqual(await s.loadAccount(), rec('pickle-1', 1), 'account after reopen');
        await s.commit({ account: rec('pickle-2', 3) });
      });
      await using(h, scope, async (s) => {
        checkEqual(await s.loadAccount(), rec('pickle-2', 3), 'overwritten account after reopen');
        check(s.scope === scope, 'store.scope is the scope it was opened for');
        check(s.backend === h.backend, `store.backend is ${h.backend}`);
      });
    },
  },
  {
    name: 'olm sessions: saved and listed per sender key, newest first',
    async run(h) {
      const scope = freshScope('olm');
      const olm = (senderKey: string, sessionId: string, lastUsedAt: number, data = sessionId) => ({
        senderKey,
        sessionId,
        lastUsedAt,
        record: rec(data),
      });
      await using(h, scope, async (s) => {
        await s.commit({
          olmSessions: [
            olm('alice', 's1', 1000),
            olm('alice', 's2', 3000),
            olm('alice', 's3', 2000),
            olm('alice', 'tie-b', 500),
            olm('alice', 'tie-a', 500),
            olm('bob', 's1', 9000, 'bob-s1'),
          ],
        });
      });
      await using(h, scope, async (s) => {
        const ids = (await s.loadOlmSessions('alice')).map((e) => e.sessionId);
        checkEqual(ids, ['s2', 's3', 's1', 'tie-a', 'tie-b'], 'newest first, equal times by session id');
        checkEqual(await s.loadOlmSessions('bob'), [olm('bob', 's1', 9000, 'bob-s1')], "bob's sessions, whole entries");
        checkEqual(await s.loadOlmSessions('carol'), [], 'no sessions with an unknown peer');
        // Using s1 again makes it the newest; removing s2 drops it.
        await s.commit({
          olmSessions: [olm('alice', 's1', 4000, 's1-advanced')],
          removeOlmSessions: [{ senderKey: 'alice', sessionId: 's2' }],
        });
      });
      await using(h, scope, async (s) => {
        const list = await s.loadOlmSessions('alice');
        checkEqual(
          list.map((e) => e.sessionId),
          ['s1', 's3', 'tie-a', 'tie-b'],
          'after an update and a removal',
        );
        checkEqual(list[0], olm('alice', 's1', 4000, 's1-advanced'), 'the upserted session');
        checkEqual((await s.loadOlmSessions('bob')).length, 1, "removing alice's s2 left bob's s1");
      });
    },
  },
  {
    name: 'inbound group sessions: by (room, session), per room, all',
    async run(h) {
      const scope = freshScope('inbound');
      const igs = (roomId: string, sessionId: string, data = `${roomId}/${sessionId}`) => ({
        roomId,
        sessionId,
        senderKey: 'sender',
        record: rec(data),
      });
      await using(h, scope, async (s) => {
        await s.commit({ inboundGroupSessions: [igs('!r1', 'b'), igs('!r1', 'a'), igs('!r2', 'a')] });
      });
      await using(h, scope, async (s) => {
        checkEqual(await s.loadInboundGroupSession('!r1', 'a'), igs('!r1', 'a'), 'load by room and session');
        checkEqual(await s.loadInboundGroupSession('!r2', 'b'), undefined, 'the session id of another room');
        checkEqual(await s.loadInboundGroupSession('!r3', 'a'), undefined, 'an unknown room');
        checkEqual(await s.listInboundGroupSessions('!r1'), [igs('!r1', 'a'), igs('!r1', 'b')], 'one room');
        checkEqual(await s.listInboundGroupSessions('!r3'), [], 'an empty room');
        checkEqual(
          await s.listInboundGroupSessions(),
          [igs('!r1', 'a'), igs('!r1', 'b'), igs('!r2', 'a')],
          'every room (ordered by room, then session)',
        );
        await s.commit({
          inboundGroupSessions: [igs('!r1', 'a', 'better copy')],
          removeInboundGroupSessions: [{ roomId: '!r1', sessionId: 'b' }],
        });
      });
      await using(h, scope, async (s) => {
        checkEqual(
          await s.listInboundGroupSessions('!r1'),
          [igs('!r1', 'a', 'better copy')],
          'after upsert and removal',
        );
        checkEqual((await s.listInboundGroupSessions()).length, 2, 'every room after the removal');
      });
    },
  },
  {
    name: 'outbound group sessions: one per room, replaced and removed',
    async run(h) {
      const scope = freshScope('outbound');
      const ogs = (roomId: string, sessionId: string) => ({ roomId, sessionId, record: rec(`${roomId}/${sessionId}`) });
      await using(h, scope, async (s) => {
        await s.commit({ outboundGroupSessions: [ogs('!r1', 'x1'), ogs('!r2', 'y1')] });
      });
      await using(h, scope, async (s) => {
        checkEqual(await s.loadOutboundGroupSession('!r1'), ogs('!r1', 'x1'), 'room 1');
        checkEqual(await s.loadOutboundGroupSession('!r2'), ogs('!r2', 'y1'), 'room 2');
        checkEqual(await s.loadOutboundGroupSession('!r3'), undefined, 'no session in room 3');
        await s.commit({ outboundGroupSessions: [ogs('!r1', 'x2')], removeOutboundGroupSessions: ['!r2', '!r3'] });
      });
      await using(h, scope, async (s) => {
        checkEqual(await s.loadOutboundGroupSession('!r1'), ogs('!r1', 'x2'), 'rotated room 1');
        checkEqual(await s.loadOutboundGroupSession('!r2'), undefined, 'room 2 removed');
        // Rotation in one batch: the removal comes before the put, so the new session stays.
        await s.commit({ removeOutboundGroupSessions: ['!r1'], outboundGroupSessions: [ogs('!r1', 'x3')] });
      });
      await using(h, scope, async (s) => {
        checkEqual(await s.loadOutboundGroupSession('!r1'), ogs('!r1', 'x3'), 'remove and put in one batch');
      });
    },
  },
  {
    name: 'replay records are insert-only',
    async run(h) {
      const scope = freshScope('replay');
      const rp = (messageIndex: number, eventId: string, originServerTs = 100) => ({
        sessionId: 'megolm',
        messageIndex,
        eventId,
        originServerTs,
      });
      await using(h, scope, async (s) => {
        await s.commit({ replays: [rp(0, '$first')] });
        await s.commit({ replays: [rp(0, '$second', 200), rp(1, '$other')] });
        await s.commit({ replays: [rp(2, '$a'), rp(2, '$b')] });
        await s.commit({ replays: [rp(2 ** 32 - 1, '$last')] });
      });
      await using(h, scope, async (s) => {
        checkEqual(await s.loadReplay('megolm', 0), rp(0, '$first'), 'an existing entry is kept unchanged');
        checkEqual(await s.loadReplay('megolm', 1), rp(1, '$other'), 'a new index is inserted');
        checkEqual(await s.loadReplay('megolm', 2), rp(2, '$a'), 'within one batch the first entry wins');
        checkEqual(await s.loadReplay('megolm', 2 ** 32 - 1), rp(2 ** 32 - 1, '$last'), 'the largest message index');
        checkEqual(await s.loadReplay('megolm', 3), undefined, 'an unseen index');
        checkEqual(await s.loadReplay('other', 0), undefined, 'an unseen session');
        // Many at once: the ones that exist, whatever the order asked.
        const many = await s.loadReplays!([
          { sessionId: 'megolm', messageIndex: 3 },
          { sessionId: 'megolm', messageIndex: 2 },
          { sessionId: 'other', messageIndex: 0 },
          { sessionId: 'megolm', messageIndex: 0 },
          { sessionId: 'megolm', messageIndex: 2 ** 32 - 1 },
        ]);
        const byIndex = [...many].sort((a, b) => a.messageIndex - b.messageIndex);
        checkEqual(
          byIndex,
          [rp(0, '$first'), rp(2, '$a'), rp(2 ** 32 - 1, '$last')],
          'loadReplays finds exactly those',
        );
        checkEqual(await s.loadReplays!([]), [], 'loadReplays of nothing');
        // Runs of consecutive indices (the Device reads windows; a store may read them as ranges),
        // ending where another session's keys begin, and at the largest index.
        const window = (sessionId: string, from: number, count: number) =>
          Array.from({ length: count }, (_, i) => ({ sessionId, messageIndex: from + i }));
        const runs = await s.loadReplays!([
          ...window('megolm', 2, 3),
          ...window('other', 0, 3),
          ...window('megolm', 2 ** 32 - 3, 3),
          ...window('megolm', 0, 2),
        ]);
        checkEqual(
          [...runs].sort((a, b) => a.messageIndex - b.messageIndex),
          [rp(0, '$first'), rp(1, '$other'), rp(2, '$a'), rp(2 ** 32 - 1, '$last')],
          'loadReplays over runs of consecutive indices finds exactly those',
        );
      });
    },
  },
  {
    name: 'MLS group records: save, overwrite, remove',
    async run(h) {
      const scope = freshScope('mls');
      await using(h, scope, async (s) => {
        await s.commit({
          mlsGroups: [
            { groupId: 'g1', record: rec('epoch-1') },
            { groupId: 'g2', record: rec('other') },
          ],
        });
      });
      await using(h, scope, async (s) => {
        checkEqual(await s.loadMlsGroup('g1'), { groupId: 'g1', record: rec('epoch-1') }, 'group 1');
        checkEqual(await s.loadMlsGroup('g3'), undefined, 'an unknown group');
        await s.commit({ mlsGroups: [{ groupId: 'g1', record: rec('epoch-2', 2) }], removeMlsGroups: ['g2'] });
      });
      await using(h, scope, async (s) => {
        checkEqual(await s.loadMlsGroup('g1'), { groupId: 'g1', record: rec('epoch-2', 2) }, 'group 1 overwritten');
        checkEqual(await s.loadMlsGroup('g2'), undefined, 'group 2 removed');
      });
    },
  },
  {
    name: 'MLS records as DMLS keeps them: many per batch, large ones, put and removed together',
    async run(h) {
      // A DMLS room keeps per-epoch records (tree, core, 16-node secret chunks), keyed by paths with a
      // URI-encoded room id; at 1000 members an epoch's tree is ~240 KB and sealed records grow by a third.
      const scope = freshScope('dmls');
      const room = encodeURIComponent('!room:example.org');
      const key = (epoch: number, part: string) => `dmls/room/${room}/epoch/${epoch}/${part}`;
      const big = 'A'.repeat(700_000);
      const epoch = (n: number) => [
        { groupId: key(n, 'tree'), record: rec(`${big}${n}`) },
        { groupId: key(n, 'core'), record: rec(`core-${n}`) },
        ...Array.from({ length: 60 }, (_, k) => ({ groupId: key(n, `secrets/${k}`), record: rec(`s${n}-${k}`) })),
      ];
      await using(h, scope, async (s) => {
        await s.commit({ mlsGroups: epoch(0) });
        // The next epoch arrives and the old one is deleted, in one batch.
        await s.commit({
          mlsGroups: epoch(1),
          removeMlsGroups: epoch(0).map((e) => e.groupId),
        });
      });
      await using(h, scope, async (s) => {
        checkEqual(await s.loadMlsGroup(key(0, 'tree')), undefined, 'the deleted epoch is gone');
        checkEqual(await s.loadMlsGroup(key(0, 'secrets/59')), undefined, 'with all its secrets');
        checkEqual((await s.loadMlsGroup(key(1, 'tree')))?.record.data, `${big}1`, 'the large record, whole');
        checkEqual((await s.loadMlsGroup(key(1, 'secrets/59')))?.record.data, 's1-59', 'the last secret chunk');
      });
    },
  },
  {
    name: 'values: save, overwrite, delete with null, any text',
    async run(h) {
      const scope = freshScope('values');
      const big = 'x'.repeat(1 << 20);
      const unicode = 'ключ 🔑 鍵 \u{10FFFF} "quotes" \\ \n tab\t';
      await using(h, scope, async (s) => {
        await s.commit({
          values: [
            { key: 'a', value: '1' },
            { key: 'b', value: '2' },
            { key: 'empty', value: '' },
            { key: 'big', value: big },
            { key: unicode, value: unicode },
            { key: 'gone', value: null },
          ],
        });
      });
      await using(h, scope, async (s) => {
        checkEqual(await s.loadValue('a'), '1', 'value a');
        checkEqual(await s.loadValue('empty'), '', 'an empty string is a value, not a deletion');
        check((await s.loadValue('big')) === big, 'a 1 MiB value round-trips');
        checkEqual(await s.loadValue(unicode), unicode, 'non-ASCII keys and values round-trip');
        checkEqual(await s.loadValue('gone'), undefined, 'deleting a missing key is a no-op');
        await s.commit({
          values: [
            { key: 'a', value: '3' },
            { key: 'b', value: null },
          ],
        });
      });
      await using(h, scope, async (s) => {
        checkEqual(await s.loadValue('a'), '3', 'overwritten');
        checkEqual(await s.loadValue('b'), undefined, 'deleted with null');
        // The last put of a key in one batch wins.
        await s.commit({
          values: [
            { key: 'c', value: 'first' },
            { key: 'c', value: 'last' },
          ],
        });
      });
      await using(h, scope, async (s) => {
        checkEqual(await s.loadValue('c'), 'last', 'the last put of a key in one batch wins');
      });
    },
  },
  {
    name: 'a batch of every kind is applied whole',
    async run(h) {
      const scope = freshScope('batch');
      await using(h, scope, async (s) => {
        await s.commit(fullBatch('one'));
        await s.commit({});
      });
      await using(h, scope, async (s) => {
        await checkBatchPresent(s, 'one', 'after reopen');
        await s.commit(fullBatch('one', 'updated'));
      });
      await using(h, scope, async (s) => {
        const updated = await countBatch(s, 'one', 'updated');
        // Replays are insert-only, so the one replay record keeps its first event id.
        checkEqual(updated, 7, 'every upserted record of the second batch');
        checkEqual((await s.loadReplay('in-one', 3))?.eventId, '$event-one', 'the replay record is unchanged');
      });
    },
  },
  {
    name: 'a failing batch applies nothing (stale fence, invalid entry at the end)',
    async run(h) {
      const scope = freshScope('failing');
      await using(h, scope, async (s) => {
        await s.commit({ account: rec('base') });
        const mine = await s.tryAcquireLease('me', 60_000);
        check(mine !== undefined, 'took the lease');
        // A fence naming a generation the lease never had.
        await checkRejects(
          () => s.commit(fullBatch('fenced'), { fence: { ...mine, generation: mine.generation + 5 } }),
          'STORE_LEASE_LOST',
          'commit with a wrong generation',
        );
        await checkRejects(
          () => s.commit(fullBatch('holder'), { fence: { ...mine, holder: 'someone else' } }),
          'STORE_LEASE_LOST',
          'commit with a wrong holder',
        );
        // The batch is valid up to its very last entry.
        const bad = fullBatch('invalid');
        await checkRejects(
          () =>
            s.commit({
              ...bad,
              values: [...(bad.values ?? []), { key: 'broken', value: 42 as unknown as string }],
            }),
          'STORE_INVALID',
          'a non-string value at the end of the batch',
        );
        await checkRejects(
          () =>
            s.commit({
              ...bad,
              replays: [...(bad.replays ?? []), { sessionId: 's', messageIndex: -1, eventId: '$e', originServerTs: 1 }],
            }),
          'STORE_INVALID',
          'a negative message index at the end of the batch',
        );
        await s.releaseLease(mine);
      });
      await using(h, scope, async (s) => {
        checkEqual(await s.loadAccount(), rec('base'), 'the account was not overwritten');
        for (const tag of ['fenced', 'holder', 'invalid']) await checkBatchAbsent(s, tag, `batch ${tag}`);
        checkEqual(await s.loadValue('broken'), undefined, 'the invalid value');
        await s.commit(fullBatch('after'));
      });
      await using(h, scope, async (s) => {
        await checkBatchPresent(s, 'after', 'the store still works after failed batches');
      });
    },
  },
  {
    name: 'a batch the database engine rejects midway applies nothing',
    needs: 'writeTrap',
    async run(h) {
      const scope = freshScope('trap');
      await h.installWriteTrap!(scope, 'trap');
      await using(h, scope, async (s) => {
        await s.commit({ account: rec('base') });
        const batch = fullBatch('trapped');
        // Values are written last, so every other record of the batch is already written when the engine refuses.
        const error = await checkRejects(
          () => s.commit({ ...batch, values: [...(batch.values ?? []), { key: 'trap', value: 'boom' }] }),
          'STORE_IO',
          'the engine refused a write',
        );
        check(error.cause !== undefined, 'the driver error is kept as cause');
        check(!error.message.includes('boom'), 'the message does not quote record data');
      });
      await using(h, scope, async (s) => {
        checkEqual(await s.loadAccount(), rec('base'), 'the account was not overwritten');
        await checkBatchAbsent(s, 'trapped', 'after the engine refused');
        checkEqual(await s.loadValue('trap'), undefined, 'the trapped value');
        await s.commit(fullBatch('after'));
        await checkBatchPresent(s, 'after', 'the store still works');
      });
    },
  },
  {
    name: 'scopes in one database are isolated',
    async run(h) {
      const one = freshScope('scope-one');
      const two = freshScope('scope-two');
      await using(h, one, async (s) => s.commit(fullBatch('same', 'one')));
      await using(h, two, async (s) => s.commit(fullBatch('same', 'two')));
      const a = await h.open(one);
      const b = await h.open(two);
      try {
        await checkBatchPresent(a, 'same', 'scope one', 'one');
        await checkBatchPresent(b, 'same', 'scope two', 'two');
        checkEqual((await a.listInboundGroupSessions()).length, 1, 'scope one lists only its own sessions');
        await a.commit({
          values: [{ key: 'value-same-1', value: null }],
          removeOlmSessions: [{ senderKey: 'peer-same', sessionId: 'olm-same-1' }],
          removeOutboundGroupSessions: ['!room-same:example.org'],
        });
        // Leases are per scope too.
        check((await a.tryAcquireLease('holder-a', 60_000)) !== undefined, 'scope one lease');
        check((await b.tryAcquireLease('holder-b', 60_000)) !== undefined, 'scope two lease, while one is held');
      } finally {
        await a.close();
        await b.close();
      }
      await using(h, two, async (s) => {
        await checkBatchPresent(s, 'same', 'scope two after deletions in scope one', 'two');
      });
      await using(h, one, async (s) => {
        checkEqual(await s.loadValue('value-same-1'), undefined, 'the deletion in scope one');
      });
    },
  },
  {
    name: 'lease: acquire, renew, refuse, expire, take over with generation + 1, fence',
    async run(h) {
      const scope = freshScope('lease');
      const a = await h.open(scope);
      const b = await h.open(scope);
      let taken: LeaseToken;
      try {
        const before = Date.now();
        const first = await a.tryAcquireLease('A', 300);
        check(first !== undefined, 'A takes a free lease');
        checkEqual(first.holder, 'A', 'the token names its holder');
        check(
          first.expiresAt >= before + 300 - 2000 && first.expiresAt <= Date.now() + 300 + 2000,
          `expiresAt is about now + 300 ms (got ${first.expiresAt - before} ms from the start)`,
        );
        const renewed = await a.tryAcquireLease('A', 300);
        check(renewed !== undefined, 'A renews its own lease');
        checkEqual(renewed.generation, first.generation, 'a renewal keeps the generation');
        check(renewed.expiresAt >= first.expiresAt, 'a renewal does not shorten the lease');
        checkEqual(await b.tryAcquireLease('B', 300), undefined, 'B is refused while A holds the lease');
        await a.commit({ values: [{ key: 'by', value: 'A' }] }, { fence: renewed });

        await sleep(600);
        const takeover = await b.tryAcquireLease('B', 60_000);
        check(takeover !== undefined, 'B takes the lease after it expired');
        checkEqual(takeover.generation, first.generation + 1, 'the generation goes up by one on a new holder');
        taken = takeover;
        await checkRejects(
          () => a.commit({ values: [{ key: 'by', value: 'A again' }] }, { fence: renewed }),
          'STORE_LEASE_LOST',
          "A's fenced commit after the takeover",
        );
        await b.commit({ values: [{ key: 'by', value: 'B' }] }, { fence: takeover });
        checkEqual(await a.tryAcquireLease('A', 300), undefined, 'A is refused while B holds the lease');
        await a.releaseLease(renewed); // a stale token releases nothing
        checkEqual(await a.tryAcquireLease('A', 300), undefined, "a stale release did not free B's lease");
      } finally {
        await a.close();
        await b.close();
      }
      const c = await h.open(scope);
      try {
        checkEqual(await c.loadValue('by'), 'B', 'only the fenced commits of current holders landed');
        checkEqual(await c.tryAcquireLease('A', 300), undefined, 'the lease survives a reopen');
        await c.releaseLease(taken);
        const back = await c.tryAcquireLease('A', 60_000);
        check(back !== undefined, 'A takes the lease once B released it');
        checkEqual(back.generation, taken.generation + 1, 'a release never lowers the generation');
        await checkRejects(
          () => c.commit({ values: [{ key: 'by', value: 'B again' }] }, { fence: taken }),
          'STORE_LEASE_LOST',
          "B's fenced commit after releasing",
        );
        await c.commit({ values: [{ key: 'by', value: 'A' }] }, { fence: back });
      } finally {
        await c.close();
      }
      await using(h, freshScope('lease-none'), async (s) => {
        await checkRejects(
          () =>
            s.commit({ values: [{ key: 'k', value: 'v' }] }, { fence: { holder: 'A', generation: 1, expiresAt: 0 } }),
          'STORE_LEASE_LOST',
          'a fenced commit on a device nobody ever leased',
        );
        checkEqual(await s.loadValue('k'), undefined, 'nothing written without a lease');
      });
    },
  },
  {
    name: 'lease: concurrent attempts on an expired lease give it to exactly one holder',
    async run(h) {
      const scope = freshScope('lease-race');
      const stores = await Promise.all([h.open(scope), h.open(scope), h.open(scope)]);
      try {
        for (let round = 0; round < 3; round++) {
          const tokens = await Promise.all(stores.map((s, i) => s.tryAcquireLease(`holder-${round}-${i}`, 60_000)));
          const winners = tokens.filter((t) => t !== undefined);
          checkEqual(winners.length, 1, `round ${round}: holders that got the lease`);
          await stores[0]!.releaseLease(winners[0]!);
        }
      } finally {
        for (const s of stores) await s.close();
      }
    },
  },
  {
    name: 'schema version',
    async run(h) {
      const scope = freshScope('schema');
      await using(h, scope, async (s) => checkEqual(await s.schemaVersion(), STORE_SCHEMA_VERSION, 'a new database'));
      await using(h, scope, async (s) => checkEqual(await s.schemaVersion(), STORE_SCHEMA_VERSION, 'after reopen'));
    },
  },
  {
    name: 'schema: a first-schema (v1) database upgrades with its data intact',
    needs: 'schemaFixtures',
    async run(h) {
      const scope = freshScope('upgrade');
      const open = await h.schemaFixtures!.createV1(scope);
      const f = V1_FIXTURE;
      const s = await open();
      try {
        checkEqual(await s.schemaVersion(), STORE_SCHEMA_VERSION, 'upgraded to the current version');
        checkEqual(await s.loadAccount(), f.account, 'v1 account');
        checkEqual(
          await s.loadOlmSessions(f.olmSession.senderKey),
          [
            {
              senderKey: f.olmSession.senderKey,
              sessionId: f.olmSession.sessionId,
              lastUsedAt: f.olmSession.lastUsedAt,
              record: rec(f.olmSession.data),
            },
          ],
          'v1 olm session',
        );
        const i = f.inboundGroupSession;
        checkEqual(
          await s.listInboundGroupSessions(),
          [{ roomId: i.roomId, sessionId: i.sessionId, senderKey: i.senderKey, record: rec(i.data) }],
          'v1 inbound group session',
        );
        const o = f.outboundGroupSession;
        checkEqual(
          await s.loadOutboundGroupSession(o.roomId),
          { roomId: o.roomId, sessionId: o.sessionId, record: rec(o.data) },
          'v1 outbound group session',
        );
        checkEqual(await s.loadReplay(f.replay.sessionId, f.replay.messageIndex), f.replay, 'v1 replay');
        checkEqual(
          await s.loadMlsGroup(f.mlsGroup.groupId),
          { groupId: f.mlsGroup.groupId, record: rec(f.mlsGroup.data) },
          'v1 mls',
        );
        checkEqual(await s.loadValue(f.value.key), f.value.value, 'v1 value');
        // v2 brought the lease table.
        const token = await s.tryAcquireLease('upgraded', 60_000);
        check(token !== undefined, 'the lease works after the upgrade');
        await s.commit(fullBatch('new'), { fence: token });
      } finally {
        await s.close();
      }
      const again = await open();
      try {
        checkEqual(await again.schemaVersion(), STORE_SCHEMA_VERSION, 'the version after reopening');
        await checkBatchPresent(again, 'new', 'data written after the upgrade');
        checkEqual(await again.loadValue(f.value.key), f.value.value, 'v1 value after reopening');
      } finally {
        await again.close();
      }
    },
  },
  {
    name: 'schema: a database newer than supported is refused with STORE_SCHEMA',
    needs: 'schemaFixtures',
    async run(h) {
      const open = await h.schemaFixtures!.createNewer(freshScope('newer'));
      await checkRejects(() => open(), 'STORE_SCHEMA', 'opening a newer database');
    },
  },
  {
    name: 'a closed store refuses every call with STORE_CLOSED',
    async run(h) {
      const s = await h.open(freshScope('closed'));
      await s.close();
      await s.close(); // closing twice is fine
      const calls: [string, () => Promise<unknown>][] = [
        ['loadAccount', () => s.loadAccount()],
        ['loadOlmSessions', () => s.loadOlmSessions('k')],
        ['loadInboundGroupSession', () => s.loadInboundGroupSession('r', 's')],
        ['listInboundGroupSessions', () => s.listInboundGroupSessions()],
        ['loadOutboundGroupSession', () => s.loadOutboundGroupSession('r')],
        ['loadReplay', () => s.loadReplay('s', 0)],
        ['loadReplays', () => s.loadReplays!([{ sessionId: 's', messageIndex: 0 }])],
        ['loadReplays of nothing', () => s.loadReplays!([])],
        ['loadMlsGroup', () => s.loadMlsGroup('g')],
        ['loadValue', () => s.loadValue('k')],
        ['commit', () => s.commit({ values: [{ key: 'k', value: 'v' }] })],
        ['tryAcquireLease', () => s.tryAcquireLease('h', 100)],
        ['releaseLease', () => s.releaseLease({ holder: 'h', generation: 1, expiresAt: 0 })],
        ['schemaVersion', () => s.schemaVersion()],
      ];
      for (const [name, call] of calls) await checkRejects(call, 'STORE_CLOSED', `${name} after close`);
    },
  },
  {
    name: 'malformed arguments are refused with STORE_INVALID and write nothing',
    async run(h) {
      const scope = freshScope('invalid');
      await using(h, scope, async (s) => {
        const any = (v: unknown) => v as never;
        const calls: [string, () => Promise<unknown>][] = [
          ['empty sender key', () => s.loadOlmSessions('')],
          ['non-string room', () => s.loadInboundGroupSession(any(1), 's')],
          ['negative index', () => s.loadReplay('s', -1)],
          ['fractional index', () => s.loadReplay('s', 1.5)],
          ['NaN index', () => s.loadReplay('s', Number.NaN)],
          ['index over 2^32 - 1', () => s.loadReplay('s', 2 ** 32)],
          ['replay keys not an array', () => s.loadReplays!(any({ sessionId: 's', messageIndex: 0 }))],
          ['replay key with a bad index', () => s.loadReplays!([{ sessionId: 's', messageIndex: -1 }])],
          ['replay key null', () => s.loadReplays!(any([null]))],
          ['null changes', () => s.commit(any(null))],
          ['changes not an object', () => s.commit(any('account'))],
          ['list not an array', () => s.commit(any({ values: { key: 'k', value: 'v' } }))],
          ['record without data', () => s.commit(any({ account: { schema: 1 } }))],
          ['non-integer schema', () => s.commit({ account: { schema: 1.5, data: 'x' } })],
          ['NUL in data', () => s.commit({ account: { schema: 1, data: 'a\u0000b' } })],
          ['lone surrogate in key', () => s.commit({ values: [{ key: '\uD800', value: 'x' }] })],
          [
            'string lastUsedAt',
            () =>
              s.commit(any({ olmSessions: [{ senderKey: 'k', sessionId: 's', lastUsedAt: '1', record: rec('x') }] })),
          ],
          ['empty session id', () => s.commit({ removeMlsGroups: [''] })],
          ['fence without holder', () => s.commit({}, any({ fence: { generation: 1 } }))],
          ['empty holder', () => s.tryAcquireLease('', 100)],
          ['zero duration', () => s.tryAcquireLease('h', 0)],
          ['fractional duration', () => s.tryAcquireLease('h', 1.5)],
          ['malformed token', () => s.releaseLease(any({ holder: 'h' }))],
        ];
        for (const [name, call] of calls) await checkRejects(call, 'STORE_INVALID', name);
      });
      await using(h, scope, async (s) => {
        checkEqual(await s.loadAccount(), undefined, 'no account was written');
        checkEqual(await s.loadValue('k'), undefined, 'no value was written');
      });
    },
  },
];

/** The cases a harness can run: those whose hooks it provides. */
export function casesFor(harness: StoreHarness): ConformanceCase[] {
  return conformanceCases.filter(
    (c) =>
      c.needs === undefined ||
      (c.needs === 'writeTrap' && harness.installWriteTrap !== undefined) ||
      (c.needs === 'schemaFixtures' && harness.schemaFixtures !== undefined),
  );
}
