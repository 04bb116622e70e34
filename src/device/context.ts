/**
 * The Device's internal context: what every concern module shares. It owns the store handle and
 * pickle key, the device's lease (cross-process exclusion with fenced commits), the operation
 * queue (one operation at a time, retried once on a lost lease), the batch an operation collects
 * and commits, and the caches kept while this process holds the lease.
 *
 * Rule: a failed operation commits nothing and drops the caches, so memory never runs ahead of
 * the store. Not exported from the package: the Device holds it privately.
 *
 * Why one file of ~660 lines: the lease, the commit path and the replay-record machinery (window
 * cache, read-ahead, deferred records and their flush) share one state — every commit carries the
 * deferred records and updates the caches, a lease change drops them, a flush is a commit. Split
 * apart, each piece would need the others' private fields. The next split, when it grows again:
 * the replay records into a class of their own that the context calls at commit and lease change.
 */

import { randomBytes } from '../crypto/index.js';
import type { DmlsAccount } from '../dmls/account.js';
import { encodeBase64 } from '../encoding/base64.js';
import { StoreError, TriturusError } from '../errors.js';
import { redactInspect } from '../inspect.js';
import { Account } from '../olm/account.js';
import { acquireLease } from '../store/lease.js';
import type {
  InboundGroupSessionEntry,
  KeyStore,
  LeaseToken,
  MlsGroupEntry,
  OlmSessionEntry,
  OutboundGroupSessionEntry,
  ReplayEntry,
  StoreChanges,
  StoredRecord,
} from '../store/types.js';
import { Batch, EMPTY_MARK, lastOf } from './batch.js';
import type { InboundState, OlmState, OutboundState } from './cache-state.js';
import { ACCOUNT_SCHEMA } from './records.js';
import type { DeviceInfo, DmlsDeviceOptions, EventResult, RoomSettings } from './types.js';

export { Batch, type BatchMark } from './batch.js';
export type { InboundState, OlmState, OutboundState } from './cache-state.js';

const MAX_CACHED_VALUES = 10_000;

/** Indices read per store call by `loadReplay` (see `replayCache`), and the most the cache keeps. */
const REPLAY_WINDOW = 64;
const REPLAY_CACHE_LIMIT = 16_384;
const MAX_REPLAY_INDEX = 0xffffffff;
/**
 * The most deferred replay records held uncommitted (see `pendingReplays`): past it, an operation
 * waits for the commit, so a store that keeps failing is noticed within this many events.
 */
const MAX_PENDING_REPLAYS = 512;

function replayKey(sessionId: string, messageIndex: number): string {
  return `${messageIndex} ${sessionId}`;
}

export interface ContextSettings {
  readonly userId: string;
  readonly deviceId: string;
  readonly pickleKey: Uint8Array;
  readonly leaseDurationMs: number;
  readonly leaseTimeoutMs: number;
  readonly releaseAfterEach: boolean;
  readonly deferReplays: boolean;
  readonly rotationPeriodMsgs: number;
  readonly rotationPeriodMs: number;
  readonly reservationBlock: number;
  readonly trustOwnDevice: ((device: DeviceInfo) => boolean | Promise<boolean>) | undefined;
  readonly requestMissingRoomKeys: boolean;
  readonly dmls: DmlsDeviceOptions | undefined;
  readonly now: () => number;
}

export class DeviceContext {
  readonly userId: string;
  readonly deviceId: string;
  readonly store: KeyStore;
  /** Every record is encrypted under it; wiped on close. */
  readonly pickleKey: Uint8Array;
  readonly holder: string = `device-${encodeBase64(randomBytes(12))}`;
  readonly leaseDurationMs: number;
  readonly leaseTimeoutMs: number;
  readonly releaseAfterEach: boolean;
  /**
   * Whether an operation whose only writes are replay records returns before they are committed
   * (DeviceOptions.deferReplayRecords; never with releaseAfterEach, whose lease ends with the operation).
   */
  readonly deferReplays: boolean;
  readonly rotationPeriodMsgs: number;
  readonly rotationPeriodMs: number;
  readonly reservationBlock: number;
  readonly trustOwnDevice: ((device: DeviceInfo) => boolean | Promise<boolean>) | undefined;
  readonly requestMissingRoomKeys: boolean;
  readonly dmlsOptions: DmlsDeviceOptions | undefined;
  readonly now: () => number;

  token: LeaseToken | undefined;
  /** Local clock (ms) by which the lease has lapsed for sure. */
  leaseDeadline = 0;
  account: Account | undefined;
  readonly olm: Map<string, OlmState[]> = new Map();
  readonly inbound: Map<string, InboundState | null> = new Map();
  readonly outbound: Map<string, OutboundState | null> = new Map();
  /**
   * Small values as stored (known devices, settings, the outbox, requests), absent ones too: a /sync
   * of 100 events then reads each once, not once per event. Kept in step by `commit`.
   */
  readonly values: Map<string, string | undefined> = new Map();
  /** The DMLS account (dmls-rooms.ts), opened on first use; its in-memory groups go with the caches. */
  dmls: DmlsAccount | undefined;
  /** Per-room settings, as stored (see room-settings.ts). */
  readonly roomSettings: Map<string, RoomSettings> = new Map();
  /**
   * Where this Device's outbound sessions stood when their cache was dropped, and under which lease
   * generation. While the generation is unchanged no other holder can have written, so a reload
   * resumes there instead of skipping the rest of the reserved block (a failed operation, say an
   * undecryptable event, must not cost the room up to a block of indices).
   */
  readonly outboundResume: Map<string, { sessionId: string; next: number; generation: number }> = new Map();
  /**
   * The batch of an operation that processes many events with one commit (a /sync response, a
   * page of room events). While it is set, loads see its uncommitted writes first, so after one
   * event fails and is rolled back (`stage`), the caches rebuild exactly as the earlier events left them.
   */
  staged: Batch | undefined;
  /** Replay records read ahead for the running operation (null: known to be absent). See `prefetchReplays`. */
  prefetchedReplays: Map<string, ReplayEntry | null> | undefined;
  /**
   * Replay records known under the current lease (null: known to be absent). While this Device holds
   * the lease nobody else writes its store, so what it read or committed stays true; a changed lease
   * generation drops it (`dropCaches`). Filled a window of indices at a time (`loadReplay`), so events
   * decrypted in order cost one store read per window, not one each. Bounded by REPLAY_CACHE_LIMIT.
   */
  readonly replayCache: Map<string, ReplayEntry | null> = new Map();
  /**
   * Replay records of events already decrypted and returned, not yet committed (`deferReplays`).
   * A background flush commits them, many per commit; every commit (`commit`) carries them too, and
   * a failed one keeps them here for the next. They are facts (these events were seen), so they stay
   * valid across a lost lease and a dropped cache; `loadReplay` consults them first.
   */
  readonly pendingReplays: Map<string, ReplayEntry> = new Map();
  /** The store commit in flight, if any: commits run one at a time (the flush runs beside operations). */
  #committing: Promise<void> | undefined;
  /** Per session, the last window of replay records read ahead, and its read while in flight (`#readAhead`). */
  readonly #ahead: Map<string, { from: number; done: Promise<void> | undefined }> = new Map();
  /** A background renewal of the lease in flight (`renewAhead`). */
  #renewing: Promise<void> | undefined;
  /** The background flush of `pendingReplays`, while it runs. */
  #flushing: Promise<void> | undefined;
  busy = false;
  readonly waiting: (() => void)[] = [];
  closed = false;

  constructor(store: KeyStore, settings: ContextSettings) {
    this.store = store;
    this.userId = settings.userId;
    this.deviceId = settings.deviceId;
    this.pickleKey = settings.pickleKey;
    this.leaseDurationMs = settings.leaseDurationMs;
    this.leaseTimeoutMs = settings.leaseTimeoutMs;
    this.releaseAfterEach = settings.releaseAfterEach;
    this.deferReplays = settings.deferReplays && !settings.releaseAfterEach;
    this.rotationPeriodMsgs = settings.rotationPeriodMsgs;
    this.rotationPeriodMs = settings.rotationPeriodMs;
    this.reservationBlock = settings.reservationBlock;
    this.trustOwnDevice = settings.trustOwnDevice;
    this.requestMissingRoomKeys = settings.requestMissingRoomKeys;
    this.dmlsOptions = settings.dmls;
    this.now = settings.now;
  }

  // -------------------------------------------------------------------------------------------
  // Operation plumbing: one at a time, under the lease, retried once on a lost lease.

  /** One operation at a time (a small mutex: the uncontended path adds no promise hops). */
  async exclusive<T>(operation: () => Promise<T>): Promise<T> {
    if (this.busy) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.busy = true;
    try {
      return await operation();
    } finally {
      const next = this.waiting.shift();
      if (next === undefined) this.busy = false;
      else next();
    }
  }

  /**
   * Runs an operation exclusively and under the lease, retried once on fresh state if the lease was
   * lost. One async frame around the operation (this is on every message's path).
   */
  async run<T>(operation: () => Promise<T>): Promise<T> {
    if (this.busy) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.busy = true;
    try {
      if (this.closed) throw new StoreError('STORE_CLOSED', 'this device is closed');
      for (let attempt = 0; ; attempt++) {
        try {
          if (!this.leaseIsFresh()) await this.renewLease();
          else if (!this.releaseAfterEach) this.renewAhead();
          return await operation();
        } catch (error) {
          this.dropCaches();
          if (error instanceof StoreError && error.code === 'STORE_LEASE_LOST' && attempt === 0) {
            this.forgetLostLease();
            continue;
          }
          throw error;
        } finally {
          if (this.releaseAfterEach && this.token !== undefined) {
            await this.store.releaseLease(this.token).catch(() => undefined);
            this.leaseDeadline = 0;
          }
        }
      }
    } finally {
      const next = this.waiting.shift();
      if (next === undefined) this.busy = false;
      else next();
    }
  }

  /**
   * True while at least half the lease is left. Judged on the local clock from the moment before
   * the lease was requested (the store may stamp leases with another clock, e.g. PostgreSQL's).
   */
  leaseIsFresh(): boolean {
    return this.token !== undefined && this.leaseDeadline - Date.now() > this.leaseDurationMs / 2;
  }

  /**
   * For output released without a commit (a commit is fenced by the store itself): refuses it if
   * the lease may have lapsed during the operation, since another process could have taken over
   * (and, say, rotated the room key). The operation is then retried on fresh state.
   */
  checkLeaseStillHeld(): void {
    if (!this.leaseStillHeld()) {
      throw new StoreError('STORE_LEASE_LOST', 'the lease may have lapsed during the operation; nothing was released');
    }
  }

  /**
   * After a lost lease, before the retry: the retry reloads outbound sessions past their reserved
   * blocks, so it reserves anew through a fenced commit instead of depending on the local lease
   * clock a second time.
   */
  forgetLostLease(): void {
    this.token = undefined;
    this.outboundResume.clear();
  }

  leaseStillHeld(): boolean {
    return this.token !== undefined && Date.now() < this.leaseDeadline;
  }

  /**
   * With less than three quarters of the lease left (but more than half, so it cannot have lapsed),
   * renews it in the background, one try: operations then find it fresh instead of waiting for the
   * store on every second renewal. A try that does not come back with this lease's generation changes
   * nothing (the next renewal in the foreground, or a fenced commit, finds out).
   */
  renewAhead(): void {
    if (this.#renewing !== undefined || this.leaseDeadline - Date.now() > (this.leaseDurationMs * 3) / 4) return;
    const token = this.token;
    if (token === undefined) return;
    const started = Date.now();
    this.#renewing = this.store
      .tryAcquireLease(this.holder, this.leaseDurationMs)
      .then(
        (next) => {
          if (next !== undefined && this.token === token && next.generation === token.generation && !this.closed) {
            this.token = next;
            this.leaseDeadline = started + this.leaseDurationMs;
          }
        },
        () => undefined,
      )
      .finally(() => {
        this.#renewing = undefined;
      });
  }

  /** Waits for a background renewal (before the lease is given back, so that it is not taken again). */
  async settleRenewal(): Promise<void> {
    if (this.#renewing !== undefined) await this.#renewing;
  }

  async renewLease(): Promise<void> {
    const token = this.token;
    const started = Date.now();
    const next = await acquireLease(this.store, this.holder, {
      durationMs: this.leaseDurationMs,
      timeoutMs: this.leaseTimeoutMs,
    });
    this.leaseDeadline = started + this.leaseDurationMs;
    // A new generation means another holder may have written: nothing cached can be trusted.
    if (token === undefined || next.generation !== token.generation) this.dropCaches();
    this.token = next;
  }

  dropCaches(): void {
    this.account = undefined;
    this.values.clear();
    this.dmls = undefined;
    this.olm.clear();
    this.inbound.clear();
    const generation = this.token?.generation;
    for (const [roomId, state] of this.outbound) {
      if (state === null || generation === undefined) continue;
      this.outboundResume.set(roomId, {
        sessionId: state.session.sessionId,
        next: state.session.messageIndex,
        generation,
      });
    }
    this.outbound.clear();
    this.roomSettings.clear();
    this.replayCache.clear();
    this.#ahead.clear();
  }

  async commit(changes: StoreChanges | Batch): Promise<void> {
    while (this.#committing !== undefined) await this.#committing;
    const token = this.token;
    let plain = changes instanceof Batch ? changes.toChanges() : changes;
    // Deferred replay records go with every commit (records already in the store are kept as they are).
    const deferred = this.pendingReplays.size === 0 ? undefined : [...this.pendingReplays.values()];
    if (deferred !== undefined) plain = { ...plain, replays: [...deferred, ...(plain.replays ?? [])] };
    const done = this.store.commit(plain, token === undefined ? {} : { fence: token });
    const mine = done.then(
      () => undefined,
      () => undefined,
    );
    this.#committing = mine;
    try {
      await done;
    } finally {
      if (this.#committing === mine) this.#committing = undefined;
    }
    if (deferred !== undefined) {
      for (const entry of deferred) this.pendingReplays.delete(replayKey(entry.sessionId, entry.messageIndex));
    }
    // Committed: the cached values follow (a failed commit drops every cache instead).
    for (const v of plain.values ?? []) this.values.set(v.key, v.value ?? undefined);
    if (plain.replays !== undefined) {
      for (const entry of plain.replays) {
        // Insert-only in the store: an existing record stays, and so does the cached one.
        const key = replayKey(entry.sessionId, entry.messageIndex);
        if (!this.replayCache.get(key)) this.replayCache.set(key, entry);
      }
    }
  }

  /**
   * Commits an operation's batch; one holding only replay records is deferred instead when
   * `deferReplays` is on and the lease is held: the records join `pendingReplays` (which `loadReplay`
   * reads first, so this process refuses a replay at once) and the operation returns while a background flush commits
   * them. Past MAX_PENDING_REPLAYS the operation waits for that commit; if it fails, the operation's
   * own records leave again and the error is its result.
   */
  commitOrDefer(batch: Batch): Promise<void> | undefined {
    if (!this.deferReplays || this.token === undefined || !batch.onlyReplays) return this.commit(batch);
    const added: string[] = [];
    for (const entry of batch.replays) {
      const key = replayKey(entry.sessionId, entry.messageIndex);
      if (this.pendingReplays.has(key)) continue;
      this.pendingReplays.set(key, entry);
      added.push(key);
    }
    if (this.pendingReplays.size <= MAX_PENDING_REPLAYS) {
      this.#scheduleFlush();
      return undefined;
    }
    return this.commit({}).catch((error: unknown) => {
      for (const key of added) this.pendingReplays.delete(key);
      throw error;
    });
  }

  #scheduleFlush(): void {
    if (this.#flushing !== undefined) return;
    this.#flushing = this.#flush().finally(() => {
      this.#flushing = undefined;
    });
  }

  /**
   * Commits `pendingReplays` in the background until none are left. Stops, keeping them, when the
   * lease may have lapsed or a commit fails: the next operation renews the lease and its commit (or
   * its flush) carries them.
   */
  async #flush(): Promise<void> {
    try {
      while (this.pendingReplays.size > 0 && !this.closed && this.leaseStillHeld()) await this.commit({});
    } catch {
      // Kept in pendingReplays (see above).
    }
  }

  /** Waits for a running flush, then commits what is still pending (for close). Store errors are thrown. */
  async settleReplays(): Promise<void> {
    if (this.#flushing !== undefined) await this.#flushing;
    if (this.pendingReplays.size > 0) await this.commit({});
  }

  /** Gives the lease back (best effort) and forgets it. */
  async releaseLease(): Promise<void> {
    await this.settleRenewal();
    if (this.token !== undefined) await this.store.releaseLease(this.token).catch(() => undefined);
    this.token = undefined;
  }

  /**
   * Runs `work` with a fresh batch staged (loads see its writes, so several changes to one value
   * within the operation build on each other), then commits the batch if it holds anything.
   */
  async withBatch<T>(work: (batch: Batch) => Promise<T>): Promise<T> {
    const batch = new Batch();
    this.staged = batch;
    try {
      const result = await work(batch);
      if (!batch.empty) {
        const committing = this.commitOrDefer(batch);
        if (committing !== undefined) await committing;
      }
      return result;
    } finally {
      this.staged = undefined;
      this.prefetchedReplays = undefined;
    }
  }

  /**
   * One event in one operation (decryptToDevice, decryptRoomEvent): `withBatch` and `stage` in one
   * async frame, since this is on every event's path. On a TriturusError the event's writes go, the
   * caches go, `onFailure` may stage what a failure leaves behind (committed), and the error is thrown.
   */
  single<T>(
    work: (batch: Batch) => Promise<T>,
    onFailure: (batch: Batch, error: TriturusError) => Promise<void>,
  ): Promise<T> {
    return this.run(async () => {
      const batch = new Batch();
      this.staged = batch;
      try {
        let value: T;
        try {
          value = await work(batch);
        } catch (error) {
          if (!(error instanceof TriturusError) || error instanceof StoreError) throw error;
          batch.rollback(EMPTY_MARK);
          this.dropCaches();
          await onFailure(batch, error);
          if (!batch.empty) await this.commit(batch);
          throw error;
        }
        if (!batch.empty) {
          const committing = this.commitOrDefer(batch);
          if (committing !== undefined) await committing;
        }
        return value;
      } finally {
        this.staged = undefined;
        this.prefetchedReplays = undefined;
      }
    });
  }

  /**
   * Runs one event's work inside a batch of many. On a TriturusError the event's writes leave the
   * batch, every cached object goes (the next loads rebuild from the store and the batch, see
   * `staged`), `onFailure` may stage what a failure leaves behind, and the error becomes the
   * event's result. Store errors and bugs abort the whole operation.
   */
  async stage<T>(
    batch: Batch,
    work: () => Promise<T>,
    onFailure?: (error: TriturusError) => Promise<void>,
  ): Promise<EventResult<T>> {
    const mark = batch.mark();
    try {
      return { ok: true, value: await work() };
    } catch (error) {
      if (!(error instanceof TriturusError) || error instanceof StoreError) throw error;
      batch.rollback(mark);
      this.dropCaches();
      if (onFailure !== undefined) await onFailure(error);
      return { ok: false, error };
    }
  }

  // -------------------------------------------------------------------------------------------
  // Loads: the staged batch first (see `staged`), then the store.

  async loadOlmSessionEntries(senderKey: string): Promise<OlmSessionEntry[]> {
    const stored = await this.store.loadOlmSessions(senderKey);
    const staged = this.staged?.olmSessions.filter((e) => e.senderKey === senderKey);
    if (staged === undefined || staged.length === 0) return stored;
    const byId = new Map(stored.map((e) => [e.sessionId, e]));
    for (const e of staged) byId.set(e.sessionId, e);
    return [...byId.values()].sort((a, b) => b.lastUsedAt - a.lastUsedAt);
  }

  loadInboundEntry(roomId: string, sessionId: string): Promise<InboundGroupSessionEntry | undefined> {
    const staged =
      this.staged && lastOf(this.staged.inboundGroupSessions, (e) => e.roomId === roomId && e.sessionId === sessionId);
    return staged === undefined ? this.store.loadInboundGroupSession(roomId, sessionId) : Promise.resolve(staged);
  }

  async loadOutboundEntry(roomId: string): Promise<OutboundGroupSessionEntry | undefined> {
    // Stores apply a batch's removals before its puts, so a staged put wins over a staged removal.
    const staged = this.staged;
    if (staged !== undefined) {
      const put = lastOf(staged.outboundGroupSessions, (e) => e.roomId === roomId);
      if (put !== undefined) return put;
      if (staged.removeOutboundGroupSessions.includes(roomId)) return undefined;
    }
    return this.store.loadOutboundGroupSession(roomId);
  }

  // Not async (here and below): the store's own promise is returned, no extra await hops on every event.
  loadReplay(sessionId: string, messageIndex: number): Promise<ReplayEntry | undefined> {
    const staged = this.staged?.replays.find((r) => r.sessionId === sessionId && r.messageIndex === messageIndex);
    if (staged !== undefined) return Promise.resolve(staged);
    const key = replayKey(sessionId, messageIndex);
    const pending = this.pendingReplays.get(key);
    if (pending !== undefined) return Promise.resolve(pending);
    const prefetched = this.prefetchedReplays?.get(key) ?? this.replayCache.get(key);
    if (prefetched !== undefined) {
      if (this.token !== undefined) this.#nearWindowEnd(sessionId, messageIndex);
      return Promise.resolve(prefetched ?? undefined);
    }
    if (this.store.loadReplays === undefined || this.token === undefined)
      return this.store.loadReplay(sessionId, messageIndex);
    return this.#loadReplayWindow(sessionId, messageIndex);
  }

  /**
   * The record at `messageIndex`, through the window cache: when no window read covers it yet, reads
   * the window starting there. A read-ahead in flight that covers it is waited for instead.
   */
  async #loadReplayWindow(sessionId: string, messageIndex: number): Promise<ReplayEntry | undefined> {
    const ahead = this.#ahead.get(sessionId);
    if (ahead?.done !== undefined && messageIndex >= ahead.from && messageIndex < ahead.from + REPLAY_WINDOW) {
      await ahead.done;
      const key = replayKey(sessionId, messageIndex);
      const known = this.pendingReplays.get(key) ?? this.replayCache.get(key);
      if (known !== undefined) return known ?? undefined;
    }
    const found = await this.#readWindow(sessionId, messageIndex);
    this.#readAhead(sessionId, messageIndex + REPLAY_WINDOW);
    return found;
  }

  /**
   * Events in order go next to the indices after the windows read so far: the next window is read in
   * the background once the events reach the last one read (a read waits for any commit in flight,
   * which a decryption should not). Called on every cache hit; cheap when there is nothing to do.
   */
  #nearWindowEnd(sessionId: string, messageIndex: number): void {
    const ahead = this.#ahead.get(sessionId);
    if (ahead === undefined || ahead.done !== undefined || messageIndex < ahead.from) return;
    this.#readAhead(sessionId, ahead.from + REPLAY_WINDOW);
  }

  #readAhead(sessionId: string, from: number): void {
    if (from > MAX_REPLAY_INDEX) return;
    const entry: { from: number; done: Promise<void> | undefined } = { from, done: undefined };
    entry.done = this.#readWindow(sessionId, from).then(
      () => {
        entry.done = undefined;
      },
      () => {
        entry.done = undefined; // read again when needed
      },
    );
    this.#ahead.delete(sessionId);
    this.#ahead.set(sessionId, entry);
    if (this.#ahead.size > 64) this.#ahead.delete(this.#ahead.keys().next().value!);
  }

  /** Reads the records of `messageIndex` and the indices after it (where events in order go next) into the cache. */
  async #readWindow(sessionId: string, messageIndex: number): Promise<ReplayEntry | undefined> {
    const generation = this.token?.generation;
    const keys: { sessionId: string; messageIndex: number }[] = [];
    for (let i = messageIndex; i < messageIndex + REPLAY_WINDOW && i <= MAX_REPLAY_INDEX; i++) {
      keys.push({ sessionId, messageIndex: i });
    }
    const found = await this.store.loadReplays!(keys);
    const byKey = new Map<string, ReplayEntry>();
    for (const entry of found) byKey.set(replayKey(entry.sessionId, entry.messageIndex), entry);
    // Only under the lease it was read under (a lease lost meanwhile dropped the caches).
    if (this.token !== undefined && this.token.generation === generation) {
      if (this.replayCache.size + keys.length > REPLAY_CACHE_LIMIT) this.replayCache.clear();
      for (const k of keys) {
        const id = replayKey(k.sessionId, k.messageIndex);
        // A record committed while this read was on its way (a flush) stays.
        if (!this.replayCache.get(id)) this.replayCache.set(id, byKey.get(id) ?? null);
      }
    }
    return byKey.get(replayKey(sessionId, messageIndex));
  }

  /**
   * Reads the replay records of a batch of events in one store call (where the store can), so that
   * a page of room events costs one round trip to the database, not one per event. Valid for the
   * running operation only (`prefetchedReplays` is cleared with `staged`).
   */
  async prefetchReplays(keys: readonly { sessionId: string; messageIndex: number }[]): Promise<void> {
    if (this.store.loadReplays === undefined || keys.length === 0) return;
    const found = await this.store.loadReplays(keys);
    const map = new Map<string, ReplayEntry | null>();
    for (const k of keys) map.set(replayKey(k.sessionId, k.messageIndex), null);
    for (const entry of found) map.set(replayKey(entry.sessionId, entry.messageIndex), entry);
    this.prefetchedReplays = map;
  }

  /** A DMLS record (see dmls-rooms.ts): the staged batch first (a put wins over a removal), then the store. */
  async loadMlsEntry(key: string): Promise<MlsGroupEntry | undefined> {
    const staged = this.staged;
    if (staged !== undefined) {
      const put = lastOf(staged.mlsGroups, (e) => e.groupId === key);
      if (put !== undefined) return put;
      if (staged.removeMlsGroups.includes(key)) return undefined;
    }
    return this.store.loadMlsGroup(key);
  }

  async loadValue(key: string): Promise<string | undefined> {
    const staged = this.staged && lastOf(this.staged.values, (v) => v.key === key);
    if (staged !== undefined) return staged.value ?? undefined;
    if (this.values.has(key)) return this.values.get(key);
    const value = await this.store.loadValue(key);
    // Bounded: lookups of keys nobody wrote (unknown senders' devices, say) must not grow it forever.
    if (this.values.size >= MAX_CACHED_VALUES) this.values.clear();
    this.values.set(key, value);
    return value;
  }

  // -------------------------------------------------------------------------------------------
  // The account, which nearly every operation needs.

  async loadAccount(): Promise<Account> {
    if (this.account !== undefined) return this.account;
    const record = this.staged?.account ?? (await this.store.loadAccount());
    if (record === undefined) throw new StoreError('STORE_NOT_FOUND', 'the store lost its account');
    this.account = Account.fromPickle(record.data, this.pickleKey);
    return this.account;
  }

  accountRecord(account: Account): StoredRecord {
    return { schema: ACCOUNT_SCHEMA, data: account.pickle(this.pickleKey) };
  }

  toString(): string {
    return `DeviceContext(${this.userId} ${this.deviceId})`;
  }
  toJSON(): { type: string } {
    return { type: 'DeviceContext' };
  }
  static {
    redactInspect(DeviceContext);
  }
}
