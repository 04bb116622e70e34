// Mutation testing of the protocol and crypto core, on demand (not in CI): `npm run mutation`
// (scripts/mutation.mjs) runs Stryker once per scope below, each under `nice` with two test-runner
// processes and its own incremental file, so a rerun tests only mutants whose code or tests changed
// and an interrupted run loses only its current scope. Results and reasons: test/MUTATION.md.
import { readFileSync } from 'node:fs';

/**
 * The lines of src/crypto/pbkdf2.ts holding the SHA-512 compression (`compress` and `add`), the hottest
 * loop of src/crypto: instrumented, every PBKDF2 test that reaches it runs many times slower (the
 * 4096-round cases take seconds). They are their own scope, `crypto-sha512` (61 mutants, about 5 minutes),
 * so that the `crypto` scope's mutants do not pay for them and either can be rerun alone. Both scopes
 * run vitest.mutation-crypto.config.ts, which leaves out the 210 000-round key-export tests.
 */
function pbkdf2CompressionLines() {
  const lines = readFileSync(new URL('./src/crypto/pbkdf2.ts', import.meta.url), 'utf8').split('\n');
  const start = lines.findIndex((l) => l.startsWith('function compress(')) + 1;
  const end = lines.findIndex((l) => l.startsWith('function loadBlock(')); // the line before it
  if (start < 1 || end <= start) throw new Error('stryker.config.mjs: cannot find compress() in src/crypto/pbkdf2.ts');
  return { start, end };
}
const { start, end } = pbkdf2CompressionLines();

/**
 * Per scope: the files to mutate, the vitest config of the tests to run (default
 * vitest.mutation.config.ts), and Stryker's timeout (a mutant's run may take timeoutFactor × its covering
 * tests' time + timeoutMS; Stryker's defaults are 1.5 and 5 000 ms).
 * @type {Record<string, { mutate: string[], vitestConfig?: string, timeoutMS?: number, timeoutFactor?: number }>}
 */
export const SCOPES = {
  olm: { mutate: ['src/olm/**/*.ts'] },
  megolm: { mutate: ['src/megolm/**/*.ts'] },
  crypto: {
    mutate: [
      'src/crypto/**/*.ts',
      // Generated (scripts/generate-sha256-words.mjs): the unrolled SHA-256 compression.
      '!src/crypto/sha256-words.ts',
      '!src/crypto/pbkdf2.ts',
      `src/crypto/pbkdf2.ts:1-${start - 1}`,
      `src/crypto/pbkdf2.ts:${end + 1}-100000`,
    ],
    vitestConfig: 'vitest.mutation-crypto.config.ts',
    timeoutMS: 5000,
  },
  'crypto-sha512': {
    mutate: [`src/crypto/pbkdf2.ts:${start}-${end}`],
    vitestConfig: 'vitest.mutation-crypto.config.ts',
    timeoutMS: 5000,
  },
};

const scopeName = process.env.TRITURUS_MUTATION_SCOPE ?? 'olm';
const scope = SCOPES[scopeName];
if (scope === undefined) throw new Error(`TRITURUS_MUTATION_SCOPE must be one of ${Object.keys(SCOPES).join(', ')}`);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: scope.vitestConfig ?? 'vitest.mutation.config.ts', related: false },
  plugins: ['@stryker-mutator/vitest-runner'],
  mutate: scope.mutate,
  coverageAnalysis: 'perTest',
  // A static mutant (code that runs while no test is running: module top level, and every helper the
  // test files call in describe bodies or beforeAll) needs the whole test set (~150 s here) per mutant:
  // about 1 000 of them would take a day on this machine. They are left out and counted apart.
  ignoreStatic: true,
  concurrency: 2,
  incremental: true,
  incrementalFile: `reports/mutation/${scopeName}.incremental.json`,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: `reports/mutation/${scopeName}.html` },
  jsonReporter: { fileName: `reports/mutation/${scopeName}.json` },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  timeoutMS: scope.timeoutMS ?? 20000,
  timeoutFactor: scope.timeoutFactor ?? 1.5,
  thresholds: { high: 90, low: 85, break: null },
};
