/**
 * The part of better-sqlite3's API that `SqliteStore` uses, and two adapters that give a runtime's own
 * built-in SQLite that shape: `bun:sqlite` on Bun and `node:sqlite` (Deno; Node 22.5 and later). The
 * database file is the same SQLite file whichever engine opens it.
 */
import { StoreError } from '../errors.js';

export interface SqliteStatement {
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  run(...params: unknown[]): unknown;
}

export interface SqliteDatabase {
  prepare(sql: string): SqliteStatement;
  exec(sql: string): unknown;
  /** `pragma('journal_mode = WAL')`: runs `PRAGMA journal_mode = WAL`. */
  pragma(source: string): unknown;
  /** better-sqlite3's transaction wrapper; `SqliteStore` only calls `.immediate()` on it. */
  transaction<T>(fn: () => T): { immediate(): T };
  close(): unknown;
}

/** Opens (creating when missing) the database file at `path`; `timeout` is the busy timeout in ms. */
export type SqliteDriver = new (path: string, options: { timeout: number }) => SqliteDatabase;

/** The SQLite engines a store can run on. */
export type SqliteEngine = 'better-sqlite3' | 'bun:sqlite' | 'node:sqlite';

/** A statement or database of a built-in engine: positional parameters, rows as objects. */
interface NativeStatement {
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  run(...params: unknown[]): unknown;
}
interface NativeDatabase {
  prepare(sql: string): NativeStatement;
  exec(sql: string): unknown;
  close(): unknown;
}

class Statement implements SqliteStatement {
  readonly #statement: NativeStatement;
  constructor(statement: NativeStatement) {
    this.#statement = statement;
  }
  get(...params: unknown[]): unknown {
    // bun:sqlite answers null for "no row", better-sqlite3 and node:sqlite undefined.
    return this.#statement.get(...params) ?? undefined;
  }
  all(...params: unknown[]): unknown[] {
    return this.#statement.all(...params);
  }
  run(...params: unknown[]): unknown {
    return this.#statement.run(...params);
  }
}

class Database implements SqliteDatabase {
  readonly #db: NativeDatabase;
  constructor(db: NativeDatabase) {
    this.#db = db;
  }
  prepare(sql: string): SqliteStatement {
    return new Statement(this.#db.prepare(sql));
  }
  exec(sql: string): unknown {
    return this.#db.exec(sql);
  }
  pragma(source: string): unknown {
    return this.#db.exec(`PRAGMA ${source}`);
  }
  transaction<T>(fn: () => T): { immediate(): T } {
    return {
      immediate: (): T => {
        this.#db.exec('BEGIN IMMEDIATE');
        let result: T;
        try {
          result = fn();
        } catch (error) {
          try {
            this.#db.exec('ROLLBACK');
          } catch {
            // SQLite may already have rolled back (e.g. after SQLITE_FULL); the first error is the one to report.
          }
          throw error;
        }
        this.#db.exec('COMMIT');
        return result;
      },
    };
  }
  close(): unknown {
    return this.#db.close();
  }
}

/** Loads a built-in engine's module through a specifier bundlers leave alone. */
async function load(specifier: string): Promise<Record<string, unknown> | undefined> {
  try {
    return (await import(/* @vite-ignore */ /* webpackIgnore: true */ specifier)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function unavailable(engine: SqliteEngine, why: string, cause?: unknown): StoreError {
  return new StoreError('STORE_IO', `sqlite: the ${engine} engine is not available here (${why})`, {}, { cause });
}

/**
 * A `SqliteDriver` over this runtime's built-in SQLite: `bun:sqlite` or `node:sqlite`. Rejects with a
 * `StoreError` (`STORE_IO`) where the runtime has no such module.
 */
export async function builtinSqliteDriver(engine: 'bun:sqlite' | 'node:sqlite'): Promise<SqliteDriver> {
  const module = await load(engine);
  if (engine === 'bun:sqlite') {
    const BunDatabase = module?.['Database'] as
      | (new (
          path: string,
          options: { create: boolean; readwrite: boolean; strict: boolean },
        ) => NativeDatabase)
      | undefined;
    if (typeof BunDatabase !== 'function') throw unavailable(engine, 'no bun:sqlite module: this is not Bun');
    const Native = BunDatabase;
    return class BunSqlite extends Database {
      constructor(path: string, _options: { timeout: number }) {
        super(new Native(path, { create: true, readwrite: true, strict: false }));
      }
    };
  }
  const DatabaseSync = module?.['DatabaseSync'] as (new (path: string) => NativeDatabase) | undefined;
  if (typeof DatabaseSync !== 'function') {
    throw unavailable(engine, 'no node:sqlite module: Deno and Node 22.5 or later have one');
  }
  const Native = DatabaseSync;
  return class NodeSqlite extends Database {
    constructor(path: string, _options: { timeout: number }) {
      // The busy timeout is set by the store through PRAGMA busy_timeout, as with better-sqlite3.
      super(new Native(path));
    }
  };
}
