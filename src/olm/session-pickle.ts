/**
 * The triturus Olm session pickle body: schema 2 (with the records of given-up keys) written,
 * schemas 1 and 2 read. Sealing and opening the pickle itself is pickle.ts's; the libolm format
 * lives in src/libolm/.
 */

import { X25519SecretKey } from '../crypto/index.js';
import { type ByteReader, ByteWriter } from '../encoding/binary.js';
import { PickleError } from '../errors.js';
import { Curve25519PublicKey, curve25519Bytes } from '../keys.js';
import { SessionConfig } from './config.js';
import { type IndexRanges, MAX_INDEX_RANGES, NO_RANGES, rangesAreValid } from './index-ranges.js';
import {
  type DroppedChain,
  MAX_DROPPED_CHAINS,
  MAX_RECEIVER_CHAINS,
  MAX_SKIPPED_KEYS_PER_CHAIN,
  type ReceiverChain,
  type SenderChain,
  type SessionKeys,
} from './session-state.js';

/** 1: before the records of given-up keys (still read); 2: with them. */
const PICKLE_SCHEMA = 2;
const PICKLE_SCHEMA_WITHOUT_HISTORY = 1;

/** The session state the pickle body holds. */
export interface SessionPickleState {
  readonly config: SessionConfig;
  readonly sessionKeys: SessionKeys;
  readonly rootKey: Uint8Array;
  readonly receivedMessage: boolean;
  readonly sender: SenderChain | undefined;
  readonly receivers: ReceiverChain[];
  readonly dropped: DroppedChain[];
}

export function serializeSession(state: SessionPickleState): Uint8Array {
  // A capacity hint: the writer grows by doubling, so another size changes speed, never the bytes, as
  // long as it is not negative (a size that could go negative is tested with every bound reached).
  let size = 1 + 1 + 1 + 32 * 4 + 1 + 100 + 1 + 1;
  for (const r of state.receivers) size += 32 * 2 + 6 + r.skipped.length * 36 + r.lost.length * 4;
  for (const d of state.dropped) size += 32 + 5 + d.lost.length * 4;
  const w = new ByteWriter(size);
  const k = state.sessionKeys;
  w.u8(PICKLE_SCHEMA).u8(state.config.version).bool(state.receivedMessage);
  w.raw(curve25519Bytes(k.identityKey)).raw(curve25519Bytes(k.baseKey)).raw(curve25519Bytes(k.oneTimeKey));
  w.raw(state.rootKey);
  const sender = state.sender;
  w.bool(sender !== undefined);
  if (sender !== undefined) {
    const secret = sender.ratchetKey.toBytes();
    w.raw(secret).raw(sender.ratchetKey.publicKey).raw(sender.chainKey).u32(sender.index);
    secret.fill(0);
  }
  w.u8(state.receivers.length);
  for (const r of state.receivers) {
    w.raw(r.ratchetKey).raw(r.chainKey).u32(r.index).u8(r.skipped.length);
    for (const s of r.skipped) w.u32(s.index).raw(s.messageKey);
    writeRanges(w, r.lost);
  }
  w.u8(state.dropped.length);
  for (const d of state.dropped) {
    w.raw(d.ratchetKey).u32(d.nextIndex);
    writeRanges(w, d.lost);
  }
  return w.finish();
}

export function deserializeSession(r: ByteReader): SessionPickleState {
  const schema = r.u8();
  if (schema !== PICKLE_SCHEMA && schema !== PICKLE_SCHEMA_WITHOUT_HISTORY) {
    throw new PickleError('PICKLE_UNSUPPORTED_VERSION', 'unknown Olm session pickle schema', { actual: schema });
  }
  const config = SessionConfig.fromVersion(r.u8());
  const receivedMessage = r.bool();
  const sessionKeys: SessionKeys = {
    identityKey: Curve25519PublicKey.fromBytes(r.raw(32)),
    baseKey: Curve25519PublicKey.fromBytes(r.raw(32)),
    oneTimeKey: Curve25519PublicKey.fromBytes(r.raw(32)),
  };
  const rootKey = r.raw(32);
  let sender: SenderChain | undefined;
  if (r.bool()) {
    const secret = r.raw(32);
    const ratchetKey = X25519SecretKey.fromParts(secret, r.raw(32));
    secret.fill(0);
    sender = { ratchetKey, chainKey: r.raw(32), index: r.u32() };
  }
  const receiverCount = r.u8();
  if (receiverCount > MAX_RECEIVER_CHAINS) throw new PickleError('PICKLE_INVALID', 'too many receiver chains');
  const receivers: ReceiverChain[] = [];
  for (let i = 0; i < receiverCount; i++) {
    const chain: ReceiverChain = {
      ratchetKey: r.raw(32),
      chainKey: r.raw(32),
      index: r.u32(),
      skipped: [],
      lost: NO_RANGES,
    };
    const skippedCount = r.u8();
    if (skippedCount > MAX_SKIPPED_KEYS_PER_CHAIN) throw new PickleError('PICKLE_INVALID', 'too many skipped keys');
    for (let j = 0; j < skippedCount; j++) chain.skipped.push({ index: r.u32(), messageKey: r.raw(32) });
    // Schema 1 kept no record of given-up keys: this chain's history is unknown (see the file comment).
    if (schema !== PICKLE_SCHEMA_WITHOUT_HISTORY) chain.lost = readRanges(r, chain.index);
    receivers.push(chain);
  }
  const dropped: DroppedChain[] = [];
  if (schema !== PICKLE_SCHEMA_WITHOUT_HISTORY) {
    const droppedCount = r.u8();
    if (droppedCount > MAX_DROPPED_CHAINS) throw new PickleError('PICKLE_INVALID', 'too many dropped chains');
    for (let i = 0; i < droppedCount; i++) {
      const ratchetKey = r.raw(32);
      const nextIndex = r.u32();
      dropped.push({ ratchetKey, nextIndex, lost: readRanges(r, nextIndex) });
    }
  }
  r.end();
  return { config, sessionKeys, rootKey, receivedMessage, sender, receivers, dropped };
}

function writeRanges(w: ByteWriter, ranges: IndexRanges): void {
  w.u8(ranges.length / 2);
  for (const n of ranges) w.u32(n);
}

/** Ranges from a pickle, checked: sorted, disjoint, non-touching, bounded, all below `limit`. */
function readRanges(r: ByteReader, limit: number): IndexRanges {
  const count = r.u8();
  if (count > MAX_INDEX_RANGES) throw new PickleError('PICKLE_INVALID', 'too many index ranges');
  const ranges: number[] = [];
  for (let i = 0; i < 2 * count; i++) ranges.push(r.u32());
  if (!rangesAreValid(ranges, limit)) throw new PickleError('PICKLE_INVALID', 'malformed index ranges');
  return ranges;
}
