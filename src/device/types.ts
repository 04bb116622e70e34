import type { Curve25519PublicKey, Ed25519PublicKey } from '../keys.js';

/** Another device, as the SDK learned it from /keys/query (see `deviceInfoFromKeys`). */
export interface DeviceInfo {
  readonly userId: string;
  readonly deviceId: string;
  readonly curve25519Key: Curve25519PublicKey;
  readonly ed25519Key: Ed25519PublicKey;
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
  /** Clock, for tests. */
  readonly now?: () => number;
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
  readonly senderClaimedEd25519: string;
  /** The sending device when it is known (tracked with `trackDevices`). */
  readonly senderDevice: DeviceInfo | undefined;
  /** Set when the event was an `m.room_key` and the room key was stored. */
  readonly roomKey?: { readonly roomId: string; readonly sessionId: string; readonly isNew: boolean };
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
  readonly senderKey: string;
  readonly senderClaimedEd25519: string | undefined;
  readonly sessionId: string;
  readonly messageIndex: number;
  /** True when the room key came Olm-encrypted from its creator (not imported, not forwarded). */
  readonly verified: boolean;
  readonly forwardingCurve25519KeyChain: readonly string[];
}

/** The `m.room_key` content to share with room members. */
export interface RoomKeyContent {
  readonly algorithm: 'm.megolm.v1.aes-sha2';
  readonly room_id: string;
  readonly session_id: string;
  readonly session_key: string;
}

export interface RoomEncryptionResult {
  readonly content: MegolmEncryptedContent;
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
  readonly one_time_keys: { readonly [keyId: string]: { readonly [key: string]: unknown } };
  readonly fallback_keys: { readonly [keyId: string]: { readonly [key: string]: unknown } };
}
