/**
 * React Native's situation, in a non-V8 engine: the noble core bundled by esbuild (the package's default
 * export condition, as a React Native bundler sees it) and run inside QuickJS (quickjs-emscripten), which has
 * no WebCrypto, no TextEncoder/TextDecoder and no Buffer. The host provides only `crypto.getRandomValues`.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { getQuickJS, type QuickJSWASMModule } from 'quickjs-emscripten';
import { beforeAll, describe, expect, it } from 'vitest';

let bundle = '';
let quickjs: QuickJSWASMModule;

beforeAll(async () => {
  const result = await build({
    entryPoints: [fileURLToPath(new URL('./entry.ts', import.meta.url))],
    bundle: true,
    format: 'iife',
    platform: 'neutral',
    target: 'es2022',
    // No `node` condition: `#crypto-default` resolves to the noble backend, as for a React Native bundle.
    conditions: ['triturus-source'],
    mainFields: ['module', 'main'],
    write: false,
    logLevel: 'silent',
  });
  bundle = result.outputFiles[0]!.text;
  quickjs = await getQuickJS();
}, 120_000);

/** Evaluates the bundle in a fresh QuickJS context; with `shim`, `crypto.getRandomValues` draws from the host. */
function runInQuickJS(shim: boolean): Record<string, unknown> {
  const vm = quickjs.newContext();
  try {
    if (shim) {
      const hostRandom = vm.newFunction('hostRandom', (n) =>
        vm.newString(randomBytes(vm.getNumber(n)).toString('hex')),
      );
      vm.setProp(vm.global, 'hostRandom', hostRandom);
      hostRandom.dispose();
      const setup = vm.evalCode(`globalThis.crypto = { getRandomValues(array) {
        const hex = hostRandom(array.length);
        for (let i = 0; i < array.length; i++) array[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
        return array;
      } };`);
      vm.unwrapResult(setup).dispose();
    }
    const result = vm.evalCode(bundle, 'triturus-quickjs.js');
    if (result.error) {
      const error = vm.dump(result.error);
      result.error.dispose();
      throw new Error(`QuickJS threw: ${JSON.stringify(error)}`);
    }
    result.value.dispose();
    const report = vm.getProp(vm.global, 'triturusReport');
    const text = vm.getString(report);
    report.dispose();
    return JSON.parse(text) as Record<string, unknown>;
  } finally {
    vm.dispose();
  }
}

describe('QuickJS (no WebCrypto, no TextEncoder): the noble core with a getRandomValues shim', () => {
  it('an Olm conversation, an account pickle, a Megolm message and a signature', () => {
    expect(runInQuickJS(true)).toEqual({
      engine: { textEncoder: 'undefined', subtle: 'undefined', buffer: 'undefined', getRandomValues: 'function' },
      backend: 'noble',
      olm: ['grüße, bob', 'hi alice'],
      pickle: true,
      megolm: ['to the room', 1],
      signature: true,
    });
  });

  it('without the shim, creating an account is a TriturusError RANDOM_UNAVAILABLE', () => {
    const report = runInQuickJS(false);
    expect(report['engine']).toEqual({
      textEncoder: 'undefined',
      subtle: 'undefined',
      buffer: 'undefined',
      getRandomValues: 'undefined',
    });
    expect(report['error']).toMatch(/^TriturusError RANDOM_UNAVAILABLE: /);
  });
});
