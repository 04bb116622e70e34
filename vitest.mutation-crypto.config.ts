import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const nobleBackend = fileURLToPath(new URL('./src/crypto/noble.ts', import.meta.url));

// The tests Stryker runs for each mutant of src/crypto (the `crypto` and `crypto-sha512` scopes of
// stryker.config.mjs): the suites that test it directly, on both backends, and the chunked PBKDF2's
// (its only tests outside test/crypto). About 70 s unmutated, 2 minutes instrumented. Left out, as
// vitest.mutation.config.ts has them: the Olm and Megolm suites (they reach src/crypto only through
// the facade these suites test, and cost minutes per survivor), the 210 000-round key-export tests,
// and test/encoding (it does not reach src/crypto). The interop and node-only files run on `node` only.
const shared = ['test/crypto/**/*.test.ts', 'test/megolm/pbkdf2.test.ts'];

export default defineConfig({
  test: {
    projects: [
      {
        extends: true,
        resolve: { conditions: ['triturus-source', 'node'] },
        ssr: { resolve: { conditions: ['triturus-source', 'node'] } },
        test: { name: 'node', include: shared },
      },
      {
        extends: true,
        resolve: { alias: { '#crypto-default': nobleBackend }, conditions: ['triturus-source', 'import', 'default'] },
        ssr: { resolve: { conditions: ['triturus-source', 'import', 'default'] } },
        test: {
          name: 'noble',
          include: shared,
          exclude: ['test/**/*.interop.test.ts', 'test/**/*.node-only.test.ts'],
        },
      },
    ],
    // Instrumented, the 4096-round PBKDF2 cases of test/megolm/pbkdf2.test.ts take longer than vitest's
    // default 5 s; a hanging mutant is stopped by Stryker's own timeout (stryker.config.mjs), not this.
    testTimeout: 60_000,
  },
});
