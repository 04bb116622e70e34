/**
 * Bundle budgets per entry point, and tree shaking: a bundle keeps only the protocols its app uses.
 * Sizes and the floors behind the limits: README, "Bundle size"; `npm run size -- --inputs` shows where the
 * bytes go.
 */
import { describe, expect, it } from 'vitest';
import { BUNDLE_CASES, measureBundle } from '../../bench/bundle-size.js';

const has = (inputs: readonly string[], part: string): string[] => inputs.filter((f) => f.includes(part));

describe('bundle budgets (esbuild, minified, gzip -9, browser conditions)', () => {
  for (const c of BUNDLE_CASES) {
    it(`${c.name}: at most ${c.limitKiB} KiB gzip`, async () => {
      const { gzipBytes } = await measureBundle(c.source);
      expect(gzipBytes / 1024).toBeLessThanOrEqual(c.limitKiB);
    });
  }
});

describe('tree shaking', () => {
  it('a Megolm-only bundle has no Olm code, no X25519, no key-export or libolm code, no node:crypto backend', async () => {
    const { inputs } = await measureBundle(BUNDLE_CASES[0]!.source);
    expect(has(inputs, 'src/megolm/inbound-group-session.ts')).toHaveLength(1);
    expect(has(inputs, 'src/olm/')).toEqual([]);
    expect(has(inputs, 'montgomery')).toEqual([]);
    expect(has(inputs, 'src/megolm/export.ts')).toEqual([]);
    expect(has(inputs, 'src/crypto/pbkdf2.ts')).toEqual([]);
    expect(has(inputs, 'src/libolm/')).toEqual([]);
    expect(has(inputs, 'src/crypto/node.ts')).toEqual([]);
    // Noble's primitives the decrypt path never calls stay out too.
    expect(has(inputs, '@noble/hashes/pbkdf2')).toEqual([]);
    expect(has(inputs, '@noble/hashes/hkdf')).toEqual([]);
  });

  it('an Olm-only bundle has no Megolm code', async () => {
    const { inputs } = await measureBundle(
      `import { Account } from 'triturus'; export const a = () => Account.create().createOutboundSession;`,
    );
    expect(has(inputs, 'src/olm/account.ts')).toHaveLength(1);
    expect(has(inputs, 'src/megolm/')).toEqual([]);
  });

  it('the default entry point loads no store, Device, libolm or Node-only code', async () => {
    const { inputs } = await measureBundle(BUNDLE_CASES[1]!.source);
    for (const part of ['src/store/', 'src/device/', 'src/libolm/', 'src/crypto/node.ts']) {
      expect(has(inputs, part)).toEqual([]);
    }
  });

  it('Device + IndexedDB carries no other store backend and no database driver', async () => {
    const { inputs } = await measureBundle(BUNDLE_CASES[2]!.source);
    expect(has(inputs, 'src/store/indexeddb.ts')).toHaveLength(1);
    for (const part of [
      'src/store/sqlite',
      'src/store/postgres',
      'src/store/default',
      'better-sqlite3',
      'node_modules/pg',
    ]) {
      expect(has(inputs, part)).toEqual([]);
    }
  });
});
