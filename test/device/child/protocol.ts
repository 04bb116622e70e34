/** The IPC protocol between the Device tests and test/device/child/worker.ts (plain JSON both ways). */
import type { WireDevice } from './common.js';

/** Which commits a fault applies to: those whose batch holds this kind of change ('any': every commit). */
export type CommitKind = 'any' | 'account' | 'olm' | 'inbound' | 'outbound' | 'replay' | 'values';

export interface PauseFault {
  readonly kind: CommitKind;
  /** 1-based positions among the commits of that kind (counted from the open) at which to pause. */
  readonly nth: readonly number[];
}

export interface Faults {
  /** Stop right before the real commit, tell the test (`paused` event) and wait to be resumed (or killed). */
  readonly pauseBeforeCommit?: PauseFault;
  /** The same, right after the real commit returned (the batch is durable, the caller has not seen it). */
  readonly pauseAfterCommit?: PauseFault;
  /** Negative control only: drop the lease fence from every commit (a store that does not fence). */
  readonly stripFence?: boolean;
}

export interface OpenArgs {
  readonly backend: 'sqlite' | 'postgres';
  readonly target: string;
  readonly scope: string;
  readonly userId: string;
  readonly deviceId: string;
  /** base64 of the 32-byte pickle key. */
  readonly pickleKey: string;
  readonly options?: {
    readonly leaseDurationMs?: number;
    readonly leaseTimeoutMs?: number;
    readonly releaseLeaseAfterEachOperation?: boolean;
    readonly rotationPeriodMsgs?: number;
    readonly outboundIndexReservation?: number;
  };
  readonly faults?: Faults;
  /** Create the device (Device.create) instead of opening it. */
  readonly create?: boolean;
  /** Runs this worker's clock (Date.now) this many ms behind the real one, as on a host with a skewed clock. */
  readonly clockSkewMs?: number;
}

export interface EncryptManyArgs {
  readonly roomId: string;
  /** Stop after this many (omit: until `stopEncrypting` or a kill). */
  readonly count?: number;
  readonly label: string;
  /** Sleep a random 0..pauseMs between two encryptions. */
  readonly pauseMs?: number;
  /** After the encryption with this sequence number, stay idle for idleMs (the lease lapses). */
  readonly idleAt?: number;
  readonly idleMs?: number;
}

/** Where an outbound session stood in a batch: its next index and the reservation stored with it. */
export interface OutboundState {
  readonly sessionId: string;
  readonly nextIndex: number;
  readonly reservedUntil: number;
}

export interface EncryptedEvent {
  readonly event: 'encrypted';
  readonly label: string;
  readonly seq: number;
  readonly roomId: string;
  readonly sessionId: string;
  readonly messageIndex: number;
  readonly content: Record<string, unknown>;
  readonly newRoomKey: boolean;
  /** Whether the operation committed (a new reservation or session) or ran on its reservation alone. */
  readonly committed: boolean;
}

export interface PausedEvent {
  readonly event: 'paused';
  readonly pause: number;
  readonly when: 'before' | 'after';
  readonly kinds: CommitKind[];
  readonly outbound: OutboundState[];
}

export interface LeaseLostEvent {
  readonly event: 'lease-lost';
  /** The outbound states the refused commit would have written: indices a stale attempt used. */
  readonly outbound: OutboundState[];
}

export type ChildEvent =
  | { readonly event: 'ready' }
  | EncryptedEvent
  | PausedEvent
  | LeaseLostEvent
  /** A clock stall (armClockStall) just ended. */
  | { readonly event: 'clock-stalled' };

export interface WorkerStats {
  readonly commits: number;
  readonly leaseLost: number;
  readonly stale: OutboundState[];
  readonly clockStalls: number;
}

export type Request =
  | { readonly id: number; readonly cmd: string; readonly args?: unknown }
  | { readonly resume: number };

export type Response =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly error: { name: string; code?: string; message: string } }
  | ChildEvent;

export type { WireDevice };
