/**
 * triturus/libolm: reading (and, where lossless, writing) libolm pickles. A separate entry point:
 * the default `triturus` import never loads it.
 */
export {
  accountFromLibolmPickle,
  accountToLibolmPickle,
  LIBOLM_ACCOUNT_PICKLE_VERSION,
  LIBOLM_MAX_ONE_TIME_KEYS,
} from './account.js';
export type { LibolmPickleKey } from './container.js';
export {
  groupSessionFromLibolmPickle,
  groupSessionToLibolmPickle,
  inboundGroupSessionFromLibolmPickle,
  inboundGroupSessionToLibolmPickle,
} from './megolm.js';
export {
  LIBOLM_MAX_RECEIVER_CHAINS,
  LIBOLM_MAX_SKIPPED_MESSAGE_KEYS,
  LIBOLM_SESSION_PICKLE_VERSION,
  LIBOLM_SESSION_PICKLE_VERSION_LOGGING,
  type LibolmSessionImport,
  sessionFromLibolmPickle,
  sessionFromLibolmPickleDetailed,
  sessionToLibolmPickle,
} from './session.js';
