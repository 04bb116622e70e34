/**
 * The Matrix wire format of DMLS (MSC2883 shapes; docs/dmls.md has examples).
 *
 * Commit (room event m.room.encrypted):
 *   { algorithm: "m.dmls.v1.<suite>", ciphertext, epoch_creator: [user, device], commit_event?,
 *     sender: [user, device], resolves: [[epoch, [user, device], commit_event], …] }
 * Application message (room event m.room.encrypted):
 *   { algorithm: "m.dmls.v1.<suite>", ciphertext, epoch_creator: [user, device], commit_event? }
 * Welcome (to-device m.room.encrypted):
 *   { algorithm: "m.dmls.v1.welcome.<suite>", ciphertext, room_id, commit_event, epoch_creator, resolves }
 *
 * `epoch_creator` and `commit_event` name the epoch the ciphertext belongs to (for a commit: the
 * parent it was made on); a group's creation epoch has no commit event, so `commit_event` is
 * absent there. `ciphertext` is the unpadded base64 of an MLSMessage.
 */
import { decodeMlsMessage, type KeyPackage, type MLSMessage } from 'ts-mls';
import { decodeBase64, encodeBase64 } from '../encoding/base64.js';
import { DmlsError } from '../errors.js';
import { decodeMlsBytes } from './epoch-store.js';
import type { DmlsSuiteName } from './provider.js';

export type DeviceRef = readonly [userId: string, deviceId: string];

/** An epoch as MSC2883 names it. */
export interface EpochRef {
  readonly epoch: number;
  readonly creator: DeviceRef;
  /** The commit event that created it ('' for a group's creation epoch). */
  readonly commitEvent: string;
}

export interface CommitContent {
  readonly algorithm: string;
  readonly ciphertext: string;
  readonly epoch_creator: DeviceRef;
  readonly commit_event?: string;
  readonly sender: DeviceRef;
  readonly resolves: readonly (readonly [number, DeviceRef, string])[];
}

export interface MessageContent {
  readonly algorithm: string;
  readonly ciphertext: string;
  readonly epoch_creator: DeviceRef;
  readonly commit_event?: string;
}

export interface WelcomeContent {
  readonly algorithm: string;
  readonly ciphertext: string;
  readonly room_id: string;
  readonly commit_event: string;
  readonly epoch_creator: DeviceRef;
  readonly resolves: readonly (readonly [number, DeviceRef, string])[];
}

import { suiteOfAlgorithm, suiteOfWelcomeAlgorithm } from './names.js';

export {
  ALGORITHM_PREFIX,
  algorithmOf,
  suiteOfAlgorithm,
  suiteOfWelcomeAlgorithm,
  welcomeAlgorithmOf,
} from './names.js';

function bad(message: string, field?: string): DmlsError {
  return new DmlsError('DMLS_INVALID', message, field === undefined ? {} : { field });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(o: Record<string, unknown>, field: string, optional = false): string | undefined {
  const v = o[field];
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string') throw bad(`${field} must be a string`, field);
  return v;
}

function device(v: unknown, field: string): DeviceRef {
  if (
    !Array.isArray(v) ||
    v.length !== 2 ||
    typeof v[0] !== 'string' ||
    typeof v[1] !== 'string' ||
    v[0].length === 0 ||
    v[1].length === 0
  ) {
    throw bad(`${field} must be [user id, device id]`, field);
  }
  return [v[0], v[1]];
}

/** `resolves`: a list of [epoch, [user, device], commit_event?] (the event id may be absent). */
function resolvesOf(v: unknown): (readonly [number, DeviceRef, string | undefined])[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > 1000) throw bad('resolves must be a list', 'resolves');
  return v.map((r) => {
    if (!Array.isArray(r) || r.length < 2 || r.length > 3) throw bad('a resolves entry is malformed', 'resolves');
    const [epoch, creator, event] = r as unknown[];
    if (!Number.isSafeInteger(epoch) || (epoch as number) < 0) throw bad('a resolves epoch is malformed', 'resolves');
    if (event !== undefined && typeof event !== 'string') throw bad('a resolves event id is malformed', 'resolves');
    return [epoch as number, device(creator, 'resolves'), event as string | undefined] as const;
  });
}

function ciphertextOf(o: Record<string, unknown>): { bytes: Uint8Array; message: MLSMessage } {
  const text = str(o, 'ciphertext')!;
  let bytes: Uint8Array;
  try {
    bytes = decodeBase64(text);
  } catch {
    throw bad('ciphertext must be base64', 'ciphertext');
  }
  return { bytes, message: decodeMlsBytes(bytes) };
}

export interface ParsedCommit {
  readonly suite: DmlsSuiteName;
  readonly parent: { readonly creator: DeviceRef; readonly commitEvent: string };
  readonly sender: DeviceRef;
  readonly resolves: readonly (readonly [number, DeviceRef, string | undefined])[];
  readonly ciphertext: Uint8Array;
  readonly message: MLSMessage;
}

function contentObject(content: unknown): Record<string, unknown> {
  if (!isObject(content)) throw bad('the event content must be an object');
  return content;
}

export function parseCommitContent(content: unknown): ParsedCommit {
  const o = contentObject(content);
  const suite = suiteOfAlgorithm(o.algorithm);
  if (suite === undefined) throw bad('algorithm is not a DMLS algorithm triturus offers', 'algorithm');
  if (o.sender === undefined) throw bad('a commit must name its sender', 'sender');
  const { bytes, message } = ciphertextOf(o);
  if (message.wireformat !== 'mls_public_message' && message.wireformat !== 'mls_private_message') {
    throw bad('a commit must carry an MLS public or private message', 'ciphertext');
  }
  return {
    suite,
    parent: { creator: device(o.epoch_creator, 'epoch_creator'), commitEvent: str(o, 'commit_event', true) ?? '' },
    sender: device(o.sender, 'sender'),
    resolves: resolvesOf(o.resolves),
    ciphertext: bytes,
    message,
  };
}

export interface ParsedMessage {
  readonly suite: DmlsSuiteName;
  readonly epoch: { readonly creator: DeviceRef; readonly commitEvent: string };
  readonly message: MLSMessage & { wireformat: 'mls_private_message' };
}

export function parseMessageContent(content: unknown): ParsedMessage {
  const o = contentObject(content);
  const suite = suiteOfAlgorithm(o.algorithm);
  if (suite === undefined) throw bad('algorithm is not a DMLS algorithm triturus offers', 'algorithm');
  if (o.sender !== undefined) throw bad('a commit was given where an application message was expected', 'sender');
  const { message } = ciphertextOf(o);
  if (message.wireformat !== 'mls_private_message') {
    throw bad('an application message must be an MLS private message', 'ciphertext');
  }
  return {
    suite,
    epoch: { creator: device(o.epoch_creator, 'epoch_creator'), commitEvent: str(o, 'commit_event', true) ?? '' },
    message,
  };
}

export interface ParsedWelcome {
  readonly suite: DmlsSuiteName;
  readonly roomId: string;
  readonly commitEvent: string;
  readonly creator: DeviceRef;
  readonly resolves: readonly (readonly [number, DeviceRef, string | undefined])[];
  readonly message: MLSMessage & { wireformat: 'mls_welcome' };
}

export function parseWelcomeContent(content: unknown): ParsedWelcome {
  const o = contentObject(content);
  const suite = suiteOfWelcomeAlgorithm(o.algorithm);
  if (suite === undefined) throw bad('algorithm is not a DMLS welcome algorithm triturus offers', 'algorithm');
  const roomId = str(o, 'room_id')!;
  const commitEvent = str(o, 'commit_event')!;
  const { message } = ciphertextOf(o);
  if (message.wireformat !== 'mls_welcome') throw bad('a welcome must carry an MLS Welcome', 'ciphertext');
  if (message.welcome.cipherSuite !== suite) throw bad("the Welcome's suite is not the algorithm's", 'algorithm');
  return {
    suite,
    roomId,
    commitEvent,
    creator: device(o.epoch_creator, 'epoch_creator'),
    resolves: resolvesOf(o.resolves),
    message,
  };
}

export function base64Of(bytes: Uint8Array): string {
  return encodeBase64(bytes);
}

/** Decodes a key package from its upload form (unpadded base64 of an MLSMessage). */
export function keyPackageFromUpload(value: unknown): KeyPackage {
  if (typeof value !== 'string') throw new DmlsError('DMLS_INVALID', 'a key package must be a base64 string');
  let bytes: Uint8Array;
  try {
    bytes = decodeBase64(value);
  } catch {
    throw new DmlsError('DMLS_INVALID', 'a key package must be base64');
  }
  let decoded: ReturnType<typeof decodeMlsMessage>;
  try {
    decoded = decodeMlsMessage(bytes, 0);
  } catch (cause) {
    throw new DmlsError('DMLS_INVALID', 'the key package does not decode', {}, { cause });
  }
  if (decoded === undefined || decoded[1] !== bytes.length || decoded[0].wireformat !== 'mls_key_package') {
    throw new DmlsError('DMLS_INVALID', 'the key package does not decode');
  }
  return decoded[0].keyPackage;
}
