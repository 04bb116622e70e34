/**
 * A KeyStore in PostgreSQL through `pg` (an optional peer dependency), for bridges: many devices (scopes) in
 * one database, usually sharing one connection pool. One transaction per commit; the lease is kept on the
 * server's clock, so hosts with skewed clocks still agree on when a lease lapses.
 */
import type * as Pg from 'pg';
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
  leaseLost,
  normalizeChanges,
} from './common.js';
import {
  checkOut,
  type InboundRow,
  inbound,
  loadDriver,
  migrate,
  migrated,
  type PgClientLike,
  type PgPoolLike,
  type RecordRow,
  record,
  rollbackAndRelease,
} from './postgres-schema.js';
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

export type { PgClientLike, PgPoolLike } from './postgres-schema.js';

export interface PostgresStoreOptions {
  /** The device this store holds, e.g. `@alice:example.org|DEVICEID`. */
  readonly scope: string;
  /** A pool shared by many stores (a bridge's devices); the caller ends it. */
  readonly pool?: PgPoolLike;
  /** Or a connection string: the store makes a pool of its own and ends it on `close`. */
  readonly connectionString?: string;
  /** Size of the store's own pool. Default 4. */
  readonly maxConnections?: number;
}

export class PostgresStore implements KeyStore {
  readonly backend: string = 'postgres';
  readonly scope: string;
  readonly #pool: PgPoolLike;
  readonly #ownPool: Pg.Pool | undefined;
  #closed = false;

  private constructor(scope: string, pool: PgPoolLike, ownPool: Pg.Pool | undefined) {
    this.scope = scope;
    this.#pool = pool;
    this.#ownPool = ownPool;
  }

  /** Opens a store for one device, creating or migrating the tables when needed. */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    if (typeof options !== 'object' || options === null) {
      throw new StoreError('STORE_INVALID', 'postgres: options must be an object', { field: 'options' });
    }
    const scope = checkScope(options.scope);
    if ((options.pool === undefined) === (options.connectionString === undefined)) {
      throw new StoreError('STORE_INVALID', 'postgres: give exactly one of pool and connectionString', {
        field: 'pool',
      });
    }
    let ownPool: Pg.Pool | undefined;
    let pool: PgPoolLike;
    if (options.pool !== undefined) {
      pool = options.pool;
    } else {
      const connectionString = checkString(options.connectionString, 'connectionString');
      const max = options.maxConnections ?? 4;
      if (!Number.isSafeInteger(max) || max < 1) {
        throw new StoreError('STORE_INVALID', 'postgres: maxConnections must be a positive integer', {
          field: 'maxConnections',
        });
      }
      const pg = await loadDriver();
      ownPool = new pg.Pool({ connectionString, max, connectionTimeoutMillis: 10_000 });
      // An idle connection that dies emits 'error' on the pool; unheard, that would crash the process.
      // The next query reports the failure instead.
      ownPool.on('error', () => {});
      pool = ownPool as unknown as PgPoolLike;
    }
    try {
      let done = migrated.get(pool);
      if (done === undefined) {
        done = migrate(pool);
        migrated.set(pool, done);
        done.catch(() => migrated.delete(pool));
      }
      await done;
    } catch (error) {
      await ownPool?.end().catch(() => {});
      throw ioError('postgres', 'open', error);
    }
    return new PostgresStore(scope, pool, ownPool);
  }

  async #query<T>(operation: string, text: string, values: unknown[]): Promise<T[]> {
    if (this.#closed) throw closedError(this.backend);
    try {
      return (await this.#pool.query(text, values)).rows as T[];
    } catch (error) {
      throw ioError(this.backend, operation, error);
    }
  }

  async loadAccount(): Promise<StoredRecord | undefined> {
    const [row] = await this.#query<RecordRow>(
      'loadAccount',
      'SELECT schema, data FROM triturus_accounts WHERE scope = $1',
      [this.scope],
    );
    return row === undefined ? undefined : record(row);
  }

  async loadOlmSessions(senderKey: string): Promise<OlmSessionEntry[]> {
    checkString(senderKey, 'senderKey');
    const rows = await this.#query<RecordRow & { session_id: string; last_used_at: string }>(
      'loadOlmSessions',
      `SELECT session_id, last_used_at, schema, data FROM triturus_olm_sessions WHERE scope = $1 AND sender_key = $2
       ORDER BY last_used_at DESC, session_id COLLATE "C"`,
      [this.scope, senderKey],
    );
    return rows.map((r) => ({
      senderKey,
      sessionId: r.session_id,
      lastUsedAt: Number(r.last_used_at),
      record: record(r),
    }));
  }

  async loadInboundGroupSession(roomId: string, sessionId: string): Promise<InboundGroupSessionEntry | undefined> {
    checkString(roomId, 'roomId');
    checkString(sessionId, 'sessionId');
    const [row] = await this.#query<InboundRow>(
      'loadInboundGroupSession',
      `SELECT room_id, session_id, sender_key, schema, data FROM triturus_inbound_group_sessions
       WHERE scope = $1 AND room_id = $2 AND session_id = $3`,
      [this.scope, roomId, sessionId],
    );
    return row === undefined ? undefined : inbound(row);
  }

  async listInboundGroupSessions(roomId?: string): Promise<InboundGroupSessionEntry[]> {
    if (roomId !== undefined) checkString(roomId, 'roomId');
    const rows = await this.#query<InboundRow>(
      'listInboundGroupSessions',
      `SELECT room_id, session_id, sender_key, schema, data FROM triturus_inbound_group_sessions
       WHERE scope = $1 AND ($2::text IS NULL OR room_id = $2) ORDER BY room_id COLLATE "C", session_id COLLATE "C"`,
      [this.scope, roomId ?? null],
    );
    return rows.map(inbound);
  }

  async loadOutboundGroupSession(roomId: string): Promise<OutboundGroupSessionEntry | undefined> {
    checkString(roomId, 'roomId');
    const [row] = await this.#query<RecordRow & { session_id: string }>(
      'loadOutboundGroupSession',
      'SELECT session_id, schema, data FROM triturus_outbound_group_sessions WHERE scope = $1 AND room_id = $2',
      [this.scope, roomId],
    );
    return row === undefined ? undefined : { roomId, sessionId: row.session_id, record: record(row) };
  }

  async loadReplay(sessionId: string, messageIndex: number): Promise<ReplayEntry | undefined> {
    checkString(sessionId, 'sessionId');
    messageIndex = checkMessageIndex(messageIndex);
    const [row] = await this.#query<{ event_id: string; origin_server_ts: string }>(
      'loadReplay',
      'SELECT event_id, origin_server_ts FROM triturus_replays WHERE scope = $1 AND session_id = $2 AND message_index = $3',
      [this.scope, sessionId, messageIndex],
    );
    return row === undefined
      ? undefined
      : { sessionId, messageIndex, eventId: row.event_id, originServerTs: Number(row.origin_server_ts) };
  }

  async loadReplays(keys: readonly ReplayKey[]): Promise<ReplayEntry[]> {
    const checked = checkReplayKeys(keys);
    if (checked.length === 0) {
      if (this.#closed) throw closedError(this.backend);
      return [];
    }
    const rows = await this.#query<{
      session_id: string;
      message_index: string;
      event_id: string;
      origin_server_ts: string;
    }>(
      'loadReplays',
      `SELECT r.session_id, r.message_index, r.event_id, r.origin_server_ts FROM triturus_replays r
         JOIN unnest($2::text[], $3::bigint[]) AS k(session_id, message_index)
           ON r.session_id = k.session_id AND r.message_index = k.message_index
       WHERE r.scope = $1`,
      [this.scope, checked.map((k) => k.sessionId), checked.map((k) => k.messageIndex)],
    );
    return rows.map((r) => ({
      sessionId: r.session_id,
      messageIndex: Number(r.message_index),
      eventId: r.event_id,
      originServerTs: Number(r.origin_server_ts),
    }));
  }

  async loadMlsGroup(groupId: string): Promise<MlsGroupEntry | undefined> {
    checkString(groupId, 'groupId');
    const [row] = await this.#query<RecordRow>(
      'loadMlsGroup',
      'SELECT schema, data FROM triturus_mls_groups WHERE scope = $1 AND group_id = $2',
      [this.scope, groupId],
    );
    return row === undefined ? undefined : { groupId, record: record(row) };
  }

  async loadValue(key: string): Promise<string | undefined> {
    checkString(key, 'key');
    const [row] = await this.#query<{ value: string }>(
      'loadValue',
      'SELECT value FROM triturus_values WHERE scope = $1 AND key = $2',
      [this.scope, key],
    );
    return row?.value;
  }

  async commit(changes: StoreChanges, options?: CommitOptions): Promise<void> {
    if (this.#closed) throw closedError(this.backend);
    const c = normalizeChanges(changes);
    const fence = checkCommitOptions(options);
    const scope = this.scope;
    // One statement per kind, whole arrays passed through unnest(): a batch costs a few round trips, not one per row.
    const statements: [string, unknown[]][] = [];
    if (c.account !== undefined) {
      statements.push([
        `INSERT INTO triturus_accounts (scope, schema, data) VALUES ($1, $2, $3)
         ON CONFLICT (scope) DO UPDATE SET schema = EXCLUDED.schema, data = EXCLUDED.data`,
        [scope, c.account.schema, c.account.data],
      ]);
    }
    if (c.removeOlmSessions.length > 0) {
      statements.push([
        `DELETE FROM triturus_olm_sessions WHERE scope = $1
         AND (sender_key, session_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))`,
        [scope, c.removeOlmSessions.map((k) => k.senderKey), c.removeOlmSessions.map((k) => k.sessionId)],
      ]);
    }
    if (c.olmSessions.length > 0) {
      const s = c.olmSessions;
      statements.push([
        `INSERT INTO triturus_olm_sessions (scope, sender_key, session_id, last_used_at, schema, data)
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::integer[], $6::text[])
         ON CONFLICT (scope, sender_key, session_id) DO UPDATE
         SET last_used_at = EXCLUDED.last_used_at, schema = EXCLUDED.schema, data = EXCLUDED.data`,
        [
          scope,
          s.map((e) => e.senderKey),
          s.map((e) => e.sessionId),
          s.map((e) => e.lastUsedAt),
          s.map((e) => e.record.schema),
          s.map((e) => e.record.data),
        ],
      ]);
    }
    if (c.removeInboundGroupSessions.length > 0) {
      const k = c.removeInboundGroupSessions;
      statements.push([
        `DELETE FROM triturus_inbound_group_sessions WHERE scope = $1
         AND (room_id, session_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))`,
        [scope, k.map((e) => e.roomId), k.map((e) => e.sessionId)],
      ]);
    }
    if (c.inboundGroupSessions.length > 0) {
      const s = c.inboundGroupSessions;
      statements.push([
        `INSERT INTO triturus_inbound_group_sessions (scope, room_id, session_id, sender_key, schema, data)
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::integer[], $6::text[])
         ON CONFLICT (scope, room_id, session_id) DO UPDATE
         SET sender_key = EXCLUDED.sender_key, schema = EXCLUDED.schema, data = EXCLUDED.data`,
        [
          scope,
          s.map((e) => e.roomId),
          s.map((e) => e.sessionId),
          s.map((e) => e.senderKey),
          s.map((e) => e.record.schema),
          s.map((e) => e.record.data),
        ],
      ]);
    }
    if (c.removeOutboundGroupSessions.length > 0) {
      statements.push([
        'DELETE FROM triturus_outbound_group_sessions WHERE scope = $1 AND room_id = ANY($2::text[])',
        [scope, c.removeOutboundGroupSessions],
      ]);
    }
    if (c.outboundGroupSessions.length > 0) {
      const s = c.outboundGroupSessions;
      statements.push([
        `INSERT INTO triturus_outbound_group_sessions (scope, room_id, session_id, schema, data)
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::integer[], $5::text[])
         ON CONFLICT (scope, room_id) DO UPDATE
         SET session_id = EXCLUDED.session_id, schema = EXCLUDED.schema, data = EXCLUDED.data`,
        [
          scope,
          s.map((e) => e.roomId),
          s.map((e) => e.sessionId),
          s.map((e) => e.record.schema),
          s.map((e) => e.record.data),
        ],
      ]);
    }
    if (c.replays.length > 0) {
      const r = c.replays;
      statements.push([
        `INSERT INTO triturus_replays (scope, session_id, message_index, event_id, origin_server_ts)
         SELECT $1, * FROM unnest($2::text[], $3::bigint[], $4::text[], $5::bigint[])
         ON CONFLICT DO NOTHING`,
        [
          scope,
          r.map((e) => e.sessionId),
          r.map((e) => e.messageIndex),
          r.map((e) => e.eventId),
          r.map((e) => e.originServerTs),
        ],
      ]);
    }
    if (c.removeMlsGroups.length > 0) {
      statements.push([
        'DELETE FROM triturus_mls_groups WHERE scope = $1 AND group_id = ANY($2::text[])',
        [scope, c.removeMlsGroups],
      ]);
    }
    if (c.mlsGroups.length > 0) {
      const g = c.mlsGroups;
      statements.push([
        `INSERT INTO triturus_mls_groups (scope, group_id, schema, data)
         SELECT $1, * FROM unnest($2::text[], $3::integer[], $4::text[])
         ON CONFLICT (scope, group_id) DO UPDATE SET schema = EXCLUDED.schema, data = EXCLUDED.data`,
        [scope, g.map((e) => e.groupId), g.map((e) => e.record.schema), g.map((e) => e.record.data)],
      ]);
    }
    const deletes = c.values.filter((v) => v.value === null).map((v) => v.key);
    const puts = c.values.filter((v) => v.value !== null);
    if (deletes.length > 0) {
      statements.push(['DELETE FROM triturus_values WHERE scope = $1 AND key = ANY($2::text[])', [scope, deletes]]);
    }
    if (puts.length > 0) {
      statements.push([
        `INSERT INTO triturus_values (scope, key, value) SELECT $1, * FROM unnest($2::text[], $3::text[])
         ON CONFLICT (scope, key) DO UPDATE SET value = EXCLUDED.value`,
        [scope, puts.map((v) => v.key), puts.map((v) => v.value)],
      ]);
    }
    if (statements.length === 0 && fence === undefined) return;

    let client: PgClientLike;
    let release: (destroy?: boolean) => void;
    try {
      ({ client, release } = await checkOut(this.#pool));
    } catch (error) {
      throw ioError(this.backend, 'commit (connect)', error);
    }
    try {
      await client.query('BEGIN');
      if (fence !== undefined) {
        // FOR SHARE makes a concurrent takeover wait until this transaction ends: it then sees these writes.
        const { rows } = await client.query(
          'SELECT holder, generation::float8 AS generation, 0 AS expiration FROM triturus_leases WHERE scope = $1 FOR SHARE',
          [scope],
        );
        const current = rows[0] as { holder: string; generation: number; expiration: number } | undefined;
        if (!fenceHolds(fence, current)) throw leaseLost(fence, current);
      }
      for (const [text, values] of statements) await client.query(text, values);
      await client.query('COMMIT');
      release();
    } catch (error) {
      await rollbackAndRelease(client, release);
      throw ioError(this.backend, 'commit', error);
    }
  }

  async tryAcquireLease(holder: string, durationMs: number): Promise<LeaseToken | undefined> {
    checkHolder(holder);
    checkDuration(durationMs);
    // One atomic upsert, timed by the server: it takes the row when the holder is the same or the lease lapsed.
    const [row] = await this.#query<{ holder: string; generation: number; expires_at: number }>(
      'tryAcquireLease',
      `INSERT INTO triturus_leases AS l (scope, holder, expiration, generation)
       VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3::float8 / 1000), 1)
       ON CONFLICT (scope) DO UPDATE SET
         holder = EXCLUDED.holder,
         expiration = EXCLUDED.expiration,
         generation = CASE WHEN l.holder = EXCLUDED.holder THEN l.generation ELSE l.generation + 1 END
       WHERE l.holder = EXCLUDED.holder OR l.expiration < clock_timestamp()
       RETURNING l.holder, l.generation::float8 AS generation, floor(extract(epoch FROM l.expiration) * 1000)::float8 AS expires_at`,
      [this.scope, holder, durationMs],
    );
    return row === undefined
      ? undefined
      : { holder: row.holder, generation: row.generation, expiresAt: row.expires_at };
  }

  async releaseLease(token: LeaseToken): Promise<void> {
    const t = checkToken(token);
    // Expire rather than delete, so the generation never goes back.
    await this.#query(
      'releaseLease',
      'UPDATE triturus_leases SET expiration = to_timestamp(0) WHERE scope = $1 AND holder = $2 AND generation = $3',
      [this.scope, t.holder, t.generation],
    );
  }

  async schemaVersion(): Promise<number> {
    const [row] = await this.#query<{ version: number }>(
      'schemaVersion',
      'SELECT max(version) AS version FROM triturus_schema',
      [],
    );
    return row?.version ?? 0;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownPool !== undefined) {
      try {
        await this.#ownPool.end();
      } catch (error) {
        throw ioError(this.backend, 'close', error);
      }
    }
  }
}
