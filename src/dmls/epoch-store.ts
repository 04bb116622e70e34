/**
 * The epoch store: per room, a tree of MLS epochs over ts-mls states.
 *
 * - A commit is processed against the state of the epoch it names, never "the latest"; concurrent
 *   commits on one parent make sibling epochs (forks).
 * - An application message is decrypted with the state of the epoch it names, on any live fork
 *   (ts-mls's historicalReceiverData, keyed by epoch number, is switched off: retainKeysForEpochs 0).
 * - Fork choice is a pluggable policy over siblings (fork-choice.ts).
 * - Deletion: an epoch's secrets go once every member has committed on a descendant, or past a
 *   count or age; a deleted epoch never decrypts again. Secrets ts-mls reports `consumed` share
 *   memory with the parent state, so they are kept with the parent and wiped when it is deleted.
 *
 * Persistence (see records.ts): the room meta (a small JSON record with the epoch tree), and per
 * epoch the ratchet tree (written once), the rest of the group state without its secret tree, the
 * secret tree in chunks of 16 nodes (a message rewrites one chunk), and the set of members that
 * have not yet committed on a descendant. Every operation works on copies and applies its changes
 * to memory and to the pending change set only after its last await, so a failed operation
 * changes nothing.
 *
 * This module is the MLS-level engine (epochs named by opaque ids); group.ts puts Matrix on top.
 *
 * Why this file is still over 500 lines: what is left is the `EpochStore` class alone (fork choice,
 * deletion, create/join, the commit, proposal and decrypt paths), and all of it reads and writes the
 * class's private fields (the room meta, the loaded states, the suite, the pending changes, the
 * operation queue), which other modules cannot reach. The stateless parts are already out
 * (epoch-model.ts, epoch-codec.ts, epoch-tree.ts, epoch-state.ts). Splitting further means moving that
 * state into an internal object the concern modules share: a refactor, not a move, left for its own change.
 */

import type { SecretTree } from 'ts-mls';
import {
  type CiphersuiteImpl,
  type ClientConfig,
  type ClientState,
  type Credential,
  createApplicationMessage,
  createCommit,
  createGroup,
  defaultCapabilities,
  defaultLifetime,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  getCiphersuiteFromName,
  joinGroup,
  type KeyPackage,
  type MLSMessage,
  makePskIndex,
  mlsExporter,
  type PrivateKeyPackage,
  type PrivateMessage,
  type Proposal,
  type PskIndex,
  processMessage,
  type RatchetTree,
  type Welcome,
} from 'ts-mls';
import { decodeGroupStateWithoutTree } from 'ts-mls/clientState.js';
import { unprotectPrivateMessage } from 'ts-mls/messageProtection.js';
import { decodeRatchetTree } from 'ts-mls/ratchetTree.js';
import { randomBytes } from '../crypto/index.js';
import { decodeBase64, encodeBase64 } from '../encoding/base64.js';
import { DmlsError } from '../errors.js';
import { decodePending, decodeSecretChunk, encodePending, safeDecode } from './epoch-codec.js';
import {
  CORE_VERSION,
  clientConfigFor,
  copyMeta,
  corrupt,
  creatorOf,
  DEFAULT_DELETION_POLICY,
  type DeletionPolicy,
  DMLS_EPOCH_LABEL,
  type EngineOptions,
  type EpochInfo,
  FORGOTTEN_LIMIT,
  hex,
  identityOfLeaf,
  type LeafMember,
  META_VERSION,
  memberKeys,
  mlsFailure,
  type NodeMeta,
  Operation,
  type PendingCommit,
  type PendingState,
  parseMeta,
  type RoomMeta,
  type StateParts,
  secretArrays,
} from './epoch-model.js';
import { encodeParts, readAwaiting, removeState, writeParts, writeState } from './epoch-state.js';
import { checkFrame, children, epochInfo, hasLiveTip, leafOf, liveTips, nodeById } from './epoch-tree.js';
import { type EpochSummary, type ForkChoicePolicy, netsplitForkChoice } from './fork-choice.js';
import { type DmlsSuiteName, isDmlsSuite, mlsCryptoProvider } from './provider.js';
import { epochKey, type PendingRecords, type RecordTransaction, roomMetaKey, roomPendingKey } from './records.js';

export {
  clientConfigFor,
  DEFAULT_DELETION_POLICY,
  type DeletionPolicy,
  DMLS_EPOCH_LABEL,
  decodeMlsBytes,
  type EngineOptions,
  type EpochInfo,
  type LeafMember,
  type PendingCommit,
} from './epoch-model.js';

export class EpochStore {
  readonly roomId: string;
  readonly suite: DmlsSuiteName;
  readonly #records: PendingRecords;
  readonly #cs: CiphersuiteImpl;
  readonly #config: ClientConfig;
  readonly #options: EngineOptions;
  #meta: RoomMeta;
  /** The room meta as last written (or read), to skip rewriting it unchanged. */
  #metaJson: string | undefined;
  readonly #states = new Map<number, ClientState>();
  /** Secrets ts-mls reported consumed when a child was made: they belong to this (parent) epoch. */
  readonly #kept = new Map<number, Uint8Array[]>();
  #pending: PendingState | undefined;
  #pendingLoaded = false;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(
    roomId: string,
    records: PendingRecords,
    cs: CiphersuiteImpl,
    options: EngineOptions,
    meta: RoomMeta,
  ) {
    this.roomId = roomId;
    this.suite = meta.suite;
    this.#records = records;
    this.#cs = cs;
    this.#options = options;
    this.#config = clientConfigFor(options.authService);
    this.#meta = meta;
  }

  static async #suiteImpl(suite: DmlsSuiteName, options: EngineOptions): Promise<CiphersuiteImpl> {
    return (options.provider ?? mlsCryptoProvider).getCiphersuiteImpl(getCiphersuiteFromName(suite));
  }

  #now(): number {
    return (this.#options.now ?? Date.now)();
  }

  get #forkChoice(): ForkChoicePolicy {
    return this.#options.forkChoice ?? netsplitForkChoice;
  }

  get #deletion(): DeletionPolicy {
    return this.#options.deletion ?? DEFAULT_DELETION_POLICY;
  }

  /** Runs operations on one room one at a time. */
  #serial<T>(run: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  /** Loads a room; undefined when there is no such room in the records. */
  static async load(records: PendingRecords, roomId: string, options: EngineOptions): Promise<EpochStore | undefined> {
    const text = await records.get(roomMetaKey(roomId));
    if (text === undefined) return undefined;
    if (typeof text !== 'string') throw corrupt('the DMLS room record should be a string');
    const meta = parseMeta(text);
    const cs = await EpochStore.#suiteImpl(meta.suite, options);
    const store = new EpochStore(roomId, records, cs, options, meta);
    store.#metaJson = text;
    return store;
  }

  static async #fresh(
    records: PendingRecords,
    roomId: string,
    suite: DmlsSuiteName,
    options: EngineOptions,
  ): Promise<{ store: EpochStore; op: Operation }> {
    if ((await records.get(roomMetaKey(roomId))) !== undefined) {
      throw new DmlsError('DMLS_INVALID', 'a DMLS group already exists for this room');
    }
    const cs = await EpochStore.#suiteImpl(suite, options);
    const meta: RoomMeta = {
      v: META_VERSION,
      suite,
      groupId: '',
      nextSerial: 0,
      nodes: [],
      forgotten: [],
      resolvedAhead: [],
    };
    const store = new EpochStore(roomId, records, cs, options, meta);
    return { store, op: new Operation(records.transaction(), copyMeta(meta)) };
  }

  /** Creates a group with this device alone in epoch 0, named `creationId`. */
  static async create(
    records: PendingRecords,
    roomId: string,
    options: EngineOptions & {
      readonly suite: DmlsSuiteName;
      readonly credential: Credential;
      readonly signKey: Uint8Array;
      readonly signaturePublicKey: Uint8Array;
      readonly creationId: string;
      readonly groupId?: Uint8Array;
    },
  ): Promise<EpochStore> {
    const { store, op } = await EpochStore.#fresh(records, roomId, options.suite, options);
    const cs = store.#cs;
    let state: ClientState;
    try {
      const kp = await generateKeyPackageWithKey(
        options.credential,
        defaultCapabilities(),
        defaultLifetime,
        [],
        { signKey: options.signKey, publicKey: options.signaturePublicKey },
        cs,
      );
      state = await createGroup(
        options.groupId ?? randomBytes(32),
        kp.publicPackage,
        kp.privatePackage,
        [],
        cs,
        store.#config,
      );
    } catch (cause) {
      throw mlsFailure('DMLS_REJECTED', 'the group could not be created', cause);
    }
    op.meta.groupId = encodeBase64(state.groupContext.groupId);
    await store.#addNode(op, state, {
      id: options.creationId,
      parent: null,
      creator: creatorOf(identityOfLeaf(state.ratchetTree, state.privatePath.leafIndex)),
      member: true,
    });
    store.#apply(op);
    return store;
  }

  /** Joins from a Welcome; the joined epoch is named `epochId` (the commit event that made it). */
  /**
   * Joins from a Welcome; the joined epoch is named `epochId` (the commit event that made it).
   * With `existing` (this device already has the room's group, e.g. it was added on a fork that
   * lost), the joined epoch becomes a new root beside the old tree and the epochs the welcome
   * `resolves` are marked resolved.
   */
  static async join(
    records: PendingRecords,
    roomId: string,
    options: EngineOptions & {
      readonly welcome: Welcome;
      readonly keyPackage: KeyPackage;
      readonly privateKeys: PrivateKeyPackage;
      readonly epochId: string;
      /** The epoch's creator as the application names it; checked to be a member. */
      readonly creator?: readonly [string, string];
      readonly ratchetTree?: RatchetTree;
      readonly resolves?: readonly string[];
    },
    existing?: EpochStore,
  ): Promise<EpochStore> {
    if (!isDmlsSuite(options.welcome.cipherSuite)) {
      throw new DmlsError('DMLS_UNSUPPORTED_SUITE', `cipher suite ${options.welcome.cipherSuite} is not offered`);
    }
    if (existing !== undefined) {
      if (existing.suite !== options.welcome.cipherSuite) {
        throw new DmlsError('DMLS_INVALID', "the Welcome's suite is not the group's");
      }
      return existing.#serial(async () => {
        const op = existing.#begin();
        if (op.meta.nodes.some((n) => n.id === options.epochId) || op.meta.forgotten.includes(options.epochId)) {
          throw new DmlsError('DMLS_REPLAY', 'this device already has the epoch the Welcome is for');
        }
        await existing.#joinInto(op, options);
        existing.#markResolved(op, options.resolves ?? []);
        await existing.#collect(op);
        existing.#apply(op);
        return existing;
      });
    }
    const { store, op } = await EpochStore.#fresh(records, roomId, options.welcome.cipherSuite, options);
    await store.#joinInto(op, options);
    store.#apply(op);
    return store;
  }

  async #joinInto(
    op: Operation,
    options: EngineOptions & {
      readonly welcome: Welcome;
      readonly keyPackage: KeyPackage;
      readonly privateKeys: PrivateKeyPackage;
      readonly epochId: string;
      readonly creator?: readonly [string, string];
      readonly ratchetTree?: RatchetTree;
    },
  ): Promise<void> {
    let state: ClientState;
    try {
      state = await joinGroup(
        options.welcome,
        options.keyPackage,
        options.privateKeys,
        makePskIndex(undefined, { ...(options.externalPsks ?? {}) }),
        this.#cs,
        options.ratchetTree,
        undefined,
        this.#config,
      );
    } catch (cause) {
      throw mlsFailure('DMLS_REJECTED', 'the Welcome was refused', cause);
    }
    let creator: [string, string] = ['', ''];
    if (options.creator !== undefined) {
      creator = [options.creator[0], options.creator[1]];
      if (leafOf(state, creator) === undefined) {
        throw new DmlsError('DMLS_SENDER_MISMATCH', "the Welcome's named epoch creator is not a member of the group");
      }
    }
    const groupId = encodeBase64(state.groupContext.groupId);
    if (op.meta.groupId !== '' && op.meta.groupId !== groupId) {
      throw new DmlsError('DMLS_INVALID', 'the Welcome is for another MLS group than this room has');
    }
    op.meta.groupId = groupId;
    await this.#addNode(op, state, { id: options.epochId, parent: null, creator, member: true });
  }

  // -------------------------------------------------------------------------------------------
  // Views

  get groupId(): Uint8Array {
    return decodeBase64(this.#meta.groupId);
  }

  /** Every retained epoch, oldest first. */
  epochs(): EpochInfo[] {
    return this.#meta.nodes.map((n) => epochInfo(n, this.#meta));
  }

  epoch(id: string): EpochInfo | undefined {
    const n = this.#meta.nodes.find((m) => m.id === id);
    return n === undefined ? undefined : epochInfo(n, this.#meta);
  }

  /** Leaves of the epoch tree that no resolving commit has resolved. */
  tips(): EpochInfo[] {
    return liveTips(this.#meta).map((n) => epochInfo(n, this.#meta));
  }

  readonly #tags = new Map<string, Uint8Array>();

  #summary(n: NodeMeta): EpochSummary {
    let tag = this.#tags.get(n.tag);
    if (tag === undefined) {
      tag = decodeBase64(n.tag);
      if (this.#tags.size > 256) this.#tags.clear();
      this.#tags.set(n.tag, tag);
    }
    return { id: n.id, epoch: n.epoch, creator: n.creator, confirmationTag: tag.slice() };
  }

  #best(candidates: NodeMeta[]): NodeMeta {
    let best = candidates[0]!;
    for (const c of candidates.slice(1)) {
      if (this.#forkChoice.compareSiblings(this.#summary(c), this.#summary(best)) > 0) best = c;
    }
    return best;
  }

  #winner(meta: RoomMeta): NodeMeta {
    const serials = new Set(meta.nodes.map((n) => n.serial));
    const roots = meta.nodes.filter((n) => n.parent === null || !serials.has(n.parent));
    const live = roots.filter((r) => hasLiveTip(meta, r));
    let node = this.#best(live.length > 0 ? live : roots);
    for (;;) {
      const kids = children(meta, node.serial);
      if (kids.length === 0) return node;
      const liveKids = kids.filter((k) => hasLiveTip(meta, k));
      node = this.#best(liveKids.length > 0 ? liveKids : kids);
    }
  }

  /** The tip the fork-choice policy picks: where this device sends and commits. */
  winningTip(): EpochInfo {
    return epochInfo(this.#winner(this.#meta), this.#meta);
  }

  /** Live tips other than the winner: forks a resolving commit must list. */
  losingTips(): EpochInfo[] {
    return this.forks().losers;
  }

  /** The last sendTip answer, valid while the metadata object is the same (messages share it). */
  #sendTipCache:
    | { meta: RoomMeta; tip: { id: string; creator: readonly [string, string]; member: boolean; forked: boolean } }
    | undefined;

  /** @internal the winning tip's id and creator, and whether other tips are unresolved (no copies). */
  sendTip(): { id: string; creator: readonly [string, string]; member: boolean; forked: boolean } {
    // Only the built-in netsplit rule is known to be a pure function of the tree; another policy
    // (a sequencer learning its order later) is asked again every time.
    const cacheable = this.#forkChoice === netsplitForkChoice;
    if (cacheable && this.#sendTipCache?.meta === this.#meta) return this.#sendTipCache.tip;
    const w = this.#winner(this.#meta);
    const tip = { id: w.id, creator: w.creator, member: w.member, forked: liveTips(this.#meta).length > 1 };
    if (cacheable) this.#sendTipCache = { meta: this.#meta, tip };
    return tip;
  }

  /** The winning tip and the losing ones, from one fork-choice pass. */
  forks(): { winner: EpochInfo; losers: EpochInfo[] } {
    const w = this.#winner(this.#meta);
    return {
      winner: epochInfo(w, this.#meta),
      losers: liveTips(this.#meta)
        .filter((n) => n !== w)
        .map((n) => epochInfo(n, this.#meta)),
    };
  }

  /** Members (leaves) in an epoch; the state is loaded when needed. */
  async members(id: string): Promise<LeafMember[]> {
    const n = nodeById(this.#meta, id);
    const state = await this.#loadState(this.#records.transaction(), n);
    const out: LeafMember[] = [];
    for (let i = 0; i < state.ratchetTree.length; i += 2) {
      const node = state.ratchetTree[i];
      if (node?.nodeType !== 'leaf') continue;
      const c = node.leaf.credential;
      out.push({
        leafIndex: i / 2,
        identity: c.credentialType === 'basic' ? c.identity.slice() : new Uint8Array(0),
        signatureKey: node.leaf.signaturePublicKey.slice(),
      });
    }
    return out;
  }

  /** The epoch authenticator of an epoch (RFC 9420 §8.7), loading its state when needed. */
  async epochAuthenticator(id: string): Promise<Uint8Array> {
    const n = nodeById(this.#meta, id);
    return (await this.#loadState(this.#records.transaction(), n)).keySchedule.epochAuthenticator.slice();
  }

  /** This device's leaf index in an epoch. */
  async ownLeafIndex(id: string): Promise<number> {
    const n = nodeById(this.#meta, id);
    return (await this.#loadState(this.#records.transaction(), n)).privatePath.leafIndex;
  }

  // -------------------------------------------------------------------------------------------
  // State records

  /**
   * Loads an epoch's state. The record bytes are copied first: ts-mls decodes into views of its
   * input, and the state's secrets are zeroed later, which must never touch a buffer the loader
   * (or a change set handed to the caller) owns.
   */
  async #loadState(tx: RecordTransaction, n: NodeMeta, op?: Operation): Promise<ClientState> {
    const changed = op?.states.get(n.serial);
    if (changed !== undefined && changed !== null) return changed;
    const cached = this.#states.get(n.serial);
    if (cached !== undefined) return cached;
    const treeBytes = (await tx.getBytes(epochKey(this.roomId, n.serial, 'tree')))?.slice();
    const core = (await tx.getBytes(epochKey(this.roomId, n.serial, 'core')))?.slice();
    if (treeBytes === undefined || core === undefined) {
      throw new DmlsError('DMLS_RECORD_MISSING', 'a DMLS epoch state record is missing');
    }
    const chunks: SecretTree[] = [];
    for (let i = 0; i < n.chunks; i++) {
      const bytes = (await tx.getBytes(epochKey(this.roomId, n.serial, `secrets/${i}`)))?.slice();
      if (bytes === undefined) throw new DmlsError('DMLS_RECORD_MISSING', 'a DMLS secret-tree record is missing');
      const decoded = decodeSecretChunk(bytes);
      chunks.push(decoded);
    }
    const tree = safeDecode(() => decodeRatchetTree(treeBytes, 0), treeBytes.length);
    if (core[0] !== CORE_VERSION) throw corrupt('a DMLS epoch state record has an unknown version');
    const body = core.subarray(1);
    const state = safeDecode(() => decodeGroupStateWithoutTree(tree)(body, 0), body.length);
    const secretTree = chunks.flat();
    const full: ClientState = { ...state, secretTree, clientConfig: this.#config };
    // A decoded copy of what the records hold: caching it changes nothing an operation could undo.
    if (!n.deleted) this.#states.set(n.serial, full);
    return full;
  }

  // -------------------------------------------------------------------------------------------
  // Operations

  /**
   * `messageOnly`: the operation leaves the epoch tree as it is (an application message in an
   * existing epoch), so it shares the metadata instead of copying it and never rewrites it.
   */
  #begin(messageOnly = false): Operation {
    const op = new Operation(this.#records.transaction(), messageOnly ? this.#meta : copyMeta(this.#meta));
    op.messageOnly = messageOnly;
    return op;
  }

  /** Swaps in the operation's results; synchronous, after the operation's last await. */
  #apply(op: Operation): void {
    // The room meta is rewritten only when it changed (not on every message).
    const metaJson = op.messageOnly ? this.#metaJson : JSON.stringify(op.meta);
    if (metaJson !== this.#metaJson && metaJson !== undefined) op.tx.put(roomMetaKey(this.roomId), metaJson);
    op.tx.commit();
    const live: Uint8Array[] = [];
    for (const a of op.wipeNow) a.fill(0);
    const toWipe: Uint8Array[] = [...op.wipeAfter];
    for (const [serial, state] of op.states) {
      const old = this.#states.get(serial);
      if (state === null) {
        if (old !== undefined) toWipe.push(...secretArrays(old));
        this.#states.delete(serial);
        toWipe.push(...(this.#kept.get(serial) ?? []), ...(op.kept.get(serial) ?? []));
        this.#kept.delete(serial);
        op.kept.delete(serial);
      } else {
        this.#states.set(serial, state);
      }
    }
    for (const [serial, arrays] of op.kept) {
      const list = this.#kept.get(serial) ?? [];
      list.push(...arrays);
      this.#kept.set(serial, list);
    }
    if (op.pending !== undefined) {
      this.#pending = op.pending ?? undefined;
      this.#pendingLoaded = true;
    }
    this.#meta = op.meta;
    this.#metaJson = metaJson;
    if (toWipe.length > 0) {
      // Never zero an array a kept state still uses (ts-mls shares them between parent and child).
      for (const s of this.#states.values()) live.push(...secretArrays(s), s.signaturePrivateKey);
      for (const arrays of this.#kept.values()) live.push(...arrays);
      if (this.#pending !== undefined) live.push(...secretArrays(this.#pending.state), ...this.#pending.consumed);
      const keep = new Set(live);
      for (const a of toWipe) if (!keep.has(a)) a.fill(0);
    }
  }

  async #addNode(
    op: Operation,
    state: ClientState | undefined,
    fields: {
      id: string;
      parent: number | null;
      creator: [string, string];
      member: boolean;
      committer?: string;
      parts?: StateParts;
    },
  ): Promise<NodeMeta> {
    const meta = op.meta;
    const now = this.#now();
    const dmlsEpoch =
      state === undefined
        ? new Uint8Array(32)
        : await mlsExporter(state.keySchedule.exporterSecret, DMLS_EPOCH_LABEL, new Uint8Array(0), 32, this.#cs);
    const epoch = state === undefined ? (op.node(fields.parent!)?.epoch ?? 0) + 1 : Number(state.groupContext.epoch);
    const n: NodeMeta = {
      serial: meta.nextSerial++,
      id: fields.id,
      parent: fields.parent,
      epoch,
      creator: fields.creator,
      tag: state === undefined ? '' : encodeBase64(state.confirmationTag),
      dmlsEpoch: encodeBase64(dmlsEpoch),
      createdAt: now,
      supersededAt: null,
      deleted: false,
      resolved: false,
      member: fields.member && state !== undefined,
      chunks: 0,
      resumptionPsk: state === undefined || !fields.member ? '' : encodeBase64(state.keySchedule.resumptionPsk),
    };
    meta.nodes.push(n);
    const ahead = meta.resolvedAhead.indexOf(n.id);
    if (ahead >= 0) {
      // A resolving commit already listed this epoch (it arrived first): it is resolved.
      n.resolved = true;
      n.supersededAt = now;
      meta.resolvedAhead.splice(ahead, 1);
    }
    if (state !== undefined && n.member) {
      if (fields.parts !== undefined) writeParts(this.roomId, op, n, state, fields.parts);
      else writeState(this.roomId, op, n, state, undefined);
      const members = memberKeys(state);
      op.tx.put(epochKey(this.roomId, n.serial, 'awaiting'), JSON.stringify([...members]));
      // Ancestors: the committer has now committed on a descendant. (A member removed on this
      // path stays awaited: it may still commit on another fork of that ancestor, whose commits
      // must then still be processable; count and age limits bound such epochs.)
      let p = fields.parent === null ? undefined : op.node(fields.parent);
      while (p !== undefined) {
        if (!p.deleted) {
          const awaiting = await readAwaiting(this.roomId, op, p);
          if (awaiting !== undefined) {
            let changed = false;
            for (const k of [...awaiting]) {
              if (k === fields.committer) {
                awaiting.delete(k);
                changed = true;
              }
            }
            if (changed) op.tx.put(epochKey(this.roomId, p.serial, 'awaiting'), JSON.stringify([...awaiting]));
          }
        }
        p = p.parent === null ? undefined : op.node(p.parent);
      }
    }
    const parent = fields.parent === null ? undefined : op.node(fields.parent);
    if (parent !== undefined && parent.supersededAt === null) parent.supersededAt = now;
    return n;
  }

  /** Applies the deletion policy and prunes the epoch tree. */
  async #collect(op: Operation): Promise<void> {
    const meta = op.meta;
    const now = this.#now();
    const policy = this.#deletion;
    const tips = new Set(liveTips(meta).map((n) => n.serial));
    const protectedSerials = new Set(tips);
    const winner = this.#winner(meta);
    protectedSerials.add(winner.serial);
    const doomed = new Set<number>();
    for (const n of meta.nodes) {
      if (n.deleted || !n.member || protectedSerials.has(n.serial)) continue;
      if (n.supersededAt !== null && now - n.supersededAt > policy.maxAgeMs) doomed.add(n.serial);
      else if (children(meta, n.serial).length > 0) {
        const awaiting = await readAwaiting(this.roomId, op, n);
        if (awaiting !== undefined && awaiting.size === 0) doomed.add(n.serial);
      }
    }
    const liveNodes = meta.nodes
      .filter((n) => !n.deleted && n.member && !doomed.has(n.serial))
      .sort((a, b) => a.epoch - b.epoch || a.createdAt - b.createdAt || a.serial - b.serial);
    let excess = liveNodes.length - Math.max(1, policy.maxEpochs);
    for (const n of liveNodes) {
      if (excess <= 0) break;
      if (protectedSerials.has(n.serial)) continue;
      doomed.add(n.serial);
      excess--;
    }
    for (const serial of doomed) {
      const n = op.node(serial)!;
      n.deleted = true;
      n.resumptionPsk = '';
      removeState(this.roomId, op, n);
      op.tx.remove(epochKey(this.roomId, n.serial, 'awaiting'));
    }
    // Prune: keep what is not deleted and every ancestor of an unresolved tip (fork choice needs
    // the first differing commits); then drop deleted roots with a single child.
    const keep = new Set<number>();
    for (const n of meta.nodes) if (!n.deleted && n.member) keep.add(n.serial);
    for (const t of liveTips(meta)) {
      for (let p: NodeMeta | undefined = t; p !== undefined; p = p.parent === null ? undefined : op.node(p.parent)) {
        keep.add(p.serial);
      }
    }
    const dropped = meta.nodes.filter((n) => !keep.has(n.serial));
    meta.nodes = meta.nodes.filter((n) => keep.has(n.serial));
    for (;;) {
      const serials = new Set(meta.nodes.map((n) => n.serial));
      const roots = meta.nodes.filter((n) => n.parent === null || !serials.has(n.parent));
      const root = roots.length === 1 ? roots[0]! : undefined;
      if (root === undefined || !(root.deleted || !root.member)) break;
      if (children(meta, root.serial).length !== 1) break;
      meta.nodes = meta.nodes.filter((n) => n !== root);
      dropped.push(root);
    }
    for (const n of dropped) {
      if (!n.deleted) removeState(this.roomId, op, n);
      op.tx.remove(epochKey(this.roomId, n.serial, 'awaiting'));
      meta.forgotten.push(n.id);
    }
    if (meta.forgotten.length > FORGOTTEN_LIMIT) meta.forgotten = meta.forgotten.slice(-FORGOTTEN_LIMIT);
  }

  /**
   * Processes a commit made on epoch `parentId`; the new epoch is named `id`. Returns the new
   * epoch and the leaf index of the committer in the parent.
   */
  processCommit(
    parentId: string,
    message: MLSMessage,
    id: string,
    options: { readonly resolves?: readonly string[]; readonly expectedCommitter?: readonly [string, string] } = {},
  ): Promise<{ epoch: EpochInfo; committer: number | undefined }> {
    return this.#serial(async () => {
      const op = this.#begin();
      if (op.meta.nodes.some((n) => n.id === id) || op.meta.forgotten.includes(id)) {
        throw new DmlsError('DMLS_REPLAY', 'this commit was already processed');
      }
      const parent = nodeById(op.meta, parentId);
      const state = await this.#loadState(op.tx, parent, op);
      const groupEpoch = state.groupContext.epoch;
      let advancedParent: ClientState | undefined;
      let commitTag: Uint8Array | undefined;
      if (message.wireformat === 'mls_private_message') {
        checkFrame(message.privateMessage.groupId, message.privateMessage.epoch, state);
        if (message.privateMessage.contentType !== 'commit') {
          throw new DmlsError('DMLS_INVALID', 'the MLS message is not a commit');
        }
        try {
          const pre = await unprotectPrivateMessage(
            state.keySchedule.senderDataSecret,
            message.privateMessage,
            state.secretTree,
            state.ratchetTree,
            state.groupContext,
            state.clientConfig.keyRetentionConfig,
            this.#cs,
          );
          advancedParent = { ...state, secretTree: pre.tree };
          const auth = pre.content.auth;
          if (auth.contentType === 'commit') commitTag = auth.confirmationTag;
        } catch (cause) {
          throw mlsFailure('DMLS_REJECTED', 'the commit does not open in the named epoch', cause);
        }
      } else if (message.wireformat === 'mls_public_message') {
        const content = message.publicMessage.content;
        checkFrame(content.groupId, content.epoch, state);
        if (content.contentType !== 'commit') throw new DmlsError('DMLS_INVALID', 'the MLS message is not a commit');
        const auth = message.publicMessage.auth;
        if (auth.contentType === 'commit') commitTag = auth.confirmationTag;
      } else {
        throw new DmlsError('DMLS_INVALID', 'a commit must be an MLS public or private message');
      }
      let committer: number | undefined;
      let sawCommit = false;
      let result: Awaited<ReturnType<typeof processMessage>>;
      try {
        result = await processMessage(
          message as Parameters<typeof processMessage>[0],
          state,
          this.#pskIndex(op, parent, state),
          (incoming) => {
            if (incoming.kind === 'commit') {
              sawCommit = true;
              committer = incoming.senderLeafIndex;
            }
            return 'accept';
          },
          this.#cs,
        );
      } catch (cause) {
        throw mlsFailure('DMLS_REJECTED', 'the commit was refused in the named epoch', cause);
      }
      if (result.kind !== 'newState' || !sawCommit)
        throw new DmlsError('DMLS_INVALID', 'the MLS message is not a commit');
      const child = result.newState;
      const member = child.groupActiveState.kind !== 'removedFromGroup';
      // A member this commit removes gets no new epoch from ts-mls (it cannot derive it): the
      // epoch is still recorded, with the commit's confirmation tag, as a tip for fork choice.
      if (member && child.groupContext.epoch !== groupEpoch + 1n) {
        throw new DmlsError('DMLS_INVALID', 'the commit made no new epoch');
      }
      if (commitTag === undefined) throw new DmlsError('DMLS_INVALID', 'the commit has no confirmation tag');
      const committerIdentity = committer === undefined ? undefined : identityOfLeaf(state.ratchetTree, committer);
      const creator = creatorOf(committerIdentity);
      if (
        options.expectedCommitter !== undefined &&
        (creator[0] !== options.expectedCommitter[0] || creator[1] !== options.expectedCommitter[1])
      ) {
        throw new DmlsError('DMLS_SENDER_MISMATCH', 'the MLS committer is not the named sender');
      }
      // A replayed commit under another event id makes the same epoch again.
      const tag = encodeBase64(commitTag);
      if (children(op.meta, parent.serial).some((c) => c.tag === tag)) {
        throw new DmlsError('DMLS_REPLAY', 'this commit was already processed under another event id');
      }
      if (advancedParent !== undefined) writeState(this.roomId, op, parent, advancedParent, state);
      const node = await this.#addNode(op, member ? child : undefined, {
        id,
        parent: parent.serial,
        creator,
        member,
        ...(committerIdentity === undefined ? {} : { committer: hex(committerIdentity) }),
      });
      if (!member) {
        // Removed on this branch: the epoch is a tip for fork choice, with no secrets of ours.
        node.tag = tag;
        node.epoch = Number(groupEpoch) + 1;
      }
      op.kept.set(parent.serial, [...(op.kept.get(parent.serial) ?? []), ...result.consumed]);
      this.#markResolved(op, options.resolves ?? []);
      await this.#collect(op);
      const info = epochInfo(node, op.meta);
      this.#apply(op);
      return { epoch: info, committer };
    });
  }

  /**
   * PSKs for a commit or proposal in epoch `n`: external ones from the options, resumption PSKs of
   * this group from `n` itself or its ancestors (unambiguous on one path, unlike epoch numbers
   * across forks).
   */
  #pskIndex(op: Operation, n: NodeMeta, state: ClientState): PskIndex {
    const external = { ...(this.#options.externalPsks ?? {}) };
    const base = makePskIndex(undefined, external);
    const groupId = state.groupContext.groupId;
    return {
      findPsk: (id) => {
        if (id.psktype === 'external') return base.findPsk(id);
        if (id.pskGroupId.length !== groupId.length || id.pskGroupId.some((b, i) => b !== groupId[i])) return undefined;
        if (id.pskEpoch === state.groupContext.epoch) return state.keySchedule.resumptionPsk;
        let p: NodeMeta | undefined = n.parent === null ? undefined : op.node(n.parent);
        while (p !== undefined) {
          if (BigInt(p.epoch) === id.pskEpoch)
            return p.resumptionPsk === '' ? undefined : decodeBase64(p.resumptionPsk);
          p = p.parent === null ? undefined : op.node(p.parent);
        }
        return undefined;
      },
    };
  }

  #markResolved(op: Operation, ids: readonly string[]): void {
    for (const id of ids) {
      const n = op.meta.nodes.find((m) => m.id === id);
      if (n === undefined) {
        if (!op.meta.forgotten.includes(id) && !op.meta.resolvedAhead.includes(id)) {
          op.meta.resolvedAhead.push(id);
          if (op.meta.resolvedAhead.length > FORGOTTEN_LIMIT) op.meta.resolvedAhead.shift();
        }
        continue;
      }
      n.resolved = true;
      // A resolved tip is superseded by the resolving commit: the age limit counts from now.
      n.supersededAt ??= this.#now();
    }
  }

  /** Processes a standalone proposal in epoch `id` (RFC 9420 §12.1); it waits there for a commit. */
  processProposal(id: string, message: MLSMessage): Promise<void> {
    return this.#serial(async () => {
      const op = this.#begin();
      const n = nodeById(op.meta, id);
      const state = await this.#loadState(op.tx, n, op);
      let frame: { groupId: Uint8Array; epoch: bigint; contentType: string };
      if (message.wireformat === 'mls_private_message') frame = message.privateMessage;
      else if (message.wireformat === 'mls_public_message') frame = message.publicMessage.content;
      else throw new DmlsError('DMLS_INVALID', 'a proposal must be an MLS public or private message');
      checkFrame(frame.groupId, frame.epoch, state);
      if (frame.contentType !== 'proposal') throw new DmlsError('DMLS_INVALID', 'the MLS message is not a proposal');
      let result: Awaited<ReturnType<typeof processMessage>>;
      try {
        result = await processMessage(
          message as Parameters<typeof processMessage>[0],
          state,
          this.#pskIndex(op, n, state),
          () => 'accept',
          this.#cs,
        );
      } catch (cause) {
        throw mlsFailure('DMLS_REJECTED', 'the proposal was refused', cause);
      }
      if (result.kind !== 'newState') throw new DmlsError('DMLS_INVALID', 'the MLS message is not a proposal');
      writeState(this.roomId, op, n, result.newState, state);
      op.wipeNow.push(...result.consumed);
      this.#apply(op);
    });
  }

  /** Encrypts an application message in epoch `id` (normally the winning tip). */
  encrypt(id: string, plaintext: Uint8Array): Promise<PrivateMessage> {
    return this.#serial(async () => {
      const op = this.#begin(true);
      const n = nodeById(op.meta, id);
      const state = await this.#loadState(op.tx, n, op);
      let result: Awaited<ReturnType<typeof createApplicationMessage>>;
      try {
        result = await createApplicationMessage(state, plaintext, this.#cs);
      } catch (cause) {
        throw mlsFailure('DMLS_REJECTED', 'the message could not be encrypted', cause);
      }
      writeState(this.roomId, op, n, result.newState, state);
      op.wipeNow.push(...result.consumed);
      this.#apply(op);
      return result.privateMessage;
    });
  }

  /** Decrypts an application message with the state of epoch `id`. */
  decrypt(
    id: string,
    message: PrivateMessage,
    checkSender?: (sender: LeafMember) => void,
  ): Promise<{ plaintext: Uint8Array; sender: LeafMember }> {
    return this.#serial(async () => {
      const op = this.#begin(true);
      const n = nodeById(op.meta, id);
      const state = await this.#loadState(op.tx, n, op);
      checkFrame(message.groupId, message.epoch, state);
      if (message.contentType !== 'application') {
        throw new DmlsError('DMLS_INVALID', 'the MLS message is not an application message');
      }
      let result: Awaited<ReturnType<typeof unprotectPrivateMessage>>;
      try {
        result = await unprotectPrivateMessage(
          state.keySchedule.senderDataSecret,
          message,
          state.secretTree,
          state.ratchetTree,
          state.groupContext,
          state.clientConfig.keyRetentionConfig,
          this.#cs,
        );
      } catch (cause) {
        throw mlsFailure('DMLS_DECRYPT_FAILED', 'the message does not decrypt in the named epoch', cause);
      }
      const content = result.content.content;
      if (content.contentType !== 'application' || content.sender.senderType !== 'member') {
        throw new DmlsError('DMLS_INVALID', 'the MLS message is not an application message from a member');
      }
      const leafIndex = content.sender.leafIndex;
      const leaf = state.ratchetTree[leafIndex * 2];
      if (leaf?.nodeType !== 'leaf') throw new DmlsError('DMLS_INVALID', 'the message names an empty leaf');
      const c = leaf.leaf.credential;
      const sender: LeafMember = {
        leafIndex,
        identity: c.credentialType === 'basic' ? c.identity.slice() : new Uint8Array(0),
        signatureKey: leaf.leaf.signaturePublicKey.slice(),
      };
      // The caller's check (e.g. the Matrix sender) runs before anything is kept: a refused
      // message leaves the ratchet where it was.
      checkSender?.(sender);
      writeState(this.roomId, op, n, { ...state, secretTree: result.tree }, state);
      op.wipeNow.push(...result.consumed);
      this.#apply(op);
      return { plaintext: content.applicationData, sender };
    });
  }

  // -------------------------------------------------------------------------------------------
  // Own commits: created, kept pending (persisted), confirmed once the event id is known.

  async #loadPending(tx: RecordTransaction): Promise<PendingState | undefined> {
    if (this.#pendingLoaded) return this.#pending;
    const bytes = await tx.getBytes(roomPendingKey(this.roomId));
    if (bytes === undefined) return undefined;
    return decodePending(bytes, this.#config);
  }

  /** The commit of ours that awaits its event id, if any. */
  pendingCommit(): Promise<PendingCommit | undefined> {
    return this.#serial(async () => {
      const p = await this.#loadPending(this.#records.transaction());
      return p === undefined
        ? undefined
        : { parentId: p.parentId, commit: p.commit, welcome: p.welcome, resolves: p.resolves };
    });
  }

  /**
   * Creates a commit on epoch `parentId` adding `add` and removing the leaves `remove`, listing
   * `resolves` (losing tips it resolves). The commit is a PublicMessage (its parent's secret tree
   * is not touched, so the parent stays usable for other children) with the ratchet tree in its
   * Welcome. It stays pending until `confirmCommit` names its event.
   */
  createCommit(
    parentId: string,
    options: {
      readonly add?: readonly KeyPackage[];
      readonly remove?: readonly number[];
      readonly resolves?: readonly string[];
    } = {},
  ): Promise<PendingCommit> {
    return this.#serial(async () => {
      const op = this.#begin();
      if ((await this.#loadPending(op.tx)) !== undefined) {
        throw new DmlsError('DMLS_PENDING_COMMIT', 'a commit of ours awaits confirmation; confirm or discard it first');
      }
      const parent = nodeById(op.meta, parentId);
      const state = await this.#loadState(op.tx, parent, op);
      const proposals: Proposal[] = [
        ...(options.add ?? []).map((keyPackage): Proposal => ({ proposalType: 'add', add: { keyPackage } })),
        ...(options.remove ?? []).map((removed): Proposal => ({ proposalType: 'remove', remove: { removed } })),
      ];
      let result: Awaited<ReturnType<typeof createCommit>>;
      try {
        result = await createCommit(
          {
            state,
            cipherSuite: this.#cs,
            pskIndex: this.#pskIndex(op, parent, state),
          },
          { extraProposals: proposals, ratchetTreeExtension: true, wireAsPublicMessage: true },
        );
      } catch (cause) {
        throw mlsFailure('DMLS_REJECTED', 'the commit could not be made', cause);
      }
      const pending: PendingState = {
        parentId,
        parentSerial: parent.serial,
        state: result.newState,
        parts: encodeParts(result.newState),
        consumed: result.consumed,
        commit: encodeMlsMessage(result.commit),
        welcome:
          result.welcome === undefined
            ? undefined
            : encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome: result.welcome }),
        resolves: [...(options.resolves ?? [])],
      };
      op.tx.put(roomPendingKey(this.roomId), encodePending(pending));
      op.pending = pending;
      this.#apply(op);
      return { parentId, commit: pending.commit, welcome: pending.welcome, resolves: pending.resolves };
    });
  }

  /** Forgets the pending commit (it was never sent). */
  discardCommit(): Promise<void> {
    return this.#serial(async () => {
      const op = this.#begin();
      const p = await this.#loadPending(op.tx);
      if (p === undefined) return;
      op.tx.remove(roomPendingKey(this.roomId));
      op.pending = null;
      op.wipeAfter.push(...secretArrays(p.state));
      this.#apply(op);
    });
  }

  /** Merges the pending commit as epoch `id` (its event id). */
  confirmCommit(id: string): Promise<{ epoch: EpochInfo; welcome: Uint8Array | undefined; resolves: string[] }> {
    return this.#serial(async () => {
      const op = this.#begin();
      const p = await this.#loadPending(op.tx);
      if (p === undefined) throw new DmlsError('DMLS_PENDING_COMMIT', 'there is no pending commit to confirm');
      if (op.meta.nodes.some((n) => n.id === id) || op.meta.forgotten.includes(id)) {
        throw new DmlsError('DMLS_REPLAY', 'an epoch with this commit event id exists already');
      }
      const parent = op.node(p.parentSerial);
      if (parent === undefined || parent.deleted) {
        throw new DmlsError('DMLS_EPOCH_DELETED', "the pending commit's parent epoch was deleted");
      }
      const own = identityOfLeaf(p.state.ratchetTree, p.state.privatePath.leafIndex);
      const node = await this.#addNode(op, p.state, {
        id,
        parent: parent.serial,
        creator: creatorOf(own),
        member: true,
        parts: p.parts,
        ...(own === undefined ? {} : { committer: hex(own) }),
      });
      op.kept.set(parent.serial, [...(op.kept.get(parent.serial) ?? []), ...p.consumed]);
      op.tx.remove(roomPendingKey(this.roomId));
      op.pending = null;
      this.#markResolved(op, p.resolves);
      await this.#collect(op);
      const info = epochInfo(node, op.meta);
      this.#apply(op);
      return { epoch: info, welcome: p.welcome, resolves: [...p.resolves] };
    });
  }

  /** Runs the deletion policy now (e.g. on a timer for the age limit). */
  collect(): Promise<void> {
    return this.#serial(async () => {
      const op = this.#begin();
      await this.#collect(op);
      this.#apply(op);
    });
  }

  /** @internal for tests: the in-memory state of an epoch, if loaded (to check wiping). */
  cachedKeySchedule(id: string): Record<string, Uint8Array> | undefined {
    const n = this.#meta.nodes.find((m) => m.id === id);
    const state = n === undefined ? undefined : this.#states.get(n.serial);
    return state === undefined ? undefined : { ...state.keySchedule };
  }

  /** Drops every in-memory state (they are reloaded from the records on use). */
  evict(): void {
    this.#states.clear();
  }
}
