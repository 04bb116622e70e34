/**
 * Writes test/olm/fixtures/session-schema1.json: Olm session pickles in the session pickle schema 1
 * (the format before receiver chains remembered which message keys they gave up), and the
 * messages a test needs to check that such pickles still load and work. Run once, on the commit
 * before schema 2, with `npx tsx --conditions=triturus-source scripts/make-session-schema1-fixture.ts`;
 * later code writes schema 2, so this script is removed with that change.
 */
import { writeFileSync } from 'node:fs';
import { Account, type Message, type PreKeyMessage, SessionConfig } from '../src/index.js';

const pickleKey = Uint8Array.from({ length: 32 }, (_, i) => (i * 7 + 3) & 0xff);
const alice = Account.create();
const bob = Account.create();
bob.generateOneTimeKeys(1);
const otk = [...bob.oneTimeKeys.values()][0]!;
bob.markKeysAsPublished();
const aliceSession = alice.createOutboundSession(SessionConfig.version1(), bob.curve25519Key, otk);
const first = aliceSession.encrypt('first') as PreKeyMessage;
const { session: bobSession } = bob.createInboundSession(alice.curve25519Key, first);
aliceSession.decrypt(bobSession.encrypt('reply'));

// Alice's new chain: a0..a49. Bob opens a5 (holds 0-4), then a49 (keeps 9-48, steps past 6-8; the
// window of 40 evicts 0-4), then a10.
const sent: Message[] = [];
for (let i = 0; i < 50; i++) sent.push(aliceSession.encrypt(`a${i}`) as Message);
for (const i of [5, 49, 10]) {
  const text = new TextDecoder().decode(bobSession.decrypt(sent[i]!));
  if (text !== `a${i}`) throw new Error('unexpected plaintext');
}
const bobPickle = bobSession.pickle(pickleKey);
const a50 = aliceSession.encrypt('a50') as Message;
const alicePickle = aliceSession.pickle(pickleKey);

const fixture = {
  description:
    'Olm session pickles in session pickle schema 1, written by triturus before schema 2 (made by scripts/make-session-schema1-fixture.ts). ' +
    "Alice sent a0..a49 on one chain; Bob decrypted a5, a49, a10 in that order (a49 stepped past a6-a8 without keeping their keys, and the window of 40 then evicted a0-a4), then was pickled; Alice then sent a50 and was pickled. Messages are Olm type-1 bodies in unpadded base64; each plaintext is the message's name.",
  pickleKey: Buffer.from(pickleKey).toString('hex'),
  bobSession: bobPickle,
  aliceSession: alicePickle,
  aliceIdentityKey: alice.curve25519Key.toBase64(),
  bobIdentityKey: bob.curve25519Key.toBase64(),
  sessionId: bobSession.sessionId,
  messages: Object.fromEntries([...sent.map((m, i) => [`a${i}`, m.toBase64()]), ['a50', a50.toBase64()]]),
  bobDecrypted: [5, 49, 10],
  bobDropped: [0, 1, 2, 3, 4, 6, 7, 8],
};
writeFileSync(new URL('../test/olm/fixtures/session-schema1.json', import.meta.url), `${JSON.stringify(fixture, null, 2)}\n`);
