// Reads vitest's JSON report and prints the one plain line CI reads: "N passed, M failed".
// Failed = failed tests, plus one for each test file that failed without a failing test (it did
// not load, or a hook threw), since its tests never ran. Skipped and todo tests are reported apart.
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? '.tmp/vitest.json';
let report;
try {
  report = JSON.parse(readFileSync(file, 'utf8'));
} catch (error) {
  console.log(`could not read ${file}: ${error.message}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const files = report.testResults ?? [];
const brokenFiles = files.filter(
  (f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed'),
);
for (const f of brokenFiles) console.log(`failed to run: ${f.name}: ${(f.message ?? '').split('\n')[0]}`);
const passed = report.numPassedTests ?? 0;
const failed = (report.numFailedTests ?? 0) + brokenFiles.length;
const pending = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
if (pending > 0) console.log(`${pending} tests skipped or todo`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 || report.success === false ? 1 : 0);
