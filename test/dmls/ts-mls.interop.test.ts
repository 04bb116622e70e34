/**
 * A plain ts-mls client (ts-mls's default provider, no triturus code on its side) in a triturus
 * DMLS group with an unforked history: it joins from our Welcome, processes our commits, we
 * process its commit, and messages go both ways. DMLS stays RFC 9420 on the wire.
 */
import {
  type ClientState,
  createApplicationMessage,
  createCommit,
  decodeMlsMessage,
  defaultCapabilities,
  defaultCryptoProvider,
  defaultLifetime,
  emptyPskIndex,
  encodeMlsMessage,
  generateKeyPackage,
  getCiphersuiteFromName,
  joinGroup,
  nobleCryptoProvider,
  processMessage,
} from 'ts-mls';
import { describe, expect, it } from 'vitest';
import { Directory, eventId, Peer } from './helpers.js';

const ROOM = '!interop:example.org';
const SUITE = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64').replace(/=+$/, '');
const unb64 = (s: string) => Uint8Array.from(Buffer.from(s, 'base64'));
const utf8 = (s: string) => new TextEncoder().encode(s);

/** The identity encoding of docs/dmls.md, written by hand: varint-prefixed user id and device id. */
function identity(userId: string, deviceId: string): Uint8Array {
  const u = utf8(userId);
  const d = utf8(deviceId);
  return Uint8Array.from([u.length, ...u, d.length, ...d]);
}

describe('a plain ts-mls client in a triturus DMLS group', () => {
  // ts-mls's noble provider runs on @noble/* 2.4.0 here (package.json overrides its exact peer pins).
  it.each([
    ['default (WebCrypto)', defaultCryptoProvider],
    ['noble', nobleCryptoProvider],
  ])(
    'on its %s provider: joins from our Welcome, follows our commits, commits itself, and messages go both ways',
    async (_name, provider) => {
      const cs = await provider.getCiphersuiteImpl(getCiphersuiteFromName(SUITE));
      const dir = new Directory();
      const alice = await Peer.create('@alice:a.org', 'ALICE', dir);
      const bob = await Peer.create('@bob:b.org', 'BOB', dir);

      const carolKp = await generateKeyPackage(
        { credentialType: 'basic', identity: identity('@carol:c.org', 'CAROL') },
        defaultCapabilities(),
        defaultLifetime,
        [],
        cs,
      );
      dir.credentials.set('@carol:c.org|CAROL', b64(carolKp.publicPackage.leafNode.signaturePublicKey));
      const carolUpload = b64(
        encodeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: carolKp.publicPackage }),
      );

      await alice.step((a) => a.createGroup(ROOM));
      const bobKp = await bob.keyPackage();
      await alice.step(async (a) => (await a.group(ROOM))!.createCommit({ add: [carolUpload, bobKp] }));
      const c1 = eventId();
      const { welcome } = await alice.step(async (a) => (await a.group(ROOM))!.confirmCommit(c1));
      await bob.step((a) => a.joinGroup({ sender: '@alice:a.org', content: welcome }));

      // Carol: plain ts-mls from here on.
      const w = decodeMlsMessage(unb64(welcome!.ciphertext), 0)![0];
      if (w.wireformat !== 'mls_welcome') throw new Error('expected a welcome');
      let carol: ClientState = await joinGroup(
        w.welcome,
        carolKp.publicPackage,
        carolKp.privatePackage,
        emptyPskIndex,
        cs,
      );
      expect(b64(carol.keySchedule.epochAuthenticator)).toBe(b64(await (await alice.group(ROOM)).epochAuthenticator()));

      // Triturus → ts-mls.
      const m1 = await alice.step(async (a) => (await a.group(ROOM))!.encrypt('to carol'));
      const r1 = await processMessage(
        decodeMlsMessage(unb64(m1.ciphertext), 0)![0] as Parameters<typeof processMessage>[0],
        carol,
        emptyPskIndex,
        () => 'accept',
        cs,
      );
      if (r1.kind !== 'applicationMessage') throw new Error('expected an application message');
      expect(new TextDecoder().decode(r1.message)).toBe('to carol');
      carol = r1.newState;

      // ts-mls → triturus (both members).
      const fromCarol = await createApplicationMessage(carol, utf8('from carol'), cs);
      carol = fromCarol.newState;
      const content = {
        algorithm: `m.dmls.v1.${SUITE}`,
        ciphertext: b64(
          encodeMlsMessage({
            version: 'mls10',
            wireformat: 'mls_private_message',
            privateMessage: fromCarol.privateMessage,
          }),
        ),
        epoch_creator: ['@alice:a.org', 'ALICE'],
        commit_event: c1,
      };
      for (const p of [alice, bob]) {
        const d = await p.step(async (a) => (await a.group(ROOM))!.decrypt({ sender: '@carol:c.org', content }));
        expect(new TextDecoder().decode(d.plaintext)).toBe('from carol');
        expect(d.deviceId).toBe('CAROL');
      }

      // Our commit (Bob removes nobody, just updates) → ts-mls processes it.
      const c2content = await bob.step(async (a) => (await a.group(ROOM))!.createCommit());
      const c2 = eventId();
      for (const p of [alice, bob]) {
        await p.step(async (a) =>
          (await a.group(ROOM))!.processCommit({ event_id: c2, sender: '@bob:b.org', content: c2content }),
        );
      }
      const r2 = await processMessage(
        decodeMlsMessage(unb64(c2content.ciphertext), 0)![0] as Parameters<typeof processMessage>[0],
        carol,
        emptyPskIndex,
        () => 'accept',
        cs,
      );
      carol = r2.newState;
      expect(b64(carol.keySchedule.epochAuthenticator)).toBe(b64(await (await alice.group(ROOM)).epochAuthenticator()));

      // ts-mls commits (a PrivateMessage, its default) → triturus processes it.
      const carolCommit = await createCommit({ state: carol, cipherSuite: cs });
      carol = carolCommit.newState;
      const c3 = eventId();
      const c3content = {
        algorithm: `m.dmls.v1.${SUITE}`,
        ciphertext: b64(encodeMlsMessage(carolCommit.commit)),
        epoch_creator: ['@bob:b.org', 'BOB'],
        commit_event: c2,
        sender: ['@carol:c.org', 'CAROL'],
        resolves: [],
      };
      for (const p of [alice, bob]) {
        const r = await p.step(async (a) =>
          (await a.group(ROOM))!.processCommit({ event_id: c3, sender: '@carol:c.org', content: c3content }),
        );
        expect(r.epoch.creator).toEqual(['@carol:c.org', 'CAROL']);
        expect(b64(await (await p.group(ROOM)).epochStore.epochAuthenticator(c3))).toBe(
          b64(carol.keySchedule.epochAuthenticator),
        );
      }

      // And messages both ways in the new epoch.
      const m4 = await bob.step(async (a) => (await a.group(ROOM))!.encrypt('epoch three'));
      expect(m4.commit_event).toBe(c3);
      const r4 = await processMessage(
        decodeMlsMessage(unb64(m4.ciphertext), 0)![0] as Parameters<typeof processMessage>[0],
        carol,
        emptyPskIndex,
        () => 'accept',
        cs,
      );
      if (r4.kind !== 'applicationMessage') throw new Error('expected an application message');
      expect(new TextDecoder().decode(r4.message)).toBe('epoch three');
    },
  );
});
