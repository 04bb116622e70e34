/** Olm: triturus against libolm (@towns-protocol/olm, WASM) in one process. */
import Olm, { type Account as LibolmAccount, type Session as LibolmSession, type OlmImpl } from '@towns-protocol/olm';
import { Account, type Curve25519PublicKey, type PreKeyMessage, Session, SessionConfig } from '../src/index.js';
import { accountFromLibolmPickle } from '../src/libolm/index.js';
import type { BenchModule, Case } from './harness.js';

const PLAINTEXT = 'x'.repeat(100);
const PICKLE_KEY = new Uint8Array(32).fill(7);
let olm: OlmImpl;

function otk(account: Account): Curve25519PublicKey {
  account.generateOneTimeKeys(1);
  const key = [...account.oneTimeKeys.values()][0]!;
  account.markKeysAsPublished();
  return key;
}

/** Two triturus accounts with an established session (Bob has replied once). */
function triturusPair(): { alice: Session; bob: Session; a: Account; b: Account } {
  const a = Account.create();
  const b = Account.create();
  const alice = a.createOutboundSession(SessionConfig.version1(), b.curve25519Key, otk(b));
  const { session: bob } = b.createInboundSession(a.curve25519Key, alice.encrypt('hi') as PreKeyMessage);
  alice.decrypt(bob.encrypt('hi'));
  return { alice, bob, a, b };
}

function libolmPair(): { alice: LibolmSession; bob: LibolmSession; a: LibolmAccount; b: LibolmAccount } {
  const a = new olm.Account();
  a.create();
  const b = new olm.Account();
  b.create();
  b.generate_one_time_keys(1);
  const key = Object.values(JSON.parse(b.one_time_keys()).curve25519)[0] as string;
  b.mark_keys_as_published();
  const alice = new olm.Session();
  alice.create_outbound(a, JSON.parse(b.identity_keys()).curve25519, key);
  const first = alice.encrypt('hi');
  const bob = new olm.Session();
  bob.create_inbound_from(b, JSON.parse(a.identity_keys()).curve25519, first.body);
  bob.decrypt(first.type, first.body);
  b.remove_one_time_keys(bob);
  const reply = bob.encrypt('hi');
  alice.decrypt(reply.type, reply.body);
  return { alice, bob, a, b };
}

/** libolm signing 100 bytes with a fresh account's key (the reference of both sign cases). */
function libolmSign(): () => unknown {
  const account = new olm.Account();
  account.create();
  return () => account.sign(PLAINTEXT);
}

export const olmCases: Case[] = [
  {
    // A key made by triturus (an Ed25519 seed): OpenSSL signs it directly on the node backend.
    name: 'sign 100 bytes (account made by triturus)',
    target: 1.0,
    triturus: () => {
      const account = Account.create();
      return () => account.sign(PLAINTEXT);
    },
    reference: libolmSign,
  },
  {
    // libolm's expanded key has no seed: the node backend makes the nonce point from two OpenSSL
    // X25519 key imports (src/crypto/ed25519-expanded-node.ts), about 3x a seed signature; the noble
    // backend signs in noble (what the node backend did before). For information: see the file's
    // comment for why OpenSSL cannot do better from Node 20's API.
    name: 'sign 100 bytes (account imported from a libolm pickle)',
    target: undefined,
    triturus: () => {
      const libolm = new olm.Account();
      libolm.create();
      const account = accountFromLibolmPickle(libolm.pickle('bench'), 'bench');
      libolm.free();
      return () => account.sign(PLAINTEXT);
    },
    reference: libolmSign,
  },
  {
    name: 'account + 50 one-time keys',
    target: 0.5,
    triturus: () => () => {
      const account = Account.create();
      account.generateOneTimeKeys(50);
      for (const key of account.oneTimeKeys.values()) key.toBase64();
      account.identityKeys.curve25519.toBase64();
    },
    reference: () => () => {
      const account = new olm.Account();
      account.create();
      account.generate_one_time_keys(50);
      account.one_time_keys();
      account.identity_keys();
      account.free();
    },
  },
  {
    name: 'create outbound session',
    target: 0.5,
    triturus: () => {
      const a = Account.create();
      const b = Account.create();
      const key = otk(b);
      return () => a.createOutboundSession(SessionConfig.version1(), b.curve25519Key, key);
    },
    reference: () => {
      const a = new olm.Account();
      a.create();
      const b = new olm.Account();
      b.create();
      b.generate_one_time_keys(1);
      const key = Object.values(JSON.parse(b.one_time_keys()).curve25519)[0] as string;
      const identity = JSON.parse(b.identity_keys()).curve25519;
      return () => {
        const s = new olm.Session();
        s.create_outbound(a, identity, key);
        s.free();
      };
    },
  },
  {
    name: 'create inbound session + decrypt',
    target: 0.5,
    triturus: () => {
      // A fallback key is not consumed, so the same pre-key message can start a session each time.
      const a = Account.create();
      const b = Account.create();
      b.generateFallbackKey();
      const fallback = [...b.fallbackKey.values()][0]!;
      const message = a.createOutboundSession(SessionConfig.version1(), b.curve25519Key, fallback).encrypt(PLAINTEXT);
      return () => b.createInboundSession(a.curve25519Key, message as PreKeyMessage);
    },
    reference: () => {
      const a = new olm.Account();
      a.create();
      const b = new olm.Account();
      b.create();
      b.generate_fallback_key();
      const fallback = Object.values(JSON.parse(b.unpublished_fallback_key()).curve25519)[0] as string;
      const s = new olm.Session();
      s.create_outbound(a, JSON.parse(b.identity_keys()).curve25519, fallback);
      const message = s.encrypt(PLAINTEXT);
      const identity = JSON.parse(a.identity_keys()).curve25519;
      return () => {
        const r = new olm.Session();
        r.create_inbound_from(b, identity, message.body);
        r.decrypt(message.type, message.body);
        r.free();
      };
    },
  },
  {
    name: 'ping-pong message (ratchet turn), per message',
    target: 0.5,
    triturus: () => {
      const { alice, bob } = triturusPair();
      let turn = false;
      return () => {
        turn = !turn;
        if (turn) bob.decrypt(alice.encrypt(PLAINTEXT));
        else alice.decrypt(bob.encrypt(PLAINTEXT));
      };
    },
    reference: () => {
      const { alice, bob } = libolmPair();
      let turn = false;
      return () => {
        turn = !turn;
        const [from, to] = turn ? [alice, bob] : [bob, alice];
        const m = from.encrypt(PLAINTEXT);
        to.decrypt(m.type, m.body);
      };
    },
  },
  {
    name: 'same-chain burst message (encrypt + decrypt)',
    target: 1.0,
    triturus: () => {
      const { alice, bob } = triturusPair();
      return () => bob.decrypt(alice.encrypt(PLAINTEXT));
    },
    reference: () => {
      const { alice, bob } = libolmPair();
      return () => {
        const m = alice.encrypt(PLAINTEXT);
        bob.decrypt(m.type, m.body);
      };
    },
  },
  {
    name: 'pickle session',
    target: 1.0,
    triturus: () => {
      const { alice } = triturusPair();
      return () => alice.pickle(PICKLE_KEY.slice());
    },
    reference: () => {
      const { alice } = libolmPair();
      return () => alice.pickle(PICKLE_KEY.slice());
    },
  },
  {
    name: 'unpickle session',
    target: 1.0,
    triturus: () => {
      const pickle = triturusPair().alice.pickle(PICKLE_KEY);
      return () => Session.fromPickle(pickle, PICKLE_KEY.slice());
    },
    reference: () => {
      const pickle = libolmPair().alice.pickle(PICKLE_KEY.slice());
      return () => {
        const s = new olm.Session();
        s.unpickle(PICKLE_KEY.slice(), pickle);
        s.free();
      };
    },
  },
  {
    name: 'pickle account (50 one-time keys)',
    target: 1.0,
    triturus: () => {
      const a = Account.create();
      a.generateOneTimeKeys(50);
      a.generateFallbackKey();
      return () => a.pickle(PICKLE_KEY.slice());
    },
    reference: () => {
      const a = new olm.Account();
      a.create();
      a.generate_one_time_keys(50);
      a.generate_fallback_key();
      return () => a.pickle(PICKLE_KEY.slice());
    },
  },
  {
    name: 'unpickle account (50 one-time keys)',
    target: 1.0,
    triturus: () => {
      const a = Account.create();
      a.generateOneTimeKeys(50);
      a.generateFallbackKey();
      const pickle = a.pickle(PICKLE_KEY);
      return () => Account.fromPickle(pickle, PICKLE_KEY.slice());
    },
    reference: () => {
      const a = new olm.Account();
      a.create();
      a.generate_one_time_keys(50);
      a.generate_fallback_key();
      const pickle = a.pickle(PICKLE_KEY.slice());
      return () => {
        const b = new olm.Account();
        b.unpickle(PICKLE_KEY.slice(), pickle);
        b.free();
      };
    },
  },
];

export const olmModule: BenchModule = {
  name: 'olm',
  title: 'Olm (accounts and 1:1 sessions)',
  reference: 'libolm',
  init: async () => {
    olm = await Olm.initAsync();
  },
  cases: olmCases,
};
