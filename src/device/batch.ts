/**
 * The batch one Device operation collects before its single commit: the staged records and
 * removals, `mark`/`rollback` to take one event's writes back out of a batch of many, and
 * `toChanges` for the store. Internal to the Device (see context.ts).
 */

import type {
  InboundGroupSessionEntry,
  MlsGroupEntry,
  OlmSessionEntry,
  OutboundGroupSessionEntry,
  ReplayEntry,
  StoreChanges,
  StoredRecord,
} from '../store/types.js';

/** A mark of an empty batch: rolling back to it drops everything. */
export const EMPTY_MARK: BatchMark = { account: undefined, lengths: [0, 0, 0, 0, 0, 0, 0, 0] };

/** The last item matching `match` (a batch's later writes win over its earlier ones). */
export function lastOf<T>(items: readonly T[], match: (item: T) => boolean): T | undefined {
  for (let i = items.length - 1; i >= 0; i--) if (match(items[i]!)) return items[i];
  return undefined;
}

export interface BatchMark {
  readonly account: StoredRecord | undefined;
  readonly lengths: readonly [number, number, number, number, number, number, number, number];
}

/** The changes one operation collects before its single commit. */
export class Batch {
  account: StoredRecord | undefined;
  readonly olmSessions: OlmSessionEntry[] = [];
  readonly inboundGroupSessions: InboundGroupSessionEntry[] = [];
  readonly outboundGroupSessions: OutboundGroupSessionEntry[] = [];
  readonly removeOutboundGroupSessions: string[] = [];
  readonly replays: ReplayEntry[] = [];
  readonly values: { key: string; value: string | null }[] = [];
  readonly mlsGroups: MlsGroupEntry[] = [];
  readonly removeMlsGroups: string[] = [];

  /** Where the batch stands, to roll one event's changes back out of a batch of many (see `rollback`). */
  mark(): BatchMark {
    return {
      account: this.account,
      lengths: [
        this.olmSessions.length,
        this.inboundGroupSessions.length,
        this.outboundGroupSessions.length,
        this.removeOutboundGroupSessions.length,
        this.replays.length,
        this.values.length,
        this.mlsGroups.length,
        this.removeMlsGroups.length,
      ],
    };
  }

  /** Drops everything added since `mark` (the caller also drops the caches: see DeviceContext.rollback). */
  rollback(mark: BatchMark): void {
    this.account = mark.account;
    const [olm, inbound, outbound, removed, replays, values, mls, removedMls] = mark.lengths;
    this.olmSessions.length = olm;
    this.inboundGroupSessions.length = inbound;
    this.outboundGroupSessions.length = outbound;
    this.removeOutboundGroupSessions.length = removed;
    this.replays.length = replays;
    this.values.length = values;
    this.mlsGroups.length = mls;
    this.removeMlsGroups.length = removedMls;
  }

  get empty(): boolean {
    return (
      this.account === undefined &&
      this.olmSessions.length === 0 &&
      this.inboundGroupSessions.length === 0 &&
      this.outboundGroupSessions.length === 0 &&
      this.removeOutboundGroupSessions.length === 0 &&
      this.replays.length === 0 &&
      this.values.length === 0 &&
      this.mlsGroups.length === 0 &&
      this.removeMlsGroups.length === 0
    );
  }

  /** True when the batch holds replay records and nothing else (see DeviceContext.deferReplays). */
  get onlyReplays(): boolean {
    return (
      this.replays.length > 0 &&
      this.account === undefined &&
      this.olmSessions.length === 0 &&
      this.inboundGroupSessions.length === 0 &&
      this.outboundGroupSessions.length === 0 &&
      this.removeOutboundGroupSessions.length === 0 &&
      this.values.length === 0 &&
      this.mlsGroups.length === 0 &&
      this.removeMlsGroups.length === 0
    );
  }

  toChanges(): StoreChanges {
    const changes: { -readonly [K in keyof StoreChanges]: StoreChanges[K] } = {};
    if (this.account !== undefined) changes.account = this.account;
    if (this.olmSessions.length > 0) changes.olmSessions = this.olmSessions;
    if (this.inboundGroupSessions.length > 0) changes.inboundGroupSessions = this.inboundGroupSessions;
    if (this.outboundGroupSessions.length > 0) changes.outboundGroupSessions = this.outboundGroupSessions;
    if (this.removeOutboundGroupSessions.length > 0)
      changes.removeOutboundGroupSessions = this.removeOutboundGroupSessions;
    if (this.replays.length > 0) changes.replays = this.replays;
    if (this.values.length > 0) changes.values = this.values;
    if (this.mlsGroups.length > 0) changes.mlsGroups = this.mlsGroups;
    if (this.removeMlsGroups.length > 0) changes.removeMlsGroups = this.removeMlsGroups;
    return changes;
  }
}
