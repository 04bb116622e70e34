/**
 * A platform whose WebCrypto lacks Ed25519 and X25519 (older browsers, some embedded engines): detection says
 * so, once, and everything runs on the noble backend alone — the protocol calls and a whole Device exchange.
 * WebCrypto's importKey is made to refuse both curves before anything in this file (its own module state:
 * vitest isolates each file) asks what the platform can do.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { setCryptoBackend } from '../../src/crypto/index.js';
import { nobleBackend } from '../../src/crypto/noble.js';
import { platformCrypto, withPlatformCrypto } from '../../src/crypto/platform.js';
import { GroupSession, InboundGroupSession } from '../../src/index.js';
import { DeviceClient } from '../support/device-client.js';
import { FaultHomeserver } from '../support/fault-homeserver.js';
import { defaultBackend } from './helpers.js';

const subtle = globalThis.crypto.subtle;
const importKey = subtle.importKey.bind(subtle);

beforeAll(() => {
  vi.spyOn(subtle, 'importKey').mockImplementation(((...args: Parameters<SubtleCrypto['importKey']>) => {
    const algorithm = args[2];
    const name = typeof algorithm === 'string' ? algorithm : algorithm.name;
    if (name === 'Ed25519' || name === 'X25519') {
      return Promise.reject(new DOMException('Algorithm: Unrecognized name', 'NotSupportedError'));
    }
    return importKey(...(args as [never, never, never, never, never]));
  }) as SubtleCrypto['importKey']);
  setCryptoBackend(nobleBackend);
});

afterAll(() => {
  setCryptoBackend(defaultBackend);
  vi.restoreAllMocks();
});

describe('without WebCrypto Ed25519 and X25519', () => {
  it('detection finds neither, and calls run on noble without touching WebCrypto again', async () => {
    expect(await platformCrypto()).toEqual({ ed25519: false, x25519: false });
    const verify = vi.spyOn(subtle, 'verify');
    const group = GroupSession.create();
    const inbound = await withPlatformCrypto(() => InboundGroupSession.fromSessionKey(group.sessionKey()));
    const message = group.encrypt('still fine');
    expect(new TextDecoder().decode((await withPlatformCrypto(() => inbound.decrypt(message))).plaintext)).toBe(
      'still fine',
    );
    expect(verify).not.toHaveBeenCalled();
  });

  it('a Device exchange (Olm key sharing, Megolm room events) passes on noble alone', async () => {
    const server = new FaultHomeserver();
    const alice = await DeviceClient.create(server, '@alice:example.org', 'ALICE');
    const bob = await DeviceClient.create(server, '@bob:example.org', 'BOB');
    for (const c of [alice, bob]) await c.publish();
    const [bobInfo] = await alice.track('@bob:example.org');
    await bob.track('@alice:example.org');
    await alice.shareRoomKey('!room:example.org', [bobInfo!]);
    for (const got of await bob.receive()) expect(got.error).toBeUndefined();
    const { event } = await alice.post('!room:example.org', { body: 'over noble' });
    expect((await bob.device.decryptRoomEvent(event)).event.content).toEqual({ body: 'over noble' });
  });
});
