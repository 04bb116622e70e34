/**
 * FIPS 180-4 (Secure Hash Standard) examples, as published by NIST and repeated in RFC 6234
 * §8.5: "abc", the 448-bit two-block message, the 896-bit message and one million 'a'. The
 * SHA-512 value for the 448-bit message is the one in the NIST/di-mgt SHA test-vector table.
 */
import { expect, it } from 'vitest';
import { sha256, sha512 } from '../../src/crypto/index.js';
import { sha256 as tunedSha256 } from '../../src/crypto/sha256.js';
import { ascii, describeEachBackend, toHex } from './helpers.js';

const MSG_448 = 'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq';
const MSG_896 =
  'abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu';
const MILLION_A = new Uint8Array(1_000_000).fill(0x61);

const SHA256_CASES: [string, Uint8Array, string][] = [
  ['"abc"', ascii('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
  ['the 448-bit message', ascii(MSG_448), '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1'],
  ['the 896-bit message', ascii(MSG_896), 'cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1'],
  ['one million "a"', MILLION_A, 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0'],
  ['the empty string', new Uint8Array(0), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
];

const SHA512_CASES: [string, Uint8Array, string][] = [
  [
    '"abc"',
    ascii('abc'),
    'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f',
  ],
  [
    'the 448-bit message',
    ascii(MSG_448),
    '204a8fc6dda82f0a0ced7beb8e08a41657c16ef468b228a8279be331a703c33596fd15c13b1b07f9aa1d3bea57789ca031ad85c7a71dd70354ec631238ca3445',
  ],
  [
    'the 896-bit message',
    ascii(MSG_896),
    '8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909',
  ],
  [
    'one million "a"',
    MILLION_A,
    'e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973ebde0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b',
  ],
  [
    'the empty string',
    new Uint8Array(0),
    'cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e',
  ],
];

describeEachBackend('FIPS 180-4 SHA-256', () => {
  for (const [name, message, digest] of SHA256_CASES) {
    it(name, () => {
      expect(toHex(sha256(message))).toBe(digest);
    });
  }
});

describeEachBackend('FIPS 180-4 SHA-512', () => {
  for (const [name, message, digest] of SHA512_CASES) {
    it(name, () => {
      expect(toHex(sha512(message))).toBe(digest);
    });
  }
});

describeEachBackend('FIPS 180-4 SHA-256 through the tuned sha256.ts directly', () => {
  for (const [name, message, digest] of SHA256_CASES) {
    it(name, () => {
      expect(toHex(tunedSha256(message))).toBe(digest);
    });
  }
});
