/**
 * The WebCrypto path in real headless Chromium, where it is meant to run (triturus bundled for the browser:
 * the noble backend, with Chromium's WebCrypto Ed25519 and X25519 through src/crypto/platform.ts). In one
 * page: detection finds both curves; a seeded Olm and Megolm conversation is byte-identical through
 * WebCrypto and on noble alone; random signatures, forged signatures and X25519 agree between the two.
 * In a second page whose WebCrypto refuses both curves (an older browser): detection finds neither and the
 * whole Device scenario (test/device/child/scenario.ts, on IndexedDB) passes on noble alone. The Device
 * scenario with WebCrypto available runs in test/device/backends.test.ts.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scenarioSteps } from '../device/child/scenario.js';
import { type ServedChromium, serveInChromium } from '../support/chromium-page.js';

const ENTRY = `
import { setPlatformCrypto, platformCrypto, withPlatformCrypto } from './src/crypto/platform.ts';
import { Ed25519SecretKey, X25519SecretKey, ed25519Verify } from './src/crypto/index.ts';
import { TriturusError } from './src/errors.ts';
import { IndexedDbStore } from './src/store/indexeddb.ts';
import { conversation } from './test/support/platform-conversation.ts';
import { newScenarioState, scenarioSteps, closeScenario } from './test/device/child/scenario.ts';

const calls = { sign: 0, verify: 0, deriveBits: 0 };
for (const name of Object.keys(calls)) {
  const original = crypto.subtle[name].bind(crypto.subtle);
  crypto.subtle[name] = (...args) => { calls[name]++; return original(...args); };
}
// IndexedDB write transactions by durability: replay-only commits relaxed, every other commit strict.
const durability = { strict: 0, relaxed: 0 };
const transaction = IDBDatabase.prototype.transaction;
IDBDatabase.prototype.transaction = function (stores, mode, options) {
  if (mode === 'readwrite') durability[options?.durability ?? 'default'] = (durability[options?.durability ?? 'default'] ?? 0) + 1;
  return transaction.call(this, stores, mode, options);
};
const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const random = (n) => crypto.getRandomValues(new Uint8Array(n));
async function outcome(fn) {
  try { return 'ok:' + String(await fn()); }
  catch (e) { if (e instanceof TriturusError) return 'error:' + e.code; throw e; }
}
async function both(fn) {
  setPlatformCrypto('off');
  const alone = await outcome(fn);
  setPlatformCrypto('auto');
  const platform = await outcome(() => withPlatformCrypto(fn));
  return [alone, platform];
}

globalThis.triturusPlatform = {
  detect: () => platformCrypto(),
  calls: () => ({ ...calls }),
  durability: () => ({ ...durability }),
  async conversation() {
    setPlatformCrypto('off');
    const alone = await conversation((fn) => Promise.resolve(fn()));
    setPlatformCrypto('auto');
    const platform = await conversation(withPlatformCrypto);
    return { alone, platform };
  },
  async agreement(runs) {
    const disagreements = [];
    let refused = 0;
    for (let i = 0; i < runs; i++) {
      const key = Ed25519SecretKey.fromSeed(random(32));
      const message = random(i % 90);
      const [a, b] = await both(() => hex(key.sign(message)));
      if (a !== b) disagreements.push(['sign', i, a, b]);
      const signature = key.sign(message).slice();
      const how = i % 4;
      let publicKey = key.publicKey;
      if (how === 1) signature[i % 64] ^= 1 << (i % 8);
      if (how === 2) publicKey = Ed25519SecretKey.fromSeed(random(32)).publicKey;
      const signed = how === 3 ? Uint8Array.of(...message, 1) : message;
      const [va, vb] = await both(() => ed25519Verify(publicKey, signed, signature));
      if (va !== vb) disagreements.push(['verify', i, va, vb]);
      if (va === 'ok:false') refused++;
      const ours = X25519SecretKey.fromBytes(random(32));
      const theirs = X25519SecretKey.fromBytes(random(32));
      const [da, db] = await both(() => hex(ours.diffieHellman(theirs.publicKey)));
      if (da !== db) disagreements.push(['x25519', i, da, db]);
      const [pa, pb] = await both(() => hex(X25519SecretKey.fromBytes(random(32)).publicKey));
      if (pa.length !== pb.length) disagreements.push(['x25519 public', i, pa, pb]);
    }
    const lowOrder = ['0000000000000000000000000000000000000000000000000000000000000000',
      'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
      'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'];
    const ours = X25519SecretKey.fromBytes(random(32));
    const lowOrderOutcomes = [];
    for (const point of lowOrder) {
      const bytes = Uint8Array.from(point.match(/../g), (h) => parseInt(h, 16));
      lowOrderOutcomes.push(await both(() => hex(ours.diffieHellman(bytes))));
    }
    return { disagreements, refused, lowOrderOutcomes };
  },
  async scenario(databaseName) {
    const state = newScenarioState({
      name: 'indexeddb', devices: 3, userPrefix: 'user',
      open: (scope) => IndexedDbStore.open({ scope, databaseName }),
    });
    const outcomes = [];
    let failed = false;
    for (const step of scenarioSteps) {
      if (failed) { outcomes.push({ name: step.name, ok: false, message: 'skipped after an earlier failure' }); continue; }
      try { await step.run(state); outcomes.push({ name: step.name, ok: true }); }
      catch (error) { failed = true; outcomes.push({ name: step.name, ok: false, message: String((error && error.stack) || error) }); }
    }
    await closeScenario(state);
    return outcomes;
  },
};
`;

// Installed before the bundle runs in the fallback page: WebCrypto without Ed25519 and X25519.
function refuseCurves(): void {
  const subtle = globalThis.crypto.subtle;
  const importKey = subtle.importKey.bind(subtle);
  subtle.importKey = ((...args: Parameters<SubtleCrypto['importKey']>) => {
    const algorithm = args[2];
    const name = typeof algorithm === 'string' ? algorithm : algorithm.name;
    if (name === 'Ed25519' || name === 'X25519') {
      return Promise.reject(new DOMException('Algorithm: Unrecognized name', 'NotSupportedError'));
    }
    return importKey(...(args as [never, never, never, never, never]));
  }) as SubtleCrypto['importKey'];
}

interface Api {
  detect(): Promise<{ ed25519: boolean; x25519: boolean }>;
  calls(): { sign: number; verify: number; deriveBits: number };
  durability(): Record<string, number>;
  conversation(): Promise<{ alone: string[]; platform: string[] }>;
  agreement(runs: number): Promise<{ disagreements: unknown[]; refused: number; lowOrderOutcomes: string[][] }>;
  scenario(databaseName: string): Promise<{ name: string; ok: boolean; message?: string }[]>;
}

let served: ServedChromium | undefined;
let browser: Browser;
let origin: string;
const pageErrors: string[] = [];

async function openPage(withoutCurves: boolean): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  page.on('pageerror', (error) => pageErrors.push(error.message));
  if (withoutCurves) await page.addInitScript(refuseCurves);
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => 'triturusPlatform' in globalThis, undefined, { timeout: 30_000 });
  return page;
}

function call<K extends keyof Api>(
  page: Page,
  method: K,
  ...args: Parameters<Api[K]>
): Promise<Awaited<ReturnType<Api[K]>>> {
  return page.evaluate(
    ([m, a]) => {
      const api = (globalThis as unknown as { triturusPlatform: Record<string, (...x: unknown[]) => unknown> })
        .triturusPlatform;
      return api[m as string]!(...(a as unknown[]));
    },
    [method, args] as const,
  ) as Promise<Awaited<ReturnType<Api[K]>>>;
}

beforeAll(async () => {
  served = await serveInChromium(ENTRY);
  browser = served.browser;
  origin = served.origin;
}, 120_000);

afterAll(async () => {
  await served?.close();
});

describe('WebCrypto in Chromium (the browser path)', () => {
  let page: Page;
  beforeAll(async () => {
    page = await openPage(false);
  });

  it('detection finds Ed25519 and X25519', async () => {
    expect(await call(page, 'detect')).toEqual({ ed25519: true, x25519: true });
  });

  it('a seeded Olm and Megolm conversation is byte-identical through WebCrypto and on noble alone', async () => {
    const before = await call(page, 'calls');
    const { alone, platform } = await call(page, 'conversation');
    expect(alone.length).toBeGreaterThan(20);
    expect(platform).toEqual(alone);
    const after = await call(page, 'calls');
    expect(after.sign).toBeGreaterThan(before.sign);
    expect(after.verify).toBeGreaterThan(before.verify);
    expect(after.deriveBits).toBeGreaterThan(before.deriveBits);
  });

  it('signatures, verdicts (forged ones too) and X25519 agree on random inputs; low-order points refused alike', async () => {
    const { disagreements, refused, lowOrderOutcomes } = await call(page, 'agreement', 60);
    expect(disagreements).toEqual([]);
    expect(refused).toBeGreaterThanOrEqual(40); // three forgery kinds in four: all refused
    for (const [alone, platform] of lowOrderOutcomes) {
      expect(alone).toBe('error:KEY_NON_CONTRIBUTORY');
      expect(platform).toBe(alone);
    }
    expect(pageErrors).toEqual([]);
  });
});

describe('a browser whose WebCrypto lacks Ed25519 and X25519 falls back to noble', () => {
  let page: Page;
  let outcomes: { name: string; ok: boolean; message?: string }[] = [];
  beforeAll(async () => {
    page = await openPage(true);
    outcomes = await call(page, 'scenario', `platform-fallback-${Date.now()}`);
  }, 240_000);

  it('detection finds neither', async () => {
    expect(await call(page, 'detect')).toEqual({ ed25519: false, x25519: false });
  });

  it('the conversation still matches, with no WebCrypto curve call at all', async () => {
    const { alone, platform } = await call(page, 'conversation');
    expect(platform).toEqual(alone);
    expect(await call(page, 'calls')).toEqual({ sign: 0, verify: 0, deriveBits: 0 });
  });

  it('IndexedDB: the replay-only commits of decrypted room events were relaxed, all others strict', async () => {
    const counts = await call(page, 'durability');
    expect(counts['relaxed']).toBeGreaterThan(0);
    expect(counts['strict']).toBeGreaterThan(counts['relaxed']!);
    expect(Object.keys(counts).sort()).toEqual(['relaxed', 'strict']);
  });

  for (const step of scenarioSteps) {
    it(`Device scenario on noble alone: ${step.name}`, () => {
      const outcome = outcomes.find((o) => o.name === step.name);
      expect(outcome, 'the page ran the step').toBeDefined();
      if (!outcome!.ok) throw new Error(outcome!.message);
      expect(pageErrors).toEqual([]);
    });
  }
});
