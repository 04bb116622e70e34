/**
 * encryptRoomEvent's fast path: with everything cached and nothing to write, a message is encrypted
 * without awaiting and without the operation queue. These check what that path must keep from the
 * queued one: call order against queued operations, distinct indices under concurrent calls, and
 * no release of output when the lease may have lapsed while encrypting.
 */
import { describe, expect, it } from 'vitest';
import { Device, type RoomEncryptionResult } from '../../src/device/index.js';
import { InboundGroupSession, MegolmMessage, SessionKey } from '../../src/index.js';
import { MemoryDatabase } from '../../src/store/memory.js';
import { scopeOf } from '../support/device-client.js';

const ALICE = '@alice:example.org';
const ROOM = '!fast:example.org';

async function alice(extra: { leaseDurationMs?: number; now?: () => number } = {}) {
  const database = new MemoryDatabase();
  const device = await Device.create(database.open(scopeOf(ALICE, 'ALICEDEV')), {
    userId: ALICE,
    deviceId: 'ALICEDEV',
    pickleKey: crypto.getRandomValues(new Uint8Array(32)),
    ...extra,
  });
  return device;
}

const send = (device: Device, body: string) =>
  device.encryptRoomEvent(ROOM, 'm.room.message', { msgtype: 'm.text', body });

describe('encryptRoomEvent fast path', () => {
  it('concurrent calls get distinct, consecutive indices in call order', async () => {
    const device = await alice();
    const first = await send(device, 'first'); // slow path: creates the session, reserves a block
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => send(device, `m${i}`)));
    expect(results.map((r) => r.messageIndex)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(new Set(results.map((r) => r.sessionId))).toEqual(new Set([first.sessionId]));
    await device.close();
  });

  it('keeps call order with queued operations: a message asked for after rotateRoomKey uses the new session', async () => {
    const device = await alice();
    const before = await send(device, 'before');
    const a = send(device, 'a'); // fast path: old session
    const rotated = device.rotateRoomKey(ROOM); // queued operation, still running when the next call comes
    const b = send(device, 'b'); // must wait for the rotation
    const [ra, , rb] = await Promise.all([a, rotated, b]);
    expect(ra.sessionId).toBe(before.sessionId);
    expect(ra.messageIndex).toBe(1);
    expect(rb.sessionId).not.toBe(before.sessionId);
    expect(rb.messageIndex).toBe(0);
    expect(rb.newRoomKey).toBeDefined();
    await device.close();
  });

  it('withholds a message encrypted while the lease lapsed and encrypts it again on fresh state', async () => {
    let stallMs = 0;
    const now = () => {
      if (stallMs > 0) {
        const until = Date.now() + stallMs;
        stallMs = 0;
        while (Date.now() < until) {
          // Busy-wait: the whole process stalls inside the synchronous path, as under a long GC pause.
        }
      }
      return Date.now();
    };
    const device = await alice({ leaseDurationMs: 400, now });
    const r0 = await send(device, 'zero'); // reserves indices 0..255
    const r1 = await send(device, 'one'); // fast path
    expect(r1.messageIndex).toBe(1);
    stallMs = 500; // the next rotation check (inside the fast path, after the lease check) stalls past the lease
    const r2 = await send(device, 'two');
    // Index 2 was encrypted under a lease that may have lapsed: never released. The retry reloads the
    // session past its reserved block, as after any lost lease.
    expect(r2.sessionId).toBe(r0.sessionId);
    expect(r2.messageIndex).toBe(256);
    const plain = openWith(r0, r2);
    expect(plain).toContain('"two"');
    await device.close();
  });

  it('a failure inside the fast path (a throwing clock) rejects the promise, never throws, and changes nothing', async () => {
    let failClock = false;
    const clockError = new Error('clock unavailable');
    const now = () => {
      if (failClock) throw clockError;
      return Date.now();
    };
    const device = await alice({ now });
    const r0 = await send(device, 'zero');
    await send(device, 'one'); // fast path from here on
    failClock = true;
    let call: Promise<RoomEncryptionResult> | undefined;
    expect(() => {
      call = send(device, 'two');
    }).not.toThrow();
    await expect(call).rejects.toBe(clockError);
    failClock = false;
    // Nothing was released at index 2 and nothing was skipped: the next message takes it.
    const r2 = await send(device, 'two again');
    expect(r2.sessionId).toBe(r0.sessionId);
    expect(r2.messageIndex).toBe(2);
    await device.close();
  });
});

/** Decrypts `message` with the session key `first` shared (no Device needed on the receiving side). */
function openWith(first: RoomEncryptionResult, message: RoomEncryptionResult): string {
  const key = SessionKey.fromBase64(first.newRoomKey!.session_key);
  const inbound = InboundGroupSession.fromSessionKey(key);
  const { plaintext } = inbound.decrypt(MegolmMessage.fromBase64(message.content.ciphertext as string));
  return new TextDecoder().decode(plaintext);
}
