/**
 * The public crypto backends: `triturus/crypto` (choosing), `triturus/crypto/node` and
 * `triturus/crypto/noble` (the backends), imported here through the package's own exports map.
 *
 * - each exported backend can be selected and runs a round trip (Olm, Megolm, signatures, a libolm
 *   expanded key, pickles), and objects made under one backend keep working under the other;
 * - what each entry point loads, from esbuild's metafile: the default import under the `node`
 *   condition loads node:crypto and no @noble module; the browser default loads noble and never
 *   node:crypto; each backend subpath loads only its own library.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import {
  Account,
  GroupSession,
  InboundGroupSession,
  type PreKeyMessage,
  Session,
  SessionConfig,
  TriturusError,
} from 'triturus';
import { type CryptoBackend, cryptoBackend, setCryptoBackend, warmUp } from 'triturus/crypto';
import { nobleBackend } from 'triturus/crypto/noble';
import { nodeBackend } from 'triturus/crypto/node';
import { accountFromLibolmPickle, accountToLibolmPickle } from 'triturus/libolm';
import { afterEach, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const projectDefault = cryptoBackend();
afterEach(() => setCryptoBackend(projectDefault));

const PICKLE_KEY = new Uint8Array(32).fill(9);

/** A conversation and a room message, signatures and pickles, all under the active backend. */
function roundTrip(): void {
  const alice = Account.create();
  const bob = Account.create();
  bob.generateOneTimeKeys(1);
  const oneTimeKey = [...bob.oneTimeKeys.values()][0]!;
  bob.markKeysAsPublished();
  const outbound = alice.createOutboundSession(SessionConfig.version1(), bob.curve25519Key, oneTimeKey);
  const { session: inbound, plaintext } = bob.createInboundSession(
    alice.curve25519Key,
    outbound.encrypt('hello') as PreKeyMessage,
  );
  expect(new TextDecoder().decode(plaintext)).toBe('hello');
  expect(outbound.decryptText(inbound.encrypt('reply'))).toBe('reply');
  const restored = Session.fromPickle(inbound.pickle(PICKLE_KEY), PICKLE_KEY);
  expect(restored.decryptText(outbound.encrypt('after pickle'))).toBe('after pickle');

  const signature = alice.sign('signed');
  alice.ed25519Key.verify('signed', signature);
  expect(() => bob.ed25519Key.verify('signed', signature)).toThrow(TriturusError);

  // libolm's expanded-key form (written and read back by the libolm subpath) signs alike.
  const imported = accountFromLibolmPickle(accountToLibolmPickle(alice, 'k'), 'k');
  expect(imported.sign('signed').toBase64()).toBe(signature.toBase64());

  const group = GroupSession.create();
  const room = InboundGroupSession.fromSessionKey(group.sessionKey());
  expect(new TextDecoder().decode(room.decrypt(group.encrypt('to the room')).plaintext)).toBe('to the room');
}

describe('each exported backend can be selected and runs a round trip', () => {
  for (const backend of [nodeBackend, nobleBackend] as CryptoBackend[]) {
    it(`${backend.name}`, () => {
      setCryptoBackend(backend);
      expect(cryptoBackend()).toBe(backend);
      warmUp();
      roundTrip();
    });
  }

  it('objects made under one backend keep working under the other', () => {
    setCryptoBackend(nodeBackend);
    const alice = Account.create();
    const bob = Account.create();
    bob.generateOneTimeKeys(1);
    const outbound = alice.createOutboundSession(
      SessionConfig.version1(),
      bob.curve25519Key,
      [...bob.oneTimeKeys.values()][0]!,
    );
    const first = outbound.encrypt('one') as PreKeyMessage;
    setCryptoBackend(nobleBackend);
    const { session } = bob.createInboundSession(alice.curve25519Key, first);
    expect(outbound.decryptText(session.encrypt('two'))).toBe('two');
    const signature = alice.sign('x');
    setCryptoBackend(nodeBackend);
    expect(alice.sign('x').toBase64()).toBe(signature.toBase64());
    alice.ed25519Key.verify('x', signature);
  });

  it('setCryptoBackend refuses anything but a whole backend, and keeps the one in use', () => {
    setCryptoBackend(nobleBackend);
    const partial = { ...nodeBackend } as Partial<CryptoBackend>;
    delete partial.ed25519SignExpanded;
    const notAFunction = { ...nodeBackend, aes256Ctr: 'no' } as unknown as CryptoBackend;
    const wrongName = { ...nodeBackend, name: 'openssl' } as unknown as CryptoBackend;
    for (const bad of [undefined, null, 'node', {}, partial, notAFunction, wrongName]) {
      let caught: unknown;
      try {
        setCryptoBackend(bad as CryptoBackend);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(TriturusError);
      expect((caught as TriturusError).code).toBe('INVALID_ARGUMENT');
      expect(cryptoBackend()).toBe(nobleBackend);
    }
  });
});

describe('what each entry point loads', () => {
  /** Source files and external modules (node:*) an entry reaches, resolved as a bundler would. */
  async function loads(entry: string, platform: 'node' | 'browser'): Promise<{ files: string[]; external: string[] }> {
    const result = await build({
      stdin: { contents: `export * from '${entry}';`, resolveDir: root, loader: 'ts' },
      bundle: true,
      write: false,
      metafile: true,
      logLevel: 'silent',
      format: 'esm',
      platform,
      // Bundlers add `node` under Node; the browser gets the `default` branch.
      conditions: ['triturus-source'],
      external: ['node:*'],
    });
    const files = Object.keys(result.metafile.inputs);
    const external = new Set<string>();
    for (const input of Object.values(result.metafile.inputs))
      for (const i of input.imports) if (i.external) external.add(i.path);
    return { files, external: [...external] };
  }
  const noble = (files: string[]) => files.filter((f) => f.includes('node_modules/@noble/'));
  /**
   * The node backend carries one noble module on purpose: ChaCha20-Poly1305 from @noble/ciphers, for runtimes
   * whose node:crypto lacks it (Bun). No curves and no hashes.
   */
  const beyondChacha = (files: string[]) =>
    noble(files).filter((f) => !/node_modules\/@noble\/ciphers\/(chacha|_arx|_poly1305|utils)\.js$/.test(f));

  it('triturus under the node condition: node:crypto, no @noble module but the ChaCha20-Poly1305 fallback', async () => {
    const { files, external } = await loads('triturus', 'node');
    expect(files).toContain('src/crypto/node.ts');
    expect(files).not.toContain('src/crypto/noble.ts');
    expect(beyondChacha(files)).toEqual([]);
    expect(external).toContain('node:crypto');
  });

  it('triturus in a browser: noble, never node:crypto', async () => {
    const { files, external } = await loads('triturus', 'browser');
    expect(files).toContain('src/crypto/noble.ts');
    expect(files).not.toContain('src/crypto/node.ts');
    expect(noble(files).length).toBeGreaterThan(0);
    expect(external).toEqual([]);
  });

  it('triturus/crypto loads only the default backend; each backend subpath only its own library', async () => {
    expect(beyondChacha((await loads('triturus/crypto', 'node')).files)).toEqual([]);
    expect((await loads('triturus/crypto', 'browser')).external).toEqual([]);
    const node = await loads('triturus/crypto/node', 'browser');
    expect(beyondChacha(node.files)).toEqual([]);
    expect(node.external).toContain('node:crypto');
    const nobleOnly = await loads('triturus/crypto/noble', 'node');
    expect(nobleOnly.external).toEqual([]);
    expect(noble(nobleOnly.files).length).toBeGreaterThan(0);
  });

  it('the exports map lists the three subpaths with the source condition first', () => {
    const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { exports: Record<string, unknown> };
    for (const [subpath, file] of [
      ['./crypto', 'crypto/public'],
      ['./crypto/node', 'crypto/node'],
      ['./crypto/noble', 'crypto/noble'],
    ]) {
      expect(pkg.exports[subpath!]).toEqual({
        'triturus-source': `./src/${file}.ts`,
        types: `./dist/${file}.d.ts`,
        node: `./dist/node/${file}.js`,
        default: `./dist/${file}.js`,
      });
      expect(Object.keys(pkg.exports[subpath!] as object)[0]).toBe('triturus-source');
    }
  });
});
