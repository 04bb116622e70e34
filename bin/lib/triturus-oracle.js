// @ts-check
/**
 * The triturus oracle: answers the vector suite's requests (vectors/ORACLE.md) with triturus's
 * public API only (`triturus`, `triturus/libolm`, `triturus/device`), imported through the
 * package's own name. Secrets enter the way a reference drew them: replayed through
 * `setRandomSource`, in the order vectors/README.md gives.
 *
 * `triturus-vectors` loads it in-process when no `--oracle` is given; run as a program it speaks
 * the protocol on stdin/stdout:  node bin/lib/triturus-oracle.js
 * (in a checkout, from source: npx tsx --conditions=triturus-source bin/lib/triturus-oracle.js).
 */
import { fileURLToPath } from 'node:url';
import {
  Account,
  Curve25519PublicKey,
  cryptoBackend,
  decryptKeyExport,
  Ed25519PublicKey,
  Ed25519Signature,
  ExportedSessionKey,
  GroupSession,
  InboundGroupSession,
  MegolmMessage,
  olmMessageFromParts,
  PreKeyMessage,
  roomKeyExportToJson,
  SessionConfig,
  SessionKey,
  setRandomSource,
  TriturusError,
} from 'triturus';
import { hasValidSignature, signedPayload, signJson } from 'triturus/device';
import {
  accountFromLibolmPickle,
  accountToLibolmPickle,
  groupSessionFromLibolmPickle,
  groupSessionToLibolmPickle,
  inboundGroupSessionFromLibolmPickle,
  inboundGroupSessionToLibolmPickle,
  sessionFromLibolmPickle,
  sessionToLibolmPickle,
} from 'triturus/libolm';
import { PROTOCOL_VERSION, serveOracle } from './oracle-process.js';

/**
 * @typedef {Record<string, any>} Json
 * @typedef {import('./oracle-process.js').Response} Response
 */

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** @param {string} base64 */
const bytes = (base64) => new Uint8Array(Buffer.from(base64, 'base64'));
/** @param {string} hex */
const hexBytes = (hex) => new Uint8Array(Buffer.from(hex, 'hex'));
/** @param {Uint8Array} value */
const text = (value) => utf8Strict.decode(value);

/** A refusal by triturus (a TriturusError), as opposed to a failure of this harness. */
class Refusal extends Error {}

/** Runs a triturus call; its TriturusError becomes a refusal. @template T @param {() => T} fn @returns {T} */
function refusable(fn) {
  try {
    return fn();
  } catch (error) {
    if (error instanceof TriturusError) throw new Refusal(`${error.code}: ${error.message}`);
    throw error;
  }
}

/**
 * Runs `fn` with its random bytes taken from `chunks` (base64) in order. Asking for more than the
 * vector gives, or leaving some unused, is a harness error: the reference drew exactly these.
 * @template T @param {string[]} chunks @param {() => T} fn @returns {T}
 */
function replay(chunks, fn) {
  const stream = Buffer.concat(chunks.map((c) => bytes(c)));
  let offset = 0;
  setRandomSource((out) => {
    if (offset + out.length > stream.length) {
      throw new Error(`asked for ${out.length} random bytes at offset ${offset}; the vector gives ${stream.length}`);
    }
    out.set(stream.subarray(offset, offset + out.length));
    offset += out.length;
  });
  try {
    const value = fn();
    if (offset !== stream.length)
      throw new Error(`used ${offset} of the ${stream.length} random bytes the vector gives`);
    return value;
  } finally {
    setRandomSource(undefined);
  }
}

/** @param {() => Json} fn @returns {Json} a step or decryption result */
function subResult(fn) {
  try {
    return { status: 'ok', output: fn() };
  } catch (error) {
    if (error instanceof Refusal) return { status: 'refused', error: error.message };
    return { status: 'error', error: error instanceof Error ? error.message : String(error) };
  }
}

/** @param {{ type: number, body: string }} m */
const olmMessage = (m) => refusable(() => olmMessageFromParts(/** @type {0 | 1} */ (m.type), m.body));

// ---------------------------------------------------------------------------------------------

/** @param {Json} party */
function accountOf(party) {
  const account = replay([party.ed25519Seed, party.curve25519Secret], () => Account.create());
  const secrets = /** @type {string[]} */ (party.oneTimeKeySecrets ?? []);
  if (secrets.length > 0) replay(secrets, () => account.generateOneTimeKeys(secrets.length));
  if (party.fallbackKeySecret !== undefined) replay([party.fallbackKeySecret], () => account.generateFallbackKey());
  return account;
}

/** @param {Account} account */
function partyOutput(account) {
  return {
    curve25519: account.identityKeys.curve25519.toBase64(),
    ed25519: account.identityKeys.ed25519.toBase64(),
    oneTimeKeys: [...account.oneTimeKeys.values()].map((k) => k.toBase64()),
    fallbackKey: account.currentFallbackKey?.key.toBase64() ?? null,
  };
}

/** @param {Json} request */
function olmSteps(request) {
  const alice = accountOf(request.parties.alice);
  const bob = accountOf(request.parties.bob);
  // The keys as made, before any step consumes a one-time key.
  const parties = { alice: partyOutput(alice), bob: partyOutput(bob) };
  /** @type {Record<string, Account>} */
  const accounts = { alice, bob };
  /** @type {Record<string, import('triturus').Session>} */
  const sessions = {};
  const session = (/** @type {string} */ party) => {
    const s = sessions[party];
    if (s === undefined) throw new Error(`${party} has no session yet`);
    return s;
  };
  const steps = request.steps.map((/** @type {Json} */ step) =>
    subResult(() => {
      const account = accounts[step.party];
      if (account === undefined) throw new Error(`unknown party ${step.party}`);
      switch (step.action) {
        case 'createOutbound': {
          const created = replay([step.random.baseKeySecret, step.random.ratchetKeySecret], () =>
            refusable(() =>
              account.createOutboundSession(
                SessionConfig.version1(),
                Curve25519PublicKey.fromBase64(step.theirIdentityKey),
                Curve25519PublicKey.fromBase64(step.theirOneTimeKey),
              ),
            ),
          );
          sessions[step.party] = created;
          return { sessionId: created.sessionId };
        }
        case 'encrypt': {
          const random = step.random?.ratchetKeySecret === undefined ? [] : [step.random.ratchetKeySecret];
          const message = replay(random, () => session(step.party).encrypt(utf8.encode(step.plaintext)));
          return { message: { type: message.type, body: message.toBase64() } };
        }
        case 'createInbound': {
          const message = olmMessage(step.message);
          if (!(message instanceof PreKeyMessage)) throw new Refusal('createInbound needs a pre-key message');
          const { session: created, plaintext } = replay([], () =>
            refusable(() =>
              account.createInboundSession(Curve25519PublicKey.fromBase64(step.theirIdentityKey), message),
            ),
          );
          sessions[step.party] = created;
          return { sessionId: created.sessionId, plaintext: text(plaintext) };
        }
        case 'decrypt':
          return {
            plaintext: text(replay([], () => refusable(() => session(step.party).decrypt(olmMessage(step.message))))),
          };
        default:
          throw new Error(`unknown step action ${step.action}`);
      }
    }),
  );
  return { parties, steps };
}

/** @param {Json} request */
function megolmOutbound(request) {
  const session = replay([request.ratchet, request.signingKeySeed], () => GroupSession.create());
  if (request.messageIndex > 0) session.advanceTo(request.messageIndex);
  /** @type {Json} */
  const out = { sessionId: session.sessionId, sessionKey: session.sessionKey().toBase64() };
  if (request.plaintext !== undefined) {
    out.message = replay([], () => session.encrypt(utf8.encode(request.plaintext))).toBase64();
  }
  return out;
}

/** @param {InboundGroupSession} session @param {string} message */
function megolmDecrypt(session, message) {
  return subResult(() => {
    const out = refusable(() => session.decrypt(MegolmMessage.fromBase64(message)));
    return { plaintext: text(out.plaintext), messageIndex: out.messageIndex };
  });
}

/** @param {Json} request */
function megolmInbound(request) {
  const session = refusable(() =>
    request.exportedKey !== undefined
      ? InboundGroupSession.import(ExportedSessionKey.fromBase64(request.exportedKey))
      : InboundGroupSession.fromSessionKey(SessionKey.fromBase64(request.sessionKey)),
  );
  /** @type {Json} */
  const out = { sessionId: session.sessionId, firstKnownIndex: session.firstKnownIndex };
  if (request.exportAt !== undefined) {
    out.exportedKey = refusable(() => session.exportAt(request.exportAt)).toBase64();
  }
  if (request.decrypt !== undefined) {
    out.decrypts = request.decrypt.map((/** @type {string} */ m) => megolmDecrypt(session, m));
  }
  return out;
}

/** @param {Json} request */
function libolmPickle(request) {
  const key = () => (request.pickleKey.utf8 !== undefined ? request.pickleKey.utf8 : bytes(request.pickleKey.base64));
  switch (request.pickleKind) {
    case 'account': {
      const account = refusable(() => accountFromLibolmPickle(request.pickle, key()));
      return {
        repickle: accountToLibolmPickle(account, key()),
        identityKeys: {
          curve25519: account.identityKeys.curve25519.toBase64(),
          ed25519: account.identityKeys.ed25519.toBase64(),
        },
        oneTimeKeys: [...account.oneTimeKeys.values()].map((k) => k.toBase64()),
        fallbackKey: account.currentFallbackKey?.key.toBase64() ?? null,
        signature: account.sign(utf8.encode(request.sign)).toBase64(),
      };
    }
    case 'session': {
      const session = refusable(() => sessionFromLibolmPickle(request.pickle, key()));
      const reader = sessionFromLibolmPickle(request.pickle, key());
      /** @type {Json} */
      const out = {
        repickle: sessionToLibolmPickle(session, key()),
        sessionId: session.sessionId,
        hasReceivedMessage: session.hasReceivedMessage,
      };
      if (request.encrypt !== undefined) {
        const random = request.encrypt.random === undefined ? [] : [request.encrypt.random.ratchetKeySecret];
        const message = replay(random, () => session.encrypt(utf8.encode(request.encrypt.plaintext)));
        out.message = { type: message.type, body: message.toBase64() };
      }
      out.decrypts = (request.decrypt ?? []).map((/** @type {{ type: number, body: string }} */ m) =>
        subResult(() => ({ plaintext: text(refusable(() => reader.decrypt(olmMessage(m)))) })),
      );
      return out;
    }
    case 'outboundGroupSession': {
      const session = refusable(() => groupSessionFromLibolmPickle(request.pickle, key()));
      /** @type {Json} */
      const out = {
        repickle: groupSessionToLibolmPickle(session, key()),
        sessionId: session.sessionId,
        messageIndex: session.messageIndex,
        sessionKey: session.sessionKey().toBase64(),
      };
      if (request.encrypt !== undefined) {
        out.message = replay([], () => session.encrypt(utf8.encode(request.encrypt.plaintext))).toBase64();
      }
      return out;
    }
    case 'inboundGroupSession': {
      const session = refusable(() => inboundGroupSessionFromLibolmPickle(request.pickle, key()));
      return {
        repickle: inboundGroupSessionToLibolmPickle(session, key()),
        sessionId: session.sessionId,
        firstKnownIndex: session.firstKnownIndex,
        verified: session.isVerified,
        exportedKey: session.exportAtFirstKnownIndex().toBase64(),
        decrypts: (request.decrypt ?? []).map((/** @type {string} */ m) => megolmDecrypt(session, m)),
      };
    }
    default:
      return undefined;
  }
}

/** @param {Json} request */
async function keyExportDecrypt(request) {
  let entries;
  try {
    entries = await decryptKeyExport(request.file, request.passphrase);
  } catch (error) {
    if (error instanceof TriturusError) throw new Refusal(`${error.code}: ${error.message}`);
    throw error;
  }
  return { sessions: entries.map((entry) => roomKeyExportToJson(entry)) };
}

/**
 * Canonical JSON through the public signing API: the signed payload of `{"v": value}` is
 * `{"v":` + canonical(value) + `}` (the payload drops only top-level `signatures` and `unsigned`).
 * @param {Json} request
 */
function canonicalJson(request) {
  const value = JSON.parse(request.input);
  const payload = refusable(() => signedPayload({ v: value }));
  return { canonical: payload.slice('{"v":'.length, -1) };
}

/** @param {string} keyId */
function ed25519KeyId(keyId) {
  return keyId.startsWith('ed25519:') ? keyId.slice('ed25519:'.length) : undefined;
}

/** @param {Json} request @returns {Response} */
function jsonSign(request) {
  const keyId = ed25519KeyId(request.keyId);
  if (keyId === undefined) return { status: 'unsupported', reason: `key id ${request.keyId}` };
  // An account signs with its Ed25519 key; its Curve25519 secret does not matter for signing.
  const curve25519Secret = request.curve25519Secret ?? Buffer.alloc(32, 1).toString('base64');
  const signer = replay([request.seed, curve25519Secret], () => Account.create());
  return {
    status: 'ok',
    output: { signedObject: refusable(() => signJson(request.object, request.entity, keyId, signer)) },
  };
}

/** @param {Json} request @returns {Response} */
function jsonVerify(request) {
  const keyId = ed25519KeyId(request.keyId);
  if (keyId === undefined) return { status: 'unsupported', reason: `key id ${request.keyId}` };
  const publicKey = refusable(() => Ed25519PublicKey.fromBase64(request.publicKey));
  return {
    status: 'ok',
    output: { valid: refusable(() => hasValidSignature(request.signedObject, request.entity, keyId, publicKey)) },
  };
}

/** @param {Json} request */
function ed25519Verify(request) {
  const valid = refusable(() =>
    Ed25519PublicKey.fromBytes(hexBytes(request.publicKey)).isValidSignature(
      hexBytes(request.message),
      Ed25519Signature.fromBytes(hexBytes(request.signature)),
    ),
  );
  return { valid };
}

/** @type {Record<string, (request: Json) => Json | Response | undefined | Promise<Json>>} */
const KINDS = {
  olm_steps: olmSteps,
  megolm_outbound: megolmOutbound,
  megolm_inbound: megolmInbound,
  libolm_pickle: libolmPickle,
  key_export_decrypt: keyExportDecrypt,
  canonical_json: canonicalJson,
  json_sign: jsonSign,
  json_verify: jsonVerify,
  ed25519_verify: ed25519Verify,
};
const ANSWERS_ITSELF = new Set(['json_sign', 'json_verify']);

/** The name this oracle gives in its hello answer. */
export function implementationName() {
  return `triturus (${cryptoBackend().name} backend)`;
}

/**
 * Answers one request.
 * @param {string} kind @param {Json} request @returns {Promise<Response>}
 */
export async function handleRequest(kind, request) {
  if (kind === 'hello')
    return { status: 'ok', output: { implementation: implementationName(), protocol: PROTOCOL_VERSION } };
  const run = KINDS[kind];
  if (run === undefined) return { status: 'unsupported', reason: `triturus's oracle does not know the kind ${kind}` };
  try {
    const result = await run(request);
    if (result === undefined) return { status: 'unsupported', reason: 'not a variant this oracle knows' };
    return ANSWERS_ITSELF.has(kind) ? /** @type {Response} */ (result) : { status: 'ok', output: result };
  } catch (error) {
    if (error instanceof Refusal) return { status: 'refused', error: error.message };
    throw error;
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  serveOracle(handleRequest);
}
