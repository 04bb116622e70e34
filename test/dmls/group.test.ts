import { describe, expect, it } from 'vitest';
import { Directory, eventId, Peer } from './helpers.js';

const ROOM = '!room:example.org';
const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe('DMLS group: two devices, unforked history, persistence round trip at every step', () => {
  it('creates, adds, joins from the welcome, exchanges messages and commits both ways', async () => {
    const dir = new Directory();
    const alice = await Peer.create('@alice:a.org', 'ALICE', dir);
    const bob = await Peer.create('@bob:b.org', 'BOB', dir);
    await alice.step((a) => a.createGroup(ROOM));
    const kp = await bob.keyPackage();

    const commit = await alice.step(async (a) => (await a.group(ROOM))!.createCommit({ add: [kp] }));
    const commitId = eventId();
    const { welcome } = await alice.step(async (a) => (await a.group(ROOM))!.confirmCommit(commitId));
    expect(welcome).toBeDefined();
    expect(commit.sender).toEqual(['@alice:a.org', 'ALICE']);

    await bob.step((a) => a.joinGroup({ sender: '@alice:a.org', content: welcome }));
    const bobGroup = await bob.group(ROOM);
    expect(bobGroup.winningTip().id).toBe(commitId);
    expect((await bobGroup.members()).map((m) => m.deviceId).sort()).toEqual(['ALICE', 'BOB']);
    expect(await bobGroup.epochAuthenticator()).toEqual(await (await alice.group(ROOM)).epochAuthenticator());

    const m1 = await alice.step(async (a) => (await a.group(ROOM))!.encrypt('hello bob'));
    const d1 = await bob.step(async (a) => (await a.group(ROOM))!.decrypt({ sender: '@alice:a.org', content: m1 }));
    expect(text(d1.plaintext)).toBe('hello bob');
    expect(d1.deviceId).toBe('ALICE');

    const m2 = await bob.step(async (a) => (await a.group(ROOM))!.encrypt('hi alice'));
    const d2 = await alice.step(async (a) => (await a.group(ROOM))!.decrypt({ sender: '@bob:b.org', content: m2 }));
    expect(text(d2.plaintext)).toBe('hi alice');

    // Bob commits (an update); Alice processes it.
    const c2 = await bob.step(async (a) => (await a.group(ROOM))!.createCommit());
    const c2id = eventId();
    await bob.step(async (a) =>
      (await a.group(ROOM))!.processCommit({ event_id: c2id, sender: '@bob:b.org', content: c2 }),
    );
    const r = await alice.step(async (a) =>
      (await a.group(ROOM))!.processCommit({ event_id: c2id, sender: '@bob:b.org', content: c2 }),
    );
    expect(r.own).toBe(false);
    expect(await (await alice.group(ROOM)).epochAuthenticator()).toEqual(
      await (await bob.group(ROOM)).epochAuthenticator(),
    );
    const m3 = await alice.step(async (a) => (await a.group(ROOM))!.encrypt('after the update'));
    const d3 = await bob.step(async (a) => (await a.group(ROOM))!.decrypt({ sender: '@alice:a.org', content: m3 }));
    expect(text(d3.plaintext)).toBe('after the update');
  });
});
