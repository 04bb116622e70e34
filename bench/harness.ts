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
}

const quick = process.env.BENCH_QUICK === '1';

function options(slow: boolean): { maxTime: number; minSamples: number; initCount: number } {
  return { maxTime: quick ? 0.3 : slow ? 1.5 : 2, minSamples: slow ? 5 : 20, initCount: 1 };
}

function measure(fn: () => unknown, slow: boolean): number {
  const bench = new Benchmark({ fn, ...options(slow) });
  bench.run({ async: false });
  if (bench.error) throw bench.error;
  return bench.stats.mean * 1e6;
}

/**
 * Async cases (Device and OlmMachine calls) are timed with a plain `await` loop in 50 ms batches
 * (the median of the batch means), not Benchmark.js's deferred mode: its per-iteration scheduling
 * costs about as much as the operations measured here and would pull every ratio towards 1.
 */
async function measureAsync(fn: () => unknown, slow: boolean): Promise<number> {
  const budget = (quick ? 0.3 : slow ? 1.5 : 2) * 1000;
  const means: number[] = [];
  const start = performance.now();
  while (means.length < 5 || performance.now() - start < budget) {
    const batchStart = performance.now();
    let n = 0;
    do {
      await fn();
      n++;
    } while (performance.now() - batchStart < 50);
    means.push(((performance.now() - batchStart) / n) * 1000);
  }
  means.sort((a, b) => a - b);
  return means[Math.floor(means.length / 2)]!;
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

async function time(c: Case, make: () => (() => unknown) | Promise<() => unknown>, slow: boolean): Promise<number> {
  const fn = await make();
  await warmUp(fn, c.async === true, slow);
  return c.async ? measureAsync(fn, slow) : measure(fn, slow);
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
  const partial = new Map<Case, { nodeMicros: number; referenceMicros: number }>();
  try {
    setCryptoBackend(nodeBackend);
    for (const m of modules) {
      console.log(`\n## ${m.title}: triturus (node) and ${m.reference}\n`);
      for (const c of m.cases) {
        const nodeMicros = await time(c, c.triturus, false);
        const referenceMicros = await time(c, c.reference, false);
        partial.set(c, { nodeMicros, referenceMicros });
        console.log(
          table('', m.reference, [
            { name: c.name, nodeMicros, nobleMicros: undefined, referenceMicros, target: c.target },
          ])
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
        const nobleMicros = c.skipNoble ? undefined : await time(c, c.triturus, true);
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
    const ratio = r.nodeMicros / r.referenceMicros;
    const noble =
      r.nobleMicros === undefined ? '—' : `${fmt(r.nobleMicros)} (${(r.nobleMicros / r.referenceMicros).toFixed(2)})`;
    lines.push(
      `| ${r.name} | ${fmt(r.referenceMicros)} | ${fmt(r.nodeMicros)} | **${ratio.toFixed(2)}** | ${r.target === undefined ? '(information)' : `≤ ${r.target.toFixed(1)} ${ratio <= r.target ? '✓' : '✗'}`} | ${noble} |`,
    );
  }
  return lines.join('\n');
}
