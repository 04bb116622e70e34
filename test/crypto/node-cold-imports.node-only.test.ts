/**
 * Cheap start on Node (issue 12): under the `node` condition, `import 'triturus'` must load only what
 * the node:crypto backend uses. The module graph comes from esbuild's metafile (static imports only, so a
 * module loaded on first use through createRequire or import() is not in it), built from the sources.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

async function staticGraph(source: string): Promise<string[]> {
  const result = await build({
    stdin: { contents: source, resolveDir: root, loader: 'ts' },
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'esm',
    conditions: ['triturus-source', 'node'],
    logLevel: 'silent',
  });
  return Object.keys(result.metafile.inputs);
}

describe('what the default entry point loads under Node', () => {
  it('no @noble module, no MLS engine, no DMLS, libolm, store or Device code', async () => {
    const inputs = await staticGraph(`export * from 'triturus';`);
    expect(inputs.filter((f) => f.includes('src/olm/session.ts'))).toHaveLength(1);
    expect(inputs.filter((f) => f.includes('src/crypto/node.ts'))).toHaveLength(1);
    for (const part of [
      '@noble/',
      'ts-mls',
      'src/dmls/',
      'src/libolm/',
      'src/store/',
      'src/device/',
      'src/crypto/noble',
    ]) {
      expect(inputs.filter((f) => f.includes(part))).toEqual([]);
    }
  });
});
