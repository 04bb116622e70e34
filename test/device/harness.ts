/**
 * Node-side helpers for the Device tests on real databases and across processes: the SQLite and
 * PostgreSQL targets, a Device worker in a child process (test/device/child/worker.ts under tsx, driven
 * over IPC), and setting up a device in a store from the test process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';
import { Device, type DeviceInfo } from '../../src/device/index.js';
import type { KeyStore } from '../../src/store/types.js';
import { openStore } from '../store/child/open-store.js';
import { type FakeKeyServer, randomPickleKey } from './child/common.js';
import type { ChildEvent, OpenArgs, Response } from './child/protocol.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const worker = fileURLToPath(new URL('./child/worker.ts', import.meta.url));

/** Prints a measurement when TRITURUS_TEST_VERBOSE=1 (the report quotes them); silent otherwise. */
export function note(...parts: unknown[]): void {
  if (process.env['TRITURUS_TEST_VERBOSE'] === '1') console.log('[device]', ...parts);
}

export type BackendName = 'sqlite' | 'postgres';

export interface Target {
  readonly backend: BackendName;
  /** SQLite file path or PostgreSQL connection string. */
  readonly target: string;
}

/**
 * A SQLite file in a fresh temp dir and the global setup's PostgreSQL database; `dispose` removes the dir.
 * The dir is made on first use, so a run that filters out every test leaves nothing behind.
 */
export function targets(label: string): { list: Target[]; dispose(): void } {
  let dir: string | undefined;
  const sqlite = {
    backend: 'sqlite' as const,
    get target(): string {
      dir ??= mkdtempSync(join(tmpdir(), `triturus-device-${label}-`));
      return join(dir, 'device.db');
    },
  };
  return {
    list: [sqlite, { backend: 'postgres', target: inject('postgresUrl') }],
    dispose: () => {
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function open(t: Target, scope: string): Promise<KeyStore> {
  return openStore(t.backend, t.target, scope);
}

export class RemoteError extends Error {
  readonly code: string | undefined;
  readonly remoteName: string;
  constructor(error: { name: string; code?: string; message: string }) {
    super(`${error.name}${error.code === undefined ? '' : ` ${error.code}`}: ${error.message}`);
    this.name = 'RemoteError';
    this.code = error.code;
    this.remoteName = error.name;
  }
}

const running = new Set<DeviceChild>();
let arrivals = 0;
/** A counter that orders events across workers by when they reached this process. */
export const arrivalNow = (): number => arrivals;

/** A worker process holding one Device. */
export class DeviceChild {
  readonly process: ChildProcess;
  readonly events: ChildEvent[] = [];
  /** `arrivals[i]` orders `events[i]` against every other worker's events (see arrivalNow). */
  readonly arrivals: number[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  readonly #listeners = new Set<() => void>();
  #nextId = 1;
  #stderr = '';
  #gone = false;

  private constructor() {
    this.process = spawn(process.execPath, ['--conditions=triturus-source', '--import', 'tsx', worker], {
      cwd: root,
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    this.process.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.#stderr += chunk;
    });
    this.process.on('message', (message: Response) => {
      if ('id' in message) {
        const pending = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        if (message.ok) pending?.resolve(message.value);
        else pending?.reject(new RemoteError(message.error));
      } else {
        this.events.push(message);
        this.arrivals.push(++arrivals);
      }
      for (const listener of [...this.#listeners]) listener();
    });
    this.exited = new Promise((resolve) => {
      this.process.on('exit', (code, signal) => {
        this.#gone = true;
        running.delete(this);
        const error = new Error(`the worker exited (${code ?? signal}); stderr: ${this.#stderr}`);
        for (const p of this.#pending.values()) p.reject(error);
        this.#pending.clear();
        for (const listener of [...this.#listeners]) listener();
        resolve({ code, signal });
      });
    });
    running.add(this);
  }

  /** Starts a worker and opens the device in it. */
  static async start(args: OpenArgs): Promise<DeviceChild> {
    const child = new DeviceChild();
    await child.waitFor((e) => e.event === 'ready');
    await child.call('open', args);
    return child;
  }

  get stderr(): string {
    return this.#stderr;
  }

  call<T = unknown>(cmd: string, args?: unknown): Promise<T> {
    if (this.#gone) return Promise.reject(new Error(`the worker is gone; stderr: ${this.#stderr}`));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.process.send({ id, cmd, args });
    });
  }

  resume(pause: number): void {
    if (!this.#gone) this.process.send({ resume: pause });
  }

  /** Resolves with the first event (already received or to come) that matches. */
  waitFor<E extends ChildEvent>(match: (e: ChildEvent) => e is E, timeoutMs?: number): Promise<E>;
  waitFor(match: (e: ChildEvent) => boolean, timeoutMs?: number): Promise<ChildEvent>;
  waitFor(match: (e: ChildEvent) => boolean, timeoutMs = 30_000): Promise<ChildEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#listeners.delete(check);
        reject(new Error(`timed out waiting for the worker; stderr: ${this.#stderr}`));
      }, timeoutMs);
      const check = (): void => {
        const found = this.events.find(match);
        if (found !== undefined || this.#gone) {
          clearTimeout(timer);
          this.#listeners.delete(check);
          if (found !== undefined) resolve(found);
          else reject(new Error(`the worker exited first; stderr: ${this.#stderr}`));
        }
      };
      this.#listeners.add(check);
      check();
    });
  }

  /** Calls `listener` on every message from now on; returns a function that stops it. */
  onEvent(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async kill(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.#gone) this.process.kill('SIGKILL');
    return this.exited;
  }

  /** Closes the device and the store, then lets the worker exit. */
  async stop(): Promise<void> {
    await this.call('close');
    this.process.disconnect();
    await this.exited;
  }
}

/** Kills every worker still running (after a failed test). */
export async function killWorkers(): Promise<void> {
  await Promise.all([...running].map((c) => c.kill()));
}

export interface SharedDevice {
  readonly userId: string;
  readonly deviceId: string;
  readonly scope: string;
  readonly pickleKey: Uint8Array;
  readonly info: DeviceInfo;
}

/**
 * Creates a device in the store from the test process, publishes `oneTimeKeys` one-time keys and a
 * fallback key to `server` (when given), and closes it again (so workers can open it).
 */
export async function createDevice(
  t: Target,
  name: string,
  server?: FakeKeyServer,
  oneTimeKeys = 10,
): Promise<SharedDevice> {
  const userId = `@${name}:example.org`;
  const deviceId = name.toUpperCase();
  const scope = `${userId}|${deviceId}|${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const pickleKey = randomPickleKey();
  const store = await open(t, scope);
  try {
    const device = await Device.create(store, { userId, deviceId, pickleKey });
    if (server !== undefined) {
      await device.generateOneTimeKeys(oneTimeKeys);
      await device.generateFallbackKey();
      server.upload(userId, deviceId, await device.keysForUpload(true));
      await device.markKeysAsPublished();
    }
    const keys = await device.identityKeys();
    await device.close();
    return {
      userId,
      deviceId,
      scope,
      pickleKey,
      info: { userId, deviceId, curve25519Key: keys.curve25519, ed25519Key: keys.ed25519 },
    };
  } finally {
    await store.close();
  }
}

export function openArgs(t: Target, d: SharedDevice, extra: Partial<OpenArgs> = {}): OpenArgs {
  return {
    backend: t.backend,
    target: t.target,
    scope: d.scope,
    userId: d.userId,
    deviceId: d.deviceId,
    pickleKey: Buffer.from(d.pickleKey).toString('base64'),
    ...extra,
  };
}

/** Opens the device's store (no Device, no lease: reads only), runs `fn`, and closes it. */
export async function withStore<T>(t: Target, d: SharedDevice, fn: (store: KeyStore) => Promise<T>): Promise<T> {
  const store = await open(t, d.scope);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** Opens the shared device in the test process, runs `fn`, and closes it. */
export async function withDevice<T>(
  t: Target,
  d: SharedDevice,
  fn: (device: Device, store: KeyStore) => Promise<T>,
): Promise<T> {
  const store = await open(t, d.scope);
  try {
    const device = await Device.open(store, { userId: d.userId, deviceId: d.deviceId, pickleKey: d.pickleKey });
    try {
      return await fn(device, store);
    } finally {
      await device.close();
    }
  } finally {
    await store.close();
  }
}
