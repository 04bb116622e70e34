export { Device, deviceInfoFromKeys, MEGOLM_ALGORITHM, OLM_ALGORITHM } from './device.js';
export {
  hasValidSignature,
  type JsonObject,
  type JsonSigner,
  signedPayload,
  signJson,
  verifySignedJson,
} from './signing.js';
export type * from './types.js';
