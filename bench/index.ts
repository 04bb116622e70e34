/**
 * `npm run bench [-- olm megolm device]`: runs the benchmark modules and prints markdown tables.
 * With no module named, runs them all and rewrites bench/RESULTS.md.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { runBatches } from './batches.js';
import { deviceModule } from './device.js';
import { dmlsModule, dmlsStateSizes } from './dmls.js';
import { type BenchModule, runModules, table } from './harness.js';
import { megolmModule } from './megolm.js';
import { olmModule } from './olm.js';

const modules: readonly BenchModule[] = [olmModule, megolmModule, deviceModule, dmlsModule];

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
/** Device batches have their own runner (each call consumes pre-made events): `npm run bench -- batches`. */
const BATCHES = 'batches';
const unknown = wanted.filter((w) => w !== BATCHES && !modules.some((m) => m.name === w));
if (unknown.length > 0)
  throw new Error(
    `unknown bench module ${unknown.join(', ')}; known: ${[...modules.map((m) => m.name), BATCHES].join(', ')}`,
  );
const selected = wanted.length === 0 ? modules : modules.filter((m) => wanted.includes(m.name));
const results = await runModules(selected);
const sections = selected.map((m) => table(m.title, m.reference, results.get(m.name) ?? []));
if (wanted.length === 0 || wanted.includes(BATCHES)) {
  console.log('\n## Device batches\n');
  sections.push(
    `${table('Device batches: one store commit per /sync or per page of room events', 'compared with', await runBatches())}\n\nEach row names what it compares with; the "compared with" column is that side's time. To-device events are m.room_key messages from 10 senders over existing Olm sessions; room events are 100-byte messages round robin over 50 rooms. SQLite is a file in WAL mode; PostgreSQL a local cluster with its default durability (fsync on). Every call consumes fresh events made before timing.`,
  );
}
if (selected.includes(dmlsModule)) sections.push(['### DMLS state sizes', '', ...(await dmlsStateSizes())].join('\n'));
const header = [
  '# Benchmark results',
  '',
  `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench\` on Node ${process.version},`,
  `${os.cpus()[0]?.model ?? 'unknown CPU'} (${os.cpus().length} cores), ${os.platform()} ${os.arch()}.`,
  'Each case runs triturus and the reference implementation in one process, after an untimed warm-up of',
  'both, interleaved in alternating rounds (ABBA order), so that both see the same host noise: 8 rounds',
  'per side for synchronous cases, each one run of the `benchmark` package (mean time per operation), and',
  '40 for async ones (Device/OlmMachine), each a 50 ms batch of awaited calls. Times are the medians',
  'of the rounds; ratio = the median of the per-round ratios triturus (node:crypto backend) / reference,',
  'below 1.0 triturus is faster. The Device rows with a target give OlmMachine the same job as the',
  'Device (content object in, encrypted content object out: JSON.stringify and JSON.parse around the',
  'call, as matrix-js-sdk does); the "bare call" rows give it its JSON strings ready-made. All node-backend',
  'and reference measurements run before any noble one; the last column is the pure-JavaScript noble',
  'backend measured alone, and its ratio to the reference time. A full garbage collection runs before',
  'each case, so that no case pays for garbage an earlier one left. On this shared machine times vary by',
  'up to ±30% between runs; the interleaved ratios vary far less.',
  '',
];
const output = `${header.join('\n')}\n${sections.join('\n\n')}\n`;
console.log(`\n${output}`);
if (wanted.length === 0) writeFileSync(new URL('./RESULTS.md', import.meta.url), output);
