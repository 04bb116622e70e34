/** The batch the crash test's writer commits for each sequence number, and how to count what of it landed. */
import type { KeyStore, StoreChanges } from '../../src/store/types.js';

// Padding makes each commit write a few pages, so a kill is likelier to land while one is in flight.
const PAD = 'p'.repeat(4096);

/** Records each batch writes besides the account (which every batch overwrites). */
export const CRASH_RECORDS = 6;

export function crashBatch(seq: number): StoreChanges {
  const rec = (kind: string) => ({ schema: 1, data: `${kind}-${seq}-${PAD}` });
  return {
    account: rec('account'),
    olmSessions: [{ senderKey: 'crash-peer', sessionId: `olm-${seq}`, lastUsedAt: seq, record: rec('olm') }],
    inboundGroupSessions: [
      { roomId: '!crash:example.org', sessionId: `in-${seq}`, senderKey: 'crash-peer', record: rec('in') },
    ],
    replays: [{ sessionId: 'crash-megolm', messageIndex: seq, eventId: `$event-${seq}`, originServerTs: seq }],
    mlsGroups: [{ groupId: `group-${seq}`, record: rec('mls') }],
    values: [
      { key: `crash-${seq}-a`, value: `a-${seq}` },
      { key: `crash-${seq}-b`, value: `b-${seq}` },
    ],
  };
}

/** The Olm and inbound group sessions the writer left, read in one go (listing them per batch would be quadratic). */
export interface CrashSnapshot {
  readonly olm: ReadonlyMap<string, string>;
  readonly inbound: ReadonlyMap<string, string>;
}

export async function crashSnapshot(store: KeyStore): Promise<CrashSnapshot> {
  return {
    olm: new Map((await store.loadOlmSessions('crash-peer')).map((s) => [s.sessionId, s.record.data])),
    inbound: new Map(
      (await store.listInboundGroupSessions('!crash:example.org')).map((s) => [s.sessionId, s.record.data]),
    ),
  };
}

/** How many of the batch's own records (all but the shared account) exist with the batch's data. */
export async function countCrashBatch(store: KeyStore, snapshot: CrashSnapshot, seq: number): Promise<number> {
  const data = (kind: string) => `${kind}-${seq}-${PAD}`;
  const found = [
    snapshot.olm.get(`olm-${seq}`) === data('olm'),
    snapshot.inbound.get(`in-${seq}`) === data('in'),
    (await store.loadReplay('crash-megolm', seq))?.eventId === `$event-${seq}`,
    (await store.loadMlsGroup(`group-${seq}`))?.record.data === data('mls'),
    (await store.loadValue(`crash-${seq}-a`)) === `a-${seq}`,
    (await store.loadValue(`crash-${seq}-b`)) === `b-${seq}`,
  ];
  return found.filter(Boolean).length;
}

/** The sequence number of the batch that wrote the account last. */
export async function accountSeq(store: KeyStore): Promise<number | undefined> {
  const data = (await store.loadAccount())?.data;
  const match = data === undefined ? null : /^account-(\d+)-/.exec(data);
  return match === null ? undefined : Number(match[1]);
}
