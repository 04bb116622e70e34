/**
 * The PostgreSQL store's schema and plumbing (see postgres.ts): the shapes it needs of a `pg` client
 * and pool, the schema migrations (run once per pool, under an advisory lock), loading the optional
 * `pg` driver, and mapping rows back to records.
 */
import type * as Pg from 'pg';
import { StoreError } from '../errors.js';
import { STORE_SCHEMA_VERSION, schemaTooNew } from './common.js';
import type { InboundGroupSessionEntry, StoredRecord } from './types.js';

/** What this store needs of a `pg` client: a `pg.PoolClient` fits. */
export interface PgClientLike {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
  release(destroy?: boolean | Error): void;
  on?(event: 'error', listener: (error: Error) => void): unknown;
  off?(event: 'error', listener: (error: Error) => void): unknown;
}

function ignoreClientError(): void {
  // The query in flight fails with the same error, which the store reports (STORE_IO).
}

/**
 * Checks out a client for a transaction, listening to its 'error' events until it is released: a
 * connection that dies mid-transaction (the server restarted, the backend was terminated) emits
 * 'error' on a checked-out client, and unheard that event would crash the process. The pool listens
 * to idle clients itself. Returns the client and the release to call instead of `client.release`.
 */
export async function checkOut(
  pool: PgPoolLike,
): Promise<{ client: PgClientLike; release: (destroy?: boolean) => void }> {
  const client = await pool.connect();
  client.on?.('error', ignoreClientError);
  return {
    client,
    release: (destroy) => {
      client.off?.('error', ignoreClientError);
      client.release(destroy);
    },
  };
}

/** What this store needs of a `pg` pool: a `pg.Pool` fits. */
export interface PgPoolLike {
  connect(): Promise<PgClientLike>;
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

/** Each migration takes the schema from `version - 1` to `version`. Never edit a released one: add another. */
const MIGRATIONS: readonly { readonly version: number; readonly sql: string }[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE triturus_accounts (scope text PRIMARY KEY, schema integer NOT NULL, data text NOT NULL);
      CREATE TABLE triturus_olm_sessions (
        scope text NOT NULL, sender_key text NOT NULL, session_id text NOT NULL, last_used_at bigint NOT NULL,
        schema integer NOT NULL, data text NOT NULL,
        PRIMARY KEY (scope, sender_key, session_id));
      CREATE TABLE triturus_inbound_group_sessions (
        scope text NOT NULL, room_id text NOT NULL, session_id text NOT NULL, sender_key text NOT NULL,
        schema integer NOT NULL, data text NOT NULL,
        PRIMARY KEY (scope, room_id, session_id));
      CREATE TABLE triturus_outbound_group_sessions (
        scope text NOT NULL, room_id text NOT NULL, session_id text NOT NULL, schema integer NOT NULL, data text NOT NULL,
        PRIMARY KEY (scope, room_id));
      CREATE TABLE triturus_replays (
        scope text NOT NULL, session_id text NOT NULL, message_index bigint NOT NULL, event_id text NOT NULL,
        origin_server_ts bigint NOT NULL,
        PRIMARY KEY (scope, session_id, message_index));
      CREATE TABLE triturus_mls_groups (
        scope text NOT NULL, group_id text NOT NULL, schema integer NOT NULL, data text NOT NULL,
        PRIMARY KEY (scope, group_id));
      CREATE TABLE triturus_values (
        scope text NOT NULL, key text NOT NULL, value text NOT NULL,
        PRIMARY KEY (scope, key));`,
  },
  {
    // v2: the cross-process lease (fenced commits), and an index that serves "newest session first".
    version: 2,
    sql: `
      CREATE TABLE triturus_leases (
        scope text PRIMARY KEY, holder text NOT NULL, expiration timestamptz NOT NULL, generation bigint NOT NULL);
      CREATE INDEX triturus_olm_sessions_by_use ON triturus_olm_sessions (scope, sender_key, last_used_at DESC);`,
  },
];

// Any constant works; it only has to be the same in every process that migrates this database.
const MIGRATION_LOCK = 0x7472_6974;

// Pools already brought to the current schema: a bridge opening a thousand devices migrates once.
export const migrated: WeakMap<PgPoolLike, Promise<void>> = new WeakMap();

export interface RecordRow {
  schema: number;
  data: string;
}
export interface InboundRow extends RecordRow {
  room_id: string;
  session_id: string;
  sender_key: string;
}

export const record = (row: RecordRow): StoredRecord => ({ schema: row.schema, data: row.data });
export const inbound = (row: InboundRow): InboundGroupSessionEntry => ({
  roomId: row.room_id,
  sessionId: row.session_id,
  senderKey: row.sender_key,
  record: record(row),
});

export async function loadDriver(): Promise<typeof Pg> {
  try {
    const module = (await import('pg')) as typeof Pg & { default?: typeof Pg };
    return module.default ?? module;
  } catch (error) {
    throw new StoreError(
      'STORE_IO',
      'postgres: the optional peer dependency pg (version 8) is not installed',
      {},
      { cause: error },
    );
  }
}

export async function rollbackAndRelease(client: PgClientLike, release: (destroy?: boolean) => void): Promise<void> {
  try {
    await client.query('ROLLBACK');
    release();
  } catch {
    release(true); // the connection is in an unknown state: drop it
  }
}

export async function migrate(pool: PgPoolLike): Promise<void> {
  const { client, release } = await checkOut(pool);
  try {
    await client.query('BEGIN');
    // Serialises concurrent openers (CREATE TABLE IF NOT EXISTS alone races in PostgreSQL).
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(
      'CREATE TABLE IF NOT EXISTS triturus_schema (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const { rows } = await client.query('SELECT max(version) AS version FROM triturus_schema');
    const current = (rows[0] as { version: number | null }).version ?? 0;
    if (current > STORE_SCHEMA_VERSION) throw schemaTooNew('postgres', current);
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      await client.query(m.sql);
      await client.query('INSERT INTO triturus_schema (version) VALUES ($1)', [m.version]);
    }
    await client.query('COMMIT');
    release();
  } catch (error) {
    await rollbackAndRelease(client, release);
    throw error;
  }
}
