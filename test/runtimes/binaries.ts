/**
 * The Deno and Bun executables, both installed from npm as dev dependencies (the `deno` and `bun` packages
 * carry the binary for this platform in an optional dependency; their postinstall only moves or links it).
 * Missing binaries fail loudly: a runtime suite is never skipped.
 */
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

function packageDir(name: string): string | undefined {
  try {
    return dirname(require.resolve(`${name}/package.json`));
  } catch {
    return undefined;
  }
}

/** The first candidate that is a real executable (the npm packages keep a small placeholder until postinstall). */
function firstBinary(what: string, candidates: (string | undefined)[]): string {
  for (const c of candidates) {
    if (c !== undefined && existsSync(c) && statSync(c).size > 1_000_000) return c;
  }
  throw new Error(
    `${what} binary not found in node_modules (tried ${candidates.filter(Boolean).join(', ')}): run npm ci`,
  );
}

const platform = `${process.platform}-${process.arch === 'x64' ? 'x64' : process.arch === 'arm64' ? 'aarch64' : process.arch}`;

export function bunBinary(): string {
  const bun = packageDir('bun');
  const native = packageDir(`@oven/bun-${platform}`);
  return firstBinary('bun', [bun && join(bun, 'bin', 'bun.exe'), native && join(native, 'bin', 'bun')]);
}

export function denoBinary(): string {
  const deno = packageDir('deno');
  const arch = process.arch === 'x64' ? 'x64' : 'arm64';
  const native = packageDir(`@deno/${process.platform}-${arch}${process.platform === 'linux' ? '-glibc' : ''}`);
  return firstBinary('deno', [deno && join(deno, 'deno'), native && join(native, 'deno')]);
}
