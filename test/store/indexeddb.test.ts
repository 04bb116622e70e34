/**
 * IndexedDB conformance in real headless Chromium (Debian's /usr/bin/chromium driven by playwright-core). The
 * IndexedDB store and the conformance cases are bundled with esbuild, served from 127.0.0.1 (IndexedDB needs
 * a real origin), and run inside the page; each case is one test here, failing with the browser's message.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { StoreError } from '../../src/errors.js';
import { IndexedDbStore } from '../../src/store/indexeddb.js';
import type { BrowserApi } from './browser/entry.js';
import { conformanceCases } from './conformance.js';
import type { CounterOptions, CounterResult } from './counter-worker.js';

// The system's Chromium, or the one shipped through npm (test/support/chromium-global-setup.ts).
const CHROMIUM = inject('chromium');
const CHROMIUM_ENV =
  CHROMIUM.libraryPath === undefined ? {} : { env: { ...process.env, LD_LIBRARY_PATH: CHROMIUM.libraryPath } };
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Two tabs run at once in the lease test: keep the one in the background from being throttled.
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
];

let server: Server;
let origin: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const pageErrors: string[] = [];

async function newPage(): Promise<Page> {
  const p = await context.newPage();
  p.on('pageerror', (error) => pageErrors.push(error.message));
  await p.goto(`${origin}/`);
  await p.waitForFunction(() => 'triturusStore' in globalThis, undefined, { timeout: 30_000 });
  return p;
}

beforeAll(async () => {
  const bundle = await build({
    entryPoints: [fileURLToPath(new URL('./browser/entry.ts', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: ['triturus-source'],
    write: false,
    logLevel: 'silent',
  });
  const script = bundle.outputFiles[0]!.contents;
  server = createServer((req, res) => {
    if (req.url === '/bundle.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    } else if (req.url === '/') {
      res
        .writeHead(200, { 'content-type': 'text/html' })
        .end('<!doctype html><script type="module" src="/bundle.js"></script>');
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM.path, ...CHROMIUM_ENV, args: ARGS, headless: true });
  context = await browser.newContext();
  page = await newPage();
});

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
});

const run = (p: Page, name: string) =>
  p.evaluate((n) => (globalThis as unknown as { triturusStore: BrowserApi }).triturusStore.run(n), name);

describe('indexeddb store conformance (headless Chromium)', () => {
  // IndexedDB has no hook to make the engine refuse one write; its rollback is covered by the stale-fence
  // batch, whose writes are all issued before the fence check aborts the transaction.
  const cases = conformanceCases.filter((c) => c.needs !== 'writeTrap');

  it('the page runs exactly the cases listed here', async () => {
    const names = await page.evaluate(() =>
      (globalThis as unknown as { triturusStore: BrowserApi }).triturusStore.names(),
    );
    expect(names).toEqual(cases.map((c) => c.name));
  });

  for (const c of cases) {
    it(c.name, async () => {
      const outcome = await run(page, c.name);
      if (!outcome.ok) throw new Error(outcome.message);
      expect(pageErrors).toEqual([]);
    });
  }
});

describe('indexeddb store outside a browser', () => {
  it('opening it where there is no IndexedDB is a STORE_IO error', async () => {
    const error = await IndexedDbStore.open({ scope: '@x:example.org|A' }).catch((e) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect(error.code).toBe('STORE_IO');
  });
});

describe('indexeddb lease across two tabs', () => {
  it('two tabs on one origin compete for the lease: no lost update, one holder per generation, stale commits refused', async () => {
    const second = await newPage();
    try {
      const scope = `@tabs-${Date.now()}:example.org|DEVICE`;
      const options = (holder: string): CounterOptions => ({
        holder,
        iterations: 25,
        stallEvery: 8,
        stallMs: 600,
        durationMs: 200,
        maxBackoffMs: 50,
      });
      const counter = (p: Page, holder: string) =>
        p.evaluate(([s, o]) => (globalThis as unknown as { triturusStore: BrowserApi }).triturusStore.counter(s, o), [
          scope,
          options(holder),
        ] as const);
      const results = await Promise.all([counter(page, 'tab-1'), counter(second, 'tab-2')]);
      for (const r of results) if ('error' in r) throw new Error(r.error);
      const done = results as CounterResult[];
      const problems = await page.evaluate(
        ([s, r]) => (globalThis as unknown as { triturusStore: BrowserApi }).triturusStore.checkCounter(s, r),
        [scope, done] as const,
      );
      expect(problems).toEqual([]);
      const committed = done.reduce((n, r) => n + r.committed.length, 0);
      const lost = done.reduce((n, r) => n + r.lost.length, 0);
      expect(committed + lost).toBe(50);
      expect(committed).toBeGreaterThan(40);
      // A stalled tab whose lease the other took must have been refused at least once.
      expect(lost).toBeGreaterThan(0);
    } finally {
      await second.close();
    }
  });
});
