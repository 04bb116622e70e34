/**
 * The deletion policy: an epoch's secrets go once every member has committed on a descendant, or
 * past a count or an age; a deleted epoch never decrypts again and its records are removed.
 */

import { encodeMlsMessage } from 'ts-mls';
import { describe, expect, it } from 'vitest';
import type { CommitContent } from '../../src/dmls/index.js';
import { Directory, eventId, Peer, type PeerOptions } from './helpers.js';

const ROOM = '!del:example.org';

async function threeMembers(options: PeerOptions) {
  const dir = new Directory();
  const a = await Peer.create('@a:x.org', 'A', dir, options);
  const b = await Peer.create('@b:x.org', 'B', dir, options);
  const c = await Peer.create('@c:x.org', 'C', dir, options);
  await a.step((x) => x.createGroup(ROOM));
  const kps = [await b.keyPackage(), await c.keyPackage()];
  await a.step(async (x) => (await x.group(ROOM))!.createCommit({ add: kps }));
  const e1 = eventId();
  const { welcome } = await a.step(async (x) => (await x.group(ROOM))!.confirmCommit(e1));
  for (const p of [b, c]) await p.step((x) => x.joinGroup({ sender: '@a:x.org', content: welcome }));
  return { a, b, c, e1, all: [a, b, c] };
}

/** `who` commits on its tip; everyone processes it. */
async function commitBy(who: Peer, all: Peer[]): Promise<string> {
  const content: CommitContent = await who.step(async (x) => (await x.group(ROOM))!.createCommit());
  const id = eventId();
  for (const p of all) {
    await p.step(async (x) => (await x.group(ROOM))!.processCommit({ event_id: id, sender: who.userId, content }));
  }
  return id;
}

function epochRecords(p: Peer, serialOf: string): string[] {
  return p.store.keys().filter((k) => k.includes(`/epoch/${serialOf}/`));
}

describe('DMLS deletion policy', () => {
  it('deletes an epoch once every member has committed on a descendant; it never decrypts again', async () => {
    const { a, b, c, e1, all } = await threeMembers({ deletion: { maxEpochs: 100, maxAgeMs: 1e12 } });
    const late = await a.step(async (x) => (await x.group(ROOM))!.encrypt('held back'));
    const early = await a.step(async (x) => (await x.group(ROOM))!.encrypt('delivered'));
    expect(
      new TextDecoder().decode(
        (await c.step(async (x) => (await x.group(ROOM))!.decrypt({ sender: '@a:x.org', content: early }))).plaintext,
      ),
    ).toBe('delivered');
    await commitBy(b, all);
    await commitBy(c, all);
    expect((await b.group(ROOM)).epochs().find((e) => e.id === e1)?.deleted).toBe(false);
    expect(epochRecords(b, '0').length).toBeGreaterThan(0);
    await commitBy(a, all); // now a, b and c have all committed on descendants of e1
    for (const p of all) {
      const info = (await p.group(ROOM)).epochs().find((e) => e.id === e1);
      expect(info === undefined || info.deleted).toBe(true);
      await expect(
        p.step(async (x) => (await x.group(ROOM))!.decrypt({ sender: '@a:x.org', content: late })),
      ).rejects.toMatchObject({ code: 'DMLS_EPOCH_DELETED' });
    }
    // b joined at e1: it is b's epoch serial 0. Its records are gone.
    expect(epochRecords(b, '0')).toEqual([]);
  });

  it('wipes the in-memory secrets of a deleted epoch, and only those', async () => {
    const { a, b, c, e1, all } = await threeMembers({ deletion: { maxEpochs: 100, maxAgeMs: 1e12 } });
    // Work on c without reloads so that its in-memory states stay the same objects.
    const group = await c.group(ROOM);
    await group.epochAuthenticator(e1); // loads e1's state
    const ks = group.epochStore.cachedKeySchedule(e1);
    expect(ks).toBeDefined();
    const nonZero = (x: Uint8Array) => x.some((v) => v !== 0);
    expect(nonZero(ks!.epochAuthenticator!)).toBe(true);
    const commit = async (who: Peer) => {
      const content: CommitContent = await who.step(async (x) => (await x.group(ROOM))!.createCommit(), who !== c);
      const id = eventId();
      for (const p of all) {
        await p.step(
          async (x) => (await x.group(ROOM))!.processCommit({ event_id: id, sender: who.userId, content }),
          p !== c,
        );
      }
      return id;
    };
    await commit(b);
    await commit(a);
    expect(nonZero(ks!.initSecret!)).toBe(true); // kept while e1 lives, though its children consumed it
    const last = await commit(c);
    expect(group.epochs().find((e) => e.id === e1)?.deleted ?? true).toBe(true);
    for (const [name, value] of Object.entries(ks!)) expect(nonZero(value), name).toBe(false);
    // The live epoch still works.
    const m = await c.step(async (x) => (await x.group(ROOM))!.encrypt('still fine'), false);
    const d = await a.step(async (x) => (await x.group(ROOM))!.decrypt({ sender: '@c:x.org', content: m }));
    expect(d.epoch.id).toBe(last);
  });

  it('keeps at most maxEpochs live epochs', async () => {
    const { a, b, all } = await threeMembers({ deletion: { maxEpochs: 2, maxAgeMs: 1e12 } });
    for (let i = 0; i < 4; i++) await commitBy(i % 2 === 0 ? a : b, all);
    for (const p of all) {
      const live = (await p.group(ROOM)).epochs().filter((e) => !e.deleted);
      expect(live.length).toBeLessThanOrEqual(2);
      const cores = p.store.keys().filter((k) => k.endsWith('/core'));
      expect(cores.length).toBe(live.length);
    }
  });

  it('deletes epochs superseded longer ago than maxAgeMs', async () => {
    let now = 1_000_000;
    const clock = () => now;
    const { a, b, e1, all } = await threeMembers({ deletion: { maxEpochs: 100, maxAgeMs: 60_000 }, now: clock });
    const old = await a.step(async (x) => (await x.group(ROOM))!.encrypt('old'));
    await commitBy(b, all);
    now += 30_000;
    await a.step(async (x) => (await x.group(ROOM))!.collect());
    expect((await a.group(ROOM)).epochs().find((e) => e.id === e1)?.deleted).toBe(false);
    now += 31_000;
    await a.step(async (x) => (await x.group(ROOM))!.collect());
    const info = (await a.group(ROOM)).epochs().find((e) => e.id === e1);
    expect(info === undefined || info.deleted).toBe(true);
    await expect(
      b.step(async (x) => {
        await (await x.group(ROOM))!.collect();
        return (await x.group(ROOM))!.decrypt({ sender: '@a:x.org', content: old });
      }),
    ).rejects.toMatchObject({ code: 'DMLS_EPOCH_DELETED' }); // b shares the clock: it deletes e1 too
  });

  it('never zeroes a secret a live epoch shares with a deleted one (a passive member, no reloads)', async () => {
    const { a, b, c, all } = await threeMembers({ deletion: { maxEpochs: 2, maxAgeMs: 1e12 } });
    // c never commits: its leaf key is shared by every epoch's state; c is never reloaded, so
    // those states are the same objects ts-mls made.
    for (let i = 0; i < 5; i++) {
      const who = i % 2 === 0 ? a : b;
      const content: CommitContent = await who.step(async (x) => (await x.group(ROOM))!.createCommit());
      const id = eventId();
      for (const p of all) {
        await p.step(
          async (x) => (await x.group(ROOM))!.processCommit({ event_id: id, sender: who.userId, content }),
          p !== c,
        );
      }
      const m = await who.step(async (x) => (await x.group(ROOM))!.encrypt(`message ${i}`));
      const d = await c.step(async (x) => (await x.group(ROOM))!.decrypt({ sender: who.userId, content: m }), false);
      expect(new TextDecoder().decode(d.plaintext)).toBe(`message ${i}`);
    }
    // Deletion did happen under c: at most two live epochs of the six it saw.
    expect((await c.group(ROOM)).epochs().filter((e) => !e.deleted).length).toBeLessThanOrEqual(2);
  });

  it('a resolved losing tip ages out from its resolution; its late messages then never decrypt', async () => {
    let now = 5_000_000;
    const { a, b, c, all } = await threeMembers({ deletion: { maxEpochs: 100, maxAgeMs: 60_000 }, now: () => now });
    // a and b commit concurrently on one parent; everyone sees both.
    const ca: CommitContent = await a.step(async (x) => (await x.group(ROOM))!.createCommit());
    const cb: CommitContent = await b.step(async (x) => (await x.group(ROOM))!.createCommit());
    const [ia, ib] = [eventId(), eventId()];
    await a.step(async (x) => (await x.group(ROOM))!.confirmCommit(ia));
    await b.step(async (x) => (await x.group(ROOM))!.confirmCommit(ib));
    for (const p of all) {
      if (p !== a)
        await p.step(async (x) =>
          (await x.group(ROOM))!.processCommit({ event_id: ia, sender: '@a:x.org', content: ca }),
        );
      if (p !== b)
        await p.step(async (x) =>
          (await x.group(ROOM))!.processCommit({ event_id: ib, sender: '@b:x.org', content: cb }),
        );
    }
    const winner = (await c.group(ROOM)).winningTip().id;
    const loser = winner === ia ? ib : ia;
    const loserPeer = loser === ia ? a : b;
    // A message on the losing fork (sent there before the resolution), delivered late.
    const pm = await loserPeer.step(async (x) =>
      (await x.group(ROOM))!.epochStore.encrypt(loser, new TextEncoder().encode('late')),
    );
    const late = {
      algorithm: ca.algorithm,
      ciphertext: Buffer.from(
        encodeMlsMessage({ version: 'mls10', wireformat: 'mls_private_message', privateMessage: pm }),
      ).toString('base64'),
      epoch_creator: [loserPeer.userId, loserPeer.deviceId],
      commit_event: loser,
    };
    // c resolves on the winner.
    const resolving: CommitContent = await c.step(async (x) => (await x.group(ROOM))!.createCommit());
    expect(resolving.resolves.map((r) => r[2])).toEqual([loser]);
    const ic = eventId();
    await c.step(async (x) => (await x.group(ROOM))!.confirmCommit(ic));
    for (const p of [a, b]) {
      await p.step(async (x) =>
        (await x.group(ROOM))!.processCommit({ event_id: ic, sender: '@c:x.org', content: resolving }),
      );
    }
    expect((await c.group(ROOM)).epochs().find((e) => e.id === loser)?.deleted).toBe(false);
    now += 61_000;
    await c.step(async (x) => (await x.group(ROOM))!.collect());
    const info = (await c.group(ROOM)).epochs().find((e) => e.id === loser);
    expect(info === undefined || info.deleted).toBe(true);
    await expect(
      c.step(async (x) => (await x.group(ROOM))!.decrypt({ sender: loserPeer.userId, content: late })),
    ).rejects.toMatchObject({ code: 'DMLS_EPOCH_DELETED' });
  });
});
