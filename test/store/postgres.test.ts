import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { StoreError } from '../../src/errors.js';
import { PostgresStore } from '../../src/store/postgres.js';
import { casesFor } from './conformance.js';
import { postgresHarness, withClient } from './postgres-harness.js';

const url = inject('postgresUrl');

describe('postgres store conformance (a pool per store)', () => {
  const harness = postgresHarness(url);
  for (const c of casesFor(harness)) it(c.name, () => c.run(harness));
});

describe('postgres store conformance (one pool shared by every store, as a bridge runs)', () => {
  const pool = new pg.Pool({ connectionString: url, max: 6 });
  afterAll(() => pool.end());
  const harness = postgresHarness(url, pool);
  for (const c of casesFor(harness)) it(c.name, () => c.run(harness));
});

describe('postgres store', () => {
  it('a server that is not there is a STORE_IO error with the driver error as cause', async () => {
    const error = await PostgresStore.open({
      scope: '@x:example.org|A',
      connectionString: 'postgres://postgres@127.0.0.1:1/none',
    }).catch((e) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect(error.code).toBe('STORE_IO');
    expect(error.cause).toBeDefined();
  });

  it('lease expiry follows the server clock', async () => {
    const store = await PostgresStore.open({ scope: '@clock:example.org|A', connectionString: url });
    try {
      const token = await store.tryAcquireLease('A', 60_000);
      const serverNow = await withClient(url, async (c) => {
        const { rows } = await c.query('SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now');
        return rows[0].now as number;
      });
      expect(token).toBeDefined();
      expect(Math.abs(token!.expiresAt - (serverNow + 60_000))).toBeLessThan(5000);
    } finally {
      await store.close();
    }
  });

  it('a connection that dies mid-commit: STORE_IO, nothing written, no crash, and the store works on', async () => {
    const scope = `@dies:example.org|A${Date.now()}`;
    const store = await PostgresStore.open({ scope, connectionString: url });
    const blocker = new pg.Client({ connectionString: url });
    await blocker.connect();
    try {
      const token = (await store.tryAcquireLease('A', 60_000))!;
      // Hold the lease row, so the fenced commit waits in its transaction (FOR SHARE) until its backend is terminated.
      await blocker.query('BEGIN');
      await blocker.query('SELECT * FROM triturus_leases WHERE scope = $1 FOR UPDATE', [scope]);
      const replay = { sessionId: 's', messageIndex: 1, eventId: '$e', originServerTs: 1 };
      const commit = store.commit({ replays: [replay] }, { fence: token }).catch((e: unknown) => e);
      let pid: number | undefined;
      for (let i = 0; i < 500 && pid === undefined; i++) {
        // Inside a transaction the activity view is a snapshot taken once: take a new one each time.
        await blocker.query('SELECT pg_stat_clear_snapshot()');
        const { rows } = await blocker.query(
          "SELECT pid FROM pg_stat_activity WHERE query LIKE '%FOR SHARE%' AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
        );
        pid = rows[0]?.pid;
        if (pid === undefined) await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(pid, 'the commit never waited for the lease row').toBeDefined();
      await blocker.query('SELECT pg_terminate_backend($1)', [pid]);
      const error = await commit;
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).code).toBe('STORE_IO');
      await blocker.query('ROLLBACK');
      // A dying connection's 'error' event must not have reached the process unheard (vitest reports it),
      // and the pool hands out a working connection afterwards.
      expect(await store.loadReplay('s', 1)).toBeUndefined();
      await store.commit({ replays: [replay] }, { fence: token });
      expect(await store.loadReplay('s', 1)).toEqual(replay);
    } finally {
      await blocker.end();
      await store.close();
    }
  });

  it('refuses bad options with STORE_INVALID', async () => {
    for (const options of [
      null,
      { scope: 's' },
      { scope: 's', connectionString: url, pool: {} },
      { scope: '', connectionString: url },
      { scope: 's', connectionString: url, maxConnections: 0 },
    ]) {
      const error = await PostgresStore.open(options as never).catch((e) => e);
      expect(error, JSON.stringify(options)).toBeInstanceOf(StoreError);
      expect(error.code).toBe('STORE_INVALID');
    }
  });
});
