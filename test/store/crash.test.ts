/**
 * Crash safety on SQLite and PostgreSQL: a child process commits a stream of batches and prints each
 * sequence number once its commit resolved; we SIGKILL it at a random moment, several times, and check after
 * reopening that every printed batch is there in full and no batch is half-written.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { PostgresStore } from '../../src/store/postgres.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { KeyStore } from '../../src/store/types.js';
import { startChild } from './child-process.js';
import { accountSeq, CRASH_RECORDS, countCrashBatch, crashSnapshot } from './crash-batch.js';

const ROUNDS = 5;
const dir = mkdtempSync(join(tmpdir(), 'triturus-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const backends: { name: string; target: () => string; open: (target: string, scope: string) => Promise<KeyStore> }[] = [
  { name: 'sqlite', target: () => join(dir, 'crash.db'), open: (path, scope) => SqliteStore.open({ scope, path }) },
  {
    name: 'postgres',
    target: () => inject('postgresUrl'),
    open: (connectionString, scope) => PostgresStore.open({ scope, connectionString }),
  },
];

describe.each(backends)('$name: SIGKILL while committing', ({ name, target, open }) => {
  it(`every printed commit survives and no batch is half-written (${ROUNDS} kills)`, async () => {
    const scope = `@crash-${name}-${Date.now()}:example.org|DEVICE`;
    const where = target();
    const rounds: { first: number; last: number }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const first = round * 100_000;
      const child = startChild('crash-writer.ts', [name, where, scope, String(first)]);
      await child.waitForLine((l) => l === 'ready');
      await child.waitForLine((l) => l === String(first)); // at least one commit went through
      await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 250));
      child.process.kill('SIGKILL');
      const { signal } = await child.exited;
      expect(signal, child.stderr()).toBe('SIGKILL');
      const printed = child.lines.filter((l) => /^\d+$/.test(l)).map(Number);
      expect(printed).toEqual(printed.map((_, i) => first + i)); // in order, none skipped
      rounds.push({ first, last: printed.at(-1)! });
    }

    const store = await open(where, scope);
    try {
      const snapshot = await crashSnapshot(store);
      let landed = 0;
      for (const { first, last } of rounds) {
        // Every batch whose commit returned is there in full.
        for (let seq = first; seq <= last; seq++) {
          expect(await countCrashBatch(store, snapshot, seq), `batch ${seq}`).toBe(CRASH_RECORDS);
        }
        landed += last - first + 1;
        // The batch in flight at the kill: all of it or none of it. Nothing after it.
        const inFlight = await countCrashBatch(store, snapshot, last + 1);
        expect([0, CRASH_RECORDS], `batch ${last + 1} (in flight at the kill)`).toContain(inFlight);
        if (inFlight > 0) landed++;
        expect(await countCrashBatch(store, snapshot, last + 2), `batch ${last + 2}`).toBe(0);
      }
      // No stray batch anywhere else.
      expect(snapshot.olm.size).toBe(landed);
      expect(snapshot.inbound.size).toBe(landed);
      // Every batch overwrites the account: it comes from the last round's last or in-flight batch.
      const final = rounds.at(-1)!;
      expect([final.last, final.last + 1]).toContain(await accountSeq(store));
    } finally {
      await store.close();
    }
  });
});
