/**
 * A FakeHomeserver with faults, after complement-crypto's misbehaving-homeserver tests: per-device
 * to-device queues (inherited) and one fault hook consulted on every call, and once more for every
 * to-device message a `/sendToDevice` call carries.
 *
 * What a hook's answer does, per kind of call (`FaultCall.endpoint`):
 * - every endpoint (`keys/upload`, `keys/query`, `keys/claim`, `sendToDevice`, `sync`, `send`):
 *   `fail-before` throws FaultInjected and changes nothing; `fail-after` applies the call, then throws
 *   (the client never sees the answer);
 * - `toDevice` (one message of a `/sendToDevice` call, as it is queued): `drop` loses it, `duplicate`
 *   queues it twice, `delay` holds it back until `releaseDelayed()`, `reorder` holds it back until the
 *   next message for the same device has been queued (so the two swap);
 * - `sync` (taking a device's queue): `reorder` shuffles the batch (seeded), `duplicate` delivers every
 *   event twice, `drop` loses the whole batch, `delay` delivers nothing this time (the events stay queued).
 *   `fail-after` on a sync keeps the events queued: Matrix servers delete to-device events only once the
 *   client acknowledges them with its next `since` token, so a lost /sync answer means redelivery.
 */
import type { EncryptedRoomEvent, ToDeviceMessage } from '../../src/device/index.js';
import {
  FakeHomeserver,
  type KeysClaimBody,
  type KeysClaimResponse,
  type KeysQueryBody,
  type KeysQueryResponse,
  type KeysUploadBody,
  type SendToDeviceBody,
  type ToDeviceEvent,
} from './fake-homeserver.js';

export type FaultAction = 'deliver' | 'drop' | 'duplicate' | 'reorder' | 'delay' | 'fail-before' | 'fail-after';

export type Endpoint = 'keys/upload' | 'keys/query' | 'keys/claim' | 'sendToDevice' | 'toDevice' | 'sync' | 'send';

export interface FaultCall {
  readonly endpoint: Endpoint;
  /** Calls so far on this server (all endpoints, per-message calls included), from 0. */
  readonly n: number;
  /** The calling user (for `toDevice`, the sender). */
  readonly user: string;
  /** The calling device, when the endpoint names one (keys/upload, sync). */
  readonly device?: string;
  /** For `toDevice`: the recipient and the event type. */
  readonly recipient?: { readonly userId: string; readonly deviceId: string };
  readonly eventType?: string;
}

export type FaultHook = (call: FaultCall) => FaultAction;

export class FaultInjected extends Error {
  readonly action: FaultAction;
  constructor(action: FaultAction, endpoint: Endpoint) {
    super(`injected fault: ${action} on ${endpoint}`);
    this.name = 'FaultInjected';
    this.action = action;
  }
}

/** A small seeded PRNG (mulberry32), so a shuffled run can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const key = (userId: string, deviceId: string): string => `${userId}|${deviceId}`;

export class FaultHomeserver extends FakeHomeserver {
  /** The fault hook; `undefined` delivers everything. */
  hook: FaultHook | undefined;
  readonly random: () => number;
  /** Every call the hook was asked about and its answer, for assertions and debugging. */
  readonly log: { call: FaultCall; action: FaultAction }[] = [];
  readonly #delayed: { sender: string; eventType: string; userId: string; deviceId: string; content: unknown }[] = [];
  readonly #reordered = new Map<string, { sender: string; eventType: string; content: unknown }[]>();
  readonly #timelines = new Map<string, EncryptedRoomEvent[]>();
  #calls = 0;

  constructor(options: { hook?: FaultHook; seed?: number } = {}) {
    super();
    this.hook = options.hook;
    this.random = seededRandom(options.seed ?? 1);
  }

  #ask(call: Omit<FaultCall, 'n'>): FaultAction {
    const full: FaultCall = { ...call, n: this.#calls++ };
    const action = this.hook?.(full) ?? 'deliver';
    this.log.push({ call: full, action });
    return action;
  }

  /** Runs `apply` under the hook's call-level answer (`fail-before`, `fail-after` or normal). */
  #guarded<T>(call: Omit<FaultCall, 'n'>, apply: () => T): T {
    const action = this.#ask(call);
    if (action === 'fail-before') throw new FaultInjected(action, call.endpoint);
    const result = apply();
    if (action === 'fail-after') throw new FaultInjected(action, call.endpoint);
    return result;
  }

  override uploadKeys(
    userId: string,
    deviceId: string,
    body: KeysUploadBody,
  ): { one_time_key_counts: Record<string, number> } {
    return this.#guarded({ endpoint: 'keys/upload', user: userId, device: deviceId }, () =>
      super.uploadKeys(userId, deviceId, body),
    );
  }

  override queryKeys(body: KeysQueryBody): KeysQueryResponse {
    return this.#guarded({ endpoint: 'keys/query', user: '' }, () => super.queryKeys(body));
  }

  override claimKeys(body: KeysClaimBody): KeysClaimResponse {
    return this.#guarded({ endpoint: 'keys/claim', user: '' }, () => super.claimKeys(body));
  }

  #queue(sender: string, eventType: string, userId: string, deviceId: string, content: unknown): void {
    const one = (c: unknown) =>
      super.sendToDevice(sender, eventType, {
        messages: { [userId]: { [deviceId]: c as Record<string, unknown> } },
      });
    one(content);
    // A message held back by `reorder` goes in right after the next one for its device.
    const held = this.#reordered.get(key(userId, deviceId));
    if (held !== undefined) {
      this.#reordered.delete(key(userId, deviceId));
      for (const h of held)
        super.sendToDevice(h.sender, h.eventType, {
          messages: { [userId]: { [deviceId]: h.content as Record<string, unknown> } },
        });
    }
  }

  override sendToDevice(sender: string, eventType: string, body: SendToDeviceBody): Record<string, never> {
    return this.#guarded({ endpoint: 'sendToDevice', user: sender, eventType }, () => {
      for (const [userId, devices] of Object.entries(body.messages)) {
        for (const [target, content] of Object.entries(devices)) {
          // `*` reaches every device of the user, each message faulted on its own.
          for (const deviceId of target === '*' ? this.deviceIds(userId) : [target]) {
            const action = this.#ask({
              endpoint: 'toDevice',
              user: sender,
              recipient: { userId, deviceId },
              eventType,
            });
            switch (action) {
              case 'deliver':
                this.#queue(sender, eventType, userId, deviceId, content);
                break;
              case 'drop':
                break;
              case 'duplicate':
                this.#queue(sender, eventType, userId, deviceId, content);
                this.#queue(sender, eventType, userId, deviceId, structuredClone(content));
                break;
              case 'delay':
                this.#delayed.push({ sender, eventType, userId, deviceId, content: structuredClone(content) });
                break;
              case 'reorder': {
                const list = this.#reordered.get(key(userId, deviceId)) ?? [];
                list.push({ sender, eventType, content: structuredClone(content) });
                this.#reordered.set(key(userId, deviceId), list);
                break;
              }
              default:
                throw new Error(`FaultHomeserver: ${action} is not a per-message fault`);
            }
          }
        }
      }
      return {};
    });
  }

  /** Queues every delayed message now (and any still held back by `reorder`). Returns how many. */
  releaseDelayed(): number {
    const delayed = this.#delayed.splice(0, this.#delayed.length);
    for (const d of delayed) this.#queue(d.sender, d.eventType, d.userId, d.deviceId, d.content);
    let count = delayed.length;
    for (const [id, held] of [...this.#reordered]) {
      this.#reordered.delete(id);
      const [userId, deviceId] = id.split('|') as [string, string];
      for (const h of held) this.#queue(h.sender, h.eventType, userId, deviceId, h.content);
      count += held.length;
    }
    return count;
  }

  /** Messages held back by `delay` or `reorder`. */
  get heldBack(): number {
    let count = this.#delayed.length;
    for (const held of this.#reordered.values()) count += held.length;
    return count;
  }

  /** One /sync's to-device events for a device, through the hook. */
  override takeToDevice(userId: string, deviceId: string): ToDeviceEvent[] {
    const action = this.#ask({ endpoint: 'sync', user: userId, device: deviceId });
    if (action === 'fail-before' || action === 'fail-after') throw new FaultInjected(action, 'sync');
    if (action === 'delay') return [];
    const events = super.takeToDevice(userId, deviceId);
    switch (action) {
      case 'drop':
        return [];
      case 'duplicate':
        return events.flatMap((e) => [e, structuredClone(e)]);
      case 'reorder':
        return shuffle(events, this.random);
      default:
        return events;
    }
  }

  /** Sends `ToDeviceMessage`s (what a Device's `shareRoomKey` returns) from `sender`, one call. */
  sendMessages(sender: string, messages: readonly ToDeviceMessage[]): void {
    if (messages.length === 0) return;
    const body: Record<string, Record<string, Record<string, unknown>>> = {};
    for (const m of messages) {
      body[m.recipient.userId] ??= {};
      body[m.recipient.userId]![m.recipient.deviceId] = { ...m.content } as unknown as Record<string, unknown>;
    }
    this.sendToDevice(sender, 'm.room.encrypted', { messages: body });
  }

  /** PUT /rooms/{roomId}/send: appends an `m.room.encrypted` event to the room's timeline. */
  sendRoomEvent(roomId: string, sender: string, content: Record<string, unknown>): EncryptedRoomEvent {
    return this.#guarded({ endpoint: 'send', user: sender }, () => {
      const timeline = this.#timelines.get(roomId) ?? [];
      const event: EncryptedRoomEvent = {
        type: 'm.room.encrypted',
        room_id: roomId,
        event_id: `$${timeline.length + 1}-${roomId.slice(1, 6)}`,
        sender,
        origin_server_ts: 1_760_000_000_000 + this.#calls,
        content: structuredClone(content),
      };
      timeline.push(event);
      this.#timelines.set(roomId, timeline);
      return structuredClone(event);
    });
  }

  timeline(roomId: string): EncryptedRoomEvent[] {
    return structuredClone(this.#timelines.get(roomId) ?? []);
  }
}
