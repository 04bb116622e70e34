/**
 * The IndexedDB store's schema and plumbing (see indexeddb.ts): object store names, the upgrade steps,
 * the request/transaction promises, row shapes and the insert-only write of replay records.
 */
import type { InboundGroupSessionEntry, ReplayEntry, StoredRecord } from './types.js';

export const S = {
  accounts: 'accounts',
  olmSessions: 'olmSessions',
  inboundGroupSessions: 'inboundGroupSessions',
  outboundGroupSessions: 'outboundGroupSessions',
  replays: 'replays',
  mlsGroups: 'mlsGroups',
  values: 'values',
  leases: 'leases',
} as const;

export const OLM_BY_USE = 'byLastUse';

/** Inserts replay records, keeping any that exist (insert-only, as every store does). */
export function addReplays(store: IDBObjectStore, scope: string, replays: readonly ReplayEntry[]): void {
  for (const r of replays) {
    // add() refuses an existing key; swallowing that one error keeps the old entry and the transaction alive.
    const req = store.add({ scope, ...r });
    req.onerror = (event) => {
      if (req.error?.name === 'ConstraintError') {
        event.preventDefault();
        event.stopPropagation();
      }
    };
  }
}

export const REPLAY_COMMIT_STORES: string[] = [S.replays, S.leases];

export const COMMIT_STORES: string[] = [
  S.accounts,
  S.olmSessions,
  S.inboundGroupSessions,
  S.outboundGroupSessions,
  S.replays,
  S.mlsGroups,
  S.values,
  S.leases,
];

/** The database version is the schema version; each step takes `oldVersion` one version up. */
export function upgrade(db: IDBDatabase, tx: IDBTransaction, oldVersion: number): void {
  if (oldVersion < 1) {
    db.createObjectStore(S.accounts, { keyPath: 'scope' });
    db.createObjectStore(S.olmSessions, { keyPath: ['scope', 'senderKey', 'sessionId'] });
    db.createObjectStore(S.inboundGroupSessions, { keyPath: ['scope', 'roomId', 'sessionId'] });
    db.createObjectStore(S.outboundGroupSessions, { keyPath: ['scope', 'roomId'] });
    db.createObjectStore(S.replays, { keyPath: ['scope', 'sessionId', 'messageIndex'] });
    db.createObjectStore(S.mlsGroups, { keyPath: ['scope', 'groupId'] });
    db.createObjectStore(S.values, { keyPath: ['scope', 'key'] });
  }
  if (oldVersion < 2) {
    // v2: the lease rows (fenced commits), and an index that serves "newest session first".
    db.createObjectStore(S.leases, { keyPath: 'scope' });
    tx.objectStore(S.olmSessions).createIndex(OLM_BY_USE, ['scope', 'senderKey', 'lastUsedAt']);
  }
}

export function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

export function finished(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new DOMException('transaction aborted', 'AbortError'));
  });
}

// Every key of a scope sorts between [scope] and [scope, []]: arrays sort after strings and numbers.
export const prefix = (...parts: string[]): IDBKeyRange => IDBKeyRange.bound(parts, [...parts, []]);

export interface RecordRow {
  schema: number;
  data: string;
}
export interface InboundRow extends RecordRow {
  roomId: string;
  sessionId: string;
  senderKey: string;
}
export interface OlmRow extends RecordRow {
  senderKey: string;
  sessionId: string;
  lastUsedAt: number;
}

export const record = (row: RecordRow): StoredRecord => ({ schema: row.schema, data: row.data });
export const inbound = (r: InboundRow): InboundGroupSessionEntry => ({
  roomId: r.roomId,
  sessionId: r.sessionId,
  senderKey: r.senderKey,
  record: record(r),
});
