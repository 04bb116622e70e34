/**
 * The runtime matrix: the same bundled suite (test/runtimes/suite.ts: the store conformance cases on the
 * default store, an Olm and Megolm round trip with pickles, two Devices on the default store across a restart)
 * runs on Node, Deno and Bun, the last two installed from npm. Each case is one test here, per runtime.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conformanceCases } from '../store/conformance.js';
import { bunBinary, denoBinary } from './binaries.js';

const EXTRA_CASES = [
  'olm and megolm round trip, pickles',
  'two devices on the default store: room key over olm, a room message, a restart',
];
const EXPECTED = [...EXTRA_CASES, ...conformanceCases.map((c) => c.name)];

// Inside the repository, so that Node finds better-sqlite3 in node_modules from the bundle.
const root = fileURLToPath(new URL('../../', import.meta.url));
mkdirSync(join(root, '.tmp'), { recursive: true });
const work = mkdtempSync(join(root, '.tmp', 'runtimes-'));
const bundle = join(work, 'suite.mjs');
afterAll(() => rmSync(work, { recursive: true, force: true }));

beforeAll(async () => {
  await build({
    entryPoints: [fileURLToPath(new URL('./suite.ts', import.meta.url))],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'es2022',
    // `node`: what Node, Deno and Bun all match in the package's exports (the node:crypto backend).
    conditions: ['triturus-source', 'node'],
    external: ['better-sqlite3', 'bun:sqlite'],
    outfile: bundle,
    logLevel: 'silent',
  });
});

interface Line {
  readonly runtime?: string;
  readonly engine?: string;
  readonly backend?: string;
  readonly name?: string;
  readonly ok?: boolean;
  readonly message?: string;
  readonly done?: boolean;
}

const RUNTIMES: { name: string; command: () => [string, string[]]; engine: string }[] = [
  { name: 'node', command: () => [process.execPath, [bundle]], engine: 'better-sqlite3' },
  { name: 'deno', command: () => [denoBinary(), ['run', '--allow-all', '--no-config', bundle]], engine: 'node:sqlite' },
  { name: 'bun', command: () => [bunBinary(), [bundle]], engine: 'bun:sqlite' },
];

for (const runtime of RUNTIMES) {
  describe(`runtime: ${runtime.name}`, () => {
    let lines: Line[] = [];
    let failure = '';
    beforeAll(() => {
      const [file, args] = runtime.command();
      const result = spawnSync(file, args, {
        cwd: work,
        encoding: 'utf8',
        timeout: 180_000,
        env: { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1', DENO_DIR: join(work, 'deno-cache') },
      });
      lines = result.stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Line);
      if (result.status !== 0) failure = `exit ${result.status ?? result.signal}: ${result.stderr.slice(-2000)}`;
    }, 200_000);

    it('runs to the end on its default SQLite engine and the node:crypto backend', () => {
      expect(failure).toBe('');
      const head = lines[0];
      expect(head?.runtime).toMatch(new RegExp(`^${runtime.name} `));
      expect(head?.engine).toBe(runtime.engine);
      expect(head?.backend).toBe('node');
      expect(lines.at(-1)?.done).toBe(true);
      expect(lines.filter((l) => l.name !== undefined).map((l) => l.name)).toEqual(EXPECTED);
    });

    for (const name of EXPECTED) {
      it(name, () => {
        const line = lines.find((l) => l.name === name);
        if (line === undefined) throw new Error(`the ${runtime.name} run reported nothing for this case ${failure}`);
        if (!line.ok) throw new Error(line.message);
      });
    }
  });
}
