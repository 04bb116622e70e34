/**
 * The epoch store's model: the per-room epoch tree records (room meta, node meta), the public epoch
 * types and deletion policy, the one-operation view (Operation), and small MLS helpers around them.
 */
import {
  type AuthenticationService,
  type ClientConfig,
  type ClientState,
  type CryptoProvider,
  decodeMlsMessage,
  type MLSMessage,
  type RatchetTree,
} from 'ts-mls';
import { defaultClientConfig } from 'ts-mls/clientConfig.js';
import { allSecretTreeValues } from 'ts-mls/secretTree.js';
import { DmlsError, TriturusError } from '../errors.js';
import type { EpochSummary, ForkChoicePolicy } from './fork-choice.js';
import { decodeDmlsIdentity } from './identity.js';
import { type DmlsSuiteName, isDmlsSuite } from './provider.js';
import type { RecordTransaction } from './records.js';

/** The MLS exporter label of the `dmls_epoch` stand-in (docs/dmls.md): MLS-Exporter("dmls_epoch", "", 32). */
export const DMLS_EPOCH_LABEL = 'dmls_epoch';

// Secret-tree nodes per record: a message rewrites one chunk (16 nodes encode in ~25 µs, 64 in ~150 µs).
export const CHUNK = 16;
export const META_VERSION = 1;
export const CORE_VERSION = 1;
/** How many pruned epoch ids a room remembers, to answer DMLS_EPOCH_DELETED rather than UNKNOWN. */
export const FORGOTTEN_LIMIT = 64;

export interface DeletionPolicy {
  /** Live (not deleted) epochs kept per room beyond the unresolved tips; the oldest go first. */
  readonly maxEpochs: number;
  /** An epoch superseded (given a child) longer ago than this is deleted (ms). */
  readonly maxAgeMs: number;
}

export const DEFAULT_DELETION_POLICY: DeletionPolicy = { maxEpochs: 8, maxAgeMs: 7 * 24 * 3600 * 1000 };

export interface EngineOptions {
  readonly authService: AuthenticationService;
  readonly provider?: CryptoProvider;
  readonly forkChoice?: ForkChoicePolicy;
  readonly deletion?: DeletionPolicy;
  /** External PSKs by base64 id (RFC 9420 §8.4), for groups that use them. */
  readonly externalPsks?: Readonly<Record<string, Uint8Array>>;
  readonly now?: () => number;
}

/** Metadata of one epoch (persisted in the room meta record). */
export interface NodeMeta {
  serial: number;
  id: string;
  parent: number | null;
  epoch: number;
  creator: [string, string];
  tag: string;
  dmlsEpoch: string;
  createdAt: number;
  supersededAt: number | null;
  deleted: boolean;
  resolved: boolean;
  member: boolean;
  chunks: number;
  /** The epoch's resumption PSK (RFC 9420 §8.6), base64, for later resumption PSK proposals; '' once deleted. */
  resumptionPsk: string;
}

export interface RoomMeta {
  v: number;
  suite: DmlsSuiteName;
  groupId: string;
  nextSerial: number;
  nodes: NodeMeta[];
  forgotten: string[];
  /** Epoch ids a resolving commit listed before this device saw them: resolved on arrival. */
  resolvedAhead: string[];
}

/** Public view of an epoch. */
export interface EpochInfo extends EpochSummary {
  /** draft-kohbrok's epoch id stand-in: MLS-Exporter("dmls_epoch", "", 32). */
  readonly dmlsEpoch: Uint8Array;
  readonly parentId: string | undefined;
  readonly deleted: boolean;
  readonly resolved: boolean;
  /** Whether this device is a member in this epoch (false once removed on this branch). */
  readonly member: boolean;
}

export interface LeafMember {
  readonly leafIndex: number;
  readonly identity: Uint8Array;
  readonly signatureKey: Uint8Array;
}

export interface PendingCommit {
  readonly parentId: string;
  readonly commit: Uint8Array;
  readonly welcome: Uint8Array | undefined;
  readonly resolves: readonly string[];
}

export interface PendingState extends PendingCommit {
  readonly parentSerial: number;
  readonly state: ClientState;
  /** The new state's records, encoded once at creation and reused when confirmed. */
  readonly parts: StateParts;
  readonly consumed: Uint8Array[];
}

export interface StateParts {
  readonly tree: Uint8Array;
  readonly core: Uint8Array;
  readonly chunks: readonly Uint8Array[];
}

export function hex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

export function identityOfLeaf(tree: RatchetTree, leafIndex: number): Uint8Array | undefined {
  const node = tree[leafIndex * 2];
  if (node?.nodeType !== 'leaf') return undefined;
  const c = node.leaf.credential;
  return c.credentialType === 'basic' ? c.identity : undefined;
}

export function creatorOf(identity: Uint8Array | undefined): [string, string] {
  if (identity === undefined) return ['', ''];
  const id = decodeDmlsIdentity(identity);
  return id === undefined ? ['', hex(identity)] : [id.userId, id.deviceId];
}

/** Identity keys (hex of the credential identity) of the members of a state. */
export function memberKeys(state: ClientState): Set<string> {
  const out = new Set<string>();
  for (let i = 0; i < state.ratchetTree.length; i += 2) {
    const node = state.ratchetTree[i];
    if (node?.nodeType === 'leaf' && node.leaf.credential.credentialType === 'basic') {
      out.add(hex(node.leaf.credential.identity));
    }
  }
  return out;
}

export function secretArrays(state: ClientState): Uint8Array[] {
  const ks = state.keySchedule;
  const out = [
    ks.senderDataSecret,
    ks.exporterSecret,
    ks.externalSecret,
    ks.confirmationKey,
    ks.membershipKey,
    ks.resumptionPsk,
    ks.epochAuthenticator,
    ks.initSecret,
    ...allSecretTreeValues(state.secretTree),
  ];
  for (const k of Object.values(state.privatePath.privateKeys)) out.push(k);
  return out.filter((a) => a !== undefined);
}

/** Maps any failure inside ts-mls to a typed error; our own typed errors pass through. */
export function mlsFailure(
  code: 'DMLS_REJECTED' | 'DMLS_DECRYPT_FAILED' | 'DMLS_INVALID',
  what: string,
  cause: unknown,
): TriturusError {
  if (cause instanceof TriturusError && cause.code !== 'AEAD_TAG_MISMATCH' && cause.code !== 'INVALID_ARGUMENT') {
    return cause;
  }
  return new DmlsError(code, what, {}, { cause });
}

export function decodeMlsBytes(bytes: Uint8Array): MLSMessage {
  let decoded: [MLSMessage, number] | undefined;
  try {
    decoded = decodeMlsMessage(bytes, 0);
  } catch (cause) {
    throw new DmlsError('DMLS_INVALID', 'the MLS message does not decode', {}, { cause });
  }
  if (decoded === undefined || decoded[1] !== bytes.length) {
    throw new DmlsError('DMLS_INVALID', 'the MLS message does not decode');
  }
  return decoded[0];
}

export function clientConfigFor(authService: AuthenticationService): ClientConfig {
  return {
    ...defaultClientConfig,
    authService,
    // Past epochs are this store's business, by epoch id: ts-mls's by-number history is switched off.
    keyRetentionConfig: { ...defaultClientConfig.keyRetentionConfig, retainKeysForEpochs: 0 },
  };
}

export function corrupt(what: string, cause?: unknown): DmlsError {
  return new DmlsError('DMLS_RECORD_CORRUPT', what, {}, cause === undefined ? {} : { cause });
}

export function parseMeta(text: string): RoomMeta {
  let meta: RoomMeta;
  try {
    meta = JSON.parse(text) as RoomMeta;
  } catch (cause) {
    throw corrupt('the DMLS room record is not JSON', cause);
  }
  if (
    meta === null ||
    typeof meta !== 'object' ||
    meta.v !== META_VERSION ||
    !isDmlsSuite(meta.suite) ||
    !Array.isArray(meta.nodes) ||
    !Array.isArray(meta.forgotten) ||
    (meta.resolvedAhead !== undefined && !Array.isArray(meta.resolvedAhead)) ||
    !Number.isSafeInteger(meta.nextSerial)
  ) {
    throw corrupt('the DMLS room record is malformed');
  }
  meta.resolvedAhead ??= [];
  return meta;
}

export function copyMeta(meta: RoomMeta): RoomMeta {
  return {
    ...meta,
    nodes: meta.nodes.map((n) => ({ ...n, creator: [n.creator[0], n.creator[1]] })),
    forgotten: [...meta.forgotten],
    resolvedAhead: [...meta.resolvedAhead],
  };
}

/** One operation's view: copies of the metadata, state changes, wipes to do once it succeeded. */
export class Operation {
  readonly tx: RecordTransaction;
  readonly meta: RoomMeta;
  readonly states: Map<number, ClientState | null> = new Map();
  readonly kept: Map<number, Uint8Array[]> = new Map();
  /** Secrets to zero once the operation succeeded, unless a kept state still shares them. */
  readonly wipeAfter: Uint8Array[] = [];
  /**
   * Secrets no kept state can share (message keys an application message or proposal used up in
   * its own epoch: ts-mls returns them as consumed and the new state no longer holds them).
   */
  readonly wipeNow: Uint8Array[] = [];
  pending: PendingState | null | undefined = undefined;
  messageOnly = false;
  constructor(tx: RecordTransaction, meta: RoomMeta) {
    this.tx = tx;
    this.meta = meta;
  }
  node(serial: number): NodeMeta | undefined {
    return this.meta.nodes.find((n) => n.serial === serial);
  }
}
