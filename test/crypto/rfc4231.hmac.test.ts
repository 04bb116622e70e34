/**
 * RFC 4231 (HMAC-SHA Identifiers and Test Vectors) §4.2-4.8, test cases 1-7, for HMAC-SHA-256
 * and HMAC-SHA-512. Test case 5 is truncated to 128 bits: only the first 16 bytes are compared.
 */
import { expect, it } from 'vitest';
import { HmacSha256Key, hmacSha256, hmacSha512 } from '../../src/crypto/index.js';
import { describeEachBackend, hex, toHex } from './helpers.js';

interface Case {
  name: string;
  key: string;
  data: string;
  sha256: string;
  sha512: string;
  truncateTo?: number;
}

const AA_131 = 'aa'.repeat(131);

const CASES: Case[] = [
  {
    name: 'Test Case 1',
    key: '0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b 0b0b0b0b',
    data: '4869205468657265',
    sha256: 'b0344c61d8db38535ca8afceaf0bf12b 881dc200c9833da726e9376c2e32cff7',
    sha512: `87aa7cdea5ef619d4ff0b4241a1d6cb0 2379f4e2ce4ec2787ad0b30545e17cde
             daa833b7d6b8a702038b274eaea3f4e4 be9d914eeb61f1702e696c203a126854`,
  },
  {
    name: 'Test Case 2 (key shorter than the output)',
    key: '4a656665',
    data: '7768617420646f2079612077616e7420 666f72206e6f7468696e673f',
    sha256: '5bdcc146bf60754e6a042426089575c7 5a003f089d2739839dec58b964ec3843',
    sha512: `164b7a7bfcf819e2e395fbe73b56e0a3 87bd64222e831fd610270cd7ea250554
             9758bf75c05a994a6d034f65f8f0e6fd caeab1a34d4a6b4b636e070a38bce737`,
  },
  {
    name: 'Test Case 3 (key and data over 64 bytes combined)',
    key: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa aaaaaaaa',
    data: `dddddddddddddddddddddddddddddddd dddddddddddddddddddddddddddddddd
           dddddddddddddddddddddddddddddddd dddd`,
    sha256: '773ea91e36800e46854db8ebd09181a7 2959098b3ef8c122d9635514ced565fe',
    sha512: `fa73b0089d56a284efb0f0756c890be9 b1b5dbdd8ee81a3655f83e33b2279d39
             bf3e848279a722c806b485a47e67c807 b946a337bee8942674278859e13292fb`,
  },
  {
    name: 'Test Case 4',
    key: '0102030405060708090a0b0c0d0e0f10 111213141516171819',
    data: `cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd
           cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd cdcd`,
    sha256: '82558a389a443c0ea4cc819899f2083a 85f0faa3e578f8077a2e3ff46729665b',
    sha512: `b0ba465637458c6990e5a8c5f61d4af7 e576d97ff94b872de76f8050361ee3db
             a91ca5c11aa25eb4d679275cc5788063 a5f19741120c4f2de2adebeb10a298dd`,
  },
  {
    name: 'Test Case 5 (truncated to 128 bits)',
    key: '0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c 0c0c0c0c',
    data: '546573742057697468205472756e6361 74696f6e',
    sha256: 'a3b6167473100ee06e0c796c2955552b',
    sha512: '415fad6271580a531d4179bc891d87a6',
    truncateTo: 16,
  },
  {
    name: 'Test Case 6 (131-byte key, longer than both block sizes)',
    key: AA_131,
    data: `54657374205573696e67204c61726765 72205468616e20426c6f636b2d53697a
           65204b6579202d2048617368204b6579 204669727374`,
    sha256: '60e431591ee0b67f0d8a26aacbf5b77f 8e0bc6213728c5140546040f0ee37f54',
    sha512: `80b24263c7c1a3ebb71493c1dd7be8b4 9b46d1f41b4aeec1121b013783f8f352
             6b56d037e05f2598bd0fd2215d6a1e52 95e64f73f63f0aec8b915a985d786598`,
  },
  {
    name: 'Test Case 7 (131-byte key and 152-byte data)',
    key: AA_131,
    data: `54686973206973206120746573742075 73696e672061206c6172676572207468
           616e20626c6f636b2d73697a65206b65 7920616e642061206c61726765722074
           68616e20626c6f636b2d73697a652064 6174612e20546865206b6579206e6565
           647320746f2062652068617368656420 6265666f7265206265696e6720757365
           642062792074686520484d414320616c 676f726974686d2e`,
    sha256: '9b09ffa71b942fcb27635fbcd5b0e944 bfdc63644f0713938a7f51535c3a35e2',
    sha512: `e37b6a775dc87dbaa4dfa9f96e5e3ffd debd71f8867289865df5a32d20cdc944
             b6022cac3c4982b10d5eeb55c3e4de15 134676fb6de0446065c97440fa8c6a58`,
  },
];

describeEachBackend('RFC 4231 HMAC-SHA-256 and HMAC-SHA-512', () => {
  it('Test Case 6 has a 131-byte key and Test Case 7 152 bytes of data', () => {
    expect(hex(CASES[5]!.key).length).toBe(131);
    expect(hex(CASES[6]!.data).length).toBe(152);
  });

  for (const c of CASES) {
    const key = hex(c.key);
    const data = hex(c.data);
    const cut = (mac: Uint8Array) => (c.truncateTo === undefined ? mac : mac.subarray(0, c.truncateTo));

    it(`${c.name}: HMAC-SHA-256`, () => {
      const mac = hmacSha256(key, data);
      expect(mac.length).toBe(32);
      expect(toHex(cut(mac))).toBe(toHex(hex(c.sha256)));
    });

    it(`${c.name}: HMAC-SHA-256 through a reusable HmacSha256Key`, () => {
      const k = new HmacSha256Key(key);
      expect(toHex(cut(k.mac(data)))).toBe(toHex(hex(c.sha256)));
      expect(toHex(cut(k.mac(data)))).toBe(toHex(hex(c.sha256)));
      // Split into two parts at every few bytes: mac(a, b) is the MAC of a || b.
      for (let split = 0; split <= data.length; split += 7) {
        expect(toHex(cut(k.mac(data.subarray(0, split), data.subarray(split))))).toBe(toHex(hex(c.sha256)));
      }
    });

    it(`${c.name}: HMAC-SHA-512`, () => {
      const mac = hmacSha512(key, data);
      expect(mac.length).toBe(64);
      expect(toHex(cut(mac))).toBe(toHex(hex(c.sha512)));
    });
  }
});
