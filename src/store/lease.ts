/**
 * Taking and keeping a device's lease (the matrix-rust-sdk scheme): a 500 ms lease, renewed every 50 ms,
 * taken with retries that back off from 10 ms doubling to 1 s. A holder that loses its lease (a renewal
 * refused, or the generation changed) must drop cached state and reload from the store before going on;
 * its fenced commits fail with STORE_LEASE_LOST in the meantime, so nothing stale is ever written.
 */
import { StoreError } from '../errors.js';
import { checkDuration, checkHolder, checkInteger } from './common.js';
import type { KeyStore, LeaseToken } from './types.js';

export interface AcquireLeaseOptions {
  /** Lease length. Default 500 ms. */
  readonly durationMs?: number;
  /** Give up (STORE_LEASE_TIMEOUT) after this long. Default 30000 ms. */
  readonly timeoutMs?: number;
  /** First wait after a refusal. Default 10 ms; each later wait doubles. */
  readonly initialBackoffMs?: number;
  /** Longest wait between two tries. Default 1000 ms. */
  readonly maxBackoffMs?: number;
  /** Stops waiting (the promise rejects with the signal's reason). */
  readonly signal?: AbortSignal;
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** Takes the device's lease for `holder`, waiting with exponential backoff while another holder has it. */
export async function acquireLease(
  store: KeyStore,
  holder: string,
  options: AcquireLeaseOptions = {},
): Promise<LeaseToken> {
  checkHolder(holder);
  const durationMs = checkDuration(options.durationMs ?? 500);
  const timeoutMs = checkInteger(options.timeoutMs ?? 30_000, 'timeoutMs', 0, Number.MAX_SAFE_INTEGER);
  let backoff = checkInteger(options.initialBackoffMs ?? 10, 'initialBackoffMs', 1, 60_000);
  const maxBackoff = checkInteger(options.maxBackoffMs ?? 1000, 'maxBackoffMs', 1, 600_000);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (options.signal?.aborted) throw options.signal.reason;
    const token = await store.tryAcquireLease(holder, durationMs);
    if (token !== undefined) return token;
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new StoreError('STORE_LEASE_TIMEOUT', `the device's lease stayed with another holder for ${timeoutMs} ms`, {
        expected: timeoutMs,
      });
    }
    await sleep(Math.min(backoff, left), options.signal);
    backoff = Math.min(backoff * 2, maxBackoff);
  }
}

export interface LeaseRenewerOptions {
  /** Lease length asked for on each renewal. Default 500 ms. */
  readonly durationMs?: number;
  /** Time between renewals. Default 50 ms. */
  readonly intervalMs?: number;
  /** Called once when the lease is lost; renewals stop then. */
  readonly onLost?: (error: StoreError) => void;
}

/** Keeps a lease alive in the background until stopped, released, or lost. */
export class LeaseRenewer {
  readonly #store: KeyStore;
  readonly #durationMs: number;
  readonly #intervalMs: number;
  readonly #onLost: ((error: StoreError) => void) | undefined;
  #token: LeaseToken;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  #lost: StoreError | undefined;

  constructor(store: KeyStore, token: LeaseToken, options: LeaseRenewerOptions = {}) {
    this.#store = store;
    this.#token = token;
    this.#durationMs = checkDuration(options.durationMs ?? 500);
    this.#intervalMs = checkInteger(options.intervalMs ?? 50, 'intervalMs', 1, 3_600_000);
    this.#onLost = options.onLost;
    this.#schedule();
  }

  /** The current token: pass it as the `fence` of every commit. */
  get token(): LeaseToken {
    return this.#token;
  }

  /** Why the lease was lost, or undefined while it is held. */
  get lost(): StoreError | undefined {
    return this.#lost;
  }

  #schedule(): void {
    if (this.#stopped) return;
    const timer = setTimeout(() => {
      this.#running = this.#renew();
    }, this.#intervalMs);
    // A renewer alone must not keep a Node process alive.
    (timer as { unref?: () => void }).unref?.();
    this.#timer = timer;
  }

  async #renew(): Promise<void> {
    let next: LeaseToken | undefined;
    try {
      next = await this.#store.tryAcquireLease(this.#token.holder, this.#durationMs);
    } catch (error) {
      // A failed renewal is not yet a lost lease: it is lost once it has lapsed.
      if (Date.now() > this.#token.expiresAt) {
        this.#markLost(
          new StoreError('STORE_LEASE_LOST', 'the lease lapsed while it could not be renewed', {}, { cause: error }),
        );
        return;
      }
      this.#schedule();
      return;
    }
    if (this.#stopped) return;
    if (next === undefined || next.generation !== this.#token.generation) {
      this.#markLost(
        new StoreError('STORE_LEASE_LOST', 'another holder took the lease', {
          expected: this.#token.generation,
          ...(next === undefined ? {} : { actual: next.generation }),
        }),
      );
      return;
    }
    this.#token = next;
    this.#schedule();
  }

  #markLost(error: StoreError): void {
    if (this.#stopped) return;
    this.#lost = error;
    this.#stopped = true;
    this.#onLost?.(error);
  }

  /** Stops renewing (the lease then lapses by itself). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** Stops renewing and gives the lease up at once. */
  async release(): Promise<void> {
    await this.stop();
    if (this.#lost === undefined) await this.#store.releaseLease(this.#token);
  }
}

export interface HoldLeaseOptions extends AcquireLeaseOptions {
  /** Time between renewals. Default 50 ms. */
  readonly intervalMs?: number;
  readonly onLost?: (error: StoreError) => void;
}

/** Takes the lease (waiting as `acquireLease` does) and keeps it renewed until released. */
export async function holdLease(
  store: KeyStore,
  holder: string,
  options: HoldLeaseOptions = {},
): Promise<LeaseRenewer> {
  const token = await acquireLease(store, holder, options);
  return new LeaseRenewer(store, token, {
    ...(options.durationMs === undefined ? {} : { durationMs: options.durationMs }),
    ...(options.intervalMs === undefined ? {} : { intervalMs: options.intervalMs }),
    ...(options.onLost === undefined ? {} : { onLost: options.onLost }),
  });
}
