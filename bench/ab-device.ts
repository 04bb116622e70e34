/**
 * Same-process A/B of the Device's hot paths: this tree against another checkout of triturus
 * (say a `git worktree` of the commit before a refactor). Both trees are loaded into one process
 * and timed in alternating 50 ms batches (ABBA order), so host noise falls on both sides; the
 * ratio reported is the median of the per-round ratios (this tree / base).
 *
 *   git worktree add /tmp/base <ref> && ln -s "$PWD/node_modules" /tmp/base/node_modules
 *   npx tsx --conditions=triturus-source bench/ab-device.ts /tmp/base [rounds]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

type AnyDevice = {
  encryptRoomEvent(room: string, type: string, content: Record<string, unknown>): Promise<{ content: unknown }>;
  decryptRoomEvent(event: unknown): Promise<unknown>;
  generateOneTimeKeys(n: number): Promise<void>;
  keysForUpload(withDevice: boolean): Promise<{ device_keys?: unknown; one_time_keys: Record<string, unknown> }>;
  trackDevices(keys: unknown[]): Promise<unknown[]>;
  shareRoomKey(room: string, devices: unknown[], otks: Map<string, unknown>): Promise<{ messages: unknown[] }>;
  markRoomKeySent(room: string, messages: unknown[]): Promise<void>;
  exportRoomKeys(): Promise<unknown[]>;
  importRoomKeys(keys: unknown[]): Promise<number>;
};

interface Tree {
  readonly name: string;
  readonly Device: {
    create(store: unknown, options: unknown): Promise<AnyDevice>;
    oneTimeKeyFromClaim(device: unknown, claimed: unknown): unknown;
  };
  readonly MemoryStore: new (scope: string) => unknown;
  readonly SqliteStore: { open(options: { path: string; scope: string }): Promise<unknown> };
}

const ROOM = '!bench:example.org';
const CONTENT = { msgtype: 'm.text', body: 'x'.repeat(100) };
const POOL = 6000;
const dirs: string[] = [];

async function loadTree(name: string, root: string): Promise<Tree> {
  const load = (path: string) => import(pathToFileURL(join(root, path)).href);
  const device = await load('src/device/index.ts');
  const memory = await load('src/store/memory.ts');
  const sqlite = await load('src/store/sqlite.ts');
  return { name, Device: device.Device, MemoryStore: memory.MemoryStore, SqliteStore: sqlite.SqliteStore };
}

async function device(tree: Tree, kind: 'memory' | 'sqlite', user: string): Promise<AnyDevice> {
  let store: unknown;
  if (kind === 'memory') store = new tree.MemoryStore(`@${user}:example.org|AB`);
  else {
    const dir = mkdtempSync(join(tmpdir(), 'triturus-ab-'));
    dirs.push(dir);
    store = await tree.SqliteStore.open({ path: join(dir, 'd.sqlite'), scope: `@${user}:example.org|AB` });
  }
  return tree.Device.create(store, {
    userId: `@${user}:example.org`,
    deviceId: 'AB',
    pickleKey: new Uint8Array(32).fill(3),
    rotationPeriodMsgs: 1_000_000,
  });
}

async function encryptFixture(tree: Tree, kind: 'memory' | 'sqlite'): Promise<() => Promise<unknown>> {
  const alice = await device(tree, kind, 'alice');
  const bob = await device(tree, 'memory', 'bob');
  await bob.generateOneTimeKeys(1);
  const upload = await bob.keysForUpload(true);
  const [info] = await alice.trackDevices([upload.device_keys]);
  const claimed = Object.values(upload.one_time_keys)[0];
  const otk = tree.Device.oneTimeKeyFromClaim(info, { 'signed_curve25519:AAAAAAAAAAA': claimed });
  const key = (info as { curve25519Key: { toBase64(): string } }).curve25519Key.toBase64();
  const shared = await alice.shareRoomKey(ROOM, [info], new Map([[key, otk]]));
  await alice.markRoomKeySent(ROOM, shared.messages);
  return () => alice.encryptRoomEvent(ROOM, 'm.room.message', CONTENT);
}

async function decryptFixture(tree: Tree, kind: 'memory' | 'sqlite'): Promise<() => Promise<unknown>> {
  const alice = await device(tree, 'memory', 'alice');
  const bob = await device(tree, kind, 'bob');
  const events: unknown[] = [];
  for (let i = 0; i < POOL; i++) {
    const { content } = await alice.encryptRoomEvent(ROOM, 'm.room.message', CONTENT);
    events.push({
      type: 'm.room.encrypted',
      room_id: ROOM,
      event_id: `$e${i}`,
      sender: '@alice:example.org',
      origin_server_ts: 1_700_000_000_000 + i,
      content,
    });
  }
  await bob.importRoomKeys(await alice.exportRoomKeys());
  let i = 0;
  return () => bob.decryptRoomEvent(events[i++ % POOL]);
}

async function batch(fn: () => Promise<unknown>, ms: number): Promise<number> {
  const start = performance.now();
  let n = 0;
  do {
    await fn();
    n++;
  } while (performance.now() - start < ms);
  return ((performance.now() - start) / n) * 1000;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  const baseRoot = process.argv[2];
  if (baseRoot === undefined) throw new Error('usage: ab-device.ts <base checkout> [rounds]');
  const rounds = Number(process.argv[3] ?? 40);
  const head = await loadTree('head', resolve('.'));
  const base = await loadTree('base', resolve(baseRoot));
  const cases: [string, (t: Tree) => Promise<() => Promise<unknown>>][] = [
    ['encryptRoomEvent 100 B (memory)', (t) => encryptFixture(t, 'memory')],
    ['decryptRoomEvent 100 B (memory)', (t) => decryptFixture(t, 'memory')],
    ['encryptRoomEvent 100 B (SQLite)', (t) => encryptFixture(t, 'sqlite')],
    ['decryptRoomEvent 100 B (SQLite)', (t) => decryptFixture(t, 'sqlite')],
  ];
  console.log(`| case | head µs | base µs | head/base (median of ${rounds} ABBA rounds) |`);
  console.log('|---|---|---|---|');
  const filter = process.argv[4] ?? '';
  for (const [name, make] of cases) {
    if (!name.includes(filter)) continue;
    const a = await make(head);
    const b = await make(base);
    for (let w = 0; w < 4; w++) {
      await batch(a, 50);
      await batch(b, 50);
    }
    const ratios: number[] = [];
    const as: number[] = [];
    const bs: number[] = [];
    for (let r = 0; r < rounds; r++) {
      globalThis.gc?.();
      const first = r % 2 === 0;
      const x = first ? await batch(a, 50) : 0;
      const y = await batch(b, 50);
      const z = first ? 0 : await batch(a, 50);
      const ta = first ? x : z;
      as.push(ta);
      bs.push(y);
      ratios.push(ta / y);
    }
    console.log(`| ${name} | ${median(as).toFixed(1)} | ${median(bs).toFixed(1)} | ${median(ratios).toFixed(3)} |`);
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

await main();
