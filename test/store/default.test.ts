/**
 * `triturus/store/default` on Node: better-sqlite3 by default; a forced engine the runtime lacks is a
 * StoreError naming it; bad options are STORE_INVALID. (On Deno and Bun: test/runtimes.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StoreError } from '../../src/errors.js';
import { defaultSqliteEngine, openDefaultStore } from '../../src/store/default.js';
import { SqliteStore } from '../../src/store/sqlite.js';

const dir = mkdtempSync(join(tmpdir(), 'triturus-default-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('default store on Node', () => {
  it('is a SqliteStore on better-sqlite3 that keeps what it commits', async () => {
    expect(defaultSqliteEngine()).toBe('better-sqlite3');
    const path = join(dir, 'a.sqlite');
    const store = await openDefaultStore({ path, scope: '@a:example.org|D' });
    expect(store).toBeInstanceOf(SqliteStore);
    await store.commit({ values: [{ key: 'k', value: 'v' }] });
    await store.close();
    const again = await openDefaultStore({ path, scope: '@a:example.org|D', engine: 'better-sqlite3' });
    expect(await again.loadValue('k')).toBe('v');
    await again.close();
  });

  it.each(['bun:sqlite', 'node:sqlite'] as const)(
    'a forced %s, which Node 20 lacks, is STORE_IO naming it',
    async (engine) => {
      const error = await openDefaultStore({ path: join(dir, 'b.sqlite'), scope: 's', engine }).catch((e) => e);
      expect(error).toBeInstanceOf(StoreError);
      expect(error.code).toBe('STORE_IO');
      expect(error.message).toContain(engine);
    },
  );

  it('refuses bad options with STORE_INVALID', async () => {
    for (const options of [
      null,
      { path: join(dir, 'c.sqlite'), scope: 's', engine: 'sqlite3' },
      { path: '', scope: 's' },
    ]) {
      const error = await openDefaultStore(options as never).catch((e) => e);
      expect(error, JSON.stringify(options)).toBeInstanceOf(StoreError);
      expect(error.code).toBe('STORE_INVALID');
    }
  });
});
