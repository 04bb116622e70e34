// @ts-check
/**
 * Turns the vector files into oracle requests and judges the answers (vectors/ORACLE.md).
 *
 * This module knows the vector schemas and the request kinds; it never imports an implementation.
 * Every expected value it compares with comes from the vector file. One `Unit` covers one or more
 * tests: it sends requests through `send` and returns a verdict for each of its tests.
 */
import { isDeepStrictEqual } from 'node:util';

/**
 * @typedef {Record<string, any>} Json
 * @typedef {{ tcId: number, comment: string, result: 'valid' | 'invalid', flags?: string[] } & Json} TestCase
 * @typedef {{ comment: string, tests: TestCase[] } & Json} TestGroup
 * @typedef {{ algorithm: string, schema: string, numberOfTests: number, testGroups: TestGroup[] } & Json} VectorFile
 * @typedef {{ status: 'ok', output: Json } | { status: 'refused', error?: string } | { status: 'error', error?: string }} Answer
 * @typedef {(kind: string, payload: Json) => Promise<Answer>} Send
 * @typedef {{ tcId: number, pass: boolean, detail?: string }} Verdict
 * @typedef {{ kind: string, tests: TestCase[], run: (send: Send) => Promise<Verdict[]> }} Unit
 */

/** Thrown by `send` when the oracle answers `unsupported`: every test of the unit is unsupported. */
export class Unsupported extends Error {
  /** @param {string} kind @param {string} reason */
  constructor(kind, reason) {
    super(`${kind}: ${reason}`);
    this.kind = kind;
    this.reason = reason;
  }
}

/** A difference between what the oracle said and what the vector expects. */
class Mismatch extends Error {}

/** @param {unknown} actual @param {unknown} expected @param {string} what */
function same(actual, expected, what) {
  if (!isDeepStrictEqual(actual, expected)) {
    throw new Mismatch(`${what}: got ${short(actual)}, expected ${short(expected)}`);
  }
}

/** @param {unknown} value */
function short(value) {
  const text = value === undefined ? 'nothing' : JSON.stringify(value);
  return text.length > 90 ? `${text.slice(0, 87)}...` : text;
}

/** @param {Answer} answer @param {string} what @returns {Json} */
function ok(answer, what) {
  if (answer.status === 'ok') {
    if (answer.output === null || typeof answer.output !== 'object') throw new Mismatch(`${what}: no output object`);
    return answer.output;
  }
  throw new Mismatch(`${what}: ${answer.status}${answer.error === undefined ? '' : ` (${answer.error})`}`);
}

/** @param {Answer} answer @param {string} what */
function refused(answer, what) {
  if (answer.status === 'refused') return;
  if (answer.status === 'ok') throw new Mismatch(`${what}: accepted, but the vector says it must be refused`);
  throw new Mismatch(
    `${what}: ${answer.status}${answer.error === undefined ? '' : ` (${answer.error})`}, not a refusal`,
  );
}

/** A sub-answer inside an output (a step, a decryption): the same three statuses. @param {unknown} value @param {string} what @returns {Answer} */
function subAnswer(value, what) {
  if (value === null || typeof value !== 'object') throw new Mismatch(`${what}: missing from the output`);
  const status = /** @type {Json} */ (value).status;
  if (status !== 'ok' && status !== 'refused' && status !== 'error')
    throw new Mismatch(`${what}: status ${short(status)}`);
  return /** @type {Answer} */ (value);
}

/** @param {Json} output @param {string} field @param {number} length @returns {unknown[]} */
function list(output, field, length) {
  const value = output[field];
  if (!Array.isArray(value) || value.length !== length) {
    throw new Mismatch(`${field}: expected a list of ${length}, got ${short(value)}`);
  }
  return value;
}

/**
 * Runs `fn` for one test: a thrown Mismatch fails the test; anything else propagates.
 * @param {TestCase} test @param {() => unknown} fn @returns {Promise<Verdict>}
 */
async function verdictOf(test, fn) {
  try {
    await fn();
    return { tcId: test.tcId, pass: true };
  } catch (error) {
    if (error instanceof Mismatch) return { tcId: test.tcId, pass: false, detail: error.message };
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Olm: every Olm schema becomes `olm_steps` requests

/** @param {Json} party */
function partyRequest(party) {
  /** @type {Json} */
  const out = {
    ed25519Seed: party.ed25519Seed,
    curve25519Secret: party.curve25519Secret,
    oneTimeKeySecrets: party.oneTimeKeys.map((/** @type {Json} */ k) => k.secret),
  };
  if (party.fallbackKey !== undefined) out.fallbackKeySecret = party.fallbackKey.secret;
  return out;
}

/** The public keys the vector says each party's secrets give. @param {Json} output @param {Json} parties */
function checkParties(output, parties) {
  for (const name of ['alice', 'bob']) {
    const party = parties[name];
    const got = output.parties?.[name];
    same(got?.curve25519, party.curve25519, `${name}'s Curve25519 identity key`);
    same(got?.ed25519, party.ed25519, `${name}'s Ed25519 identity key`);
    same(
      got?.oneTimeKeys,
      party.oneTimeKeys.map((/** @type {Json} */ k) => k.publicKey),
      `${name}'s one-time keys`,
    );
    same(got?.fallbackKey ?? null, party.fallbackKey?.publicKey ?? null, `${name}'s fallback key`);
  }
}

/** The request form of a vector step (inputs only). @param {Json} step */
function stepRequest(step) {
  /** @type {Json} */
  const out = { action: step.action, party: step.party };
  switch (step.action) {
    case 'createOutbound':
      out.theirIdentityKey = step.theirIdentityKey;
      out.theirOneTimeKey = step.theirOneTimeKey;
      out.random = { baseKeySecret: step.random.baseKeySecret, ratchetKeySecret: step.random.ratchetKeySecret };
      break;
    case 'encrypt':
      out.plaintext = step.plaintext;
      if (step.random?.ratchetKeySecret !== undefined) out.random = { ratchetKeySecret: step.random.ratchetKeySecret };
      break;
    case 'createInbound':
      out.theirIdentityKey = step.theirIdentityKey;
      out.message = step.message;
      break;
    case 'decrypt':
      out.message = step.message;
      break;
    default:
      throw new Error(`unknown Olm step action ${String(step.action)}`);
  }
  return out;
}

/** Judges one step's answer against the vector step. @param {Answer} answer @param {Json} step @param {string} label */
function checkStep(answer, step, label) {
  const what = `${label} (${step.party} ${step.action})`;
  if (step.result === 'invalid') return refused(answer, what);
  const output = ok(answer, what);
  const expected = step.expected ?? {};
  switch (step.action) {
    case 'createOutbound':
      return same(output.sessionId, expected.sessionId, `${what}: session id`);
    case 'encrypt':
      return same(output.message, expected.message, `${what}: message`);
    case 'createInbound':
      same(output.sessionId, expected.sessionId, `${what}: session id`);
      return same(output.plaintext, expected.plaintext, `${what}: plaintext`);
    default:
      return same(output.plaintext, expected.plaintext, `${what}: plaintext`);
  }
}

/** @param {Send} send @param {Json} parties @param {Json[]} steps @returns {Promise<Answer[]>} */
async function runSteps(send, parties, steps) {
  const answer = await send('olm_steps', {
    parties: { alice: partyRequest(parties.alice), bob: partyRequest(parties.bob) },
    steps: steps.map(stepRequest),
  });
  const output = ok(answer, 'olm_steps');
  checkParties(output, parties);
  const results = list(output, 'steps', steps.length);
  return results.map((r, i) => subAnswer(r, `step ${i + 1}`));
}

/** @param {VectorFile} file @returns {Unit[]} */
function planOlmEstablishment(file) {
  return file.testGroups.flatMap((group) =>
    group.tests.map((test) => ({
      kind: 'olm_steps',
      tests: [test],
      run: async (send) => {
        const steps = [
          {
            action: 'createOutbound',
            party: 'alice',
            theirIdentityKey: test.bob.curve25519,
            theirOneTimeKey: test.theirOneTimeKey,
            random: test.outboundRandom,
            expected: { sessionId: test.expected.sessionId },
            result: 'valid',
          },
          {
            action: 'encrypt',
            party: 'alice',
            plaintext: test.plaintext,
            expected: { message: test.expected.message },
            result: 'valid',
          },
          {
            action: 'createInbound',
            party: 'bob',
            theirIdentityKey: test.alice.curve25519,
            message: test.expected.message,
            expected: { sessionId: test.expected.sessionId, plaintext: test.plaintext },
            result: 'valid',
          },
        ];
        return [
          await verdictOf(test, async () => {
            const answers = await runSteps(send, { alice: test.alice, bob: test.bob }, steps);
            steps.forEach((step, i) => {
              checkStep(/** @type {Answer} */ (answers[i]), step, `step ${i + 1}`);
            });
          }),
        ];
      },
    })),
  );
}

/** One request per group (a conversation): one verdict per step. @param {VectorFile} file @returns {Unit[]} */
function planOlmSteps(file) {
  return file.testGroups.map((group) => ({
    kind: 'olm_steps',
    tests: group.tests,
    run: async (send) => {
      /** @type {Answer[]} */
      let answers;
      try {
        answers = await runSteps(send, group, group.tests);
      } catch (error) {
        if (!(error instanceof Mismatch)) throw error;
        return group.tests.map((t) => ({ tcId: t.tcId, pass: false, detail: error.message }));
      }
      return Promise.all(
        group.tests.map((test, i) =>
          verdictOf(test, () => checkStep(/** @type {Answer} */ (answers[i]), test, `tcId ${test.tcId}`)),
        ),
      );
    },
  }));
}

/** One request per test: the group's setup, the test step, then afterEach. @param {VectorFile} file @returns {Unit[]} */
function planOlmInvalid(file) {
  return file.testGroups.flatMap((group) =>
    group.tests.map((test) => ({
      kind: 'olm_steps',
      tests: [test],
      run: async (send) => {
        const steps = [...group.setup, test, group.afterEach];
        return [
          await verdictOf(test, async () => {
            if (test.result !== 'invalid') throw new Error(`tcId ${test.tcId}: olm_invalid holds invalid tests only`);
            const answers = await runSteps(send, group, steps);
            steps.forEach((step, i) => {
              const label =
                i < group.setup.length ? `setup step ${i + 1}` : i === steps.length - 1 ? 'afterEach' : 'the test step';
              checkStep(/** @type {Answer} */ (answers[i]), step, label);
            });
          }),
        ];
      },
    })),
  );
}

// ---------------------------------------------------------------------------------------------
// Megolm

/** @param {Send} send @param {TestGroup} group @param {number} messageIndex @param {string} [plaintext] */
async function outbound(send, group, messageIndex, plaintext) {
  /** @type {Json} */
  const payload = { ratchet: group.ratchet, signingKeySeed: group.signingKeySeed, messageIndex };
  if (plaintext !== undefined) payload.plaintext = plaintext;
  const output = ok(await send('megolm_outbound', payload), 'megolm_outbound');
  same(output.sessionId, group.sessionId, 'megolm_outbound: session id');
  return output;
}

/** @param {Json} output @param {number} i @param {Json} expected `{plaintext, messageIndex}` */
function checkMegolmDecrypt(output, i, expected) {
  const answer = subAnswer(output.decrypts?.[i], `decrypts[${i}]`);
  const got = ok(answer, `decrypts[${i}]`);
  same(got.plaintext, expected.plaintext, `decrypts[${i}]: plaintext`);
  same(got.messageIndex, expected.messageIndex, `decrypts[${i}]: message index`);
}

/** @param {VectorFile} file @returns {Unit[]} */
function planMegolmSessionKeys(file) {
  return file.testGroups.flatMap((group) =>
    group.tests.map((test) => ({
      kind: test.kind === 'sessionKey' && test.result === 'valid' ? 'megolm_outbound' : 'megolm_inbound',
      tests: [test],
      run: async (send) => [
        await verdictOf(test, async () => {
          if (test.result === 'invalid') {
            const payload =
              test.kind === 'importExported' ? { exportedKey: test.sessionKey } : { sessionKey: test.sessionKey };
            return refused(await send('megolm_inbound', payload), 'megolm_inbound');
          }
          if (test.kind === 'sessionKey') {
            const out = await outbound(send, group, test.messageIndex);
            same(out.sessionKey, test.expected.sessionKey, 'megolm_outbound: session key');
            const inb = ok(await send('megolm_inbound', { sessionKey: test.expected.sessionKey }), 'megolm_inbound');
            same(inb.sessionId, test.expected.sessionId, 'megolm_inbound: session id');
            return same(inb.firstKnownIndex, test.expected.firstKnownIndex, 'megolm_inbound: first known index');
          }
          const inb = ok(
            await send('megolm_inbound', { sessionKey: group.sessionKey, exportAt: test.messageIndex }),
            'megolm_inbound',
          );
          same(inb.sessionId, group.sessionId, 'megolm_inbound: session id');
          return same(inb.exportedKey, test.expected.exportedKey, 'megolm_inbound: exported key');
        }),
      ],
    })),
  );
}

/** @param {VectorFile} file @returns {Unit[]} */
function planMegolmMessages(file) {
  return file.testGroups.flatMap((group) =>
    group.tests.map((test) => ({
      kind: test.result === 'valid' ? 'megolm_outbound' : 'megolm_inbound',
      tests: [test],
      run: async (send) => [
        await verdictOf(test, async () => {
          if (test.result === 'valid') {
            const out = await outbound(send, group, test.messageIndex, test.plaintext);
            same(out.message, test.message, 'megolm_outbound: message');
            const inb = ok(
              await send('megolm_inbound', { sessionKey: group.sessionKey, decrypt: [test.message] }),
              'megolm_inbound',
            );
            return checkMegolmDecrypt(inb, 0, test.expected);
          }
          const key =
            typeof test.sessionExportedKey === 'string'
              ? { exportedKey: test.sessionExportedKey }
              : { sessionKey: group.sessionKey };
          const messages = group.afterEach === undefined ? [test.message] : [test.message, group.afterEach.message];
          const inb = ok(await send('megolm_inbound', { ...key, decrypt: messages }), 'megolm_inbound');
          list(inb, 'decrypts', messages.length);
          refused(subAnswer(inb.decrypts[0], 'decrypts[0]'), 'decrypts[0]');
          if (group.afterEach !== undefined) checkMegolmDecrypt(inb, 1, group.afterEach.expected);
        }),
      ],
    })),
  );
}

/** @param {VectorFile} file @returns {Unit[]} */
function planMegolmRatchet(file) {
  return file.testGroups.flatMap((group) =>
    group.tests.map((test) => ({
      kind: 'megolm_inbound',
      tests: [test],
      run: async (send) => [
        await verdictOf(test, async () => {
          const inb = ok(
            await send('megolm_inbound', { exportedKey: group.initialExportedKey, exportAt: test.messageIndex }),
            'megolm_inbound',
          );
          same(inb.sessionId, group.sessionId, 'megolm_inbound: session id');
          same(inb.exportedKey, test.expected.exportedKey, 'megolm_inbound: exported key');
        }),
      ],
    })),
  );
}

// ---------------------------------------------------------------------------------------------
// libolm pickles

/** @param {VectorFile} file @returns {Unit[]} */
function planLibolmPickles(file) {
  return file.testGroups.flatMap((group) =>
    group.tests.map((test) => ({
      kind: 'libolm_pickle',
      tests: [test],
      run: async (send) => [
        await verdictOf(test, async () => {
          const pickleKind = test.kind ?? group.kind;
          /** @type {Json} */
          const payload = { pickleKind, pickleKey: test.pickleKey, pickle: test.pickle };
          if (test.result === 'invalid') return refused(await send('libolm_pickle', payload), 'libolm_pickle');
          const e = test.expected;
          if (pickleKind === 'account') payload.sign = e.signedMessage;
          if (e.nextEncrypt !== undefined) {
            payload.encrypt = { plaintext: e.nextEncrypt.plaintext };
            if (e.nextEncrypt.random !== undefined) payload.encrypt.random = e.nextEncrypt.random;
          }
          if (e.decrypts !== undefined) payload.decrypt = e.decrypts.map((/** @type {Json} */ d) => d.message);
          const out = ok(await send('libolm_pickle', payload), 'libolm_pickle');
          same(out.repickle, e.repickle, 'written back');
          switch (pickleKind) {
            case 'account':
              same(out.identityKeys, e.identityKeys, 'identity keys');
              same(
                Array.isArray(out.oneTimeKeys) ? [...out.oneTimeKeys].sort() : out.oneTimeKeys,
                Object.values(e.unpublishedOneTimeKeys).sort(),
                'unpublished one-time keys',
              );
              same(out.fallbackKey ?? null, Object.values(e.fallbackKey)[0] ?? null, 'fallback key');
              return same(out.signature, e.signature, 'signature');
            case 'session':
              same(out.sessionId, e.sessionId, 'session id');
              same(out.hasReceivedMessage, e.hasReceivedMessage, 'has received a message');
              same(out.message, e.nextEncrypt.message, 'the next message');
              list(out, 'decrypts', e.decrypts.length);
              return e.decrypts.forEach((/** @type {Json} */ d, /** @type {number} */ i) => {
                same(
                  ok(subAnswer(out.decrypts[i], `decrypts[${i}]`), `decrypts[${i}]`).plaintext,
                  d.plaintext,
                  `decrypts[${i}]`,
                );
              });
            case 'outboundGroupSession':
              same(out.sessionId, e.sessionId, 'session id');
              same(out.messageIndex, e.messageIndex, 'message index');
              same(out.sessionKey, e.sessionKey, 'session key');
              return same(out.message, e.nextEncrypt.message, 'the next message');
            case 'inboundGroupSession':
              same(out.sessionId, e.sessionId, 'session id');
              same(out.firstKnownIndex, e.firstKnownIndex, 'first known index');
              same(out.verified, e.verified, 'verified');
              same(out.exportedKey, e.exportedKey, 'exported key');
              list(out, 'decrypts', e.decrypts.length);
              return e.decrypts.forEach((/** @type {Json} */ d, /** @type {number} */ i) => {
                checkMegolmDecrypt(out, i, d);
              });
            default:
              throw new Error(`unknown pickle kind ${pickleKind}`);
          }
        }),
      ],
    })),
  );
}

// ---------------------------------------------------------------------------------------------
// Key exports, canonical JSON, JSON signing, Ed25519

const EXPORT_FIELDS = [
  'algorithm',
  'room_id',
  'sender_key',
  'session_id',
  'session_key',
  'sender_claimed_keys',
  'forwarding_curve25519_key_chain',
];

/** @param {VectorFile} file @returns {Unit[]} */
function planKeyExport(file) {
  return file.testGroups.flatMap((group) =>
    group.tests.map((test) => ({
      kind: 'key_export_decrypt',
      tests: [test],
      run: async (send) => [
        await verdictOf(test, async () => {
          const answer = await send('key_export_decrypt', { file: test.file, passphrase: test.passphrase });
          if (test.result === 'invalid') return refused(answer, 'key_export_decrypt');
          const out = ok(answer, 'key_export_decrypt');
          const expected = test.expected.sessions;
          const sessions = list(out, 'sessions', expected.length);
          expected.forEach((/** @type {Json} */ want, /** @type {number} */ i) => {
            const got = /** @type {Json} */ (sessions[i] ?? {});
            for (const field of EXPORT_FIELDS) same(got[field], want[field], `sessions[${i}].${field}`);
          });
        }),
      ],
    })),
  );
}

/** @param {VectorFile} file @returns {Unit[]} */
function planCanonicalJson(file) {
  return file.testGroups.flatMap((group) =>
    group.tests.map((test) => ({
      kind: 'canonical_json',
      tests: [test],
      run: async (send) => [
        await verdictOf(test, async () => {
          const answer = await send('canonical_json', { input: test.input });
          if (test.result === 'invalid') return refused(answer, 'canonical_json');
          same(ok(answer, 'canonical_json').canonical, test.expected, 'canonical JSON');
        }),
      ],
    })),
  );
}

/** A verification verdict: `{valid}` in an ok answer, or a refusal (counted as not valid). @param {Answer} answer @param {string} what */
function validity(answer, what) {
  if (answer.status === 'refused') return false;
  const out = ok(answer, what);
  if (typeof out.valid !== 'boolean') throw new Mismatch(`${what}: output.valid must be true or false`);
  return out.valid;
}

/** @param {VectorFile} file @returns {Unit[]} */
function planJsonSigning(file) {
  return file.testGroups.flatMap((group) =>
    group.tests.map((test) => ({
      kind: group.kind === 'sign' ? 'json_sign' : 'json_verify',
      tests: [test],
      run: async (send) => [
        await verdictOf(test, async () => {
          if (group.kind === 'sign') {
            /** @type {Json} */
            const payload = { seed: group.seed, entity: group.entity, keyId: group.keyId, object: test.object };
            if (typeof group.curve25519Secret === 'string') payload.curve25519Secret = group.curve25519Secret;
            const out = ok(await send('json_sign', payload), 'json_sign');
            return same(out.signedObject, test.expected.signedObject, 'signed object');
          }
          const answer = await send('json_verify', {
            publicKey: group.publicKey,
            entity: group.entity,
            keyId: group.keyId,
            signedObject: test.signedObject,
          });
          same(validity(answer, 'json_verify'), test.result === 'valid', 'json_verify: valid');
        }),
      ],
    })),
  );
}

/** @param {VectorFile} file @returns {Unit[]} */
function planEd25519(file) {
  return file.testGroups.flatMap((group) =>
    group.tests.map((test) => ({
      kind: 'ed25519_verify',
      tests: [test],
      run: async (send) => [
        await verdictOf(test, async () => {
          const answer = await send('ed25519_verify', {
            publicKey: test.publicKey,
            message: test.message,
            signature: test.signature,
          });
          same(validity(answer, 'ed25519_verify'), test.result === 'valid', 'ed25519_verify: valid');
        }),
      ],
    })),
  );
}

/** Vector schema -> the units that run it. A schema missing here is reported as skipped. */
export const PLANNERS = /** @type {Record<string, (file: VectorFile) => Unit[]>} */ ({
  olm_session_establishment: planOlmEstablishment,
  olm_steps: planOlmSteps,
  olm_invalid: planOlmInvalid,
  megolm_session_keys: planMegolmSessionKeys,
  megolm_messages: planMegolmMessages,
  megolm_ratchet: planMegolmRatchet,
  libolm_pickles: planLibolmPickles,
  megolm_key_export: planKeyExport,
  canonical_json: planCanonicalJson,
  json_signing: planJsonSigning,
  ed25519_verify: planEd25519,
});
