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
/**
 * Group session records. Schema 1 held the session's own sealed pickle inside the sealed record (two
 * seals to write and two to open); schema 2 holds the session's pickle body, sealed once with the
 * metadata. Both are read; schema 2 is written.
 */
export const INBOUND_GROUP_SCHEMA = 2;
export const OUTBOUND_GROUP_SCHEMA = 2;
const LEGACY_GROUP_SCHEMA = 1;

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

/** Seals a group session's body (wiped here) and its metadata into one record of `schema`. */
export function sealSessionRecord(
  schema: number,
  meta: unknown,
  sessionBody: Uint8Array,
  pickleKey: Uint8Array,
): StoredRecord {
  const writer = new ByteWriter(sessionBody.length + 256).string(JSON.stringify(meta)).bytes(sessionBody);
  sessionBody.fill(0);
  const body = writer.finish();
  try {
    return { schema, data: sealPickle(PickleKind.record, body, pickleKey) };
  } finally {
    body.fill(0);
  }
}

/** Opens a group session record of `schema` (or of the legacy schema 1, whose inner pickle is sealed again). */
export function openSessionRecord<M, S>(
  record: StoredRecord,
  schema: number,
  pickleKey: Uint8Array,
  session: { fromBody(body: Uint8Array): S; fromPickle(pickle: string, pickleKey: Uint8Array): S },
): { meta: M; session: S } {
  if (record.schema === LEGACY_GROUP_SCHEMA) {
    const { meta, pickle } = openRecord<M>(record, LEGACY_GROUP_SCHEMA, pickleKey);
    return { meta, session: session.fromPickle(pickle, pickleKey) };
  }
  if (record.schema !== schema) {
    throw new PickleError('PICKLE_UNSUPPORTED_VERSION', 'the stored record has an unknown schema', {
      expected: schema,
      actual: record.schema,
    });
  }
  const body = openPickle(PickleKind.record, record.data, pickleKey);
  const { meta, inner } = parsePickleBody(body, (bytes) => {
    const reader = new ByteReader(bytes);
    const meta = JSON.parse(reader.string()) as M;
    const inner = reader.bytes();
    reader.end();
    return { meta, inner };
  });
  return { meta, session: session.fromBody(inner) };
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
