/**
 * The device's own keys and their uploads: identity keys, the signed `device_keys` object,
 * one-time and fallback keys, what /keys/upload needs, and the reaction to /sync's key counts.
 */

import { invalidArgument } from '../errors.js';
import type { Curve25519PublicKey, Ed25519PublicKey } from '../keys.js';
import { MEGOLM_ALGORITHM, OLM_ALGORITHM } from './common.js';
import type { DeviceContext } from './context.js';
import { signJson } from './signing.js';
import type { KeysUploadBody } from './types.js';

/** The device's identity keys (loaded at open; cheap). */
export function identityKeys(
  ctx: DeviceContext,
): Promise<{ curve25519: Curve25519PublicKey; ed25519: Ed25519PublicKey }> {
  return ctx.run(async () => (await ctx.loadAccount()).identityKeys);
}

/** The signed `device_keys` object for /keys/upload. */
export function deviceKeys(ctx: DeviceContext): Promise<Record<string, unknown>> {
  return ctx.run(async () => {
    const account = await ctx.loadAccount();
    const keys = account.identityKeys;
    return signJson(
      {
        user_id: ctx.userId,
        device_id: ctx.deviceId,
        algorithms: [OLM_ALGORITHM, MEGOLM_ALGORITHM],
        keys: {
          [`curve25519:${ctx.deviceId}`]: keys.curve25519.toBase64(),
          [`ed25519:${ctx.deviceId}`]: keys.ed25519.toBase64(),
        },
      },
      ctx.userId,
      ctx.deviceId,
      account,
    );
  });
}

/** Generates one-time keys (committed at once, unpublished until `markKeysAsPublished`). */
export async function generateOneTimeKeys(ctx: DeviceContext, count: number): Promise<void> {
  await ctx.run(async () => {
    const account = await ctx.loadAccount();
    account.generateOneTimeKeys(count);
    await ctx.commit({ account: ctx.accountRecord(account) });
  });
}

/** Makes a new fallback key (the previous one stays usable until forgotten). */
export async function generateFallbackKey(ctx: DeviceContext): Promise<void> {
  await ctx.run(async () => {
    const account = await ctx.loadAccount();
    account.generateFallbackKey();
    await ctx.commit({ account: ctx.accountRecord(account) });
  });
}

/**
 * The /keys/upload body: signed unpublished one-time keys and fallback key, and the device keys
 * when `includeDeviceKeys`. Calling again before `markKeysAsPublished` returns the same key ids
 * (so an upload interrupted by a crash is simply repeated).
 */
export async function keysForUpload(ctx: DeviceContext, includeDeviceKeys: boolean): Promise<KeysUploadBody> {
  const signedDeviceKeys = includeDeviceKeys ? await deviceKeys(ctx) : undefined;
  return ctx.run(async () => {
    const account = await ctx.loadAccount();
    const oneTimeKeys: Record<string, Record<string, unknown>> = {};
    for (const [id, key] of account.oneTimeKeys) {
      oneTimeKeys[`signed_curve25519:${id}`] = signJson({ key: key.toBase64() }, ctx.userId, ctx.deviceId, account);
    }
    const fallbackKeys: Record<string, Record<string, unknown>> = {};
    for (const [id, key] of account.fallbackKey) {
      fallbackKeys[`signed_curve25519:${id}`] = signJson(
        { key: key.toBase64(), fallback: true },
        ctx.userId,
        ctx.deviceId,
        account,
      );
    }
    return {
      ...(signedDeviceKeys === undefined ? {} : { device_keys: signedDeviceKeys }),
      one_time_keys: oneTimeKeys,
      fallback_keys: fallbackKeys,
    };
  });
}

export async function markKeysAsPublished(ctx: DeviceContext): Promise<void> {
  await ctx.run(async () => {
    const account = await ctx.loadAccount();
    account.markKeysAsPublished();
    await ctx.commit({ account: ctx.accountRecord(account) });
  });
}

/**
 * Reacts to /sync's `device_one_time_keys_count` and `device_unused_fallback_key_types`: tops the
 * one-time keys up when the server holds fewer than half the maximum, and makes a new fallback
 * key when the server reports ours used. Returns true when there are keys to upload.
 */
export async function updateKeyCounts(
  ctx: DeviceContext,
  oneTimeKeyCount: number,
  unusedFallbackKeyTypes?: readonly string[],
): Promise<boolean> {
  if (!Number.isSafeInteger(oneTimeKeyCount) || oneTimeKeyCount < 0) {
    throw invalidArgument('oneTimeKeyCount must be a non-negative integer');
  }
  if (
    unusedFallbackKeyTypes !== undefined &&
    (!Array.isArray(unusedFallbackKeyTypes) || !unusedFallbackKeyTypes.every((t) => typeof t === 'string'))
  ) {
    throw invalidArgument('unusedFallbackKeyTypes must be an array of strings');
  }
  return ctx.run(async () => {
    const account = await ctx.loadAccount();
    const max = account.maxNumberOfOneTimeKeys;
    let changed = false;
    if (oneTimeKeyCount < max / 2) {
      const wanted = max - oneTimeKeyCount - account.oneTimeKeys.size;
      if (wanted > 0) {
        account.generateOneTimeKeys(wanted);
        changed = true;
      }
    }
    if (unusedFallbackKeyTypes !== undefined && !unusedFallbackKeyTypes.includes('signed_curve25519')) {
      // The previous fallback key stays until the new one is in use (DEVICE-NOTES).
      if (account.currentFallbackKey === undefined || account.fallbackKey.size === 0) {
        account.generateFallbackKey();
        changed = true;
      }
    }
    if (changed) await ctx.commit({ account: ctx.accountRecord(account) });
    return account.oneTimeKeys.size > 0 || account.fallbackKey.size > 0;
  });
}
