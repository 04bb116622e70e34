/**
 * Properties of the DMLS layer under random schedules: commits (updates and removals), messages,
 * partitions, heals and reloads, for 3 to 8 members. After a final heal and resolution rounds:
 * every remaining member converges on one epoch with the intended membership; nothing decrypts
 * with a deleted epoch; a removed member never decrypts a later message; a failed operation
 * leaves nothing pending and the group as it was.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CommitContent, DeviceRef, MessageContent } from '../../src/dmls/index.js';
import { TriturusError } from '../../src/errors.js';
import { Directory, eventId, Peer } from './helpers.js';

const ROOM = '!prop:example.org';

type Action =
  | { kind: 'commit'; by: number; remove: number | null }
  | { kind: 'message'; by: number }
  | { kind: 'partition'; mask: number }
  | { kind: 'heal' }
  /** A whole netsplit: partition, a commit on each side (one may remove), heal. */
  | { kind: 'split'; mask: number; a: number; b: number; remove: number | null }
  | { kind: 'reload'; who: number };

interface LoggedEvent {
  readonly kind: 'commit' | 'message';
  readonly id: string;
  readonly by: number;
  readonly content: CommitContent | MessageContent;
  /** Peers that were members of the message's epoch (for messages). */
  readonly recipients: ReadonlySet<number>;
}

class Sim {
  readonly peers: Peer[];
  readonly side: number[];
  readonly log: LoggedEvent[] = [];
  readonly seen: Set<number>[];
  readonly removed = new Set<number>();
  decrypted = 0;

  constructor(peers: Peer[]) {
    this.peers = peers;
    this.side = peers.map(() => 0);
    this.seen = peers.map(() => new Set<number>());
  }

  index(userId: string): number {
    return this.peers.findIndex((p) => p.userId === userId);
  }

  desired(): DeviceRef[] {
    return this.peers.filter((_, i) => !this.removed.has(i)).map((p) => p.ref);
  }

  /** A failed operation must leave nothing pending and the tip as it was. */
  async failedCleanly(p: Peer, tipBefore: string, error: unknown): Promise<void> {
    expect(error).toBeInstanceOf(TriturusError);
    expect(p.account.hasChanges).toBe(false);
    expect((await p.group(ROOM)).winningTip().id).toBe(tipBefore);
  }

  async deliver(i: number, n: number): Promise<void> {
    const e = this.log[n]!;
    const p = this.peers[i]!;
    this.seen[i]!.add(n);
    if (e.by === i) return;
    const g = await p.group(ROOM);
    const tipBefore = g.winningTip().id;
    if (e.kind === 'commit') {
      try {
        await p.step(async (a) =>
          (await a.group(ROOM))!.processCommit({
            event_id: e.id,
            sender: this.peers[e.by]!.userId,
            content: e.content,
          }),
        );
      } catch (error) {
        await this.failedCleanly(p, tipBefore, error);
        // Only a device removed from the room may be unable to follow a commit.
        expect(this.removed.has(i), `${p.deviceId}: ${(error as Error).message}`).toBe(true);
      }
      return;
    }
    const content = e.content as MessageContent;
    const info = g.epochs().find((x) => x.id === (content.commit_event ?? ''));
    try {
      const d = await p.step(async (a) =>
        (await a.group(ROOM))!.decrypt({ sender: this.peers[e.by]!.userId, content }),
      );
      expect(new TextDecoder().decode(d.plaintext)).toBe(e.id);
      // It decrypted: this device was a member of that epoch, and the epoch was not deleted.
      expect(e.recipients.has(i)).toBe(true);
      expect(info?.deleted ?? false).toBe(false);
      this.decrypted++;
    } catch (error) {
      await this.failedCleanly(p, tipBefore, error);
      const code = (error as TriturusError).code;
      if (e.recipients.has(i) && !this.removed.has(i)) {
        // A member of the epoch fails only when that epoch was deleted.
        expect(code).toBe('DMLS_EPOCH_DELETED');
      }
    }
  }

  /**
   * Delivers, in log order, every event some device on a peer's side of the partition has seen
   * (the servers of one side share what they hold); repeats until nothing moves.
   */
  async flush(): Promise<void> {
    for (let moved = true; moved; ) {
      moved = false;
      for (let n = 0; n < this.log.length; n++) {
        for (let i = 0; i < this.peers.length; i++) {
          if (this.seen[i]!.has(n)) continue;
          if (this.peers.some((_, j) => this.side[j] === this.side[i] && this.seen[j]!.has(n))) {
            await this.deliver(i, n);
            moved = true;
          }
        }
      }
    }
  }

  async commit(by: number, remove: number | null): Promise<void> {
    const p = this.peers[by]!;
    if (this.removed.has(by)) return;
    const g = await p.group(ROOM);
    if (g.removed) return;
    const tipBefore = g.winningTip().id;
    let removeRefs: DeviceRef[] = [];
    if (g.needsResolution) {
      removeRefs = (await g.membershipChanges(this.desired())).remove;
    } else if (
      remove !== null &&
      remove !== by &&
      !this.removed.has(remove) &&
      this.peers.length - this.removed.size > 2
    ) {
      removeRefs = [this.peers[remove]!.ref];
    }
    let content: CommitContent;
    try {
      content = await p.step(async (a) => (await a.group(ROOM))!.createCommit({ remove: removeRefs }));
    } catch (error) {
      await this.failedCleanly(p, tipBefore, error);
      return;
    }
    const id = eventId();
    await p.step(async (a) => (await a.group(ROOM))!.confirmCommit(id));
    for (const r of removeRefs) this.removed.add(this.index(r[0]));
    this.log.push({ kind: 'commit', id, by, content, recipients: new Set() });
    this.seen[by]!.add(this.log.length - 1);
    await this.flush();
  }

  async message(by: number): Promise<void> {
    const p = this.peers[by]!;
    const g = await p.group(ROOM);
    if (g.removed || this.removed.has(by)) return;
    if (g.needsResolution) {
      await expect(g.encrypt('x')).rejects.toMatchObject({ code: 'DMLS_FORK' });
      expect(p.account.hasChanges).toBe(false);
      return;
    }
    const recipients = new Set((await g.members()).map((m) => this.index(m.userId)));
    const id = eventId();
    const content = await p.step(async (a) => (await a.group(ROOM))!.encrypt(id));
    this.log.push({ kind: 'message', id, by, content, recipients });
    this.seen[by]!.add(this.log.length - 1);
    await this.flush();
  }

  async run(action: Action): Promise<void> {
    switch (action.kind) {
      case 'commit':
        return this.commit(
          action.by % this.peers.length,
          action.remove === null ? null : action.remove % this.peers.length,
        );
      case 'message':
        return this.message(action.by % this.peers.length);
      case 'partition':
        for (let i = 0; i < this.peers.length; i++) this.side[i] = (action.mask >> i) & 1;
        return;
      case 'heal':
        this.side.fill(0);
        return this.flush();
      case 'split': {
        const n = this.peers.length;
        const mask = (action.mask % ((1 << n) - 2)) + 1; // both sides non-empty
        for (let i = 0; i < n; i++) this.side[i] = (mask >> i) & 1;
        const sideA = this.peers.map((_, i) => i).filter((i) => this.side[i] === 0);
        const sideB = this.peers.map((_, i) => i).filter((i) => this.side[i] === 1);
        await this.commit(sideA[action.a % sideA.length]!, action.remove === null ? null : action.remove % n);
        await this.commit(sideB[action.b % sideB.length]!, null);
        this.side.fill(0);
        return this.flush();
      }
      case 'reload': {
        const p = this.peers[action.who % this.peers.length]!;
        const before = (await p.group(ROOM)).winningTip().id;
        await p.reload();
        expect((await p.group(ROOM)).winningTip().id).toBe(before);
        return;
      }
    }
  }

  /** Heal, then let a member on the winning tip resolve until one tip remains everywhere. */
  async converge(): Promise<void> {
    this.side.fill(0);
    await this.flush();
    for (let round = 0; round < 6; round++) {
      const active = this.peers.map((_, i) => i).filter((i) => !this.removed.has(i));
      let resolver: number | undefined;
      for (const i of active) {
        const g = await this.peers[i]!.group(ROOM);
        const extra = (await g.membershipChanges(this.desired())).remove.length > 0;
        if (!g.removed && (g.needsResolution || extra)) resolver = i;
      }
      if (resolver === undefined) return;
      await this.commit(resolver, null);
    }
    throw new Error('no convergence after 6 resolution rounds');
  }
}

const actionArb = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('commit' as const), by: fc.nat(7), remove: fc.option(fc.nat(7)) }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('message' as const), by: fc.nat(7) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('partition' as const), mask: fc.nat(255) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('heal' as const) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('split' as const),
      mask: fc.nat(255),
      a: fc.nat(7),
      b: fc.nat(7),
      remove: fc.option(fc.nat(7)),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reload' as const), who: fc.nat(7) }) },
);

async function setUp(n: number): Promise<Sim> {
  const dir = new Directory();
  // A count limit high enough that no fork point is deleted during a partition (a device that
  // deleted it could no longer follow the other side); the rule "everyone committed on a
  // descendant" still deletes.
  const options = { deletion: { maxEpochs: 1000, maxAgeMs: 1e12 } };
  const peers: Peer[] = [];
  for (let i = 0; i < n; i++) peers.push(await Peer.create(`@u${i}:s${i % 2}.org`, `D${i}`, dir, options));
  await peers[0]!.step((a) => a.createGroup(ROOM));
  const kps: string[] = [];
  for (const p of peers.slice(1)) kps.push(await p.keyPackage());
  await peers[0]!.step(async (a) => (await a.group(ROOM))!.createCommit({ add: kps }));
  const { welcome } = await peers[0]!.step(async (a) => (await a.group(ROOM))!.confirmCommit(eventId()));
  for (const p of peers.slice(1)) await p.step((a) => a.joinGroup({ sender: peers[0]!.userId, content: welcome }));
  return new Sim(peers);
}

describe('DMLS properties under random schedules', () => {
  it('converges, never decrypts with a deleted epoch, keeps removed members out, fails cleanly', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 3, max: 8 }),
        fc.array(actionArb, { minLength: 6, maxLength: 20 }),
        async (n, actions) => {
          const sim = await setUp(n);
          for (const a of actions) await sim.run(a);
          await sim.converge();
          const active = sim.peers.map((_, i) => i).filter((i) => !sim.removed.has(i));
          const tips = new Set<string>();
          const auths = new Set<string>();
          const want = sim
            .desired()
            .map((d) => `${d[0]}|${d[1]}`)
            .sort();
          for (const i of active) {
            const g = await sim.peers[i]!.group(ROOM);
            expect(g.needsResolution).toBe(false);
            expect(g.removed).toBe(false);
            tips.add(g.winningTip().id);
            auths.add(Buffer.from(await g.epochAuthenticator()).toString('hex'));
            expect((await g.members()).map((m) => `${m.userId}|${m.deviceId}`).sort()).toEqual(want);
          }
          expect(tips.size).toBe(1);
          expect(auths.size).toBe(1);
          // A last message: every remaining member reads it, no removed member does.
          await sim.message(active[0]!);
          const last = sim.log.at(-1)!;
          for (const i of sim.removed) expect(last.recipients.has(i)).toBe(false);
        },
      ),
      { numRuns: 40 },
    );
  });
});
