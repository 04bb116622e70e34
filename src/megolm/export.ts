/**
 * Key-export files (Matrix client-server spec, "Key exports"): a list of Megolm sessions with
 * their room metadata, encrypted under a passphrase.
 *
 *   bytes  = 0x01 | salt (16) | IV (16) | rounds (u32 BE) | AES-256-CTR(K, IV, JSON) | HMAC-SHA256(K', all before)
 *   K ‖ K' = PBKDF2(HMAC-SHA512, passphrase, salt, rounds, 64 bytes)
 *   file   = "-----BEGIN MEGOLM SESSION DATA-----\n" base64(bytes) in lines "\n-----END MEGOLM SESSION DATA-----\n"
 *
 * The spec asks for IV bit 63 to be zero (some AES-CTR implementations carry only into the low
 * 64 bits) and at least 100 000 rounds. The PBKDF2 work runs in chunks and reports progress.
 * The JSON plaintext holds session keys: its bytes are wiped after use, but the JSON strings
 * JavaScript builds on the way cannot be (see SECURITY.md).
 */

import { aes256Ctr, constantTimeEqual, hmacSha256, randomBytes } from '../crypto/index.js';
import { pbkdf2HmacSha512Chunked } from '../crypto/pbkdf2.js';
import { decodeBase64, encodeBase64 } from '../encoding/base64.js';
import { TextDecoder, TextEncoder } from '../encoding/text.js';
import { DecodeError, DecryptionError, invalidArgument, TriturusError } from '../errors.js';
import { ExportedSessionKey } from './messages.js';

export const MEGOLM_V1_ALGORITHM = 'm.megolm.v1.aes-sha2';
/** OWASP's 2023 recommendation for PBKDF2-HMAC-SHA512; the spec's floor is 100 000. */
export const KEY_EXPORT_DEFAULT_ROUNDS = 210_000;
/** Files asking for more rounds are refused by default: a hostile file could otherwise hang an import. */
export const KEY_EXPORT_MAX_ROUNDS = 5_000_000;

const HEADER = '-----BEGIN MEGOLM SESSION DATA-----';
const FOOTER = '-----END MEGOLM SESSION DATA-----';
const VERSION = 1;
const SALT_LENGTH = 16;
const IV_LENGTH = 16;
const MAC_LENGTH = 32;
const PREFIX_LENGTH = 1 + SALT_LENGTH + IV_LENGTH + 4;
// Element wraps at 96 characters (72 bytes per line); readers join the lines, so any width works.
const LINE_LENGTH = 96;
const UTF8 = new TextEncoder();
const UTF8_FATAL = new TextDecoder('utf-8', { fatal: true });

/** One exported session with its Matrix metadata (an entry of the export's JSON array). */
export interface RoomKeyExport {
  /** `m.megolm.v1.aes-sha2` for Megolm v1 sessions. */
  readonly algorithm: string;
  readonly roomId: string;
  /** The sender device's Curve25519 key (unpadded base64). */
  readonly senderKey: string;
  readonly sessionId: string;
  readonly sessionKey: ExportedSessionKey;
  /** Keys the sender claims, usually `{ ed25519: <device key> }`. */
  readonly senderClaimedKeys: Readonly<Record<string, string>>;
  /** Curve25519 keys of the devices that forwarded the session to us (usually empty). */
  readonly forwardingCurve25519KeyChain: readonly string[];
  /** MSC3061: whether the session may be shared with users invited later. */
  readonly sharedHistory?: boolean;
}

/** Progress of the PBKDF2 work: rounds done and the total. */
export type KeyExportProgress = (done: number, total: number) => void;

export interface EncryptKeyExportOptions {
  /** PBKDF2 rounds, 1 to 2^32 - 1 (default KEY_EXPORT_DEFAULT_ROUNDS). Keep ≥ 100 000 outside tests. */
  readonly rounds?: number;
  readonly onProgress?: KeyExportProgress;
}

export interface DecryptKeyExportOptions {
  readonly onProgress?: KeyExportProgress;
  /** Refuse files asking for more PBKDF2 rounds than this (default KEY_EXPORT_MAX_ROUNDS). */
  readonly maxRounds?: number;
}

/** Options accepted by both directions (a convenience for callers that pass one object to both). */
export type KeyExportOptions = EncryptKeyExportOptions & DecryptKeyExportOptions;

function malformed(message: string, details: { field?: string; actual?: number; expected?: number } = {}): DecodeError {
  return new DecodeError('KEY_EXPORT_MALFORMED', message, details);
}

function checkString(value: unknown, what: string): string {
  if (typeof value !== 'string') throw invalidArgument(`${what} must be a string`);
  return value;
}

/**
 * The Matrix JSON form of an entry (snake_case keys, `session_key` as base64), as key-export
 * files and SDK `exportRoomKeys` APIs carry it. The result holds the session key in clear.
 */
export function roomKeyExportToJson(entry: RoomKeyExport): Record<string, unknown> {
  return toJsonEntry(entry, 0, 'entry');
}

/** Reads one entry of the Matrix JSON form (DecodeError KEY_EXPORT_MALFORMED if it is not one). */
export function roomKeyExportFromJson(value: unknown): RoomKeyExport {
  return fromJsonEntry(value, 0);
}

function toJsonEntry(entry: RoomKeyExport, i: number, name?: string): Record<string, unknown> {
  const at = name ?? `sessions[${i}]`;
  if (entry === null || typeof entry !== 'object') throw invalidArgument(`${at} must be an object`);
  if (!(entry.sessionKey instanceof ExportedSessionKey)) {
    throw invalidArgument(`${at}.sessionKey must be an ExportedSessionKey`);
  }
  const sessionId = checkString(entry.sessionId, `${at}.sessionId`);
  if (sessionId !== entry.sessionKey.sessionId) {
    throw invalidArgument(`${at}.sessionId does not match its session key`);
  }
  const claimed = entry.senderClaimedKeys;
  if (claimed === null || typeof claimed !== 'object' || Array.isArray(claimed)) {
    throw invalidArgument(`${at}.senderClaimedKeys must be an object of strings`);
  }
  for (const [k, v] of Object.entries(claimed)) checkString(v, `${at}.senderClaimedKeys.${k}`);
  const chain = entry.forwardingCurve25519KeyChain;
  if (!Array.isArray(chain)) throw invalidArgument(`${at}.forwardingCurve25519KeyChain must be an array of strings`);
  for (const [j, k] of chain.entries()) checkString(k, `${at}.forwardingCurve25519KeyChain[${j}]`);
  if (entry.sharedHistory !== undefined && typeof entry.sharedHistory !== 'boolean') {
    throw invalidArgument(`${at}.sharedHistory must be a boolean`);
  }
  const json: Record<string, unknown> = {
    algorithm: checkString(entry.algorithm, `${at}.algorithm`),
    forwarding_curve25519_key_chain: [...chain],
    room_id: checkString(entry.roomId, `${at}.roomId`),
    sender_claimed_keys: { ...claimed },
    sender_key: checkString(entry.senderKey, `${at}.senderKey`),
    session_id: sessionId,
    session_key: entry.sessionKey.toBase64(),
  };
  if (entry.sharedHistory !== undefined) json.shared_history = entry.sharedHistory;
  return json;
}

function checkOptions(options: unknown): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw invalidArgument('options must be an object');
  }
  const onProgress = (options as { onProgress?: unknown }).onProgress;
  if (onProgress !== undefined && typeof onProgress !== 'function')
    throw invalidArgument('onProgress must be a function');
}

async function deriveKeys(
  passphrase: string,
  salt: Uint8Array,
  rounds: number,
  onProgress: KeyExportProgress | undefined,
): Promise<Uint8Array> {
  const password = UTF8.encode(passphrase);
  // Equivalent mutants: `onProgress === undefined` → false (pbkdf2 treats an undefined callback as
  // absent), and the finally block emptied (a wipe of the passphrase bytes, not observable).
  try {
    return await pbkdf2HmacSha512Chunked(password, salt, rounds, 64, onProgress === undefined ? {} : { onProgress });
  } finally {
    password.fill(0);
  }
}

function armor(bytes: Uint8Array): string {
  // Standard base64 with padding, as Element writes it; every reader accepts it.
  let text = encodeBase64(bytes);
  text += '='.repeat((4 - (text.length % 4)) % 4);
  const lines = [HEADER];
  for (let i = 0; i < text.length; i += LINE_LENGTH) lines.push(text.slice(i, i + LINE_LENGTH));
  lines.push(FOOTER);
  return `${lines.join('\n')}\n`;
}

/** Encrypts sessions into a key-export file under `passphrase`. */
export async function encryptKeyExport(
  sessions: readonly RoomKeyExport[],
  passphrase: string,
  options: EncryptKeyExportOptions = {},
): Promise<string> {
  if (!Array.isArray(sessions)) throw invalidArgument('sessions must be an array');
  checkString(passphrase, 'the passphrase');
  checkOptions(options);
  const rounds = options.rounds === undefined ? KEY_EXPORT_DEFAULT_ROUNDS : options.rounds;
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 0xffffffff) {
    throw invalidArgument('rounds must be an integer from 1 to 2^32 - 1', {
      actual: typeof rounds === 'number' ? rounds : Number.NaN,
    });
  }
  // A loop, not map: map skips the holes of a sparse array, which would be written as null.
  const entries: Record<string, unknown>[] = [];
  for (let i = 0; i < sessions.length; i++) entries.push(toJsonEntry(sessions[i]!, i));
  const plaintext = UTF8.encode(JSON.stringify(entries));
  const salt = randomBytes(SALT_LENGTH);
  const iv = randomBytes(IV_LENGTH);
  iv[8]! &= 0x7f; // bit 63 of the big-endian 128-bit IV
  const keys = await deriveKeys(passphrase, salt, rounds, options.onProgress);
  try {
    const ciphertext = aes256Ctr(keys.subarray(0, 32), iv, plaintext);
    const out = new Uint8Array(PREFIX_LENGTH + ciphertext.length + MAC_LENGTH);
    out[0] = VERSION;
    out.set(salt, 1);
    out.set(iv, 1 + SALT_LENGTH);
    out[33] = rounds >>> 24;
    out[34] = rounds >>> 16;
    out[35] = rounds >>> 8;
    out[36] = rounds;
    out.set(ciphertext, PREFIX_LENGTH);
    const end = PREFIX_LENGTH + ciphertext.length;
    out.set(hmacSha256(keys.subarray(32, 64), out.subarray(0, end)), end);
    return armor(out);
  } finally {
    // Equivalent mutant (an empty block): a wipe of secrets, not observable through the API.
    keys.fill(0);
    plaintext.fill(0);
  }
}

function unarmor(text: string): Uint8Array {
  const trimmed = text.trim();
  if (!trimmed.startsWith(HEADER) || !trimmed.endsWith(FOOTER) || trimmed.length < HEADER.length + FOOTER.length) {
    throw malformed('not a Megolm key export: the BEGIN/END MEGOLM SESSION DATA lines are missing');
  }
  // Equivalent mutant: `/\s+/g` → `/\s/g` (every whitespace character is removed either way).
  const body = trimmed.slice(HEADER.length, trimmed.length - FOOTER.length).replace(/\s+/g, '');
  try {
    return decodeBase64(body);
  } catch {
    throw malformed('the key export body is not valid base64');
  }
}

function field<T>(entry: Record<string, unknown>, name: string, i: number, check: (v: unknown) => v is T): T {
  const value = entry[name];
  if (!check(value)) throw malformed(`entry ${i}: "${name}" is missing or has the wrong type`, { field: name });
  return value;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);
const isStringRecord = (v: unknown): v is Record<string, string> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every(isString);

function fromJsonEntry(value: unknown, i: number): RoomKeyExport {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw malformed(`entry ${i} is not a JSON object`);
  }
  const entry = value as Record<string, unknown>;
  const encodedKey = field(entry, 'session_key', i, isString);
  let sessionKey: ExportedSessionKey;
  try {
    sessionKey = ExportedSessionKey.fromBase64(encodedKey);
  } catch (error) {
    throw new DecodeError(
      'KEY_EXPORT_MALFORMED',
      `entry ${i}: "session_key" is not an exported Megolm session key`,
      { field: 'session_key' },
      { cause: error },
    );
  }
  const sessionId = field(entry, 'session_id', i, isString);
  if (sessionId !== sessionKey.sessionId) {
    throw malformed(`entry ${i}: "session_id" does not match its session key`, { field: 'session_id' });
  }
  // Older exporters omit the claimed keys or the forwarding chain; absent means empty.
  const claimed = entry.sender_claimed_keys === undefined ? {} : field(entry, 'sender_claimed_keys', i, isStringRecord);
  const chain =
    entry.forwarding_curve25519_key_chain === undefined
      ? []
      : field(entry, 'forwarding_curve25519_key_chain', i, isStringArray);
  const result: RoomKeyExport = {
    algorithm: field(entry, 'algorithm', i, isString),
    roomId: field(entry, 'room_id', i, isString),
    senderKey: field(entry, 'sender_key', i, isString),
    sessionId,
    sessionKey,
    senderClaimedKeys: { ...claimed },
    forwardingCurve25519KeyChain: [...chain],
  };
  if (typeof entry.shared_history === 'boolean') return { ...result, sharedHistory: entry.shared_history };
  return result;
}

/**
 * Opens a key-export file. A wrong passphrase (or an altered file) is DecryptionError
 * KEY_EXPORT_BAD_PASSPHRASE; a file that is not a well-formed export is DecodeError
 * KEY_EXPORT_MALFORMED.
 */
export async function decryptKeyExport(
  text: string,
  passphrase: string,
  options: DecryptKeyExportOptions = {},
): Promise<RoomKeyExport[]> {
  checkString(text, 'the key export');
  checkString(passphrase, 'the passphrase');
  checkOptions(options);
  const maxRounds = options.maxRounds === undefined ? KEY_EXPORT_MAX_ROUNDS : options.maxRounds;
  if (!Number.isInteger(maxRounds) || maxRounds < 1) throw invalidArgument('maxRounds must be a positive integer');
  const bytes = unarmor(text);
  if (bytes.length < PREFIX_LENGTH + MAC_LENGTH) {
    throw malformed('the key export is too short', { expected: PREFIX_LENGTH + MAC_LENGTH, actual: bytes.length });
  }
  if (bytes[0] !== VERSION) {
    throw malformed(`unsupported key export version ${bytes[0]}`, { expected: VERSION, actual: bytes[0]! });
  }
  const rounds = ((bytes[33]! << 24) | (bytes[34]! << 16) | (bytes[35]! << 8) | bytes[36]!) >>> 0;
  if (rounds < 1 || rounds > maxRounds) {
    throw malformed('the key export asks for an unacceptable number of PBKDF2 rounds', {
      actual: rounds,
      expected: maxRounds,
    });
  }
  const end = bytes.length - MAC_LENGTH;
  const keys = await deriveKeys(passphrase, bytes.subarray(1, 1 + SALT_LENGTH), rounds, options.onProgress);
  let plaintext: Uint8Array | undefined;
  try {
    const mac = hmacSha256(keys.subarray(32, 64), bytes.subarray(0, end));
    if (!constantTimeEqual(mac, bytes.subarray(end))) {
      throw new DecryptionError(
        'KEY_EXPORT_BAD_PASSPHRASE',
        'the key export does not open with this passphrase (wrong passphrase, or the file was altered)',
      );
    }
    plaintext = aes256Ctr(
      keys.subarray(0, 32),
      bytes.subarray(1 + SALT_LENGTH, 1 + SALT_LENGTH + IV_LENGTH),
      bytes.subarray(PREFIX_LENGTH, end),
    );
    let parsed: unknown;
    // Surviving mutant, message only: with the catch block emptied, `parsed` stays undefined and the
    // array check below refuses it with the same code and details (another message).
    try {
      parsed = JSON.parse(UTF8_FATAL.decode(plaintext));
    } catch {
      throw malformed('the decrypted key export is not UTF-8 JSON');
    }
    if (!Array.isArray(parsed)) throw malformed('the decrypted key export is not a JSON array');
    return parsed.map(fromJsonEntry);
  } catch (error) {
    if (error instanceof TriturusError) throw error;
    throw new DecodeError('KEY_EXPORT_MALFORMED', 'the key export could not be read', {}, { cause: error });
  } finally {
    // Equivalent mutant (an empty block): a wipe of secrets, not observable through the API.
    keys.fill(0);
    plaintext?.fill(0);
  }
}
