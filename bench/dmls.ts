/**
 * DMLS: the triturus layer (src/dmls) against bare ts-mls 1.6.4 doing the same job, for groups of
 * 2, 100 and 1000 members; and the triturus crypto provider against ts-mls's default provider
 * (both under bare ts-mls) for sending and receiving.
 *
 * "The same job" per case:
 * - create and add all: make the group, one commit adding every other member (their key packages
 *   ready), the Welcome; bare ts-mls also encodes the commit, the Welcome and the new state
 *   (what it must persist); the layer does its records (change set taken).
 * - join from welcome: decode the Welcome, join, persist the state (layer: from the to-device
 *   content, key package looked up in the records and consumed).
 * - update commit: an empty commit with a path update, encoded, its state encoded (layer: the
 *   pending commit record; discarded after, so that every call starts from the same epoch).
 * - process a commit: load the member's state from bytes, process the commit, persist the new
 *   state (layer: reopened from its records each call, change set taken).
 * - send 100 B / send and receive 100 B: the bare calls plus the MLSMessage encoding and
 *   decoding, no persistence (the layer writes one secret-tree chunk per message).
 * Cases at 1000 members take seconds: they run a few interleaved single calls (bench/harness.ts).
 */
import {
  type CiphersuiteImpl,
  type ClientState,
  type CryptoProvider,
  createApplicationMessage,
  createCommit,
  createGroup,
  decodeGroupState,
  decodeMlsMessage,
  defaultCapabilities,
  defaultCryptoProvider,
  defaultLifetime,
  emptyPskIndex,
  encodeGroupState,
  encodeMlsMessage,
  generateKeyPackage,
  getCiphersuiteFromName,
  joinGroup,
  type KeyPackage,
  type MLSMessage,
  type PrivateKeyPackage,
  processMessage,
} from 'ts-mls';
import { clientConfigFor } from '../src/dmls/epoch-store.js';
import { encodeDmlsIdentity } from '../src/dmls/identity.js';
import {
  type CommitContent,
  DmlsAccount,
  type DmlsGroup,
  MemoryRecordStore,
  triturusCryptoProvider,
  type WelcomeContent,
} from '../src/dmls/index.js';
import type { BenchModule, Case } from './harness.js';

const SUITE = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';
const ROOM = '!bench:example.org';
const PAYLOAD = new Uint8Array(100).fill(0x61);
// DMLS_SIZES=2,100 runs a subset (the full run takes a few minutes).
const SIZES: readonly number[] = (process.env.DMLS_SIZES ?? '2,100,1000').split(',').map(Number);
const accept = { validateCredential: async () => true };
const bareConfig = clientConfigFor(accept);

let counter = 0;
const eventId = () => `$bench${++counter}`;
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64').replace(/=+$/, '');

async function suite(provider: CryptoProvider): Promise<CiphersuiteImpl> {
  return provider.getCiphersuiteImpl(getCiphersuiteFromName(SUITE));
}

async function keyPackages(n: number, cs: CiphersuiteImpl) {
  const out: { publicPackage: KeyPackage; privatePackage: PrivateKeyPackage; upload: string }[] = [];
  for (let i = 0; i < n; i++) {
    const kp = await generateKeyPackage(
      { credentialType: 'basic', identity: encodeDmlsIdentity(`@m${i}:bench.org`, `D${i}`) },
      defaultCapabilities(),
      defaultLifetime,
      [],
      cs,
    );
    const upload = b64(
      encodeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: kp.publicPackage }),
    );
    out.push({ ...kp, upload });
  }
  return out;
}

function mls(bytes: Uint8Array): MLSMessage {
  return decodeMlsMessage(bytes, 0)![0];
}

/** A peer of the layer: an account over its own committed records. */
async function openAccount(store: MemoryRecordStore, user: string, device: string): Promise<DmlsAccount> {
  return DmlsAccount.open(store, { userId: user, deviceId: device, authenticate: () => true });
}

interface LayerFixture {
  /** Alice's records at the group's current epoch, and her account and group over them. */
  aliceStore: MemoryRecordStore;
  alice: DmlsAccount;
  aliceGroup: DmlsGroup;
  /** Bob's records before the join (identity and key package), and the welcome for him. */
  bobBefore: MemoryRecordStore;
  welcome: WelcomeContent;
  bob: DmlsAccount;
  bobGroup: DmlsGroup;
  /** Everything needed to make the group again. */
  others: string[];
  aliceSeed: MemoryRecordStore;
  /** A commit by bob on the current epoch, for alice to process. */
  bobCommit: { event_id: string; sender: string; content: CommitContent };
}

interface BareFixture {
  cs: CiphersuiteImpl;
  alice: ClientState;
  aliceBytes: Uint8Array;
  bob: ClientState;
  bobKp: { publicPackage: KeyPackage; privatePackage: PrivateKeyPackage };
  others: KeyPackage[];
  aliceKp: { publicPackage: KeyPackage; privatePackage: PrivateKeyPackage };
  welcomeBytes: Uint8Array;
  bobCommit: MLSMessage;
  /** Bob's and the others' key packages in upload form. */
  uploads: string[];
}

function keyPackageOf(upload: string): KeyPackage {
  const m = mls(Uint8Array.from(Buffer.from(upload, 'base64')));
  if (m.wireformat !== 'mls_key_package') throw new Error('key package');
  return m.keyPackage;
}

const layerFixtures = new Map<number, Promise<LayerFixture>>();
const bareFixtures = new Map<string, Promise<BareFixture>>();

function layerFixture(n: number): Promise<LayerFixture> {
  let f = layerFixtures.get(n);
  if (f === undefined) {
    f = buildLayer(n);
    layerFixtures.set(n, f);
  }
  return f;
}

function bareFixture(n: number, provider: CryptoProvider, name: string): Promise<BareFixture> {
  const key = `${n}/${name}`;
  let f = bareFixtures.get(key);
  if (f === undefined) {
    f = buildBare(n, provider);
    bareFixtures.set(key, f);
  }
  return f;
}

async function buildLayer(n: number): Promise<LayerFixture> {
  const cs = await suite(triturusCryptoProvider);
  const others = (await keyPackages(n - 2, cs)).map((k) => k.upload);
  const aliceSeed = new MemoryRecordStore();
  aliceSeed.apply((await openAccount(aliceSeed, '@alice:bench.org', 'ALICE')).takeChanges());
  const aliceStore = aliceSeed.clone();
  const alice = await openAccount(aliceStore, '@alice:bench.org', 'ALICE');
  const bobBefore = new MemoryRecordStore();
  const bobSeed = await openAccount(bobBefore, '@bob:bench.org', 'BOB');
  const bobUpload = Object.values(await bobSeed.generateKeyPackages(1))[0]!;
  bobBefore.apply(bobSeed.takeChanges());
  const aliceGroup = await alice.createGroup(ROOM);
  await aliceGroup.createCommit({ add: [bobUpload, ...others] });
  const { welcome } = await aliceGroup.confirmCommit(eventId());
  aliceStore.apply(alice.takeChanges());
  const bobStore = bobBefore.clone();
  const bob = await openAccount(bobStore, '@bob:bench.org', 'BOB');
  const bobGroup = await bob.joinGroup({ sender: '@alice:bench.org', content: welcome });
  bobStore.apply(bob.takeChanges());
  // A commit by bob on the current epoch (confirmed on a throwaway copy of bob, so the fixture stays put).
  const bobCopy = await openAccount(bobStore.clone(), '@bob:bench.org', 'BOB');
  const content = await (await bobCopy.group(ROOM))!.createCommit();
  return {
    aliceStore,
    alice,
    aliceGroup,
    bobBefore,
    welcome: welcome!,
    bob,
    bobGroup,
    others: [bobUpload, ...others],
    aliceSeed,
    bobCommit: { event_id: eventId(), sender: '@bob:bench.org', content },
  };
}

async function buildBare(n: number, provider: CryptoProvider): Promise<BareFixture> {
  const cs = await suite(provider);
  const [aliceKp, bobKp, ...rest] = await keyPackages(n, cs);
  const others = rest.map((k) => k.publicPackage);
  const created = await createGroup(
    new Uint8Array(32).fill(1),
    aliceKp!.publicPackage,
    aliceKp!.privatePackage,
    [],
    cs,
    bareConfig,
  );
  const add = await createCommit(
    { state: created, cipherSuite: cs },
    {
      extraProposals: [bobKp!, ...rest].map((k) => ({ proposalType: 'add', add: { keyPackage: k.publicPackage } })),
      ratchetTreeExtension: true,
      wireAsPublicMessage: true,
    },
  );
  const welcomeBytes = encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome: add.welcome! });
  const bob = await joinGroup(
    add.welcome!,
    bobKp!.publicPackage,
    bobKp!.privatePackage,
    emptyPskIndex,
    cs,
    undefined,
    undefined,
    bareConfig,
  );
  const bobCommit = (await createCommit({ state: bob, cipherSuite: cs }, { wireAsPublicMessage: true })).commit;
  return {
    cs,
    alice: add.newState,
    aliceBytes: encodeGroupState(add.newState),
    bob,
    bobKp: bobKp!,
    others,
    aliceKp: aliceKp!,
    welcomeBytes,
    bobCommit,
    uploads: [bobKp!, ...rest].map((k) => k.upload),
  };
}

function layerCases(n: number): Case[] {
  const fast = { target: 1.15, async: true, skipNoble: true } as const;
  const base = n === 2 ? fast : { ...fast, rounds: n === 1000 ? 3 : 10 };
  return [
    {
      name: `${n} members: create and add all (layer / bare ts-mls)`,
      ...base,
      triturus: async () => {
        const f = await layerFixture(n);
        return async () => {
          const a = await openAccount(f.aliceSeed.clone(), '@alice:bench.org', 'ALICE');
          const g = await a.createGroup(ROOM);
          await g.createCommit({ add: f.others });
          await g.confirmCommit(eventId());
          a.takeChanges();
        };
      },
      reference: async () => {
        const f = await bareFixture(n, triturusCryptoProvider, 'triturus');
        return async () => {
          // The creator's own leaf: a key package made on the spot (the layer makes one too).
          const own = await generateKeyPackage(
            { credentialType: 'basic', identity: encodeDmlsIdentity('@alice:bench.org', 'ALICE') },
            defaultCapabilities(),
            defaultLifetime,
            [],
            f.cs,
          );
          const s = await createGroup(
            new Uint8Array(32).fill(2),
            own.publicPackage,
            own.privatePackage,
            [],
            f.cs,
            bareConfig,
          );
          const r = await createCommit(
            { state: s, cipherSuite: f.cs },
            {
              // Claimed key packages arrive as upload strings, as the layer gets them.
              extraProposals: f.uploads.map(keyPackageOf).map((keyPackage) => ({
                proposalType: 'add',
                add: { keyPackage },
              })),
              ratchetTreeExtension: true,
              wireAsPublicMessage: true,
            },
          );
          encodeMlsMessage(r.commit);
          encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome: r.welcome! });
          encodeGroupState(r.newState);
        };
      },
    },
    {
      name: `${n} members: join from welcome`,
      ...base,
      triturus: async () => {
        const f = await layerFixture(n);
        return async () => {
          const b = await openAccount(f.bobBefore.clone(), '@bob:bench.org', 'BOB');
          await b.joinGroup({ sender: '@alice:bench.org', content: f.welcome });
          b.takeChanges();
        };
      },
      reference: async () => {
        const f = await bareFixture(n, triturusCryptoProvider, 'triturus');
        return async () => {
          const w = mls(f.welcomeBytes);
          if (w.wireformat !== 'mls_welcome') throw new Error('welcome');
          const s = await joinGroup(
            w.welcome,
            f.bobKp.publicPackage,
            f.bobKp.privatePackage,
            emptyPskIndex,
            f.cs,
            undefined,
            undefined,
            bareConfig,
          );
          encodeGroupState(s);
        };
      },
    },
    {
      name: `${n} members: update commit`,
      ...base,
      triturus: async () => {
        const f = await layerFixture(n);
        return async () => {
          await f.aliceGroup.createCommit();
          await f.aliceGroup.discardCommit();
          f.alice.takeChanges();
        };
      },
      reference: async () => {
        const f = await bareFixture(n, triturusCryptoProvider, 'triturus');
        return async () => {
          const r = await createCommit(
            { state: f.alice, cipherSuite: f.cs },
            { wireAsPublicMessage: true, ratchetTreeExtension: true },
          );
          encodeMlsMessage(r.commit);
          encodeGroupState(r.newState);
        };
      },
    },
    {
      name: `${n} members: process a commit (state loaded from bytes, new state persisted)`,
      ...base,
      triturus: async () => {
        const f = await layerFixture(n);
        return async () => {
          const a = await openAccount(f.aliceStore.clone(), '@alice:bench.org', 'ALICE');
          await (await a.group(ROOM))!.processCommit(f.bobCommit);
          a.takeChanges();
        };
      },
      reference: async () => {
        const f = await bareFixture(n, triturusCryptoProvider, 'triturus');
        const commitBytes = encodeMlsMessage(f.bobCommit);
        return async () => {
          const state = decodeGroupState(f.aliceBytes, 0)![0];
          const r = await processMessage(
            mls(commitBytes) as Parameters<typeof processMessage>[0],
            { ...state, clientConfig: bareConfig },
            emptyPskIndex,
            () => 'accept',
            f.cs,
          );
          encodeGroupState(r.newState);
        };
      },
    },
    {
      name: `${n} members: send 100 B`,
      ...fast,
      triturus: async () => {
        const f = await layerFixture(n);
        return async () => {
          await f.aliceGroup.encrypt(PAYLOAD);
          f.alice.takeChanges();
        };
      },
      reference: async () => {
        const f = await bareFixture(n, triturusCryptoProvider, 'triturus');
        let state = f.alice;
        return async () => {
          const r = await createApplicationMessage(state, PAYLOAD, f.cs);
          state = r.newState;
          encodeMlsMessage({ version: 'mls10', wireformat: 'mls_private_message', privateMessage: r.privateMessage });
        };
      },
    },
    {
      name: `${n} members: send and receive 100 B`,
      ...fast,
      triturus: async () => {
        const f = await layerFixture(n);
        return async () => {
          const content = await f.bobGroup.encrypt(PAYLOAD);
          await f.aliceGroup.decrypt({ sender: '@bob:bench.org', content });
          f.alice.takeChanges();
          f.bob.takeChanges();
        };
      },
      reference: () => sendReceive(n, triturusCryptoProvider, 'triturus'),
    },
  ];
}

async function sendReceive(n: number, provider: CryptoProvider, name: string): Promise<() => Promise<void>> {
  const f = await bareFixture(n, provider, name);
  let alice = f.alice;
  let bob = f.bob;
  return async () => {
    const r = await createApplicationMessage(bob, PAYLOAD, f.cs);
    bob = r.newState;
    const bytes = encodeMlsMessage({
      version: 'mls10',
      wireformat: 'mls_private_message',
      privateMessage: r.privateMessage,
    });
    const got = await processMessage(
      mls(bytes) as Parameters<typeof processMessage>[0],
      alice,
      emptyPskIndex,
      () => 'accept',
      f.cs,
    );
    alice = got.newState;
  };
}

async function send(n: number, provider: CryptoProvider, name: string): Promise<() => Promise<void>> {
  const f = await bareFixture(n, provider, name);
  let state = f.alice;
  return async () => {
    const r = await createApplicationMessage(state, PAYLOAD, f.cs);
    state = r.newState;
    encodeMlsMessage({ version: 'mls10', wireformat: 'mls_private_message', privateMessage: r.privateMessage });
  };
}

function providerCases(n: number): Case[] {
  return [
    {
      name: `${n} members, bare ts-mls: send 100 B (triturus provider / default provider)`,
      target: 0.5,
      async: true,
      triturus: () => send(n, triturusCryptoProvider, 'triturus'),
      reference: () => send(n, defaultCryptoProvider, 'default'),
    },
    {
      name: `${n} members, bare ts-mls: send and receive 100 B (triturus provider / default provider)`,
      target: 0.5,
      async: true,
      triturus: () => sendReceive(n, triturusCryptoProvider, 'triturus'),
      reference: () => sendReceive(n, defaultCryptoProvider, 'default'),
    },
  ];
}

function processCommitProviderCase(n: number): Case {
  return {
    name: `${n} members, bare ts-mls: process a commit (triturus provider / default provider)`,
    target: undefined,
    async: true,
    skipNoble: true,
    rounds: 10,
    triturus: async () => {
      const f = await bareFixture(n, triturusCryptoProvider, 'triturus');
      return () =>
        processMessage(
          f.bobCommit as Parameters<typeof processMessage>[0],
          f.alice,
          emptyPskIndex,
          () => 'accept',
          f.cs,
        );
    },
    reference: async () => {
      const f = await bareFixture(n, defaultCryptoProvider, 'default');
      return () =>
        processMessage(
          f.bobCommit as Parameters<typeof processMessage>[0],
          f.alice,
          emptyPskIndex,
          () => 'accept',
          f.cs,
        );
    },
  };
}

/** State sizes: the layer's records for the group (per epoch) against ts-mls's encodeGroupState. */
export async function dmlsStateSizes(): Promise<string[]> {
  const lines = [
    '| members | layer records for the room (bytes) | of which ratchet tree | ts-mls encodeGroupState (bytes) |',
    '|---|---|---|---|',
  ];
  for (const n of SIZES) {
    const f = await layerFixture(n);
    const b = await bareFixture(n, triturusCryptoProvider, 'triturus');
    const prefix = `dmls/room/${encodeURIComponent(ROOM)}/`;
    const tree = f.aliceStore.keys().filter((k) => k.startsWith(prefix) && k.endsWith('/tree'));
    let treeBytes = 0;
    for (const k of tree) treeBytes += ((await f.aliceStore.get(k)) as Uint8Array).length;
    lines.push(`| ${n} | ${f.aliceStore.byteSize(prefix)} | ${treeBytes} | ${b.aliceBytes.length} |`);
  }
  return lines;
}

export const dmlsModule: BenchModule = {
  name: 'dmls',
  title: 'DMLS (ts-mls 1.6.4), 1000-member cases: 3 single-call rounds each',
  reference: 'bare ts-mls',
  init: async () => {},
  cases: [
    ...SIZES.flatMap(layerCases),
    ...SIZES.flatMap(providerCases),
    ...(SIZES.includes(100) ? [processCommitProviderCase(100)] : []),
  ],
};
