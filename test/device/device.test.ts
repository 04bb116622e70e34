/**
 * Device lifecycle (create/open/close on the memory store, wrong pickle key, wrong store, the lease) and
 * the keys it publishes (device keys, one-time and fallback keys in the /keys/upload forms, their
 * canonical-JSON signatures checked with node:crypto and an independent canonical-JSON writer; the
 * spec's signing vectors for src/device/signing.ts; key-count top-ups and fallback rotation).
 */
import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  Device,
  deviceInfoFromKeys,
  hasValidSignature,
  type JsonObject,
  signedPayload,
  signJson,
  verifySignedJson,
} from '../../src/device/index.js';
import { Ed25519PublicKey, Ed25519Signature, PickleError, StoreError, TriturusError } from '../../src/index.js';
import { MemoryDatabase, MemoryStore } from '../../src/store/memory.js';
import { codeOf, DeviceClient, scopeOf } from '../support/device-client.js';
import { FaultHomeserver } from '../support/fault-homeserver.js';
import { TriturusDevice } from '../support/triturus-device.js';

const USER = '@alice:example.org';
const DEVICE = 'ALICEDEVICE';
const SCOPE = scopeOf(USER, DEVICE);

const pickleKey = (): Uint8Array => new Uint8Array(randomBytes(32));

// ---------------------------------------------------------------------------------------------
// Independent references: canonical JSON (spec appendices) and Ed25519 through node:crypto.

function byCodePoint(a: string, b: string): number {
  const x = [...a].map((c) => c.codePointAt(0)!);
  const y = [...b].map((c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

/** Canonical JSON: keys sorted by code point, no insignificant whitespace, UTF-8 left unescaped. */
function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const object = value as Record<string, unknown>;
  return `{${Object.keys(object)
    .sort(byCodePoint)
    .map((k) => `${JSON.stringify(k)}:${canonical(object[k])}`)
    .join(',')}}`;
}

const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');

function nodeVerifies(message: string, signatureB64: string, publicKeyB64: string): boolean {
  const key = createPublicKey({
    key: Buffer.concat([SPKI_ED25519, Buffer.from(publicKeyB64, 'base64')]),
    format: 'der',
    type: 'spki',
  });
  return nodeVerify(null, Buffer.from(message, 'utf8'), key, Buffer.from(signatureB64, 'base64'));
}

/** Checks a Matrix signature the way the spec says, with the references above. */
function signatureVerifies(object: Record<string, unknown>, entity: string, keyId: string, publicKey: string): boolean {
  const {
    signatures,
    unsigned: _u,
    ...rest
  } = object as {
    signatures?: Record<string, Record<string, string>>;
    unsigned?: unknown;
  };
  const signature = signatures?.[entity]?.[keyId];
  if (signature === undefined) return false;
  return nodeVerifies(canonical(rest), signature, publicKey);
}

async function newStoreDevice(
  options: { database?: MemoryDatabase; key?: Uint8Array; extra?: Record<string, unknown> } = {},
) {
  const database = options.database ?? new MemoryDatabase();
  const key = options.key ?? pickleKey();
  const store = database.open(SCOPE);
  const device = await Device.create(store, { userId: USER, deviceId: DEVICE, pickleKey: key, ...options.extra });
  return { database, key, store, device };
}

describe('Device lifecycle', () => {
  it('create, then open on another handle of the same database: the same identity and device keys', async () => {
    const { database, key, device } = await newStoreDevice();
    const keys = await device.identityKeys();
    const deviceKeys = await device.deviceKeys();
    await device.close();
    const reopened = await Device.open(database.open(SCOPE), { userId: USER, deviceId: DEVICE, pickleKey: key });
    expect((await reopened.identityKeys()).curve25519.toBase64()).toBe(keys.curve25519.toBase64());
    expect((await reopened.identityKeys()).ed25519.toBase64()).toBe(keys.ed25519.toBase64());
    expect(await reopened.deviceKeys()).toEqual(deviceKeys);
    expect(reopened.userId).toBe(USER);
    expect(reopened.deviceId).toBe(DEVICE);
    await reopened.close();
  });

  it('two created devices have different identity keys', async () => {
    const a = await newStoreDevice();
    const b = await newStoreDevice();
    expect((await a.device.identityKeys()).curve25519.toBase64()).not.toBe(
      (await b.device.identityKeys()).curve25519.toBase64(),
    );
  });

  it('the caller may wipe its pickle key after create: the device keeps its own copy', async () => {
    const key = pickleKey();
    const copy = key.slice();
    const { database, device } = await newStoreDevice({ key });
    key.fill(0);
    await device.generateOneTimeKeys(1); // pickles the account again
    await device.close();
    const reopened = await Device.open(database.open(SCOPE), { userId: USER, deviceId: DEVICE, pickleKey: copy });
    expect(Object.keys((await reopened.keysForUpload()).one_time_keys)).toHaveLength(1);
    await reopened.close();
  });

  it('open with the wrong pickle key: PickleError PICKLE_BAD_KEY, the stored account untouched; the right key still opens', async () => {
    const { database, key, store, device } = await newStoreDevice();
    await device.generateOneTimeKeys(3);
    const identity = (await device.identityKeys()).ed25519.toBase64();
    await device.close();
    const before = await store.loadAccount();
    const wrong = key.slice();
    wrong[0]! ^= 1;
    let error: unknown;
    try {
      await Device.open(database.open(SCOPE), { userId: USER, deviceId: DEVICE, pickleKey: wrong });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PickleError);
    expect((error as PickleError).code).toBe('PICKLE_BAD_KEY');
    expect(await store.loadAccount()).toEqual(before);
    const reopened = await Device.open(database.open(SCOPE), { userId: USER, deviceId: DEVICE, pickleKey: key });
    expect((await reopened.identityKeys()).ed25519.toBase64()).toBe(identity);
    expect(Object.keys((await reopened.keysForUpload()).one_time_keys)).toHaveLength(3);
    await reopened.close();
  });

  it('a pickle key that is not 32 bytes is refused before the store is touched', async () => {
    const store = new MemoryStore(SCOPE);
    for (const bad of [new Uint8Array(31), new Uint8Array(33), 'k'.repeat(32)]) {
      expect(await codeOf(Device.create(store, { userId: USER, deviceId: DEVICE, pickleKey: bad as Uint8Array }))).toBe(
        'INVALID_ARGUMENT',
      );
    }
    expect(await store.loadAccount()).toBeUndefined();
  });

  it('create on a store that already holds a device: STORE_EXISTS, nothing overwritten', async () => {
    const { database, store } = await newStoreDevice({ extra: { leaseDurationMs: 1 } });
    const account = await store.loadAccount();
    let error: unknown;
    try {
      await Device.create(database.open(SCOPE), { userId: USER, deviceId: DEVICE, pickleKey: pickleKey() });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).code).toBe('STORE_EXISTS');
    expect(await store.loadAccount()).toEqual(account);
  });

  it('open on an empty store: STORE_NOT_FOUND', async () => {
    expect(
      await codeOf(Device.open(new MemoryStore(SCOPE), { userId: USER, deviceId: DEVICE, pickleKey: pickleKey() })),
    ).toBe('STORE_NOT_FOUND');
  });

  it('open a store that holds another user or device: refused, the store unchanged', async () => {
    const { database, key, store, device } = await newStoreDevice({ extra: { leaseDurationMs: 1 } });
    await device.close();
    const account = await store.loadAccount();
    for (const [userId, deviceId] of [
      ['@mallory:example.org', DEVICE],
      [USER, 'OTHERDEVICE'],
    ] as const) {
      let error: unknown;
      try {
        await Device.open(database.open(SCOPE), { userId, deviceId, pickleKey: key });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(TriturusError);
      expect((error as TriturusError).code).toBe('INVALID_ARGUMENT');
    }
    expect(await store.loadAccount()).toEqual(account);
    const reopened = await Device.open(database.open(SCOPE), { userId: USER, deviceId: DEVICE, pickleKey: key });
    await reopened.close();
  });

  it('close releases the lease: a second Device on the same database can operate at once', async () => {
    // A long lease, so only close() can free it during the test.
    const { database, key, device } = await newStoreDevice({ extra: { leaseDurationMs: 60_000 } });
    const options = { userId: USER, deviceId: DEVICE, pickleKey: key, leaseTimeoutMs: 0 };
    // While the first holds the lease, a second one that will not wait is refused.
    expect(await codeOf(Device.open(database.open(SCOPE), options))).toBe('STORE_LEASE_TIMEOUT');
    await device.close();
    const second = await Device.open(database.open(SCOPE), options);
    await second.generateOneTimeKeys(2);
    expect(Object.keys((await second.keysForUpload()).one_time_keys)).toHaveLength(2);
    await second.close();
  });

  it('a closed device refuses every operation with STORE_CLOSED', async () => {
    const { device } = await newStoreDevice();
    await device.close();
    expect(await codeOf(device.identityKeys())).toBe('STORE_CLOSED');
    expect(await codeOf(device.encryptRoomEvent('!r:example.org', 'm.room.message', {}))).toBe('STORE_CLOSED');
    expect(await codeOf(device.generateOneTimeKeys(1))).toBe('STORE_CLOSED');
  });

  it('prints no secrets', async () => {
    const { device } = await newStoreDevice();
    expect(String(device)).toBe(`Device(${USER} ${DEVICE})`);
    expect(JSON.parse(JSON.stringify(device))).toEqual({ type: 'Device', userId: USER, deviceId: DEVICE });
    await device.close();
  });
});

describe('signing (src/device/signing.ts) against the Matrix spec vectors', () => {
  // Matrix spec appendices, "Signing JSON" examples.
  const seed = Buffer.from('YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1', 'base64');
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: 'der', type: 'pkcs8' });
  const publicKeyB64 = createPublicKey(privateKey)
    .export({ format: 'der', type: 'spki' })
    .subarray(12)
    .toString('base64');
  const signer = {
    sign: (message: string) =>
      Ed25519Signature.fromBytes(new Uint8Array(nodeSign(null, Buffer.from(message), privateKey))),
  };
  const publicKey = Ed25519PublicKey.fromBase64(publicKeyB64.replace(/=+$/, ''));

  it('signs {} and {"one":1,"two":"Two"} to the spec signatures', () => {
    expect(seed).toHaveLength(32);
    const empty = signJson({}, 'domain', '1', signer);
    expect(empty).toEqual({
      signatures: {
        domain: {
          'ed25519:1': 'K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ',
        },
      },
    });
    const two = signJson({ two: 'Two', one: 1 }, 'domain', '1', signer);
    expect((two.signatures as Record<string, Record<string, string>>).domain!['ed25519:1']).toBe(
      'KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw',
    );
    expect(verifySignedJson(two, 'domain', '1', publicKey)).toBeUndefined();
  });

  it('signs without `signatures` and `unsigned`, puts `unsigned` back and keeps other signatures', () => {
    const object: JsonObject = {
      one: 1,
      two: 'Two',
      unsigned: { age_ts: 5 },
      signatures: { other: { 'ed25519:9': 'kept' } },
    };
    expect(signedPayload(object)).toBe('{"one":1,"two":"Two"}');
    const signed = signJson(object, 'domain', '1', signer);
    expect(signed.unsigned).toEqual({ age_ts: 5 });
    expect(signed.signatures).toEqual({
      other: { 'ed25519:9': 'kept' },
      domain: { 'ed25519:1': 'KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw' },
    });
    // The caller's object is not modified.
    expect(object.signatures).toEqual({ other: { 'ed25519:9': 'kept' } });
  });

  it('verification needs the exact entry; a changed field, entity or key id fails; unknown algorithms are ignored', () => {
    const signed = signJson({ one: 1, two: 'Two' }, 'domain', '1', signer);
    expect(hasValidSignature(signed, 'domain', '1', publicKey)).toBe(true);
    expect(hasValidSignature({ ...signed, unsigned: { anything: true } }, 'domain', '1', publicKey)).toBe(true);
    expect(hasValidSignature({ ...signed, one: 2 }, 'domain', '1', publicKey)).toBe(false);
    expect(hasValidSignature(signed, 'elsewhere', '1', publicKey)).toBe(false);
    expect(hasValidSignature(signed, 'domain', '2', publicKey)).toBe(false);
    const withUnknown = {
      ...signed,
      signatures: { domain: { ...(signed.signatures as { domain: object }).domain, 'curve25519:x': 'zz' } },
    };
    expect(hasValidSignature(withUnknown, 'domain', '1', publicKey)).toBe(true);
    let error: unknown;
    try {
      verifySignedJson({ one: 1 }, 'domain', '1', publicKey);
    } catch (e) {
      error = e;
    }
    expect((error as TriturusError).code).toBe('SIGNATURE_MISSING');
    const mangled = { ...signed, signatures: { domain: { 'ed25519:1': 'not base64!' } } };
    expect(hasValidSignature(mangled, 'domain', '1', publicKey)).toBe(false);
  });
});

describe('Device keys for /keys/upload', () => {
  it('deviceKeys() is the spec object, self-signed over canonical JSON (checked with node:crypto)', async () => {
    const { device } = await newStoreDevice();
    const keys = await device.identityKeys();
    const deviceKeys = await device.deviceKeys();
    const { signatures, ...body } = deviceKeys as { signatures: Record<string, Record<string, string>> };
    expect(body).toEqual({
      user_id: USER,
      device_id: DEVICE,
      algorithms: ['m.olm.v1.curve25519-aes-sha2', 'm.megolm.v1.aes-sha2'],
      keys: {
        [`curve25519:${DEVICE}`]: keys.curve25519.toBase64(),
        [`ed25519:${DEVICE}`]: keys.ed25519.toBase64(),
      },
    });
    expect(Object.keys(signatures)).toEqual([USER]);
    expect(Object.keys(signatures[USER]!)).toEqual([`ed25519:${DEVICE}`]);
    expect(signatureVerifies(deviceKeys, USER, `ed25519:${DEVICE}`, keys.ed25519.toBase64())).toBe(true);
    // The signature covers every field.
    expect(
      signatureVerifies({ ...deviceKeys, device_id: 'OTHER' }, USER, `ed25519:${DEVICE}`, keys.ed25519.toBase64()),
    ).toBe(false);
    // And the Device's own reader accepts it, the way other devices read it from /keys/query.
    const info = deviceInfoFromKeys(deviceKeys);
    expect(info?.curve25519Key.toBase64()).toBe(keys.curve25519.toBase64());
    expect(deviceInfoFromKeys({ ...deviceKeys, user_id: '@mallory:example.org' })).toBeUndefined();
    await device.close();
  });

  it('keysForUpload: signed one-time keys and a signed fallback key; the same ids until markKeysAsPublished', async () => {
    const { database, key, device } = await newStoreDevice();
    await device.generateOneTimeKeys(4);
    await device.generateFallbackKey();
    const ed25519 = (await device.identityKeys()).ed25519.toBase64();
    const body = await device.keysForUpload(true);
    expect(body.device_keys).toEqual(await device.deviceKeys());
    const ids = Object.keys(body.one_time_keys);
    expect(ids).toHaveLength(4);
    expect(new Set(ids).size).toBe(4);
    for (const id of ids) {
      expect(id).toMatch(/^signed_curve25519:[A-Za-z0-9+/]+$/);
      const signed = body.one_time_keys[id] as Record<string, unknown>;
      expect(Object.keys(signed).sort()).toEqual(['key', 'signatures']);
      expect(signatureVerifies(signed, USER, `ed25519:${DEVICE}`, ed25519)).toBe(true);
    }
    const fallbackIds = Object.keys(body.fallback_keys);
    expect(fallbackIds).toHaveLength(1);
    expect(fallbackIds[0]).toMatch(/^signed_curve25519:/);
    expect(ids).not.toContain(fallbackIds[0]);
    const fallback = body.fallback_keys[fallbackIds[0]!] as Record<string, unknown>;
    expect(fallback.fallback).toBe(true);
    expect(signatureVerifies(fallback, USER, `ed25519:${DEVICE}`, ed25519)).toBe(true);
    // The signature covers `fallback: true`.
    expect(signatureVerifies({ ...fallback, fallback: false }, USER, `ed25519:${DEVICE}`, ed25519)).toBe(false);

    // Asked again (an upload that failed), even after a restart: the same keys.
    const again = await device.keysForUpload();
    expect(again.one_time_keys).toEqual(body.one_time_keys);
    expect(again.fallback_keys).toEqual(body.fallback_keys);
    // The device keys too: they stay in the body until markKeysAsPublished; false leaves them out.
    expect(again.device_keys).toEqual(body.device_keys);
    expect((await device.keysForUpload(false)).device_keys).toBeUndefined();
    await device.close();
    const reopened = await Device.open(database.open(SCOPE), { userId: USER, deviceId: DEVICE, pickleKey: key });
    const afterRestart = await reopened.keysForUpload();
    expect(Object.keys(afterRestart.one_time_keys)).toEqual(ids);
    expect(afterRestart.fallback_keys).toEqual(body.fallback_keys);

    expect(afterRestart.device_keys).toEqual(body.device_keys);
    await reopened.markKeysAsPublished();
    expect(await reopened.keysForUpload()).toEqual({ one_time_keys: {}, fallback_keys: {} });
    expect((await reopened.keysForUpload(true)).device_keys).toEqual(body.device_keys);
    await reopened.close();
    // Published is persisted too.
    const third = await Device.open(database.open(SCOPE), { userId: USER, deviceId: DEVICE, pickleKey: key });
    expect(await third.keysForUpload()).toEqual({ one_time_keys: {}, fallback_keys: {} });
    await third.generateOneTimeKeys(1);
    const next = Object.keys((await third.keysForUpload()).one_time_keys);
    expect(next).toHaveLength(1);
    expect(ids).not.toContain(next[0]);
    await third.close();
  });

  it('updateKeyCounts tops one-time keys up to 50 only below half, counting unpublished ones', async () => {
    const { device } = await newStoreDevice();
    const unpublished = async () => Object.keys((await device.keysForUpload()).one_time_keys).length;
    expect(await device.updateKeyCounts(0)).toBe(true);
    expect(await unpublished()).toBe(50);
    await device.markKeysAsPublished();
    expect(await device.updateKeyCounts(25)).toBe(false); // exactly half: not below
    expect(await unpublished()).toBe(0);
    expect(await device.updateKeyCounts(50)).toBe(false);
    expect(await device.updateKeyCounts(24)).toBe(true);
    expect(await unpublished()).toBe(26);
    // Before those are uploaded, the same count again adds nothing.
    expect(await device.updateKeyCounts(24)).toBe(true);
    expect(await unpublished()).toBe(26);
    await device.markKeysAsPublished();
    await device.generateOneTimeKeys(5);
    expect(await device.updateKeyCounts(10)).toBe(true);
    expect(await unpublished()).toBe(40); // 50 - 10 on the server - 5 waiting = 35 more
    await device.close();
  });

  it('updateKeyCounts makes a new fallback key only when signed_curve25519 is missing from the unused list', async () => {
    const { device } = await newStoreDevice();
    const fallbackIds = async () => Object.keys((await device.keysForUpload()).fallback_keys);
    await device.updateKeyCounts(50, ['signed_curve25519']);
    expect(await fallbackIds()).toEqual([]);
    await device.updateKeyCounts(50); // no report: nothing to do
    expect(await fallbackIds()).toEqual([]);
    expect(await device.updateKeyCounts(50, [])).toBe(true);
    const first = await fallbackIds();
    expect(first).toHaveLength(1);
    // Reported used again before the new one was uploaded: no second rotation.
    await device.updateKeyCounts(50, []);
    expect(await fallbackIds()).toEqual(first);
    await device.markKeysAsPublished();
    await device.updateKeyCounts(50, ['signed_curve25519']);
    expect(await fallbackIds()).toEqual([]);
    await device.updateKeyCounts(50, ['some_other_algorithm']);
    const second = await fallbackIds();
    expect(second).toHaveLength(1);
    expect(second).not.toEqual(first);
    await device.close();
  });

  it('the previous fallback key keeps working after rotation (a claimed key may still be in use)', async () => {
    const server = new FaultHomeserver();
    const bob = await DeviceClient.create(server, '@bob:example.org', 'BOB');
    await bob.publish({ oneTimeKeys: 0, fallbackKey: true });
    const bobInfo = await bob.info();
    const claimed = bob.claim(bobInfo); // the fallback key: there are no one-time keys
    expect(server.unusedFallbackKeyTypes(bob.userId, bob.deviceId)).toEqual([]);
    const sender = new TriturusDevice('@carol:example.org', 'CAROL');
    const peer = {
      userId: bobInfo.userId,
      deviceId: bobInfo.deviceId,
      curve25519: bobInfo.curve25519Key,
      ed25519: bobInfo.ed25519Key,
    };
    sender.startSession(peer, claimed);
    const early = sender.toDeviceEvent(peer, 'org.example.test', { n: 1 });
    // Bob learns the fallback key was used, rotates it and uploads the new one.
    await bob.device.updateKeyCounts(0, server.unusedFallbackKeyTypes(bob.userId, bob.deviceId));
    server.uploadKeys(bob.userId, bob.deviceId, await bob.device.keysForUpload());
    await bob.device.markKeysAsPublished();
    expect(server.unusedFallbackKeyTypes(bob.userId, bob.deviceId)).toEqual(['signed_curve25519']);
    // The message made on the previous fallback key still opens, after a restart too.
    await bob.reopen();
    const decrypted = await bob.device.decryptToDevice(early);
    expect(decrypted.content).toEqual({ n: 1 });
    const late = sender.toDeviceEvent(peer, 'org.example.test', { n: 2 });
    expect((await bob.device.decryptToDevice(late)).content).toEqual({ n: 2 });
    sender.free();
    await bob.close();
  });
});
