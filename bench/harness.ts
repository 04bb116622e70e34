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
  readonly target: number;
}

export interface Case {
  readonly name: string;
  /** Largest acceptable ratio triturus(node) / reference. */
  readonly target: number;
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

function measureAsync(fn: () => unknown, slow: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const bench: Benchmark = new Benchmark({
      ...options(slow),
      defer: true,
      fn: (deferred: { resolve(): void }) => {
        (fn() as Promise<unknown>).then(
          () => deferred.resolve(),
          (error: unknown) => reject(error),
        );
      },
      onComplete: () => (bench.error ? reject(bench.error) : resolve(bench.stats.mean * 1e6)),
    });
    bench.run({ async: true });
  });
}

async function time(c: Case, make: () => (() => unknown) | Promise<() => unknown>, slow: boolean): Promise<number> {
  const fn = await make();
  return c.async ? measureAsync(fn, slow) : measure(fn, slow);
}

export async function runCases(cases: readonly Case[], referenceName: string): Promise<CaseResult[]> {
  const saved = cryptoBackend();
  const results: CaseResult[] = [];
  for (const c of cases) {
    setCryptoBackend(nodeBackend);
    const nodeMicros = await time(c, c.triturus, false);
    const referenceMicros = await time(c, c.reference, false);
    let nobleMicros: number | undefined;
    if (!c.skipNoble) {
      setCryptoBackend(nobleBackend);
      nobleMicros = await time(c, c.triturus, true);
    }
    setCryptoBackend(saved);
    const result = { name: c.name, nodeMicros, nobleMicros, referenceMicros, target: c.target };
    results.push(result);
    console.log(table('', referenceName, [result]).split('\n').at(-1));
  }
  return results;
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
      `| ${r.name} | ${fmt(r.referenceMicros)} | ${fmt(r.nodeMicros)} | **${ratio.toFixed(2)}** | ≤ ${r.target.toFixed(1)} ${ratio <= r.target ? '✓' : '✗'} | ${noble} |`,
    );
  }
  return lines.join('\n');
}
