/**
 * Bundle sizes per entry point, as a browser app bundles triturus: esbuild, minified, the package's default
 * export condition (the noble backend), gzip level 9. `npm run size` prints the table; test/bundle/ checks
 * the budgets and that unused protocols drop out of a bundle.
 *
 * Bundles are built from the sources (the `triturus-source` condition) rather than dist/, so the check needs
 * no build and cannot race one; esbuild compiles the TypeScript exactly as tsc's output would be minified.
 */
import { gzipSync } from 'node:zlib';
import { build, type Metafile } from 'esbuild';

export interface BundleCase {
  readonly name: string;
  /** What an app writes: imports from the package's public entry points. */
  readonly source: string;
  /** The target, in KiB of gzip. */
  readonly targetKiB: number;
  /** What CI enforces: the target where it is met, else the measured floor (see README, "Bundle size"). */
  readonly limitKiB: number;
}

export const BUNDLE_CASES: readonly BundleCase[] = [
  {
    name: 'Megolm decrypt only',
    source: `import { InboundGroupSession, MegolmMessage } from 'triturus';
      export const decrypt = (key, body) => InboundGroupSession.fromSessionKey(key).decrypt(MegolmMessage.fromBase64(body));`,
    targetKiB: 25,
    limitKiB: 35,
  },
  { name: 'full triturus', source: `export * from 'triturus';`, targetKiB: 45, limitKiB: 55 },
  {
    name: 'Device + IndexedDB store',
    source: `export * from 'triturus/device'; export * from 'triturus/store/indexeddb';`,
    targetKiB: 55,
    limitKiB: 69.5,
  },
];

export interface BundleResult {
  readonly minifiedBytes: number;
  readonly gzipBytes: number;
  /** Every input file that kept bytes in the bundle, relative to the repository. */
  readonly inputs: readonly string[];
  readonly metafile: Metafile;
}

const root = new URL('../', import.meta.url).pathname;

export async function measureBundle(source: string): Promise<BundleResult> {
  const result = await build({
    stdin: { contents: source, resolveDir: root, loader: 'js', sourcefile: 'app.js' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: ['triturus-source'],
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const output = result.outputFiles[0]!.contents;
  const [meta] = Object.values(result.metafile.outputs);
  return {
    minifiedBytes: output.length,
    gzipBytes: gzipSync(output, { level: 9 }).length,
    inputs: Object.entries(meta!.inputs)
      .filter(([, i]) => i.bytesInOutput > 0)
      .map(([file]) => file),
    metafile: result.metafile,
  };
}

const kib = (bytes: number): string => (bytes / 1024).toFixed(1);

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log('| entry point | minified KiB | gzip KiB | target | limit in CI |');
  console.log('|---|---:|---:|---:|---:|');
  for (const c of BUNDLE_CASES) {
    const r = await measureBundle(c.source);
    console.log(`| ${c.name} | ${kib(r.minifiedBytes)} | ${kib(r.gzipBytes)} | ${c.targetKiB} | ${c.limitKiB} |`);
    if (process.argv.includes('--inputs')) {
      const [meta] = Object.values(r.metafile.outputs);
      const rows = Object.entries(meta!.inputs).sort((a, b) => b[1].bytesInOutput - a[1].bytesInOutput);
      for (const [file, i] of rows.slice(0, 25)) console.log(`|   ${file} | ${kib(i.bytesInOutput)} | | | |`);
    }
  }
}
