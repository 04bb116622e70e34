/**
 * The KeyStore contract, the in-memory store and the lease helpers. Each database backend is its own
 * subpath export (`triturus/store/sqlite`, `/postgres`, `/indexeddb`) so that importing this module never
 * loads a database driver.
 */
export { STORE_SCHEMA_VERSION } from './common.js';
export {
  type AcquireLeaseOptions,
  acquireLease,
  type HoldLeaseOptions,
  holdLease,
  LeaseRenewer,
  type LeaseRenewerOptions,
} from './lease.js';
export { MemoryDatabase, MemoryStore } from './memory.js';
export type {
  CommitOptions,
  InboundGroupSessionEntry,
  InboundGroupSessionKey,
  KeyStore,
  LeaseToken,
  MlsGroupEntry,
  OlmSessionEntry,
  OlmSessionKey,
  OutboundGroupSessionEntry,
  ReplayEntry,
  ReplayKey,
  StoreChanges,
  StoredRecord,
} from './types.js';
