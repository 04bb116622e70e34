/**
 * The KeyStore contract. A store keeps the state of exactly one device (its `scope`),
 * as encrypted pickles plus the public identifiers needed to look them up. It never sees
 * plaintext key material: every `data` string is an authenticated, encrypted pickle.
 *
 * All reads are narrow typed getters. All writes go through `commit`, which applies one
 * batch atomically (all of it or none of it) and, when given a lease fence, only if this
 * holder still owns the device's lease.
 */

/** An encrypted pickle and the schema version of the object inside it. */
export interface StoredRecord {
  readonly schema: number;
  readonly data: string;
}

export interface OlmSessionEntry {
  /** The peer's Curve25519 identity key (unpadded base64). */
  readonly senderKey: string;
  readonly sessionId: string;
  /** Milliseconds since the epoch of the last successful use; newest sessions are tried first. */
  readonly lastUsedAt: number;
  readonly record: StoredRecord;
}

export interface InboundGroupSessionEntry {
  readonly roomId: string;
  readonly sessionId: string;
  /** The Curve25519 key of the device that shared the session. */
  readonly senderKey: string;
  readonly record: StoredRecord;
}

export interface OutboundGroupSessionEntry {
  readonly roomId: string;
  readonly sessionId: string;
  /** The session, its creation time, message count and shared-with list, encrypted. */
  readonly record: StoredRecord;
}

/** One decrypted room event, kept to refuse a different event at the same (session, index). */
export interface ReplayEntry {
  readonly sessionId: string;
  readonly messageIndex: number;
  readonly eventId: string;
  readonly originServerTs: number;
}

export interface ReplayKey {
  readonly sessionId: string;
  readonly messageIndex: number;
}

export interface MlsGroupEntry {
  readonly groupId: string;
  readonly record: StoredRecord;
}

export interface OlmSessionKey {
  readonly senderKey: string;
  readonly sessionId: string;
}

export interface InboundGroupSessionKey {
  readonly roomId: string;
  readonly sessionId: string;
}

/** One atomic batch of writes. Omitted fields change nothing. Puts are upserts. */
export interface StoreChanges {
  readonly account?: StoredRecord;
  readonly olmSessions?: readonly OlmSessionEntry[];
  readonly removeOlmSessions?: readonly OlmSessionKey[];
  readonly inboundGroupSessions?: readonly InboundGroupSessionEntry[];
  readonly removeInboundGroupSessions?: readonly InboundGroupSessionKey[];
  readonly outboundGroupSessions?: readonly OutboundGroupSessionEntry[];
  /** Room ids whose outbound session is discarded (rotation). */
  readonly removeOutboundGroupSessions?: readonly string[];
  /** Replay entries are insert-only: an existing (sessionId, messageIndex) is left as it was. */
  readonly replays?: readonly ReplayEntry[];
  readonly mlsGroups?: readonly MlsGroupEntry[];
  readonly removeMlsGroups?: readonly string[];
  /** Small named values (device metadata, settings); `null` deletes. Values may be public JSON or encrypted. */
  readonly values?: readonly { readonly key: string; readonly value: string | null }[];
}

/**
 * Proof that a holder owns the device's lease. The generation goes up by one whenever the
 * holder changes; a commit fenced with a stale generation fails with STORE_LEASE_LOST.
 */
export interface LeaseToken {
  readonly holder: string;
  readonly generation: number;
  /** Milliseconds since the epoch at which the lease lapses unless renewed. */
  readonly expiresAt: number;
}

export interface CommitOptions {
  /** When given, the batch is applied only if the lease still has this holder and generation. */
  readonly fence?: LeaseToken;
}

export interface KeyStore {
  /** Which backend this is: 'memory', 'sqlite', 'postgres', 'indexeddb'. */
  readonly backend: string;
  /** The device this store holds (e.g. `@alice:example.org|DEVICEID`). */
  readonly scope: string;

  loadAccount(): Promise<StoredRecord | undefined>;
  /** Sessions with one peer, most recently used first. */
  loadOlmSessions(senderKey: string): Promise<OlmSessionEntry[]>;
  loadInboundGroupSession(roomId: string, sessionId: string): Promise<InboundGroupSessionEntry | undefined>;
  /** Inbound group sessions of one room, or of every room when `roomId` is omitted. */
  listInboundGroupSessions(roomId?: string): Promise<InboundGroupSessionEntry[]>;
  loadOutboundGroupSession(roomId: string): Promise<OutboundGroupSessionEntry | undefined>;
  loadReplay(sessionId: string, messageIndex: number): Promise<ReplayEntry | undefined>;
  /**
   * The replay records of many (session, message index) pairs in one read (the ones that exist, in
   * no particular order). Optional: without it, callers ask `loadReplay` once per pair. The built-in
   * stores have it, so that a batch of room events costs one round trip, not one per event.
   */
  loadReplays?(keys: readonly ReplayKey[]): Promise<ReplayEntry[]>;
  loadMlsGroup(groupId: string): Promise<MlsGroupEntry | undefined>;
  loadValue(key: string): Promise<string | undefined>;

  /** Applies the whole batch in one transaction, or nothing (and throws a StoreError). */
  commit(changes: StoreChanges, options?: CommitOptions): Promise<void>;

  /**
   * Tries once to take or renew the device's lease for `holder`. Succeeds when the lease is
   * free, expired, or already held by `holder`; returns undefined when someone else holds it.
   */
  tryAcquireLease(holder: string, durationMs: number): Promise<LeaseToken | undefined>;
  /** Gives the lease up if `token` still owns it; otherwise does nothing. */
  releaseLease(token: LeaseToken): Promise<void>;

  /** The schema version of the underlying database (after migrations ran). */
  schemaVersion(): Promise<number>;
  close(): Promise<void>;
}
