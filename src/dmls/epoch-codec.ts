/**
 * Record codecs of the epoch store: the pending-commit record and the secret-tree chunk records.
 */
import type { ClientConfig, SecretTree } from 'ts-mls';
import { decodeGroupStateWithoutTree } from 'ts-mls/clientState.js';
import { decodeRatchetTree } from 'ts-mls/ratchetTree.js';
import { ByteReader, ByteWriter } from '../encoding/binary.js';
import { DmlsError } from '../errors.js';
import { CHUNK, CORE_VERSION, corrupt, type PendingState } from './epoch-model.js';

export function safeDecode<T>(decode: () => [T, number] | undefined, length: number): T {
  let out: [T, number] | undefined;
  try {
    out = decode();
  } catch (cause) {
    throw corrupt('a DMLS record does not decode', cause);
  }
  if (out === undefined || out[1] !== length) throw corrupt('a DMLS record does not decode');
  return out[0];
}

// The pending-commit record: version ‖ parent serial ‖ parent id ‖ commit ‖ welcome? ‖ resolves ‖
// the new state's parts (ratchet tree ‖ core ‖ secret-tree chunks), reused as they are on confirmation.
const PENDING_VERSION = 2;

export function encodePending(p: PendingState): Uint8Array {
  let size = 64 + p.commit.length + (p.welcome?.length ?? 0) + p.parts.tree.length + p.parts.core.length;
  for (const c of p.parts.chunks) size += c.length + 4;
  const w = new ByteWriter(size);
  w.u8(PENDING_VERSION).u32(p.parentSerial).string(p.parentId).bytes(p.commit);
  w.bool(p.welcome !== undefined);
  if (p.welcome !== undefined) w.bytes(p.welcome);
  w.u32(p.resolves.length);
  for (const r of p.resolves) w.string(r);
  w.bytes(p.parts.tree).bytes(p.parts.core).u32(p.parts.chunks.length);
  for (const c of p.parts.chunks) w.bytes(c);
  return w.finish();
}

export function decodePending(bytes: Uint8Array, config: ClientConfig): PendingState {
  try {
    const r = new ByteReader(bytes);
    if (r.u8() !== PENDING_VERSION) throw corrupt('unknown pending-commit record version');
    const parentSerial = r.u32();
    const parentId = r.string();
    const commit = r.bytes();
    const welcome = r.bool() ? r.bytes() : undefined;
    const n = r.count(1024);
    const resolves: string[] = [];
    for (let i = 0; i < n; i++) resolves.push(r.string());
    const treeBytes = r.bytes();
    const core = r.bytes();
    const chunkCount = r.count(1 << 20);
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < chunkCount; i++) chunks.push(r.bytes());
    r.end();
    // The state is decoded from copies (see #loadState); the parts stay as they are for confirmation.
    const treeCopy = treeBytes.slice();
    const tree = safeDecode(() => decodeRatchetTree(treeCopy, 0), treeCopy.length);
    if (core[0] !== CORE_VERSION) throw corrupt('unknown state record version');
    const body = core.slice(1);
    const state = safeDecode(() => decodeGroupStateWithoutTree(tree)(body, 0), body.length);
    const secretTree = chunks.flatMap(decodeSecretChunk);
    return {
      parentSerial,
      parentId,
      commit,
      welcome,
      resolves,
      state: { ...state, secretTree, clientConfig: config },
      parts: { tree: treeBytes, core, chunks },
      consumed: [],
    };
  } catch (cause) {
    if (cause instanceof DmlsError) throw cause;
    throw corrupt('the pending-commit record is malformed', cause);
  }
}

// Secret-tree chunk records: version ‖ node count ‖ per node, for the handshake then the application
// ratchet: generation ‖ secret ‖ count ‖ (generation ‖ secret)* of the retained unused generations.
// (A hand-written codec: ts-mls's generic one costs ~25 µs for 16 nodes, on every message.)
const CHUNK_VERSION = 1;

export function encodeSecretChunk(tree: SecretTree, from: number, to: number): Uint8Array {
  const w = new ByteWriter(8 + (to - from) * 96);
  w.u8(CHUNK_VERSION).u32(to - from);
  for (let i = from; i < to; i++) {
    const node = tree[i]!;
    for (const g of [node.handshake, node.application]) {
      w.u32(g.generation).bytes(g.secret);
      const unused = Object.entries(g.unusedGenerations);
      w.u32(unused.length);
      for (const [gen, secret] of unused) w.u32(Number(gen)).bytes(secret);
    }
  }
  return w.finish();
}

/** Decodes a chunk into fresh arrays (never views of the record). */
export function decodeSecretChunk(bytes: Uint8Array): SecretTree {
  try {
    const r = new ByteReader(bytes);
    if (r.u8() !== CHUNK_VERSION) throw corrupt('unknown secret-tree record version');
    const count = r.count(CHUNK);
    const out: SecretTree = [];
    for (let i = 0; i < count; i++) {
      const ratchet = () => {
        const generation = r.u32();
        const secret = r.bytes();
        const unusedGenerations: Record<number, Uint8Array> = {};
        const n = r.count(1 << 16);
        for (let k = 0; k < n; k++) {
          const gen = r.u32();
          unusedGenerations[gen] = r.bytes();
        }
        return { generation, secret, unusedGenerations };
      };
      const handshake = ratchet();
      const application = ratchet();
      out.push({ handshake, application });
    }
    r.end();
    return out;
  } catch (cause) {
    if (cause instanceof DmlsError) throw cause;
    throw corrupt('a secret-tree record is malformed', cause);
  }
}
