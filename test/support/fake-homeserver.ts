/**
 * An in-memory homeserver for end-to-end-encryption tests: just the key and to-device endpoints of the
 * Matrix client-server API, enough to connect `@matrix-org/matrix-sdk-crypto-wasm`'s OlmMachine (vodozemac)
 * with triturus devices and with other machines.
 *
 * Endpoints modelled (request and response bodies as the spec gives them):
 * - `/keys/upload`  → `uploadKeys(user, device, body)`: stores `device_keys`, `one_time_keys`, `fallback_keys`;
 *   answers `{one_time_key_counts}`.
 * - `/keys/query`   → `queryKeys(body)`: the stored `device_keys` of the users asked for (no cross-signing keys).
 * - `/keys/claim`   → `claimKeys(body)`: hands out (and deletes) the oldest one-time key of the asked algorithm,
 *   else the device's fallback key, which stays and is reported used, as servers do.
 * - `/sendToDevice` → `sendToDevice(sender, type, body)`: queues `{type, sender, content}` per recipient device
 *   (`"*"` fans out to every device of the user).
 *
 * A test drives an OlmMachine with `flush(machine)` (answers every outgoing request until none is left),
 * `answer(machine, request)` (one request, e.g. each of the to-device requests `shareRoomKey` returns),
 * `claimMissingSessions(machine, users)` (the /keys/claim request only `getMissingSessions` makes) and
 * `sync(machine)` (delivers its queued to-device events through `receiveSyncChanges` with the current key
 * counts). A triturus device calls the endpoint methods directly. The server checks nothing (no auth, no
 * signature checks): clients are the ones under test.
 */
import {
  DeviceLists,
  type KeysClaimRequest,
  type KeysQueryRequest,
  type KeysUploadRequest,
  type OlmMachine,
  type ProcessedToDeviceEvent,
  RequestType,
  type SignatureUploadRequest,
  type ToDeviceRequest,
  UserId,
} from '@matrix-org/matrix-sdk-crypto-wasm';

/** The requests `answer` handles (the room-message and key-backup requests are not modelled). */
export type OutgoingRequest =
  | KeysUploadRequest
  | KeysQueryRequest
  | KeysClaimRequest
  | ToDeviceRequest
  | SignatureUploadRequest;

/** A to-device event as `/sync` delivers it. */
export interface ToDeviceEvent {
  readonly type: string;
  readonly sender: string;
  readonly content: Record<string, unknown>;
}

export interface KeysUploadBody {
  readonly device_keys?: Record<string, unknown>;
  readonly one_time_keys?: Record<string, unknown>;
  readonly fallback_keys?: Record<string, unknown>;
}

export interface KeysQueryBody {
  readonly device_keys: Record<string, string[]>;
}

export interface KeysQueryResponse {
  readonly device_keys: Record<string, Record<string, unknown>>;
  readonly failures: Record<string, unknown>;
  readonly master_keys: Record<string, unknown>;
  readonly self_signing_keys: Record<string, unknown>;
  readonly user_signing_keys: Record<string, unknown>;
}

export interface KeysClaimBody {
  readonly one_time_keys: Record<string, Record<string, string>>;
}

/** `one_time_keys[user][device]["<algorithm>:<key id>"]` = the signed key object. */
export interface KeysClaimResponse {
  readonly one_time_keys: Record<string, Record<string, Record<string, unknown>>>;
  readonly failures: Record<string, unknown>;
}

export interface SendToDeviceBody {
  readonly messages: Record<string, Record<string, Record<string, unknown>>>;
}

interface DeviceRecord {
  deviceKeys: Record<string, unknown> | undefined;
  /** "<algorithm>:<key id>" → signed key; insertion order is upload order. */
  readonly oneTimeKeys: Map<string, unknown>;
  /** "<algorithm>:<key id>" → signed key, at most one per algorithm. */
  readonly fallbackKeys: Map<string, unknown>;
  /** Algorithms whose fallback key has been handed out by a claim. */
  readonly usedFallbackAlgorithms: Set<string>;
  readonly inbox: ToDeviceEvent[];
  /** The change counter at this device's last `sync`, for its `device_lists.changed`. */
  syncedUpTo: number;
}

function algorithmOf(keyId: string): string {
  const colon = keyId.indexOf(':');
  return colon < 0 ? keyId : keyId.slice(0, colon);
}

/** Guards against a machine that keeps producing requests (a bug in the fake or in the test). */
const MAX_FLUSH_ROUNDS = 20;

export class FakeHomeserver {
  readonly #users = new Map<string, Map<string, DeviceRecord>>();
  /** Per user, the change counter at the last upload of new device keys. */
  readonly #deviceListChanges = new Map<string, number>();
  #changeCounter = 0;

  #device(userId: string, deviceId: string): DeviceRecord {
    let devices = this.#users.get(userId);
    if (devices === undefined) this.#users.set(userId, (devices = new Map()));
    let record = devices.get(deviceId);
    if (record === undefined) {
      record = {
        deviceKeys: undefined,
        oneTimeKeys: new Map(),
        fallbackKeys: new Map(),
        usedFallbackAlgorithms: new Set(),
        inbox: [],
        syncedUpTo: 0,
      };
      devices.set(deviceId, record);
    }
    return record;
  }

  // -------------------------------------------------------------------------------------------
  // Endpoints

  /** POST /keys/upload for `userId`'s device `deviceId`. */
  uploadKeys(userId: string, deviceId: string, body: KeysUploadBody): { one_time_key_counts: Record<string, number> } {
    const record = this.#device(userId, deviceId);
    if (body.device_keys !== undefined) {
      record.deviceKeys = structuredClone(body.device_keys);
      this.#deviceListChanges.set(userId, ++this.#changeCounter);
    }
    for (const [keyId, key] of Object.entries(body.one_time_keys ?? {})) {
      record.oneTimeKeys.set(keyId, structuredClone(key));
    }
    for (const [keyId, key] of Object.entries(body.fallback_keys ?? {})) {
      const algorithm = algorithmOf(keyId);
      for (const old of record.fallbackKeys.keys()) if (algorithmOf(old) === algorithm) record.fallbackKeys.delete(old);
      record.fallbackKeys.set(keyId, structuredClone(key));
      record.usedFallbackAlgorithms.delete(algorithm);
    }
    return { one_time_key_counts: this.oneTimeKeyCounts(userId, deviceId) };
  }

  /** POST /keys/query: the device keys of the users asked for (an empty list means every device). */
  queryKeys(body: KeysQueryBody): KeysQueryResponse {
    const deviceKeys: Record<string, Record<string, unknown>> = {};
    for (const [userId, wanted] of Object.entries(body.device_keys)) {
      const out: Record<string, unknown> = {};
      for (const [deviceId, record] of this.#users.get(userId) ?? []) {
        if (record.deviceKeys !== undefined && (wanted.length === 0 || wanted.includes(deviceId))) {
          out[deviceId] = structuredClone(record.deviceKeys);
        }
      }
      deviceKeys[userId] = out;
    }
    return { device_keys: deviceKeys, failures: {}, master_keys: {}, self_signing_keys: {}, user_signing_keys: {} };
  }

  /** POST /keys/claim: one key per asked device, one-time keys first, then the fallback key. */
  claimKeys(body: KeysClaimBody): KeysClaimResponse {
    const result: Record<string, Record<string, Record<string, unknown>>> = {};
    for (const [userId, devices] of Object.entries(body.one_time_keys)) {
      for (const [deviceId, algorithm] of Object.entries(devices)) {
        const record = this.#users.get(userId)?.get(deviceId);
        if (record === undefined) continue;
        const claimed = this.#claimOne(record, algorithm);
        if (claimed === undefined) continue;
        result[userId] ??= {};
        result[userId][deviceId] = { [claimed[0]]: structuredClone(claimed[1]) };
      }
    }
    return { one_time_keys: result, failures: {} };
  }

  #claimOne(record: DeviceRecord, algorithm: string): [string, unknown] | undefined {
    for (const [keyId, key] of record.oneTimeKeys) {
      if (algorithmOf(keyId) === algorithm) {
        record.oneTimeKeys.delete(keyId);
        return [keyId, key];
      }
    }
    for (const [keyId, key] of record.fallbackKeys) {
      if (algorithmOf(keyId) === algorithm) {
        record.usedFallbackAlgorithms.add(algorithm);
        return [keyId, key];
      }
    }
    return undefined;
  }

  /** The devices a user has on this server (what a `*` recipient reaches). */
  deviceIds(userId: string): string[] {
    return [...(this.#users.get(userId)?.keys() ?? [])];
  }

  /** PUT /sendToDevice/{eventType}/{txnId} from `sender`. */
  sendToDevice(sender: string, eventType: string, body: SendToDeviceBody): Record<string, never> {
    for (const [userId, devices] of Object.entries(body.messages)) {
      for (const [deviceId, content] of Object.entries(devices)) {
        const targets = deviceId === '*' ? [...(this.#users.get(userId)?.keys() ?? [])] : [deviceId];
        for (const target of targets) {
          this.#device(userId, target).inbox.push({ type: eventType, sender, content: structuredClone(content) });
        }
      }
    }
    return {};
  }

  // -------------------------------------------------------------------------------------------
  // State a client reads from /sync

  /** Removes and returns the to-device events queued for a device, oldest first. */
  takeToDevice(userId: string, deviceId: string): ToDeviceEvent[] {
    const record = this.#users.get(userId)?.get(deviceId);
    if (record === undefined) return [];
    return record.inbox.splice(0, record.inbox.length);
  }

  /** How many events are queued for a device. */
  pendingToDevice(userId: string, deviceId: string): number {
    return this.#users.get(userId)?.get(deviceId)?.inbox.length ?? 0;
  }

  /** `device_one_time_keys_count`: unclaimed one-time keys per algorithm. */
  oneTimeKeyCounts(userId: string, deviceId: string): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const keyId of this.#users.get(userId)?.get(deviceId)?.oneTimeKeys.keys() ?? []) {
      const algorithm = algorithmOf(keyId);
      counts[algorithm] = (counts[algorithm] ?? 0) + 1;
    }
    return counts;
  }

  /** `device_unused_fallback_key_types`: algorithms whose fallback key has not been claimed yet. */
  unusedFallbackKeyTypes(userId: string, deviceId: string): string[] {
    const record = this.#users.get(userId)?.get(deviceId);
    if (record === undefined) return [];
    const out = new Set<string>();
    for (const keyId of record.fallbackKeys.keys()) {
      const algorithm = algorithmOf(keyId);
      if (!record.usedFallbackAlgorithms.has(algorithm)) out.add(algorithm);
    }
    return [...out];
  }

  /**
   * Forgets a device's unclaimed one-time keys, as if other clients had claimed them all: the next claim
   * for it gets its fallback key. Returns how many were dropped.
   */
  dropOneTimeKeys(userId: string, deviceId: string): number {
    const keys = this.#users.get(userId)?.get(deviceId)?.oneTimeKeys;
    const count = keys?.size ?? 0;
    keys?.clear();
    return count;
  }

  /** The stored signed key objects of a device, for tests that inspect what was uploaded. */
  uploadedKeys(
    userId: string,
    deviceId: string,
  ): { deviceKeys: Record<string, unknown> | undefined; oneTimeKeys: string[]; fallbackKeys: string[] } {
    const record = this.#users.get(userId)?.get(deviceId);
    return {
      deviceKeys: record?.deviceKeys === undefined ? undefined : structuredClone(record.deviceKeys),
      oneTimeKeys: [...(record?.oneTimeKeys.keys() ?? [])],
      fallbackKeys: [...(record?.fallbackKeys.keys() ?? [])],
    };
  }

  // -------------------------------------------------------------------------------------------
  // Driving an OlmMachine

  /**
   * Answers one request of the machine (as returned by `outgoingRequests`, `shareRoomKey` and the like):
   * applies it to the server state and passes the response to `markRequestAsSent`.
   */
  async answer(machine: OlmMachine, request: OutgoingRequest): Promise<void> {
    const userId = machine.userId.toString();
    const deviceId = machine.deviceId.toString();
    const body = JSON.parse(request.body) as unknown;
    let response: unknown;
    switch (request.type) {
      case RequestType.KeysUpload:
        response = this.uploadKeys(userId, deviceId, body as KeysUploadBody);
        break;
      case RequestType.KeysQuery:
        response = this.queryKeys(body as KeysQueryBody);
        break;
      case RequestType.KeysClaim:
        response = this.claimKeys(body as KeysClaimBody);
        break;
      case RequestType.ToDevice:
        response = this.sendToDevice(userId, (request as ToDeviceRequest).event_type, body as SendToDeviceBody);
        break;
      case RequestType.SignatureUpload:
        response = { failures: {} };
        break;
      default:
        throw new Error(`FakeHomeserver: unsupported request type ${RequestType[request.type]}`);
    }
    // A signature upload made outside a verification has no id and needs no acknowledgement.
    if (request.id !== undefined) await machine.markRequestAsSent(request.id, request.type, JSON.stringify(response));
  }

  /**
   * Answers the machine's outgoing requests (keys upload/query, to-device, signature upload) until it has
   * none left. Returns how many requests were answered.
   */
  async flush(machine: OlmMachine): Promise<number> {
    let answered = 0;
    for (let round = 0; round < MAX_FLUSH_ROUNDS; round++) {
      const requests = await machine.outgoingRequests();
      if (requests.length === 0) return answered;
      for (const request of requests) await this.answer(machine, request);
      answered += requests.length;
    }
    throw new Error(`FakeHomeserver: the machine still had requests after ${MAX_FLUSH_ROUNDS} rounds`);
  }

  /**
   * Makes the machine claim keys for the devices of `userIds` it has no Olm session with, and answers the
   * claim. True when a claim was made. Call `flush` first so the machine knows the devices.
   */
  async claimMissingSessions(machine: OlmMachine, userIds: readonly string[]): Promise<boolean> {
    const request: KeysClaimRequest | null = await machine.getMissingSessions(userIds.map((u) => new UserId(u)));
    if (request === null) return false;
    const response = this.claimKeys(JSON.parse(request.body) as KeysClaimBody);
    await machine.markRequestAsSent(request.id, RequestType.KeysClaim, JSON.stringify(response));
    return true;
  }

  /**
   * One /sync for the machine: delivers its queued to-device events, the users who uploaded new device keys
   * since its last sync (`device_lists.changed`; rooms are not modelled, so every such user is listed) and
   * its key counts, then answers whatever requests that produced. Returns what `receiveSyncChanges`
   * returned (decrypted, plain-text, undecryptable and invalid events).
   */
  async sync(machine: OlmMachine): Promise<ProcessedToDeviceEvent[]> {
    const userId = machine.userId.toString();
    const deviceId = machine.deviceId.toString();
    const record = this.#device(userId, deviceId);
    const events = this.takeToDevice(userId, deviceId);
    const changed: UserId[] = [];
    for (const [user, version] of this.#deviceListChanges)
      if (version > record.syncedUpTo) changed.push(new UserId(user));
    record.syncedUpTo = this.#changeCounter;
    const counts = new Map(Object.entries(this.oneTimeKeyCounts(userId, deviceId)));
    const unusedFallback = new Set(this.unusedFallbackKeyTypes(userId, deviceId));
    const processed = await machine.receiveSyncChanges(
      JSON.stringify(events),
      new DeviceLists(changed),
      counts,
      unusedFallback,
    );
    await this.flush(machine);
    return processed;
  }
}
