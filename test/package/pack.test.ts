/**
 * What a consumer gets: `npm pack` (its prepack builds dist/), the tarball's contents checked against the
 * package's exports, then installed with --ignore-scripts --offline into a scratch project, with its runtime
 * dependencies packed from the copies `npm ci` installed here (so nothing is fetched), where an Olm + Megolm round trip runs from
 * ESM `import` and from `require()` (Node 20.19+ loads ESM through require), and from Deno and Bun.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bunBinary, denoBinary } from '../runtimes/binaries.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
mkdirSync(join(root, '.tmp'), { recursive: true });
const work = mkdtempSync(join(root, '.tmp', 'pack-'));
// Outside the repository, so that nothing resolves from the repository's node_modules (no better-sqlite3 there).
const project = join(mkdtempSync(join(tmpdir(), 'triturus-consumer-')), 'consumer');
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  rmSync(join(project, '..'), { recursive: true, force: true });
});

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  name: string;
  dependencies: Record<string, string>;
  exports: Record<string, string | Record<string, string>>;
  imports: Record<string, Record<string, Record<string, string>>>;
};

const npm = (args: string[], cwd: string): string =>
  execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000 });

let files: string[] = [];

beforeAll(() => {
  const [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', work], root)) as { filename: string }[];
  const tarball = join(work, packed!.filename);
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  // The runtime dependencies (and theirs: ts-mls needs @hpke/core) at the versions the lockfile installed;
  // npm then needs no registry metadata.
  const names = new Set<string>();
  const collect = (name: string): void => {
    if (names.has(name)) return;
    names.add(name);
    const manifest = JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
    };
    for (const dep of Object.keys(manifest.dependencies ?? {})) collect(dep);
  };
  for (const name of Object.keys(pkg.dependencies)) collect(name);
  const dependencies = [...names].map((name) => {
    const [dep] = JSON.parse(
      npm(['pack', '--json', '--pack-destination', work, join(root, 'node_modules', name)], root),
    ) as {
      filename: string;
    }[];
    return join(work, dep!.filename);
  });
  // --legacy-peer-deps: ts-mls 1.6.4 names exact @noble versions (2.1.1, 2.0.1) as peers; here the packed
  // 2.4.0 copies stand in for them, as this repository's `overrides` make them do (the DMLS tests pass on them).
  // A consumer installing from the registry gets ts-mls's own versions beside ours instead (measured).
  npm(
    [
      'install',
      '--offline',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      '--legacy-peer-deps',
      tarball,
      ...dependencies,
    ],
    project,
  );
  const installed = join(project, 'node_modules', pkg.name);
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? walk(path) : [relative(installed, path)];
    });
  files = walk(installed);
  writeFileSync(join(project, 'esm.mjs'), script('esm'));
  writeFileSync(join(project, 'cjs.cjs'), script('cjs'));
}, 300_000);

/** An Olm conversation and a Megolm message through the installed package; prints one JSON line. */
function script(kind: 'esm' | 'cjs'): string {
  const load =
    kind === 'esm'
      ? `import * as t from 'triturus';\nimport * as device from 'triturus/device';\nimport * as defaults from 'triturus/store/default';\nimport * as memory from 'triturus/store/memory';\nimport * as dmls from 'triturus/dmls';`
      : `const t = require('triturus');\nconst device = require('triturus/device');\nconst defaults = require('triturus/store/default');\nconst memory = require('triturus/store/memory');\nconst dmls = require('triturus/dmls');`;
  return `${load}
const text = (b) => new TextDecoder().decode(b);
const alice = t.Account.create();
const bob = t.Account.create();
bob.generateOneTimeKeys(1);
const [, otk] = [...bob.oneTimeKeys][0];
const outbound = alice.createOutboundSession(t.SessionConfig.version1(), bob.curve25519Key, otk);
const m = outbound.encrypt('hello');
const { session, plaintext } = bob.createInboundSession(alice.curve25519Key, t.olmMessageFromParts(m.type, m.toBase64()));
const r = session.encrypt('hi back');
const olm = text(plaintext) + '/' + text(outbound.decrypt(t.olmMessageFromParts(r.type, r.toBase64())));
const group = t.GroupSession.create();
const megolm = text(t.InboundGroupSession.fromSessionKey(group.sessionKey()).decrypt(group.encrypt('room')).plaintext);
const pickleKey = new Uint8Array(32).fill(7);
const pickled = t.Account.fromPickle(alice.pickle(pickleKey), pickleKey).curve25519Key.toBase64() === alice.curve25519Key.toBase64();
const run = async () => {
  const store = new memory.MemoryStore('@a:example.org|D');
  const d = await device.Device.create(store, { userId: '@a:example.org', deviceId: 'D', pickleKey });
  const deviceOk = (await d.identityKeys()).curve25519 instanceof t.Curve25519PublicKey;
  const records = new dmls.MemoryRecordStore();
  const mls = await dmls.DmlsAccount.open(records, { userId: '@a:example.org', deviceId: 'D', authenticate: () => true });
  const group = await mls.createGroup('!room:example.org');
  const dmlsOk = (await group.encrypt('hello')).algorithm === group.algorithm;
  let defaultStore;
  try {
    const s = await defaults.openDefaultStore({ scope: '@a:example.org|D', path: 'default.sqlite' });
    await s.close();
    defaultStore = 'opened';
  } catch (e) {
    defaultStore = (e instanceof t.StoreError ? 'StoreError ' : 'other ') + e.code;
  }
  console.log(JSON.stringify({ olm, megolm, pickled, deviceOk, dmlsOk, backend: t.cryptoBackend().name, engine: defaults.defaultSqliteEngine(), defaultStore }));
};
run();
`;
}

function runIn(file: string, args: string[]): Record<string, unknown> {
  const result = spawnSync(file, args, {
    cwd: project,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1', DENO_DIR: join(work, 'deno-cache') },
  });
  if (result.status !== 0) throw new Error(`${file} exited ${result.status ?? result.signal}: ${result.stderr}`);
  const line = result.stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as Record<string, unknown>;
}

const ROUND_TRIP = {
  olm: 'hello/hi back',
  megolm: 'room',
  pickled: true,
  deviceOk: true,
  dmlsOk: true,
  backend: 'node',
};

describe('npm pack', () => {
  it('ships every file the exports and imports maps name, and no sources', () => {
    const targets = [
      ...Object.values(pkg.exports).flatMap((e) => (typeof e === 'string' ? [e] : [e['types'], e['default']])),
      ...Object.values(pkg.imports).flatMap((i) => Object.values(i).map((c) => c['default'])),
    ].filter((t): t is string => t !== undefined);
    expect(targets.length).toBeGreaterThan(15);
    for (const t of targets) expect(files, t).toContain(t.replace(/^\.\//, ''));
    expect(files.filter((f) => f.startsWith('src/') || (f.endsWith('.ts') && !f.endsWith('.d.ts')))).toEqual([]);
    expect(files.filter((f) => f.startsWith('test/') || f.startsWith('bench/'))).toEqual([]);
  });

  it('every source map carries its sources (no map points at a file the package does not ship)', () => {
    const maps = files.filter((f) => f.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(20);
    for (const f of maps) {
      const map = JSON.parse(readFileSync(join(project, 'node_modules', pkg.name, f), 'utf8')) as {
        sources: string[];
        sourcesContent?: (string | null)[];
      };
      expect(map.sourcesContent?.length, f).toBe(map.sources.length);
      expect(
        map.sourcesContent?.every((c) => typeof c === 'string' && c.length > 0),
        f,
      ).toBe(true);
    }
  });

  it('Node, ESM import: Olm and Megolm round trip, pickles, a Device; no better-sqlite3 is a StoreError', () => {
    expect(runIn(process.execPath, ['esm.mjs'])).toEqual({
      ...ROUND_TRIP,
      engine: 'better-sqlite3',
      defaultStore: 'StoreError STORE_IO',
    });
  });

  it('Node, require(): the same', () => {
    expect(runIn(process.execPath, ['cjs.cjs'])).toEqual({
      ...ROUND_TRIP,
      engine: 'better-sqlite3',
      defaultStore: 'StoreError STORE_IO',
    });
  });

  it('Deno: the same, and the default store opens on node:sqlite', () => {
    expect(runIn(denoBinary(), ['run', '--allow-all', '--node-modules-dir=manual', 'esm.mjs'])).toEqual({
      ...ROUND_TRIP,
      engine: 'node:sqlite',
      defaultStore: 'opened',
    });
  });

  it('Bun: the same, and the default store opens on bun:sqlite', () => {
    expect(runIn(bunBinary(), ['esm.mjs'])).toEqual({ ...ROUND_TRIP, engine: 'bun:sqlite', defaultStore: 'opened' });
  });
});
