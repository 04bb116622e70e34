/**
 * Runs inside QuickJS (no WebCrypto, no TextEncoder, no Buffer): an Olm conversation and a Megolm message on
 * the noble backend, with only `crypto.getRandomValues` provided by the host. Leaves its report in
 * `globalThis.triturusReport` as a JSON string.
 */

// The engine has no TextDecoder: this is triturus's own fallback.
import { TextDecoder } from '../../src/encoding/text.js';
import {
  Account,
  cryptoBackend,
  GroupSession,
  InboundGroupSession,
  olmMessageFromParts,
  type PreKeyMessage,
  SessionConfig,
  TriturusError,
} from '../../src/index.js';

const g = globalThis as Record<string, unknown>;
const report: Record<string, unknown> = {
  engine: {
    textEncoder: typeof g['TextEncoder'],
    subtle: typeof (g['crypto'] as { subtle?: unknown } | undefined)?.subtle,
    buffer: typeof g['Buffer'],
    getRandomValues: typeof (g['crypto'] as { getRandomValues?: unknown } | undefined)?.getRandomValues,
  },
  backend: cryptoBackend().name,
};
const decoder = new TextDecoder('utf-8', { fatal: true });

try {
  const alice = Account.create();
  const bob = Account.create();
  bob.generateOneTimeKeys(1);
  const [, oneTimeKey] = [...bob.oneTimeKeys][0]!;
  bob.markKeysAsPublished();
  const outbound = alice.createOutboundSession(SessionConfig.version1(), bob.curve25519Key, oneTimeKey);
  const first = outbound.encrypt('grüße, bob');
  const { session, plaintext } = bob.createInboundSession(
    alice.curve25519Key,
    olmMessageFromParts(first.type, first.toBase64()) as PreKeyMessage,
  );
  const reply = session.encrypt('hi alice');
  const answer = outbound.decrypt(olmMessageFromParts(reply.type, reply.toBase64()));
  const pickleKey = new Uint8Array(32).fill(9);
  const restored = Account.fromPickle(alice.pickle(pickleKey), pickleKey);
  report['olm'] = [decoder.decode(plaintext), decoder.decode(answer)];
  report['pickle'] = restored.curve25519Key.toBase64() === alice.curve25519Key.toBase64();

  const group = GroupSession.create();
  const inbound = InboundGroupSession.fromSessionKey(group.sessionKey());
  group.encrypt('first');
  const { plaintext: roomText, messageIndex } = inbound.decrypt(group.encrypt('to the room'));
  report['megolm'] = [decoder.decode(roomText), messageIndex];
  const signature = alice.sign('signed');
  report['signature'] = alice.ed25519Key.verify('signed', signature) === undefined;
} catch (error) {
  report['error'] =
    error instanceof TriturusError ? `TriturusError ${error.code}: ${error.message}` : `other: ${String(error)}`;
}
g['triturusReport'] = JSON.stringify(report);
