/**
 * A KeyStore wrapper that injects commit failures, for fault tests of the Device:
 * - `fail-before`: the commit throws a StoreError STORE_IO and nothing is written (a lost connection);
 * - `fail-after`: the batch is applied, then the commit throws STORE_IO (the reply was lost, or the
 *   process died right after the transaction committed).
 * Every applied batch is logged in `commits`, so a test can see which changes travelled together.
 */
import { StoreError } from '../../src/errors.js';
import type {
  CommitOptions,
  InboundGroupSessionEntry,
  KeyStore,
  LeaseToken,
  MlsGroupEntry,
  OlmSessionEntry,
  OutboundGroupSessionEntry,
  ReplayEntry,
  StoreChanges,
  StoredRecord,
} from '../../src/store/types.js';

export type CommitFault = 'fail-before' | 'fail-after';

interface PendingFault {
  readonly mode: CommitFault;
  readonly when: (changes: StoreChanges) => boolean;
}

export class FaultyStore implements KeyStore {
  readonly inner: KeyStore;
  /** Every batch that was applied (including those applied by a `fail-after` commit), in order. */
  readonly commits: StoreChanges[] = [];
  /** How many commits were refused or failed by an injected fault. */
  injected = 0;
  readonly #faults: PendingFault[] = [];

  constructor(inner: KeyStore) {
    this.inner = inner;
  }

  get backend(): string {
    return this.inner.backend;
  }

  get scope(): string {
    return this.inner.scope;
  }

  /** The next commit for which `when` holds fails as `mode` (faults queue up in order). */
  failNextCommit(mode: CommitFault, when: (changes: StoreChanges) => boolean = () => true): void {
    this.#faults.push({ mode, when });
  }

  /** Faults queued but not yet triggered. */
  get pendingFaults(): number {
    return this.#faults.length;
  }

  async commit(changes: StoreChanges, options?: CommitOptions): Promise<void> {
    const index = this.#faults.findIndex((f) => f.when(changes));
    const fault = index < 0 ? undefined : this.#faults.splice(index, 1)[0];
    if (fault?.mode === 'fail-before') {
      this.injected++;
      throw new StoreError('STORE_IO', 'injected fault: the commit failed before applying');
    }
    await this.inner.commit(changes, options);
    this.commits.push(changes);
    if (fault?.mode === 'fail-after') {
      this.injected++;
      throw new StoreError('STORE_IO', 'injected fault: the commit applied, then failed');
    }
  }

  loadAccount(): Promise<StoredRecord | undefined> {
    return this.inner.loadAccount();
  }
  loadOlmSessions(senderKey: string): Promise<OlmSessionEntry[]> {
    return this.inner.loadOlmSessions(senderKey);
  }
  loadInboundGroupSession(roomId: string, sessionId: string): Promise<InboundGroupSessionEntry | undefined> {
    return this.inner.loadInboundGroupSession(roomId, sessionId);
  }
  listInboundGroupSessions(roomId?: string): Promise<InboundGroupSessionEntry[]> {
    return this.inner.listInboundGroupSessions(roomId);
  }
  loadOutboundGroupSession(roomId: string): Promise<OutboundGroupSessionEntry | undefined> {
    return this.inner.loadOutboundGroupSession(roomId);
  }
  /** Passed through when the inner store has it (every built-in one does), as the Device uses it. */
  loadReplays(keys: readonly { sessionId: string; messageIndex: number }[]): Promise<ReplayEntry[]> {
    if (this.inner.loadReplays === undefined) throw new Error('the inner store has no loadReplays');
    return this.inner.loadReplays(keys);
  }

  loadReplay(sessionId: string, messageIndex: number): Promise<ReplayEntry | undefined> {
    return this.inner.loadReplay(sessionId, messageIndex);
  }
  loadMlsGroup(groupId: string): Promise<MlsGroupEntry | undefined> {
    return this.inner.loadMlsGroup(groupId);
  }
  loadValue(key: string): Promise<string | undefined> {
    return this.inner.loadValue(key);
  }
  tryAcquireLease(holder: string, durationMs: number): Promise<LeaseToken | undefined> {
    return this.inner.tryAcquireLease(holder, durationMs);
  }
  releaseLease(token: LeaseToken): Promise<void> {
    return this.inner.releaseLease(token);
  }
  schemaVersion(): Promise<number> {
    return this.inner.schemaVersion();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
