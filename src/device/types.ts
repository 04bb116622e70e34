import type { DmlsAccount } from '../dmls/account.js';
import type { DeletionPolicy } from '../dmls/epoch-store.js';
import type { ForkChoicePolicy } from '../dmls/fork-choice.js';
import type { DmlsSuiteName } from '../dmls/provider.js';
import type { TriturusError } from '../errors.js';
import type { Curve25519PublicKey, Ed25519PublicKey } from '../keys.js';

/** Another device, as the SDK learned it from /keys/query (see `deviceInfoFromKeys`). */
export interface DeviceInfo {
  readonly userId: string;
  readonly deviceId: string;
  readonly curve25519Key: Curve25519PublicKey;
  readonly ed25519Key: Ed25519PublicKey;
  /** Its DMLS credential (`m.dmls.v1.credential.ed25519:<device>` in its signed device keys), if it publishes one. */
  readonly dmlsCredential?: Ed25519PublicKey;
}

/** DMLS rooms for this device (MSC2883): the device publishes an MLS credential and key packages. */
export interface DmlsDeviceOptions {
  /**
   * The DMLS engine: `DmlsAccount` from `triturus/dmls`. Passed in rather than imported by the Device, so
   * that an application without DMLS rooms never loads (or bundles) ts-mls.
   */
  readonly engine: Pick<typeof DmlsAccount, 'open'>;
  /** How many key packages to keep on the server (default 20); topped up when the server has fewer than half. */
  readonly keyPackages?: number;
  /** The suite of the key packages this device publishes (default suite 1, X25519/AES-128-GCM/Ed25519). */
  readonly suite?: DmlsSuiteName;
  /** Fork choice, identical on every member (default draft-kohbrok's netsplit rule). */
  readonly forkChoice?: ForkChoicePolicy;
  /** When an epoch's secrets go (default: 8 epochs, 7 days). */
  readonly deletion?: DeletionPolicy;
}

export interface DeviceOptions {
  readonly userId: string;
  readonly deviceId: string;
  /** 32 bytes; every record in the store is encrypted under it. */
  readonly pickleKey: Uint8Array;
  /** Lease length for cross-process exclusion. Default 500 ms. */
  readonly leaseDurationMs?: number;
  /** Give up waiting for another process's lease after this long. Default 30 s. */
  readonly leaseTimeoutMs?: number;
  /** Release the lease after each operation (lets another process take turns at once). Default false. */
  readonly releaseLeaseAfterEachOperation?: boolean;
  /** Room-key rotation defaults (Matrix defaults: 100 messages, one week). */
  readonly rotationPeriodMsgs?: number;
  readonly rotationPeriodMs?: number;
  /**
   * Outbound Megolm message indices reserved per store commit (default 256). Only a reserving
   * message commits; after a crash the session resumes past the reserved block, so at most this
   * many indices are skipped (they do not count towards rotation).
   */
  readonly outboundIndexReservation?: number;
  /**
   * Whether one of this user's own other devices is trusted (verified, in the SDK's terms). Only
   * such devices get room keys on request (`m.room_key_request`), and only from them is an
   * `m.forwarded_room_key` accepted. Without it, no device is trusted: requests are neither
   * answered nor are forwarded keys accepted.
   */
  readonly trustOwnDevice?: (device: DeviceInfo) => boolean | Promise<boolean>;
  /**
   * Whether a room event's decryption returns before its replay record is committed (default true).
   * The record (this session and message index belong to this event) is known to the Device at
   * once, so this process refuses a replay immediately, and a background flush commits the records
   * of many events together: on IndexedDB, SQLite or PostgreSQL an event then costs no commit of its
   * own. The price: if the process dies (or loses its lease) within a commit's time after a
   * decryption, that event's record may be lost, and a server replaying it under another event id
   * after a restart is not refused. Any other commit carries pending records, and `close()` commits
   * them. `false` commits each event's record before the event is returned. Off with
   * `releaseLeaseAfterEachOperation` (the lease ends with each operation).
   */
  readonly deferReplayRecords?: boolean;
  /** Send `m.room_key_request` for room events whose key is missing (default true). */
  readonly requestMissingRoomKeys?: boolean;
  /** DMLS rooms (off unless given). */
  readonly dmls?: DmlsDeviceOptions;
  /** Clock, for tests. */
  readonly now?: () => number;
}

/** A room's encryption settings (from `m.room.encryption` and `m.room.history_visibility`). */
export interface RoomSettings {
  /** The room's algorithm; default `m.megolm.v1.aes-sha2`. */
  readonly algorithm: string;
  /** Rotate the outbound session after this many messages (default: the Device's, 100). */
  readonly rotationPeriodMsgs: number;
  /** Rotate the outbound session after this long (default: the Device's, one week). */
  readonly rotationPeriodMs: number;
  /**
   * `m.room.history_visibility` (undefined until set): `shared` and `world_readable` mark the room's
   * keys `shared_history` (MSC3061), so they may later be given to members who join after.
   */
  readonly historyVisibility: 'invited' | 'joined' | 'shared' | 'world_readable' | undefined;
}

/** The `m.olm.v1.curve25519-aes-sha2` content of an encrypted to-device event. */
export interface OlmEncryptedContent {
  readonly algorithm: 'm.olm.v1.curve25519-aes-sha2';
  readonly sender_key: string;
  readonly ciphertext: { readonly [curve25519Key: string]: { readonly type: number; readonly body: string } };
}

/** An encrypted to-device event as it arrives in /sync. */
export interface EncryptedToDeviceEvent {
  readonly type: string;
  readonly sender: string;
  readonly content: { readonly [key: string]: unknown };
}

export interface DecryptedToDeviceEvent {
  readonly type: string;
  readonly content: { readonly [key: string]: unknown };
  readonly sender: string;
  /** The Curve25519 key of the Olm session that decrypted it (authenticated by Olm). */
  readonly senderKey: Curve25519PublicKey;
  /** The Ed25519 key the sender claims in the payload (`keys.ed25519`); checked when the device is known. */
  readonly senderClaimedEd25519: Ed25519PublicKey;
  /** The sending device when it is known (tracked with `trackDevices`). */
  readonly senderDevice: DeviceInfo | undefined;
  /** Set when the event was an `m.room_key` or `m.forwarded_room_key` (Megolm). */
  readonly roomKey?: RoomKeyInfo;
}

/** What became of a room key that arrived in a to-device event. */
export interface RoomKeyInfo {
  readonly roomId: string;
  readonly sessionId: string;
  /** True when it was stored (new, or better than the copy held: an earlier first index). */
  readonly isNew: boolean;
  /** For a forwarded key that was not stored: we did not ask for it, or the forwarding device is not trusted. */
  readonly refused?: 'NOT_REQUESTED' | 'UNTRUSTED_SENDER';
}

/** The `m.megolm.v1.aes-sha2` content of an encrypted room event. */
export interface MegolmEncryptedContent {
  readonly algorithm: 'm.megolm.v1.aes-sha2';
  readonly sender_key: string;
  readonly ciphertext: string;
  readonly session_id: string;
  readonly device_id: string;
}

export interface EncryptedRoomEvent {
  readonly type: string;
  readonly room_id?: string;
  readonly event_id: string;
  readonly sender: string;
  readonly origin_server_ts: number;
  readonly content: { readonly [key: string]: unknown };
}

export interface DecryptedRoomEvent {
  /** The decrypted event: its `type`, `content` and `room_id`. */
  readonly event: {
    readonly type: string;
    readonly content: { readonly [key: string]: unknown };
    readonly room_id: string;
  };
  /** The Curve25519 key of the device the room key came from (over Olm, or as the key's source claims). */
  readonly senderKey: Curve25519PublicKey;
  /** The Ed25519 key that device claimed for itself (absent for keys imported without one). */
  readonly senderClaimedEd25519: Ed25519PublicKey | undefined;
  readonly sessionId: string;
  readonly messageIndex: number;
  /** True when the room key came Olm-encrypted from its creator (not imported, not forwarded). */
  readonly verified: boolean;
  /** For forwarded or imported keys: the devices the key passed through, oldest first. */
  readonly forwardingCurve25519KeyChain: readonly Curve25519PublicKey[];
  /**
   * For DMLS rooms: the sending device and the epoch (`sessionId` is then the epoch's commit event
   * id, `messageIndex` its epoch number). A commit decrypts to the pseudo-event `m.dmls.commit`.
   */
  readonly dmls?: {
    readonly userId: string;
    readonly deviceId: string;
    readonly epoch: number;
    readonly commitEvent: string;
  };
}

/** The `m.room_key` content to share with room members. */
export interface RoomKeyContent {
  readonly algorithm: 'm.megolm.v1.aes-sha2';
  readonly room_id: string;
  readonly session_id: string;
  readonly session_key: string;
  /** MSC3061: set when the room's history is visible to members who join later. */
  readonly shared_history?: boolean;
}

/** The content of a DMLS room message (MSC2883). */
export interface DmlsEncryptedContent {
  readonly algorithm: string;
  readonly ciphertext: string;
  readonly epoch_creator: readonly [string, string];
  readonly commit_event?: string;
}

export interface RoomEncryptionResult {
  /** Megolm content, or DMLS content in a DMLS room (the room's algorithm decides). */
  readonly content: MegolmEncryptedContent | DmlsEncryptedContent;
  readonly sessionId: string;
  readonly messageIndex: number;
  /** Present while the session has not been shared through `shareRoomKey` yet: share it before sending. */
  readonly newRoomKey?: RoomKeyContent;
}

/** A room key in the Matrix export form (key-export files, backups, m.forwarded_room_key). */
export interface ExportedRoomKey {
  readonly algorithm: string;
  readonly room_id: string;
  readonly sender_key: string;
  readonly session_id: string;
  readonly session_key: string;
  readonly sender_claimed_keys: { readonly [algorithm: string]: string };
  readonly forwarding_curve25519_key_chain: readonly string[];
  /** MSC3061: the key was shared under a history visibility that lets later members read. */
  readonly shared_history?: boolean;
}

export interface ToDeviceMessage {
  readonly recipient: DeviceInfo;
  readonly type: 'm.room.encrypted';
  readonly content: OlmEncryptedContent;
}

export interface ShareRoomKeyResult {
  /** Encrypted `m.room_key` messages to send, one per device. */
  readonly messages: ToDeviceMessage[];
  /** Devices that have no Olm session yet: claim a one-time key for each and call again. */
  readonly missingSessions: DeviceInfo[];
}

/** What /keys/upload needs. */
export interface KeysUploadBody {
  readonly device_keys?: { readonly [key: string]: unknown };
  /** Signed Curve25519 keys (objects) and, with DMLS, key packages (`m.dmls.v1.key_package.<suite>:<id>`: base64). */
  readonly one_time_keys: { readonly [keyId: string]: { readonly [key: string]: unknown } | string };
  readonly fallback_keys: { readonly [keyId: string]: { readonly [key: string]: unknown } | string };
}

/** One result of a call that handles many events: the value, or the typed error for that event alone. */
export type EventResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: TriturusError };

/** An unencrypted to-device event, passed through (verification requests, key requests and so on). */
export interface PlaintextToDeviceEvent {
  readonly type: string;
  readonly sender: string;
  readonly content: { readonly [key: string]: unknown };
}

/** A DMLS welcome that was taken in: this device joined the room's group. */
export interface DmlsWelcomeEvent {
  readonly type: 'm.room.encrypted';
  readonly sender: string;
  readonly roomId: string;
  /** The epoch joined: its number and the event id of the commit that made it. */
  readonly epoch: number;
  readonly commitEvent: string;
}

/** A to-device event from /sync after `receiveSyncChanges`; `kind` tells them apart. */
export type ReceivedToDeviceEvent =
  | { readonly kind: 'olm'; readonly encrypted: true; readonly event: DecryptedToDeviceEvent }
  | { readonly kind: 'plaintext'; readonly encrypted: false; readonly event: PlaintextToDeviceEvent }
  | { readonly kind: 'dmls-welcome'; readonly encrypted: true; readonly event: DmlsWelcomeEvent };

/** What one /sync response carries for end-to-end encryption. */
export interface SyncChanges {
  /** `to_device.events`, in order. */
  readonly toDeviceEvents?: readonly EncryptedToDeviceEvent[];
  /** `device_one_time_keys_count`. */
  readonly oneTimeKeyCounts?: { readonly [algorithm: string]: number };
  /** `device_unused_fallback_key_types` (absent when the server does not report it). */
  readonly unusedFallbackKeyTypes?: readonly string[];
  /** `device_lists`: users whose devices changed, and users we no longer share a room with. */
  readonly changedDevices?: { readonly changed?: readonly string[]; readonly left?: readonly string[] };
}

export interface SyncResult {
  /** One result per to-device event, in order; a bad event never fails the others. */
  readonly toDevice: EventResult<ReceivedToDeviceEvent>[];
  /** True when there are keys to upload (`keysForUpload`). */
  readonly keysToUpload: boolean;
  /** Users whose device lists should be queried again (/keys/query), including earlier syncs' not yet re-tracked. */
  readonly usersToQuery: string[];
}

/** A to-device message the Device decided to send on its own (key requests, answers, session repair). */
export interface OutgoingToDevice {
  /** Stable until `markSent`: use it as the /sendToDevice transaction id. */
  readonly id: string;
  readonly type: string;
  /** `messages` of /sendToDevice: user id, then device id (or `*`), then content. */
  readonly messages: {
    readonly [userId: string]: { readonly [deviceId: string]: { readonly [key: string]: unknown } };
  };
}
