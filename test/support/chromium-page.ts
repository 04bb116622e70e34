/**
 * Headless Chromium with a bundle of test code served from 127.0.0.1 (IndexedDB and WebCrypto need a real
 * origin): the entry source is bundled by esbuild from the repository root, as the browser suites need it.
 * The Chromium binary is the global setup's (test/support/chromium-global-setup.ts).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type Browser, chromium } from 'playwright-core';
import { inject } from 'vitest';

export interface ServedChromium {
  readonly browser: Browser;
  /** The page that loads the bundle: `${origin}/`. */
  readonly origin: string;
  close(): Promise<void>;
}

/** Bundles `entry` (TypeScript, imports relative to the repository root), serves it, and launches Chromium. */
export async function serveInChromium(entry: string): Promise<ServedChromium> {
  const bundle = await build({
    stdin: { contents: entry, resolveDir: fileURLToPath(new URL('../../', import.meta.url)), loader: 'ts' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: ['triturus-source'],
    write: false,
    logLevel: 'silent',
  });
  const script = bundle.outputFiles[0]!.contents;
  const server: Server = createServer((req, res) => {
    if (req.url === '/bundle.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    else if (req.url === '/')
      res
        .writeHead(200, { 'content-type': 'text/html' })
        .end('<!doctype html><script type="module" src="/bundle.js"></script>');
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const binary = inject('chromium');
  const browser = await chromium.launch({
    executablePath: binary.path,
    ...(binary.libraryPath === undefined ? {} : { env: { ...process.env, LD_LIBRARY_PATH: binary.libraryPath } }),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-sync'],
    headless: true,
  });
  return {
    browser,
    origin,
    async close() {
      await browser.close();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
