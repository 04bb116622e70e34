/**
 * RFC 9420 conformance through the DMLS layer: the MLS working group's passive-client vectors,
 * driven through the epoch store with a persistence round trip (commit the change set, reload
 * from the records alone) after every step. Suites triturus does not offer are skipped, visibly.
 */
import { readFileSync } from 'node:fs';
import { type AuthenticationService, decodeMlsMessage, type MLSMessage } from 'ts-mls';
import { decodeRatchetTree } from 'ts-mls/ratchetTree.js';
import { describe, expect, it } from 'vitest';
import { EpochStore } from '../../src/dmls/epoch-store.js';
import { triturusCryptoProvider } from '../../src/dmls/provider.js';
import { MemoryRecordStore, PendingRecords } from '../../src/dmls/records.js';

interface PassiveClient {
  cipher_suite: number;
  external_psks: { psk_id: string; psk: string }[];
  key_package: string;
  signature_priv: string;
  encryption_priv: string;
  init_priv: string;
  welcome: string;
  ratchet_tree: string | null;
  initial_epoch_authenticator: string;
  epochs: { proposals: string[]; commit: string; epoch_authenticator: string }[];
}

const OFFERED: Record<number, boolean> = { 1: true, 3: true };
const SUITE_NAMES: Record<number, string> = {
  2: 'P-256',
  4: 'X448/Ed448',
  5: 'P-521',
  6: 'X448/ChaCha20/Ed448',
  7: 'P-384',
};

const fromHex = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function mls(hex: string): MLSMessage {
  const bytes = fromHex(hex);
  const d = decodeMlsMessage(bytes, 0);
  if (d === undefined) throw new Error('vector message does not decode');
  return d[0];
}

const acceptAll: AuthenticationService = { validateCredential: async () => true };

async function run(v: PassiveClient): Promise<number> {
  const records = new MemoryRecordStore();
  // ts-mls looks external PSKs up by padded standard base64 of the id.
  const psks: Record<string, Uint8Array> = {};
  for (const p of v.external_psks) psks[Buffer.from(p.psk_id, 'hex').toString('base64')] = fromHex(p.psk);
  const options = { authService: acceptAll, provider: triturusCryptoProvider, externalPsks: psks };
  const kpMessage = mls(v.key_package);
  const welcome = mls(v.welcome);
  if (kpMessage.wireformat !== 'mls_key_package' || welcome.wireformat !== 'mls_welcome') throw new Error('vector');
  let pending = new PendingRecords(records);
  await EpochStore.join(pending, 'vector', {
    ...options,
    welcome: welcome.welcome,
    keyPackage: kpMessage.keyPackage,
    privateKeys: {
      initPrivateKey: fromHex(v.init_priv),
      hpkePrivateKey: fromHex(v.encryption_priv),
      signaturePrivateKey: fromHex(v.signature_priv),
    },
    epochId: 'epoch-0',
    ...(v.ratchet_tree === null ? {} : { ratchetTree: decodeRatchetTree(fromHex(v.ratchet_tree), 0)![0] }),
  });
  // Round trip: commit what the operation left pending and reload from the records alone.
  const reload = async (): Promise<EpochStore> => {
    records.apply(pending.takeChanges());
    pending = new PendingRecords(records);
    const store = await EpochStore.load(pending, 'vector', options);
    if (store === undefined) throw new Error('the group did not reload');
    return store;
  };
  let store = await reload();
  expect(toHex(await store.epochAuthenticator('epoch-0'))).toBe(v.initial_epoch_authenticator);
  let current = 'epoch-0';
  let steps = 0;
  for (const [i, e] of v.epochs.entries()) {
    for (const p of e.proposals) {
      await store.processProposal(current, mls(p));
      store = await reload();
      steps++;
    }
    const next = `epoch-${i + 1}`;
    const { epoch } = await store.processCommit(current, mls(e.commit), next);
    expect(epoch.id).toBe(next);
    expect(toHex(await store.epochAuthenticator(next))).toBe(e.epoch_authenticator);
    store = await reload();
    expect(toHex(await store.epochAuthenticator(next))).toBe(e.epoch_authenticator);
    steps++;
    current = next;
  }
  return steps;
}

function suiteCases(file: string) {
  const vectors = JSON.parse(
    readFileSync(new URL(`../../vectors/mls/${file}`, import.meta.url), 'utf8'),
  ) as PassiveClient[];
  return vectors.map((v, i) => ({ v, i }));
}

for (const file of [
  'passive-client-welcome.json',
  'passive-client-handling-commit.json',
  'passive-client-random.json',
]) {
  describe(`RFC 9420 ${file} through the DMLS epoch store`, () => {
    for (const { v, i } of suiteCases(file)) {
      const offered = OFFERED[v.cipher_suite] === true;
      const name = offered
        ? `#${i} suite ${v.cipher_suite}: ${v.epochs.length} epochs, every authenticator matches`
        : `#${i} suite ${v.cipher_suite} (${SUITE_NAMES[v.cipher_suite]}): skipped, suite not offered by triturus`;
      it.skipIf(!offered)(name, async () => {
        const steps = await run(v);
        expect(steps).toBeGreaterThanOrEqual(v.epochs.length);
      });
    }
  });
}
