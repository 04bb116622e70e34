/**
 * The libolm importers fed arbitrary input throw only PickleError (or INVALID_ARGUMENT for a
 * non-string pickle), never another error, a crash or a hang:
 * - arbitrary strings as pickles (most fail the MAC or base64);
 * - arbitrary bytes sealed in a valid container under the right key, so they reach the parsers,
 *   with and without a valid version prefix;
 * - random damage (byte changes, truncation, extension) to real libolm plaintexts.
 * A successful parse must give a usable object.
 */
import Olm from '@towns-protocol/olm';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { Account, PickleError, Session, TriturusError } from '../../src/index.js';
import { openLibolmPickle, sealLibolmPickle } from '../../src/libolm/container.js';
import { accountFromLibolmPickle, sessionFromLibolmPickle } from '../../src/libolm/index.js';

const KEY = 'fuzz key';
const CODES = ['PICKLE_INVALID', 'PICKLE_BAD_KEY', 'PICKLE_UNSUPPORTED_VERSION'];

type Outcome = 'ok' | string;

/** Runs an import; returns 'ok' or the PickleError code, and fails on any other outcome. */
function outcome(fn: () => Account | Session): Outcome {
  let result: Account | Session;
  try {
    result = fn();
  } catch (error) {
    if (!(error instanceof PickleError)) {
      throw new Error(`expected a PickleError, got ${error instanceof TriturusError ? error.code : String(error)}`);
    }
    expect(CODES).toContain(error.code);
    return error.code;
  }
  if (result instanceof Account) {
    expect(result.curve25519Key.toBase64()).toHaveLength(43);
  } else {
    expect(result).toBeInstanceOf(Session);
    expect(result.sessionId).toHaveLength(43);
  }
  return 'ok';
}

const importAccount = (pickle: string): Outcome => outcome(() => accountFromLibolmPickle(pickle, KEY));
const importSession = (pickle: string): Outcome => outcome(() => sessionFromLibolmPickle(pickle, KEY));
const u32 = (n: number): Uint8Array => Uint8Array.of(n >>> 24, n >>> 16, n >>> 8, n);
const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
};

let accountPlaintext: Uint8Array;
let sessionPlaintext: Uint8Array;

beforeAll(async () => {
  const olm = await Olm.initAsync();
  const alice = new olm.Account();
  alice.create();
  alice.generate_one_time_keys(2);
  alice.generate_fallback_key();
  const bob = new olm.Account();
  bob.create();
  bob.generate_one_time_keys(1);
  const bobKeys = JSON.parse(bob.identity_keys()) as { curve25519: string };
  const otk = Object.values((JSON.parse(bob.one_time_keys()) as { curve25519: Record<string, string> }).curve25519)[0]!;
  const a = new olm.Session();
  a.create_outbound(alice, bobKeys.curve25519, otk);
  const first = a.encrypt('x');
  const b = new olm.Session();
  b.create_inbound_from(bob, (JSON.parse(alice.identity_keys()) as { curve25519: string }).curve25519, first.body);
  b.decrypt(first.type, first.body);
  const replies = [b.encrypt('1'), b.encrypt('2'), b.encrypt('3')];
  a.decrypt(replies[2]!.type, replies[2]!.body); // two skipped keys
  accountPlaintext = openLibolmPickle(alice.pickle(KEY), KEY);
  sessionPlaintext = openLibolmPickle(a.pickle(KEY), KEY);
  for (const o of [a, b, alice, bob]) o.free();
});

describe('libolm importers on arbitrary input', () => {
  it('arbitrary strings', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.base64String({ maxLength: 400 })), (text) => {
        expect(importAccount(text)).not.toBe('ok');
        expect(importSession(text)).not.toBe('ok');
      }),
      { numRuns: 300 },
    );
  });

  it('arbitrary bytes in a valid container (reaching the parsers)', () => {
    const body = fc.uint8Array({ maxLength: 600 });
    fc.assert(
      fc.property(
        fc.oneof(
          body,
          body.map((b) => concat(u32(4), b)),
          body.map((b) => concat(u32(3), b)),
          body.map((b) => concat(u32(2), b)),
          body.map((b) => concat(u32(1), b)),
          body.map((b) => concat(u32(0x80000001), b)),
        ),
        (bytes) => {
          const pickle = sealLibolmPickle(bytes, KEY);
          importAccount(pickle);
          importSession(pickle);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('random damage to real plaintexts either imports or throws PickleError', () => {
    const damage = (plaintext: () => Uint8Array) =>
      fc.oneof(
        fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }).map(({ at, value }) => {
          const copy = plaintext().slice();
          copy[at % copy.length] = value;
          return copy;
        }),
        fc.nat().map((n) => plaintext().slice(0, n % plaintext().length)),
        fc.uint8Array({ minLength: 1, maxLength: 80 }).map((extra) => concat(plaintext(), extra)),
      );
    fc.assert(
      fc.property(
        damage(() => accountPlaintext),
        (bytes) => {
          importAccount(sealLibolmPickle(bytes, KEY));
        },
      ),
      { numRuns: 150 },
    );
    fc.assert(
      fc.property(
        damage(() => sessionPlaintext),
        (bytes) => {
          importSession(sealLibolmPickle(bytes, KEY));
        },
      ),
      { numRuns: 150 },
    );
    expect(importAccount(sealLibolmPickle(accountPlaintext, KEY))).toBe('ok');
    expect(importSession(sealLibolmPickle(sessionPlaintext, KEY))).toBe('ok');
  });
});
