/**
 * An oracle for libolm (`@towns-protocol/olm`, libolm 3.2.16 in WASM) speaking the vector suite's
 * protocol (vectors/ORACLE.md):
 *
 *   npx triturus-vectors --oracle "npx tsx test/vectors/libolm-oracle.ts"
 *
 * libolm draws randomness from `require('crypto').randomBytes` on each call; the oracle replaces
 * that function while a call runs so libolm takes the bytes the vector recorded (the generator did
 * the same in reverse). A libolm exception is a refusal; any other exception is a harness error.
 * libolm has no canonical JSON and no key-export files: those kinds are answered `unsupported`.
 * Nothing here imports triturus.
 */
import nodeCrypto from 'node:crypto';
import Olm, {
  type Account as LibolmAccount,
  type InboundGroupSession as LibolmInboundGroupSession,
  type Session as LibolmSession,
  type OlmImpl,
} from '@towns-protocol/olm';
import { PROTOCOL_VERSION, type Response, serveOracle } from '../../bin/lib/oracle-process.js';

// biome-ignore lint/suspicious/noExplicitAny: requests are JSON whose shape ORACLE.md gives per kind
type Json = Record<string, any>;

const randomSlot = nodeCrypto as unknown as { randomBytes: (n: number) => Buffer };
const noRandomness = () => {
  throw new Error('libolm asked for randomness the vector does not give');
};
randomSlot.randomBytes = noRandomness;

/** A refusal by libolm, as opposed to a failure of this harness. */
class Refusal extends Error {}

/** Runs a libolm call: its exception becomes a refusal. */
function libolm<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof Refusal) throw error;
    throw new Refusal(error instanceof Error ? error.message : String(error));
  }
}

/** Runs `fn` with libolm's random bytes taken from `chunks` (base64), in order, all of them. */
function replay<T>(chunks: string[], fn: () => T): T {
  const stream = Buffer.concat(chunks.map((c) => Buffer.from(c, 'base64')));
  let offset = 0;
  randomSlot.randomBytes = (n: number) => {
    if (offset + n > stream.length) {
      throw new Error(`libolm asked for ${n} random bytes at offset ${offset}; the vector gives ${stream.length}`);
    }
    const out = Buffer.from(stream.subarray(offset, offset + n));
    offset += n;
    return out;
  };
  try {
    const value = fn();
    if (offset !== stream.length) throw new Error(`libolm used ${offset} of the ${stream.length} random bytes given`);
    return value;
  } finally {
    randomSlot.randomBytes = noRandomness;
  }
}

function subResult(fn: () => Json): Response {
  try {
    return { status: 'ok', output: fn() };
  } catch (error) {
    if (error instanceof Refusal) return { status: 'refused', error: error.message };
    return { status: 'error', error: error instanceof Error ? error.message : String(error) };
  }
}

let olm: OlmImpl;
/** Every libolm object owns WASM memory: each request frees what it made. */
let owned: { free(): void }[] = [];
function track<T extends { free(): void }>(object: T): T {
  owned.push(object);
  return object;
}

/** libolm zeroes a byte pickle key after use: a fresh copy each call. */
function pickleKey(key: { base64?: string; utf8?: string }): () => string | Uint8Array {
  return () => (key.utf8 !== undefined ? key.utf8 : new Uint8Array(Buffer.from(key.base64 ?? '', 'base64')));
}

// ---------------------------------------------------------------------------------------------

function accountOf(party: Json): LibolmAccount {
  const account = track(new olm.Account());
  replay([party.ed25519Seed, party.curve25519Secret], () => account.create());
  const secrets = (party.oneTimeKeySecrets ?? []) as string[];
  if (secrets.length > 0) replay(secrets, () => account.generate_one_time_keys(secrets.length));
  if (party.fallbackKeySecret !== undefined) replay([party.fallbackKeySecret], () => account.generate_fallback_key());
  return account;
}

function keyList(json: string): string[] {
  return Object.values((JSON.parse(json) as { curve25519: Record<string, string> }).curve25519);
}

function partyOutput(account: LibolmAccount): Json {
  const ids = JSON.parse(account.identity_keys()) as { curve25519: string; ed25519: string };
  return {
    curve25519: ids.curve25519,
    ed25519: ids.ed25519,
    // libolm lists one-time keys by id, which follows generation order.
    oneTimeKeys: keyList(account.one_time_keys()),
    fallbackKey: keyList(account.unpublished_fallback_key())[0] ?? null,
  };
}

function olmSteps(request: Json): Json {
  const accounts: Record<string, LibolmAccount> = {
    alice: accountOf(request.parties.alice),
    bob: accountOf(request.parties.bob),
  };
  const parties = { alice: partyOutput(accounts.alice!), bob: partyOutput(accounts.bob!) };
  const sessions: Record<string, LibolmSession> = {};
  const session = (party: string) => {
    const s = sessions[party];
    if (s === undefined) throw new Error(`${party} has no session yet`);
    return s;
  };
  const steps = (request.steps as Json[]).map((step) =>
    subResult(() => {
      const account = accounts[step.party];
      if (account === undefined) throw new Error(`unknown party ${step.party}`);
      switch (step.action) {
        case 'createOutbound': {
          const created = track(new olm.Session());
          replay([step.random.baseKeySecret, step.random.ratchetKeySecret], () =>
            libolm(() => created.create_outbound(account, step.theirIdentityKey, step.theirOneTimeKey)),
          );
          sessions[step.party] = created;
          return { sessionId: created.session_id() };
        }
        case 'encrypt': {
          const random = step.random?.ratchetKeySecret === undefined ? [] : [step.random.ratchetKeySecret];
          const message = replay(random, () => libolm(() => session(step.party).encrypt(step.plaintext)));
          return { message: { type: message.type, body: message.body } };
        }
        case 'createInbound': {
          // An SDK's sequence: create the session from the pre-key message, decrypt it, and only then
          // remove the one-time key (a failure leaves the account as it was).
          if (step.message.type !== 0) throw new Refusal('createInbound needs a pre-key message');
          const created = track(new olm.Session());
          const plaintext = replay([], () =>
            libolm(() => {
              created.create_inbound_from(account, step.theirIdentityKey, step.message.body);
              return created.decrypt(0, step.message.body);
            }),
          );
          libolm(() => account.remove_one_time_keys(created));
          sessions[step.party] = created;
          return { sessionId: created.session_id(), plaintext };
        }
        case 'decrypt':
          return {
            plaintext: replay([], () =>
              libolm(() => session(step.party).decrypt(step.message.type, step.message.body)),
            ),
          };
        default:
          throw new Error(`unknown step action ${step.action}`);
      }
    }),
  );
  return { parties, steps };
}

function megolmOutbound(request: Json): Json {
  const session = track(new olm.OutboundGroupSession());
  replay([request.ratchet, request.signingKeySeed], () => session.create());
  // libolm cannot skip an outbound session ahead: it encrypts throwaway messages to get there.
  while (session.message_index() < request.messageIndex) session.encrypt('-');
  const out: Json = { sessionId: session.session_id(), sessionKey: session.session_key() };
  if (request.plaintext !== undefined) out.message = replay([], () => session.encrypt(request.plaintext));
  return out;
}

function megolmDecrypt(session: LibolmInboundGroupSession, message: string): Response {
  return subResult(() => {
    const out = libolm(() => session.decrypt(message));
    return { plaintext: out.plaintext, messageIndex: out.message_index };
  });
}

function megolmInbound(request: Json): Json {
  const session = track(new olm.InboundGroupSession());
  libolm(() =>
    request.exportedKey !== undefined
      ? session.import_session(request.exportedKey)
      : session.create(request.sessionKey),
  );
  const out: Json = { sessionId: session.session_id(), firstKnownIndex: session.first_known_index() };
  if (request.exportAt !== undefined) out.exportedKey = libolm(() => session.export_session(request.exportAt));
  if (request.decrypt !== undefined) out.decrypts = (request.decrypt as string[]).map((m) => megolmDecrypt(session, m));
  return out;
}

function libolmPickle(request: Json): Json | undefined {
  const key = pickleKey(request.pickleKey);
  switch (request.pickleKind) {
    case 'account': {
      const account = track(new olm.Account());
      libolm(() => account.unpickle(key(), request.pickle));
      const ids = JSON.parse(account.identity_keys()) as { curve25519: string; ed25519: string };
      return {
        repickle: account.pickle(key()),
        identityKeys: { curve25519: ids.curve25519, ed25519: ids.ed25519 },
        oneTimeKeys: keyList(account.one_time_keys()),
        fallbackKey: keyList(account.fallback_key())[0] ?? null,
        signature: account.sign(request.sign),
      };
    }
    case 'session': {
      const session = track(new olm.Session());
      libolm(() => session.unpickle(key(), request.pickle));
      const reader = track(new olm.Session());
      reader.unpickle(key(), request.pickle);
      const out: Json = {
        repickle: session.pickle(key()),
        sessionId: session.session_id(),
        hasReceivedMessage: session.has_received_message(),
      };
      if (request.encrypt !== undefined) {
        const random = request.encrypt.random === undefined ? [] : [request.encrypt.random.ratchetKeySecret];
        const message = replay(random, () => session.encrypt(request.encrypt.plaintext));
        out.message = { type: message.type, body: message.body };
      }
      out.decrypts = ((request.decrypt ?? []) as { type: number; body: string }[]).map((m) =>
        subResult(() => ({ plaintext: libolm(() => reader.decrypt(m.type, m.body)) })),
      );
      return out;
    }
    case 'outboundGroupSession': {
      const session = track(new olm.OutboundGroupSession());
      libolm(() => session.unpickle(key(), request.pickle));
      const out: Json = {
        repickle: session.pickle(key()),
        sessionId: session.session_id(),
        messageIndex: session.message_index(),
        sessionKey: session.session_key(),
      };
      if (request.encrypt !== undefined) out.message = replay([], () => session.encrypt(request.encrypt.plaintext));
      return out;
    }
    case 'inboundGroupSession': {
      const session = track(new olm.InboundGroupSession());
      libolm(() => session.unpickle(key(), request.pickle));
      // A pickle libolm reads: the answer would need `verified`, which libolm keeps
      // (olm_inbound_group_session_is_verified) but its JavaScript binding does not expose.
      return undefined;
    }
    default:
      return undefined;
  }
}

function ed25519Verify(request: Json): Json {
  const utility = track(new olm.Utility());
  const publicKey = Buffer.from(request.publicKey, 'hex');
  const signature = Buffer.from(request.signature, 'hex');
  // libolm's binding takes base64 strings; it refuses keys that are not 32 bytes before verifying.
  if (publicKey.length !== 32) throw new Refusal(`a ${publicKey.length}-byte public key`);
  libolm(() =>
    utility.ed25519_verify(
      publicKey.toString('base64').replace(/=+$/, ''),
      new Uint8Array(Buffer.from(request.message, 'hex')),
      signature.toString('base64').replace(/=+$/, ''),
    ),
  );
  return { valid: true };
}

const KINDS: Record<string, (request: Json) => Json | undefined> = {
  olm_steps: olmSteps,
  megolm_outbound: megolmOutbound,
  megolm_inbound: megolmInbound,
  libolm_pickle: libolmPickle,
  ed25519_verify: ed25519Verify,
};
const NOT_IN_LIBOLM: Record<string, string> = {
  canonical_json: 'libolm has no canonical JSON (the SDKs around it do that)',
  json_sign: 'libolm has no canonical JSON (the SDKs around it do that)',
  json_verify: 'libolm has no canonical JSON (the SDKs around it do that)',
  key_export_decrypt: 'libolm does not read key-export files (the SDKs around it do that)',
};

async function handle(kind: string, request: Json): Promise<Response> {
  olm ??= await Olm.initAsync();
  if (kind === 'hello') {
    const [major, minor, patch] = olm.get_library_version();
    return {
      status: 'ok',
      output: { implementation: `libolm ${major}.${minor}.${patch} (@towns-protocol/olm)`, protocol: PROTOCOL_VERSION },
    };
  }
  const run = KINDS[kind];
  if (run === undefined) {
    return { status: 'unsupported', reason: NOT_IN_LIBOLM[kind] ?? `the libolm oracle does not know the kind ${kind}` };
  }
  try {
    const output = run(request);
    if (output === undefined) {
      return {
        status: 'unsupported',
        reason:
          kind === 'libolm_pickle' && request.pickleKind === 'inboundGroupSession'
            ? "libolm's JavaScript binding does not expose whether an inbound group session is verified"
            : 'not a variant this oracle knows',
      };
    }
    return { status: 'ok', output };
  } catch (error) {
    if (error instanceof Refusal) return { status: 'refused', error: error.message };
    throw error;
  } finally {
    for (const object of owned) object.free();
    owned = [];
  }
}

serveOracle(handle);
