/**
 * Hostile input to the DMLS layer: malformed events and MLS messages, commits naming unknown
 * parents, replays, commits from non-members or untracked devices. Each gets a typed error and
 * changes nothing: no pending change, and the group goes on working.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CommitContent, DmlsAccount, type MessageContent } from '../../src/dmls/index.js';
import { TriturusError } from '../../src/errors.js';
import { Directory, eventId, Peer } from './helpers.js';

const ROOM = '!hostile:example.org';
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64').replace(/=+$/, '');

async function pair() {
  const dir = new Directory();
  const alice = await Peer.create('@alice:a.org', 'A', dir);
  const bob = await Peer.create('@bob:b.org', 'B', dir);
  await alice.step((x) => x.createGroup(ROOM));
  const kp = await bob.keyPackage();
  const addBob: CommitContent = await alice.step(async (x) => (await x.group(ROOM))!.createCommit({ add: [kp] }));
  const e1 = eventId();
  const { welcome } = await alice.step(async (x) => (await x.group(ROOM))!.confirmCommit(e1));
  await bob.step((x) => x.joinGroup({ sender: '@alice:a.org', content: welcome }));
  return { dir, alice, bob, e1, addBob, welcome: welcome! };
}

/** Runs a hostile operation on `p`: it must throw a typed error with `code` and leave nothing pending. */
async function refused(p: Peer, code: string | undefined, run: () => Promise<unknown>): Promise<void> {
  const keysBefore = p.store.keys().join('\n');
  const tipBefore = (await p.group(ROOM)).winningTip().id;
  let error: unknown;
  try {
    await run();
  } catch (e) {
    error = e;
  }
  expect(error, 'the operation should have failed').toBeInstanceOf(TriturusError);
  if (code !== undefined) expect((error as TriturusError).code).toBe(code);
  expect(p.account.hasChanges).toBe(false);
  expect(p.store.keys().join('\n')).toBe(keysBefore);
  expect((await p.group(ROOM)).winningTip().id).toBe(tipBefore);
}

/** The group still works for `p`: a fresh message from the other side decrypts. */
async function stillWorks(from: Peer, to: Peer): Promise<void> {
  const m = await from.step(async (x) => (await x.group(ROOM))!.encrypt('still working'));
  const d = await to.step(async (x) => (await x.group(ROOM))!.decrypt({ sender: from.userId, content: m }));
  expect(new TextDecoder().decode(d.plaintext)).toBe('still working');
}

describe('DMLS hostile input', () => {
  it('malformed commit events: typed errors, nothing changed', async () => {
    const { alice, bob } = await pair();
    const g = () => bob.account.group(ROOM).then((x) => x!);
    const good: CommitContent = await alice.step(async (x) => (await x.group(ROOM))!.createCommit());
    const cases: [string, unknown, string | undefined][] = [
      ['DMLS_INVALID', null, undefined],
      ['DMLS_INVALID', {}, undefined],
      ['DMLS_INVALID', { ...good, algorithm: 'm.megolm.v1.aes-sha2' }, undefined],
      ['DMLS_INVALID', { ...good, ciphertext: '!!!' }, undefined],
      ['DMLS_INVALID', { ...good, ciphertext: b64(new Uint8Array([0, 1, 2, 3])) }, undefined],
      ['DMLS_INVALID', { ...good, epoch_creator: 'alice' }, undefined],
      ['DMLS_INVALID', { ...good, sender: ['@alice:a.org'] }, undefined],
      ['DMLS_INVALID', { ...good, resolves: [['x']] }, undefined],
      ['DMLS_SENDER_MISMATCH', { ...good, sender: ['@mallory:m.org', 'M'] }, undefined],
      ['DMLS_SENDER_MISMATCH', { ...good, sender: ['@alice:a.org', 'OTHER'] }, undefined],
    ];
    for (const [code, content] of cases) {
      await refused(bob, code, async () =>
        (await g()).processCommit({ event_id: eventId(), sender: '@alice:a.org', content }),
      );
    }
    await refused(bob, 'DMLS_INVALID', async () =>
      (await g()).processCommit({ sender: '@alice:a.org', content: good }),
    );
    // An application message where a commit is expected.
    const m: MessageContent = await alice.step(async (x) => (await x.group(ROOM))!.encrypt('not a commit'));
    await refused(bob, undefined, async () =>
      (await g()).processCommit({
        event_id: eventId(),
        sender: '@alice:a.org',
        content: { ...m, sender: ['@alice:a.org', 'A'], resolves: [] },
      }),
    );
    await stillWorks(alice, bob);
  });

  it('commits naming unknown parents, and replays', async () => {
    const { alice, bob } = await pair();
    const g = () => bob.account.group(ROOM).then((x) => x!);
    const good: CommitContent = await alice.step(async (x) => (await x.group(ROOM))!.createCommit());
    await refused(bob, 'DMLS_EPOCH_UNKNOWN', async () =>
      (await g()).processCommit({
        event_id: eventId(),
        sender: '@alice:a.org',
        content: { ...good, commit_event: '$nowhere' },
      }),
    );
    await refused(bob, 'DMLS_EPOCH_UNKNOWN', async () =>
      (await g()).processCommit({
        event_id: eventId(),
        sender: '@alice:a.org',
        content: { ...good, epoch_creator: ['@bob:b.org', 'B'] },
      }),
    );
    const id = eventId();
    await alice.step(async (x) =>
      (await x.group(ROOM))!.processCommit({ event_id: id, sender: '@alice:a.org', content: good }),
    );
    await bob.step(async (x) =>
      (await x.group(ROOM))!.processCommit({ event_id: id, sender: '@alice:a.org', content: good }),
    );
    await refused(bob, 'DMLS_REPLAY', async () =>
      (await g()).processCommit({ event_id: id, sender: '@alice:a.org', content: good }),
    );
    await refused(bob, 'DMLS_REPLAY', async () =>
      (await g()).processCommit({ event_id: eventId(), sender: '@alice:a.org', content: good }),
    );
    // Application message replay.
    const m = await alice.step(async (x) => (await x.group(ROOM))!.encrypt('once'));
    await bob.step(async (x) => (await x.group(ROOM))!.decrypt({ sender: '@alice:a.org', content: m }));
    await refused(bob, 'DMLS_DECRYPT_FAILED', async () => (await g()).decrypt({ sender: '@alice:a.org', content: m }));
    // A message whose event sender is not its MLS sender.
    const m2 = await alice.step(async (x) => (await x.group(ROOM))!.encrypt('spoofed'));
    await refused(bob, 'DMLS_SENDER_MISMATCH', async () => (await g()).decrypt({ sender: '@bob:b.org', content: m2 }));
    await stillWorks(alice, bob);
  });

  it('commits from non-members and from untracked devices are refused', async () => {
    const { dir, alice, bob } = await pair();
    const g = () => bob.account.group(ROOM).then((x) => x!);
    // Mallory runs her own group under the same room id and sends its commit into ours.
    const mallory = await Peer.create('@mallory:m.org', 'M', dir);
    await mallory.step((x) => x.createGroup(ROOM));
    const foreign: CommitContent = await mallory.step(async (x) => (await x.group(ROOM))!.createCommit());
    const tip = (await bob.group(ROOM)).winningTip();
    await refused(bob, 'DMLS_INVALID', async () =>
      (await g()).processCommit({
        event_id: eventId(),
        sender: '@mallory:m.org',
        content: { ...foreign, epoch_creator: tip.creator, commit_event: tip.id },
      }),
    );
    // Alice trusts a device bob does not track (eve's credential is in alice's directory only):
    // bob refuses the commit adding it.
    const eveDir = new Directory();
    const eve = await Peer.create('@eve:e.org', 'EVE', eveDir);
    const aliceDir = new Directory();
    for (const [k, v] of [...dir.credentials, ...eveDir.credentials]) aliceDir.credentials.set(k, v);
    const aliceTrusting = await DmlsAccount.open(alice.store, {
      userId: '@alice:a.org',
      deviceId: 'A',
      authenticate: aliceDir.authenticate,
    });
    const content = await (await aliceTrusting.group(ROOM))!.createCommit({ add: [await eve.keyPackage()] });
    alice.store.apply(aliceTrusting.takeChanges());
    await refused(bob, 'DMLS_REJECTED', async () =>
      (await g()).processCommit({ event_id: eventId(), sender: '@alice:a.org', content }),
    );
  });

  it('welcomes: unknown key package, wrong sender, both algorithm spellings', async () => {
    const { dir, alice, welcome } = await pair();
    const carol = await Peer.create('@carol:c.org', 'C', dir);
    await expect(carol.account.joinGroup({ sender: '@alice:a.org', content: welcome })).rejects.toMatchObject({
      code: 'DMLS_KEY_PACKAGE_UNKNOWN',
    });
    expect(carol.account.hasChanges).toBe(false);
    const kp = await carol.keyPackage();
    await alice.step(async (x) => (await x.group(ROOM))!.createCommit({ add: [kp] }));
    const e2 = eventId();
    const { welcome: w2 } = await alice.step(async (x) => (await x.group(ROOM))!.confirmCommit(e2));
    await expect(carol.account.joinGroup({ sender: '@mallory:m.org', content: w2 })).rejects.toMatchObject({
      code: 'DMLS_SENDER_MISMATCH',
    });
    await expect(
      carol.account.joinGroup({ sender: '@alice:a.org', content: { ...w2, algorithm: 'm.dmls.v1.welcome.NOPE' } }),
    ).rejects.toMatchObject({ code: 'DMLS_INVALID' });
    expect(carol.account.hasChanges).toBe(false);
    // The MSC2883 spelling m.mls.v1.welcome.<suite> is accepted on input.
    const legacy = { ...w2!, algorithm: w2!.algorithm.replace('m.dmls.v1.welcome.', 'm.mls.v1.welcome.') };
    await carol.step((x) => x.joinGroup({ sender: '@alice:a.org', content: legacy }));
    expect((await carol.group(ROOM)).winningTip().id).toBe(e2);
  });

  it('fuzz: arbitrary contents and ciphertext bytes only ever raise TriturusError and change nothing', async () => {
    const { alice, bob, e1 } = await pair();
    const g = () => bob.account.group(ROOM).then((x) => x!);
    const base: CommitContent = await alice.step(async (x) => (await x.group(ROOM))!.createCommit());
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ ...base, ciphertext: b64(bytes) })),
          fc.uint8Array({ maxLength: 300 }).map((bytes) => ({
            algorithm: base.algorithm,
            ciphertext: b64(bytes),
            epoch_creator: ['@alice:a.org', 'A'],
            commit_event: e1,
          })),
          fc.jsonValue(),
        ),
        fc.boolean(),
        async (content, asCommit) => {
          await refused(bob, undefined, async () =>
            asCommit
              ? (await g()).processCommit({ event_id: eventId(), sender: '@alice:a.org', content })
              : (await g()).decrypt({ sender: '@alice:a.org', content }),
          );
        },
      ),
      { numRuns: 150 },
    );
    await stillWorks(alice, bob);
  });
});
