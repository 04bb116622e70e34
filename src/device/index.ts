export {
  Device,
  deviceInfoFromKeys,
  type KeysQueryAnswer,
  MEGOLM_ALGORITHM,
  type MembershipChange,
  OLM_ALGORITHM,
  settingsFromEncryptionEvent,
} from './device.js';
export {
  hasValidSignature,
  type JsonObject,
  type JsonSigner,
  signedPayload,
  signJson,
  verifySignedJson,
} from './signing.js';
export type * from './types.js';
