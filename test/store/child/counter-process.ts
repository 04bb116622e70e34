/**
 * Concurrency-test worker: `counter-process.ts <backend> <target> <scope> <holder> <iterations> <stallEvery>`.
 * Runs the fenced read-modify-write loop of counter-worker.ts, printing a line per round and, at the end,
 * `done <json result>`.
 */
import { runCounter } from '../counter-worker.js';
import { openStore } from './open-store.js';

const [backend, target, scope, holder, iterations, stallEvery] = process.argv.slice(2);
const store = await openStore(backend, target, scope);
process.stdout.write('ready\n');
const result = await runCounter(store, {
  holder: holder ?? 'worker',
  iterations: Number(iterations),
  stallEvery: Number(stallEvery),
  stallMs: 700,
  durationMs: 200,
  maxBackoffMs: 50,
  report: (line) => process.stdout.write(`${line}\n`),
});
await store.close();
process.stdout.write(`done ${JSON.stringify(result)}\n`);
