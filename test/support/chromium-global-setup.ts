/**
 * vitest globalSetup: the Chromium the browser suites drive (IndexedDB store conformance, the Device on
 * IndexedDB). `TRITURUS_CHROMIUM` when set (a path, or `npm` for the packaged build), else the system's
 * (/usr/bin/chromium, as Debian installs it), else the build that `@sparticuz/chromium` ships through npm,
 * unpacked here once per run, so `npm ci && npm test` needs no system browser. The choice is printed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { brotliDecompressSync } from 'node:zlib';
import type { TestProject } from 'vitest/node';

export interface ChromiumBinary {
  readonly path: string;
  /** Shared libraries the packaged build links (NSS, NSPR, expat), for LD_LIBRARY_PATH; absent for a system build. */
  readonly libraryPath?: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    chromium: ChromiumBinary;
  }
}

async function packagedChromium(): Promise<ChromiumBinary> {
  const { default: packaged } = (await import('@sparticuz/chromium')) as {
    default: { executablePath(): Promise<string> };
  };
  const path = await packaged.executablePath();
  // Outside AWS Lambda the package unpacks only the browser; the libraries it needs come in its al2023 archive.
  const archive = join(dirname(createRequire(import.meta.url).resolve('@sparticuz/chromium')), '..', '..', 'bin');
  const libraries = join(tmpdir(), 'triturus-chromium-libs');
  if (!existsSync(join(libraries, 'lib', 'libnss3.so'))) {
    mkdirSync(libraries, { recursive: true });
    const tar = join(libraries, 'al2023.tar');
    writeFileSync(tar, brotliDecompressSync(readFileSync(join(archive, 'al2023.tar.br'))));
    execFileSync('tar', ['-xf', tar, '-C', libraries]);
  }
  return { path, libraryPath: join(libraries, 'lib') };
}

export default async function setup(project: TestProject): Promise<void> {
  const fromEnv = process.env['TRITURUS_CHROMIUM'];
  let chromium: ChromiumBinary;
  let source: string;
  if (fromEnv === 'npm') {
    chromium = await packagedChromium();
    source = '@sparticuz/chromium (npm), by TRITURUS_CHROMIUM';
  } else if (fromEnv !== undefined && fromEnv !== '') {
    chromium = { path: fromEnv };
    source = 'TRITURUS_CHROMIUM';
  } else if (existsSync('/usr/bin/chromium')) {
    chromium = { path: '/usr/bin/chromium' };
    source = 'system';
  } else {
    chromium = await packagedChromium();
    source = '@sparticuz/chromium (npm): no system Chromium found';
  }
  console.log(`Chromium for the browser tests: ${source} (${chromium.path})`);
  project.provide('chromium', chromium);
}
