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
