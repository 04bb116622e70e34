/**
 * Live Megolm interop with vodozemac through matrix-sdk-crypto's OlmMachine
 * (`@matrix-org/matrix-sdk-crypto-wasm`). Room keys travel as exported room keys (the machine's
 * `exportRoomKeys` / `importExportedRoomKeys`) and as key-export files (`encryptExportedRoomKeys`
 * / `decryptExportedRoomKeys`); room events encrypted on one side decrypt on the other.
 */
import {
  DecryptionSettings,
  DeviceId,
  EncryptionSettings,
  initAsync,
  OlmMachine,
  RoomId,
  TrustRequirement,
  UserId,
} from '@matrix-org/matrix-sdk-crypto-wasm';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  DecryptionError,
  decryptKeyExport,
  encryptKeyExport,
  GroupSession,
  InboundGroupSession,
  MEGOLM_V1_ALGORITHM,
  MegolmMessage,
  type RoomKeyExport,
  roomKeyExportFromJson,
  roomKeyExportToJson,
} from '../../src/index.js';
import { b64, expectTriturusRejection, random, refSigner } from './helpers.js';

const ROOM = '!megolm:example.org';
const VODOZEMAC_USER = '@vodozemac:example.org';
const TRITURUS_USER = '@triturus:example.org';
const PASSPHRASE = 'a long passphrase ✓';

let machines: OlmMachine[] = [];

beforeAll(async () => {
  await initAsync();
});

afterEach(() => {
  for (const machine of machines) machine.close();
  machines = [];
});

async function newMachine(deviceId: string): Promise<OlmMachine> {
  const machine = await OlmMachine.initialize(new UserId(VODOZEMAC_USER), new DeviceId(deviceId));
  machines.push(machine);
  return machine;
}

/** The machine encrypts room events with a fresh outbound session (shared with nobody). */
async function machineRoomEvents(machine: OlmMachine, bodies: string[]): Promise<Record<string, unknown>[]> {
  const settings = new EncryptionSettings();
  await machine.shareRoomKey(new RoomId(ROOM), [], settings);
  const contents: Record<string, unknown>[] = [];
  for (const body of bodies) {
    const content = await machine.encryptRoomEvent(
      new RoomId(ROOM),
      'm.room.message',
      JSON.stringify({ msgtype: 'm.text', body }),
    );
    contents.push(JSON.parse(content));
  }
  return contents;
}

/** A triturus sender: outbound session, the export entry describing it, and a room-event builder. */
function triturusSender(): {
  outbound: GroupSession;
  entry: RoomKeyExport;
  event: (body: string, n: number) => Record<string, unknown>;
} {
  const outbound = GroupSession.create();
  const senderKey = b64(random(32));
  const entry: RoomKeyExport = {
    algorithm: MEGOLM_V1_ALGORITHM,
    roomId: ROOM,
    senderKey,
    sessionId: outbound.sessionId,
    sessionKey: InboundGroupSession.fromSessionKey(outbound.sessionKey()).exportAtFirstKnownIndex(),
    // The machine parses this as an Ed25519 point, so it must be a real public key.
    senderClaimedKeys: { ed25519: b64(refSigner().publicKey) },
    forwardingCurve25519KeyChain: [],
  };
  const event = (body: string, n: number) => {
    const plaintext = JSON.stringify({ type: 'm.room.message', content: { msgtype: 'm.text', body }, room_id: ROOM });
    return {
      type: 'm.room.encrypted',
      content: {
        algorithm: MEGOLM_V1_ALGORITHM,
        sender_key: senderKey,
        session_id: outbound.sessionId,
        ciphertext: outbound.encrypt(plaintext).toBase64(),
        device_id: 'TRITURUS',
      },
      event_id: `$event${n}:example.org`,
      sender: TRITURUS_USER,
      origin_server_ts: 1_700_000_000_000 + n,
      room_id: ROOM,
    };
  };
  return { outbound, entry, event };
}

async function machineDecrypt(machine: OlmMachine, event: Record<string, unknown>): Promise<Record<string, unknown>> {
  const settings = new DecryptionSettings(TrustRequirement.Untrusted);
  const decrypted = await machine.decryptRoomEvent(JSON.stringify(event), new RoomId(ROOM), settings);
  return JSON.parse(decrypted.event);
}

function triturusDecrypt(inbound: InboundGroupSession, content: Record<string, unknown>) {
  expect(content.algorithm).toBe(MEGOLM_V1_ALGORITHM);
  expect(content.session_id).toBe(inbound.sessionId);
  const { plaintext, messageIndex } = inbound.decryptText(MegolmMessage.fromBase64(content.ciphertext as string));
  return { event: JSON.parse(plaintext) as Record<string, unknown>, messageIndex };
}

describe('vodozemac interop: room events', () => {
  it('room events encrypted by the OlmMachine decrypt in triturus (key shared as an exported room key)', async () => {
    const machine = await newMachine('VODOZEMAC');
    const contents = await machineRoomEvents(machine, ['first', 'second ✓', 'third']);
    const exported = JSON.parse(await machine.exportRoomKeys(() => true)) as unknown[];
    expect(exported).toHaveLength(1);
    const entry = roomKeyExportFromJson(exported[0]);
    expect(entry.roomId).toBe(ROOM);
    expect(entry.senderKey).toBe(machine.identityKeys.curve25519.toBase64());
    expect(entry.senderClaimedKeys.ed25519).toBe(machine.identityKeys.ed25519.toBase64());
    const inbound = InboundGroupSession.import(entry.sessionKey);
    expect(inbound.isVerified).toBe(false);
    for (const [i, body] of [
      [2, 'third'],
      [0, 'first'],
      [1, 'second ✓'],
      [2, 'third'],
    ] as const) {
      const { event, messageIndex } = triturusDecrypt(inbound, contents[i]!);
      expect(messageIndex).toBe(i);
      expect(event).toEqual({ type: 'm.room.message', content: { msgtype: 'm.text', body }, room_id: ROOM });
    }
  });

  it('room events encrypted by triturus decrypt in the OlmMachine (key imported as an exported room key)', async () => {
    const machine = await newMachine('VODOZEMAC');
    const sender = triturusSender();
    const result = await machine.importExportedRoomKeys(JSON.stringify([roomKeyExportToJson(sender.entry)]), () => {});
    expect(result.importedCount).toBe(1);
    for (let n = 0; n < 3; n++) {
      const decrypted = await machineDecrypt(machine, sender.event(`from triturus ${n}`, n));
      expect(decrypted['type']).toBe('m.room.message');
      expect(decrypted['content']).toEqual({ msgtype: 'm.text', body: `from triturus ${n}` });
      expect(decrypted['sender']).toBe(TRITURUS_USER);
    }
  });

  it('the machine keeps the better copy: a later triturus export does not replace an earlier one', async () => {
    const machine = await newMachine('VODOZEMAC');
    const sender = triturusSender();
    const early = sender.event('index 0', 0);
    const inbound = InboundGroupSession.import(sender.entry.sessionKey);
    const late = { ...sender.entry, sessionKey: inbound.exportAt(5) };
    expect(
      (await machine.importExportedRoomKeys(JSON.stringify([roomKeyExportToJson(late)]), () => {})).importedCount,
    ).toBe(1);
    await expect(machineDecrypt(machine, early)).rejects.toBeDefined();
    expect(
      (await machine.importExportedRoomKeys(JSON.stringify([roomKeyExportToJson(sender.entry)]), () => {}))
        .importedCount,
    ).toBe(1);
    expect((await machineDecrypt(machine, early))['content']).toEqual({ msgtype: 'm.text', body: 'index 0' });
    // ... and triturus agrees on which copy is better.
    expect(
      InboundGroupSession.import(sender.entry.sessionKey).compare(InboundGroupSession.import(late.sessionKey)),
    ).toBe('better');
  });
});

describe('vodozemac interop: key-export files', () => {
  it('a file written by the machine opens in triturus and its keys decrypt the machine’s events', async () => {
    const machine = await newMachine('VODOZEMAC');
    const contents = await machineRoomEvents(machine, ['exported']);
    const file = OlmMachine.encryptExportedRoomKeys(await machine.exportRoomKeys(() => true), PASSPHRASE, 10);
    let progressed = false;
    const keys = await decryptKeyExport(file, PASSPHRASE, { onProgress: () => (progressed = true) });
    expect(progressed).toBe(true);
    expect(keys).toHaveLength(1);
    const inbound = InboundGroupSession.import(keys[0]!.sessionKey);
    expect(triturusDecrypt(inbound, contents[0]!).event['content']).toEqual({ msgtype: 'm.text', body: 'exported' });
    await expectTriturusRejection(decryptKeyExport(file, 'not it'), DecryptionError, 'KEY_EXPORT_BAD_PASSPHRASE');
  });

  it('a file written by triturus opens in the machine, imports, and decrypts triturus’s events', async () => {
    const machine = await newMachine('VODOZEMAC');
    const senders = [triturusSender(), triturusSender()];
    const file = await encryptKeyExport(
      senders.map((s) => s.entry),
      PASSPHRASE,
      { rounds: 10 },
    );
    const opened = JSON.parse(OlmMachine.decryptExportedRoomKeys(file, PASSPHRASE)) as Record<string, unknown>[];
    expect(opened.map((k) => k['session_id'])).toEqual(senders.map((s) => s.outbound.sessionId));
    expect(opened.map((k) => k['session_key'])).toEqual(senders.map((s) => s.entry.sessionKey.toBase64()));
    expect(() => OlmMachine.decryptExportedRoomKeys(file, 'not it')).toThrow();
    const result = await machine.importExportedRoomKeys(JSON.stringify(opened), () => {});
    expect(result.importedCount).toBe(2);
    for (const [n, sender] of senders.entries()) {
      expect((await machineDecrypt(machine, sender.event(`file ${n}`, n)))['content']).toEqual({
        msgtype: 'm.text',
        body: `file ${n}`,
      });
    }
  });
});
