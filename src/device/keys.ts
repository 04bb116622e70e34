/**
 * The device's own keys and their uploads: identity keys, the signed `device_keys` object,
 * one-time and fallback keys, what /keys/upload needs, and the reaction to /sync's key counts.
 */

import { algorithmOf, DEFAULT_SUITE, type DmlsSuiteName } from '../dmls/names.js';
import { invalidArgument } from '../errors.js';
import type { Curve25519PublicKey, Ed25519PublicKey } from '../keys.js';
import { MEGOLM_ALGORITHM, OLM_ALGORITHM } from './common.js';
import { Batch, type DeviceContext } from './context.js';
import * as dmls from './dmls-rooms.js';
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
  // With DMLS, the first call makes the device's MLS identity: committed like any change.
  return ctx.run(() =>
    ctx.withBatch(async (batch) => {
      const account = await ctx.loadAccount();
      const keys = account.identityKeys;
      const credential = await dmls.credentialForUpload(ctx, batch);
      const dmlsAlgorithm = ctx.dmlsOptions === undefined ? [] : [algorithmOf(dmlsSuite(ctx))];
      return signJson(
        {
          user_id: ctx.userId,
          device_id: ctx.deviceId,
          algorithms: [OLM_ALGORITHM, MEGOLM_ALGORITHM, ...dmlsAlgorithm],
          keys: {
            [`curve25519:${ctx.deviceId}`]: keys.curve25519.toBase64(),
            [`ed25519:${ctx.deviceId}`]: keys.ed25519.toBase64(),
            ...credential,
          },
        },
        ctx.userId,
        ctx.deviceId,
        account,
      );
    }),
  );
}

function dmlsSuite(ctx: DeviceContext): DmlsSuiteName {
  return ctx.dmlsOptions?.suite ?? DEFAULT_SUITE;
}

/** Makes DMLS key packages (committed at once, unpublished until `markKeysAsPublished`). */
export async function generateKeyPackages(ctx: DeviceContext, count: number): Promise<void> {
  await ctx.run(() => ctx.withBatch((batch) => dmls.generateKeyPackages(ctx, batch, count)));
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

/** Set once `markKeysAsPublished` ran: the device keys are on the server. */
const DEVICE_KEYS_PUBLISHED = 'device.keys-published';

/**
 * The /keys/upload body: signed unpublished one-time keys and fallback key, and the signed device
 * keys until they were published (`includeDeviceKeys` forces them in or out). Calling again before
 * `markKeysAsPublished` returns the same key ids (so an upload interrupted by a crash is simply repeated).
 */
export async function keysForUpload(
  ctx: DeviceContext,
  includeDeviceKeys: boolean | undefined,
): Promise<KeysUploadBody> {
  if (includeDeviceKeys !== undefined && typeof includeDeviceKeys !== 'boolean') {
    throw invalidArgument('includeDeviceKeys must be a boolean when given');
  }
  const withDeviceKeys =
    includeDeviceKeys ?? (await ctx.run(async () => (await ctx.loadValue(DEVICE_KEYS_PUBLISHED)) === undefined));
  const signedDeviceKeys = withDeviceKeys ? await deviceKeys(ctx) : undefined;
  return ctx.run(() =>
    ctx.withBatch(async (batch) => {
      const account = await ctx.loadAccount();
      const oneTimeKeys: Record<string, Record<string, unknown> | string> = {};
      for (const [id, key] of account.oneTimeKeys) {
        oneTimeKeys[`signed_curve25519:${id}`] = signJson({ key: key.toBase64() }, ctx.userId, ctx.deviceId, account);
      }
      const fallbackKeys: Record<string, Record<string, unknown> | string> = {};
      for (const [id, key] of account.fallbackKey) {
        fallbackKeys[`signed_curve25519:${id}`] = signJson(
          { key: key.toBase64(), fallback: true },
          ctx.userId,
          ctx.deviceId,
          account,
        );
      }
      // DMLS key packages travel as one-time keys (MSC2883); the last-resort one as a fallback key.
      const packages = await dmls.keyPackagesForUpload(ctx, batch);
      Object.assign(oneTimeKeys, packages.oneTime);
      Object.assign(fallbackKeys, packages.fallback);
      return {
        ...(signedDeviceKeys === undefined ? {} : { device_keys: signedDeviceKeys }),
        one_time_keys: oneTimeKeys,
        fallback_keys: fallbackKeys,
      };
    }),
  );
}

/** Records that the last `keysForUpload` body reached the server: its keys, and the device keys. */
export async function markKeysAsPublished(ctx: DeviceContext): Promise<void> {
  await ctx.run(() =>
    ctx.withBatch(async (batch) => {
      const account = await ctx.loadAccount();
      account.markKeysAsPublished();
      batch.account = ctx.accountRecord(account);
      batch.values.push({ key: DEVICE_KEYS_PUBLISHED, value: '1' });
      await dmls.markKeyPackagesPublished(ctx, batch);
    }),
  );
}

export function checkKeyCounts(oneTimeKeyCount: unknown, unusedFallbackKeyTypes: unknown): void {
  if (oneTimeKeyCount !== undefined && (!Number.isSafeInteger(oneTimeKeyCount) || (oneTimeKeyCount as number) < 0)) {
    throw invalidArgument('oneTimeKeyCount must be a non-negative integer (or undefined when the server did not say)');
  }
  if (
    unusedFallbackKeyTypes !== undefined &&
    (!Array.isArray(unusedFallbackKeyTypes) || !unusedFallbackKeyTypes.every((t) => typeof t === 'string'))
  ) {
    throw invalidArgument('unusedFallbackKeyTypes must be an array of strings');
  }
}

/**
 * /sync's `device_one_time_keys_count` and `device_unused_fallback_key_types`, staged into `batch`:
 * tops the one-time keys up when the server holds fewer than half the maximum, and makes a new
 * fallback key when the server reports ours used. Either may be absent (a sync that reports only
 * fallback-key information leaves the one-time keys alone). Returns true when there are keys to upload.
 */
export async function stageKeyCounts(
  ctx: DeviceContext,
  batch: Batch,
  oneTimeKeyCount: number | undefined,
  unusedFallbackKeyTypes: readonly string[] | undefined,
): Promise<boolean> {
  const account = await ctx.loadAccount();
  const max = account.maxNumberOfOneTimeKeys;
  let changed = false;
  if (oneTimeKeyCount !== undefined && oneTimeKeyCount < max / 2) {
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
  if (changed) batch.account = ctx.accountRecord(account);
  return (
    account.oneTimeKeys.size > 0 ||
    account.fallbackKey.size > 0 ||
    (await ctx.loadValue(DEVICE_KEYS_PUBLISHED)) === undefined
  );
}

/** `stageKeyCounts` as an operation of its own. */
export async function updateKeyCounts(
  ctx: DeviceContext,
  oneTimeKeyCount: number | undefined,
  unusedFallbackKeyTypes?: readonly string[],
): Promise<boolean> {
  checkKeyCounts(oneTimeKeyCount, unusedFallbackKeyTypes);
  return ctx.run(async () => {
    const batch = new Batch();
    const result = await stageKeyCounts(ctx, batch, oneTimeKeyCount, unusedFallbackKeyTypes);
    if (!batch.empty) await ctx.commit(batch);
    return result;
  });
}
