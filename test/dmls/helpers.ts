/**
 * Test peers for the DMLS layer: each device has its own in-memory record store; every operation's
 * change set is committed to it, and `reload()` reopens the device from those records alone
 * (the persistence round trip).
 */

import {
  type DeletionPolicy,
  DmlsAccount,
  type DmlsGroup,
  type DmlsSuiteName,
  type ForkChoicePolicy,
  MemoryRecordStore,
} from '../../src/dmls/index.js';
import { encodeBase64 } from '../../src/encoding/base64.js';

/** The devices the application tracks: (user, device) → published credential (base64 key). */
export class Directory {
  readonly credentials = new Map<string, string>();
  publish(account: DmlsAccount): void {
    const [[, value]] = Object.entries(account.credentialForUpload()) as [[string, string]];
    this.credentials.set(`${account.userId}|${account.deviceId}`, value);
  }
  authenticate = (m: { userId: string; deviceId: string; signatureKey: Uint8Array }): boolean =>
    this.credentials.get(`${m.userId}|${m.deviceId}`) === encodeBase64(m.signatureKey);
}

export interface PeerOptions {
  readonly forkChoice?: ForkChoicePolicy;
  readonly deletion?: DeletionPolicy;
  readonly now?: () => number;
}

export class Peer {
  readonly store = new MemoryRecordStore();
  account!: DmlsAccount;
  readonly userId: string;
  readonly deviceId: string;
  readonly directory: Directory;
  readonly options: PeerOptions;

  private constructor(userId: string, deviceId: string, directory: Directory, options: PeerOptions) {
    this.userId = userId;
    this.deviceId = deviceId;
    this.directory = directory;
    this.options = options;
  }

  static async create(userId: string, deviceId: string, directory: Directory, options: PeerOptions = {}) {
    const p = new Peer(userId, deviceId, directory, options);
    await p.reload();
    p.commit();
    directory.publish(p.account);
    return p;
  }

  get ref(): [string, string] {
    return [this.userId, this.deviceId];
  }

  /** Commits the pending change set to this peer's store. */
  commit(): void {
    this.store.apply(this.account.takeChanges());
  }

  /** Reopens the device from its committed records only. */
  async reload(): Promise<void> {
    this.account = await DmlsAccount.open(this.store, {
      userId: this.userId,
      deviceId: this.deviceId,
      authenticate: this.directory.authenticate,
      ...this.options,
    });
  }

  async group(roomId: string): Promise<DmlsGroup> {
    const g = await this.account.group(roomId);
    if (g === undefined) throw new Error(`${this.deviceId} has no group for ${roomId}`);
    return g;
  }

  /** Runs an operation, commits its changes, reloads (round trip). */
  async step<T>(run: (account: DmlsAccount) => Promise<T>, reload = true): Promise<T> {
    const out = await run(this.account);
    this.commit();
    if (reload) await this.reload();
    return out;
  }

  async keyPackage(suite?: DmlsSuiteName): Promise<string> {
    const kp = await this.step((a) => a.generateKeyPackages(1, suite));
    return Object.values(kp)[0]!;
  }
}

let eventCounter = 0;
export function eventId(): string {
  eventCounter++;
  return `$event${eventCounter}`;
}
