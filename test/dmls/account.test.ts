/**
 * The device side of DMLS: identity encoding, the published credential, key packages as one-time
 * keys (consumed on join) and the last-resort one (not consumed), the records contract, redaction.
 */
import { inspect } from 'node:util';
import { decodeMlsMessage } from 'ts-mls';
import { describe, expect, it } from 'vitest';
import { DmlsSigningKey } from '../../src/dmls/identity.js';
import {
  credentialKeyId,
  DmlsAccount,
  decodeDmlsIdentity,
  encodeDmlsIdentity,
  MemoryRecordStore,
  parseCredentialValue,
} from '../../src/dmls/index.js';
import { PendingRecords } from '../../src/dmls/records.js';
import { Directory, eventId, Peer } from './helpers.js';

const ROOM = '!acct:example.org';

describe('DMLS identity', () => {
  it('encodes (user, device) as two MLS variable-length vectors, and decodes only that form', () => {
    const id = encodeDmlsIdentity('@a:b.c', 'DEV');
    expect([...id]).toEqual([6, ...new TextEncoder().encode('@a:b.c'), 3, ...new TextEncoder().encode('DEV')]);
    expect(decodeDmlsIdentity(id)).toEqual({ userId: '@a:b.c', deviceId: 'DEV' });
    const long = 'x'.repeat(100);
    const two = encodeDmlsIdentity(`@${long}:s`, 'D');
    expect(two[0]).toBe(0x40); // 2-byte length prefix
    expect(decodeDmlsIdentity(two)).toEqual({ userId: `@${long}:s`, deviceId: 'D' });
    for (const bad of [
      new Uint8Array(0),
      Uint8Array.from([3, 97, 98]), // truncated
      Uint8Array.from([1, 97, 1, 98, 0]), // trailing byte
      Uint8Array.from([0, 1, 98]), // empty user id
      Uint8Array.from([0x40, 1, 97, 1, 98]), // non-minimal length
      Uint8Array.from([1, 0xff, 1, 98]), // invalid UTF-8
    ]) {
      expect(decodeDmlsIdentity(bad)).toBeUndefined();
    }
    expect(() => encodeDmlsIdentity('', 'D')).toThrow();
  });

  it('publishes the credential as m.dmls.v1.credential.ed25519:<device> = unpadded base64 of the key', async () => {
    const store = new MemoryRecordStore();
    const a = await DmlsAccount.open(store, { userId: '@a:b.c', deviceId: 'DEV', authenticate: () => true });
    const upload = a.credentialForUpload();
    expect(Object.keys(upload)).toEqual([credentialKeyId('DEV')]);
    expect(credentialKeyId('DEV')).toBe('m.dmls.v1.credential.ed25519:DEV');
    const value = upload['m.dmls.v1.credential.ed25519:DEV']!;
    expect(value).not.toMatch(/=/);
    expect(parseCredentialValue(value)).toEqual(a.signatureKey);
    // The key persists: reopened from the committed records, the same credential.
    store.apply(a.takeChanges());
    const again = await DmlsAccount.open(store, { userId: '@a:b.c', deviceId: 'DEV', authenticate: () => true });
    expect(again.credentialForUpload()).toEqual(upload);
    expect(again.hasChanges).toBe(false);
    expect(() => parseCredentialValue('AAAA')).toThrow(/32-byte/);
  });

  it('accounts and groups print no secret', async () => {
    const store = new MemoryRecordStore();
    const a = await DmlsAccount.open(store, { userId: '@a:b.c', deviceId: 'DEV', authenticate: () => true });
    const changes = a.takeChanges();
    const record = changes.put.find((p) => p.key === 'dmls/identity')!.value as Uint8Array;
    const seed = Buffer.from(record.subarray(1, 33));
    const g = await a.createGroup(ROOM);
    for (const s of [String(a), inspect(a, { depth: 5 }), inspect(g, { depth: 5 }), JSON.stringify(g.epochs())]) {
      expect(s).not.toContain(seed.toString('base64').slice(0, 20));
      expect(s).not.toContain(seed.toString('hex').slice(0, 20));
    }
  });

  it('the signing key never prints', () => {
    const k = DmlsSigningKey.generate();
    const seed = Buffer.from(k.toRecord().subarray(1, 33)).toString('base64');
    for (const s of [String(k), JSON.stringify({ k }), inspect(k)]) {
      expect(s).toContain('redacted');
      expect(s).not.toContain(seed);
    }
  });
});

describe('DMLS key packages', () => {
  it('upload form: m.dmls.v1.key_package.<suite>:<id> = base64 MLSMessage(KeyPackage) with our credential', async () => {
    const dir = new Directory();
    const bob = await Peer.create('@bob:b.org', 'BOB', dir);
    const kps = await bob.step((a) => a.generateKeyPackages(3));
    const names = Object.keys(kps);
    expect(names).toHaveLength(3);
    for (const n of names)
      expect(n).toMatch(/^m\.dmls\.v1\.key_package\.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519:[\w-]{8}$/);
    const m = decodeMlsMessage(Uint8Array.from(Buffer.from(kps[names[0]!]!, 'base64')), 0)![0];
    expect(m.wireformat).toBe('mls_key_package');
    if (m.wireformat !== 'mls_key_package') return;
    const c = m.keyPackage.leafNode.credential;
    expect(c.credentialType === 'basic' && decodeDmlsIdentity(c.identity)).toEqual({
      userId: '@bob:b.org',
      deviceId: 'BOB',
    });
    expect(m.keyPackage.leafNode.signaturePublicKey).toEqual(bob.account.signatureKey);
    const suite3 = await bob.step((a) =>
      a.generateKeyPackages(1, 'MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519'),
    );
    expect(Object.keys(suite3)[0]).toMatch(/key_package\.MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519:/);
    const pending = await bob.account.keyPackagesForUpload();
    expect(Object.keys(pending.oneTime).sort()).toEqual([...names, ...Object.keys(suite3)].sort());
    await bob.step((a) => a.markKeyPackagesPublished());
    expect(await bob.account.keyPackagesForUpload()).toEqual({ oneTime: {}, fallback: {} });
  });

  it('a one-time key package is consumed by the join; the last-resort one is not', async () => {
    const dir = new Directory();
    const alice = await Peer.create('@alice:a.org', 'A', dir);
    const bob = await Peer.create('@bob:b.org', 'B', dir);
    await alice.step((a) => a.createGroup(ROOM));
    const oneTime = Object.values(await bob.step((a) => a.generateKeyPackages(1)))[0]!;
    const lastResort = await bob.step((a) => a.generateLastResortKeyPackage());
    expect((await bob.account.keyPackagesForUpload()).fallback).toEqual(lastResort);
    const recordsBefore = bob.store.keys().filter((k) => k.startsWith('dmls/key-package/'));
    expect(recordsBefore).toHaveLength(2);

    await alice.step(async (a) => (await a.group(ROOM))!.createCommit({ add: [oneTime] }));
    const { welcome } = await alice.step(async (a) => (await a.group(ROOM))!.confirmCommit(eventId()));
    await bob.step((a) => a.joinGroup({ sender: '@alice:a.org', content: welcome }));
    expect(bob.store.keys().filter((k) => k.startsWith('dmls/key-package/'))).toHaveLength(1);
    // The same welcome again: its key package is gone.
    await expect(bob.account.joinGroup({ sender: '@alice:a.org', content: welcome })).rejects.toMatchObject({
      code: 'DMLS_KEY_PACKAGE_UNKNOWN',
    });

    // The last-resort package joins a second room and stays.
    const room2 = '!second:example.org';
    await alice.step((a) => a.createGroup(room2));
    await alice.step(async (a) => (await a.group(room2))!.createCommit({ add: [Object.values(lastResort)[0]!] }));
    const { welcome: w2 } = await alice.step(async (a) => (await a.group(room2))!.confirmCommit(eventId()));
    await bob.step((a) => a.joinGroup({ sender: '@alice:a.org', content: w2 }));
    expect(bob.store.keys().filter((k) => k.startsWith('dmls/key-package/'))).toHaveLength(1);
    expect(await (await bob.group(room2)).epochAuthenticator()).toEqual(
      await (await alice.group(room2)).epochAuthenticator(),
    );
  });

  it('suite 3 (ChaCha20-Poly1305) groups work end to end', async () => {
    const dir = new Directory();
    const alice = await Peer.create('@alice:a.org', 'A', dir);
    const bob = await Peer.create('@bob:b.org', 'B', dir);
    const suite = 'MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519' as const;
    await alice.step((a) => a.createGroup(ROOM, { suite }));
    const kp = await bob.keyPackage(suite);
    await alice.step(async (a) => (await a.group(ROOM))!.createCommit({ add: [kp] }));
    const { welcome } = await alice.step(async (a) => (await a.group(ROOM))!.confirmCommit(eventId()));
    expect(welcome!.algorithm).toBe(`m.dmls.v1.welcome.${suite}`);
    await bob.step((a) => a.joinGroup({ sender: '@alice:a.org', content: welcome }));
    const m = await bob.step(async (a) => (await a.group(ROOM))!.encrypt('chacha'));
    expect(m.algorithm).toBe(`m.dmls.v1.${suite}`);
    const d = await alice.step(async (a) => (await a.group(ROOM))!.decrypt({ sender: '@bob:b.org', content: m }));
    expect(new TextDecoder().decode(d.plaintext)).toBe('chacha');
  });
});

describe('DMLS records contract', () => {
  it('an operation that fails leaves nothing pending; takeChanges hands over and forgets', async () => {
    const store = new MemoryRecordStore();
    const a = await DmlsAccount.open(store, { userId: '@a:b.c', deviceId: 'D', authenticate: () => true });
    const first = a.takeChanges();
    expect(first.put.map((p) => p.key)).toEqual(['dmls/identity']);
    expect(a.takeChanges()).toEqual({ put: [], remove: [] });
    store.apply(first);
    await expect(a.generateKeyPackages(0)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(a.joinGroup({ sender: '@x:y', content: { algorithm: 'nope' } })).rejects.toMatchObject({
      code: 'DMLS_INVALID',
    });
    expect(a.hasChanges).toBe(false);
    await a.createGroup(ROOM);
    await expect(a.createGroup(ROOM)).rejects.toMatchObject({ code: 'DMLS_INVALID' });
    const changes = a.takeChanges();
    expect(changes.remove).toEqual([]);
    expect(changes.put.every((p) => p.key.startsWith('dmls/room/'))).toBe(true);
  });

  it('reads see pending writes; a loader failure is a typed error', async () => {
    const store = new MemoryRecordStore();
    const pending = new PendingRecords(store);
    const tx = pending.transaction();
    tx.put('k', 'v');
    expect(await pending.get('k')).toBeUndefined();
    tx.commit();
    expect(await pending.get('k')).toBe('v');
    const broken = new PendingRecords({
      get: async () => {
        throw new Error('disk on fire');
      },
    });
    await expect(broken.get('x')).rejects.toMatchObject({ code: 'DMLS_RECORD_MISSING' });
    const odd = new PendingRecords({ get: async () => 42 as unknown as string });
    await expect(odd.get('x')).rejects.toMatchObject({ code: 'DMLS_RECORD_CORRUPT' });
  });
});
