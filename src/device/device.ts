/**
 * The store-backed face of triturus for SDK and bridge authors. Every operation loads what it
 * needs from the KeyStore (through caches kept while this process holds the device's lease),
 * runs the Olm/Megolm steps, and commits every resulting change in one atomic, lease-fenced
 * batch before it returns anything. A failed operation commits nothing and drops the caches,
 * so memory never runs ahead of the store.
 *
 * Concurrency: operations on one Device run one at a time. Across processes (or tabs) the
 * device's lease decides who may write; a commit fenced with a stale lease fails, the caches
 * are reloaded, and the operation is retried once on fresh state. Ciphertext is released only
 * after its state is committed, so no message key is ever used for two different messages.
 */

import { randomBytes } from '../crypto/index.js';
import { encodeBase64 } from '../encoding/base64.js';
import { isBytes } from '../encoding/binary.js';
import { parseJsonObject, stringifyJson, utf8Decode } from '../encoding/json.js';
import { DeviceError, invalidArgument, StoreError, TriturusError } from '../errors.js';
import { redactInspect } from '../inspect.js';
import { Curve25519PublicKey, Ed25519PublicKey } from '../keys.js';
import {
  type DecryptKeyExportOptions,
  decryptKeyExport,
  type EncryptKeyExportOptions,
  encryptKeyExport,
  roomKeyExportFromJson,
  roomKeyExportToJson,
} from '../megolm/export.js';
import { GroupSession, InboundGroupSession, MegolmMessage, SessionKey } from '../megolm/index.js';
import { Account } from '../olm/account.js';
import { SessionConfig } from '../olm/config.js';
import { olmMessageFromParts, PreKeyMessage } from '../olm/messages.js';
import { Session } from '../olm/session.js';
import { acquireLease } from '../store/lease.js';
import type {
  InboundGroupSessionEntry,
  KeyStore,
  LeaseToken,
  OlmSessionEntry,
  OutboundGroupSessionEntry,
  ReplayEntry,
  StoreChanges,
  StoredRecord,
} from '../store/types.js';
import {
  ACCOUNT_SCHEMA,
  INBOUND_GROUP_SCHEMA,
  type InboundMeta,
  OLM_SESSION_SCHEMA,
  OUTBOUND_GROUP_SCHEMA,
  type OutboundMeta,
  openRecord,
  sealRecord,
} from './records.js';
import { signJson, verifySignedJson } from './signing.js';
import type {
  DecryptedRoomEvent,
  DecryptedToDeviceEvent,
  DeviceInfo,
  DeviceOptions,
  EncryptedRoomEvent,
  EncryptedToDeviceEvent,
  ExportedRoomKey,
  KeysUploadBody,
  OlmEncryptedContent,
  RoomEncryptionResult,
  RoomKeyContent,
  ShareRoomKeyResult,
  ToDeviceMessage,
} from './types.js';

export const OLM_ALGORITHM = 'm.olm.v1.curve25519-aes-sha2';
export const MEGOLM_ALGORITHM = 'm.megolm.v1.aes-sha2';
const IDENTITY_VALUE = 'device.identity';
const KNOWN_DEVICE_PREFIX = 'device.known.';
const KNOWN_DEVICE_ID_PREFIX = 'device.known-id.';
/**
 * Outbound Megolm indices reserved per commit by default (see OutboundMeta.reservedUntil). Each
 * reservation commits the pickled session (~30 µs on the memory store, a disk sync on SQLite).
 * 256 makes that one commit per session under the Matrix default rotation (100 messages) and
 * ~0.15 µs per message for long-lived sessions (bridges often raise the rotation period), while a
 * crash skips at most 256 indices, which receivers pass over in ~0.2 ms and which do not count
 * towards rotation.
 */
const DEFAULT_RESERVATION_BLOCK = 256;

interface OlmState {
  readonly session: Session;
  lastUsedAt: number;
}

interface InboundState {
  readonly session: InboundGroupSession;
  readonly meta: InboundMeta;
  /**
   * The id it is stored under: the session id for the first copy of a session, and
   * `<session id>\u001f<sender key>` for a copy that arrived from another device. Anyone holding a
   * room key can re-send it as their own m.room_key; keeping copies apart by sender means the
   * first copy to arrive cannot take over the attribution of the real sender's messages.
   */
  readonly storeId: string;
}

function alternateId(sessionId: string, senderKey: string): string {
  return `${sessionId}\u001f${senderKey}`;
}

interface OutboundState {
  readonly session: GroupSession;
  meta: OutboundMeta;
  /** `meta.initialKey` decoded once (decoding verifies its signature, ~100 µs). */
  initialKey?: SessionKey;
}

/** The changes one operation collects before its single commit. */
class Batch {
  account: StoredRecord | undefined;
  readonly olmSessions: OlmSessionEntry[] = [];
  readonly inboundGroupSessions: InboundGroupSessionEntry[] = [];
  readonly outboundGroupSessions: OutboundGroupSessionEntry[] = [];
  readonly removeOutboundGroupSessions: string[] = [];
  readonly replays: ReplayEntry[] = [];
  readonly values: { key: string; value: string | null }[] = [];

  get empty(): boolean {
    return (
      this.account === undefined &&
      this.olmSessions.length === 0 &&
      this.inboundGroupSessions.length === 0 &&
      this.outboundGroupSessions.length === 0 &&
      this.removeOutboundGroupSessions.length === 0 &&
      this.replays.length === 0 &&
      this.values.length === 0
    );
  }

  toChanges(): StoreChanges {
    const changes: { -readonly [K in keyof StoreChanges]: StoreChanges[K] } = {};
    if (this.account !== undefined) changes.account = this.account;
    if (this.olmSessions.length > 0) changes.olmSessions = this.olmSessions;
    if (this.inboundGroupSessions.length > 0) changes.inboundGroupSessions = this.inboundGroupSessions;
    if (this.outboundGroupSessions.length > 0) changes.outboundGroupSessions = this.outboundGroupSessions;
    if (this.removeOutboundGroupSessions.length > 0)
      changes.removeOutboundGroupSessions = this.removeOutboundGroupSessions;
    if (this.replays.length > 0) changes.replays = this.replays;
    if (this.values.length > 0) changes.values = this.values;
    return changes;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function requireString(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new DeviceError('EVENT_INVALID', `${what} is missing or not a string`, { field: what });
  }
  return value;
}

/** A caller's argument (not a remote event's field): INVALID_ARGUMENT when it is not a non-empty string. */
function argString(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0) throw invalidArgument(`${what} must be a non-empty string`);
  return value;
}

function checkDeviceInfo(device: unknown, what: string): DeviceInfo {
  if (
    !isObject(device) ||
    typeof device.userId !== 'string' ||
    typeof device.deviceId !== 'string' ||
    !(device.curve25519Key instanceof Curve25519PublicKey) ||
    !(device.ed25519Key instanceof Ed25519PublicKey)
  ) {
    throw invalidArgument(`${what} must be a DeviceInfo (from trackDevices or deviceInfoFromKeys)`);
  }
  return device as unknown as DeviceInfo;
}

function checkNumber(value: unknown, what: string, min: number, minIncluded: boolean): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (!minIncluded && value === min)) {
    throw invalidArgument(`${what} must be a finite number ${minIncluded ? 'from' : 'above'} ${min}`);
  }
}

function deviceLabel(d: DeviceInfo): string {
  return `${d.userId}|${d.deviceId}|${d.curve25519Key.toBase64()}`;
}

export class Device {
  readonly userId: string;
  readonly deviceId: string;
  readonly #store: KeyStore;
  readonly #pickleKey: Uint8Array;
  readonly #holder: string = `device-${encodeBase64(randomBytes(12))}`;
  readonly #leaseDurationMs: number;
  readonly #leaseTimeoutMs: number;
  readonly #releaseAfterEach: boolean;
  readonly #rotationPeriodMsgs: number;
  readonly #reservationBlock: number;
  readonly #rotationPeriodMs: number;
  readonly #now: () => number;

  #token: LeaseToken | undefined;
  /** Local clock (ms) by which the lease has lapsed for sure. */
  #leaseDeadline = 0;
  #account: Account | undefined;
  readonly #olm = new Map<string, OlmState[]>();
  readonly #inbound = new Map<string, InboundState | null>();
  readonly #outbound = new Map<string, OutboundState | null>();
  /**
   * Where this Device's outbound sessions stood when their cache was dropped, and under which lease
   * generation. While the generation is unchanged no other holder can have written, so a reload
   * resumes there instead of skipping the rest of the reserved block (a failed operation, say an
   * undecryptable event, must not cost the room up to a block of indices).
   */
  readonly #outboundResume = new Map<string, { sessionId: string; next: number; generation: number }>();
  #busy = false;
  readonly #waiting: (() => void)[] = [];
  #closed = false;

  private constructor(store: KeyStore, options: DeviceOptions) {
    if (!isObject(options)) throw invalidArgument('options must be an object');
    checkNumber(options.leaseDurationMs, 'leaseDurationMs', 0, false);
    checkNumber(options.leaseTimeoutMs, 'leaseTimeoutMs', 0, true);
    checkNumber(options.rotationPeriodMsgs, 'rotationPeriodMsgs', 0, false);
    checkNumber(options.rotationPeriodMs, 'rotationPeriodMs', 0, false);
    if (options.now !== undefined && typeof options.now !== 'function') throw invalidArgument('now must be a function');
    if (typeof options.userId !== 'string' || typeof options.deviceId !== 'string') {
      throw invalidArgument('userId and deviceId must be strings');
    }
    if (!isBytes(options.pickleKey) || options.pickleKey.length !== 32) {
      throw invalidArgument('pickleKey must be 32 bytes');
    }
    this.#store = store;
    this.userId = options.userId;
    this.deviceId = options.deviceId;
    this.#pickleKey = options.pickleKey.slice();
    this.#leaseDurationMs = options.leaseDurationMs ?? 500;
    this.#leaseTimeoutMs = options.leaseTimeoutMs ?? 30_000;
    this.#releaseAfterEach = options.releaseLeaseAfterEachOperation ?? false;
    this.#rotationPeriodMsgs = options.rotationPeriodMsgs ?? 100;
    const block = options.outboundIndexReservation ?? DEFAULT_RESERVATION_BLOCK;
    if (!Number.isInteger(block) || block < 1 || block > 65_536) {
      throw invalidArgument('outboundIndexReservation must be an integer from 1 to 65536');
    }
    this.#reservationBlock = block;
    this.#rotationPeriodMs = options.rotationPeriodMs ?? 7 * 24 * 3600 * 1000;
    this.#now = options.now ?? Date.now;
  }

  /** Creates a new device (identity keys, no one-time keys yet) in an empty store. */
  static async create(store: KeyStore, options: DeviceOptions): Promise<Device> {
    const device = new Device(store, options);
    await device.#startup(async () => {
      if ((await store.loadAccount()) !== undefined) {
        throw new StoreError('STORE_EXISTS', 'this store already holds a device; use Device.open');
      }
      const account = Account.create();
      await device.#commit({
        account: { schema: ACCOUNT_SCHEMA, data: account.pickle(device.#pickleKey) },
        values: [{ key: IDENTITY_VALUE, value: JSON.stringify({ userId: device.userId, deviceId: device.deviceId }) }],
      });
      device.#account = account;
    });
    return device;
  }

  /** Opens the device a store holds. A wrong pickle key fails with PickleError PICKLE_BAD_KEY. */
  static async open(store: KeyStore, options: DeviceOptions): Promise<Device> {
    const device = new Device(store, options);
    await device.#startup(async () => {
      const identity = await store.loadValue(IDENTITY_VALUE);
      if (identity === undefined)
        throw new StoreError('STORE_NOT_FOUND', 'this store holds no device; use Device.create');
      const parsed = JSON.parse(identity) as { userId: string; deviceId: string };
      if (parsed.userId !== device.userId || parsed.deviceId !== device.deviceId) {
        throw invalidArgument('the store holds a different device (user or device id differs)');
      }
      await device.#loadAccount();
    });
    return device;
  }

  /** Runs the first operation; if it fails, gives the lease back at once and forgets the key. */
  async #startup(operation: () => Promise<void>): Promise<void> {
    try {
      await this.#run(operation);
    } catch (error) {
      this.#closed = true;
      if (this.#token !== undefined) await this.#store.releaseLease(this.#token).catch(() => undefined);
      this.#token = undefined;
      this.#pickleKey.fill(0);
      throw error;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Operation plumbing: one at a time, under the lease, retried once on a lost lease.

  /** One operation at a time (a small mutex: the uncontended path adds no promise hops). */
  async #exclusive<T>(operation: () => Promise<T>): Promise<T> {
    if (this.#busy) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#busy = true;
    try {
      return await operation();
    } finally {
      const next = this.#waiting.shift();
      if (next === undefined) this.#busy = false;
      else next();
    }
  }

  /**
   * Runs an operation exclusively and under the lease, retried once on fresh state if the lease was
   * lost. One async frame around the operation (this is on every message's path).
   */
  async #run<T>(operation: () => Promise<T>): Promise<T> {
    if (this.#busy) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#busy = true;
    try {
      if (this.#closed) throw new StoreError('STORE_CLOSED', 'this device is closed');
      for (let attempt = 0; ; attempt++) {
        try {
          if (!this.#leaseIsFresh()) await this.#renewLease();
          return await operation();
        } catch (error) {
          this.#dropCaches();
          if (error instanceof StoreError && error.code === 'STORE_LEASE_LOST' && attempt === 0) {
            this.#forgetLostLease();
            continue;
          }
          throw error;
        } finally {
          if (this.#releaseAfterEach && this.#token !== undefined) {
            await this.#store.releaseLease(this.#token).catch(() => undefined);
            this.#leaseDeadline = 0;
          }
        }
      }
    } finally {
      const next = this.#waiting.shift();
      if (next === undefined) this.#busy = false;
      else next();
    }
  }

  /**
   * True while at least half the lease is left. Judged on the local clock from the moment before
   * the lease was requested (the store may stamp leases with another clock, e.g. PostgreSQL's).
   */
  #leaseIsFresh(): boolean {
    return this.#token !== undefined && this.#leaseDeadline - Date.now() > this.#leaseDurationMs / 2;
  }

  /**
   * For output released without a commit (a commit is fenced by the store itself): refuses it if
   * the lease may have lapsed during the operation, since another process could have taken over
   * (and, say, rotated the room key). The operation is then retried on fresh state.
   */
  #checkLeaseStillHeld(): void {
    if (!this.#leaseStillHeld()) {
      throw new StoreError('STORE_LEASE_LOST', 'the lease may have lapsed during the operation; nothing was released');
    }
  }

  /**
   * After a lost lease, before the retry: the retry reloads outbound sessions past their reserved
   * blocks, so it reserves anew through a fenced commit instead of depending on the local lease
   * clock a second time.
   */
  #forgetLostLease(): void {
    this.#token = undefined;
    this.#outboundResume.clear();
  }

  #leaseStillHeld(): boolean {
    return this.#token !== undefined && Date.now() < this.#leaseDeadline;
  }

  async #renewLease(): Promise<void> {
    const token = this.#token;
    const started = Date.now();
    const next = await acquireLease(this.#store, this.#holder, {
      durationMs: this.#leaseDurationMs,
      timeoutMs: this.#leaseTimeoutMs,
    });
    this.#leaseDeadline = started + this.#leaseDurationMs;
    // A new generation means another holder may have written: nothing cached can be trusted.
    if (token === undefined || next.generation !== token.generation) this.#dropCaches();
    this.#token = next;
  }

  #dropCaches(): void {
    this.#account = undefined;
    this.#olm.clear();
    this.#inbound.clear();
    const generation = this.#token?.generation;
    for (const [roomId, state] of this.#outbound) {
      if (state === null || generation === undefined) continue;
      this.#outboundResume.set(roomId, {
        sessionId: state.session.sessionId,
        next: state.session.messageIndex,
        generation,
      });
    }
    this.#outbound.clear();
  }

  async #commit(changes: StoreChanges | Batch): Promise<void> {
    const token = this.#token;
    const plain = changes instanceof Batch ? changes.toChanges() : changes;
    await this.#store.commit(plain, token === undefined ? {} : { fence: token });
  }

  async #loadAccount(): Promise<Account> {
    if (this.#account !== undefined) return this.#account;
    const record = await this.#store.loadAccount();
    if (record === undefined) throw new StoreError('STORE_NOT_FOUND', 'the store lost its account');
    this.#account = Account.fromPickle(record.data, this.#pickleKey);
    return this.#account;
  }

  #accountRecord(account: Account): StoredRecord {
    return { schema: ACCOUNT_SCHEMA, data: account.pickle(this.#pickleKey) };
  }

  /** Releases the lease and forgets cached secrets. The store itself stays open (the caller owns it). */
  async close(): Promise<void> {
    // Waits for a running operation, but not for the lease: closing must work while another
    // process holds it.
    await this.#exclusive(async () => {
      if (this.#closed) return;
      if (this.#leaseIsFresh()) {
        // A clean close records each outbound session's exact index, so a reopen continues there
        // instead of skipping the rest of the reserved block (skipped indices are harmless but waste).
        const changes = new Batch();
        for (const [roomId, state] of this.#outbound) {
          if (state !== null && state.session.messageIndex < state.meta.reservedUntil) {
            state.meta = { ...state.meta, reservedUntil: state.session.messageIndex };
            changes.outboundGroupSessions.push(this.#outboundEntry(roomId, state));
          }
        }
        if (!changes.empty) await this.#commit(changes).catch(() => undefined);
      }
      this.#closed = true;
      this.#dropCaches();
      if (this.#token !== undefined) await this.#store.releaseLease(this.#token).catch(() => undefined);
      this.#token = undefined;
    });
    this.#pickleKey.fill(0);
  }

  // -------------------------------------------------------------------------------------------
  // Identity and key upload

  /** The device's identity keys (loaded at open; cheap). */
  async identityKeys(): Promise<{ curve25519: Curve25519PublicKey; ed25519: Ed25519PublicKey }> {
    return this.#run(async () => (await this.#loadAccount()).identityKeys);
  }

  /** The signed `device_keys` object for /keys/upload. */
  async deviceKeys(): Promise<Record<string, unknown>> {
    return this.#run(async () => {
      const account = await this.#loadAccount();
      const keys = account.identityKeys;
      return signJson(
        {
          user_id: this.userId,
          device_id: this.deviceId,
          algorithms: [OLM_ALGORITHM, MEGOLM_ALGORITHM],
          keys: {
            [`curve25519:${this.deviceId}`]: keys.curve25519.toBase64(),
            [`ed25519:${this.deviceId}`]: keys.ed25519.toBase64(),
          },
        },
        this.userId,
        this.deviceId,
        account,
      );
    });
  }

  /** Generates one-time keys (committed at once, unpublished until `markKeysAsPublished`). */
  async generateOneTimeKeys(count: number): Promise<void> {
    await this.#run(async () => {
      const account = await this.#loadAccount();
      account.generateOneTimeKeys(count);
      await this.#commit({ account: this.#accountRecord(account) });
    });
  }

  /** Makes a new fallback key (the previous one stays usable until forgotten). */
  async generateFallbackKey(): Promise<void> {
    await this.#run(async () => {
      const account = await this.#loadAccount();
      account.generateFallbackKey();
      await this.#commit({ account: this.#accountRecord(account) });
    });
  }

  /**
   * The /keys/upload body: signed unpublished one-time keys and fallback key, and the device keys
   * when `includeDeviceKeys`. Calling again before `markKeysAsPublished` returns the same key ids
   * (so an upload interrupted by a crash is simply repeated).
   */
  async keysForUpload(includeDeviceKeys = false): Promise<KeysUploadBody> {
    const deviceKeys = includeDeviceKeys ? await this.deviceKeys() : undefined;
    return this.#run(async () => {
      const account = await this.#loadAccount();
      const oneTimeKeys: Record<string, Record<string, unknown>> = {};
      for (const [id, key] of account.oneTimeKeys) {
        oneTimeKeys[`signed_curve25519:${id}`] = signJson({ key: key.toBase64() }, this.userId, this.deviceId, account);
      }
      const fallbackKeys: Record<string, Record<string, unknown>> = {};
      for (const [id, key] of account.fallbackKey) {
        fallbackKeys[`signed_curve25519:${id}`] = signJson(
          { key: key.toBase64(), fallback: true },
          this.userId,
          this.deviceId,
          account,
        );
      }
      return {
        ...(deviceKeys === undefined ? {} : { device_keys: deviceKeys }),
        one_time_keys: oneTimeKeys,
        fallback_keys: fallbackKeys,
      };
    });
  }

  async markKeysAsPublished(): Promise<void> {
    await this.#run(async () => {
      const account = await this.#loadAccount();
      account.markKeysAsPublished();
      await this.#commit({ account: this.#accountRecord(account) });
    });
  }

  /**
   * Reacts to /sync's `device_one_time_keys_count` and `device_unused_fallback_key_types`: tops the
   * one-time keys up when the server holds fewer than half the maximum, and makes a new fallback
   * key when the server reports ours used. Returns true when there are keys to upload.
   */
  async updateKeyCounts(oneTimeKeyCount: number, unusedFallbackKeyTypes?: readonly string[]): Promise<boolean> {
    if (!Number.isSafeInteger(oneTimeKeyCount) || oneTimeKeyCount < 0) {
      throw invalidArgument('oneTimeKeyCount must be a non-negative integer');
    }
    if (
      unusedFallbackKeyTypes !== undefined &&
      (!Array.isArray(unusedFallbackKeyTypes) || !unusedFallbackKeyTypes.every((t) => typeof t === 'string'))
    ) {
      throw invalidArgument('unusedFallbackKeyTypes must be an array of strings');
    }
    return this.#run(async () => {
      const account = await this.#loadAccount();
      const max = account.maxNumberOfOneTimeKeys;
      let changed = false;
      if (oneTimeKeyCount < max / 2) {
        const wanted = max - oneTimeKeyCount - account.oneTimeKeys.size;
        if (wanted > 0) {
          account.generateOneTimeKeys(wanted);
          changed = true;
        }
      }
      if (unusedFallbackKeyTypes !== undefined && !unusedFallbackKeyTypes.includes('signed_curve25519')) {
        // The previous fallback key stays until the new one is in use (DEVICE-NOTES).
        if (account.currentFallbackKey === undefined || account.fallbackKey.size === 0) {
          account.generateFallbackKey();
          changed = true;
        }
      }
      if (changed) await this.#commit({ account: this.#accountRecord(account) });
      return account.oneTimeKeys.size > 0 || account.fallbackKey.size > 0;
    });
  }

  // -------------------------------------------------------------------------------------------
  // Known devices

  /**
   * Records devices from a /keys/query `device_keys` answer after checking their self-signature.
   * Returns the devices accepted; ones with a bad signature or wrong ids are skipped.
   */
  async trackDevices(deviceKeys: readonly Record<string, unknown>[]): Promise<DeviceInfo[]> {
    if (!Array.isArray(deviceKeys)) throw invalidArgument('deviceKeys must be an array of device_keys objects');
    const accepted: DeviceInfo[] = [];
    for (const keys of deviceKeys) {
      const info = deviceInfoFromKeys(keys);
      if (info !== undefined) accepted.push(info);
    }
    await this.#run(async () => {
      await this.#commit({
        values: accepted.flatMap((d) => [
          { key: `${KNOWN_DEVICE_ID_PREFIX}${d.userId}|${d.deviceId}`, value: d.curve25519Key.toBase64() },
          {
            key: KNOWN_DEVICE_PREFIX + d.curve25519Key.toBase64(),
            value: JSON.stringify({
              userId: d.userId,
              deviceId: d.deviceId,
              curve25519: d.curve25519Key.toBase64(),
              ed25519: d.ed25519Key.toBase64(),
            }),
          },
        ]),
      });
    });
    return accepted;
  }

  async #knownDeviceById(userId: string, deviceId: string): Promise<DeviceInfo | undefined> {
    const curve25519 = await this.#store.loadValue(`${KNOWN_DEVICE_ID_PREFIX}${userId}|${deviceId}`);
    return curve25519 === undefined ? undefined : this.#knownDevice(curve25519);
  }

  async #knownDevice(curve25519: string): Promise<DeviceInfo | undefined> {
    const value = await this.#store.loadValue(KNOWN_DEVICE_PREFIX + curve25519);
    if (value === undefined) return undefined;
    const d = JSON.parse(value) as { userId: string; deviceId: string; curve25519: string; ed25519: string };
    return {
      userId: d.userId,
      deviceId: d.deviceId,
      curve25519Key: Curve25519PublicKey.fromBase64(d.curve25519),
      ed25519Key: Ed25519PublicKey.fromBase64(d.ed25519),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Olm sessions

  async #sessionsWith(senderKey: string): Promise<OlmState[]> {
    let sessions = this.#olm.get(senderKey);
    if (sessions === undefined) {
      const entries = await this.#store.loadOlmSessions(senderKey);
      sessions = entries.map((e) => ({
        session: Session.fromPickle(e.record.data, this.#pickleKey),
        lastUsedAt: e.lastUsedAt,
      }));
      this.#olm.set(senderKey, sessions);
    }
    return sessions;
  }

  #olmEntry(senderKey: string, state: OlmState): OlmSessionEntry {
    return {
      senderKey,
      sessionId: state.session.sessionId,
      lastUsedAt: state.lastUsedAt,
      record: { schema: OLM_SESSION_SCHEMA, data: state.session.pickle(this.#pickleKey) },
    };
  }

  #remember(senderKey: string, state: OlmState): void {
    const sessions = this.#olm.get(senderKey) ?? [];
    if (!sessions.includes(state)) sessions.push(state);
    sessions.sort((a, b) => b.lastUsedAt - a.lastUsedAt);
    this.#olm.set(senderKey, sessions);
  }

  /** True when an Olm session with this device exists (otherwise claim a one-time key first). */
  async hasOlmSession(device: DeviceInfo): Promise<boolean> {
    checkDeviceInfo(device, 'device');
    return this.#run(async () => (await this.#sessionsWith(device.curve25519Key.toBase64())).length > 0);
  }

  /**
   * Checks a claimed one-time key (the /keys/claim answer for one device: `{ "signed_curve25519:ID": {...} }`)
   * against the device's Ed25519 key, and returns the key.
   */
  static oneTimeKeyFromClaim(device: DeviceInfo, claimed: Record<string, unknown>): Curve25519PublicKey {
    checkDeviceInfo(device, 'device');
    if (!isObject(claimed)) throw invalidArgument('claimed must be the /keys/claim object for one device');
    for (const [keyId, value] of Object.entries(claimed)) {
      if (!keyId.startsWith('signed_curve25519:') || !isObject(value)) continue;
      verifySignedJson(value, device.userId, device.deviceId, device.ed25519Key);
      return Curve25519PublicKey.fromBase64(requireString(value.key, 'key'));
    }
    throw new DeviceError('EVENT_INVALID', 'the claim holds no signed_curve25519 key');
  }

  /**
   * The Olm plaintext, written around the content's JSON: callers serialise the content before the
   * operation starts, so content JSON cannot hold fails before any state is touched.
   */
  #olmPayload(recipient: DeviceInfo, type: string, contentJson: string, account: Account): string {
    const binding = JSON.stringify({
      sender: this.userId,
      sender_device: this.deviceId,
      keys: { ed25519: account.ed25519Key.toBase64() },
      recipient: recipient.userId,
      recipient_keys: { ed25519: recipient.ed25519Key.toBase64() },
    });
    return `{"type":${JSON.stringify(type)},"content":${contentJson},${binding.slice(1)}`;
  }

  /** Encrypts with the newest session (or a new one on `oneTimeKey`), returning state to commit. */
  async #encryptOlm(
    recipient: DeviceInfo,
    type: string,
    contentJson: string,
    oneTimeKey: Curve25519PublicKey | undefined,
    changes: Batch,
  ): Promise<OlmEncryptedContent> {
    const account = await this.#loadAccount();
    const theirKey = recipient.curve25519Key.toBase64();
    const sessions = await this.#sessionsWith(theirKey);
    let state = sessions[0];
    if (state === undefined) {
      if (oneTimeKey === undefined) {
        throw new DeviceError(
          'NO_OLM_SESSION',
          `no Olm session with ${recipient.userId} ${recipient.deviceId}: claim a one-time key`,
        );
      }
      state = {
        session: account.createOutboundSession(SessionConfig.version1(), recipient.curve25519Key, oneTimeKey),
        lastUsedAt: this.#now(),
      };
    }
    const message = state.session.encrypt(this.#olmPayload(recipient, type, contentJson, account));
    state.lastUsedAt = this.#now();
    this.#remember(theirKey, state);
    changes.olmSessions.push(this.#olmEntry(theirKey, state));
    return {
      algorithm: OLM_ALGORITHM,
      sender_key: account.curve25519Key.toBase64(),
      ciphertext: { [theirKey]: { type: message.type, body: message.toBase64() } },
    };
  }

  /**
   * Encrypts a to-device event for one device. Without an Olm session, pass a claimed
   * one-time key (see `oneTimeKeyFromClaim`); otherwise this fails with NO_OLM_SESSION.
   */
  async encryptToDevice(
    recipient: DeviceInfo,
    eventType: string,
    content: Record<string, unknown>,
    options: { oneTimeKey?: Curve25519PublicKey } = {},
  ): Promise<OlmEncryptedContent> {
    checkDeviceInfo(recipient, 'recipient');
    argString(eventType, 'eventType');
    if (!isObject(content)) throw invalidArgument('content must be an object');
    if (!isObject(options)) throw invalidArgument('options must be an object');
    if (options.oneTimeKey !== undefined && !(options.oneTimeKey instanceof Curve25519PublicKey)) {
      throw invalidArgument('options.oneTimeKey must be a Curve25519PublicKey');
    }
    const contentJson = stringifyJson(content, 'the to-device content');
    return this.#run(async () => {
      const changes = new Batch();
      const encrypted = await this.#encryptOlm(recipient, eventType, contentJson, options.oneTimeKey, changes);
      await this.#commit(changes);
      return encrypted;
    });
  }

  /**
   * Decrypts an `m.room.encrypted` to-device event and checks the spec's binding of sender and
   * recipient. Existing sessions are tried first; a pre-key message creates a session only when
   * none matches, and the new session and the one-time key's removal commit together. An
   * `m.room_key` inside is stored (bound to the Olm sender key) in the same commit.
   */
  async decryptToDevice(event: EncryptedToDeviceEvent): Promise<DecryptedToDeviceEvent> {
    if (!isObject(event) || !isObject(event.content)) throw new DeviceError('EVENT_INVALID', 'not an event object');
    const sender = requireString(event.sender, 'sender');
    const content = event.content;
    if (content.algorithm === MEGOLM_ALGORITHM) {
      throw new DeviceError('EVENT_WRONG_CHANNEL', 'Megolm (room) ciphertext arrived as a to-device message; refused');
    }
    if (content.algorithm !== OLM_ALGORITHM) {
      throw new DeviceError('EVENT_UNSUPPORTED_ALGORITHM', 'unsupported to-device encryption algorithm');
    }
    const senderKey = Curve25519PublicKey.fromBase64(requireString(content.sender_key, 'content.sender_key'));
    // The canonical spelling, never the event's text: padding or unused trailing bits decode to the same
    // key, and every lookup (sessions, known devices, room keys) must see the key Olm authenticates.
    const senderKeyText = senderKey.toBase64();
    const ciphertexts = content.ciphertext;
    if (!isObject(ciphertexts)) throw new DeviceError('EVENT_INVALID', 'content.ciphertext is not an object');

    return this.#run(async () => {
      const account = await this.#loadAccount();
      const ours = ciphertexts[account.curve25519Key.toBase64()];
      if (!isObject(ours)) {
        throw new DeviceError('EVENT_RECIPIENT_MISMATCH', 'the event holds no ciphertext for this device');
      }
      if (typeof ours.type !== 'number' || typeof ours.body !== 'string') {
        throw new DeviceError('EVENT_INVALID', 'the ciphertext entry needs a numeric type and a string body');
      }
      const message = olmMessageFromParts(ours.type, ours.body);
      const sessions = await this.#sessionsWith(senderKeyText);
      const changes = new Batch();
      let plaintext: Uint8Array | undefined;
      let used: OlmState | undefined;
      let replay = false;
      let lastError: unknown;
      for (const state of sessions) {
        if (message instanceof PreKeyMessage && !state.session.matchesInboundSessionFrom(senderKey, message)) continue;
        try {
          plaintext = state.session.decrypt(message);
          used = state;
          break;
        } catch (error) {
          if (!(error instanceof TriturusError)) throw error;
          if (error.code === 'MESSAGE_KEY_MISSING' && error.details.messageIndex !== undefined) replay = true;
          lastError = error;
          // A pre-key message that matches a session but does not decrypt must not start a new one.
          if (message instanceof PreKeyMessage) break;
        }
      }
      if (plaintext === undefined) {
        if (message instanceof PreKeyMessage && lastError === undefined) {
          const created = account.createInboundSession(senderKey, message);
          used = { session: created.session, lastUsedAt: this.#now() };
          plaintext = created.plaintext;
          changes.account = this.#accountRecord(account);
        } else if (replay) {
          throw new DeviceError('EVENT_REPLAYED', 'this to-device message was already decrypted');
        } else if (lastError !== undefined) {
          throw lastError;
        } else {
          throw new DeviceError('NO_OLM_SESSION', 'no Olm session with the sender decrypts this message');
        }
      }
      const payload = parseJsonObject(utf8Decode(plaintext));
      const senderDevice = await this.#knownDevice(senderKeyText);
      const claimed = this.#checkOlmPayload(payload, sender, account, senderKey, senderDevice);
      used!.lastUsedAt = this.#now();
      this.#remember(senderKeyText, used!);
      changes.olmSessions.push(this.#olmEntry(senderKeyText, used!));
      const type = requireString(payload.type, 'payload.type');
      const innerContent = isObject(payload.content) ? payload.content : {};
      let roomKey: DecryptedToDeviceEvent['roomKey'];
      let storedId: string | undefined;
      if (type === 'm.room_key') {
        const stored = await this.#receiveRoomKey(innerContent, senderKeyText, claimed, sender);
        if (stored !== undefined) {
          roomKey = { roomId: stored.roomId, sessionId: stored.sessionId, isNew: stored.entry !== undefined };
          if (stored.entry !== undefined) {
            changes.inboundGroupSessions.push(stored.entry);
            storedId = stored.storeId;
          }
        }
      }
      await this.#commit(changes);
      if (roomKey?.isNew && storedId !== undefined) this.#inbound.delete(this.#inboundKey(roomKey.roomId, storedId));
      return {
        type,
        content: innerContent,
        sender,
        senderKey,
        senderClaimedEd25519: claimed,
        senderDevice,
        ...(roomKey === undefined ? {} : { roomKey }),
      };
    });
  }

  /** DEVICE-NOTES's checks on a decrypted Olm payload; returns the claimed Ed25519 key. */
  #checkOlmPayload(
    payload: Record<string, unknown>,
    sender: string,
    account: Account,
    senderKey: Curve25519PublicKey,
    senderDevice: DeviceInfo | undefined,
  ): string {
    if (payload.sender !== sender)
      throw new DeviceError('EVENT_SENDER_MISMATCH', 'the payload sender is not the event sender');
    const keys = payload.keys;
    const claimed = isObject(keys) ? keys.ed25519 : undefined;
    if (typeof claimed !== 'string') throw new DeviceError('EVENT_INVALID', 'the payload lacks keys.ed25519');
    if (senderDevice !== undefined) {
      if (senderDevice.userId !== sender || claimed !== senderDevice.ed25519Key.toBase64()) {
        throw new DeviceError('EVENT_KEYS_MISMATCH', "the payload's keys.ed25519 is not the sending device's key");
      }
    }
    if (payload.recipient !== this.userId) {
      throw new DeviceError('EVENT_RECIPIENT_MISMATCH', 'the payload is addressed to another user');
    }
    const recipientKeys = payload.recipient_keys;
    if (!isObject(recipientKeys) || recipientKeys.ed25519 !== account.ed25519Key.toBase64()) {
      throw new DeviceError('EVENT_RECIPIENT_MISMATCH', "the payload's recipient_keys are not this device's keys");
    }
    const deviceKeys = payload.sender_device_keys;
    if (deviceKeys !== undefined) {
      const info = isObject(deviceKeys) ? deviceInfoFromKeys(deviceKeys) : undefined;
      if (
        info === undefined ||
        info.userId !== sender ||
        !info.curve25519Key.equals(senderKey) ||
        info.ed25519Key.toBase64() !== claimed
      ) {
        throw new DeviceError('EVENT_KEYS_MISMATCH', 'sender_device_keys do not match the sending device');
      }
    }
    return claimed;
  }

  // -------------------------------------------------------------------------------------------
  // Room keys and room events

  #inboundKey(roomId: string, sessionId: string): string {
    return `${roomId}\u0000${sessionId}`;
  }

  async #loadInbound(roomId: string, storeId: string): Promise<InboundState | undefined> {
    const key = this.#inboundKey(roomId, storeId);
    const cached = this.#inbound.get(key);
    if (cached !== undefined) return cached ?? undefined;
    const entry = await this.#store.loadInboundGroupSession(roomId, storeId);
    if (entry === undefined) return undefined;
    const { meta, pickle } = openRecord<InboundMeta>(entry.record, INBOUND_GROUP_SCHEMA, this.#pickleKey);
    const state = { session: InboundGroupSession.fromPickle(pickle, this.#pickleKey), meta, storeId };
    this.#inbound.set(key, state);
    return state;
  }

  #inboundEntry(state: InboundState): InboundGroupSessionEntry {
    return {
      roomId: state.meta.roomId,
      sessionId: state.storeId,
      senderKey: state.meta.senderKey,
      record: sealRecord(INBOUND_GROUP_SCHEMA, state.meta, state.session.pickle(this.#pickleKey), this.#pickleKey),
    };
  }

  /**
   * Decides whether a received/imported inbound session is stored: when there is no copy from the
   * same sender, or when it comes from a source at least as trusted and knows an earlier index.
   * Copies from different senders are kept apart (see InboundState.storeId).
   */
  async #mergeInbound(candidate: Omit<InboundState, 'storeId'>): Promise<InboundState | undefined> {
    const { roomId, senderKey } = candidate.meta;
    const sessionId = candidate.session.sessionId;
    const primary = await this.#loadInbound(roomId, sessionId);
    const storeId =
      primary === undefined || primary.meta.senderKey === senderKey ? sessionId : alternateId(sessionId, senderKey);
    const existing = storeId === sessionId ? primary : await this.#loadInbound(roomId, storeId);
    if (existing === undefined) return { ...candidate, storeId };
    const rank = (s: InboundMeta['source']) => (s === 'own' || s === 'room_key' ? 1 : 0);
    if (rank(candidate.meta.source) < rank(existing.meta.source)) return undefined;
    if (!existing.session.connected(candidate.session)) return undefined;
    if (
      candidate.session.firstKnownIndex >= existing.session.firstKnownIndex &&
      rank(candidate.meta.source) === rank(existing.meta.source)
    ) {
      return undefined;
    }
    return {
      session: existing.session.merge(candidate.session),
      meta: rank(candidate.meta.source) > rank(existing.meta.source) ? candidate.meta : existing.meta,
      storeId,
    };
  }

  /** The stored copy of a session that belongs to the event's sender (see InboundState.storeId). */
  async #inboundForEvent(
    roomId: string,
    sessionId: string,
    sender: string,
    content: Record<string, unknown>,
  ): Promise<InboundState | undefined> {
    const claimedKey = typeof content.sender_key === 'string' ? content.sender_key : undefined;
    const matches = (state: InboundState) =>
      (claimedKey === undefined || state.meta.senderKey === claimedKey) &&
      (state.meta.senderUserId === undefined || state.meta.senderUserId === sender);
    const primary =
      this.#inbound.get(this.#inboundKey(roomId, sessionId)) ?? (await this.#loadInbound(roomId, sessionId));
    if (primary === undefined || matches(primary)) return primary;
    // The first copy came from another device: look for the copy from the event's sender.
    let senderKey = claimedKey;
    if (senderKey === undefined && typeof content.device_id === 'string') {
      senderKey = (await this.#knownDeviceById(sender, content.device_id))?.curve25519Key.toBase64();
    }
    const alternate =
      senderKey === undefined ? undefined : await this.#loadInbound(roomId, alternateId(sessionId, senderKey));
    if (alternate !== undefined && matches(alternate)) return alternate;
    throw new DeviceError(
      'EVENT_KEYS_MISMATCH',
      "the room key for this session came from another device than the event's sender",
    );
  }

  async #receiveRoomKey(
    content: Record<string, unknown>,
    senderKey: string,
    claimedEd25519: string,
    senderUserId: string,
  ): Promise<
    { roomId: string; sessionId: string; storeId: string; entry: InboundGroupSessionEntry | undefined } | undefined
  > {
    if (content.algorithm !== MEGOLM_ALGORITHM) return undefined;
    const roomId = requireString(content.room_id, 'content.room_id');
    const sessionId = requireString(content.session_id, 'content.session_id');
    const sessionKey = SessionKey.fromBase64(requireString(content.session_key, 'content.session_key'));
    const session = InboundGroupSession.fromSessionKey(sessionKey);
    if (session.sessionId !== sessionId) {
      throw new DeviceError('EVENT_INVALID', 'the m.room_key session_id does not match its session key');
    }
    const chosen = await this.#mergeInbound({
      session,
      meta: {
        roomId,
        senderKey,
        senderClaimedEd25519: claimedEd25519,
        senderUserId,
        source: 'room_key',
        forwardingChain: [],
      },
    });
    return {
      roomId,
      sessionId,
      storeId: chosen?.storeId ?? sessionId,
      entry: chosen === undefined ? undefined : this.#inboundEntry(chosen),
    };
  }

  async #loadOutbound(roomId: string): Promise<OutboundState | undefined> {
    const cached = this.#outbound.get(roomId);
    if (cached !== undefined) return cached ?? undefined;
    const entry = await this.#store.loadOutboundGroupSession(roomId);
    if (entry === undefined) {
      this.#outbound.set(roomId, null);
      return undefined;
    }
    const { meta, pickle } = openRecord<OutboundMeta>(entry.record, OUTBOUND_GROUP_SCHEMA, this.#pickleKey);
    const session = GroupSession.fromPickle(pickle, this.#pickleKey);
    const state: OutboundState = { session, meta: { ...meta, skipped: meta.skipped ?? 0 } };
    // Another process (or this one before a crash) may have used indices up to the reservation;
    // unless this Device knows where it stopped and nobody else has held the lease since.
    const resume = this.#outboundResume.get(roomId);
    this.#outboundResume.delete(roomId);
    const known =
      resume !== undefined && resume.sessionId === session.sessionId && resume.generation === this.#token?.generation;
    const next = known
      ? Math.max(session.messageIndex, resume.next)
      : Math.max(session.messageIndex, meta.reservedUntil);
    if (session.messageIndex < next) {
      state.meta = { ...state.meta, skipped: state.meta.skipped + (next - session.messageIndex) };
      session.advanceTo(next);
    }
    this.#outbound.set(roomId, state);
    return state;
  }

  #outboundEntry(roomId: string, state: OutboundState): OutboundGroupSessionEntry {
    return {
      roomId,
      sessionId: state.session.sessionId,
      record: sealRecord(OUTBOUND_GROUP_SCHEMA, state.meta, state.session.pickle(this.#pickleKey), this.#pickleKey),
    };
  }

  /**
   * The session key to hand out: from the first index while nobody has the session (messages sent
   * before the first share stay readable), from the current index once some device has it (a device
   * added later does not get earlier messages).
   */
  #keyToShare(state: OutboundState): SessionKey {
    if (state.meta.sharedWith.length === 0 && state.meta.initialKey !== undefined) {
      state.initialKey ??= SessionKey.fromBase64(state.meta.initialKey);
      return state.initialKey;
    }
    return state.session.sessionKey();
  }

  /** Rotation counts messages sent, not indices: indices skipped by reloads do not count (no rotation on restart). */
  #needsRotation(state: OutboundState): boolean {
    const sent = state.session.messageIndex - state.meta.skipped;
    return sent >= this.#rotationPeriodMsgs || this.#now() - state.meta.createdAt >= this.#rotationPeriodMs;
  }

  async #newOutbound(roomId: string, account: Account, changes: Batch): Promise<OutboundState> {
    const session = GroupSession.create();
    const initialKey = session.sessionKey();
    const state: OutboundState = {
      session,
      meta: {
        createdAt: this.#now(),
        reservedUntil: 0,
        skipped: 0,
        sharedWith: [],
        initialKey: initialKey.toBase64(),
      },
      initialKey,
    };
    const own: InboundState = {
      session: InboundGroupSession.fromSessionKey(initialKey),
      meta: {
        roomId,
        senderKey: account.curve25519Key.toBase64(),
        senderClaimedEd25519: account.ed25519Key.toBase64(),
        senderUserId: this.userId,
        source: 'own',
        forwardingChain: [],
      },
      storeId: session.sessionId,
    };
    this.#inbound.set(this.#inboundKey(roomId, session.sessionId), own);
    changes.inboundGroupSessions.push(this.#inboundEntry(own));
    return state;
  }

  /**
   * Encrypts a room event with the room's outbound Megolm session, starting a new one when there
   * is none or the rotation policy says so (then `newRoomKey` is set: share it before sending).
   * The content is written by JSON.stringify, with its rules (undefined, functions and symbols are
   * left out, NaN and ±Infinity become null); content it cannot write at all (a cycle, a BigInt, a
   * throwing toJSON) is INVALID_ARGUMENT, before anything is touched.
   */
  encryptRoomEvent(roomId: string, eventType: string, content: Record<string, unknown>): Promise<RoomEncryptionResult> {
    // Not an async function: on every message's path, one async frame less (errors still reject).
    let plaintext: string;
    try {
      argString(roomId, 'roomId');
      argString(eventType, 'eventType');
      if (!isObject(content)) throw invalidArgument('content must be an object');
      // Serialised first: content JSON cannot hold fails before any state is touched.
      plaintext = stringifyJson({ type: eventType, content, room_id: roomId }, 'the event content');
    } catch (error) {
      return Promise.reject(error);
    }
    // Fast path, most messages: everything is cached and nothing is written (the index lies inside
    // the reserved block, under a lease with at least half its time left), so nothing awaits and
    // the queue is bypassed: no other operation is running, and this one cannot be interleaved.
    if (!this.#busy && !this.#closed && this.#leaseIsFresh()) {
      try {
        const account = this.#account;
        const state = this.#outbound.get(roomId);
        if (
          account !== undefined &&
          state != null &&
          state.session.messageIndex < state.meta.reservedUntil &&
          !this.#needsRotation(state)
        ) {
          const result = this.#encryptWith(account, roomId, state, plaintext);
          if (this.#leaseStillHeld()) return Promise.resolve(result);
          // The lease may have lapsed while encrypting (the process stalled): the output is
          // withheld and the operation starts over as after a lost lease, on fresh state (the
          // used index is skipped, which is harmless).
          this.#dropCaches();
          this.#forgetLostLease();
        }
      } catch (error) {
        // As in the queue: nothing cached survives a failure (a throwing `now` option, say).
        this.#dropCaches();
        return Promise.reject(error);
      }
    }
    return this.#run(async () => {
      const account = this.#account ?? (await this.#loadAccount());
      // Most messages write nothing (the index lies inside the reserved block): no batch for them.
      let changes: Batch | undefined;
      let state = this.#outbound.get(roomId) ?? (await this.#loadOutbound(roomId));
      if (state === undefined || this.#needsRotation(state)) {
        changes = new Batch();
        state = await this.#newOutbound(roomId, account, changes);
      }
      const index = state.session.messageIndex;
      const result = this.#encryptWith(account, roomId, state, plaintext);
      if (index >= state.meta.reservedUntil) {
        state.meta = { ...state.meta, reservedUntil: index + this.#reservationBlock };
        (changes ??= new Batch()).outboundGroupSessions.push(this.#outboundEntry(roomId, state));
      }
      if (changes !== undefined) await this.#commit(changes);
      else this.#checkLeaseStillHeld();
      this.#outbound.set(roomId, state);
      return result;
    });
  }

  /** Encrypts one room event with `state`'s session and builds the result (the shared part of both paths). */
  #encryptWith(account: Account, roomId: string, state: OutboundState, plaintext: string): RoomEncryptionResult {
    // Until shareRoomKey has recorded a recipient, the caller must still share the key: say so on
    // every message (also after a retry whose first attempt created the session and then failed).
    const sessionKey =
      state.meta.sharedWith.length === 0 ? (state.meta.initialKey ?? this.#keyToShare(state).toBase64()) : undefined;
    const index = state.session.messageIndex;
    const ciphertext = state.session.encrypt(plaintext);
    const sessionId = state.session.sessionId;
    const content = {
      algorithm: MEGOLM_ALGORITHM,
      sender_key: account.curve25519Key.toBase64(),
      ciphertext: ciphertext.toBase64(),
      session_id: sessionId,
      device_id: this.deviceId,
    } as const;
    if (sessionKey === undefined) return { content, sessionId, messageIndex: index };
    const newRoomKey: RoomKeyContent = {
      algorithm: MEGOLM_ALGORITHM,
      room_id: roomId,
      session_id: sessionId,
      session_key: sessionKey,
    };
    return { content, sessionId, messageIndex: index, newRoomKey };
  }

  /** Discards the room's outbound session (a member left or a device was removed): the next message starts a new one. */
  async rotateRoomKey(roomId: string): Promise<void> {
    argString(roomId, 'roomId');
    await this.#run(async () => {
      await this.#commit({ removeOutboundGroupSessions: [roomId] });
      this.#outbound.set(roomId, null);
    });
  }

  /**
   * Shares the room's current outbound session, as Olm-encrypted `m.room_key` to-device messages,
   * with the devices that do not have it yet. Recipients stay pending until the caller confirms
   * with `markRoomKeySent` that the messages went out; a pending device gets a fresh message on
   * the next call (so a lost /sendToDevice or a failed commit never leaves a member without the
   * key). Devices without an Olm session are returned in `missingSessions` unless a claimed
   * one-time key is given for them in `oneTimeKeys` (keyed by Curve25519 key). Starts an outbound
   * session when the room has none or the current one is due for rotation.
   */
  async shareRoomKey(
    roomId: string,
    devices: readonly DeviceInfo[],
    oneTimeKeys: ReadonlyMap<string, Curve25519PublicKey> = new Map(),
  ): Promise<ShareRoomKeyResult> {
    argString(roomId, 'roomId');
    if (!Array.isArray(devices)) throw invalidArgument('devices must be an array of DeviceInfo');
    for (const d of devices) checkDeviceInfo(d, 'each device');
    if (!(oneTimeKeys instanceof Map) || ![...oneTimeKeys.values()].every((k) => k instanceof Curve25519PublicKey)) {
      throw invalidArgument('oneTimeKeys must be a Map from Curve25519 key to Curve25519PublicKey');
    }
    return this.#run(async () => {
      const account = await this.#loadAccount();
      const changes = new Batch();
      let state = await this.#loadOutbound(roomId);
      if (state === undefined || this.#needsRotation(state)) state = await this.#newOutbound(roomId, account, changes);
      const sent = new Set(state.meta.sharedWith.filter((s) => s.sent).map((s) => s.device));
      const sessionKey = this.#keyToShare(state);
      const firstIndex = sessionKey.messageIndex;
      const roomKey: RoomKeyContent = {
        algorithm: MEGOLM_ALGORITHM,
        room_id: roomId,
        session_id: state.session.sessionId,
        session_key: sessionKey.toBase64(),
      };
      const messages: ToDeviceMessage[] = [];
      const missingSessions: DeviceInfo[] = [];
      const pending = new Map(state.meta.sharedWith.map((s) => [s.device, s]));
      for (const device of devices) {
        const label = deviceLabel(device);
        if (sent.has(label)) continue;
        const key = device.curve25519Key.toBase64();
        const has = (await this.#sessionsWith(key)).length > 0;
        const otk = oneTimeKeys.get(key);
        if (!has && otk === undefined) {
          missingSessions.push(device);
          continue;
        }
        const content = await this.#encryptOlm(device, 'm.room_key', JSON.stringify(roomKey), otk, changes);
        messages.push({ recipient: device, type: 'm.room.encrypted', content });
        pending.set(label, { device: label, index: firstIndex, sent: false });
      }
      state.meta = {
        ...state.meta,
        sharedWith: [...pending.values()],
        reservedUntil: Math.max(state.meta.reservedUntil, state.session.messageIndex),
      };
      changes.outboundGroupSessions.push(this.#outboundEntry(roomId, state));
      await this.#commit(changes);
      this.#outbound.set(roomId, state);
      return { messages, missingSessions };
    });
  }

  /**
   * Records that the `m.room_key` messages from `shareRoomKey` reached the homeserver (call after
   * /sendToDevice succeeded), so later calls do not send them again.
   */
  async markRoomKeySent(roomId: string, recipients: readonly (DeviceInfo | ToDeviceMessage)[]): Promise<void> {
    argString(roomId, 'roomId');
    if (!Array.isArray(recipients)) throw invalidArgument('recipients must be an array');
    for (const r of recipients) {
      checkDeviceInfo(isObject(r) && 'recipient' in r ? r.recipient : r, 'each recipient (or message recipient)');
    }
    await this.#run(async () => {
      const state = await this.#loadOutbound(roomId);
      if (state === undefined) return;
      const labels = new Set(recipients.map((r) => deviceLabel('recipient' in r ? r.recipient : r)));
      let changed = false;
      const sharedWith = state.meta.sharedWith.map((s) => {
        if (s.sent || !labels.has(s.device)) return s;
        changed = true;
        return { ...s, sent: true };
      });
      if (!changed) return;
      state.meta = {
        ...state.meta,
        sharedWith,
        reservedUntil: Math.max(state.meta.reservedUntil, state.session.messageIndex),
      };
      await this.#commit({ outboundGroupSessions: [this.#outboundEntry(roomId, state)] });
    });
  }

  /**
   * Decrypts an `m.room.encrypted` room event. Refuses a second, different event at one
   * (session, message index) as a replay, and an event whose decrypted room_id differs from
   * the room it arrived in.
   */
  async decryptRoomEvent(event: EncryptedRoomEvent, roomId?: string): Promise<DecryptedRoomEvent> {
    if (!isObject(event) || !isObject(event.content)) throw new DeviceError('EVENT_INVALID', 'not an event object');
    const room = roomId === undefined ? requireString(event.room_id, 'room_id') : argString(roomId, 'roomId');
    const eventId = requireString(event.event_id, 'event_id');
    const sender = requireString(event.sender, 'sender');
    const timestamp = typeof event.origin_server_ts === 'number' ? event.origin_server_ts : 0;
    const content = event.content;
    if (content.algorithm !== MEGOLM_ALGORITHM) {
      throw new DeviceError('EVENT_UNSUPPORTED_ALGORITHM', 'unsupported room encryption algorithm');
    }
    const sessionId = requireString(content.session_id, 'content.session_id');
    const message = MegolmMessage.fromBase64(requireString(content.ciphertext, 'content.ciphertext'));
    return this.#run(async () => {
      const state = await this.#inboundForEvent(room, sessionId, sender, content);
      if (state === undefined) {
        throw new DeviceError('ROOM_KEY_UNKNOWN', 'unable to decrypt: the room key for this session has not arrived');
      }
      const { plaintext, messageIndex } = state.session.decrypt(message);
      const payload = parseJsonObject(utf8Decode(plaintext));
      if (payload.room_id !== room) {
        throw new DeviceError('EVENT_ROOM_MISMATCH', 'the decrypted event belongs to another room');
      }
      // Every check before the replay record: a refused event must leave nothing behind.
      const type = requireString(payload.type, 'payload.type');
      const seen = await this.#store.loadReplay(sessionId, messageIndex);
      if (seen !== undefined) {
        if (seen.eventId !== eventId || seen.originServerTs !== timestamp) {
          throw new DeviceError('EVENT_REPLAYED', 'another event already used this session and message index', {
            messageIndex,
          });
        }
      } else {
        await this.#commit({ replays: [{ sessionId, messageIndex, eventId, originServerTs: timestamp }] });
      }
      return {
        event: {
          type,
          content: isObject(payload.content) ? payload.content : {},
          room_id: room,
        },
        senderKey: state.meta.senderKey,
        senderClaimedEd25519: state.meta.senderClaimedEd25519,
        sessionId,
        messageIndex,
        verified: (state.meta.source === 'room_key' || state.meta.source === 'own') && state.session.isVerified,
        forwardingCurve25519KeyChain: state.meta.forwardingChain,
      };
    });
  }

  // -------------------------------------------------------------------------------------------
  // Room key import and export

  /** Exports every inbound session (or one room's) at its first known index, in the Matrix form. */
  async exportRoomKeys(roomId?: string): Promise<ExportedRoomKey[]> {
    if (roomId !== undefined) argString(roomId, 'roomId');
    return this.#run(async () => {
      const entries = await this.#store.listInboundGroupSessions(roomId);
      return entries.map((entry) => {
        const { meta, pickle } = openRecord<InboundMeta>(entry.record, INBOUND_GROUP_SCHEMA, this.#pickleKey);
        const session = InboundGroupSession.fromPickle(pickle, this.#pickleKey);
        return {
          algorithm: MEGOLM_ALGORITHM,
          room_id: meta.roomId,
          sender_key: meta.senderKey,
          session_id: session.sessionId,
          session_key: session.exportAtFirstKnownIndex().toBase64(),
          sender_claimed_keys: meta.senderClaimedEd25519 === undefined ? {} : { ed25519: meta.senderClaimedEd25519 },
          forwarding_curve25519_key_chain: [...meta.forwardingChain],
        };
      });
    });
  }

  /**
   * Imports room keys (from a key-export file, a backup, or a forwarded key the SDK asked for).
   * They are never marked verified, and replace a stored copy only when they know earlier
   * messages. Returns how many were stored. Malformed entries are skipped.
   */
  async importRoomKeys(keys: readonly ExportedRoomKey[], source: 'import' | 'forwarded' = 'import'): Promise<number> {
    if (!Array.isArray(keys)) throw invalidArgument('keys must be an array of exported room keys');
    if (source !== 'import' && source !== 'forwarded') throw invalidArgument("source must be 'import' or 'forwarded'");
    return this.#run(async () => {
      const entries: InboundGroupSessionEntry[] = [];
      const states: InboundState[] = [];
      for (const key of keys) {
        let candidate: Omit<InboundState, 'storeId'>;
        try {
          // Read as the key-export file format reads an entry: what that format could not hold is skipped.
          const parsed = roomKeyExportFromJson(key);
          if (parsed.algorithm !== MEGOLM_ALGORITHM) continue;
          candidate = {
            session: InboundGroupSession.import(parsed.sessionKey),
            meta: {
              roomId: requireString(parsed.roomId, 'room_id'),
              senderKey: requireString(parsed.senderKey, 'sender_key'),
              senderClaimedEd25519: parsed.senderClaimedKeys.ed25519,
              source,
              forwardingChain: [...parsed.forwardingCurve25519KeyChain],
            },
          };
        } catch (error) {
          if (error instanceof TriturusError) continue;
          throw error;
        }
        const chosen = await this.#mergeInbound(candidate);
        if (chosen === undefined) continue;
        entries.push(this.#inboundEntry(chosen));
        states.push(chosen);
      }
      if (entries.length > 0) await this.#commit({ inboundGroupSessions: entries });
      for (const s of states) this.#inbound.set(this.#inboundKey(s.meta.roomId, s.storeId), s);
      return entries.length;
    });
  }

  /** A `MEGOLM SESSION DATA` key-export file of every room key (or one room's). */
  async exportKeyFile(passphrase: string, options: EncryptKeyExportOptions = {}, roomId?: string): Promise<string> {
    const keys = await this.exportRoomKeys(roomId);
    return encryptKeyExport(keys.map(roomKeyExportFromJson), passphrase, options);
  }

  /** Imports a key-export file; a wrong passphrase fails with KEY_EXPORT_BAD_PASSPHRASE. */
  async importKeyFile(text: string, passphrase: string, options: DecryptKeyExportOptions = {}): Promise<number> {
    const keys = await decryptKeyExport(text, passphrase, options);
    return this.importRoomKeys(
      keys.map((k) => roomKeyExportToJson(k) as unknown as ExportedRoomKey),
      'import',
    );
  }

  toString(): string {
    return `Device(${this.userId} ${this.deviceId})`;
  }
  toJSON(): { type: string; userId: string; deviceId: string } {
    return { type: 'Device', userId: this.userId, deviceId: this.deviceId };
  }
  static {
    redactInspect(Device);
  }
}

/**
 * Reads one device from a /keys/query `device_keys` entry, checking its self-signature.
 * Returns undefined when the object is malformed or the signature does not verify.
 */
export function deviceInfoFromKeys(keys: Record<string, unknown>): DeviceInfo | undefined {
  if (!isObject(keys)) return undefined;
  try {
    const userId = keys.user_id;
    const deviceId = keys.device_id;
    const k = keys.keys;
    if (typeof userId !== 'string' || typeof deviceId !== 'string' || !isObject(k)) return undefined;
    const curve = k[`curve25519:${deviceId}`];
    const ed = k[`ed25519:${deviceId}`];
    if (typeof curve !== 'string' || typeof ed !== 'string') return undefined;
    const ed25519Key = Ed25519PublicKey.fromBase64(ed);
    verifySignedJson(keys, userId, deviceId, ed25519Key);
    return { userId, deviceId, curve25519Key: Curve25519PublicKey.fromBase64(curve), ed25519Key };
  } catch (error) {
    if (error instanceof TriturusError) return undefined;
    throw error;
  }
}
