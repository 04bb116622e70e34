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

describe('what the first protocol calls load under Node', () => {
  it("Megolm and Olm round trips do not load Node's WebCrypto (its first use costs milliseconds)", async () => {
    // A fresh process, as a bridge restarting: the sources bundled for the node condition, run by node.
    const result = await build({
      stdin: {
        contents: `
          import { Account, GroupSession, InboundGroupSession, SessionConfig } from 'triturus';
          const outbound = GroupSession.create();
          const inbound = InboundGroupSession.fromSessionKey(outbound.sessionKey());
          inbound.decrypt(outbound.encrypt('hello'));
          const alice = Account.create();
          const bob = Account.create();
          bob.generateOneTimeKeys(1);
          const [, otk] = [...bob.oneTimeKeys][0];
          const session = alice.createOutboundSession(SessionConfig.version1(), bob.curve25519Key, otk);
          bob.createInboundSession(alice.curve25519Key, session.encrypt('hi'));
          // Importing node:crypto loads internal/crypto/webcrypto already; its first use (getRandomValues) loads the rest.
          const loaded = process.moduleLoadList.filter((m) => m.includes('internal/crypto/webidl'));
          console.log(JSON.stringify(loaded));
        `,
        resolveDir: root,
        loader: 'ts',
      },
      bundle: true,
      write: false,
      platform: 'node',
      format: 'esm',
      conditions: ['triturus-source', 'node'],
      logLevel: 'silent',
    });
    const { execFileSync } = await import('node:child_process');
    const output = execFileSync(process.execPath, ['--input-type=module', '-'], {
      input: result.outputFiles[0]!.text,
      encoding: 'utf8',
    });
    expect(JSON.parse(output.trim().split('\n').at(-1)!)).toEqual([]);
  });
});
