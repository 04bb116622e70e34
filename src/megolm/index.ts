export { MegolmSessionConfig } from './config.js';
export {
  type DecryptKeyExportOptions,
  decryptKeyExport,
  type EncryptKeyExportOptions,
  encryptKeyExport,
  KEY_EXPORT_DEFAULT_ROUNDS,
  KEY_EXPORT_MAX_ROUNDS,
  type KeyExportOptions,
  type KeyExportProgress,
  MEGOLM_V1_ALGORITHM,
  type RoomKeyExport,
  roomKeyExportFromJson,
  roomKeyExportToJson,
} from './export.js';
export { GroupSession } from './group-session.js';
export {
  type DecryptedMessage,
  type DecryptedText,
  InboundGroupSession,
  SessionOrdering,
} from './inbound-group-session.js';
export { ExportedSessionKey, MegolmMessage, SessionKey } from './messages.js';
