/**
 * A minimal triturus "device" for interop tests: an Olm Account with a Matrix user and device id, the
 * Olm sessions it has per peer Curve25519 key, and helpers to publish its keys to a `FakeHomeserver` and
 * to encrypt and decrypt `m.olm.v1.curve25519-aes-sha2` to-device events (Matrix client-server API,
 * "m.olm.v1.curve25519-aes-sha2").
 *
 * It applies no policy: it does not check the decrypted payload's `sender`/`recipient`/`keys` binding (tests
 * assert those themselves) and keeps every session it makes. A real device lives in src/device.
 */
import {
  Account,
  Curve25519PublicKey,
  type Ed25519PublicKey,
  type OlmMessage,
  olmMessageFromParts,
  PreKeyMessage,
  type Session,
  SessionConfig,
} from '../../src/index.js';
import { type DeviceKeys, deviceKeysOf, type Signer, signedFallbackKeys, signedOneTimeKeys } from './device-keys.js';
import type { FakeHomeserver, KeysUploadBody, ToDeviceEvent } from './fake-homeserver.js';

export const OLM_ALGORITHM = 'm.olm.v1.curve25519-aes-sha2';

/** The public identity of a device we talk to. */
export interface PeerDevice {
  readonly userId: string;
  readonly deviceId: string;
  readonly curve25519: Curve25519PublicKey;
  readonly ed25519: Ed25519PublicKey;
}

/** The plaintext of an Olm-encrypted to-device event (Matrix spec, "m.olm.v1.curve25519-aes-sha2"). */
export interface OlmPayload {
  readonly type: string;
  readonly content: Record<string, unknown>;
  readonly sender: string;
  readonly recipient: string;
  readonly recipient_keys: { readonly ed25519: string };
  readonly keys: { readonly ed25519: string };
  readonly [field: string]: unknown;
}

export interface OlmEventContent {
  readonly algorithm: string;
  readonly sender_key: string;
  readonly ciphertext: Record<string, { type: 0 | 1; body: string }>;
}

export interface DecryptedToDevice {
  readonly payload: OlmPayload;
  readonly session: Session;
  /** 0 for a pre-key message, 1 for a normal one. */
  readonly messageType: 0 | 1;
  /** True when this message created the session. */
  readonly newSession: boolean;
}

export interface PublishOptions {
  /** Include the signed `device_keys`. Default true. */
  readonly deviceKeys?: boolean;
  /** Generate and publish this many one-time keys. Default 0. */
  readonly oneTimeKeys?: number;
  /** Generate and publish a new fallback key. Default false. */
  readonly fallbackKey?: boolean;
}

export class TriturusDevice implements Signer {
  readonly account: Account;
  readonly userId: string;
  readonly deviceId: string;
  /** Sessions by the peer's Curve25519 key (base64), oldest first. */
  readonly sessions: Map<string, Session[]> = new Map();

  constructor(userId: string, deviceId: string, account: Account = Account.create()) {
    this.userId = userId;
    this.deviceId = deviceId;
    this.account = account;
  }

  get curve25519(): Curve25519PublicKey {
    return this.account.curve25519Key;
  }

  get ed25519(): Ed25519PublicKey {
    return this.account.ed25519Key;
  }

  /** This device as a peer of another one. */
  get asPeer(): PeerDevice {
    return { userId: this.userId, deviceId: this.deviceId, curve25519: this.curve25519, ed25519: this.ed25519 };
  }

  deviceKeys(): DeviceKeys {
    return deviceKeysOf(this);
  }

  /**
   * A `/keys/upload` body: the signed device keys and newly generated signed one-time and fallback keys.
   * The account marks its keys published, as a client does once the upload succeeded.
   */
  keysUploadBody(options: PublishOptions = {}): KeysUploadBody {
    if ((options.oneTimeKeys ?? 0) > 0) this.account.generateOneTimeKeys(options.oneTimeKeys ?? 0);
    if (options.fallbackKey === true) this.account.generateFallbackKey();
    const body: KeysUploadBody = {
      ...(options.deviceKeys === false ? {} : { device_keys: { ...this.deviceKeys() } }),
      one_time_keys: signedOneTimeKeys(this),
      fallback_keys: signedFallbackKeys(this),
    };
    this.account.markKeysAsPublished();
    return body;
  }

  /** Uploads `keysUploadBody(options)` to the server. */
  publish(server: FakeHomeserver, options: PublishOptions = {}): void {
    server.uploadKeys(this.userId, this.deviceId, this.keysUploadBody(options));
  }

  /** Creates an outbound session to `peer` on a claimed one-time (or fallback) key and keeps it. */
  startSession(peer: PeerDevice, oneTimeKey: Curve25519PublicKey): Session {
    const session = this.account.createOutboundSession(SessionConfig.version1(), peer.curve25519, oneTimeKey);
    this.#keep(peer.curve25519, session);
    return session;
  }

  /** The session most recently created with `peer`, if any. */
  latestSession(peer: Curve25519PublicKey): Session | undefined {
    return this.sessions.get(peer.toBase64())?.at(-1);
  }

  /** The Olm plaintext for an event of `type` with `content` sent to `peer`. */
  payloadFor(peer: PeerDevice, type: string, content: Record<string, unknown>): OlmPayload {
    return {
      type,
      content,
      sender: this.userId,
      recipient: peer.userId,
      recipient_keys: { ed25519: peer.ed25519.toBase64() },
      keys: { ed25519: this.ed25519.toBase64() },
    };
  }

  /**
   * The `content` of an `m.room.encrypted` to-device event carrying `type`/`content` to `peer`, encrypted
   * with `session` (by default the latest session with that peer).
   */
  encryptToDevice(
    peer: PeerDevice,
    type: string,
    content: Record<string, unknown>,
    session: Session | undefined = this.latestSession(peer.curve25519),
  ): OlmEventContent {
    return this.encryptPayload(peer, this.payloadFor(peer, type, content), session);
  }

  /** Like `encryptToDevice` with a payload of the caller's making (e.g. a deliberately wrong binding). */
  encryptPayload(
    peer: PeerDevice,
    payload: Record<string, unknown>,
    session: Session | undefined = this.latestSession(peer.curve25519),
  ): OlmEventContent {
    if (session === undefined) throw new Error(`no Olm session with ${peer.userId} ${peer.deviceId}`);
    const message = session.encrypt(JSON.stringify(payload));
    return {
      algorithm: OLM_ALGORITHM,
      sender_key: this.curve25519.toBase64(),
      ciphertext: { [peer.curve25519.toBase64()]: { type: message.type, body: message.toBase64() } },
    };
  }

  /** A whole to-device event as the server would deliver it to `peer`. */
  toDeviceEvent(peer: PeerDevice, type: string, content: Record<string, unknown>): ToDeviceEvent {
    return { type: 'm.room.encrypted', sender: this.userId, content: { ...this.encryptToDevice(peer, type, content) } };
  }

  /**
   * Decrypts an `m.room.encrypted` Olm to-device event addressed to this device: existing sessions with the
   * sender key first (for a pre-key message, only the session it started), then, for a pre-key message, a
   * new inbound session. Throws the last decryption error when nothing opens it.
   */
  decryptToDevice(event: ToDeviceEvent): DecryptedToDevice {
    const content = event.content as Partial<OlmEventContent>;
    if (event.type !== 'm.room.encrypted' || content.algorithm !== OLM_ALGORITHM) {
      throw new Error(`not an Olm to-device event: ${event.type} ${String(content.algorithm)}`);
    }
    const senderKey = content.sender_key;
    const part = content.ciphertext?.[this.curve25519.toBase64()];
    if (typeof senderKey !== 'string' || part === undefined) throw new Error('no ciphertext for this device');
    const message: OlmMessage = olmMessageFromParts(part.type, part.body);
    const known = this.sessions.get(senderKey) ?? [];
    let lastError: unknown;
    for (const session of [...known].reverse()) {
      if (message instanceof PreKeyMessage && !session.matchesInboundSession(message)) continue;
      try {
        const plaintext = session.decryptText(message);
        return { payload: parsePayload(plaintext), session, messageType: message.type, newSession: false };
      } catch (error) {
        lastError = error;
      }
    }
    if (!(message instanceof PreKeyMessage)) throw lastError ?? new Error('no Olm session with the sender key');
    // The outer sender_key must be the key that started the session (SESSION_MISMATCH otherwise).
    const sender = Curve25519PublicKey.fromBase64(senderKey);
    const { session, plaintext } = this.account.createInboundSession(sender, message);
    this.#keep(sender, session);
    return {
      payload: parsePayload(new TextDecoder('utf-8', { fatal: true }).decode(plaintext)),
      session,
      messageType: 0,
      newSession: true,
    };
  }

  #keep(peer: Curve25519PublicKey, session: Session): void {
    const list = this.sessions.get(peer.toBase64());
    if (list === undefined) this.sessions.set(peer.toBase64(), [session]);
    else list.push(session);
  }

  /** Wipes the account and every session. */
  free(): void {
    for (const list of this.sessions.values()) for (const session of list) session.free();
    this.sessions.clear();
    this.account.free();
  }
}

function parsePayload(text: string): OlmPayload {
  const value = JSON.parse(text) as unknown;
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new Error('Olm payload is not an object');
  return value as OlmPayload;
}
