/**
 * `npm run demo:olm`: an Olm conversation between two in-memory accounts, printed as a transcript,
 * with a restart in the middle (both sides pickled, dropped, and restored from their pickles).
 */
import {
  Account,
  type Curve25519PublicKey,
  type Ed25519PublicKey,
  olmMessageFromParts,
  PreKeyMessage,
  Session,
  SessionConfig,
} from '../src/index.js';

const line = (text: string) => console.log(text);
const short = (key: Curve25519PublicKey | Ed25519PublicKey | string) => `${String(key).slice(0, 10)}…`;

line('triturus demo: an Olm conversation between Alice and Bob\n');

let alice = Account.create();
let bob = Account.create();
line(`Alice's identity key  ${short(alice.curve25519Key)}  (Ed25519 ${short(alice.ed25519Key)})`);
line(`Bob's identity key    ${short(bob.curve25519Key)}  (Ed25519 ${short(bob.ed25519Key)})`);

// Bob publishes one-time keys (signed, as a homeserver would receive them).
bob.generateOneTimeKeys(5);
const published = [...bob.oneTimeKeys];
bob.markKeysAsPublished();
line(`Bob publishes ${published.length} one-time keys, e.g. ${published[0]![0]} → ${short(published[0]![1])}`);
const [keyId, oneTimeKey] = published[0]!;
const signature = bob.sign(JSON.stringify({ key: oneTimeKey.toBase64() }));
bob.ed25519Key.verify(JSON.stringify({ key: oneTimeKey.toBase64() }), signature);
line(`Alice claims key ${keyId} and checks Bob's signature on it: valid\n`);

// Alice starts the session; until Bob answers she sends pre-key messages.
let aliceSession = alice.createOutboundSession(SessionConfig.version1(), bob.curve25519Key, oneTimeKey);
const first = aliceSession.encrypt('Hi Bob, this is Alice.');
line(`Alice → Bob  type ${first.type} (pre-key), ${first.toBase64().length} base64 chars`);
if (!(first instanceof PreKeyMessage)) throw new Error('the first message must be a pre-key message');
const inbound = bob.createInboundSession(alice.curve25519Key, first);
let bobSession = inbound.session;
line(`Bob decrypts: "${new TextDecoder().decode(inbound.plaintext)}"`);
line(`Bob's one-time keys left: ${bob.storedOneTimeKeyCount} (the used one is gone)`);
line(`Session ids match: ${aliceSession.sessionId === bobSession.sessionId} (${short(aliceSession.sessionId)})\n`);

function exchange(from: string, sender: Session, to: string, receiver: Session, text: string): void {
  const message = sender.encrypt(text);
  // On the wire: {type, body}, as in m.olm.v1.curve25519-aes-sha2.
  const wire = { type: message.type, body: message.toBase64() };
  const received = olmMessageFromParts(wire.type, wire.body);
  line(`${from} → ${to}  type ${wire.type}: "${receiver.decryptText(received)}"`);
}

exchange('Bob', bobSession, 'Alice', aliceSession, 'Hello Alice! Got your message.');
exchange('Alice', aliceSession, 'Bob', bobSession, 'Great, the ratchet turned.');
exchange('Alice', aliceSession, 'Bob', bobSession, 'A second message on the same chain.');

// Restart: both devices pickle their state under a 32-byte key, forget everything, and restore.
const pickleKey = crypto.getRandomValues(new Uint8Array(32));
const saved = {
  alice: alice.pickle(pickleKey),
  bob: bob.pickle(pickleKey),
  aliceSession: aliceSession.pickle(pickleKey),
  bobSession: bobSession.pickle(pickleKey),
};
line(
  `\n— restart: pickled account ${saved.alice.length} chars, session ${saved.aliceSession.length} chars; objects dropped —\n`,
);
alice = Account.fromPickle(saved.alice, pickleKey);
bob = Account.fromPickle(saved.bob, pickleKey);
aliceSession = Session.fromPickle(saved.aliceSession, pickleKey);
bobSession = Session.fromPickle(saved.bobSession, pickleKey);
line(`Restored Alice ${short(alice.curve25519Key)} and Bob ${short(bob.curve25519Key)}`);

exchange('Bob', bobSession, 'Alice', aliceSession, 'Still here after the restart?');
exchange('Alice', aliceSession, 'Bob', bobSession, 'Yes, and the conversation carries on.');

// A tampered message is refused and changes nothing.
const tampered = aliceSession.encrypt('this will be tampered with').toBytes();
tampered[tampered.length - 1]! ^= 1;
try {
  bobSession.decrypt(olmMessageFromParts(1, tampered));
} catch (error) {
  line(`\nA tampered message is refused: ${(error as Error).name} ${(error as { code?: string }).code}`);
}
exchange('Alice', aliceSession, 'Bob', bobSession, 'The session still works after the refusal.');
line('\nDone.');
