/** Conformance harness for PostgreSQL: one shared database on the test cluster, and fixture databases by hand. */
import pg from 'pg';
import { PostgresStore } from '../../src/store/postgres.js';
import { type StoreHarness, V1_FIXTURE } from './conformance.js';

/** The first schema exactly as released (v1). Frozen here on purpose: the upgrade test starts from it. */
export const POSTGRES_V1_DDL = `
  CREATE TABLE triturus_schema (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());
  CREATE TABLE triturus_accounts (scope text PRIMARY KEY, schema integer NOT NULL, data text NOT NULL);
  CREATE TABLE triturus_olm_sessions (
    scope text NOT NULL, sender_key text NOT NULL, session_id text NOT NULL, last_used_at bigint NOT NULL,
    schema integer NOT NULL, data text NOT NULL, PRIMARY KEY (scope, sender_key, session_id));
  CREATE TABLE triturus_inbound_group_sessions (
    scope text NOT NULL, room_id text NOT NULL, session_id text NOT NULL, sender_key text NOT NULL,
    schema integer NOT NULL, data text NOT NULL, PRIMARY KEY (scope, room_id, session_id));
  CREATE TABLE triturus_outbound_group_sessions (
    scope text NOT NULL, room_id text NOT NULL, session_id text NOT NULL, schema integer NOT NULL, data text NOT NULL,
    PRIMARY KEY (scope, room_id));
  CREATE TABLE triturus_replays (
    scope text NOT NULL, session_id text NOT NULL, message_index bigint NOT NULL, event_id text NOT NULL,
    origin_server_ts bigint NOT NULL, PRIMARY KEY (scope, session_id, message_index));
  CREATE TABLE triturus_mls_groups (
    scope text NOT NULL, group_id text NOT NULL, schema integer NOT NULL, data text NOT NULL, PRIMARY KEY (scope, group_id));
  CREATE TABLE triturus_values (scope text NOT NULL, key text NOT NULL, value text NOT NULL, PRIMARY KEY (scope, key));
  INSERT INTO triturus_schema (version) VALUES (1);
`;

/** The same server, another database. */
export function databaseUrl(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

let databases = 0;
async function createDatabase(url: string): Promise<string> {
  const name = `fixture_${process.pid}_${Date.now()}_${++databases}`;
  await withClient(url, (c) => c.query(`CREATE DATABASE ${name}`));
  return databaseUrl(url, name);
}

async function insertV1Fixture(client: pg.Client, scope: string): Promise<void> {
  const f = V1_FIXTURE;
  const o = f.olmSession;
  const i = f.inboundGroupSession;
  const g = f.outboundGroupSession;
  await client.query('INSERT INTO triturus_accounts VALUES ($1, $2, $3)', [scope, f.account.schema, f.account.data]);
  await client.query('INSERT INTO triturus_olm_sessions VALUES ($1, $2, $3, $4, $5, $6)', [
    scope,
    o.senderKey,
    o.sessionId,
    o.lastUsedAt,
    o.schema,
    o.data,
  ]);
  await client.query('INSERT INTO triturus_inbound_group_sessions VALUES ($1, $2, $3, $4, $5, $6)', [
    scope,
    i.roomId,
    i.sessionId,
    i.senderKey,
    i.schema,
    i.data,
  ]);
  await client.query('INSERT INTO triturus_outbound_group_sessions VALUES ($1, $2, $3, $4, $5)', [
    scope,
    g.roomId,
    g.sessionId,
    g.schema,
    g.data,
  ]);
  await client.query('INSERT INTO triturus_replays VALUES ($1, $2, $3, $4, $5)', [
    scope,
    f.replay.sessionId,
    f.replay.messageIndex,
    f.replay.eventId,
    f.replay.originServerTs,
  ]);
  await client.query('INSERT INTO triturus_mls_groups VALUES ($1, $2, $3, $4)', [
    scope,
    f.mlsGroup.groupId,
    f.mlsGroup.schema,
    f.mlsGroup.data,
  ]);
  await client.query('INSERT INTO triturus_values VALUES ($1, $2, $3)', [scope, f.value.key, f.value.value]);
}

/**
 * With `pool`, every store shares it (the bridge setup: many devices, one pool); without, each store opens
 * its own pool from the connection string and ends it on close.
 */
let traps = 0;
export function postgresHarness(url: string, pool?: pg.Pool): StoreHarness {
  return {
    backend: 'postgres',
    open: (scope) =>
      pool === undefined ? PostgresStore.open({ scope, connectionString: url }) : PostgresStore.open({ scope, pool }),
    async installWriteTrap(scope, key) {
      const name = `trap_${process.pid}_${++traps}`;
      await withClient(url, async (c) => {
        await c.query(
          `CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN RAISE EXCEPTION 'write trapped by the test'; END $$`,
        );
        await c.query(
          `CREATE TRIGGER ${name} BEFORE INSERT ON triturus_values FOR EACH ROW
           WHEN (NEW.scope = ${c.escapeLiteral(scope)} AND NEW.key = ${c.escapeLiteral(key)}) EXECUTE FUNCTION ${name}()`,
        );
      });
    },
    schemaFixtures: {
      async createV1(scope) {
        const fixture = await createDatabase(url);
        await withClient(fixture, async (c) => {
          await c.query(POSTGRES_V1_DDL);
          await insertV1Fixture(c, scope);
        });
        return () => PostgresStore.open({ scope, connectionString: fixture });
      },
      async createNewer(scope) {
        const fixture = await createDatabase(url);
        await withClient(fixture, async (c) => {
          await c.query(POSTGRES_V1_DDL);
          await c.query('INSERT INTO triturus_schema (version) VALUES (99)');
        });
        return () => PostgresStore.open({ scope, connectionString: fixture });
      },
    },
  };
}
