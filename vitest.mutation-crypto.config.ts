import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const nobleBackend = fileURLToPath(new URL('./src/crypto/noble.ts', import.meta.url));

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
