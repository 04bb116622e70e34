// Mutation testing of the protocol and crypto core: `npm run mutation` (on demand, not in CI).
// Sized for a shared 2-core machine: two test-runner processes, incremental results kept in
// reports/mutation/ so a rerun only tests mutants whose code or tests changed. See test/MUTATION.md.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts', related: false },
  plugins: ['@stryker-mutator/vitest-runner'],
  mutate: [
    'src/olm/**/*.ts',
    'src/megolm/**/*.ts',
    'src/crypto/**/*.ts',
    // Generated (scripts/generate-sha256-words.mjs): the unrolled SHA-256 compression.
    '!src/crypto/sha256-words.ts',
  ],
  coverageAnalysis: 'perTest',
  concurrency: 2,
  incremental: true,
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  timeoutMS: 20000,
  thresholds: { high: 90, low: 85, break: null },
};
