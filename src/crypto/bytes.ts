/**
 * Byte helpers shared by the crypto layer: the length check at its boundary, constant-time
 * comparison, the all-zero test and wiping.
 */

import { isBytes } from '../encoding/binary.js';
import { invalidArgument } from '../errors.js';

/** @internal Throws INVALID_ARGUMENT unless `bytes` is a Uint8Array of exactly `expected` bytes. */
export function checkLength(what: string, bytes: Uint8Array, expected: number): void {
  if (!isBytes(bytes)) throw invalidArgument(`${what} must be a Uint8Array`);
  if (bytes.length !== expected) {
    throw invalidArgument(`${what} must be ${expected} bytes`, { expected, actual: bytes.length });
  }
}

/**
 * Compares two byte arrays in time that depends only on their lengths. (`i <= a.length` here and in
 * isAllZero survives mutation as equivalent: the extra element is undefined, and `undefined ^ undefined`
 * and `acc | undefined` change nothing.)
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Overwrites secrets with zeros. JavaScript cannot promise no copy survives (see SECURITY.md). */
export function wipe(...arrays: (Uint8Array | undefined)[]): void {
  for (const a of arrays) a?.fill(0);
}

/** @internal */
export function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < bytes.length; i++) acc |= bytes[i]!;
  return acc === 0;
}
