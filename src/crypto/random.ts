/**
 * The crypto layer's one injectable random source: the system CSPRNG (pooled for small requests)
 * unless `setRandomSource` replaced it, and `randomBytes` on top of it.
 */

import { invalidArgument, TriturusError } from '../errors.js';

export type RandomSource = (out: Uint8Array) => void;

// getRandomValues costs ~1.8 µs per call whatever the size (Node 20) while 4 KiB cost 2.3 µs, so
// small requests are served from a pool. Bytes handed out are zeroed in the pool at once.
const POOL_SIZE = 4096;
const pool = new Uint8Array(POOL_SIZE);
let poolOffset = POOL_SIZE;

/**
 * A backend's own CSPRNG, when it has one: the facade installs the node backend's (node:crypto's
 * `randomFillSync`, through `setSystemFill`), since Node loads its WebCrypto on the first use of
 * `globalThis.crypto`, which costs 4-8 ms in a fresh process (measured on Node 20), while node:crypto
 * is loaded already.
 */
let backendFill: RandomSource | undefined;

/**
 * @internal For a crypto backend module: its CSPRNG, used as the system source from now on
 * (undefined: WebCrypto's getRandomValues again). Returns the one it replaces.
 */
export function setSystemFill(fill: RandomSource | undefined): RandomSource | undefined {
  const previous = backendFill;
  backendFill = fill;
  return previous;
}

function fillFromSystem(out: Uint8Array): void {
  if (backendFill !== undefined) {
    backendFill(out);
    return;
  }
  // An engine without WebCrypto (React Native without a polyfill, a bare QuickJS) has no CSPRNG to offer.
  if (typeof globalThis.crypto?.getRandomValues !== 'function') {
    throw new TriturusError(
      'RANDOM_UNAVAILABLE',
      'no secure random source: globalThis.crypto.getRandomValues is missing (install a polyfill or call setRandomSource)',
    );
  }
  // getRandomValues fills at most 65536 bytes per call (WebCrypto).
  for (let offset = 0; offset < out.length; offset += 65536) {
    globalThis.crypto.getRandomValues(
      out.subarray(offset, Math.min(out.length, offset + 65536)) as Uint8Array<ArrayBuffer>,
    );
  }
}

// Whether a request is served from the pool or directly, and when the pool is refilled, changes only
// speed: those mutants (`n >= 256`, `true`, `>= POOL_SIZE`) are equivalent, and so are the ones that
// zero other cells of the pool or none (erasure of bytes already handed out; SECURITY.md).
const systemRandom: RandomSource = (out) => {
  const n = out.length;
  if (n > 256) {
    fillFromSystem(out);
    return;
  }
  if (poolOffset + n > POOL_SIZE) {
    fillFromSystem(pool);
    poolOffset = 0;
  }
  for (let i = 0; i < n; i++) {
    out[i] = pool[poolOffset + i]!;
    pool[poolOffset + i] = 0;
  }
  poolOffset += n;
};
let random: RandomSource = systemRandom;

/**
 * Replaces the random source. For deterministic tests and fixtures only: a predictable source
 * makes every key predictable. Pass undefined to restore the system's CSPRNG.
 */
export function setRandomSource(source: RandomSource | undefined): void {
  if (source !== undefined && typeof source !== 'function') {
    throw invalidArgument('the random source must be a function (or undefined for the system source)');
  }
  random = source ?? systemRandom;
}
/** The random source in use (the system's unless `setRandomSource` replaced it). */
export function getRandomSource(): RandomSource {
  return random;
}

export function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  random(out);
  return out;
}
