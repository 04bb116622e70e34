/**
 * A device's DMLS account: its MLS signature key, its key packages (one-time keys
 * `m.dmls.v1.key_package.<suite>:<id>` and a last-resort one for the fallback slot), and the
 * rooms' groups. It reads records through the caller's loader and leaves every write pending
 * until the caller takes it (`takeChanges()`).
 */
import {
  type CiphersuiteImpl,
  type CryptoProvider,
  decodeMlsMessage,
  defaultCapabilities,
  defaultLifetime,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  getCiphersuiteFromName,
  type KeyPackage,
  type PrivateKeyPackage,
} from 'ts-mls';
import { makeKeyPackageRef } from 'ts-mls/keyPackage.js';
import { randomBytes } from '../crypto/index.js';
import { encodeBase64 } from '../encoding/base64.js';
import { ByteReader, ByteWriter } from '../encoding/binary.js';
import { DmlsError, invalidArgument } from '../errors.js';
import { redactInspect } from '../inspect.js';
import { type DeletionPolicy, EpochStore } from './epoch-store.js';
import type { ForkChoicePolicy } from './fork-choice.js';
import { DmlsGroup } from './group.js';
import {
  authenticationService,
  credentialKeyId,
  credentialOf,
  type DmlsAuthenticator,
  DmlsSigningKey,
} from './identity.js';
import { DEFAULT_SUITE, DMLS_SUITES, type DmlsSuiteName, isDmlsSuite, mlsCryptoProvider } from './provider.js';
import {
  IDENTITY_KEY,
  KEY_PACKAGE_INDEX_KEY,
  keyPackageKey,
  PendingRecords,
  type RecordChanges,
  type RecordLoader,
} from './records.js';
import { parseWelcomeContent } from './wire.js';

export { keyPackageFromUpload } from './wire.js';

export const KEY_PACKAGE_PREFIX = 'm.dmls.v1.key_package.';

export interface DmlsAccountOptions {
  readonly userId: string;
  readonly deviceId: string;
  /** Says whether a member's signature key is a tracked device's signed credential. */
  readonly authenticate: DmlsAuthenticator;
  readonly forkChoice?: ForkChoicePolicy;
  readonly deletion?: DeletionPolicy;
  readonly provider?: CryptoProvider;
  /** Clock for the deletion policy's age limit (ms). */
  readonly now?: () => number;
}

interface KeyPackageEntry {
  ref: string;
  id: string;
  suite: DmlsSuiteName;
  lastResort: boolean;
  published: boolean;
}

function hex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

function keyPackageId(): string {
  // 6 random bytes: 8 characters of unpadded base64, URL-safe so it sits in a key id.
  return encodeBase64(randomBytes(6)).replace(/\+/g, '-').replace(/\//g, '_');
}

/** The one-time-key name of a key package. */
export function keyPackageKeyId(suite: DmlsSuiteName, id: string): string {
  return `${KEY_PACKAGE_PREFIX}${suite}:${id}`;
}

interface StoredKeyPackage {
  readonly id: string;
  readonly suite: DmlsSuiteName;
  readonly lastResort: boolean;
  readonly keyPackage: KeyPackage;
  readonly publicBytes: Uint8Array;
  readonly initPrivateKey: Uint8Array;
  readonly hpkePrivateKey: Uint8Array;
}

function encodeKeyPackageRecord(k: StoredKeyPackage): Uint8Array {
  return new ByteWriter(1024)
    .u8(1)
    .string(k.id)
    .u32(DMLS_SUITES[k.suite])
    .bool(k.lastResort)
    .bytes(k.publicBytes)
    .bytes(k.initPrivateKey)
    .bytes(k.hpkePrivateKey)
    .finish();
}

function decodeKeyPackageRecord(bytes: Uint8Array): StoredKeyPackage {
  try {
    const r = new ByteReader(bytes);
    if (r.u8() !== 1) throw new Error('version');
    const id = r.string();
    const suiteNumber = r.u32();
    const suite = (Object.keys(DMLS_SUITES) as DmlsSuiteName[]).find((s) => DMLS_SUITES[s] === suiteNumber);
    if (suite === undefined) throw new Error('suite');
    const lastResort = r.bool();
    const publicBytes = r.bytes();
    const initPrivateKey = r.bytes();
    const hpkePrivateKey = r.bytes();
    r.end();
    const decoded = decodeMlsMessage(publicBytes, 0);
    if (decoded === undefined || decoded[0].wireformat !== 'mls_key_package') throw new Error('key package');
    return { id, suite, lastResort, keyPackage: decoded[0].keyPackage, publicBytes, initPrivateKey, hpkePrivateKey };
  } catch (cause) {
    throw new DmlsError('DMLS_RECORD_CORRUPT', 'a DMLS key-package record is malformed', {}, { cause });
  }
}

export class DmlsAccount {
  readonly userId: string;
  readonly deviceId: string;
  readonly #records: PendingRecords;
  readonly #options: DmlsAccountOptions;
  readonly #signing: DmlsSigningKey;
  readonly #groups = new Map<string, DmlsGroup>();
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(records: PendingRecords, options: DmlsAccountOptions, signing: DmlsSigningKey) {
    this.#records = records;
    this.#options = options;
    this.#signing = signing;
    this.userId = options.userId;
    this.deviceId = options.deviceId;
  }

  /**
   * Opens the account over the caller's records; makes the signature key on first use (the new
   * key is a pending change like any other).
   */
  static async open(loader: RecordLoader, options: DmlsAccountOptions): Promise<DmlsAccount> {
    if (options === null || typeof options !== 'object') throw invalidArgument('expected DMLS account options');
    credentialOf(options.userId, options.deviceId); // validates both ids
    if (typeof options.authenticate !== 'function') throw invalidArgument('authenticate must be a function');
    const records = new PendingRecords(loader);
    const stored = await records.get(IDENTITY_KEY);
    if (stored !== undefined) {
      if (!(stored instanceof Uint8Array))
        throw new DmlsError('DMLS_RECORD_CORRUPT', 'the DMLS identity record is not bytes');
      return new DmlsAccount(records, options, DmlsSigningKey.fromRecord(stored));
    }
    const signing = DmlsSigningKey.generate();
    const tx = records.transaction();
    tx.put(IDENTITY_KEY, signing.toRecord());
    tx.commit();
    return new DmlsAccount(records, options, signing);
  }

  #serial<T>(run: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  /** The writes and deletes of every operation since the last call, for the caller to commit. */
  takeChanges(): RecordChanges {
    return this.#records.takeChanges();
  }

  /** Forgets pending changes and cached state (after the caller failed to commit them). */
  discardChanges(): void {
    this.#records.discardChanges();
    this.#groups.clear();
  }

  get hasChanges(): boolean {
    return this.#records.hasChanges;
  }

  /** The device-keys entry `{ "m.dmls.v1.credential.ed25519:<device_id>": <unpadded base64> }`. */
  credentialForUpload(): Record<string, string> {
    return { [credentialKeyId(this.deviceId)]: this.#signing.credentialValue() };
  }

  get signatureKey(): Uint8Array {
    return this.#signing.publicKey;
  }

  get #provider(): CryptoProvider {
    return this.#options.provider ?? mlsCryptoProvider;
  }

  async #suiteImpl(suite: DmlsSuiteName): Promise<CiphersuiteImpl> {
    return this.#provider.getCiphersuiteImpl(getCiphersuiteFromName(suite));
  }

  async #index(): Promise<KeyPackageEntry[]> {
    const text = await this.#records.get(KEY_PACKAGE_INDEX_KEY);
    if (text === undefined) return [];
    try {
      const list = JSON.parse(text as string) as KeyPackageEntry[];
      if (!Array.isArray(list)) throw new Error('not a list');
      return list;
    } catch (cause) {
      throw new DmlsError('DMLS_RECORD_CORRUPT', 'the DMLS key-package index is malformed', {}, { cause });
    }
  }

  async #makeKeyPackages(count: number, suite: DmlsSuiteName, lastResort: boolean): Promise<Record<string, string>> {
    if (!Number.isSafeInteger(count) || count < 1 || count > 1000) {
      throw invalidArgument('count must be an integer from 1 to 1000', { actual: count });
    }
    if (!isDmlsSuite(suite)) throw new DmlsError('DMLS_UNSUPPORTED_SUITE', 'the suite is not offered by triturus');
    return this.#serial(async () => {
      const cs = await this.#suiteImpl(suite);
      const tx = this.#records.transaction();
      const index = await this.#index();
      const out: Record<string, string> = {};
      for (let i = 0; i < count; i++) {
        const { publicPackage, privatePackage } = await generateKeyPackageWithKey(
          credentialOf(this.userId, this.deviceId),
          defaultCapabilities(),
          defaultLifetime,
          [],
          { signKey: this.#signing.mlsSignKey, publicKey: this.#signing.publicKey },
          cs,
        );
        const ref = hex(await makeKeyPackageRef(publicPackage, cs.hash));
        const id = keyPackageId();
        const publicBytes = encodeMlsMessage({
          version: 'mls10',
          wireformat: 'mls_key_package',
          keyPackage: publicPackage,
        });
        tx.put(
          keyPackageKey(ref),
          encodeKeyPackageRecord({
            id,
            suite,
            lastResort,
            keyPackage: publicPackage,
            publicBytes,
            initPrivateKey: privatePackage.initPrivateKey,
            hpkePrivateKey: privatePackage.hpkePrivateKey,
          }),
        );
        index.push({ ref, id, suite, lastResort, published: false });
        out[keyPackageKeyId(suite, id)] = encodeBase64(publicBytes);
      }
      tx.put(KEY_PACKAGE_INDEX_KEY, JSON.stringify(index));
      tx.commit();
      return out;
    });
  }

  /** Makes `count` key packages; returns their one-time-key upload form (name → unpadded base64). */
  generateKeyPackages(count: number, suite: DmlsSuiteName = DEFAULT_SUITE): Promise<Record<string, string>> {
    return this.#makeKeyPackages(count, suite, false);
  }

  /** Makes a last-resort key package for the fallback slot: joining with it does not consume it. */
  generateLastResortKeyPackage(suite: DmlsSuiteName = DEFAULT_SUITE): Promise<Record<string, string>> {
    return this.#makeKeyPackages(1, suite, true);
  }

  /** Key packages not yet marked published, in upload form, split into one-time and fallback. */
  keyPackagesForUpload(): Promise<{ oneTime: Record<string, string>; fallback: Record<string, string> }> {
    return this.#serial(async () => {
      const oneTime: Record<string, string> = {};
      const fallback: Record<string, string> = {};
      for (const e of await this.#index()) {
        if (e.published) continue;
        const bytes = await this.#records.get(keyPackageKey(e.ref));
        if (!(bytes instanceof Uint8Array)) continue;
        const k = decodeKeyPackageRecord(bytes);
        (e.lastResort ? fallback : oneTime)[keyPackageKeyId(e.suite, e.id)] = encodeBase64(k.publicBytes);
      }
      return { oneTime, fallback };
    });
  }

  markKeyPackagesPublished(): Promise<void> {
    return this.#serial(async () => {
      const index = await this.#index();
      if (index.every((e) => e.published)) return;
      const tx = this.#records.transaction();
      tx.put(KEY_PACKAGE_INDEX_KEY, JSON.stringify(index.map((e) => ({ ...e, published: true }))));
      tx.commit();
    });
  }

  #engineOptions() {
    return {
      authService: authenticationService(this.#options.authenticate),
      provider: this.#provider,
      ...(this.#options.forkChoice === undefined ? {} : { forkChoice: this.#options.forkChoice }),
      ...(this.#options.deletion === undefined ? {} : { deletion: this.#options.deletion }),
      ...(this.#options.now === undefined ? {} : { now: this.#options.now }),
    };
  }

  /** The group of a room, loaded from the records; undefined when this device has none there. */
  group(roomId: string): Promise<DmlsGroup | undefined> {
    return this.#serial(async () => {
      const cached = this.#groups.get(roomId);
      if (cached !== undefined) return cached;
      const store = await EpochStore.load(this.#records, roomId, this.#engineOptions());
      if (store === undefined) return undefined;
      const group = new DmlsGroup(this, store);
      this.#groups.set(roomId, group);
      return group;
    });
  }

  /**
   * Creates the DMLS group of a room, with this device alone in epoch 0. `creationEventId` names
   * that epoch (e.g. the room's m.room.encryption event); by default it has none.
   */
  createGroup(
    roomId: string,
    options: { readonly suite?: DmlsSuiteName; readonly creationEventId?: string } = {},
  ): Promise<DmlsGroup> {
    if (typeof roomId !== 'string' || roomId.length === 0) throw invalidArgument('roomId must be a non-empty string');
    return this.#serial(async () => {
      const suite = options.suite ?? DEFAULT_SUITE;
      if (!isDmlsSuite(suite)) throw new DmlsError('DMLS_UNSUPPORTED_SUITE', 'the suite is not offered by triturus');
      const store = await EpochStore.create(this.#records, roomId, {
        ...this.#engineOptions(),
        suite,
        credential: credentialOf(this.userId, this.deviceId),
        signKey: this.#signing.mlsSignKey,
        signaturePublicKey: this.#signing.publicKey,
        creationId: options.creationEventId ?? '',
      });
      const group = new DmlsGroup(this, store);
      this.#groups.set(roomId, group);
      return group;
    });
  }

  /**
   * Joins a room's group from a to-device welcome (`m.dmls.v1.welcome.<suite>`, or the
   * `m.mls.v1.welcome.<suite>` spelling). `sender` is the to-device event's sender; it must be
   * the named epoch creator's user. The key package used is consumed unless it is last-resort.
   */
  joinGroup(event: { readonly sender: string; readonly content: unknown }): Promise<DmlsGroup> {
    return this.#serial(async () => {
      if (event === null || typeof event !== 'object' || typeof event.sender !== 'string') {
        throw new DmlsError('DMLS_INVALID', 'a welcome event must have a sender and content');
      }
      const parsed = parseWelcomeContent(event.content);
      if (parsed.creator[0] !== event.sender) {
        throw new DmlsError('DMLS_SENDER_MISMATCH', "the welcome's sender is not the epoch creator's user");
      }
      const tx = this.#records.transaction();
      let found: { ref: string; record: StoredKeyPackage } | undefined;
      for (const s of parsed.message.welcome.secrets) {
        const ref = hex(s.newMember);
        const bytes = await tx.getBytes(keyPackageKey(ref));
        if (bytes !== undefined) {
          found = { ref, record: decodeKeyPackageRecord(bytes) };
          break;
        }
      }
      if (found === undefined) {
        throw new DmlsError('DMLS_KEY_PACKAGE_UNKNOWN', 'the welcome is for none of this device’s key packages');
      }
      const privateKeys: PrivateKeyPackage = {
        initPrivateKey: found.record.initPrivateKey,
        hpkePrivateKey: found.record.hpkePrivateKey,
        signaturePrivateKey: this.#signing.mlsSignKey,
      };
      let existing = this.#groups.get(parsed.roomId)?.epochStore;
      existing ??= await EpochStore.load(this.#records, parsed.roomId, this.#engineOptions());
      const store = await EpochStore.join(
        this.#records,
        parsed.roomId,
        {
          ...this.#engineOptions(),
          welcome: parsed.message.welcome,
          keyPackage: found.record.keyPackage,
          privateKeys,
          epochId: parsed.commitEvent,
          creator: parsed.creator,
          resolves: parsed.resolves.map(([, , id]) => id).filter((id) => id !== undefined),
        },
        existing,
      );
      if (!found.record.lastResort) {
        const index = (await this.#index()).filter((e) => e.ref !== found.ref);
        const consume = this.#records.transaction();
        consume.remove(keyPackageKey(found.ref));
        consume.put(KEY_PACKAGE_INDEX_KEY, JSON.stringify(index));
        consume.commit();
        found.record.initPrivateKey.fill(0);
        found.record.hpkePrivateKey.fill(0);
      }
      const group = new DmlsGroup(this, store);
      this.#groups.set(parsed.roomId, group);
      return group;
    });
  }

  toString(): string {
    return `DmlsAccount(${this.userId}, ${this.deviceId})`;
  }
  static {
    redactInspect(DmlsAccount);
  }
}
