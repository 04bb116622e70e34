/**
 * Group session records: written in schema 2 (the session body sealed once with its metadata), and
 * schema 1 records (the session's own sealed pickle inside the sealed record, as stores written before
 * hold them) still read: a device whose records are all schema 1 carries on after a reopen.
 */
import { describe, expect, it } from 'vitest';
import {
  INBOUND_GROUP_SCHEMA,
  type InboundMeta,
  OUTBOUND_GROUP_SCHEMA,
  type OutboundMeta,
  openSessionRecord,
  sealRecord,
} from '../../src/device/records.js';
import { INBOUND_BODY } from '../../src/device/room-events-in.js';
import { OUTBOUND_BODY } from '../../src/device/room-keys-out.js';
import type { GroupSession, InboundGroupSession } from '../../src/index.js';
import { codeOf, DeviceClient } from '../support/device-client.js';
import { FaultHomeserver } from '../support/fault-homeserver.js';

const ROOM = '!records:example.org';

/** Rewrites every group session record of a client's store in schema 1, as an older triturus wrote them. */
async function downgrade(client: DeviceClient): Promise<number> {
  const key = client.pickleKey;
  const inbound = await client.store.listInboundGroupSessions();
  const rewritten = inbound.map((entry) => {
    expect(entry.record.schema).toBe(INBOUND_GROUP_SCHEMA);
    const { meta, session } = openSessionRecord<InboundMeta, InboundGroupSession>(
      entry.record,
      INBOUND_GROUP_SCHEMA,
      key,
      INBOUND_BODY,
    );
    return { ...entry, record: sealRecord(1, meta, session.pickle(key), key) };
  });
  const outbound = await client.store.loadOutboundGroupSession(ROOM);
  const outboundEntries = [];
  if (outbound !== undefined) {
    expect(outbound.record.schema).toBe(OUTBOUND_GROUP_SCHEMA);
    const { meta, session } = openSessionRecord<OutboundMeta, GroupSession>(
      outbound.record,
      OUTBOUND_GROUP_SCHEMA,
      key,
      OUTBOUND_BODY,
    );
    outboundEntries.push({ ...outbound, record: sealRecord(1, meta, session.pickle(key), key) });
  }
  await client.store.commit({ inboundGroupSessions: rewritten, outboundGroupSessions: outboundEntries });
  return rewritten.length + outboundEntries.length;
}

describe('group session records', () => {
  it('schema 1 records (two seals) still read; the device carries on after a reopen and writes schema 2', async () => {
    const server = new FaultHomeserver();
    const alice = await DeviceClient.create(server, '@alice:example.org', 'ALICE');
    const bob = await DeviceClient.create(server, '@bob:example.org', 'BOB');
    await alice.publish();
    await bob.publish();
    const [bobInfo] = await alice.track('@bob:example.org');
    await alice.shareRoomKey(ROOM, [bobInfo!]);
    await bob.receive();
    const first = (await alice.post(ROOM, { n: 0 })).event;
    expect((await bob.device.decryptRoomEvent(first)).event.content).toEqual({ n: 0 });
    await alice.device.close();
    await bob.device.close();
    expect(await downgrade(alice)).toBe(2); // Alice's own inbound copy and her outbound session
    expect(await downgrade(bob)).toBe(1);
    await alice.reopen();
    await bob.reopen();
    // Both read their schema 1 records: old events open, Alice's session goes on (no index reused).
    expect((await bob.device.decryptRoomEvent(first)).event.content).toEqual({ n: 0 });
    expect((await alice.device.decryptRoomEvent(first)).event.content).toEqual({ n: 0 });
    const { event, result } = await alice.post(ROOM, { n: 1 });
    expect(result.newRoomKey).toBeUndefined();
    expect(result.messageIndex).toBeGreaterThan(0);
    expect((await bob.device.decryptRoomEvent(event)).event.content).toEqual({ n: 1 });
    // What is written from now on is schema 2.
    await alice.device.rotateRoomKey(ROOM);
    await alice.post(ROOM, { n: 2 });
    const schemas = (await alice.store.listInboundGroupSessions()).map((e) => e.record.schema).sort();
    expect(schemas).toEqual([1, 2]);
    expect((await alice.store.loadOutboundGroupSession(ROOM))?.record.schema).toBe(2);
  });

  it('a record of an unknown schema is PICKLE_UNSUPPORTED_VERSION, not a crash', async () => {
    const server = new FaultHomeserver();
    const alice = await DeviceClient.create(server, '@alice:example.org', 'ALICE');
    const { event } = await alice.post(ROOM, { n: 0 });
    const [entry] = await alice.store.listInboundGroupSessions();
    await alice.device.close();
    await alice.store.commit({ inboundGroupSessions: [{ ...entry!, record: { ...entry!.record, schema: 3 } }] });
    await alice.reopen();
    expect(await codeOf(alice.device.decryptRoomEvent(event))).toBe('PICKLE_UNSUPPORTED_VERSION');
  });
});
