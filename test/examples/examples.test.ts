/**
 * The examples run as CI runs them: the README's tour is examples/tour.ts's `tour` region word for word, and
 * both it and the demo run to the end with the transcript they promise (the demo shares each room key once
 * per device: a second copy would be reported by the receiver as already known).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
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

/** The `n`th ```ts block of the README's "A short tour" section. */
function readmeTour(n = 0): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## A short tour'));
  const block = [...section.matchAll(/```ts\n([\s\S]*?)```/g)][n];
  if (block === undefined) throw new Error(`README has no tour code block ${n}`);
  return block[1]!.trim();
}

describe('examples', () => {
  it('the README tour is examples/tour.ts word for word', () => {
    expect(readmeTour()).toBe(tourRegion());
  });

  it("the README's protocol-objects block runs as written", () => {
    // Inside the repository, so that 'triturus' resolves to this package (its source, by the tsx condition).
    mkdirSync(join(root, '.tmp'), { recursive: true });
    const dir = mkdtempSync(join(root, '.tmp', 'readme-'));
    try {
      const file = join(dir, 'objects.ts');
      writeFileSync(
        file,
        `${readmeTour(1)}\nconsole.log(JSON.stringify({ plaintext: new TextDecoder().decode(plaintext), saved: typeof saved }));\n`,
      );
      expect(JSON.parse(runExample(relative(root, file)))).toEqual({ plaintext: 'hello', saved: 'string' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the tour runs: Bob receives the room key and reads the message', () => {
    const out = runExample('examples/tour.ts');
    expect(out).toMatch(/^Bob got m\.room_key, room key \S{43}$/m);
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
