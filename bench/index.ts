/**
 * `npm run bench [-- olm megolm ...]`: runs the benchmark modules and prints markdown tables.
 * With no module named, runs them all and rewrites bench/RESULTS.md.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { runDevice } from './device.js';
import type { CaseResult } from './harness.js';
import { table } from './harness.js';
import { runMegolm } from './megolm.js';
import { runOlm } from './olm.js';

interface Module {
  readonly title: string;
  readonly reference: string;
  readonly run: () => Promise<CaseResult[]>;
}

const modules: Record<string, Module> = {
  olm: { title: 'Olm (accounts and 1:1 sessions)', reference: 'libolm', run: runOlm },
  megolm: { title: 'Megolm (group sessions)', reference: 'libolm', run: runMegolm },
  device: { title: 'Device (store-backed room events)', reference: 'OlmMachine', run: runDevice },
};

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const selected = wanted.length === 0 ? Object.keys(modules) : wanted;
const sections: string[] = [];
for (const name of selected) {
  const module = modules[name];
  if (module === undefined) throw new Error(`unknown bench module ${name}; known: ${Object.keys(modules).join(', ')}`);
  console.log(`\n## ${module.title}\n`);
  const results = await module.run();
  sections.push(table(module.title, module.reference, results));
}
const header = [
  '# Benchmark results',
  '',
  `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench\` on Node ${process.version},`,
  `${os.cpus()[0]?.model ?? 'unknown CPU'} (${os.cpus().length} cores), ${os.platform()} ${os.arch()}.`,
  'Each case runs triturus and the reference implementation side by side in one process',
  '(the `benchmark` package, mean time per operation). Ratio = triturus (node:crypto backend) / reference;',
  'below 1.0 triturus is faster. The last column is the pure-JavaScript noble backend and its ratio.',
  '',
];
const output = `${header.join('\n')}\n${sections.join('\n\n')}\n`;
console.log(`\n${output}`);
if (wanted.length === 0) writeFileSync(new URL('./RESULTS.md', import.meta.url), output);
