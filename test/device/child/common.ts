/**
 * Runner-agnostic pieces of the Device tests, shared by the vitest files, the child processes and the
 * browser page (so: no Node or vitest imports here). A strict in-memory homeserver for the key and
 * to-device endpoints, the wire form of a DeviceInfo, event builders and a tiny assertion kit.
 */
import {
  Device,
  type DeviceInfo,
  type EncryptedRoomEvent,
  type EncryptedToDeviceEvent,
} from '../../../src/device/index.js';
import { TriturusError } from '../../../src/errors.js';
import { Curve25519PublicKey, Ed25519PublicKey } from '../../../src/keys.js';

// ---------------------------------------------------------------------------------------------
// Assertions that work in a browser page as well as under vitest

export class CheckFailure extends Error {
  override name = 'CheckFailure';
}

export function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new CheckFailure(message);
}

export function checkEqual(actual: unknown, expected: unknown, message: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new CheckFailure(`${message}: expected ${e}, got ${a}`);
}

/** Awaits `promise`, which must fail with a TriturusError whose code is one of `codes`; returns the code. */
export async function checkRefused(
  promise: Promise<unknown>,
  codes: readonly string[],
  message: string,
): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (!(error instanceof TriturusError)) {
      throw new CheckFailure(`${message}: expected a TriturusError (${codes.join('|')}), got ${String(error)}`);
    }
    if (!codes.includes(error.code)) {
      throw new CheckFailure(`${message}: expected ${codes.join('|')}, got ${error.code} (${error.message})`);
    }
    return error.code;
  }
  throw new CheckFailure(`${message}: expected ${codes.join('|')}, but it succeeded`);
}

// ---------------------------------------------------------------------------------------------
// Wire forms (children and the page exchange plain JSON)

export interface WireDevice {
  readonly userId: string;
  readonly deviceId: string;
  readonly curve25519: string;
  readonly ed25519: string;
}

export function toWire(d: DeviceInfo): WireDevice {
  return {
    userId: d.userId,
    deviceId: d.deviceId,
    curve25519: d.curve25519Key.toBase64(),
    ed25519: d.ed25519Key.toBase64(),
  };
}

export function fromWire(d: WireDevice): DeviceInfo {
  return {
    userId: d.userId,
    deviceId: d.deviceId,
    curve25519Key: Curve25519PublicKey.fromBase64(d.curve25519),
    ed25519Key: Ed25519PublicKey.fromBase64(d.ed25519),
  };
}

/** A device's public identity, from its own signed device keys (checked as /keys/query answers are). */
export async function deviceInfoOf(device: Device): Promise<DeviceInfo> {
  const keys = await device.identityKeys();
  return { userId: device.userId, deviceId: device.deviceId, curve25519Key: keys.curve25519, ed25519Key: keys.ed25519 };
}

export function toDeviceEvent(sender: string, content: unknown): EncryptedToDeviceEvent {
  return { type: 'm.room.encrypted', sender, content: content as Record<string, unknown> };
}

let events = 0;
export function roomEvent(roomId: string, sender: string, content: unknown, eventId?: string): EncryptedRoomEvent {
  events++;
  return {
    type: 'm.room.encrypted',
    room_id: roomId,
    event_id: eventId ?? `$ev${events}-${Math.random().toString(36).slice(2, 10)}`,
    sender,
    origin_server_ts: 1_760_000_000_000 + events,
    content: content as Record<string, unknown>,
  };
}

// ---------------------------------------------------------------------------------------------
// A strict fake homeserver (key endpoints only)

interface KeyEntry {
  readonly keyId: string;
  readonly object: Record<string, unknown>;
}

/**
 * /keys/upload, /keys/query and /keys/claim for Device tests. Strict the way Synapse is: uploading a
 * one-time key id again with a different key is refused (the test fails); the same key again is
 * accepted and counted in `identicalReuploads`. Claims hand out the oldest one-time key, then the
 * fallback key (which stays).
 */
export class FakeKeyServer {
  readonly #deviceKeys = new Map<string, Record<string, unknown>>();
  readonly #oneTimeKeys = new Map<string, KeyEntry[]>();
  readonly #fallback = new Map<string, KeyEntry>();
  /** Every one-time key id ever uploaded per device, with its key: ids are never reused. */
  readonly #everUploaded = new Map<string, Map<string, string>>();
  identicalReuploads = 0;

  static id(userId: string, deviceId: string): string {
    return `${userId}|${deviceId}`;
  }

  upload(userId: string, deviceId: string, body: Awaited<ReturnType<Device['keysForUpload']>>): number {
    const id = FakeKeyServer.id(userId, deviceId);
    if (body.device_keys !== undefined) this.#deviceKeys.set(id, body.device_keys as Record<string, unknown>);
    const ever = this.#everUploaded.get(id) ?? new Map<string, string>();
    this.#everUploaded.set(id, ever);
    const queue = this.#oneTimeKeys.get(id) ?? [];
    this.#oneTimeKeys.set(id, queue);
    for (const [keyId, object] of Object.entries(body.one_time_keys)) {
      const key = (object as { key?: unknown }).key;
      check(typeof key === 'string', `one-time key ${keyId} has no key`);
      const before = ever.get(keyId);
      if (before !== undefined) {
        check(before === key, `one-time key id ${keyId} of ${id} uploaded again with a different key`);
        this.identicalReuploads++;
        continue;
      }
      ever.set(keyId, key);
      queue.push({ keyId, object: object as Record<string, unknown> });
    }
    for (const [keyId, object] of Object.entries(body.fallback_keys)) {
      this.#fallback.set(id, { keyId, object: object as Record<string, unknown> });
    }
    return queue.length;
  }

  /** /keys/query: every device's signed keys. */
  query(): Record<string, unknown>[] {
    return [...this.#deviceKeys.values()];
  }

  deviceKeys(userId: string, deviceId: string): Record<string, unknown> {
    const keys = this.#deviceKeys.get(FakeKeyServer.id(userId, deviceId));
    check(keys !== undefined, `no device keys for ${userId} ${deviceId}`);
    return keys;
  }

  count(userId: string, deviceId: string): number {
    return this.#oneTimeKeys.get(FakeKeyServer.id(userId, deviceId))?.length ?? 0;
  }

  everUploaded(userId: string, deviceId: string): ReadonlyMap<string, string> {
    return this.#everUploaded.get(FakeKeyServer.id(userId, deviceId)) ?? new Map();
  }

  /** /keys/claim for one device: `{ "signed_curve25519:ID": {...} }`. */
  claim(userId: string, deviceId: string): Record<string, unknown> {
    const id = FakeKeyServer.id(userId, deviceId);
    const next = this.#oneTimeKeys.get(id)?.shift() ?? this.#fallback.get(id);
    check(next !== undefined, `no one-time or fallback key left for ${id}`);
    return { [next.keyId]: next.object };
  }

  /** Claims a key for `device` and checks its signature, as a sender does. */
  claimFor(device: DeviceInfo): Curve25519PublicKey {
    return Device.oneTimeKeyFromClaim(device, this.claim(device.userId, device.deviceId));
  }
}

/** A deterministic PRNG (mulberry32), so a shuffled run can be replayed from its printed seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

export function randomPickleKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(32));
}
