import { fileURLToPath } from 'node:url';
import { defineConfig, type ViteUserConfig } from 'vitest/config';

const nobleBackend = fileURLToPath(new URL('./src/crypto/noble.ts', import.meta.url));

// The tests Stryker runs for each mutant of src/olm and src/megolm (stryker.config.mjs; src/crypto has its
// own, faster set: vitest.mutation-crypto.config.ts):
// the protocol and crypto suites on both backends, as in vitest.config.ts, without the store,
// device and browser suites (they need PostgreSQL and Chromium and add little for these folders).
// test/hostile-api.test.ts (hostile arguments to every public call) runs on the node project.
const shared = [
  'test/crypto/**/*.test.ts',
  'test/encoding/**/*.test.ts',
  'test/olm/**/*.test.ts',
  'test/megolm/**/*.test.ts',
];

/** The mutation test set, less `exclude`. */
export function mutationConfig(exclude: string[] = []): ViteUserConfig {
  return defineConfig({
    test: {
      projects: [
        {
          extends: true,
          resolve: { conditions: ['triturus-source', 'node'] },
          ssr: { resolve: { conditions: ['triturus-source', 'node'] } },
          test: { name: 'node', include: [...shared, 'test/hostile-api.test.ts'], exclude },
        },
        {
          extends: true,
          resolve: { alias: { '#crypto-default': nobleBackend }, conditions: ['triturus-source', 'import', 'default'] },
          ssr: { resolve: { conditions: ['triturus-source', 'import', 'default'] } },
          test: {
            name: 'noble',
            include: shared,
            exclude: ['test/**/*.interop.test.ts', 'test/**/*.node-only.test.ts', ...exclude],
          },
        },
      ],
      testTimeout: 60_000,
      hookTimeout: 120_000,
    },
  });
}

export default mutationConfig();
