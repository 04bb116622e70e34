/**
 * The read-modify-write loop the concurrency tests run in two processes (SQLite, PostgreSQL) or two browser
 * tabs (IndexedDB) on one device: take the lease, read the counter, write counter + 1 and a marker in one
 * fenced commit, give the lease back. Every few rounds it stalls with its lease unrenewed so that the other
 * worker takes over; the fenced commit must then fail with STORE_LEASE_LOST and write nothing.
 * Runner-agnostic and Node-free, so the browser bundle can use it too.
 */
import { StoreError } from '../../src/errors.js';
import { holdLease } from '../../src/store/lease.js';
import type { KeyStore } from '../../src/store/types.js';

export interface CounterOptions {
  readonly holder: string;
  readonly iterations: number;
  /** Every `stallEvery`-th round stalls (0: never). */
  readonly stallEvery: number;
  readonly stallMs: number;
  readonly durationMs: number;
  readonly maxBackoffMs: number;
  /** Called after each round with `commit <i> <generation>` or `lost <i> <generation>`. */
  readonly report?: (line: string) => void;
}

export interface CounterResult {
  readonly holder: string;
  readonly committed: number[];
  readonly lost: number[];
}

export const COUNTER_KEY = 'counter';
export const markerKey = (holder: string, round: number): string => `inc:${holder}:${round}`;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function runCounter(store: KeyStore, options: CounterOptions): Promise<CounterResult> {
  const committed: number[] = [];
  const lost: number[] = [];
  for (let round = 0; round < options.iterations; round++) {
    const lease = await holdLease(store, options.holder, {
      durationMs: options.durationMs,
      maxBackoffMs: options.maxBackoffMs,
      timeoutMs: 60_000,
    });
    const generation = lease.token.generation;
    try {
      const current = Number((await store.loadValue(COUNTER_KEY)) ?? '0');
      if (options.stallEvery > 0 && round % options.stallEvery === options.stallEvery - 1) {
        await lease.stop(); // a stalled holder: its lease lapses and the other worker may take it
        await sleep(options.stallMs);
      }
      try {
        await store.commit(
          {
            values: [
              { key: COUNTER_KEY, value: String(current + 1) },
              { key: markerKey(options.holder, round), value: String(generation) },
            ],
          },
          { fence: lease.token },
        );
        committed.push(round);
        options.report?.(`commit ${round} ${generation}`);
      } catch (error) {
        if (!(error instanceof StoreError) || error.code !== 'STORE_LEASE_LOST') throw error;
        lost.push(round);
        options.report?.(`lost ${round} ${generation}`);
      }
    } finally {
      await lease.release();
    }
    await sleep(Math.floor(Math.random() * 5)); // let the other worker's retry land now and then
  }
  return { holder: options.holder, committed, lost };
}

/**
 * Checks the end state against what the workers reported: the counter equals the number of successful
 * commits (no lost update, no double apply), every successful round left its marker and no lost round did,
 * and no generation was committed under by two holders.
 */
export async function checkCounter(store: KeyStore, results: readonly CounterResult[]): Promise<string[]> {
  const problems: string[] = [];
  const total = results.reduce((n, r) => n + r.committed.length, 0);
  const counter = Number((await store.loadValue(COUNTER_KEY)) ?? '0');
  if (counter !== total) problems.push(`counter is ${counter} but ${total} commits succeeded`);
  const holderOfGeneration = new Map<string, string>();
  for (const r of results) {
    for (const round of r.committed) {
      const marker = await store.loadValue(markerKey(r.holder, round));
      if (marker === undefined) {
        problems.push(`${r.holder} round ${round} reported a commit but left no marker`);
        continue;
      }
      const other = holderOfGeneration.get(marker);
      if (other !== undefined && other !== r.holder)
        problems.push(`generation ${marker} committed by ${other} and ${r.holder}`);
      holderOfGeneration.set(marker, r.holder);
    }
    for (const round of r.lost) {
      if ((await store.loadValue(markerKey(r.holder, round))) !== undefined) {
        problems.push(`${r.holder} round ${round} lost its lease but its write landed`);
      }
    }
  }
  return problems;
}
