/** Runs a TypeScript child script under tsx (works in a fresh clone after `npm ci`, no build needed). */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

export interface Child {
  readonly process: ChildProcess;
  /** Every complete stdout line so far. */
  readonly lines: string[];
  /** Resolves once a line matches. Rejects if the child exits first. */
  waitForLine(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (or signal) once the child is gone. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

export function startChild(script: string, args: string[]): Child {
  const child = spawn(
    process.execPath,
    [
      '--conditions=triturus-source',
      '--import',
      'tsx',
      fileURLToPath(new URL(`./child/${script}`, import.meta.url)),
      ...args,
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: string[] = [];
  let partial = '';
  let err = '';
  const waiters = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    partial += chunk;
    const parts = partial.split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
    for (const w of waiters) w();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => {
      for (const w of waiters) w();
      resolve({ code, signal });
    });
  });
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  return {
    process: child,
    lines,
    exited,
    stderr: () => err,
    waitForLine(match, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for the child (${script}); stderr: ${err}`));
        }, timeoutMs);
        const check = (): void => {
          const line = lines.find(match);
          if (line !== undefined || gone || child.exitCode !== null) {
            clearTimeout(timer);
            waiters.delete(check);
            if (line !== undefined) resolve(line);
            else reject(new Error(`the child (${script}) exited (${child.exitCode}) first; stderr: ${err}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
  };
}
