/**
 * How the Device lays its objects out in a KeyStore. Every `data` string is encrypted under the
 * device's pickle key: Olm accounts and sessions are their own pickles; group sessions travel
 * with metadata (who sent them, whether they are verified, whom an outbound session was shared
 * with), sealed together in one record envelope so the metadata is authenticated too.
 */
import { ByteReader, ByteWriter } from '../encoding/binary.js';
import { PickleError } from '../errors.js';
import { openPickle, PickleKind, parsePickleBody, sealPickle } from '../pickle.js';
import type { StoredRecord } from '../store/types.js';

export const ACCOUNT_SCHEMA = 1;
export const OLM_SESSION_SCHEMA = 1;
export const INBOUND_GROUP_SCHEMA = 1;
export const OUTBOUND_GROUP_SCHEMA = 1;

/** Seals an object's pickle and its metadata into one record. */
export function sealRecord(schema: number, meta: unknown, pickle: string, pickleKey: Uint8Array): StoredRecord {
  const body = new ByteWriter(pickle.length + 256).string(JSON.stringify(meta)).string(pickle).finish();
  return { schema, data: sealPickle(PickleKind.record, body, pickleKey) };
}

export function openRecord<M>(
  record: StoredRecord,
  expectedSchema: number,
  pickleKey: Uint8Array,
): { meta: M; pickle: string } {
  if (record.schema !== expectedSchema) {
    throw new PickleError('PICKLE_UNSUPPORTED_VERSION', 'the stored record has an unknown schema', {
      expected: expectedSchema,
      actual: record.schema,
    });
  }
  const body = openPickle(PickleKind.record, record.data, pickleKey);
  return parsePickleBody(body, (bytes) => {
    const reader = new ByteReader(bytes);
    const meta = JSON.parse(reader.string()) as M;
    const pickle = reader.string();
    reader.end();
    return { meta, pickle };
  });
}

/** Metadata of an inbound group session. */
export interface InboundMeta {
  readonly roomId: string;
  /** Curve25519 key of the device the session came from (the Olm session it arrived over). */
  readonly senderKey: string;
  /** The Ed25519 key that device claimed. */
  readonly senderClaimedEd25519: string | undefined;
  /** The user that device belongs to, as the homeserver named it on the to-device event (when known). */
  readonly senderUserId?: string | undefined;
  /** 'room_key' (from its creator over Olm), 'own' (we created it), 'import', 'forwarded'. */
  readonly source: 'room_key' | 'own' | 'import' | 'forwarded';
  readonly forwardingChain: readonly string[];
  /** MSC3061 `shared_history`: the key was shared under a visibility that lets later members read. */
  readonly sharedHistory?: boolean;
}

/** One device an outbound session was shared with. */
export interface SharedWith {
  /** `userId|deviceId|curve25519`. */
  readonly device: string;
  /** The first message index the device can decrypt. */
  readonly index: number;
  /** False until the caller confirms the to-device message went out (`markRoomKeySent`). */
  readonly sent: boolean;
}

/** Metadata of an outbound group session. */
export interface OutboundMeta {
  readonly createdAt: number;
  /** Indices below this may have been used by some process: a reload starts here (no index reuse). */
  readonly reservedUntil: number;
  /** Indices skipped by reloads (never used for a message): they do not count towards rotation. */
  readonly skipped: number;
  readonly sharedWith: readonly SharedWith[];
  /**
   * The signed session key at the session's first index (base64). While nobody has the session,
   * this is what is shared, so messages encrypted before the first share stay readable.
   */
  readonly initialKey?: string;
}
