#!/usr/bin/env node
/**
 * The second half of `npm run build`: after `tsc` has written dist/ (one module per source file, with the
 * .d.ts files), esbuild builds dist/node/: every entry point of package.json's `exports` and `imports` maps
 * as a few modules with shared chunks, which the maps give under the `node` condition (Node, Deno, Bun,
 * and bundlers targeting them). Measured reason (bench/RESULTS-cold.md): Node's ESM loader costs about
 * 0.6 ms per module, and `import('triturus')` loaded about 36 of them. Browsers and their bundlers keep
 * the per-module build: merged chunks would keep top-level code a bundler otherwise drops with unused
 * modules (a Megolm-only app grew from 33 to 41 KiB gzip). Packages, Node built-ins and `#crypto-default`
 * (resolved at run time to dist/node/crypto/node.js, an entry of this same build, so every module exists
 * once) stay imports. The source maps carry their sources.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const root = new URL('../', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const targets = new Set([
  ...Object.values(pkg.exports).flatMap((e) => (typeof e === 'string' ? [] : [e.default])),
  ...Object.values(pkg.imports).flatMap((i) => Object.values(i).map((c) => c.default)),
]);
const entryPoints = {};
for (const target of targets) {
  const out = target.replace(/^\.\/dist\/(node\/)?/, '').replace(/\.js$/, '');
  entryPoints[out] = join(root, 'src', `${out}.ts`);
}

await build({
  entryPoints,
  outdir: join(root, 'dist', 'node'),
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  packages: 'external',
  external: ['#crypto-default', 'node:*'],
  chunkNames: 'chunks/[name]-[hash]',
  sourcemap: true,
  sourcesContent: true,
  logLevel: 'warning',
});
