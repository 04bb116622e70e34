/**
 * Ed25519 from libolm's 64-byte expanded secret key (clamped scalar ‖ prefix) on the noble
 * backend, with noble's arithmetic. (The node backend has its own, in ed25519-expanded-node.ts.)
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';

/** RFC 8032 §5.1.6 signing from an expanded key (scalar a, prefix), as libolm stores it. */
export function signExpandedNoble(
  scalar: bigint,
  prefix: Uint8Array,
  publicKey: Uint8Array,
  message: Uint8Array,
): Uint8Array {
  const { Point } = ed25519;
  const Fn = Point.Fn;
  const r = Fn.create(bytesToNumberLE(sha512(concat(prefix, message))));
  const R = (r === 0n ? Point.ZERO : Point.BASE.multiply(r)).toBytes();
  const k = Fn.create(bytesToNumberLE(sha512(concat(R, publicKey, message))));
  const s = Fn.create(r + k * Fn.create(scalar));
  const signature = new Uint8Array(64);
  signature.set(R, 0);
  signature.set(numberToBytesLE(s, 32), 32);
  return signature;
}

/** Public key of an Ed25519 secret scalar (libolm's expanded key's first 32 bytes). */
export function publicKeyFromExpandedNoble(scalarBytes: Uint8Array): Uint8Array {
  const { Point } = ed25519;
  const a = Point.Fn.create(bytesToNumberLE(scalarBytes));
  return (a === 0n ? Point.ZERO : Point.BASE.multiply(a)).toBytes();
}

export function bytesToNumberLE(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

function numberToBytesLE(n: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++, n >>= 8n) out[i] = Number(n & 0xffn);
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
