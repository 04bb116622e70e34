/**
 * A room's DMLS group with the Matrix wire format on top of the epoch store: commit events,
 * welcomes, application messages, fork resolution against the room's membership.
 */
import { encodeMlsMessage } from 'ts-mls';
import { encodeBase64 } from '../encoding/base64.js';
import { utf8Encode } from '../encoding/json.js';
import { DmlsError, invalidArgument } from '../errors.js';
import type { DmlsAccount } from './account.js';
import type { EpochInfo, EpochStore } from './epoch-store.js';
import { decodeDmlsIdentity } from './identity.js';
import type { DmlsSuiteName } from './provider.js';
import {
  algorithmOf,
  type CommitContent,
  type DeviceRef,
  keyPackageFromUpload,
  type MessageContent,
  parseCommitContent,
  parseMessageContent,
  type WelcomeContent,
  welcomeAlgorithmOf,
} from './wire.js';

export interface MatrixEvent {
  readonly event_id?: string;
  readonly sender: string;
  readonly content: unknown;
}

export interface GroupMember {
  readonly userId: string;
  readonly deviceId: string;
  readonly signatureKey: Uint8Array;
}

function sameDevice(a: DeviceRef, b: DeviceRef): boolean {
  return a[0] === b[0] && a[1] === b[1];
}

function deviceKey(d: DeviceRef): string {
  return `${d[0]}\u0000${d[1]}`;
}

export class DmlsGroup {
  readonly #account: DmlsAccount;
  readonly #store: EpochStore;

  /** @internal made by DmlsAccount. */
  constructor(account: DmlsAccount, store: EpochStore) {
    this.#account = account;
    this.#store = store;
  }

  get roomId(): string {
    return this.#store.roomId;
  }
  get suite(): DmlsSuiteName {
    return this.#store.suite;
  }
  /** The room algorithm `m.dmls.v1.<suite>`. */
  get algorithm(): string {
    return algorithmOf(this.#store.suite);
  }
  get groupId(): Uint8Array {
    return this.#store.groupId;
  }

  /** Every retained epoch (oldest first). */
  epochs(): EpochInfo[] {
    return this.#store.epochs();
  }
  /** The epoch the fork-choice policy picks: where this device sends and commits. */
  winningTip(): EpochInfo {
    return this.#store.winningTip();
  }
  /** Unresolved tips other than the winner. */
  losingTips(): EpochInfo[] {
    return this.#store.losingTips();
  }
  /** True when several unresolved tips exist: commit (resolving them) before sending. */
  get needsResolution(): boolean {
    return this.#store.losingTips().length > 0;
  }
  /** True when this device is not a member in the winning tip (it was removed). */
  get removed(): boolean {
    return !this.#store.winningTip().member;
  }

  /** The epoch authenticator (RFC 9420 §8.7) of an epoch (the winning tip by default): equal on every member. */
  epochAuthenticator(epochId?: string): Promise<Uint8Array> {
    return this.#store.epochAuthenticator(epochId ?? this.#store.winningTip().id);
  }

  /** The members of an epoch (the winning tip by default). */
  async members(epochId?: string): Promise<GroupMember[]> {
    const id = epochId ?? this.#store.winningTip().id;
    const out: GroupMember[] = [];
    for (const m of await this.#store.members(id)) {
      const who = decodeDmlsIdentity(m.identity);
      if (who !== undefined) out.push({ ...who, signatureKey: m.signatureKey });
    }
    return out;
  }

  /**
   * What a commit on the winning tip must change so that the group's members are exactly the
   * devices in `desired` (from the Matrix room state: joined members' tracked devices). This is
   * how a resolving commit re-applies membership changes made only on losing forks.
   */
  async membershipChanges(desired: readonly DeviceRef[]): Promise<{ add: DeviceRef[]; remove: DeviceRef[] }> {
    const current = await this.members();
    const have = new Set(current.map((m) => deviceKey([m.userId, m.deviceId])));
    const want = new Set(desired.map(deviceKey));
    const self = deviceKey([this.#account.userId, this.#account.deviceId]);
    return {
      add: desired.filter((d) => !have.has(deviceKey(d)) && deviceKey(d) !== self),
      remove: current
        .filter((m) => !want.has(deviceKey([m.userId, m.deviceId])) && deviceKey([m.userId, m.deviceId]) !== self)
        .map((m): DeviceRef => [m.userId, m.deviceId]),
    };
  }

  #epochRef(info: EpochInfo): { epoch_creator: DeviceRef; commit_event?: string } {
    const creator: DeviceRef = [info.creator[0], info.creator[1]];
    return info.id === '' ? { epoch_creator: creator } : { epoch_creator: creator, commit_event: info.id };
  }

  /**
   * Makes a commit on the winning tip: adds the devices whose key packages (upload form, as
   * claimed) are given, removes the named devices, and lists every losing tip in `resolves`.
   * The content is ready to send as an m.room.encrypted event; once sent, call
   * `confirmCommit(eventId)` (or process the event when it comes back: it is recognised).
   */
  async createCommit(
    options: { readonly add?: readonly string[]; readonly remove?: readonly DeviceRef[] } = {},
  ): Promise<CommitContent> {
    if (options === null || typeof options !== 'object') throw invalidArgument('expected commit options');
    const { winner: tip, losers } = this.#store.forks();
    if (!tip.member) throw new DmlsError('DMLS_NOT_MEMBER', 'this device was removed from the group');
    const add = (options.add ?? []).map(keyPackageFromUpload);
    const removeLeaves: number[] = [];
    if ((options.remove ?? []).length > 0) {
      const members = await this.#store.members(tip.id);
      for (const d of options.remove ?? []) {
        const m = members.find((x) => {
          const who = decodeDmlsIdentity(x.identity);
          return who?.userId === d[0] && who.deviceId === d[1];
        });
        if (m === undefined) throw new DmlsError('DMLS_INVALID', 'a device to remove is not a member');
        removeLeaves.push(m.leafIndex);
      }
    }
    const pending = await this.#store.createCommit(tip.id, {
      add,
      remove: removeLeaves,
      resolves: losers.map((l) => l.id),
    });
    return this.#commitContent(tip, pending.commit, losers);
  }

  #commitContent(parent: EpochInfo, commit: Uint8Array, resolves: readonly EpochInfo[]): CommitContent {
    return {
      algorithm: this.algorithm,
      ciphertext: encodeBase64(commit),
      ...this.#epochRef(parent),
      sender: [this.#account.userId, this.#account.deviceId],
      resolves: resolves.map((r) => [r.epoch, [r.creator[0], r.creator[1]], r.id] as const),
    };
  }

  /** The content of our commit awaiting confirmation (to re-send it), if any. */
  async pendingCommit(): Promise<CommitContent | undefined> {
    const p = await this.#store.pendingCommit();
    if (p === undefined) return undefined;
    const parent = this.#store.epoch(p.parentId);
    if (parent === undefined) return undefined;
    const resolves = p.resolves.map((id) => this.#store.epoch(id)).filter((e) => e !== undefined);
    return this.#commitContent(parent, p.commit, resolves);
  }

  /** Drops our unsent commit. */
  discardCommit(): Promise<void> {
    return this.#store.discardCommit();
  }

  /**
   * Our commit was sent as event `eventId`: its epoch joins the tree. Returns the welcome
   * to-device content for the devices it added (send it to each of them), if any.
   */
  async confirmCommit(eventId: string): Promise<{ epoch: EpochInfo; welcome: WelcomeContent | undefined }> {
    if (typeof eventId !== 'string' || eventId.length === 0)
      throw invalidArgument('eventId must be a non-empty string');
    const { epoch, welcome, resolves } = await this.#store.confirmCommit(eventId);
    return {
      epoch,
      welcome:
        welcome === undefined
          ? undefined
          : {
              algorithm: welcomeAlgorithmOf(this.suite),
              ciphertext: encodeBase64(welcome),
              room_id: this.roomId,
              commit_event: eventId,
              epoch_creator: [this.#account.userId, this.#account.deviceId],
              resolves: resolves
                .map((id) => this.#store.epoch(id))
                .filter((e) => e !== undefined)
                .map((r) => [r.epoch, [r.creator[0], r.creator[1]], r.id] as const),
            },
    };
  }

  #findEpoch(creator: DeviceRef, commitEvent: string): EpochInfo {
    const info = this.#store.epoch(commitEvent);
    if (info === undefined) {
      // Let the store say whether it was deleted or never known.
      return { id: commitEvent } as EpochInfo;
    }
    if (!sameDevice(info.creator as DeviceRef, creator)) {
      throw new DmlsError('DMLS_EPOCH_UNKNOWN', 'the event names an epoch creator that does not match the epoch');
    }
    return info;
  }

  /**
   * Processes a commit event (m.room.encrypted with a `sender` field). Our own commit coming back
   * confirms the pending one. Throws a typed error, changing nothing, for a malformed event, an
   * unknown or deleted parent, a replay, or a commit MLS refuses.
   */
  async processCommit(event: MatrixEvent): Promise<{ epoch: EpochInfo; own: boolean }> {
    if (event === null || typeof event !== 'object' || typeof event.sender !== 'string') {
      throw new DmlsError('DMLS_INVALID', 'a commit event must have a sender and content');
    }
    if (typeof event.event_id !== 'string' || event.event_id.length === 0) {
      throw new DmlsError('DMLS_INVALID', 'a commit event must have an event id', { field: 'event_id' });
    }
    const parsed = parseCommitContent(event.content);
    if (parsed.suite !== this.suite) throw new DmlsError('DMLS_INVALID', "the commit's algorithm is not the room's");
    if (parsed.sender[0] !== event.sender) {
      throw new DmlsError('DMLS_SENDER_MISMATCH', "the commit's sender is not the event's sender");
    }
    const pending = await this.#store.pendingCommit();
    if (pending !== undefined && bytesEqual(pending.commit, parsed.ciphertext)) {
      if (!sameDevice(parsed.sender, [this.#account.userId, this.#account.deviceId])) {
        throw new DmlsError('DMLS_SENDER_MISMATCH', 'our own commit came back under another sender');
      }
      const { epoch } = await this.confirmCommit(event.event_id);
      return { epoch, own: true };
    }
    const parent = this.#findEpoch(parsed.parent.creator, parsed.parent.commitEvent);
    const resolves: string[] = [];
    for (const [epoch, creator, id] of parsed.resolves) {
      if (id !== undefined) {
        // Passed on even when unknown here: the store resolves that epoch when it arrives.
        resolves.push(id);
        continue;
      }
      const match = this.#store.epochs().find((e) => e.epoch === epoch && sameDevice(e.creator as DeviceRef, creator));
      if (match !== undefined) resolves.push(match.id);
    }
    const { epoch } = await this.#store.processCommit(parent.id, parsed.message, event.event_id, {
      resolves,
      expectedCommitter: parsed.sender,
    });
    return { epoch, own: false };
  }

  /**
   * Encrypts an application message in the winning tip. Throws DMLS_FORK while forks are
   * unresolved (MSC2883: resolve with a commit before sending).
   */
  async encrypt(plaintext: Uint8Array | string): Promise<MessageContent> {
    const bytes = typeof plaintext === 'string' ? utf8Encode(plaintext) : plaintext;
    if (!(bytes instanceof Uint8Array)) throw invalidArgument('plaintext must be a string or a Uint8Array');
    const tip = this.#store.sendTip();
    if (tip.forked) {
      throw new DmlsError('DMLS_FORK', 'the group has unresolved forks: commit on the winning tip first');
    }
    if (!tip.member) throw new DmlsError('DMLS_NOT_MEMBER', 'this device was removed from the group');
    const pm = await this.#store.encrypt(tip.id, bytes);
    const ciphertext = encodeMlsMessage({ version: 'mls10', wireformat: 'mls_private_message', privateMessage: pm });
    const creator: DeviceRef = [tip.creator[0], tip.creator[1]];
    return tip.id === ''
      ? { algorithm: this.algorithm, ciphertext: encodeBase64(ciphertext), epoch_creator: creator }
      : {
          algorithm: this.algorithm,
          ciphertext: encodeBase64(ciphertext),
          epoch_creator: creator,
          commit_event: tip.id,
        };
  }

  /**
   * Decrypts an application message with the epoch it names (on any live fork). The sender's
   * MLS credential must be a device of the event's sender.
   */
  async decrypt(
    event: MatrixEvent,
  ): Promise<{ plaintext: Uint8Array; userId: string; deviceId: string; epoch: EpochInfo }> {
    if (event === null || typeof event !== 'object' || typeof event.sender !== 'string') {
      throw new DmlsError('DMLS_INVALID', 'a room event must have a sender and content');
    }
    const parsed = parseMessageContent(event.content);
    if (parsed.suite !== this.suite) throw new DmlsError('DMLS_INVALID', "the message's algorithm is not the room's");
    const info = this.#findEpoch(parsed.epoch.creator, parsed.epoch.commitEvent);
    const { plaintext, sender } = await this.#store.decrypt(info.id, parsed.message.privateMessage, (s) => {
      const who = decodeDmlsIdentity(s.identity);
      if (who === undefined || who.userId !== event.sender) {
        throw new DmlsError('DMLS_SENDER_MISMATCH', "the message's MLS sender is not a device of the event's sender");
      }
    });
    const who = decodeDmlsIdentity(sender.identity)!;
    return { plaintext, userId: who.userId, deviceId: who.deviceId, epoch: info };
  }

  /** Runs the deletion policy now (for the age limit, e.g. on a timer). */
  collect(): Promise<void> {
    return this.#store.collect();
  }

  /** @internal the epoch store (tests, the Device). */
  get epochStore(): EpochStore {
    return this.#store;
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
