/**
 * libolm's Megolm pickles (libolm 3.x, outbound_group_session.c and inbound_group_session.c),
 * inside the container of `container.ts`; integers are u32 big-endian, booleans one byte:
 *
 *   OutboundGroupSession v1: u32 1 | ratchet (128) | u32 counter | Ed25519 public (32) | Ed25519 expanded secret (64)
 *   InboundGroupSession v2:  u32 2 | initial ratchet (128) | u32 counter | latest ratchet (128) | u32 counter
 *                            | Ed25519 public (32) | bool verified   (v1 has no flag and counts as verified)
 *
 * Both import losslessly and export back for Megolm v1 sessions (libolm knows no v2). libolm keeps
 * the signing key in its 64-byte expanded form, so an imported outbound session signs through the
 * pure-JavaScript path (no seed for node:crypto); a session created by triturus exports its
 * expanded key, which libolm signs with identically.
 */
import { Ed25519SecretKey } from '../crypto/index.js';
import { ByteReader, ByteWriter, isBytes } from '../encoding/binary.js';
import { invalidArgument, PickleError, TriturusError } from '../errors.js';
import { MegolmSessionConfig } from '../megolm/config.js';
import { GroupSession } from '../megolm/group-session.js';
import { InboundGroupSession } from '../megolm/inbound-group-session.js';
import { parsePickleBody } from '../pickle.js';
import { type LibolmPickleKey, openLibolmPickle, sealLibolmPickle } from './container.js';

const OUTBOUND_VERSION = 1;
const INBOUND_VERSION = 2;
const RATCHET_LENGTH = 128;

export function groupSessionFromLibolmPickle(pickle: string, key: LibolmPickleKey): GroupSession {
  const body = openLibolmPickle(pickle, key);
  return parsePickleBody(body, (b) => {
    const r = new ByteReader(b);
    const version = r.u32();
    if (version !== OUTBOUND_VERSION) {
      throw new PickleError('PICKLE_UNSUPPORTED_VERSION', 'unknown libolm OutboundGroupSession pickle version', {
        expected: OUTBOUND_VERSION,
        actual: version,
      });
    }
    const ratchet = r.raw(RATCHET_LENGTH);
    const counter = r.u32();
    const publicKey = r.raw(32);
    const expanded = r.raw(64);
    r.end();
    try {
      return GroupSession.fromParts({
        config: MegolmSessionConfig.version1(),
        ratchet,
        counter,
        signingKey: Ed25519SecretKey.fromExpanded(expanded, publicKey),
      });
    } finally {
      ratchet.fill(0);
      expanded.fill(0);
    }
  });
}

export function inboundGroupSessionFromLibolmPickle(pickle: string, key: LibolmPickleKey): InboundGroupSession {
  const body = openLibolmPickle(pickle, key);
  return parsePickleBody(body, (b) => {
    const r = new ByteReader(b);
    const version = r.u32();
    if (version !== 1 && version !== INBOUND_VERSION) {
      throw new PickleError('PICKLE_UNSUPPORTED_VERSION', 'unknown libolm InboundGroupSession pickle version', {
        expected: INBOUND_VERSION,
        actual: version,
      });
    }
    const initialData = r.raw(RATCHET_LENGTH);
    const initialCounter = r.u32();
    const latestData = r.raw(RATCHET_LENGTH);
    const latestCounter = r.u32();
    const signingKey = r.raw(32);
    // Pickle version 1 predates the flag: every key share was signature-checked then.
    const verified = version === 1 ? true : r.bool();
    r.end();
    try {
      return InboundGroupSession.fromParts({
        config: MegolmSessionConfig.version1(),
        signingKey,
        initial: { data: initialData, counter: initialCounter },
        latest: { data: latestData, counter: latestCounter },
        verified,
      });
    } finally {
      initialData.fill(0);
      latestData.fill(0);
    }
  });
}

function checkPickleKey(key: unknown): void {
  if (typeof key !== 'string' && !isBytes(key))
    throw invalidArgument('a libolm pickle key is a string or a Uint8Array');
}

function requireVersion1(config: MegolmSessionConfig): void {
  if (config.version !== 1) {
    throw new TriturusError('UNSUPPORTED', 'libolm pickles hold Megolm v1 sessions only', { version: config.version });
  }
}

/** A libolm OutboundGroupSession pickle of `session` (Megolm v1 only). */
export function groupSessionToLibolmPickle(session: GroupSession, key: LibolmPickleKey): string {
  if (!(session instanceof GroupSession)) throw invalidArgument('expected a GroupSession');
  checkPickleKey(key);
  const parts = session.toParts();
  try {
    requireVersion1(parts.config);
    const expanded = parts.signingKey.expandedBytes();
    const w = new ByteWriter(256);
    w.u32(OUTBOUND_VERSION).raw(parts.ratchet).u32(parts.counter).raw(parts.signingKey.publicKey).raw(expanded);
    expanded.fill(0);
    const body = w.finish();
    try {
      return sealLibolmPickle(body, key);
    } finally {
      body.fill(0);
    }
  } finally {
    parts.ratchet.fill(0);
  }
}

/** A libolm InboundGroupSession pickle (version 2) of `session` (Megolm v1 only). */
export function inboundGroupSessionToLibolmPickle(session: InboundGroupSession, key: LibolmPickleKey): string {
  if (!(session instanceof InboundGroupSession)) throw invalidArgument('expected an InboundGroupSession');
  checkPickleKey(key);
  const parts = session.toParts();
  try {
    requireVersion1(parts.config);
    const w = new ByteWriter(320);
    w.u32(INBOUND_VERSION).raw(parts.initial.data).u32(parts.initial.counter);
    w.raw(parts.latest.data).u32(parts.latest.counter).raw(parts.signingKey).bool(parts.verified);
    const body = w.finish();
    try {
      return sealLibolmPickle(body, key);
    } finally {
      body.fill(0);
    }
  } finally {
    parts.initial.data.fill(0);
    parts.latest.data.fill(0);
  }
}
