/**
 * Megolm: triturus against libolm (@towns-protocol/olm, WASM) in one process. Both sides take and
 * return the same forms (base64 strings for messages and keys), so encoding costs are counted.
 * Decryption is measured in order (each iteration decrypts the next message), as a client reads a
 * room; libolm re-advances from its initial ratchet when asked for an older index.
 */
import Olm, {
  type InboundGroupSession as LibolmInbound,
  type OutboundGroupSession as LibolmOutbound,
  type OlmImpl,
} from '@towns-protocol/olm';
import { GroupSession, InboundGroupSession, MegolmMessage, SessionKey } from '../src/index.js';
import type { BenchModule, Case } from './harness.js';

const PLAINTEXT = 'x'.repeat(100);
const PLAINTEXT_4K = 'y'.repeat(4096);
const PICKLE_KEY = new Uint8Array(32).fill(7);
const ADVANCE_TO = 100_000;
// Messages prepared for the in-order decrypt case.
const BATCH = 4096;
let olm: OlmImpl;

function libolmOutbound(): LibolmOutbound {
  const s = new olm.OutboundGroupSession();
  s.create();
  return s;
}

function libolmInbound(key: string): LibolmInbound {
  const s = new olm.InboundGroupSession();
  s.create(key);
  return s;
}

/** Runs an iteration a few hundred times before it is measured (JIT, key handles, caches), on both sides. */
function warm<T>(iteration: () => T, times = 200): () => T {
  for (let i = 0; i < times; i++) iteration();
  return iteration;
}

/**
 * Cycles through a prepared batch of in-order messages; at the end of the batch a fresh inbound
 * session (one signature check per batch) starts again from the first message.
 */
function inOrder<S, T>(messages: string[], open: () => S, decrypt: (session: S, m: string) => T): () => T {
  let session = open();
  let next = 0;
  return () => {
    if (next === messages.length) {
      session = open();
      next = 0;
    }
    return decrypt(session, messages[next++]!);
  };
}

/** A case whose fixtures are built synchronously. */
type SyncCase = Omit<Case, 'triturus' | 'reference'> & {
  readonly triturus: () => () => unknown;
  readonly reference: () => () => unknown;
};

const cases: SyncCase[] = [
  {
    name: 'encrypt 100 B',
    target: 1.0,
    triturus: () => {
      const s = GroupSession.create();
      return () => s.encrypt(PLAINTEXT).toBase64();
    },
    reference: () => {
      const s = libolmOutbound();
      return () => s.encrypt(PLAINTEXT);
    },
  },
  {
    name: 'decrypt 100 B (next message in order)',
    target: 1.0,
    triturus: () => {
      const out = GroupSession.create();
      const key = out.sessionKey().toBase64();
      const messages = Array.from({ length: BATCH }, () => out.encrypt(PLAINTEXT).toBase64());
      return inOrder(
        messages,
        () => InboundGroupSession.fromSessionKey(SessionKey.fromBase64(key)),
        (inbound, m) => inbound.decrypt(MegolmMessage.fromBase64(m)),
      );
    },
    reference: () => {
      const out = libolmOutbound();
      const key = out.session_key();
      const messages = Array.from({ length: BATCH }, () => out.encrypt(PLAINTEXT));
      let previous: LibolmInbound | undefined;
      return inOrder(
        messages,
        () => {
          previous?.free();
          previous = libolmInbound(key);
          return previous;
        },
        (inbound, m) => inbound.decrypt(m),
      );
    },
  },
  {
    name: 'encrypt + decrypt 4 KiB',
    target: 0.6,
    triturus: () => {
      const out = GroupSession.create();
      const inbound = InboundGroupSession.fromSessionKey(out.sessionKey());
      return () => inbound.decrypt(MegolmMessage.fromBase64(out.encrypt(PLAINTEXT_4K).toBase64()));
    },
    reference: () => {
      const out = libolmOutbound();
      const inbound = libolmInbound(out.session_key());
      return () => inbound.decrypt(out.encrypt(PLAINTEXT_4K));
    },
  },
  {
    name: `new inbound session + advance 0 → ${ADVANCE_TO}`,
    target: 0.5,
    triturus: () => {
      const key = GroupSession.create().sessionKey().toBase64();
      return () => InboundGroupSession.fromSessionKey(SessionKey.fromBase64(key)).exportAt(ADVANCE_TO).toBase64();
    },
    reference: () => {
      const key = libolmOutbound().session_key();
      return () => {
        const s = libolmInbound(key);
        const exported = s.export_session(ADVANCE_TO);
        s.free();
        return exported;
      };
    },
  },
  {
    name: 'pickle outbound session',
    target: 1.0,
    triturus: () => {
      const s = GroupSession.create();
      return () => s.pickle(PICKLE_KEY);
    },
    reference: () => {
      const s = libolmOutbound();
      return () => s.pickle(PICKLE_KEY.slice());
    },
  },
  {
    name: 'unpickle outbound session',
    target: 1.0,
    triturus: () => {
      const pickle = GroupSession.create().pickle(PICKLE_KEY);
      return () => GroupSession.fromPickle(pickle, PICKLE_KEY);
    },
    reference: () => {
      const pickle = libolmOutbound().pickle(PICKLE_KEY.slice());
      return () => {
        const s = new olm.OutboundGroupSession();
        s.unpickle(PICKLE_KEY.slice(), pickle);
        s.free();
      };
    },
  },
  {
    name: 'pickle inbound session',
    target: 1.0,
    triturus: () => {
      const s = InboundGroupSession.fromSessionKey(GroupSession.create().sessionKey());
      return () => s.pickle(PICKLE_KEY);
    },
    reference: () => {
      const s = libolmInbound(libolmOutbound().session_key());
      return () => s.pickle(PICKLE_KEY.slice());
    },
  },
  {
    name: 'unpickle inbound session',
    target: 1.0,
    triturus: () => {
      const pickle = InboundGroupSession.fromSessionKey(GroupSession.create().sessionKey()).pickle(PICKLE_KEY);
      return () => InboundGroupSession.fromPickle(pickle, PICKLE_KEY);
    },
    reference: () => {
      const pickle = libolmInbound(libolmOutbound().session_key()).pickle(PICKLE_KEY.slice());
      return () => {
        const s = new olm.InboundGroupSession();
        s.unpickle(PICKLE_KEY.slice(), pickle);
        s.free();
      };
    },
  },
];

/** Every case, with each side's iteration warmed up before it is measured. */
export const megolmCases: Case[] = cases.map((c) => ({
  ...c,
  triturus: () => warm(c.triturus()),
  reference: () => warm(c.reference()),
}));

export const megolmModule: BenchModule = {
  name: 'megolm',
  title: 'Megolm (group sessions)',
  reference: 'libolm',
  init: async () => {
    olm = await Olm.initAsync();
  },
  cases: megolmCases,
};
