/**
 * Epoch-tree queries of the epoch store over the room meta: children, live tips, lookup by id,
 * the public EpochInfo view, leaf lookup and message-frame checks. Pure functions, no store state.
 */
import type { ClientState } from 'ts-mls';
import { decodeBase64 } from '../encoding/base64.js';
import { DmlsError } from '../errors.js';
import { type EpochInfo, identityOfLeaf, type NodeMeta, type RoomMeta } from './epoch-model.js';
import { decodeDmlsIdentity } from './identity.js';

export function leafOf(state: ClientState, member: readonly [string, string]): number | undefined {
  for (let i = 0; i < state.ratchetTree.length; i += 2) {
    const id = identityOfLeaf(state.ratchetTree, i / 2);
    if (id === undefined) continue;
    const who = decodeDmlsIdentity(id);
    if (who?.userId === member[0] && who.deviceId === member[1]) return i / 2;
  }
  return undefined;
}

export function epochInfo(n: NodeMeta, meta: RoomMeta): EpochInfo {
  const parent = n.parent === null ? undefined : meta.nodes.find((p) => p.serial === n.parent);
  return {
    id: n.id,
    epoch: n.epoch,
    creator: [n.creator[0], n.creator[1]],
    confirmationTag: decodeBase64(n.tag),
    dmlsEpoch: decodeBase64(n.dmlsEpoch),
    parentId: parent?.id,
    deleted: n.deleted,
    resolved: n.resolved,
    member: n.member,
  };
}

export function children(meta: RoomMeta, serial: number): NodeMeta[] {
  return meta.nodes.filter((n) => n.parent === serial);
}

export function liveTips(meta: RoomMeta): NodeMeta[] {
  return meta.nodes.filter((n) => !n.resolved && children(meta, n.serial).length === 0);
}

export function hasLiveTip(meta: RoomMeta, n: NodeMeta): boolean {
  const kids = children(meta, n.serial);
  if (kids.length === 0) return !n.resolved;
  return kids.some((k) => hasLiveTip(meta, k));
}

export function nodeById(meta: RoomMeta, id: string): NodeMeta {
  const n = meta.nodes.find((m) => m.id === id);
  if (n === undefined) {
    if (meta.forgotten.includes(id)) {
      throw new DmlsError('DMLS_EPOCH_DELETED', 'the named epoch was deleted and can never be used again');
    }
    throw new DmlsError('DMLS_EPOCH_UNKNOWN', 'the named epoch is not known to this device');
  }
  if (n.deleted) throw new DmlsError('DMLS_EPOCH_DELETED', 'the named epoch was deleted and can never be used again');
  if (!n.member) throw new DmlsError('DMLS_NOT_MEMBER', 'this device is not a member in the named epoch');
  return n;
}

export function checkFrame(groupId: Uint8Array, epoch: bigint, state: ClientState): void {
  const ours = state.groupContext.groupId;
  if (groupId.length !== ours.length || groupId.some((b, i) => b !== ours[i])) {
    throw new DmlsError('DMLS_INVALID', 'the MLS message is for another group');
  }
  if (epoch !== state.groupContext.epoch) {
    throw new DmlsError('DMLS_EPOCH_UNKNOWN', 'the MLS message is not for the named epoch', {
      expected: Number(state.groupContext.epoch),
      actual: Number(epoch),
    });
  }
}
