/**
 * RFC 5869 (HKDF) Appendix A, test cases 1-3 (HKDF-SHA256): PRK from Extract and OKM from the
 * whole HKDF, through the tuned hkdfSha256 and through Extract/Expand separately.
 */
import { expect, it } from 'vitest';
import { hkdfSha256, hkdfSha256Expand, hkdfSha256Extract } from '../../src/crypto/index.js';
import { describeEachBackend, hex, toHex } from './helpers.js';

interface Case {
  name: string;
  ikm: string;
  salt: string;
  info: string;
  length: number;
  prk: string;
  okm: string;
}

const CASES: Case[] = [
  {
    name: 'A.1 basic test case',
    ikm: '0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b',
    salt: '000102030405060708090a0b0c',
    info: 'f0f1f2f3f4f5f6f7f8f9',
    length: 42,
    prk: '077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5',
    okm: `3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf
          34007208d5b887185865`,
  },
  {
    name: 'A.2 longer inputs and outputs',
    ikm: `000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
          202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f
          404142434445464748494a4b4c4d4e4f`,
    salt: `606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f
           808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f
           a0a1a2a3a4a5a6a7a8a9aaabacadaeaf`,
    info: `b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf
           d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef
           f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff`,
    length: 82,
    prk: '06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244',
    okm: `b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c
          59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71
          cc30c58179ec3e87c14c01d5c1f3434f1d87`,
  },
  {
    name: 'A.3 zero-length salt and info',
    ikm: '0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b',
    salt: '',
    info: '',
    length: 42,
    prk: '19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04',
    okm: `8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d
          9d201395faa4b61a96c8`,
  },
];

describeEachBackend('RFC 5869 HKDF-SHA256', () => {
  for (const c of CASES) {
    const ikm = hex(c.ikm);
    const salt = hex(c.salt);
    const info = hex(c.info);

    it(`${c.name}: OKM`, () => {
      const okm = hkdfSha256(ikm, salt, info, c.length);
      expect(okm.length).toBe(c.length);
      expect(toHex(okm)).toBe(toHex(hex(c.okm)));
    });

    it(`${c.name}: PRK from Extract, OKM from Expand`, () => {
      const prk = hkdfSha256Extract(salt, ikm);
      expect(toHex(prk)).toBe(toHex(hex(c.prk)));
      expect(toHex(hkdfSha256Expand(prk, info, c.length))).toBe(toHex(hex(c.okm)));
      // Every shorter output is a prefix of the full one.
      for (const n of [1, 31, 32, 33]) {
        expect(toHex(hkdfSha256(ikm, salt, info, n))).toBe(toHex(hex(c.okm).subarray(0, n)));
      }
    });
  }

  it('A.3 with an explicit HashLen (32-byte) all-zero salt equals the empty salt (RFC 5869 §2.2)', () => {
    const c = CASES[2]!;
    const ikm = hex(c.ikm);
    expect(toHex(hkdfSha256(ikm, new Uint8Array(32), new Uint8Array(0), c.length))).toBe(toHex(hex(c.okm)));
    expect(toHex(hkdfSha256Extract(new Uint8Array(32), ikm))).toBe(toHex(hex(c.prk)));
  });
});
