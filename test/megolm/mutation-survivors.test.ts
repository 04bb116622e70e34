/**
 * Tests for kinds of mutants that survived the Olm mutation run and that the Megolm code repeats
 * (test/MUTATION.md): behaviour the public API promises that no test pinned. Both backends.
 * - freed group sessions refuse every use (SESSION_NOT_FOUND);
 * - toJSON shapes; the brand checks behind `instanceof`;
 * - the numbers errors carry (DESIGN: "carrying numbers where useful").
 */
import { describe, expect, it } from 'vitest';
import { TriturusError } from '../../src/errors.js';
import { MegolmSessionConfig } from '../../src/megolm/config.js';
import { decryptKeyExport, encryptKeyExport } from '../../src/megolm/export.js';
import { GroupSession } from '../../src/megolm/group-session.js';
import { InboundGroupSession } from '../../src/megolm/inbound-group-session.js';
import { ExportedSessionKey, MegolmMessage, SessionKey } from '../../src/megolm/messages.js';
import { thrown } from '../olm/helpers.js';

function refusal(fn: () => unknown, code: string): TriturusError {
  const error = thrown(fn);
  expect(error).toBeInstanceOf(TriturusError);
  expect((error as TriturusError).code).toBe(code);
  expect((error as TriturusError).message.length).toBeGreaterThan(10);
  return error as TriturusError;
}
async function refusalAsync(fn: () => Promise<unknown>, code: string): Promise<TriturusError> {
  let error: unknown;
  try {
    await fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(TriturusError);
  expect((error as TriturusError).code).toBe(code);
  return error as TriturusError;
}

describe('freed group sessions refuse every use', () => {
  it('an outbound group session: encrypt, sessionKey, advanceTo, pickle', () => {
    const session = GroupSession.create();
    session.free();
    for (const use of [
      () => session.encrypt('x'),
      () => session.sessionKey(),
      () => session.advanceTo(5),
      () => session.pickle(new Uint8Array(32)),
    ]) {
      refusal(use, 'SESSION_NOT_FOUND');
    }
  });

  it('an inbound group session: decrypt, exportAt, pickle', () => {
    const outbound = GroupSession.create();
    const inbound = InboundGroupSession.fromSessionKey(outbound.sessionKey());
    const message = outbound.encrypt('x');
    inbound.free();
    for (const use of [
      () => inbound.decrypt(message),
      () => inbound.exportAt(0),
      () => inbound.pickle(new Uint8Array(32)),
    ]) {
      refusal(use, 'SESSION_NOT_FOUND');
    }
  });
});

describe('JSON shapes and brand checks', () => {
  it('toJSON names the type and the public identifiers only', () => {
    const outbound = GroupSession.create();
    outbound.encrypt('one');
    const inbound = InboundGroupSession.fromSessionKey(outbound.sessionKey());
    expect(JSON.parse(JSON.stringify(outbound))).toEqual({ type: 'GroupSession', sessionId: outbound.sessionId });
    expect(JSON.parse(JSON.stringify(inbound))).toEqual({
      type: 'InboundGroupSession',
      sessionId: outbound.sessionId,
      firstKnownIndex: 1,
    });
    const message = outbound.encrypt('two');
    expect(JSON.parse(JSON.stringify({ message }))).toEqual({ message: message.toBase64() });
  });

  it('instanceof is true only for objects the classes built', () => {
    const outbound = GroupSession.create();
    const inbound = InboundGroupSession.fromSessionKey(outbound.sessionKey());
    expect(outbound instanceof GroupSession).toBe(true);
    expect(inbound instanceof InboundGroupSession).toBe(true);
    expect(outbound.sessionKey() instanceof SessionKey).toBe(true);
    expect(inbound.exportAt(0) instanceof ExportedSessionKey).toBe(true);
    expect(outbound.encrypt('x') instanceof MegolmMessage).toBe(true);
    expect(MegolmSessionConfig.version1() instanceof MegolmSessionConfig).toBe(true);
    const classes = [
      GroupSession,
      InboundGroupSession,
      SessionKey,
      ExportedSessionKey,
      MegolmMessage,
      MegolmSessionConfig,
    ];
    for (const cls of classes) {
      [Object.create(cls.prototype), {}, null, undefined, 'x'].forEach((impostor, i) => {
        expect(impostor instanceof cls, `${cls.name}: impostor ${i}`).toBe(false);
      });
    }
  });
});

describe('the numbers errors carry', () => {
  it('an unknown Megolm config version names it', () => {
    expect(refusal(() => MegolmSessionConfig.fromVersion(3), 'INVALID_ARGUMENT').details).toEqual({ actual: 3 });
  });

  it('key-export files: a short file and an unknown version name the numbers; bad rounds name them (NaN for non-numbers)', async () => {
    const tooShort = `-----BEGIN MEGOLM SESSION DATA-----\n${Buffer.alloc(10, 1).toString('base64')}\n-----END MEGOLM SESSION DATA-----`;
    expect((await refusalAsync(() => decryptKeyExport(tooShort, 'p'), 'KEY_EXPORT_MALFORMED')).details).toEqual({
      expected: 37 + 32,
      actual: 10,
    });
    const bytes = Buffer.alloc(37 + 32 + 16, 0);
    bytes[0] = 2;
    const version2 = `-----BEGIN MEGOLM SESSION DATA-----\n${bytes.toString('base64')}\n-----END MEGOLM SESSION DATA-----`;
    expect((await refusalAsync(() => decryptKeyExport(version2, 'p'), 'KEY_EXPORT_MALFORMED')).details).toEqual({
      expected: 1,
      actual: 2,
    });
    expect((await refusalAsync(() => encryptKeyExport([], 'p', { rounds: 0 }), 'INVALID_ARGUMENT')).details).toEqual({
      actual: 0,
    });
    expect(
      (await refusalAsync(() => encryptKeyExport([], 'p', { rounds: '5' as unknown as number }), 'INVALID_ARGUMENT'))
        .details,
    ).toEqual({ actual: Number.NaN });
  });
});
