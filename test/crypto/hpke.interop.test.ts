/**
 * HPKE (RFC 9180) base mode, DHKEM(X25519, HKDF-SHA256) + HKDF-SHA256 + AES-128-GCM, against an
 * independent implementation (@hpke/core, what ts-mls's default provider uses), both ways, on
 * both backends: DeriveKeyPair, single-shot seal/open and the secret export. The ChaCha20-Poly1305
 * variant is exercised by the MLS suite-3 vectors (test/dmls/mls-vectors.test.ts).
 */
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import { expect, it } from 'vitest';
import {
  hpkeDeriveKeyPair,
  hpkeGenerateKeyPair,
  hpkeOpen,
  hpkeReceiveExport,
  hpkeSeal,
  hpkeSendExport,
} from '../../src/crypto/hpke.js';
import { randomBytes } from '../../src/crypto/index.js';
import { DecryptionError } from '../../src/errors.js';
import { describeEachBackend, expectTriturusError, flipBit, toHex } from './helpers.js';

const theirs = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes128Gcm() });
const buf = (b: Uint8Array) => b.slice().buffer as ArrayBuffer;
const INFO = new TextEncoder().encode('MLS 1.0 test info');
const AAD = new TextEncoder().encode('aad');

describeEachBackend('HPKE base mode against @hpke/core', () => {
  it('DeriveKeyPair gives the same key pair', async () => {
    for (let i = 0; i < 4; i++) {
      const ikm = randomBytes(32);
      const ours = hpkeDeriveKeyPair(ikm);
      const kp = await theirs.kem.deriveKeyPair(buf(ikm));
      expect(toHex(ours.publicKey)).toBe(toHex(new Uint8Array(await theirs.kem.serializePublicKey(kp.publicKey))));
      expect(toHex(ours.privateKey.toBytes())).toBe(
        toHex(new Uint8Array(await theirs.kem.serializePrivateKey(kp.privateKey))),
      );
    }
  });

  it('we seal, they open; they seal, we open', async () => {
    const kp = await theirs.kem.generateKeyPair();
    const theirPublic = new Uint8Array(await theirs.kem.serializePublicKey(kp.publicKey));
    const plaintext = randomBytes(100);
    const { enc, ct } = hpkeSeal('AES128GCM', theirPublic, INFO, AAD, plaintext);
    const opened = await theirs.open(
      { recipientKey: kp.privateKey, enc: buf(enc), info: buf(INFO) },
      buf(ct),
      buf(AAD),
    );
    expect(toHex(new Uint8Array(opened))).toBe(toHex(plaintext));

    const ours = hpkeGenerateKeyPair();
    const recipientPublicKey = await theirs.kem.deserializePublicKey(buf(ours.publicKey));
    const sealed = await theirs.seal({ recipientPublicKey, info: buf(INFO) }, buf(plaintext), buf(AAD));
    const back = hpkeOpen(
      'AES128GCM',
      ours.privateKey,
      new Uint8Array(sealed.enc),
      INFO,
      AAD,
      new Uint8Array(sealed.ct),
    );
    expect(toHex(back)).toBe(toHex(plaintext));
    expectTriturusError(
      () =>
        hpkeOpen(
          'AES128GCM',
          ours.privateKey,
          new Uint8Array(sealed.enc),
          INFO,
          AAD,
          flipBit(new Uint8Array(sealed.ct), 3),
        ),
      DecryptionError,
      'AEAD_TAG_MISMATCH',
    );
  });

  it('the secret export agrees both ways', async () => {
    const context = new TextEncoder().encode('exporter context');
    const ours = hpkeGenerateKeyPair();
    const sender = await theirs.createSenderContext({
      recipientPublicKey: await theirs.kem.deserializePublicKey(buf(ours.publicKey)),
      info: buf(INFO),
    });
    const theirSecret = new Uint8Array(await sender.export(buf(context), 32));
    const ourSecret = hpkeReceiveExport('AES128GCM', ours.privateKey, new Uint8Array(sender.enc), INFO, context, 32);
    expect(toHex(ourSecret)).toBe(toHex(theirSecret));

    const kp = await theirs.kem.generateKeyPair();
    const sent = hpkeSendExport(
      'AES128GCM',
      new Uint8Array(await theirs.kem.serializePublicKey(kp.publicKey)),
      INFO,
      context,
      32,
    );
    const recipient = await theirs.createRecipientContext({
      recipientKey: kp.privateKey,
      enc: buf(sent.enc),
      info: buf(INFO),
    });
    expect(toHex(new Uint8Array(await recipient.export(buf(context), 32)))).toBe(toHex(sent.secret));
  });
});
