/**
 * DMLS rooms (MSC2883) for the Device, on the DMLS layer (src/dmls): the device's MLS identity
 * (its credential in the signed device keys), key packages as one-time keys, groups created,
 * joined from welcomes and moved on by commits, and room messages for rooms whose algorithm is
 * `m.dmls.v1.<suite>`. The layer's records are KeyStore MLS records, each sealed under the pickle
 * key and committed in the same batch as the Device's other changes. Members are authenticated
 * against tracked devices: an MLS credential is accepted only when it is the key that device
 * published in its self-signed device keys.
 */

import type { DmlsAccount } from '../dmls/account.js';
import type { EpochInfo } from '../dmls/epoch-store.js';
import type { DmlsGroup } from '../dmls/group.js';
import type { DmlsMember } from '../dmls/identity.js';
import {
  DEFAULT_SUITE,
  type DmlsSuiteName,
  isDmlsSuite,
  suiteOfAlgorithm,
  suiteOfWelcomeAlgorithm,
} from '../dmls/names.js';
import type { RecordValue } from '../dmls/records.js';
import type { CommitContent, WelcomeContent } from '../dmls/wire.js';
import { encodeBase64 } from '../encoding/base64.js';
import { parseJsonObject, utf8Decode, utf8Encode } from '../encoding/json.js';
import { DmlsError, invalidArgument } from '../errors.js';
import { openPickle, PickleKind, parsePickleBody, sealPickle } from '../pickle.js';
import type { MlsGroupEntry } from '../store/types.js';
import { isObject } from './common.js';
import type { Batch, DeviceContext } from './context.js';
import { getDeviceInList } from './devices.js';
import { mergeRoomSettings } from './room-settings.js';
import type { DecryptedRoomEvent, DmlsDeviceOptions, DmlsEncryptedContent, DmlsWelcomeEvent } from './types.js';

const DMLS_RECORD_SCHEMA = 1;
const BYTES = 0;
const TEXT = 1;
/** The pseudo-event type a DMLS commit decrypts to (nothing a client renders). */
export const DMLS_COMMIT_EVENT = 'm.dmls.commit';

export function isDmlsAlgorithm(algorithm: unknown): boolean {
  return typeof algorithm === 'string' && suiteOfAlgorithm(algorithm) !== undefined;
}

export function isDmlsWelcome(algorithm: unknown): boolean {
  return suiteOfWelcomeAlgorithm(algorithm) !== undefined;
}

export function checkDmlsOptions(options: unknown): DmlsDeviceOptions | undefined {
  if (options === undefined) return undefined;
  if (!isObject(options)) throw invalidArgument('dmls must be an object of DMLS options');
  const engine = options.engine as { open?: unknown } | undefined;
  if (
    (typeof engine !== 'object' && typeof engine !== 'function') ||
    engine === null ||
    typeof engine.open !== 'function'
  ) {
    throw invalidArgument("dmls.engine must be DmlsAccount from 'triturus/dmls'");
  }
  const count = options.keyPackages;
  if (count !== undefined && (!Number.isSafeInteger(count) || (count as number) < 1 || (count as number) > 100)) {
    throw invalidArgument('dmls.keyPackages must be an integer from 1 to 100');
  }
  if (options.suite !== undefined && !isDmlsSuite(options.suite)) {
    throw new DmlsError('DMLS_UNSUPPORTED_SUITE', 'dmls.suite is not a suite triturus offers');
  }
  return options as unknown as DmlsDeviceOptions;
}

// ---------------------------------------------------------------------------------------------
// Records: the layer's plaintext records as sealed KeyStore MLS records.

function sealValue(value: RecordValue, pickleKey: Uint8Array): string {
  const bytes = typeof value === 'string' ? utf8Encode(value) : value;
  const body = new Uint8Array(bytes.length + 1);
  body[0] = typeof value === 'string' ? TEXT : BYTES;
  body.set(bytes, 1);
  try {
    return sealPickle(PickleKind.record, body, pickleKey);
  } finally {
    body.fill(0);
  }
}

function openValue(entry: MlsGroupEntry, pickleKey: Uint8Array): RecordValue {
  if (entry.record.schema !== DMLS_RECORD_SCHEMA) {
    throw new DmlsError('DMLS_RECORD_CORRUPT', 'a DMLS record has an unknown schema', { actual: entry.record.schema });
  }
  const body = openPickle(PickleKind.record, entry.record.data, pickleKey);
  return parsePickleBody(body, (b) => {
    if (b[0] === TEXT) return utf8Decode(b.subarray(1));
    if (b[0] === BYTES) return b.slice(1);
    throw new DmlsError('DMLS_RECORD_CORRUPT', 'a DMLS record has an unknown value tag');
  });
}

/** Moves the account's pending record changes into the batch, sealed. */
function stage(ctx: DeviceContext, batch: Batch, account: DmlsAccount): void {
  if (!account.hasChanges) return;
  const { put, remove } = account.takeChanges();
  for (const key of remove) batch.removeMlsGroups.push(key);
  for (const p of put) {
    batch.mlsGroups.push({
      groupId: p.key,
      record: { schema: DMLS_RECORD_SCHEMA, data: sealValue(p.value, ctx.pickleKey) },
    });
  }
}

/** The device's DMLS account (opened on first use; its identity is made then, staged into `batch`). */
async function account(ctx: DeviceContext, batch: Batch): Promise<DmlsAccount> {
  const options = ctx.dmlsOptions;
  if (options === undefined) {
    throw new DmlsError('DMLS_DISABLED', 'DMLS is not enabled on this device (give Device options `dmls`)');
  }
  if (ctx.dmls === undefined) {
    ctx.dmls = await options.engine.open(
      {
        get: async (key) => {
          const entry = await ctx.loadMlsEntry(key);
          return entry === undefined ? undefined : openValue(entry, ctx.pickleKey);
        },
      },
      {
        userId: ctx.userId,
        deviceId: ctx.deviceId,
        authenticate: (member) => authenticate(ctx, member),
        ...(options.forkChoice === undefined ? {} : { forkChoice: options.forkChoice }),
        ...(options.deletion === undefined ? {} : { deletion: options.deletion }),
        now: ctx.now,
      },
    );
  }
  stage(ctx, batch, ctx.dmls);
  return ctx.dmls;
}

/** A member is a tracked device whose signed device keys publish exactly this credential. */
async function authenticate(ctx: DeviceContext, member: DmlsMember): Promise<boolean> {
  const key = encodeBase64(member.signatureKey);
  if (member.userId === ctx.userId && member.deviceId === ctx.deviceId) {
    return ctx.dmls !== undefined && encodeBase64(ctx.dmls.signatureKey) === key;
  }
  const device = await getDeviceInList(ctx, member.userId, member.deviceId);
  return device?.dmlsCredential?.toBase64() === key;
}

function suiteOf(ctx: DeviceContext): DmlsSuiteName {
  return (ctx.dmlsOptions?.suite ?? DEFAULT_SUITE) as DmlsSuiteName;
}

// ---------------------------------------------------------------------------------------------
// Keys: the credential and key packages, with the Device's own uploads.

/** The device-keys entry for the credential (empty without DMLS). */
export async function credentialForUpload(ctx: DeviceContext, batch: Batch): Promise<Record<string, string>> {
  if (ctx.dmlsOptions === undefined) return {};
  return (await account(ctx, batch)).credentialForUpload();
}

/** Key packages and the last-resort one not yet published (none without DMLS). */
export async function keyPackagesForUpload(
  ctx: DeviceContext,
  batch: Batch,
): Promise<{ oneTime: Record<string, string>; fallback: Record<string, string> }> {
  if (ctx.dmlsOptions === undefined) return { oneTime: {}, fallback: {} };
  const result = await (await account(ctx, batch)).keyPackagesForUpload();
  stage(ctx, batch, ctx.dmls!);
  return result;
}

export async function markKeyPackagesPublished(ctx: DeviceContext, batch: Batch): Promise<void> {
  if (ctx.dmlsOptions === undefined) return;
  const a = await account(ctx, batch);
  await a.markKeyPackagesPublished();
  stage(ctx, batch, a);
}

/** Makes `count` key packages (committed; unpublished until `markKeysAsPublished`). */
export async function generateKeyPackages(ctx: DeviceContext, batch: Batch, count: number): Promise<void> {
  const a = await account(ctx, batch);
  await a.generateKeyPackages(count, suiteOf(ctx));
  stage(ctx, batch, a);
}

/**
 * /sync's counts for this device's key packages: tops them up below half of the target, and makes
 * a new last-resort key package when the server reports the old one used (or never had one).
 * Returns true when there are key packages to upload.
 */
export async function stageKeyPackageCounts(
  ctx: DeviceContext,
  batch: Batch,
  counts: { readonly [algorithm: string]: unknown } | undefined,
  unusedFallbackKeyTypes: readonly string[] | undefined,
): Promise<boolean> {
  if (ctx.dmlsOptions === undefined) return false;
  const a = await account(ctx, batch);
  const algorithm = `m.dmls.v1.key_package.${suiteOf(ctx)}`;
  const target = ctx.dmlsOptions.keyPackages ?? 20;
  const upload = await a.keyPackagesForUpload();
  const waiting = Object.keys(upload.oneTime).length;
  const reported = counts?.[algorithm];
  if (counts !== undefined) {
    const onServer = typeof reported === 'number' && Number.isSafeInteger(reported) && reported >= 0 ? reported : 0;
    const wanted = target - onServer - waiting;
    if (onServer < target / 2 && wanted > 0) await a.generateKeyPackages(wanted, suiteOf(ctx));
  }
  if (
    unusedFallbackKeyTypes !== undefined &&
    !unusedFallbackKeyTypes.includes(algorithm) &&
    Object.keys(upload.fallback).length === 0
  ) {
    await a.generateLastResortKeyPackage(suiteOf(ctx));
  }
  stage(ctx, batch, a);
  const after = await a.keyPackagesForUpload();
  return Object.keys(after.oneTime).length > 0 || Object.keys(after.fallback).length > 0;
}

// ---------------------------------------------------------------------------------------------
// Groups

async function groupOf(ctx: DeviceContext, batch: Batch, roomId: string): Promise<DmlsGroup> {
  const group = await (await account(ctx, batch)).group(roomId);
  if (group === undefined) throw new DmlsError('DMLS_EPOCH_UNKNOWN', 'this device has no DMLS group in that room');
  return group;
}

/** Creates the room's group (this device alone in epoch 0); the room's algorithm becomes `m.dmls.v1.<suite>`. */
export async function createRoom(
  ctx: DeviceContext,
  batch: Batch,
  roomId: string,
  suite: DmlsSuiteName | undefined,
): Promise<string> {
  const a = await account(ctx, batch);
  const group = await a.createGroup(roomId, { suite: suite ?? suiteOf(ctx) });
  stage(ctx, batch, a);
  await useDmlsInRoom(ctx, batch, roomId, group.algorithm);
  return group.algorithm;
}

/** The room's algorithm becomes DMLS: later room messages go through its group, not Megolm. */
async function useDmlsInRoom(ctx: DeviceContext, batch: Batch, roomId: string, algorithm: string): Promise<void> {
  const { value } = await mergeRoomSettings(ctx, roomId, { algorithm });
  batch.values.push(value);
  ctx.roomSettings.delete(roomId);
  ctx.outbound.set(roomId, null);
}

/**
 * A commit on the room's winning tip: adds the devices whose claimed key packages are given (the
 * /keys/claim values), removes the named devices, and resolves every losing fork. Returns the
 * m.room.encrypted content to send; then `confirmCommit` with its event id.
 */
export async function commit(
  ctx: DeviceContext,
  batch: Batch,
  roomId: string,
  change: { add?: readonly string[]; remove?: readonly (readonly [string, string])[] },
): Promise<CommitContent> {
  const group = await groupOf(ctx, batch, roomId);
  const content = await group.createCommit({
    ...(change.add === undefined ? {} : { add: change.add }),
    ...(change.remove === undefined ? {} : { remove: change.remove.map(([u, d]) => [u, d] as [string, string]) }),
  });
  stage(ctx, batch, ctx.dmls!);
  return content;
}

export async function confirmCommit(
  ctx: DeviceContext,
  batch: Batch,
  roomId: string,
  eventId: string,
): Promise<{ epoch: number; welcome: WelcomeContent | undefined }> {
  const group = await groupOf(ctx, batch, roomId);
  const { epoch, welcome } = await group.confirmCommit(eventId);
  stage(ctx, batch, ctx.dmls!);
  return { epoch: epoch.epoch, welcome };
}

export async function membershipChanges(
  ctx: DeviceContext,
  batch: Batch,
  roomId: string,
  devices: readonly (readonly [string, string])[],
): Promise<{ add: [string, string][]; remove: [string, string][] }> {
  const group = await groupOf(ctx, batch, roomId);
  const { add, remove } = await group.membershipChanges(devices.map(([u, d]) => [u, d] as [string, string]));
  return {
    add: add.map(([u, d]) => [u, d] as [string, string]),
    remove: remove.map(([u, d]) => [u, d] as [string, string]),
  };
}

/** A to-device welcome: joins the room's group. */
export async function join(
  ctx: DeviceContext,
  batch: Batch,
  event: { sender: string; content: Record<string, unknown> },
): Promise<DmlsWelcomeEvent> {
  const a = await account(ctx, batch);
  const group = await a.joinGroup(event);
  stage(ctx, batch, a);
  await useDmlsInRoom(ctx, batch, group.roomId, group.algorithm);
  const tip = group.winningTip();
  return {
    type: 'm.room.encrypted',
    sender: event.sender,
    roomId: group.roomId,
    epoch: tip.epoch,
    commitEvent: tip.id,
  };
}

// ---------------------------------------------------------------------------------------------
// Room events

/** Encrypts a room event in the room's group (its winning epoch). */
export async function encrypt(
  ctx: DeviceContext,
  batch: Batch,
  roomId: string,
  plaintext: string,
): Promise<{ content: DmlsEncryptedContent; epoch: EpochInfo }> {
  const group = await groupOf(ctx, batch, roomId);
  const content = await group.encrypt(plaintext);
  stage(ctx, batch, ctx.dmls!);
  return { content, epoch: group.winningTip() };
}

/** A DMLS room event: a commit (moves the group on) or an application message. */
export async function decrypt(
  ctx: DeviceContext,
  batch: Batch,
  event: { roomId: string; eventId: string; sender: string; content: Record<string, unknown> },
): Promise<DecryptedRoomEvent> {
  const group = await groupOf(ctx, batch, event.roomId);
  if (event.content.sender !== undefined) {
    const { epoch, own } = await group.processCommit({
      event_id: event.eventId,
      sender: event.sender,
      content: event.content,
    });
    stage(ctx, batch, ctx.dmls!);
    const committer = event.content.sender as [string, string];
    return result(ctx, event.roomId, committer[0], committer[1], epoch, {
      type: DMLS_COMMIT_EVENT,
      content: { epoch: epoch.epoch, commit_event: epoch.id, own },
    });
  }
  const { plaintext, userId, deviceId, epoch } = await group.decrypt({ sender: event.sender, content: event.content });
  stage(ctx, batch, ctx.dmls!);
  const payload = parseJsonObject(utf8Decode(plaintext));
  if (payload.room_id !== event.roomId) {
    throw new DmlsError('DMLS_INVALID', 'the decrypted event belongs to another room');
  }
  if (typeof payload.type !== 'string' || payload.type.length === 0) {
    throw new DmlsError('DMLS_INVALID', 'the decrypted event has no type');
  }
  return result(ctx, event.roomId, userId, deviceId, epoch, {
    type: payload.type,
    content: isObject(payload.content) ? payload.content : {},
  });
}

async function result(
  ctx: DeviceContext,
  roomId: string,
  userId: string,
  deviceId: string,
  epoch: EpochInfo,
  event: { type: string; content: Record<string, unknown> },
): Promise<DecryptedRoomEvent> {
  // Authenticated against this device (the MLS credential is the one it signed), so its keys are known.
  const device =
    userId === ctx.userId && deviceId === ctx.deviceId
      ? { curve25519Key: (await ctx.loadAccount()).curve25519Key, ed25519Key: (await ctx.loadAccount()).ed25519Key }
      : await getDeviceInList(ctx, userId, deviceId);
  if (device === undefined) {
    throw new DmlsError('DMLS_SENDER_MISMATCH', 'the sending device is not tracked');
  }
  return {
    event: { ...event, room_id: roomId },
    senderKey: device.curve25519Key,
    senderClaimedEd25519: device.ed25519Key,
    sessionId: epoch.id,
    messageIndex: epoch.epoch,
    verified: true,
    forwardingCurve25519KeyChain: [],
    dmls: { userId, deviceId, epoch: epoch.epoch, commitEvent: epoch.id },
  };
}
