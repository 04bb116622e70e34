// The second half of `npm run mutation`: the SHA-512 compression of src/crypto/pbkdf2.ts (see
// stryker.config.mjs), tested by every suite of vitest.mutation.config.ts except the key-export file
// with its 210 000-round test (test/megolm/pbkdf2.test.ts checks the compression against two libraries).
import base, { pbkdf2CompressionLines } from './stryker.config.mjs';

const { start, end } = pbkdf2CompressionLines();

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  ...base,
  vitest: { ...base.vitest, configFile: 'vitest.mutation-pbkdf2.config.ts' },
  mutate: [`src/crypto/pbkdf2.ts:${start}-${end}`],
  incrementalFile: 'reports/mutation/stryker-incremental-pbkdf2.json',
  htmlReporter: { fileName: 'reports/mutation/mutation-pbkdf2.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation-pbkdf2.json' },
};
