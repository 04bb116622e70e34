/**
 * Two real processes on one device (SQLite file, PostgreSQL database) increment one counter with the lease
 * helper and fenced commits. No update may be lost or applied twice, and a process whose lease was taken
 * over while it stalled must get STORE_LEASE_LOST instead of writing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { PostgresStore } from '../../src/store/postgres.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { KeyStore } from '../../src/store/types.js';
import { startChild } from './child-process.js';
import { type CounterResult, checkCounter } from './counter-worker.js';

const ITERATIONS = 30;
const STALL_EVERY = 10;
const dir = mkdtempSync(join(tmpdir(), 'triturus-concurrency-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const backends: { name: string; target: () => string; open: (target: string, scope: string) => Promise<KeyStore> }[] = [
  { name: 'sqlite', target: () => join(dir, 'counter.db'), open: (path, scope) => SqliteStore.open({ scope, path }) },
  {
    name: 'postgres',
    target: () => inject('postgresUrl'),
    open: (connectionString, scope) => PostgresStore.open({ scope, connectionString }),
  },
];

describe.each(backends)('$name: two processes on one device', ({ name, target, open }) => {
  it('fenced read-modify-write: no lost update, no double apply, a taken-over process gets STORE_LEASE_LOST', async () => {
    const scope = `@counter-${name}-${Date.now()}:example.org|DEVICE`;
    const where = target();
    // Create the schema first, so the two workers do not both start by migrating.
    await (await open(where, scope)).close();
    const children = ['process-1', 'process-2'].map((holder) =>
      startChild('counter-process.ts', [name, where, scope, holder, String(ITERATIONS), String(STALL_EVERY)]),
    );
    const results: CounterResult[] = [];
    for (const child of children) {
      const done = await child.waitForLine((l) => l.startsWith('done '), 120_000);
      results.push(JSON.parse(done.slice(5)) as CounterResult);
      expect((await child.exited).code, child.stderr()).toBe(0);
    }
    const store = await open(where, scope);
    try {
      expect(await checkCounter(store, results)).toEqual([]);
    } finally {
      await store.close();
    }
    const committed = results.reduce((n, r) => n + r.committed.length, 0);
    const lost = results.reduce((n, r) => n + r.lost.length, 0);
    expect(committed + lost).toBe(2 * ITERATIONS);
    expect(lost, 'stalled rounds whose lease the other process took').toBeGreaterThan(0);
    expect(committed).toBeGreaterThan(ITERATIONS);
  });
});
