/**
 * Non-contributory X25519: every u-coordinate of low order makes X25519 all-zero for any scalar,
 * and diffieHellman must refuse it with KeyError KEY_NON_CONTRIBUTORY on both backends.
 * The list is libsodium's has_small_order() blocklist (crypto_scalarmult/curve25519/ref10): 0, 1,
 * the two order-8 points, p-1, p and p+1. libsodium compares with bit 255 masked (X25519 ignores
 * it, RFC 7748 §5), so each value with bit 255 set is included as well: 14 encodings.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { X25519SecretKey } from '../../src/crypto/index.js';
import { KeyError } from '../../src/errors.js';
import { bytesToNumberLE, describeEachBackend, expectTriturusError, hex, numberToBytesLE, toHex } from './helpers.js';

const P = 2n ** 255n - 19n;

const LIBSODIUM_BLOCKLIST: [string, string][] = [
  ['0 (order 4)', '0000000000000000000000000000000000000000000000000000000000000000'],
  ['1 (order 1)', '0100000000000000000000000000000000000000000000000000000000000000'],
  [
    '325606250916557431795983626356110631294008115727848805560023387167927233504 (order 8)',
    'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  ],
  [
    '39382357235489614581723060781553021112529911719440698176882885853963445705823 (order 8)',
    '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  ],
  ['p-1 (order 2)', 'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'],
  ['p (=0, order 4)', 'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'],
  ['p+1 (=1, order 1)', 'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'],
];

const LOW_ORDER: [string, Uint8Array][] = LIBSODIUM_BLOCKLIST.flatMap(([name, value]) => {
  const plain = hex(value);
  const high = plain.slice();
  high[31]! |= 0x80;
  return [[name, plain] as [string, Uint8Array], [`${name}, bit 255 set`, high] as [string, Uint8Array]];
});

/** RFC 7748 §5 X25519 with bigints and no zero check: the u-coordinate of [clamp(k)]u. */
function ladder(k: Uint8Array, uBytes: Uint8Array): bigint {
  const mod = (a: bigint) => ((a % P) + P) % P;
  const pow = (b: bigint, e: bigint) => {
    let r = 1n;
    for (b = mod(b); e > 0n; e >>= 1n, b = mod(b * b)) if (e & 1n) r = mod(r * b);
    return r;
  };
  const clamped = k.slice();
  clamped[0]! &= 248;
  clamped[31]! &= 127;
  clamped[31]! |= 64;
  const scalar = bytesToNumberLE(clamped);
  const masked = uBytes.slice();
  masked[31]! &= 127;
  const x1 = mod(bytesToNumberLE(masked));
  let [x2, z2, x3, z3] = [1n, 0n, x1, 1n];
  let swap = 0n;
  for (let t = 254n; t >= 0n; t--) {
    const bit = (scalar >> t) & 1n;
    if (swap ^ bit) [x2, x3, z2, z3] = [x3, x2, z3, z2];
    swap = bit;
    const a = mod(x2 + z2);
    const aa = mod(a * a);
    const b = mod(x2 - z2);
    const bb = mod(b * b);
    const e = mod(aa - bb);
    const c = mod(x3 + z3);
    const d = mod(x3 - z3);
    const da = mod(d * a);
    const cb = mod(c * b);
    x3 = mod((da + cb) ** 2n);
    z3 = mod(x1 * (da - cb) ** 2n);
    x2 = mod(aa * bb);
    z2 = mod(e * (aa + 121665n * e));
  }
  if (swap) [x2, z2] = [x3, z3];
  return mod(x2 * pow(z2, P - 2n));
}

describe('the low-order list', () => {
  it('has 14 distinct encodings', () => {
    expect(new Set(LOW_ORDER.map(([, u]) => toHex(u))).size).toBe(14);
  });

  it('the decimal comments match the bytes, and p-1, p, p+1 are what they say', () => {
    expect(bytesToNumberLE(hex(LIBSODIUM_BLOCKLIST[2]![1]))).toBe(
      325606250916557431795983626356110631294008115727848805560023387167927233504n,
    );
    expect(bytesToNumberLE(hex(LIBSODIUM_BLOCKLIST[3]![1]))).toBe(
      39382357235489614581723060781553021112529911719440698176882885853963445705823n,
    );
    expect(bytesToNumberLE(hex(LIBSODIUM_BLOCKLIST[4]![1]))).toBe(P - 1n);
    expect(bytesToNumberLE(hex(LIBSODIUM_BLOCKLIST[5]![1]))).toBe(P);
    expect(bytesToNumberLE(hex(LIBSODIUM_BLOCKLIST[6]![1]))).toBe(P + 1n);
  });

  it('each is really of low order: the RFC 7748 §5 ladder (written out here) gives u = 0 for them', () => {
    const scalar = new Uint8Array(32).fill(0x42);
    for (const [name, u] of LOW_ORDER) expect(ladder(scalar, u), name).toBe(0n);
    // Controls: the base point does not, and the ladder reproduces RFC 7748 §5.2 vector 1.
    expect(ladder(scalar, hex('0900000000000000000000000000000000000000000000000000000000000000'))).not.toBe(0n);
    const out = ladder(
      hex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'),
      hex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c'),
    );
    expect(toHex(numberToBytesLE(out))).toBe('c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552');
  });
});

describeEachBackend('X25519 diffieHellman with a low-order public key', () => {
  const secrets = [
    hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'),
    hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'),
  ];

  for (const [name, u] of LOW_ORDER) {
    it(`throws KEY_NON_CONTRIBUTORY for u = ${name}`, () => {
      for (const secret of secrets) {
        const key = X25519SecretKey.fromBytes(secret);
        const error = expectTriturusError(() => key.diffieHellman(u), KeyError, 'KEY_NON_CONTRIBUTORY');
        expect(error.message).not.toContain(toHex(secret));
        // The key stays usable afterwards.
        expect(key.diffieHellman(hex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f')).length).toBe(
          32,
        );
      }
    });
  }

  it('throws for random secrets too', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.constantFrom(...LOW_ORDER), (secret, [, u]) => {
        expectTriturusError(() => X25519SecretKey.fromBytes(secret).diffieHellman(u), KeyError, 'KEY_NON_CONTRIBUTORY');
      }),
      { numRuns: 50 },
    );
  });
});
