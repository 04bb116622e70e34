import { describe, expect, it } from 'vitest';
import { StoreError } from '../../src/errors.js';
import { acquireLease, holdLease, LeaseRenewer } from '../../src/store/lease.js';
import { MemoryDatabase } from '../../src/store/memory.js';
import type { KeyStore } from '../../src/store/types.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The same store with its tryAcquireLease replaced (a Proxy, since the stores keep #private state). */
function withTryAcquire(store: KeyStore, replacement: KeyStore['tryAcquireLease']): KeyStore {
  return new Proxy(store, {
    get(target, property) {
      if (property === 'tryAcquireLease') return replacement;
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
const scope = '@lease:example.org|DEVICE';

describe('acquireLease', () => {
  it('takes a free lease at once', async () => {
    const store = new MemoryDatabase().open(scope);
    const token = await acquireLease(store, 'A');
    expect(token.holder).toBe('A');
    expect(token.expiresAt - Date.now()).toBeGreaterThan(300); // default 500 ms
  });

  it('waits, backing off, until the holder releases, and the generation goes up', async () => {
    const db = new MemoryDatabase();
    const a = db.open(scope);
    const b = db.open(scope);
    const first = await acquireLease(a, 'A', { durationMs: 60_000 });
    let tries = 0;
    const counting = withTryAcquire(b, (holder, durationMs) => {
      tries++;
      return b.tryAcquireLease(holder, durationMs);
    });
    const waiting = acquireLease(counting, 'B', { timeoutMs: 5000 });
    await sleep(300);
    await a.releaseLease(first);
    const started = Date.now();
    const second = await waiting;
    expect(second.generation).toBe(first.generation + 1);
    // 10, 20, 40, 80, 160 ms...: a handful of tries in 300 ms, not a busy loop; and a retry within ~320 ms.
    expect(tries).toBeGreaterThanOrEqual(3);
    expect(tries).toBeLessThan(12);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('gives up with STORE_LEASE_TIMEOUT', async () => {
    const db = new MemoryDatabase();
    await acquireLease(db.open(scope), 'A', { durationMs: 60_000 });
    const error = await acquireLease(db.open(scope), 'B', { timeoutMs: 100 }).catch((e) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect(error.code).toBe('STORE_LEASE_TIMEOUT');
  });

  it('stops when its signal aborts', async () => {
    const db = new MemoryDatabase();
    await acquireLease(db.open(scope), 'A', { durationMs: 60_000 });
    const controller = new AbortController();
    const waiting = acquireLease(db.open(scope), 'B', { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('stop')), 50);
    await expect(waiting).rejects.toThrow('stop');
  });

  it('refuses bad options with STORE_INVALID', async () => {
    const store = new MemoryDatabase().open(scope);
    for (const options of [{ durationMs: 0 }, { timeoutMs: -1 }, { initialBackoffMs: 0 }, { maxBackoffMs: 1.5 }]) {
      const error = await acquireLease(store, 'A', options).catch((e) => e);
      expect(error.code, JSON.stringify(options)).toBe('STORE_INVALID');
    }
    expect((await acquireLease(store, '').catch((e) => e)).code).toBe('STORE_INVALID');
  });
});

describe('LeaseRenewer', () => {
  it('keeps a 250 ms lease for longer than 250 ms, then releases it', async () => {
    const db = new MemoryDatabase();
    const renewer = await holdLease(db.open(scope), 'A', { durationMs: 250, intervalMs: 20 });
    const other = db.open(scope);
    for (let i = 0; i < 5; i++) {
      await sleep(60);
      expect(await other.tryAcquireLease('B', 100)).toBeUndefined();
    }
    await sleep(60); // 360 ms in all
    expect(renewer.lost).toBeUndefined();
    expect(renewer.token.expiresAt).toBeGreaterThan(Date.now());
    await renewer.release();
    expect(await other.tryAcquireLease('B', 100)).toBeDefined();
  });

  it('reports the loss when another holder took the lease', async () => {
    const db = new MemoryDatabase();
    const a = db.open(scope);
    const token = await acquireLease(a, 'A', { durationMs: 50 });
    const lost: StoreError[] = [];
    // A renewer too slow for its lease, as a stalled process would be.
    const renewer = new LeaseRenewer(a, token, { durationMs: 50, intervalMs: 200, onLost: (e) => lost.push(e) });
    await sleep(100);
    const taken = await db.open(scope).tryAcquireLease('B', 60_000);
    expect(taken?.generation).toBe(token.generation + 1);
    for (let i = 0; i < 100 && lost.length === 0; i++) await sleep(20);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.code).toBe('STORE_LEASE_LOST');
    expect(renewer.lost).toBe(lost[0]);
    await expect(a.commit({ values: [{ key: 'k', value: 'v' }] }, { fence: renewer.token })).rejects.toMatchObject({
      code: 'STORE_LEASE_LOST',
    });
    await renewer.release(); // must not release B's lease
    expect(await db.open(scope).tryAcquireLease('C', 100)).toBeUndefined();
  });

  it('a renewal that fails is retried and only a lapsed lease counts as lost', async () => {
    const db = new MemoryDatabase();
    const inner = db.open(scope);
    let failures = 2;
    const flaky = withTryAcquire(inner, (holder, durationMs) => {
      if (failures-- > 0) return Promise.reject(new StoreError('STORE_IO', 'flaky'));
      return inner.tryAcquireLease(holder, durationMs);
    });
    const token = await acquireLease(inner, 'A', { durationMs: 1000 });
    const renewer = new LeaseRenewer(flaky, token, { durationMs: 1000, intervalMs: 10 });
    await sleep(100);
    expect(renewer.lost).toBeUndefined();
    expect(renewer.token.expiresAt).toBeGreaterThan(token.expiresAt);
    await renewer.release();
  });
});
