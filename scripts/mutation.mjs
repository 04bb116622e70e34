#!/usr/bin/env node
/**
 * npm run mutation [-- <scope>...]: mutation testing with Stryker, one run per scope of
 * stryker.config.mjs (olm, megolm, crypto, crypto-sha512; all by default), each under `nice -n 19`
 * and incremental, then a table of the scores from the JSON reports in reports/mutation/.
 * `npm run mutation -- --summary` prints the table from the last results without running anything.
 * The incremental files (reports/mutation/<scope>.incremental.json, committed) hold every mutant's
 * last status; the HTML and JSON reports beside them are not committed.
 *
 * Score = (killed + timed out) / (killed + timed out + survived + not covered), Stryker's definition;
 * ignored mutants (static ones, see stryker.config.mjs) are counted apart.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const ALL = ['olm', 'megolm', 'crypto', 'crypto-sha512'];
const TIMINGS = 'reports/mutation/timings.json';

const args = process.argv.slice(2);
const summaryOnly = args.includes('--summary');
const scopes = args.filter((a) => !a.startsWith('--'));
for (const scope of scopes) {
  if (!ALL.includes(scope)) {
    console.error(`unknown scope ${scope}; scopes: ${ALL.join(', ')}`);
    process.exit(2);
  }
}

const timings = existsSync(TIMINGS) ? JSON.parse(readFileSync(TIMINGS, 'utf8')) : {};
let failed = false;
if (!summaryOnly) {
  for (const scope of scopes.length > 0 ? scopes : ALL) {
    console.log(`\n== mutation testing: ${scope}`);
    const started = Date.now();
    const run = spawnSync('nice', ['-n', '19', 'npx', 'stryker', 'run'], {
      stdio: 'inherit',
      env: { ...process.env, TRITURUS_MUTATION_SCOPE: scope },
    });
    if (run.status !== 0) {
      failed = true;
      console.error(`stryker failed for ${scope} (exit ${run.status})`);
      continue;
    }
    timings[scope] = { seconds: Math.round((Date.now() - started) / 1000), finished: new Date().toISOString() };
    writeFileSync(TIMINGS, `${JSON.stringify(timings, null, 2)}\n`);
  }
}

const rows = [];
const total = { killed: 0, timeout: 0, survived: 0, noCoverage: 0, ignored: 0, errors: 0 };
for (const scope of ALL) {
  const path = `reports/mutation/${scope}.incremental.json`;
  if (!existsSync(path)) {
    rows.push(`| ${scope} | not run | | | | | | |`);
    continue;
  }
  const report = JSON.parse(readFileSync(path, 'utf8'));
  const count = { killed: 0, timeout: 0, survived: 0, noCoverage: 0, ignored: 0, errors: 0 };
  for (const file of Object.values(report.files)) {
    for (const mutant of file.mutants) {
      const key = {
        Killed: 'killed',
        Timeout: 'timeout',
        Survived: 'survived',
        NoCoverage: 'noCoverage',
        Ignored: 'ignored',
      }[mutant.status];
      count[key ?? 'errors']++;
    }
  }
  for (const k of Object.keys(total)) total[k] += count[k];
  const detected = count.killed + count.timeout;
  const valid = detected + count.survived + count.noCoverage;
  const minutes = timings[scope] === undefined ? '' : `${Math.round(timings[scope].seconds / 60)} min`;
  rows.push(
    `| ${scope} | ${((100 * detected) / valid).toFixed(1)}% | ${count.killed} | ${count.timeout} | ${count.survived} | ${count.noCoverage} | ${count.ignored} | ${minutes} |`,
  );
}
const detected = total.killed + total.timeout;
const valid = detected + total.survived + total.noCoverage;
console.log('\n| scope | score | killed | timed out | survived | no coverage | ignored (static) | run time |');
console.log('|---|---|---|---|---|---|---|---|');
for (const row of rows) console.log(row);
if (valid > 0) {
  console.log(
    `| all | ${((100 * detected) / valid).toFixed(1)}% | ${total.killed} | ${total.timeout} | ${total.survived} | ${total.noCoverage} | ${total.ignored} | |`,
  );
}
process.exit(failed ? 1 : 0);
