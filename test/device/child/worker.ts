/**
 * A Device in a child process, driven over IPC by the concurrency and crash tests (see protocol.ts).
 * It opens a SQLite or PostgreSQL store through a wrapper that can pause right before or right after a
 * real commit (so a test can SIGKILL it at an exact point) and that reports commits refused with
 * STORE_LEASE_LOST together with the outbound Megolm indices the refused batch held. `armClockStall`
 * makes the Device's next clock read busy-wait, which stalls an operation after it took the lease.
 */
import { Device, type EncryptedRoomEvent, type EncryptedToDeviceEvent } from '../../../src/device/index.js';
import { OUTBOUND_GROUP_SCHEMA, type OutboundMeta, openSessionRecord } from '../../../src/device/records.js';
import { OUTBOUND_BODY } from '../../../src/device/room-keys-out.js';
import { StoreError, TriturusError } from '../../../src/errors.js';
import { Curve25519PublicKey } from '../../../src/keys.js';
import type { GroupSession } from '../../../src/megolm/index.js';
import type {
  CommitOptions,
  InboundGroupSessionEntry,
  KeyStore,
  LeaseToken,
  MlsGroupEntry,
  OlmSessionEntry,
  OutboundGroupSessionEntry,
  ReplayEntry,
  StoreChanges,
  StoredRecord,
} from '../../../src/store/types.js';
import { openStore } from '../../store/child/open-store.js';
import { fromWire, type WireDevice } from './common.js';
import type {
  ChildEvent,
  CommitKind,
  EncryptManyArgs,
  Faults,
  OpenArgs,
  OutboundState,
  PauseFault,
  Request,
  Response,
  WorkerStats,
} from './protocol.js';

const send = (message: Response): void => {
  process.send?.(message);
};
const emit = (event: ChildEvent): void => send(event);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function kindsOf(changes: StoreChanges): CommitKind[] {
  const kinds: CommitKind[] = ['any'];
  if (changes.account !== undefined) kinds.push('account');
  if ((changes.olmSessions?.length ?? 0) > 0) kinds.push('olm');
  if ((changes.inboundGroupSessions?.length ?? 0) > 0) kinds.push('inbound');
  if ((changes.outboundGroupSessions?.length ?? 0) > 0) kinds.push('outbound');
  if ((changes.replays?.length ?? 0) > 0) kinds.push('replay');
  if ((changes.values?.length ?? 0) > 0) kinds.push('values');
  return kinds;
}

const resumers = new Map<number, () => void>();
let pauses = 0;

/** The KeyStore the Device gets: the real one, with pause points and a record of refused commits. */
class FaultyStore implements KeyStore {
  readonly #inner: KeyStore;
  readonly #faults: Faults;
  readonly #pickleKey: Uint8Array;
  readonly #seen = new Map<string, number>();
  commits = 0;
  leaseLost = 0;
  readonly stale: OutboundState[] = [];

  constructor(inner: KeyStore, faults: Faults, pickleKey: Uint8Array) {
    this.#inner = inner;
    this.#faults = faults;
    this.#pickleKey = pickleKey;
  }

  get backend(): string {
    return this.#inner.backend;
  }
  get scope(): string {
    return this.#inner.scope;
  }

  loadAccount(): Promise<StoredRecord | undefined> {
    return this.#inner.loadAccount();
  }
  loadOlmSessions(senderKey: string): Promise<OlmSessionEntry[]> {
    return this.#inner.loadOlmSessions(senderKey);
  }
  loadInboundGroupSession(roomId: string, sessionId: string): Promise<InboundGroupSessionEntry | undefined> {
    return this.#inner.loadInboundGroupSession(roomId, sessionId);
  }
  listInboundGroupSessions(roomId?: string): Promise<InboundGroupSessionEntry[]> {
    return this.#inner.listInboundGroupSessions(roomId);
  }
  loadOutboundGroupSession(roomId: string): Promise<OutboundGroupSessionEntry | undefined> {
    return this.#inner.loadOutboundGroupSession(roomId);
  }
  loadReplay(sessionId: string, messageIndex: number): Promise<ReplayEntry | undefined> {
    return this.#inner.loadReplay(sessionId, messageIndex);
  }
  loadMlsGroup(groupId: string): Promise<MlsGroupEntry | undefined> {
    return this.#inner.loadMlsGroup(groupId);
  }
  loadValue(key: string): Promise<string | undefined> {
    return this.#inner.loadValue(key);
  }
  tryAcquireLease(holder: string, durationMs: number): Promise<LeaseToken | undefined> {
    return this.#inner.tryAcquireLease(holder, durationMs);
  }
  releaseLease(token: LeaseToken): Promise<void> {
    return this.#inner.releaseLease(token);
  }
  schemaVersion(): Promise<number> {
    return this.#inner.schemaVersion();
  }
  close(): Promise<void> {
    return this.#inner.close();
  }

  #outbound(changes: StoreChanges): OutboundState[] {
    return (changes.outboundGroupSessions ?? []).map((entry) => {
      const { meta, session } = openSessionRecord<OutboundMeta, GroupSession>(
        entry.record,
        OUTBOUND_GROUP_SCHEMA,
        this.#pickleKey,
        OUTBOUND_BODY,
      );
      return { sessionId: session.sessionId, nextIndex: session.messageIndex, reservedUntil: meta.reservedUntil };
    });
  }

  #counts(kinds: readonly CommitKind[]): Map<CommitKind, number> {
    const counts = new Map<CommitKind, number>();
    for (const kind of kinds) {
      const n = (this.#seen.get(kind) ?? 0) + 1;
      this.#seen.set(kind, n);
      counts.set(kind, n);
    }
    return counts;
  }

  async #pause(
    fault: PauseFault | undefined,
    counts: Map<CommitKind, number>,
    when: 'before' | 'after',
    changes: StoreChanges,
  ) {
    if (fault === undefined) return;
    const n = counts.get(fault.kind);
    if (n === undefined || !fault.nth.includes(n)) return;
    const pause = ++pauses;
    const resumed = new Promise<void>((resolve) => resumers.set(pause, resolve));
    emit({ event: 'paused', pause, when, kinds: [...counts.keys()], outbound: this.#outbound(changes) });
    await resumed;
  }

  async commit(changes: StoreChanges, options?: CommitOptions): Promise<void> {
    const counts = this.#counts(kindsOf(changes));
    this.commits++;
    await this.#pause(this.#faults.pauseBeforeCommit, counts, 'before', changes);
    try {
      await this.#inner.commit(changes, this.#faults.stripFence === true ? {} : options);
    } catch (error) {
      if (error instanceof StoreError && error.code === 'STORE_LEASE_LOST') {
        this.leaseLost++;
        const outbound = this.#outbound(changes);
        this.stale.push(...outbound);
        emit({ event: 'lease-lost', outbound });
      }
      throw error;
    }
    await this.#pause(this.#faults.pauseAfterCommit, counts, 'after', changes);
  }
}

let store: FaultyStore | undefined;
let device: Device | undefined;
let stallNextClockMs = 0;
let clockStalls = 0;
let stopEncrypting = false;

function clock(): number {
  if (stallNextClockMs > 0) {
    const until = Date.now() + stallNextClockMs;
    stallNextClockMs = 0;
    clockStalls++;
    while (Date.now() < until) {
      // Busy-wait on purpose: the whole process stalls, as under a long GC pause or a descheduled VM.
    }
    emit({ event: 'clock-stalled' });
  }
  return Date.now();
}

function current(): Device {
  if (device === undefined) throw new Error('no device is open');
  return device;
}

const handlers: Record<string, (args: never) => Promise<unknown>> = {
  async open(args: OpenArgs) {
    if (args.clockSkewMs !== undefined) {
      const realNow = Date.now.bind(Date);
      const skew = args.clockSkewMs;
      Date.now = () => realNow() - skew;
    }
    const pickleKey = new Uint8Array(Buffer.from(args.pickleKey, 'base64'));
    const opened = new FaultyStore(
      await openStore(args.backend, args.target, args.scope),
      args.faults ?? {},
      pickleKey,
    );
    const options = { userId: args.userId, deviceId: args.deviceId, pickleKey, now: clock, ...args.options };
    try {
      device = await (args.create === true ? Device.create(opened, options) : Device.open(opened, options));
    } catch (error) {
      await opened.close();
      throw error;
    }
    store = opened;
    return null;
  },

  async close() {
    await device?.close();
    await store?.close();
    device = undefined;
    store = undefined;
    return null;
  },

  async decryptToDevice(event: EncryptedToDeviceEvent) {
    const d = await current().decryptToDevice(event);
    return {
      type: d.type,
      content: d.content,
      sender: d.sender,
      senderKey: d.senderKey.toBase64(),
      roomKey: d.roomKey,
    };
  },

  async decryptRoomEvent(event: EncryptedRoomEvent) {
    const d = await current().decryptRoomEvent(event);
    return {
      type: d.event.type,
      content: d.event.content,
      sessionId: d.sessionId,
      messageIndex: d.messageIndex,
      verified: d.verified,
    };
  },

  async encryptToDevice(args: {
    recipient: WireDevice;
    type: string;
    content: Record<string, unknown>;
    oneTimeKey?: string;
  }) {
    return current().encryptToDevice(
      fromWire(args.recipient),
      args.type,
      args.content,
      args.oneTimeKey === undefined ? {} : { oneTimeKey: Curve25519PublicKey.fromBase64(args.oneTimeKey) },
    );
  },

  async encryptMany(args: EncryptManyArgs) {
    const d = current();
    const count = args.count ?? Number.POSITIVE_INFINITY;
    stopEncrypting = false;
    let seq = 0;
    for (; seq < count && !stopEncrypting; seq++) {
      const body = `${args.label}-${seq}`;
      const commits = store?.commits;
      const r = await d.encryptRoomEvent(args.roomId, 'm.room.message', { msgtype: 'm.text', body });
      emit({
        event: 'encrypted',
        label: args.label,
        seq,
        roomId: args.roomId,
        sessionId: r.sessionId,
        messageIndex: r.messageIndex,
        content: r.content as unknown as Record<string, unknown>,
        newRoomKey: r.newRoomKey !== undefined,
        committed: store?.commits !== commits,
      });
      if (args.idleAt === seq) await sleep(args.idleMs ?? 0);
      else if ((args.pauseMs ?? 0) > 0) await sleep(Math.floor(Math.random() * (args.pauseMs ?? 0)));
    }
    return seq;
  },

  async encryptRoomEvent(args: { roomId: string; body: string }) {
    const r = await current().encryptRoomEvent(args.roomId, 'm.room.message', { msgtype: 'm.text', body: args.body });
    return {
      sessionId: r.sessionId,
      messageIndex: r.messageIndex,
      content: r.content,
      newRoomKey: r.newRoomKey !== undefined,
    };
  },

  async rotateRoomKey(args: { roomId: string }) {
    await current().rotateRoomKey(args.roomId);
    return null;
  },

  async stopEncrypting() {
    stopEncrypting = true;
    return null;
  },

  async updateKeyCounts(args: { count: number }) {
    return current().updateKeyCounts(args.count);
  },

  async keysForUpload(args: { includeDeviceKeys?: boolean }) {
    return current().keysForUpload(args.includeDeviceKeys ?? false);
  },

  async markKeysAsPublished() {
    await current().markKeysAsPublished();
    return null;
  },

  async generateOneTimeKeys(args: { count: number }) {
    await current().generateOneTimeKeys(args.count);
    return null;
  },

  async identityKeys() {
    const keys = await current().identityKeys();
    return { curve25519: keys.curve25519.toBase64(), ed25519: keys.ed25519.toBase64() };
  },

  async armClockStall(args: { ms: number }) {
    stallNextClockMs = args.ms;
    return null;
  },

  async stats(): Promise<WorkerStats> {
    return {
      commits: store?.commits ?? 0,
      leaseLost: store?.leaseLost ?? 0,
      stale: store?.stale ?? [],
      clockStalls,
    };
  },
};

process.on('message', (message: Request) => {
  if ('resume' in message) {
    resumers.get(message.resume)?.();
    resumers.delete(message.resume);
    return;
  }
  const handler = handlers[message.cmd];
  if (handler === undefined) {
    send({ id: message.id, ok: false, error: { name: 'Error', message: `unknown command ${message.cmd}` } });
    return;
  }
  handler(message.args as never).then(
    (value) => send({ id: message.id, ok: true, value: value ?? null }),
    (error: unknown) =>
      send({
        id: message.id,
        ok: false,
        error:
          error instanceof TriturusError
            ? { name: error.name, code: error.code, message: error.message }
            : { name: (error as Error)?.name ?? 'Error', message: String((error as Error)?.stack ?? error) },
      }),
  );
});
// The test runner went away: do not linger.
process.on('disconnect', () => process.exit(0));
emit({ event: 'ready' });
