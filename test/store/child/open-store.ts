/** Opens a SQLite or PostgreSQL store from a child process's command line: `<backend> <path or url> <scope>`. */
import { PostgresStore } from '../../../src/store/postgres.js';
import { SqliteStore } from '../../../src/store/sqlite.js';
import type { KeyStore } from '../../../src/store/types.js';

export async function openStore(
  backend: string | undefined,
  target: string | undefined,
  scope: string | undefined,
): Promise<KeyStore> {
  if (target === undefined || scope === undefined) throw new Error('usage: <sqlite|postgres> <path|url> <scope> ...');
  if (backend === 'sqlite') return SqliteStore.open({ scope, path: target });
  if (backend === 'postgres') return PostgresStore.open({ scope, connectionString: target, maxConnections: 2 });
  throw new Error(`unknown backend ${backend}`);
}
