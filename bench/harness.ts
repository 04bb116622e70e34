/**
 * Side-by-side benchmarks: each case runs for triturus on the node:crypto backend, triturus on
 * the noble backend, and libolm (WASM) in the same process, with the `benchmark` package.
 * Ratios are triturus / reference (below 1.0 means triturus is faster).
 */
import Benchmark from 'benchmark';
import { cryptoBackend, setCryptoBackend } from '../src/crypto/index.js';
import { nobleBackend } from '../src/crypto/noble.js';
import { nodeBackend } from '../src/crypto/node.js';

export interface CaseResult {
  readonly name: string;
  readonly nodeMicros: number;
  readonly nobleMicros: number | undefined;
  readonly referenceMicros: number;
  /** triturus(node) / reference: the median of the interleaved rounds' ratios. */
  readonly ratio: number;
  readonly target: number | undefined;
}

export interface Case {
  readonly name: string;
  /** Largest acceptable ratio triturus(node) / reference; undefined for cases measured for information only. */
  readonly target: number | undefined;
  /** Builds a fresh fixture for triturus under the active backend and returns one iteration. */
  readonly triturus: () => (() => unknown) | Promise<() => unknown>;
  /** Builds the reference fixture and returns one iteration. */
  readonly reference: () => (() => unknown) | Promise<() => unknown>;
  /** Iterations return promises (Device and OlmMachine operations). */
  readonly async?: boolean;
  /** Skip the noble backend (e.g. when a case has no crypto of its own). */
  readonly skipNoble?: boolean;
  /**
   * For cases that take a second or more per call (DMLS with 1000 members): this many interleaved
   * rounds of one timed call each (ABBA order), after one untimed call per side.
   */
  readonly rounds?: number;
}

const quick = process.env.BENCH_QUICK === '1';

/** Time each side gets per case, split into alternating rounds. */
const ROUNDS = quick ? 3 : 8;
function roundSeconds(slow: boolean): number {
  return (quick ? 0.3 : slow ? 1.5 : 2) / ROUNDS;
}
/** Async cases alternate single 50 ms batches: 40 pairs in the 2 s each side gets. */
const BATCH_MS = 50;
const ASYNC_ROUNDS = quick ? 6 : 40;

function measure(fn: () => unknown, seconds: number): number {
  const bench = new Benchmark({ fn, maxTime: seconds, minSamples: 5, initCount: 1 });
  bench.run({ async: false });
  if (bench.error) throw bench.error;
  return bench.stats.mean * 1e6;
}

/**
 * Async cases (Device and OlmMachine calls) are timed with a plain `await` loop in 50 ms batches
 * (the median of the batch means), not Benchmark.js's deferred mode: its per-iteration scheduling
 * costs about as much as the operations measured here and would pull every ratio towards 1.
 */
async function measureAsync(fn: () => unknown, seconds: number): Promise<number> {
  const budget = seconds * 1000;
  const means: number[] = [];
  const start = performance.now();
  while (means.length < 3 || performance.now() - start < budget) means.push(await batchAsync(fn));
  return median(means);
}

/** One 50 ms batch of awaited calls: the mean time per call, in µs. */
async function batchAsync(fn: () => unknown): Promise<number> {
  const batchStart = performance.now();
  let n = 0;
  do {
    await fn();
    n++;
  } while (performance.now() - batchStart < BATCH_MS);
  return ((performance.now() - batchStart) / n) * 1000;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * A full collection before a case is measured (`npm run bench` runs Node with --expose-gc), so
 * that no case pays for garbage an earlier case left in the old generation. Garbage a case makes
 * itself is collected inside its own timing, as in real use.
 */
function collectEarlierGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Runs an iteration untimed for a while first, so that both sides are measured on optimised code. */
async function warmUp(fn: () => unknown, isAsync: boolean, slow: boolean): Promise<void> {
  const until = performance.now() + (quick ? 150 : slow ? 300 : 500);
  let n = 0;
  while (n < 20 || performance.now() < until) {
    const result = fn();
    if (isAsync) await result;
    n++;
  }
}

/** One timed call (µs), for slow cases. */
async function once(fn: () => unknown): Promise<number> {
  const start = performance.now();
  await fn();
  return (performance.now() - start) * 1000;
}

async function timeRound(c: Case, fn: () => unknown, seconds: number): Promise<number> {
  return c.async ? measureAsync(fn, seconds) : measure(fn, seconds);
}

/** triturus alone (the noble column): the same rounds, back to back. */
async function time(c: Case, slow: boolean): Promise<number> {
  const fn = await c.triturus();
  collectEarlierGarbage();
  if (c.rounds !== undefined) {
    await fn();
    const timed: number[] = [];
    for (let r = 0; r < c.rounds; r++) timed.push(await once(fn));
    return median(timed);
  }
  await warmUp(fn, c.async === true, slow);
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) rounds.push(await timeRound(c, fn, roundSeconds(slow)));
  return median(rounds);
}

/**
 * triturus against its reference, interleaved: short rounds of each in turn (ABBA order, so a
 * drift in machine speed falls on both), so that both sides see the same host noise. A round is one
 * `benchmark` run for synchronous cases and one 50 ms batch for async ones. The ratio is the median
 * of the per-round ratios; the times shown are the medians of the rounds.
 */
async function compare(c: Case): Promise<{ nodeMicros: number; referenceMicros: number; ratio: number }> {
  const mine = await c.triturus();
  const theirs = await c.reference();
  collectEarlierGarbage();
  if (c.rounds !== undefined) {
    await mine();
    await theirs();
    const nodeRounds: number[] = [];
    const referenceRounds: number[] = [];
    const ratios: number[] = [];
    for (let r = 0; r < c.rounds; r++) {
      const [node, reference] =
        r % 2 === 0 ? [await once(mine), await once(theirs)] : [await once(theirs), await once(mine)].reverse();
      nodeRounds.push(node!);
      referenceRounds.push(reference!);
      ratios.push(node! / reference!);
    }
    return { nodeMicros: median(nodeRounds), referenceMicros: median(referenceRounds), ratio: median(ratios) };
  }
  await warmUp(mine, c.async === true, false);
  await warmUp(theirs, c.async === true, false);
  const seconds = roundSeconds(false);
  const round = (fn: () => unknown) => (c.async ? batchAsync(fn) : measure(fn, seconds));
  const nodeRounds: number[] = [];
  const referenceRounds: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < (c.async ? ASYNC_ROUNDS : ROUNDS); r++) {
    let node: number;
    let reference: number;
    if (r % 2 === 0) {
      node = await round(mine);
      reference = await round(theirs);
    } else {
      reference = await round(theirs);
      node = await round(mine);
    }
    nodeRounds.push(node);
    referenceRounds.push(reference);
    ratios.push(node / reference);
  }
  return { nodeMicros: median(nodeRounds), referenceMicros: median(referenceRounds), ratio: median(ratios) };
}

/** A benchmark module: its cases and the one-time set-up of its reference implementation. */
export interface BenchModule {
  readonly name: string;
  readonly title: string;
  readonly reference: string;
  readonly init: () => Promise<void>;
  readonly cases: readonly Case[];
  readonly cleanup?: () => void;
}

/**
 * Runs every case of every module on the node:crypto backend and the reference first, then every
 * case on the noble backend. Keeping the backends apart in time matters: once the noble backend
 * has run, shared call sites become polymorphic and would slow the node measurements taken after.
 */
export async function runModules(modules: readonly BenchModule[]): Promise<Map<string, CaseResult[]>> {
  const saved = cryptoBackend();
  for (const m of modules) await m.init();
  const partial = new Map<Case, { nodeMicros: number; referenceMicros: number; ratio: number }>();
  try {
    setCryptoBackend(nodeBackend);
    for (const m of modules) {
      console.log(`\n## ${m.title}: triturus (node) and ${m.reference}\n`);
      for (const c of m.cases) {
        const measured = await compare(c);
        partial.set(c, measured);
        console.log(
          table('', m.reference, [{ name: c.name, ...measured, nobleMicros: undefined, target: c.target }])
            .split('\n')
            .at(-1),
        );
      }
    }
    setCryptoBackend(nobleBackend);
    const results = new Map<string, CaseResult[]>();
    for (const m of modules) {
      console.log(`\n## ${m.title}: triturus (noble)\n`);
      const rows: CaseResult[] = [];
      for (const c of m.cases) {
        const nobleMicros = c.skipNoble ? undefined : await time(c, true);
        const row = { name: c.name, ...partial.get(c)!, nobleMicros, target: c.target };
        rows.push(row);
        console.log(table('', m.reference, [row]).split('\n').at(-1));
      }
      results.set(m.name, rows);
    }
    return results;
  } finally {
    setCryptoBackend(saved);
    for (const m of modules) m.cleanup?.();
  }
}

function fmt(micros: number): string {
  return micros >= 1000 ? `${(micros / 1000).toFixed(2)} ms` : `${micros.toFixed(1)} µs`;
}

export function table(title: string, referenceName: string, results: readonly CaseResult[]): string {
  const lines = [
    `### ${title}`,
    '',
    `| case | ${referenceName} | triturus (node) | ratio | target | triturus (noble), ratio |`,
    '|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    const ratio = r.ratio;
    const noble =
      r.nobleMicros === undefined ? '—' : `${fmt(r.nobleMicros)} (${(r.nobleMicros / r.referenceMicros).toFixed(2)})`;
    lines.push(
      `| ${r.name} | ${fmt(r.referenceMicros)} | ${fmt(r.nodeMicros)} | **${ratio.toFixed(2)}** | ${r.target === undefined ? '(information)' : `≤ ${r.target.toFixed(Number.isInteger(r.target * 10) ? 1 : 2)} ${ratio <= r.target ? '✓' : '✗'}`} | ${noble} |`,
    );
  }
  return lines.join('\n');
}
