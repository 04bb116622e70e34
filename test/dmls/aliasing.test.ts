/**
 * The layer never writes into a buffer it did not allocate: a loader that hands out its own stored
 * arrays (no copies), and the change sets handed to the caller, keep their bytes through messages,
 * commits and deletions (ts-mls decodes into views of its input, and the layer zeroes secrets).
 */
import { describe, expect, it } from 'vitest';
import type { RecordChanges, RecordLoader, RecordValue } from '../../src/dmls/index.js';
import { DmlsAccount } from '../../src/dmls/index.js';

/** A loader that returns its stored arrays themselves and remembers what each held when committed. */
class SharingLoader implements RecordLoader {
  readonly values = new Map<string, RecordValue>();
  readonly snapshots = new Map<string, string>();
  async get(key: string): Promise<RecordValue | undefined> {
    return this.values.get(key);
  }
  /** Keys whose committed bytes had changed by the time they were replaced or removed. */
  readonly damaged: string[] = [];
  apply(changes: RecordChanges): void {
    for (const key of [...changes.put.map((p) => p.key), ...changes.remove]) {
      const value = this.values.get(key);
      if (value === undefined) continue;
      const now = typeof value === 'string' ? value : Buffer.from(value).toString('hex');
      if (now !== this.snapshots.get(key)) this.damaged.push(key);
    }
    for (const { key, value } of changes.put) {
      this.values.set(key, value);
      this.snapshots.set(key, typeof value === 'string' ? value : Buffer.from(value).toString('hex'));
    }
    for (const key of changes.remove) {
      this.values.delete(key);
      this.snapshots.delete(key);
    }
  }
  untouched(): boolean {
    for (const [key, value] of this.values) {
      const now = typeof value === 'string' ? value : Buffer.from(value).toString('hex');
      if (now !== this.snapshots.get(key)) return false;
    }
    return true;
  }
}

const ROOM = '!alias:example.org';

describe('DMLS buffers', () => {
  it('leaves the loader’s and the change sets’ bytes as they were committed', async () => {
    const stores = [new SharingLoader(), new SharingLoader(), new SharingLoader()];
    const ids = [
      ['@a:x.org', 'A'],
      ['@b:x.org', 'B'],
      ['@c:x.org', 'C'],
    ] as const;
    const open = (i: number) =>
      DmlsAccount.open(stores[i]!, {
        userId: ids[i]![0],
        deviceId: ids[i]![1],
        authenticate: () => true,
        deletion: { maxEpochs: 2, maxAgeMs: 1e12 },
      });
    const acc = await Promise.all([0, 1, 2].map(open));
    const commit = (i: number) => stores[i]!.apply(acc[i]!.takeChanges());
    [0, 1, 2].forEach(commit);
    await acc[0]!.createGroup(ROOM);
    const kps = [
      Object.values(await acc[1]!.generateKeyPackages(1))[0]!,
      Object.values(await acc[2]!.generateKeyPackages(1))[0]!,
    ];
    [0, 1, 2].forEach(commit);
    await (await acc[0]!.group(ROOM))!.createCommit({ add: kps });
    const { welcome } = await (await acc[0]!.group(ROOM))!.confirmCommit('$e1');
    commit(0);
    for (const i of [1, 2]) {
      await acc[i]!.joinGroup({ sender: '@a:x.org', content: welcome });
      commit(i);
    }
    let n = 2;
    for (let round = 0; round < 4; round++) {
      // Reopen everyone from the sharing loaders, so that states are decoded from their buffers.
      for (const i of [0, 1, 2]) acc[i] = await open(i);
      const by = round % 3;
      const content = await (await acc[by]!.group(ROOM))!.createCommit();
      commit(by);
      const id = `$e${n++}`;
      for (const i of [0, 1, 2]) {
        await (await acc[i]!.group(ROOM))!.processCommit({ event_id: id, sender: ids[by]![0], content });
        commit(i);
      }
      const m = await (await acc[by]!.group(ROOM))!.encrypt(`round ${round}`);
      commit(by);
      for (const i of [0, 1, 2]) {
        if (i === by) continue;
        const d = await (await acc[i]!.group(ROOM))!.decrypt({ sender: ids[by]![0], content: m });
        expect(new TextDecoder().decode(d.plaintext)).toBe(`round ${round}`);
        commit(i);
      }
    }
    // Messages out of order after a reload: skipped keys come back from the records, and keys
    // ts-mls drops (more than 10 skipped) are zeroed.
    for (const i of [0, 1, 2]) acc[i] = await open(i);
    const burst = [];
    for (let k = 0; k < 30; k++) burst.push(await (await acc[0]!.group(ROOM))!.encrypt(`burst ${k}`));
    commit(0);
    await (await acc[1]!.group(ROOM))!.decrypt({ sender: '@a:x.org', content: burst[5]! });
    commit(1);
    acc[1] = await open(1);
    await (await acc[1]!.group(ROOM))!.decrypt({ sender: '@a:x.org', content: burst[29]! });
    commit(1);
    // Deletion happened (maxEpochs 2), secrets were zeroed in memory, yet no committed buffer changed.
    expect(stores[0]!.values.size).toBeGreaterThan(0);
    for (const s of stores) {
      expect(s.damaged).toEqual([]);
      expect(s.untouched()).toBe(true);
    }
  });
});
