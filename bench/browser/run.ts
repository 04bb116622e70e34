/**
 * `npm run bench:browser`: the browser benchmark (issue 12). triturus, libolm (WASM) and OlmMachine
 * (matrix-sdk-crypto-wasm) are bundled with esbuild into one page, served from 127.0.0.1 and measured in
 * headless Chromium (playwright-core, /usr/bin/chromium or TRITURUS_CHROMIUM), interleaved round by round
 * in the page (bench/browser/harness.ts). Then a profile of Device decrypt, then fresh pages for the cold
 * first decrypt. Writes bench/RESULTS-browser.md. BENCH_QUICK=1 for a short run (not written unless
 * BENCH_WRITE=1).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { GroupSession } from '../../src/index.js';
import { median } from './harness.js';
import type { BrowserBenchApi, CaseInfo } from './page.js';

const QUICK = process.env.BENCH_QUICK === '1';
const WRITE = !QUICK || process.env.BENCH_WRITE === '1';
const FRESH_PAGES = QUICK ? 3 : 11;
const PROFILE_MS = QUICK ? 1000 : 3000;
const FRESH_TARGET_MS = 20;
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HERE = fileURLToPath(new URL('./', import.meta.url));
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // window.gc(), for a full collection before each case (as `npm run bench` runs Node with --expose-gc).
  '--js-flags=--expose-gc',
];

function chromiumPath(): string {
  const fromEnv = process.env.TRITURUS_CHROMIUM;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (existsSync('/usr/bin/chromium')) return '/usr/bin/chromium';
  throw new Error('no Chromium: install it (sudo apt-get install -y chromium) or set TRITURUS_CHROMIUM to a binary');
}

/** One bundle, as a user's esbuild build makes it: platform browser, so `#crypto-default` is noble. */
async function bundle(entry: string, options: { banner?: string; minify?: boolean } = {}): Promise<Uint8Array> {
  const result = await build({
    entryPoints: [join(HERE, entry)],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: ['triturus-source'],
    minify: options.minify ?? false,
    ...(options.banner === undefined ? {} : { banner: { js: options.banner } }),
    write: false,
    // The seam shim reads `withPlatformCrypto` whether or not triturus/crypto exports it yet.
    logLevel: 'error',
  });
  return result.outputFiles[0]!.contents;
}

const BANNER = 'globalThis.benchStart = performance.now();';
const [pageScript, freshScript, freshLibolmScript] = await Promise.all([
  bundle('page.ts'),
  bundle('fresh.ts', { banner: BANNER, minify: true }),
  bundle('fresh-libolm.ts', { banner: BANNER, minify: true }),
]);
const olmWasm = readFileSync(join(ROOT, 'node_modules/@towns-protocol/olm/olm.wasm'));
const machineWasm = readFileSync(
  join(ROOT, 'node_modules/@matrix-org/matrix-sdk-crypto-wasm/pkg/matrix_sdk_crypto_wasm_bg.wasm'),
);

// The fresh pages' fixture: a session key and one message, made here and written into the page.
const outbound = GroupSession.create();
const fixture = {
  sessionKey: outbound.sessionKey().toBase64(),
  message: outbound.encrypt(JSON.stringify({ type: 'm.room.message', content: { body: 'x'.repeat(100) } })).toBase64(),
};
const html = (script: string, withFixture: boolean) =>
  `<!doctype html>${withFixture ? `<script>globalThis.benchFixture = ${JSON.stringify(fixture)};</script>` : ''}<script type="module" src="/${script}"></script>`;

const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  // No caching at all: every fresh page fetches and compiles its script and WASM as on a first visit.
  const send = (type: string, body: string | Uint8Array) =>
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
  if (path === '/') send('text/html', html('bundle.js', false));
  else if (path === '/fresh') send('text/html', html('fresh.js', true));
  else if (path === '/fresh-libolm') send('text/html', html('fresh-libolm.js', true));
  else if (path === '/bundle.js') send('text/javascript', pageScript);
  else if (path === '/fresh.js') send('text/javascript', freshScript);
  else if (path === '/fresh-libolm.js') send('text/javascript', freshLibolmScript);
  else if (path === '/olm.wasm') send('application/wasm', olmWasm);
  else if (path === '/matrix_sdk_crypto_wasm_bg.wasm') send('application/wasm', machineWasm);
  else res.writeHead(404).end();
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

// A persistent profile on disk: an off-the-record context would keep IndexedDB in memory.
const profileDir = mkdtempSync(join(tmpdir(), 'triturus-bench-chromium-'));
const context: BrowserContext = await chromium.launchPersistentContext(profileDir, {
  executablePath: chromiumPath(),
  args: ARGS,
  headless: true,
});

interface Row extends CaseInfo {
  readonly mine: number;
  readonly theirs: number;
  readonly ratio: number;
  /** Decrypting sides that went through all their pre-made events during the row. */
  readonly wrapped: readonly string[];
}

function fmt(micros: number): string {
  return micros >= 1000 ? `${(micros / 1000).toFixed(2)} ms` : `${micros.toFixed(1)} µs`;
}

function verdict(ratio: number, target: number | undefined, unit = 'x'): string {
  if (target === undefined) return '(information)';
  return `≤ ${target}${unit} ${ratio <= target ? '✓' : '✗'}`;
}

function rowLine(r: Row): string {
  const wrapped = r.wrapped.length === 0 ? '' : ` (${r.wrapped.join(', ')} wrapped around its events)`;
  return `| ${r.name}${wrapped} | ${fmt(r.theirs)} (${r.reference}) | ${fmt(r.mine)} | **${r.ratio.toFixed(2)}** | ${verdict(r.ratio, r.target)} |`;
}

const pageErrors: string[] = [];
async function open(path: string, where: BrowserContext = context): Promise<Page> {
  const page = await where.newPage();
  page.on('pageerror', (error) => pageErrors.push(`${path}: ${error.message}`));
  await page.goto(`${origin}${path}`);
  return page;
}

try {
  const cdpPage = await open('/');
  const version = (await (await context.newCDPSession(cdpPage)).send('Browser.getVersion')) as { product: string };
  await cdpPage.waitForFunction(() => 'triturusBench' in globalThis, undefined, { timeout: 60_000 });
  const call = <K extends keyof BrowserBenchApi>(
    page: Page,
    method: K,
    ...args: Parameters<BrowserBenchApi[K]>
  ): Promise<Awaited<ReturnType<BrowserBenchApi[K]>>> =>
    page.evaluate(
      ([m, a]) => {
        const api = (globalThis as unknown as { triturusBench: Record<string, (...x: unknown[]) => unknown> })
          .triturusBench;
        return api[m]!(...a);
      },
      [method, args] as [string, unknown[]],
    ) as Promise<Awaited<ReturnType<BrowserBenchApi[K]>>>;
  const started = performance.now();
  const loadAtStart = os.loadavg()[0]!;
  const init = await call(cdpPage, 'init', QUICK);
  const platform =
    init.platform === undefined
      ? 'withPlatformCrypto not exported by triturus/crypto yet: the seam rows ran the shim (direct calls on noble)'
      : `withPlatformCrypto present; platformCrypto() = ${JSON.stringify(init.platform)}`;
  console.log(`${version.product}; triturus backend in the page: ${init.backend}; ${platform}\n`);

  const cases = await call(cdpPage, 'cases');
  const rows: Row[] = [];
  console.log('| case | reference | triturus | ratio | goal |\n|---|---|---|---|---|');
  for (const c of cases) {
    const measured = await call(cdpPage, 'run', c.name);
    const row = { ...c, ...measured };
    rows.push(row);
    console.log(rowLine(row));
  }

  // Where Device decrypt's time goes: a CPU profile of each store's decrypt loop, self time by source module.
  const profiles: string[] = [];
  const profiled = cases
    .map((c) => c.name)
    .filter(
      (n) =>
        n.startsWith('Device `decryptRoomEvent` 100 B vs OlmMachine') ||
        n.startsWith('Device `encryptRoomEvent` 100 B vs OlmMachine (both in memory)'),
    );
  for (const name of profiled) {
    await call(cdpPage, 'prepare', name, 'mine');
    profiles.push(
      `#### ${name.replace(' vs OlmMachine', '')}: triturus's side\n\n${await profile(cdpPage, PROFILE_MS)}`,
    );
  }
  await cdpPage.close();
  const caseSeconds = (performance.now() - started) / 1000;

  // Fresh pages, interleaved: triturus through the seam, triturus direct, libolm.
  const kinds = [
    {
      path: '/fresh?mode=seam',
      name: `triturus, both calls through ${init.seam ? 'withPlatformCrypto' : 'the withPlatformCrypto shim (noble)'}`,
    },
    { path: '/fresh?mode=sync', name: 'triturus, direct sync calls (noble)' },
    { path: '/fresh-libolm', name: 'libolm (WASM fetched and instantiated in the page)' },
  ];
  const fresh = kinds.map(() => ({ ms: [] as number[], nav: [] as number[], module: [] as number[] }));
  // Each sample gets a new browser context, so a new renderer process: nothing compiled or cached
  // by an earlier page (V8 keeps a per-process compilation cache) helps the next one.
  await context.close();
  const freshBrowser = await chromium.launch({ executablePath: chromiumPath(), args: ARGS, headless: true });
  for (let i = 0; i < FRESH_PAGES; i++) {
    for (const [k, kind] of kinds.entries()) {
      const freshContext = await freshBrowser.newContext();
      const page = await open(kind.path, freshContext);
      await page.waitForFunction(() => 'benchDone' in globalThis, undefined, { timeout: 30_000 });
      const done = (await page.evaluate(() => (globalThis as unknown as { benchDone: unknown }).benchDone)) as {
        ms: number;
        sinceNavigation: number;
        moduleMs: number;
        plaintext: string;
      };
      if (!done.plaintext.includes('m.room.message')) throw new Error(`${kind.path} decrypted the wrong plaintext`);
      fresh[k]!.ms.push(done.ms);
      fresh[k]!.nav.push(done.sinceNavigation);
      fresh[k]!.module.push(done.moduleMs);
      await freshContext.close();
    }
  }
  await freshBrowser.close();
  const freshLines = kinds.map((kind, k) => {
    const ms = median(fresh[k]!.ms);
    const nav = median(fresh[k]!.nav);
    const goal = k === 0 ? verdict(ms, FRESH_TARGET_MS, ' ms') : '(information)';
    const module = median(fresh[k]!.module);
    return `| Chromium, fresh page: first Megolm decrypt from script start, ${kind.name} | **${ms.toFixed(1)} ms** | ${goal} | ${module.toFixed(1)} ms | ${nav.toFixed(1)} ms | ${fresh[k]!.ms.map((x) => x.toFixed(1)).join(', ')} |`;
  });
  for (const line of freshLines) console.log(line);
  if (pageErrors.length > 0) throw new Error(`errors in the pages:\n${pageErrors.join('\n')}`);

  const date = new Date().toISOString().slice(0, 10);
  const output = [
    '# Browser benchmark results',
    '',
    `Measured ${date} with \`npm run bench:browser\`${QUICK ? ' (BENCH_QUICK=1)' : ''} in headless ${version.product}`,
    `(${chromiumPath()}, playwright-core), ${os.cpus()[0]?.model ?? 'unknown CPU'} (${os.cpus().length} cores), ${os.platform()} ${os.arch()};`,
    `the cases took ${caseSeconds.toFixed(0)} s. Load average (1 min) ${loadAtStart.toFixed(2)} at the start, ${os.loadavg()[0]!.toFixed(2)} at the end:`,
    'other work on this machine shares its cores, so absolute times vary between runs; the interleaved ratios less.',
    '',
    `triturus is bundled as users bundle it (esbuild, platform browser, so the \`${init.backend}\` backend through`,
    '`#crypto-default`), with libolm (`@towns-protocol/olm`, WASM) and OlmMachine (`@matrix-org/matrix-sdk-crypto-wasm`',
    '18.9.0, WASM) in the same page, served from 127.0.0.1. The browser runs on a persistent profile on disk, so',
    'IndexedDB is on disk as in a normal tab (an off-the-record context would keep it in memory).',
    '',
    `WebCrypto seam: ${platform}.`,
    '',
    'Method, as `npm run bench`: each row builds both fixtures, warms both sides up untimed, then alternates',
    'rounds (ABBA order) in the one page: synchronous rows 8 rounds of 250 ms per side (3 of 100 ms in quick',
    'mode), async rows (Device, OlmMachine, WebCrypto, the seam) 40 batches of 50 ms per side (6 in quick mode).',
    'Times are the medians of the rounds; ratio = the median of the per-round ratios triturus / reference,',
    'below 1.0 triturus is faster. A full garbage collection (`--js-flags=--expose-gc`) runs before each row.',
    '',
    "The jobs compared: Device rows give OlmMachine the Device's whole job (content or event object in, object",
    'out: JSON.stringify / JSON.parse around the call, as matrix-js-sdk does); "libolm decrypt + JSON parse" is',
    "libolm's InboundGroupSession.decrypt of the event's ciphertext (next message in order) and JSON.parse of the",
    'plaintext, with no store; "libolm encrypt + JSON" is JSON.stringify of the payload, encrypt, and the content',
    'object built. The decrypting sides get 12 000 pre-made events each, in order, with a new receiver per row',
    '(a row needs fewer; one that ran out and wrapped around says so; libolm then starts a new inbound session).',
    '"Sync protocol objects on noble alone" call triturus\'s Olm/Megolm objects directly (no WebCrypto). In the',
    '"Primitive" rows the triturus column is noble (through the active backend) and the reference is WebCrypto.',
    '',
    '### The goals of issue 12',
    '',
    '| case | reference | triturus | ratio | goal |',
    '|---|---|---|---|---|',
    ...rows.filter((r) => r.target !== undefined).map(rowLine),
    `| Chromium, fresh page: first Megolm decrypt from script start (${kinds[0]!.name}) | — | ${median(fresh[0]!.ms).toFixed(1)} ms | — | ${verdict(median(fresh[0]!.ms), FRESH_TARGET_MS, ' ms')} |`,
    '',
    '### Every row',
    '',
    '| case | reference | triturus | ratio | goal |',
    '|---|---|---|---|---|',
    ...rows.map(rowLine),
    '',
    '### Fresh page: the first Megolm decrypt',
    '',
    `A new browser context (so a new renderer process) per sample, ${FRESH_PAGES} of each kind, interleaved; no HTTP`,
    "cache, so no code cache. The bundle's first line (an esbuild banner) reads `performance.now()`; the time runs",
    'from there, through the evaluation of every bundled module, to one inbound session created from the session',
    'key written into the page and one message decrypted. The bundles hold only what each page needs (no WASM for triturus) and are minified;',
    `triturus's is ${(freshScript.length / 1024).toFixed(0)} KiB, libolm's ${(freshLibolmScript.length / 1024).toFixed(0)} KiB + ${(olmWasm.length / 1024).toFixed(0)} KiB WASM.`,
    '"Module evaluation" is the time from the first line to the entry module\'s body (every bundled module\'s',
    'top-level code); "since navigation" also counts fetching and compiling the script.',
    '',
    '| case | median from script start | goal | of which module evaluation (median) | median since navigation | samples (ms) |',
    '|---|---|---|---|---|---|',
    ...freshLines,
    '',
    '### Where the Device spends its time in Chromium',
    '',
    `CPU profiles (V8's sampling profiler through CDP, ${PROFILE_MS / 1000} s of each loop after a warm-up): self time`,
    "by source module of the bundle (and V8's own entries in parentheses), then the heaviest functions.",
    '',
    ...profiles,
    '',
  ].join('\n');
  if (WRITE) {
    writeFileSync(join(ROOT, 'bench/RESULTS-browser.md'), output);
    console.log('\nwrote bench/RESULTS-browser.md');
  } else console.log(`\n${output}`);
} finally {
  await context.close();
  rmSync(profileDir, { recursive: true, force: true });
  await new Promise((resolve) => server.close(resolve));
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

/** Samples `ms` of the prepared loop and summarises self time by bundled source module and by function. */
async function profile(page: Page, ms: number): Promise<string> {
  const cdp = await context.newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 100 });
  await cdp.send('Profiler.start');
  const calls = await page.evaluate(
    (t) => (globalThis as unknown as { triturusBench: BrowserBenchApi }).triturusBench.spin(t),
    ms,
  );
  const { profile: p } = (await cdp.send('Profiler.stop')) as {
    profile: { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  };
  await cdp.detach();
  const modules = moduleStarts(new TextDecoder().decode(pageScript));
  const byNode = new Map(p.nodes.map((n) => [n.id, n]));
  const byModule = new Map<string, number>();
  const byFunction = new Map<string, number>();
  const byCategory = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const node = byNode.get(p.samples[i]!)!;
    const dt = p.timeDeltas[i + 1] ?? 0;
    total += dt;
    const frame = node.callFrame;
    const module = frame.url.endsWith('/bundle.js')
      ? moduleAt(modules, frame.lineNumber)
      : `(${frame.functionName || frame.url || 'native'})`;
    const fn = `${frame.functionName || '(anonymous)'} — ${module}`;
    byModule.set(module, (byModule.get(module) ?? 0) + dt);
    byCategory.set(category(module), (byCategory.get(category(module)) ?? 0) + dt);
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + dt);
  }
  const top = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => `| ${k} | ${((100 * v) / total).toFixed(1)}% |`);
  return [
    `${calls} calls in ${ms} ms (${((ms * 1000) / calls).toFixed(1)} µs per call while profiled).`,
    '',
    '| where | self time |',
    '|---|---|',
    ...top(byCategory, 20),
    '',
    '| source module | self time |',
    '|---|---|',
    ...top(byModule, 15),
    '',
    '| function — module | self time |',
    '|---|---|',
    ...top(byFunction, 20),
    '',
  ].join('\n');
}

/** Buckets for the profile: what the lead asked about (store, JSON, AES, HMAC, Ed25519) and the rest. */
function category(module: string): string {
  if (module === '((idle))') return 'idle (waiting, e.g. for IndexedDB)';
  if (module === '((garbage collector))') return 'garbage collection';
  if (module === '((program))') return 'V8 / browser native (program)';
  if (/^@noble\/curves\/|^src\/crypto\/noble(-expanded)?\.ts$/.test(module)) return 'Ed25519 / X25519 (noble curves)';
  if (/^@noble\/ciphers\/aes/.test(module)) return 'AES (noble ciphers)';
  if (/^src\/crypto\/(sha256|sha256-words|hmac-sha256-byte|hkdf-sha256-fixed)\.ts$/.test(module))
    return 'SHA-256 / HMAC / HKDF (triturus)';
  if (/^@noble\/hashes\//.test(module)) return 'SHA-512 and other hashes (noble hashes)';
  if (
    /^src\/store\/|^\((transaction|get|add|put|delete|objectStore|get result|result|openCursor|continue|commit|index)\)$/.test(
      module,
    )
  )
    return 'store (triturus store code + IndexedDB calls)';
  if (/^src\/encoding\/json|^\((parse|stringify)\)$/.test(module)) return 'JSON';
  if (/^src\/encoding\//.test(module)) return 'base64 and other encoding';
  if (/^src\/device\//.test(module)) return 'Device logic';
  if (/^src\/(megolm|olm)\//.test(module)) return 'Olm / Megolm protocol code';
  if (/^src\/crypto\//.test(module)) return 'crypto facade';
  return 'other';
}

/** esbuild marks each bundled module with a `// path` comment line; profiler line numbers are 0-based. */
function moduleStarts(source: string): { line: number; path: string }[] {
  const starts: { line: number; path: string }[] = [];
  const lines = source.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^\/\/ (\S+\.(?:ts|js|mjs|cjs))$/.exec(lines[i]!);
    if (m) starts.push({ line: i, path: m[1]!.replace(/^.*node_modules\//, '') });
  }
  return starts;
}

function moduleAt(starts: readonly { line: number; path: string }[], line: number): string {
  let found = '(bundle prologue)';
  for (const s of starts) {
    if (s.line > line) break;
    found = s.path;
  }
  return found;
}
