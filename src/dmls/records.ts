/**
 * The persistence contract of the DMLS layer. The layer does no I/O: it reads named records
 * through a loader the caller supplies, and every operation leaves its writes and deletes as a
 * pending change set that the caller takes (`takeChanges()`) and commits, atomically with its
 * other changes. A failed operation leaves nothing pending.
 *
 * Records are plaintext here; the Device encrypts them like every other record.
 */
import { DmlsError, invalidArgument } from '../errors.js';

export type RecordValue = Uint8Array | string;

/** Reads one record; undefined when it does not exist. */
export interface RecordLoader {
  get(key: string): Promise<RecordValue | undefined>;
}

export interface RecordPut {
  readonly key: string;
  readonly value: RecordValue;
}

/** The writes and deletes an operation made, for the caller to commit in one batch. */
export interface RecordChanges {
  readonly put: readonly RecordPut[];
  readonly remove: readonly string[];
}

/** An in-memory loader: the reference implementation, for tests and for callers without a store. */
export class MemoryRecordStore implements RecordLoader {
  readonly #records = new Map<string, RecordValue>();

  async get(key: string): Promise<RecordValue | undefined> {
    const value = this.#records.get(key);
    return value instanceof Uint8Array ? value.slice() : value;
  }

  /** Commits a change set (puts, then removes) as one step. */
  apply(changes: RecordChanges): void {
    for (const { key, value } of changes.put)
      this.#records.set(key, value instanceof Uint8Array ? value.slice() : value);
    for (const key of changes.remove) this.#records.delete(key);
  }

  keys(): string[] {
    return [...this.#records.keys()].sort();
  }

  /** Total size of the stored values (bytes for binary records, UTF-16 code units for strings). */
  byteSize(prefix = ''): number {
    let n = 0;
    for (const [k, v] of this.#records) if (k.startsWith(prefix)) n += v.length;
    return n;
  }

  /** A copy (to simulate a crash: the copy is what was committed). */
  clone(): MemoryRecordStore {
    const out = new MemoryRecordStore();
    for (const [k, v] of this.#records) out.#records.set(k, v instanceof Uint8Array ? v.slice() : v);
    return out;
  }
}

const REMOVED: unique symbol = Symbol('removed');
type Slot = RecordValue | typeof REMOVED;

/**
 * The pending change set shared by everything built on one loader, with read-through to it.
 * Operations write into a `RecordTransaction` first; only a transaction that completes is merged.
 */
export class PendingRecords {
  readonly #loader: RecordLoader;
  readonly #pending = new Map<string, Slot>();

  constructor(loader: RecordLoader) {
    if (loader === null || typeof loader !== 'object' || typeof loader.get !== 'function') {
      throw invalidArgument('expected a record loader with an async get(key)');
    }
    this.#loader = loader;
  }

  async get(key: string): Promise<RecordValue | undefined> {
    const slot = this.#pending.get(key);
    if (slot === REMOVED) return undefined;
    if (slot !== undefined) return slot;
    let value: RecordValue | undefined;
    try {
      value = await this.#loader.get(key);
    } catch (cause) {
      throw new DmlsError('DMLS_RECORD_MISSING', `the record loader failed for ${key}`, {}, { cause });
    }
    if (value !== undefined && typeof value !== 'string' && !(value instanceof Uint8Array)) {
      throw new DmlsError('DMLS_RECORD_CORRUPT', `record ${key} is neither bytes nor a string`);
    }
    return value;
  }

  transaction(): RecordTransaction {
    return new RecordTransaction(this);
  }

  /** @internal merges a completed transaction. */
  merge(writes: ReadonlyMap<string, Slot>): void {
    for (const [k, v] of writes) this.#pending.set(k, v);
  }

  get hasChanges(): boolean {
    return this.#pending.size > 0;
  }

  /** Hands over everything pending and forgets it: the caller now commits it. */
  takeChanges(): RecordChanges {
    const put: RecordPut[] = [];
    const remove: string[] = [];
    for (const [key, slot] of this.#pending) {
      if (slot === REMOVED) remove.push(key);
      else put.push({ key, value: slot });
    }
    this.#pending.clear();
    return { put, remove };
  }

  /** Drops everything pending (the caller failed to commit and will reload). */
  discardChanges(): void {
    this.#pending.clear();
  }
}

export class RecordTransaction {
  readonly #base: PendingRecords;
  readonly #writes = new Map<string, Slot>();

  constructor(base: PendingRecords) {
    this.#base = base;
  }

  async get(key: string): Promise<RecordValue | undefined> {
    const slot = this.#writes.get(key);
    if (slot === REMOVED) return undefined;
    if (slot !== undefined) return slot;
    return this.#base.get(key);
  }

  async getBytes(key: string): Promise<Uint8Array | undefined> {
    const value = await this.get(key);
    if (value === undefined || value instanceof Uint8Array) return value;
    throw new DmlsError('DMLS_RECORD_CORRUPT', `record ${key} should be bytes`);
  }

  async getString(key: string): Promise<string | undefined> {
    const value = await this.get(key);
    if (value === undefined || typeof value === 'string') return value;
    throw new DmlsError('DMLS_RECORD_CORRUPT', `record ${key} should be a string`);
  }

  put(key: string, value: RecordValue): void {
    this.#writes.set(key, value);
  }

  remove(key: string): void {
    this.#writes.set(key, REMOVED);
  }

  /** Merges the writes into the pending change set. Synchronous: call it last, after every await. */
  commit(): void {
    this.#base.merge(this.#writes);
    this.#writes.clear();
  }
}

// Record keys. Identifiers from Matrix (room ids) are percent-encoded so a '/' cannot forge a path.
export const IDENTITY_KEY = 'dmls/identity';
export const KEY_PACKAGE_INDEX_KEY = 'dmls/key-packages';
export function keyPackageKey(refHex: string): string {
  return `dmls/key-package/${refHex}`;
}
export function roomPrefix(roomId: string): string {
  return `dmls/room/${encodeURIComponent(roomId)}/`;
}
export function roomMetaKey(roomId: string): string {
  return `${roomPrefix(roomId)}meta`;
}
export function roomPendingKey(roomId: string): string {
  return `${roomPrefix(roomId)}pending-commit`;
}
export function epochKey(roomId: string, serial: number, part: string): string {
  return `${roomPrefix(roomId)}epoch/${serial}/${part}`;
}
