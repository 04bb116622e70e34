/**
 * A KeyStore in the browser's IndexedDB. One readwrite transaction per commit, with every request issued
 * synchronously before the first await: IndexedDB commits a transaction by itself as soon as the event loop
 * turns with no request pending, so an await between two puts would split the batch. The lease rows live in
 * the same database, so tabs (and workers) of one origin compete for a device's lease through it.
 */
import { StoreError } from '../errors.js';
import {
  checkCommitOptions,
  checkDuration,
  checkHolder,
  checkInteger,
  checkMessageIndex,
  checkReplayKeys,
  checkScope,
  checkString,
  checkToken,
  compareInboundGroupSessions,
  compareOlmSessions,
  fenceHolds,
  ioError,
  type LeaseRow,
  leaseLost,
  nextLease,
  normalizeChanges,
  STORE_SCHEMA_VERSION,
} from './common.js';
import {
  addReplays,
  COMMIT_STORES,
  finished,
  type InboundRow,
  inbound,
  OLM_BY_USE,
  type OlmRow,
  prefix,
  REPLAY_COMMIT_STORES,
  type RecordRow,
  record,
  request,
  S,
  upgrade,
} from './indexeddb-schema.js';
import type {
  CommitOptions,
  InboundGroupSessionEntry,
  KeyStore,
  LeaseToken,
  MlsGroupEntry,
  OlmSessionEntry,
  OutboundGroupSessionEntry,
  ReplayEntry,
  ReplayKey,
  StoreChanges,
  StoredRecord,
} from './types.js';

export interface IndexedDbStoreOptions {
  /** The device this store holds, e.g. `@alice:example.org|DEVICEID`. */
  readonly scope: string;
  /** Name of the IndexedDB database; many devices may share one. Default `triturus`. */
  readonly databaseName?: string;
  /** The IndexedDB factory to use. Default `globalThis.indexedDB`. */
  readonly indexedDB?: IDBFactory;
  /** How long an upgrade waits for other tabs to close an older connection. Default 10000 ms. */
  readonly blockedTimeoutMs?: number;
}

export class IndexedDbStore implements KeyStore {
  readonly backend: string = 'indexeddb';
  readonly scope: string;
  readonly #db: IDBDatabase;
  #closedReason: string | undefined;

  private constructor(scope: string, db: IDBDatabase) {
    this.scope = scope;
    this.#db = db;
    // Another tab wants a newer schema: step aside rather than block it, and refuse further use.
    db.onversionchange = () => {
      db.close();
      this.#closedReason ??= 'indexeddb store was closed because another tab upgraded the database';
    };
    db.onclose = () => {
      this.#closedReason ??= 'indexeddb store was closed by the browser';
    };
  }

  /** Opens (creating or upgrading when needed) the database for one device. */
  static async open(options: IndexedDbStoreOptions): Promise<IndexedDbStore> {
    if (typeof options !== 'object' || options === null) {
      throw new StoreError('STORE_INVALID', 'indexeddb: options must be an object', { field: 'options' });
    }
    const scope = checkScope(options.scope);
    const name = checkString(options.databaseName ?? 'triturus', 'databaseName');
    const blockedTimeoutMs = checkInteger(options.blockedTimeoutMs ?? 10_000, 'blockedTimeoutMs', 0, 3_600_000);
    const factory = options.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
    if (factory === undefined) throw new StoreError('STORE_IO', 'indexeddb: IndexedDB is not available here');
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      let settled = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const fail = (error: StoreError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(error);
      };
      let req: IDBOpenDBRequest;
      try {
        req = factory.open(name, STORE_SCHEMA_VERSION);
      } catch (error) {
        fail(ioError('indexeddb', 'open', error));
        return;
      }
      req.onupgradeneeded = (event) => {
        try {
          upgrade(req.result, req.transaction!, event.oldVersion);
        } catch {
          req.transaction?.abort();
        }
      };
      req.onsuccess = () => {
        if (settled) {
          req.result.close(); // we gave up waiting; do not leak the connection
          return;
        }
        settled = true;
        clearTimeout(timer);
        resolve(req.result);
      };
      req.onerror = () => {
        if (req.error?.name === 'VersionError') {
          fail(
            new StoreError(
              'STORE_SCHEMA',
              `indexeddb database ${name} has a schema newer than the ${STORE_SCHEMA_VERSION} this version of triturus supports`,
              { expected: STORE_SCHEMA_VERSION },
              { cause: req.error },
            ),
          );
        } else {
          fail(ioError('indexeddb', 'open', req.error));
        }
      };
      req.onblocked = () => {
        timer ??= setTimeout(
          () =>
            fail(
              new StoreError(
                'STORE_SCHEMA',
                `indexeddb: upgrading ${name} is blocked by another tab that keeps an older version open`,
              ),
            ),
          blockedTimeoutMs,
        );
      };
    });
    return new IndexedDbStore(scope, db);
  }

  #transaction(stores: string | string[], mode: IDBTransactionMode, relaxed = false): IDBTransaction {
    if (this.#closedReason !== undefined) throw new StoreError('STORE_CLOSED', this.#closedReason);
    try {
      const durability = mode === 'readonly' ? 'default' : relaxed ? 'relaxed' : 'strict';
      return this.#db.transaction(stores, mode, { durability });
    } catch (error) {
      throw ioError(this.backend, 'transaction', error);
    }
  }

  async #get<T>(operation: string, store: string, make: (store: IDBObjectStore) => IDBRequest): Promise<T> {
    const tx = this.#transaction(store, 'readonly');
    try {
      return (await request(make(tx.objectStore(store)))) as T;
    } catch (error) {
      throw ioError(this.backend, operation, error);
    }
  }

  async loadAccount(): Promise<StoredRecord | undefined> {
    const row = await this.#get<RecordRow | undefined>('loadAccount', S.accounts, (s) => s.get(this.scope));
    return row === undefined ? undefined : record(row);
  }

  async loadOlmSessions(senderKey: string): Promise<OlmSessionEntry[]> {
    checkString(senderKey, 'senderKey');
    const range = IDBKeyRange.bound([this.scope, senderKey, -Infinity], [this.scope, senderKey, Infinity]);
    const rows = await this.#get<OlmRow[]>('loadOlmSessions', S.olmSessions, (s) => s.index(OLM_BY_USE).getAll(range));
    return rows
      .map((r) => ({ senderKey: r.senderKey, sessionId: r.sessionId, lastUsedAt: r.lastUsedAt, record: record(r) }))
      .sort(compareOlmSessions);
  }

  async loadInboundGroupSession(roomId: string, sessionId: string): Promise<InboundGroupSessionEntry | undefined> {
    checkString(roomId, 'roomId');
    checkString(sessionId, 'sessionId');
    const row = await this.#get<InboundRow | undefined>('loadInboundGroupSession', S.inboundGroupSessions, (s) =>
      s.get([this.scope, roomId, sessionId]),
    );
    return row === undefined ? undefined : inbound(row);
  }

  async listInboundGroupSessions(roomId?: string): Promise<InboundGroupSessionEntry[]> {
    const range = roomId === undefined ? prefix(this.scope) : prefix(this.scope, checkString(roomId, 'roomId'));
    const rows = await this.#get<InboundRow[]>('listInboundGroupSessions', S.inboundGroupSessions, (s) =>
      s.getAll(range),
    );
    return rows.map(inbound).sort(compareInboundGroupSessions);
  }

  async loadOutboundGroupSession(roomId: string): Promise<OutboundGroupSessionEntry | undefined> {
    checkString(roomId, 'roomId');
    const row = await this.#get<(RecordRow & { roomId: string; sessionId: string }) | undefined>(
      'loadOutboundGroupSession',
      S.outboundGroupSessions,
      (s) => s.get([this.scope, roomId]),
    );
    return row === undefined ? undefined : { roomId: row.roomId, sessionId: row.sessionId, record: record(row) };
  }

  async loadReplay(sessionId: string, messageIndex: number): Promise<ReplayEntry | undefined> {
    checkString(sessionId, 'sessionId');
    messageIndex = checkMessageIndex(messageIndex);
    const row = await this.#get<ReplayEntry | undefined>('loadReplay', S.replays, (s) =>
      s.get([this.scope, sessionId, messageIndex]),
    );
    return row === undefined
      ? undefined
      : {
          sessionId: row.sessionId,
          messageIndex: row.messageIndex,
          eventId: row.eventId,
          originServerTs: row.originServerTs,
        };
  }

  async loadReplays(keys: readonly ReplayKey[]): Promise<ReplayEntry[]> {
    const checked = checkReplayKeys(keys);
    // One read transaction for all of them; a run of consecutive indices of one session (the Device
    // reads a window of the indices after the one it needs) is one range request instead of one each.
    const tx = this.#transaction(S.replays, 'readonly');
    const store = tx.objectStore(S.replays);
    const requests: IDBRequest[] = [];
    for (let i = 0; i < checked.length; ) {
      const { sessionId, messageIndex } = checked[i]!;
      let end = i + 1;
      while (
        end < checked.length &&
        checked[end]!.sessionId === sessionId &&
        checked[end]!.messageIndex === messageIndex + (end - i)
      ) {
        end++;
      }
      requests.push(
        end - i === 1
          ? store.get([this.scope, sessionId, messageIndex])
          : store.getAll(
              IDBKeyRange.bound(
                [this.scope, sessionId, messageIndex],
                [this.scope, sessionId, messageIndex + (end - i - 1)],
              ),
            ),
      );
      i = end;
    }
    let results: unknown[];
    try {
      results = await Promise.all(requests.map((r) => request(r)));
    } catch (error) {
      throw ioError(this.backend, 'loadReplays', error);
    }
    const entries: ReplayEntry[] = [];
    for (const result of results) {
      for (const row of (Array.isArray(result) ? result : [result]) as (ReplayEntry | undefined)[]) {
        if (row === undefined) continue;
        entries.push({
          sessionId: row.sessionId,
          messageIndex: row.messageIndex,
          eventId: row.eventId,
          originServerTs: row.originServerTs,
        });
      }
    }
    return entries;
  }

  async loadMlsGroup(groupId: string): Promise<MlsGroupEntry | undefined> {
    checkString(groupId, 'groupId');
    const row = await this.#get<(RecordRow & { groupId: string }) | undefined>('loadMlsGroup', S.mlsGroups, (s) =>
      s.get([this.scope, groupId]),
    );
    return row === undefined ? undefined : { groupId: row.groupId, record: record(row) };
  }

  async loadValue(key: string): Promise<string | undefined> {
    checkString(key, 'key');
    const row = await this.#get<{ value: string } | undefined>('loadValue', S.values, (s) => s.get([this.scope, key]));
    return row?.value;
  }

  async commit(changes: StoreChanges, options?: CommitOptions): Promise<void> {
    const c = normalizeChanges(changes);
    const fence = checkCommitOptions(options);
    const scope = this.scope;
    // A batch of nothing but replay records (decrypted room events: the busiest commit of a client) is
    // written with relaxed durability, as browsers write by default: the OS has it, unflushed. A power cut
    // may lose the last of them, which lets those events be replayed once more, and nothing else. Every
    // batch whose loss could reuse a key (account, Olm and Megolm sessions, index reservations) is strict.
    const onlyReplays =
      c.replays.length > 0 &&
      c.account === undefined &&
      c.olmSessions.length + c.removeOlmSessions.length === 0 &&
      c.inboundGroupSessions.length + c.removeInboundGroupSessions.length === 0 &&
      c.outboundGroupSessions.length + c.removeOutboundGroupSessions.length === 0 &&
      c.mlsGroups.length + c.removeMlsGroups.length + c.values.length === 0;
    // Only the object stores this batch touches (and the lease row for the fence): a commit of replay
    // records then does not hold up reads of sessions or values, which wait for any read-write
    // transaction whose scope overlaps theirs.
    const scopeStores = onlyReplays ? (fence === undefined ? [S.replays] : REPLAY_COMMIT_STORES) : COMMIT_STORES;
    const tx = this.#transaction(scopeStores, 'readwrite', onlyReplays);
    const done = finished(tx);
    let lost: StoreError | undefined;
    // From here to `await done` nothing awaits: every request is queued while the transaction is active.
    try {
      if (fence !== undefined) {
        // Requests run in order, so this check runs before the writes; on a mismatch abort() undoes them all.
        const check = tx.objectStore(S.leases).get(scope) as IDBRequest<LeaseRow | undefined>;
        check.onsuccess = () => {
          if (!fenceHolds(fence, check.result)) {
            lost = leaseLost(fence, check.result);
            tx.abort();
          }
        };
      }
      if (onlyReplays) {
        addReplays(tx.objectStore(S.replays), scope, c.replays);
      } else {
        this.#writeAll(tx, c);
      }
      // No explicit tx.commit(): Chromium aborts a committing transaction when a request fails, even the
      // duplicate-replay add() whose error is handled in addReplays. It commits by itself once the requests are done.
    } catch (error) {
      try {
        tx.abort();
      } catch {
        // already finished
      }
      await done.catch(() => {});
      throw ioError(this.backend, 'commit', error);
    }
    try {
      await done;
    } catch (error) {
      throw lost ?? ioError(this.backend, 'commit', error);
    }
  }

  /** Queues every write of a normalized batch in `tx` (whose scope is COMMIT_STORES). */
  #writeAll(tx: IDBTransaction, c: ReturnType<typeof normalizeChanges>): void {
    const scope = this.scope;
    if (c.account !== undefined) tx.objectStore(S.accounts).put({ scope, ...c.account });
    const olm = tx.objectStore(S.olmSessions);
    for (const k of c.removeOlmSessions) olm.delete([scope, k.senderKey, k.sessionId]);
    for (const s of c.olmSessions) {
      olm.put({ scope, senderKey: s.senderKey, sessionId: s.sessionId, lastUsedAt: s.lastUsedAt, ...s.record });
    }
    const inb = tx.objectStore(S.inboundGroupSessions);
    for (const k of c.removeInboundGroupSessions) inb.delete([scope, k.roomId, k.sessionId]);
    for (const s of c.inboundGroupSessions) {
      inb.put({ scope, roomId: s.roomId, sessionId: s.sessionId, senderKey: s.senderKey, ...s.record });
    }
    const out = tx.objectStore(S.outboundGroupSessions);
    for (const roomId of c.removeOutboundGroupSessions) out.delete([scope, roomId]);
    for (const s of c.outboundGroupSessions) out.put({ scope, roomId: s.roomId, sessionId: s.sessionId, ...s.record });
    addReplays(tx.objectStore(S.replays), scope, c.replays);
    const mls = tx.objectStore(S.mlsGroups);
    for (const groupId of c.removeMlsGroups) mls.delete([scope, groupId]);
    for (const g of c.mlsGroups) mls.put({ scope, groupId: g.groupId, ...g.record });
    const values = tx.objectStore(S.values);
    for (const v of c.values) {
      if (v.value === null) values.delete([scope, v.key]);
      else values.put({ scope, key: v.key, value: v.value });
    }
  }

  async tryAcquireLease(holder: string, durationMs: number): Promise<LeaseToken | undefined> {
    checkHolder(holder);
    checkDuration(durationMs);
    // Relaxed durability (as the browser's default): the lease excludes live holders through the
    // transactions' isolation, not through the disk, and after a power cut no holder is alive. A strict
    // write here waited for the disk on every renewal (twice a lease period), stalling the operation.
    const tx = this.#transaction(S.leases, 'readwrite', true);
    const done = finished(tx);
    const store = tx.objectStore(S.leases);
    let taken: LeaseRow | undefined;
    // Read and write in one readwrite transaction: transactions on one store run one at a time, across tabs too.
    const req = store.get(this.scope) as IDBRequest<LeaseRow | undefined>;
    req.onsuccess = () => {
      taken = nextLease(req.result, holder, Date.now(), durationMs);
      if (taken !== undefined) store.put({ scope: this.scope, ...taken });
    };
    try {
      await done;
    } catch (error) {
      throw ioError(this.backend, 'tryAcquireLease', error);
    }
    return taken === undefined
      ? undefined
      : { holder: taken.holder, generation: taken.generation, expiresAt: taken.expiration };
  }

  async releaseLease(token: LeaseToken): Promise<void> {
    const t = checkToken(token);
    const tx = this.#transaction(S.leases, 'readwrite', true);
    const done = finished(tx);
    const store = tx.objectStore(S.leases);
    const req = store.get(this.scope) as IDBRequest<(LeaseRow & { scope: string }) | undefined>;
    req.onsuccess = () => {
      // Expire rather than delete, so the generation never goes back.
      if (fenceHolds(t, req.result)) store.put({ ...req.result!, expiration: 0 });
    };
    try {
      await done;
    } catch (error) {
      throw ioError(this.backend, 'releaseLease', error);
    }
  }

  async schemaVersion(): Promise<number> {
    if (this.#closedReason !== undefined) throw new StoreError('STORE_CLOSED', this.#closedReason);
    return this.#db.version;
  }

  async close(): Promise<void> {
    if (this.#closedReason !== undefined) return;
    this.#closedReason = 'indexeddb store is closed';
    this.#db.close();
  }
}
