/**
 * The device's Olm sessions: loaded per peer Curve25519 key and cached newest first, staged into
 * a batch after use, and used to encrypt to-device payloads with the spec's sender and recipient
 * binding (`sender`, `sender_device`, `keys`, `recipient`, `recipient_keys`).
 */

import { viaPlatform } from '../crypto/platform.js';
import { DeviceError } from '../errors.js';
import type { Curve25519PublicKey } from '../keys.js';
import type { Account } from '../olm/account.js';
import { SessionConfig } from '../olm/config.js';
import { Session } from '../olm/session.js';
import type { OlmSessionEntry } from '../store/types.js';
import { checkDeviceInfo, OLM_ALGORITHM } from './common.js';
import type { Batch, DeviceContext, OlmState } from './context.js';
import { OLM_SESSION_SCHEMA } from './records.js';
import type { DeviceInfo, OlmEncryptedContent } from './types.js';

export async function sessionsWith(ctx: DeviceContext, senderKey: string): Promise<OlmState[]> {
  let sessions = ctx.olm.get(senderKey);
  if (sessions === undefined) {
    const entries = await ctx.loadOlmSessionEntries(senderKey);
    sessions = entries.map((e) => ({
      session: Session.fromPickle(e.record.data, ctx.pickleKey),
      lastUsedAt: e.lastUsedAt,
    }));
    ctx.olm.set(senderKey, sessions);
  }
  return sessions;
}

export function olmEntry(ctx: DeviceContext, senderKey: string, state: OlmState): OlmSessionEntry {
  return {
    senderKey,
    sessionId: state.session.sessionId,
    lastUsedAt: state.lastUsedAt,
    record: { schema: OLM_SESSION_SCHEMA, data: state.session.pickle(ctx.pickleKey) },
  };
}

/**
 * Caches a session just used, as the newest: its `lastUsedAt` is raised above every other
 * session's with the peer, so that within one clock tick, and after a reload, the session used
 * last is tried first and sent on (after a repair, the new session must win over the broken one).
 */
export function remember(ctx: DeviceContext, senderKey: string, state: OlmState): void {
  const sessions = ctx.olm.get(senderKey) ?? [];
  for (const other of sessions) {
    if (other !== state && other.lastUsedAt >= state.lastUsedAt) state.lastUsedAt = other.lastUsedAt + 1;
  }
  if (!sessions.includes(state)) sessions.push(state);
  sessions.sort((a, b) => b.lastUsedAt - a.lastUsedAt);
  ctx.olm.set(senderKey, sessions);
}

/** True when an Olm session with this device exists (otherwise claim a one-time key first). */
export async function hasOlmSession(ctx: DeviceContext, device: DeviceInfo): Promise<boolean> {
  checkDeviceInfo(device, 'device');
  return ctx.run(async () => (await sessionsWith(ctx, device.curve25519Key.toBase64())).length > 0);
}

/**
 * The Olm plaintext, written around the content's JSON: callers serialise the content before the
 * operation starts, so content JSON cannot hold fails before any state is touched.
 */
function olmPayload(
  ctx: DeviceContext,
  recipient: DeviceInfo,
  type: string,
  contentJson: string,
  account: Account,
): string {
  const binding = JSON.stringify({
    sender: ctx.userId,
    sender_device: ctx.deviceId,
    keys: { ed25519: account.ed25519Key.toBase64() },
    recipient: recipient.userId,
    recipient_keys: { ed25519: recipient.ed25519Key.toBase64() },
  });
  return `{"type":${JSON.stringify(type)},"content":${contentJson},${binding.slice(1)}`;
}

/**
 * Encrypts with the newest session (or a new one on `oneTimeKey`), staging the session into
 * `changes`. With `fresh`, a new session is made on `oneTimeKey` even if one exists (session repair).
 */
export async function encryptOlm(
  ctx: DeviceContext,
  recipient: DeviceInfo,
  type: string,
  contentJson: string,
  oneTimeKey: Curve25519PublicKey | undefined,
  changes: Batch,
  fresh = false,
): Promise<OlmEncryptedContent> {
  const account = await ctx.loadAccount();
  const theirKey = recipient.curve25519Key.toBase64();
  const sessions = await sessionsWith(ctx, theirKey);
  let state = fresh ? undefined : sessions[0];
  if (state === undefined) {
    if (oneTimeKey === undefined) {
      throw new DeviceError(
        'NO_OLM_SESSION',
        `no Olm session with ${recipient.userId} ${recipient.deviceId}: claim a one-time key`,
      );
    }
    state = {
      session: await viaPlatform(() =>
        account.createOutboundSession(SessionConfig.version1(), recipient.curve25519Key, oneTimeKey),
      ),
      lastUsedAt: ctx.now(),
    };
  }
  const payload = olmPayload(ctx, recipient, type, contentJson, account);
  const session = state.session;
  const message = await viaPlatform(() => session.encrypt(payload));
  state.lastUsedAt = ctx.now();
  remember(ctx, theirKey, state);
  changes.olmSessions.push(olmEntry(ctx, theirKey, state));
  return {
    algorithm: OLM_ALGORITHM,
    sender_key: account.curve25519Key.toBase64(),
    ciphertext: { [theirKey]: { type: message.type, body: message.toBase64() } },
  };
}
