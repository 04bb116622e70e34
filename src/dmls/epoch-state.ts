/**
 * Persistence of one epoch's group state within an operation (epoch-store.ts): encoding it into parts
 * (ratchet tree, core, secret-tree chunks), writing only what changed, removing it, and reading the
 * set of members it still awaits.
 */
import type { ClientState } from 'ts-mls';
import { encodeGroupStateWithoutTree } from 'ts-mls/clientState.js';
import { encodeRatchetTree } from 'ts-mls/ratchetTree.js';
import { encodeSecretChunk } from './epoch-codec.js';
import { CHUNK, CORE_VERSION, corrupt, type NodeMeta, type Operation, type StateParts } from './epoch-model.js';
import { epochKey } from './records.js';

/** The records of a whole state: ratchet tree, core, secret-tree chunks. */
export function encodeParts(state: ClientState): StateParts {
  const body = encodeGroupStateWithoutTree({ ...state, secretTree: [], historicalReceiverData: new Map() });
  const core = new Uint8Array(body.length + 1);
  core[0] = CORE_VERSION;
  core.set(body, 1);
  const chunks: Uint8Array[] = [];
  for (let i = 0; i * CHUNK < state.secretTree.length; i++) {
    chunks.push(encodeSecretChunk(state.secretTree, i * CHUNK, Math.min(state.secretTree.length, (i + 1) * CHUNK)));
  }
  return { tree: encodeRatchetTree(state.ratchetTree), core, chunks };
}

/** Writes a new epoch's state from already encoded parts (a confirmed commit: no re-encoding). */
export function writeParts(roomId: string, op: Operation, n: NodeMeta, state: ClientState, parts: StateParts): void {
  op.tx.put(epochKey(roomId, n.serial, 'tree'), parts.tree);
  op.tx.put(epochKey(roomId, n.serial, 'core'), parts.core);
  for (const [i, c] of parts.chunks.entries()) op.tx.put(epochKey(roomId, n.serial, `secrets/${i}`), c);
  n.chunks = parts.chunks.length;
  op.states.set(n.serial, state);
}

export function writeState(
  roomId: string,
  op: Operation,
  n: NodeMeta,
  state: ClientState,
  previous: ClientState | undefined,
): void {
  if (previous === undefined) {
    writeParts(roomId, op, n, state, encodeParts(state));
    return;
  }
  const { tx } = op;
  if (previous === undefined || previous.ratchetTree !== state.ratchetTree) {
    tx.put(epochKey(roomId, n.serial, 'tree'), encodeRatchetTree(state.ratchetTree));
  }
  const coreChanged =
    previous === undefined ||
    previous.groupContext !== state.groupContext ||
    previous.keySchedule !== state.keySchedule ||
    previous.privatePath !== state.privatePath ||
    previous.signaturePrivateKey !== state.signaturePrivateKey ||
    previous.unappliedProposals !== state.unappliedProposals ||
    previous.confirmationTag !== state.confirmationTag ||
    previous.groupActiveState !== state.groupActiveState ||
    previous.historicalReceiverData !== state.historicalReceiverData;
  if (coreChanged) {
    const body = encodeGroupStateWithoutTree({ ...state, secretTree: [], historicalReceiverData: new Map() });
    const core = new Uint8Array(body.length + 1);
    core[0] = CORE_VERSION;
    core.set(body, 1);
    tx.put(epochKey(roomId, n.serial, 'core'), core);
  }
  const chunks = Math.ceil(state.secretTree.length / CHUNK);
  for (let i = 0; i < chunks; i++) {
    const end = Math.min((i + 1) * CHUNK, state.secretTree.length);
    if (previous.secretTree.length === state.secretTree.length) {
      let same = true;
      for (let j = i * CHUNK; j < end; j++) {
        if (previous.secretTree[j] !== state.secretTree[j]) {
          same = false;
          break;
        }
      }
      if (same) continue;
    }
    tx.put(epochKey(roomId, n.serial, `secrets/${i}`), encodeSecretChunk(state.secretTree, i * CHUNK, end));
  }
  for (let i = chunks; i < n.chunks; i++) tx.remove(epochKey(roomId, n.serial, `secrets/${i}`));
  n.chunks = chunks;
  op.states.set(n.serial, state);
}

export function removeState(roomId: string, op: Operation, n: NodeMeta): void {
  op.tx.remove(epochKey(roomId, n.serial, 'tree'));
  op.tx.remove(epochKey(roomId, n.serial, 'core'));
  for (let i = 0; i < n.chunks; i++) op.tx.remove(epochKey(roomId, n.serial, `secrets/${i}`));
  n.chunks = 0;
  op.states.set(n.serial, null);
}

export async function readAwaiting(roomId: string, op: Operation, n: NodeMeta): Promise<Set<string> | undefined> {
  const text = await op.tx.getString(epochKey(roomId, n.serial, 'awaiting'));
  if (text === undefined) return undefined;
  try {
    const list = JSON.parse(text) as unknown;
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) throw new Error('not a list');
    return new Set(list as string[]);
  } catch (cause) {
    throw corrupt('a DMLS awaiting-members record is malformed', cause);
  }
}
