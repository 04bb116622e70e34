/**
 * The in-memory states the DeviceContext caches while it holds the lease: Olm sessions per sender
 * key, inbound group sessions with their meta, and each room's outbound group session. Internal to
 * the Device (see context.ts).
 */

import type { Curve25519PublicKey, Ed25519PublicKey } from '../keys.js';
import type { GroupSession, InboundGroupSession, SessionKey } from '../megolm/index.js';
import type { Session } from '../olm/session.js';
import type { InboundMeta, OutboundMeta } from './records.js';
import type { RoomSettings } from './types.js';

export interface OlmState {
  readonly session: Session;
  lastUsedAt: number;
}

export interface InboundState {
  readonly session: InboundGroupSession;
  readonly meta: InboundMeta;
  /**
   * The id it is stored under: the session id for the first copy of a session, and
   * `<session id>\u001f<sender key>` for a copy that arrived from another device. Anyone holding a
   * room key can re-send it as their own m.room_key; keeping copies apart by sender means the
   * first copy to arrive cannot take over the attribution of the real sender's messages.
   */
  readonly storeId: string;
  /** The meta's keys as key objects for results, made once (see room-events-in.ts). */
  resultKeys?: {
    readonly senderKey: Curve25519PublicKey | undefined;
    readonly claimed: Ed25519PublicKey | undefined;
    readonly chain: readonly Curve25519PublicKey[];
  };
}

export interface OutboundState {
  readonly session: GroupSession;
  meta: OutboundMeta;
  /** The room's settings when the state was loaded (updated by `setRoomSettings`): the rotation limits. */
  settings: RoomSettings;
  /** `meta.initialKey` decoded once (decoding verifies its signature, ~100 µs). */
  initialKey?: SessionKey;
}
