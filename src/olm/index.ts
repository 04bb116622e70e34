export {
  Account,
  type AccountKeys,
  type IdentityKeys,
  type InboundCreationResult,
  MAX_ONE_TIME_KEYS,
  MAX_PUBLISHED_ONE_TIME_KEYS,
  type OneTimeKeyGenerationResult,
  type RawCurve25519Key,
} from './account.js';
export { SessionConfig } from './config.js';
export { Message, type OlmMessage, olmMessageFromParts, PreKeyMessage } from './messages.js';
export {
  MAX_MESSAGE_GAP,
  MAX_RECEIVER_CHAINS,
  MAX_SKIPPED_KEYS_PER_CHAIN,
  Session,
  type SessionKeys,
} from './session.js';
