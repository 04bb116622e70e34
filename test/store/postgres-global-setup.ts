/**
 * vitest globalSetup: a throwaway PostgreSQL cluster for the store tests. It runs initdb into a temp dir and
 * starts the server on a free loopback port (as the `postgres` OS user when we are root, since PostgreSQL
 * refuses to run as root), creates a database, hands its connection string to the tests through `provide`,
 * and stops and deletes the cluster afterwards. It depends on no system service.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Connection string of the test database, e.g. postgres://postgres@127.0.0.1:PORT/triturus_test. */
    postgresUrl: string;
  }
}

function findBinaries(): string {
  const fromEnv = process.env['TRITURUS_PG_BIN'];
  if (fromEnv !== undefined && existsSync(join(fromEnv, 'initdb'))) return fromEnv;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions[0] === undefined) {
    throw new Error(
      'PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: apt-get install -y postgresql',
    );
  }
  return join(root, versions[0], 'bin');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export default async function setup(project: TestProject): Promise<() => void> {
  const { url, stop } = await startCluster({ durable: false });
  project.provide('postgresUrl', url);
  return stop;
}

/**
 * Starts a throwaway cluster on a free loopback port and creates the database `triturus_test`.
 * `durable: false` (the tests) turns fsync off: the tests kill clients, never this server, so its
 * own durability does not matter. The benchmarks keep PostgreSQL's default durability, as a bridge's
 * database would run. `stop` stops it and deletes its files (also on an abrupt exit of the process).
 */
export async function startCluster(options: { durable: boolean }): Promise<{ url: string; stop: () => void }> {
  const bin = findBinaries();
  const asRoot = process.getuid?.() === 0;
  const run = (command: string, args: string[]): void => {
    const [file, argv] = asRoot
      ? ['runuser', ['-u', 'postgres', '--', join(bin, command), ...args]]
      : [join(bin, command), args];
    const result = spawnSync(file, argv, { encoding: 'utf8', timeout: 60_000 });
    if (result.status !== 0) {
      throw new Error(
        `${command} failed (${result.status ?? result.signal}): ${result.stderr || result.stdout || result.error}`,
      );
    }
  };

  const dir = mkdtempSync(join(tmpdir(), 'triturus-pg-'));
  const data = join(dir, 'data');
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  chmodSync(dir, 0o700);

  const port = await freePort();
  let started = false;
  const teardown = (): void => {
    if (started) {
      try {
        run('pg_ctl', ['stop', '-D', data, '-m', 'immediate', '-w']);
      } catch {
        // the cluster is deleted below either way
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    const serverOptions = [
      `-p ${port}`,
      "-c listen_addresses='127.0.0.1'",
      `-c unix_socket_directories='${dir}'`,
      ...(options.durable ? [] : ['-c fsync=off', '-c full_page_writes=off']),
      '-c max_connections=200',
    ].join(' ');
    run('pg_ctl', ['start', '-D', data, '-o', serverOptions, '-l', join(dir, 'server.log'), '-w', '-t', '60']);
    started = true;
    run('createdb', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', 'triturus_test']);
  } catch (error) {
    teardown();
    throw error;
  }
  // Also on an abrupt exit of vitest (an unhandled error), so no server outlives the run.
  let stopped = false;
  const once = (): void => {
    if (stopped) return;
    stopped = true;
    process.off('exit', once);
    teardown();
  };
  process.on('exit', once);
  return { url: `postgres://postgres@127.0.0.1:${port}/triturus_test`, stop: once };
}
