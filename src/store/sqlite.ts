/**
 * A KeyStore in one SQLite file through better-sqlite3 12 (an optional peer dependency). WAL mode, one
 * IMMEDIATE transaction per commit, `synchronous = FULL` by default: a commit that returned survives a crash,
 * since losing a committed ratchet step would let a message key be used twice. Many devices may share one
 * file; every row is keyed by `scope`.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { StoreError } from '../errors.js';
import {
  checkCommitOptions,
  checkDuration,
  checkHolder,
  checkMessageIndex,
  checkReplayKeys,
  checkScope,
  checkString,
  checkToken,
  closedError,
  fenceHolds,
  ioError,
  type LeaseRow,
  leaseLost,
  nextLease,
  normalizeChanges,
  STORE_SCHEMA_VERSION,
  schemaTooNew,
} from './common.js';
import type { SqliteDriver } from './sqlite-driver.js';
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

export interface SqliteStoreOptions {
  /** The device this store holds, e.g. `@alice:example.org|DEVICEID`. */
  readonly scope: string;
  /** Path of the database file, created when missing. */
  readonly path: string;
  /** How long a write waits for another connection's write lock before failing. Default 5000 ms. */
  readonly busyTimeoutMs?: number;
  /** `full` (default) survives power loss; `normal` only survives a crashed process. */
  readonly synchronous?: 'full' | 'normal';
  /** The SQLite engine: better-sqlite3 when omitted. `triturus/store/default` passes a runtime's built-in one. */
  readonly driver?: SqliteDriver;
}

/** Each migration takes the schema from `version - 1` to `version`. Never edit a released one: add another. */
const MIGRATIONS: readonly { readonly version: number; readonly sql: string }[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE triturus_accounts (
        scope TEXT PRIMARY KEY, schema INTEGER NOT NULL, data TEXT NOT NULL
      ) WITHOUT ROWID, STRICT;
      CREATE TABLE triturus_olm_sessions (
        scope TEXT NOT NULL, sender_key TEXT NOT NULL, session_id TEXT NOT NULL, last_used_at INTEGER NOT NULL,
        schema INTEGER NOT NULL, data TEXT NOT NULL,
        PRIMARY KEY (scope, sender_key, session_id)
      ) WITHOUT ROWID, STRICT;
      CREATE TABLE triturus_inbound_group_sessions (
        scope TEXT NOT NULL, room_id TEXT NOT NULL, session_id TEXT NOT NULL, sender_key TEXT NOT NULL,
        schema INTEGER NOT NULL, data TEXT NOT NULL,
        PRIMARY KEY (scope, room_id, session_id)
      ) WITHOUT ROWID, STRICT;
      CREATE TABLE triturus_outbound_group_sessions (
        scope TEXT NOT NULL, room_id TEXT NOT NULL, session_id TEXT NOT NULL, schema INTEGER NOT NULL, data TEXT NOT NULL,
        PRIMARY KEY (scope, room_id)
      ) WITHOUT ROWID, STRICT;
      CREATE TABLE triturus_replays (
        scope TEXT NOT NULL, session_id TEXT NOT NULL, message_index INTEGER NOT NULL, event_id TEXT NOT NULL,
        origin_server_ts INTEGER NOT NULL,
        PRIMARY KEY (scope, session_id, message_index)
      ) WITHOUT ROWID, STRICT;
      CREATE TABLE triturus_mls_groups (
        scope TEXT NOT NULL, group_id TEXT NOT NULL, schema INTEGER NOT NULL, data TEXT NOT NULL,
        PRIMARY KEY (scope, group_id)
      ) WITHOUT ROWID, STRICT;
      CREATE TABLE triturus_values (
        scope TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (scope, key)
      ) WITHOUT ROWID, STRICT;`,
  },
  {
    // v2: the cross-process lease (fenced commits), and an index that serves "newest session first".
    version: 2,
    sql: `
      CREATE TABLE triturus_leases (
        scope TEXT PRIMARY KEY, holder TEXT NOT NULL, expiration INTEGER NOT NULL, generation INTEGER NOT NULL
      ) WITHOUT ROWID, STRICT;
      CREATE INDEX triturus_olm_sessions_by_use ON triturus_olm_sessions (scope, sender_key, last_used_at DESC);`,
  },
];

type Statement = BetterSqlite3.Statement<unknown[], unknown>;

interface RecordRow {
  schema: number;
  data: string;
}

const SQL = {
  loadAccount: 'SELECT schema, data FROM triturus_accounts WHERE scope = ?',
  putAccount:
    'INSERT INTO triturus_accounts (scope, schema, data) VALUES (?, ?, ?) ON CONFLICT (scope) DO UPDATE SET schema = excluded.schema, data = excluded.data',
  loadOlm:
    'SELECT sender_key, session_id, last_used_at, schema, data FROM triturus_olm_sessions WHERE scope = ? AND sender_key = ? ORDER BY last_used_at DESC, session_id',
  putOlm:
    'INSERT INTO triturus_olm_sessions (scope, sender_key, session_id, last_used_at, schema, data) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (scope, sender_key, session_id) DO UPDATE SET last_used_at = excluded.last_used_at, schema = excluded.schema, data = excluded.data',
  removeOlm: 'DELETE FROM triturus_olm_sessions WHERE scope = ? AND sender_key = ? AND session_id = ?',
  loadInbound:
    'SELECT room_id, session_id, sender_key, schema, data FROM triturus_inbound_group_sessions WHERE scope = ? AND room_id = ? AND session_id = ?',
  listInboundRoom:
    'SELECT room_id, session_id, sender_key, schema, data FROM triturus_inbound_group_sessions WHERE scope = ? AND room_id = ? ORDER BY room_id, session_id',
  listInboundAll:
    'SELECT room_id, session_id, sender_key, schema, data FROM triturus_inbound_group_sessions WHERE scope = ? ORDER BY room_id, session_id',
  putInbound:
    'INSERT INTO triturus_inbound_group_sessions (scope, room_id, session_id, sender_key, schema, data) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (scope, room_id, session_id) DO UPDATE SET sender_key = excluded.sender_key, schema = excluded.schema, data = excluded.data',
  removeInbound: 'DELETE FROM triturus_inbound_group_sessions WHERE scope = ? AND room_id = ? AND session_id = ?',
  loadOutbound:
    'SELECT room_id, session_id, schema, data FROM triturus_outbound_group_sessions WHERE scope = ? AND room_id = ?',
  putOutbound:
    'INSERT INTO triturus_outbound_group_sessions (scope, room_id, session_id, schema, data) VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope, room_id) DO UPDATE SET session_id = excluded.session_id, schema = excluded.schema, data = excluded.data',
  removeOutbound: 'DELETE FROM triturus_outbound_group_sessions WHERE scope = ? AND room_id = ?',
  loadReplay:
    'SELECT session_id, message_index, event_id, origin_server_ts FROM triturus_replays WHERE scope = ? AND session_id = ? AND message_index = ?',
  putReplay:
    'INSERT INTO triturus_replays (scope, session_id, message_index, event_id, origin_server_ts) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
  loadMls: 'SELECT group_id, schema, data FROM triturus_mls_groups WHERE scope = ? AND group_id = ?',
  putMls:
    'INSERT INTO triturus_mls_groups (scope, group_id, schema, data) VALUES (?, ?, ?, ?) ON CONFLICT (scope, group_id) DO UPDATE SET schema = excluded.schema, data = excluded.data',
  removeMls: 'DELETE FROM triturus_mls_groups WHERE scope = ? AND group_id = ?',
  loadValue: 'SELECT value FROM triturus_values WHERE scope = ? AND key = ?',
  putValue:
    'INSERT INTO triturus_values (scope, key, value) VALUES (?, ?, ?) ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value',
  removeValue: 'DELETE FROM triturus_values WHERE scope = ? AND key = ?',
  loadLease: 'SELECT holder, expiration, generation FROM triturus_leases WHERE scope = ?',
  putLease:
    'INSERT INTO triturus_leases (scope, holder, expiration, generation) VALUES (?, ?, ?, ?) ON CONFLICT (scope) DO UPDATE SET holder = excluded.holder, expiration = excluded.expiration, generation = excluded.generation',
  releaseLease: 'UPDATE triturus_leases SET expiration = 0 WHERE scope = ? AND holder = ? AND generation = ?',
  schemaVersion: 'SELECT max(version) AS version FROM triturus_schema',
} as const;

type StatementName = keyof typeof SQL;

const record = (row: RecordRow): StoredRecord => ({ schema: row.schema, data: row.data });

async function loadDriver(): Promise<typeof BetterSqlite3> {
  try {
    return (await import('better-sqlite3')).default;
  } catch (error) {
    throw new StoreError(
      'STORE_IO',
      'sqlite: the optional peer dependency better-sqlite3 (version 12) is not installed',
      {},
      { cause: error },
    );
  }
}

/** Brings the file to the current schema inside one IMMEDIATE transaction, so concurrent openers migrate once. */
function migrate(db: BetterSqlite3.Database): void {
  db.transaction(() => {
    db.exec(
      'CREATE TABLE IF NOT EXISTS triturus_schema (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT',
    );
    const row = db.prepare(SQL.schemaVersion).get() as { version: number | null };
    const current = row.version ?? 0;
    if (current > STORE_SCHEMA_VERSION) throw schemaTooNew('sqlite', current);
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      db.exec(m.sql);
      db.prepare('INSERT INTO triturus_schema (version, applied_at) VALUES (?, ?)').run(m.version, Date.now());
    }
  }).immediate();
}

export class SqliteStore implements KeyStore {
  readonly backend: string = 'sqlite';
  readonly scope: string;
  readonly #db: BetterSqlite3.Database;
  readonly #statements = new Map<StatementName, Statement>();
  #closed = false;

  private constructor(scope: string, db: BetterSqlite3.Database) {
    this.scope = scope;
    this.#db = db;
  }

  /** Opens (creating and migrating when needed) the file at `options.path` for one device. */
  static async open(options: SqliteStoreOptions): Promise<SqliteStore> {
    if (typeof options !== 'object' || options === null) {
      throw new StoreError('STORE_INVALID', 'sqlite: options must be an object', { field: 'options' });
    }
    const scope = checkScope(options.scope);
    const path = checkString(options.path, 'path');
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    if (!Number.isSafeInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
      throw new StoreError('STORE_INVALID', 'sqlite: busyTimeoutMs must be a non-negative integer', {
        field: 'busyTimeoutMs',
      });
    }
    const synchronous = options.synchronous ?? 'full';
    if (synchronous !== 'full' && synchronous !== 'normal') {
      throw new StoreError('STORE_INVALID', "sqlite: synchronous must be 'full' or 'normal'", { field: 'synchronous' });
    }
    if (options.driver !== undefined && typeof options.driver !== 'function') {
      throw new StoreError('STORE_INVALID', 'sqlite: driver must be a database constructor', { field: 'driver' });
    }
    const Database = (options.driver ?? (await loadDriver())) as typeof BetterSqlite3;
    let db: BetterSqlite3.Database | undefined;
    try {
      db = new Database(path, { timeout: busyTimeoutMs });
      db.pragma(`busy_timeout = ${busyTimeoutMs}`);
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${synchronous.toUpperCase()}`);
      migrate(db);
      return new SqliteStore(scope, db);
    } catch (error) {
      db?.close();
      throw ioError('sqlite', 'open', error);
    }
  }

  #stmt(name: StatementName): Statement {
    if (this.#closed) throw closedError(this.backend);
    let s = this.#statements.get(name);
    if (s === undefined) {
      s = this.#db.prepare(SQL[name]);
      this.#statements.set(name, s);
    }
    return s;
  }

  #read<T>(operation: string, fn: () => T): T {
    if (this.#closed) throw closedError(this.backend);
    try {
      return fn();
    } catch (error) {
      throw ioError(this.backend, operation, error);
    }
  }

  async loadAccount(): Promise<StoredRecord | undefined> {
    const row = this.#read('loadAccount', () => this.#stmt('loadAccount').get(this.scope) as RecordRow | undefined);
    return row === undefined ? undefined : record(row);
  }

  async loadOlmSessions(senderKey: string): Promise<OlmSessionEntry[]> {
    checkString(senderKey, 'senderKey');
    const rows = this.#read(
      'loadOlmSessions',
      () =>
        this.#stmt('loadOlm').all(this.scope, senderKey) as (RecordRow & {
          sender_key: string;
          session_id: string;
          last_used_at: number;
        })[],
    );
    return rows.map((r) => ({
      senderKey: r.sender_key,
      sessionId: r.session_id,
      lastUsedAt: r.last_used_at,
      record: record(r),
    }));
  }

  async loadInboundGroupSession(roomId: string, sessionId: string): Promise<InboundGroupSessionEntry | undefined> {
    checkString(roomId, 'roomId');
    checkString(sessionId, 'sessionId');
    const row = this.#read(
      'loadInboundGroupSession',
      () => this.#stmt('loadInbound').get(this.scope, roomId, sessionId) as InboundRow | undefined,
    );
    return row === undefined ? undefined : inbound(row);
  }

  async listInboundGroupSessions(roomId?: string): Promise<InboundGroupSessionEntry[]> {
    if (roomId !== undefined) checkString(roomId, 'roomId');
    const rows = this.#read('listInboundGroupSessions', () =>
      roomId === undefined
        ? (this.#stmt('listInboundAll').all(this.scope) as InboundRow[])
        : (this.#stmt('listInboundRoom').all(this.scope, roomId) as InboundRow[]),
    );
    return rows.map(inbound);
  }

  async loadOutboundGroupSession(roomId: string): Promise<OutboundGroupSessionEntry | undefined> {
    checkString(roomId, 'roomId');
    const row = this.#read(
      'loadOutboundGroupSession',
      () =>
        this.#stmt('loadOutbound').get(this.scope, roomId) as
          | (RecordRow & { room_id: string; session_id: string })
          | undefined,
    );
    return row === undefined ? undefined : { roomId: row.room_id, sessionId: row.session_id, record: record(row) };
  }

  async loadReplay(sessionId: string, messageIndex: number): Promise<ReplayEntry | undefined> {
    checkString(sessionId, 'sessionId');
    messageIndex = checkMessageIndex(messageIndex);
    const row = this.#read(
      'loadReplay',
      () =>
        this.#stmt('loadReplay').get(this.scope, sessionId, messageIndex) as
          | { session_id: string; message_index: number; event_id: string; origin_server_ts: number }
          | undefined,
    );
    return row === undefined
      ? undefined
      : {
          sessionId: row.session_id,
          messageIndex: row.message_index,
          eventId: row.event_id,
          originServerTs: row.origin_server_ts,
        };
  }

  async loadReplays(keys: readonly ReplayKey[]): Promise<ReplayEntry[]> {
    const checked = checkReplayKeys(keys);
    return this.#read('loadReplays', () => {
      const found: ReplayEntry[] = [];
      const statement = this.#stmt('loadReplay');
      for (const k of checked) {
        const row = statement.get(this.scope, k.sessionId, k.messageIndex) as
          | { event_id: string; origin_server_ts: number }
          | undefined;
        if (row !== undefined) {
          found.push({ ...k, eventId: row.event_id, originServerTs: row.origin_server_ts });
        }
      }
      return found;
    });
  }

  async loadMlsGroup(groupId: string): Promise<MlsGroupEntry | undefined> {
    checkString(groupId, 'groupId');
    const row = this.#read(
      'loadMlsGroup',
      () => this.#stmt('loadMls').get(this.scope, groupId) as (RecordRow & { group_id: string }) | undefined,
    );
    return row === undefined ? undefined : { groupId: row.group_id, record: record(row) };
  }

  async loadValue(key: string): Promise<string | undefined> {
    checkString(key, 'key');
    const row = this.#read(
      'loadValue',
      () => this.#stmt('loadValue').get(this.scope, key) as { value: string } | undefined,
    );
    return row?.value;
  }

  async commit(changes: StoreChanges, options?: CommitOptions): Promise<void> {
    if (this.#closed) throw closedError(this.backend);
    const c = normalizeChanges(changes);
    const fence = checkCommitOptions(options);
    const scope = this.scope;
    const run = (name: StatementName, ...params: unknown[]): void => {
      this.#stmt(name).run(...params);
    };
    try {
      // IMMEDIATE takes the write lock before the fence is read, so no takeover can slip in between.
      this.#db
        .transaction(() => {
          if (fence !== undefined) {
            const current = this.#stmt('loadLease').get(scope) as LeaseRow | undefined;
            if (!fenceHolds(fence, current)) throw leaseLost(fence, current);
          }
          if (c.account !== undefined) run('putAccount', scope, c.account.schema, c.account.data);
          for (const k of c.removeOlmSessions) run('removeOlm', scope, k.senderKey, k.sessionId);
          for (const s of c.olmSessions) {
            run('putOlm', scope, s.senderKey, s.sessionId, s.lastUsedAt, s.record.schema, s.record.data);
          }
          for (const k of c.removeInboundGroupSessions) run('removeInbound', scope, k.roomId, k.sessionId);
          for (const s of c.inboundGroupSessions) {
            run('putInbound', scope, s.roomId, s.sessionId, s.senderKey, s.record.schema, s.record.data);
          }
          for (const roomId of c.removeOutboundGroupSessions) run('removeOutbound', scope, roomId);
          for (const s of c.outboundGroupSessions)
            run('putOutbound', scope, s.roomId, s.sessionId, s.record.schema, s.record.data);
          for (const r of c.replays) run('putReplay', scope, r.sessionId, r.messageIndex, r.eventId, r.originServerTs);
          for (const groupId of c.removeMlsGroups) run('removeMls', scope, groupId);
          for (const g of c.mlsGroups) run('putMls', scope, g.groupId, g.record.schema, g.record.data);
          for (const v of c.values) {
            if (v.value === null) run('removeValue', scope, v.key);
            else run('putValue', scope, v.key, v.value);
          }
        })
        .immediate();
    } catch (error) {
      throw ioError(this.backend, 'commit', error);
    }
  }

  async tryAcquireLease(holder: string, durationMs: number): Promise<LeaseToken | undefined> {
    checkHolder(holder);
    checkDuration(durationMs);
    if (this.#closed) throw closedError(this.backend);
    try {
      const next = this.#db
        .transaction(() => {
          const current = this.#stmt('loadLease').get(this.scope) as LeaseRow | undefined;
          const row = nextLease(current, holder, Date.now(), durationMs);
          if (row !== undefined) this.#stmt('putLease').run(this.scope, row.holder, row.expiration, row.generation);
          return row;
        })
        .immediate();
      return next === undefined
        ? undefined
        : { holder: next.holder, generation: next.generation, expiresAt: next.expiration };
    } catch (error) {
      throw ioError(this.backend, 'tryAcquireLease', error);
    }
  }

  async releaseLease(token: LeaseToken): Promise<void> {
    const t = checkToken(token);
    if (this.#closed) throw closedError(this.backend);
    try {
      // Expire rather than delete, so the generation never goes back.
      this.#stmt('releaseLease').run(this.scope, t.holder, t.generation);
    } catch (error) {
      throw ioError(this.backend, 'releaseLease', error);
    }
  }

  async schemaVersion(): Promise<number> {
    const row = this.#read('schemaVersion', () => this.#stmt('schemaVersion').get() as { version: number });
    return row.version;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#statements.clear();
    try {
      this.#db.close();
    } catch (error) {
      throw ioError(this.backend, 'close', error);
    }
  }
}

interface InboundRow extends RecordRow {
  room_id: string;
  session_id: string;
  sender_key: string;
}

function inbound(row: InboundRow): InboundGroupSessionEntry {
  return { roomId: row.room_id, sessionId: row.session_id, senderKey: row.sender_key, record: record(row) };
}
