/**
 * triturus/dmls: Decentralised MLS for Matrix rooms on ts-mls (MSC2883 wire format), with an
 * epoch store that keeps forks, a pluggable fork choice, and a deletion policy. The layer does no
 * I/O: see records.ts for the persistence contract.
 */
export {
  DmlsAccount,
  type DmlsAccountOptions,
  KEY_PACKAGE_PREFIX,
  keyPackageFromUpload,
  keyPackageKeyId,
} from './account.js';
export {
  DEFAULT_DELETION_POLICY,
  type DeletionPolicy,
  DMLS_EPOCH_LABEL,
  type EpochInfo,
} from './epoch-store.js';
export { type EpochSummary, type ForkChoicePolicy, netsplitForkChoice, sequencerForkChoice } from './fork-choice.js';
export { DmlsGroup, type GroupMember, type MatrixEvent } from './group.js';
export {
  CREDENTIAL_KEY_PREFIX,
  credentialKeyId,
  type DmlsAuthenticator,
  type DmlsMember,
  decodeDmlsIdentity,
  encodeDmlsIdentity,
  parseCredentialValue,
} from './identity.js';
export {
  DEFAULT_SUITE,
  DMLS_SUITES,
  type DmlsSuiteName,
  isDmlsSuite,
  mlsCryptoProvider,
  triturusCryptoProvider,
} from './provider.js';
export {
  MemoryRecordStore,
  type RecordChanges,
  type RecordLoader,
  type RecordPut,
  type RecordValue,
} from './records.js';
export {
  algorithmOf,
  type CommitContent,
  type DeviceRef,
  type MessageContent,
  suiteOfAlgorithm,
  suiteOfWelcomeAlgorithm,
  type WelcomeContent,
  welcomeAlgorithmOf,
} from './wire.js';
