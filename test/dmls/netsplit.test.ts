/**
 * A netsplit: two servers accept concurrent commits on one parent (an add on one side, a removal
 * on the other). Messages on both forks decrypt; the fork choice agrees everywhere; a resolving
 * commit on the winning tip re-applies what only the losing fork did (from the room membership);
 * every member converges on one epoch with the intended membership; the removed member cannot
 * decrypt anything after.
 */
import { describe, expect, it } from 'vitest';
import { type CommitContent, type DeviceRef, type MessageContent, sequencerForkChoice } from '../../src/dmls/index.js';
import { DmlsError } from '../../src/errors.js';
import { Directory, eventId, Peer } from './helpers.js';

const ROOM = '!split:example.org';
const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function deliverCommit(p: Peer, id: string, sender: string, content: CommitContent) {
  return p.step(async (a) => (await a.group(ROOM))!.processCommit({ event_id: id, sender, content }));
}
async function read(p: Peer, sender: string, content: MessageContent): Promise<string> {
  return text((await p.step(async (a) => (await a.group(ROOM))!.decrypt({ sender, content }))).plaintext);
}

/** The order a sequencing server gave commit events (filled in as they are made). */
const sequence = new Map<string, number>();

async function scenario(policy: 'netsplit' | 'a-first' | 'b-first'): Promise<string> {
  sequence.clear();
  const options =
    policy === 'netsplit'
      ? {}
      : { forkChoice: sequencerForkChoice({ server: 'hub.org', sequenceOf: (id: string) => sequence.get(id) }) };
  const dir = new Directory();
  const alice = await Peer.create('@alice:a.org', 'A1', dir, options); // server a
  const carol = await Peer.create('@carol:a.org', 'C1', dir, options); // server a, removed on b's side
  const bob = await Peer.create('@bob:b.org', 'B1', dir, options); // server b
  const dave = await Peer.create('@dave:b.org', 'D1', dir, options); // server b
  const erin = await Peer.create('@erin:a.org', 'E1', dir, options); // added on a's side during the split

  // Before the split: alice, bob, carol, dave in one epoch.
  await alice.step((a) => a.createGroup(ROOM));
  const kps = [await bob.keyPackage(), await carol.keyPackage(), await dave.keyPackage()];
  await alice.step(async (a) => (await a.group(ROOM))!.createCommit({ add: kps }));
  const e1 = eventId();
  const { welcome } = await alice.step(async (a) => (await a.group(ROOM))!.confirmCommit(e1));
  for (const p of [bob, carol, dave]) await p.step((a) => a.joinGroup({ sender: '@alice:a.org', content: welcome }));

  // The split. Server a: alice adds erin. Server b: bob removes carol (she left the room).
  const erinKp = await erin.keyPackage();
  const addErin = await alice.step(async (a) => (await a.group(ROOM))!.createCommit({ add: [erinKp] }));
  const removeCarol = await bob.step(async (a) =>
    (await a.group(ROOM))!.createCommit({ remove: [['@carol:a.org', 'C1']] }),
  );
  expect(addErin.commit_event).toBe(e1);
  expect(removeCarol.commit_event).toBe(e1);
  const e2a = eventId();
  const e2b = eventId();
  sequence.set(policy === 'b-first' ? e2b : e2a, 1);
  sequence.set(policy === 'b-first' ? e2a : e2b, 2);
  const { welcome: erinWelcome } = await alice.step(async (a) => (await a.group(ROOM))!.confirmCommit(e2a));
  await bob.step(async (a) => (await a.group(ROOM))!.confirmCommit(e2b));
  await deliverCommit(carol, e2a, '@alice:a.org', addErin);
  await erin.step((a) => a.joinGroup({ sender: '@alice:a.org', content: erinWelcome }));
  await deliverCommit(dave, e2b, '@bob:b.org', removeCarol);

  // Messages on both forks during the split.
  const onA = await alice.step(async (a) => (await a.group(ROOM))!.encrypt('side a'));
  const onB = await dave.step(async (a) => (await a.group(ROOM))!.encrypt('side b'));
  expect(onA.commit_event).toBe(e2a);
  expect(onB.commit_event).toBe(e2b);
  expect(await read(erin, '@alice:a.org', onA)).toBe('side a');
  expect(await read(bob, '@dave:b.org', onB)).toBe('side b');

  // Heal: each side gets the other side's commit and messages.
  await deliverCommit(alice, e2b, '@bob:b.org', removeCarol);
  await deliverCommit(carol, e2b, '@bob:b.org', removeCarol); // carol: removed on this fork
  await deliverCommit(bob, e2a, '@alice:a.org', addErin);
  await deliverCommit(dave, e2a, '@alice:a.org', addErin);
  for (const p of [bob, dave]) expect(await read(p, '@alice:a.org', onA)).toBe('side a');
  for (const p of [alice]) expect(await read(p, '@dave:b.org', onB)).toBe('side b');
  // erin joined on fork a only: the fork b epoch is unknown to her.
  await expect(read(erin, '@dave:b.org', onB)).rejects.toMatchObject({ code: 'DMLS_EPOCH_UNKNOWN' });

  // Everyone who saw both forks agrees on the winner; sending is refused until resolved.
  const winners = new Set<string>();
  for (const p of [alice, bob, dave, carol]) winners.add((await p.group(ROOM)).winningTip().id);
  expect(winners.size).toBe(1);
  const winner = [...winners][0]!;
  expect([e2a, e2b]).toContain(winner);
  if (policy === 'a-first') expect(winner).toBe(e2a);
  if (policy === 'b-first') expect(winner).toBe(e2b);
  await expect((await alice.group(ROOM)).encrypt('too early')).rejects.toMatchObject({ code: 'DMLS_FORK' });

  // The room state after the split: carol left, erin joined.
  const desired: DeviceRef[] = [
    ['@alice:a.org', 'A1'],
    ['@bob:b.org', 'B1'],
    ['@dave:b.org', 'D1'],
    ['@erin:a.org', 'E1'],
  ];
  // A member on the winning side resolves (dave: on both sides' trees, never removed).
  const resolver = dave;
  const changes = await (await resolver.group(ROOM)).membershipChanges(desired);
  if (winner === e2a) expect(changes).toEqual({ add: [], remove: [['@carol:a.org', 'C1']] });
  else expect(changes).toEqual({ add: [['@erin:a.org', 'E1']], remove: [] });
  const addKps = await Promise.all(changes.add.map(() => erin.keyPackage()));
  const resolving = await resolver.step(async (a) =>
    (await a.group(ROOM))!.createCommit({ add: addKps, remove: changes.remove }),
  );
  expect(resolving.commit_event).toBe(winner);
  expect(resolving.resolves.map((r) => r[2])).toEqual([winner === e2a ? e2b : e2a]);
  const e3 = eventId();
  const { welcome: w3 } = await resolver.step(async (a) => (await a.group(ROOM))!.confirmCommit(e3));
  for (const p of [alice, bob]) await deliverCommit(p, e3, '@dave:b.org', resolving);
  if (winner === e2a) {
    await deliverCommit(erin, e3, '@dave:b.org', resolving);
    expect(w3).toBeUndefined();
  } else {
    // erin was added on the losing fork: she joins again from the resolving commit's welcome.
    expect(w3).toBeDefined();
    await erin.step((a) => a.joinGroup({ sender: '@dave:b.org', content: w3 }));
  }
  if (winner === e2a) {
    // carol is still in fork a: the resolving commit removes her there.
    const r = await deliverCommit(carol, e3, '@dave:b.org', resolving);
    expect(r.epoch.member).toBe(false);
  } else {
    // fork b removed her already: the resolving commit names an epoch she is not in.
    await expect(deliverCommit(carol, e3, '@dave:b.org', resolving)).rejects.toMatchObject({ code: 'DMLS_NOT_MEMBER' });
  }
  expect((await carol.group(ROOM)).removed).toBe(true);

  // Convergence: one unresolved tip everywhere, same epoch, same authenticator, intended members.
  const auth = new Set<string>();
  for (const p of [alice, bob, dave, erin]) {
    const g = await p.group(ROOM);
    expect(g.winningTip().id).toBe(e3);
    expect(g.needsResolution).toBe(false);
    auth.add(Buffer.from(await g.epochAuthenticator()).toString('hex'));
    const members = (await g.members()).map((m) => `${m.userId}|${m.deviceId}`).sort();
    expect(members).toEqual(desired.map((d) => `${d[0]}|${d[1]}`).sort());
  }
  expect(auth.size).toBe(1);

  // After: everyone reads everyone; carol reads nothing.
  const after = await erin.step(async (a) => (await a.group(ROOM))!.encrypt('after the merge'));
  for (const p of [alice, bob, dave]) expect(await read(p, '@erin:a.org', after)).toBe('after the merge');
  const after2 = await alice.step(async (a) => (await a.group(ROOM))!.encrypt('second'));
  for (const p of [bob, dave, erin]) expect(await read(p, '@alice:a.org', after2)).toBe('second');
  for (const m of [after, after2]) {
    await expect(read(carol, m === after ? '@erin:a.org' : '@alice:a.org', m)).rejects.toBeInstanceOf(DmlsError);
  }
  return winner === e2a ? 'a' : 'b';
}

describe('DMLS netsplit between two servers', () => {
  it('default (netsplit rule): forks, decrypts on both forks, resolves, converges, keeps the removed member out', async () => {
    expect(['a', 'b']).toContain(await scenario('netsplit'));
  });
  it('sequencer policy, the add (server a) sequenced first: the removal is re-applied on top', async () => {
    expect(await scenario('a-first')).toBe('a');
  });
  it('sequencer policy, the removal (server b) sequenced first: the added member is re-added by welcome', async () => {
    expect(await scenario('b-first')).toBe('b');
  });

  it('a losing commit that arrives after the commit resolving it is resolved on arrival', async () => {
    const dir = new Directory();
    const a = await Peer.create('@a:a.org', 'A', dir);
    const b = await Peer.create('@b:b.org', 'B', dir);
    const c = await Peer.create('@c:c.org', 'C', dir);
    await a.step((x) => x.createGroup(ROOM));
    const kps = [await b.keyPackage(), await c.keyPackage()];
    await a.step(async (x) => (await x.group(ROOM))!.createCommit({ add: kps }));
    const { welcome } = await a.step(async (x) => (await x.group(ROOM))!.confirmCommit(eventId()));
    for (const p of [b, c]) await p.step((x) => x.joinGroup({ sender: '@a:a.org', content: welcome }));
    const ca = await a.step(async (x) => (await x.group(ROOM))!.createCommit());
    const cb = await b.step(async (x) => (await x.group(ROOM))!.createCommit());
    const [ia, ib] = [eventId(), eventId()];
    await a.step(async (x) => (await x.group(ROOM))!.confirmCommit(ia));
    await b.step(async (x) => (await x.group(ROOM))!.confirmCommit(ib));
    await deliverCommit(a, ib, '@b:b.org', cb);
    await deliverCommit(b, ia, '@a:a.org', ca);
    const winner = (await a.group(ROOM)).winningTip().id;
    const [resolver, winning, losing] = winner === ia ? [a, ca, cb] : [b, cb, ca];
    const resolving = await resolver.step(async (x) => (await x.group(ROOM))!.createCommit());
    const ir = eventId();
    await resolver.step(async (x) => (await x.group(ROOM))!.confirmCommit(ir));
    // c: the winner, then the resolving commit, and only then the losing commit.
    await deliverCommit(c, winner, winner === ia ? '@a:a.org' : '@b:b.org', winning);
    await deliverCommit(c, ir, resolver.userId, resolving);
    const loser = winner === ia ? ib : ia;
    await deliverCommit(c, loser, winner === ia ? '@b:b.org' : '@a:a.org', losing);
    const g = await c.group(ROOM);
    expect(g.epochs().find((e) => e.id === loser)?.resolved).toBe(true);
    expect(g.needsResolution).toBe(false);
    expect(g.winningTip().id).toBe(ir);
    expect(await g.epochAuthenticator()).toEqual(await (await resolver.group(ROOM)).epochAuthenticator());
  });
});
