/**
 * Regenerates the cross-implementation vectors in `vectors/` from the reference implementations:
 *
 *   npx tsx --conditions=triturus-source scripts/generate-vectors.ts
 *
 * - libolm 3.2.16 (`@towns-protocol/olm`) for Olm, Megolm and libolm pickles. libolm draws its
 *   randomness from `require('crypto').randomBytes` on every call; this script replaces that function
 *   with a seeded stream while a fixture is made (see `SeededRandom`), so every run writes the same
 *   bytes. The seed of each fixture and the secrets libolm derived from it are written into the files.
 * - matrix-sdk-crypto (`@matrix-org/matrix-sdk-crypto-wasm`) for key-export files, its random source
 *   (`globalThis.crypto.getRandomValues`) seeded the same way before the WASM module starts.
 * - The Matrix specification (canonical JSON, JSON signing) and published Ed25519 edge-case lists
 *   (Wycheproof, "Taming the many EdDSAs", C2SP CCTV), transcribed below with their sources.
 *
 * Nothing here imports triturus: expected outputs come from the references only. Secrets the
 * references derived from the seeded bytes are checked against the references' public outputs with
 * node:crypto before they are written. Running the script twice gives byte-identical files.
 */
import nodeCrypto, {
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  sign,
} from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as sdk from '@matrix-org/matrix-sdk-crypto-wasm';
import Olm, {
  type Account as LibolmAccount,
  type InboundGroupSession as LibolmInboundGroupSession,
  type OutboundGroupSession as LibolmOutboundGroupSession,
  type Session as LibolmSession,
  type OlmImpl,
} from '@towns-protocol/olm';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'vectors');
const GENERATED_BY = 'scripts/generate-vectors.ts';
const LIBOLM_SOURCE = 'libolm 3.2.16 via @towns-protocol/olm 3.2.28';
const SDK_SOURCE = 'matrix-sdk-crypto 0.19.1 (vodozemac 0.11.0) via @matrix-org/matrix-sdk-crypto-wasm 18.9.0';

// ---------------------------------------------------------------------------------------------
// Bytes and encodings (node:crypto and Buffer only)

type Bytes = Uint8Array;

function b64(bytes: Bytes): string {
  return Buffer.from(bytes).toString('base64').replace(/=+$/, '');
}
function unb64(text: string): Buffer {
  return Buffer.from(text, 'base64');
}
function hexToBytes(hex: string): Buffer {
  return Buffer.from(hex, 'hex');
}
function sha256(...parts: Bytes[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}
function hmac(key: Bytes, data: Bytes): Buffer {
  return createHmac('sha256', key).update(data).digest();
}
function hkdf(ikm: Bytes, info: string, length: number): Buffer {
  return Buffer.from(nodeCrypto.hkdfSync('sha256', ikm, new Uint8Array(0), Buffer.from(info), length));
}
function u32be(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}
function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}
function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`generator self-check failed: ${message}`);
}

const X25519_PKCS8 = hexToBytes('302e020100300506032b656e04220420');
const ED25519_PKCS8 = hexToBytes('302e020100300506032b657004220420');
const ED25519_SPKI = hexToBytes('302a300506032b6570032100');

function x25519Public(secret: Bytes): Buffer {
  const key = createPrivateKey({ key: Buffer.concat([X25519_PKCS8, secret]), format: 'der', type: 'pkcs8' });
  return createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(12);
}
function x25519(secret: Bytes, theirPublic: Bytes): Buffer {
  const privateKey = createPrivateKey({ key: Buffer.concat([X25519_PKCS8, secret]), format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey({
    key: Buffer.concat([hexToBytes('302a300506032b656e032100'), theirPublic]),
    format: 'der',
    type: 'spki',
  });
  return diffieHellman({ privateKey, publicKey });
}
function ed25519Public(seed: Bytes): Buffer {
  const key = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8, seed]), format: 'der', type: 'pkcs8' });
  return createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(12);
}
function ed25519Sign(seed: Bytes, message: Bytes): Buffer {
  const key = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8, seed]), format: 'der', type: 'pkcs8' });
  return sign(null, message, key);
}
/** Plain RFC 8032 verification by OpenSSL (lenient about S and small orders): a transcription check. */
function ed25519VerifyOpenssl(publicKey: Bytes, message: Bytes, signature: Bytes): boolean {
  try {
    const key = createPublicKey({ key: Buffer.concat([ED25519_SPKI, publicKey]), format: 'der', type: 'spki' });
    return nodeCrypto.verify(null, message, key, signature);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Seeded randomness

/**
 * The byte stream handed to a reference while a fixture is made: SHA-256(UTF-8(seed) ‖ u32 BE i)
 * for i = 0, 1, 2, … concatenated. Each random request takes the next bytes.
 */
class SeededRandom {
  readonly seed: string;
  #counter = 0;
  #buffer: Buffer = Buffer.alloc(0);
  constructor(seed: string) {
    this.seed = seed;
  }
  take(n: number): Buffer {
    while (this.#buffer.length < n) {
      this.#buffer = Buffer.concat([this.#buffer, sha256(Buffer.from(this.seed), u32be(this.#counter++))]);
    }
    const out = this.#buffer.subarray(0, n);
    this.#buffer = this.#buffer.subarray(n);
    return Buffer.from(out);
  }
}

const originalRandomBytes = nodeCrypto.randomBytes;
const randomBytesSlot = nodeCrypto as unknown as { randomBytes: (n: number) => Buffer };
// Outside a seeded block libolm must not draw randomness: that would make the output irreproducible.
randomBytesSlot.randomBytes = () => {
  throw new Error('libolm asked for randomness outside a seeded block');
};

/** Runs a libolm call with its randomness drawn from `seed`; returns what it drew, call by call. */
function seeded<T>(seed: string, fn: () => T): { value: T; draws: Buffer[] } {
  const rng = new SeededRandom(seed);
  const draws: Buffer[] = [];
  randomBytesSlot.randomBytes = (n: number) => {
    const bytes = rng.take(n);
    if (n > 0) draws.push(bytes);
    return Buffer.from(bytes);
  };
  try {
    return { value: fn(), draws };
  } finally {
    randomBytesSlot.randomBytes = () => {
      throw new Error('libolm asked for randomness outside a seeded block');
    };
  }
}

// matrix-sdk-crypto seeds its RNG from getRandomValues: seed that before the module starts.
const sdkRandom = new SeededRandom('triturus-vectors/matrix-sdk-crypto');
(globalThis.crypto as unknown as { getRandomValues: (a: Uint8Array) => Uint8Array }).getRandomValues = (a) => {
  a.set(sdkRandom.take(a.length));
  return a;
};

// ---------------------------------------------------------------------------------------------
// libolm helpers

let olm: OlmImpl;
const owned: { free(): void }[] = [];
function track<T extends { free(): void }>(o: T): T {
  owned.push(o);
  return o;
}
function libolmError(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  return undefined;
}

interface OlmParty {
  name: string;
  account: LibolmAccount;
  ed25519Seed: Buffer;
  curve25519Secret: Buffer;
  curve25519: string;
  ed25519: string;
  oneTimeKeys: { keyId: string; secret: Buffer; publicKey: string }[];
  fallbackKey?: { keyId: string; secret: Buffer; publicKey: string };
}

/** A libolm account from `seed`, with `oneTimeKeys` one-time keys and optionally a fallback key. */
function makeAccount(name: string, seed: string, oneTimeKeys: number, fallback = false): OlmParty {
  const account = track(new olm.Account());
  const { draws } = seeded(`${seed}/create`, () => account.create());
  const random = draws[0]!;
  assert(random.length === 64, 'Account.create draws 64 bytes');
  const ed25519Seed = random.subarray(0, 32);
  const curve25519Secret = random.subarray(32, 64);
  const ids = JSON.parse(account.identity_keys()) as { curve25519: string; ed25519: string };
  assert(ids.ed25519 === b64(ed25519Public(ed25519Seed)), 'libolm Ed25519 key = first 32 random bytes as seed');
  assert(ids.curve25519 === b64(x25519Public(curve25519Secret)), 'libolm Curve25519 key = bytes 32..64');
  const party: OlmParty = {
    name,
    account,
    ed25519Seed,
    curve25519Secret,
    curve25519: ids.curve25519,
    ed25519: ids.ed25519,
    oneTimeKeys: [],
  };
  if (oneTimeKeys > 0) {
    const { draws: otk } = seeded(`${seed}/one-time-keys`, () => account.generate_one_time_keys(oneTimeKeys));
    const all = otk[0]!;
    const listed = JSON.parse(account.one_time_keys()) as { curve25519: Record<string, string> };
    const entries = Object.entries(listed.curve25519);
    assert(entries.length === oneTimeKeys, 'one-time key count');
    for (let i = 0; i < oneTimeKeys; i++) {
      const secret = all.subarray(32 * i, 32 * i + 32);
      const publicKey = b64(x25519Public(secret));
      const entry = entries.find(([, key]) => key === publicKey);
      assert(entry !== undefined, 'one-time key i = random bytes 32i..32i+32');
      party.oneTimeKeys.push({ keyId: entry[0], secret, publicKey });
    }
  }
  if (fallback) {
    const { draws: fb } = seeded(`${seed}/fallback-key`, () => account.generate_fallback_key());
    const secret = fb[0]!;
    const listed = JSON.parse(account.unpublished_fallback_key()) as { curve25519: Record<string, string> };
    const [entry] = Object.entries(listed.curve25519);
    assert(entry !== undefined && entry[1] === b64(x25519Public(secret)), 'fallback key = its 32 random bytes');
    party.fallbackKey = { keyId: entry[0], secret, publicKey: entry[1] };
  }
  return party;
}

function partyJson(p: OlmParty): Record<string, unknown> {
  const out: Record<string, unknown> = {
    ed25519Seed: b64(p.ed25519Seed),
    curve25519Secret: b64(p.curve25519Secret),
    ed25519: p.ed25519,
    curve25519: p.curve25519,
    oneTimeKeys: p.oneTimeKeys.map((k) => ({ keyId: k.keyId, secret: b64(k.secret), publicKey: k.publicKey })),
  };
  if (p.fallbackKey !== undefined) {
    out.fallbackKey = {
      keyId: p.fallbackKey.keyId,
      secret: b64(p.fallbackKey.secret),
      publicKey: p.fallbackKey.publicKey,
    };
  }
  return out;
}

interface OlmMessage {
  type: 0 | 1;
  body: string;
}

/** libolm's create_outbound with seeded randomness; returns the base and ratchet key secrets it drew. */
function createOutbound(
  from: OlmParty,
  theirIdentityKey: string,
  theirOneTimeKey: string,
  seed: string,
): { session: LibolmSession; baseKeySecret: Buffer; ratchetKeySecret: Buffer } {
  const session = track(new olm.Session());
  const { draws } = seeded(seed, () => session.create_outbound(from.account, theirIdentityKey, theirOneTimeKey));
  const random = draws[0]!;
  assert(random.length === 64, 'create_outbound draws 64 bytes');
  const baseKeySecret = random.subarray(0, 32);
  const ratchetKeySecret = random.subarray(32, 64);
  const expectedId = sha256(unb64(from.curve25519), x25519Public(baseKeySecret), unb64(theirOneTimeKey));
  assert(session.session_id() === b64(expectedId), 'session id = SHA-256(I_A ‖ base key ‖ E_B), base key first');
  return { session, baseKeySecret, ratchetKeySecret };
}

/** Reads the ratchet key field of an Olm (pre-key or normal) message body. */
function ratchetKeyOf(message: OlmMessage): string {
  let bytes = unb64(message.body);
  if (message.type === 0) {
    // Pre-key: fields 1-3 are 34 bytes each (tag, length 32, key); field 4 is the inner message.
    let offset = 1;
    for (;;) {
      const tag = bytes[offset]!;
      let length = 0;
      let shift = 0;
      let i = offset + 1;
      for (;;) {
        const b = bytes[i++]!;
        length |= (b & 0x7f) << shift;
        shift += 7;
        if (b < 0x80) break;
      }
      if (tag === 0x22) {
        bytes = bytes.subarray(i, i + length);
        break;
      }
      offset = i + length;
    }
  }
  assert(bytes[1] === 0x0a && bytes[2] === 32, 'ratchet key is the first field');
  return b64(bytes.subarray(3, 35));
}

/** libolm encrypt with seeded randomness; returns the ratchet key secret when the step drew one. */
function encrypt(
  session: LibolmSession,
  plaintext: string,
  seed: string,
): { message: OlmMessage; ratchetKeySecret?: Buffer } {
  const { value, draws } = seeded(seed, () => session.encrypt(plaintext));
  const message = { type: value.type, body: value.body };
  if (draws.length === 0) return { message };
  const secret = draws[0]!;
  assert(secret.length === 32, 'a ratchet step draws 32 bytes');
  assert(ratchetKeyOf(message) === b64(x25519Public(secret)), 'the new ratchet key = the 32 drawn bytes');
  return { message, ratchetKeySecret: secret };
}

// ---------------------------------------------------------------------------------------------
// Vector files

interface TestGroup {
  [key: string]: unknown;
  tests: Record<string, unknown>[];
}

interface VectorFile {
  algorithm: string;
  schema: string;
  source: string;
  generatedBy: string;
  notes: string;
  flagNotes?: Record<string, string>;
  testGroups: TestGroup[];
}

const written: { name: string; tests: number; bytes: number }[] = [];

function writeVectors(name: string, file: VectorFile): void {
  let tcId = 0;
  for (const group of file.testGroups) {
    group.tests = group.tests.map((test) => {
      tcId++;
      const { tcId: _ignored, ...rest } = test;
      assert(rest.result === 'valid' || rest.result === 'invalid', `${name} tc ${tcId} has a result`);
      if (rest.result === 'invalid') assert(Array.isArray(rest.flags), `${name} tc ${tcId} names its flags`);
      return { tcId, ...rest };
    });
  }
  const body = {
    algorithm: file.algorithm,
    schema: file.schema,
    source: file.source,
    generatedBy: file.generatedBy,
    notes: file.notes,
    ...(file.flagNotes === undefined ? {} : { flagNotes: file.flagNotes }),
    numberOfTests: tcId,
    testGroups: file.testGroups,
  };
  const text = `${JSON.stringify(body, null, 2)}\n`;
  writeFileSync(join(OUT, name), text);
  written.push({ name, tests: tcId, bytes: Buffer.byteLength(text) });
}

function flipLastByte(body: string): string {
  const bytes = unb64(body);
  bytes[bytes.length - 1]! ^= 0x01;
  return b64(bytes);
}
function withByte(body: string, index: number, value: number): string {
  const bytes = unb64(body);
  bytes[index] = value;
  return b64(bytes);
}
function truncated(body: string, length: number): string {
  return b64(unb64(body).subarray(0, length));
}

// ---------------------------------------------------------------------------------------------
// Olm: session establishment

function olmSessionEstablishment(): void {
  const cases: { comment: string; plaintext: string; fallback?: boolean }[] = [
    { comment: 'one-time key, short ASCII plaintext', plaintext: 'Hello, Bob!' },
    { comment: 'one-time key, empty plaintext', plaintext: '' },
    { comment: 'one-time key, 15 bytes (one AES block with padding)', plaintext: 'fifteen bytes!!' },
    { comment: 'one-time key, 16 bytes (a full block of padding follows)', plaintext: 'sixteen bytes!!!' },
    { comment: 'one-time key, multi-byte UTF-8', plaintext: 'Grüße, 日本語, emoji 🔐' },
    {
      comment: 'one-time key, a to-device payload',
      plaintext:
        '{"type":"m.room_key","content":{"algorithm":"m.megolm.v1.aes-sha2","room_id":"!room:example.org"},"sender":"@alice:example.org"}',
    },
    { comment: "Bob's fallback key instead of a one-time key", plaintext: 'via the fallback key', fallback: true },
  ];
  const groups: TestGroup[] = [
    { comment: 'Alice starts a session with Bob (libolm encrypt, libolm decrypt)', tests: [] },
  ];
  cases.forEach((c, i) => {
    const seed = `triturus-vectors/olm_session_establishment/${i + 1}`;
    const alice = makeAccount('alice', `${seed}/alice`, 0);
    const bob = makeAccount('bob', `${seed}/bob`, c.fallback === true ? 0 : 1, c.fallback === true);
    const theirKey = c.fallback === true ? bob.fallbackKey! : bob.oneTimeKeys[0]!;
    const out = createOutbound(alice, bob.curve25519, theirKey.publicKey, `${seed}/create-outbound`);
    const { message, ratchetKeySecret } = encrypt(out.session, c.plaintext, `${seed}/encrypt`);
    assert(message.type === 0 && ratchetKeySecret === undefined, 'the first message is a pre-key message');
    const inbound = track(new olm.Session());
    inbound.create_inbound_from(bob.account, alice.curve25519, message.body);
    const decrypted = inbound.decrypt(message.type, message.body);
    assert(decrypted === c.plaintext, 'libolm decrypts its own message');
    assert(inbound.session_id() === out.session.session_id(), 'both ends agree on the session id');
    groups[0]!.tests.push({
      comment: c.comment,
      randomSeed: seed,
      alice: partyJson(alice),
      bob: partyJson(bob),
      theirOneTimeKey: theirKey.publicKey,
      outboundRandom: { baseKeySecret: b64(out.baseKeySecret), ratchetKeySecret: b64(out.ratchetKeySecret) },
      plaintext: c.plaintext,
      expected: {
        sessionId: out.session.session_id(),
        baseKey: b64(x25519Public(out.baseKeySecret)),
        ratchetKey: b64(x25519Public(out.ratchetKeySecret)),
        message,
      },
      result: 'valid',
    });
  });
  writeVectors('olm_session_establishment.json', {
    algorithm: 'Olm v1 session establishment (m.olm.v1.curve25519-aes-sha2, triple Diffie-Hellman)',
    schema: 'olm_session_establishment',
    source: LIBOLM_SOURCE,
    generatedBy: GENERATED_BY,
    notes:
      "Alice (identity secrets `alice`) starts an outbound session to Bob's identity key and `theirOneTimeKey` with the base and ratchet key secrets `outboundRandom` (the 64 bytes libolm drew, base key first), encrypts `plaintext` and gets `expected.message` (type 0, body unpadded base64) and `expected.sessionId`. Bob (secrets `bob`) creates the inbound session from that message and decrypts `plaintext` with the same session id. Byte fields are unpadded standard base64; `randomSeed` names the seeded stream libolm drew from (see vectors/README.md).",
    testGroups: groups,
  });
}

// ---------------------------------------------------------------------------------------------
// Olm: conversations (steps replayed in order on the same two sessions)

interface Conversation {
  seed: string;
  alice: OlmParty;
  bob: OlmParty;
  sessions: { alice?: LibolmSession; bob?: LibolmSession };
  steps: Record<string, unknown>[];
  sent: Map<string, OlmMessage>;
  counter: number;
}

function conversation(seed: string, bobOneTimeKeys = 1): Conversation {
  return {
    seed,
    alice: makeAccount('alice', `${seed}/alice`, 0),
    bob: makeAccount('bob', `${seed}/bob`, bobOneTimeKeys),
    sessions: {},
    steps: [],
    sent: new Map(),
    counter: 0,
  };
}

function startOutbound(c: Conversation, comment = 'Alice creates the outbound session'): void {
  const key = c.bob.oneTimeKeys[0]!.publicKey;
  const out = createOutbound(c.alice, c.bob.curve25519, key, `${c.seed}/step-${c.counter++}`);
  c.sessions.alice = out.session;
  c.steps.push({
    comment,
    action: 'createOutbound',
    party: 'alice',
    theirIdentityKey: c.bob.curve25519,
    theirOneTimeKey: key,
    random: { baseKeySecret: b64(out.baseKeySecret), ratchetKeySecret: b64(out.ratchetKeySecret) },
    expected: { sessionId: out.session.session_id() },
    result: 'valid',
  });
}

function send(c: Conversation, party: 'alice' | 'bob', label: string, plaintext: string): OlmMessage {
  const session = c.sessions[party]!;
  const { message, ratchetKeySecret } = encrypt(session, plaintext, `${c.seed}/step-${c.counter++}`);
  c.sent.set(label, message);
  c.steps.push({
    comment: `${party} encrypts ${label}${ratchetKeySecret !== undefined ? ' (a ratchet step: new ratchet key)' : ''}`,
    action: 'encrypt',
    party,
    plaintext,
    ...(ratchetKeySecret !== undefined ? { random: { ratchetKeySecret: b64(ratchetKeySecret) } } : {}),
    expected: { message },
    result: 'valid',
  });
  return message;
}

function receive(c: Conversation, party: 'alice' | 'bob', label: string, plaintext: string, comment = ''): void {
  const message = c.sent.get(label)!;
  const peer = party === 'alice' ? c.bob : c.alice;
  if (c.sessions[party] === undefined) {
    const session = track(new olm.Session());
    const owner = party === 'alice' ? c.alice : c.bob;
    session.create_inbound_from(owner.account, peer.curve25519, message.body);
    const decrypted = session.decrypt(message.type, message.body);
    owner.account.remove_one_time_keys(session);
    assert(decrypted === plaintext, `libolm decrypts ${label}`);
    c.sessions[party] = session;
    c.steps.push({
      comment: comment || `${party} creates the inbound session from ${label}`,
      action: 'createInbound',
      party,
      theirIdentityKey: peer.curve25519,
      message,
      expected: { sessionId: session.session_id(), plaintext },
      result: 'valid',
    });
    return;
  }
  const decrypted = c.sessions[party]!.decrypt(message.type, message.body);
  assert(decrypted === plaintext, `libolm decrypts ${label}`);
  c.steps.push({
    comment: comment || `${party} decrypts ${label}`,
    action: 'decrypt',
    party,
    message,
    expected: { plaintext },
    result: 'valid',
  });
}

function receiveInvalid(
  c: Conversation,
  party: 'alice' | 'bob',
  label: string,
  flags: string[],
  comment: string,
): void {
  const message = c.sent.get(label)!;
  const error = libolmError(() => c.sessions[party]!.decrypt(message.type, message.body));
  assert(error !== undefined, `libolm refuses ${comment}`);
  c.steps.push({ comment, action: 'decrypt', party, message, result: 'invalid', flags, libolmError: error });
}

function olmConversations(): void {
  const groups: TestGroup[] = [];
  const setupOf = (c: Conversation) => ({ randomSeed: c.seed, alice: partyJson(c.alice), bob: partyJson(c.bob) });

  // 1. Alternating messages: every change of direction is a Diffie-Hellman ratchet step.
  {
    const c = conversation('triturus-vectors/olm_conversation/ping-pong');
    startOutbound(c);
    send(c, 'alice', 'A1', 'A1: hello Bob');
    send(c, 'alice', 'A2', 'A2: still a pre-key message until Bob answers');
    receive(c, 'bob', 'A1', 'A1: hello Bob');
    receive(c, 'bob', 'A2', 'A2: still a pre-key message until Bob answers');
    send(c, 'bob', 'B1', 'B1: hi Alice');
    send(c, 'bob', 'B2', 'B2: same chain as B1');
    receive(c, 'alice', 'B1', 'B1: hi Alice');
    receive(c, 'alice', 'B2', 'B2: same chain as B1');
    send(c, 'alice', 'A3', 'A3: a normal message now');
    receive(c, 'bob', 'A3', 'A3: a normal message now');
    send(c, 'bob', 'B3', 'B3: ratchet again');
    receive(c, 'alice', 'B3', 'B3: ratchet again');
    send(c, 'alice', 'A4', 'A4: and again');
    receive(c, 'bob', 'A4', 'A4: and again');
    receiveInvalid(c, 'bob', 'A4', ['ReplayedMessage'], 'bob decrypts A4 a second time: its message key is gone');
    send(c, 'bob', 'B4', 'B4: the session carries on after the replay');
    receive(c, 'alice', 'B4', 'B4: the session carries on after the replay');
    groups.push({
      comment: 'ping-pong with a ratchet step at each change of direction',
      ...setupOf(c),
      tests: c.steps,
    });
  }

  // 2. Out-of-order delivery within a chain and across chains.
  {
    const c = conversation('triturus-vectors/olm_conversation/out-of-order');
    startOutbound(c);
    send(c, 'alice', 'A1', 'A1');
    receive(c, 'bob', 'A1', 'A1');
    send(c, 'bob', 'B1', 'B1: opens the first normal chain');
    receive(c, 'alice', 'B1', 'B1: opens the first normal chain');
    for (let i = 2; i <= 6; i++) send(c, 'alice', `A${i}`, `A${i}: chain 2, index ${i - 2}`);
    receive(c, 'bob', 'A4', 'A4: chain 2, index 2', 'bob decrypts A4 first (A2 and A3 skipped)');
    receive(c, 'bob', 'A2', 'A2: chain 2, index 0', 'bob decrypts A2 from a skipped key');
    receive(c, 'bob', 'A6', 'A6: chain 2, index 4', 'bob decrypts A6 (A5 skipped)');
    receiveInvalid(c, 'bob', 'A2', ['ReplayedMessage'], 'bob decrypts A2 again: the skipped key was used up');
    send(c, 'bob', 'B2', 'B2: a new chain of bob’s');
    receive(c, 'alice', 'B2', 'B2: a new chain of bob’s');
    send(c, 'alice', 'A7', 'A7: chain 3, index 0');
    receive(c, 'bob', 'A7', 'A7: chain 3, index 0', 'bob decrypts A7 from a newer chain');
    receive(c, 'bob', 'A3', 'A3: chain 2, index 1', 'bob still decrypts A3 of the older chain');
    receive(c, 'bob', 'A5', 'A5: chain 2, index 3', 'and A5');
    groups.push({ comment: 'out-of-order delivery, within a chain and across chains', ...setupOf(c), tests: c.steps });
  }

  // 3. A long gap: only the last 40 skipped message keys of a chain are kept.
  {
    const c = conversation('triturus-vectors/olm_conversation/gap');
    startOutbound(c);
    send(c, 'alice', 'A1', 'A1');
    receive(c, 'bob', 'A1', 'A1');
    send(c, 'bob', 'B1', 'B1');
    receive(c, 'alice', 'B1', 'B1');
    const count = 45;
    for (let i = 0; i < count; i++) send(c, 'alice', `G${i}`, `gap message ${i}`);
    receive(c, 'bob', `G${count - 1}`, `gap message ${count - 1}`, `bob decrypts the last of ${count} messages first`);
    receive(c, 'bob', 'G4', 'gap message 4', 'bob decrypts G4: the oldest of the 40 kept skipped keys');
    receiveInvalid(
      c,
      'bob',
      'G3',
      ['SkippedKeyEvicted'],
      'bob decrypts G3: its key was the 41st skipped one and was not kept',
    );
    receive(c, 'bob', 'G20', 'gap message 20', 'bob decrypts G20 from a kept key');
    groups.push({ comment: 'a gap of 44 skipped messages in one chain', ...setupOf(c), tests: c.steps });
  }

  writeVectors('olm_conversation.json', {
    algorithm: 'Olm v1 conversations (double ratchet, out-of-order delivery)',
    schema: 'olm_steps',
    source: LIBOLM_SOURCE,
    generatedBy: GENERATED_BY,
    notes:
      "Each test group is one conversation between Alice and Bob (identity and one-time key secrets in the group). Its tests are steps, run in order on one session per party: `createOutbound` (with the base and ratchet key secrets libolm drew), `encrypt` (`random.ratchetKeySecret` is present exactly when the step makes a new ratchet key), `createInbound` (the receiver's account consumes the pre-key message) and `decrypt`. An invalid step must fail and leave the session as it was: the following steps depend on it.",
    flagNotes: {
      ReplayedMessage: 'The message was already decrypted; its message key is gone.',
      SkippedKeyEvicted: 'libolm keeps the keys of the last 40 skipped messages only; older ones are dropped.',
    },
    testGroups: groups,
  });
}

// ---------------------------------------------------------------------------------------------
// Olm: invalid messages (each test starts from the group's `setup` steps)

/** Builds an Olm v1 pre-key message by hand (for non-contributory keys libolm cannot produce itself). */
function handmadePreKey(options: {
  shared: Buffer;
  oneTimeKey: Bytes;
  baseKey: Bytes;
  identityKey: Bytes;
  ratchetKeySecret: Bytes;
  plaintext: string;
}): string {
  const rootAndChain = hkdf(options.shared, 'OLM_ROOT', 64);
  const chainKey = rootAndChain.subarray(32, 64);
  const messageKey = hmac(chainKey, Buffer.from([1]));
  const keys = hkdf(messageKey, 'OLM_KEYS', 80);
  const cipher = nodeCrypto.createCipheriv('aes-256-cbc', keys.subarray(0, 32), keys.subarray(64, 80));
  const ciphertext = Buffer.concat([cipher.update(options.plaintext, 'utf8'), cipher.final()]);
  const payload = Buffer.concat([
    Buffer.from([0x03, 0x0a, 32]),
    x25519Public(options.ratchetKeySecret),
    Buffer.from([0x10, 0x00, 0x22]),
    varint(ciphertext.length),
    ciphertext,
  ]);
  const inner = Buffer.concat([payload, hmac(keys.subarray(32, 64), payload).subarray(0, 8)]);
  return b64(
    Buffer.concat([
      Buffer.from([0x03, 0x0a, 32]),
      options.oneTimeKey,
      Buffer.from([0x12, 32]),
      options.baseKey,
      Buffer.from([0x1a, 32]),
      options.identityKey,
      Buffer.from([0x22]),
      varint(inner.length),
      inner,
    ]),
  );
}

function olmInvalidMessages(): void {
  const groups: TestGroup[] = [];

  // Group 1: pre-key messages to Bob, who has one unused one-time key.
  {
    const c = conversation('triturus-vectors/olm_invalid/pre-key');
    startOutbound(c);
    const good = send(c, 'alice', 'A1', 'a valid pre-key message');
    const setup = c.steps.splice(0);
    const tests: Record<string, unknown>[] = [];
    // Cases libolm accepts are left out (libolm is the reference), except the non-contributory ones,
    // which are invalid by the rule that an all-zero X25519 output is refused (see the file notes).
    const skipped: string[] = [];
    const tryInbound = (
      comment: string,
      flags: string[],
      message: OlmMessage,
      theirIdentityKey = c.alice.curve25519,
    ) => {
      const session = track(new olm.Session());
      let error = libolmError(() => session.create_inbound_from(c.bob.account, theirIdentityKey, message.body));
      let plaintext = '';
      if (error === undefined) error = libolmError(() => (plaintext = session.decrypt(message.type, message.body)));
      const entry: Record<string, unknown> = {
        comment,
        action: 'createInbound',
        party: 'bob',
        theirIdentityKey,
        message,
      };
      if (error === undefined) {
        if (!flags.includes('NonContributory')) {
          skipped.push(comment);
          return 'skipped';
        }
        entry.libolmResult = `accepted: decrypts to ${JSON.stringify(plaintext)}`;
      } else {
        entry.libolmError = error;
      }
      tests.push({ ...entry, result: 'invalid', flags });
      return error;
    };
    const body = good.body;
    assert(
      tryInbound('the last MAC byte flipped', ['BadMac'], { type: 0, body: flipLastByte(body) }) !== undefined,
      'bad mac',
    );
    const bytes = unb64(body);
    const ctFlip = Buffer.from(bytes);
    ctFlip[bytes.length - 12]! ^= 0x80;
    assert(tryInbound('a ciphertext bit flipped', ['BadMac'], { type: 0, body: b64(ctFlip) }) !== undefined, 'ct flip');
    for (const cut of [bytes.length - 1, bytes.length - 8, 100, 40, 1]) {
      assert(
        tryInbound(`truncated to ${cut} bytes`, ['TruncatedMessage'], { type: 0, body: truncated(body, cut) }) !==
          undefined,
        `truncated ${cut}`,
      );
    }
    assert(
      tryInbound('version byte 0x02 (unknown)', ['WrongVersion'], { type: 0, body: withByte(body, 0, 0x02) }) !==
        undefined,
      'version 2',
    );
    assert(
      tryInbound('version byte 0x04 on a v1 message', ['WrongVersion'], { type: 0, body: withByte(body, 0, 0x04) }) !==
        undefined,
      'version 4',
    );
    // Inner message version: the inner message starts after the 3 × 34 key bytes, its tag and length.
    const innerStart = 1 + 3 * 34 + 1 + varint(bytes.length - (1 + 3 * 34 + 1) - 2).length;
    assert(bytes[innerStart] === 0x03, 'inner message version offset');
    assert(
      tryInbound('inner message version byte 0x02', ['WrongVersion'], {
        type: 0,
        body: withByte(body, innerStart, 0x02),
      }) !== undefined,
      'inner version',
    );
    assert(
      tryInbound(
        'sent to Bob by an identity key other than the one in the message',
        ['IdentityKeyMismatch'],
        good,
        c.bob.curve25519,
      ) !== undefined,
      'identity mismatch',
    );
    // A pre-key message to a one-time key Bob does not have.
    const stranger = makeAccount('carol', 'triturus-vectors/olm_invalid/pre-key/carol', 1);
    const other = createOutbound(
      c.alice,
      stranger.curve25519,
      stranger.oneTimeKeys[0]!.publicKey,
      `${c.seed}/to-carol`,
    );
    const toCarol = encrypt(other.session, 'meant for Carol', `${c.seed}/to-carol-encrypt`).message;
    assert(
      tryInbound('addressed to a one-time key Bob does not have', ['UnknownOneTimeKey'], toCarol) !== undefined,
      'otk',
    );
    // Non-contributory keys: messages built by hand, with MACs libolm verifies.
    const otk = unb64(c.bob.oneTimeKeys[0]!.publicKey);
    const ratchetKeySecret = new SeededRandom(`${c.seed}/handmade-ratchet`).take(32);
    for (const [name, point] of [
      ['0 (order 2)', Buffer.alloc(32)],
      ['1 (order 4)', Buffer.concat([Buffer.from([1]), Buffer.alloc(31)])],
    ] as const) {
      const shared = Buffer.concat([x25519(c.alice.curve25519Secret, otk), Buffer.alloc(32), Buffer.alloc(32)]);
      const message = {
        type: 0 as const,
        body: handmadePreKey({
          shared,
          oneTimeKey: otk,
          baseKey: point,
          identityKey: unb64(c.alice.curve25519),
          ratchetKeySecret,
          plaintext: 'non-contributory base key',
        }),
      };
      tryInbound(
        `a base key of small order, u = ${name}: two of the three X25519 outputs are all zero`,
        ['NonContributory'],
        message,
      );
    }
    {
      const baseSecret = new SeededRandom(`${c.seed}/handmade-base`).take(32);
      const zero = Buffer.alloc(32);
      const shared = Buffer.concat([
        Buffer.alloc(32),
        x25519(baseSecret, unb64(c.bob.curve25519)),
        x25519(baseSecret, otk),
      ]);
      const message = {
        type: 0 as const,
        body: handmadePreKey({
          shared,
          oneTimeKey: otk,
          baseKey: x25519Public(baseSecret),
          identityKey: zero,
          ratchetKeySecret,
          plaintext: 'non-contributory identity key',
        }),
      };
      tryInbound(
        'a sender identity key of small order (u = 0): ECDH(E_B, I_A) is all zero',
        ['NonContributory'],
        message,
        b64(zero),
      );
    }
    if (skipped.length > 0) console.log(`left out (libolm accepts them): ${skipped.join('; ')}`);
    // libolm still accepts the valid message afterwards: the one-time key was not used up.
    const check = track(new olm.Session());
    check.create_inbound_from(c.bob.account, c.alice.curve25519, good.body);
    assert(check.decrypt(good.type, good.body) === 'a valid pre-key message', 'valid after invalid');
    groups.push({
      comment: 'pre-key messages to Bob, who has one unused one-time key',
      randomSeed: c.seed,
      alice: partyJson(c.alice),
      bob: partyJson(c.bob),
      setup,
      afterEach: {
        comment: 'the valid pre-key message still opens: nothing was consumed',
        action: 'createInbound',
        party: 'bob',
        theirIdentityKey: c.alice.curve25519,
        message: good,
        expected: { sessionId: check.session_id(), plaintext: 'a valid pre-key message' },
        result: 'valid',
      },
      tests,
    });
  }

  // Group 2: a second pre-key message to a one-time key Bob already used.
  {
    const c = conversation('triturus-vectors/olm_invalid/reused-one-time-key');
    startOutbound(c);
    send(c, 'alice', 'A1', 'first session');
    receive(c, 'bob', 'A1', 'first session');
    send(c, 'alice', 'A2', 'second message of the first session');
    const setup = c.steps.splice(0);
    const second = createOutbound(
      c.alice,
      c.bob.curve25519,
      c.bob.oneTimeKeys[0]!.publicKey,
      `${c.seed}/second-session`,
    );
    const reuse = encrypt(second.session, 'a new session to the same one-time key', `${c.seed}/second-encrypt`).message;
    const session = track(new olm.Session());
    const error = libolmError(() => session.create_inbound_from(c.bob.account, c.alice.curve25519, reuse.body));
    assert(error !== undefined, 'libolm refuses a used one-time key');
    const a2 = c.sent.get('A2')!;
    assert(
      c.sessions.bob!.decrypt(a2.type, a2.body) === 'second message of the first session',
      'first session continues',
    );
    groups.push({
      comment: 'a new session to a one-time key Bob already used',
      randomSeed: c.seed,
      alice: partyJson(c.alice),
      bob: partyJson(c.bob),
      setup,
      afterEach: {
        comment: 'the first session still decrypts',
        action: 'decrypt',
        party: 'bob',
        message: a2,
        expected: { plaintext: 'second message of the first session' },
        result: 'valid',
      },
      tests: [
        {
          comment: 'a pre-key message with a new base key to the one-time key Bob consumed in setup',
          action: 'createInbound',
          party: 'bob',
          theirIdentityKey: c.alice.curve25519,
          message: reuse,
          result: 'invalid',
          flags: ['UnknownOneTimeKey', 'ReusedOneTimeKey'],
          libolmError: error,
        },
      ],
    });
  }

  // Group 3: normal messages to Alice's established session.
  {
    const c = conversation('triturus-vectors/olm_invalid/normal');
    startOutbound(c);
    send(c, 'alice', 'A1', 'A1');
    receive(c, 'bob', 'A1', 'A1');
    const reply = send(c, 'bob', 'B1', 'a valid normal message');
    const setup = c.steps.splice(0);
    const tests: Record<string, unknown>[] = [];
    const attempt = (comment: string, flags: string[], message: OlmMessage) => {
      const error = libolmError(() => c.sessions.alice!.decrypt(message.type, message.body));
      assert(error !== undefined, `libolm refuses: ${comment}`);
      tests.push({ comment, action: 'decrypt', party: 'alice', message, result: 'invalid', flags, libolmError: error });
    };
    const body = reply.body;
    const bytes = unb64(body);
    attempt('the last MAC byte flipped', ['BadMac'], { type: 1, body: flipLastByte(body) });
    const ctFlip = Buffer.from(bytes);
    ctFlip[bytes.length - 9]! ^= 0x01;
    attempt('the last ciphertext byte flipped', ['BadMac'], { type: 1, body: b64(ctFlip) });
    const keyFlip = Buffer.from(bytes);
    keyFlip[5]! ^= 0x01;
    attempt('a bit of the ratchet key flipped (an unknown chain)', ['BadMac'], { type: 1, body: b64(keyFlip) });
    const indexChanged = Buffer.from(bytes);
    assert(indexChanged[35] === 0x10 && indexChanged[36] === 0x00, 'chain index field');
    indexChanged[36] = 0x01;
    attempt('chain index 1 instead of 0', ['BadMac'], { type: 1, body: b64(indexChanged) });
    for (const cut of [bytes.length - 1, bytes.length - 8, bytes.length - 9, 36, 10, 1]) {
      attempt(`truncated to ${cut} bytes`, ['TruncatedMessage'], { type: 1, body: truncated(body, cut) });
    }
    attempt('version byte 0x02', ['WrongVersion'], { type: 1, body: withByte(body, 0, 0x02) });
    attempt('version byte 0x04 on a v1 session', ['WrongVersion'], { type: 1, body: withByte(body, 0, 0x04) });
    attempt('the empty message', ['TruncatedMessage'], { type: 1, body: '' });
    assert(c.sessions.alice!.decrypt(reply.type, reply.body) === 'a valid normal message', 'valid after invalid');
    groups.push({
      comment: "normal messages to Alice's session after Bob's first reply",
      randomSeed: c.seed,
      alice: partyJson(c.alice),
      bob: partyJson(c.bob),
      setup,
      afterEach: {
        comment: 'the valid reply still decrypts',
        action: 'decrypt',
        party: 'alice',
        message: reply,
        expected: { plaintext: 'a valid normal message' },
        result: 'valid',
      },
      tests,
    });
  }

  writeVectors('olm_invalid_messages.json', {
    algorithm: 'Olm v1 messages that must be refused',
    schema: 'olm_invalid',
    source: `${LIBOLM_SOURCE}; the NonContributory messages are built by the generator (libolm decrypts them, see libolmResult)`,
    generatedBy: GENERATED_BY,
    notes:
      "For each test: replay the group's `setup` steps (the olm_steps shape of olm_conversation.json) on fresh objects, run the test step, which must fail without changing any state, then run `afterEach`, which must succeed. `libolmError` is what libolm 3.2.16 said. libolm accepts the NonContributory messages (it does not check X25519 outputs); they are invalid under the rule that an all-zero X25519 output is refused (vodozemac and triturus refuse it), and are built by hand with MACs that libolm verifies.",
    flagNotes: {
      BadMac: 'The MAC does not verify (a flipped bit anywhere under the MAC, or keys derived from a changed field).',
      TruncatedMessage: 'The message ends early.',
      WrongVersion: 'An unknown or unexpected protocol version byte.',
      UnknownOneTimeKey: 'The pre-key message names a one-time key the receiver does not hold.',
      ReusedOneTimeKey: 'The one-time key was already consumed by an earlier session.',
      IdentityKeyMismatch: 'The pre-key message carries an identity key other than the sender the caller names.',
      NonContributory: 'A key of small order makes an X25519 output all zero.',
    },
    testGroups: groups,
  });
}

// ---------------------------------------------------------------------------------------------
// Megolm

interface GroupFixture {
  seed: string;
  outbound: LibolmOutboundGroupSession;
  ratchet: Buffer;
  signingKeySeed: Buffer;
  sessionId: string;
  sessionKey: string;
}

function makeGroupSession(seed: string): GroupFixture {
  const outbound = track(new olm.OutboundGroupSession());
  const { draws } = seeded(seed, () => outbound.create());
  const random = draws[0]!;
  assert(random.length === 160, 'OutboundGroupSession.create draws 160 bytes');
  const ratchet = random.subarray(0, 128);
  const signingKeySeed = random.subarray(128, 160);
  assert(outbound.session_id() === b64(ed25519Public(signingKeySeed)), 'session id = Ed25519 key of bytes 128..160');
  const sessionKey = outbound.session_key();
  assert(unb64(sessionKey).subarray(5, 133).equals(ratchet), 'the session key carries the ratchet (bytes 0..128)');
  return { seed, outbound, ratchet, signingKeySeed, sessionId: outbound.session_id(), sessionKey };
}

function groupJson(g: GroupFixture): Record<string, unknown> {
  return {
    randomSeed: g.seed,
    ratchet: b64(g.ratchet),
    signingKeySeed: b64(g.signingKeySeed),
    sessionId: g.sessionId,
    sessionKey: g.sessionKey,
  };
}

function inboundFrom(sessionKey: string, imported = false): LibolmInboundGroupSession {
  const inbound = track(new olm.InboundGroupSession());
  if (imported) inbound.import_session(sessionKey);
  else inbound.create(sessionKey);
  return inbound;
}

function megolmSessionKeys(): void {
  const groups: TestGroup[] = [];
  {
    const g = makeGroupSession('triturus-vectors/megolm_session_keys/1');
    const tests: Record<string, unknown>[] = [];
    const inbound = inboundFrom(g.sessionKey);
    // The outbound session key at later indices (advanced by encrypting).
    let index = 0;
    for (const target of [0, 1, 2, 10, 300]) {
      while (index < target) {
        g.outbound.encrypt(`message ${index}`);
        index++;
      }
      assert(g.outbound.message_index() === target, 'message index');
      const sessionKey = g.outbound.session_key();
      const check = inboundFrom(sessionKey);
      assert(check.session_id() === g.sessionId && check.first_known_index() === target, 'session key index');
      tests.push({
        comment: `the session key after ${target} messages`,
        kind: 'sessionKey',
        messageIndex: target,
        expected: { sessionKey, sessionId: g.sessionId, firstKnownIndex: target },
        result: 'valid',
      });
    }
    for (const target of [0, 1, 2, 3, 255, 256, 257, 1000, 65535, 65536]) {
      tests.push({
        comment: `exported at index ${target} from the session key at index 0`,
        kind: 'export',
        messageIndex: target,
        expected: { exportedKey: inbound.export_session(target) },
        result: 'valid',
      });
    }
    // Invalid session keys.
    const key = unb64(g.sessionKey);
    const invalid = (comment: string, flags: string[], sessionKey: string, imported = false) => {
      const s = track(new olm.InboundGroupSession());
      const error = libolmError(() => (imported ? s.import_session(sessionKey) : s.create(sessionKey)));
      assert(error !== undefined, `libolm refuses: ${comment}`);
      tests.push({
        comment,
        kind: imported ? 'importExported' : 'sessionKey',
        sessionKey,
        result: 'invalid',
        flags,
        libolmError: error,
      });
    };
    invalid('the signature of the session key: last byte flipped', ['BadSignature'], flipLastByte(g.sessionKey));
    const ratchetFlip = Buffer.from(key);
    ratchetFlip[10]! ^= 0x01;
    invalid('a ratchet bit flipped under the signature', ['BadSignature'], b64(ratchetFlip));
    invalid('truncated by one byte', ['TruncatedKey'], truncated(g.sessionKey, key.length - 1));
    invalid('truncated to the exported length (no signature)', ['TruncatedKey'], truncated(g.sessionKey, 165));
    invalid(
      'version byte 0x01 (the export format) given as a session key',
      ['WrongVersion'],
      withByte(g.sessionKey, 0, 0x01),
    );
    invalid('version byte 0x03', ['WrongVersion'], withByte(g.sessionKey, 0, 0x03));
    const exported = inbound.export_session(0);
    invalid('an exported key: version byte 0x02', ['WrongVersion'], withByte(exported, 0, 0x02), true);
    invalid('an exported key truncated by one byte', ['TruncatedKey'], truncated(exported, 164), true);
    groups.push({ comment: 'one session: session keys, exports and damaged keys', ...groupJson(g), tests });
  }
  writeVectors('megolm_session_keys.json', {
    algorithm: 'Megolm v1 session keys (m.room_key) and exported session keys',
    schema: 'megolm_session_keys',
    source: LIBOLM_SOURCE,
    generatedBy: GENERATED_BY,
    notes:
      "The group gives the outbound session's secrets (`ratchet`, 128 bytes at index 0, and the Ed25519 `signingKeySeed`), the session id and the session key at index 0. kind `sessionKey`: the outbound session advanced to `messageIndex` (by encrypting that many messages) gives `expected.sessionKey` (229 bytes, signed), and an inbound session made from it has `firstKnownIndex`. kind `export`: an inbound session made from the group's session key exports `expected.exportedKey` (165 bytes, unsigned) at `messageIndex`. Invalid tests: the key must be refused as a session key (kind `sessionKey`) or as an exported key (kind `importExported`).",
    flagNotes: {
      BadSignature: 'The session key signature does not verify.',
      TruncatedKey: 'The key is shorter than its format.',
      WrongVersion: 'An unknown or wrong format version byte.',
    },
    testGroups: groups,
  });
}

/** Signs a Megolm message body (version ‖ payload ‖ MAC) again, so only the MAC is wrong. */
function resignMegolm(bytes: Buffer, signingKeySeed: Bytes): string {
  const unsigned = bytes.subarray(0, bytes.length - 64);
  return b64(Buffer.concat([unsigned, ed25519Sign(signingKeySeed, unsigned)]));
}

function megolmMessages(): void {
  const groups: TestGroup[] = [];
  const g = makeGroupSession('triturus-vectors/megolm_messages/1');
  const messages: { index: number; plaintext: string; body: string }[] = [];
  const plaintexts = [
    '{"type":"m.room.message","content":{"msgtype":"m.text","body":"first"},"room_id":"!room:example.org"}',
    '',
    'fifteen bytes!!',
    'sixteen bytes!!!',
    'Grüße, 日本語, emoji 🔐',
  ];
  for (let i = 0; i < 200; i++) {
    const plaintext = plaintexts[i] ?? `message ${i}`;
    const body = g.outbound.encrypt(plaintext);
    messages.push({ index: i, plaintext, body });
  }
  const inbound = inboundFrom(g.sessionKey);
  const chosen = [0, 1, 2, 3, 4, 5, 127, 128, 199];
  const tests: Record<string, unknown>[] = [];
  for (const i of chosen) {
    const m = messages[i]!;
    const d = inbound.decrypt(m.body);
    assert(d.plaintext === m.plaintext && d.message_index === i, 'libolm decrypts its message');
    tests.push({
      comment: `message ${i}`,
      messageIndex: i,
      plaintext: m.plaintext,
      message: m.body,
      expected: { plaintext: m.plaintext, messageIndex: i },
      result: 'valid',
    });
  }
  groups.push({
    comment: 'encrypt at an index (outbound advanced to it) and decrypt with the session key at index 0',
    ...groupJson(g),
    tests,
  });

  // Invalid messages, against an inbound session from the session key at index 0 (and one imported at 5).
  const invalidTests: Record<string, unknown>[] = [];
  const base = messages[7]!;
  const bytes = unb64(base.body);
  const bad = (
    comment: string,
    flags: string[],
    body: string,
    session = inbound,
    extra: Record<string, unknown> = {},
  ) => {
    const error = libolmError(() => session.decrypt(body));
    assert(error !== undefined, `libolm refuses: ${comment}`);
    invalidTests.push({ comment, message: body, ...extra, result: 'invalid', flags, libolmError: error });
  };
  bad('the last signature byte flipped', ['BadSignature'], flipLastByte(base.body));
  const payloadFlip = Buffer.from(bytes);
  payloadFlip[8]! ^= 0x01;
  bad('a ciphertext bit flipped (signature no longer verifies)', ['BadSignature'], b64(payloadFlip));
  const macFlip = Buffer.from(bytes);
  macFlip[bytes.length - 65]! ^= 0x01;
  bad(
    'a MAC bit flipped, then signed again with the session key: the signature verifies, the MAC not',
    ['BadMac'],
    resignMegolm(macFlip, g.signingKeySeed),
  );
  const ctFlip = Buffer.from(bytes);
  ctFlip[bytes.length - 73]! ^= 0x01;
  bad(
    'a ciphertext bit flipped and signed again: the MAC does not verify',
    ['BadMac'],
    resignMegolm(ctFlip, g.signingKeySeed),
  );
  const indexChanged = Buffer.from(bytes);
  assert(indexChanged[1] === 0x08 && indexChanged[2] === 7, 'message index field');
  indexChanged[2] = 8;
  bad(
    'message index 8 instead of 7, signed again: keys of the wrong index, the MAC does not verify',
    ['BadMac'],
    resignMegolm(indexChanged, g.signingKeySeed),
  );
  const other = makeGroupSession('triturus-vectors/megolm_messages/other');
  const foreign = other.outbound.encrypt('from another session');
  bad('a message of another session', ['BadSignature'], foreign);
  for (const cut of [bytes.length - 1, bytes.length - 64, bytes.length - 72, 3, 1]) {
    bad(`truncated to ${cut} bytes`, ['TruncatedMessage'], truncated(base.body, cut));
  }
  bad('version byte 0x02', ['WrongVersion'], withByte(base.body, 0, 0x02));
  bad(
    'version byte 0x04 on a v1 session, signed again',
    ['WrongVersion'],
    resignMegolm(Buffer.from(unb64(withByte(base.body, 0, 0x04))), g.signingKeySeed),
  );
  const late = inboundFrom(inbound.export_session(5), true);
  assert(late.first_known_index() === 5, 'imported at 5');
  const lateKey = late.export_session(5);
  for (const i of [0, 4]) {
    bad(`message ${i} to a session imported at index 5`, ['UnknownMessageIndex'], messages[i]!.body, late, {
      sessionExportedKey: lateKey,
    });
  }
  const ok = late.decrypt(messages[5]!.body);
  assert(ok.message_index === 5, 'index 5 decrypts');
  assert(inbound.decrypt(base.body).plaintext === base.plaintext, 'the valid message still decrypts');
  groups.push({
    comment:
      'damaged and unknown messages (inbound session from the session key at index 0 unless sessionExportedKey is given)',
    ...groupJson(g),
    afterEach: { message: base.body, expected: { plaintext: base.plaintext, messageIndex: 7 } },
    tests: invalidTests,
  });

  writeVectors('megolm_messages.json', {
    algorithm: 'Megolm v1 messages (m.megolm.v1.aes-sha2)',
    schema: 'megolm_messages',
    source: LIBOLM_SOURCE,
    generatedBy: GENERATED_BY,
    notes:
      "Valid tests: the outbound session (group secrets, index 0) advanced to `messageIndex` encrypts `plaintext` to `message` (unpadded base64); an inbound session from the group's `sessionKey` decrypts it to `expected`. Invalid tests: the inbound session (from `sessionKey`, or imported from `sessionExportedKey` when given) refuses `message` without changing state; then `afterEach` decrypts.",
    flagNotes: {
      BadSignature: 'The Ed25519 signature over the message does not verify (checked before the MAC).',
      BadMac: 'The signature verifies (the message was signed again with the session key) but the MAC does not.',
      TruncatedMessage: 'The message ends early.',
      WrongVersion: 'An unknown or wrong version byte.',
      UnknownMessageIndex: 'The message index is below the first index the session knows.',
    },
    testGroups: groups,
  });
}

function megolmRatchet(): void {
  const groups: TestGroup[] = [];
  const starts: { comment: string; start: number; targets: number[] }[] = [
    {
      comment: 'from index 0: every part boundary, large jumps and the largest index',
      start: 0,
      targets: [
        0, 1, 2, 255, 256, 257, 511, 512, 65535, 65536, 65537, 0x10100, 0xffffff, 0x1000000, 0x1000001, 0x12345678,
        0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
      ],
    },
    {
      comment: 'from index 0x00fffffe: across the R0 boundary',
      start: 0xfffffe,
      targets: [0xfffffe, 0xffffff, 0x1000000, 0x1000100, 0x2000000],
    },
    {
      comment: 'from index 0x123456ff',
      start: 0x123456ff,
      targets: [0x123456ff, 0x12345700, 0x12350000, 0x13000000, 0xffffffff],
    },
  ];
  starts.forEach((s, n) => {
    const g = makeGroupSession(`triturus-vectors/megolm_ratchet/${n + 1}`);
    const root = inboundFrom(g.sessionKey);
    const initial = root.export_session(s.start);
    assert(inboundFrom(initial, true).first_known_index() === s.start, 'start index');
    groups.push({
      comment: s.comment,
      randomSeed: g.seed,
      sessionId: g.sessionId,
      initialExportedKey: initial,
      // A fresh libolm session per target. libolm 3.2.16 cannot advance by 2^31 or more in one call
      // (OLM.UNKNOWN_ERROR), so larger jumps are made in steps below 2^31.
      tests: s.targets.map((target) => {
        const fresh = new olm.InboundGroupSession();
        fresh.import_session(initial);
        for (let at = s.start; target - at >= 0x80000000; ) {
          at += 0x7fffffff;
          fresh.export_session(at);
        }
        const exportedKey = fresh.export_session(target);
        fresh.free();
        return {
          comment: `advance to ${target} (0x${target.toString(16)})`,
          messageIndex: target,
          expected: { exportedKey },
          result: 'valid',
        };
      }),
    });
  });
  writeVectors('megolm_ratchet.json', {
    algorithm: 'Megolm ratchet advance (R0..R3, 32-bit counter)',
    schema: 'megolm_ratchet',
    source: LIBOLM_SOURCE,
    generatedBy: GENERATED_BY,
    notes:
      'An inbound session imported from `initialExportedKey` (an exported session key, 165 bytes) exports `expected.exportedKey` at `messageIndex`: the ratchet advanced from the initial index. Run each test on a fresh session and also on one session in test order (indices increase). libolm 3.2.16 cannot advance a ratchet by 2^31 or more in one call (it fails with OLM.UNKNOWN_ERROR); the generator makes such jumps in steps below 2^31.',
    testGroups: groups,
  });
}

// ---------------------------------------------------------------------------------------------
// libolm pickles

function pickleKeyJson(key: Uint8Array | string): Record<string, string> {
  return typeof key === 'string' ? { utf8: key } : { base64: b64(key) };
}
function keyCopy(key: Uint8Array | string): Uint8Array | string {
  return typeof key === 'string' ? key : Uint8Array.from(key);
}

function libolmPickles(): void {
  const binaryKey = new SeededRandom('triturus-vectors/libolm_pickles/pickle-key').take(32);
  const stringKey = 'DEFAULT_KEY: a string pickle key of any length';
  const groups: TestGroup[] = [];

  // Accounts.
  {
    const tests: Record<string, unknown>[] = [];
    const accountCase = (comment: string, party: OlmParty, key: Uint8Array | string) => {
      const pickle = party.account.pickle(keyCopy(key));
      const copy = track(new olm.Account());
      copy.unpickle(keyCopy(key), pickle);
      assert(copy.pickle(keyCopy(key)) === pickle, 'libolm re-pickles an account identically');
      const message = 'a message signed by the pickled account';
      const oneTimeKeys = (JSON.parse(party.account.one_time_keys()) as { curve25519: Record<string, string> })
        .curve25519;
      const fallback = (JSON.parse(party.account.fallback_key()) as { curve25519: Record<string, string> }).curve25519;
      tests.push({
        comment,
        pickleKey: pickleKeyJson(key),
        pickle,
        expected: {
          identityKeys: { curve25519: party.curve25519, ed25519: party.ed25519 },
          unpublishedOneTimeKeys: oneTimeKeys,
          fallbackKey: fallback,
          signedMessage: message,
          signature: party.account.sign(message),
          repickle: pickle,
        },
        result: 'valid',
      });
    };
    accountCase('identity keys only', makeAccount('a1', 'triturus-vectors/libolm_pickles/account-1', 0), binaryKey);
    accountCase('five one-time keys', makeAccount('a2', 'triturus-vectors/libolm_pickles/account-2', 5), binaryKey);
    const a3 = makeAccount('a3', 'triturus-vectors/libolm_pickles/account-3', 3, true);
    accountCase('three one-time keys and an unpublished fallback key, string pickle key', a3, stringKey);
    a3.account.mark_keys_as_published();
    seeded('triturus-vectors/libolm_pickles/account-3/more', () => a3.account.generate_one_time_keys(2));
    seeded('triturus-vectors/libolm_pickles/account-3/fallback-2', () => a3.account.generate_fallback_key());
    accountCase('published and unpublished one-time keys, a current and a previous fallback key', a3, stringKey);
    // Invalid account pickles.
    const good = a3.account.pickle(keyCopy(binaryKey));
    const invalid = (comment: string, flags: string[], pickle: string, key: Uint8Array | string = binaryKey) => {
      const a = track(new olm.Account());
      const error = libolmError(() => a.unpickle(keyCopy(key), pickle));
      assert(error !== undefined, `libolm refuses: ${comment}`);
      tests.push({ comment, pickleKey: pickleKeyJson(key), pickle, result: 'invalid', flags, libolmError: error });
    };
    invalid('the wrong pickle key', ['WrongPickleKey'], good, stringKey);
    invalid('the last MAC byte flipped', ['BadMac'], flipLastByte(good));
    invalid('truncated by 16 bytes (a cipher block)', ['TruncatedPickle'], truncated(good, unb64(good).length - 16));
    invalid('not base64', ['MalformedPickle'], `${good.slice(0, 20)}!!!${good.slice(23)}`);
    invalid(
      'version 1 (refused by libolm: its Ed25519 keys are unsafe)',
      ['UnsupportedPickleVersion'],
      repickleWithVersion(good, binaryKey, 1),
    );
    invalid('version 5 (unknown)', ['UnsupportedPickleVersion'], repickleWithVersion(good, binaryKey, 5));
    groups.push({ comment: 'Account pickles (libolm writes version 4)', kind: 'account', tests });
  }

  // Olm sessions.
  {
    const tests: Record<string, unknown>[] = [];
    const c = conversation('triturus-vectors/libolm_pickles/session');
    startOutbound(c);
    send(c, 'alice', 'A1', 'A1');
    const sessionCase = (
      comment: string,
      session: LibolmSession,
      key: Uint8Array | string,
      next: { seed: string; plaintext: string },
      incoming: OlmMessage[],
      incomingPlaintexts: string[],
    ) => {
      const pickle = session.pickle(keyCopy(key));
      const copy = track(new olm.Session());
      copy.unpickle(keyCopy(key), pickle);
      assert(copy.pickle(keyCopy(key)) === pickle, 'libolm re-pickles a session identically');
      const decryptCopy = track(new olm.Session());
      decryptCopy.unpickle(keyCopy(key), pickle);
      for (let i = 0; i < incoming.length; i++) {
        const m = incoming[i]!;
        assert(decryptCopy.decrypt(m.type, m.body) === incomingPlaintexts[i], 'pickled session decrypts');
      }
      const { message, ratchetKeySecret } = encrypt(copy, next.plaintext, next.seed);
      tests.push({
        comment,
        pickleKey: pickleKeyJson(key),
        pickle,
        expected: {
          sessionId: session.session_id(),
          hasReceivedMessage: session.has_received_message(),
          repickle: pickle,
          nextEncrypt: {
            plaintext: next.plaintext,
            ...(ratchetKeySecret !== undefined ? { random: { ratchetKeySecret: b64(ratchetKeySecret) } } : {}),
            message,
          },
          decrypts: incoming.map((m, i) => ({ message: m, plaintext: incomingPlaintexts[i] })),
        },
        result: 'valid',
      });
    };
    // Alice right after her first pre-key message; Bob's reply to come.
    receive(c, 'bob', 'A1', 'A1');
    const b1 = send(c, 'bob', 'B1', 'B1 for the pickled outbound session');
    sessionCase(
      "outbound (Alice) before any reply; decrypts Bob's first reply",
      c.sessions.alice!,
      binaryKey,
      { seed: `${c.seed}/p1`, plaintext: 'next pre-key message' },
      [b1],
      ['B1 for the pickled outbound session'],
    );
    // Bob after receiving: he has a sender chain (he replied) — pickle him with skipped keys pending.
    receive(c, 'alice', 'B1', 'B1 for the pickled outbound session');
    const pending: OlmMessage[] = [];
    for (let i = 0; i < 4; i++) pending.push(send(c, 'alice', `P${i}`, `pending ${i}`));
    receive(c, 'bob', 'P3', 'pending 3', 'bob decrypts P3, skipping P0..P2');
    sessionCase(
      'inbound (Bob) with three skipped message keys; decrypts them out of order',
      c.sessions.bob!,
      stringKey,
      { seed: `${c.seed}/p2`, plaintext: 'Bob replies after the pickle' },
      [pending[1]!, pending[0]!, pending[2]!],
      ['pending 1', 'pending 0', 'pending 2'],
    );
    // A session after several ratchet turns.
    receive(c, 'bob', 'P0', 'pending 0');
    const b2 = send(c, 'bob', 'B2', 'B2');
    receive(c, 'alice', 'B2', 'B2');
    const a9 = send(c, 'alice', 'A9', 'A9');
    receive(c, 'bob', 'A9', 'A9');
    const b3 = send(c, 'bob', 'B3', 'B3 to the pickled Alice');
    void b2;
    void a9;
    sessionCase(
      'Alice after several ratchet steps',
      c.sessions.alice!,
      binaryKey,
      { seed: `${c.seed}/p3`, plaintext: 'Alice, after the pickle' },
      [b3],
      ['B3 to the pickled Alice'],
    );
    const good = c.sessions.alice!.pickle(keyCopy(binaryKey));
    const invalid = (comment: string, flags: string[], pickle: string, key: Uint8Array | string = binaryKey) => {
      const s = track(new olm.Session());
      const error = libolmError(() => s.unpickle(keyCopy(key), pickle));
      assert(error !== undefined, `libolm refuses: ${comment}`);
      tests.push({ comment, pickleKey: pickleKeyJson(key), pickle, result: 'invalid', flags, libolmError: error });
    };
    invalid('the wrong pickle key', ['WrongPickleKey'], good, stringKey);
    invalid('truncated by 16 bytes', ['TruncatedPickle'], truncated(good, unb64(good).length - 16));
    invalid('version 2 (unknown)', ['UnsupportedPickleVersion'], repickleWithVersion(good, binaryKey, 2));
    groups.push({ comment: 'Olm session pickles (libolm writes version 1)', kind: 'session', tests });
  }

  // Group sessions.
  {
    const tests: Record<string, unknown>[] = [];
    const g = makeGroupSession('triturus-vectors/libolm_pickles/outbound-group');
    for (let i = 0; i < 3; i++) g.outbound.encrypt(`before the pickle ${i}`);
    const pickle = g.outbound.pickle(keyCopy(binaryKey));
    const copy = track(new olm.OutboundGroupSession());
    copy.unpickle(keyCopy(binaryKey), pickle);
    assert(copy.pickle(keyCopy(binaryKey)) === pickle, 'libolm re-pickles an outbound group session identically');
    const next = copy.encrypt('after the pickle');
    tests.push({
      comment: 'OutboundGroupSession after three messages',
      kind: 'outboundGroupSession',
      pickleKey: pickleKeyJson(binaryKey),
      pickle,
      expected: {
        sessionId: g.sessionId,
        messageIndex: 3,
        sessionKey: g.outbound.session_key(),
        repickle: pickle,
        nextEncrypt: { plaintext: 'after the pickle', message: next },
      },
      result: 'valid',
    });
    const sent = [next, g.outbound.encrypt('the original session continues too')];
    assert(sent[0] === next, 'same message from the copy and the original');
    for (const [comment, imported, at] of [
      ['InboundGroupSession from the session key (verified)', false, 0],
      ['InboundGroupSession imported from an export at index 2 (not verified)', true, 2],
    ] as const) {
      const source = inboundFrom(g.sessionKey);
      const inbound = imported ? inboundFrom(source.export_session(at), true) : source;
      const p = inbound.pickle(keyCopy(stringKey));
      const c2 = track(new olm.InboundGroupSession());
      c2.unpickle(keyCopy(stringKey), p);
      assert(c2.pickle(keyCopy(stringKey)) === p, 'libolm re-pickles an inbound group session identically');
      const d = c2.decrypt(next);
      tests.push({
        comment,
        kind: 'inboundGroupSession',
        pickleKey: pickleKeyJson(stringKey),
        pickle: p,
        expected: {
          sessionId: g.sessionId,
          firstKnownIndex: at,
          verified: !imported,
          exportedKey: inbound.export_session(at),
          repickle: p,
          decrypts: [{ message: next, plaintext: d.plaintext, messageIndex: d.message_index }],
        },
        result: 'valid',
      });
    }
    const invalid = (comment: string, kind: string, flags: string[], p: string, key: Uint8Array | string) => {
      const s =
        kind === 'outboundGroupSession' ? track(new olm.OutboundGroupSession()) : track(new olm.InboundGroupSession());
      const error = libolmError(() => s.unpickle(keyCopy(key), p));
      assert(error !== undefined, `libolm refuses: ${comment}`);
      tests.push({
        comment,
        kind,
        pickleKey: pickleKeyJson(key),
        pickle: p,
        result: 'invalid',
        flags,
        libolmError: error,
      });
    };
    invalid(
      'OutboundGroupSession: the wrong pickle key',
      'outboundGroupSession',
      ['WrongPickleKey'],
      pickle,
      stringKey,
    );
    invalid(
      'OutboundGroupSession: version 2 (unknown)',
      'outboundGroupSession',
      ['UnsupportedPickleVersion'],
      repickleWithVersion(pickle, binaryKey, 2),
      binaryKey,
    );
    const inboundPickle = inboundFrom(g.sessionKey).pickle(keyCopy(binaryKey));
    invalid(
      'InboundGroupSession: truncated by 16 bytes',
      'inboundGroupSession',
      ['TruncatedPickle'],
      truncated(inboundPickle, unb64(inboundPickle).length - 16),
      binaryKey,
    );
    invalid(
      'InboundGroupSession: version 3 (unknown)',
      'inboundGroupSession',
      ['UnsupportedPickleVersion'],
      repickleWithVersion(inboundPickle, binaryKey, 3),
      binaryKey,
    );
    groups.push({
      comment: 'Megolm group session pickles (OutboundGroupSession version 1, InboundGroupSession version 2)',
      kind: 'groupSession',
      tests,
    });
  }

  writeVectors('libolm_pickles.json', {
    algorithm: 'libolm pickles (Account, Session, OutboundGroupSession, InboundGroupSession)',
    schema: 'libolm_pickles',
    source: LIBOLM_SOURCE,
    generatedBy: GENERATED_BY,
    notes:
      'Container: base64(AES-256-CBC(body) ‖ HMAC-SHA256(ciphertext)[0..8]) with keys from HKDF-SHA256(pickle key, salt empty, info "Pickle"); `pickleKey` is bytes (`base64`) or a string taken as its UTF-8 bytes (`utf8`). Account: the identity keys, the unpublished one-time keys and fallback key by libolm key id (libolm numbers keys from 1; compare the key values), the signature of `signedMessage` (libolm signs with its 64-byte expanded Ed25519 key), and `repickle`: libolm writes the same pickle again. Session: the session id, `nextEncrypt` (the message the unpickled session sends next, with the ratchet key secret when it makes one) and `decrypts` (messages a fresh copy of the unpickled session decrypts, in order). Group sessions: ids, indices, keys, the next message and decryptions. Invalid pickles must be refused.',
    flagNotes: {
      WrongPickleKey: 'The pickle was written under another key (the MAC does not verify).',
      BadMac: 'The pickle MAC does not verify.',
      TruncatedPickle: 'The pickle ends early.',
      MalformedPickle: 'The pickle is not valid base64.',
      UnsupportedPickleVersion:
        'A pickle version libolm does not read (built by decrypting a real pickle, changing the version and sealing it again).',
    },
    testGroups: groups,
  });
}

/** Opens a libolm pickle with node:crypto, replaces its leading u32 version and seals it again. */
function repickleWithVersion(pickle: string, key: Uint8Array | string, version: number): string {
  const keyBytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : Buffer.from(key);
  const keys = hkdf(keyBytes, 'Pickle', 80);
  const raw = unb64(pickle);
  const ciphertext = raw.subarray(0, raw.length - 8);
  assert(
    hmac(keys.subarray(32, 64), ciphertext)
      .subarray(0, 8)
      .equals(raw.subarray(raw.length - 8)),
    'pickle MAC',
  );
  const decipher = nodeCrypto.createDecipheriv('aes-256-cbc', keys.subarray(0, 32), keys.subarray(64, 80));
  const body = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  body.writeUInt32BE(version, 0);
  const cipher = nodeCrypto.createCipheriv('aes-256-cbc', keys.subarray(0, 32), keys.subarray(64, 80));
  const sealed = Buffer.concat([cipher.update(body), cipher.final()]);
  return b64(Buffer.concat([sealed, hmac(keys.subarray(32, 64), sealed).subarray(0, 8)]));
}

// ---------------------------------------------------------------------------------------------
// Key-export files (matrix-sdk-crypto)

function sdkError(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof Error) return error.message;
    const e = error as { description?: string; message?: string };
    return e.description ?? e.message ?? String(error);
  }
  return undefined;
}

function keyExports(): void {
  const rounds = 1000;
  const sessions: Record<string, unknown>[] = [];
  for (let i = 0; i < 3; i++) {
    const sender = makeAccount(`sender${i}`, `triturus-vectors/megolm_key_export/sender-${i}`, 0);
    const g = makeGroupSession(`triturus-vectors/megolm_key_export/session-${i}`);
    for (let j = 0; j < i * 3; j++) g.outbound.encrypt(`advance ${j}`);
    const inbound = inboundFrom(g.outbound.session_key());
    sessions.push({
      algorithm: 'm.megolm.v1.aes-sha2',
      room_id: `!room${i}:example.org`,
      sender_key: sender.curve25519,
      session_id: g.sessionId,
      session_key: inbound.export_session(inbound.first_known_index()),
      sender_claimed_keys: { ed25519: sender.ed25519 },
      forwarding_curve25519_key_chain:
        i === 2 ? [makeAccount('fwd', 'triturus-vectors/megolm_key_export/forwarder', 0).curve25519] : [],
    });
  }
  const tests: Record<string, unknown>[] = [];
  const valid = (comment: string, passphrase: string, entries: Record<string, unknown>[]) => {
    const file = sdk.OlmMachine.encryptExportedRoomKeys(JSON.stringify(entries), passphrase, rounds);
    const decrypted = JSON.parse(sdk.OlmMachine.decryptExportedRoomKeys(file, passphrase)) as Record<string, unknown>[];
    assert(decrypted.length === entries.length, 'matrix-sdk-crypto decrypts its file');
    tests.push({ comment, passphrase, rounds, file, expected: { sessions: decrypted }, result: 'valid' });
    return file;
  };
  const one = valid('one session', 'correct horse battery staple', sessions.slice(0, 1));
  valid('three sessions, one forwarded, with a non-ASCII passphrase', 'pässwörd 🔑', sessions);
  valid('an empty list', 'empty', []);
  const invalid = (comment: string, flags: string[], file: string, passphrase = 'correct horse battery staple') => {
    const error = sdkError(() => sdk.OlmMachine.decryptExportedRoomKeys(file, passphrase));
    assert(error !== undefined, `matrix-sdk-crypto refuses: ${comment}`);
    tests.push({ comment, passphrase, file, result: 'invalid', flags, referenceError: error });
  };
  invalid('the wrong passphrase', ['WrongPassphrase'], one, 'Correct horse battery staple');
  const lines = one.trim().split('\n');
  const payload = unb64(lines.slice(1, -1).join(''));
  const armor = (bytes: Bytes) =>
    `-----BEGIN MEGOLM SESSION DATA-----\n${(b64(bytes) + '='.repeat((4 - (b64(bytes).length % 4)) % 4)).match(/.{1,96}/g)!.join('\n')}\n-----END MEGOLM SESSION DATA-----\n`;
  assert(armor(payload).replace(/\n/g, '').length > 0, 'armor');
  const ctFlip = Buffer.from(payload);
  ctFlip[40]! ^= 0x01;
  invalid('a ciphertext bit flipped', ['BadMac'], armor(ctFlip));
  const macFlip = Buffer.from(payload);
  macFlip[macFlip.length - 1]! ^= 0x01;
  invalid('the last MAC byte flipped', ['BadMac'], armor(macFlip));
  invalid('version byte 0x02', ['WrongVersion'], armor(Buffer.concat([Buffer.from([2]), payload.subarray(1)])));
  invalid('truncated to 36 bytes (no ciphertext, no MAC)', ['TruncatedFile'], armor(payload.subarray(0, 36)));
  invalid(
    'the MAC cut off (the last 32 ciphertext bytes are then read as the MAC)',
    ['TruncatedFile', 'BadMac'],
    armor(payload.subarray(0, payload.length - 32)),
  );
  invalid('no BEGIN line', ['MalformedArmor'], lines.slice(1).join('\n'));
  invalid('not base64 inside the armor', ['MalformedArmor'], `${lines[0]}\n%%%%\n${lines[lines.length - 1]}\n`);
  writeVectors('megolm_key_export.json', {
    algorithm: 'Megolm key-export files (Matrix client-server spec, "Key exports")',
    schema: 'megolm_key_export',
    source: `${SDK_SOURCE}; the session keys are libolm 3.2.16 exports`,
    generatedBy: GENERATED_BY,
    notes: `Files are made with ${rounds} PBKDF2-HMAC-SHA512 rounds to keep the tests fast (the spec asks for at least 100 000 in real exports; the count is read from the file). Decrypting \`file\` with \`passphrase\` gives \`expected.sessions\`, compared by the fields algorithm, room_id, sender_key, session_id, session_key, sender_claimed_keys and forwarding_curve25519_key_chain. Invalid files must be refused; \`referenceError\` is what matrix-sdk-crypto said.`,
    flagNotes: {
      WrongPassphrase: 'The MAC does not verify under keys from this passphrase.',
      BadMac: 'The file was changed after it was written.',
      WrongVersion: 'An unknown format version byte.',
      TruncatedFile: 'Too short for its format.',
      MalformedArmor: 'The BEGIN/END lines or the base64 inside them are broken.',
    },
    testGroups: [{ comment: 'key-export files written by matrix-sdk-crypto', tests }],
  });
}

// ---------------------------------------------------------------------------------------------
// Matrix specification: canonical JSON and JSON signing

function canonicalJsonVectors(): void {
  // Matrix specification, Appendices → Signing JSON → Canonical JSON (the examples as given).
  const examples: [string, string, string][] = [
    ['an empty object', '{}', '{}'],
    ['whitespace removed', '{\n    "one": 1,\n    "two": "Two"\n}', '{"one":1,"two":"Two"}'],
    ['keys sorted', '{\n    "b": "2",\n    "a": "1"\n}', '{"a":"1","b":"2"}'],
    ['keys sorted (compact input)', '{"b":"2","a":"1"}', '{"a":"1","b":"2"}'],
    [
      'nested objects sorted, arrays kept in order',
      '{\n    "auth": {\n        "success": true,\n        "mxid": "@john.doe:example.com",\n        "profile": {\n            "display_name": "John Doe",\n            "three_pids": [\n                {\n                    "medium": "email",\n                    "address": "john.doe@example.org"\n                },\n                {\n                    "medium": "msisdn",\n                    "address": "123456789"\n                }\n            ]\n        }\n    }\n}',
      '{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}',
    ],
    ['UTF-8 kept as is', '{\n    "a": "日本語"\n}', '{"a":"日本語"}'],
    ['keys sorted by code point', '{\n    "本": 2,\n    "日": 1\n}', '{"日":1,"本":2}'],
    ['\\u escapes decoded', '{\n    "a": "\\u65E5"\n}', '{"a":"日"}'],
    ['null', '{\n    "a": null\n}', '{"a":null}'],
    ['-0 and 1e10 are integers', '{\n    "a": -0,\n    "b": 1e10\n}', '{"a":0,"b":10000000000}'],
  ];
  const tests: Record<string, unknown>[] = examples.map(([comment, input, canonical]) => {
    JSON.parse(input);
    return { comment, input, expected: canonical, result: 'valid' };
  });
  const invalidTests: Record<string, unknown>[] = [
    {
      comment: 'a fraction (canonical JSON has integers only)',
      input: '{"a":1.5}',
      result: 'invalid',
      flags: ['NonInteger'],
    },
    {
      comment: '2^53 (outside the integer range [-(2^53)+1, (2^53)-1])',
      input: '{"a":9007199254740992}',
      result: 'invalid',
      flags: ['IntegerOutOfRange'],
    },
    { comment: '-(2^53)', input: '{"a":-9007199254740992}', result: 'invalid', flags: ['IntegerOutOfRange'] },
    { comment: '1e100', input: '[1e100]', result: 'invalid', flags: ['IntegerOutOfRange'] },
  ];
  const edge: Record<string, unknown>[] = [
    {
      comment: '(2^53)-1 is the largest allowed integer',
      input: '{"a":9007199254740991,"b":-9007199254740991}',
      expected: '{"a":9007199254740991,"b":-9007199254740991}',
      result: 'valid',
    },
  ];
  writeVectors('canonical_json.json', {
    algorithm: 'Matrix canonical JSON',
    schema: 'canonical_json',
    source: 'Matrix specification, Appendices: "Canonical JSON" (examples and grammar)',
    generatedBy: GENERATED_BY,
    notes:
      "`input` is JSON text (parse it with an ordinary JSON parser); its canonical form is `expected`. The valid examples are the specification's own; the range tests follow its grammar (integers in [-(2^53)+1, (2^53)-1], no fractions or exponents in the output). Invalid inputs must be refused by the canonical encoder.",
    flagNotes: {
      NonInteger: 'Canonical JSON allows integers only.',
      IntegerOutOfRange: 'Outside [-(2^53)+1, (2^53)-1].',
    },
    testGroups: [
      { comment: 'specification examples', tests },
      { comment: 'the integer range', tests: [...edge, ...invalidTests] },
    ],
  });
}

function jsonSigningVectors(): void {
  // Matrix specification, Appendices → Cryptographic Test Vectors → Signing Key / JSON Signing.
  const seed = unb64('YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1');
  assert(seed.length === 32, 'spec seed');
  const publicKey = b64(ed25519Public(seed));
  const spec: [string, Record<string, unknown>, string][] = [
    ['the empty object', {}, 'K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ'],
    [
      '{"one": 1, "two": "Two"}',
      { one: 1, two: 'Two' },
      'KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw',
    ],
  ];
  const sortedJson = (value: unknown): string => {
    if (Array.isArray(value)) return `[${value.map(sortedJson).join(',')}]`;
    if (value !== null && typeof value === 'object') {
      const o = value as Record<string, unknown>;
      return `{${Object.keys(o)
        .sort()
        .map((k) => `${JSON.stringify(k)}:${sortedJson(o[k])}`)
        .join(',')}}`;
    }
    return JSON.stringify(value);
  };
  const specTests = spec.map(([comment, object, signature]) => {
    // A transcription check with OpenSSL: the spec signature verifies over the (ASCII) canonical form.
    assert(
      ed25519VerifyOpenssl(unb64(publicKey), Buffer.from(sortedJson(object)), unb64(signature)),
      `spec signature ${comment}`,
    );
    return {
      comment,
      object,
      expected: { signedObject: { ...object, signatures: { domain: { 'ed25519:1': signature } } } },
      result: 'valid',
    };
  });
  // libolm signs device keys the way clients publish them.
  const device = makeAccount('device', 'triturus-vectors/ed25519_json_signing/device', 0);
  const deviceKeys = {
    algorithms: ['m.olm.v1.curve25519-aes-sha2', 'm.megolm.v1.aes-sha2'],
    device_id: 'JLAFKJWSCS',
    keys: { 'curve25519:JLAFKJWSCS': device.curve25519, 'ed25519:JLAFKJWSCS': device.ed25519 },
    user_id: '@alice:example.org',
  };
  const canonical = sortedJson(deviceKeys);
  const deviceSignature = device.account.sign(canonical);
  const signedDevice = {
    ...deviceKeys,
    signatures: { '@alice:example.org': { 'ed25519:JLAFKJWSCS': deviceSignature } },
  };
  const utility = track(new olm.Utility());
  assert(
    libolmError(() => utility.ed25519_verify(device.ed25519, canonical, deviceSignature)) === undefined,
    'libolm verifies',
  );
  const withUnsigned = { ...signedDevice, unsigned: { device_display_name: 'Alice’s phone' } };
  const tamperedDevice = { ...signedDevice, device_id: 'OTHERDEVICE' };
  const badSignature = {
    ...signedDevice,
    signatures: { '@alice:example.org': { 'ed25519:JLAFKJWSCS': flipLastByte(deviceSignature) } },
  };
  assert(
    libolmError(() =>
      utility.ed25519_verify(device.ed25519, sortedJson({ ...deviceKeys, device_id: 'OTHERDEVICE' }), deviceSignature),
    ) !== undefined,
    'tampered',
  );
  writeVectors('ed25519_json_signing.json', {
    algorithm: 'Matrix JSON signing (Ed25519 over canonical JSON)',
    schema: 'json_signing',
    source:
      'Matrix specification, Appendices: "Cryptographic Test Vectors" (signing key and JSON signing); device keys signed by libolm 3.2.16 via @towns-protocol/olm 3.2.28',
    generatedBy: GENERATED_BY,
    notes:
      "Sign: remove `signatures` and `unsigned`, sign the canonical JSON with the group's key (Ed25519 `seed`, or a libolm account given by its secrets), and add `signatures[entity][keyId]`; the result must equal `expected.signedObject`. Verify: `signedObject` carries a signature by `publicKey` under `entity` / `keyId`; invalid ones must be refused.",
    flagNotes: {
      ModifiedObject: 'A signed field was changed after signing.',
      BadSignature: 'The signature bytes were changed.',
      MissingSignature: 'No signature under this entity and key id.',
    },
    testGroups: [
      {
        comment:
          'the specification vectors: seed YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1, server name "domain", key id ed25519:1',
        kind: 'sign',
        seed: b64(seed),
        publicKey,
        entity: 'domain',
        keyId: 'ed25519:1',
        tests: specTests,
      },
      {
        comment: 'device keys signed by a libolm account (its Ed25519 seed and Curve25519 secret given)',
        kind: 'sign',
        seed: b64(device.ed25519Seed),
        curve25519Secret: b64(device.curve25519Secret),
        publicKey: device.ed25519,
        entity: '@alice:example.org',
        keyId: 'ed25519:JLAFKJWSCS',
        tests: [
          {
            comment: 'device_keys as uploaded to /keys/upload',
            object: deviceKeys,
            expected: { signedObject: signedDevice },
            result: 'valid',
          },
        ],
      },
      {
        comment: 'verification of the libolm-signed device keys',
        kind: 'verify',
        publicKey: device.ed25519,
        entity: '@alice:example.org',
        keyId: 'ed25519:JLAFKJWSCS',
        tests: [
          { comment: 'as signed', signedObject: signedDevice, result: 'valid' },
          { comment: '`unsigned` added after signing is ignored', signedObject: withUnsigned, result: 'valid' },
          {
            comment: 'device_id changed after signing',
            signedObject: tamperedDevice,
            result: 'invalid',
            flags: ['ModifiedObject'],
          },
          {
            comment: 'last signature byte flipped',
            signedObject: badSignature,
            result: 'invalid',
            flags: ['BadSignature'],
          },
          {
            comment: 'signature under another key id',
            signedObject: { ...deviceKeys, signatures: { '@alice:example.org': { 'ed25519:OTHER': deviceSignature } } },
            result: 'invalid',
            flags: ['MissingSignature'],
          },
        ],
      },
    ],
  });
}

// ---------------------------------------------------------------------------------------------
// Ed25519 strict verification (published lists)

interface EdCase {
  source: string;
  comment: string;
  publicKey: string;
  message: string;
  signature: string;
  result: 'valid' | 'invalid';
  flags?: string[];
}

// Wycheproof, testvectors_v1/ed25519_test.json (C2SP/wycheproof): a subset, by tcId.
const WYCHEPROOF_KEY = '7d4d0e7f6153a69b6242b522abbee685fda4420f8834b108c3bdae369ef549fa';
const WYCHEPROOF: [number, string, string, string, string, string[]][] = [
  [
    1,
    'valid, empty message',
    WYCHEPROOF_KEY,
    '',
    'd4fbdb52bfa726b44d1786a8c0d171c3e62ca83c9e5bbe63de0bb2483f8fd6cc1429ab72cafc41ab56af02ff8fcc43b99bfe4c7ae940f60f38ebaa9d311c4007',
    ['Valid'],
  ],
  [
    3,
    'valid',
    WYCHEPROOF_KEY,
    '54657374',
    '7c38e026f29e14aabd059a0f2db8b0cd783040609a8be684db12f82a27774ab07a9155711ecfaf7f99f277bad0c6ae7e39d4eef676573336a5c51eb6f946b30d',
    ['Valid'],
  ],
  [10, 'special values for r and s: r = 0, s = 0', WYCHEPROOF_KEY, '3f', '0'.repeat(128), ['InvalidSignature']],
  [
    14,
    'special values for r and s: r = 0, s = p - 1 + 2^255',
    WYCHEPROOF_KEY,
    '3f',
    `${'0'.repeat(64)}edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f`,
    ['InvalidSignature'],
  ],
  [
    25,
    'special values for r and s',
    WYCHEPROOF_KEY,
    '3f',
    `edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f${'0'.repeat(64)}`,
    ['InvalidSignature'],
  ],
  [
    29,
    'special values for r and s',
    WYCHEPROOF_KEY,
    '3f',
    'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7fedffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    ['InvalidSignature'],
  ],
  [30, 'empty signature', WYCHEPROOF_KEY, '54657374', '', ['TruncatedSignature']],
  [
    31,
    's missing',
    WYCHEPROOF_KEY,
    '54657374',
    '7c38e026f29e14aabd059a0f2db8b0cd783040609a8be684db12f82a27774ab0',
    ['TruncatedSignature'],
  ],
  [
    33,
    'signature too long',
    WYCHEPROOF_KEY,
    '54657374',
    '7c38e026f29e14aabd059a0f2db8b0cd783040609a8be684db12f82a27774ab07a9155711ecfaf7f99f277bad0c6ae7e39d4eef676573336a5c51eb6f946b30d2020',
    ['SignatureWithGarbage'],
  ],
  [
    42,
    'modified bit 0 in R',
    WYCHEPROOF_KEY,
    '313233343030',
    '647c1492402ab5ce03e2c3a7f0384d051b9cf3570f1207fc78c1bcc98c281c2b1d125e5538f38afbcc1c84e489521083041d24bc6240767029da063271a1ff0c',
    ['InvalidEncoding'],
  ],
  [
    59,
    'modified bit 255 in R (the negated R)',
    WYCHEPROOF_KEY,
    '313233343030',
    '657c1492402ab5ce03e2c3a7f0384d051b9cf3570f1207fc78c1bcc98c281cab227aedf259f910f0f3a759a335062665217925d019173b88917eae294f75d40f',
    ['InvalidEncoding'],
  ],
  [
    60,
    'R == 0',
    WYCHEPROOF_KEY,
    '313233343030',
    '0000000000000000000000000000000000000000000000000000000000000000e0b8e7770d51c7a36375d006c5bffd6af43ff54aaf47e4330dc118c71d61ec02',
    ['InvalidEncoding'],
  ],
  [
    61,
    'invalid R',
    WYCHEPROOF_KEY,
    '313233343030',
    'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff463a1908382e7eb7693acef9884f7cf931a215e0791876be22c631a59881fd0e',
    ['InvalidEncoding'],
  ],
  [
    63,
    's replaced by s + L',
    WYCHEPROOF_KEY,
    '54657374',
    '7c38e026f29e14aabd059a0f2db8b0cd783040609a8be684db12f82a27774ab067654bce3832c2d76f8f6f5dafc08d9339d4eef676573336a5c51eb6f946b31d',
    ['SignatureMalleability'],
  ],
  [
    65,
    's replaced by s + 4L',
    WYCHEPROOF_KEY,
    '54657374',
    '7c38e026f29e14aabd059a0f2db8b0cd783040609a8be684db12f82a27774ab02ee12ce5875bf9dff26556464bae2ad239d4eef676573336a5c51eb6f946b34d',
    ['SignatureMalleability'],
  ],
  [
    66,
    's replaced by s + 8L',
    WYCHEPROOF_KEY,
    '54657374',
    '7c38e026f29e14aabd059a0f2db8b0cd783040609a8be684db12f82a27774ab0e2300459f1e742404cd934d2c595a6253ad4eef676573336a5c51eb6f946b38d',
    ['SignatureMalleability'],
  ],
  [
    67,
    's replaced by s + 2^253',
    WYCHEPROOF_KEY,
    '54657374',
    '7c38e026f29e14aabd059a0f2db8b0cd783040609a8be684db12f82a27774ab07a9155711ecfaf7f99f277bad0c6ae7e39d4eef676573336a5c51eb6f946b32d',
    ['SignatureMalleability'],
  ],
  [
    70,
    's replaced by s + p',
    WYCHEPROOF_KEY,
    '54657374',
    '7c38e026f29e14aabd059a0f2db8b0cd783040609a8be684db12f82a27774ab0679155711ecfaf7f99f277bad0c6ae7e39d4eef676573336a5c51eb6f946b38d',
    ['SignatureMalleability'],
  ],
  [
    80,
    'RFC 8032 test 1 (draft-josefsson-eddsa-ed25519-02)',
    'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    '',
    'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    ['Ktv'],
  ],
  [
    84,
    'S just under the bound',
    '100fdf47fb94f1536a4f7c3fda27383fa03375a8f527c537e6f1703c47f94f86',
    '124e583f8b8eca58bb29c271b41d36986bbc45541f8e51f9cb0133eca447601e',
    'dac119d6ca87fc59ae611c157048f4d4fc932a149dbe20ec6effd1436abf83ea05c7df0fef06147241259113909bc71bd3c53ba4464ffcad3c0968f2ffffff0f',
    ['Ktv'],
  ],
];

// "Taming the many EdDSAs" (Chalkias, Garillot, Nikolaenko 2020), the 12 vectors of
// novifinancial/ed25519-speccheck cases.txt; expected: the "Dalek strict" row of its results.md
// (verify_strict, which vodozemac uses): only vector 3 verifies.
const TAMING: [string, string, string, string][] = [
  [
    'S = 0, small-order A, small-order R',
    '8c93255d71dcab10e8f379c26200f3c7bd5f09d9bc3068d3ef4edeb4853022b6',
    'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
    'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a0000000000000000000000000000000000000000000000000000000000000000',
  ],
  [
    '0 < S < L, small-order A, mixed-order R',
    '9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79',
    'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
    'f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04',
  ],
  [
    '0 < S < L, mixed-order A, small-order R',
    'aebf3f2601a0c8c5d39cc7d8911642f740b78168218da8471772b35f9d35b9ab',
    'f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43',
    'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa8c4bd45aecaca5b24fb97bc10ac27ac8751a7dfe1baff8b953ec9f5833ca260e',
  ],
  [
    '0 < S < L, mixed-order A and R, passes cofactored and cofactorless',
    '9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79',
    'cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d',
    '9046a64750444938de19f227bb80485e92b83fdb4b6506c160484c016cc1852f87909e14428a7a1d62e9f22f3d3ad7802db02eb2e688b6c52fcd6648a98bd009',
  ],
  [
    'passes cofactored verification only',
    'e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c',
    'cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d',
    '160a1cb0dc9c0258cd0a7d23e94d8fa878bcb1925f2c64246b2dee1796bed5125ec6bc982a269b723e0668e540911a9a6a58921d6925e434ab10aa7940551a09',
  ],
  [
    'passes cofactored verification only (unless 8h is pre-reduced)',
    'e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c',
    'cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d',
    '21122a84e0b5fca4052f5b1235c80a537878b38f3142356b2c2384ebad4668b7e40bc836dac0f71076f9abe3a53f9c03c1ceeeddb658d0030494ace586687405',
  ],
  [
    'S > L',
    '85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40',
    '442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623',
    'e96f66be976d82e60150baecff9906684aebb1ef181f67a7189ac78ea23b6c0e547f7690a0e2ddcd04d87dbc3490dc19b3b3052f7ff0538cb68afb369ba3a514',
  ],
  [
    'S >> L',
    '85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40',
    '442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623',
    '8ce5b96c8f26d0ab6c47958c9e68b937104cd36e13c33566acd2fe8d38aa19427e71f98a473474f2f13f06f97c20d58cc3f54b8bd0d272f42b695dd7e89a8c22',
  ],
  [
    'non-canonical R (small order), accepted if R is reduced before hashing',
    '9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41',
    'f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43',
    'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff03be9678ac102edcd92b0210bb34d7428d12ffc5df5f37e359941266a4e35f0f',
  ],
  [
    'non-canonical R (small order), accepted if R is not reduced before hashing',
    '9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41',
    'f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43',
    'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffca8c5b64cd208982aa38d4936621a4775aa233aa0505711d8fdcfdaa943d4908',
  ],
  [
    'non-canonical A (small order), accepted if A is reduced before hashing',
    'e96b7021eb39c1a163b6da4e3093dcd3f21387da4cc4572be588fafae23c155b',
    'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
    'a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dca5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04',
  ],
  [
    'non-canonical A (small order), accepted if A is not reduced before hashing',
    '39a591f5321bbe07fd5a23dc2f39d025d74526615746727ceefd6e82ae65c06f',
    'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
    'a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dca5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04',
  ],
];

// C2SP CCTV ed25519vectors.json (commit 5ea85644bd035c555900a2f707f7e4c31ea65ced, as copied into
// ed25519-dalek's VALIDATIONVECTORS): a subset by number. Messages are ASCII strings. Expected:
// ed25519-dalek's verify_strict accepts exactly the vectors whose flags are a subset of
// {low_order_component_A, low_order_component_R} (its tests/validation_criteria.rs).
const CCTV_A0 = '0000000000000000000000000000000000000000000000000000000000000000';
const CCTV_AMIX = '10eb7c3acfb2bed3e0d6ab89bf5a3d6afddd1176ce4812e38d9fd485058fdb1f';
const CCTV_ANC = 'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f';
const CCTV: [number, string, string, string, string[]][] = [
  [
    0,
    CCTV_A0,
    '0'.repeat(128),
    'ed25519vectors 3',
    ['low_order_R', 'low_order_A', 'low_order_component_R', 'low_order_component_A', 'low_order_residue'],
  ],
  [
    2,
    CCTV_A0,
    '36684ea91032ba5b1dbab2d02f4debc74c3327f2b3802e2e4d371aa42b12b56b05ba9a796274d80437afa36f1236563f2f3b0aa84cecddc3d20914615ba4fe02',
    'ed25519vectors 7',
    ['low_order_A', 'low_order_component_R', 'low_order_component_A', 'low_order_residue'],
  ],
  [
    3,
    CCTV_A0,
    '36684ea91032ba5b1dbab2d02f4debc74c3327f2b3802e2e4d371aa42b12b56b05ba9a796274d80437afa36f1236563f2f3b0aa84cecddc3d20914615ba4fe02',
    'ed25519vectors 3',
    ['low_order_A', 'low_order_component_R', 'low_order_component_A'],
  ],
  [
    4,
    CCTV_AMIX,
    '00000000000000000000000000000000000000000000000000000000000000005e176f12cfb0d4e6eb6929b19ae4c998ef05c1c2cf628a9b1fa1c21312627108',
    'ed25519vectors 7',
    ['low_order_R', 'low_order_component_R', 'low_order_component_A', 'low_order_residue'],
  ],
  [
    5,
    CCTV_AMIX,
    '00000000000000000000000000000000000000000000000000000000000000009472a69cd9a701a50d130ed52189e2455b23767db52cacb8716fb896ffeeac09',
    'ed25519vectors 3',
    ['low_order_R', 'low_order_component_R', 'low_order_component_A'],
  ],
  [
    6,
    CCTV_AMIX,
    '36684ea91032ba5b1dbab2d02f4debc74c3327f2b3802e2e4d371aa42b12b56bc02e2b9e63e385c058bf62b14b3a2b29ccefe8e38ddb536bc3f9865320a3d801',
    'ed25519vectors 10',
    ['low_order_component_R', 'low_order_component_A', 'low_order_residue'],
  ],
  [
    7,
    CCTV_AMIX,
    '36684ea91032ba5b1dbab2d02f4debc74c3327f2b3802e2e4d371aa42b12b56bbbfd00bd9c259d8d222d15e67a3d8228585050dbb9b9585be20d8fadc721da03',
    'ed25519vectors',
    ['low_order_component_R', 'low_order_component_A'],
  ],
  [
    9,
    CCTV_ANC,
    '0'.repeat(128),
    'ed25519vectors 6',
    ['low_order_R', 'low_order_A', 'low_order_component_R', 'low_order_component_A', 'non_canonical_A'],
  ],
  [
    11,
    CCTV_ANC,
    '36684ea91032ba5b1dbab2d02f4debc74c3327f2b3802e2e4d371aa42b12b56b05ba9a796274d80437afa36f1236563f2f3b0aa84cecddc3d20914615ba4fe02',
    'ed25519vectors',
    ['low_order_A', 'low_order_component_R', 'low_order_component_A', 'non_canonical_A'],
  ],
  [
    15,
    CCTV_A0,
    'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f0000000000000000000000000000000000000000000000000000000000000000',
    'ed25519vectors 10',
    ['low_order_R', 'low_order_A', 'low_order_component_R', 'low_order_component_A', 'non_canonical_R'],
  ],
  [
    17,
    CCTV_AMIX,
    'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7fad7a355469b5c87e550469f6b2de409ee723acd584bf35f86b80c384e8ceb702',
    'ed25519vectors 3',
    ['low_order_R', 'low_order_component_R', 'low_order_component_A', 'non_canonical_R'],
  ],
  [
    23,
    CCTV_A0,
    '00000000000000000000000000000000000000000000000000000000000000800000000000000000000000000000000000000000000000000000000000000000',
    'ed25519vectors 3',
    ['low_order_R', 'low_order_A', 'low_order_component_R', 'low_order_component_A'],
  ],
  [
    27,
    CCTV_AMIX,
    '0000000000000000000000000000000000000000000000000000000000000080050abffcd4d8ccbb4b8d6bf6649f5aa99e8de5cc182a7409633856ff53f49e0c',
    'ed25519vectors 10',
    ['low_order_R', 'low_order_component_R', 'low_order_component_A'],
  ],
  [
    28,
    CCTV_AMIX,
    'b797b156efcd45a4e2454d2fd0b21438b3ccd80d4c7fd1d1b2c8e55bd4ed4a94639734cf989e314e9e049fc01a3864d191fed8f231b12fee6fa50aaadba44b0e',
    'ed25519vectors 9',
    ['low_order_component_R', 'low_order_component_A', 'low_order_residue'],
  ],
  [
    29,
    CCTV_AMIX,
    'b797b156efcd45a4e2454d2fd0b21438b3ccd80d4c7fd1d1b2c8e55bd4ed4a94732d9e0279fe001d90327efa319816e3e4506b78432b8b4e1f2fdc4b960d700f',
    'ed25519vectors 2',
    ['low_order_component_R', 'low_order_component_A'],
  ],
  [
    37,
    CCTV_A0,
    'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff0000000000000000000000000000000000000000000000000000000000000000',
    'ed25519vectors 9',
    ['low_order_R', 'low_order_A', 'low_order_component_R', 'low_order_component_A', 'non_canonical_R'],
  ],
  [
    39,
    CCTV_AMIX,
    'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff1f5fae114eb0c534b5aed0a892d0a0e1d429df6a025c5ae08012e0ffce78310c',
    'ed25519vectors 27',
    ['low_order_R', 'low_order_component_R', 'low_order_component_A', 'non_canonical_R'],
  ],
];

const L = 2n ** 252n + 27742317777372353535851937790883648493n;
function scalarOf(signatureHex: string): bigint {
  return BigInt(`0x${Buffer.from(signatureHex.slice(64), 'hex').reverse().toString('hex')}`);
}
function withScalar(signatureHex: string, s: bigint): Buffer {
  const le = Buffer.from(s.toString(16).padStart(64, '0'), 'hex').reverse();
  return Buffer.concat([Buffer.from(signatureHex.slice(0, 64), 'hex'), le]);
}

function ed25519Vectors(): void {
  const utility = track(new olm.Utility());
  const libolmAccepts = (c: EdCase): boolean =>
    c.publicKey.length === 64 &&
    libolmError(() =>
      utility.ed25519_verify(
        b64(hexToBytes(c.publicKey)),
        new Uint8Array(hexToBytes(c.message)),
        b64(hexToBytes(c.signature)),
      ),
    ) === undefined;
  const entry = (c: EdCase) => ({
    comment: c.comment,
    source: c.source,
    publicKey: c.publicKey,
    message: c.message,
    signature: c.signature,
    libolmAccepts: libolmAccepts(c),
    result: c.result,
    ...(c.flags === undefined ? {} : { flags: c.flags }),
  });
  const wycheproof: EdCase[] = WYCHEPROOF.map(([tcId, comment, key, msg, sig, flags]) => {
    const valid = flags[0] === 'Valid' || flags[0] === 'Ktv';
    if (valid)
      assert(ed25519VerifyOpenssl(hexToBytes(key), hexToBytes(msg), hexToBytes(sig)), `Wycheproof ${tcId} transcribed`);
    if (flags[0] === 'SignatureMalleability') {
      // Transcription check: s reduced back (mod L, or minus the added 2^k / p) gives tcId 3's signature.
      const s = scalarOf(sig);
      const original = scalarOf(WYCHEPROOF[1]![4]);
      const diff = s - original;
      assert(
        diff > 0n && (diff % L === 0n || diff === 2n ** 253n || diff === 2n ** 254n || diff === 2n ** 255n - 19n),
        `Wycheproof ${tcId} s`,
      );
      assert(withScalar(sig, original).equals(hexToBytes(WYCHEPROOF[1]![4])), `Wycheproof ${tcId} R`);
    }
    return {
      source: `Wycheproof ed25519_test.json tcId ${tcId}`,
      comment,
      publicKey: key,
      message: msg,
      signature: sig,
      result: valid ? 'valid' : 'invalid',
      ...(valid ? {} : { flags }),
    };
  });
  const taming: EdCase[] = TAMING.map(([comment, msg, key, sig], i) => {
    const valid = i === 3;
    if (valid) assert(ed25519VerifyOpenssl(hexToBytes(key), hexToBytes(msg), hexToBytes(sig)), 'taming 3 transcribed');
    const flags: string[] = [];
    if (i <= 2 || i >= 8) flags.push('SmallOrderPoint');
    if (i === 4 || i === 5) flags.push('CofactoredOnly');
    if (i === 6 || i === 7) flags.push('SignatureMalleability');
    if (i >= 8) flags.push('NonCanonicalPoint');
    return {
      source: `"Taming the many EdDSAs" vector ${i} (ed25519-speccheck cases.txt)`,
      comment,
      publicKey: key,
      message: msg,
      signature: sig,
      result: valid ? 'valid' : 'invalid',
      ...(valid ? {} : { flags }),
    };
  });
  const cctv: EdCase[] = CCTV.map(([n, key, sig, msg, upstreamFlags]) => {
    const valid = upstreamFlags.every((f) => f === 'low_order_component_A' || f === 'low_order_component_R');
    const flags: string[] = [];
    if (upstreamFlags.includes('low_order_A') || upstreamFlags.includes('low_order_R')) flags.push('SmallOrderPoint');
    if (upstreamFlags.includes('non_canonical_A') || upstreamFlags.includes('non_canonical_R'))
      flags.push('NonCanonicalPoint');
    if (upstreamFlags.includes('low_order_residue')) flags.push('CofactoredOnly');
    if (valid)
      assert(ed25519VerifyOpenssl(hexToBytes(key), Buffer.from(msg), hexToBytes(sig)), `CCTV ${n} transcribed`);
    return {
      source: `C2SP CCTV ed25519vectors.json number ${n}, flags ${upstreamFlags.join(' ')}`,
      comment: upstreamFlags.join(', '),
      publicKey: key,
      message: Buffer.from(msg).toString('hex'),
      signature: sig,
      result: valid ? 'valid' : 'invalid',
      ...(valid ? {} : { flags }),
    };
  });
  writeVectors('ed25519_strict_verify.json', {
    algorithm: 'Ed25519 verification, strict (RFC 8032 with S < L, canonical A and R, neither of small order)',
    schema: 'ed25519_verify',
    source:
      'Wycheproof (C2SP/wycheproof testvectors_v1/ed25519_test.json); "Taming the many EdDSAs" (Chalkias, Garillot, Nikolaenko, SSR 2020; novifinancial/ed25519-speccheck cases.txt and results.md); C2SP CCTV ed25519vectors.json via ed25519-dalek VALIDATIONVECTORS; libolmAccepts from libolm 3.2.16 Utility.ed25519_verify',
    generatedBy: GENERATED_BY,
    notes:
      "Hex fields. `result` is the strict verdict: Wycheproof's own result; for the Taming and CCTV lists, the verdict of ed25519-dalek's verify_strict (which vodozemac uses), as published with those lists. `libolmAccepts` records what libolm 3.2.16 says: it accepts some malleable and small-order signatures (CVE-2024-45193). Subsets of the published lists, transcribed by hand; valid and malleable entries are checked with OpenSSL when the file is generated.",
    flagNotes: {
      InvalidSignature: 'Special values of R and S (Wycheproof).',
      TruncatedSignature: 'The signature is shorter than 64 bytes.',
      SignatureWithGarbage: 'The signature is longer than 64 bytes.',
      InvalidEncoding: 'R is not the encoding of the point the equation needs, or not a point (Wycheproof).',
      SignatureMalleability: 'S ≥ L (or S with high bits set): the same signature made malleable.',
      SmallOrderPoint: 'A or R is a point of small order.',
      NonCanonicalPoint: 'A or R is a non-canonical encoding (y ≥ p, or x = 0 with the sign bit set).',
      CofactoredOnly: 'Holds only in the cofactored equation 8SB = 8R + 8kA.',
    },
    testGroups: [
      { comment: 'Wycheproof (subset)', tests: wycheproof.map(entry) },
      { comment: 'Taming the many EdDSAs (all 12)', tests: taming.map(entry) },
      { comment: 'C2SP CCTV (subset)', tests: cctv.map(entry) },
    ],
  });
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  olm = await Olm.initAsync();
  await sdk.initAsync();
  const version = olm.get_library_version().join('.');
  assert(version === '3.2.16', `libolm version ${version}`);
  mkdirSync(OUT, { recursive: true });
  olmSessionEstablishment();
  olmConversations();
  olmInvalidMessages();
  megolmSessionKeys();
  megolmMessages();
  megolmRatchet();
  libolmPickles();
  keyExports();
  canonicalJsonVectors();
  jsonSigningVectors();
  ed25519Vectors();
  while (owned.length > 0) owned.pop()!.free();
  randomBytesSlot.randomBytes = originalRandomBytes;
  let total = 0;
  for (const w of written) {
    total += w.bytes;
    console.log(`${w.name.padEnd(32)} ${String(w.tests).padStart(4)} tests ${String(w.bytes).padStart(8)} bytes`);
  }
  console.log(`total ${written.reduce((n, w) => n + w.tests, 0)} tests, ${total} bytes`);
}

await main();
