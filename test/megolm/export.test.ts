/**
 * Key-export files (Matrix client-server spec, "Key exports"): the layout checked by hand with
 * node:crypto, a file written by matrix-rust-sdk (its own test vector), round trips, progress,
 * and the two failure kinds (wrong passphrase vs damaged file).
 */
import { createCipheriv, createHmac, pbkdf2Sync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  DecodeError,
  DecryptionError,
  decryptKeyExport,
  encryptKeyExport,
  GroupSession,
  InboundGroupSession,
  KEY_EXPORT_DEFAULT_ROUNDS,
  MEGOLM_V1_ALGORITHM,
  type RoomKeyExport,
  roomKeyExportFromJson,
  roomKeyExportToJson,
  TriturusError,
} from '../../src/index.js';
import { b64, concat, expectTriturusError, expectTriturusRejection, random } from './helpers.js';

// matrix-rust-sdk, crates/matrix-sdk-crypto/src/file_encryption/key_export.rs (Apache-2.0): a key
// export of one session in !test:localhost, passphrase "1234", 1 PBKDF2 round, written by that SDK.
const RUST_SDK_EXPORT = `-----BEGIN MEGOLM SESSION DATA-----
Af7mGhlzQ+eGvHu93u0YXd3D/+vYMs3E7gQqOhuCtkvGAAAAASH7pEdWvFyAP1JUisAcpEo
Xke2Q7Kr9hVl/SCc6jXBNeJCZcrUbUV4D/tRQIl3E9L4fOk928YI1J+3z96qiH0uE7hpsCI
CkHKwjPU+0XTzFdIk1X8H7sZ+MD/2Sg/q3y8rtUjz7uEj4GUTnb+9SCOTVmJsRfqgUpM1CU
bDLytHf1JkohY4tWEgpsCc67xdzgodjr12qYrfg/zNm3LGpxlrffJknw4rk5QFTj4kMbqbD
ZZgDTni+HxRTDGge2J620lMOiznvXX+H09Rwruqx5aJvvaaKd86jWRpiO2oSFqHn4u5ONl9
41uzm62Sj0eIm6ZbA9NQs87jQw4LxsejhZVL+NdjIg80zVSBTWhTdo0DTnbFSNP4ReOiz0U
XosOF8A5T8Vdx2nvA0GXltfcHKVKQYh/LJAkNQ7P9UYL4ae/5TtQZkhB1KxCLTRWqADCl53
uBMGpG53EMgY6G6K2DEIOkcv7sdXQF5WpemiSWZqJRWj+cjfs9BpCTbkp/rszWFl2TniWpR
RqIbT2jORlN4rTvdtF0F4z1pqP4qWyR3sLNTkXm9CFRzWADNG0RDZKxbCoo6RPvtaCTfaHo
SwfvzBS6CjfAG+FOugpV48o7+XetaUUPZ6/tZSPhCdeV8eP9q5r0QwWeXFogzoNzWt4HYx9
MdXxzD+f0mtg5gzehrrEEARwI2bCvPpHxlt/Na9oW/GBpkjwR1LSKgg4CtpRyWngPjdEKpZ
GYW19pdjg0qdXNk/eqZsQTsNWVo6A
-----END MEGOLM SESSION DATA-----
`;

const HEADER = '-----BEGIN MEGOLM SESSION DATA-----';
const FOOTER = '-----END MEGOLM SESSION DATA-----';

function entry(roomId = '!room:example.org'): { key: RoomKeyExport; outbound: GroupSession } {
  const outbound = GroupSession.create();
  const inbound = InboundGroupSession.fromSessionKey(outbound.sessionKey());
  return {
    outbound,
    key: {
      algorithm: MEGOLM_V1_ALGORITHM,
      roomId,
      senderKey: b64(random(32)),
      sessionId: inbound.sessionId,
      sessionKey: inbound.exportAtFirstKnownIndex(),
      senderClaimedKeys: { ed25519: b64(random(32)) },
      forwardingCurve25519KeyChain: [b64(random(32))],
    },
  };
}

function body(file: string): Uint8Array {
  const lines = file.trim().split('\n');
  expect(lines[0]).toBe(HEADER);
  expect(lines.at(-1)).toBe(FOOTER);
  return Uint8Array.from(Buffer.from(lines.slice(1, -1).join(''), 'base64'));
}

/** Builds an export file by hand (spec steps 2-6) around an arbitrary plaintext. */
function handMade(plaintext: Uint8Array, passphrase: string, rounds: number): string {
  const salt = random(16);
  const iv = random(16);
  iv[8]! &= 0x7f;
  const keys = pbkdf2Sync(passphrase, salt, rounds, 64, 'sha512');
  const cipher = createCipheriv('aes-256-ctr', keys.subarray(0, 32), iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const roundsBytes = Buffer.alloc(4);
  roundsBytes.writeUInt32BE(rounds);
  const head = concat([1], salt, iv, roundsBytes, ciphertext);
  const mac = createHmac('sha256', keys.subarray(32, 64)).update(head).digest();
  return `${HEADER}\n${Buffer.from(concat(head, mac)).toString('base64')}\n${FOOTER}\n`;
}

describe('key export files', () => {
  it('opens the file matrix-rust-sdk wrote', async () => {
    const keys = await decryptKeyExport(RUST_SDK_EXPORT, '1234');
    expect(keys).toHaveLength(1);
    const key = keys[0]!;
    expect(key.algorithm).toBe('m.megolm.v1.aes-sha2');
    expect(key.roomId).toBe('!test:localhost');
    expect(key.senderKey).toBe('cKQkLU8izjY3tpLVPiR4PDeeCEKtaDiAGiQH+UbZm2w');
    expect(key.sessionId).toBe('8sdNGgmLft8osylLK9ij3IotBLyQQufe/KngiW4Dpq0');
    expect(key.senderClaimedKeys).toEqual({ ed25519: 'wJ7DzYIlwFghczuxFG7F4ugAK3IFjpSaC74MzLFC6ig' });
    expect(key.forwardingCurve25519KeyChain).toEqual([]);
    expect(key.sessionKey.sessionId).toBe(key.sessionId);
    expect(InboundGroupSession.import(key.sessionKey).sessionId).toBe(key.sessionId);
  });

  it('writes the spec layout: version 1, salt, IV with bit 63 clear, rounds, AES-CTR JSON, HMAC', async () => {
    const { key } = entry();
    const file = await encryptKeyExport([key], 'correct horse', { rounds: 7 });
    expect(file.endsWith(`\n${FOOTER}\n`)).toBe(true);
    for (const line of file.trim().split('\n')) expect(line.length).toBeLessThanOrEqual(96);
    const bytes = body(file);
    expect(bytes[0]).toBe(1);
    const salt = bytes.subarray(1, 17);
    const iv = bytes.subarray(17, 33);
    expect(iv[8]! & 0x80).toBe(0);
    expect(Buffer.from(bytes).readUInt32BE(33)).toBe(7);
    const keys = pbkdf2Sync('correct horse', salt, 7, 64, 'sha512');
    const end = bytes.length - 32;
    const mac = createHmac('sha256', keys.subarray(32, 64)).update(bytes.subarray(0, end)).digest();
    expect(Buffer.from(bytes.subarray(end)).equals(mac)).toBe(true);
    const decipher = createCipheriv('aes-256-ctr', keys.subarray(0, 32), iv);
    const json = JSON.parse(Buffer.concat([decipher.update(bytes.subarray(37, end)), decipher.final()]).toString());
    expect(json).toEqual([
      {
        algorithm: 'm.megolm.v1.aes-sha2',
        forwarding_curve25519_key_chain: key.forwardingCurve25519KeyChain,
        room_id: key.roomId,
        sender_claimed_keys: key.senderClaimedKeys,
        sender_key: key.senderKey,
        session_id: key.sessionId,
        session_key: key.sessionKey.toBase64(),
      },
    ]);
  });

  it('round-trips several sessions; the keys decrypt the senders’ messages', async () => {
    const sessions = [entry('!a:x'), entry('!b:x'), entry('!a:x')];
    const file = await encryptKeyExport(
      sessions.map((s, i) => (i === 1 ? { ...s.key, sharedHistory: true } : s.key)),
      'pässphrase ✓',
      { rounds: 3 },
    );
    const keys = await decryptKeyExport(file, 'pässphrase ✓');
    expect(keys.map((k) => k.roomId)).toEqual(['!a:x', '!b:x', '!a:x']);
    expect(keys[1]!.sharedHistory).toBe(true);
    expect(keys[0]!.sharedHistory).toBeUndefined();
    keys.forEach((k, i) => {
      const inbound = InboundGroupSession.import(k.sessionKey);
      expect(inbound.isVerified).toBe(false);
      expect(inbound.decryptText(sessions[i]!.outbound.encrypt(`hi ${i}`)).plaintext).toBe(`hi ${i}`);
      expect(k.senderClaimedKeys).toEqual(sessions[i]!.key.senderClaimedKeys);
      expect(k.forwardingCurve25519KeyChain).toEqual(sessions[i]!.key.forwardingCurve25519KeyChain);
    });
    expect(await decryptKeyExport(await encryptKeyExport([], 'p', { rounds: 1 }), 'p')).toEqual([]);
  });

  it(`uses ${KEY_EXPORT_DEFAULT_ROUNDS} rounds by default (≥ 100 000, the spec's floor) and reports progress`, async () => {
    expect(KEY_EXPORT_DEFAULT_ROUNDS).toBeGreaterThanOrEqual(100_000);
    const reports: number[] = [];
    const file = await encryptKeyExport([entry().key], 'p', {
      onProgress: (done, total) => reports.push(done / total),
    });
    expect(Buffer.from(body(file)).readUInt32BE(33)).toBe(KEY_EXPORT_DEFAULT_ROUNDS);
    expect(reports.length).toBeGreaterThan(2);
    expect(reports.at(-1)).toBe(1);
    expect([...reports].sort((a, b) => a - b)).toEqual(reports);
  }, 60_000);

  it('accepts what other writers produce: unpadded, unwrapped, CRLF, surrounding whitespace, missing optional fields', async () => {
    const { key } = entry();
    const json = roomKeyExportToJson(key);
    delete json.forwarding_curve25519_key_chain;
    delete json.sender_claimed_keys;
    const file = handMade(new TextEncoder().encode(JSON.stringify([json])), 'pw', 2);
    const base64 = Buffer.from(body(file)).toString('base64');
    const variants = [
      file,
      `${HEADER}\n${base64.replace(/=+$/, '')}\n${FOOTER}`,
      `\r\n  ${file.replace(/\n/g, '\r\n')}  \n`,
      `${HEADER}\n${base64.replace(/(.{20})/g, '$1\n')}\n${FOOTER}\n`,
      `${HEADER}${base64}${FOOTER}`,
    ];
    for (const variant of variants) {
      const [read] = await decryptKeyExport(variant, 'pw');
      expect(read!.sessionId).toBe(key.sessionId);
      expect(read!.senderClaimedKeys).toEqual({});
      expect(read!.forwardingCurve25519KeyChain).toEqual([]);
    }
  });

  it('a wrong passphrase, or any altered byte of the sealed data, is KEY_EXPORT_BAD_PASSPHRASE', async () => {
    const file = await encryptKeyExport([entry().key], 'right', { rounds: 2 });
    await expectTriturusRejection(decryptKeyExport(file, 'wrong'), DecryptionError, 'KEY_EXPORT_BAD_PASSPHRASE');
    const bytes = body(file);
    for (const position of [1, 20, 40, bytes.length - 1]) {
      const altered = bytes.slice();
      altered[position]! ^= 1;
      const text = `${HEADER}\n${Buffer.from(altered).toString('base64')}\n${FOOTER}`;
      await expectTriturusRejection(decryptKeyExport(text, 'right'), DecryptionError, 'KEY_EXPORT_BAD_PASSPHRASE');
    }
  });

  it('a file that is not a key export is KEY_EXPORT_MALFORMED', async () => {
    const PASSPHRASE = 'Zq9-unusual-passphrase';
    const good = await encryptKeyExport([entry().key], PASSPHRASE, { rounds: 1 });
    const bytes = body(good);
    const wrap = (b: Uint8Array) => `${HEADER}\n${Buffer.from(b).toString('base64')}\n${FOOTER}\n`;
    const withRounds = (n: number) => {
      const b = bytes.slice();
      Buffer.from(b.buffer).writeUInt32BE(n, 33);
      return wrap(b);
    };
    const cases: [string, string][] = [
      ['no armour', Buffer.from(bytes).toString('base64')],
      ['no footer', good.replace(FOOTER, '')],
      ['header only', `${HEADER}\n${FOOTER}`],
      ['bad base64', `${HEADER}\n@@@@\n${FOOTER}`],
      ['too short', wrap(bytes.subarray(0, 68))],
      ['version 2', wrap(concat([2], bytes.subarray(1)))],
      ['zero rounds', withRounds(0)],
      ['too many rounds', withRounds(2 ** 32 - 1)],
    ];
    for (const [name, text] of cases) {
      const error = await expectTriturusRejection(
        decryptKeyExport(text, PASSPHRASE),
        DecodeError,
        'KEY_EXPORT_MALFORMED',
      );
      expect(error.message, name).not.toContain(PASSPHRASE);
    }
    await expectTriturusRejection(
      decryptKeyExport(withRounds(5), 'p', { maxRounds: 4 }),
      DecodeError,
      'KEY_EXPORT_MALFORMED',
    );
  });

  it('a correctly sealed file whose contents are not session data is KEY_EXPORT_MALFORMED', async () => {
    const { key } = entry();
    const json = roomKeyExportToJson(key);
    const enc = new TextEncoder();
    const contents: unknown[] = [
      enc.encode('not json'),
      Uint8Array.of(0xff, 0xfe),
      enc.encode('{"not": "an array"}'),
      enc.encode('[1]'),
      enc.encode(JSON.stringify([{ ...json, session_key: 'AAAA' }])),
      enc.encode(JSON.stringify([{ ...json, session_id: b64(random(32)) }])),
      enc.encode(JSON.stringify([{ ...json, room_id: 5 }])),
      enc.encode(JSON.stringify([{ ...json, sender_claimed_keys: { ed25519: 1 } }])),
      enc.encode(JSON.stringify([{ ...json, forwarding_curve25519_key_chain: 'x' }])),
      enc.encode(JSON.stringify([{ ...json, algorithm: undefined }])),
    ];
    for (const plaintext of contents) {
      await expectTriturusRejection(
        decryptKeyExport(handMade(plaintext as Uint8Array, 'p', 1), 'p'),
        DecodeError,
        'KEY_EXPORT_MALFORMED',
      );
    }
  });

  it('validates what it is asked to write', async () => {
    const { key } = entry();
    const other = entry().key;
    const bad: [unknown, object][] = [
      ['not an array', {}],
      [[{ ...key, sessionKey: key.sessionKey.toBase64() }], {}],
      [[{ ...key, sessionId: other.sessionId }], {}],
      [[{ ...key, senderClaimedKeys: { ed25519: 5 } }], {}],
      [[{ ...key, forwardingCurve25519KeyChain: [5] }], {}],
      [[{ ...key, roomId: undefined }], {}],
      [[{ ...key, sharedHistory: 'yes' }], {}],
      [[key], { rounds: 0 }],
      [[key], { rounds: 2 ** 32 }],
      [[key], { rounds: 1.5 }],
    ];
    for (const [sessions, options] of bad) {
      await expectTriturusRejection(
        encryptKeyExport(sessions as RoomKeyExport[], 'p', options),
        TriturusError,
        'INVALID_ARGUMENT',
      );
    }
    await expectTriturusRejection(encryptKeyExport([key], 5 as unknown as string), TriturusError, 'INVALID_ARGUMENT');
  });

  it('the JSON helpers convert one entry both ways and never print the key through the typed form', () => {
    const { key } = entry();
    const json = roomKeyExportToJson(key);
    expect(json.session_key).toBe(key.sessionKey.toBase64());
    const back = roomKeyExportFromJson(JSON.parse(JSON.stringify(json)));
    expect(back.sessionKey.toBase64()).toBe(key.sessionKey.toBase64());
    expect(JSON.stringify(back)).not.toContain(key.sessionKey.toBase64().slice(0, 16));
    expectTriturusError(() => roomKeyExportFromJson('x'), DecodeError, 'KEY_EXPORT_MALFORMED');
  });
});
