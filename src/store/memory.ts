/**
 * An in-memory KeyStore for tests and ephemeral use. A `MemoryDatabase` is the shared backing data; each
 * `MemoryStore` is one handle on it, so two handles on one database compete for a device's lease exactly as
 * two processes do on SQLite or PostgreSQL.
 */
import { StoreError } from '../errors.js';
import {
  checkCommitOptions,
  checkDuration,
  checkHolder,
  checkMessageIndex,
  checkReplayKeys,
  checkScope,
  checkString,
  checkToken,
  closedError,
  compareInboundGroupSessions,
  compareOlmSessions,
  fenceHolds,
  joinKey,
  type LeaseRow,
  leaseLost,
  nextLease,
  normalizeChanges,
  STORE_SCHEMA_VERSION,
} from './common.js';
import type {
  CommitOptions,
  InboundGroupSessionEntry,
  KeyStore,
  LeaseToken,
  MlsGroupEntry,
  OlmSessionEntry,
  OutboundGroupSessionEntry,
  ReplayEntry,
  ReplayKey,
  StoreChanges,
  StoredRecord,
} from './types.js';

interface ScopeData {
  account: StoredRecord | undefined;
  readonly olmSessions: Map<string, Map<string, OlmSessionEntry>>;
  readonly inboundGroupSessions: Map<string, Map<string, InboundGroupSessionEntry>>;
  readonly outboundGroupSessions: Map<string, OutboundGroupSessionEntry>;
  readonly replays: Map<string, ReplayEntry>;
  readonly mlsGroups: Map<string, MlsGroupEntry>;
  readonly values: Map<string, string>;
}

// Entries are frozen copies, so neither a caller's later mutation nor a returned object can change stored state.
const copyRecord = (r: StoredRecord): StoredRecord => Object.freeze({ schema: r.schema, data: r.data });

interface DatabaseState {
  readonly scopes: Map<string, ScopeData>;
  readonly leases: Map<string, LeaseRow>;
}

// Kept outside the class so that no internal method shows up in the public type.
const states = new WeakMap<MemoryDatabase, DatabaseState>();

function scopeData(state: DatabaseState, scope: string): ScopeData {
  let data = state.scopes.get(scope);
  if (data === undefined) {
    data = {
      account: undefined,
      olmSessions: new Map(),
      inboundGroupSessions: new Map(),
      outboundGroupSessions: new Map(),
      replays: new Map(),
      mlsGroups: new Map(),
      values: new Map(),
    };
    state.scopes.set(scope, data);
  }
  return data;
}

/** The data behind one or more MemoryStore handles: every device (scope) and every lease. */
export class MemoryDatabase {
  constructor() {
    states.set(this, { scopes: new Map(), leases: new Map() });
  }

  /** Opens a handle on this database for one device. */
  open(scope: string): MemoryStore {
    return new MemoryStore(scope, this);
  }
}

export class MemoryStore implements KeyStore {
  readonly backend: string = 'memory';
  readonly scope: string;
  readonly #db: DatabaseState;
  #closed = false;

  /** A handle on `database`, or on a database of its own when none is given. */
  constructor(scope: string, database: MemoryDatabase = new MemoryDatabase()) {
    this.scope = checkScope(scope);
    const state = states.get(database);
    if (state === undefined) {
      throw new StoreError('STORE_INVALID', 'memory: database must be a MemoryDatabase', { field: 'database' });
    }
    this.#db = state;
  }

  #data(): ScopeData {
    if (this.#closed) throw closedError(this.backend);
    return scopeData(this.#db, this.scope);
  }

  async loadAccount(): Promise<StoredRecord | undefined> {
    return this.#data().account;
  }

  async loadOlmSessions(senderKey: string): Promise<OlmSessionEntry[]> {
    const data = this.#data();
    checkString(senderKey, 'senderKey');
    return [...(data.olmSessions.get(senderKey)?.values() ?? [])].sort(compareOlmSessions);
  }

  async loadInboundGroupSession(roomId: string, sessionId: string): Promise<InboundGroupSessionEntry | undefined> {
    const data = this.#data();
    checkString(roomId, 'roomId');
    checkString(sessionId, 'sessionId');
    return data.inboundGroupSessions.get(roomId)?.get(sessionId);
  }

  async listInboundGroupSessions(roomId?: string): Promise<InboundGroupSessionEntry[]> {
    const data = this.#data();
    const rooms =
      roomId === undefined
        ? [...data.inboundGroupSessions.values()]
        : [data.inboundGroupSessions.get(checkString(roomId, 'roomId')) ?? new Map()];
    return rooms.flatMap((room) => [...room.values()]).sort(compareInboundGroupSessions);
  }

  async loadOutboundGroupSession(roomId: string): Promise<OutboundGroupSessionEntry | undefined> {
    const data = this.#data();
    return data.outboundGroupSessions.get(checkString(roomId, 'roomId'));
  }

  async loadReplay(sessionId: string, messageIndex: number): Promise<ReplayEntry | undefined> {
    const data = this.#data();
    return data.replays.get(joinKey(checkString(sessionId, 'sessionId'), checkMessageIndex(messageIndex)));
  }

  async loadReplays(keys: readonly ReplayKey[]): Promise<ReplayEntry[]> {
    const data = this.#data();
    const found: ReplayEntry[] = [];
    for (const k of checkReplayKeys(keys)) {
      const entry = data.replays.get(joinKey(k.sessionId, k.messageIndex));
      if (entry !== undefined) found.push(entry);
    }
    return found;
  }

  async loadMlsGroup(groupId: string): Promise<MlsGroupEntry | undefined> {
    const data = this.#data();
    return data.mlsGroups.get(checkString(groupId, 'groupId'));
  }

  async loadValue(key: string): Promise<string | undefined> {
    const data = this.#data();
    return data.values.get(checkString(key, 'key'));
  }

  async commit(changes: StoreChanges, options?: CommitOptions): Promise<void> {
    const data = this.#data();
    // Everything that can fail happens before the first write, so the batch lands whole or not at all.
    const c = normalizeChanges(changes);
    const fence = checkCommitOptions(options);
    if (fence !== undefined) {
      const current = this.#db.leases.get(this.scope);
      if (!fenceHolds(fence, current)) throw leaseLost(fence, current);
    }

    if (c.account !== undefined) data.account = copyRecord(c.account);

    for (const k of c.removeOlmSessions) data.olmSessions.get(k.senderKey)?.delete(k.sessionId);
    for (const s of c.olmSessions) {
      let peer = data.olmSessions.get(s.senderKey);
      if (peer === undefined) data.olmSessions.set(s.senderKey, (peer = new Map()));
      peer.set(s.sessionId, Object.freeze({ ...s, record: copyRecord(s.record) }));
    }

    for (const k of c.removeInboundGroupSessions) data.inboundGroupSessions.get(k.roomId)?.delete(k.sessionId);
    for (const s of c.inboundGroupSessions) {
      let room = data.inboundGroupSessions.get(s.roomId);
      if (room === undefined) data.inboundGroupSessions.set(s.roomId, (room = new Map()));
      room.set(s.sessionId, Object.freeze({ ...s, record: copyRecord(s.record) }));
    }

    for (const roomId of c.removeOutboundGroupSessions) data.outboundGroupSessions.delete(roomId);
    for (const s of c.outboundGroupSessions) {
      data.outboundGroupSessions.set(s.roomId, Object.freeze({ ...s, record: copyRecord(s.record) }));
    }

    for (const r of c.replays) {
      const key = joinKey(r.sessionId, r.messageIndex);
      if (!data.replays.has(key)) data.replays.set(key, Object.freeze({ ...r }));
    }

    for (const groupId of c.removeMlsGroups) data.mlsGroups.delete(groupId);
    for (const g of c.mlsGroups) data.mlsGroups.set(g.groupId, Object.freeze({ ...g, record: copyRecord(g.record) }));

    for (const v of c.values) {
      if (v.value === null) data.values.delete(v.key);
      else data.values.set(v.key, v.value);
    }
  }

  async tryAcquireLease(holder: string, durationMs: number): Promise<LeaseToken | undefined> {
    this.#data();
    const next = nextLease(this.#db.leases.get(this.scope), checkHolder(holder), Date.now(), checkDuration(durationMs));
    if (next === undefined) return undefined;
    this.#db.leases.set(this.scope, next);
    return { holder: next.holder, generation: next.generation, expiresAt: next.expiration };
  }

  async releaseLease(token: LeaseToken): Promise<void> {
    this.#data();
    const t = checkToken(token);
    const current = this.#db.leases.get(this.scope);
    // Expire rather than delete, so the generation never goes back.
    if (fenceHolds(t, current)) this.#db.leases.set(this.scope, { ...current!, expiration: 0 });
  }

  async schemaVersion(): Promise<number> {
    this.#data();
    return STORE_SCHEMA_VERSION;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}
