/**
 * The embedded default store: one SQLite file, on whichever SQLite engine this runtime has.
 *
 * - Node: better-sqlite3 (an optional peer dependency); where it is not installed, Node's own
 *   `node:sqlite` when the Node version has it (22.5 and later).
 * - Bun: `bun:sqlite`, built in.
 * - Deno: `node:sqlite`, built in.
 *
 * Every engine writes the same schema into an ordinary SQLite file, so a file made on one runtime opens
 * on another. The store is a `SqliteStore` whatever the engine.
 */
import { StoreError } from '../errors.js';
import { SqliteStore, type SqliteStoreOptions } from './sqlite.js';
import { builtinSqliteDriver, type SqliteDriver, type SqliteEngine } from './sqlite-driver.js';

export {
  builtinSqliteDriver,
  type SqliteDatabase,
  type SqliteDriver,
  type SqliteEngine,
  type SqliteStatement,
} from './sqlite-driver.js';

export interface DefaultStoreOptions extends Omit<SqliteStoreOptions, 'driver'> {
  /** Forces one engine instead of the runtime's default (see `defaultSqliteEngine`). */
  readonly engine?: SqliteEngine;
}

interface RuntimeGlobals {
  readonly Bun?: unknown;
  readonly Deno?: unknown;
}

/** The engine `openDefaultStore` picks on this runtime when none is given. */
export function defaultSqliteEngine(): SqliteEngine {
  const g = globalThis as RuntimeGlobals;
  if (g.Bun !== undefined) return 'bun:sqlite';
  if (g.Deno !== undefined) return 'node:sqlite';
  return 'better-sqlite3';
}

const ENGINES: readonly SqliteEngine[] = ['better-sqlite3', 'bun:sqlite', 'node:sqlite'];

/**
 * Opens the SQLite file at `options.path` for one device on the runtime's default engine. On Node,
 * when better-sqlite3 cannot be loaded (not installed), falls back to `node:sqlite` if the runtime has it. Fails with a
 * `StoreError` (`STORE_IO`) naming what to install when no engine is available.
 */
export async function openDefaultStore(options: DefaultStoreOptions): Promise<SqliteStore> {
  if (typeof options !== 'object' || options === null) {
    throw new StoreError('STORE_INVALID', 'sqlite: options must be an object', { field: 'options' });
  }
  const { engine, ...rest } = options;
  if (engine !== undefined && !ENGINES.includes(engine)) {
    throw new StoreError('STORE_INVALID', `sqlite: engine must be one of ${ENGINES.join(', ')}`, { field: 'engine' });
  }
  const chosen = engine ?? defaultSqliteEngine();
  if (chosen !== 'better-sqlite3') return SqliteStore.open({ ...rest, driver: await builtinSqliteDriver(chosen) });
  if (engine !== undefined) return SqliteStore.open(rest);
  // No engine asked for, on Node: better-sqlite3 where it loads, else the runtime's node:sqlite if it has one.
  const driver = await loadBetterSqlite3();
  if (driver !== undefined) return SqliteStore.open({ ...rest, driver });
  let builtin: SqliteDriver;
  try {
    builtin = await builtinSqliteDriver('node:sqlite');
  } catch (error) {
    throw new StoreError(
      'STORE_IO',
      'sqlite: no SQLite engine here: install better-sqlite3 (version 12), or use a runtime with node:sqlite',
      {},
      { cause: error },
    );
  }
  return SqliteStore.open({ ...rest, driver: builtin });
}

async function loadBetterSqlite3(): Promise<SqliteDriver | undefined> {
  try {
    return (await import('better-sqlite3')).default as unknown as SqliteDriver;
  } catch {
    return undefined;
  }
}
