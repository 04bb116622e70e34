/**
 * The Device scenario of test/device/child/scenario.ts on every store backend, on real engines: memory;
 * SQLite (one temp file, every device its own scope); PostgreSQL (the global setup's server, five devices
 * of a "bridge" sharing one pg pool, each its own scope, the pool ended and replaced at the restart);
 * IndexedDB in headless Chromium (the Device, the store and the scenario bundled with esbuild).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MemoryDatabase } from '../../src/store/memory.js';
import { PostgresStore } from '../../src/store/postgres.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { type ServedChromium, serveInChromium } from '../support/chromium-page.js';
import {
  closeScenario,
  newScenarioState,
  type ScenarioBackend,
  type ScenarioState,
  scenarioSteps,
} from './child/scenario.js';

function runScenario(make: () => ScenarioBackend, teardown?: () => Promise<void>): void {
  let state: ScenarioState;
  beforeAll(() => {
    state = newScenarioState(make());
  });
  afterAll(async () => {
    await closeScenario(state);
    await teardown?.();
  });
  for (const step of scenarioSteps) it(step.name, () => step.run(state));
}

describe('Device on the memory store (three devices in one MemoryDatabase)', () => {
  const database = new MemoryDatabase();
  runScenario(() => ({ name: 'memory', devices: 3, userPrefix: 'user', open: async (scope) => database.open(scope) }));
});

describe('Device on SQLite (three devices in one file)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'triturus-device-sqlite-'));
  const path = join(dir, 'devices.db');
  runScenario(
    () => ({ name: 'sqlite', devices: 3, userPrefix: 'user', open: (scope) => SqliteStore.open({ scope, path }) }),
    async () => rmSync(dir, { recursive: true, force: true }),
  );
});

describe('Device on PostgreSQL (a bridge: five devices sharing one pg pool)', () => {
  let pool: pg.Pool | undefined;
  const newPool = (): pg.Pool => {
    const p = new pg.Pool({ connectionString: inject('postgresUrl'), max: 3 });
    p.on('error', () => {});
    return p;
  };
  runScenario(
    () => {
      pool = newPool();
      return {
        name: 'postgres',
        devices: 5,
        userPrefix: 'bridge_',
        open: (scope) => PostgresStore.open({ scope, pool: pool! }),
        async restart() {
          // The bridge restarts: its pool (every connection) goes away and a new one comes up.
          await pool!.end();
          pool = newPool();
        },
      };
    },
    async () => {
      await pool?.end();
    },
  );
});

// ---------------------------------------------------------------------------------------------
// IndexedDB in headless Chromium

const BROWSER_ENTRY = `
import { IndexedDbStore } from './src/store/indexeddb.ts';
import { newScenarioState, scenarioSteps, closeScenario } from './test/device/child/scenario.ts';
globalThis.triturusDevice = {
  names: () => scenarioSteps.map((s) => s.name),
  async run(databaseName) {
    const state = newScenarioState({
      name: 'indexeddb',
      devices: 3,
      userPrefix: 'user',
      open: (scope) => IndexedDbStore.open({ scope, databaseName }),
    });
    const outcomes = [];
    let failed = false;
    for (const step of scenarioSteps) {
      if (failed) { outcomes.push({ name: step.name, ok: false, message: 'skipped after an earlier failure' }); continue; }
      try {
        await step.run(state);
        outcomes.push({ name: step.name, ok: true });
      } catch (error) {
        failed = true;
        outcomes.push({ name: step.name, ok: false, message: String(error && error.stack || error) });
      }
    }
    await closeScenario(state);
    return outcomes;
  },
};
`;

interface Outcome {
  readonly name: string;
  readonly ok: boolean;
  readonly message?: string;
}

describe('Device on IndexedDB (three devices in one database, headless Chromium)', () => {
  let served: ServedChromium | undefined;
  let outcomes: Outcome[] | undefined;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    served = await serveInChromium(BROWSER_ENTRY);
    const { browser, origin } = served;
    const page = await (await browser.newContext()).newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => 'triturusDevice' in globalThis, undefined, { timeout: 30_000 });
    const names = await page.evaluate(() =>
      (globalThis as unknown as { triturusDevice: { names(): string[] } }).triturusDevice.names(),
    );
    expect(names).toEqual(scenarioSteps.map((s) => s.name));
    outcomes = await page.evaluate(
      (db) =>
        (globalThis as unknown as { triturusDevice: { run(db: string): Promise<Outcome[]> } }).triturusDevice.run(db),
      `device-scenario-${Date.now()}`,
    );
  }, 120_000);

  afterAll(async () => {
    await served?.close();
  });

  for (const step of scenarioSteps) {
    it(step.name, () => {
      const outcome = outcomes?.find((o) => o.name === step.name);
      expect(outcome, 'the page ran the step').toBeDefined();
      if (!outcome!.ok) throw new Error(outcome!.message);
      expect(pageErrors).toEqual([]);
    });
  }
});
