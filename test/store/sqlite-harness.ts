/** Conformance harness for SQLite: one database file in a temp dir, and v1 / newer databases made by hand. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/store/sqlite.js';
import { type StoreHarness, V1_FIXTURE } from './conformance.js';
import { SQLITE_V1_DDL } from './sqlite-v1.js';

export { SQLITE_V1_DDL } from './sqlite-v1.js';

export function insertV1Fixture(db: Database.Database, scope: string): void {
  const f = V1_FIXTURE;
  const o = f.olmSession;
  const i = f.inboundGroupSession;
  const g = f.outboundGroupSession;
  db.prepare('INSERT INTO triturus_accounts VALUES (?, ?, ?)').run(scope, f.account.schema, f.account.data);
  db.prepare('INSERT INTO triturus_olm_sessions VALUES (?, ?, ?, ?, ?, ?)').run(
    scope,
    o.senderKey,
    o.sessionId,
    o.lastUsedAt,
    o.schema,
    o.data,
  );
  db.prepare('INSERT INTO triturus_inbound_group_sessions VALUES (?, ?, ?, ?, ?, ?)').run(
    scope,
    i.roomId,
    i.sessionId,
    i.senderKey,
    i.schema,
    i.data,
  );
  db.prepare('INSERT INTO triturus_outbound_group_sessions VALUES (?, ?, ?, ?, ?)').run(
    scope,
    g.roomId,
    g.sessionId,
    g.schema,
    g.data,
  );
  db.prepare('INSERT INTO triturus_replays VALUES (?, ?, ?, ?, ?)').run(
    scope,
    f.replay.sessionId,
    f.replay.messageIndex,
    f.replay.eventId,
    f.replay.originServerTs,
  );
  db.prepare('INSERT INTO triturus_mls_groups VALUES (?, ?, ?, ?)').run(
    scope,
    f.mlsGroup.groupId,
    f.mlsGroup.schema,
    f.mlsGroup.data,
  );
  db.prepare('INSERT INTO triturus_values VALUES (?, ?, ?)').run(scope, f.value.key, f.value.value);
}

export interface SqliteHarness extends StoreHarness {
  readonly dir: string;
  readonly path: string;
  dispose(): void;
}

export function sqliteHarness(): SqliteHarness {
  const dir = mkdtempSync(join(tmpdir(), 'triturus-sqlite-'));
  const path = join(dir, 'store.db');
  let files = 0;
  const newFile = (): string => join(dir, `fixture-${++files}.db`);
  return {
    backend: 'sqlite',
    dir,
    path,
    open: (scope) => SqliteStore.open({ scope, path }),
    async installWriteTrap(scope, key) {
      const db = new Database(path);
      try {
        const name = `trap_${++files}`;
        db.prepare(
          `CREATE TRIGGER ${name} BEFORE INSERT ON triturus_values
           WHEN NEW.scope = ${quote(scope)} AND NEW.key = ${quote(key)}
           BEGIN SELECT RAISE(ABORT, 'write trapped by the test'); END`,
        ).run();
      } finally {
        db.close();
      }
    },
    schemaFixtures: {
      async createV1(scope) {
        const file = newFile();
        const db = new Database(file);
        db.exec(SQLITE_V1_DDL);
        insertV1Fixture(db, scope);
        db.close();
        return () => SqliteStore.open({ scope, path: file });
      },
      async createNewer(scope) {
        const file = newFile();
        const db = new Database(file);
        db.exec(SQLITE_V1_DDL);
        db.prepare('INSERT INTO triturus_schema VALUES (99, 0)').run();
        db.close();
        return () => SqliteStore.open({ scope, path: file });
      },
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

const quote = (s: string): string => `'${s.replaceAll("'", "''")}'`;
