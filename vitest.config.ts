import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const nobleBackend = fileURLToPath(new URL('./src/crypto/noble.ts', import.meta.url));

// Two projects run the same protocol tests on each crypto backend. The `node` project resolves
// the package's `#crypto-default` import through the `node` condition (node:crypto); the `noble`
// project pins it to the pure-JavaScript backend that browsers get.
export default defineConfig({
  test: {
    projects: [
      {
        extends: true,
        // No 'import'/'default' here: vitest passes these to Node as --conditions, and `import` would make
        // require() inside dual packages (pg → pg-pool) load their ESM builds.
        resolve: { conditions: ['triturus-source', 'node'] },
        ssr: { resolve: { conditions: ['triturus-source', 'node'] } },
        test: {
          name: 'node',
          include: ['test/**/*.test.ts'],
          globalSetup: ['test/store/postgres-global-setup.ts', 'test/support/chromium-global-setup.ts'],
        },
      },
      {
        extends: true,
        resolve: { alias: { '#crypto-default': nobleBackend }, conditions: ['triturus-source', 'import', 'default'] },
        ssr: { resolve: { conditions: ['triturus-source', 'import', 'default'] } },
        test: {
          name: 'noble',
          include: [
            'test/crypto/**/*.test.ts',
            'test/encoding/**/*.test.ts',
            'test/olm/**/*.test.ts',
            'test/megolm/**/*.test.ts',
            'test/dmls/**/*.test.ts',
          ],
          // The DMLS property run checks the epoch store's logic, not primitives: once (node) is enough.
          exclude: ['test/**/*.interop.test.ts', 'test/**/*.node-only.test.ts', 'test/dmls/properties.test.ts'],
        },
      },
      {
        // The noble backend with the platform's WebCrypto doing Ed25519 and X25519 (src/crypto/platform.ts), as
        // in a browser: the Device suites, with their live interop against vodozemac, run through that path.
        extends: true,
        resolve: { alias: { '#crypto-default': nobleBackend }, conditions: ['triturus-source', 'import', 'default'] },
        ssr: { resolve: { conditions: ['triturus-source', 'import', 'default'] } },
        test: {
          name: 'webcrypto',
          include: [
            'test/crypto/platform*.test.ts',
            'test/device/device.test.ts',
            'test/device/rooms.test.ts',
            'test/device/to-device.test.ts',
            'test/device/sync.test.ts',
            'test/device/room-policy.test.ts',
            'test/device/repair-and-requests.test.ts',
            'test/device/hostile-input.test.ts',
            'test/device/olm-machine.interop.test.ts',
            'test/device/olm-machine-protocols.interop.test.ts',
          ],
        },
      },
    ],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
