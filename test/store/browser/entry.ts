/**
 * The browser side of the IndexedDB tests, bundled by test/store/indexeddb.test.ts and loaded in a real
 * Chromium page: the conformance harness on IndexedDB, fixtures made with the raw IndexedDB API, and the
 * counter worker for the two-tab lease test. Results go back to Node as plain JSON.
 */
import { IndexedDbStore } from '../../../src/store/indexeddb.js';
import { casesFor, type StoreHarness, V1_FIXTURE } from '../conformance.js';
import { type CounterOptions, type CounterResult, checkCounter, runCounter } from '../counter-worker.js';

const DATABASE = 'conformance';

function openRaw(name: string, version: number, upgrade: (db: IDBDatabase) => void): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(name, version);
    req.onupgradeneeded = () => upgrade(req.result);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/** The first schema (v1) made by hand, frozen here on purpose: the upgrade test starts from it. */
function createV1Stores(db: IDBDatabase): void {
  db.createObjectStore('accounts', { keyPath: 'scope' });
  db.createObjectStore('olmSessions', { keyPath: ['scope', 'senderKey', 'sessionId'] });
  db.createObjectStore('inboundGroupSessions', { keyPath: ['scope', 'roomId', 'sessionId'] });
  db.createObjectStore('outboundGroupSessions', { keyPath: ['scope', 'roomId'] });
  db.createObjectStore('replays', { keyPath: ['scope', 'sessionId', 'messageIndex'] });
  db.createObjectStore('mlsGroups', { keyPath: ['scope', 'groupId'] });
  db.createObjectStore('values', { keyPath: ['scope', 'key'] });
}

async function createV1(scope: string): Promise<() => Promise<IndexedDbStore>> {
  const name = `v1-${scope}`;
  const db = await openRaw(name, 1, createV1Stores);
  const f = V1_FIXTURE;
  await new Promise<void>((resolve, reject) => {
    const tx = db.transaction(db.objectStoreNames, 'readwrite');
    tx.objectStore('accounts').put({ scope, ...f.account });
    tx.objectStore('olmSessions').put({ scope, ...f.olmSession });
    tx.objectStore('inboundGroupSessions').put({ scope, ...f.inboundGroupSession });
    tx.objectStore('outboundGroupSessions').put({ scope, ...f.outboundGroupSession });
    tx.objectStore('replays').put({ scope, ...f.replay });
    tx.objectStore('mlsGroups').put({ scope, ...f.mlsGroup });
    tx.objectStore('values').put({ scope, ...f.value });
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error);
  });
  db.close();
  return () => IndexedDbStore.open({ scope, databaseName: name });
}

async function createNewer(scope: string): Promise<() => Promise<IndexedDbStore>> {
  const name = `newer-${scope}`;
  const db = await openRaw(name, 99, createV1Stores);
  db.close();
  return () => IndexedDbStore.open({ scope, databaseName: name });
}

const harness: StoreHarness = {
  backend: 'indexeddb',
  open: (scope) => IndexedDbStore.open({ scope, databaseName: DATABASE }),
  schemaFixtures: { createV1, createNewer },
};

type Outcome = { ok: true } | { ok: false; message: string };

const describeError = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ''}` : String(error);

const api = {
  names: (): string[] => casesFor(harness).map((c) => c.name),
  async run(name: string): Promise<Outcome> {
    const c = casesFor(harness).find((x) => x.name === name);
    if (c === undefined) return { ok: false, message: `no conformance case named ${name}` };
    try {
      await c.run(harness);
      return { ok: true };
    } catch (error) {
      return { ok: false, message: describeError(error) };
    }
  },
  async counter(scope: string, options: CounterOptions): Promise<CounterResult | { error: string }> {
    const store = await IndexedDbStore.open({ scope, databaseName: 'two-tabs' });
    try {
      return await runCounter(store, options);
    } catch (error) {
      return { error: describeError(error) };
    } finally {
      await store.close();
    }
  },
  async checkCounter(scope: string, results: CounterResult[]): Promise<string[]> {
    const store = await IndexedDbStore.open({ scope, databaseName: 'two-tabs' });
    try {
      return await checkCounter(store, results);
    } finally {
      await store.close();
    }
  },
};

(globalThis as unknown as { triturusStore: typeof api }).triturusStore = api;
export type BrowserApi = typeof api;
