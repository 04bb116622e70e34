#!/usr/bin/env node
// @ts-check
/**
 * triturus-vectors: runs the cross-implementation vectors (vectors/*.json) against triturus, or,
 * with --oracle, against any implementation that speaks the JSON-lines protocol of vectors/ORACLE.md.
 * With --oracle this program never loads triturus: the oracle alone computes, this runner judges.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { InProcessOracle, OracleProcess, ProtocolError } from './lib/oracle-process.js';
import { runVectors } from './lib/run.js';

const USAGE = `Usage: triturus-vectors [options]

Runs the vectors against triturus (in this process), or against an oracle command.

  --oracle "<command>"  run an oracle (a shell command line) speaking vectors/ORACLE.md
  --vectors <dir>       the vector directory (default: the vectors/ shipped beside this program)
  --file <name>         run only this vector file (repeatable), e.g. --file olm_conversation.json
  --json <path>         write the full report (one entry per test) as JSON
  --verbose             print every test's verdict, not only failures
  --require-all         count unsupported and skipped tests as failures
  --timeout <seconds>   how long one request may take (default 120)
  --help                this text

Exit codes: 0 no test failed; 1 some test failed (or, with --require-all, was unsupported or
skipped); 2 usage error, unreadable vectors, or an oracle that broke the protocol.`;

/** @param {string} message @returns {number} */
function usageError(message) {
  process.stderr.write(`triturus-vectors: ${message}\n\n${USAGE}\n`);
  return 2;
}

/** @returns {Promise<number>} */
async function main() {
  /**
   * @type {{ oracle?: string, vectors?: string, file?: string[], json?: string, verbose: boolean,
   *   'require-all': boolean, timeout: string, help: boolean }}
   */
  let values;
  try {
    ({ values } = /** @type {any} */ (
      parseArgs({
        options: {
          oracle: { type: 'string' },
          vectors: { type: 'string' },
          file: { type: 'string', multiple: true },
          json: { type: 'string' },
          verbose: { type: 'boolean', default: false },
          'require-all': { type: 'boolean', default: false },
          timeout: { type: 'string', default: '120' },
          help: { type: 'boolean', default: false },
        },
        strict: true,
        allowPositionals: false,
      })
    ));
  } catch (error) {
    return usageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const timeout = Number(values.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0) return usageError('--timeout takes a positive number of seconds');
  const dir = values.vectors ?? fileURLToPath(new URL('../vectors/', import.meta.url));

  /** @type {import('./lib/oracle-process.js').Oracle} */
  let oracle;
  if (values.oracle !== undefined) {
    oracle = new OracleProcess(values.oracle, { timeoutMs: timeout * 1000 });
  } else {
    const { handleRequest } = await import('./lib/triturus-oracle.js');
    oracle = new InProcessOracle(handleRequest);
  }

  let report;
  try {
    report = await runVectors({
      dir,
      only: values.file,
      oracle,
      onTest: (test) => {
        if (test.verdict === 'fail' || values.verbose) {
          const label = test.verdict.toUpperCase();
          const detail = test.detail === undefined ? '' : `: ${test.detail}`;
          process.stdout.write(`${label} ${test.file} tcId ${test.tcId} (${test.comment})${detail}\n`);
        }
      },
    });
  } catch (error) {
    await oracle.close().catch(() => {});
    if (error instanceof ProtocolError) {
      process.stderr.write(`triturus-vectors: the oracle broke the protocol: ${error.message}\n`);
      return 2;
    }
    process.stderr.write(`triturus-vectors: ${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  await oracle.close();

  // Unsupported and skipped tests, one line per file and kind (not one per test).
  /** @type {Map<string, { count: number, detail: string }>} */
  const notRun = new Map();
  for (const test of report.tests) {
    if (test.verdict !== 'unsupported' && test.verdict !== 'skipped') continue;
    const key = `${test.verdict.toUpperCase()} ${test.file}${test.kind === undefined ? '' : ` (${test.kind})`}`;
    const entry = notRun.get(key) ?? { count: 0, detail: test.detail ?? '' };
    entry.count++;
    notRun.set(key, entry);
  }
  if (!values.verbose) {
    for (const [key, { count, detail }] of notRun) {
      process.stdout.write(`${key}: ${count} test${count === 1 ? '' : 's'}${detail === '' ? '' : `: ${detail}`}\n`);
    }
  }
  if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);

  const s = report.summary;
  process.stdout.write(
    `triturus-vectors: ${report.implementation}: ${s.total} tests: ${s.passed} passed, ${s.failed} failed, ` +
      `${s.unsupported} unsupported, ${s.skipped} skipped\n`,
  );
  if (s.failed > 0) return 1;
  if (values['require-all'] && s.unsupported + s.skipped > 0) return 1;
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(
      `triturus-vectors: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 2;
  },
);
