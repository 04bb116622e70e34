import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { StoreError } from '../../src/errors.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { casesFor } from './conformance.js';
import { sqliteHarness } from './sqlite-harness.js';

const harness = sqliteHarness();
afterAll(() => harness.dispose());

describe('sqlite store conformance', () => {
  for (const c of casesFor(harness)) it(c.name, () => c.run(harness));
});

describe('sqlite store', () => {
  it('puts the database file in WAL mode', async () => {
    const store = await SqliteStore.open({ scope: '@pragmas:example.org|A', path: harness.path, busyTimeoutMs: 1234 });
    await store.close();
    const db = new Database(harness.path);
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      db.close();
    }
  });

  it('an unopenable path is a STORE_IO error that keeps the driver error as cause', async () => {
    const error = await SqliteStore.open({ scope: '@x:example.org|A', path: '/nonexistent/dir/store.db' }).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(StoreError);
    expect(error.code).toBe('STORE_IO');
    expect(error.cause).toBeDefined();
  });

  it('a write blocked by another connection past busy_timeout is a STORE_IO error, not a hang', async () => {
    const store = await SqliteStore.open({ scope: '@busy:example.org|A', path: harness.path, busyTimeoutMs: 100 });
    const other = new Database(harness.path);
    try {
      other.exec('BEGIN IMMEDIATE');
      const started = Date.now();
      const error = await store.commit({ values: [{ key: 'k', value: 'v' }] }).catch((e) => e);
      expect(error).toBeInstanceOf(StoreError);
      expect(error.code).toBe('STORE_IO');
      expect(error.message).toContain('SQLITE_BUSY');
      expect(Date.now() - started).toBeLessThan(5000);
      other.exec('ROLLBACK');
      await store.commit({ values: [{ key: 'k', value: 'v' }] });
      expect(await store.loadValue('k')).toBe('v');
    } finally {
      other.close();
      await store.close();
    }
  });

  it('refuses bad options with STORE_INVALID', async () => {
    for (const options of [
      null,
      { scope: '', path: harness.path },
      { scope: 's', path: '' },
      { scope: 's', path: harness.path, busyTimeoutMs: -1 },
      { scope: 's', path: harness.path, synchronous: 'off' },
    ]) {
      const error = await SqliteStore.open(options as never).catch((e) => e);
      expect(error, JSON.stringify(options)).toBeInstanceOf(StoreError);
      expect(error.code).toBe('STORE_INVALID');
    }
  });
});
