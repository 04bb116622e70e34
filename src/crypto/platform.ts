/**
 * The platform's WebCrypto for the curve operations that are slow in pure JavaScript.
 *
 * In a browser triturus runs on the noble backend, where an Ed25519 verification costs about 2 ms
 * and an X25519 about 0.3 ms, while the browser's own WebCrypto does them in 30–70 µs. WebCrypto is
 * asynchronous; the protocol objects (Olm, Megolm) are synchronous and stay so, with one
 * implementation of each rule. `withPlatformCrypto(fn)` joins the two without a second copy of any
 * protocol: it runs the synchronous call `fn` with a recording backend. The first Ed25519 or X25519
 * operation whose result is not known yet stops the attempt (a throw that no protocol code catches;
 * a failed call changes nothing, which every protocol operation guarantees anyway), the operation
 * runs on WebCrypto, and `fn` runs again with the result replayed, until it completes. Random bytes
 * drawn by an attempt are replayed in the same order, so every attempt builds the same keys.
 * An attempt costs only the call's cheap synchronous work again (parsing, AES, HMAC: microseconds),
 * so a Megolm decryption is two attempts and one WebCrypto verification.
 *
 * Why this shape: an async provider would need an async copy of every protocol operation that
 * touches a key (the ratchets, session creation, the Device's checks), and two copies of a rule
 * drift apart; batching verifications would only cover Ed25519. The replay covers every key
 * operation of every call with no protocol code changed, and callers who need synchronous objects
 * keep them.
 *
 * Detection runs once, on first use: WebCrypto must compute RFC 8032's and RFC 7748's test vectors
 * exactly. Under the node backend (node:crypto, synchronous and as fast) the platform is never used.
 * Operations WebCrypto cannot do (libolm's expanded Ed25519 keys, which have no seed) run on noble.
 * Results are byte-identical either way: Ed25519 signing is deterministic, and verification keeps
 * the facade's strict checks (S < L, canonical points, no small order) in front of both.
 */

import { invalidArgument } from '../errors.js';
import type { KeyCache } from './backend.js';
import {
  type CurveInterceptor,
  type CurveOperation,
  constantTimeEqual,
  cryptoBackendName,
  getRandomSource,
  type RandomSource,
  setCurveInterceptor,
  setRandomSource,
} from './index.js';

/** What the platform's WebCrypto was found to do (each checked against a known answer). */
export interface PlatformCryptoSupport {
  readonly ed25519: boolean;
  readonly x25519: boolean;
}

type Subtle = SubtleCrypto;

const NONE: PlatformCryptoSupport = { ed25519: false, x25519: false };
let mode: 'auto' | 'off' = 'auto';
let detected: Promise<PlatformCryptoSupport> | undefined;
let support: PlatformCryptoSupport | undefined;

/**
 * `'auto'` (the default) uses WebCrypto where detection found it working and the backend is noble;
 * `'off'` never does (every operation on the backend alone). Affects later calls.
 */
export function setPlatformCrypto(value: 'auto' | 'off'): void {
  if (value !== 'auto' && value !== 'off') throw invalidArgument("expected 'auto' or 'off'");
  mode = value;
}

/** What WebCrypto offers here, detected once (the same answer whatever the mode or the backend). */
export function platformCrypto(): Promise<PlatformCryptoSupport> {
  detected ??= detect().then((found) => {
    support = found;
    return found;
  });
  return detected;
}

function hex(text: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

// PKCS #8 wrappings of a raw 32-byte private key (RFC 8410): WebCrypto imports private curve keys only so.
const ED25519_PKCS8 = hex('302e020100300506032b657004220420');
const X25519_PKCS8 = hex('302e020100300506032b656e04220420');
const BASE_POINT = hex('0900000000000000000000000000000000000000000000000000000000000000');

function pkcs8(prefix: Uint8Array, secret: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(48);
  out.set(prefix);
  out.set(secret, 16);
  return out;
}

function subtleCrypto(): Subtle | undefined {
  const subtle = (globalThis as { crypto?: { subtle?: Subtle } }).crypto?.subtle;
  return typeof subtle?.importKey === 'function' ? subtle : undefined;
}

async function detect(): Promise<PlatformCryptoSupport> {
  const subtle = subtleCrypto();
  if (subtle === undefined) return NONE;
  const [ed25519, x25519] = await Promise.all([detectEd25519(subtle), detectX25519(subtle)]);
  return { ed25519, x25519 };
}

// RFC 8032, section 7.1, test 2 (a one-byte message).
async function detectEd25519(subtle: Subtle): Promise<boolean> {
  try {
    const seed = hex('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb');
    const publicKey = hex('3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c');
    const message = hex('72');
    const expected = hex(
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da' +
        '085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
    );
    const secret = await subtle.importKey('pkcs8', pkcs8(ED25519_PKCS8, seed), { name: 'Ed25519' }, false, ['sign']);
    const signature = new Uint8Array(await subtle.sign({ name: 'Ed25519' }, secret, message));
    if (!constantTimeEqual(signature, expected)) return false;
    const key = await subtle.importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']);
    const good = await subtle.verify({ name: 'Ed25519' }, key, expected, message);
    const forged = expected.slice();
    forged[0]! ^= 1;
    const bad = await subtle.verify({ name: 'Ed25519' }, key, forged, message);
    return good && !bad;
  } catch {
    return false;
  }
}

// RFC 7748, section 5.2, the first scalar multiplication (an unclamped scalar: WebCrypto must clamp).
async function detectX25519(subtle: Subtle): Promise<boolean> {
  try {
    const scalar = hex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4');
    const u = hex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c');
    const expected = hex('c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552');
    const secret = await subtle.importKey('pkcs8', pkcs8(X25519_PKCS8, scalar), { name: 'X25519' }, false, [
      'deriveBits',
    ]);
    const peer = await subtle.importKey('raw', u, { name: 'X25519' }, false, []);
    const shared = new Uint8Array(await subtle.deriveBits({ name: 'X25519', public: peer }, secret, 256));
    return constantTimeEqual(shared, expected);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// The operations, on WebCrypto

// Imported keys, per key object (its KeyCache lives as long as the key) or, for public keys, a
// small map by value: a room's senders sign with a few keys each.
const secretKeys = new WeakMap<KeyCache, Promise<CryptoKey>>();
const publicKeys = new Map<string, Promise<CryptoKey>>();
const PUBLIC_KEYS_KEPT = 256;

function keyText(bytes: Uint8Array): string {
  let text = '';
  for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]!);
  return text;
}

function importPublic(subtle: Subtle, name: 'Ed25519' | 'X25519', bytes: Uint8Array): Promise<CryptoKey> {
  const id = name + keyText(bytes);
  let key = publicKeys.get(id);
  if (key === undefined) {
    if (publicKeys.size >= PUBLIC_KEYS_KEPT) publicKeys.delete(publicKeys.keys().next().value!);
    key = subtle.importKey('raw', bytes.slice(), { name }, false, name === 'Ed25519' ? ['verify'] : []);
    key.catch(() => publicKeys.delete(id));
    publicKeys.set(id, key);
  }
  return key;
}

function importSecret(
  subtle: Subtle,
  name: 'Ed25519' | 'X25519',
  secret: Uint8Array,
  cache: KeyCache,
): Promise<CryptoKey> {
  let key = secretKeys.get(cache);
  if (key === undefined) {
    const der = pkcs8(name === 'Ed25519' ? ED25519_PKCS8 : X25519_PKCS8, secret);
    key = subtle.importKey('pkcs8', der, { name }, false, [name === 'Ed25519' ? 'sign' : 'deriveBits']);
    // The DER copy holds the secret: WebCrypto has taken its own by the time the import settles.
    key.finally(() => der.fill(0)).catch(() => undefined);
    secretKeys.set(cache, key);
  }
  return key;
}

// ---------------------------------------------------------------------------------------------
// The replay

interface Request {
  readonly kind: CurveOperation;
  readonly inputs: readonly Uint8Array[];
  readonly cache: KeyCache;
}

interface Entry {
  readonly kind: CurveOperation;
  readonly inputs: readonly Uint8Array[];
  result: unknown;
}

/** Thrown inside an attempt at the first operation with no known result; never escapes `withPlatformCrypto`. */
class Pending {
  constructor(readonly request: Request) {}
}

/** The run in progress (attempts are synchronous, so at most one at a time). */
interface Run {
  readonly support: PlatformCryptoSupport;
  readonly entries: Entry[];
  cursor: number;
  readonly draws: Uint8Array[];
  drawCursor: number;
  /** After too many attempts every further operation runs on the backend, so a run always ends. */
  exhausted: boolean;
  /** The operation that stopped this attempt (also when code inside `fn` swallowed the throw). */
  missed: Pending | undefined;
}

let run: Run | undefined;
const MAX_ATTEMPTS = 24;

function sameInputs(a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean {
  for (let i = 0; i < a.length; i++) if (!constantTimeEqual(a[i]!, b[i]!)) return false;
  return true;
}

/** The known result of the next operation, or a Pending throw naming it. */
function replay(current: Run, request: Request, compute: () => unknown): unknown {
  const index = current.cursor++;
  const entry = current.entries[index];
  if (entry !== undefined && entry.kind === request.kind && sameInputs(entry.inputs, request.inputs)) {
    return entry.result;
  }
  // A different operation where a known one was expected: forget what came after (it cannot be reused).
  if (entry !== undefined) current.entries.length = index;
  if (current.exhausted) {
    const result = compute();
    current.entries.push({ kind: request.kind, inputs: request.inputs.map((x) => x.slice()), result });
    return result;
  }
  // The inputs are copied now: a failing attempt may wipe its temporaries on the way out.
  current.missed ??= new Pending({ ...request, inputs: request.inputs.map((x) => x.slice()) });
  throw current.missed;
}

// The interceptor while an attempt runs: known results replayed, the first unknown one stops the attempt.
const intercept: CurveInterceptor = (operation, inputs, cache, compute) => {
  const current = run!;
  const supported = operation === 'verify' || operation === 'sign' ? current.support.ed25519 : current.support.x25519;
  if (!supported) return compute();
  const result = replay(current, { kind: operation, inputs, cache }, compute);
  // Callers own what they get: a copy, so a caller wiping its shared secret leaves the replayed one intact.
  return result instanceof Uint8Array ? result.slice() : result;
};

async function perform(subtle: Subtle, request: Request): Promise<unknown> {
  const [a, b, c] = request.inputs as [Uint8Array, Uint8Array, Uint8Array?];
  switch (request.kind) {
    case 'verify': {
      try {
        const key = await importPublic(subtle, 'Ed25519', a);
        return await subtle.verify({ name: 'Ed25519' }, key, c!.slice(), b.slice());
      } catch {
        return false; // a public key WebCrypto will not import verifies nothing (noble says the same)
      }
    }
    case 'sign': {
      const key = await importSecret(subtle, 'Ed25519', a, request.cache);
      return new Uint8Array(await subtle.sign({ name: 'Ed25519' }, key, b.slice()));
    }
    case 'public':
    case 'dh': {
      const secret = await importSecret(subtle, 'X25519', a, request.cache);
      try {
        const peer = await importPublic(subtle, 'X25519', request.kind === 'public' ? BASE_POINT : b);
        return new Uint8Array(await subtle.deriveBits({ name: 'X25519', public: peer }, secret, 256));
      } catch {
        return undefined; // WebCrypto refuses an all-zero result: the facade raises KEY_NON_CONTRIBUTORY
      }
    }
  }
}

/**
 * Runs the synchronous protocol call `fn` with the platform's WebCrypto doing its Ed25519 and X25519
 * operations, where WebCrypto has them and the backend is noble; otherwise simply calls `fn`. The
 * result (or the TriturusError) is exactly what `fn` alone gives. `fn` may run more than once, so it
 * must be a protocol call on its own: everything it changes, it changes only on success.
 */
export async function withPlatformCrypto<T>(fn: () => T): Promise<T> {
  if (mode === 'off' || cryptoBackendName() !== 'noble') return fn();
  const found = support ?? (await platformCrypto());
  if (!found.ed25519 && !found.x25519) return fn();
  const subtle = subtleCrypto()!;
  const random = getRandomSource();
  const current: Run = {
    support: found,
    entries: [],
    cursor: 0,
    draws: [],
    drawCursor: 0,
    exhausted: false,
    missed: undefined,
  };
  // Random bytes: the first attempt draws them, later attempts get the same bytes in the same order.
  const replayedRandom: RandomSource = (out) => {
    const drawn = current.draws[current.drawCursor];
    if (drawn !== undefined && drawn.length === out.length) {
      out.set(drawn);
    } else {
      current.draws.length = current.drawCursor;
      random(out);
      current.draws.push(out.slice());
    }
    current.drawCursor++;
  };
  try {
    for (let attempt = 1; ; attempt++) {
      current.cursor = 0;
      current.drawCursor = 0;
      if (attempt >= MAX_ATTEMPTS) current.exhausted = true;
      current.missed = undefined;
      let pending: Pending | undefined;
      let outcome: { value: T } | undefined;
      let failure: unknown;
      const outer = run;
      run = current;
      setCurveInterceptor(intercept);
      setRandomSource(replayedRandom);
      try {
        outcome = { value: fn() };
      } catch (error) {
        failure = error;
      } finally {
        run = outer;
        setCurveInterceptor(outer === undefined ? undefined : intercept);
        setRandomSource(random);
      }
      // Whatever `fn` made of it (a catch-all may have turned the stop into a result), an attempt
      // that reached an unknown operation is discarded.
      pending = current.missed as Pending | undefined;
      if (pending === undefined) {
        if (outcome !== undefined) return outcome.value;
        throw failure;
      }
      let result: unknown;
      try {
        result = await perform(subtle, pending.request);
      } catch {
        // WebCrypto failed where detection said it works (a key it will not take): from here on this
        // call runs on the backend alone, which decides.
        current.exhausted = true;
        continue;
      }
      current.entries.push({ kind: pending.request.kind, inputs: pending.request.inputs, result });
    }
  } finally {
    for (const entry of current.entries) {
      for (const input of entry.inputs) input.fill(0);
      if (entry.result instanceof Uint8Array) entry.result.fill(0);
    }
    for (const draw of current.draws) draw.fill(0);
  }
}

/** Whether `withPlatformCrypto` would use WebCrypto now (before detection: whether it may). Internal. */
export function platformWanted(): boolean {
  return (
    mode !== 'off' && cryptoBackendName() === 'noble' && (support === undefined || support.ed25519 || support.x25519)
  );
}

/**
 * `fn()` at once when the platform is not used (no promise, no extra turn), else through
 * `withPlatformCrypto`. For the Device's call sites. Internal.
 */
export function viaPlatform<T>(fn: () => T): T | Promise<T> {
  return platformWanted() ? withPlatformCrypto(fn) : fn();
}
