/**
 * The examples run as CI runs them: the README's tour is examples/tour.ts's `tour` region word for word, and
 * both it and the demo run to the end with the transcript they promise (the demo shares each room key once
 * per device: a second copy would be reported by the receiver as already known).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

function runExample(file: string): string {
  const cwd = mkdtempSync(join(tmpdir(), 'triturus-example-'));
  try {
    const result = spawnSync(
      process.execPath,
      [join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'), '--conditions=triturus-source', join(root, file)],
      { cwd, encoding: 'utf8', timeout: 120_000 },
    );
    if (result.status !== 0) throw new Error(`${file} exited ${result.status ?? result.signal}: ${result.stderr}`);
    return result.stdout;
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

/** The lines between `// #region tour` and `// #endregion tour`. */
function tourRegion(): string {
  const source = readFileSync(join(root, 'examples/tour.ts'), 'utf8');
  const match = /\/\/ #region tour\n([\s\S]*?)\/\/ #endregion tour/.exec(source);
  if (match === null) throw new Error('examples/tour.ts has no tour region');
  return match[1]!.trim();
}

/** The first ```ts block of the README's "A short tour" section. */
function readmeTour(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## A short tour'));
  const match = /```ts\n([\s\S]*?)```/.exec(section);
  if (match === null) throw new Error('README has no tour code block');
  return match[1]!.trim();
}

describe('examples', () => {
  it('the README tour is examples/tour.ts word for word', () => {
    expect(readmeTour()).toBe(tourRegion());
  });

  it('the tour runs: Bob receives the room key and reads the message', () => {
    const out = runExample('examples/tour.ts');
    expect(out).toMatch(/^Bob got m\.room_key from @alice:example\.org: room key \S{43}$/m);
    expect(out).toContain('Bob reads "hi Bob" (index 0, verified)');
  });

  it('the demo runs; every room key reaches each device once; only the replay is refused', () => {
    const out = runExample('examples/demo.ts');
    expect(out).not.toContain('already known (sent twice)');
    expect(out.match(/decrypts a to-device m\.room_key/g)).toHaveLength(6);
    expect(out.match(/cannot read it/g)).toEqual(['cannot read it']);
    expect(out).toContain('EVENT_REPLAYED');
    expect(out).toContain('The tablet imports');
    expect(out).toMatch(/Done\. The state is in /);
  });
});
