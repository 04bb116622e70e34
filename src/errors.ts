/**
 * Every failure triturus reports is a `TriturusError` with a string `code`.
 * One subclass per failure domain lets callers `catch` broadly (`instanceof TriturusError`)
 * or narrowly (`instanceof DecryptionError`, `switch (e.code)`).
 *
 * Messages never contain secret material: they name the parameter and carry numbers
 * (lengths, indices, limits), never key bytes or plaintext.
 */

/** Codes for malformed input: bad base64, truncated or unknown wire formats, bad JSON. */
export type DecodeErrorCode =
  | 'BASE64_INVALID'
  | 'VARINT_INVALID'
  | 'MESSAGE_MALFORMED'
  | 'MESSAGE_UNSUPPORTED_VERSION'
  | 'MESSAGE_MISSING_FIELD'
  | 'JSON_INVALID'
  | 'KEY_EXPORT_MALFORMED';

/** Codes for a ciphertext that does not open. */
export type DecryptionErrorCode =
  | 'MAC_MISMATCH'
  | 'PADDING_INVALID'
  | 'CIPHERTEXT_INVALID_LENGTH'
  | 'MESSAGE_GAP_TOO_LARGE'
  /**
   * No key for this message: it was already decrypted (a replay or duplicate; `details.messageIndex`).
   * Without `messageIndex`: the message's ratchet key is not a chain this session knows.
   */
  | 'MESSAGE_KEY_MISSING'
  /** No key for this message was kept and it was never decrypted: a lost message (`details.messageIndex`). */
  | 'MESSAGE_KEY_NOT_KEPT'
  | 'UNKNOWN_MESSAGE_INDEX'
  | 'KEY_EXPORT_BAD_PASSPHRASE'
  | 'AEAD_TAG_MISMATCH';

export type PickleErrorCode = 'PICKLE_INVALID' | 'PICKLE_BAD_KEY' | 'PICKLE_UNSUPPORTED_VERSION' | 'PICKLE_WRONG_TYPE';

export type KeyErrorCode = 'KEY_INVALID_LENGTH' | 'KEY_INVALID' | 'KEY_NON_CONTRIBUTORY' | 'KEY_UNSUPPORTED';

export type SessionErrorCode =
  | 'SESSION_MISMATCH'
  | 'ONE_TIME_KEY_UNKNOWN'
  | 'SESSION_NOT_FOUND'
  | 'SESSIONS_NOT_CONNECTED'
  | 'INDEX_OUT_OF_RANGE';

export type SignatureErrorCode = 'SIGNATURE_INVALID' | 'SIGNATURE_MISSING';

export type StoreErrorCode =
  | 'STORE_IO'
  | 'STORE_CLOSED'
  | 'STORE_SCHEMA'
  | 'STORE_CONFLICT'
  | 'STORE_LEASE_LOST'
  | 'STORE_LEASE_TIMEOUT'
  | 'STORE_NOT_FOUND'
  | 'STORE_EXISTS'
  /** A store method got a malformed argument (wrong type, empty id, non-integer index). */
  | 'STORE_INVALID';

/** Codes for a Matrix event or device-level rule that a message breaks. */
export type DeviceErrorCode =
  | 'EVENT_INVALID'
  | 'EVENT_SENDER_MISMATCH'
  | 'EVENT_RECIPIENT_MISMATCH'
  | 'EVENT_KEYS_MISMATCH'
  | 'EVENT_ROOM_MISMATCH'
  | 'EVENT_REPLAYED'
  /** The message key is no longer kept (too old, or skipped past): the message was lost, never decrypted. */
  | 'EVENT_KEY_NOT_KEPT'
  | 'EVENT_WRONG_CHANNEL'
  | 'EVENT_UNSUPPORTED_ALGORITHM'
  | 'EVENT_NOT_ENCRYPTED'
  | 'ROOM_KEY_UNKNOWN'
  | 'DEVICE_UNKNOWN'
  | 'NO_OLM_SESSION';

/** Codes for DMLS groups (src/dmls): malformed events, unknown or deleted epochs, rejected members. */
export type DmlsErrorCode =
  /** A malformed event, MLS message, record or argument for the DMLS layer. */
  | 'DMLS_INVALID'
  /** The event names an epoch this device does not know (never saw it, or not a member there). */
  | 'DMLS_EPOCH_UNKNOWN'
  /** The event names an epoch whose secrets were deleted; it can never be used again. */
  | 'DMLS_EPOCH_DELETED'
  /** The group has unresolved forks: resolve them with a commit before sending. */
  | 'DMLS_FORK'
  /** The commit or message was already processed (or is our own); nothing changed. */
  | 'DMLS_REPLAY'
  /** The MLS sender does not match the Matrix sender or the named creator. */
  | 'DMLS_SENDER_MISMATCH'
  /** The MLS layer refused the commit, proposal or welcome (bad signature, tag, tree, ...). */
  | 'DMLS_REJECTED'
  /** An application message did not decrypt in the epoch it names. */
  | 'DMLS_DECRYPT_FAILED'
  /** A member credential was refused by the authentication callback. */
  | 'DMLS_CREDENTIAL_REJECTED'
  /** This device is not (or no longer) a member of the group in that epoch. */
  | 'DMLS_NOT_MEMBER'
  /** A Welcome for none of this device's key packages, or a key package already used. */
  | 'DMLS_KEY_PACKAGE_UNKNOWN'
  | 'DMLS_UNSUPPORTED_SUITE'
  /** A commit of ours awaits its event id (confirmCommit) or there is none to confirm. */
  | 'DMLS_PENDING_COMMIT'
  /** A record the layer needs is missing or does not decode. */
  | 'DMLS_RECORD_MISSING'
  | 'DMLS_RECORD_CORRUPT'
  /** The Device was opened without DMLS (its `dmls` option). */
  | 'DMLS_DISABLED';

export type GeneralErrorCode = 'INVALID_ARGUMENT' | 'RANDOM_UNAVAILABLE' | 'UNSUPPORTED';

export type TriturusErrorCode =
  | DecodeErrorCode
  | DecryptionErrorCode
  | PickleErrorCode
  | KeyErrorCode
  | SessionErrorCode
  | SignatureErrorCode
  | StoreErrorCode
  | DeviceErrorCode
  | DmlsErrorCode
  | GeneralErrorCode;

/** Numbers and public identifiers that help a caller act on an error. Never secrets. */
export interface ErrorDetails {
  readonly expected?: number;
  readonly actual?: number;
  readonly messageIndex?: number;
  readonly firstKnownIndex?: number;
  readonly maxGap?: number;
  readonly version?: number;
  readonly field?: string;
}

export class TriturusError extends Error {
  readonly code: TriturusErrorCode;
  readonly details: ErrorDetails;

  constructor(code: TriturusErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.details = details;
  }

  override get name(): string {
    return this.constructor.name;
  }
}

export class DecodeError extends TriturusError {
  declare readonly code: DecodeErrorCode;
  constructor(code: DecodeErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}
export class DecryptionError extends TriturusError {
  declare readonly code: DecryptionErrorCode;
  constructor(code: DecryptionErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}
export class PickleError extends TriturusError {
  declare readonly code: PickleErrorCode;
  constructor(code: PickleErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}
export class KeyError extends TriturusError {
  declare readonly code: KeyErrorCode;
  constructor(code: KeyErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}
export class SessionError extends TriturusError {
  declare readonly code: SessionErrorCode;
  constructor(code: SessionErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}
export class SignatureError extends TriturusError {
  declare readonly code: SignatureErrorCode;
  constructor(code: SignatureErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}
export class StoreError extends TriturusError {
  declare readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}
export class DeviceError extends TriturusError {
  declare readonly code: DeviceErrorCode;
  constructor(code: DeviceErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}
export class DmlsError extends TriturusError {
  declare readonly code: DmlsErrorCode;
  constructor(code: DmlsErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}

/** A caller passed a value of the wrong type, length or range. */
export function invalidArgument(message: string, details: ErrorDetails = {}): TriturusError {
  return new TriturusError('INVALID_ARGUMENT', message, details);
}
