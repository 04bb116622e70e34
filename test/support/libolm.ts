/**
 * Test helpers for driving libolm (`@towns-protocol/olm`, libolm 3.2 compiled to WASM) next to triturus.
 *
 * - `loadLibolm()` initialises the WASM module once per test file (about 12 ms) and returns the same
 *   `OlmImpl` on every call.
 * - `LibolmScope` creates libolm objects and frees them all in one call (`afterEach(() => scope.free())`):
 *   every libolm object owns WASM memory that is only released by `.free()`.
 * - libolm speaks strings (unpadded base64 and JSON); the helpers convert its keys and messages to the
 *   triturus types (`Curve25519PublicKey`, `Ed25519PublicKey`, `PreKeyMessage`/`Message`) and back.
 * - libolm throws `Error`s whose message is a short code such as `OLM.BAD_MESSAGE_MAC`; an uncaught one can
 *   drag the whole minified module into a report, so `libolmError` catches and keeps only `.message`.
 */
import Olm, { type Account as LibolmAccount, type Session as LibolmSession, type OlmImpl } from '@towns-protocol/olm';
import { Curve25519PublicKey, Ed25519PublicKey, type OlmMessage, olmMessageFromParts } from '../../src/index.js';

export type { LibolmAccount, LibolmSession, OlmImpl };

let loading: Promise<OlmImpl> | undefined;

/** Loads libolm once (later calls share the first promise). */
export function loadLibolm(): Promise<OlmImpl> {
  loading ??= Olm.initAsync();
  return loading;
}

/** An Olm message as libolm's `Session.encrypt` returns it and `Session.decrypt` takes it. */
export interface LibolmMessage {
  readonly type: 0 | 1;
  readonly body: string;
}

export interface LibolmIdentityKeys {
  readonly curve25519: Curve25519PublicKey;
  readonly ed25519: Ed25519PublicKey;
}

export interface LibolmAccountOptions {
  /** One-time keys to generate (left unpublished, so `oneTimeKeysOf` lists them). Default 0. */
  readonly oneTimeKeys?: number;
  /** Generate a fallback key. Default false. */
  readonly fallbackKey?: boolean;
}

/** Owns libolm objects made through it and frees them together. */
export class LibolmScope {
  readonly olm: OlmImpl;
  readonly #owned: { free(): void }[] = [];

  constructor(olm: OlmImpl) {
    this.olm = olm;
  }

  /** Registers an object made elsewhere so `free` releases it too. */
  track<T extends { free(): void }>(object: T): T {
    this.#owned.push(object);
    return object;
  }

  /** A new account with its identity keys, plus one-time keys and a fallback key when asked. */
  account(options: LibolmAccountOptions = {}): LibolmAccount {
    const account = this.track(new this.olm.Account());
    account.create();
    if ((options.oneTimeKeys ?? 0) > 0) account.generate_one_time_keys(options.oneTimeKeys ?? 0);
    if (options.fallbackKey === true) account.generate_fallback_key();
    return account;
  }

  /** An empty session object, to be set up with `create_outbound` / `create_inbound_from`. */
  session(): LibolmSession {
    return this.track(new this.olm.Session());
  }

  /** An outbound session from `account` to the given identity and one-time (or fallback) key. */
  outboundSession(
    account: LibolmAccount,
    theirIdentityKey: Curve25519PublicKey,
    theirOneTimeKey: Curve25519PublicKey,
  ): LibolmSession {
    const session = this.session();
    session.create_outbound(account, theirIdentityKey.toBase64(), theirOneTimeKey.toBase64());
    return session;
  }

  /**
   * The inbound side of a pre-key message, in libolm's documented order: create the session, decrypt the
   * message, then remove the one-time key it used (`remove_one_time_keys` leaves a fallback key alone).
   */
  inboundSession(
    account: LibolmAccount,
    theirIdentityKey: Curve25519PublicKey,
    preKeyMessage: LibolmMessage,
  ): { session: LibolmSession; plaintext: string } {
    const session = this.session();
    session.create_inbound_from(account, theirIdentityKey.toBase64(), preKeyMessage.body);
    const plaintext = session.decrypt(preKeyMessage.type, preKeyMessage.body);
    account.remove_one_time_keys(session);
    return { session, plaintext };
  }

  /** Frees everything this scope made or tracked, newest first. Safe to call more than once. */
  free(): void {
    while (this.#owned.length > 0) this.#owned.pop()!.free();
  }
}

/** A libolm account's identity keys as triturus key objects. */
export function identityKeysOf(account: LibolmAccount): LibolmIdentityKeys {
  const keys = JSON.parse(account.identity_keys()) as { curve25519: string; ed25519: string };
  return {
    curve25519: Curve25519PublicKey.fromBase64(keys.curve25519),
    ed25519: Ed25519PublicKey.fromBase64(keys.ed25519),
  };
}

/** A libolm account's unpublished one-time keys, by key id. */
export function oneTimeKeysOf(account: LibolmAccount): Map<string, Curve25519PublicKey> {
  const keys = JSON.parse(account.one_time_keys()) as { curve25519: Record<string, string> };
  return new Map(Object.entries(keys.curve25519).map(([id, key]) => [id, Curve25519PublicKey.fromBase64(key)]));
}

/** The first of a libolm account's unpublished one-time keys; throws when it has none. */
export function firstOneTimeKeyOf(account: LibolmAccount): Curve25519PublicKey {
  const [first] = oneTimeKeysOf(account).values();
  if (first === undefined) throw new Error('the libolm account has no unpublished one-time key');
  return first;
}

/** A libolm account's current fallback key (published or not), or undefined when it has none. */
export function fallbackKeyOf(account: LibolmAccount): { keyId: string; key: Curve25519PublicKey } | undefined {
  const keys = JSON.parse(account.fallback_key()) as { curve25519: Record<string, string> };
  const [entry] = Object.entries(keys.curve25519);
  return entry === undefined ? undefined : { keyId: entry[0], key: Curve25519PublicKey.fromBase64(entry[1]) };
}

/** A triturus Olm message in libolm's `{type, body}` form. */
export function toLibolmMessage(message: OlmMessage): LibolmMessage {
  return { type: message.type, body: message.toBase64() };
}

/** A libolm `{type, body}` message decoded by triturus. */
export function fromLibolmMessage(message: LibolmMessage): OlmMessage {
  return olmMessageFromParts(message.type, message.body);
}

/**
 * Runs `fn` and returns the message of the libolm error it throws (for example `OLM.BAD_MESSAGE_KEY_ID`),
 * or undefined when it does not throw. Only `.message` is kept, never the error object.
 */
export function libolmError(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  return undefined;
}
