/**
 * A 32-byte pickle (store) key from a passphrase, with scrypt (RFC 7914), which both crypto
 * backends compute with identical output: node:crypto (OpenSSL, on a worker thread) and
 * @noble/hashes (pure JavaScript, in slices of the main thread, so a page stays responsive).
 *
 * The same passphrase gives the same key only with the same salt and parameters: store both next
 * to the database (they are not secret), never the key. Why scrypt: memory-hard (an attacker's
 * GPU pays for the memory too) and available on both backends; Argon2id is not in node:crypto on
 * Node 20, and PBKDF2, which both have, is not memory-hard.
 */
import { randomBytes, scrypt } from './crypto/index.js';
import { isBytes } from './encoding/binary.js';
import { TextEncoder } from './encoding/text.js';
import { invalidArgument } from './errors.js';

/** scrypt cost parameters: N = 2^logN, block size r, parallelism p. */
export interface PassphraseKeyParams {
  readonly logN: number;
  readonly r: number;
  readonly p: number;
}

/**
 * N = 2^17, r = 8, p = 1: 128 MiB of memory; measured about 0.5 s on node:crypto and 0.9 s on the
 * noble backend (Node 20, this project's test machine); expect 1-3 s in a browser on a phone.
 * OWASP's minimum recommendation for scrypt. Fixed for this version: keys derived with the
 * defaults stay derivable.
 */
export const PASSPHRASE_KEY_DEFAULTS: PassphraseKeyParams = Object.freeze({ logN: 17, r: 8, p: 1 });

/**
 * Bounds on the parameters: a configuration outside them is refused before any work, so a hostile
 * or mistyped config can neither weaken the key below 16 MiB of memory per guess nor make one
 * derivation cost more than 8 times the default (1 GiB, a few seconds on a server).
 */
export const PASSPHRASE_KEY_LIMITS: {
  readonly logN: readonly [number, number];
  readonly r: readonly [number, number];
  readonly p: readonly [number, number];
  /** Least memory per derivation, as N·r (2^17: 16 MiB). */
  readonly minMemoryCost: number;
  /** Most work per derivation, as N·r·p (2^23: eight times the default; N·r·128 bytes ≤ 1 GiB). */
  readonly maxWork: number;
} = Object.freeze({
  logN: [14, 20] as const,
  // r = 1 cannot reach the memory floor: RFC 7914 §2 requires N < 2^(16·r).
  r: [2, 16] as const,
  p: [1, 4] as const,
  minMemoryCost: 2 ** 17,
  maxWork: 2 ** 23,
});

/** Least salt length (bytes). */
export const PASSPHRASE_SALT_MIN_LENGTH = 16;
const SALT_MAX_LENGTH = 1024;
const PASSPHRASE_MAX_LENGTH = 64 * 1024;

export interface PassphraseKeyOptions extends Partial<PassphraseKeyParams> {
  /**
   * Called with the fraction done, from 0 to 1, never decreasing, 1 last. The noble backend reports
   * as it goes; node:crypto runs scrypt in one piece on a worker thread and reports 0 and 1 only.
   * If it throws, the derivation stops and the promise rejects with that error.
   */
  readonly onProgress?: (fraction: number) => void;
}

/** 16 fresh random bytes for `pickleKeyFromPassphrase`; keep them with the database. */
export function generatePassphraseSalt(): Uint8Array {
  return randomBytes(PASSPHRASE_SALT_MIN_LENGTH);
}

/** An option's value, or its default when absent (undefined; null is not absent). */
function checkParameter(name: 'logN' | 'r' | 'p', given: unknown, fallback: number): number {
  const value = given === undefined ? fallback : given;
  const [min, max] = PASSPHRASE_KEY_LIMITS[name];
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidArgument(`${name} must be an integer from ${min} to ${max}`, {
      field: name,
      actual: typeof value === 'number' ? value : Number.NaN,
    });
  }
  return value;
}

/**
 * Derives a 32-byte pickle key (for `Device.create`/`open`, `pickle()`, the stores) from a passphrase
 * and a salt, with scrypt. A string passphrase is normalised to Unicode NFC and encoded as UTF-8 (so
 * the same passphrase typed on systems that compose accents differently gives the same key); bytes
 * are used as they are. Identical on both crypto backends.
 *
 * Throws INVALID_ARGUMENT (before any work) for an empty or oversized passphrase, a salt shorter
 * than 16 bytes (or longer than 1024), parameters outside PASSPHRASE_KEY_LIMITS (`details.field`
 * names the parameter), or a non-function `onProgress`.
 */
export async function pickleKeyFromPassphrase(
  passphrase: string | Uint8Array,
  salt: Uint8Array,
  options: PassphraseKeyOptions = {},
): Promise<Uint8Array> {
  if (typeof passphrase !== 'string' && !isBytes(passphrase)) {
    throw invalidArgument('the passphrase must be a string or a Uint8Array', { field: 'passphrase' });
  }
  if (!isBytes(salt)) throw invalidArgument('the salt must be a Uint8Array', { field: 'salt' });
  if (salt.length < PASSPHRASE_SALT_MIN_LENGTH || salt.length > SALT_MAX_LENGTH) {
    throw invalidArgument(`the salt must be ${PASSPHRASE_SALT_MIN_LENGTH} to ${SALT_MAX_LENGTH} bytes`, {
      field: 'salt',
      expected: PASSPHRASE_SALT_MIN_LENGTH,
      actual: salt.length,
    });
  }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalidArgument('options must be an object');
  }
  const logN = checkParameter('logN', options.logN, PASSPHRASE_KEY_DEFAULTS.logN);
  const r = checkParameter('r', options.r, PASSPHRASE_KEY_DEFAULTS.r);
  const p = checkParameter('p', options.p, PASSPHRASE_KEY_DEFAULTS.p);
  const N = 2 ** logN;
  if (N * r < PASSPHRASE_KEY_LIMITS.minMemoryCost) {
    throw invalidArgument('scrypt N·r is below 2^17 (16 MiB): too cheap to guess', {
      field: 'r',
      expected: PASSPHRASE_KEY_LIMITS.minMemoryCost,
      actual: N * r,
    });
  }
  if (N * r * p > PASSPHRASE_KEY_LIMITS.maxWork) {
    throw invalidArgument('scrypt N·r·p is above 2^23: too much work for one derivation', {
      field: 'p',
      expected: PASSPHRASE_KEY_LIMITS.maxWork,
      actual: N * r * p,
    });
  }
  const onProgress = options.onProgress;
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw invalidArgument('onProgress must be a function', { field: 'onProgress' });
  }
  const password =
    typeof passphrase === 'string' ? new TextEncoder().encode(passphrase.normalize('NFC')) : passphrase.slice();
  try {
    if (password.length === 0 || password.length > PASSPHRASE_MAX_LENGTH) {
      throw invalidArgument(`the passphrase must be 1 to ${PASSPHRASE_MAX_LENGTH} bytes`, {
        field: 'passphrase',
        actual: password.length,
      });
    }
    // Reported fractions start at 0, never go down and end with exactly one 1.
    let reported = -1;
    const report =
      onProgress === undefined
        ? undefined
        : (fraction: number) => {
            const value = Math.min(1, Math.max(reported, fraction));
            if (value === reported) return;
            reported = value;
            onProgress(value);
          };
    report?.(0);
    const key = await scrypt(password, salt.slice(), { N, r, p }, 32, report);
    try {
      report?.(1);
    } catch (error) {
      key.fill(0);
      throw error;
    }
    return key;
  } finally {
    password.fill(0);
  }
}
