/**
 * The strict checks of the crypto facade (src/crypto/index.ts), on their own. Both shipped backends
 * also refuse all-zero X25519 outputs and most bad signatures, so the facade's checks were only
 * covered by accident (test/MUTATION.md). `setCryptoBackend` accepts any backend: these tests install
 * a permissive one, which returns all-zero (or no) X25519 outputs and calls every signature valid,
 * and check that the facade alone refuses:
 * - a non-contributory X25519 result (RFC 7748 §6.1: check for the all-zero value);
 * - Ed25519 signatures with S ≥ L (RFC 8032 §5.1.7), a non-canonical A or R (y ≥ p), or a
 *   small-order A or R, and wrong lengths.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  type CryptoBackend,
  cryptoBackend,
  ed25519Verify,
  setCryptoBackend,
  X25519SecretKey,
} from '../../src/crypto/index.js';
import { KeyError } from '../../src/errors.js';
import { Ed25519PublicKey, Ed25519Signature } from '../../src/keys.js';
import { hex } from '../olm/helpers.js';

const shipped = cryptoBackend();
afterEach(() => setCryptoBackend(shipped));

/** The shipped backend with its X25519 and Ed25519 verification replaced. */
function permissive(overrides: Partial<Pick<CryptoBackend, 'x25519' | 'ed25519Verify'>>): CryptoBackend {
  const backend = Object.assign(Object.create(shipped) as CryptoBackend, overrides);
  setCryptoBackend(backend);
  return backend;
}

// The group order L = 2^252 + 27742317777372353535851937790883648493, little-endian.
const L_HEX = 'edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010';
/** A 64-byte signature: R (32 bytes, hex) ‖ S (32 bytes, little-endian hex). */
const signature = (r: string, s: string) => hex(r + s);
/** Adds `n` (small) to the little-endian scalar in hex. */
function scalarPlus(leHex: string, n: number): string {
  const bytes = Buffer.from(leHex, 'hex');
  let carry = n;
  for (let i = 0; i < 32 && carry !== 0; i++) {
    const v = bytes[i]! + carry;
    bytes[i] = v & 0xff;
    carry = v >> 8;
  }
  if (carry !== 0) bytes.fill(0); // never needed below
  return bytes.toString('hex');
}
function scalarMinus(leHex: string, n: number): string {
  const bytes = Buffer.from(leHex, 'hex');
  let borrow = n;
  for (let i = 0; i < 32 && borrow !== 0; i++) {
    const v = bytes[i]! - borrow;
    bytes[i] = v & 0xff;
    borrow = v < 0 ? 1 : 0;
  }
  return bytes.toString('hex');
}

// An ordinary-looking (random) key and R: the stub does not care whether they are points.
const A = '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c';
const R = '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da';
const S = '085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00'; // < L
const message = new Uint8Array([0x72]);

// The eight small-order points, canonically encoded (y = 1, y = -1, the two of order 4 and the
// four of order 8), and the two non-canonical x = 0 encodings with the sign bit set.
const SMALL_ORDER = [
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0000000000000000000000000000000000000000000000000000000000000080',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
  '0100000000000000000000000000000000000000000000000000000000000080',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
];
// y = p = 2^255 - 19 and larger (non-canonical), with and without the sign bit.
const NON_CANONICAL = [
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
];
// y = p - 2: canonical (the largest y below p that is not -1 = p - 1, a small-order point).
const CANONICAL_EDGE = 'ebffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f';

describe('Ed25519 verification: the facade is strict even when the backend accepts everything', () => {
  const calls: number[] = [];
  const acceptAll = () =>
    permissive({
      ed25519Verify: () => {
        calls.push(1);
        return true;
      },
    });

  it('the permissive backend is in place: an ordinary signature reaches it and is accepted', () => {
    acceptAll();
    calls.length = 0;
    expect(ed25519Verify(hex(A), message, signature(R, S))).toBe(true);
    expect(calls).toHaveLength(1);
    expect(
      Ed25519PublicKey.fromBytes(hex(A)).isValidSignature(message, Ed25519Signature.fromBytes(signature(R, S))),
    ).toBe(true);
  });

  it('S ≥ L is refused (S = L, L + 1, L + 2^8, 2^255 - 1); S = L - 1 and S = 0 reach the backend', () => {
    acceptAll();
    for (const s of [L_HEX, scalarPlus(L_HEX, 1), scalarPlus(L_HEX, 256), `${'ff'.repeat(31)}7f`, 'ff'.repeat(32)]) {
      expect(ed25519Verify(hex(A), message, signature(R, s)), `S = ${s}`).toBe(false);
    }
    // A high byte above L's but lower bytes below: still ≥ L.
    expect(ed25519Verify(hex(A), message, signature(R, `${'00'.repeat(31)}11`))).toBe(false);
    expect(ed25519Verify(hex(A), message, signature(R, scalarMinus(L_HEX, 1)))).toBe(true);
    expect(ed25519Verify(hex(A), message, signature(R, '00'.repeat(32)))).toBe(true);
    // Equal top bytes, decided lower down: L with byte 15 lowered is < L, raised is > L.
    expect(ed25519Verify(hex(A), message, signature(R, `${L_HEX.slice(0, 30)}13${L_HEX.slice(32)}`))).toBe(true);
    expect(ed25519Verify(hex(A), message, signature(R, `${L_HEX.slice(0, 30)}15${L_HEX.slice(32)}`))).toBe(false);
  });

  it('a small-order public key or R is refused (all ten encodings, each in either place)', () => {
    acceptAll();
    for (const point of SMALL_ORDER) {
      expect(ed25519Verify(hex(point), message, signature(R, S)), `A = ${point}`).toBe(false);
      expect(ed25519Verify(hex(A), message, signature(point, S)), `R = ${point}`).toBe(false);
    }
  });

  it('a non-canonical public key or R (y ≥ p) is refused; y = p - 2 is not', () => {
    acceptAll();
    for (const point of NON_CANONICAL) {
      expect(ed25519Verify(hex(point), message, signature(R, S)), `A = ${point}`).toBe(false);
      expect(ed25519Verify(hex(A), message, signature(point, S)), `R = ${point}`).toBe(false);
    }
    expect(ed25519Verify(hex(CANONICAL_EDGE), message, signature(R, S))).toBe(true);
    expect(ed25519Verify(hex(A), message, signature(CANONICAL_EDGE, S))).toBe(true);
    // Only byte 0 decides between p - 2 (canonical) and p (not); a lower byte elsewhere is canonical.
    expect(
      ed25519Verify(hex(`edfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe7f`), message, signature(R, S)),
    ).toBe(true);
    expect(ed25519Verify(hex(`ed${'ff'.repeat(30)}7e`), message, signature(R, S))).toBe(true);
  });

  it('wrong lengths are false without reaching the backend', () => {
    acceptAll();
    calls.length = 0;
    expect(ed25519Verify(hex(A).subarray(1), message, signature(R, S))).toBe(false);
    expect(ed25519Verify(hex(A), message, signature(R, S).subarray(1))).toBe(false);
    expect(ed25519Verify(hex(A), message, hex(`${R}${S}00`))).toBe(false);
    expect(calls).toHaveLength(0);
  });

  it('through the public key type too', () => {
    acceptAll();
    const key = Ed25519PublicKey.fromBytes(hex(A));
    expect(key.isValidSignature(message, Ed25519Signature.fromBytes(signature(R, L_HEX)))).toBe(false);
    expect(key.isValidSignature(message, Ed25519Signature.fromBytes(signature(SMALL_ORDER[6]!, S)))).toBe(false);
  });
});

describe('X25519: the facade refuses a non-contributory result whatever the backend returns', () => {
  const ours = X25519SecretKey.fromBytes(new Uint8Array(32).fill(7));
  const theirs = X25519SecretKey.fromBytes(new Uint8Array(32).fill(9)).publicKey;

  it('the permissive backend is in place: its output comes back unchanged', () => {
    const output = new Uint8Array(32).fill(0x42);
    permissive({ x25519: () => output.slice() });
    expect(ours.diffieHellman(theirs)).toEqual(output);
    // One non-zero byte anywhere is enough.
    for (const at of [0, 31]) {
      const almostZero = new Uint8Array(32);
      almostZero[at] = 1;
      permissive({ x25519: () => almostZero.slice() });
      expect(ours.diffieHellman(theirs)).toEqual(almostZero);
    }
  });

  it('an all-zero output is refused with KEY_NON_CONTRIBUTORY', () => {
    permissive({ x25519: () => new Uint8Array(32) });
    expect(() => ours.diffieHellman(theirs)).toThrow(KeyError);
    expect(() => ours.diffieHellman(theirs)).toThrow(expect.objectContaining({ code: 'KEY_NON_CONTRIBUTORY' }));
  });

  it('no output (a backend refusing the key) is refused the same way', () => {
    permissive({ x25519: () => undefined });
    expect(() => ours.diffieHellman(theirs)).toThrow(expect.objectContaining({ code: 'KEY_NON_CONTRIBUTORY' }));
  });
});
