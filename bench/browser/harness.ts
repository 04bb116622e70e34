/**
 * The in-page half of the browser benchmark: the Node harness's interleaved rounds (bench/harness.ts),
 * without Benchmark.js. Both sides are warmed up, then measured in alternating rounds (ABBA order) so
 * that both see the same host noise; times are the medians of the rounds and the ratio is the median
 * of the per-round ratios triturus / reference.
 *
 * A synchronous round runs the iteration in a tight loop for a fixed time (the mean per call); an
 * async round is one 50 ms batch of awaited calls, as in the Node harness.
 */

export interface Settings {
  /** Rounds per side for synchronous cases. */
  readonly syncRounds: number;
  /** Milliseconds per synchronous round. */
  readonly syncRoundMs: number;
  /** Rounds per side for async cases (each one 50 ms batch). */
  readonly asyncRounds: number;
  /** Untimed warm-up per side, in milliseconds. */
  readonly warmUpMs: number;
}

export const FULL: Settings = { syncRounds: 8, syncRoundMs: 250, asyncRounds: 40, warmUpMs: 500 };
export const QUICK: Settings = { syncRounds: 3, syncRoundMs: 100, asyncRounds: 6, warmUpMs: 150 };

export type Iteration = () => unknown;

export interface Measured {
  /** triturus, µs per call (median of the rounds). */
  readonly mine: number;
  /** The reference, µs per call (median of the rounds). */
  readonly theirs: number;
  /** Median of the per-round ratios mine / theirs. */
  readonly ratio: number;
  readonly rounds: number;
}

const BATCH_MS = 50;

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A full collection before a case (Chromium runs with --js-flags=--expose-gc), as the Node harness does. */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** One synchronous round: calls in a tight loop (the clock read every 8 calls), µs per call. */
function syncRound(fn: Iteration, ms: number): number {
  const start = performance.now();
  let n = 0;
  let now = start;
  do {
    for (let i = 0; i < 8; i++) fn();
    n += 8;
    now = performance.now();
  } while (now - start < ms);
  return ((now - start) / n) * 1000;
}

/** One 50 ms batch of awaited calls: the mean time per call, in µs. */
async function asyncRound(fn: Iteration): Promise<number> {
  const start = performance.now();
  let n = 0;
  do {
    await fn();
    n++;
  } while (performance.now() - start < BATCH_MS);
  return ((performance.now() - start) / n) * 1000;
}

async function warmUp(fn: Iteration, isAsync: boolean, ms: number): Promise<void> {
  const until = performance.now() + ms;
  let n = 0;
  while (n < 20 || performance.now() < until) {
    const result = fn();
    if (isAsync) await result;
    n++;
  }
}

/** triturus against its reference, interleaved round by round in one page. */
export async function compare(mine: Iteration, theirs: Iteration, isAsync: boolean, s: Settings): Promise<Measured> {
  collectGarbage();
  await warmUp(mine, isAsync, s.warmUpMs);
  await warmUp(theirs, isAsync, s.warmUpMs);
  const round = (fn: Iteration) => (isAsync ? asyncRound(fn) : Promise.resolve(syncRound(fn, s.syncRoundMs)));
  const rounds = isAsync ? s.asyncRounds : s.syncRounds;
  const mineRounds: number[] = [];
  const theirRounds: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let a: number;
    let b: number;
    if (r % 2 === 0) {
      a = await round(mine);
      b = await round(theirs);
    } else {
      b = await round(theirs);
      a = await round(mine);
    }
    mineRounds.push(a);
    theirRounds.push(b);
    ratios.push(a / b);
  }
  return { mine: median(mineRounds), theirs: median(theirRounds), ratio: median(ratios), rounds };
}

/** Runs an iteration for `ms` milliseconds (for the profiler), awaiting each call when async. */
export async function spin(fn: Iteration, isAsync: boolean, ms: number): Promise<number> {
  const until = performance.now() + ms;
  let n = 0;
  while (performance.now() < until) {
    const result = fn();
    if (isAsync) await result;
    n++;
  }
  return n;
}
