import { describe, it } from 'vitest';
import { MemoryDatabase, MemoryStore } from '../../src/store/memory.js';
import { casesFor, checkEqual, type StoreHarness } from './conformance.js';

// One shared database per file: every `open` is a second handle on it, like a second process.
const database = new MemoryDatabase();
const harness: StoreHarness = { backend: 'memory', open: async (scope) => database.open(scope) };

describe('memory store conformance', () => {
  for (const c of casesFor(harness)) it(c.name, () => c.run(harness));
});

describe('memory store', () => {
  it('a store made without a database has one of its own', async () => {
    const a = new MemoryStore('@a:example.org|A');
    const b = new MemoryStore('@a:example.org|A');
    await a.commit({ values: [{ key: 'k', value: 'v' }] });
    checkEqual(await b.loadValue('k'), undefined, 'separate databases');
  });

  it('returned entries cannot change what is stored', async () => {
    const store = database.open('@copy:example.org|A');
    const record = { schema: 1, data: 'original' };
    await store.commit({ account: record, olmSessions: [{ senderKey: 'k', sessionId: 's', lastUsedAt: 1, record }] });
    record.data = 'mutated by the caller';
    const [session] = await store.loadOlmSessions('k');
    try {
      (session!.record as { data: string }).data = 'mutated by a reader';
    } catch {
      // frozen: fine
    }
    checkEqual((await store.loadAccount())?.data, 'original', 'account');
    checkEqual((await store.loadOlmSessions('k'))[0]?.record.data, 'original', 'olm session');
  });
});
